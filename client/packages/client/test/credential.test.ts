// Credentials on a live connection (docs/protocol.md section 4), against scripted servers:
// `auth.expiring` makes the client ask its token function and send `auth.refresh` in-band; a
// close 4001 reconnects with a fresh token; a close 4003 (the application disconnected the
// user) leaves the client closed and says so.

import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { ChanbindClient, ChanbindError, type ClientOptions, type Frame } from '../src/index.js';
import { waitFor } from '../../../test-support/demo-server.js';
import { hello, scripted, type ScriptedServer } from '../../../test-support/scripted-server.js';

const clients: ChanbindClient[] = [];
const servers: ScriptedServer[] = [];

function client(url: string, options: ClientOptions = {}): ChanbindClient {
  const c = new ChanbindClient({ url, WebSocket: WebSocket as never, reconnect: { initialDelay: 20, maxDelay: 50 }, ...options });
  clients.push(c);
  return c;
}

async function server(onConnection: Parameters<typeof scripted>[0]): Promise<ScriptedServer> {
  const s = await scripted(onConnection);
  servers.push(s);
  return s;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

const EXPIRING = JSON.stringify({ event: 'auth.expiring', data: { expires_at: '2030-01-01T00:00:00.000Z', expires_in_ms: 1000 } });

/** A token function that counts: `t1`, `t2`, ... */
function counting(): { tokens: () => Promise<string>; calls: () => number } {
  let n = 0;
  return { tokens: async () => `t${++n}`, calls: () => n };
}

describe('credentials', () => {
  it('an expiring credential is refreshed in-band from the token function, without reconnecting', async () => {
    const received: Frame[] = [];
    const s = await server((ws) => {
      ws.send(hello());
      ws.send(EXPIRING);
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        received.push(frame);
        if (frame.event.startsWith('auth.refresh')) {
          ws.send(JSON.stringify({ event: frame.event, data: { success: true, user: { id: 7, name: 'alice' }, expires_at: '2030-01-01T01:00:00.000Z' } }));
        }
      });
    });
    const { tokens, calls } = counting();
    const c = client(s.url, { token: tokens });
    const expiring: unknown[] = [];
    const refreshed: unknown[] = [];
    c.on('expiring', (e) => expiring.push(e));
    c.on('refreshed', (e) => refreshed.push(e));
    await waitFor(() => refreshed.length === 1);
    expect(expiring).toEqual([{ expiresAt: '2030-01-01T00:00:00.000Z', expiresInMs: 1000 }]);
    expect(refreshed).toEqual([{ user: { id: 7, name: 'alice' }, expiresAt: '2030-01-01T01:00:00.000Z' }]);
    const refresh = received.find((f) => f.event.startsWith('auth.refresh#'));
    expect(refresh?.data).toEqual({ token: 't2' });
    expect(s.urls).toEqual(['/?token=t1']);
    expect(calls()).toBe(2);
    expect(c.state).toBe('open');
  });

  it('a refused refresh is reported and the connection goes on', async () => {
    const s = await server((ws) => {
      ws.send(hello());
      ws.send(EXPIRING);
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        if (frame.event.startsWith('auth.refresh')) {
          ws.send(JSON.stringify({ event: frame.event, error: { code: 'unauthenticated', message: 'the token was not accepted' } }));
        }
      });
    });
    const c = client(s.url, { token: () => 'again' });
    const errors: ChanbindError[] = [];
    c.on('error', (e) => errors.push(e));
    await waitFor(() => errors.length === 1);
    expect(errors[0]?.code).toBe('unauthenticated');
    expect(c.state).toBe('open');
  });

  it('a close 4001 reconnects with a fresh token', async () => {
    const s = await server((ws, n) => {
      ws.send(hello());
      if (n === 1) setTimeout(() => ws.close(4001, 'credential expired'), 20);
    });
    const { tokens } = counting();
    const c = client(s.url, { token: tokens });
    await waitFor(() => s.urls.length === 2 && c.isOpen);
    expect(s.urls).toEqual(['/?token=t1', '/?token=t2']);
    expect(c.disconnected).toBeUndefined();
  });

  it('a close 4003 does not reconnect and says the user was disconnected', async () => {
    const s = await server((ws, n) => {
      ws.send(hello());
      if (n === 1) {
        ws.on('message', () => {
          // Never answered: the application disconnects the user meanwhile.
        });
        setTimeout(() => ws.close(4003, 'disconnected by the application'), 50);
      }
    });
    const c = client(s.url, { token: 'tok' });
    await waitFor(() => c.isOpen);
    const disconnected: unknown[] = [];
    c.on('disconnected', (e) => disconnected.push(e));
    const pending = c.request('custom_stream.ping', {}).catch((e: unknown) => e);
    await waitFor(() => disconnected.length === 1);
    expect(disconnected).toEqual([{ code: 4003, reason: 'disconnected by the application' }]);
    expect(c.state).toBe('closed');
    expect(c.disconnected).toEqual({ code: 4003, reason: 'disconnected by the application' });
    expect(((await pending) as ChanbindError).code).toBe('disconnected');
    const queued = await c.request('custom_stream.ping', {}).catch((e: unknown) => e);
    expect((queued as ChanbindError).code).toBe('closed');
    await new Promise((r) => setTimeout(r, 200));
    expect(s.urls).toHaveLength(1);
    // The application may sign the user in again.
    c.reconnect();
    await waitFor(() => c.isOpen);
    expect(c.disconnected).toBeUndefined();
    expect(s.urls).toHaveLength(2);
  });
});

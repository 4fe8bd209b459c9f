// Reconnection, resubscription, the heartbeat, token providers, and bad servers. The restart
// tests run the real demo; the misbehaving servers are scripted with the `ws` package.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelay, ChanbindClient, ChanbindError, type ClientOptions, type ConnectionState, type Frame } from '../src/index.js';
import { startDemo, TOKENS, waitFor, type DemoServer } from '../../../test-support/demo-server.js';

interface Task {
  id: number;
  title: string;
  done: boolean;
  priority: number;
}

const clients: ChanbindClient[] = [];
const fast = { initialDelay: 50, maxDelay: 200 };

function client(url: string, options: ClientOptions = {}): ChanbindClient {
  const c = new ChanbindClient({ url, WebSocket: WebSocket as never, reconnect: fast, ...options });
  clients.push(c);
  return c;
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('against a demo server that restarts', () => {
  let server: DemoServer;

  beforeAll(async () => {
    server = await startDemo({ tokens: TOKENS });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('reconnects, re-establishes live objects with the same event and hash, and misses no change', async () => {
    let asked = 0;
    const watcher = client(server.wsUrl, {
      token: () => {
        asked += 1;
        return TOKENS.admin;
      },
    });
    const states: ConnectionState[] = [];
    watcher.on('state', ({ state }) => states.push(state));
    const sent: Frame[] = [];
    watcher.on('send', (f) => sent.push(f));

    const search = watcher.search<Task>('todo.Task', { order: 'id', limit: 100 });
    const row = watcher.retrieve<Task>('todo.Task', 1);
    await Promise.all([search.ready(), row.ready()]);
    const seeded = search.data!.count;

    // A change the server will forget (the in-memory store starts over from the seed).
    const writer = client(server.wsUrl, { token: TOKENS.admin }).model<Task>('todo.Task');
    await writer.create({ title: 'forgotten by the restart' });
    await waitFor(() => search.data?.count === seeded + 1, 2000, 'the push before the restart');
    const events = [search.event, row.event];

    await server.restart();
    await waitFor(() => watcher.isOpen && !search.state.stale && search.data?.count === seeded, 10_000, 'the fresh snapshot');
    expect(states).toContain('reconnecting');
    expect([search.event, row.event]).toEqual(events);
    const resent = sent.filter((f) => events.includes(f.event)).map((f) => f.event);
    expect(resent.filter((e) => e === search.event).length).toBe(2);
    expect(resent.filter((e) => e === row.event).length).toBe(2);
    // The token is asked for on every attempt: once for the first connection, then at least
    // once more (a restart slower than the first retry's delay costs an attempt or two),
    // and the client opened exactly twice.
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(states.filter((s) => s === 'open').length).toBe(2);

    // Changes after the reconnect reach the re-established subscriptions.
    await writer.create({ title: 'after the restart' });
    await writer.update(1, { title: 'row one, changed after the restart' });
    await waitFor(() => search.data?.count === seeded + 1, 5000, 'the push after the restart');
    await waitFor(() => row.data?.title === 'row one, changed after the restart', 2000, 'the retrieve push');
  });

  it('retries reads that were in flight and rejects writes with connection_lost; queued requests wait for the server', async () => {
    const c = client(server.wsUrl, { token: TOKENS.admin });
    await new Promise((r) => c.on('hello', r));
    await server.kill();
    await waitFor(() => c.state === 'reconnecting', 5000, 'the client to notice');
    const queuedRead = c.model('todo.Task').search({ limit: 1 });
    const queuedWrite = c.model<Task>('todo.Task').create({ title: 'queued while the server was down' });
    await new Promise((r) => setTimeout(r, 300));
    await server.restart();
    await expect(queuedRead).resolves.toHaveProperty('count');
    await expect(queuedWrite).resolves.toMatchObject({ success: true, object: { title: 'queued while the server was down' } });
  });
});

/** A scripted server: `onConnection` decides what it does. */
async function scripted(onConnection: (ws: WebSocket, url: string) => void) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const urls: string[] = [];
  wss.on('connection', (ws, request) => {
    urls.push(request.url ?? '');
    onConnection(ws, request.url ?? '');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    urls,
    wss,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
      await new Promise((r) => http.close(r));
    },
  };
}

const HELLO = JSON.stringify({
  event: 'hello',
  data: { protocol: 1, server: 'scripted', user: null, limits: { max_message_bytes: 1024, page_size: 25, max_page_size: 100, max_subscriptions: 10 } },
});

describe('against misbehaving servers', () => {
  it('survives malformed frames and reports them', async () => {
    const server = await scripted((ws) => {
      ws.send(HELLO);
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        ws.send('this is not json');
        ws.send(JSON.stringify({ no: 'event' }));
        ws.send(JSON.stringify([1, 2]));
        ws.send(JSON.stringify({ event: 'error', error: { code: 'bad_request', message: 'nope' } }));
        ws.send(JSON.stringify({ event: frame.event, error: { code: 'weird_code' } }));
      });
    });
    const c = client(server.url);
    const errors: ChanbindError[] = [];
    c.on('error', (e) => errors.push(e));
    const error = (await c.request('a.B.search').catch((e: unknown) => e)) as ChanbindError;
    expect(error).toBeInstanceOf(ChanbindError);
    expect(error.code).toBe('weird_code');
    expect(errors.map((e) => e.code)).toEqual(['bad_frame', 'bad_frame', 'bad_frame', 'bad_request']);
    expect(c.isOpen).toBe(true);
    await server.close();
  });

  it('rejects a write in flight when the server closes mid-request, and retries a read', async () => {
    let connections = 0;
    const server = await scripted((ws) => {
      connections += 1;
      ws.send(HELLO);
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        if (connections === 1) {
          // Never answers; closes after both requests arrived.
          if (frame.event.startsWith('x.Y.create')) setTimeout(() => ws.close(1011, 'crash'), 50);
          return;
        }
        ws.send(JSON.stringify({ event: frame.event, data: { answered: connections } }));
      });
    });
    const c = client(server.url);
    await new Promise((r) => c.on('hello', r));
    const read = c.request('x.Y.search', {});
    const write = c.request('x.Y.create', { title: 't' });
    await expect(write).rejects.toMatchObject({ code: 'connection_lost' });
    await expect(read).resolves.toEqual({ answered: 2 });
    await server.close();
  });

  it('times a request out instead of hanging', async () => {
    const server = await scripted((ws) => ws.send(HELLO));
    const c = client(server.url, { requestTimeout: 200 });
    await expect(c.request('x.Y.custom')).rejects.toMatchObject({ code: 'timeout' });
    await server.close();
  });

  it('notices a silent connection with the heartbeat and reconnects', async () => {
    const heartbeats: string[] = [];
    let connections = 0;
    const server = await scripted((ws) => {
      connections += 1;
      ws.send(HELLO);
      // The first connection goes silent: reads everything, answers nothing.
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        if (frame.event.includes('.unsubscribe#')) heartbeats.push(frame.event);
        if (connections > 1) ws.send(JSON.stringify({ event: frame.event, data: { success: true, removed: 0 } }));
      });
    });
    const c = client(server.url, { heartbeat: { interval: 150, timeout: 150, stream: 'todo.Task' } });
    await waitFor(() => connections === 2 && c.isOpen, 5000, 'the reconnection');
    expect(heartbeats[0]).toMatch(/^todo\.Task\.unsubscribe#[a-z0-9]+-1-hb$/);
    // Answered heartbeats keep the second connection open.
    await new Promise((r) => setTimeout(r, 700));
    expect(connections).toBe(2);
    expect(c.isOpen).toBe(true);
    await server.close();
  });

  it('asks the token provider on every attempt and survives one that throws', async () => {
    const server = await scripted((ws, url) => {
      ws.send(HELLO.replace('"user":null', `"user":{"id":1,"name":"${new URL(url, 'ws://x').searchParams.get('token')}"}`));
    });
    let calls = 0;
    const c = client(server.url, {
      token: async () => {
        calls += 1;
        if (calls === 1) throw new Error('the identity provider is down');
        return `tok${calls}`;
      },
    });
    const errors: ChanbindError[] = [];
    c.on('error', (e) => errors.push(e));
    await waitFor(() => c.isOpen, 5000, 'the connection');
    expect(errors[0]?.code).toBe('token_provider');
    expect(c.user?.name).toBe('tok2');
    c.reconnect();
    await waitFor(() => c.user?.name === 'tok3', 5000, 'the new token');
    expect(server.urls).toEqual(['/?token=tok2', '/?token=tok3']);
    await server.close();
  });

  it('backs off between failed attempts, capped', async () => {
    const server = await scripted((ws) => ws.close(1011));
    const times: number[] = [];
    const c = client(server.url, { reconnect: { initialDelay: 40, maxDelay: 160, jitter: 0 } });
    c.on('close', () => times.push(Date.now()));
    await waitFor(() => times.length >= 6, 5000, 'six attempts');
    c.close();
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 40, 80, 160, 160, 160 ms (plus connection time)
    expect(gaps[0]!).toBeGreaterThanOrEqual(35);
    expect(gaps[1]!).toBeGreaterThanOrEqual(75);
    expect(gaps[2]!).toBeGreaterThanOrEqual(155);
    expect(gaps[4]!).toBeLessThan(400);
    await server.close();
  });

  it('computes capped delays with jitter', () => {
    expect(backoffDelay(0, { initialDelay: 100, jitter: 0 })).toBe(100);
    expect(backoffDelay(3, { initialDelay: 100, jitter: 0 })).toBe(800);
    expect(backoffDelay(30, { initialDelay: 100, maxDelay: 5000, jitter: 0 })).toBe(5000);
    expect(backoffDelay(30, { initialDelay: 100, maxDelay: 5000, jitter: 0.5 }, () => 1)).toBe(2500);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(2, { initialDelay: 100 });
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
  });

  it('rejects everything pending with closed when the client is closed', async () => {
    const c = client('ws://127.0.0.1:9/', { autoConnect: false });
    const queued = c.request('x.Y.search');
    c.close();
    await expect(queued).rejects.toMatchObject({ code: 'closed' });
    await expect(c.request('x.Y.search')).rejects.toMatchObject({ code: 'closed' });
  });
});

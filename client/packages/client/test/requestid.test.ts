// Request ids on writes, and writes in flight sent again after a reconnect, against scripted
// servers (the server's side, answering a repeated id with the first result, is the server's
// own tests').

import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { ChanbindClient, type ClientOptions, type Frame } from '../src/index.js';
import { waitFor } from '../../../test-support/demo-server.js';
import { hello, scripted, type ScriptedServer } from '../../../test-support/scripted-server.js';

const WITH_IDS = { max_request_id_length: 64 };
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

/** Answers every request with `{success: true, id: 1, object: {id: 1}}`, and records it. */
function answering(frames: Frame[], limits: Record<string, unknown> = WITH_IDS) {
  return (ws: WebSocket) => {
    ws.send(hello(limits));
    ws.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as Frame;
      frames.push(frame);
      ws.send(JSON.stringify({ event: frame.event, data: { success: true, id: 1, object: { id: 1 }, fields: [] } }));
    });
  };
}

describe('request ids', () => {
  it('go with every write, each its own, and with no read', async () => {
    const frames: Frame[] = [];
    const s = await server(answering(frames));
    const c = client(s.url);
    const tasks = c.model('todo.Task');
    await tasks.create({ title: 'a' });
    await tasks.update(1, { title: 'b' });
    await tasks.save({ id: 1, title: 'c' });
    await tasks.delete(1);
    await tasks.submit(1, { title: 'd' });
    await tasks.retrieve(1);
    await tasks.form(1);
    const ids = frames.map((f) => (f.data as { request_id?: unknown }).request_id);
    const writes = ids.slice(0, 5);
    for (const id of writes) {
      expect(typeof id).toBe('string');
      expect((id as string).length).toBeLessThanOrEqual(64);
    }
    expect(new Set(writes).size).toBe(5);
    expect(ids.slice(5)).toEqual([undefined, undefined]);
    // A form submit carries it beside `submit`, not among the row's values.
    expect((frames[4]!.data as { submit: Record<string, unknown> }).submit).toEqual({ title: 'd' });
  });

  it('are left out for a server whose hello lists no request-id limit, unless asked for', async () => {
    const frames: Frame[] = [];
    const s = await server(answering(frames, {}));
    await client(s.url).model('todo.Task').create({ title: 'a' });
    await client(s.url, { requestIds: true }).model('todo.Task').create({ title: 'b' });
    expect(frames.map((f) => typeof (f.data as { request_id?: unknown }).request_id)).toEqual(['undefined', 'string']);
  });

  it('keeps the caller’s own request id', async () => {
    const frames: Frame[] = [];
    const s = await server(answering(frames));
    await client(s.url).request('todo.Task.create', { title: 'a', request_id: 'mine-1' });
    expect((frames[0]!.data as { request_id: string }).request_id).toBe('mine-1');
  });
});

describe('batches', () => {
  it('go as one `batch` request with a request id, and a failing step’s index reaches the caller', async () => {
    const frames: Frame[] = [];
    const s = await server((ws) => {
      ws.send(hello(WITH_IDS));
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        frames.push(frame);
        const steps = (frame.data as { steps: unknown[] }).steps;
        if (steps.length > 1) ws.send(JSON.stringify({ event: frame.event, data: { success: true, results: steps.map((_, i) => ({ id: i })) } }));
        else ws.send(JSON.stringify({ event: frame.event, error: { code: 'invalid', message: 'bad', fields: { title: ['required'] }, step: 0 } }));
      });
    });
    const c = client(s.url);
    const steps = [
      { event: 'todo.Task.create', data: { title: 'order' } },
      { event: 'todo.Comment.create', data: { task_id: { $ref: '0.id' }, body: 'line' } },
    ];
    await expect(c.batch(steps)).resolves.toEqual({ success: true, results: [{ id: 0 }, { id: 1 }] });
    expect(frames[0]!.event).toMatch(/^batch#/);
    expect(frames[0]!.data).toEqual({ steps, request_id: expect.any(String) });
    await expect(c.batch([{ event: 'todo.Task.create', data: {} }])).rejects.toMatchObject({ code: 'invalid', step: 0 });
  });
});

describe('writes in flight when the connection drops', () => {
  it('are sent again after the reconnect with the same request id, and resolve', async () => {
    const frames: { n: number; frame: Frame }[] = [];
    const s = await server((ws, n) => {
      ws.send(hello(WITH_IDS));
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        frames.push({ n, frame });
        // The first connection dies with the write unanswered (applied or not: the server
        // would tell by its request id).
        if (n === 1) ws.terminate();
        else ws.send(JSON.stringify({ event: frame.event, data: { success: true, id: 7, object: { id: 7, title: 't' } } }));
      });
    });
    const c = client(s.url);
    await new Promise((r) => c.on('hello', r));
    const reply = await c.model('todo.Task').create({ title: 't' });
    expect(reply).toMatchObject({ success: true, id: 7 });
    expect(frames.map((f) => f.n)).toEqual([1, 2]);
    expect(frames[1]!.frame).toEqual(frames[0]!.frame);
    expect(typeof (frames[0]!.frame.data as { request_id: unknown }).request_id).toBe('string');
  });

  it('reject with connection_lost after writeRetry.attempts reconnects', async () => {
    let sends = 0;
    const s = await server((ws) => {
      ws.send(hello(WITH_IDS));
      ws.on('message', () => {
        sends += 1;
        ws.terminate();
      });
    });
    const c = client(s.url, { writeRetry: { attempts: 2 } });
    await new Promise((r) => c.on('hello', r));
    await expect(c.model('todo.Task').update(1, { title: 'x' })).rejects.toMatchObject({ code: 'connection_lost' });
    expect(sends).toBe(3);
  });

  it('reject with connection_lost when no connection comes back within writeRetry.within', async () => {
    let connections = 0;
    const s = await server((ws) => {
      connections += 1;
      if (connections > 1) {
        ws.close(1011);
        return;
      }
      ws.send(hello(WITH_IDS));
      ws.on('message', () => ws.terminate());
    });
    const c = client(s.url, { writeRetry: { within: 300 } });
    await new Promise((r) => c.on('hello', r));
    const write = c.model('todo.Task').delete(1);
    await expect(write).rejects.toMatchObject({ code: 'connection_lost' });
    expect(connections).toBeGreaterThan(1);
  });

  it('reject with connection_lost with retry: false, and without a request id (an old server)', async () => {
    const s = await server((ws, n) => {
      ws.send(hello(n === 1 ? WITH_IDS : {}));
      ws.on('message', () => ws.terminate());
    });
    const c = client(s.url);
    await new Promise((r) => c.on('hello', r));
    await expect(c.model('todo.Task').create({ title: 'x' }, { retry: false })).rejects.toMatchObject({ code: 'connection_lost' });
    await waitFor(() => c.isOpen, 2000, 'the reconnection');
    await expect(c.model('todo.Task').create({ title: 'y' })).rejects.toMatchObject({ code: 'connection_lost' });
  });
});

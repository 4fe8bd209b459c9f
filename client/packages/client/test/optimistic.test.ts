// Optimistic writes: shown at once in every live object that shows the row, marked pending,
// confirmed by the reply and the push, taken away again on an error. Against the real demo
// server, and scripted servers where the order of reply and push matters.

import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChanbindClient, ChanbindError, isTemporaryId, type ClientOptions, type Frame, type SearchResult } from '../src/index.js';
import { startDemo, TOKENS, waitFor, type DemoServer } from '../../../test-support/demo-server.js';
import { hello, scripted, type ScriptedServer } from '../../../test-support/scripted-server.js';

interface Task {
  id: number | string;
  title: string;
  done: boolean;
  priority: number;
}

let demo: DemoServer;
const clients: ChanbindClient[] = [];
const servers: ScriptedServer[] = [];

function client(options: ClientOptions = {}): ChanbindClient {
  const c = new ChanbindClient({ url: demo.wsUrl, WebSocket: WebSocket as never, token: TOKENS.admin, ...options });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  demo = await startDemo({ tokens: TOKENS });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

afterAll(async () => {
  await demo?.stop();
});

describe('against the demo server', () => {
  it('shows an update at once in a live search and a live retrieve, pending until the reply', async () => {
    const c = client();
    const tasks = c.model<Task>('todo.Task');
    const { id } = await tasks.create({ title: 'before', priority: 2 });
    const search = c.search<Task>('todo.Task', { filters: { title__startswith: 'before' }, order: 'id' });
    const row = c.retrieve<Task>('todo.Task', id);
    await Promise.all([search.ready(), row.ready()]);

    const write = tasks.update(id, { title: 'before, edited' }, { optimistic: true });
    // At once, before any reply: both show it, marked pending.
    expect(row.data?.title).toBe('before, edited');
    expect(row.state.pending.has(id)).toBe(true);
    expect(search.data?.rows.find((r) => r.id === id)?.title).toBe('before, edited');
    expect(search.state.pending.has(id)).toBe(true);
    // The server's own data is untouched.
    expect(row.serverState?.title).toBe('before');

    await write;
    expect(row.state.pending.size).toBe(0);
    expect(search.state.pending.size).toBe(0);
    expect(row.data?.title).toBe('before, edited');
    await waitFor(() => row.serverState?.title === 'before, edited', 2000, 'the push');
    expect(row.data).toEqual(row.serverState);
    // Both live objects had their push: the confirmed write is dropped.
    await waitFor(() => c.optimistic.writes.length === 0, 1000, 'the confirmed write to be dropped');
  });

  it('rolls every live object back to the server’s exact state on an error, which the caller gets', async () => {
    const c = client();
    const tasks = c.model<Task>('todo.Task');
    const { id } = await tasks.create({ title: 'refused edit', priority: 3 });
    const search = c.search<Task>('todo.Task', { order: '-priority', limit: 100 });
    const row = c.retrieve<Task>('todo.Task', id);
    await Promise.all([search.ready(), row.ready()]);
    const before = { search: search.state.data, row: row.state.data };
    const seen: (number | undefined)[] = [];
    row.subscribe((s) => seen.push(s.data?.priority));

    const write = tasks.update(id, { priority: 9 }, { optimistic: true });
    expect(row.data?.priority).toBe(9);
    // The search moved the row to the top, where -priority puts it.
    expect(search.data?.rows[0]?.id).toBe(id);
    const error = await write.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChanbindError);
    expect((error as ChanbindError).code).toBe('invalid');
    expect((error as ChanbindError).fields.priority).toEqual(['must be <= 5']);
    expect(row.state.data).toEqual(before.row);
    expect(search.state.data).toEqual(before.search);
    expect(row.state.pending.size + search.state.pending.size).toBe(0);
    expect(seen).toEqual([9, 3]);
    expect(c.optimistic.writes).toEqual([]);
  });

  it('places an optimistic create where the search’s order puts it, and only where its filter takes it', async () => {
    const c = client();
    const tasks = c.model<Task>('todo.Task');
    const mark = `ordered ${Date.now()}`;
    for (const priority of [1, 3, 5]) await tasks.create({ title: `${mark} p${priority}`, priority, done: false });
    const search = c.search<Task>('todo.Task', { filters: { title__startswith: mark, done: false }, order: '-priority' });
    await search.ready();
    expect(search.data!.rows.map((r) => r.priority)).toEqual([5, 3, 1]);

    const created = tasks.create({ title: `${mark} p4`, priority: 4, done: false }, { optimistic: true });
    const hidden = tasks.create({ title: `${mark} done`, priority: 5, done: true }, { optimistic: true });
    const shown = search.data!;
    expect(shown.rows.map((r) => r.priority)).toEqual([5, 4, 3, 1]);
    expect(shown.count).toBe(4);
    const temporary = shown.rows[1]!.id;
    expect(isTemporaryId(temporary)).toBe(true);
    expect(search.state.pending).toEqual(new Set([temporary]));

    const reply = await created;
    await hidden;
    // Confirmed: the real key, in the same place, no longer pending.
    expect(search.data!.rows.map((r) => r.id)[1]).toBe(reply.id);
    expect(search.state.pending.size).toBe(0);
    await waitFor(() => search.serverState?.count === 4, 2000, 'the push');
    expect(search.data!.rows.map((r) => r.title)).toEqual([`${mark} p5`, `${mark} p4`, `${mark} p3`, `${mark} p1`]);
  });

  it('keeps concurrent optimistic writes to one row apart: a refused one leaves the other', async () => {
    const c = client();
    const tasks = c.model<Task>('todo.Task');
    const { id } = await tasks.create({ title: 'two writers', priority: 2 });
    const row = c.retrieve<Task>('todo.Task', id);
    await row.ready();
    const refused = tasks.update(id, { priority: 9 }, { optimistic: true }).catch((e: ChanbindError) => e.code);
    const accepted = tasks.update(id, { title: 'two writers, renamed' }, { optimistic: true });
    expect(row.data).toMatchObject({ priority: 9, title: 'two writers, renamed' });
    expect(await refused).toBe('invalid');
    expect(row.data).toMatchObject({ priority: 2, title: 'two writers, renamed' });
    await accepted;
    await waitFor(() => row.serverState?.title === 'two writers, renamed', 2000, 'the push');
    expect(row.data).toEqual(row.serverState);
    expect(row.state.pending.size).toBe(0);
  });

  it('removes an optimistically deleted row at once', async () => {
    const c = client();
    const tasks = c.model<Task>('todo.Task');
    const mark = `deleted ${Date.now()}`;
    const { id } = await tasks.create({ title: mark });
    const search = c.search<Task>('todo.Task', { filters: { title: mark } });
    await search.ready();
    const write = tasks.delete(id, { optimistic: true });
    expect(search.data).toMatchObject({ count: 0, rows: [] });
    await write;
    await waitFor(() => search.serverState?.count === 0, 2000, 'the push');
    expect(search.data).toMatchObject({ count: 0, rows: [] });
  });
});

describe('against a scripted server', () => {
  const ROW = { id: 1, title: 'server', done: false, priority: 1 };
  const page = (rows: unknown[]): SearchResult => ({ page: 1, limit: 25, count: rows.length, order: ['id'], rows: rows as never });

  /** Answers a search with `ROW`; answers an update with `onUpdate`. */
  async function server(onUpdate: (ws: WebSocket, frame: Frame, search: string) => void): Promise<ScriptedServer> {
    let search = '';
    const s = await scripted((ws) => {
      ws.send(hello());
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        if (frame.event.startsWith('todo.Task.search')) {
          search = frame.event;
          ws.send(JSON.stringify({ event: frame.event, data: page([ROW]) }));
        } else if (frame.event.startsWith('todo.Task.update')) {
          onUpdate(ws, frame, search);
        }
      });
    });
    servers.push(s);
    return s;
  }

  function scriptedClient(url: string): ChanbindClient {
    const c = new ChanbindClient({ url, WebSocket: WebSocket as never });
    clients.push(c);
    return c;
  }

  it('stays confirmed between the reply and the push, then shows the push', async () => {
    let push: (() => void) | undefined;
    const s = await server((ws, frame, search) => {
      const object = { ...ROW, ...(frame.data as object), request_id: undefined, id: 1 };
      ws.send(JSON.stringify({ event: frame.event, data: { success: true, id: 1, object } }));
      push = () => ws.send(JSON.stringify({ event: search, data: page([{ ...object, title: 'as the server has it' }]) }));
    });
    const c = scriptedClient(s.url);
    const search = c.search<Task>('todo.Task');
    await search.ready();
    await c.model('todo.Task').update(1, { title: 'mine' }, { optimistic: true });
    // Replied, not pushed yet: no flicker back to the old title.
    expect(search.data?.rows[0]?.title).toBe('mine');
    expect(search.state.pending.size).toBe(0);
    push!();
    await waitFor(() => search.data?.rows[0]?.title === 'as the server has it', 2000, 'the push');
    expect(c.optimistic.writes).toEqual([]);
  });

  it('is confirmed by a push that comes before the reply', async () => {
    const s = await server((ws, frame, search) => {
      const object = { ...ROW, title: 'mine', id: 1 };
      ws.send(JSON.stringify({ event: search, data: page([object]) }));
      setTimeout(() => ws.send(JSON.stringify({ event: frame.event, data: { success: true, id: 1, object } })), 50);
    });
    const c = scriptedClient(s.url);
    const search = c.search<Task>('todo.Task');
    await search.ready();
    const write = c.model('todo.Task').update(1, { title: 'mine' }, { optimistic: true });
    await waitFor(() => search.serverState?.rows[0]?.title === 'mine', 2000, 'the push');
    expect(search.data?.rows[0]?.title).toBe('mine');
    await write;
    expect(search.data).toEqual(search.serverState);
    expect(search.state.pending.size).toBe(0);
  });

  it('rolls back to a push that came while the write was pending, not to the state before it', async () => {
    const s = await server((ws, frame, search) => {
      ws.send(JSON.stringify({ event: search, data: page([{ ...ROW, done: true }]) }));
      setTimeout(
        () => ws.send(JSON.stringify({ event: frame.event, error: { code: 'invalid', message: 'bad', fields: { title: ['no'] } } })),
        50,
      );
    });
    const c = scriptedClient(s.url);
    const search = c.search<Task>('todo.Task');
    await search.ready();
    const write = c.model('todo.Task').update(1, { title: 'mine' }, { optimistic: true });
    await waitFor(() => search.serverState?.rows[0]?.done === true, 2000, 'the push');
    // The push shows under the pending write.
    expect(search.data?.rows[0]).toMatchObject({ title: 'mine', done: true });
    await expect(write).rejects.toMatchObject({ code: 'invalid' });
    expect(search.data).toEqual(page([{ ...ROW, done: true }]));
  });
});

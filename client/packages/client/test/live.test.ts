// Live objects against a real demo server: snapshots, pushes, moving a subscription, closing.

import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChanbindClient, type ClientOptions, type FeedEvent, type Frame } from '../src/index.js';
import { startDemo, TOKENS, waitFor, type DemoServer } from '../../../test-support/demo-server.js';

interface Task {
  id: number;
  title: string;
  done: boolean;
  priority: number;
  owner_id: number | null;
}

let server: DemoServer;
const clients: ChanbindClient[] = [];

function client(options: ClientOptions = {}): ChanbindClient {
  const c = new ChanbindClient({ url: server.wsUrl, WebSocket: WebSocket as never, token: TOKENS.admin, ...options });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startDemo({ tokens: TOKENS });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe('live retrieve', () => {
  it('delivers the row, every change, and the deletion', async () => {
    const watcher = client();
    const writer = client().model<Task>('todo.Task');
    const { id } = await writer.create({ title: 'watched' });
    const live = watcher.retrieve<Task>('todo.Task', id);
    expect(live.state.status).toBe('loading');
    expect((await live.ready()).title).toBe('watched');

    await writer.update(id, { title: 'watched, then changed' });
    await waitFor(() => live.data?.title === 'watched, then changed', 2000, 'the push');
    expect(live.state.version).toBeGreaterThanOrEqual(2);

    await writer.delete(id);
    await waitFor(() => live.state.deleted, 2000, 'the delete push');
    expect(live.data?.title).toBe('watched, then changed');
    live.close();
    expect(live.state.status).toBe('closed');
  });

  it('reports not_found as its error', async () => {
    const live = client().retrieve('todo.Task', 424242);
    await expect(live.ready()).rejects.toMatchObject({ code: 'not_found' });
    expect(live.state.status).toBe('error');
    live.close();
  });
});

describe('live search and list', () => {
  it('pushes the fresh page when a change touches it, and moves with setParams', async () => {
    const c = client();
    const writer = client().model<Task>('todo.Task');
    const tag = `live-search-${Date.now()}`;
    const live = c.search<Task>('todo.Task', { filters: { title__startswith: tag }, order: 'id', limit: 2 });
    expect((await live.ready()).count).toBe(0);

    const a = await writer.create({ title: `${tag} a` });
    await waitFor(() => live.data?.count === 1, 2000, 'the first push');
    await writer.create({ title: `${tag} b` });
    await writer.create({ title: `${tag} c` });
    await waitFor(() => live.data?.count === 3, 2000, 'the third push');
    expect(live.data!.rows.map((r) => r.title)).toEqual([`${tag} a`, `${tag} b`]);

    const oldEvent = live.event;
    live.setParams({ ...live.params, page: 2 });
    expect(live.state.status).toBe('loading');
    expect(live.event).not.toBe(oldEvent);
    await waitFor(() => live.state.status === 'ready' && live.data?.page === 2, 2000, 'page 2');
    expect(live.data!.rows.map((r) => r.title)).toEqual([`${tag} c`]);

    // The old page's subscription is gone: a change to row a only moves page 2 if it must.
    await writer.update(a.id, { title: `${tag} a, renamed` });
    await writer.delete(a.id);
    await waitFor(() => live.data?.count === 2, 2000, 'page 2 after the delete');
    expect(live.data!.rows).toEqual([]);
    live.close();
  });

  it('keeps a list current', async () => {
    const c = client();
    const writer = client().model<Task>('todo.Task');
    const tag = `live-list-${Date.now()}`;
    const live = c.list<Task>('todo.Task', { filters: { title__startswith: tag, done: false } });
    expect((await live.ready()).rows).toEqual([]);
    const t = await writer.create({ title: `${tag} 1` });
    await waitFor(() => live.data?.count === 1, 2000, 'the created row');
    await writer.update(t.id, { done: true });
    await waitFor(() => live.data?.count === 0, 2000, 'the row leaving the filter');
    live.close();
  });

  it('gives two widgets on the same query their own hashes and pushes', async () => {
    const c = client();
    const frames: Frame[] = [];
    c.on('frame', (f) => frames.push(f));
    const left = c.search('auth.User', { limit: 5 });
    const right = c.search('auth.User', { limit: 5 });
    await Promise.all([left.ready(), right.ready()]);
    expect(left.event).not.toBe(right.event);
    expect(frames.some((f) => f.event === left.event)).toBe(true);
    expect(frames.some((f) => f.event === right.event)).toBe(true);
    left.close();
    right.close();
  });
});

describe('change feed', () => {
  it('delivers created, updated and deleted events for a filter', async () => {
    const c = client();
    const writer = client().model<Task>('todo.Task');
    const feed = c.subscribe<Task>('todo.Task', { filters: { priority: 4 } });
    const events: FeedEvent<Task>[] = [];
    feed.onEvent((e) => events.push(e));
    await feed.ready();
    const t = await writer.create({ title: 'feed me', priority: 4 });
    await writer.update(t.id, { title: 'fed' });
    await writer.update(t.id, { priority: 1 }); // leaves the filter: deleted
    await waitFor(() => events.length >= 3, 2000, 'three feed events');
    expect(events.map((e) => e.type)).toEqual(['created', 'updated', 'deleted']);
    expect(events[0]).toMatchObject({ type: 'created', row: { id: t.id, title: 'feed me' } });
    expect(events[2]).toEqual({ type: 'deleted', id: t.id });
    feed.close();
  });
});

describe('closing', () => {
  it('unsubscribes a closed live object: no more pushes', async () => {
    const c = client();
    const writer = client().model<Task>('todo.Task');
    const { id } = await writer.create({ title: 'closing' });
    const live = c.retrieve<Task>('todo.Task', id);
    await live.ready();
    const sent: string[] = [];
    c.on('send', (f) => sent.push(f.event));
    const event = live.event;
    live.close();
    expect(sent).toContain(event.replace('.retrieve#', '.unsubscribe#'));
    const after: Frame[] = [];
    c.on('frame', (f) => after.push(f));
    await writer.update(id, { title: 'closed' });
    await new Promise((r) => setTimeout(r, 300));
    expect(after.filter((f) => f.event === event)).toEqual([]);
  });
});

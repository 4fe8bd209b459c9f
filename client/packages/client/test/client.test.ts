// Requests, correlation, typed errors, the offline queue and custom events, against a real
// demo server with its permission policy (admin, alice and bob; anonymous allowed).

import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChanbindClient, ChanbindError, type ClientOptions, type Hello, type SearchResult, type WriteResult } from '../src/index.js';
import { startDemo, TOKENS, waitFor, type DemoServer } from '../../../test-support/demo-server.js';

interface Task {
  id: number;
  title: string;
  done: boolean;
  priority: number;
  owner_id: number | null;
  created_at: string;
}

let server: DemoServer;
const clients: ChanbindClient[] = [];

function client(options: ClientOptions = {}): ChanbindClient {
  const c = new ChanbindClient({ url: server.wsUrl, WebSocket: WebSocket as never, ...options });
  clients.push(c);
  return c;
}

async function opened(c: ChanbindClient): Promise<Hello> {
  if (c.hello && c.isOpen) return c.hello;
  return new Promise((resolve) => {
    const off = c.on('hello', (hello) => {
      off();
      resolve(hello);
    });
  });
}

async function rejection(promise: Promise<unknown>): Promise<ChanbindError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ChanbindError);
    return error as ChanbindError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  // The one-shot search test sends 1,100 requests as fast as it can, far past the default
  // request rate, to reach max_subscriptions: rate limits are off for this file.
  server = await startDemo({ tokens: TOKENS, extraArgs: ['--rate-limit', '0'] });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe('hello', () => {
  it('tells the anonymous user and the limits', async () => {
    const hello = await opened(client());
    expect(hello.protocol).toBe(1);
    expect(hello.user).toBeNull();
    expect(hello.limits.max_message_bytes).toBeGreaterThan(0);
    expect(hello.limits.page_size).toBe(25);
  });

  it('signs in with a token given as a string or by a provider', async () => {
    const a = client({ token: TOKENS.alice });
    expect((await opened(a)).user?.name).toBe('alice');
    const b = client({ token: async () => TOKENS.bob });
    expect((await opened(b)).user?.name).toBe('bob');
    expect(b.user?.name).toBe('bob');
  });
});

describe('requests', () => {
  it('correlates concurrent replies by their generated hashes', async () => {
    const c = client();
    const sent: string[] = [];
    c.on('send', (frame) => sent.push(frame.event));
    const pages = await Promise.all(
      [1, 2, 3, 4].map((page) => c.request<SearchResult>('auth.User.search', { page, limit: 10, order: 'id' })),
    );
    expect(pages.map((p) => p.page)).toEqual([1, 2, 3, 4]);
    expect(pages[1]!.rows[0]!.id).toBe(pages[0]!.rows[9]!.id as number + 1);
    const hashes = sent.filter((e) => e.startsWith('auth.User.search#')).map((e) => e.split('#')[1]);
    expect(new Set(hashes).size).toBe(4);
  });

  it('keeps a hash the caller chose', async () => {
    const c = client();
    const frames: string[] = [];
    c.on('frame', (f) => frames.push(f.event));
    const row = await c.request<{ id: number }>('auth.User.retrieve#my-widget', { id: 1, subscribe: false });
    expect(row.id).toBe(1);
    expect(frames).toContain('auth.User.retrieve#my-widget');
  });

  it('creates, updates and deletes through the model API', async () => {
    const admin = client({ token: TOKENS.admin });
    const tasks = admin.model<Task>('todo.Task');
    const created = await tasks.create({ title: 'model api', priority: 2 });
    expect(created.success).toBe(true);
    expect(created.object.title).toBe('model api');
    const updated = await tasks.update(created.id, { done: true });
    expect(updated.object.done).toBe(true);
    expect((await tasks.retrieve(created.id)).done).toBe(true);
    const page = await tasks.search({ filters: { title: 'model api' } });
    expect(page.count).toBe(1);
    const deleted = await tasks.delete(created.id);
    expect(deleted).toEqual({ success: true, id: created.id });
  });

  it('leaves no subscription behind for one-shot searches', async () => {
    // max_subscriptions is 1000: 1100 one-shot searches would hit it if they stayed.
    const c = client({ token: TOKENS.alice });
    const users = c.model('auth.User');
    for (let batch = 0; batch < 11; batch++) {
      await Promise.all(Array.from({ length: 100 }, () => users.search({ limit: 1 })));
    }
    const live = c.search('auth.User', { limit: 1 });
    await expect(live.ready()).resolves.toMatchObject({ limit: 1 });
    live.close();
  });
});

describe('typed errors', () => {
  it('rejects with not_found, invalid (with fields), invalid_filter, unknown_event and bad_request', async () => {
    const admin = client({ token: TOKENS.admin });
    const tasks = admin.model<Task>('todo.Task');

    const notFound = await rejection(tasks.retrieve(987654));
    expect(notFound.code).toBe('not_found');
    expect(notFound.fromServer).toBe(true);
    expect(notFound.event).toMatch(/^todo\.Task\.retrieve#/);

    const invalid = await rejection(tasks.create({ title: '', priority: 9 }));
    expect(invalid.code).toBe('invalid');
    expect(invalid.fieldErrors('priority')).toEqual(['must be <= 5']);
    expect(invalid.fieldErrors('title').length).toBe(1);

    const badFilter = await rejection(tasks.search({ filters: { nope__gte: 1 } }));
    expect(badFilter.code).toBe('invalid_filter');

    const unknown = await rejection(admin.request('no.Such.search'));
    expect(unknown.code).toBe('unknown_event');
    const unknownAction = await rejection(admin.request('todo.Task.frobnicate'));
    expect(unknownAction.code).toBe('unknown_event');

    const badRequest = await rejection(tasks.search({ page: 'two' as never }));
    expect(badRequest.code).toBe('bad_request');
  });

  it('rejects with unauthenticated, permission_denied and conflict under the demo policy', async () => {
    const anonymous = client();
    const unauth = await rejection(anonymous.model('todo.Task').search());
    expect(unauth.code).toBe('unauthenticated');

    const alice = client({ token: TOKENS.alice });
    await opened(alice);
    const denied = await rejection(alice.model('auth.User').update(1, { username: 'not-alice' }));
    expect(denied.code).toBe('permission_denied');

    const admin = client({ token: TOKENS.admin });
    const conflict = await rejection(admin.model('auth.User').create({ username: 'alice', email: 'x@example.com' }));
    expect(conflict.code).toBe('conflict');
  });

  it('refuses a request over max_message_bytes without sending it', async () => {
    const c = client({ token: TOKENS.admin });
    const hello = await opened(c);
    const huge = 'x'.repeat(hello.limits.max_message_bytes + 1);
    const error = await rejection(c.request('todo.Task.create', { title: huge }));
    expect(error.code).toBe('too_large');
    expect(error.fromServer).toBe(false);
    // The connection is still usable.
    expect(c.isOpen).toBe(true);
    await expect(c.model('todo.Task').search({ limit: 1 })).resolves.toHaveProperty('count');
  });

  it('rejects a malformed event name at once', async () => {
    const c = client();
    await expect(c.request('nodot')).rejects.toThrow(TypeError);
    await expect(c.request('a.b#bad hash')).rejects.toThrow(TypeError);
  });
});

describe('offline queue', () => {
  it('sends every request made before the connection opens, in order', async () => {
    const c = client({ token: TOKENS.alice, autoConnect: false });
    const tasks = c.model<Task>('todo.Task');
    const titles = Array.from({ length: 8 }, (_, i) => `queued ${i}`);
    const writes = titles.map((title) => tasks.create({ title }));
    const read = tasks.search({ filters: { title__startswith: 'queued ' }, order: 'id' });
    expect(c.state).toBe('idle');
    c.connect();
    const results: WriteResult<Task>[] = await Promise.all(writes);
    const ids = results.map((r) => r.id as number);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    const page = await read;
    expect(page.rows.map((r) => r.title)).toEqual(titles);
  });
});

describe('custom events', () => {
  it('reflects to the sender, dispatches to the group and broadcasts to everyone', async () => {
    const sender = client({ token: TOKENS.alice });
    const member = client({ token: TOKENS.bob });
    const bystander = client({ token: TOKENS.admin });
    await Promise.all([opened(sender), opened(member), opened(bystander)]);

    // Bob joins the stream's group by sending it a permitted event.
    await member.request('custom_stream.custom_event', { sender: 'bob' });

    const dispatched: unknown[] = [];
    const broadcast: unknown[] = [];
    member.listen('custom_stream.custom_group_event', (data) => dispatched.push(data));
    bystander.listen('custom_stream.custom_all_event', (data) => broadcast.push(data));
    const bystanderGroup: unknown[] = [];
    bystander.listen('custom_stream.custom_group_event', (data) => bystanderGroup.push(data));

    const reflected = await sender.request<{ msg: string }>('custom_stream.custom_event', { sender: 'alice' });
    expect(reflected.msg).toBe('This a reflected response for alice');
    // Bob's own event broadcast too, and its frames may still be on their way to the other
    // connections: wait for alice's, and ignore bob's.
    const fromAlice = (list: unknown[]) => list.filter((m) => String((m as { msg?: string }).msg).endsWith('from alice'));
    await waitFor(() => fromAlice(dispatched).length === 1 && fromAlice(broadcast).length === 1, 3000, 'the dispatch and the broadcast');
    expect(fromAlice(dispatched)).toEqual([{ msg: 'This a dispatched response to the custom_stream subscriber from alice' }]);
    expect(fromAlice(broadcast)).toEqual([{ msg: 'This a dispatched response to the all layers from alice' }]);
    expect(bystanderGroup).toEqual([]);
  });

  it('sends without waiting, and a handler error is typed', async () => {
    const c = client({ token: TOKENS.alice });
    const reflections: unknown[] = [];
    c.listen('custom_stream.custom_event', (data) => reflections.push(data));
    c.send('custom_stream.custom_event', { sender: 'fire-and-forget' });
    await waitFor(() => reflections.length === 1, 3000, 'the reflection');

    const error = await rejection(c.request('custom_stream.custom_event', {}));
    expect(error.code).toBe('invalid');
    expect(error.fieldErrors('sender')).toEqual(['this field is required']);

    const anonymous = client();
    expect((await rejection(anonymous.request('custom_stream.custom_event', { sender: 'x' }))).code).toBe('unauthenticated');
  });
});

describe('relations', () => {
  interface Comment {
    id: string;
    task_id: number;
    body: string;
    author_id: number | null;
    author?: { id: number; username: string } | null;
  }
  type Shown = Task & { owner?: { id: number; username: string } | null; comments?: Comment[] };

  it('expands and includes related rows, typed, and keeps a live retrieve current when they change', async () => {
    const c = client({ token: TOKENS.alice });
    const tasks = c.model<Shown>('todo.Task');
    const task = (await tasks.create({ title: 'With relations' })).object;
    const comments = c.model<Comment>('todo.Comment');
    const first = await comments.create({ task_id: task.id, body: 'first' });
    expect(typeof first.id).toBe('string'); // a UUID key

    const once = await tasks.retrieve(task.id, {}, { expand: 'owner', include: { comments: { expand: 'author' } } });
    expect(once.owner?.username).toBe('alice');
    expect(once.comments?.map((x) => [x.body, x.author?.username])).toEqual([['first', 'alice']]);

    const page = await tasks.search({ filters: { id: task.id }, expand: ['owner'] });
    expect(page.rows[0]?.owner).toEqual(expect.objectContaining({ id: task.owner_id, username: 'alice' }));

    const live = c.retrieve<Shown>('todo.Task', task.id, { include: 'comments' });
    await waitFor(() => live.state.data?.comments?.length === 1, 5_000, 'the live retrieve');
    await comments.create({ task_id: task.id, body: 'second' });
    await waitFor(() => live.state.data?.comments?.length === 2, 5_000, 'the push after a new comment');
    live.close();
  });
});

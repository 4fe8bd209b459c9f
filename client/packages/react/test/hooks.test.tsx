// The hooks against a real demo server (jsdom for the DOM, the `ws` package for the socket).

import { ChanbindClient, type Frame } from '@chanbind/client';
import { act, cleanup, render, renderHook, screen, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ChanbindProvider,
  sharedLives,
  useConnection,
  useEvent,
  useForm,
  useList,
  useMutation,
  useRetrieve,
  useSearch,
  useSubscribe,
} from '../src/index.js';
import { startDemo, TOKENS, type DemoServer } from '../../../test-support/demo-server.js';
import { hello, scripted } from '../../../test-support/scripted-server.js';

interface Task {
  id: number;
  title: string;
  done: boolean;
  priority: number;
}

let server: DemoServer;
const clients: ChanbindClient[] = [];

function makeClient(token: string | null = TOKENS.admin): ChanbindClient {
  const c = new ChanbindClient({ url: server.wsUrl, WebSocket: WebSocket as never, token });
  clients.push(c);
  return c;
}

function wrapper(client: ChanbindClient, releaseDelay = 50) {
  return ({ children }: { children?: ReactNode }) => (
    <ChanbindProvider client={client} releaseDelay={releaseDelay}>
      {children}
    </ChanbindProvider>
  );
}

beforeAll(async () => {
  server = await startDemo({ tokens: TOKENS });
});

afterEach(() => {
  cleanup();
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe('useSearch and useList', () => {
  it('shows loading, then the rows, then every push', async () => {
    const client = makeClient();
    const tag = `hook-search-${Date.now()}`;
    const { result } = renderHook(() => useSearch<Task>('todo.Task', { filters: { title__startswith: tag }, order: 'id' }), {
      wrapper: wrapper(client),
    });
    expect(result.current.loading).toBe(true);
    expect(result.current.data).toBeUndefined();
    await waitFor(() => expect(result.current.status).toBe('ready'));
    expect(result.current.data?.count).toBe(0);
    await makeClient().model('todo.Task').create({ title: `${tag} one` });
    await waitFor(() => expect(result.current.data?.rows.map((r) => r.title)).toEqual([`${tag} one`]));
  });

  it('keeps the previous page while the next one loads', async () => {
    const client = makeClient();
    const { result, rerender } = renderHook(({ page }) => useSearch('auth.User', { page, limit: 5, order: 'id' }), {
      wrapper: wrapper(client),
      initialProps: { page: 1 },
    });
    await waitFor(() => expect(result.current.status).toBe('ready'));
    const first = result.current.data!.rows[0]!.id;
    rerender({ page: 2 });
    expect(result.current.loading).toBe(true);
    expect(result.current.isPlaceholder).toBe(true);
    expect(result.current.data!.rows[0]!.id).toBe(first);
    await waitFor(() => expect(result.current.data?.page).toBe(2));
    expect(result.current.isPlaceholder).toBe(false);
  });

  it('reports a server error as an explicit state', async () => {
    const client = makeClient(null);
    const { result } = renderHook(() => useList('todo.Task'), { wrapper: wrapper(client) });
    await waitFor(() => expect(result.current.status).toBe('error'));
    expect(result.current.error?.code).toBe('unauthenticated');
    expect(result.current.data).toBeUndefined();
  });

  it('subscribes to nothing when disabled', () => {
    const client = makeClient();
    const { result } = renderHook(() => useSearch('auth.User', {}, { enabled: false }), { wrapper: wrapper(client) });
    expect(result.current.status).toBe('idle');
    expect(result.current.loading).toBe(false);
  });
});

describe('shared subscriptions', () => {
  it('gives components that ask the same query one subscription, and releases it on unmount', async () => {
    const client = makeClient();
    const sent: Frame[] = [];
    client.on('send', (f) => sent.push(f));
    const shared = sharedLives(client, 50);

    function Count({ filters }: { filters: Record<string, unknown> }) {
      const r = useSearch('auth.User', { limit: 3, filters });
      return <span data-testid="count">{r.data?.count ?? '…'}</span>;
    }
    function Board({ show }: { show: boolean }) {
      return show ? (
        <>
          <Count filters={{ is_active: true, username__startswith: 'user0' }} />
          {/* Same query, keys in another order. */}
          <Count filters={{ username__startswith: 'user0', is_active: true }} />
          <Count filters={{ username__startswith: 'user1' }} />
        </>
      ) : null;
    }
    const view = render(<Board show />, { wrapper: wrapper(client, 50) });
    await waitFor(() => expect(screen.getAllByTestId('count').map((e) => e.textContent)).toEqual(['99', '99', '1']));
    const searches = sent.filter((f) => f.event.startsWith('auth.User.search#'));
    expect(searches.length).toBe(2);
    expect(shared.size).toBe(2);

    view.rerender(<Board show={false} />);
    await waitFor(() => expect(shared.size).toBe(0));
    const unsubscribes = sent.filter((f) => f.event.startsWith('auth.User.unsubscribe#'));
    expect(unsubscribes.map((f) => f.event.split('#')[1]).sort()).toEqual(searches.map((f) => f.event.split('#')[1]).sort());
  });
});

describe('useRetrieve and useSubscribe', () => {
  it('follows a row until it is deleted', async () => {
    const client = makeClient();
    const tasks = makeClient().model<Task>('todo.Task');
    const { id } = await tasks.create({ title: 'retrieved by a hook' });
    const events: string[] = [];
    const { result } = renderHook(
      () => ({
        row: useRetrieve<Task>('todo.Task', id),
        feed: useSubscribe<Task>('todo.Task', { id }, (e) => events.push(e.type)),
      }),
      { wrapper: wrapper(client) },
    );
    await waitFor(() => expect(result.current.row.data?.title).toBe('retrieved by a hook'));
    await waitFor(() => expect(result.current.feed.status).toBe('ready'));
    await tasks.update(id, { title: 'changed under the hook' });
    await waitFor(() => expect(result.current.row.data?.title).toBe('changed under the hook'));
    await tasks.delete(id);
    await waitFor(() => expect(result.current.row.deleted).toBe(true));
    await waitFor(() => expect(events).toEqual(['updated', 'deleted']));
  });

  it('subscribes to nothing for a null id', () => {
    const { result } = renderHook(() => useRetrieve('todo.Task', null), { wrapper: wrapper(makeClient()) });
    expect(result.current.status).toBe('idle');
  });
});

describe('useForm', () => {
  it('loads the schema, shows per-field errors, and saves', async () => {
    const client = makeClient(TOKENS.alice);
    let saved: unknown;
    const { result } = renderHook(() => useForm<Task>('todo.Task', null, { onSuccess: (r) => (saved = r) }), {
      wrapper: wrapper(client),
    });
    await waitFor(() => expect(result.current.status).toBe('ready'));
    expect(result.current.fields.map((f) => f.name)).toEqual(['title', 'done', 'priority', 'owner_id', 'created_at']);
    expect(result.current.fields.find((f) => f.name === 'owner_id')?.read_only).toBe(true);
    expect(result.current.values).toMatchObject({ title: null, done: false, priority: 0 });

    act(() => result.current.setValue('priority', 9));
    expect(result.current.dirty).toBe(true);
    await act(async () => {
      expect(await result.current.submit()).toBeUndefined();
    });
    expect(result.current.errors.priority).toEqual(['must be <= 5']);
    expect(result.current.errors.title?.length).toBe(1);
    expect(result.current.formError).toBeUndefined();

    act(() => {
      result.current.setValue('title', 'made by useForm');
      result.current.setValue('priority', 2);
    });
    expect(result.current.errors.priority).toBeUndefined();
    await act(async () => {
      await result.current.submit();
    });
    expect(saved).toMatchObject({ success: true, object: { title: 'made by useForm', priority: 2 } });
    // A create starts over.
    expect(result.current.values.title).toBeNull();
  });

  it('edits an existing row and reports a refusal as a form error', async () => {
    const admin = makeClient(TOKENS.admin);
    const { id } = await admin.model<Task>('todo.Task').create({ title: "admin's task" });
    const alice = makeClient(TOKENS.alice);
    const { result } = renderHook(() => useForm<Task>('todo.Task', id), { wrapper: wrapper(alice) });
    await waitFor(() => expect(result.current.status).toBe('error'));
    expect(result.current.formError?.code).toBe('not_found');

    const { result: mine } = renderHook(() => useForm<Task>('todo.Task', id), { wrapper: wrapper(admin) });
    await waitFor(() => expect(mine.current.values.title).toBe("admin's task"));
    act(() => mine.current.setValue('done', true));
    await act(async () => {
      await mine.current.submit();
    });
    expect(mine.current.values.done).toBe(true);
    expect(mine.current.dirty).toBe(false);
  });
});

describe('useMutation', () => {
  it('tracks pending and keeps the last error', async () => {
    const client = makeClient(TOKENS.bob);
    const { result } = renderHook(() => useMutation<Task>('todo.Task'), { wrapper: wrapper(client) });
    let promise: Promise<unknown> | undefined;
    act(() => {
      promise = result.current.create({ title: 'mutated' });
    });
    expect(result.current.pending).toBe(true);
    await act(async () => {
      await promise;
    });
    expect(result.current.pending).toBe(false);
    await act(async () => {
      await result.current.update(1, { title: 'not mine' }).catch(() => undefined);
    });
    expect(result.current.error?.code).toBe('not_found');
    act(() => result.current.reset());
    expect(result.current.error).toBeUndefined();
  });
});

describe('useMutation with optimistic updates', () => {
  it('shows the write at once in useSearch and useRetrieve, marked pending, and rolls back a refused one', async () => {
    const client = makeClient(TOKENS.admin);
    const { id } = await client.model<Task>('todo.Task').create({ title: 'optimistic hook', priority: 1 });
    const { result } = renderHook(
      () => ({
        mutation: useMutation<Task>('todo.Task', { optimistic: true }),
        search: useSearch<Task>('todo.Task', { filters: { title__startswith: 'optimistic hook' } }),
        row: useRetrieve<Task>('todo.Task', id),
      }),
      { wrapper: wrapper(client) },
    );
    await waitFor(() => expect(result.current.row.data?.priority).toBe(1));
    await waitFor(() => expect(result.current.search.data?.count).toBe(1));

    let write: Promise<unknown> | undefined;
    act(() => {
      write = result.current.mutation.update(id, { priority: 3 });
    });
    expect(result.current.row.data?.priority).toBe(3);
    expect(result.current.search.data?.rows[0]?.priority).toBe(3);
    expect(result.current.row.pending.has(id)).toBe(true);
    expect(result.current.search.pending.has(id)).toBe(true);
    await act(async () => {
      await write;
    });
    expect(result.current.row.pending.size).toBe(0);
    expect(result.current.row.data?.priority).toBe(3);

    // Refused: back to the server's 3 everywhere, the error in `error` and in the rejection.
    let refused: Promise<unknown> | undefined;
    act(() => {
      refused = result.current.mutation.update(id, { priority: 9 }).catch((e: { code: string }) => e.code);
    });
    expect(result.current.search.data?.rows[0]?.priority).toBe(9);
    await act(async () => {
      expect(await refused).toBe('invalid');
    });
    expect(result.current.row.data?.priority).toBe(3);
    expect(result.current.search.data?.rows[0]?.priority).toBe(3);
    expect(result.current.search.pending.size).toBe(0);
    expect(result.current.mutation.error?.fields.priority).toEqual(['must be <= 5']);

    // Per call, the hook's default can be turned off: nothing shows before the reply.
    act(() => {
      write = result.current.mutation.update(id, { priority: 4 }, { optimistic: false });
    });
    expect(result.current.row.data?.priority).toBe(3);
    await act(async () => {
      await write;
    });
    await waitFor(() => expect(result.current.row.data?.priority).toBe(4));
  });
});

describe('useEvent and useConnection', () => {
  it('receives broadcasts and sends custom events', async () => {
    const listener = makeClient(TOKENS.bob);
    const sender = makeClient(TOKENS.alice);
    const got: unknown[] = [];
    renderHook(() => useEvent<{ msg: string }>('custom_stream.custom_all_event', (d) => got.push(d.msg)), { wrapper: wrapper(listener) });
    const { result } = renderHook(() => useEvent<{ msg: string }>('custom_stream.custom_event'), { wrapper: wrapper(sender) });
    // A broadcast reaches the connections open when it is sent: the listener must be open first.
    await waitFor(() => expect(listener.state).toBe('open'));
    const reply = await result.current.request<{ msg: string }>({ sender: 'a hook' });
    expect(reply.msg).toBe('This a reflected response for a hook');
    await waitFor(() => expect(got).toContain('This a dispatched response to the all layers from a hook'));
  });

  it('follows the connection and the user, through a sign-in', async () => {
    let token: string | null = null;
    const client = new ChanbindClient({ url: server.wsUrl, WebSocket: WebSocket as never, token: () => token, autoConnect: false });
    clients.push(client);
    const { result } = renderHook(() => useConnection(), { wrapper: wrapper(client) });
    expect(result.current.state).toBe('idle');
    act(() => client.connect());
    await waitFor(() => expect(result.current.state).toBe('open'));
    expect(result.current.user).toBeNull();
    token = TOKENS.alice;
    act(() => result.current.reconnect());
    await waitFor(() => expect(result.current.user?.name).toBe('alice'));
  });

  it('reports a user the application disconnected (close 4003) and stays closed', async () => {
    const scriptedServer = await scripted((ws, n) => {
      ws.send(hello());
      if (n === 1) setTimeout(() => ws.close(4003, 'disconnected by the application'), 50);
    });
    try {
      const client = new ChanbindClient({ url: scriptedServer.url, WebSocket: WebSocket as never, token: 'tok' });
      clients.push(client);
      const { result } = renderHook(() => useConnection(), { wrapper: wrapper(client) });
      await waitFor(() => expect(result.current.disconnected).toEqual({ code: 4003, reason: 'disconnected by the application' }));
      expect(result.current.state).toBe('closed');
      act(() => result.current.reconnect());
      await waitFor(() => expect(result.current.state).toBe('open'));
      expect(result.current.disconnected).toBeUndefined();
      expect(scriptedServer.urls).toHaveLength(2);
    } finally {
      await scriptedServer.close();
    }
  });

  it('makes, connects and closes its own client from options', async () => {
    function Who() {
      const { state, user } = useConnection();
      return <span data-testid="who">{state === 'open' ? (user?.name ?? 'anonymous') : state}</span>;
    }
    const view = render(
      <ChanbindProvider options={{ url: server.wsUrl, WebSocket: WebSocket as never, token: TOKENS.bob }}>
        <Who />
      </ChanbindProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('who').textContent).toBe('bob'));
    view.unmount();
  });
});

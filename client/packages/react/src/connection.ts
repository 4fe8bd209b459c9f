import type { ChanbindClient, ChanbindError, ConnectionState, Hello, User } from '@chanbind/client';
import { useSyncExternalStore } from 'react';
import { useClient } from './context.js';

/** What `useConnection` returns. */
export interface ConnectionInfo {
  state: ConnectionState;
  /** The latest `hello`, kept while reconnecting. */
  hello: Hello | undefined;
  /** The signed-in user; `null` when anonymous, `undefined` before the first `hello`. */
  user: User | null | undefined;
  /** The last error that belongs to no request (a failed attempt, a throwing token
   * provider); cleared by the next `hello`. */
  lastError: ChanbindError | undefined;
  /** Set when the application disconnected this user (close 4003): the client stays closed
   * (`state` is `closed`) until `reconnect()`, which clears it. */
  disconnected: { code: number; reason: string } | undefined;
  /** Drops the connection and connects again, asking the token provider anew. */
  reconnect: () => void;
}

interface Store {
  subscribe: (onChange: () => void) => () => void;
  get: () => ConnectionInfo;
}

const stores = new WeakMap<ChanbindClient, Store>();

function storeFor(client: ChanbindClient): Store {
  let store = stores.get(client);
  if (store) return store;
  const reconnect = () => client.reconnect();
  let lastError: ChanbindError | undefined;
  let snapshot: ConnectionInfo = {
    state: client.state,
    hello: client.hello,
    user: client.user,
    lastError,
    disconnected: client.disconnected,
    reconnect,
  };
  const listeners = new Set<() => void>();
  const refresh = () => {
    const next = { state: client.state, hello: client.hello, user: client.user, lastError, disconnected: client.disconnected, reconnect };
    if (
      next.state !== snapshot.state ||
      next.hello !== snapshot.hello ||
      next.lastError !== snapshot.lastError ||
      next.disconnected !== snapshot.disconnected
    ) {
      snapshot = next;
      for (const l of [...listeners]) l();
    }
  };
  client.on('state', refresh);
  client.on('disconnected', refresh);
  client.on('hello', () => {
    lastError = undefined;
    refresh();
  });
  client.on('error', (error) => {
    if (error.code === 'connect_failed' || error.code === 'token_provider') {
      lastError = error;
      refresh();
    }
  });
  store = {
    subscribe: (onChange) => {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    get: () => snapshot,
  };
  stores.set(client, store);
  return store;
}

/** The connection's state, `hello` and user; re-renders when they change. */
export function useConnection(): ConnectionInfo {
  const store = storeFor(useClient());
  return useSyncExternalStore(store.subscribe, store.get, store.get);
}

// Live objects shared between components: identical queries on one client make one
// subscription, released a moment after its last user unmounts.

import type { ChanbindClient, ListParams, Pk, RetrieveParams, SearchParams, SubscribeParams } from '@chanbind/client';
import type { Live } from '@chanbind/client';

export type LiveKind = 'retrieve' | 'search' | 'list' | 'subscribe';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyLive = Live<any, any>;

interface Entry {
  live: AnyLive;
  refs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The shared live objects of one client. */
export class SharedLives {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly client: ChanbindClient,
    /** How long an unused live object stays subscribed (ms): a component that remounts, or a
     * table paging back, finds it still warm. */
    readonly releaseDelay = 500,
  ) {}

  /** The key of a query: kind, stream and parameters with their keys sorted. */
  static key(kind: LiveKind, stream: string, params: unknown): string {
    return `${kind} ${stream} ${stableStringify(params)}`;
  }

  /** The live object for a query, created if needed, without holding it: an entry nobody
   * acquires is closed after `releaseDelay`. Safe to call during render. */
  peek(kind: LiveKind, stream: string, params: unknown): { key: string; live: AnyLive } {
    const key = SharedLives.key(kind, stream, params);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { live: this.create(kind, stream, params), refs: 0, timer: undefined };
      this.entries.set(key, entry);
      this.scheduleRelease(key, entry);
    }
    return { key, live: entry.live };
  }

  /** Holds the query's live object until the returned function is called. */
  acquire(kind: LiveKind, stream: string, params: unknown): { live: AnyLive; release: () => void } {
    const { key } = this.peek(kind, stream, params);
    const entry = this.entries.get(key)!;
    entry.refs += 1;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    let released = false;
    return {
      live: entry.live,
      release: () => {
        if (released) return;
        released = true;
        entry.refs -= 1;
        if (entry.refs <= 0) this.scheduleRelease(key, entry);
      },
    };
  }

  /** How many live objects are open (for tests and debugging). */
  get size(): number {
    return this.entries.size;
  }

  /** The keys of the open live objects. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  private scheduleRelease(key: string, entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      if (entry.refs > 0 || this.entries.get(key) !== entry) return;
      this.entries.delete(key);
      entry.live.close();
    }, this.releaseDelay);
  }

  private create(kind: LiveKind, stream: string, params: unknown): AnyLive {
    switch (kind) {
      case 'retrieve':
      {
        const { id, ...relations } = params as RetrieveParams;
        return this.client.retrieve(stream, id, relations);
      }
      case 'search':
        return this.client.search(stream, params as SearchParams);
      case 'list':
        return this.client.list(stream, params as ListParams);
      case 'subscribe':
        return this.client.subscribe(stream, params as SubscribeParams);
    }
  }
}

const perClient = new WeakMap<ChanbindClient, SharedLives>();

/** The shared live objects of `client` (one registry per client). */
export function sharedLives(client: ChanbindClient, releaseDelay?: number): SharedLives {
  let shared = perClient.get(client);
  if (!shared) {
    shared = new SharedLives(client, releaseDelay);
    perClient.set(client, shared);
  }
  return shared;
}

/** JSON with object keys sorted and `undefined` members left out, so `{a: 1, b: 2}` and
 * `{b: 2, a: 1}` are the same query. */
export function stableStringify(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

import type { ChanbindError, FeedEvent, ListParams, ListResult, LiveState, LiveStatus, Pk, RelationParams, Row, SearchParams, SearchResult, SubscribeParams } from '@chanbind/client';
import type { LiveFeed } from '@chanbind/client';
import { useEffect, useReducer, useRef, useSyncExternalStore } from 'react';
import { useSharedLives } from './context.js';
import type { LiveKind } from './shared.js';

/** What the live hooks return. */
export interface LiveResult<T> {
  /** The latest snapshot or push; while new parameters load, the previous ones' data (see
   * `isPlaceholder`) unless `keepPrevious` is off. */
  data: T | undefined;
  /** `idle` when disabled. */
  status: LiveStatus | 'idle';
  /** True until the current parameters' first snapshot arrives. */
  loading: boolean;
  error: ChanbindError | undefined;
  /** The connection dropped; `data` may be out of date until it is re-established. */
  stale: boolean;
  /** `data` belongs to the previous parameters. */
  isPlaceholder: boolean;
  /** Asks the server for a fresh snapshot. */
  refresh: () => void;
  /** The keys of the rows in `data` that show an optimistic write the server has not
   * answered yet (`useMutation(stream, { optimistic: true })`). */
  pending: ReadonlySet<Pk>;
}

/** Options of the live hooks. */
export interface LiveOptions {
  /** `false` subscribes to nothing (status `idle`). */
  enabled?: boolean;
  /** Show the previous parameters' data while new ones load (default true). */
  keepPrevious?: boolean;
}

const NO_PENDING: ReadonlySet<Pk> = new Set<Pk>();
const IDLE: LiveState<never> = { status: 'loading', data: undefined, error: undefined, stale: false, deleted: false, version: 0, pending: NO_PENDING };
const noop = () => undefined;
const noSubscribe = () => noop;

function useLive<T>(kind: LiveKind, stream: string, params: unknown, options: LiveOptions) {
  const lives = useSharedLives();
  const enabled = options.enabled ?? true;
  const peeked = enabled ? lives.peek(kind, stream, params) : undefined;
  const key = peeked?.key;
  const live = peeked?.live;
  const [, force] = useReducer((n: number) => n + 1, 0);

  useEffect(() => {
    if (!enabled) return undefined;
    const held = lives.acquire(kind, stream, params);
    // The entry expired between render and commit (a very slow commit): render again.
    if (held.live !== live) force();
    return held.release;
    // `key` stands for (kind, stream, params).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lives, key, enabled]);

  const state = useSyncExternalStore<LiveState<T>>(
    live ? live.subscribe : noSubscribe,
    live ? live.getState : () => IDLE,
    live ? live.getState : () => IDLE,
  );

  // The last data of *other* parameters, shown while these load (never the same query's
  // data after an error or a change of user, which the live object cleared on purpose).
  const previous = useRef<{ key: string | undefined; data: T } | undefined>(undefined);
  if (state.data !== undefined) previous.current = { key, data: state.data };
  else if (state.status === 'error') previous.current = undefined;
  const placeholder =
    (options.keepPrevious ?? true) && state.data === undefined && state.status === 'loading' && previous.current && previous.current.key !== key
      ? previous.current.data
      : undefined;
  const result: LiveResult<T> & { deleted: boolean } = {
    data: state.data ?? placeholder,
    status: enabled ? state.status : 'idle',
    loading: enabled && state.status === 'loading',
    error: state.error,
    stale: state.stale,
    isPlaceholder: placeholder !== undefined,
    refresh: live ? () => live.refresh() : noop,
    pending: placeholder !== undefined ? NO_PENDING : state.pending,
    deleted: state.deleted,
  };
  return { result, live };
}

/** A row that stays current, with the related rows `options.expand`/`options.include` ask
 * for (kept current too). `deleted` turns true when it is deleted or leaves the user's view.
 * A `null` or `undefined` id subscribes to nothing. */
export function useRetrieve<R = Row>(
  stream: string,
  id: Pk | null | undefined,
  options: LiveOptions & RelationParams = {},
): LiveResult<R> & { deleted: boolean } {
  const { expand, include, ...live } = options;
  const params = { id, ...(expand === undefined ? {} : { expand }), ...(include === undefined ? {} : { include }) };
  return useLive<R>('retrieve', stream, params, { keepPrevious: false, ...live, enabled: id != null && (live.enabled ?? true) }).result;
}

/** A page of rows that stays current: filters, page, limit, order and query. */
export function useSearch<R = Row>(stream: string, params: SearchParams = {}, options: LiveOptions = {}): LiveResult<SearchResult<R>> {
  const { deleted: _, ...result } = useLive<SearchResult<R>>('search', stream, params, options).result;
  return result;
}

/** Every matching row (up to the server's `max_list_size`), kept current. */
export function useList<R = Row>(stream: string, params: ListParams = {}, options: LiveOptions = {}): LiveResult<ListResult<R>> {
  const { deleted: _, ...result } = useLive<ListResult<R>>('list', stream, params, options).result;
  return result;
}

/** A change feed: `onEvent` gets `created`, `updated`, `deleted` (and `reset` after a
 * reconnect). Components with the same stream and parameters share one subscription. */
export function useSubscribe<R = Row>(
  stream: string,
  params: SubscribeParams,
  onEvent: (event: FeedEvent<R>) => void,
  options: LiveOptions = {},
): LiveResult<{ success: boolean }> {
  const { result, live } = useLive<{ success: boolean }>('subscribe', stream, params, options);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (!live) return undefined;
    return (live as LiveFeed<R>).onEvent((event) => handler.current(event));
  }, [live]);
  const { deleted: _, ...rest } = result;
  return rest;
}

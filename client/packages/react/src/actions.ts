import { ChanbindError, type DeleteResult, type Frame, type Pk, type RequestOptions, type Row, type WriteResult } from '@chanbind/client';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useClient } from './context.js';

/** What `useEvent` returns. */
export interface EventHandle<T> {
  /** Sends the event without waiting. */
  send: (data?: Record<string, unknown>) => void;
  /** Sends the event and waits for its reply (or its reflection under the same event). */
  request: <R = T>(data?: Record<string, unknown>, options?: RequestOptions) => Promise<R>;
}

/**
 * Listens to a server event (a reflection, a group dispatch, a broadcast) and gives the
 * functions that send it. `event` without `#hash` also matches the hashed ones.
 *
 * ```tsx
 * useEvent("custom_stream.custom_all_event", (data) => setLast(data.msg));
 * const { request } = useEvent("custom_stream.custom_event");
 * ```
 */
export function useEvent<T = unknown>(event: string, onEvent?: (data: T, frame: Frame) => void): EventHandle<T> {
  const client = useClient();
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const listening = onEvent !== undefined;
  useEffect(() => {
    if (!listening) return undefined;
    return client.listen<T>(event, (data, frame) => handler.current?.(data, frame));
  }, [client, event, listening]);
  return useMemo(
    () => ({
      send: (data = {}) => client.send(event, data),
      request: <R,>(data: Record<string, unknown> = {}, options?: RequestOptions) => client.request<R>(event, data, options),
    }),
    [client, event],
  );
}

/** Options of `useMutation`, and of each of its calls (which override the hook's). */
export interface MutationOptions {
  /** Show each write at once in every live result that shows the row (`useSearch`,
   * `useList`, `useRetrieve`, `LiveTable`), its rows marked in `pending`, until the server
   * answers; a refused write is taken away again, every result shows the server's state,
   * and the error rejects the call and lands in `error`. Off by default. */
  optimistic?: boolean;
}

/** What `useMutation` returns. Every function returns the server's reply, or rejects with a
 * {@link ChanbindError} that is also kept in `error`. */
export interface Mutation<R> {
  create: (values: Record<string, unknown>, options?: MutationOptions) => Promise<WriteResult<R>>;
  update: (id: Pk, values: Record<string, unknown>, options?: MutationOptions) => Promise<WriteResult<R>>;
  save: (values: Record<string, unknown>, options?: MutationOptions) => Promise<WriteResult<R>>;
  remove: (id: Pk, options?: MutationOptions) => Promise<DeleteResult>;
  /** How many calls are in flight is more than zero. */
  pending: boolean;
  /** The last call's error; cleared by the next call and by `reset`. */
  error: ChanbindError | undefined;
  reset: () => void;
}

/** `create`, `update`, `save` and `delete` on one stream, with their pending and error state;
 * optimistic with `{ optimistic: true }`:
 *
 * ```tsx
 * const { update } = useMutation("todo.Task", { optimistic: true });
 * update(task.id, { done: true }); // every live result shows it done at once
 * ```
 */
export function useMutation<R = Row>(stream: string, options: MutationOptions = {}): Mutation<R> {
  const optimistic = options.optimistic ?? false;
  const client = useClient();
  const [inFlight, setInFlight] = useState(0);
  const [error, setError] = useState<ChanbindError | undefined>(undefined);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const run = useCallback(
    async <T,>(call: () => Promise<T>): Promise<T> => {
      setInFlight((n) => n + 1);
      setError(undefined);
      try {
        return await call();
      } catch (e) {
        const err = e instanceof ChanbindError ? e : new ChanbindError('internal', String(e), { cause: e });
        if (mounted.current) setError(err);
        throw err;
      } finally {
        if (mounted.current) setInFlight((n) => n - 1);
      }
    },
    [],
  );

  const model = useMemo(() => client.model<R>(stream), [client, stream]);
  const opts = useCallback((call?: MutationOptions) => ({ optimistic: call?.optimistic ?? optimistic }), [optimistic]);
  return {
    create: useCallback((values, call) => run(() => model.create(values, opts(call))), [model, run, opts]),
    update: useCallback((id, values, call) => run(() => model.update(id, values, opts(call))), [model, run, opts]),
    save: useCallback((values, call) => run(() => model.save(values, opts(call))), [model, run, opts]),
    remove: useCallback((id, call) => run(() => model.delete(id, opts(call))), [model, run, opts]),
    pending: inFlight > 0,
    error,
    reset: useCallback(() => setError(undefined), []),
  };
}

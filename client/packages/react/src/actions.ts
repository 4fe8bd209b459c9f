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

/** What `useMutation` returns. Every function returns the server's reply, or rejects with a
 * {@link ChanbindError} that is also kept in `error`. */
export interface Mutation<R> {
  create: (values: Record<string, unknown>) => Promise<WriteResult<R>>;
  update: (id: Pk, values: Record<string, unknown>) => Promise<WriteResult<R>>;
  save: (values: Record<string, unknown>) => Promise<WriteResult<R>>;
  remove: (id: Pk) => Promise<DeleteResult>;
  /** How many calls are in flight is more than zero. */
  pending: boolean;
  /** The last call's error; cleared by the next call and by `reset`. */
  error: ChanbindError | undefined;
  reset: () => void;
}

/** `create`, `update`, `save` and `delete` on one stream, with their pending and error state. */
export function useMutation<R = Row>(stream: string): Mutation<R> {
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
  return {
    create: useCallback((values) => run(() => model.create(values)), [model, run]),
    update: useCallback((id, values) => run(() => model.update(id, values)), [model, run]),
    save: useCallback((values) => run(() => model.save(values)), [model, run]),
    remove: useCallback((id) => run(() => model.delete(id)), [model, run]),
    pending: inFlight > 0,
    error,
    reset: useCallback(() => setError(undefined), []),
  };
}

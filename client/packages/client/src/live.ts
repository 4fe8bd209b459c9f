// Live objects: a retrieve, search, list or change feed that stays subscribed, delivers its
// snapshot and every push to its listeners, and re-establishes itself after a reconnect.

import { ChanbindError } from './errors.js';
import { eventName } from './event.js';
import { NO_PENDING, type Presented } from './optimistic.js';
import type {
  FeedEvent,
  Frame,
  ListParams,
  ListResult,
  Pk,
  RelationParams,
  Row,
  SearchParams,
  SearchResult,
  SubscribeParams,
} from './types.js';

/** Where a live object stands. `loading` until its first snapshot (or after `setParams`),
 * `ready` once one arrived, `error` when the server refused it, `closed` after `close()`. */
export type LiveStatus = 'loading' | 'ready' | 'error' | 'closed';

/** A live object's state. A new object on every change, so it can be compared by identity
 * (React's `useSyncExternalStore` does). */
export interface LiveState<T> {
  readonly status: LiveStatus;
  /** The latest snapshot or push; kept while loading new parameters and while offline. */
  readonly data: T | undefined;
  readonly error: ChanbindError | undefined;
  /** The connection dropped: `data` may be out of date until the object is re-established. */
  readonly stale: boolean;
  /** `retrieve` only: the row was deleted, or left what this user may see. `data` keeps the
   * last row seen. */
  readonly deleted: boolean;
  /** Counts the snapshots and pushes delivered. */
  readonly version: number;
  /** The keys of the rows in `data` that show an optimistic write the server has not
   * answered yet (empty without optimistic writes). */
  readonly pending: ReadonlySet<Pk>;
}

/** What a live object needs from its client. */
export interface LiveHost {
  readonly isOpen: boolean;
  newHash(): string;
  /** Routes the events to `live` and sends its request now (or on the next open). */
  _attach(live: AnyLive): void;
  _detach(live: AnyLive): void;
  _reroute(live: AnyLive, oldRoutes: readonly string[]): void;
  /** Sends the live object's request when open. */
  _sendLive(live: AnyLive): void;
  /** Sends a frame whose reply nobody waits for, when open. */
  _sendQuiet(frame: Frame): void;
  /** How many frames arrived so far. */
  readonly _frameSeq: number;
  /** The live object's server data as of frame `seq`, with the optimistic writes that
   * concern it laid over (docs: the client README, optimistic updates). */
  _present<T>(live: AnyLive, data: T, seq: number): Presented<T>;
  /** After a delivery: drops the optimistic writes every live object has seen confirmed. */
  _delivered(live: AnyLive): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyLive = Live<any, any>;

/** The base of every live object. */
export abstract class Live<T, P> {
  readonly stream: string;
  readonly action: string;
  private baseHash: string;
  private generation = 1;
  private paramsValue: P;
  private stateValue: LiveState<T> = {
    status: 'loading',
    data: undefined,
    error: undefined,
    stale: false,
    deleted: false,
    version: 0,
    pending: NO_PENDING,
  };
  /** The server's own data, without optimistic writes. */
  private serverData: T | undefined;
  /** The number of the frame `serverData` came in. */
  private serverSeq = 0;
  private readonly listeners = new Set<(state: LiveState<T>) => void>();
  private readyPromise: Promise<T> | undefined;
  private readyResolve: ((data: T) => void) | undefined;
  private readyReject: ((error: unknown) => void) | undefined;
  /** Whether a reply has come since the last (re)send. */
  protected replied = false;
  /** How many times the request was sent (1 before the first reconnect). */
  protected sends = 0;

  protected constructor(
    protected readonly host: LiveHost,
    stream: string,
    action: string,
    params: P,
    hash?: string,
  ) {
    this.stream = stream;
    this.action = action;
    this.paramsValue = params;
    this.baseHash = hash ?? host.newHash();
  }

  /** The hash naming this object's subscription (changes when `setParams` moves it). */
  get hash(): string {
    return this.generation === 1 ? this.baseHash : `${this.baseHash}:${this.generation}`;
  }

  /** `<stream>.<action>#<hash>`: the request's event, and the event of every push. */
  get event(): string {
    return eventName(this.stream, this.action, this.hash);
  }

  get params(): P {
    return this.paramsValue;
  }

  get state(): LiveState<T> {
    return this.stateValue;
  }

  /** The same as `state`, as a method (handy for `useSyncExternalStore`). */
  getState = (): LiveState<T> => this.stateValue;

  get data(): T | undefined {
    return this.stateValue.data;
  }

  get closed(): boolean {
    return this.stateValue.status === 'closed';
  }

  /** Calls `listener` on every change of state; returns the function that stops it. */
  subscribe = (listener: (state: LiveState<T>) => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** Resolves with the first snapshot, or rejects with the server's error. */
  ready(): Promise<T> {
    if (!this.readyPromise) {
      const s = this.stateValue;
      if (s.status === 'ready' && s.data !== undefined) {
        this.readyPromise = Promise.resolve(s.data);
      } else if (s.status === 'error' && s.error) {
        this.readyPromise = Promise.reject(s.error);
      } else if (s.status === 'closed') {
        this.readyPromise = Promise.reject(new ChanbindError('closed', 'the live object was closed', { event: this.event }));
      } else {
        this.readyPromise = new Promise<T>((resolve, reject) => {
          this.readyResolve = resolve;
          this.readyReject = reject;
        });
      }
      this.readyPromise.catch(() => undefined);
    }
    return this.readyPromise;
  }

  /** Moves the subscription to new parameters (a new page, filter or id). The old
   * subscription is dropped; its late pushes are ignored. Status is `loading` (with the old
   * data kept) until the new snapshot arrives. */
  setParams(params: P): void {
    if (this.closed) return;
    const oldRoutes = this.routes();
    const oldHash = this.hash;
    this.paramsValue = params;
    this.generation += 1;
    this.host._reroute(this, oldRoutes);
    if (this.host.isOpen) {
      this.host._sendLive(this);
      this.host._sendQuiet({ event: eventName(this.stream, 'unsubscribe', oldHash), data: {} });
    }
    this.update({ status: 'loading', error: undefined });
  }

  /** Sends the request again: the server replaces the subscription and sends a fresh snapshot. */
  refresh(): void {
    if (this.closed) return;
    this.host._sendLive(this);
  }

  /** Unsubscribes and stops delivering. */
  close(): void {
    if (this.closed) return;
    const wasOpen = this.host.isOpen;
    this.host._detach(this);
    if (wasOpen) {
      this.host._sendQuiet({ event: eventName(this.stream, 'unsubscribe', this.hash), data: {} });
    }
    this.update({ status: 'closed' });
    this.readyReject?.(new ChanbindError('closed', 'the live object was closed', { event: this.event }));
    this.readyResolve = this.readyReject = undefined;
    this.listeners.clear();
  }

  // The client's side.

  /** The events routed to this object. */
  routes(): string[] {
    return [this.event];
  }

  /** The request to send (on creation, after `setParams` and after every reconnect). */
  request(): Frame {
    return { event: this.event, data: this.requestData() };
  }

  /** Called by the client right after it wrote `request()`. */
  _sent(): void {
    this.sends += 1;
    this.replied = false;
  }

  /** Called by the client when the connection dropped. */
  _disconnected(): void {
    // Only data can be out of date: before the first snapshot there is nothing to mark.
    if (!this.closed && !this.stateValue.stale && this.stateValue.data !== undefined) this.update({ stale: true });
  }

  /** Called by the client when the connection's user changed: the old data belongs to
   * someone else's view. */
  _reset(): void {
    if (this.closed) return;
    this.serverData = undefined;
    this.update({ status: 'loading', data: undefined, error: undefined, deleted: false, pending: NO_PENDING });
  }

  /** A frame routed here. */
  _receive(frame: Frame): void {
    if (this.closed) return;
    if (frame.error !== undefined) {
      this.replied = true;
      const error = ChanbindError.fromServer(frame.event, frame.error);
      // The subscription failed: whatever was shown before is not known to hold any more.
      this.serverData = undefined;
      this.update({ status: 'error', error, stale: false, data: undefined, deleted: false, pending: NO_PENDING });
      this.readyReject?.(error);
      this.readyResolve = this.readyReject = undefined;
      return;
    }
    this.receiveData(frame);
  }

  protected abstract requestData(): Record<string, unknown>;

  /** Default: the frame's data is the new snapshot. */
  protected receiveData(frame: Frame): void {
    this.replied = true;
    this.deliver(frame.data as T, { deleted: false });
  }

  protected deliver(data: T, extra: Partial<LiveState<T>> = {}): void {
    this.serverData = data;
    this.serverSeq = this.host._frameSeq;
    const shown = this.host._present(this, data, this.serverSeq);
    this.update({
      status: 'ready',
      data: shown.data,
      pending: shown.pending,
      error: undefined,
      stale: false,
      version: this.stateValue.version + 1,
      ...extra,
    });
    this.readyResolve?.(data);
    this.readyResolve = this.readyReject = undefined;
    this.host._delivered(this);
  }

  /** The server's own data, without optimistic writes. */
  get serverState(): T | undefined {
    return this.serverData;
  }

  /** @internal The number of the frame the server data came in. */
  get _serverSeq(): number {
    return this.serverSeq;
  }

  /** @internal Shows the server data again with the optimistic writes now in play. */
  _reapply(): void {
    if (this.closed || this.serverData === undefined || this.stateValue.data === undefined) return;
    const shown = this.host._present(this, this.serverData, this.serverSeq);
    if (shown.data === this.stateValue.data && shown.pending === this.stateValue.pending) return;
    this.update({ data: shown.data, pending: shown.pending });
  }

  protected update(patch: Partial<LiveState<T>>): void {
    this.stateValue = { ...this.stateValue, ...patch };
    for (const listener of [...this.listeners]) {
      try {
        listener(this.stateValue);
      } catch (error) {
        console.error('chanbind: a live listener threw', error);
      }
    }
  }
}

/** Options of a live `retrieve`: the row, and the related rows to show with it. */
export interface RetrieveParams extends RelationParams {
  id: Pk;
}

/** A row, kept current: `<stream>.retrieve#h` pushes the changed row, `<stream>.delete#h`
 * says it was deleted or left the user's view. */
export class LiveRetrieve<R = Row> extends Live<R, RetrieveParams> {
  constructor(host: LiveHost, stream: string, id: Pk, hash?: string, relations: RelationParams = {}) {
    super(host, stream, 'retrieve', { ...relations, id }, hash);
  }

  get id(): Pk {
    return this.params.id;
  }

  override routes(): string[] {
    return [this.event, eventName(this.stream, 'delete', this.hash)];
  }

  protected requestData(): Record<string, unknown> {
    return { ...this.params };
  }

  protected override receiveData(frame: Frame): void {
    this.replied = true;
    if (frame.event === this.event) {
      this.deliver(frame.data as R, { deleted: false });
    } else {
      this.update({ deleted: true, stale: false, status: 'ready', version: this.state.version + 1 });
    }
  }
}

/** A page of rows, kept current: the server pushes the fresh page when a change touches it. */
export class LiveSearch<R = Row> extends Live<SearchResult<R>, SearchParams> {
  constructor(host: LiveHost, stream: string, params: SearchParams = {}, hash?: string) {
    super(host, stream, 'search', params, hash);
  }

  protected requestData(): Record<string, unknown> {
    return { ...this.params };
  }
}

/** Every matching row (up to the server's `max_list_size`), kept current. */
export class LiveList<R = Row> extends Live<ListResult<R>, ListParams> {
  constructor(host: LiveHost, stream: string, params: ListParams = {}, hash?: string) {
    super(host, stream, 'list', params, hash);
  }

  protected requestData(): Record<string, unknown> {
    return { ...this.params };
  }
}

/** A change feed: `created`, `updated` and `deleted` events for every row, one row, or a
 * filter. After a reconnect the feed is re-established and listeners get `{type: "reset"}`,
 * since changes made while offline were not seen. Its `data` is the reply, `{success: true}`. */
export class LiveFeed<R = Row> extends Live<{ success: boolean }, SubscribeParams> {
  private readonly eventListeners = new Set<(event: FeedEvent<R>) => void>();

  constructor(host: LiveHost, stream: string, params: SubscribeParams = {}, hash?: string) {
    super(host, stream, 'subscribe', params, hash);
  }

  /** Calls `listener` with every feed event; returns the function that stops it. */
  onEvent(listener: (event: FeedEvent<R>) => void): () => void {
    this.eventListeners.add(listener);
    return () => {
      this.eventListeners.delete(listener);
    };
  }

  override routes(): string[] {
    return [this.event, ...['created', 'updated', 'deleted'].map((a) => eventName(this.stream, a, this.hash))];
  }

  override close(): void {
    super.close();
    this.eventListeners.clear();
  }

  protected requestData(): Record<string, unknown> {
    return { ...this.params };
  }

  protected override receiveData(frame: Frame): void {
    if (frame.event === this.event) {
      const again = this.sends > 1 && !this.replied;
      this.replied = true;
      this.deliver((frame.data ?? { success: true }) as { success: boolean });
      if (again) this.emit({ type: 'reset' });
      return;
    }
    const action = frame.event.slice(this.stream.length + 1, frame.event.indexOf('#'));
    const data = (frame.data ?? {}) as Record<string, unknown>;
    if (action === 'created') this.emit({ type: 'created', row: data as R });
    else if (action === 'updated') this.emit({ type: 'updated', row: data as R });
    else if (action === 'deleted') this.emit({ type: 'deleted', id: data.id as Pk });
  }

  private emit(event: FeedEvent<R>): void {
    for (const listener of [...this.eventListeners]) {
      try {
        listener(event);
      } catch (error) {
        console.error('chanbind: a feed listener threw', error);
      }
    }
  }
}

// The connection: requests and their replies, the offline queue, reconnection, the heartbeat,
// and the routing of pushes to live objects and listeners.

import { backoffDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { ChanbindError } from './errors.js';
import { baseOf, eventName, HashMaker, parseEvent, parseRequestEvent } from './event.js';
import { LiveFeed, LiveList, LiveRetrieve, LiveSearch, type AnyLive, type LiveHost } from './live.js';
import { Model } from './model.js';
import { OptimisticStore, type Presented } from './optimistic.js';
import { isWrite, RequestIdMaker } from './requestid.js';
import type { Frame, Hello, Limits, ListParams, Pk, RelationParams, Row, SearchParams, SubscribeParams, User } from './types.js';

/** The part of the WebSocket API the client uses: the browser's, Node 22's, or the `ws`
 * package's. */
export interface WebSocketLike {
  readonly readyState: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onopen: ((event: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onclose: ((event: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onmessage: ((event: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A token, or a function that gives one (asked again before every connection attempt, and
 * when the server warns that the connection's credential expires: the client then sends the
 * new one in-band with `auth.refresh`, without reconnecting). `null`, `undefined` or `""`
 * connect anonymously. */
export type TokenSource = string | null | undefined | (() => string | null | undefined | Promise<string | null | undefined>);

/** How the client notices a dead connection. The protocol has no ping event and browsers
 * cannot send WebSocket pings, so after `interval` ms without any frame from the server the
 * client sends the cheapest request there is, a hashed `unsubscribe` of a subscription that
 * does not exist (`<stream>.unsubscribe#<prefix>-hb`, answered `{"success": true, "removed":
 * 0}`; it runs no permission check and joins no group), and closes the connection when
 * nothing at all arrives within `timeout` ms. A busy connection sends no heartbeat. */
export interface HeartbeatOptions {
  /** Idle time before a heartbeat, in ms (default 25 000). */
  interval?: number;
  /** How long to wait for any frame after a heartbeat, in ms (default 10 000). */
  timeout?: number;
  /** The stream to send it to (default: the last stream the client used; an unknown stream
   * answers `unknown_event`, which proves the connection alive just as well). */
  stream?: string;
}

/** The client's options. */
export interface ClientOptions {
  /** `ws://host:port/`. In a browser it defaults to the page's own host and the path `/`;
   * a relative URL or an `http(s)` one is turned into a WebSocket URL. */
  url?: string;
  /** Sent as the `token` query parameter (browsers cannot set WebSocket headers). */
  token?: TokenSource;
  /** The WebSocket implementation; defaults to `globalThis.WebSocket`. On Node 20 pass the
   * `ws` package's (`import WebSocket from "ws"`). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect after the connection drops (default: on, see {@link BackoffOptions}).
   * `false` leaves the client closed after a drop. */
  reconnect?: boolean | BackoffOptions;
  /** `false` turns the heartbeat off. */
  heartbeat?: false | HeartbeatOptions;
  /** A request without a reply after this many ms (counted from when it is sent, not while it
   * waits offline) rejects with `timeout` (default 30 000; 0 waits forever). */
  requestTimeout?: number;
  /** The socket must open and the `hello` arrive within this many ms (default 10 000). */
  connectTimeout?: number;
  /** Connect at once (default true); otherwise call `connect()`. */
  autoConnect?: boolean;
  /** The prefix of the client's hashes (default: random). */
  hashPrefix?: string;
  /** Whether every write (`create`, `update`, `save`, `delete`, a `form` submit, `batch`)
   * carries a `request_id`. Default: when the server's `hello` lists a limit of request ids
   * (`max_request_id_length`, `request_id_window_ms`, ...); a server that predates them would refuse the
   * field as unknown. */
  requestIds?: boolean;
  /** How long writes in flight when the connection dropped are sent again (with their
   * `request_id`) before they reject with `connection_lost`. */
  writeRetry?: WriteRetryOptions;
}

/** One step of a {@link ChanbindClient.batch}: a write's event and its data. */
export interface BatchStep {
  /** `<stream>.create`, `.update`, `.save` or `.delete` (no hash). */
  event: string;
  data: Record<string, unknown>;
}

/** The reply to a batch: each step's usual reply data, in order. */
export interface BatchResult {
  success: true;
  results: unknown[];
}

/** Bounds on sending a write again after the connection dropped. Every write carries a
 * `request_id`, which the server remembers for a while: the same id again returns the first
 * result, so a write sent again is applied at most once. */
export interface WriteRetryOptions {
  /** How many reconnects a write may be sent again after (default 3; 0 rejects at once). */
  attempts?: number;
  /** How long after the first drop the write may still wait for a connection, in ms
   * (default 30 000). */
  within?: number;
}

/** `connecting` (first attempt), `open` (the `hello` arrived), `reconnecting` (waiting
 * to retry, or retrying, after a drop or a failed attempt), `closed` (by `close()`, or a drop
 * with reconnection off), `idle` (created without `autoConnect`). */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The client's own events. */
export interface ClientEvents extends Record<string, unknown> {
  state: { state: ConnectionState; previous: ConnectionState };
  hello: Hello;
  /** Errors that belong to no request: a token provider that threw, a failed connection
   * attempt, a malformed frame, an `{"event": "error"}` frame, the error of a `send()`. */
  error: ChanbindError;
  /** Every frame received, before it is routed. */
  frame: Frame;
  /** Every frame sent. */
  send: Frame;
  /** The socket closed (`code` 1006 when it was lost). */
  close: { code: number; reason: string };
  /** The server warned that the connection's credential expires (`auth.expiring`); the client
   * asks its token function for a new one and sends it with `auth.refresh`. */
  expiring: { expiresAt: string; expiresInMs: number };
  /** An `auth.refresh` succeeded: the connection goes on with the new credential. */
  refreshed: { user: User; expiresAt: string | null };
  /** The application disconnected this user (close 4003): the client stays closed until
   * `connect()` or `reconnect()`. */
  disconnected: { code: number; reason: string };
}

/** The close code of a credential that expired without a refresh: the client reconnects with
 * a fresh token. */
export const CLOSE_EXPIRED = 4001;
/** The close code of a user the application disconnected: the client does not reconnect. */
export const CLOSE_DISCONNECTED = 4003;

/** Options of one request. */
export interface RequestOptions {
  /** Overrides the client's `requestTimeout`. */
  timeout?: number;
  signal?: AbortSignal;
  /** Whether to send the request again after a reconnect if it was in flight when the
   * connection dropped. Default: yes for reads (`retrieve`, `search`, `list`, `form` without
   * `submit`, `subscribe`, `unsubscribe`); yes for writes too, with their `request_id`, within
   * the client's `writeRetry` bounds; no for custom events, which reject with
   * `connection_lost` since they may or may not have been applied. `true` sends a custom
   * event again without bound; `false` rejects a write with `connection_lost`. */
  retry?: boolean;
  /** `Model` writes only (`create`, `update`, `save`, `delete`): show the write at once in
   * every live object that shows the row, marked pending, until the server answers; an
   * error takes it away again (see {@link OptimisticStore}). Off by default. */
  optimistic?: boolean;
  /** Drop the subscription the request makes right after its reply (sends
   * `<stream>.unsubscribe#<hash>` behind it). Used by one-shot `search` and `list`. */
  once?: boolean;
}

const READS = new Set(['retrieve', 'search', 'list', 'form', 'subscribe', 'unsubscribe']);
const OPEN = 1;

interface Pending {
  seq: number;
  event: string;
  stream: string;
  data: Record<string, unknown>;
  retry: boolean;
  /** A write: it carries a `request_id` when the server takes one, and is then sent again
   * after a drop, within `writeRetry`. */
  write: boolean;
  /** `retry: false`: never sent again. */
  noRetry: boolean;
  /** How many times a write was sent again after a drop. */
  resends: number;
  /** When the write was first caught by a drop (ms). */
  lostAt?: number;
  /** Rejects the write when no connection came back in time. */
  lostTimer?: ReturnType<typeof setTimeout>;
  once: boolean;
  timeout: number;
  resolve: (data: unknown) => void;
  reject: (error: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
  signal?: AbortSignal;
  onAbort?: () => void;
  done: boolean;
}

type Outgoing = { kind: 'request'; seq: number; pending: Pending } | { kind: 'send'; seq: number; frame: Frame };

type Listener = (data: unknown, frame: Frame) => void;

/**
 * A chanbind connection. One per server and user is enough: every request, live object and
 * listener shares it.
 *
 * ```ts
 * const client = new ChanbindClient({ url: "ws://127.0.0.1:8000/", token: () => localStorage.token });
 * const task = await client.request("todo.Task.create", { title: "Ship it" });
 * const page = client.search("todo.Task", { filters: { done: false }, order: "-priority" });
 * page.subscribe((state) => render(state.data?.rows));
 * ```
 */
export class ChanbindClient implements LiveHost {
  private readonly options: ClientOptions;
  private readonly WS: WebSocketConstructor;
  private readonly emitter = new Emitter<ClientEvents>();
  private readonly hashes: HashMaker;
  private readonly requestIds = new RequestIdMaker();
  /** Counts the frames received, so that live objects know how recent their data is. */
  private frameSeq = 0;
  /** The frame number of each reply's data, for the optimistic writes it confirms. */
  private readonly replySeqs = new WeakMap<object, number>();
  /** The optimistic writes shown in live objects (see `RequestOptions.optimistic`). */
  readonly optimistic: OptimisticStore;
  private readonly heartbeatHash: string;

  private stateValue: ConnectionState = 'idle';
  private helloValue: Hello | undefined;
  private socket: WebSocketLike | null = null;
  /** Bumped on every attempt and on close(), so stale callbacks know they are stale. */
  private attemptId = 0;
  private failures = 0;
  private wanted = false;
  private everOpened = false;
  private lastSocketError: string | undefined;
  private disconnectedValue: { code: number; reason: string } | undefined;

  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;
  private lastReceived = 0;

  private seq = 0;
  private outbox: Outgoing[] = [];
  private inflight = new Set<Pending>();
  private readonly pendingByEvent = new Map<string, Pending[]>();
  /** Replies nobody waits for (heartbeats, unsubscribes, timed-out requests): event -> count. */
  private readonly ignored = new Map<string, number>();
  private readonly lives = new Set<AnyLive>();
  private readonly routesMap = new Map<string, AnyLive>();
  private readonly listenersMap = new Map<string, Set<Listener>>();
  private lastStream: string | undefined;
  private readonly onOnline = (): void => this.retryNow();

  constructor(options: ClientOptions = {}) {
    this.options = options;
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) {
      throw new TypeError(
        'chanbind: no WebSocket implementation; on Node.js 20 pass one: new ChanbindClient({ WebSocket: (await import("ws")).default, ... })',
      );
    }
    this.WS = WS;
    this.hashes = new HashMaker(options.hashPrefix);
    this.heartbeatHash = `${this.hashes.next()}-hb`;
    this.optimistic = new OptimisticStore(this);
    resolveUrl(options.url); // fail early on a bad URL
    if (options.autoConnect ?? true) this.connect();
  }

  // ---- state -------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Whether the connection is open (its `hello` arrived). */
  get isOpen(): boolean {
    return this.stateValue === 'open';
  }

  /** The latest `hello` (kept while reconnecting). */
  get hello(): Hello | undefined {
    return this.helloValue;
  }

  /** The signed-in user of the latest `hello`; `null` when anonymous. */
  get user(): User | null | undefined {
    return this.helloValue?.user;
  }

  /** Set when the application disconnected this user (close 4003) and the client stopped
   * because of it; cleared by `connect()` and `reconnect()`. */
  get disconnected(): { code: number; reason: string } | undefined {
    return this.disconnectedValue;
  }

  /** The server's limits, from the latest `hello`. */
  get limits(): Limits | undefined {
    return this.helloValue?.limits;
  }

  /** Listens to the client's own events (`state`, `hello`, `error`, `frame`, `send`, `close`). */
  on<K extends keyof ClientEvents>(type: K, listener: (value: ClientEvents[K]) => void): () => void {
    return this.emitter.on(type, listener);
  }

  /** A fresh hash of this client. */
  newHash(): string {
    return this.hashes.next();
  }

  // ---- connection --------------------------------------------------------------------

  /** Connects (does nothing when already connected or connecting). */
  connect(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.disconnectedValue = undefined;
    if (typeof globalThis.addEventListener === 'function') globalThis.addEventListener('online', this.onOnline);
    void this.attempt();
  }

  /** Drops the connection and connects again at once, asking the token provider anew: call it
   * after the user signs in or out. In-flight reads are sent again; in-flight writes reject
   * with `connection_lost`. */
  reconnect(): void {
    this.disconnectedValue = undefined;
    if (!this.wanted) {
      this.connect();
      return;
    }
    this.failures = 0;
    if (this.socket) {
      this.dropSocket(1000, 'reconnect', false);
    }
    this.retryNow();
  }

  /** Closes the connection for good (until `connect()`): pending and queued requests reject
   * with `closed`. Live objects stay registered and are re-established by a later
   * `connect()`. */
  close(): void {
    this.wanted = false;
    this.attemptId += 1;
    if (typeof globalThis.removeEventListener === 'function') globalThis.removeEventListener('online', this.onOnline);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.socket) this.dropSocket(1000, 'client closed', false);
    const error = new ChanbindError('closed', 'the client was closed');
    for (const item of this.outbox) if (item.kind === 'request') this.settle(item.pending, error);
    this.outbox = [];
    this.setState('closed');
  }

  private retryNow(): void {
    if (!this.wanted || this.socket) return;
    // An attempt still waiting for its token becomes stale (attemptId) and gives way to this one.
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    void this.attempt();
  }

  private async attempt(): Promise<void> {
    const id = ++this.attemptId;
    this.reconnectTimer = undefined;
    this.setState(this.everOpened || this.failures > 0 ? 'reconnecting' : 'connecting');
    let token: string | null | undefined;
    try {
      const source = this.options.token;
      token = typeof source === 'function' ? await source() : source;
    } catch (cause) {
      if (id !== this.attemptId || !this.wanted) return;
      this.reportError(new ChanbindError('token_provider', `the token provider failed: ${describe(cause)}`, { cause }));
      this.scheduleRetry();
      return;
    }
    if (id !== this.attemptId || !this.wanted) return;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(withToken(resolveUrl(this.options.url), token));
    } catch (cause) {
      this.reportError(new ChanbindError('connect_failed', `could not open the WebSocket: ${describe(cause)}`, { cause }));
      this.scheduleRetry();
      return;
    }
    this.socket = ws;
    this.lastSocketError = undefined;
    ws.onmessage = (event: { data: unknown }) => {
      if (ws === this.socket) this.receive(event.data);
    };
    ws.onclose = (event: { code?: number; reason?: string }) => {
      if (ws === this.socket) this.socketClosed(event.code ?? 1006, event.reason ?? '');
    };
    ws.onerror = (event: { message?: string; error?: unknown }) => {
      if (ws === this.socket) this.lastSocketError = event?.message ?? (event?.error ? describe(event.error) : undefined);
    };
    const timeout = this.options.connectTimeout ?? 10_000;
    this.connectTimer = setTimeout(() => {
      if (ws === this.socket && this.stateValue !== 'open') {
        this.lastSocketError = `no hello within ${timeout} ms`;
        this.dropSocket(4000, 'connect timeout', true);
      }
    }, timeout);
  }

  /** Closes the current socket without waiting for its close handshake (a dead peer never
   * finishes it) and handles the loss at once. */
  private dropSocket(code: number, reason: string, retry: boolean): void {
    const ws = this.socket;
    if (!ws) return;
    detach(ws);
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
    this.lost(code, reason, retry);
  }

  private socketClosed(code: number, reason: string): void {
    const ws = this.socket;
    if (ws) detach(ws);
    if (code === CLOSE_DISCONNECTED) {
      // Final: the application wants this user out; reconnecting would undo it.
      this.disconnectedValue = { code, reason };
      this.wanted = false;
      this.attemptId += 1;
      if (typeof globalThis.removeEventListener === 'function') globalThis.removeEventListener('online', this.onOnline);
    }
    // A 4001 (credential expired) reconnects like any drop, asking the token function anew.
    this.lost(code, reason, true);
    if (this.disconnectedValue && !this.wanted) {
      const error = this.closedError();
      for (const item of this.outbox) if (item.kind === 'request') this.settle(item.pending, error);
      this.outbox = [];
      this.setState('closed');
      this.emitter.emit('disconnected', { code, reason });
    }
  }

  /** The error of a request the client gave up because it is closed. */
  private closedError(event?: string): ChanbindError {
    return this.disconnectedValue
      ? new ChanbindError('disconnected', 'the application disconnected this user', { event })
      : new ChanbindError('closed', 'the client was closed', { event });
  }

  private lost(code: number, reason: string, retry: boolean): void {
    const wasOpen = this.stateValue === 'open';
    this.socket = null;
    clearTimeout(this.connectTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.deadTimer);
    this.deadTimer = undefined;
    this.ignored.clear();
    this.pendingByEvent.clear();
    // In-flight requests: reads go back to the front of the queue, in their order; the rest
    // may or may not have been applied, so they reject.
    const requeue: Outgoing[] = [];
    for (const pending of this.inflight) {
      clearTimeout(pending.timer);
      // Not after `reconnect()`: the next connection may be another user's.
      const resendable = pending.write && !pending.noRetry && typeof pending.data.request_id === 'string';
      if (resendable && this.wanted && reason !== 'reconnect' && this.mayResend(pending)) {
        requeue.push({ kind: 'request', seq: pending.seq, pending });
      } else if (pending.retry && !resendable && this.wanted) {
        requeue.push({ kind: 'request', seq: pending.seq, pending });
      } else if (!this.wanted) {
        this.settle(pending, this.closedError(pending.event));
      } else {
        this.settle(
          pending,
          new ChanbindError('connection_lost', `the connection closed (${code}) before ${pending.event} was answered`, { event: pending.event }),
        );
      }
    }
    this.inflight.clear();
    this.outbox = [...requeue, ...this.outbox].sort((a, b) => a.seq - b.seq);
    for (const live of this.lives) live._disconnected();
    this.emitter.emit('close', { code, reason });
    if (!wasOpen && this.wanted && reason !== 'reconnect') {
      const why = this.lastSocketError ? `: ${this.lastSocketError}` : '';
      this.reportError(new ChanbindError('connect_failed', `could not connect (close code ${code})${why}`));
    }
    if (!this.wanted) return;
    if (retry) this.scheduleRetry();
  }

  /** Whether writes carry a `request_id`: `requestIds` says so, or else the server's `hello`
   * lists a limit of request ids (a server that predates them refuses the field as unknown). */
  private acceptsRequestIds(): boolean {
    const option = this.options.requestIds;
    if (option !== undefined) return option;
    return Object.keys(this.helloValue?.limits ?? {}).some((name) => /request_id/.test(name));
  }

  /** Whether a write caught by a drop may be sent again (once more within `writeRetry`); if
   * so, arms the timer that rejects it when no connection comes back in time. */
  private mayResend(pending: Pending): boolean {
    const bounds = this.options.writeRetry ?? {};
    const attempts = bounds.attempts ?? 3;
    const within = bounds.within ?? 30_000;
    const now = Date.now();
    pending.lostAt ??= now;
    if (pending.resends >= attempts || now - pending.lostAt >= within) return false;
    pending.resends += 1;
    clearTimeout(pending.lostTimer);
    pending.lostTimer = setTimeout(() => {
      if (pending.done || this.inflight.has(pending)) return;
      this.outbox = this.outbox.filter((item) => item.kind !== 'request' || item.pending !== pending);
      this.settle(pending, new ChanbindError('connection_lost', `no connection within ${within} ms to send ${pending.event} again`, { event: pending.event }));
    }, within - (now - pending.lostAt));
    return true;
  }

  private scheduleRetry(): void {
    const reconnect = this.options.reconnect ?? true;
    if (reconnect === false) {
      this.wanted = false;
      const error = new ChanbindError('connection_lost', 'the connection closed and reconnection is off');
      for (const item of this.outbox) if (item.kind === 'request') this.settle(item.pending, error);
      this.outbox = [];
      this.setState('closed');
      return;
    }
    const delay = backoffDelay(this.failures, reconnect === true ? {} : reconnect);
    this.failures += 1;
    this.setState('reconnecting');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.attempt(), delay);
  }

  private setState(state: ConnectionState): void {
    if (state === this.stateValue) return;
    const previous = this.stateValue;
    this.stateValue = state;
    this.emitter.emit('state', { state, previous });
  }

  private reportError(error: ChanbindError): void {
    this.emitter.emit('error', error);
  }

  // ---- receiving -----------------------------------------------------------------------

  private receive(raw: unknown): void {
    this.lastReceived = Date.now();
    this.frameSeq += 1;
    if (this.deadTimer !== undefined) {
      clearTimeout(this.deadTimer);
      this.deadTimer = undefined;
    }
    let text: string;
    if (typeof raw === 'string') text = raw;
    else if (raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) text = new TextDecoder().decode(raw as ArrayBuffer);
    else text = String(raw);
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      this.reportError(new ChanbindError('bad_frame', `the server sent a frame that is not JSON: ${text.slice(0, 100)}`));
      return;
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof frame.event !== 'string') {
      this.reportError(new ChanbindError('bad_frame', `the server sent a frame without an event: ${text.slice(0, 100)}`));
      return;
    }
    this.emitter.emit('frame', frame);
    if (frame.event === 'hello' && frame.error === undefined) {
      this.opened(frame.data as Hello);
      return;
    }
    this.route(frame);
  }

  private opened(hello: Hello): void {
    clearTimeout(this.connectTimer);
    const previous = this.helloValue;
    this.helloValue = hello;
    // Another user now: live data shown so far belongs to the previous user's view.
    if (previous && (previous.user?.id ?? null) !== (hello?.user?.id ?? null)) {
      for (const live of this.lives) live._reset();
    }
    this.failures = 0;
    this.everOpened = true;
    this.setState('open');
    this.emitter.emit('hello', hello);
    if (!this.isOpen) return; // a listener closed or reconnected
    for (const live of this.lives) this._sendLive(live);
    const outbox = this.outbox;
    this.outbox = [];
    for (const item of outbox) {
      if (!this.isOpen) {
        this.outbox.push(item);
        continue;
      }
      this.write(item);
    }
    this.armHeartbeat();
  }

  private route(frame: Frame): void {
    const event = frame.event;
    if (event === 'auth.expiring' && frame.error === undefined) {
      void this.refreshCredential(frame.data as { expires_at?: string; expires_in_ms?: number });
    }
    if (event === 'error') {
      this.reportError(ChanbindError.fromServer(event, frame.error));
      return;
    }
    const ignored = this.ignored.get(event);
    if (ignored !== undefined) {
      if (ignored <= 1) this.ignored.delete(event);
      else this.ignored.set(event, ignored - 1);
      return;
    }
    const queue = this.pendingByEvent.get(event);
    const pending = queue?.shift();
    if (queue && queue.length === 0) this.pendingByEvent.delete(event);
    if (pending) {
      this.inflight.delete(pending);
      if (frame.error !== undefined) this.settle(pending, ChanbindError.fromServer(event, frame.error));
      else {
        const data = frame.data ?? {};
        if (typeof data === 'object' && data !== null) this.replySeqs.set(data, this.frameSeq);
        this.settle(pending, undefined, data);
      }
    } else {
      const live = this.routesMap.get(event);
      if (live) live._receive(frame);
      else if (frame.error !== undefined) this.reportError(ChanbindError.fromServer(event, frame.error));
    }
    if (frame.error === undefined) this.notify(frame);
  }

  /** The server warned that the credential expires: asks the token function for a new one
   * and sends it in-band. A fixed token cannot be renewed; the server then closes with 4001
   * and the client reconnects. */
  private async refreshCredential(data: { expires_at?: string; expires_in_ms?: number }): Promise<void> {
    this.emitter.emit('expiring', { expiresAt: String(data?.expires_at ?? ''), expiresInMs: Number(data?.expires_in_ms ?? 0) });
    const source = this.options.token;
    if (typeof source !== 'function') return;
    const attempt = this.attemptId;
    let token: string | null | undefined;
    try {
      token = await source();
    } catch (cause) {
      this.reportError(new ChanbindError('token_provider', `the token provider failed: ${describe(cause)}`, { cause }));
      return;
    }
    // The connection it was for is gone: the next one asks for a token anyway.
    if (attempt !== this.attemptId || !this.isOpen || !token) return;
    const lastStream = this.lastStream;
    const reply = this.request<{ user: User; expires_at: string | null }>('auth.refresh', { token }, { retry: false });
    // Not a stream of the application: the heartbeat keeps going to the last real one.
    this.lastStream = lastStream;
    try {
      const { user, expires_at } = await reply;
      this.emitter.emit('refreshed', { user, expiresAt: expires_at ?? null });
    } catch (error) {
      if (error instanceof ChanbindError && error.code !== 'connection_lost' && error.code !== 'closed') this.reportError(error);
    }
  }

  private notify(frame: Frame): void {
    const data = frame.data ?? {};
    const call = (set: Set<Listener> | undefined) => {
      if (!set) return;
      for (const listener of [...set]) {
        try {
          listener(data, frame);
        } catch (error) {
          console.error('chanbind: an event listener threw', error);
        }
      }
    };
    call(this.listenersMap.get(frame.event));
    const base = baseOf(frame.event);
    if (base !== frame.event) call(this.listenersMap.get(base));
    call(this.listenersMap.get('*'));
  }

  /**
   * Listens to server events: reflections, group dispatches, broadcasts, pushes. `event` is
   * an exact event (`custom_stream.custom_event#h1`), an event without hash that also matches
   * every hashed one (`custom_stream.custom_event`), or `*` for every frame. Error frames go
   * to requests, live objects and the `error` event instead.
   */
  listen<T = unknown>(event: string, listener: (data: T, frame: Frame) => void): () => void {
    let set = this.listenersMap.get(event);
    if (!set) {
      set = new Set();
      this.listenersMap.set(event, set);
    }
    set.add(listener as Listener);
    return () => {
      set.delete(listener as Listener);
      if (set.size === 0) this.listenersMap.delete(event);
    };
  }

  // ---- sending -------------------------------------------------------------------------

  /**
   * Sends a request and resolves with its reply's `data`, or rejects with a
   * {@link ChanbindError}. Without a `#hash` in `event` the client makes one. Made while
   * offline, the request waits in the queue and is sent, in order, once connected.
   */
  request<T = unknown>(event: string, data: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<T> {
    let name;
    try {
      name = parseRequestEvent(event);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.wanted && this.stateValue === 'closed') {
      return Promise.reject(new ChanbindError('closed', 'the client is closed', { event }));
    }
    const hash = name.hash ?? this.hashes.next();
    // `batch` names no stream.
    const full = name.stream ? eventName(name.stream, name.action, hash) : `${name.action}#${hash}`;
    if (name.stream) this.lastStream = name.stream;
    const writes = isWrite(name.action, data);
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        seq: ++this.seq,
        event: full,
        stream: name.stream,
        data,
        write: writes,
        noRetry: options.retry === false,
        resends: 0,
        retry: options.retry ?? (READS.has(name.action) && !(name.action === 'form' && data.submit != null)),
        once: options.once ?? false,
        timeout: options.timeout ?? this.options.requestTimeout ?? 30_000,
        resolve: resolve as (data: unknown) => void,
        reject,
        done: false,
      };
      if (options.signal) {
        if (options.signal.aborted) {
          reject(new ChanbindError('aborted', 'the request was aborted', { event: full }));
          return;
        }
        pending.signal = options.signal;
        pending.onAbort = () => this.abort(pending);
        options.signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.enqueue({ kind: 'request', seq: pending.seq, pending });
    });
  }

  /**
   * Runs writes across bindings in one transaction, in order: all apply or none does
   * (docs/protocol.md, batches). A step's data may refer to a field of an earlier step's row
   * with `{"$ref": "<step index>.<field>"}`. Resolves with each step's usual reply data in
   * `results`; a failing step rejects the whole batch. Carries one `request_id`, like every
   * write, and is sent again after a drop like them.
   *
   * ```ts
   * const { results } = await client.batch([
   *   { event: "todo.Task.create", data: { title: "Order" } },
   *   { event: "todo.Comment.create", data: { task_id: { $ref: "0.id" }, body: "first line" } },
   * ]);
   * ```
   */
  batch(steps: BatchStep[], options: RequestOptions = {}): Promise<BatchResult> {
    return this.request<BatchResult>('batch', { steps }, options);
  }

  /** Sends an event without waiting for a reply (a custom event whose handler only reflects
   * or dispatches). Queued while offline. A server error for it goes to the `error` event. */
  send(event: string, data: Record<string, unknown> = {}): void {
    const name = parseEvent(event);
    this.lastStream = name.stream;
    this.enqueue({ kind: 'send', seq: ++this.seq, frame: { event, data } });
  }

  private enqueue(item: Outgoing): void {
    if (this.isOpen) this.write(item);
    else this.outbox.push(item);
  }

  private write(item: Outgoing): void {
    if (item.kind === 'send') {
      this.writeFrame(item.frame);
      return;
    }
    const pending = item.pending;
    if (pending.done) return;
    clearTimeout(pending.lostTimer);
    // Given once, on the first send, and kept for every later one.
    if (pending.write && pending.data.request_id === undefined && this.acceptsRequestIds()) {
      pending.data = { ...pending.data, request_id: this.requestIds.next() };
    }
    const text = JSON.stringify({ event: pending.event, data: pending.data });
    const max = this.helloValue?.limits?.max_message_bytes;
    if (typeof max === 'number' && byteLength(text) > max) {
      this.settle(
        pending,
        new ChanbindError('too_large', `the request is ${byteLength(text)} bytes; the server accepts at most ${max}`, { event: pending.event }),
      );
      return;
    }
    let queue = this.pendingByEvent.get(pending.event);
    if (!queue) {
      queue = [];
      this.pendingByEvent.set(pending.event, queue);
    }
    queue.push(pending);
    this.inflight.add(pending);
    this.writeText(text, { event: pending.event, data: pending.data });
    if (pending.once) {
      const name = parseEvent(pending.event);
      this._sendQuiet({ event: eventName(name.stream, 'unsubscribe', name.hash), data: {} });
    }
    if (pending.timeout > 0) {
      pending.timer = setTimeout(() => {
        this.forget(pending);
        this.settle(pending, new ChanbindError('timeout', `no reply to ${pending.event} within ${pending.timeout} ms`, { event: pending.event }));
      }, pending.timeout);
    }
  }

  private writeFrame(frame: Frame): void {
    this.writeText(JSON.stringify(frame), frame);
  }

  private writeText(text: string, frame: Frame): void {
    const ws = this.socket;
    if (!ws || ws.readyState !== OPEN) return;
    try {
      ws.send(text);
    } catch (error) {
      this.lastSocketError = describe(error);
      this.dropSocket(4000, 'send failed', true);
      return;
    }
    this.emitter.emit('send', frame);
  }

  /** Removes a sent request from the routing; its late reply will be dropped. */
  private forget(pending: Pending): void {
    const queue = this.pendingByEvent.get(pending.event);
    if (queue) {
      const i = queue.indexOf(pending);
      if (i >= 0) {
        queue.splice(i, 1);
        if (queue.length === 0) this.pendingByEvent.delete(pending.event);
        this.ignore(pending.event);
      }
    }
    this.inflight.delete(pending);
  }

  private abort(pending: Pending): void {
    if (pending.done) return;
    this.forget(pending);
    this.outbox = this.outbox.filter((item) => item.kind !== 'request' || item.pending !== pending);
    this.settle(pending, new ChanbindError('aborted', 'the request was aborted', { event: pending.event }));
  }

  private settle(pending: Pending, error: unknown, data?: unknown): void {
    if (pending.done) return;
    pending.done = true;
    clearTimeout(pending.timer);
    clearTimeout(pending.lostTimer);
    if (pending.signal && pending.onAbort) pending.signal.removeEventListener('abort', pending.onAbort);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(data);
  }

  private ignore(event: string): void {
    this.ignored.set(event, (this.ignored.get(event) ?? 0) + 1);
  }

  // ---- heartbeat -----------------------------------------------------------------------

  private armHeartbeat(): void {
    const options = this.options.heartbeat;
    if (options === false) return;
    const interval = options?.interval ?? 25_000;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.heartbeat(interval, options?.timeout ?? 10_000), interval);
  }

  private heartbeat(interval: number, timeout: number): void {
    if (!this.isOpen) return;
    const idle = Date.now() - this.lastReceived;
    if (idle < interval) {
      this.idleTimer = setTimeout(() => this.heartbeat(interval, timeout), interval - idle);
      return;
    }
    const options = this.options.heartbeat || {};
    const stream = options.stream ?? this.lastStream ?? [...this.lives][0]?.stream ?? 'chanbind';
    this._sendQuiet({ event: eventName(stream, 'unsubscribe', this.heartbeatHash), data: {} });
    if (this.deadTimer === undefined) {
      this.deadTimer = setTimeout(() => {
        this.deadTimer = undefined;
        if (this.isOpen && Date.now() - this.lastReceived >= timeout) {
          this.lastSocketError = `no frame within ${timeout} ms of a heartbeat`;
          this.dropSocket(4000, 'heartbeat timeout', true);
        }
      }, timeout);
    }
    this.idleTimer = setTimeout(() => this.heartbeat(interval, timeout), interval);
  }

  // ---- live objects (LiveHost) -----------------------------------------------------------

  /** A row that stays current. */
  retrieve<R = Row>(stream: string, id: Pk, options: { hash?: string } & RelationParams = {}): LiveRetrieve<R> {
    const { hash, ...relations } = options;
    return this.adopt(new LiveRetrieve<R>(this, stream, id, hash, relations));
  }

  /** A page of rows that stays current. */
  search<R = Row>(stream: string, params: SearchParams = {}, options: { hash?: string } = {}): LiveSearch<R> {
    return this.adopt(new LiveSearch<R>(this, stream, params, options.hash));
  }

  /** Every matching row, kept current. */
  list<R = Row>(stream: string, params: ListParams = {}, options: { hash?: string } = {}): LiveList<R> {
    return this.adopt(new LiveList<R>(this, stream, params, options.hash));
  }

  /** A change feed (`created`, `updated`, `deleted`). */
  subscribe<R = Row>(stream: string, params: SubscribeParams = {}, options: { hash?: string } = {}): LiveFeed<R> {
    return this.adopt(new LiveFeed<R>(this, stream, params, options.hash));
  }

  /** One-shot operations and live objects on one stream. */
  model<R = Row>(stream: string): Model<R> {
    return new Model<R>(this, stream);
  }

  private adopt<L extends AnyLive>(live: L): L {
    this._attach(live);
    return live;
  }

  /** @internal */
  _attach(live: AnyLive): void {
    this.lives.add(live);
    for (const route of live.routes()) this.routesMap.set(route, live);
    this.lastStream = live.stream;
    if (this.isOpen) this._sendLive(live);
  }

  /** @internal */
  _detach(live: AnyLive): void {
    this.lives.delete(live);
    for (const route of live.routes()) if (this.routesMap.get(route) === live) this.routesMap.delete(route);
  }

  /** @internal */
  _reroute(live: AnyLive, oldRoutes: readonly string[]): void {
    for (const route of oldRoutes) if (this.routesMap.get(route) === live) this.routesMap.delete(route);
    for (const route of live.routes()) this.routesMap.set(route, live);
  }

  /** @internal */
  _sendLive(live: AnyLive): void {
    if (!this.isOpen || live.closed) return;
    const frame = live.request();
    this.writeFrame(frame);
    live._sent();
  }

  /** @internal How many frames arrived so far. */
  get _frameSeq(): number {
    return this.frameSeq;
  }

  /** @internal */
  _present<T>(live: AnyLive, data: T, seq: number): Presented<T> {
    return this.optimistic.present(live, data, seq);
  }

  /** @internal */
  _delivered(live: AnyLive): void {
    this.optimistic.sweep(live.stream);
  }

  /** @internal The number of the frame a reply's data came in. */
  _replySeq(data: unknown): number | undefined {
    return typeof data === 'object' && data !== null ? this.replySeqs.get(data) : undefined;
  }

  /** @internal The live objects on `stream`. */
  _livesOf(stream: string): AnyLive[] {
    return [...this.lives].filter((live) => live.stream === stream);
  }

  /** @internal */
  _sendQuiet(frame: Frame): void {
    if (!this.isOpen) return;
    this.ignore(frame.event);
    this.writeFrame(frame);
  }
}

/** Creates a client; the same as `new ChanbindClient(options)`. */
export function createClient(options: ClientOptions = {}): ChanbindClient {
  return new ChanbindClient(options);
}

function detach(ws: WebSocketLike): void {
  ws.onopen = ws.onclose = ws.onmessage = null;
  // Keep an error handler: the `ws` package throws on an unhandled 'error'.
  ws.onerror = () => undefined;
}

function resolveUrl(url: string | undefined): string {
  const location = (globalThis as { location?: { href: string } }).location;
  let resolved: URL;
  try {
    resolved = location ? new URL(url ?? '/', location.href) : new URL(url ?? '');
  } catch {
    throw new TypeError(`chanbind: ${url === undefined ? 'no url given' : `bad url ${JSON.stringify(url)}`} (expected ws://host:port/)`);
  }
  if (resolved.protocol === 'http:') resolved.protocol = 'ws:';
  else if (resolved.protocol === 'https:') resolved.protocol = 'wss:';
  if (resolved.protocol !== 'ws:' && resolved.protocol !== 'wss:') {
    throw new TypeError(`chanbind: the url must be ws:, wss:, http: or https:, not ${resolved.protocol}`);
  }
  return resolved.toString();
}

function withToken(url: string, token: string | null | undefined): string {
  const u = new URL(url);
  if (token) u.searchParams.set('token', token);
  else u.searchParams.delete('token');
  return u.toString();
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

import type { ErrorBody } from './types.js';

/** The error codes a server sends (docs/protocol.md section 1). */
export type ServerErrorCode =
  | 'bad_request'
  | 'unknown_event'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'invalid'
  | 'invalid_filter'
  | 'conflict'
  | 'limit_exceeded'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

/**
 * The error codes the client makes itself:
 * - `timeout`: no reply within the request's timeout;
 * - `connection_lost`: the connection closed after a request that is not safe to repeat was
 *   sent (a write may or may not have been applied);
 * - `closed`: the client was closed while the request waited;
 * - `aborted`: the caller's `AbortSignal` fired;
 * - `too_large`: also used, without a server round trip, for a frame over the server's
 *   `max_message_bytes` (the server would close the connection with 1009);
 * - `token_provider`: the token provider threw; the client retries with backoff;
 * - `bad_frame`: the server sent a frame that is not a JSON object with a string `event`;
 * - `connect_failed`: the WebSocket did not open (refused, HTTP 401 at the handshake, or no
 *   `hello` in time). Browsers do not tell these apart.
 * - `disconnected`: the application disconnected the user (close 4003); the client stays
 *   closed.
 */
export type ClientErrorCode =
  | 'timeout'
  | 'connection_lost'
  | 'closed'
  | 'aborted'
  | 'token_provider'
  | 'bad_frame'
  | 'connect_failed'
  | 'disconnected';

export type ErrorCode = ServerErrorCode | ClientErrorCode;

const SERVER_CODES: ReadonlySet<string> = new Set<ServerErrorCode>([
  'bad_request',
  'unknown_event',
  'unauthenticated',
  'permission_denied',
  'not_found',
  'invalid',
  'invalid_filter',
  'conflict',
  'limit_exceeded',
  'too_large',
  'rate_limited',
  'unavailable',
  'internal',
]);

/** Every error the client rejects with or reports. */
export class ChanbindError extends Error {
  override readonly name = 'ChanbindError';
  /** A protocol error code, or one of the client's own. An unknown server code is kept as is. */
  readonly code: ErrorCode | (string & {});
  /** Per-field messages (`invalid`); empty otherwise. */
  readonly fields: Readonly<Record<string, readonly string[]>>;
  /** The event of the request or frame the error answers, when there is one. */
  readonly event: string | undefined;
  /** Whether the server sent this error (rather than the client making it). */
  readonly fromServer: boolean;
  /** A batch's error: the index of the step that failed. */
  readonly step: number | undefined;
  /** A version check's `conflict`: the row as it is now, as the server showed it. */
  readonly object: unknown;

  constructor(
    code: ErrorCode | (string & {}),
    message: string,
    options: {
      fields?: Record<string, readonly string[]>;
      event?: string;
      fromServer?: boolean;
      cause?: unknown;
      step?: number;
      object?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.fields = options.fields ?? {};
    this.event = options.event;
    this.fromServer = options.fromServer ?? false;
    this.step = options.step;
    this.object = options.object;
  }

  /** Builds the error of a server error frame, tolerating a malformed `error` object. */
  static fromServer(event: string, body: unknown): ChanbindError {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Partial<ErrorBody>;
    const code = typeof b.code === 'string' ? b.code : 'internal';
    const message = typeof b.message === 'string' ? b.message : code;
    const fields: Record<string, string[]> = {};
    if (typeof b.fields === 'object' && b.fields !== null) {
      for (const [name, messages] of Object.entries(b.fields)) {
        fields[name] = Array.isArray(messages) ? messages.map(String) : [String(messages)];
      }
    }
    const step = (b as { step?: unknown }).step;
    const object = typeof b.object === 'object' && b.object !== null ? b.object : undefined;
    return new ChanbindError(code, message, {
      fields,
      event,
      fromServer: true,
      step: typeof step === 'number' ? step : undefined,
      object,
    });
  }

  /** Whether `code` is one of docs/protocol.md's. */
  get isProtocolCode(): boolean {
    return SERVER_CODES.has(this.code);
  }

  /** Whether trying again later may succeed (database down, rate limit, lost connection, timeout). */
  get retryable(): boolean {
    return ['unavailable', 'rate_limited', 'timeout', 'connection_lost', 'connect_failed'].includes(this.code);
  }

  /** The messages for one field, `[]` when it has none. */
  fieldErrors(name: string): readonly string[] {
    return this.fields[name] ?? [];
  }
}

/** Narrows an unknown rejection to a {@link ChanbindError}. */
export function isChanbindError(error: unknown): error is ChanbindError {
  return error instanceof ChanbindError;
}

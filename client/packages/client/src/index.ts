export { ChanbindClient, createClient } from './client.js';
export type {
  ClientEvents,
  ClientOptions,
  ConnectionState,
  HeartbeatOptions,
  RequestOptions,
  TokenSource,
  WebSocketConstructor,
  WebSocketLike,
} from './client.js';
export { ChanbindError, isChanbindError } from './errors.js';
export type { ClientErrorCode, ErrorCode, ServerErrorCode } from './errors.js';
export { Live, LiveFeed, LiveList, LiveRetrieve, LiveSearch } from './live.js';
export type { LiveState, LiveStatus, RetrieveParams } from './live.js';
export { Model } from './model.js';
export type { SubmitOptions } from './model.js';
export { backoffDelay } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { baseOf, eventName, isValidHash, parseEvent } from './event.js';
export type { EventName } from './event.js';
export type * from './types.js';

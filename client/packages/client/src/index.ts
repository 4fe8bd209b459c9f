export { ChanbindClient, CLOSE_DISCONNECTED, CLOSE_EXPIRED, createClient } from './client.js';
export type {
  BatchResult,
  BatchStep,
  ClientEvents,
  ClientOptions,
  ConnectionState,
  HeartbeatOptions,
  RequestOptions,
  TokenSource,
  WebSocketConstructor,
  WebSocketLike,
  WriteRetryOptions,
} from './client.js';
export { ChanbindError, isChanbindError } from './errors.js';
export type { ClientErrorCode, ErrorCode, ServerErrorCode } from './errors.js';
export { Live, LiveFeed, LiveList, LiveRetrieve, LiveSearch } from './live.js';
export type { LiveState, LiveStatus, RetrieveParams } from './live.js';
export { Model } from './model.js';
export type { SubmitOptions } from './model.js';
export { isTemporaryId, OptimisticStore } from './optimistic.js';
export type { OptimisticAction, OptimisticWrite, Presented } from './optimistic.js';
export { compareRows, matches, orderFields } from './local-query.js';
export { isWrite, MAX_REQUEST_ID_LENGTH } from './requestid.js';
export { backoffDelay } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { baseOf, eventName, isValidHash, parseEvent, parseRequestEvent } from './event.js';
export type { EventName } from './event.js';
export type * from './types.js';

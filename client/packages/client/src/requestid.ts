// Request ids: the client-chosen `request_id` every write carries, so that the server can
// answer a write it already applied (sent again after a reconnect) with its first result
// instead of applying it twice (docs/protocol.md, request ids).

/** The longest `request_id` the server accepts. */
export const MAX_REQUEST_ID_LENGTH = 64;

/** Whether a request with this action and data writes: `create`, `update`, `save`, `delete`,
 * a `form` with `submit`, and `batch`. */
export function isWrite(action: string, data: Record<string, unknown>): boolean {
  switch (action) {
    case 'create':
    case 'update':
    case 'save':
    case 'delete':
    case 'batch':
      return true;
    case 'form':
      return data.submit != null;
    default:
      return false;
  }
}

/**
 * Makes the request ids of one client: 20 random characters (about 100 bits, drawn from
 * `crypto.getRandomValues`, which unlike `crypto.randomUUID` also exists on pages served over
 * plain HTTP) and a counter, `k3x9...q-1`, `k3x9...q-2`: unique across tabs and page loads
 * of the same user, and well under {@link MAX_REQUEST_ID_LENGTH}.
 */
export class RequestIdMaker {
  private readonly prefix = randomText(20);
  private counter = 0;

  next(): string {
    this.counter += 1;
    return `${this.prefix}-${this.counter.toString(36)}`;
  }
}

function randomText(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = new Uint8Array(length);
  const crypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let out = '';
  // The slight bias of `% 36` over 256 values does not matter for ids.
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

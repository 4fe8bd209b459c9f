// Event names: `<stream>.<action>[#<hash>]` (docs/protocol.md section 1).

const HASH = /^[A-Za-z0-9_.:-]{1,128}$/;

/** An event name taken apart. Streams may contain dots; the action follows the last one. */
export interface EventName {
  stream: string;
  action: string;
  hash: string | undefined;
  /** `<stream>.<action>`, without the hash. */
  base: string;
}

/** Parses `<stream>.<action>[#<hash>]`; throws a `TypeError` on a malformed name. */
export function parseEvent(event: string): EventName {
  const sharp = event.indexOf('#');
  const base = sharp < 0 ? event : event.slice(0, sharp);
  const hash = sharp < 0 ? undefined : event.slice(sharp + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || dot === base.length - 1) {
    throw new TypeError(`event ${JSON.stringify(event)} is not <stream>.<action>[#hash]`);
  }
  if (hash !== undefined && !HASH.test(hash)) {
    throw new TypeError(`hash ${JSON.stringify(hash)} must be 1 to 128 characters of [A-Za-z0-9_.:-]`);
  }
  return { stream: base.slice(0, dot), action: base.slice(dot + 1), hash, base };
}

/** Parses the event of a request: `<stream>.<action>[#<hash>]`, or `batch[#<hash>]`, which
 * names no stream (its `stream` is `""`). Throws a `TypeError` on a malformed name. */
export function parseRequestEvent(event: string): EventName {
  if (baseOf(event) !== 'batch') return parseEvent(event);
  const sharp = event.indexOf('#');
  const hash = sharp < 0 ? undefined : event.slice(sharp + 1);
  if (hash !== undefined && !HASH.test(hash)) {
    throw new TypeError(`hash ${JSON.stringify(hash)} must be 1 to 128 characters of [A-Za-z0-9_.:-]`);
  }
  return { stream: '', action: 'batch', hash, base: 'batch' };
}

/** `<stream>.<action>[#<hash>]`. */
export function eventName(stream: string, action: string, hash?: string): string {
  return hash === undefined ? `${stream}.${action}` : `${stream}.${action}#${hash}`;
}

/** The part of an event before `#`. */
export function baseOf(event: string): string {
  const sharp = event.indexOf('#');
  return sharp < 0 ? event : event.slice(0, sharp);
}

/** Whether `hash` is a valid protocol hash. */
export function isValidHash(hash: string): boolean {
  return HASH.test(hash);
}

/**
 * Makes the hashes of one client: a random prefix per client (so two clients, or two tabs,
 * never collide in logs) and a counter. `h3kq9x-1`, `h3kq9x-2`, ...
 */
export class HashMaker {
  private readonly prefix: string;
  private counter = 0;

  constructor(prefix?: string) {
    if (prefix !== undefined && !/^[A-Za-z0-9_]{1,64}$/.test(prefix)) {
      throw new TypeError('hashPrefix must be 1 to 64 characters of [A-Za-z0-9_]');
    }
    this.prefix = prefix ?? randomPrefix();
  }

  next(): string {
    this.counter += 1;
    return `${this.prefix}-${this.counter.toString(36)}`;
  }
}

function randomPrefix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  const bytes = new Uint8Array(6);
  const crypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (crypto?.getRandomValues) {
    crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

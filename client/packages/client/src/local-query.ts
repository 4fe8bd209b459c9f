// A query's filters and order evaluated in the client, on rows it holds: where an optimistic
// write goes in a live search or list before the server has answered. Django-style lookups
// as docs/protocol.md section 2 defines them; whatever the client cannot decide from the row
// alone (a field the row does not carry, a lookup across a relation, a text `query`) is
// `undefined`, "cannot tell", and the caller leaves the row where the server put it.

import type { Filters, Order, Pk } from './types.js';

const LOOKUPS = new Set([
  'exact',
  'iexact',
  'contains',
  'icontains',
  'startswith',
  'istartswith',
  'endswith',
  'iendswith',
  'gt',
  'gte',
  'lt',
  'lte',
  'ne',
  'in',
  'isnull',
]);

/** Whether `row` matches `filters` (and the text `query`): `true`, `false`, or `undefined`
 * when the client cannot tell. */
export function matches(row: Record<string, unknown>, filters: Filters | undefined, query?: string): boolean | undefined {
  if (query) return undefined;
  return matchAll(row, filters ?? {});
}

function matchAll(row: Record<string, unknown>, filters: Filters): boolean | undefined {
  let result: boolean | undefined = true;
  for (const [key, value] of Object.entries(filters)) {
    let one: boolean | undefined;
    if (key === 'or' && Array.isArray(value)) {
      const each = (value as Filters[]).map((f) => matchAll(row, f));
      one = each.includes(true) ? true : each.includes(undefined) ? undefined : false;
    } else if (key === 'not' && typeof value === 'object' && value !== null) {
      const inner = matchAll(row, value as Filters);
      one = inner === undefined ? undefined : !inner;
    } else {
      one = lookup(row, key, value);
    }
    if (one === false) return false;
    if (one === undefined) result = undefined;
  }
  return result;
}

function lookup(row: Record<string, unknown>, key: string, expected: unknown): boolean | undefined {
  const parts = key.split('__');
  const last = parts[parts.length - 1]!;
  const hasOp = parts.length > 1 && LOOKUPS.has(last);
  const op = hasOp ? last : 'exact';
  const field = hasOp ? parts.slice(0, -1).join('__') : key;
  if (!(field in row)) return undefined;
  const value = row[field];
  if (op === 'isnull') return (value === null || value === undefined) === Boolean(expected);
  if (op === 'exact') return expected === null ? value === null : sameValue(value, expected);
  // A lookup on a null column is never true (as in SQL).
  if (value === null || value === undefined) return false;
  switch (op) {
    case 'iexact':
      return String(value).toLowerCase() === String(expected).toLowerCase();
    case 'contains':
      return String(value).includes(String(expected));
    case 'icontains':
      return String(value).toLowerCase().includes(String(expected).toLowerCase());
    case 'startswith':
      return String(value).startsWith(String(expected));
    case 'istartswith':
      return String(value).toLowerCase().startsWith(String(expected).toLowerCase());
    case 'endswith':
      return String(value).endsWith(String(expected));
    case 'iendswith':
      return String(value).toLowerCase().endsWith(String(expected).toLowerCase());
    case 'gt':
      return compareValues(value, expected) > 0;
    case 'gte':
      return compareValues(value, expected) >= 0;
    case 'lt':
      return compareValues(value, expected) < 0;
    case 'lte':
      return compareValues(value, expected) <= 0;
    case 'ne':
      return !sameValue(value, expected);
    case 'in':
      return Array.isArray(expected) ? expected.some((e) => sameValue(value, e)) : undefined;
    default:
      return undefined;
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' || typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The fields of an order, `-` for descending: `"-priority"`, `["-priority", "id"]`. */
export function orderFields(order: Order | undefined): string[] {
  if (order === undefined) return [];
  return (typeof order === 'string' ? order.split(',') : [...order]).map((f) => f.trim()).filter(Boolean);
}

/**
 * Compares two rows by `order` (the effective order of a search reply, primary key last).
 * Nulls sort last ascending and first descending, as PostgreSQL does; so do values the row
 * does not carry and the temporary key of a row not yet created (`isTemporary`), which lands
 * where a fresh row does in the usual orders (newest, highest key).
 */
export function compareRows(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  order: readonly string[],
  isTemporary: (id: Pk) => boolean,
): number {
  for (const entry of order) {
    const descending = entry.startsWith('-');
    const field = descending ? entry.slice(1) : entry;
    const x = a[field];
    const y = b[field];
    const xLast = x === null || x === undefined || (field === 'id' && isTemporary(x as Pk));
    const yLast = y === null || y === undefined || (field === 'id' && isTemporary(y as Pk));
    let c: number;
    if (xLast || yLast) c = xLast === yLast ? 0 : xLast ? 1 : -1;
    else c = compareValues(x, y);
    if (c !== 0) return descending ? -c : c;
  }
  return 0;
}

// The client's evaluation of filters and order, used to place optimistic writes.

import { describe, expect, it } from 'vitest';
import { compareRows, matches } from '../src/index.js';

const row = { id: 3, title: 'Ship the report', done: false, priority: 2, owner_id: null };

describe('matches', () => {
  it('evaluates the protocol’s lookups, ANDed, with or and not', () => {
    expect(matches(row, { done: false, priority__gte: 2 })).toBe(true);
    expect(matches(row, { title__icontains: 'REPORT', priority__lt: 2 })).toBe(false);
    expect(matches(row, { priority__in: [1, 2], title__startswith: 'Ship' })).toBe(true);
    expect(matches(row, { or: [{ done: true }, { not: { priority__lt: 2 } }] })).toBe(true);
    expect(matches(row, { owner_id__isnull: true, owner_id__gt: 0 })).toBe(false);
    expect(matches(row, { priority__ne: 2 })).toBe(false);
    expect(matches(row, { priority__exact: 2 })).toBe(true);
  });

  it('cannot tell about fields the row does not carry, relations, or a text query', () => {
    expect(matches(row, { created_at__gte: '2026-01-01' })).toBeUndefined();
    expect(matches(row, { owner__username: 'admin' })).toBeUndefined();
    expect(matches(row, {}, 'report')).toBeUndefined();
    // A sure "no" still wins over "cannot tell".
    expect(matches(row, { owner__username: 'admin', done: true })).toBe(false);
  });
});

describe('compareRows', () => {
  const temporary = (id: unknown) => typeof id === 'string' && id.startsWith('optimistic:');
  it('follows the order’s fields, descending with -, nulls and temporary keys last ascending', () => {
    const a = { id: 1, priority: 5 };
    const b = { id: 2, priority: 3 };
    const fresh = { id: 'optimistic:1', priority: 3 };
    const none = { id: 4, priority: null };
    expect(compareRows(a, b, ['-priority', 'id'], temporary)).toBeLessThan(0);
    expect(compareRows(b, fresh, ['-priority', 'id'], temporary)).toBeLessThan(0);
    expect(compareRows(none, a, ['priority', 'id'], temporary)).toBeGreaterThan(0);
    expect(compareRows(none, a, ['-priority', 'id'], temporary)).toBeLessThan(0);
  });
});

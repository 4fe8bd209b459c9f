// Optimistic writes: a write shown at once in every live object that shows its row, marked
// pending, before the server answers. Each live object keeps the server's own data apart and
// shows it with the writes still in play laid over it, so taking a write away (the server
// refused it) shows exactly the server's state again, pushes received meanwhile included.

import { compareRows, matches, orderFields } from './local-query.js';
import type { AnyLive } from './live.js';
import type { Filters, ListResult, Order, Pk, Row, SearchResult } from './types.js';

/** The write an optimistic layer stands for. */
export type OptimisticAction = 'create' | 'update' | 'delete';

/** One write laid over the server's data. `pending` until the server's reply; then
 * `confirmed` with the row the server returned, and still shown by each live object until
 * that object's own data from the server is newer than the reply (its push), so nothing
 * flickers back between the reply and the push. */
export interface OptimisticWrite {
  readonly stream: string;
  readonly action: OptimisticAction;
  /** The row's key; for a create, a temporary key until the reply gives the real one. */
  readonly id: Pk;
  /** The values written; after the reply, the row the server returned. */
  readonly values: Readonly<Record<string, unknown>>;
  readonly status: 'pending' | 'confirmed';
}

interface Layer {
  stream: string;
  action: OptimisticAction;
  id: Pk;
  values: Record<string, unknown>;
  status: 'pending' | 'confirmed';
  /** The number of the frame that confirmed it. */
  confirmedSeq: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** What the store needs from its client. */
export interface OptimisticHost {
  readonly _frameSeq: number;
  _replySeq(data: unknown): number | undefined;
  _livesOf(stream: string): AnyLive[];
}

/** What a live object shows: its data with the writes laid over, and the keys of the rows
 * that show a write the server has not answered yet. */
export interface Presented<T> {
  data: T;
  pending: ReadonlySet<Pk>;
}

/** No pending rows (shared, so that an unchanged state keeps its identity). */
export const NO_PENDING: ReadonlySet<Pk> = new Set<Pk>();

/** How long a confirmed write waits for the push of a live object that did not get one
 * (a row that left the page, a slow server) before it is dropped. */
const CONFIRMED_TTL = 5_000;

const TEMPORARY = 'optimistic:';

/** Whether `id` is the temporary key of an optimistic create. */
export function isTemporaryId(id: Pk): boolean {
  return typeof id === 'string' && id.startsWith(TEMPORARY);
}

/**
 * The optimistic writes of one client (`client.optimistic`). `Model` and `useMutation` use
 * it when asked to (`{ optimistic: true }`); `run` is the whole cycle for a custom write.
 */
export class OptimisticStore {
  private layers: Layer[] = [];
  private temporary = 0;

  constructor(private readonly host: OptimisticHost) {}

  /** The writes in play, oldest first. */
  get writes(): readonly OptimisticWrite[] {
    return this.layers.map(({ stream, action, id, values, status }) => ({ stream, action, id, values, status }));
  }

  /**
   * Shows `values` at once as a write of the row `id` (none for a create), runs `send`, and
   * then: on success, confirms the write with the reply's `object` (and real `id`); on
   * failure, takes the write away, so every live object shows the server's data again, and
   * rethrows the error for the caller.
   */
  async run<T>(stream: string, action: OptimisticAction, id: Pk | undefined, values: Record<string, unknown>, send: () => Promise<T>): Promise<T> {
    const layer = this.add(stream, action, id, values);
    let reply: T;
    try {
      reply = await send();
    } catch (error) {
      this.remove(layer);
      throw error;
    }
    const r = reply as { id?: Pk; object?: Row } | undefined;
    this.confirm(layer, r?.id, r?.object, this.host._replySeq(reply) ?? this.host._frameSeq);
    return reply;
  }

  private add(stream: string, action: OptimisticAction, id: Pk | undefined, values: Record<string, unknown>): Layer {
    const key = id ?? `${TEMPORARY}${++this.temporary}`;
    const { request_id: _, ...shown } = values;
    const layer: Layer = { stream, action, id: key, values: { ...shown, id: key }, status: 'pending', confirmedSeq: 0 };
    if (action === 'delete') layer.values = { id: key };
    this.layers.push(layer);
    this.changed(stream);
    return layer;
  }

  private confirm(layer: Layer, id: Pk | undefined, object: Row | undefined, seq: number): void {
    if (!this.layers.includes(layer)) return;
    layer.status = 'confirmed';
    layer.confirmedSeq = seq;
    if (id !== undefined) layer.id = id;
    if (object && typeof object === 'object') layer.values = { ...layer.values, ...object, id: layer.id };
    else layer.values = { ...layer.values, id: layer.id };
    layer.timer = setTimeout(() => this.remove(layer), CONFIRMED_TTL);
    this.changed(layer.stream);
    this.sweep(layer.stream);
  }

  private remove(layer: Layer): void {
    const i = this.layers.indexOf(layer);
    if (i < 0) return;
    clearTimeout(layer.timer);
    this.layers.splice(i, 1);
    this.changed(layer.stream);
  }

  /** Drops the confirmed writes every live object of `stream` has seen the server's data
   * for. Called by live objects after each delivery. */
  sweep(stream: string): void {
    const lives = this.host._livesOf(stream);
    for (const layer of [...this.layers]) {
      if (layer.stream === stream && layer.status === 'confirmed' && lives.every((l) => l._serverSeq > layer.confirmedSeq)) {
        clearTimeout(layer.timer);
        this.layers.splice(this.layers.indexOf(layer), 1);
      }
    }
  }

  private changed(stream: string): void {
    for (const live of this.host._livesOf(stream)) live._reapply();
  }

  /** `data`, the server's data of `live` as of frame `seq`, with the writes that concern it
   * laid over. Returns `data` itself when none does. */
  present<T>(live: AnyLive, data: T, seq: number): Presented<T> {
    const layers = this.layers.filter((l) => l.stream === live.stream && (l.status === 'pending' || seq < l.confirmedSeq));
    if (layers.length === 0 || data === undefined || data === null) return { data, pending: NO_PENDING };
    switch (live.action) {
      case 'retrieve':
        return presentRow(live.params.id as Pk, data as unknown as Row, layers) as Presented<T>;
      case 'search':
      case 'list':
        return presentRows(live, data as unknown as SearchResult | ListResult, layers) as unknown as Presented<T>;
      default:
        return { data, pending: NO_PENDING };
    }
  }
}

function sameId(a: unknown, b: unknown): boolean {
  return a === b || (a !== undefined && a !== null && b !== undefined && b !== null && String(a) === String(b));
}

function presentRow(id: Pk, row: Row, layers: Layer[]): Presented<Row> {
  let shown = row;
  let pending = false;
  for (const layer of layers) {
    if (!sameId(layer.id, id) || layer.action === 'create') continue;
    if (layer.action === 'update') shown = { ...shown, ...layer.values, id: shown.id };
    if (layer.status === 'pending') pending = true;
  }
  return { data: shown, pending: pending ? new Set([row.id]) : NO_PENDING };
}

function presentRows(live: AnyLive, data: SearchResult | ListResult, layers: Layer[]): Presented<SearchResult | ListResult> {
  const params = live.params as { filters?: Filters; query?: string; order?: Order; limit?: number; page?: number };
  const search = live.action === 'search' ? (data as SearchResult) : undefined;
  const order = search?.order?.length ? search.order : [...orderFields(params.order), 'id'];
  const limit = search ? search.limit : Infinity;
  const page = search ? search.page : 1;
  const compare = (a: Row, b: Row) => compareRows(a, b, order, isTemporaryId);
  const orderNames = new Set(order.map((f) => f.replace(/^-/, '')));
  let rows = [...data.rows];
  let count = data.count;
  const pending = new Set<Pk>();

  /** Puts `row` where the order puts it; false when that is on another page. */
  const place = (row: Row): boolean => {
    let at = rows.findIndex((r) => compare(row, r) < 0);
    if (at < 0) at = rows.length;
    if (at === 0 && page > 1 && rows.length > 0) return false;
    if (at === rows.length && rows.length >= limit) return false;
    rows.splice(at, 0, row);
    if (rows.length > limit) rows = rows.slice(0, limit);
    return true;
  };

  for (const layer of layers) {
    const at = rows.findIndex((r) => sameId(r.id, layer.id));
    if (layer.action === 'delete') {
      if (at >= 0) {
        rows.splice(at, 1);
        count -= 1;
      }
      continue;
    }
    if (at >= 0) {
      // An update (or a confirmed create the server's data already shows).
      const merged = { ...rows[at]!, ...layer.values, id: rows[at]!.id } as Row;
      if (matches(merged, params.filters, params.query) === false) {
        rows.splice(at, 1);
        count -= 1;
        continue;
      }
      if (Object.keys(layer.values).some((k) => k !== 'id' && orderNames.has(k))) {
        rows.splice(at, 1);
        if (!place(merged)) rows.splice(Math.min(at, rows.length), 0, merged);
      } else {
        rows[at] = merged;
      }
      if (layer.status === 'pending') pending.add(merged.id);
      continue;
    }
    // A create is shown only where the filter surely takes it.
    if (layer.action === 'create') {
      const row = { ...layer.values } as Row;
      if (matches(row, params.filters, params.query) !== true) continue;
      count += 1;
      if (place(row) && layer.status === 'pending') pending.add(row.id);
    }
  }
  return { data: { ...data, rows, count }, pending };
}

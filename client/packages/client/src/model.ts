// One-shot operations on one stream, and its live objects.

import type { ChanbindClient, RequestOptions } from './client.js';
import type { LiveFeed, LiveList, LiveRetrieve, LiveSearch } from './live.js';
import type { OptimisticAction } from './optimistic.js';
import type {
  DeleteResult,
  FormSchema,
  ListParams,
  ListResult,
  Pk,
  RelationParams,
  Row,
  SearchParams,
  SearchResult,
  SubscribeParams,
  WriteResult,
} from './types.js';

/** Options of a form submit: a request's, and the version the row must still have. */
export interface SubmitOptions extends RequestOptions {
  /** Sent as `if_version`: the submit fails with `conflict` when the row has moved on. */
  ifVersion?: unknown;
}

/**
 * The actions of docs/protocol.md section 2 on one stream. One-shot reads leave no subscription
 * behind (`retrieve` asks `subscribe: false`; `search` and `list` unsubscribe right after
 * their reply); use `live*` for objects that stay current.
 *
 * ```ts
 * const tasks = client.model<Task>("todo.Task");
 * const { object } = await tasks.create({ title: "Ship it" });
 * await tasks.update(object.id, { done: true });
 * ```
 */
export class Model<R = Row> {
  constructor(
    readonly client: ChanbindClient,
    readonly stream: string,
  ) {}

  private call<T>(action: string, data: Record<string, unknown>, options?: RequestOptions): Promise<T> {
    return this.client.request<T>(`${this.stream}.${action}`, data, options);
  }

  /** The row, once (no subscription), with the related rows `relations` asks for. */
  retrieve(id: Pk, options?: RequestOptions, relations: RelationParams = {}): Promise<R> {
    return this.call('retrieve', { ...relations, id, subscribe: false }, options);
  }

  /** One page, once. */
  search(params: SearchParams = {}, options?: RequestOptions): Promise<SearchResult<R>> {
    return this.call('search', { ...params }, { once: true, ...options });
  }

  /** Every matching row (up to the server's `max_list_size`), once. */
  list(params: ListParams = {}, options?: RequestOptions): Promise<ListResult<R>> {
    return this.call('list', { ...params }, { once: true, ...options });
  }

  /** Creates a row. With `{ optimistic: true }` it shows at once, under a temporary key, in
   * the live searches and lists whose filter takes it, where their order puts it. */
  create(values: Partial<R> | Record<string, unknown>, options?: RequestOptions): Promise<WriteResult<R>> {
    const data = { ...values } as Record<string, unknown>;
    return this.write('create', undefined, data, () => this.call('create', data, options), options);
  }

  /** A partial update of the row `id`. With `{ optimistic: true }` every live object that
   * shows the row shows the new values at once. */
  update(id: Pk, values: Partial<R> | Record<string, unknown>, options?: RequestOptions): Promise<WriteResult<R>> {
    const data = { ...values, id } as Record<string, unknown>;
    return this.write('update', id, data, () => this.call('update', data, options), options);
  }

  /** Without `id`, creates; with `id`, replaces every writable field (absent ones take their
   * default; an optimistic save shows only the fields given). */
  save(values: Partial<R> | Record<string, unknown>, options?: RequestOptions): Promise<WriteResult<R>> {
    const data = { ...values } as Record<string, unknown>;
    const id = data.id as Pk | undefined;
    return this.write(id == null ? 'create' : 'update', id ?? undefined, data, () => this.call('save', data, options), options);
  }

  /** Deletes the row `id`; with `{ optimistic: true }` it leaves live searches and lists at once. */
  delete(id: Pk, options?: RequestOptions): Promise<DeleteResult> {
    return this.write('delete', id, { id }, () => this.call('delete', { id }, options), options);
  }

  private write<T>(
    action: OptimisticAction,
    id: Pk | undefined,
    values: Record<string, unknown>,
    send: () => Promise<T>,
    options: RequestOptions | undefined,
  ): Promise<T> {
    if (!options?.optimistic) return send();
    return this.client.optimistic.run(this.stream, action, id, values, send);
  }

  /** The form schema for the row `id`, or for a new row. */
  form(id?: Pk | null, options?: RequestOptions): Promise<FormSchema<R>> {
    return this.call('form', id == null ? {} : { id }, options);
  }

  /** Validates and saves through the form: creates without `id`, updates with it. A failed
   * submit rejects with `invalid` and every bad field in `fields`. */
  submit(id: Pk | null | undefined, values: Record<string, unknown>, options?: SubmitOptions): Promise<FormSchema<R> & { success: true }> {
    const { ifVersion, ...request } = options ?? {};
    const data: Record<string, unknown> = id == null ? { submit: values } : { id, submit: values };
    // A version check (docs/protocol.md section 2): a stale one rejects with `conflict`.
    if (id != null && ifVersion !== undefined && ifVersion !== null) data.if_version = ifVersion;
    return this.call('form', data, request);
  }

  /** A live `retrieve`, with the related rows `relations` asks for. */
  liveRetrieve(id: Pk, relations: RelationParams = {}): LiveRetrieve<R> {
    return this.client.retrieve<R>(this.stream, id, relations);
  }

  /** A live `search`. */
  liveSearch(params: SearchParams = {}): LiveSearch<R> {
    return this.client.search<R>(this.stream, params);
  }

  /** A live `list`. */
  liveList(params: ListParams = {}): LiveList<R> {
    return this.client.list<R>(this.stream, params);
  }

  /** A change feed. */
  subscribe(params: SubscribeParams = {}): LiveFeed<R> {
    return this.client.subscribe<R>(this.stream, params);
  }
}

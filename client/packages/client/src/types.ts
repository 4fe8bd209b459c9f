// The shapes of docs/protocol.md (version 1), as the client sees them.

/** A primary key in its own JSON type: a number for integer keys, a string for UUID and text
 * keys. Rows always carry it as `id`, whatever the key column is called. */
export type Pk = number | string;

/** A row: the binding's readable fields, `id` always included. */
export interface Row {
  id: Pk;
  [field: string]: unknown;
}

/** Django-style lookups, all ANDed: `{"done": false, "priority__gte": 2}`; `or` takes a
 * list of such objects (any one matches), `not` one (it must not match). */
export interface Filters {
  or?: Filters[];
  not?: Filters;
  [lookup: string]: unknown;
}

/** A field name, `-` for descending, or a list of them. */
export type Order = string | readonly string[];

/** One frame, either way. A server frame has `data` or `error`. */
export interface Frame {
  event: string;
  data?: unknown;
  error?: ErrorBody;
}

/** The `error` object of an error frame. */
export interface ErrorBody {
  code: string;
  message: string;
  fields?: Record<string, string[]>;
  /** A version check's `conflict`: the row as it is now (docs/protocol.md section 2). */
  object?: unknown;
}

/** The server's limits, from `hello`. */
export interface Limits {
  max_message_bytes: number;
  page_size: number;
  max_page_size: number;
  max_subscriptions: number;
  [name: string]: unknown;
}

/** The signed-in user, from `hello` (`null` when anonymous). */
export interface User {
  id: Pk;
  name: string;
  [claim: string]: unknown;
}

/** The first frame of every connection. */
export interface Hello {
  protocol: number;
  server: string;
  user: User | null;
  limits: Limits;
}

/** One to-one relation path or several, relations joined by dots: `"owner"`,
 * `["task", "task.owner"]`. Each row then carries the related row under the relation's name
 * (`null` when there is none, or when you may not see it). */
export type Expand = string | readonly string[];

/** How one to-many relation is included: at most `limit` rows (up to the server's
 * `max_include_rows`, also the default), in `order`, with their own to-one relations. */
export interface IncludeOptions {
  limit?: number;
  order?: Order;
  expand?: Expand;
}

/** To-many relations to include: a name, names, or names to their options. Each row then
 * carries a list of the rows pointing at it under the relation's name. */
export type Include = string | readonly string[] | Readonly<Record<string, IncludeOptions>>;

/** What a read shows besides the row: related rows, read in one go and kept live. */
export interface RelationParams {
  expand?: Expand;
  include?: Include;
}

/** `search` parameters; all optional. */
export interface SearchParams extends RelationParams {
  page?: number;
  limit?: number;
  filters?: Filters;
  order?: Order;
  query?: string;
}

/** A `search` reply or push. `order` is the effective order, primary key last. */
export interface SearchResult<R = Row> {
  page: number;
  limit: number;
  count: number;
  order: string[];
  rows: R[];
}

/** `list` parameters; all optional. */
export interface ListParams extends RelationParams {
  filters?: Filters;
  order?: Order;
  query?: string;
}

/** A `list` reply or push. */
export interface ListResult<R = Row> {
  count: number;
  rows: R[];
}

/** `subscribe` parameters: every row, one row, or a filter. */
export interface SubscribeParams extends RelationParams {
  id?: Pk;
  filters?: Filters;
}

/** The reply to `create`, `update`, `save` and a successful form submit. */
export interface WriteResult<R = Row> {
  success: true;
  id: Pk;
  object: R;
}

/** The reply to `delete`. */
export interface DeleteResult {
  success: true;
  id: Pk;
}

/** A form field's type (docs/protocol.md section 2). */
export type FieldType =
  | 'string'
  | 'text'
  | 'integer'
  | 'float'
  | 'decimal'
  | 'boolean'
  | 'date'
  | 'datetime'
  | 'datetime_local'
  | 'uuid'
  | 'email'
  | 'json'
  | 'array'
  | 'choice'
  | 'foreign_key';

/** One field of a `form` reply. */
export interface FormField {
  name: string;
  label: string;
  type: FieldType | (string & {});
  required: boolean;
  read_only: boolean;
  value: unknown;
  max_length?: number;
  min?: number;
  max?: number;
  choices?: [unknown, string][];
  default?: unknown;
  help_text?: string;
  /** For a foreign key: the stream to search for choices. */
  stream?: string;
  /** The binding's version field: its `value` goes back with a submit as `if_version`. */
  version?: boolean;
}

/** A `form` reply: the schema, the current values, and `success` after a submit. */
export interface FormSchema<R = Row> {
  id: Pk | null;
  fields: FormField[];
  object: R | null;
  success?: true;
}

/** One event of a change feed (`subscribe`). `reset` is the client's own: the feed was
 * re-established after a reconnect and changes made while offline were not seen. */
export type FeedEvent<R = Row> =
  | { type: 'created'; row: R }
  | { type: 'updated'; row: R }
  | { type: 'deleted'; id: Pk }
  | { type: 'reset' };

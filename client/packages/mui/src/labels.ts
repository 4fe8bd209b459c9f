import type { Row } from '@chanbind/client';

/** The fields tried, in order, to name a row in a foreign key's autocomplete. */
export const LABEL_FIELDS = ['name', 'title', 'username', 'label', 'email'];

/** A human name for a row: its first non-empty `name`, `title`, `username`, `label` or
 * `email`, else `#id`. */
export function rowLabel(row: Row | null | undefined): string {
  if (!row) return '';
  for (const field of LABEL_FIELDS) {
    const value = row[field];
    if (typeof value === 'string' && value !== '') return value;
  }
  return `#${String(row.id)}`;
}

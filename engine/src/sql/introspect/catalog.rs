//! The one statement that describes a table from `pg_catalog`, as one JSON document.

/// The catalog statement. `$1` is the schema (NULL: the `search_path` decides) and `$2` the
/// table, both exactly as the catalog spells them: `format('%I')` quotes them and
/// `to_regclass` resolves the result, so mixed case and odd characters need nothing more, and
/// a missing table (or schema) is no row rather than an error.
///
/// One row of one text column, a JSON object that decodes as
/// [`TableDescription`](super::TableDescription):
///
/// - columns in table order, each with its type as `format_type` writes it and its type
///   after a domain is resolved (`typtype` `e` with the labels in `enumsortorder` for an
///   enum; for an array, also the element type), the modifier that holds a `varchar`'s
///   length and a `numeric`'s precision and scale, `NOT NULL` (the column's or its
///   domain's), the default (`pg_get_expr`, or the domain's), `attidentity`,
///   `attgenerated` and the comment;
/// - the primary key's columns in key order;
/// - the columns of single-column unique indexes that are neither partial nor on
///   expressions (a `UNIQUE` constraint is one);
/// - the foreign keys with their columns, the referenced table and columns, and
///   `confdeltype`.
pub(crate) const DESCRIBE: &str = r#"SELECT json_build_object(
  'schema', n.nspname,
  'name', c.relname,
  'relkind', c.relkind::text,
  'columns', (
    SELECT coalesce(json_agg(json_build_object(
      'name', a.attname,
      'type_text', format_type(a.atttypid, a.atttypmod),
      'sql_type', json_build_object('schema', bn.nspname, 'name', b.typname, 'typtype', b.typtype::text,
        'labels', (SELECT coalesce(json_agg(l.enumlabel ORDER BY l.enumsortorder), '[]'::json) FROM pg_enum l WHERE l.enumtypid = b.oid)),
      'element', CASE WHEN e.oid IS NOT NULL THEN json_build_object('schema', en.nspname, 'name', e.typname, 'typtype', e.typtype::text,
        'labels', (SELECT coalesce(json_agg(l.enumlabel ORDER BY l.enumsortorder), '[]'::json) FROM pg_enum l WHERE l.enumtypid = e.oid)) END,
      'modifier', CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
      'not_null', a.attnotnull OR (t.typtype = 'd' AND t.typnotnull),
      'default', coalesce(pg_get_expr(ad.adbin, ad.adrelid), CASE WHEN t.typtype = 'd' THEN t.typdefault END),
      'identity', a.attidentity::text,
      'generated', a.attgenerated::text,
      'comment', col_description(c.oid, a.attnum)
    ) ORDER BY a.attnum), '[]'::json)
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
    JOIN pg_namespace bn ON bn.oid = b.typnamespace
    LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
    LEFT JOIN pg_namespace en ON en.oid = e.typnamespace
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  ),
  'primary_key', (
    SELECT coalesce(json_agg(a.attname ORDER BY k.i), '[]'::json)
    FROM pg_constraint p
    CROSS JOIN LATERAL unnest(p.conkey) WITH ORDINALITY AS k(attnum, i)
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
    WHERE p.conrelid = c.oid AND p.contype = 'p'
  ),
  'unique', (
    SELECT coalesce(json_agg(DISTINCT a.attname), '[]'::json)
    FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = c.oid AND i.indisunique AND NOT i.indisprimary AND i.indnkeyatts = 1
      AND i.indpred IS NULL AND i.indexprs IS NULL
  ),
  'foreign_keys', (
    SELECT coalesce(json_agg(json_build_object(
      'name', f.conname,
      'columns', (SELECT json_agg(a.attname ORDER BY k.i) FROM unnest(f.conkey) WITH ORDINALITY AS k(attnum, i)
                  JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.attnum),
      'schema', rn.nspname,
      'table', r.relname,
      'referenced', (SELECT json_agg(a.attname ORDER BY k.i) FROM unnest(f.confkey) WITH ORDINALITY AS k(attnum, i)
                  JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.attnum),
      'on_delete', f.confdeltype::text
    ) ORDER BY f.conname), '[]'::json)
    FROM pg_constraint f
    JOIN pg_class r ON r.oid = f.confrelid
    JOIN pg_namespace rn ON rn.oid = r.relnamespace
    WHERE f.conrelid = c.oid AND f.contype = 'f'
  )
)::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(CASE WHEN $1::text IS NULL THEN format('%I', $2::text) ELSE format('%I.%I', $1::text, $2::text) END)"#;

//! The pieces every statement is made of: quoted identifiers, text parameters, the read
//! expression of each field, and the compiled `WHERE` and `ORDER BY` clauses.

use std::fmt::Write as _;

use serde_json::Value;

use crate::binding::{array_literal, FieldKind, ModelBinding};
use crate::filter::{Condition, Filter, Hop, Lookup, Operand, Ordering};

/// The alias of the bound table in every statement. Field and table names are lower-case
/// (the registry checks), so an upper-case alias can never collide with one.
pub(crate) const T: &str = "T";

/// Double-quotes an identifier. Identifiers only ever come from bindings, which the registry
/// has already checked; doubling quotes keeps even a bad one inert.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The binding's table, schema-qualified when the binding names a schema.
pub(crate) fn table(binding: &ModelBinding) -> String {
    match binding.schema_name() {
        Some(schema) => format!("{}.{}", ident(schema), ident(binding.table())),
        None => ident(binding.table()),
    }
}

/// `"alias"."column"`.
pub(crate) fn column(alias: &str, name: &str) -> String {
    format!("{}.{}", ident(alias), ident(name))
}

/// A string literal for DDL, where parameters are not allowed. An `E''` literal when the text
/// holds a backslash, so the result does not depend on `standard_conforming_strings`.
pub(crate) fn literal(text: &str) -> String {
    if text.contains('\\') {
        format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// The parameters of one statement, all sent as text (or NULL).
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: Vec<Option<String>>,
    /// Relation subqueries aliased so far.
    aliases: usize,
}

impl Params {
    /// A fresh alias for the related table of one relation path's subquery: `J1`, `J2`, ...,
    /// distinct within the statement so nested subqueries never shadow the row they follow.
    pub(crate) fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("J{}", self.aliases)
    }

    /// Adds a text parameter and returns its placeholder, `$n::text`.
    pub(crate) fn text(&mut self, value: Option<String>) -> String {
        self.values.push(value);
        format!("${}::text", self.values.len())
    }

    /// Adds `value` as a parameter of `kind` and returns the placeholder cast to the column
    /// type, so PostgreSQL parses the text as it would the column's input. For writes.
    pub(crate) fn typed(&mut self, kind: &FieldKind, value: &Value) -> String {
        let placeholder = self.text(kind.to_param(value));
        cast(placeholder, &kind.pg_type())
    }

    /// Adds `value` as a parameter a filter compares `kind`'s column with
    /// ([`FieldKind::compare_type`]).
    pub(crate) fn compared(&mut self, kind: &FieldKind, value: &Value) -> String {
        let placeholder = self.text(kind.to_param(value));
        cast(placeholder, &kind.compare_type())
    }

    /// Adds `values` as one array parameter of `kind` and returns its placeholder cast to an
    /// array of the compared type: however many values, the statement text is the same.
    pub(crate) fn typed_list(&mut self, kind: &FieldKind, values: &[Value]) -> String {
        let placeholder = self.text(Some(array_literal(values.iter().map(|v| kind.to_param(v)))));
        format!("{placeholder}::{}[]", kind.compare_type())
    }

    /// The values, in placeholder order.
    pub(crate) fn into_values(self) -> Vec<Option<String>> {
        self.values
    }
}

/// `$n::text` cast on to `pg_type`, unless that is `text` already.
fn cast(placeholder: String, pg_type: &str) -> String {
    match pg_type {
        "text" => placeholder,
        pg_type => format!("{placeholder}::{pg_type}"),
    }
}

/// An expression as a comparison operand: textual kinds compare under `COLLATE "C"` (byte
/// order, as `value::compare` does), everything else natively.
fn collated(expr: String, kind: &FieldKind) -> String {
    if kind.is_collated() {
        format!("{expr} COLLATE \"C\"")
    } else {
        expr
    }
}

/// The column as its kind compares: enum labels as text (`"T"."c"::text`), arrays cast to
/// the array of the compared type (`::bigint[]`), since arrays of different element types
/// (an `integer[]` column, a `bigint[]` parameter) have no operators between them.
fn text_column(alias: &str, name: &str, kind: &FieldKind) -> String {
    let col = column(alias, name);
    match kind {
        FieldKind::Enum(_) => format!("{col}::text"),
        FieldKind::Array(_) => format!("{col}::{}", kind.compare_type()),
        _ => col,
    }
}

/// The value `leaf` reads from the row at the end of `path`, starting at the row `alias`: the
/// leaf itself for an empty path, else one scalar subquery per relation, which reads null
/// when the foreign key is null or names no row inside the hop's scope (as memory's
/// `value_at` does). The key is unique, so a subquery never has more than one row.
fn through(
    path: &[Hop],
    alias: &str,
    params: &mut Params,
    leaf: &dyn Fn(&str) -> String,
) -> String {
    let Some((hop, rest)) = path.split_first() else {
        return leaf(alias);
    };
    let inner = params.alias();
    let key = column(&inner, hop.target.key_field().column_name());
    let mut cond = format!("{key} = {}", column(alias, &hop.field));
    if !hop.scope.is_everything() {
        let _ = write!(cond, " AND {}", where_clause(&hop.scope, &inner, params));
    }
    let value = through(rest, &inner, params, leaf);
    format!(
        "(SELECT {value} FROM {} AS {} WHERE {cond})",
        table(&hop.target),
        ident(&inner)
    )
}

/// How a field is read so that its JSON matches the canonical value of `value::canonical`
/// byte for byte: timestamps as UTC with microseconds and `Z`, dates as `YYYY-MM-DD`,
/// decimals and floats as text (floats are turned back into numbers by the decoder, which
/// parses them exactly).
pub(crate) fn read_expr(alias: &str, name: &str, kind: &FieldKind) -> String {
    let col = column(alias, name);
    match kind {
        FieldKind::Datetime => {
            format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        }
        FieldKind::LocalDatetime => format!("to_char({col}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"),
        FieldKind::Date => format!("to_char({col}, 'YYYY-MM-DD')"),
        // A `real` column reads as the double it widens to: what filters compare with.
        FieldKind::Float => format!("{col}::double precision::text"),
        FieldKind::Decimal { .. } | FieldKind::Uuid => format!("{col}::text"),
        // Each item as its kind reads, in array order; a null array stays null.
        FieldKind::Array(element) => format!(
            "CASE WHEN {col} IS NULL THEN NULL ELSE ARRAY(SELECT {} FROM unnest({col}) WITH \
             ORDINALITY AS \"U\"(\"e\", \"n\") ORDER BY \"U\".\"n\") END",
            read_expr("U", "e", element)
        ),
        _ => col,
    }
}

/// `<expr> AS "field", ...` for every field of the binding, primary key first.
fn select_list(binding: &ModelBinding, alias: &str) -> String {
    let mut out = String::new();
    for (i, field) in binding.fields().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{} AS {}",
            read_expr(alias, field.column_name(), field.kind()),
            ident(field.name())
        );
    }
    out
}

/// A lateral join that names the row's JSON shape `"R"`, for `SELECT row_to_json("R")`.
/// `row_to_json` has no argument limit, unlike `json_build_object`.
pub(crate) fn lateral_row(binding: &ModelBinding, alias: &str) -> String {
    format!(
        "CROSS JOIN LATERAL (SELECT {}) AS \"R\"",
        select_list(binding, alias)
    )
}

/// A scalar subquery giving the row's JSON text, usable in `RETURNING`.
pub(crate) fn row_json(binding: &ModelBinding, alias: &str) -> String {
    format!(
        "(SELECT row_to_json(\"R\")::text FROM (SELECT {}) AS \"R\")",
        select_list(binding, alias)
    )
}

/// Compiles a filter to a boolean SQL expression over `alias`, with the semantics of
/// `Filter::matches`: the expression is TRUE exactly where `matches` is true (it may be NULL
/// where `matches` is false, which `WHERE` treats alike).
pub(crate) fn where_clause(filter: &Filter, alias: &str, params: &mut Params) -> String {
    match filter {
        Filter::All(parts) if parts.is_empty() => "TRUE".to_owned(),
        Filter::Any(parts) if parts.is_empty() => "FALSE".to_owned(),
        Filter::All(parts) => join(parts, " AND ", alias, params),
        Filter::Any(parts) => join(parts, " OR ", alias, params),
        // A bare `NOT` would turn a NULL (a comparison with a null column, false in memory)
        // into NULL again, dropping the row that `matches` keeps; the COALESCE makes the child
        // two-valued first, so NOT is the complement in both evaluators.
        Filter::Not(part) => format!("NOT COALESCE({}, FALSE)", where_clause(part, alias, params)),
        Filter::Cond(c) => condition(c, alias, params),
    }
}

fn join(parts: &[Filter], sep: &str, alias: &str, params: &mut Params) -> String {
    let parts: Vec<String> = parts
        .iter()
        .map(|p| where_clause(p, alias, params))
        .collect();
    format!("({})", parts.join(sep))
}

fn condition(c: &Condition, alias: &str, params: &mut Params) -> String {
    // Text lookups read their own expression; everything else compares the field's value,
    // built only here so a path's subquery (and its scope's parameters) appears once.
    if let (lookup, Operand::Value(Value::String(needle))) = (&c.lookup, &c.operand) {
        if lookup.is_textual() {
            return text_match(*lookup, c, alias, needle, params);
        }
    }
    let bare = |params: &mut Params| {
        through(&c.path, alias, params, &|a| {
            text_column(a, &c.field, &c.kind)
        })
    };
    let cmp = |op: &str, v: &Value, params: &mut Params| {
        let col = collated(bare(params), &c.kind);
        format!("{col} {op} {}", params.compared(&c.kind, v))
    };
    match (&c.lookup, &c.operand) {
        (Lookup::IsNull, Operand::Flag(true)) => format!("{} IS NULL", bare(params)),
        (Lookup::IsNull, Operand::Flag(false)) => format!("{} IS NOT NULL", bare(params)),
        (Lookup::Ne, Operand::Value(v)) => cmp("IS DISTINCT FROM", v, params),
        (Lookup::Exact, Operand::Value(v)) => cmp("=", v, params),
        (Lookup::Gt, Operand::Value(v)) => cmp(">", v, params),
        (Lookup::Gte, Operand::Value(v)) => cmp(">=", v, params),
        (Lookup::Lt, Operand::Value(v)) => cmp("<", v, params),
        (Lookup::Lte, Operand::Value(v)) => cmp("<=", v, params),
        (Lookup::In, Operand::List(list)) if list.is_empty() => "FALSE".to_owned(),
        // One array parameter rather than one per item, so lists of every length share one
        // statement; `= ANY` has the semantics of `IN`, NULL items included.
        (Lookup::In, Operand::List(list)) => {
            let col = collated(bare(params), &c.kind);
            format!("{col} = ANY({})", params.typed_list(&c.kind, list))
        }
        // Every other pairing is false in memory too.
        _ => "FALSE".to_owned(),
    }
}

/// The text lookups. The in-memory evaluator applies them to any value held as a JSON
/// string, so non-textual kinds stored as strings are matched on their canonical text.
fn text_match(
    lookup: Lookup,
    c: &Condition,
    alias: &str,
    needle: &str,
    params: &mut Params,
) -> String {
    let (field, kind) = (&c.field, &c.kind);
    let hay = match kind {
        k if k.is_textual() => through(&c.path, alias, params, &|a| text_column(a, field, kind)),
        FieldKind::Decimal { .. }
        | FieldKind::Date
        | FieldKind::Datetime
        | FieldKind::LocalDatetime
        | FieldKind::Uuid => {
            let read = through(&c.path, alias, params, &|a| read_expr(a, field, kind));
            format!("({read})")
        }
        _ => return "FALSE".to_owned(),
    };
    let p = params.text(Some(needle.to_owned()));
    // `lower` under the "C" collation folds ASCII letters only, like `value::fold_case`.
    let lower = |e: &str| format!("lower({e} COLLATE \"C\")");
    match lookup {
        Lookup::IExact => format!("{} = {}", lower(&hay), lower(&p)),
        Lookup::Contains => format!("strpos({hay}, {p}) > 0"),
        Lookup::IContains => format!("strpos({}, {}) > 0", lower(&hay), lower(&p)),
        Lookup::StartsWith => format!("starts_with({hay}, {p})"),
        Lookup::IStartsWith => format!("starts_with({}, {})", lower(&hay), lower(&p)),
        Lookup::EndsWith => format!("right({hay}, length({p})) = {p}"),
        _ => "FALSE".to_owned(),
    }
}

/// `"T"."a" COLLATE "C" DESC, "T"."id" ASC`: PostgreSQL's default null placement (last
/// ascending, first descending) is the one `Ordering::compare` uses. A key through relations
/// sorts by its scalar subquery, null where memory reads null, so it places alike.
pub(crate) fn order_by(order: &Ordering, alias: &str, params: &mut Params) -> String {
    let keys: Vec<String> = order
        .keys()
        .iter()
        .map(|k| {
            let dir = if k.desc { "DESC" } else { "ASC" };
            let value = through(&k.path, alias, params, &|a| {
                text_column(a, &k.field, &k.kind)
            });
            format!("{} {dir}", collated(value, &k.kind))
        })
        .collect();
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use crate::filter::parse_filter;
    use serde_json::json;

    fn binding() -> ModelBinding {
        ModelBinding::new("auth_user")
            .field(Field::string("username"))
            .field(Field::integer("age"))
            .field(Field::datetime("joined"))
            .field(Field::json("extra"))
            .search(["username"])
    }

    fn compile(filters: Value) -> (String, Vec<Option<String>>) {
        let f = parse_filter(&binding(), filters.as_object().unwrap(), None, 100).unwrap();
        let mut params = Params::default();
        let sql = where_clause(&f, T, &mut params);
        (sql, params.into_values())
    }

    fn p(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some((*v).to_owned())).collect()
    }

    #[test]
    fn comparisons_cast_text_params_and_collate_strings() {
        assert_eq!(
            compile(json!({"age__gte": 18})),
            ("\"T\".\"age\" >= $1::text::bigint".into(), p(&["18"]))
        );
        assert_eq!(
            compile(json!({"username__lt": "m"})),
            (
                "\"T\".\"username\" COLLATE \"C\" < $1::text".into(),
                p(&["m"])
            )
        );
        assert_eq!(
            compile(json!({"joined__ne": "2026-01-02T03:04:05+02:00"})),
            (
                "\"T\".\"joined\" IS DISTINCT FROM $1::text::timestamptz".into(),
                p(&["2026-01-02T01:04:05.000000Z"])
            )
        );
        assert_eq!(
            compile(json!({"extra": {"a": 1}})),
            (
                "\"T\".\"extra\" = $1::text::jsonb".into(),
                p(&["{\"a\":1}"])
            )
        );
    }

    #[test]
    fn text_lookups_fold_ascii_only() {
        assert_eq!(
            compile(json!({"username__icontains": "Al"})),
            (
                "strpos(lower(\"T\".\"username\" COLLATE \"C\"), lower($1::text COLLATE \"C\")) > 0".into(),
                p(&["Al"])
            )
        );
        assert_eq!(
            compile(json!({"username__endswith": "ce"})),
            (
                "right(\"T\".\"username\", length($1::text)) = $1::text".into(),
                p(&["ce"])
            )
        );
        assert_eq!(
            compile(json!({"username__istartswith": "A"})),
            (
                "starts_with(lower(\"T\".\"username\" COLLATE \"C\"), lower($1::text COLLATE \"C\"))".into(),
                p(&["A"])
            )
        );
    }

    #[test]
    fn lists_nulls_and_empty_trees() {
        assert_eq!(
            compile(json!({"age__in": [1, 2]})),
            (
                "\"T\".\"age\" = ANY($1::text::bigint[])".into(),
                p(&["{\"1\",\"2\"}"])
            )
        );
        assert_eq!(
            compile(json!({"age__in": [1, 2, 3, 4]})).0,
            compile(json!({"age__in": [5]})).0,
            "every length is one statement"
        );
        assert_eq!(
            compile(json!({"username__in": ["a\"b", "c\\d", "", "{x, y}"]})),
            (
                "\"T\".\"username\" COLLATE \"C\" = ANY($1::text::text[])".into(),
                p(&[r#"{"a\"b","c\\d","","{x, y}"}"#])
            )
        );
        assert_eq!(compile(json!({"age__in": []})), ("FALSE".into(), vec![]));
        assert_eq!(
            compile(json!({"age": null})),
            ("\"T\".\"age\" IS NULL".into(), vec![])
        );
        assert_eq!(
            compile(json!({"age__ne": null})),
            ("\"T\".\"age\" IS NOT NULL".into(), vec![])
        );
        assert_eq!(compile(json!({})), ("TRUE".into(), vec![]));
        let mut params = Params::default();
        assert_eq!(where_clause(&Filter::Any(vec![]), T, &mut params), "FALSE");
        let (sql, params) = compile(json!({"age": 1, "username": "x"}));
        assert_eq!(
            sql,
            "(\"T\".\"age\" = $1::text::bigint AND \"T\".\"username\" COLLATE \"C\" = $2::text)"
        );
        assert_eq!(params, p(&["1", "x"]));
    }

    #[test]
    fn not_makes_its_child_two_valued_and_or_nests() {
        assert_eq!(
            compile(json!({"not": {"age__gt": 5}})),
            (
                "NOT COALESCE(\"T\".\"age\" > $1::text::bigint, FALSE)".into(),
                p(&["5"])
            )
        );
        assert_eq!(
            compile(json!({"or": [{"not": {"age": 1, "username": "a"}}, {"age__isnull": true}]})),
            (
                "(NOT COALESCE((\"T\".\"age\" = $1::text::bigint AND \"T\".\"username\" COLLATE \"C\" = $2::text), FALSE) OR \"T\".\"age\" IS NULL)".into(),
                p(&["1", "a"])
            )
        );
        assert_eq!(
            compile(json!({"not": {}})),
            ("NOT COALESCE(TRUE, FALSE)".into(), vec![])
        );
    }

    #[test]
    fn query_ors_the_search_fields() {
        let f = parse_filter(&binding(), &serde_json::Map::new(), Some("x"), 10).unwrap();
        let mut params = Params::default();
        let sql = where_clause(&f, T, &mut params);
        assert_eq!(
            sql,
            "(strpos(lower(\"T\".\"username\" COLLATE \"C\"), lower($1::text COLLATE \"C\")) > 0)"
        );
    }

    #[test]
    fn hostile_values_stay_in_params() {
        let evil = "x'); DROP TABLE auth_user; --";
        let (sql, params) = compile(json!({"username": evil, "username__contains": evil}));
        assert!(!sql.contains("DROP"), "{sql}");
        assert_eq!(params, p(&[evil, evil]));
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\'"), "E'a\\\\'''");
    }

    #[test]
    fn enums_compare_as_text_and_arrays_as_arrays_of_the_compared_type() {
        use crate::binding::EnumType;
        let b = ModelBinding::new("t_t")
            .field(Field::enumeration(
                "mood",
                EnumType::new(Some("S"), "Mood"),
                ["ok"],
            ))
            .field(Field::array("ns", FieldKind::Integer))
            .field(Field::local_datetime("at"));
        let compile = |filters: Value| {
            let f = parse_filter(&b, filters.as_object().unwrap(), None, 100).unwrap();
            let mut params = Params::default();
            (where_clause(&f, T, &mut params), params.into_values())
        };
        assert_eq!(
            compile(json!({"mood__in": ["ok", "nope"]})),
            (
                "\"T\".\"mood\"::text COLLATE \"C\" = ANY($1::text::text[])".into(),
                p(&["{\"ok\",\"nope\"}"])
            )
        );
        assert_eq!(
            compile(json!({"ns": [1, null]})),
            (
                "\"T\".\"ns\"::bigint[] = $1::text::bigint[]".into(),
                p(&["{\"1\",NULL}"])
            )
        );
        // Writes cast to the column's own type.
        let mut params = Params::default();
        let kind = b.get("mood").unwrap().kind();
        assert_eq!(params.typed(kind, &json!("ok")), "$1::text::\"S\".\"Mood\"");
        assert_eq!(
            read_expr(T, "at", &FieldKind::LocalDatetime),
            "to_char(\"T\".\"at\", 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        );
        assert_eq!(
            read_expr(T, "ns", &FieldKind::Array(Box::new(FieldKind::Date))),
            "CASE WHEN \"T\".\"ns\" IS NULL THEN NULL ELSE ARRAY(SELECT to_char(\"U\".\"e\", \
             'YYYY-MM-DD') FROM unnest(\"T\".\"ns\") WITH ORDINALITY AS \"U\"(\"e\", \"n\") ORDER BY \
             \"U\".\"n\") END"
        );
    }

    #[test]
    fn order_keys_keep_postgres_null_placement() {
        let o = Ordering::parse(&binding(), Some(&json!(["-username", "age"]))).unwrap();
        assert_eq!(
            order_by(&o, T, &mut Params::default()),
            "\"T\".\"username\" COLLATE \"C\" DESC, \"T\".\"age\" ASC, \"T\".\"id\" ASC"
        );
    }

    fn related() -> crate::binding::Registry {
        crate::binding::Registry::new()
            .model(
                ModelBinding::new("auth_user")
                    .schema("Auth")
                    .stream_name("auth.User")
                    .key(Field::uuid("user_id"))
                    .field(Field::string("username").column("UserName")),
            )
            .unwrap()
            .model(
                ModelBinding::new("todo_task")
                    .field(Field::integer("priority"))
                    .field(Field::foreign_key("owner_id", "auth.User").column("owner")),
            )
            .unwrap()
    }

    fn compile_related(filters: Value, scope: Option<Value>) -> (String, Vec<Option<String>>) {
        let reg = related();
        let tasks = reg.get("todo.Task").unwrap();
        let users = reg.get("auth.User").unwrap();
        let scope = scope.map_or_else(Filter::everything, |s| {
            crate::filter::parse_scope(&reg, users, s.as_object().unwrap()).unwrap()
        });
        let view = crate::permission::View::for_tests([], scope);
        let view_of = |_: &ModelBinding| Ok(Some(std::sync::Arc::clone(&view)));
        let relations = crate::filter::Relations {
            registry: &reg,
            max_depth: 2,
            reader: crate::filter::Reader::Client(&view_of),
            user: None,
        };
        let f = crate::filter::parse_filter_related(
            tasks,
            filters.as_object().unwrap(),
            None,
            10,
            4,
            &|_| true,
            &relations,
        )
        .unwrap();
        let mut params = Params::default();
        let sql = where_clause(&super::super::columns::filter(tasks, &f), T, &mut params);
        (sql, params.into_values())
    }

    #[test]
    fn a_path_is_a_scalar_subquery_on_the_quoted_related_table() {
        assert_eq!(
            compile_related(json!({"owner__username__icontains": "Al"}), None),
            (
                "strpos(lower((SELECT \"J1\".\"UserName\" FROM \"Auth\".\"auth_user\" AS \"J1\" \
                 WHERE \"J1\".\"user_id\" = \"T\".\"owner\") COLLATE \"C\"), lower($1::text COLLATE \"C\")) > 0"
                    .into(),
                p(&["Al"])
            )
        );
        assert_eq!(
            compile_related(
                json!({"not": {"owner__username": null}}),
                Some(json!({"username__ne": "root"}))
            ),
            (
                "NOT COALESCE((SELECT \"J1\".\"UserName\" FROM \"Auth\".\"auth_user\" AS \"J1\" \
                 WHERE \"J1\".\"user_id\" = \"T\".\"owner\" AND \"J1\".\"UserName\" COLLATE \"C\" \
                 IS DISTINCT FROM $1::text) IS NULL, FALSE)"
                    .into(),
                p(&["root"])
            ),
            "the related binding's scope is part of the subquery"
        );
    }

    #[test]
    fn order_by_a_path_sorts_by_its_subquery() {
        let reg = related();
        let tasks = reg.get("todo.Task").unwrap();
        let relations = crate::filter::Relations::server(&reg);
        let o = Ordering::parse_related(
            tasks,
            Some(&json!("-owner__username")),
            &|_| true,
            &relations,
        )
        .unwrap();
        let mut params = Params::default();
        assert_eq!(
            order_by(&super::super::columns::order(tasks, &o), T, &mut params),
            "(SELECT \"J1\".\"UserName\" FROM \"Auth\".\"auth_user\" AS \"J1\" WHERE \
             \"J1\".\"user_id\" = \"T\".\"owner\") COLLATE \"C\" DESC, \"T\".\"id\" ASC"
        );
    }
}

//! One binding with a field of every kind, shared by the property tests (`arbitrary`) and the
//! fuzz targets (`fuzzing`), so both explore the same parsers over the same fields.

use crate::binding::{EnumType, Field, FieldKind, ModelBinding};

/// A binding with a field of every kind; `secret` cannot be filtered or ordered.
pub fn every_kind() -> ModelBinding {
    ModelBinding::new("fuzz_thing")
        .field(Field::string("title").max_length(40))
        .field(Field::text("body"))
        .field(Field::integer("count"))
        .field(Field::float("weight"))
        .field(Field::boolean("done"))
        .field(Field::date("day"))
        .field(Field::datetime("at"))
        .field(Field::uuid("uid"))
        .field(Field::email("mail"))
        .field(Field::json("extra"))
        .field(Field::decimal("price", 2))
        .field(Field::foreign_key("owner_id", "auth.User"))
        .field(Field::local_datetime("local"))
        .field(Field::enumeration(
            "mood",
            EnumType::new(None, "mood"),
            ["sad", "ok"],
        ))
        .field(Field::array("tags", FieldKind::Text))
        .field(Field::string("secret").not_filterable().not_orderable())
        .search(["title", "body"])
}

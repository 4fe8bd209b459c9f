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

/// [`every_kind`] with the `auth.User` its `owner_id` points at: every kind again, and an
/// `owner_id` of its own, so relation paths of any length can be written.
pub fn related_registry() -> crate::binding::Registry {
    let mut users = ModelBinding::new("auth_user");
    for field in every_kind().fields().iter().skip(1) {
        users = users.field(field.clone());
    }
    crate::binding::Registry::new()
        .model(every_kind())
        .and_then(|r| r.model(users))
        .expect("a valid registry")
}

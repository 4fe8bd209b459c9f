//! The kinds introspection brought in (local datetimes, enums, arrays) answer alike.

use chanbind_engine::binding::{EnumType, FieldKind};

use crate::support::*;

const THINGS: &str = "kind.Thing";

fn things() -> Registry {
    let mood = || EnumType::new(None, "kind_mood");
    let things = ModelBinding::new("kind_thing")
        .field(Field::local_datetime("at"))
        .field(Field::enumeration(
            "mood",
            mood(),
            ["sad", "ok", "Happy", "ÉCOLE"],
        ))
        .field(Field::array("counts", FieldKind::Integer).min(-5).max(1000))
        .field(Field::array("tags", FieldKind::Text))
        .field(Field::array("weights", FieldKind::Float))
        .field(Field::array(
            "prices",
            FieldKind::Decimal { places: Some(2) },
        ))
        .field(Field::array("days", FieldKind::Date))
        .field(Field::array("times", FieldKind::Datetime))
        .field(Field::array("locals", FieldKind::LocalDatetime))
        .field(Field::array("uids", FieldKind::Uuid))
        // An array of the enum: its choices hold for each item.
        .field(
            Field::array("moods", FieldKind::Enum(mood()))
                .choices(["sad", "ok", "Happy", "ÉCOLE"].map(|l| (l, l))),
        )
        .search(["mood"]);
    Registry::new().model(things).expect("a valid registry")
}

#[tokio::test]
async fn local_datetimes_enums_and_arrays_round_trip_filter_and_order_alike() {
    with_pair(things(), |p| async move {
        let rows = json!([
            {"at": "2026-01-02 03:04:05.1234567", "mood": "ok", "counts": [3, null, 1],
             "tags": ["a\"b", "c\\d", "", "{x, y}", null], "weights": [0.1, -0.0, 1e100],
             "prices": ["1.5", 2], "days": ["2026-02-28"], "times": ["2026-01-02T05:04:05+02:00"],
             "locals": ["2026-06-30T23:59:60"], "uids": ["FFFFFFFF-0000-0000-0000-000000000001"],
             "moods": ["Happy", "sad"]},
            {"at": "1999-12-31T23:59:59", "mood": "Happy", "counts": [], "tags": ["a"],
             "moods": []},
            {"at": null, "mood": "ÉCOLE", "counts": [3, null, 1], "tags": null},
            {"mood": "sad", "counts": [1000, -5]},
            {},
        ]);
        let mut ids = Vec::new();
        for row in rows.as_array().expect("a list") {
            ids.push(p.insert_id(THINGS, row.clone()).await);
        }
        for id in &ids {
            p.get(THINGS, *id, Filter::everything())
                .await
                .expect("a row");
        }
        for filters in [
            json!({"mood": "ok"}),
            json!({"mood": "not a label"}),
            json!({"mood__in": ["ok", "sad", "nope"]}),
            json!({"mood__lt": "ok"}),
            json!({"mood__gte": "Happy"}),
            json!({"mood__icontains": "é"}),
            json!({"mood__istartswith": "h"}),
            json!({"mood__ne": "ok"}),
            json!({"at__gt": "2000-01-01T00:00:00"}),
            json!({"at": "2026-01-02T03:04:05.123456"}),
            json!({"counts": [3, null, 1]}),
            json!({"counts": []}),
            json!({"counts__ne": [3, null, 1]}),
            json!({"counts__isnull": true}),
            json!({"tags": ["a"]}),
            json!({"weights": [0.1, 0.0, 1e100]}),
            json!({"prices": ["1.50", "2.00"]}),
            json!({"times": ["2026-01-02T03:04:05Z"]}),
            json!({"moods": ["Happy", "sad"]}),
            json!({"moods__ne": []}),
        ] {
            p.count(THINGS, filters).await;
        }
        // Not trivially empty: each of these finds what it names.
        for (filters, n) in [
            (json!({"counts": [3, null, 1]}), 2),
            (json!({"mood__in": ["ok", "sad", "nope"]}), 2),
            (json!({"mood__lt": "ok"}), 1),
            (json!({"at": "2026-01-02T03:04:05.123456"}), 1),
            (json!({"weights": [0.1, 0.0, 1e100]}), 1),
            (json!({"prices": ["1.50", "2.00"]}), 1),
            (json!({"times": ["2026-01-02T03:04:05Z"]}), 1),
            (json!({"locals": ["2026-07-01T00:00:00"]}), 1),
            (json!({"moods": ["Happy", "sad"]}), 1),
        ] {
            assert_eq!(p.count(THINGS, filters.clone()).await, n, "{filters}");
        }
        for order in [
            json!("mood"),
            json!("-mood"),
            json!(["at", "-id"]),
            json!("-at"),
        ] {
            p.search(THINGS, &json!({}), None, &order, (0, 10)).await;
        }
        p.search(THINGS, &json!({}), Some("PP"), &Value::Null, (0, 10))
            .await;
        p.update(
            THINGS,
            ids[0],
            json!({"mood": "sad", "counts": [7], "at": "2026-03-04T05:06:07"}),
            Filter::everything(),
        )
        .await
        .expect("updated");
    })
    .await;
}

#[tokio::test]
async fn array_items_are_checked_like_the_field() {
    let registry = things();
    let things = registry.get(THINGS).expect("bound");
    for (data, why) in [
        (json!({"counts": [1, 1001]}), "item 1: must be <= 1000"),
        (
            json!({"counts": [[1]]}),
            "item 0: arrays are one-dimensional",
        ),
        (json!({"counts": 1}), "must be a list"),
        (json!({"moods": ["nope"]}), "item 0: must be one of"),
        (json!({"at": "2026-01-02T03:04:05Z"}), "without a time zone"),
        (json!({"mood": "nope"}), "must be one of"),
    ] {
        let e = validate_write(things, object(&data), WriteMode::Create).unwrap_err();
        let message = serde_json::to_string(&e.fields).expect("JSON");
        assert!(message.contains(why), "{data}: {message}");
    }
    for (filters, why) in [
        (json!({"counts__in": [[1]]}), "array fields only support"),
        (json!({"counts__gt": [1]}), "this field has no order"),
    ] {
        let e = parse_filter(things, object(&filters), None, 100).unwrap_err();
        assert!(e.message.contains(why), "{filters}: {e:?}");
    }
}

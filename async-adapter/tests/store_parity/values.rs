//! Values: defaults, floats, numbers and NUL characters are handled alike.

use crate::support::*;

#[tokio::test]
async fn declared_defaults_are_canonical() {
    let items = ModelBinding::new("shop_item")
        .field(Field::decimal("price", 2).default(0))
        .field(Field::float("weight").default(1))
        .field(Field::datetime("since").default("2026-01-01T00:00:00Z"));
    let registry = Registry::new().model(items).expect("a valid registry");
    with_pair(registry, |p| async move {
        p.insert_id("shop.Item", json!({})).await;
    })
    .await;
}

#[tokio::test]
async fn json_floats_round_trip() {
    with_pair(registry(), |p| async move {
        // Parsed from text, as a client's frame is.
        let data =
            r#"{"username": "f", "profile": [1.0715660391465826e-75, -1.603964615428183e+143]}"#;
        let data: Value = serde_json::from_str(data).expect("JSON");
        p.insert_id(USERS, data).await;
    })
    .await;
}

#[tokio::test]
async fn numbers_compare_by_value() {
    with_pair(registry(), |p| async move {
        p.insert_id(
            USERS,
            json!({"username": "z", "score": -0.0, "profile": {"n": 1.0}}),
        )
        .await;
        p.insert_id(
            USERS,
            json!({"username": "y", "score": 0.0, "profile": 2.0}),
        )
        .await;
        p.count(USERS, json!({"score": 0.0})).await;
        p.count(USERS, json!({"profile": {"n": 1}})).await;
        p.count(USERS, json!({"profile__ne": 2})).await;
        p.search(USERS, &json!({}), None, &json!("score"), (0, 10))
            .await;
    })
    .await;
}

#[tokio::test]
async fn nul_characters_are_refused_before_the_store() {
    let registry = registry();
    let users = registry.get(USERS).expect("bound");
    for data in [
        json!({"username": "a\u{0}b"}),
        json!({"username": "a", "profile": {"k": "\u{0}"}}),
    ] {
        assert!(
            validate_write(users, object(&data), WriteMode::Create).is_err(),
            "{data}"
        );
    }
    let filters = json!({"username__contains": "\u{0}"});
    assert!(parse_filter(users, object(&filters), None, 100).is_err());
}

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

#[tokio::test]
async fn nul_in_a_query_is_refused_before_the_store() {
    let registry = registry();
    let users = registry.get(USERS).expect("bound");
    assert!(parse_filter(users, &Map::new(), Some("a\u{0}"), 100).is_err());
}

#[tokio::test]
async fn timestamps_beyond_years_1_to_9999_are_refused_and_the_edges_agree() {
    let registry = registry();
    let users = registry.get(USERS).expect("bound");
    for data in [
        json!({"username": "a", "last_login": "9999-12-31T23:00:00-01:00"}),
        json!({"username": "a", "last_login": "0001-01-01T00:00:00+00:01"}),
        json!({"username": "a", "birthday": "0000-01-01"}),
        json!({"username": "a", "birthday": "+10000-01-01"}),
    ] {
        let e = validate_write(users, object(&data), WriteMode::Create).unwrap_err();
        assert_eq!(
            e.code,
            chanbind_engine::protocol::ErrorCode::Invalid,
            "{data}"
        );
    }
    with_pair(registry, |p| async move {
        for (name, at) in [
            ("first", "0001-01-01T00:00:00Z"),
            ("last", "9999-12-31T23:59:59.999999Z"),
            ("leap", "2026-06-30T23:59:60.5Z"),
            ("shifted", "2026-06-30T23:30:00-02:00"),
        ] {
            let data = json!({"username": name, "last_login": at, "birthday": "0001-01-01"});
            p.insert_id(USERS, data).await;
        }
        for order in ["last_login", "-last_login"] {
            p.search(USERS, &json!({}), None, &json!(order), (0, 10))
                .await;
        }
        let after_leap = json!({"last_login__gte": "2026-07-01T00:00:00.5Z"});
        assert_eq!(p.count(USERS, after_leap).await, 3);
        p.count(
            USERS,
            json!({"last_login__lt": "0001-01-01T00:00:00.000001Z"}),
        )
        .await;
    })
    .await;
}

//! Reads: every lookup, ordering and pages give the same rows on both stores.

use crate::support::*;

#[tokio::test]
async fn every_lookup_agrees() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        let cases = json!([
            {}, {"username": "alice"}, {"username__exact": "Bob"},
            {"username": "x'; DROP TABLE auth_user; --"},
            {"username__iexact": "bob"}, {"username__iexact": "éCOLE"}, {"username__iexact": "École"},
            {"username__contains": "o"}, {"username__contains": "É"}, {"username__contains": ""},
            {"username__icontains": "O"}, {"username__icontains": "éc"}, {"bio__icontains": "école"},
            {"bio__contains": "%"}, {"bio__contains": "_w"}, {"bio__contains": "\\"},
            {"username__startswith": "b"}, {"username__startswith": "É"},
            {"username__istartswith": "B"}, {"username__istartswith": "é"},
            {"username__endswith": "e"}, {"username__endswith": "ë"}, {"email__iexact": "bob@example.COM"},
            {"age": 30}, {"age__gt": 7}, {"age__gte": 7}, {"age__lt": 30}, {"age__lte": 7, "age__gt": -5},
            {"username__gt": "Zed"}, {"username__gte": "b"}, {"username__lt": "a"}, {"username__lte": "École"},
            {"last_login__gt": "2026-01-02T03:04:05.123456Z"},
            {"last_login__gte": "2026-01-02T05:04:05.123456+02:00"},
            {"last_login__lt": "2000-01-01T00:00:00Z"}, {"last_login": "2026-01-02T03:04:05Z"},
            {"balance__gt": "9.99"}, {"balance__gte": "10.5"}, {"balance": "10.5"}, {"balance__lt": 10},
            {"balance__lte": "-3.456"}, {"score__gt": 0.2}, {"score": 0.30000000000000004},
            {"birthday__lt": "1990-05-01"}, {"birthday__gte": "1990-05-01"},
            {"token": "00000000-0000-0000-0000-0000000000AA"},
            {"token__gt": "12345678-90ab-cdef-1234-567890abcdef"},
            {"is_active": false}, {"profile": {"n": 1, "tags": ["a", "b"]}}, {"profile__ne": [1, 2, 3]},
            {"profile__isnull": true}, {"age__in": [7, 41, 1000]}, {"username__in": ["alice", "BOB", "zoë"]},
            {"id__in": []}, {"age__isnull": true}, {"age__isnull": false}, {"age": null},
            {"age__ne": 30}, {"age__ne": null}, {"username__ne": "alice"}, {"email__ne": "b@b.io"},
            {"last_login__ne": "2026-01-02T03:04:05.123456Z"}, {"balance__ne": "10.50"},
            {"age__gte": 7, "username__icontains": "e", "is_active": true},
            // Every kind's list travels as one array parameter.
            {"age__in": [7]}, {"bio__in": ["Likes ÉCOLE and tea", "b\"c\\d", "école"]},
            {"username__in": ["{zoë}", "Zed", "", "a,b", "NULL"]},
            {"last_login__in": ["2026-01-02T05:04:05+02:00", "1999-12-31T23:59:59.999999Z"]},
            {"balance__in": ["10.5", "-3.456", 100]}, {"score__in": [0.1, 1e100]},
            {"birthday__in": ["2000-02-29", "1985-12-31"]}, {"is_active__in": [false]},
            {"token__in": ["00000000-0000-0000-0000-0000000000AA"]},
        ]);
        for filters in cases.as_array().expect("a list") {
            p.count(USERS, filters.clone()).await;
        }
        // The cases are not trivially empty or full.
        assert_eq!(p.count(USERS, json!({"username__iexact": "éCOLE"})).await, 1);
        assert_eq!(p.count(USERS, json!({"age__ne": 30})).await, 5);
        assert_eq!(p.count(USERS, json!({"balance__gt": "9.99"})).await, 3);
        let at = json!({"last_login": "2026-01-02T03:04:05.123456Z"});
        assert_eq!(p.count(USERS, at).await, 1);
        let at = json!({"last_login__in": ["2026-01-02T05:04:05+02:00", "1999-12-31T23:59:59.999999Z"]});
        assert_eq!(p.count(USERS, at).await, 2);
        let named = json!({"username__in": ["{zoë}", "zoë", "Zed", "a,b"]});
        assert_eq!(p.count(USERS, named).await, 2);
        for query in ["ali", "EXAMPLE", "école", "ÉCOLE", "%", "nothing"] {
            p.search(USERS, &json!({}), Some(query), &Value::Null, (0, 100)).await;
        }
        let adults = json!({"age__gte": 0});
        p.search(USERS, &adults, Some("e"), &json!("-age"), (0, 100)).await;
    })
    .await;
}

#[tokio::test]
async fn ordering_and_pages_agree() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        let orders = json!([
            null,
            "username",
            "-username",
            "age",
            "-age",
            ["-is_active", "age"],
            ["age", "-username"],
            "balance",
            "-balance",
            "score",
            "-score",
            "last_login",
            "-last_login",
            "birthday",
            "-token",
            "email",
            "bio",
            "-id",
            ["-date_joined", "username"],
        ]);
        let windows = [
            (0, 3),
            (3, 3),
            (6, 3),
            (0, 100),
            (8, 10),
            (100, 10),
            (u64::MAX, u64::MAX),
        ];
        let all = json!({});
        for order in orders.as_array().expect("a list") {
            for window in windows {
                assert_eq!(p.search(USERS, &all, None, order, window).await, 8);
            }
            p.search(USERS, &json!({"age__ne": 7}), None, order, (1, 4))
                .await;
        }
    })
    .await;
}

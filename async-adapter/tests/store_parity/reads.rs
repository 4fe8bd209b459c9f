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

#[tokio::test]
async fn or_and_not_groups_agree_where_nulls_hide_inside() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        // Every column has nulls among the seeded users: under `not`, a lookup that is unknown
        // for a null (NULL in SQL, false in memory) must leave the row in on both stores.
        let cases = json!([
            {"not": {"age__gt": 10}}, {"not": {"age__lte": 10}}, {"not": {"age": 30}},
            {"not": {"age__in": [7, 30]}}, {"not": {"age__ne": 30}}, {"not": {"age__isnull": true}},
            {"not": {"email__endswith": "@example.com"}}, {"not": {"email__icontains": "B"}},
            {"not": {"email__iexact": "bob@example.com"}}, {"not": {"bio__contains": "%"}},
            {"not": {"username__startswith": "É"}}, {"not": {"username__gte": "b"}},
            {"not": {"last_login__gt": "2026-01-01T00:00:00Z"}}, {"not": {"balance__lt": "10"}},
            {"not": {"score__gte": 0.2}}, {"not": {"birthday__lt": "1990-05-01"}},
            {"not": {"token__in": ["00000000-0000-0000-0000-0000000000AA"]}},
            {"not": {"profile": {"n": 1, "tags": ["a", "b"]}}}, {"not": {"profile__ne": "text"}},
            {"not": {"age__gt": 10, "email__isnull": false}}, {"not": {}},
            {"not": {"not": {"age__gt": 10}}}, {"not": {"not": {"not": {"email__contains": "@"}}}},
            {"or": [{"age__gt": 30}, {"email__isnull": true}]}, {"or": [{"age": 7}]},
            {"or": [{"age__lt": 0}, {"not": {"age__lt": 40}}], "is_active": true},
            {"or": [{"not": {"age__gt": 10}}, {"not": {"email__contains": "example"}}]},
            {"not": {"or": [{"age__gt": 10}, {"balance__gt": "9"}]}},
            {"not": {"or": [{"age__isnull": true}, {"score__lt": 0}]}, "username__ne": "b"},
            {"or": [{}, {"age": 1}]}, {"not": {"or": [{"id__in": []}, {"age__in": []}]}},
        ]);
        let mut counts = Vec::new();
        for filters in cases.as_array().expect("a list") {
            counts.push(p.count(USERS, filters.clone()).await);
        }
        // The null cases are not vacuous: four users have no age or e-mail or both.
        assert_eq!(p.count(USERS, json!({"age__gt": 10})).await, 4);
        assert_eq!(
            counts[0], 4,
            "not(age > 10) keeps the user whose age is null"
        );
        assert_eq!(
            counts[6], 7,
            "not(email endswith) keeps three other addresses and the four users without e-mail"
        );
        assert_eq!(counts[20], 0, "not of everything is nothing");
        let page = json!({"or": [{"not": {"age__gt": 10}}, {"email__isnull": true}]});
        p.search(USERS, &page, Some("e"), &json!("-age"), (1, 3))
            .await;

        // A scope is a filter too: a `not` scope admits the null row on both stores.
        let scope = p.filter(USERS, &json!({"not": {"age__gt": 10}}), None);
        p.get(USERS, 4, scope.clone())
            .await
            .expect("null age in scope");
        p.get(USERS, 1, scope.clone())
            .await
            .expect("age 30 out of scope");
        p.update(USERS, 4, json!({"bio": "in"}), scope.clone())
            .await
            .expect("update in scope");
        p.delete(USERS, 1, scope)
            .await
            .expect("delete out of scope");
        assert_eq!(p.count(USERS, json!({})).await, 8);
    })
    .await;
}

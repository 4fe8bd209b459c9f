//! Writes: constraints, deletes, lost connections and ids agree on both stores.

use crate::support::*;

#[tokio::test]
async fn writes_and_constraints_agree() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        let all = Filter::everything;
        let active = || p.filter(USERS, &json!({"is_active": true}), None);

        // Reads by key, inside and outside a scope.
        p.get(USERS, 1, all()).await.expect("get");
        p.get(USERS, 2, active()).await.expect("get out of scope");
        p.get(USERS, 999, all()).await.expect("get missing");

        // Updates: values, nothing, missing rows, rows outside the scope, unique conflicts.
        let change = json!({"age": 31, "balance": "1.005", "profile": {"x": null}});
        p.update(USERS, 1, change, all()).await.expect("update");
        p.update(USERS, 3, json!({}), all())
            .await
            .expect("empty update");
        p.update(USERS, 999, json!({"age": 1}), all())
            .await
            .expect("update missing");
        p.update(USERS, 2, json!({"age": 1}), active())
            .await
            .expect("update out of scope");
        let e = p
            .update(USERS, 1, json!({"username": "Bob"}), all())
            .await
            .unwrap_err();
        assert!(conflict_on(&e, "username"), "{e:?}");
        let change = json!({"username": "Alice", "email": null, "age": null});
        p.update(USERS, 1, change, active())
            .await
            .expect("update in scope");

        // A foreign key to a missing row, on update.
        let task = json!({"title": "t1", "owner_id": 1, "reviewer_id": 2});
        let task = p.insert_id(TASKS, task).await;
        let e = p
            .update(TASKS, task, json!({"owner_id": 999}), all())
            .await
            .unwrap_err();
        assert!(conflict_on(&e, "owner_id"), "{e:?}");
        p.get(TASKS, task, all())
            .await
            .expect("the task is unchanged");

        // Set null: deleting the owner clears the reference.
        let child = json!({"title": "child", "owner_id": 4, "parent_id": task});
        let child = p.insert_id(TASKS, child).await;
        p.insert_id(NOTES, json!({"task_id": child, "body": "on the child"}))
            .await;
        p.insert_id(NOTES, json!({"task_id": task})).await;
        p.delete(USERS, 4, all()).await.expect("delete the owner");
        p.get(TASKS, child, all()).await.expect("owner is null");

        // Scope and missing rows on delete.
        p.delete(USERS, 2, active())
            .await
            .expect("delete out of scope");
        p.delete(USERS, 999, all()).await.expect("delete missing");

        // Cascade: a parent task takes its child and both notes with it.
        let lonely = p.insert_id(TASKS, json!({"title": "lonely"})).await;
        p.delete(TASKS, task, all()).await.expect("cascade");
        assert_eq!(p.count(TASKS, json!({})).await, 1);
        assert_eq!(p.count(NOTES, json!({})).await, 0);
        p.delete(TASKS, lonely, all()).await.expect("delete");
        p.delete(TASKS, lonely, all()).await.expect("delete twice");

        // A row of nothing but nulls.
        let op = StoreOp::Insert {
            binding: p.binding(NOTES),
            values: Map::new(),
        };
        p.both("insert no values", op)
            .await
            .expect("insert nothing");

        // Failed inserts last: each uses up a PostgreSQL sequence value (see
        // `failed_inserts_use_up_an_id`), which would shift every later id.
        let e = p
            .insert(USERS, json!({"username": "zoë"}))
            .await
            .unwrap_err();
        assert!(conflict_on(&e, "username"), "{e:?}");
        let e = p
            .insert(TASKS, json!({"title": "x", "owner_id": 999}))
            .await
            .unwrap_err();
        let message = "auth.User 999 does not exist".to_owned();
        assert_eq!(
            e,
            StoreError::Conflict {
                field: Some("owner_id".into()),
                message
            }
        );
        p.count(USERS, json!({})).await;
    })
    .await;
}

#[tokio::test]
async fn restrict_refuses_the_delete() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        p.insert_id(TASKS, json!({"title": "t", "reviewer_id": 2}))
            .await;
        let op = StoreOp::Delete {
            binding: p.binding(USERS),
            pk: 2.into(),
            scope: Filter::everything(),
            referrers: p.registry.referrers("auth.User"),
        };
        let memory = p.memory.execute(op.clone()).await.unwrap_err();
        let pg = p.pg.execute(op).await.unwrap_err();
        let message = "todo.Task rows still refer to this row".to_owned();
        assert_eq!(
            pg,
            StoreError::Conflict {
                field: None,
                message
            }
        );
        // The memory store also names the referring row's key, which PostgreSQL does not
        // report (and which may lie outside the caller's scope): see `restrict_message_parity`.
        assert!(
            matches!(memory, StoreError::Conflict { field: None, .. }),
            "{memory:?}"
        );
        p.get(USERS, 2, Filter::everything())
            .await
            .expect("the user is still there");
        p.count(TASKS, json!({})).await;
    })
    .await;
}

/// A connection lost mid-op is `unavailable`, never `internal`, and the pool recovers.

#[tokio::test]
async fn lost_connections_are_unavailable_then_recover() {
    with_pair(registry(), |p| async move {
        p.insert_id(USERS, json!({"username": "a"})).await;
        let url = database_url().expect("set");
        let connecting = tokio_postgres::connect(&url, tokio_postgres::NoTls);
        let (admin, connection) = connecting.await.expect("connect");
        tokio::spawn(connection);
        // Hold the table so the store's op waits inside the server, then cut its connection.
        let lock = format!(
            "BEGIN; LOCK \"{}\".auth_user IN ACCESS EXCLUSIVE MODE",
            p.schema
        );
        admin.batch_execute(&lock).await.expect("lock");
        let op = StoreOp::Get {
            binding: p.binding(USERS),
            pk: 1.into(),
            scope: Filter::everything(),
        };
        let pending = tokio::spawn({
            let (p, op) = (Arc::clone(&p), op.clone());
            async move { p.pg.execute(op).await }
        });
        let waiting = "SELECT count(*) FROM pg_stat_activity \
                       WHERE application_name = $1 AND wait_event_type = 'Lock'";
        let mut tries = 0;
        while admin
            .query_one(waiting, &[&p.schema])
            .await
            .expect("poll")
            .get::<_, i64>(0)
            == 0
        {
            tries += 1;
            assert!(tries < 500, "the op never waited for the lock");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let cut = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                   WHERE application_name = $1";
        admin.execute(cut, &[&p.schema]).await.expect("terminate");
        let lost = pending.await.expect("the op ran");
        assert!(matches!(lost, Err(StoreError::Unavailable(_))), "{lost:?}");
        admin.batch_execute("ROLLBACK").await.expect("unlock");

        let mut recovered = false;
        for _ in 0..50 {
            match p.pg.execute(op.clone()).await {
                Ok(out) => {
                    assert!(matches!(out, StoreOutput::Row(Some(_))), "{out:?}");
                    recovered = true;
                    break;
                }
                Err(e) => assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(recovered, "the pool did not recover");
    })
    .await;
}

#[tokio::test]
async fn restrict_message_parity() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        p.insert_id(TASKS, json!({"title": "t", "reviewer_id": 2}))
            .await;
        p.delete(USERS, 2, Filter::everything()).await.unwrap_err();
    })
    .await;
}

#[tokio::test]
async fn failed_inserts_use_up_an_id() {
    with_pair(registry(), |p| async move {
        p.insert_id(USERS, json!({"username": "a"})).await;
        p.insert(USERS, json!({"username": "a"})).await.unwrap_err();
        p.insert(TASKS, json!({"title": "x", "owner_id": 999}))
            .await
            .unwrap_err();
        p.insert_id(USERS, json!({"username": "b"})).await;
        p.insert_id(TASKS, json!({"title": "y"})).await;
    })
    .await;
}

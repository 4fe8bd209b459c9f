//! Two demo processes on one PostgreSQL, as a user runs them: an async node and a sync node,
//! both with `--capture`, each with WebSocket clients. Rows changed through the other node
//! and by `psql` (one row, a bulk update of 1,000 rows, a delete, an insert) reach the
//! clients of both; the `channels-binding` README's custom event sent on one node reaches the other node's
//! group members and connections. Then PostgreSQL itself is stopped while writes go on: both
//! servers stay up and answer `unavailable` (WebSocket) and 503 (HTTP), and once it is back
//! every client converges to the final rows, notifications lost meanwhile included; and nodes
//! that sat idle through a restart answer their first requests.
//!
//! Each test runs its own PostgreSQL server (initdb into a temporary folder), so stopping it
//! disturbs no other test. Needs the PostgreSQL server programs and `psql`:
//! `scripts/test -p chanbind-examples --test cluster`. Without them the tests pass with a
//! notice, except under `CI=true`, where they fail.

#[path = "cluster/client.rs"]
mod client;
#[path = "cluster/node.rs"]
mod node;
#[path = "cluster/postgres.rs"]
mod postgres;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client::{http_status, Client};
use node::DemoNode;
use postgres::PrivatePostgres;
use serde_json::{json, Value};

/// Runs SQL through `psql`, a writer chanbind knows nothing about.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-Atq", "-c", sql])
        .output()
        .expect("psql runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The same, where failure fails the test.
fn sql(url: &str, sql: &str) -> String {
    psql(url, sql).unwrap_or_else(|e| panic!("psql failed on {sql}: {e}"))
}

/// An async node and a sync node on one private server, started at the same moment, as a
/// deployment starts them: both create the tables, install the triggers and seed.
fn cluster() -> Option<(PrivatePostgres, DemoNode, DemoNode)> {
    let pg = PrivatePostgres::start()?;
    let url = pg.url();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| DemoNode::spawn("async", &url));
        let b = s.spawn(|| DemoNode::spawn("sync", &url));
        (a.join(), b.join())
    });
    let (a, b) = (a.expect("the async node"), b.expect("the sync node"));
    assert_eq!(
        sql(&url, "SELECT count(*) FROM auth_user"),
        "101",
        "seeded once"
    );
    Some((pg, a, b))
}

/// What each client watches: one row, the done rows of the bulk set, and the newest row.
fn watches(first: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("todo.Task.retrieve#one", json!({"id": first})),
        (
            "todo.Task.search#bulk",
            json!({"filters": {"title__startswith": "bulk", "done": true}, "limit": 5}),
        ),
        (
            "todo.Task.search#latest",
            json!({"limit": 1, "order": "-id"}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_and_a_sync_demo_process_serve_the_same_users() {
    let Some((pg, a, b)) = cluster() else { return };
    let url = pg.url();
    sql(
        &url,
        "INSERT INTO todo_task (title) SELECT 'bulk ' || n FROM generate_series(1, 1000) n",
    );
    let first: i64 = sql(
        &url,
        "SELECT min(id) FROM todo_task WHERE title LIKE 'bulk %'",
    )
    .parse()
    .expect("an id");
    let mut on_a = Client::connect(a.addr).await;
    let mut on_b = Client::connect(b.addr).await;
    for client in [&mut on_a, &mut on_b] {
        client.watch(&watches(first)).await;
        assert_eq!(client.data("todo.Task.search#bulk")["count"], 0);
    }

    // Through the other node's API.
    let mut writer_b = Client::connect(b.addr).await;
    let reply = writer_b
        .call(
            "todo.Task.update",
            json!({"id": first, "title": "bulk via sync"}),
        )
        .await;
    assert_eq!(reply["data"]["object"]["title"], "bulk via sync", "{reply}");
    for client in [&on_a, &on_b] {
        client
            .eventually("the sync node's write", |s| {
                s.data("todo.Task.retrieve#one")["title"] == "bulk via sync"
            })
            .await;
    }
    let mut writer_a = Client::connect(a.addr).await;
    writer_a
        .call(
            "todo.Task.update",
            json!({"id": first, "title": "bulk via async"}),
        )
        .await;
    for client in [&on_a, &on_b] {
        client
            .eventually("the async node's write", |s| {
                s.data("todo.Task.retrieve#one")["title"] == "bulk via async"
            })
            .await;
    }

    // psql: one row, then all 1,000, then a delete and an insert.
    sql(
        &url,
        &format!("UPDATE todo_task SET title = 'bulk by psql' WHERE id = {first}"),
    );
    for client in [&on_a, &on_b] {
        client
            .eventually("psql's update", |s| {
                s.data("todo.Task.retrieve#one")["title"] == "bulk by psql"
            })
            .await;
    }
    sql(
        &url,
        "UPDATE todo_task SET done = true WHERE title LIKE 'bulk %'",
    );
    for client in [&on_a, &on_b] {
        client
            .eventually("the bulk update in the live search", |s| {
                let page = s.data("todo.Task.search#bulk");
                page["count"] == 1000 && page["rows"].as_array().is_some_and(|r| r.len() == 5)
            })
            .await;
        client
            .eventually("the bulk update in the retrieve", |s| {
                s.data("todo.Task.retrieve#one")["done"] == true
            })
            .await;
    }
    sql(&url, &format!("DELETE FROM todo_task WHERE id = {first}"));
    for client in [&on_a, &on_b] {
        client
            .eventually("psql's delete", |s| {
                s.data("todo.Task.delete#one") == &json!({"id": first, "deleted": true})
                    && s.data("todo.Task.search#bulk")["count"] == 999
            })
            .await;
    }
    // An insert with every column type the demo uses, and an update of a user.
    sql(
        &url,
        "INSERT INTO todo_task (title, done, priority, owner_id, created_at) VALUES \
         ('it''s \"quoted\" ✓ ünïcödé', true, 3, (SELECT id FROM auth_user WHERE username = \
         'admin'), '2026-01-02 03:04:05.123456+00')",
    );
    let admin: i64 = sql(&url, "SELECT id FROM auth_user WHERE username = 'admin'")
        .parse()
        .expect("an id");
    for client in [&on_a, &on_b] {
        client
            .eventually("psql's insert", |s| {
                let row = &s.data("todo.Task.search#latest")["rows"][0];
                row["title"] == "it's \"quoted\" ✓ ünïcödé"
                    && row["done"] == true
                    && row["priority"] == 3
                    && row["owner_id"] == admin
                    && row["created_at"] == "2026-01-02T03:04:05.123456Z"
            })
            .await;
    }
    for client in [&mut on_a, &mut on_b] {
        client
            .watch(&[("auth.User.retrieve#admin", json!({"id": admin}))])
            .await;
    }
    sql(
        &url,
        "UPDATE auth_user SET email = 'root@example.org', is_active = false, \
         date_joined = '2025-12-31 23:59:59+00' WHERE username = 'admin'",
    );
    for client in [&on_a, &on_b] {
        client
            .eventually("psql's update of a user", |s| {
                let user = s.data("auth.User.retrieve#admin");
                user["email"] == "root@example.org"
                    && user["is_active"] == false
                    && user["date_joined"] == "2025-12-31T23:59:59.000000Z"
            })
            .await;
    }

    // Notifications nobody should act on: not JSON, an unknown table, an unknown operation,
    // a row that does not exist, and layer messages that are not messages. The listeners
    // log and drop them, and go on.
    sql(
        &url,
        r#"SELECT pg_notify('chanbind_changes', 'not json'),
                  pg_notify('chanbind_changes', '{"table":"nope","schema":"public","pk":1,"op":"UPDATE","tx":1,"origin":null}'),
                  pg_notify('chanbind_changes', '{"table":"todo_task","schema":"public","pk":1,"op":"TRUNCATE","tx":1,"origin":null}'),
                  pg_notify('chanbind_changes', '{"table":"todo_task","schema":"public","pk":99999999,"op":"UPDATE","tx":1,"origin":null}'),
                  pg_notify('chanbind_changes', '{"table":"todo_task","schema":"public","pk":"1; DROP TABLE todo_task","op":"UPDATE","tx":1}'),
                  pg_notify('chanbind_layer', 'garbage'),
                  pg_notify('chanbind_layer', '{"kind":"broadcast"}')"#,
    );
    // A row updated and deleted in one transaction is gone when the listeners read it: a
    // delete push.
    let second = first + 1;
    for client in [&mut on_a, &mut on_b] {
        client
            .watch(&[("todo.Task.retrieve#two", json!({"id": second}))])
            .await;
    }
    sql(
        &url,
        &format!(
            "BEGIN; UPDATE todo_task SET title = 'doomed' WHERE id = {second}; \
             DELETE FROM todo_task WHERE id = {second}; COMMIT"
        ),
    );
    for client in [&on_a, &on_b] {
        client
            .eventually("the delete of a row read too late", |s| {
                s.data("todo.Task.delete#two") == &json!({"id": second, "deleted": true})
                    && s.data("todo.Task.search#bulk")["count"] == 998
            })
            .await;
    }

    // A layer message lost between nodes: a row written as a node writes its own (silent in
    // the trigger, `chanbind.origin` set) whose layer message never arrived. The sender's
    // next message shows the gap in its numbers, and every node refreshes.
    let third = first + 2;
    sql(
        &url,
        &format!(
            "SET chanbind.origin = 'ghost'; UPDATE todo_task SET done = false WHERE id = {third}"
        ),
    );
    let ghost = |seq: u64| {
        let envelope = json!({"node": "ghost", "namespace": "", "seq": seq,
            "message": {"kind": "broadcast", "stream": "custom_stream", "event": "ghost", "data": seq}});
        sql(
            &url,
            &format!("SELECT pg_notify('chanbind_layer', '{envelope}')"),
        );
    };
    ghost(1);
    for client in [&on_a, &on_b] {
        client
            .eventually("the ghost's first message", |s| {
                s.data("custom_stream.ghost") == 1
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for client in [&on_a, &on_b] {
        assert_eq!(
            client.data("todo.Task.search#bulk")["count"],
            998,
            "the silent write is not seen yet"
        );
    }
    ghost(3);
    for client in [&on_a, &on_b] {
        client
            .eventually("the refresh after a lost layer message", |s| {
                s.data("custom_stream.ghost") == 3
                    && s.data("todo.Task.search#bulk")["count"] == 997
            })
            .await;
    }

    // The custom event on A: its dispatch reaches B's group members, its broadcast every
    // connection of B.
    let mut member_b = Client::connect(b.addr).await;
    // Any event a stream permits joins its group; this one is refused (no sender) but joins.
    let refused = member_b.call("custom_stream.custom_event", json!({})).await;
    assert_eq!(refused["error"]["code"], "invalid", "{refused}");
    let reflected = writer_a
        .call("custom_stream.custom_event", json!({"sender": "node a"}))
        .await;
    assert_eq!(
        reflected["data"]["msg"], "This a reflected response for node a",
        "{reflected}"
    );
    member_b
        .eventually("the dispatch on B's member", |s| {
            s.data("custom_stream.custom_group_event")["msg"]
                == "This a dispatched response to the custom_stream subscriber from node a"
        })
        .await;
    for client in [&member_b, &on_b, &on_a] {
        client
            .eventually("the broadcast", |s| {
                s.data("custom_stream.custom_all_event")["msg"]
                    == "This a dispatched response to the all layers from node a"
            })
            .await;
    }
    assert_eq!(
        on_b.count("custom_stream.custom_group_event"),
        0,
        "the dispatch reaches the group only"
    );
}

/// Writes go on through psql and through both nodes, while PostgreSQL is stopped and started
/// again; the rows written are 1 to 10 of a set of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_during_writes_leaves_no_client_stale() {
    let Some((pg, mut a, mut b)) = cluster() else {
        return;
    };
    let url = pg.url();
    sql(
        &url,
        "INSERT INTO todo_task (title) SELECT 'restart ' || n FROM generate_series(1, 10) n",
    );
    let ids: Vec<i64> = sql(
        &url,
        "SELECT id FROM todo_task WHERE title LIKE 'restart %' ORDER BY id",
    )
    .lines()
    .map(|id| id.parse().expect("an id"))
    .collect();
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let watch: Vec<(String, Value)> = ids
        .iter()
        .map(|id| (format!("todo.Task.retrieve#r{id}"), json!({"id": id})))
        .chain([(
            "todo.Task.search#done".to_owned(),
            json!({"filters": {"done": true, "id__in": ids}}),
        )])
        .collect();
    let watch: Vec<(&str, Value)> = watch.iter().map(|(e, d)| (e.as_str(), d.clone())).collect();
    let mut on_a = Client::connect(a.addr).await;
    let mut on_b = Client::connect(b.addr).await;
    on_a.watch(&watch).await;
    on_b.watch(&watch).await;

    // Writers: psql, and a client of each node, each round-robin over the rows.
    let stop = Arc::new(AtomicBool::new(false));
    let psql_writer = {
        let (url, ids, stop) = (url.clone(), ids.clone(), Arc::clone(&stop));
        tokio::task::spawn_blocking(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let id = ids[n % ids.len()];
                // Fails while the server is down; that write is simply not made.
                let _ = psql(
                    &url,
                    &format!(
                        "UPDATE todo_task SET title = 'psql {n}', done = NOT done WHERE id = {id}"
                    ),
                );
                n += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let api_writer = |addr, name: &'static str| {
        let (ids, stop) = (ids.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut client = Client::connect(addr).await;
            let (mut n, mut unavailable) = (0usize, 0usize);
            while !stop.load(Ordering::Relaxed) {
                let id = ids[(n * 3 + 1) % ids.len()];
                let answer = client
                    .call(
                        "todo.Task.update",
                        json!({"id": id, "title": format!("{name} {n}")}),
                    )
                    .await;
                match answer["error"]["code"].as_str() {
                    None => {}
                    Some("unavailable") => unavailable += 1,
                    Some(other) => panic!("{name}'s write failed with {other}: {answer}"),
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            unavailable
        })
    };
    let writer_a = api_writer(a.addr, "async");
    let writer_b = api_writer(b.addr, "sync");
    tokio::time::sleep(Duration::from_millis(800)).await;

    tokio::task::block_in_place(|| pg.stop());
    // Down: both servers stay up, take connections, and answer `unavailable` and 503.
    for node in [&a, &b] {
        let mut client = Client::connect(node.addr).await;
        let answer = client
            .call("todo.Task.retrieve", json!({"id": ids[0]}))
            .await;
        assert_eq!(
            answer["error"]["code"], "unavailable",
            "the {} node: {answer}",
            node.adapter
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("SQL") && !message.contains("postgres"),
            "no driver text reaches the client: {message}"
        );
        let status = http_status(node.addr, &format!("/api/todo.Task/{}", ids[0])).await;
        assert_eq!(status, 503, "the {} node over HTTP", node.adapter);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    psql_writer.await.expect("the psql writer");
    let unavailable_a = writer_a.await.expect("the async writer");
    let unavailable_b = writer_b.await.expect("the sync writer");
    assert!(
        unavailable_a > 0 && unavailable_b > 0,
        "both nodes' writers saw the outage ({unavailable_a}, {unavailable_b})"
    );
    tokio::task::block_in_place(|| pg.start_again());
    // At once, while the listeners are still backing off: notifications nobody hears, the
    // last change these rows see. Only the refresh after reconnecting brings them.
    sql(
        &url,
        &format!(
            "UPDATE todo_task SET title = 'unheard ' || id, priority = 5 WHERE id IN ({})",
            list.join(",")
        ),
    );
    assert!(a.is_running() && b.is_running(), "both servers stay up");

    // The final state, as PostgreSQL has it, is what every client shows.
    let rows: Vec<(i64, String, bool, i64)> = sql(
        &url,
        &format!(
            "SELECT id, title, done, priority FROM todo_task WHERE id IN ({}) ORDER BY id",
            list.join(",")
        ),
    )
    .lines()
    .map(|line| {
        let f: Vec<&str> = line.split('|').collect();
        let parse = |s: &str| s.parse::<i64>().expect("a number");
        (parse(f[0]), f[1].to_owned(), f[2] == "t", parse(f[3]))
    })
    .collect();
    assert_eq!(rows.len(), ids.len());
    let done = rows.iter().filter(|r| r.2).count();
    for client in [&on_a, &on_b] {
        client
            .eventually_or(
                || {
                    format!(
                        "every row as PostgreSQL has it: {rows:?}, {done} done; the {} node's \
                         client differs in {:?}",
                        if std::ptr::eq(client, &on_a) {
                            "async"
                        } else {
                            "sync"
                        },
                        stale(client, &rows, done)
                    )
                },
                |s| stale_in(s, &rows, done).is_empty(),
            )
            .await;
    }
    // Both nodes serve requests again, and their writes reach the other node: its layer's
    // connection from before the restart is gone and must be made again.
    for (node, id) in [(&a, ids[2]), (&b, ids[3])] {
        let mut client = Client::connect(node.addr).await;
        let answer = client.call("todo.Task.retrieve", json!({"id": id})).await;
        assert_eq!(
            answer["data"]["priority"], 5,
            "the {} node: {answer}",
            node.adapter
        );
        let title = format!("after the restart, by {}", node.adapter);
        let answer = client
            .call("todo.Task.update", json!({"id": id, "title": title}))
            .await;
        assert_eq!(
            answer["data"]["object"]["title"],
            title.as_str(),
            "{answer}"
        );
        for watcher in [&on_a, &on_b] {
            watcher
                .eventually(
                    &format!("the {} node's write after the restart", node.adapter),
                    |s| s.data(&format!("todo.Task.retrieve#r{id}"))["title"] == title.as_str(),
                )
                .await;
        }
    }
}

/// `(id, title, done, priority)` of each row, as PostgreSQL has them.
type Rows = [(i64, String, bool, i64)];

/// What a client shows that differs from `rows` and the count of `done` rows.
fn stale_in(seen: &client::Seen, rows: &Rows, done: usize) -> Vec<Value> {
    let mut stale: Vec<Value> = rows
        .iter()
        .filter_map(|(id, title, is_done, priority)| {
            let row = seen.data(&format!("todo.Task.retrieve#r{id}"));
            let same = row["title"] == title.as_str()
                && row["done"] == *is_done
                && row["priority"] == *priority;
            (!same).then(|| row.clone())
        })
        .collect();
    let count = &seen.data("todo.Task.search#done")["count"];
    if count != done {
        stale.push(json!({"done count": count}));
    }
    stale
}

fn stale(client: &Client, rows: &Rows, done: usize) -> Vec<Value> {
    client.inspect(|seen| stale_in(seen, rows, done))
}

/// Nodes that sat idle through a restart answer their first requests at once: connections
/// their pools held from before the restart are not handed out as if alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_node_answers_its_first_request_after_a_restart() {
    let Some((pg, a, b)) = cluster() else { return };
    let mut clients = [Client::connect(a.addr).await, Client::connect(b.addr).await];
    // Fill each pool with connections: several requests at once.
    for client in clients.iter_mut() {
        for _ in 0..8 {
            client.send("todo.Task.list", json!({"limit": 1})).await;
        }
        let answer = client.call("todo.Task.retrieve", json!({"id": 1})).await;
        assert_eq!(answer["data"]["id"], 1, "{answer}");
    }
    tokio::task::block_in_place(|| {
        pg.stop();
        pg.start_again();
    });
    for (client, node) in clients.iter_mut().zip([&a, &b]) {
        for _ in 0..3 {
            let answer = client.call("todo.Task.retrieve", json!({"id": 1})).await;
            assert_eq!(
                answer["data"]["id"], 1,
                "the {} node after the restart: {answer}",
                node.adapter
            );
        }
    }
}

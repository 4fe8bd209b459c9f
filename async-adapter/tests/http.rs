//! The HTTP API of docs/protocol.md section 6 on the tokio adapter, over real sockets on
//! 127.0.0.1: the model actions, filters and pages from query strings, custom events,
//! `/api/events`, the OpenAPI document, bad input, CORS, HEAD, keep-alive, slow clients,
//! authentication, and WebSocket subscribers seeing HTTP writes.

#[path = "http/edges.rs"]
mod edges;
#[path = "http/live.rs"]
mod live;
#[path = "http/support.rs"]
mod support;

use hyper::header::LOCATION;
use hyper::Method;
use serde_json::json;

use support::{call, get, ids, seed, start};

#[tokio::test]
async fn create_answers_201_with_the_row_and_its_location() {
    let server = start().await;
    let addr = server.local_addr();
    let user = call(
        addr,
        Method::POST,
        "/api/auth.User/",
        Some(json!({"username": "admin"})),
    )
    .await;
    assert_eq!(user.status, 201);
    assert_eq!(user.headers[LOCATION], "/api/auth.User/1");
    let task = json!({"title": "t", "owner_id": 1});
    let reply = call(addr, Method::POST, "/api/todo.Task", Some(task)).await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.body,
        json!({"success": true, "id": 1, "object": {"id": 1, "title": "t", "done": false, "priority": 0, "owner_id": 1}})
    );
    let bad = call(
        addr,
        Method::POST,
        "/api/todo.Task/",
        Some(json!({"title": "", "priority": 9})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["code"], "invalid");
    assert!(bad.body["fields"]["title"].is_array() && bad.body["fields"]["priority"].is_array());
    let dangling = call(
        addr,
        Method::POST,
        "/api/todo.Task/",
        Some(json!({"title": "x", "owner_id": 99})),
    )
    .await;
    assert_eq!(
        (dangling.status.as_u16(), dangling.body["code"].as_str()),
        (409, Some("conflict"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn search_takes_filters_pages_and_order_from_the_query_string() {
    let server = start().await;
    let addr = server.local_addr();
    seed(addr).await;
    let all = get(addr, "/api/todo.Task/").await;
    assert_eq!(all.status, 200);
    assert_eq!(
        (
            all.body["count"].as_u64(),
            all.body["page"].as_u64(),
            all.body["limit"].as_u64()
        ),
        (Some(4), Some(1), Some(25))
    );
    assert_eq!(
        ids(&get(addr, "/api/todo.Task/?done=false").await),
        [2, 3, 4]
    );
    assert_eq!(ids(&get(addr, "/api/todo.Task/?id__in=1,2").await), [1, 2]);
    assert_eq!(
        ids(&get(addr, "/api/todo.Task/?priority__gte=2").await),
        [2, 3]
    );
    assert_eq!(
        ids(&get(addr, "/api/todo.Task/?owner_id=2&done=false").await),
        [3, 4]
    );
    assert_eq!(
        ids(&get(addr, "/api/todo.Task/?title__icontains=read").await),
        [1]
    );
    assert_eq!(ids(&get(addr, "/api/todo.Task/?query=BIND").await), [2]);
    assert_eq!(
        ids(&get(addr, "/api/todo.Task/?owner_id__isnull=true").await),
        Vec::<i64>::new()
    );
    let ordered = get(addr, "/api/todo.Task/?order=-priority,id").await;
    assert_eq!(ids(&ordered), [2, 3, 1, 4]);
    assert_eq!(ordered.body["order"], json!(["-priority", "id"]));
    let page = get(addr, "/api/todo.Task/?order=-priority&limit=3&page=2").await;
    assert_eq!(
        (ids(&page), page.body["count"].as_u64()),
        (vec![4], Some(4))
    );
    let past = get(addr, "/api/todo.Task/?page=9").await;
    assert_eq!((ids(&past), past.body["count"].as_u64()), (vec![], Some(4)));
    let users = get(addr, "/api/auth.User/?username__startswith=b").await;
    assert_eq!(users.body["rows"][0]["username"], "bob");
    server.shutdown().await;
}

#[tokio::test]
async fn retrieve_update_save_and_delete_a_row() {
    let server = start().await;
    let addr = server.local_addr();
    seed(addr).await;
    let one = get(addr, "/api/todo.Task/2").await;
    assert_eq!(one.status, 200);
    assert_eq!(
        one.body,
        json!({"id": 2, "title": "Bind a table", "done": false, "priority": 3, "owner_id": 1})
    );

    let patched = call(
        addr,
        Method::PATCH,
        "/api/todo.Task/2",
        Some(json!({"done": true})),
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        patched.body["object"],
        json!({"id": 2, "title": "Bind a table", "done": true, "priority": 3, "owner_id": 1})
    );

    // PUT replaces every writable field: the ones left out take their defaults.
    let saved = call(
        addr,
        Method::PUT,
        "/api/todo.Task/2",
        Some(json!({"title": "Bound"})),
    )
    .await;
    assert_eq!(saved.status, 200);
    assert_eq!(
        saved.body["object"],
        json!({"id": 2, "title": "Bound", "done": false, "priority": 0, "owner_id": null})
    );
    let missing = call(
        addr,
        Method::PUT,
        "/api/todo.Task/99",
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!(
        (missing.status.as_u16(), missing.body["code"].as_str()),
        (404, Some("not_found"))
    );
    let clash = call(
        addr,
        Method::PATCH,
        "/api/todo.Task/2",
        Some(json!({"id": 3, "done": true})),
    )
    .await;
    assert_eq!(clash.status, 400);

    let deleted = call(addr, Method::DELETE, "/api/todo.Task/2", None).await;
    assert_eq!(
        (deleted.status.as_u16(), deleted.body.clone()),
        (200, json!({"success": true, "id": 2}))
    );
    let gone = get(addr, "/api/todo.Task/2").await;
    assert_eq!(
        (gone.status.as_u16(), gone.body["code"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(
        call(addr, Method::DELETE, "/api/todo.Task/2", None)
            .await
            .status,
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn forms_describe_and_submit() {
    let server = start().await;
    let addr = server.local_addr();
    seed(addr).await;
    let blank = get(addr, "/api/todo.Task/form").await;
    assert_eq!(blank.status, 200);
    assert_eq!(
        (blank.body["id"].clone(), blank.body["object"].clone()),
        (json!(null), json!(null))
    );
    let title = &blank.body["fields"][0];
    assert_eq!(
        (
            title["name"].as_str(),
            title["type"].as_str(),
            title["max_length"].as_u64()
        ),
        (Some("title"), Some("string"), Some(200))
    );
    let owner = blank.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "owner_id")
        .unwrap()
        .clone();
    assert_eq!(owner["stream"], "auth.User");

    let filled = get(addr, "/api/todo.Task/3/form").await;
    assert_eq!(
        (
            filled.body["id"].as_i64(),
            filled.body["object"]["title"].as_str()
        ),
        (Some(3), Some("Open two browsers"))
    );
    assert_eq!(get(addr, "/api/todo.Task/99/form").await.status, 404);

    let refused = call(
        addr,
        Method::POST,
        "/api/todo.Task/3/form",
        Some(json!({"priority": 7})),
    )
    .await;
    assert_eq!(
        (refused.status.as_u16(), refused.body["code"].as_str()),
        (400, Some("invalid"))
    );
    let submitted = call(
        addr,
        Method::POST,
        "/api/todo.Task/3/form",
        Some(json!({"priority": 5})),
    )
    .await;
    assert_eq!(
        (
            submitted.status.as_u16(),
            submitted.body["success"].as_bool()
        ),
        (200, Some(true))
    );
    assert_eq!(submitted.body["object"]["priority"], 5);
    server.shutdown().await;
}

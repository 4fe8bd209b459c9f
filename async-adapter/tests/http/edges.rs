//! Bad input and HTTP behaviour: unknown routes, methods, content types, sizes, ids, filters,
//! HEAD, keep-alive, CORS, and clients that are slow or send too much.

use std::time::{Duration, Instant};

use hyper::header::{
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, CONTENT_LENGTH, CONTENT_TYPE,
};
use hyper::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{call, get, ids, raw, seed, start, status_of, Client, MAX_BODY};

#[tokio::test]
async fn unknown_routes_methods_and_ids() {
    let server = start().await;
    let addr = server.local_addr();
    seed(addr).await;
    for path in [
        "/api/nope.Thing/",
        "/api/nope.Thing/1",
        "/api/todo.Task/1/form/x",
        "/api/",
        "/elsewhere",
    ] {
        let reply = get(addr, path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.body["code"].is_string(), "{path}: an error object");
    }
    assert_eq!(
        get(addr, "/api/nope.Thing/").await.body["code"],
        "unknown_event"
    );
    for path in [
        "/api/todo.Task/abc",
        "/api/todo.Task/1%00",
        "/api/todo.Task/-1",
        "/api/todo.Task/1.0",
    ] {
        let reply = get(addr, path).await;
        assert_eq!(
            (reply.status.as_u16(), reply.body["code"].as_str()),
            (400, Some("invalid")),
            "{path}"
        );
        assert!(reply.body["fields"]["id"].is_array(), "{path}: names id");
    }
    let wrong = call(addr, Method::DELETE, "/api/todo.Task/", None).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.headers[ALLOW], "GET, HEAD, POST, OPTIONS");
    let wrong = call(addr, Method::GET, "/api/custom_stream/echo", None).await;
    assert_eq!(
        (
            wrong.status.as_u16(),
            wrong.headers[ALLOW].to_str().unwrap()
        ),
        (405, "POST, OPTIONS")
    );
    let options = call(addr, Method::OPTIONS, "/api/todo.Task/1", None).await;
    assert_eq!(
        (
            options.status.as_u16(),
            options.headers[ALLOW].to_str().unwrap()
        ),
        (204, "GET, HEAD, PUT, PATCH, DELETE, OPTIONS")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bodies_are_checked_for_type_size_and_syntax() {
    let server = start().await;
    let addr = server.local_addr();
    let form = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n\r\ntitle=t").await;
    assert_eq!(status_of(&form), 415, "{form}");
    let untyped = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"title\":1}").await;
    assert_eq!(status_of(&untyped), 415, "{untyped}");
    let broken = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"title\":").await;
    assert_eq!(status_of(&broken), 400, "{broken}");
    assert!(broken.contains("\"bad_request\""));
    let array = call(addr, Method::POST, "/api/todo.Task/", Some(json!([1, 2]))).await;
    assert_eq!(
        (array.status.as_u16(), array.body["code"].as_str()),
        (400, Some("bad_request"))
    );

    let big = json!({"title": "x".repeat(MAX_BODY)});
    let declared = call(addr, Method::POST, "/api/todo.Task/", Some(big)).await;
    assert_eq!(
        (declared.status.as_u16(), declared.body["code"].as_str()),
        (413, Some("too_large"))
    );
    // Chunked, so the size is only found out while reading.
    let chunk = "x".repeat(MAX_BODY + 10);
    let chunked = format!(
        "POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    assert_eq!(status_of(&raw(addr, chunked.as_bytes()).await), 413);
    assert_eq!(
        get(addr, "/api/todo.Task/").await.body["count"],
        0,
        "nothing was created"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn query_strings_cannot_probe_or_inject() {
    let server = start().await;
    let addr = server.local_addr();
    seed(addr).await;
    for query in [
        "nope=1",
        "title__regex=.*",
        "priority=high",
        "done=yes",
        "id=1%20OR%201%3D1",
        "id=1;DROP%20TABLE%20todo_task",
        "1=1;DROP%20TABLE%20todo_task--",
        "order=-nope",
        "owner_id__isnull=maybe",
    ] {
        let reply = get(addr, &format!("/api/todo.Task/?{query}")).await;
        assert_eq!(
            (reply.status.as_u16(), reply.body["code"].as_str()),
            (400, Some("invalid_filter")),
            "{query}"
        );
    }
    assert_eq!(
        get(addr, "/api/todo.Task/?page=two").await.body["code"],
        "bad_request"
    );
    assert_eq!(
        get(addr, "/api/todo.Task/?done=true&done=false")
            .await
            .status,
        400
    );
    // Text that looks like SQL is only text: it matches nothing and harms nothing.
    let text = get(addr, "/api/todo.Task/?title=%27%20OR%20%271%27%3D%271").await;
    assert_eq!((text.status.as_u16(), ids(&text)), (200, vec![]));
    assert_eq!(get(addr, "/api/todo.Task/").await.body["count"], 4);
    server.shutdown().await;
}

#[tokio::test]
async fn head_and_keep_alive() {
    let server = start().await;
    let addr = server.local_addr();
    seed(addr).await;
    let mut client = Client::connect(addr).await;
    let full = client
        .send(Method::GET, "/api/todo.Task/1", None, &[])
        .await;
    let head = client
        .send(Method::HEAD, "/api/todo.Task/1", None, &[])
        .await;
    assert_eq!(head.status, 200);
    assert!(head.raw.is_empty());
    assert_eq!(
        head.headers[CONTENT_LENGTH],
        full.raw.len().to_string().as_str()
    );
    assert_eq!(head.headers[CONTENT_TYPE], "application/json");
    // The same connection carries on after both.
    let third = client
        .send(
            Method::PATCH,
            "/api/todo.Task/1",
            Some(&json!({"priority": 4})),
            &[],
        )
        .await;
    assert_eq!(third.body["object"]["priority"], 4);
    let doc = client
        .send(Method::HEAD, "/api/openapi.json", None, &[])
        .await;
    assert!(doc.raw.is_empty() && doc.headers[CONTENT_LENGTH] != "0");
    server.shutdown().await;
}

#[tokio::test]
async fn cors_answers_preflights_for_allowed_origins_only() {
    let server = start().await;
    let addr = server.local_addr();
    let mut client = Client::connect(addr).await;
    let preflight = [
        ("origin", "https://app.test"),
        ("access-control-request-method", "PATCH"),
        ("access-control-request-headers", "content-type"),
    ];
    let ok = client
        .send(Method::OPTIONS, "/api/todo.Task/1", None, &preflight)
        .await;
    assert_eq!(ok.status, 204);
    assert_eq!(ok.headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.test");
    assert!(ok.headers[ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap()
        .contains("PATCH"));
    let evil = [
        ("origin", "https://evil.test"),
        ("access-control-request-method", "PATCH"),
    ];
    let refused = client
        .send(Method::OPTIONS, "/api/todo.Task/1", None, &evil)
        .await;
    assert!(!refused.headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    let simple = client
        .send(
            Method::GET,
            "/api/todo.Task/",
            None,
            &[("origin", "https://app.test")],
        )
        .await;
    assert_eq!(
        simple.headers[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.test"
    );
    let error = client
        .send(
            Method::GET,
            "/api/todo.Task/abc",
            None,
            &[("origin", "https://app.test")],
        )
        .await;
    assert_eq!(
        error.headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.test",
        "pages can read errors too"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn slow_and_oversized_heads_cost_bounded_time() {
    let server = start().await;
    let addr = server.local_addr();
    // A head that never ends, a byte at a time: dropped once header_read_timeout (600 ms) runs out.
    let started = Instant::now();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let mut closed = false;
    for byte in b"GET /api/todo.Task/ HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain([b'a'; 200].iter())
    {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    assert!(closed, "the server hung up on the slow client");
    assert!(started.elapsed() < Duration::from_secs(3));

    let huge = format!(
        "GET /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(status_of(&raw(addr, huge.as_bytes()).await), 431);

    // A body that never comes: 408 once body_read_timeout (600 ms) runs out.
    let started = Instant::now();
    let stalled = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{").await;
    assert_eq!(status_of(&stalled), 408, "{stalled}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // An idle keep-alive connection is closed after the same time.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /api/todo.Task/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), idle.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the idle connection was closed");
    assert_eq!(status_of(&String::from_utf8_lossy(&answer)), 200);

    assert_eq!(
        get(addr, "/api/todo.Task/").await.status,
        200,
        "the server is still up"
    );
    server.shutdown().await;
}

/// `%` before a multi-byte character in a query string once panicked in the engine's
/// percent-decoding, before authentication: now it is a filter like any other, and the server
/// carries on.
#[tokio::test]
async fn a_percent_before_a_multibyte_character_is_an_error_not_a_panic() {
    let server = start().await;
    let addr = server.local_addr();
    for path in ["/api/todo.Task/?%€=1", "/api/todo.Task/?token=%€", "/?%€"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let response = raw(addr, request.as_bytes()).await;
        let status = status_of(&response);
        assert!(
            (200..500).contains(&status),
            "{path}: an answer, not a dropped connection: {response:?}"
        );
    }
    let reply = get(addr, "/api/todo.Task/?%€=1").await;
    assert_eq!(
        (reply.status.as_u16(), reply.body["code"].as_str()),
        (400, Some("invalid_filter"))
    );
    assert_eq!(
        get(addr, "/api/todo.Task/").await.status,
        200,
        "still serving"
    );
}

/// An application that adds an authenticator and never calls `allow_anonymous` is closed:
/// anonymous writes and handshakes get 401, and so does a wrong token wherever it comes,
/// even beside a right one further down the list the authenticator reads.
#[tokio::test]
async fn anonymous_requests_and_wrong_tokens_are_refused_by_default() {
    let server = crate::support::start_authenticated().await;
    let addr = server.local_addr();
    let create = call(
        addr,
        Method::POST,
        "/api/todo.Task/",
        Some(json!({"title": "anon"})),
    )
    .await;
    assert_eq!(
        (create.status.as_u16(), create.body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let handshake = crate::support::handshake;
    assert_eq!(status_of(&raw(addr, handshake("").as_bytes()).await), 401);
    for wrong in [
        "Authorization: Bearer s3cre\r\n",
        "Authorization: Bearer wrong\r\nCookie: token=s3cret\r\n",
        "Origin: http://x\r\nCookie: token=s3cret-and-more\r\n",
    ] {
        let answer = raw(addr, handshake(wrong).as_bytes()).await;
        assert_eq!(status_of(&answer), 401, "{wrong:?}");
    }
    let wrong_query = raw(
        addr,
        handshake("")
            .replacen("GET / ", "GET /?token=nope ", 1)
            .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&wrong_query), 401);
    let right = raw(
        addr,
        handshake("Authorization: Bearer s3cret\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&right), 101, "{right}");
    let listed = Client::connect(addr)
        .await
        .send(
            Method::GET,
            "/api/todo.Task/",
            None,
            &[("authorization", "Bearer s3cret")],
        )
        .await;
    assert_eq!(
        (listed.status.as_u16(), &listed.body["count"]),
        (200, &json!(0)),
        "the anonymous create wrote nothing"
    );
}

/// A page on another site cannot act through the browser's cookie: a handshake authenticated
/// by cookie needs the server's own (or an allowed) `Origin`, and so does a write; a browser
/// handshake from another page is refused even with a token; reads by cookie stay open.
#[tokio::test]
async fn cookie_credentials_and_browser_handshakes_need_an_allowed_origin() {
    let server = crate::support::start_authenticated().await;
    let addr = server.local_addr();
    let handshake = crate::support::handshake;
    for (extra, status) in [
        ("Cookie: token=s3cret\r\nOrigin: https://evil.test\r\n", 403),
        ("Cookie: token=s3cret\r\n", 403),
        ("Cookie: token=s3cret\r\nOrigin: http://x\r\n", 101),
        (
            "Authorization: Bearer s3cret\r\nOrigin: https://evil.test\r\n",
            403,
        ),
        ("Authorization: Bearer s3cret\r\n", 101),
    ] {
        let answer = raw(addr, handshake(extra).as_bytes()).await;
        assert_eq!(status_of(&answer), status, "{extra:?}: {answer}");
    }
    let post = |origin: &'static str| {
        format!(
            "POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nCookie: token=s3cret\r\n{origin}\
             Content-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n\
             {{\"title\":\"t\"}}"
        )
    };
    let forged = raw(addr, post("Origin: https://evil.test\r\n").as_bytes()).await;
    assert_eq!(status_of(&forged), 403, "{forged}");
    assert!(forged.contains("permission_denied"), "{forged}");
    let own = raw(addr, post("Origin: http://x\r\n").as_bytes()).await;
    assert_eq!(status_of(&own), 201, "{own}");
    let read = raw(
        addr,
        b"GET /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nCookie: token=s3cret\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&read), 200, "{read}");
    assert!(
        read.contains("\"count\":1"),
        "only the same-origin write landed: {read}"
    );
}

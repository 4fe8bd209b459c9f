//! Bad input and HTTP behaviour: unknown routes, methods, content types, sizes, ids, filters,
//! HEAD, keep-alive and pipelining, CORS, clients that are slow or send too much, and the
//! bytes on the wire, which are the async adapter's.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::support::{call, get, ids, raw, raw_within, seed, start, status_of, Client, MAX_BODY};
use crate::common::eventually;

#[test]
fn unknown_routes_methods_and_ids() {
    let srv = start();
    let addr = srv.addr();
    seed(addr);
    for path in [
        "/api/nope.Thing/",
        "/api/nope.Thing/1",
        "/api/todo.Task/1/form/x",
        "/api/",
        "/elsewhere",
    ] {
        let reply = get(addr, path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.body["code"].is_string(), "{path}: an error object");
    }
    assert_eq!(get(addr, "/api/nope.Thing/").body["code"], "unknown_event");
    for path in [
        "/api/todo.Task/abc",
        "/api/todo.Task/1%00",
        "/api/todo.Task/-1",
        "/api/todo.Task/1.0",
    ] {
        let reply = get(addr, path);
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (400, Some("invalid")),
            "{path}"
        );
        assert!(reply.body["fields"]["id"].is_array(), "{path}: names id");
    }
    let wrong = call(addr, "DELETE", "/api/todo.Task/", None);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    let wrong = call(addr, "GET", "/api/custom_stream/echo", None);
    assert_eq!(
        (wrong.status, wrong.header("allow")),
        (405, Some("POST, OPTIONS"))
    );
    let options = call(addr, "OPTIONS", "/api/todo.Task/1", None);
    assert_eq!(
        (options.status, options.header("allow")),
        (204, Some("GET, HEAD, PUT, PATCH, DELETE, OPTIONS"))
    );
    // A plain request on the WebSocket path is told to upgrade, as on the async adapter.
    let plain = get(addr, "/");
    assert_eq!(
        (plain.status, plain.header("upgrade")),
        (426, Some("websocket"))
    );
    srv.server.shutdown();
}

#[test]
fn bodies_are_checked_for_type_size_and_syntax() {
    let srv = start();
    let addr = srv.addr();
    let form = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n\r\ntitle=t");
    assert_eq!(status_of(&form), 415, "{form}");
    let untyped = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"title\":1}");
    assert_eq!(status_of(&untyped), 415, "{untyped}");
    let broken = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"title\":");
    assert_eq!(status_of(&broken), 400, "{broken}");
    assert!(broken.contains("\"bad_request\""));
    let array = call(addr, "POST", "/api/todo.Task/", Some(json!([1, 2])));
    assert_eq!(
        (array.status, array.body["code"].as_str()),
        (400, Some("bad_request"))
    );

    let big = json!({"title": "x".repeat(MAX_BODY)});
    let declared = call(addr, "POST", "/api/todo.Task/", Some(big));
    assert_eq!(
        (declared.status, declared.body["code"].as_str()),
        (413, Some("too_large"))
    );
    // Chunked, so the size is only found out while reading.
    let chunk = "x".repeat(MAX_BODY + 10);
    let chunked = format!(
        "POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    assert_eq!(status_of(&raw(addr, chunked.as_bytes())), 413);
    let bad_chunk = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    assert_eq!(status_of(&bad_chunk), 400, "{bad_chunk}");
    assert_eq!(
        get(addr, "/api/todo.Task/").body["count"],
        0,
        "nothing was created"
    );
    // Chunked bodies are decoded, not refused.
    let parts = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"tit\r\n9;ext=1\r\nle\":\"ch\"}\r\n0\r\nX-Trailer: t\r\n\r\n");
    assert_eq!(status_of(&parts), 201, "{parts}");
    assert_eq!(get(addr, "/api/todo.Task/1").body["title"], "ch");
    srv.server.shutdown();
}

#[test]
fn query_strings_cannot_probe_or_inject() {
    let srv = start();
    let addr = srv.addr();
    seed(addr);
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
        let reply = get(addr, &format!("/api/todo.Task/?{query}"));
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (400, Some("invalid_filter")),
            "{query}"
        );
    }
    assert_eq!(
        get(addr, "/api/todo.Task/?page=two").body["code"],
        "bad_request"
    );
    assert_eq!(
        get(addr, "/api/todo.Task/?done=true&done=false").status,
        400
    );
    // Text that looks like SQL is only text: it matches nothing and harms nothing.
    let text = get(addr, "/api/todo.Task/?title=%27%20OR%20%271%27%3D%271");
    assert_eq!((text.status, ids(&text)), (200, vec![]));
    assert_eq!(get(addr, "/api/todo.Task/").body["count"], 4);
    srv.server.shutdown();
}

#[test]
fn head_keep_alive_and_pipelining() {
    let srv = start();
    let addr = srv.addr();
    seed(addr);
    let mut client = Client::connect(addr);
    let full = client.send("GET", "/api/todo.Task/1", None, &[]);
    let head = client.send("HEAD", "/api/todo.Task/1", None, &[]);
    assert_eq!(head.status, 200);
    assert!(head.raw.is_empty());
    let length = full.raw.len().to_string();
    assert_eq!(head.header("content-length"), Some(length.as_str()));
    assert_eq!(head.header("content-type"), Some("application/json"));
    // The same connection carries on after both.
    let third = client.send(
        "PATCH",
        "/api/todo.Task/1",
        Some(&json!({"priority": 4})),
        &[],
    );
    assert_eq!(third.body["object"]["priority"], 4);
    let doc = client.send("HEAD", "/api/openapi.json", None, &[]);
    assert!(doc.raw.is_empty() && doc.header("content-length") != Some("0"));

    // Requests sent at once are answered in order, a refused body in between included.
    client.write(b"GET /api/todo.Task/3 HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/nope.Thing/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}GET /api/todo.Task/2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(client.read_reply(false).body["id"], 3);
    assert_eq!(client.read_reply(false).status, 404);
    assert_eq!(client.read_reply(false).body["id"], 2);
    // `Connection: close` is answered, said and honoured.
    let last = client.send("GET", "/api/todo.Task/1", None, &[("Connection", "close")]);
    assert_eq!(
        (last.status, last.header("connection")),
        (200, Some("close"))
    );
    assert!(client.closed_within(Duration::from_secs(2)));
    srv.server.shutdown();
}

#[test]
fn cors_answers_preflights_for_allowed_origins_only() {
    let srv = start();
    let mut client = Client::connect(srv.addr());
    let preflight = [
        ("Origin", "https://app.test"),
        ("Access-Control-Request-Method", "PATCH"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    let ok = client.send("OPTIONS", "/api/todo.Task/1", None, &preflight);
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.test")
    );
    assert!(ok
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PATCH"));
    let evil = [
        ("Origin", "https://evil.test"),
        ("Access-Control-Request-Method", "PATCH"),
    ];
    let refused = client.send("OPTIONS", "/api/todo.Task/1", None, &evil);
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let origin = [("Origin", "https://app.test")];
    let simple = client.send("GET", "/api/todo.Task/", None, &origin);
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://app.test")
    );
    let error = client.send("GET", "/api/todo.Task/abc", None, &origin);
    assert_eq!(
        error.header("access-control-allow-origin"),
        Some("https://app.test"),
        "pages can read errors too"
    );
    srv.server.shutdown();
}

#[test]
fn slow_and_oversized_heads_cost_bounded_time() {
    let srv = start();
    let addr = srv.addr();
    // A head that never ends, a byte at a time: dropped once header_read_timeout (600 ms) runs out.
    let started = Instant::now();
    let mut slow = TcpStream::connect(addr).unwrap();
    let mut closed = false;
    for byte in b"GET /api/todo.Task/ HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain([b'a'; 200].iter())
    {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
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
    assert_eq!(status_of(&raw(addr, huge.as_bytes())), 431);
    let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
    let many = format!("GET /api/todo.Task/ HTTP/1.1\r\n{many}\r\n");
    assert_eq!(status_of(&raw(addr, many.as_bytes())), 431);
    assert_eq!(status_of(&raw(addr, b"GARBAGE\r\n\r\n")), 400);

    // A body that never comes: 408 once body_read_timeout (600 ms) runs out.
    let started = Instant::now();
    let stalled = raw(addr, b"POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{");
    assert_eq!(status_of(&stalled), 408, "{stalled}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // An idle keep-alive connection is closed after the same time.
    let idle = raw_within(
        addr,
        b"GET /api/todo.Task/ HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(status_of(&idle), 200);
    eventually("every connection thread to end", || {
        srv.server.connection_threads() == 0
    });
    assert_eq!(
        get(addr, "/api/todo.Task/").status,
        200,
        "the server is still up"
    );
    srv.server.shutdown();
}

/// The responses as the async adapter (hyper) writes them, byte for byte but for the date:
/// lower-case names in the engine's order, `connection` where hyper puts it, then the length.
#[test]
fn responses_are_written_as_the_async_adapter_writes_them() {
    let srv = start();
    let addr = srv.addr();
    seed(addr);
    let without_date = |text: String| {
        let start = text.find("date: ").expect("a date");
        let end = start + text[start..].find("\r\n").unwrap() + 2;
        format!("{}{}", &text[..start], &text[end..])
    };
    let row = r#"{"done":true,"id":1,"owner_id":1,"priority":1,"title":"Read the README"}"#;
    let cases: [(&[u8], String); 5] = [
        (
            b"GET /api/todo.Task/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 72\r\n\r\n{row}"),
        ),
        (
            b"GET /api/todo.Task/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            format!("HTTP/1.0 200 OK\r\ncontent-type: application/json\r\nconnection: keep-alive\r\ncontent-length: 72\r\n\r\n{row}"),
        ),
        (
            b"HEAD /api/todo.Task/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 72\r\nconnection: close\r\n\r\n".to_owned(),
        ),
        (
            b"DELETE /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\nallow: GET, HEAD, POST, OPTIONS\r\nconnection: close\r\ncontent-length: 78\r\n\r\n{\"code\":\"bad_request\",\"message\":\"this route answers GET, HEAD, POST, OPTIONS\"}".to_owned(),
        ),
        (
            b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".to_owned(),
        ),
    ];
    for (request, expected) in cases {
        let answer = raw_within(addr, request, Duration::from_millis(500));
        assert_eq!(without_date(answer), expected);
    }
    srv.server.shutdown();
}

/// `%` before a multi-byte character in a query string once panicked in the engine's
/// percent-decoding, before authentication: now it is a filter like any other, and the server
/// carries on.
#[test]
fn a_percent_before_a_multibyte_character_is_an_error_not_a_panic() {
    let srv = start();
    let addr = srv.addr();
    for path in ["/api/todo.Task/?%€=1", "/api/todo.Task/?token=%€", "/?%€"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let response = raw(addr, request.as_bytes());
        let status = status_of(&response);
        assert!(
            (200..500).contains(&status),
            "{path}: an answer, not a dropped connection: {response:?}"
        );
    }
    let reply = get(addr, "/api/todo.Task/?%€=1");
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (400, Some("invalid_filter"))
    );
    assert_eq!(get(addr, "/api/todo.Task/").status, 200, "still serving");
}

/// An application that adds an authenticator and never calls `allow_anonymous` is closed:
/// anonymous writes and handshakes get 401, and so does a wrong token wherever it comes,
/// even beside a right one further down the list the authenticator reads.
#[test]
fn anonymous_requests_and_wrong_tokens_are_refused_by_default() {
    let srv = super::support::start_authenticated();
    let addr = srv.addr();
    let create = call(
        addr,
        "POST",
        "/api/todo.Task/",
        Some(json!({"title": "anon"})),
    );
    assert_eq!(
        (create.status, create.body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let handshake = |extra: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
    };
    assert_eq!(status_of(&raw(addr, handshake("").as_bytes())), 401);
    for wrong in [
        "Authorization: Bearer s3cre\r\n",
        "Authorization: Bearer wrong\r\nCookie: token=s3cret\r\n",
        "Origin: http://x\r\nCookie: token=s3cret-and-more\r\n",
    ] {
        let answer = raw(addr, handshake(wrong).as_bytes());
        assert_eq!(status_of(&answer), 401, "{wrong:?}");
    }
    let wrong_query = handshake("").replacen("GET / ", "GET /?token=nope ", 1);
    assert_eq!(status_of(&raw(addr, wrong_query.as_bytes())), 401);
    let right = raw(
        addr,
        handshake("Authorization: Bearer s3cret\r\n").as_bytes(),
    );
    assert_eq!(status_of(&right), 101, "{right}");
    let listed = Client::connect(addr).send(
        "GET",
        "/api/todo.Task/",
        None,
        &[("authorization", "Bearer s3cret")],
    );
    assert_eq!(
        (listed.status, &listed.body["count"]),
        (200, &json!(0)),
        "the anonymous create wrote nothing"
    );
}

/// A page on another site cannot act through the browser's cookie: a handshake authenticated
/// by cookie needs the server's own (or an allowed) `Origin`, and so does a write; a browser
/// handshake from another page is refused even with a token; reads by cookie stay open.
#[test]
fn cookie_credentials_and_browser_handshakes_need_an_allowed_origin() {
    let srv = super::support::start_authenticated();
    let addr = srv.addr();
    let handshake = |extra: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
    };
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
        let answer = raw(addr, handshake(extra).as_bytes());
        assert_eq!(status_of(&answer), status, "{extra:?}: {answer}");
    }
    let post = |origin: &str| {
        format!(
            "POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nCookie: token=s3cret\r\n{origin}\
             Content-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n\
             {{\"title\":\"t\"}}"
        )
    };
    let forged = raw(addr, post("Origin: https://evil.test\r\n").as_bytes());
    assert_eq!(status_of(&forged), 403, "{forged}");
    assert!(forged.contains("permission_denied"), "{forged}");
    let own = raw(addr, post("Origin: http://x\r\n").as_bytes());
    assert_eq!(status_of(&own), 201, "{own}");
    let read = raw(
        addr,
        b"GET /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nCookie: token=s3cret\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&read), 200, "{read}");
    assert!(
        read.contains("\"count\":1"),
        "only the same-origin write landed: {read}"
    );
}

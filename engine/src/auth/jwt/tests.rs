//! The JWT authenticator's checks, with the test-only keys of `engine/tests/fixtures/jwt`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const RSA_A: &str = include_str!("../../../tests/fixtures/jwt/rsa-a.pem");
const RSA_B: &str = include_str!("../../../tests/fixtures/jwt/rsa-b.pem");
const EC_A: &str = include_str!("../../../tests/fixtures/jwt/ec-a.pem");
const EC_B: &str = include_str!("../../../tests/fixtures/jwt/ec-b.pem");
const JWKS: &str = include_str!("../../../tests/fixtures/jwt/jwks.json");
const JWKS_ROTATED: &str = include_str!("../../../tests/fixtures/jwt/jwks-rotated.json");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims of user 7, valid for an hour.
fn claims() -> Value {
    json!({"sub": "7", "name": "alice", "exp": now() + 3600, "roles": ["editor"], "team": 3})
}

fn hs(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn signed(alg: Algorithm, pem: &str, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        _ => EncodingKey::from_ec_pem(pem.as_bytes()),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &key).unwrap()
}

fn bearer(token: &str) -> RequestHead {
    let mut head = RequestHead::default();
    head.headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    head
}

/// The authenticator's answer for a bearer token: the user's id, `Err("rejected")` or
/// `Err("unavailable")`.
fn outcome(auth: &JwtAuthenticator, token: &str) -> Result<Option<i64>, &'static str> {
    futures_executor::block_on(auth.authenticate(&bearer(token)))
        .map(|u| u.map(|u| u.id))
        .map_err(|e| match e {
            AuthError::Rejected => "rejected",
            AuthError::Unavailable(_) => "unavailable",
        })
}

fn b64(value: &Value) -> String {
    base64_url(value.to_string().as_bytes())
}

/// Base64url without padding (RFC 7515), for hand-made tokens.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn an_hs256_token_is_its_user_with_claims_roles_and_expiry() {
    let auth = JwtAuthenticator::hs256("s3cret");
    let exp = now() + 3600;
    let mut c = claims();
    c["exp"] = json!(exp);
    let user = futures_executor::block_on(auth.authenticate(&bearer(&hs("s3cret", &c))))
        .unwrap()
        .unwrap();
    assert_eq!((user.id, user.name.as_str()), (7, "alice"));
    assert_eq!(user.claims["team"], 3);
    assert!(user.has_role("editor") && !user.has_role("admin"));
    assert_eq!(user.expires_at, Some(UNIX_EPOCH + Duration::from_secs(exp)));
    assert!(!format!("{auth:?}").contains("s3cret"), "{auth:?}");
    // The query parameter and the cookie carry tokens too.
    let head = RequestHead {
        uri: format!("/?token={}", hs("s3cret", &c)).parse().unwrap(),
        ..Default::default()
    };
    assert!(futures_executor::block_on(auth.authenticate(&head))
        .unwrap()
        .is_some());
}

#[test]
fn exp_and_nbf_are_checked_with_the_leeway() {
    let auth = JwtAuthenticator::hs256("k").leeway(Duration::from_secs(5));
    let mut c = claims();
    c["exp"] = json!(now() - 60);
    assert_eq!(outcome(&auth, &hs("k", &c)), Err("rejected"), "expired");
    c["exp"] = json!(now() - 2);
    assert_eq!(
        outcome(&auth, &hs("k", &c)),
        Ok(Some(7)),
        "within the leeway"
    );
    let mut c = claims();
    c["nbf"] = json!(now() + 600);
    assert_eq!(
        outcome(&auth, &hs("k", &c)),
        Err("rejected"),
        "not yet valid"
    );
    c["nbf"] = json!(now() - 1);
    assert_eq!(outcome(&auth, &hs("k", &c)), Ok(Some(7)));
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(outcome(&auth, &hs("k", &c)), Err("rejected"), "no exp");
    let lenient = JwtAuthenticator::hs256("k").require_exp(false);
    assert_eq!(outcome(&lenient, &hs("k", &c)), Ok(Some(7)));
}

#[test]
fn a_configured_issuer_and_audience_must_match() {
    let auth = JwtAuthenticator::hs256("k")
        .issuer("https://idp.test")
        .audience("chanbind");
    let mut c = claims();
    assert_eq!(outcome(&auth, &hs("k", &c)), Err("rejected"), "no iss/aud");
    c["iss"] = json!("https://idp.test");
    c["aud"] = json!(["other", "chanbind"]);
    assert_eq!(outcome(&auth, &hs("k", &c)), Ok(Some(7)));
    c["iss"] = json!("https://evil.test");
    assert_eq!(outcome(&auth, &hs("k", &c)), Err("rejected"), "wrong iss");
    c["iss"] = json!("https://idp.test");
    c["aud"] = json!("other");
    assert_eq!(outcome(&auth, &hs("k", &c)), Err("rejected"), "wrong aud");
    // Without a configured audience, a token's `aud` is not held against it.
    assert_eq!(
        outcome(&JwtAuthenticator::hs256("k"), &hs("k", &c)),
        Ok(Some(7))
    );
}

#[test]
fn a_wrong_secret_alg_none_and_malformed_tokens_are_rejected() {
    let auth = JwtAuthenticator::hs256("right");
    assert_eq!(outcome(&auth, &hs("wrong", &claims())), Err("rejected"));
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims())
    );
    assert_eq!(outcome(&auth, &none), Err("rejected"), "alg none");
    assert_eq!(
        outcome(&auth, "a.b.c"),
        Err("rejected"),
        "garbage in three parts"
    );
    let token = hs("right", &claims());
    let (head, _) = token.rsplit_once('.').unwrap();
    assert_eq!(
        outcome(&auth, &format!("{head}.AAAA")),
        Err("rejected"),
        "a bad signature"
    );
    // Not a JWT at all: another authenticator's token, so not this one's to refuse.
    assert_eq!(outcome(&auth, "plain-secret"), Ok(None));
    assert_eq!(
        futures_executor::block_on(auth.authenticate(&RequestHead::default())).unwrap(),
        None
    );
}

#[test]
fn the_id_claim_must_be_an_integer_and_names_and_roles_are_mapped() {
    let auth = JwtAuthenticator::hs256("k");
    let mut c = claims();
    c["sub"] = json!("alice");
    assert_eq!(
        outcome(&auth, &hs("k", &c)),
        Err("rejected"),
        "sub not an id"
    );
    c["sub"] = json!(12);
    assert_eq!(outcome(&auth, &hs("k", &c)), Ok(Some(12)));

    let auth = JwtAuthenticator::hs256("k")
        .id_claim("uid")
        .name_claim("login")
        .roles_claim("realm_access.roles");
    let c = json!({"uid": 5, "login": "bob", "exp": now() + 60,
                   "realm_access": {"roles": ["admin", "ops"]}});
    let user = futures_executor::block_on(auth.authenticate(&bearer(&hs("k", &c))))
        .unwrap()
        .unwrap();
    assert_eq!((user.id, user.name.as_str()), (5, "bob"));
    assert_eq!(user.roles().collect::<Vec<_>>(), ["admin", "ops"]);
    // A space-separated string (like OAuth's `scope`) is roles too; a name defaults.
    let auth = JwtAuthenticator::hs256("k").roles_claim("scope");
    let c = json!({"sub": "9", "preferred_username": "carol", "exp": now() + 60, "scope": "read write"});
    let user = futures_executor::block_on(auth.authenticate(&bearer(&hs("k", &c))))
        .unwrap()
        .unwrap();
    assert_eq!(user.name, "carol");
    assert!(user.has_role("write"));
}

#[test]
fn rs256_and_es256_tokens_verify_with_the_key_their_kid_names() {
    let auth = JwtAuthenticator::jwks_json(JWKS).unwrap();
    let c = claims();
    let rs = signed(Algorithm::RS256, RSA_A, Some("rsa-a"), &c);
    let es = signed(Algorithm::ES256, EC_A, Some("ec-a"), &c);
    assert_eq!(outcome(&auth, &rs), Ok(Some(7)));
    assert_eq!(outcome(&auth, &es), Ok(Some(7)));
    // The set has one key per algorithm, so a token without kid finds it.
    assert_eq!(
        outcome(&auth, &signed(Algorithm::RS256, RSA_A, None, &c)),
        Ok(Some(7))
    );
    // Signed by a key the set does not have, under a kid it has or one it does not.
    let forged = signed(Algorithm::RS256, RSA_B, Some("rsa-a"), &c);
    assert_eq!(outcome(&auth, &forged), Err("rejected"), "forged");
    let unknown = signed(Algorithm::RS256, RSA_B, Some("rsa-b"), &c);
    assert_eq!(outcome(&auth, &unknown), Err("rejected"), "unknown kid");
    let es_forged = signed(Algorithm::ES256, EC_B, Some("ec-a"), &c);
    assert_eq!(outcome(&auth, &es_forged), Err("rejected"), "forged ES256");
    // The kid of an RSA key on an ES256 token: the key is pinned to its algorithm.
    let crossed = signed(Algorithm::ES256, EC_A, Some("rsa-a"), &c);
    assert_eq!(
        outcome(&auth, &crossed),
        Err("rejected"),
        "alg of another key"
    );
}

#[test]
fn an_hs256_token_signed_with_a_public_key_is_rejected() {
    // The classic confusion: the attacker signs with the RSA public key as an HMAC secret.
    let jwks: Value = serde_json::from_str(JWKS).unwrap();
    let auth = JwtAuthenticator::jwks_json(JWKS).unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap();
    for secret in [n.as_bytes(), JWKS.as_bytes()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-a".into());
        let token = encode(&header, &claims(), &EncodingKey::from_secret(secret)).unwrap();
        assert_eq!(outcome(&auth, &token), Err("rejected"));
        header.kid = None;
        let token = encode(&header, &claims(), &EncodingKey::from_secret(secret)).unwrap();
        assert_eq!(outcome(&auth, &token), Err("rejected"));
    }
}

#[test]
fn a_token_without_kid_is_refused_when_the_set_has_several_keys_of_its_alg() {
    let mut jwks: Value = serde_json::from_str(JWKS).unwrap();
    let rotated: Value = serde_json::from_str(JWKS_ROTATED).unwrap();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .push(rotated["keys"][0].clone());
    let auth = JwtAuthenticator::jwks_json(&jwks.to_string()).unwrap();
    let c = claims();
    assert_eq!(
        outcome(&auth, &signed(Algorithm::RS256, RSA_A, None, &c)),
        Err("rejected")
    );
    assert_eq!(
        outcome(&auth, &signed(Algorithm::RS256, RSA_B, Some("rsa-b"), &c)),
        Ok(Some(7))
    );
}

#[test]
fn unusable_keys_are_skipped_and_a_set_without_any_is_an_error() {
    let doc = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
        {"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "whatever"},
    ]});
    assert!(matches!(
        JwtAuthenticator::jwks_json(&doc.to_string()),
        Err(JwksError::NoKeys)
    ));
    assert!(matches!(
        JwtAuthenticator::jwks_json("[]"),
        Err(JwksError::Invalid(_))
    ));
    let mut jwks: Value = serde_json::from_str(JWKS).unwrap();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .push(doc["keys"][0].clone());
    let auth = JwtAuthenticator::jwks_json(&jwks.to_string()).unwrap();
    // The `oct` key is not used as an HS256 secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("sym".into());
    let token = encode(&header, &claims(), &EncodingKey::from_secret(b"secret")).unwrap();
    assert_eq!(outcome(&auth, &token), Err("rejected"));
}

#[test]
fn a_jwks_file_is_read_at_once() {
    let dir = std::env::temp_dir().join(format!("chanbind-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, JWKS).unwrap();
    let auth = JwtAuthenticator::jwks_file(&path).unwrap();
    let token = signed(Algorithm::ES256, EC_A, Some("ec-a"), &claims());
    assert_eq!(outcome(&auth, &token), Ok(Some(7)));
    assert!(matches!(
        JwtAuthenticator::jwks_file(dir.join("missing.json")),
        Err(JwksError::Read { .. })
    ));
    std::fs::write(&path, "not json").unwrap();
    assert!(matches!(
        JwtAuthenticator::jwks_file(&path),
        Err(JwksError::Invalid(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_rewritten_jwks_file_is_read_again_on_the_interval() {
    let dir = std::env::temp_dir().join(format!("chanbind-jwks-rot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, JWKS).unwrap();
    let auth = JwtAuthenticator::jwks_file(&path)
        .unwrap()
        .refresh_every(Duration::from_millis(100))
        .min_refetch(Duration::from_millis(50));
    let old = signed(Algorithm::RS256, RSA_A, Some("rsa-a"), &claims());
    let new = signed(Algorithm::RS256, RSA_B, Some("rsa-b"), &claims());
    assert_eq!(outcome(&auth, &old), Ok(Some(7)));
    assert_eq!(outcome(&auth, &new), Err("rejected"));
    std::fs::write(&path, JWKS_ROTATED).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    // The first request after the interval reads the file again.
    let _ = outcome(&auth, &old);
    assert_eq!(outcome(&auth, &old), Err("rejected"), "rotated out");
    assert_eq!(outcome(&auth, &new), Ok(Some(7)), "rotated in");
    // A broken file keeps the keys read last.
    std::fs::write(&path, "{").unwrap();
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(outcome(&auth, &new), Ok(Some(7)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A JWKS endpoint on 127.0.0.1: answers every GET with the current document (or a 500 when
/// it is `None`) and counts the requests.
struct JwksServer {
    url: String,
    document: Arc<Mutex<Option<String>>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(document: Option<&str>) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let document = Arc::new(Mutex::new(document.map(str::to_owned)));
        let hits = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (Arc::clone(&document), Arc::clone(&hits));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (doc, count) = (Arc::clone(&doc), Arc::clone(&count));
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = doc.lock().unwrap().clone();
                    let response = match body {
                        Some(body) => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        None => "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                    };
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        JwksServer {
            url,
            document,
            hits,
        }
    }

    fn serve(&self, document: Option<&str>) {
        *self.document.lock().unwrap() = document.map(str::to_owned);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn check(auth: &JwtAuthenticator, token: &str) -> Result<Option<i64>, &'static str> {
    auth.authenticate(&bearer(token))
        .await
        .map(|u| u.map(|u| u.id))
        .map_err(|e| match e {
            AuthError::Rejected => "rejected",
            AuthError::Unavailable(_) => "unavailable",
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_url_is_fetched_once_and_a_rotated_key_is_picked_up_on_refresh() {
    let server = JwksServer::start(Some(JWKS)).await;
    let auth = JwtAuthenticator::jwks_url(&server.url)
        .unwrap()
        .refresh_every(Duration::from_millis(300))
        .min_refetch(Duration::from_millis(100));
    let c = claims();
    let old = signed(Algorithm::RS256, RSA_A, Some("rsa-a"), &c);
    let new = signed(Algorithm::RS256, RSA_B, Some("rsa-b"), &c);
    let es = signed(Algorithm::ES256, EC_A, Some("ec-a"), &c);
    assert_eq!(check(&auth, &old).await, Ok(Some(7)));
    assert_eq!(check(&auth, &es).await, Ok(Some(7)));
    assert_eq!(check(&auth, &old).await, Ok(Some(7)));
    assert_eq!(server.hits(), 1, "the keys are cached");

    server.serve(Some(JWKS_ROTATED));
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The first request after the interval refreshes; `rsa-a` is gone, `rsa-b` is there.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while check(&auth, &old).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated set never replaced the old one"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(check(&auth, &old).await, Err("rejected"));
    assert_eq!(check(&auth, &new).await, Ok(Some(7)));
    assert_eq!(check(&auth, &es).await, Ok(Some(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kid_triggers_a_fetch_but_random_kids_do_not_flood_the_endpoint() {
    let server = JwksServer::start(Some(JWKS)).await;
    let auth = JwtAuthenticator::jwks_url(&server.url)
        .unwrap()
        .min_refetch(Duration::from_secs(3600));
    let c = claims();
    assert_eq!(
        check(&auth, &signed(Algorithm::RS256, RSA_A, Some("rsa-a"), &c)).await,
        Ok(Some(7))
    );
    assert_eq!(server.hits(), 1);
    // A hostile client: a hundred made-up kids, some at once (the kid is looked up before
    // the signature is checked, so these need no real one).
    let mut tasks = Vec::new();
    for i in 0..100 {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": format!("kid-{i}")});
        let (auth, token) = (auth.clone(), format!("{}.{}.AAAA", b64(&header), b64(&c)));
        tasks.push(tokio::spawn(async move { check(&auth, &token).await }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), Err("rejected"));
    }
    assert_eq!(server.hits(), 1, "made-up kids fetched the document again");

    // With a short interval, a kid that the provider just published is found by one fetch.
    let server = JwksServer::start(Some(JWKS)).await;
    let auth = JwtAuthenticator::jwks_url(&server.url)
        .unwrap()
        .min_refetch(Duration::from_millis(200));
    let old = signed(Algorithm::RS256, RSA_A, Some("rsa-a"), &c);
    assert_eq!(check(&auth, &old).await, Ok(Some(7)));
    server.serve(Some(JWKS_ROTATED));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let new = signed(Algorithm::RS256, RSA_B, Some("rsa-b"), &c);
    assert_eq!(check(&auth, &new).await, Ok(Some(7)));
    assert_eq!(server.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_jwks_without_cached_keys_is_unavailable_and_cached_keys_survive() {
    let server = JwksServer::start(None).await;
    let auth = JwtAuthenticator::jwks_url(&server.url)
        .unwrap()
        .refresh_every(Duration::from_millis(100))
        .min_refetch(Duration::from_millis(50));
    let token = signed(Algorithm::RS256, RSA_A, Some("rsa-a"), &claims());
    assert_eq!(check(&auth, &token).await, Err("unavailable"), "HTTP 500");
    assert!(auth.preload().await.is_err());
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.serve(Some(JWKS));
    assert_eq!(check(&auth, &token).await, Ok(Some(7)));
    // The endpoint fails again: the keys it gave last keep working.
    server.serve(None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(check(&auth, &token).await, Ok(Some(7)));
    assert_eq!(check(&auth, &token).await, Ok(Some(7)));

    // A document over the size limit is a failed fetch; nothing listening is one too.
    let big = JwksServer::start(Some(JWKS)).await;
    let auth = JwtAuthenticator::jwks_url(&big.url)
        .unwrap()
        .max_document(100);
    assert!(matches!(
        auth.preload().await,
        Err(JwksError::TooLarge(100))
    ));
    assert_eq!(check(&auth, &token).await, Err("unavailable"));
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let auth = JwtAuthenticator::jwks_url(&url).unwrap();
    assert_eq!(check(&auth, &token).await, Err("unavailable"));
}

#[test]
fn a_jwks_url_is_fetched_from_a_plain_block_on_too() {
    // The blocking adapter polls authenticators with `block_on`, with or without a runtime.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(JwksServer::start(Some(JWKS)));
    let auth = JwtAuthenticator::jwks_url(&server.url).unwrap();
    let token = signed(Algorithm::ES256, EC_A, Some("ec-a"), &claims());
    assert_eq!(outcome(&auth, &token), Ok(Some(7)));
    let _context = rt.enter();
    let auth = JwtAuthenticator::jwks_url(&server.url).unwrap();
    assert_eq!(outcome(&auth, &token), Ok(Some(7)));
}

#[test]
fn urls_that_cannot_be_fetched_are_refused_when_built() {
    for url in ["ftp://x/jwks", "not a url", "/jwks.json"] {
        assert!(
            matches!(JwtAuthenticator::jwks_url(url), Err(JwksError::BadUrl(_))),
            "{url}"
        );
    }
    assert_eq!(
        JwtAuthenticator::jwks_url("https://idp.test/jwks").is_ok(),
        cfg!(feature = "jwt-https")
    );
}

//! The conformance suite: scenarios kept as data files (`tests/scenarios/*.json`), each played
//! over real WebSocket connections and HTTP requests on `127.0.0.1` against every target
//! (adapter × store).
//!
//! ```text
//! cargo test -p chanbind-examples --test conformance
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p chanbind-examples --test conformance
//! cargo test -p chanbind-examples --test conformance -- memory::retrieve   # a filter
//! cargo test -p chanbind-examples --test conformance -- --list
//! ```
//!
//! There is one trial per scenario file and target, named `<target>::<file stem>`
//! (`memory::retrieve_push_on_update`, `postgres::retrieve_push_on_update`), plus the matcher's
//! own tests as `runner::<name>`. Each trial starts its own server on `127.0.0.1:0` over a
//! fresh store seeded with the demo data (`chanbind_examples::demo`): in memory, or in a
//! PostgreSQL schema `conf_<random>` of its own that is dropped afterwards. Without
//! `DATABASE_URL` the PostgreSQL trials are reported as ignored, except under `CI=true`, where
//! they fail.
//!
//! # Scenario format
//!
//! A scenario is `{"description": "...", "steps": [...]}`, optionally with
//!
//! - `"auth": {"tokens": {"alice": "alice-secret", ...}, "anonymous": true}`: the server is the
//!   demo as `--token` runs it (`Policy::Enforced`, `demo::ensure_users` for the tokens, the
//!   token authenticator, anonymous connections allowed or refused with HTTP 401). Users
//!   missing from the seed are created in name order from id 102 (`alice` 102, `bob` 103);
//!   `admin` is the seed's id 1. Without `"auth"` the server is the open playground;
//! - `"limits": {"max_subscriptions": 3}`: engine limits other than the defaults (any field
//!   of `Limits`); `hello` must announce them.
//!
//! Each step but an HTTP one names a connection with `"conn"`; a connection opens on its first
//! step, and the runner checks its `hello` frame itself. The step that opens a connection may carry
//! `"token"` (a string, or `{"repeat": "x", "times": 10240}`) with `"via"`: `"header"`
//! (`Authorization: Bearer`, the default), `"query"` (`?token=`), `"cookie"` (`token=`) or
//! `"authorization"` (the whole header value, for malformed ones); and `"hello"`, a pattern for
//! the hello frame's `data.user`. Without `"hello"` the runner expects `{"id": integer,
//! "name": ...}` for a token of the `"auth"` table (header, query or cookie) and `null`
//! otherwise. A step may carry a `"note"` shown when it fails, and has exactly one of:
//!
//! | step | does |
//! |---|---|
//! | `"send": {...}` | sends the object as a text frame, after substituting captures |
//! | `"send_raw": "text"` | sends the text as a text frame, as is |
//! | `"send_binary": "text"` | sends the text's bytes as a binary frame |
//! | `"send_large": N` | sends a text frame of exactly N bytes: `"frame": {...}` if given, else `{"pad":"xx..."}`, padded with spaces |
//! | `"expect": pattern` | the next frame on that connection must match (waits 5 s at most) |
//! | `"expect_unordered": [patterns]` | the next N frames must match the N patterns in some order |
//! | `"expect_close": 1009` | the next frame must be a close frame with that code |
//! | `"expect_silence_ms": 300` | no frame may arrive within that time (pings are answered and skipped) |
//! | `"stall_ms": 500` | reads nothing for that long, so the server's pings go unanswered |
//! | `"close": true` | closes the connection; its name cannot be used again |
//! | `"expect_refused": 401` | opening the (new) connection, with the step's `"token"` if any, must be refused with that HTTP status and no WebSocket; the name cannot be used again |
//! | `"http": {...}` | an HTTP request of its own, with `"expect": {"status", "headers", "body"}` (below) |
//!
//! An HTTP step has no `"conn"`: it is one HTTP/1.1 request on a TCP connection of its own to
//! the server's port (both adapters serve HTTP there), sent with `Connection: close` and a
//! `Content-Length` body, and its `"expect"` is an object instead of a pattern:
//!
//! ```json
//! {"http": {"method": "PATCH", "path": "/api/todo.Task/${id}?x=1", "token": "bob-secret",
//!           "via": "header", "headers": {"X-Any": "v"}, "body": {"done": true}},
//!  "expect": {"status": 200, "headers": {"location": "$absent"}, "body": {"success": true}}}
//! ```
//!
//! - `method` and `path` are required; the path (with its query string) is sent as written,
//!   so percent-encode it yourself (`/api/todo.Task/1%00`, `?query=secret%20plan`);
//! - `token` and `via` work as on a handshake (`"query"` appends `token=` to the query string);
//! - `headers` adds headers (a value `null` drops one the runner would send, such as
//!   `Content-Type`); `body` sends JSON, `raw` sends text as is, both with
//!   `Content-Type: application/json` unless `headers` says otherwise;
//! - `expect.status` is required; `expect.headers` maps lower-case header names to patterns
//!   (`"$absent"` for a missing one; repeated headers are joined with `", "`); `expect.body`
//!   is a pattern for the body parsed as JSON, which must then come with
//!   `Content-Type: application/json` (`"$absent"` for an empty body; unchecked when omitted);
//! - captures and `${name}` substitution work in `path`, `token`, `headers`, `body`, `raw` and
//!   the expectations, so a scenario can create over HTTP and read over the WebSocket and back.
//!
//! Patterns:
//!
//! - an object matches an object that has every key of the pattern, each value matching; other
//!   keys are allowed. `{"$exact": {...}}` also refuses other keys (at that level), and a value
//!   `"$absent"` requires that the key is missing;
//! - an array matches an array of the same length, item by item; `{"$length": N}` matches any
//!   array of N items;
//! - `"$any"` matches any value that is present (null included); `"$string"`, `"$number"`,
//!   `"$integer"`, `"$boolean"` match by type; `"$datetime"` matches an RFC 3339 string;
//! - `"$capture:name"` matches anything and remembers it; in later steps `"${name}"` as a whole
//!   string is replaced by the value (keeping its JSON type), and `${name}` inside a longer
//!   string by its text;
//! - any other string starting with `$` is an error, so write `"$$5"` for the literal `"$5"`;
//! - anything else must be equal (numbers by value).
//!
//! The same rules are in `tests/scenarios/README.md`, for people writing scenarios.

#[path = "conformance/client.rs"]
mod client;
#[path = "conformance/http.rs"]
mod http;
#[path = "conformance/pattern.rs"]
mod pattern;
#[path = "conformance/scenario.rs"]
mod scenario;
#[path = "conformance/target.rs"]
mod target;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::client::Player;
use crate::scenario::Scenario;
use crate::target::{Availability, Target};

/// The most one trial may take, server start and teardown included.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(90);

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = pattern::selftest::all()
        .into_iter()
        .chain(scenario::selftest::all())
        .chain(http::selftest::all())
        .map(|(name, test)| {
            Trial::test(format!("runner::{name}"), move || {
                test();
                Ok(())
            })
        })
        .collect();
    let files = match scenario_files() {
        Ok(files) => files,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for target in Target::ALL {
        let availability = target.availability();
        for (stem, path) in &files {
            let name = format!("{}::{stem}", target.name());
            let path = path.clone();
            let trial = match &availability {
                Availability::Ready => Trial::test(name, move || run_trial(target, &path)),
                Availability::Ignored(why) => {
                    let why = why.clone();
                    Trial::test(name, move || Err(Failed::from(why))).with_ignored_flag(true)
                }
                Availability::Broken(why) => {
                    let why = why.clone();
                    Trial::test(name, move || Err(Failed::from(why)))
                }
            };
            trials.push(trial);
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// Every `*.json` under `tests/scenarios`, by file stem, sorted.
fn scenario_files() -> Result<Vec<(String, PathBuf)>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "json") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                files.push((stem.to_owned(), path.clone()));
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("no scenarios in {}", dir.display()));
    }
    Ok(files)
}

/// Plays one scenario file against a fresh server of `target`, on a runtime of its own.
fn run_trial(target: Target, path: &Path) -> Result<(), Failed> {
    let scenario = Scenario::load(path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
    let result = runtime.block_on(async {
        let server = target
            .start(scenario.auth.as_ref(), &scenario.limits)
            .await?;
        let mut player = Player::new(
            server.addr(),
            scenario.limits.clone(),
            scenario.auth.clone(),
        );
        let played = tokio::time::timeout(TRIAL_TIMEOUT, player.play(&scenario)).await;
        player.finish().await;
        server.stop().await;
        match played {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the scenario took longer than {} s",
                TRIAL_TIMEOUT.as_secs()
            )),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    result.map_err(Failed::from)
}

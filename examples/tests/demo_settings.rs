//! The demo's settings as an operator gives them: a config file (`--config`, or
//! `CHANBIND_CONFIG`) sets what flags and environment variables leave, an environment variable
//! beats the file and a flag beats both; a file with an unknown key, a database that does not
//! exist or cannot be reached, a login PostgreSQL refuses and an address in use each end the
//! process with one line and a documented status; `--help` and the README's table list every
//! setting.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/chanbind_test cargo test -p chanbind-examples --test demo_settings
//! ```
//!
//! The tests that need PostgreSQL pass with a notice without `DATABASE_URL`, except under
//! `CI=true`, where they fail.

#[path = "cluster/node.rs"]
mod node;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use node::{demo_command, DemoNode};
use serde_json::Value;

/// The `hello` of a fresh WebSocket to `node`.
async fn hello(node: &DemoNode) -> Value {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", node.addr))
        .await
        .expect("a WebSocket");
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("hello in time")
        .expect("a frame")
        .expect("a readable frame");
    let hello: Value = serde_json::from_str(msg.to_text().expect("text")).expect("JSON");
    assert_eq!(hello["event"], "hello", "{hello}");
    hello
}

/// A config file with `text`, removed when dropped.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(text: &str) -> ConfigFile {
        let path = std::env::temp_dir().join(format!("demo-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).expect("the config file is written");
        ConfigFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A port nothing listens on (it was free a moment ago).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// How a demo that did not start ended: its status and what it printed on stderr.
#[derive(Debug)]
struct Exit {
    code: Option<i32>,
    stderr: String,
    stdout: String,
}

impl Exit {
    /// The one line on stderr, which must start with `error: `.
    fn error_line(&self) -> &str {
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        lines[0]
    }
}

/// Runs the demo with `args` and `env` until it exits (60 s at most, then it is killed).
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> Exit {
    let mut child = demo_command(env)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the demo's status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the demo did not exit within 60 s: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .ok();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .ok();
    Exit {
        code: status.code(),
        stderr,
        stdout,
    }
}

/// The shared server's URL, or `None` (outside CI) to skip.
fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        Err(_) => {
            eprintln!("{test}: DATABASE_URL is not set; skipping");
            None
        }
    }
}

/// `url` on the same server with another database, user and password (`postgres://` URLs).
fn with_login(url: &str, user: Option<&str>, password: &str, database: &str) -> String {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .expect("a postgres:// DATABASE_URL");
    let (creds, host) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let host = host.split(['/', '?']).next().unwrap_or(host);
    let user = user.unwrap_or_else(|| creds.split(':').next().unwrap_or("postgres"));
    format!("postgres://{user}:{password}@{host}/{database}")
}

#[tokio::test]
async fn the_config_file_sets_the_listen_address_and_limits() {
    let port = free_port();
    let file = ConfigFile::new(&format!(
        "listen = \"127.0.0.1:{port}\"\nmax_connections = 42\nrate_limit = 7\n"
    ));
    let node = DemoNode::spawn_configured(&["--config", file.path()], &[]);
    assert_eq!(node.addr.port(), port, "the file's listen address");
    let hello = hello(&node).await;
    let limits = &hello["data"]["limits"];
    assert_eq!(limits["max_connections"], 42, "{hello}");
    assert_eq!(limits["requests_per_second"], 7, "{hello}");
}

#[tokio::test]
async fn the_environment_beats_the_file_and_a_flag_beats_the_environment() {
    let file = ConfigFile::new(
        "listen = \"127.0.0.1:0\"\nmax_connections = 10\nmax_connections_per_user = 3\n",
    );
    // The file named by CHANBIND_CONFIG, a limit by CHANBIND_MAX_CONNECTIONS.
    let env = [
        ("CHANBIND_CONFIG", file.path()),
        ("CHANBIND_MAX_CONNECTIONS", "20"),
    ];
    let node = DemoNode::spawn_configured(&[], &env);
    let limits = hello(&node).await["data"]["limits"].clone();
    assert_eq!(
        limits["max_connections"], 20,
        "the environment beats the file"
    );
    assert_eq!(
        limits["max_connections_per_user"], 3,
        "the file beats the default"
    );
    drop(node);

    let node = DemoNode::spawn_configured(&["--max-connections", "30"], &env);
    let limits = hello(&node).await["data"]["limits"].clone();
    assert_eq!(
        limits["max_connections"], 30,
        "the flag beats the environment"
    );
    assert_eq!(limits["max_connections_per_user"], 3);
}

#[tokio::test]
async fn the_example_demo_toml_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.toml");
    let text = std::fs::read_to_string(&path).expect("examples/demo.toml");
    let file: toml::Table = text.parse().expect("examples/demo.toml is TOML");
    let path = path.to_str().unwrap();
    // Its own address would clash with a demo on the default port.
    let node = DemoNode::spawn_configured(&["--config", path, "--listen", "127.0.0.1:0"], &[]);
    let hello = hello(&node).await;
    let limits = &hello["data"]["limits"];
    let secs = file["idle_timeout"].as_integer().expect("idle_timeout");
    assert_eq!(limits["idle_timeout_ms"], secs * 1000, "{hello}");
    for (key, limit) in [
        ("max_connections", "max_connections"),
        ("max_connections_per_user", "max_connections_per_user"),
        ("rate_limit", "requests_per_second"),
    ] {
        let value = file[key].as_integer().expect("a number");
        assert_eq!(limits[limit], value, "{key} of examples/demo.toml: {hello}");
    }
}

#[test]
fn an_unknown_key_or_a_bad_value_in_the_file_names_the_key() {
    let file = ConfigFile::new("listen = \"127.0.0.1:0\"\nmax_conections = 5\n");
    let exit = run_to_exit(&["--config", file.path()], &[]);
    assert_eq!(exit.code, Some(2), "{exit:#?}");
    let line = exit.error_line();
    assert!(line.contains(file.path()), "{line}");
    assert!(line.contains("unknown key `max_conections`"), "{line}");
    assert!(line.contains("max_connections"), "the known keys: {line}");

    let file = ConfigFile::new("listen = \"nowhere\"\n");
    let exit = run_to_exit(&["--config", file.path()], &[]);
    assert_eq!(exit.code, Some(2), "{exit:#?}");
    let line = exit.error_line();
    assert!(line.contains("`listen`: invalid socket address"), "{line}");

    // clap checks `requires` between flags and variables only; the demo checks the file's.
    let file = ConfigFile::new("listen = \"127.0.0.1:0\"\ncapture = true\n");
    let exit = run_to_exit(&["--config", file.path()], &[]);
    assert_eq!(exit.code, Some(2), "{exit:#?}");
    assert_eq!(
        exit.error_line(),
        "error: capture and remove_capture need database_url"
    );

    let exit = run_to_exit(&["--config", "/nonexistent/demo.toml"], &[]);
    assert_eq!(exit.code, Some(2), "{exit:#?}");
    assert!(exit
        .error_line()
        .starts_with("error: cannot read the config file /nonexistent/demo.toml"));
}

#[test]
fn a_database_that_does_not_exist_is_one_line_without_the_password() {
    let Some(url) = database_url("a_database_that_does_not_exist") else {
        return;
    };
    let missing = format!("chanbind_missing_{}", uuid::Uuid::new_v4().simple());
    let url = with_login(&url, None, "hunter2", &missing);
    for adapter in ["async", "sync"] {
        let exit = run_to_exit(
            &[
                "--listen",
                "127.0.0.1:0",
                "--adapter",
                adapter,
                "--database-url",
                &url,
            ],
            &[],
        );
        assert_eq!(exit.code, Some(1), "{adapter}: {exit:#?}");
        let line = exit.error_line();
        assert!(
            line.contains(&format!("database \"{missing}\" does not exist")),
            "{adapter}: {line}"
        );
        assert!(line.contains("PostgreSQL at "), "{adapter}: {line}");
        assert!(
            !exit.stderr.contains("hunter2") && !exit.stdout.contains("hunter2"),
            "{adapter}: the password is printed: {exit:#?}"
        );
    }
}

#[test]
fn a_login_postgresql_refuses_is_one_line() {
    let Some(url) = database_url("a_login_postgresql_refuses") else {
        return;
    };
    let role = format!("chanbind_no_role_{}", uuid::Uuid::new_v4().simple());
    let url = with_login(&url, Some(&role), "hunter2", "postgres");
    for adapter in ["async", "sync"] {
        let exit = run_to_exit(
            &["--listen", "127.0.0.1:0", "--adapter", adapter],
            &[("DATABASE_URL", &url)],
        );
        assert_eq!(exit.code, Some(1), "{adapter}: {exit:#?}");
        let line = exit.error_line();
        // `role "..." does not exist` under trust, `password authentication failed for user
        // "..."` under password authentication: either way the server's words and the user.
        assert!(line.contains("refused the login: "), "{adapter}: {line}");
        assert!(line.contains(&role), "{adapter}: {line}");
        assert!(!exit.stderr.contains("hunter2"), "{adapter}: {line}");
    }
}

#[test]
fn an_unreachable_database_is_one_line() {
    let port = free_port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/chanbind");
    for adapter in ["async", "sync"] {
        let exit = run_to_exit(
            &[
                "--listen",
                "127.0.0.1:0",
                "--adapter",
                adapter,
                "--database-url",
                &url,
            ],
            &[],
        );
        assert_eq!(exit.code, Some(1), "{adapter}: {exit:#?}");
        assert_eq!(
            exit.error_line(),
            format!("error: cannot reach PostgreSQL at 127.0.0.1:{port}: connection refused"),
            "{adapter}"
        );
    }
    // A host that does not resolve (`.invalid` never does); the resolver's words vary.
    let url = "postgres://postgres:hunter2@chanbind-no-such-host.invalid:5432/chanbind";
    let exit = run_to_exit(&["--listen", "127.0.0.1:0", "--database-url", url], &[]);
    assert_eq!(exit.code, Some(1), "{exit:#?}");
    let line = exit.error_line();
    assert!(
        line.starts_with("error: cannot reach PostgreSQL at chanbind-no-such-host.invalid:5432: "),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn a_listen_address_in_use_is_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr: SocketAddr = taken.local_addr().unwrap();
    for adapter in ["async", "sync"] {
        let exit = run_to_exit(&["--listen", &addr.to_string(), "--adapter", adapter], &[]);
        assert_eq!(exit.code, Some(1), "{adapter}: {exit:#?}");
        assert_eq!(
            exit.error_line(),
            format!("error: cannot listen on {addr}: address already in use"),
            "{adapter}"
        );
    }
}

/// The long flags `--help` lists, each with the environment variable and file key it names.
fn help_settings() -> Vec<(String, Option<String>, Option<String>)> {
    let exit = run_to_exit(&["--help"], &[]);
    assert_eq!(exit.code, Some(0), "{exit:#?}");
    let mut settings: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for line in exit.stdout.lines().map(str::trim) {
        let flag = line
            .strip_prefix("-h, ")
            .or_else(|| line.strip_prefix("-V, "))
            .unwrap_or(line);
        if let Some(flag) = flag.strip_prefix("--") {
            let name = flag.split([' ', '<']).next().unwrap_or(flag);
            settings.push((format!("--{name}"), None, None));
        } else if let Some(env) = line.strip_prefix("[env: ") {
            let env = env.trim_end_matches(']').trim_end_matches('=');
            settings.last_mut().expect("a flag first").1 = Some(env.to_owned());
        } else if let Some(key) = line.strip_prefix("[file: ") {
            let key = key.trim_end_matches(']');
            settings.last_mut().expect("a flag first").2 = Some(key.to_owned());
        }
    }
    settings.retain(|(flag, _, _)| flag != "--help" && flag != "--version");
    settings
}

/// The rows of the README's table of demo settings: flag, environment variable, file key.
fn readme_settings() -> Vec<(String, String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let table = readme
        .split("| setting | flag | environment | file key | default |")
        .nth(1)
        .expect("the README's table of demo settings");
    let code = |cell: &str| cell.trim().trim_matches('`').to_owned();
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            let flag = code(cells[2]);
            let flag = flag.split(' ').next().unwrap_or(&flag).to_owned();
            (flag, code(cells[3]), code(cells[4]))
        })
        .collect()
}

#[test]
fn help_and_the_readme_list_every_setting() {
    let help = help_settings();
    let names: Vec<&str> = help.iter().map(|(f, _, _)| f.as_str()).collect();
    for flag in [
        "--config",
        "--listen",
        "--database-url",
        "--adapter",
        "--token",
        "--no-anonymous",
        "--capture",
        "--remove-capture",
        "--idle-timeout",
        "--max-connections",
        "--max-connections-per-user",
        "--rate-limit",
        "--allow-origin",
    ] {
        assert!(names.contains(&flag), "--help lists {flag}: {names:?}");
    }
    let readme = readme_settings();
    for (flag, env, key) in &help {
        let env = env
            .as_deref()
            .unwrap_or_else(|| panic!("{flag} has no [env: ...]"));
        let row = readme
            .iter()
            .find(|(f, _, _)| f == flag)
            .unwrap_or_else(|| panic!("the README's table of demo settings lacks {flag}"));
        assert_eq!(row.1, env, "the README's environment variable of {flag}");
        match key {
            Some(key) => assert_eq!(&row.2, key, "the README's file key of {flag}"),
            None => assert_eq!(flag, "--config", "{flag} has no [file: ...]"),
        }
    }
    for (flag, _, _) in &readme {
        assert!(
            names.contains(&flag.as_str()),
            "the README lists {flag}, which --help does not"
        );
    }
}

//! The demo's log output as an operator collects it, from a pipe: `--log-format json` writes
//! one JSON object per line, and the default text has no colour codes when standard output is
//! not a terminal.
//!
//! ```text
//! cargo test -p chanbind-examples --test demo_logs
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs the demo on the memory store with `args`, its output a pipe, until it logs that it
/// listens (60 s at most); every line it wrote to standard output by then.
fn demo_output(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("DATABASE_URL")
        // Colours must be off because the output is not a terminal, not because of this.
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("listening on")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("the demo's output");
                panic!(
                    "the demo did not log that it listens; stdout: {lines:#?}, stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn with_log_format_json_every_line_is_a_json_object() {
    let lines = demo_output(&["--log-format", "json"]);
    let objects: Vec<Value> = lines
        .iter()
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(value.is_object(), "not an object: {line}");
            value
        })
        .collect();
    let messages: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"store ready"),
        "no store ready: {messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("listening on http://")),
        "no listening line: {messages:?}"
    );
    let ready = objects
        .iter()
        .find(|o| o["fields"]["message"] == "store ready")
        .unwrap();
    assert_eq!(ready["level"], "INFO");
    assert_eq!(ready["fields"]["store"], "memory");
}

#[test]
fn the_text_log_has_no_colour_codes_when_not_a_terminal() {
    let lines = demo_output(&[]);
    assert!(
        lines.iter().any(|l| l.contains("store ready")),
        "{lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains("\x1b["), "a colour code in {line:?}");
        assert!(
            serde_json::from_str::<Value>(line).is_err(),
            "JSON by default: {line}"
        );
    }
}

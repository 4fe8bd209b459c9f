//! A demo server process (`target/.../demo`, or another example server such as
//! `serve-tables`), as a user starts one: its own process, its adapter, a database URL and
//! `--capture`. Its log is kept, and printed when a test fails,
//! since a node's view of a failure is in its log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A running demo process; killed when dropped.
pub struct DemoNode {
    /// `async` or `sync`.
    pub adapter: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl DemoNode {
    /// Starts `demo --adapter <adapter> --database-url <url> --capture` on a free port and
    /// waits until it listens.
    #[allow(dead_code)] // cluster.rs's nodes; tests/demo.rs runs on the memory store
    pub fn spawn(adapter: &'static str, url: &str) -> DemoNode {
        DemoNode::spawn_with(adapter, &["--database-url", url, "--capture"])
    }

    /// Starts `demo --adapter <adapter> <args>` on a free port, without `DATABASE_URL` from
    /// the environment unless `args` give one, and waits until it listens.
    pub fn spawn_with(adapter: &'static str, args: &[&str]) -> DemoNode {
        DemoNode::spawn_program(env!("CARGO_BIN_EXE_demo"), adapter, args)
    }

    /// Starts `<program> --adapter <adapter> <args>` (an example server that logs the
    /// demo's "listening on" line) on a free port, as [`spawn_with`](Self::spawn_with) does.
    pub fn spawn_program(program: &str, adapter: &'static str, args: &[&str]) -> DemoNode {
        let mut full = vec!["--adapter", adapter];
        full.extend_from_slice(args);
        DemoNode::start(program, adapter, &full)
    }

    /// Starts `<program> --listen 127.0.0.1:0 <args>`, a server without `--adapter` (one
    /// that embeds chanbind in an application of its own), as [`spawn_with`](Self::spawn_with)
    /// does.
    #[allow(dead_code)] // tests/embed_axum.rs's
    pub fn spawn_bare(program: &str, args: &[&str]) -> DemoNode {
        DemoNode::start(program, "async", args)
    }

    /// Starts the demo with exactly `args` and, besides `RUST_LOG` and `NO_COLOR`, only the
    /// environment variables `env` of those it reads (none of the test's `DATABASE_URL` or
    /// `CHANBIND_*`): the settings under test may come from a file.
    #[allow(dead_code)] // tests/demo_settings.rs's
    pub fn spawn_configured(args: &[&str], env: &[(&str, &str)]) -> DemoNode {
        let mut command = demo_command(env);
        command.args(args);
        DemoNode::watch(command, "async")
    }

    fn start(program: &str, adapter: &'static str, args: &[&str]) -> DemoNode {
        let mut command = Command::new(program);
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        DemoNode::watch(command, adapter)
    }

    fn watch(mut command: Command, adapter: &'static str) -> DemoNode {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, addr) = mpsc::channel();
        for output in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let (log, found) = (Arc::clone(&log), found.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = listening_address(&line) {
                        let _ = found.send(addr);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let mut node = DemoNode {
            adapter,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match addr.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => {
                    node.addr = addr;
                    return node;
                }
                // Give up at once when the process ended: its log says why.
                Err(_) if node.is_running() && Instant::now() < deadline => {}
                Err(_) => {
                    // Let the readers take the last lines.
                    std::thread::sleep(Duration::from_millis(200));
                    // Dropping the node prints its log.
                    panic!("the {adapter} server ended or did not listen");
                }
            }
        }
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends the process SIGTERM and waits for it to exit (10 s at most); its exit status.
    #[allow(dead_code)] // tests/demo.rs stops its nodes by signal; cluster.rs kills them
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("the demo's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for DemoNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- the {} demo's log ---\n{}", self.adapter, self.log());
        }
    }
}

/// The demo binary with none of the environment variables it reads but `env`, and the log
/// settings of [`DemoNode`].
#[allow(dead_code)] // tests/demo_settings.rs's
pub fn demo_command(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_demo"));
    command.env_remove("DATABASE_URL");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CHANBIND_") {
            command.env_remove(name);
        }
    }
    command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    command
}

/// The address in the demo's "listening on http://ADDR/ ..." line.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    rest[..rest.find('/')?].parse().ok()
}

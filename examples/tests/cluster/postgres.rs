//! A PostgreSQL server of the test's own: `initdb` into a temporary folder, started on a free
//! port of 127.0.0.1, so a test may stop and restart it without disturbing the shared server
//! every other test uses. Run as the `postgres` user when the tests run as root, since
//! PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running private server; dropping it stops it at once and removes its files.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Creates and starts a server. `None` when the PostgreSQL server programs are not
    /// installed, except under `CI=true`, where that fails the test.
    pub fn start() -> Option<PrivatePostgres> {
        let Some(bin) = server_bindir() else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "the PostgreSQL server programs (initdb, pg_ctl) must be installed under CI"
            );
            eprintln!("cluster: initdb not found; skipping");
            return None;
        };
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chanbind-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let server = PrivatePostgres {
            bin,
            port: free_port(),
            as_postgres: is_root(),
            dir,
        };
        if server.as_postgres {
            // initdb creates the folder as the postgres user; the parent must let it.
            std::fs::create_dir_all(&server.dir).expect("data folder");
            run(Command::new("chown").arg("postgres:").arg(&server.dir));
        }
        server.pg(
            "initdb",
            &[
                "-D",
                path(&server.dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        server.start_again();
        Some(server)
    }

    /// The URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way an operator's restart does: connections are cut, clients
    /// see errors until it is back.
    pub fn stop(&self) {
        self.pg(
            "pg_ctl",
            &["-D", path(&self.dir), "-m", "fast", "-w", "stop"],
        );
    }

    /// Starts the (stopped) server and waits until it takes connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            path(&self.dir)
        );
        let log = self.dir.join("server.log");
        self.pg(
            "pg_ctl",
            &[
                "-D",
                path(&self.dir),
                "-l",
                path(&log),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Runs one of the server's programs; panics with its output when it fails.
    fn pg(&self, program: &str, args: &[&str]) -> Output {
        run(&mut self.command(program, args))
    }

    /// One of the server's programs, as `postgres` when we are root.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(args).current_dir(std::env::temp_dir());
        command
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Never panics: this also runs while a failed test unwinds.
        let _ = self
            .command(
                "pg_ctl",
                &["-D", path(&self.dir), "-m", "immediate", "-w", "stop"],
            )
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where `initdb` and `pg_ctl` are: `pg_config --bindir` (Debian keeps them off the `PATH`),
/// else the `PATH`.
fn server_bindir() -> Option<PathBuf> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    from_config
        .into_iter()
        .chain(from_path)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary folder")
}

fn run(command: &mut Command) -> Output {
    let out = command.output().expect("the program runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

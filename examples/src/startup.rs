//! Why a server could not start, said in one line an operator can act on: PostgreSQL that
//! cannot be reached, a database that does not exist, credentials refused, an address
//! already in use. Never the database URL itself (it may hold a password).

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;

use tokio_postgres::error::SqlState;

/// The exit status of a server that could not start.
pub const EXIT_FAILURE: i32 = 1;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// PostgreSQL could not be reached, refused the connection or the database is missing.
    #[error("{0}")]
    Database(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why, in words (`address already in use`).
        reason: String,
    },
    /// Anything else, as its chain of causes on one line.
    #[error("{0}")]
    Other(String),
}

impl StartupError {
    /// A failure talking to the database at `url` (connecting, creating or checking tables).
    pub fn database(url: &str, e: &(dyn StdError + 'static)) -> StartupError {
        StartupError::Database(describe_database(&Target::of(url), e))
    }

    /// A failure serving on `addr`: the address's when the socket could not be opened.
    pub fn serving(addr: SocketAddr, e: &(dyn StdError + 'static)) -> StartupError {
        match find::<std::io::Error>(e) {
            Some(io) if is_bind_failure(io.kind()) => StartupError::Listen {
                addr,
                reason: io_reason(io),
            },
            _ => StartupError::other(e),
        }
    }

    /// Any other failure, with its causes.
    pub fn other(e: &(dyn StdError + 'static)) -> StartupError {
        StartupError::Other(chain(e))
    }
}

fn is_bind_failure(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(kind, AddrInUse | AddrNotAvailable | PermissionDenied)
}

/// Where the URL points, for the message: host and port, database and user.
#[derive(Debug)]
struct Target {
    at: String,
    database: Option<String>,
    user: Option<String>,
}

impl Target {
    fn of(url: &str) -> Target {
        let Ok(config) = url.parse::<tokio_postgres::Config>() else {
            return Target {
                at: "the configured address".to_owned(),
                database: None,
                user: None,
            };
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let at = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) if host.contains(':') => {
                format!("[{host}]:{port}")
            }
            Some(tokio_postgres::config::Host::Tcp(host)) => format!("{host}:{port}"),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(dir)) => {
                format!("{} (port {port})", dir.display())
            }
            None => format!("localhost:{port}"),
        };
        Target {
            at,
            database: config.get_dbname().map(str::to_owned),
            user: config.get_user().map(str::to_owned),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgreSQL at {}", self.at)
    }
}

fn describe_database(target: &Target, e: &(dyn StdError + 'static)) -> String {
    if let Some(db) = find::<tokio_postgres::error::DbError>(e) {
        let code = db.code();
        if *code == SqlState::INVALID_CATALOG_NAME {
            // The server's own words name the database: `database "x" does not exist`.
            return format!("{target}: {} (create it first)", db.message());
        }
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return format!("{target} refused the login: {}", db.message());
        }
        if *code == SqlState::CANNOT_CONNECT_NOW || *code == SqlState::TOO_MANY_CONNECTIONS {
            return format!("cannot connect to {target}: {}", db.message());
        }
        let database = target.database.as_deref().unwrap_or("?");
        return format!("{target}, database {database:?}: {}", db.message());
    }
    if let Some(io) = find::<std::io::Error>(e) {
        return format!("cannot reach {target}: {}", io_reason(io));
    }
    if let Some(pg) = find::<tokio_postgres::Error>(e) {
        let text = pg.to_string();
        if text.contains("password missing") {
            let user = target.user.as_deref().unwrap_or("?");
            return format!("{target} asks user {user:?} for a password, and the URL has none");
        }
        if text.contains("timeout") {
            return format!("cannot reach {target}: no answer in time");
        }
        return format!("{target}: {text}");
    }
    let text = chain(e);
    if text.to_lowercase().contains("timeout") {
        return format!("cannot reach {target}: no answer in time");
    }
    format!("{target}: {text}")
}

/// An I/O error in words, without the `(os error N)` tail.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".to_owned(),
        AddrInUse => "address already in use".to_owned(),
        AddrNotAvailable => "the address is not one of this machine's".to_owned(),
        PermissionDenied => "permission denied".to_owned(),
        TimedOut => "timed out".to_owned(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_owned(),
                None => text,
            }
        }
    }
}

/// The first error of type `T` in `e`'s chain of sources.
fn find<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The error and its causes on one line, each said once (a wrapper often repeats its
/// source's text).
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next {
        let text = e.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_never_carries_the_password() {
        let target = Target::of("postgres://app:hunter2@db.internal:6543/shop");
        assert_eq!(target.to_string(), "PostgreSQL at db.internal:6543");
        assert_eq!(target.database.as_deref(), Some("shop"));
        let target = Target::of("host=db user=app password=hunter2");
        assert_eq!(target.to_string(), "PostgreSQL at db:5432");
    }

    #[test]
    fn a_refused_connection_is_said_in_words() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = StartupError::database("postgres://u:p@127.0.0.1:1/x", &io);
        assert_eq!(
            e.to_string(),
            "cannot reach PostgreSQL at 127.0.0.1:1: connection refused"
        );
    }

    #[test]
    fn an_address_in_use_is_the_listen_error() {
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let addr: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let boxed: Box<dyn StdError> = Box::new(io);
        assert_eq!(
            StartupError::serving(addr, boxed.as_ref()).to_string(),
            "cannot listen on 127.0.0.1:8000: address already in use"
        );
    }
}

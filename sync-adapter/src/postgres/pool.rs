//! A small pool of blocking `postgres` connections, each with its own prepared statements.
//!
//! Permits are tokens in a bounded crossbeam channel: taking one bounds the connections in
//! use, and a connection is made only when no idle one is left, so an unreachable database
//! fails a request at once instead of after the whole wait.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chanbind_engine::sql::StatementCache;
use crossbeam_channel::{Receiver, Sender};
use postgres::{Client, NoTls, Statement};

use super::error::Failure;

/// One pooled connection and its statement cache.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: StatementCache<Statement>,
}

impl Conn {
    /// A connection that keeps at most `capacity` statements prepared.
    pub(crate) fn new(client: Client, capacity: usize) -> Self {
        Conn {
            client,
            statements: StatementCache::new(capacity),
        }
    }

    /// The statement prepared for `text` on this connection, prepared now if it is new.
    /// Prepared statements outlive transactions, so preparing inside one is fine.
    ///
    /// The statements the cache lets go are dropped here: dropping a statement's last handle
    /// queues its `Close`, which the connection sends with its next message, so the server
    /// frees it (the plan and all) without a `DEALLOCATE` round trip.
    pub(crate) fn prepared(
        statements: &mut StatementCache<Statement>,
        tx: &mut postgres::Transaction<'_>,
        text: &str,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = statements.get(text) {
            return Ok(statement);
        }
        let statement = tx.prepare(text)?;
        drop(statements.insert(text.to_owned(), statement.clone()));
        Ok(statement)
    }

    /// The client and the cache, borrowed apart so a transaction can use both.
    pub(crate) fn split(&mut self) -> (&mut Client, &mut StatementCache<Statement>) {
        (&mut self.client, &mut self.statements)
    }
}

/// The pool.
pub(crate) struct Pool {
    config: postgres::Config,
    /// How many statements each connection keeps prepared.
    statements: usize,
    idle: Mutex<Vec<Conn>>,
    permits: (Sender<()>, Receiver<()>),
    wait: Duration,
    /// The pool's size, and how many callers wait for a permit: its metrics.
    size: usize,
    waiting: AtomicUsize,
}

impl Pool {
    /// A pool of at most `size` connections (at least 1) that waits `wait` for one to free up;
    /// each connection keeps at most `statements` prepared statements.
    pub(crate) fn new(
        config: postgres::Config,
        size: usize,
        statements: usize,
        wait: Duration,
    ) -> Pool {
        let size = size.max(1);
        let permits = crossbeam_channel::bounded(size);
        for _ in 0..size {
            let _ = permits.0.send(());
        }
        Pool {
            config,
            statements,
            idle: Mutex::new(Vec::new()),
            permits,
            wait,
            size,
            waiting: AtomicUsize::new(0),
        }
    }

    /// The connections handed out and the callers waiting, now.
    pub(crate) fn status(&self) -> chanbind_engine::store::PoolStatus {
        chanbind_engine::store::PoolStatus {
            max_size: self.size,
            in_use: self.size.saturating_sub(self.permits.1.len()),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// A new connection outside the pool's count, for setting up.
    pub(crate) fn connect(&self) -> Result<Client, postgres::Error> {
        self.config.connect(NoTls)
    }

    /// Wraps a connection made by [`connect`](Self::connect) with its statement cache.
    pub(crate) fn conn(&self, client: Client) -> Conn {
        Conn::new(client, self.statements)
    }

    /// Hands a connection made elsewhere to the pool, to be reused.
    pub(crate) fn give(&self, conn: Conn) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }

    /// A connection: an idle one, or a new one when none is idle.
    pub(crate) fn get(&self) -> Result<Pooled<'_>, Failure> {
        self.get_within(self.wait)
    }

    /// The same, waiting at most `wait` for a connection to free up.
    pub(crate) fn get_within(&self, wait: Duration) -> Result<Pooled<'_>, Failure> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.1.recv_timeout(wait);
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        permit.map_err(|_| Failure::Pool(None))?;
        let permit = Permit(&self.permits.0);
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                // A connection the server closed while idle is dropped, not handed out.
                Some(conn) if conn.client.is_closed() => continue,
                Some(conn) => {
                    return Ok(Pooled {
                        pool: self,
                        conn: Some(conn),
                        reused: true,
                        _permit: permit,
                    })
                }
                None => break,
            }
        }
        let client = self.connect().map_err(|e| Failure::Pool(Some(e)))?;
        Ok(Pooled {
            pool: self,
            conn: Some(self.conn(client)),
            reused: false,
            _permit: permit,
        })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        // A `postgres::Client` blocks as it closes, which panics on a tokio worker, and the
        // store's last handle is often let go there: by a stream actor's state as the engine
        // stops. Off the runtime, the connections close here; on it, on a thread of their own.
        if !idle.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
            let closer = std::thread::Builder::new().name("chanbind-pg-close".into());
            if let Err(e) = closer.spawn(move || drop(idle)) {
                tracing::warn!(error = %e, "cannot start a thread to close PostgreSQL connections");
            }
        }
    }
}

/// Gives its permit back when dropped, whatever happened to the connection.
struct Permit<'a>(&'a Sender<()>);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

/// A connection out of the pool; it goes back when dropped, unless it broke.
pub(crate) struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    /// It was idle in the pool, so it may have died meanwhile (a server restart) unnoticed:
    /// a blocking client learns of it only when it next sends.
    pub(crate) reused: bool,
    // Declared last: dropped after the connection is back among the idle ones.
    _permit: Permit<'a>,
}

impl Deref for Pooled<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("present until drop")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Pooled<'_> {
    /// Closes the connection instead of giving it back: it is dead, whatever its client
    /// believes yet.
    pub(crate) fn discard(mut self) {
        self.conn = None;
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take().filter(|c| !c.client.is_closed()) {
            self.pool.give(conn);
        }
    }
}

impl Pooled<'_> {
    /// Takes the connection out for a transaction that outlives this borrow of the pool, its
    /// permit still taken: [`Pool::put_back`] ends the loan.
    pub(crate) fn lend(mut self) -> Conn {
        let conn = self.conn.take().expect("present until drop");
        // Neither the connection nor the permit goes back now.
        std::mem::forget(self);
        conn
    }
}

impl Pool {
    /// Ends a [`Pooled::lend`]: the connection, if still fit, goes back among the idle ones,
    /// and its permit is returned.
    pub(crate) fn put_back(&self, conn: Option<Conn>) {
        if let Some(conn) = conn.filter(|c| !c.client.is_closed()) {
            self.give(conn);
        }
        let _ = self.permits.0.try_send(());
    }
}

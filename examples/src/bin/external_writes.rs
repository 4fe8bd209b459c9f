//! Run it with `cargo run -p chanbind-examples --bin external_writes -- --database-url postgres://...`
//! (or set `DATABASE_URL`), then open `http://127.0.0.1:8000/` to watch the board.
//!
//! Writes made outside chanbind, pushed without capture triggers: this program serves the
//! demo's bindings on PostgreSQL (creating the tables when missing, installing no trigger)
//! and, every few seconds (`--every SECONDS`) or once (`--once`), writes `todo_task` rows
//! with its own plain tokio-postgres connection, as an application's own SQL (sqlx, diesel,
//! tokio-postgres) would: it inserts a row, marks the previous one done, and after each
//! commit tells the engine which row changed (`Engine::created`, `Engine::changed`). The
//! engine re-reads the row and pushes it to every WebSocket subscriber that sees it, on this
//! process and, through the PostgreSQL channel layer, on every other chanbind process on the
//! database (a `demo` on another port, say).

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::Engine;
use chanbind_examples::demo;
use chanbind_examples::serve::{redact, serve_until_stopped, Adapter, Pg};
use clap::Parser;

/// Serves the demo's bindings and writes tasks with plain SQL, telling the engine after each
/// commit.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// PostgreSQL URL (required: the writes are SQL).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The adapter that serves connections.
    #[arg(long, value_enum, default_value_t = Adapter::Async)]
    adapter: Adapter,
    /// The schema of the tables (created when missing); default: the connection's search
    /// path.
    #[arg(long)]
    schema: Option<String>,
    /// Seconds between two writes.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    every: f64,
    /// Write one row, then only serve.
    #[arg(long)]
    once: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    chanbind_examples::logging::init(Default::default());
    let args = Args::parse();
    let every = Duration::try_from_secs_f64(args.every)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or("--every takes a positive number of seconds")?;
    let registry = demo::registry()?;
    let pg = connect(args.adapter, &args.database_url, args.schema.clone()).await?;
    pg.migrate(&registry).await?;
    tracing::info!(location = %redact(&args.database_url), schema = ?args.schema, "store ready; no capture triggers installed");

    // With no authenticator, everyone is anonymous: an open playground, like the demo without
    // `--token`. The layer tells the other processes on the database which rows changed.
    let builder = pg.layer(Engine::builder(registry, pg.store()).allow_anonymous(true))?;
    let engine = builder.start().await?;
    // The listener hears the rows other processes report (no triggers send it anything).
    let listener = pg.listen(engine.clone())?;

    let sql = app_connection(&args.database_url, args.schema.as_deref()).await?;
    if triggers(&sql).await? > 0 {
        tracing::warn!("capture triggers are installed on todo_task (`demo --capture`): they push these writes too");
    }
    let writer = tokio::spawn(write_tasks(sql, engine.clone(), every, args.once));
    let served = serve_until_stopped(
        args.adapter,
        args.listen,
        engine,
        chanbind_examples::demo_page::ASSETS.to_vec(),
        listener,
        "task board",
    )
    .await;
    writer.abort();
    served
}

/// The chosen adapter's PostgreSQL store, in `schema` when given.
async fn connect(
    adapter: Adapter,
    url: &str,
    schema: Option<String>,
) -> Result<Pg, chanbind_async::postgres::PgError> {
    let config = chanbind_async::postgres::PgConfig {
        url: url.to_owned(),
        schema,
        pool_size: 8,
        ..Default::default()
    };
    Ok(match adapter {
        Adapter::Async => Pg::Async(Arc::new(
            chanbind_async::postgres::PgStore::connect(config).await?,
        )),
        Adapter::Sync => Pg::Sync(Arc::new(chanbind_sync::postgres::PgStore::connect(config)?)),
    })
}

/// The application's own connection: plain tokio-postgres, which chanbind knows nothing of.
async fn app_connection(
    url: &str,
    schema: Option<&str>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    if let Some(schema) = schema {
        config.options(format!("-c search_path={schema}"));
    }
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "the application's connection failed");
        }
    });
    Ok(client)
}

/// How many of chanbind's capture triggers are on `todo_task`.
async fn triggers(sql: &tokio_postgres::Client) -> Result<i64, tokio_postgres::Error> {
    let row = sql
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'todo_task'::regclass AND tgname = $1",
            &[&chanbind_engine::sql::capture::TRIGGER],
        )
        .await?;
    Ok(row.get(0))
}

/// Inserts a task and marks the previous one done, `every` apart (or once), telling the
/// engine after each commit. Failures are logged and the next round tries again.
async fn write_tasks(sql: tokio_postgres::Client, engine: Engine, every: Duration, once: bool) {
    let mut previous: Option<i64> = None;
    let mut ticks = tokio::time::interval(every);
    for n in 1u64.. {
        ticks.tick().await;
        match write_once(&sql, &engine, n, previous).await {
            Ok(id) => previous = Some(id),
            Err(e) => tracing::warn!(error = %e, "write failed"),
        }
        if once {
            return;
        }
    }
}

/// Why one round of writes failed.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("SQL: {0}")]
    Sql(#[from] tokio_postgres::Error),
    #[error("telling the engine: {0}")]
    Changed(#[from] chanbind_engine::ChangedError),
}

/// One round: the application's SQL, committed, then the engine told. Returns the new row's
/// id.
async fn write_once(
    sql: &tokio_postgres::Client,
    engine: &Engine,
    n: u64,
    previous: Option<i64>,
) -> Result<i64, WriteError> {
    let title = format!("written outside chanbind #{n}");
    let id: i64 = sql
        .query_one(
            "INSERT INTO todo_task (title) VALUES ($1) RETURNING id",
            &[&title],
        )
        .await?
        .get(0);
    // Committed (autocommit): now the engine may read it. `created` makes change feeds show
    // it as new; `changed` would show it as updated.
    let pushed = engine.created("todo_task", id).await?;
    tracing::info!(
        id,
        title,
        pushed_here = pushed,
        "inserted a task with plain SQL; engine.created told the subscribers"
    );
    if let Some(previous) = previous {
        let updated = sql
            .execute(
                "UPDATE todo_task SET done = true WHERE id = $1",
                &[&previous],
            )
            .await?;
        // A row deleted meanwhile (from the board, say) is pushed as a delete.
        let pushed = engine.changed("todo_task", previous).await?;
        tracing::info!(
            id = previous,
            updated,
            pushed_here = pushed,
            "marked the previous task done; engine.changed told the subscribers"
        );
    }
    Ok(id)
}

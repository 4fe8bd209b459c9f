//! Serves existing PostgreSQL tables, bound by introspection, without a line of Rust.
//!
//! ```text
//! cargo run --release -p chanbind-examples --bin serve-tables -- \
//!     --database-url postgres://user@host/db --listen 127.0.0.1:8000 [--adapter sync] [--capture] TABLE...
//! ```
//!
//! Each `TABLE` (`name` or `schema.name`, case kept) is bound as PostgreSQL describes it,
//! foreign keys among the named tables as relations; every text column is searched by
//! `query`. Every action is open to everyone, anonymous connections included: this is a
//! way to look at a database through chanbind, not a way to publish one. `--capture`
//! installs the triggers that push writes made by anything else (psql, other programs).

use std::error::Error;
use std::net::SocketAddr;

use chanbind_engine::binding::{KeySource, ModelBinding, Registry};
use chanbind_engine::relation::RelationKind;
use chanbind_engine::Engine;
use chanbind_examples::serve::{redact, serve_until_stopped, Adapter, Pg};
use clap::Parser;

/// Serves existing PostgreSQL tables, bound by introspection.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// The adapter that serves connections.
    #[arg(long, value_enum, default_value_t = Adapter::Async)]
    adapter: Adapter,
    /// Install the capture triggers on the tables, so writes made by anything else (psql,
    /// other programs) are pushed too. Idempotent.
    #[arg(long)]
    capture: bool,
    /// The tables to serve: `name` or `schema.name`, case kept (quote a part holding a dot:
    /// `"my.table"`).
    #[arg(required = true, value_name = "TABLE")]
    tables: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    chanbind_examples::logging::init(Default::default());
    let args = Args::parse();
    let pg = Pg::connect(args.adapter, &args.database_url).await?;
    let tables: Vec<&str> = args.tables.iter().map(String::as_str).collect();
    let mut registry = Registry::new();
    for binding in pg.introspect_all(&tables).await? {
        registry = registry.model(searched(binding))?;
    }
    pg.register(&registry);
    if args.capture {
        pg.install_capture(&registry).await?;
        tracing::info!(
            "capture triggers installed: writes from any client of the database are pushed"
        );
    }
    for binding in registry.models() {
        println!("{}", describe(binding, &registry));
    }
    tracing::info!(store = "postgres", location = %redact(&args.database_url), "store ready");
    tracing::warn!(
        "EVERY ACTION IS OPEN TO EVERYONE: no permission is set and anonymous connections are \
         allowed; every client may read and change every row of these tables"
    );
    let builder = Engine::builder(registry, pg.store()).allow_anonymous(true);
    let engine = pg.layer(builder)?.start().await?;
    let listener = pg.listen(engine.clone())?;
    serve_until_stopped(
        args.adapter,
        args.listen,
        engine,
        Vec::new(),
        listener,
        "no page",
    )
    .await
}

/// The binding with every text column searched by `query`.
fn searched(binding: ModelBinding) -> ModelBinding {
    let textual: Vec<String> = binding
        .fields()
        .iter()
        .filter(|f| f.kind().is_textual())
        .map(|f| f.name().to_owned())
        .collect();
    binding.search(textual)
}

/// `stream review (table review): key id (integer, given by the database); to one:
/// book = book_isbn -> book (on delete cascade); to many: none`
fn describe(binding: &ModelBinding, registry: &Registry) -> String {
    let source = match binding.key_source_kind() {
        KeySource::Database => "given by the database",
        KeySource::DatabaseOrClient => "given by the database unless the client gives it",
        KeySource::Client => "given by the client",
    };
    let mut line = format!(
        "stream {} (table {}): key {} ({}, {source})",
        binding.stream(),
        binding.qualified_table(),
        binding.key_field().column_name(),
        binding.key_kind().name(),
    );
    // Each relation under the name `expand`, `include` and filter paths take.
    let (mut to_one, mut to_many) = (Vec::new(), Vec::new());
    for relation in registry.relations(binding.stream()) {
        let target = relation.target.stream();
        match &relation.kind {
            RelationKind::ToOne { field } => {
                let rule = binding
                    .get(field)
                    .map_or("restrict", |f| f.delete_rule().sql())
                    .to_lowercase();
                to_one.push(format!(
                    "{} = {field} -> {target} (on delete {rule})",
                    relation.name
                ));
            }
            RelationKind::ToMany { field } => {
                to_many.push(format!("{} = {target}.{field}", relation.name));
            }
        }
    }
    line.push_str(&format!(
        "; to one: {}; to many: {}",
        list(&to_one),
        list(&to_many)
    ));
    line
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

//! A `tracing` layer that keeps every span it sees (name, fields, parent, follows-from
//! links) for a test to look at, installed once as the process's global subscriber: the
//! adapters' connections run on worker and connection threads, where a thread's own default
//! subscriber would see nothing.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One span as the layer saw it. `seq` is the layer's own number: the registry reuses the ids
/// of closed spans.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub seq: u64,
    pub name: &'static str,
    pub parent: Option<u64>,
    pub follows: Vec<u64>,
    pub fields: BTreeMap<String, String>,
    pub closed: bool,
}

impl SpanRecord {
    /// A field's value as text (strings without quotes), `None` when it was never recorded.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Spans {
    all: Mutex<Vec<SpanRecord>>,
}

static SPANS: OnceLock<Spans> = OnceLock::new();

/// The layer's number of a span, kept in the span's extensions.
struct Seq(u64);

struct Collect;

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> Layer<S> for Collect
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let seq = NEXT.fetch_add(1, Ordering::Relaxed);
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Seq>().map(|s| s.0));
        span.extensions_mut().insert(Seq(seq));
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        spans().all.lock().unwrap().push(SpanRecord {
            seq,
            name: attrs.metadata().name(),
            parent,
            follows: Vec::new(),
            fields,
            closed: false,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        with_record(id, &ctx, |record| {
            values.record(&mut Fields(&mut record.fields))
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(cause) = ctx
            .span(follows)
            .and_then(|s| s.extensions().get::<Seq>().map(|s| s.0))
        else {
            return;
        };
        with_record(id, &ctx, |record| record.follows.push(cause));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        with_record(&id, &ctx, |record| record.closed = true);
    }
}

fn with_record<S>(id: &Id, ctx: &Context<'_, S>, f: impl FnOnce(&mut SpanRecord))
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(seq) = ctx
        .span(id)
        .and_then(|s| s.extensions().get::<Seq>().map(|s| s.0))
    else {
        return;
    };
    let mut all = spans().all.lock().unwrap();
    if let Some(record) = all.iter_mut().rev().find(|r| r.seq == seq) {
        f(record);
    }
}

fn spans() -> &'static Spans {
    SPANS.get_or_init(Spans::default)
}

/// Installs the collecting subscriber (once per process; later calls do nothing).
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Collect);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
}

/// Every span seen so far.
pub fn all() -> Vec<SpanRecord> {
    spans().all.lock().unwrap().clone()
}

/// Waits (at most 10 s) until `find` picks something out of the spans seen, and returns it.
pub async fn wait_for<T>(what: &str, find: impl Fn(&[SpanRecord]) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = find(&all()) {
            return found;
        }
        if Instant::now() > deadline {
            panic!("no {what} within 10s; spans seen: {:#?}", all());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

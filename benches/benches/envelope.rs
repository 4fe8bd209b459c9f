//! Decoding and encoding envelopes, against plain `serde_json` on the same text as baseline.
//!
//! Run with `cargo bench -p chanbind-benches --bench envelope`.

use std::hint::black_box;

use chanbind_engine::protocol::{decode_inbound, encode_reply};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};

const SEARCH: &str = r#"{"event":"shop.Item.search#left-list","data":{"page":2,"limit":25,"filters":{"price__gte":10,"name__icontains":"lamp"},"order":["-price","id"]}}"#;

fn envelopes(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(SEARCH.len() as u64));
    g.bench_function("baseline serde_json::Value", |b| {
        b.iter(|| serde_json::from_str::<Value>(black_box(SEARCH)))
    });
    g.bench_function("decode_inbound", |b| {
        b.iter(|| decode_inbound(black_box(SEARCH)))
    });
    g.finish();

    let row = json!({"id": 5763, "username": "Admin", "email": "admin@admin.com", "is_active": true,
                     "date_joined": "2026-11-26T09:39:38.000000Z"});
    let page = json!({"page": 2, "limit": 25, "count": 102, "order": ["id"], "rows": vec![row.clone(); 25]});
    let mut g = c.benchmark_group("encode");
    g.bench_function("baseline serde_json::to_string row", |b| {
        b.iter(|| {
            serde_json::to_string(&json!({"event": "auth.User.retrieve", "data": black_box(&row)}))
        })
    });
    g.bench_function("encode_reply row", |b| {
        b.iter(|| encode_reply("auth.User.retrieve", black_box(&row)))
    });
    g.bench_function("encode_reply page of 25", |b| {
        b.iter(|| encode_reply("auth.User.search#h", black_box(&page)))
    });
    g.finish();
}

criterion_group!(benches, envelopes);
criterion_main!(benches);

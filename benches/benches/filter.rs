//! Evaluating a parsed filter against rows in memory, against a hand-written closure that
//! checks the same conditions as baseline.
//!
//! Run with `cargo bench -p chanbind-benches --bench filter`.

use std::hint::black_box;

use chanbind_engine::filter::parse_filter;
use chanbind_engine::value::Row;
use chanbind_examples::demo;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};

fn rows() -> Vec<Row> {
    (0..1000)
        .map(|i| {
            let row = json!({"id": i, "title": format!("Task number {i}"), "done": i % 2 == 0,
                             "priority": i % 6, "owner_id": if i % 3 == 0 { Value::Null } else { json!(i % 10) },
                             "created_at": "2026-11-26T09:39:38.000000Z"});
            row.as_object().cloned().unwrap_or_default()
        })
        .collect()
}

fn filters(c: &mut Criterion) {
    let registry = demo::registry().expect("demo bindings");
    let tasks = registry.get("todo.Task").expect("todo.Task");
    let spec = json!({"done": false, "priority__gte": 2, "title__icontains": "NUMBER 1", "owner_id__isnull": false});
    let filter =
        parse_filter(tasks, spec.as_object().expect("object"), None, 1000).expect("valid filter");
    let rows = rows();

    let mut g = c.benchmark_group("filter 1000 rows");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("baseline closure", |b| {
        b.iter(|| {
            black_box(&rows)
                .iter()
                .filter(|r| {
                    r["done"] == false
                        && r["priority"].as_i64().is_some_and(|p| p >= 2)
                        && r["title"]
                            .as_str()
                            .is_some_and(|t| t.to_ascii_lowercase().contains("number 1"))
                        && !r["owner_id"].is_null()
                })
                .count()
        })
    });
    g.bench_function("Filter::matches", |b| {
        b.iter(|| {
            black_box(&rows)
                .iter()
                .filter(|r| filter.matches(r))
                .count()
        })
    });
    g.finish();

    c.bench_function("parse_filter 4 lookups", |b| {
        b.iter(|| {
            parse_filter(
                tasks,
                black_box(spec.as_object().expect("object")),
                None,
                1000,
            )
        })
    });
}

criterion_group!(benches, filters);
criterion_main!(benches);

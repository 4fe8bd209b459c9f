//! Criterion benchmarks for chanbind live in `benches/`; run them with
//! `cargo bench -p chanbind-benches`. Each bench measures a baseline in the same run so its
//! figures can be quoted as ratios on a noisy machine.

use chanbind_engine::config::Limits;

/// The default limits with request rate limits off and room for every connection of one
/// address: a benchmark sends as fast as it can from one host, and must measure the work,
/// not the refusals a production default gives such a client.
pub fn bench_limits() -> Limits {
    Limits {
        requests_per_second: 0,
        user_requests_per_second: 0,
        max_connections_per_user: usize::MAX,
        max_connections: usize::MAX,
        ..Limits::default()
    }
}

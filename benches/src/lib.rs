//! Criterion benchmarks for chanbind live in `benches/`; run them with
//! `cargo bench -p chanbind-benches`. Each bench measures a baseline in the same run so its
//! figures can be quoted as ratios on a noisy machine.

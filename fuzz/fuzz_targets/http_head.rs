//! `cargo fuzz run http_head`: see `chanbind_fuzz::http_head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chanbind_fuzz::http_head(data));

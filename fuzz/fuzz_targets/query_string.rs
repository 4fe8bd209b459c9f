//! `cargo fuzz run query_string`: see `chanbind_fuzz::query_string`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chanbind_fuzz::query_string(data));

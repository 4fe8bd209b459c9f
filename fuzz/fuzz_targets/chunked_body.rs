//! `cargo fuzz run chunked_body`: see `chanbind_fuzz::chunked_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chanbind_fuzz::chunked_body(data));

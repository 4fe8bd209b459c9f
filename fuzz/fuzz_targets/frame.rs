//! `cargo fuzz run frame`: see `chanbind_fuzz::frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chanbind_fuzz::frame(data));

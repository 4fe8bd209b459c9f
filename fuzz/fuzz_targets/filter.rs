//! `cargo fuzz run filter`: see `chanbind_fuzz::filter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chanbind_fuzz::filter(data));

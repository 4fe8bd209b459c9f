//! `cargo fuzz run route_path`: see `chanbind_fuzz::route_path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chanbind_fuzz::route_path(data));

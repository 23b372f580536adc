//! Fuzz target: bytes opened as a zip container directly (no magic needed), then classified;
//! no panic and the decomposition limits hold (see `quarantd_fuzz::check_container`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quarantd_fuzz::check_container("zip", data));

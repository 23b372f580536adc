//! Fuzz target: clamd's replies to INSTREAM and VERSION (see `quarantd_fuzz::check_clamd_reply`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quarantd_fuzz::check_clamd_reply(data));

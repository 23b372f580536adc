//! Fuzz target: the attributes of an `XFORWARD` line; accepted names only, passed on in bounded
//! commands that read back the same (see `quarantd_fuzz::check_xforward`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quarantd_fuzz::check_xforward(data));

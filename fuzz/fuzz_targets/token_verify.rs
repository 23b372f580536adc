//! Fuzz target: release tokens, verified as given and issued from claims made of the input
//! (see `quarantd_fuzz::check_token`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quarantd_fuzz::check_token(data));

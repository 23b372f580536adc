//! Fuzz target: each line as an inbound SMTP command; errors are one-line 5xx replies and
//! MAIL/RCPT/XFORWARD go downstream as lines that read back the same
//! (see `quarantd_fuzz::check_smtp_commands`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quarantd_fuzz::check_smtp_commands(data));

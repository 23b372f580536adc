//! Fuzz target: `decompose` (as a message) and `decompose_file` (as a bare attachment), then
//! `classify` on both trees, must never panic and must stay within their limits on any input;
//! removing quarantd's own header fields on the way out keeps the body and is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quarantd_mime::{decompose, decompose_file, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_total_unpacked: 16 * 1024 * 1024,
        ..Limits::default()
    };
    let message = decompose(data, &limits);
    assert!(!message.parts.is_empty());
    let file = decompose_file(data, Some("fuzz.bin"), &limits);
    let unpacked: u64 = file.parts.iter().skip(1).map(|p| p.part.size).sum();
    assert!(unpacked <= limits.max_total_unpacked * 2);
    let classified = quarantd_classify::classify(message);
    assert!(!classified.parts.is_empty());
    let classified = quarantd_classify::classify(file);
    assert!(!classified.parts.is_empty());
    if let Some(out) = quarantd_core::headers::strip_own_headers(data) {
        let body = &data[quarantd_core::headers::header_block_end(data)..];
        assert!(out.len() < data.len() && out.ends_with(body));
        assert!(quarantd_core::headers::strip_own_headers(&out).is_none());
    }
});

//! The raw message as stored: deflate-compressed (raw deflate, level 6), cut into chunks that
//! fit MariaDB's `max_allowed_packet`, kept in the database beside the metadata. Reading
//! inflates through the one capped decompressor (`quarantd-cap`), capped at the stored size.

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::Compression;
use quarantd_cap::Cap;

/// How the content is stored (`messages.raw_encoding`).
pub(crate) const ENCODING_DEFLATE: &str = "deflate";
/// After `delete`: no content stored.
pub(crate) const ENCODING_NONE: &str = "none";

/// Largest chunk per row: well under MariaDB's default `max_allowed_packet` (16 MiB) and
/// small enough that one row never holds a large message in memory twice on the server.
pub(crate) const CHUNK: usize = 1024 * 1024;

/// Compresses the raw message. Level 6 (zlib's default): mail is mostly base64 and text.
pub(crate) fn compress(raw: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::with_capacity(raw.len() / 2 + 64), Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(raw);
    enc.finish().unwrap_or_default()
}

/// Cuts compressed bytes into stored chunks (at least one, possibly empty).
pub(crate) fn chunks(compressed: Vec<u8>) -> Vec<Vec<u8>> {
    if compressed.len() <= CHUNK {
        return vec![compressed];
    }
    compressed.chunks(CHUNK).map(<[u8]>::to_vec).collect()
}

/// Inflates stored content whose size is known from the metadata. Output stops at that size
/// (one byte more is probed, to detect a mismatch) and the buffer grows with what actually
/// inflates: neither a damaged or forged blob nor a wrong size can make the store allocate
/// more than the message really is, or than it claims to be.
pub(crate) fn decompress(compressed: &[u8], size: u64) -> Result<Vec<u8>, String> {
    let cap = Cap::bytes(
        size,
        format!("inflates to more than the stored size of {size} bytes"),
    );
    let out = quarantd_cap::inflate(compressed, &cap, size);
    if let Some(reason) = out.capped {
        return Err(reason);
    }
    if let Some(error) = out.error {
        return Err(format!("inflate: {error}"));
    }
    if out.bytes.len() as u64 != size {
        return Err(format!(
            "inflated to {} bytes, expected {size}",
            out.bytes.len()
        ));
    }
    Ok(out.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_cap() {
        let raw: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let packed = compress(&raw);
        let parts = chunks(packed.clone());
        assert_eq!(parts.concat(), packed);
        assert_eq!(decompress(&packed, raw.len() as u64).unwrap(), raw);
        assert!(decompress(&packed, 10).is_err());
        assert!(decompress(b"not deflate", 5).is_err());
        assert_eq!(decompress(&compress(b""), 0).unwrap(), b"");
    }

    /// `compress` of the message in the test below, as written since the first release
    /// (zlib's own level-6 raw deflate gives the same bytes).
    const GOLDEN: [u8; 28] = [
        11, 46, 77, 202, 74, 77, 46, 177, 82, 168, 224, 229, 226, 229, 242, 72, 205, 201, 201, 215,
        81, 200, 192, 164, 244, 120, 185, 0,
    ];

    /// The stored format does not change: what earlier versions wrote reads back, and the
    /// same message is written as the same bytes.
    #[test]
    fn the_stored_format_is_raw_deflate_level_6() {
        let raw = b"Subject: x\r\n\r\nHello, hello, hello, hello.\r\n";
        let stored: &[u8] = &GOLDEN;
        assert_eq!(compress(raw), stored);
        assert_eq!(decompress(stored, raw.len() as u64).unwrap(), raw);
    }

    /// A blob that inflates to far more than its recorded size stops at the size: an error,
    /// not an allocation of what it would inflate to.
    #[test]
    fn a_blob_larger_than_its_size_is_an_error() {
        let bomb = compress(&vec![0u8; 16 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let err = decompress(&bomb, 1000).unwrap_err();
        assert_eq!(err, "inflates to more than the stored size of 1000 bytes");
        // A recorded size far beyond anything that can be allocated is not reserved.
        let err = decompress(&compress(b"small"), u64::MAX / 2).unwrap_err();
        assert!(err.starts_with("inflated to 5 bytes, expected "), "{err}");
    }
}

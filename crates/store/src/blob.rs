//! The raw message as stored: deflate-compressed, cut into chunks that fit MariaDB's
//! `max_allowed_packet`, kept in the database beside the metadata.

use std::io::{Read, Write};

use flate2::write::DeflateEncoder;
use flate2::Compression;

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

/// Inflates stored content whose size is known from the metadata. Output is capped at that
/// size (plus one byte, to detect a mismatch): a damaged or forged blob cannot make the store
/// allocate more than the message it claims to be.
#[allow(clippy::disallowed_methods)] // capped by the stored size, see above
pub(crate) fn decompress(compressed: &[u8], size: u64) -> Result<Vec<u8>, String> {
    let cap = usize::try_from(size).map_err(|_| "size too large".to_string())?;
    let mut out = Vec::with_capacity(cap);
    flate2::read::DeflateDecoder::new(compressed)
        .take(size + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("inflate: {e}"))?;
    if out.len() != cap {
        return Err(format!("inflated to {} bytes, expected {size}", out.len()));
    }
    Ok(out)
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
}

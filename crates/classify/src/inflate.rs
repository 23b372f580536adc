//! The one place this crate inflates a raw zlib stream (PowerPoint's compressed
//! `ExOleObjStg`), always under a byte cap. Zip members are read through the `zip` crate
//! under [`crate::limits::MAX_ZIP_MEMBER`] and [`crate::limits::MAX_ZIP_TOTAL`].
//!
//! The workspace `clippy.toml` reserves the decoders' constructors for `quarantd-mime`'s
//! capped wrapper, which that crate keeps private; classification needs only this small
//! in-memory case and must not depend on the decomposition, so it is allowed here alone.

use std::io::Read;

/// Inflates a zlib stream, at most `cap` bytes out. A stream that ends early or has no
/// checksum (PowerPoint often writes them so) yields what inflated before the error;
/// `None` when nothing did.
#[allow(clippy::disallowed_methods)]
pub(crate) fn zlib(data: &[u8], cap: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let result = flate2::read::ZlibDecoder::new(data)
        .take(cap)
        .read_to_end(&mut out);
    (result.is_ok() || !out.is_empty()).then_some(out)
}

//! Container formats. Each module opens one format from bytes in memory and hands every
//! member to [`Walker::member`]; none touches the file system.

mod arj;
mod cab;
mod fat;
mod iso;
mod ole;
mod pdf;
mod rar;
mod rtf;
mod sevenz;
mod stream;
mod tar;
mod tnef;
mod zip;

use crate::detect::Kind;
use crate::walk::{Container, Failure, Walker};

/// Opens `data`, known to be of `kind`, as the container `cx`.
pub(crate) fn open(
    w: &mut Walker<'_>,
    cx: &Container,
    kind: Kind,
    data: &[u8],
) -> Result<(), Failure> {
    match kind {
        Kind::Zip => zip::open(w, cx, data),
        Kind::SevenZ => sevenz::open(w, cx, data),
        Kind::Rar => rar::open(w, cx, data),
        Kind::Gzip | Kind::Bzip2 | Kind::Xz | Kind::Zstd => stream::open(w, cx, kind, data),
        Kind::Tar => tar::open(w, cx, data),
        Kind::Cab => cab::open(w, cx, data),
        Kind::Iso9660 => iso::open(w, cx, data),
        Kind::Cfb => ole::open(w, cx, data),
        Kind::Rtf => rtf::open(w, cx, data),
        Kind::Tnef => tnef::open(w, cx, data),
        Kind::Fat => fat::open(w, cx, data),
        Kind::Arj => arj::open(w, cx, data),
        Kind::Pdf => pdf::open(w, cx, data),
    }
}

/// Reads a little-endian `u16` at `at`.
pub(crate) fn le16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

/// Reads a little-endian `u32` at `at`.
pub(crate) fn le32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// A zero-terminated byte string at `at`, and the offset after its terminator.
pub(crate) fn cstr(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(at..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    Some((&rest[..len], at + len + 1))
}

/// Bytes in an 8-bit legacy encoding (names in old archives): ASCII as is, the rest as
/// Latin-1, which never fails.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

//! Small readers of little-endian integers and legacy strings in untrusted bytes, shared by
//! the detection and the format readers (a leaf module: it uses nothing of the crate).

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

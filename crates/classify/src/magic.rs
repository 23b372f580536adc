//! The magic-number table: what family of format a part's first bytes announce.
//!
//! Our own table rather than a general sniffing crate: the formats that carry risk need
//! structural checks beyond the magic anyway (PE vs DOS vs text starting with "MZ", fat
//! Mach-O vs Java class, which zip is an OOXML document or a JAR), and a table keeps every
//! read bounded and visible.

use crate::native::{self, Native};

/// The family of a part's content as its first bytes announce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// No bytes at all.
    Empty,
    /// Native code (see [`Native`]).
    Native(Native),
    /// An OLE compound file (Office 97-2003, MSI, encrypted OOXML, ...).
    Ole,
    /// A zip (plain, OOXML, ODF, JAR, ...).
    Zip,
    /// PDF.
    Pdf,
    /// Rich Text Format.
    Rtf,
    /// An ActiveMime blob (`.mso`: a compressed OLE file, often a VBA project).
    ActiveMime,
    /// A format known by magic that needs no look inside here.
    Other(&'static str),
    /// Text (decided by [`crate::text::is_text`]).
    Text,
    /// Binary content of no known format.
    Unknown,
}

const OLE_MAGIC: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// Formats recognised by a fixed prefix: (magic, MIME type).
const PREFIXES: &[(&[u8], &str)] = &[
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x1f\x8b", "application/gzip"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\0", "application/x-xz"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"MSCF\0\0\0\0", "application/vnd.ms-cab-compressed"),
    (b"ISc(", "application/vnd.ms-cab-compressed"),
    (b"\x60\xea", "application/x-arj"),
    (b"070701", "application/x-cpio"),
    (b"070702", "application/x-cpio"),
    (b"070707", "application/x-cpio"),
    (b"\xc7\x71", "application/x-cpio"),
    (b"\x71\xc7", "application/x-cpio"),
    (b"\x78\x9f\x3e\x22", "application/vnd.ms-tnef"),
    (b"SZDD\x88\xf0\x27\x33", "application/x-ms-compress-szdd"),
    (b"KWAJ\x88\xf0\x27\xd1", "application/x-ms-compress-kwaj"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\0", "image/tiff"),
    (b"MM\0*", "image/tiff"),
    (b"\0\0\x01\0", "image/vnd.microsoft.icon"),
    (b"8BPS", "image/vnd.adobe.photoshop"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\0\x01\0\0\0", "font/ttf"),
    (b"OTTO", "font/otf"),
    (b"conectix", "application/x-vhd"),
    (b"vhdxfile", "application/x-vhdx"),
    (b"-----BEGIN PGP", "application/pgp-encrypted"),
    (b"BEGIN:VCARD", "text/vcard"),
    (b"BEGIN:VCALENDAR", "text/calendar"),
];

/// The format family of `content`.
pub(crate) fn sniff(content: &[u8]) -> Format {
    if content.is_empty() {
        return Format::Empty;
    }
    if let Some(native) = native::sniff(content) {
        return Format::Native(native);
    }
    if content.starts_with(OLE_MAGIC) {
        return Format::Ole;
    }
    if content.starts_with(b"PK\x03\x04")
        || content.starts_with(b"PK\x05\x06")
        || content.starts_with(b"PK\x07\x08")
    {
        return Format::Zip;
    }
    if is_pdf(content) {
        return Format::Pdf;
    }
    if content.starts_with(b"{\\rt") {
        return Format::Rtf;
    }
    if crate::embedded::is_active_mime(content) {
        return Format::ActiveMime;
    }
    if let Some(mime) = prefixed(content).or_else(|| positioned(content)) {
        return Format::Other(mime);
    }
    if crate::text::is_text(content) {
        Format::Text
    } else {
        Format::Unknown
    }
}

fn prefixed(content: &[u8]) -> Option<&'static str> {
    PREFIXES
        .iter()
        .find(|(magic, _)| content.starts_with(magic))
        .map(|&(_, mime)| mime)
}

/// Formats whose magic is not at offset 0.
fn positioned(content: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| {
        content
            .get(offset..offset + magic.len())
            .is_some_and(|b| b == magic)
    };
    if at(0, b"RIFF") && at(8, b"WEBP") {
        Some("image/webp")
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Some("audio/wav")
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Some("video/x-msvideo")
    } else if at(0, b"BM") && at(6, b"\0\0\0\0") {
        Some("image/bmp")
    } else if at(4, b"ftyp") {
        Some("video/mp4")
    } else if at(257, b"ustar") {
        Some("application/x-tar")
    } else if at(0x8001, b"CD001") || at(0x8801, b"CD001") || at(0x9001, b"CD001") {
        Some("application/x-iso9660-image")
    } else if at(0x1fe, b"\x55\xaa") && (at(0x36, b"FAT") || at(0x52, b"FAT32")) {
        Some("application/x-fat-image")
    } else {
        None
    }
}

/// `%PDF-` within the first KiB (readers accept leading junk).
fn is_pdf(content: &[u8]) -> bool {
    let head = &content[..content.len().min(1024)];
    memchr::memmem::find(head, b"%PDF-").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        let cases: &[(&[u8], Format)] = &[
            (b"", Format::Empty),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0", Format::Ole),
            (b"PK\x03\x04\x14\0", Format::Zip),
            (b"%PDF-1.4\n", Format::Pdf),
            (b"{\\rtf1\\ansi", Format::Rtf),
            (b"{\\rt", Format::Rtf),
            (b"Rar!\x1a\x07\x01\0", Format::Other("application/vnd.rar")),
            (b"\x89PNG\r\n\x1a\n\0", Format::Other("image/png")),
            (&tar, Format::Other("application/x-tar")),
            (b"hello, world\n", Format::Text),
            (b"\0\x01\x02\x03\x04\x05", Format::Unknown),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), *want, "{:?}", &bytes[..bytes.len().min(8)]);
        }
    }
}

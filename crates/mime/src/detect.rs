//! Container detection by content (magic bytes), never by name.

/// A container format this crate opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Zip,
    SevenZ,
    Rar,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    Tar,
    Cab,
    Iso9660,
    Cfb,
    Rtf,
    Tnef,
    Fat,
    Arj,
    Pdf,
}

impl Kind {
    /// The short name used in reasons and member names.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::SevenZ => "7z",
            Kind::Rar => "rar",
            Kind::Gzip => "gzip",
            Kind::Bzip2 => "bzip2",
            Kind::Xz => "xz",
            Kind::Zstd => "zstd",
            Kind::Tar => "tar",
            Kind::Cab => "cab",
            Kind::Iso9660 => "iso9660",
            Kind::Cfb => "ole",
            Kind::Rtf => "rtf",
            Kind::Tnef => "tnef",
            Kind::Fat => "fat",
            Kind::Arj => "arj",
            Kind::Pdf => "pdf",
        }
    }
}

/// Magic bytes at offset 0, in order of test.
const MAGIC: &[(&[u8], Kind)] = &[
    (b"PK\x03\x04", Kind::Zip),
    (b"PK\x05\x06", Kind::Zip),
    (b"PK\x07\x08PK\x03\x04", Kind::Zip),
    (b"7z\xbc\xaf\x27\x1c", Kind::SevenZ),
    (b"Rar!\x1a\x07", Kind::Rar),
    (b"\x1f\x8b", Kind::Gzip),
    (b"\xfd7zXZ\x00", Kind::Xz),
    (b"\x28\xb5\x2f\xfd", Kind::Zstd),
    (b"MSCF\x00\x00\x00\x00", Kind::Cab),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", Kind::Cfb),
    (b"{\\rt", Kind::Rtf),
    (b"\x78\x9f\x3e\x22", Kind::Tnef),
    (b"\x60\xea", Kind::Arj),
];

/// The container format of `data`, if it is one.
pub(crate) fn container(data: &[u8]) -> Option<Kind> {
    if let Some(&(_, kind)) = MAGIC.iter().find(|(magic, _)| data.starts_with(magic)) {
        return Some(kind);
    }
    if is_pdf(data) {
        Some(Kind::Pdf)
    } else if is_bzip2(data) {
        Some(Kind::Bzip2)
    } else if is_tar(data) {
        Some(Kind::Tar)
    } else if is_iso9660(data) {
        Some(Kind::Iso9660)
    } else if is_fat(data) {
        Some(Kind::Fat)
    } else if has_zip_directory(data) {
        Some(Kind::Zip)
    } else {
        None
    }
}

/// Whether `data`, a container of `kind` or none, also ends in a zip archive that the
/// magic at its start does not announce: a self-extracting program, a zip appended to a
/// PDF or an image. Windows and 7-Zip open such a zip from its end, so quarantd does too.
pub(crate) fn appended_zip(data: &[u8], kind: Option<Kind>) -> bool {
    kind.is_some_and(|k| k != Kind::Zip) && has_zip_directory(data)
}

/// Longest zip comment: the end-of-central-directory record is within this many bytes
/// (plus its own 22) of the end.
const MAX_ZIP_COMMENT: usize = 0xffff;

/// A zip's end-of-central-directory record at the end of `data`, whose comment length
/// reaches exactly to the end, preceded by the central directory it describes (or by a
/// ZIP64 locator).
fn has_zip_directory(data: &[u8]) -> bool {
    const EOCD: &[u8] = b"PK\x05\x06";
    let from = data.len().saturating_sub(MAX_ZIP_COMMENT + 22);
    let tail = &data[from..];
    memchr::memmem::rfind_iter(tail, EOCD).any(|at| {
        let at = from + at;
        let comment = crate::bytes::le16(data, at + 20).map(usize::from);
        let size = crate::bytes::le32(data, at + 12).map(|n| n as usize);
        let reaches_end = comment.is_some_and(|c| at + 22 + c == data.len());
        let directory = size
            .and_then(|s| at.checked_sub(s))
            .and_then(|d| data.get(d..d + 4));
        let zip64 = at.checked_sub(20).and_then(|l| data.get(l..l + 4));
        reaches_end && (directory == Some(b"PK\x01\x02") || zip64 == Some(b"PK\x06\x07"))
    })
}

/// `%PDF-` within the first KiB, as readers accept it.
fn is_pdf(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1024)];
    head.windows(5).any(|w| w == b"%PDF-")
}

fn is_bzip2(data: &[u8]) -> bool {
    data.len() >= 10
        && data.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&data[3])
        && (data[4..10] == *b"\x31\x41\x59\x26\x53\x59"
            || data[4..10] == *b"\x17\x72\x45\x38\x50\x90")
}

/// POSIX/GNU tar (`ustar` magic), or a v7 header whose checksum is right.
fn is_tar(data: &[u8]) -> bool {
    let Some(header) = data.get(..512) else {
        return false;
    };
    if &header[257..262] == b"ustar" {
        return true;
    }
    tar_checksum_ok(header)
}

fn tar_checksum_ok(header: &[u8]) -> bool {
    let field = &header[148..156];
    let digits: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .map(|&b| b as char)
        .collect();
    let Ok(expected) = u32::from_str_radix(digits.trim(), 8) else {
        return false;
    };
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == expected && header[0] != 0
}

fn is_iso9660(data: &[u8]) -> bool {
    [0x8001usize, 0x8801, 0x9001]
        .iter()
        .any(|&at| data.get(at..at + 5) == Some(b"CD001"))
}

/// A FAT boot sector: jump instruction, 0x55AA signature, sane bytes per sector and a
/// FAT type string.
fn is_fat(data: &[u8]) -> bool {
    let Some(boot) = data.get(..512) else {
        return false;
    };
    let jump = boot[0] == 0xeb || boot[0] == 0xe9;
    let signature = boot[510] == 0x55 && boot[511] == 0xaa;
    let sector = u16::from_le_bytes([boot[11], boot[12]]);
    let fat_name =
        &boot[54..59] == b"FAT12" || &boot[54..59] == b"FAT16" || &boot[82..87] == b"FAT32";
    jump && signature && matches!(sector, 512 | 1024 | 2048 | 4096) && fat_name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_decides_not_names() {
        assert_eq!(container(b"PK\x03\x04rest"), Some(Kind::Zip));
        assert_eq!(container(b"\x1f\x8b\x08"), Some(Kind::Gzip));
        assert_eq!(container(b"hello"), None);
        assert_eq!(container(b""), None);
    }

    /// A stored zip holding `a.exe`, as `zip` writes it.
    fn small_zip() -> Vec<u8> {
        let mut z = Vec::new();
        z.extend_from_slice(b"PK\x03\x04\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        z.extend_from_slice(&[0; 12]);
        z.extend_from_slice(b"\x05\x00\x00\x00a.exe");
        let cd = z.len();
        z.extend_from_slice(b"PK\x01\x02\x14\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        z.extend_from_slice(&[0; 12]);
        z.extend_from_slice(
            b"\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00a.exe",
        );
        let cd_size = (z.len() - cd) as u32;
        z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
        z.extend_from_slice(&cd_size.to_le_bytes());
        z.extend_from_slice(&(cd as u32).to_le_bytes());
        z.extend_from_slice(b"\x00\x00");
        z
    }

    #[test]
    fn a_zip_behind_other_data_is_found_by_its_directory() {
        let mut sfx = b"MZ\x90\x00 a self-extractor stub".to_vec();
        sfx.extend_from_slice(&small_zip());
        assert_eq!(container(&sfx), Some(Kind::Zip));
        let mut pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n".to_vec();
        pdf.extend_from_slice(&small_zip());
        assert_eq!(container(&pdf), Some(Kind::Pdf));
        assert!(appended_zip(&pdf, container(&pdf)));
        assert!(!appended_zip(&small_zip(), container(&small_zip())));
    }

    #[test]
    fn the_record_alone_or_in_text_is_no_zip() {
        assert_eq!(container(b"text PK\x05\x06 more text"), None);
        let mut fake = b"hello".to_vec();
        fake.extend_from_slice(
            b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        );
        assert_eq!(container(&fake), None);
    }
}

//! What of a message is sent to the scanners.
//!
//! Measured on this project's corpus (ARCHITECTURE.md, "Scanning"): clamd finds at least as
//! much in the decoded MIME leaves as in the raw message (106 of 287 test messages detected
//! raw, 112 as leaves, none only raw), at about the same cost, and a leaf's verdict can be
//! cached across messages (a newsletter attachment sent to 5,000 recipients is the same
//! bytes, while the raw messages all differ). clamd opens common archives itself, but not
//! RAR (Debian's build has no unrar), zstd, lz4, raw LZMA or FAT images. Hence:
//!
//! * every decoded MIME leaf is sent once (a part with content and no MIME children);
//! * a member that quarantd unpacked from an archive is sent too unless every archive above
//!   it is a format clamd opens ([`clamd_opens`]); members of a RAR, a zstd stream or a disk
//!   image are therefore sent one by one;
//! * the raw message is sent as well when configured, or when decomposition could not parse
//!   it at all.

use quarantd_core::{Label, PartData, PartPath};
use sha2::Digest;
use std::collections::HashMap;

/// One piece of content to scan and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    /// The part's path (the root for the raw message).
    pub path: PartPath,
    /// The bytes.
    pub data: &'a [u8],
    /// Their SHA-256: the part's own (decomposition hashed its content), computed here only
    /// when the part has none (the raw message, hand-made parts).
    pub sha256: [u8; 32],
}

/// The SHA-256 of `data`, taken from `known` (lower-case hex, as decomposition writes it)
/// when that is a hash at all.
fn sha256_of(data: &[u8], known: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let parsed = known.len() == 64
        && out.iter_mut().enumerate().all(|(i, byte)| {
            let pair = known.get(2 * i..2 * i + 2).unwrap_or("-");
            u8::from_str_radix(pair, 16).map(|b| *byte = b).is_ok()
        });
    if parsed {
        out
    } else {
        sha2::Sha256::digest(data).into()
    }
}

/// The items to scan for a message with `parts` (tree order, as decomposition gives them).
pub fn plan<'a>(raw: &'a [u8], parts: &'a [PartData], send_raw: bool) -> Vec<Item<'a>> {
    let by_path: HashMap<&str, &PartData> = parts
        .iter()
        .filter(|p| !p.content.is_empty())
        .map(|p| (p.part.path.0.as_str(), p))
        .collect();
    let all_paths: std::collections::HashSet<&str> =
        parts.iter().map(|p| p.part.path.0.as_str()).collect();
    let unparsed = parts.first().is_some_and(|root| {
        root.part.path.0.is_empty() && root.part.labels.contains(&Label::Unscannable)
    });
    let mut items = Vec::new();
    if (send_raw || unparsed) && !raw.is_empty() {
        items.push(Item {
            path: PartPath::root(),
            data: raw,
            sha256: sha256_of(raw, ""),
        });
    }
    for part in parts.iter().filter(|p| !p.content.is_empty()) {
        let path = part.part.path.0.as_str();
        let has_mime_children = all_paths.contains(format!("{path}.1").as_str());
        if has_mime_children || covered(path, &by_path) {
            continue;
        }
        items.push(Item {
            path: part.part.path.clone(),
            data: &part.content,
            sha256: sha256_of(&part.content, &part.part.sha256),
        });
    }
    items
}

/// True when the part at `path` is a member of archives that clamd opens, all the way up to
/// a MIME part: scanning that MIME part already scans it.
fn covered(path: &str, by_path: &HashMap<&str, &PartData>) -> bool {
    let mut containers = path
        .match_indices('/')
        .filter_map(|(at, _)| by_path.get(&path[..at]))
        .peekable();
    if containers.peek().is_none() {
        return false;
    }
    containers.all(|c| clamd_opens(&c.content))
}

/// Formats clamd unpacks itself (measured with ClamAV 1.4 on Debian 12): ZIP (and Office
/// Open XML), 7z, gzip, bzip2, xz, tar, CAB, ISO 9660, OLE2, RTF, TNEF, ARJ, PDF. Anything
/// else (RAR, zstd, lz4, raw LZMA, FAT images, unknown) is not trusted to be opened.
pub fn clamd_opens(data: &[u8]) -> bool {
    let at = |offset: usize, magic: &[u8]| data.get(offset..offset + magic.len()) == Some(magic);
    const MAGICS: &[&[u8]] = &[
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"PK\x07\x08",
        b"7z\xBC\xAF\x27\x1C",
        b"\x1F\x8B",
        b"BZh",
        b"\xFD7zXZ\x00",
        b"MSCF",
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
        b"{\\rt",
        b"\x78\x9F\x3E\x22",
        b"\x60\xEA",
        b"%PDF",
    ];
    MAGICS.iter().any(|m| at(0, m)) || at(257, b"ustar") || at(0x8001, b"CD001")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_core::Part;

    fn part(path: &str, content: &[u8]) -> PartData {
        PartData {
            part: Part::new(PartPath(path.into()), content.len() as u64, String::new()),
            content: content.to_vec(),
        }
    }

    fn paths(items: &[Item<'_>]) -> Vec<String> {
        items.iter().map(|i| i.path.0.clone()).collect()
    }

    #[test]
    fn items_carry_the_sha256_of_their_bytes() {
        let digest = |d: &[u8]| -> [u8; 32] { sha2::Sha256::digest(d).into() };
        // A part hashed by decomposition keeps that hash; one without is hashed here.
        let mut hashed = part("1", b"attachment");
        hashed.part.sha256 = digest(b"attachment")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let parts = [part("", b""), hashed, part("2", b"other")];
        let items = plan(b"raw", &parts, true);
        let shas: Vec<[u8; 32]> = items.iter().map(|i| i.sha256).collect();
        assert_eq!(
            shas,
            [digest(b"raw"), digest(b"attachment"), digest(b"other")]
        );
        assert_eq!(sha256_of(b"x", "zz"), digest(b"x"));
        assert_eq!(sha256_of(b"x", &"g".repeat(64)), digest(b"x"));
    }

    #[test]
    fn leaves_are_sent_and_members_of_clamd_formats_are_not() {
        let parts = vec![
            part("", b""),
            part("1", b"hello"),
            part("2", b"PK\x03\x04zip"),
            part("2/a.zip/x.exe", b"MZ"),
            part("2/a.zip/inner.7z", b"7z\xBC\xAF\x27\x1Cxx"),
            part("2/a.zip/inner.7z/y.exe", b"MZ"),
            part("3", b""),
            part("3.1", b"nested text"),
            part("3.2", b"\x1F\x8Bgz"),
            part("3.2/e.gz/e.txt", b"X5O"),
        ];
        assert_eq!(
            paths(&plan(b"raw", &parts, false)),
            ["1", "2", "3.1", "3.2"]
        );
        assert_eq!(
            paths(&plan(b"raw", &parts, true)),
            ["", "1", "2", "3.1", "3.2"]
        );
    }

    #[test]
    fn members_of_formats_clamd_cannot_open_are_sent_with_everything_below() {
        let parts = vec![
            part("", b""),
            part("1", b"Rar!\x1A\x07\x01\x00"),
            part("1/a.rar/x.exe", b"MZ"),
            part("1/a.rar/in.zip", b"PK\x03\x04"),
            part("1/a.rar/in.zip/y.exe", b"MZ"),
            part("2", b"\x28\xB5\x2F\xFDzstd"),
            part("2/b.zst/b", b"payload"),
        ];
        assert_eq!(
            paths(&plan(b"raw", &parts, false)),
            [
                "1",
                "1/a.rar/x.exe",
                "1/a.rar/in.zip",
                "1/a.rar/in.zip/y.exe",
                "2",
                "2/b.zst/b"
            ]
        );
    }

    #[test]
    fn a_message_that_could_not_be_parsed_is_sent_raw() {
        let mut root = part("", b"");
        root.part.mark_unscannable("message could not be parsed");
        assert_eq!(paths(&plan(b"raw", &[root], false)), [""]);
    }

    #[test]
    fn sniffing() {
        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        for yes in [&iso[..], &tar[..], b"PK\x03\x04", b"%PDF-1.4", b"\x1F\x8B"] {
            assert!(clamd_opens(yes));
        }
        for no in [
            &b"Rar!\x1A\x07\x00"[..],
            b"\x28\xB5\x2F\xFD",
            b"\xEB\x3C\x90mkfs",
            b"",
            b"P",
        ] {
            assert!(!clamd_opens(no));
        }
    }
}

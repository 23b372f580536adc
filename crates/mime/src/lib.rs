//! Decomposition: the bytes of a message become a tree of parts.
//!
//! [`decompose`] walks the MIME structure (multiparts, `message/rfc822` and `message/global`
//! messages, uuencoded blocks in text bodies) with `mail-parser`, then opens every part whose
//! *content* is a container: archives (zip, 7z, RAR, tar, gzip, bzip2, xz, zstd, cab, ISO 9660,
//! FAT images, ARJ), TNEF `winmail.dat`, and the embedded objects of Office (OLE, OOXML, ODF)
//! and RTF documents. Each part has a path (`2/invoice.zip/docs/a.exe`), declared name and
//! type, size and SHA-256, and its decoded content for the stages after it (`classify`,
//! `scan`).
//!
//! Limits are named in [`Limits`]; reaching one labels the part `unscannable` with the reason
//! instead of failing, and so does a corrupt container. Every byte unpacked passes through
//! the one capped decompressor (`quarantd-cap`); nothing is written to disk and member names are never used as
//! paths.
//!
//! Pure and synchronous: no I/O, no runtime, no threads. Never panics on input.

mod bytes;
mod detect;
mod forced;
mod formats;
mod limits;
mod mime;
mod uu;
mod walk;

use mail_parser::MessageParser;
use quarantd_core::{Decomposed, PartPath};

pub use limits::Limits;
pub use mime::lenient_base64;
pub use quarantd_core::sha256_hex;

/// Decomposes a message into its parts, parents before children. The first part is always
/// the message itself (path empty, no content and no `sha256`: the raw bytes are the
/// caller's, and so is hashing them — most messages pass and never need that hash; the
/// quarantine computes it when it stores one). A message `mail-parser` cannot read at all is
/// labelled `unscannable`.
pub fn decompose(raw: &[u8], limits: &Limits) -> Decomposed {
    let mut walker = walk::Walker::new(limits);
    let mut root = walk::new_part(
        PartPath::root(),
        None,
        Some("message/rfc822".into()),
        Vec::new(),
    );
    root.part.size = raw.len() as u64;
    root.part.sha256 = String::new();
    walker.parts.push(root);
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
    match parsed {
        Ok(Some(mut message)) => walker.message(&mut message, 0, &PartPath::root(), 0),
        Ok(None) => walker.mark(0, "message could not be parsed"),
        Err(_) => walker.mark(0, "message parser failed unexpectedly"),
    }
    Decomposed {
        parts: walker.parts,
    }
}

/// Decomposes a single file (an attachment outside of any message): the first part is the
/// file itself, with its content, at the path of its (cleaned) name — `file` when it has
/// none — so that it is classified like any attachment; its members follow below it.
pub fn decompose_file(bytes: &[u8], filename: Option<&str>, limits: &Limits) -> Decomposed {
    let mut walker = walk::Walker::new(limits);
    let name = filename.map(str::to_string);
    let base = PartPath(filename.map_or_else(|| "file".to_string(), walk::clean_name));
    walker
        .parts
        .push(walk::new_part(base.clone(), name, None, bytes.to_vec()));
    walker.open(0, base, 0);
    Decomposed {
        parts: walker.parts,
    }
}

/// Opens `bytes` as the container format `format` (a name as reasons give it: `"zip"`,
/// `"7z"`, `"rar"`, `"tar"`, `"cab"`, `"iso9660"`, `"fat"`, `"ole"`, `"pdf"`, `"rtf"`,
/// `"tnef"`, `"gzip"`, ... — see [`format_names`]) whatever its magic says, and its members
/// as [`decompose_file`] would; `None` for an unknown name. The first part is the container
/// at the path `format`. Unlike [`decompose_file`], a panic of the format's parser is not
/// caught (members' parsers are): this is the entry point of the per-format fuzz targets.
#[doc(hidden)]
pub fn decompose_as(format: &str, bytes: &[u8], limits: &Limits) -> Option<Decomposed> {
    forced::decompose_as(format, bytes, limits)
}

/// The format names [`decompose_as`] accepts.
#[doc(hidden)]
pub fn format_names() -> impl Iterator<Item = &'static str> {
    forced::format_names()
}

/// The part at `path` of the message `raw`, decomposed under `limits`: what
/// `quarantine show --part PATH` shows of a held message.
pub fn find_part(raw: &[u8], path: &str, limits: &Limits) -> Option<quarantd_core::PartData> {
    let decomposed = decompose(raw, limits);
    decomposed.parts.into_iter().find(|p| p.part.path.0 == path)
}

/// A text rendering of the tree, one part a line, indented by depth:
/// `path  declared-type  "filename"  size  sha256-prefix  [labels] (reason)`.
/// Used by the golden-file tests and for debugging; stable for a given decomposition.
pub fn render(decomposed: &Decomposed) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let depths = PartPath::depths(decomposed.parts.iter().map(|d| &d.part.path));
    for (data, depth) in decomposed.parts.iter().zip(depths) {
        let p = &data.part;
        let _ = write!(
            out,
            "{:indent$}{}  {}  {:?}  {}  {}",
            "",
            p.path,
            p.declared_type.as_deref().unwrap_or("-"),
            p.filename.as_deref().unwrap_or(""),
            p.size,
            p.sha256.get(..12).unwrap_or("-"),
            indent = depth * 2
        );
        if !p.labels.is_empty() {
            let labels: Vec<&str> = p.labels.iter().map(|l| l.as_str()).collect();
            let _ = write!(out, "  [{}]", labels.join(","));
        }
        if let Some(reason) = &p.unscannable_reason {
            let _ = write!(out, " ({reason})");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_core::Label;

    fn paths(d: &Decomposed) -> Vec<String> {
        d.parts.iter().map(|p| p.part.path.0.clone()).collect()
    }

    #[test]
    fn plain_message_has_root_and_one_body_part() {
        let d = decompose(b"Subject: hi\r\n\r\nhello\r\n", &Limits::default());
        assert_eq!(paths(&d), ["", "1"]);
        assert_eq!(d.parts[1].content, b"hello\r\n");
        assert_eq!(d.parts[1].part.declared_type, None);
    }

    #[test]
    fn multipart_with_attachment_and_nested_message() {
        let raw = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n\
--b\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n\
--c\r\nContent-Type: text/plain\r\n\r\ninner body\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--c--\r\n\
--b--\r\n";
        let d = decompose(raw, &Limits::default());
        assert_eq!(paths(&d), ["", "1", "2", "3", "3.1", "3.2"]);
        let att = &d.parts[2];
        assert_eq!(att.part.filename.as_deref(), Some("a.bin"));
        assert_eq!(
            att.part.declared_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(att.content, [0u8, 1, 2]);
        assert_eq!(att.part.sha256, sha256_hex(&[0, 1, 2]));
        assert_eq!(
            d.parts[3].part.declared_type.as_deref(),
            Some("message/rfc822")
        );
    }

    #[test]
    fn depth_limit_labels_unscannable() {
        let raw = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n--a--\r\n";
        let d = decompose(
            raw,
            &Limits {
                max_depth: 1,
                ..Limits::default()
            },
        );
        assert!(d
            .parts
            .iter()
            .any(|p| p.part.labels.contains(&Label::Unscannable)));
    }

    #[test]
    fn garbage_never_panics() {
        for raw in [
            &b""[..],
            b"\r\n",
            b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
            b"\xff\xfe\x00",
        ] {
            let d = decompose(raw, &Limits::default());
            assert!(!d.parts.is_empty());
        }
    }

    fn zip_message() -> Vec<u8> {
        // A zip with one stored member `a.txt` = "hi", base64-encoded in a message.
        let zip = b"PK\x03\x04\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\xac\x2a\x93\xd8\x02\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00a.txthiPK\x01\x02\x14\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\xac\x2a\x93\xd8\x02\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00a.txtPK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00\x33\x00\x00\x00\x25\x00\x00\x00\x00\x00";
        let mut raw = b"Content-Type: application/zip; name=\"x.zip\"\r\n\r\n".to_vec();
        raw.extend_from_slice(zip);
        raw
    }

    #[test]
    fn zip_members_are_children_named_below_the_attachment() {
        let d = decompose(&zip_message(), &Limits::default());
        assert_eq!(paths(&d), ["", "1", "1/x.zip/a.txt"]);
        assert_eq!(d.parts[2].content, b"hi");
    }

    #[test]
    fn part_limit_and_time_limit_label_unscannable() {
        let limits = Limits {
            max_parts: 2,
            ..Limits::default()
        };
        let d = decompose(&zip_message(), &limits);
        assert_eq!(paths(&d), ["", "1"]);
        assert!(d.parts[1]
            .part
            .unscannable_reason
            .as_deref()
            .unwrap_or("")
            .contains("parts"));
        let limits = Limits {
            max_time: std::time::Duration::ZERO,
            ..Limits::default()
        };
        let d = decompose(&zip_message(), &limits);
        assert!(d
            .parts
            .iter()
            .any(|p| p.part.labels.contains(&Label::Unscannable)));
    }

    #[test]
    fn a_time_limit_past_what_the_clock_holds_means_no_deadline() {
        let limits = Limits {
            max_time: std::time::Duration::MAX,
            ..Limits::default()
        };
        let d = decompose(&zip_message(), &limits);
        assert_eq!(paths(&d), ["", "1", "1/x.zip/a.txt"]);
        assert!(d.parts.iter().all(|p| p.part.unscannable_reason.is_none()));
    }

    #[test]
    fn corrupt_archive_is_unscannable_with_reason() {
        let mut raw = zip_message();
        raw.truncate(raw.len() - 30);
        let d = decompose(&raw, &Limits::default());
        let reason = d.parts[1].part.unscannable_reason.as_deref().unwrap_or("");
        assert!(reason.starts_with("corrupt zip:"), "{reason}");
    }
}

//! zip archives (incl. ZIP64) with the `zip` crate, and the zip-based document formats.
//!
//! OOXML (`[Content_Types].xml`) and ODF (`mimetype`) packages are documents, not
//! archives: only their embedded objects (`*/embeddings/*`, ODF `Object N`) become parts.
//! Encrypted members are listed with their names and labelled `encrypted`.

use std::io::Cursor;

use zip::read::ZipArchive;
use zip::CompressionMethod;

use crate::formats::{Container, Failure, Member, Sink};

type Archive<'d> = ZipArchive<Cursor<&'d [u8]>>;

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let mut archive = ZipArchive::new(Cursor::new(data)).map_err(|e| Failure::corrupt("zip", e))?;
    let document = is_document(&archive);
    for index in 0..archive.len() {
        let Some(name) = wanted(&mut archive, index, document)? else {
            continue;
        };
        let member = read_member(w, &mut archive, index, name);
        w.member(cx, member)?;
    }
    Ok(())
}

/// An OOXML or ODF package.
fn is_document(archive: &Archive<'_>) -> bool {
    archive.index_for_name("[Content_Types].xml").is_some()
        || archive.index_for_name("mimetype").is_some()
}

/// The member's name when it becomes a part: every file of an archive, only the
/// embedded objects of a document.
fn wanted(
    archive: &mut Archive<'_>,
    index: usize,
    document: bool,
) -> Result<Option<String>, Failure> {
    let file = archive
        .by_index_raw(index)
        .map_err(|e| Failure::corrupt("zip", e))?;
    if file.is_dir() {
        return Ok(None);
    }
    let name = match file.name() {
        Ok(name) => name.to_string(),
        Err(_) => crate::formats::latin1(file.name_raw()),
    };
    Ok((!document || is_embedding(&name)).then_some(name))
}

fn is_embedding(name: &str) -> bool {
    let odf_object = name.starts_with("Object ") && !name.contains('/');
    name.contains("/embeddings/") || odf_object
}

fn read_member(w: &mut impl Sink, archive: &mut Archive<'_>, index: usize, name: String) -> Member {
    let (encrypted, method, packed, size) = match archive.by_index_raw(index) {
        Ok(f) => (
            f.encrypted(),
            f.compression(),
            f.compressed_size(),
            f.size(),
        ),
        Err(e) => return corrupt_member(name, e),
    };
    if encrypted {
        return Member::encrypted(name);
    }
    if method == CompressionMethod::ZSTD {
        return zstd_member(w, archive, index, name, size);
    }
    match archive.by_index(index) {
        Ok(file) => Member::unpacked(name, w.unpack(file, packed, size)),
        Err(e) => corrupt_member(name, e),
    }
}

/// zstd members (method 93), decoded with the pure-Rust decoder from the raw data.
fn zstd_member(
    w: &mut impl Sink,
    archive: &mut Archive<'_>,
    index: usize,
    name: String,
    size: u64,
) -> Member {
    let raw = match archive.by_index_raw(index) {
        Ok(file) => w.unpack(file, u64::MAX, 0),
        Err(e) => return corrupt_member(name, e),
    };
    if let Some(problem) = raw.problem() {
        return corrupt_member(name, problem);
    }
    let out = quarantd_cap::unzstd(&raw.bytes, &w.cap(raw.bytes.len() as u64), size);
    Member::unpacked(name, w.charge(out))
}

fn corrupt_member(name: String, error: impl std::fmt::Display) -> Member {
    Member::unpacked(
        name,
        quarantd_cap::Unpacked {
            error: Some(error.to_string()),
            ..quarantd_cap::Unpacked::default()
        },
    )
}

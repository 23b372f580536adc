//! OLE compound files (`.doc`, `.xls`, `.ppt`, embedded `oleObject*.bin`) with `cfb`.
//!
//! Children are the embedded objects, not the document's own streams: `\x01Ole10Native`
//! packages (the packaged file under its name), `Package` and `CONTENTS` streams of
//! embedded objects, PowerPoint `ExOleObjStg` records, and embedded OLE documents kept as
//! storages (`ObjectPool/_N`, `MBD*`), copied into a compound file of their own.

use std::collections::HashSet;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use cfb::CompoundFile;

use crate::formats::{cstr, latin1, le16, le32};
use crate::formats::{Container, Failure, Member, Sink};

type Cfb<'d> = CompoundFile<Cursor<&'d [u8]>>;

/// Most entries looked at in one compound file.
const MAX_ENTRIES: usize = 100_000;

/// Most embedded documents (object storages) copied out of one compound file.
const MAX_OBJECTS: usize = 1000;

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let mut file = CompoundFile::open(Cursor::new(data)).map_err(|e| Failure::corrupt("ole", e))?;
    let entries: Vec<(PathBuf, bool)> = file
        .walk()
        .take(MAX_ENTRIES)
        .map(|e| (e.path().to_path_buf(), e.is_stream()))
        .collect();
    let documents = document_storages(&entries);
    let mut objects = 0;
    for (index, (path, is_stream)) in entries.iter().enumerate() {
        w.step(cx)?;
        if *is_stream {
            stream(w, cx, &mut file, path, data.len() as u64)?;
        } else if is_object_storage(path) && documents.contains(path.as_path()) {
            objects += 1;
            if objects > MAX_OBJECTS {
                w.mark(cx.at, format!("more than {MAX_OBJECTS} embedded documents"));
                return Err(Failure::Stopped);
            }
            let copy = copy_storage(w, &mut file, &entries[index..]);
            w.member(cx, Member::unpacked(name_of(path), copy))?;
        }
    }
    Ok(())
}

fn name_of(path: &Path) -> String {
    path.to_string_lossy()
        .trim_start_matches('/')
        .replace('\u{1}', "")
}

fn stream(
    w: &mut impl Sink,
    cx: &Container,
    file: &mut Cfb<'_>,
    path: &Path,
    packed: u64,
) -> Result<(), Failure> {
    let leaf = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let inside_object = path.parent().is_some_and(is_object_storage);
    let wanted = leaf == "\u{1}Ole10Native"
        || leaf == "PowerPoint Document"
        || (inside_object && (leaf == "Package" || leaf == "CONTENTS"));
    if !wanted {
        return Ok(());
    }
    let bytes = match file.open_stream(path) {
        Ok(s) => w.unpack(s, packed, 0),
        Err(e) => return Err(Failure::corrupt("ole", e)),
    };
    if bytes.problem().is_some() {
        return w.member(cx, Member::unpacked(name_of(path), bytes));
    }
    match leaf.as_str() {
        "\u{1}Ole10Native" => native(w, cx, path, &bytes.bytes),
        "PowerPoint Document" => powerpoint(w, cx, path, &bytes.bytes),
        _ => w.member(cx, Member::unpacked(name_of(path), bytes)),
    }
}

/// A package stream: the packaged file under its own name below the stream's storage.
fn native(w: &mut impl Sink, cx: &Container, path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = path.parent().map(name_of).unwrap_or_default();
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    match package(bytes, true) {
        Some((name, data)) => w.member(cx, Member::new(format!("{prefix}{name}"), data.to_vec())),
        None => w.member(cx, Member::new(name_of(path), bytes.to_vec())),
    }
}

/// Parses an OLE Package (`Ole10Native`): returns the file name and the packaged bytes.
/// `size_header`: the stream form starts with the total size; the OLE1 form does not.
pub(crate) fn package(data: &[u8], size_header: bool) -> Option<(String, &[u8])> {
    let mut at = if size_header { 4 } else { 0 };
    le16(data, at)?;
    at += 2;
    let (label, next) = cstr(data, at)?;
    let (source, next) = cstr(data, next)?;
    at = next + 8;
    let (temp, next) = cstr(data, at)?;
    let size = le32(data, next)? as usize;
    let start = next + 4;
    let body = data.get(start..start.checked_add(size)?.min(data.len()))?;
    let name = [label, source, temp]
        .into_iter()
        .map(latin1)
        .map(|n| n.rsplit(['\\', '/']).next().unwrap_or_default().to_string())
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| "package".to_string());
    Some((name, body))
}

/// PowerPoint keeps embedded objects in `ExOleObjStg` records (zlib-compressed when the
/// record instance is 1) of the `PowerPoint Document` stream.
fn powerpoint(
    w: &mut impl Sink,
    cx: &Container,
    path: &Path,
    stream: &[u8],
) -> Result<(), Failure> {
    const EX_OLE_OBJ_STG: u16 = 0x1011;
    let mut at = 0;
    let mut count = 0;
    while let (Some(ver_inst), Some(kind), Some(len)) =
        (le16(stream, at), le16(stream, at + 2), le32(stream, at + 4))
    {
        let len = len as usize;
        if ver_inst & 0xf == 0xf {
            at += 8;
            continue;
        }
        let body = stream
            .get(at + 8..(at + 8).saturating_add(len).min(stream.len()))
            .unwrap_or_default();
        at = at.saturating_add(8 + len);
        if kind != EX_OLE_OBJ_STG {
            continue;
        }
        count += 1;
        let name = format!("{}/ExOleObjStg-{count}", name_of(path));
        let member = if ver_inst >> 4 == 1 && body.len() >= 4 {
            let cap = w.cap(body.len() as u64);
            let declared = u64::from(le32(body, 0).unwrap_or(0));
            let mut out = quarantd_cap::zlib(&body[4..], &cap, declared);
            if out.bytes.len() as u64 >= declared && out.capped.is_none() {
                // PowerPoint often stores the stream without its final block marker.
                out.error = None;
            }
            Member::unpacked(name, w.charge(out))
        } else {
            Member::new(name, body.to_vec())
        };
        w.member(cx, member)?;
    }
    Ok(())
}

/// Storages that hold embedded objects in Word (`ObjectPool/_N`) and Excel (`MBD…`).
fn is_object_storage(path: &Path) -> bool {
    let parent_is_pool = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "ObjectPool");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_is_pool || name.starts_with("MBD")
}

/// The storages that are themselves Office documents (not just package wrappers): those
/// holding a document's main stream, found in one pass.
fn document_storages(entries: &[(PathBuf, bool)]) -> HashSet<&Path> {
    const DOCUMENT_STREAMS: [&str; 4] = ["WordDocument", "Workbook", "Book", "PowerPoint Document"];
    entries
        .iter()
        .filter(|(p, is_stream)| {
            *is_stream
                && p.file_name()
                    .is_some_and(|n| DOCUMENT_STREAMS.iter().any(|d| n == *d))
        })
        .filter_map(|(p, _)| p.parent())
        .collect()
}

/// Copies the storage that `entries` starts with, and everything below it (the entries
/// that follow it in the walk's depth-first order), into a new compound file.
fn copy_storage(
    w: &mut impl Sink,
    file: &mut Cfb<'_>,
    entries: &[(PathBuf, bool)],
) -> quarantd_cap::Unpacked {
    let Some(((root, _), below)) = entries.split_first() else {
        return quarantd_cap::Unpacked::default();
    };
    let mut out = match CompoundFile::create(Cursor::new(Vec::new())) {
        Ok(out) => out,
        Err(e) => return quarantd_cap::Unpacked::error(e),
    };
    for (path, is_stream) in below.iter().take_while(|(p, _)| p.starts_with(root)) {
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let target = Path::new("/").join(rel);
        let result = if *is_stream {
            copy_stream(w, file, path, &mut out, &target)
        } else {
            out.create_storage(&target).map_err(|e| e.to_string())
        };
        if let Err(e) = result {
            return quarantd_cap::Unpacked::error(e);
        }
    }
    let bytes = out.into_inner().into_inner();
    let out = w.unpack(bytes.as_slice(), bytes.len() as u64, bytes.len() as u64);
    out
}

fn copy_stream(
    w: &mut impl Sink,
    file: &mut Cfb<'_>,
    from: &Path,
    out: &mut CompoundFile<Cursor<Vec<u8>>>,
    to: &Path,
) -> Result<(), String> {
    let mut source = file.open_stream(from).map_err(|e| e.to_string())?;
    let cap = w.cap(0);
    let mut bytes = Vec::new();
    (&mut source)
        .take(cap.bytes)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let mut target = out.create_stream(to).map_err(|e| e.to_string())?;
    target.write_all(&bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    /// A compound file with `n` embedded Word documents in its `ObjectPool`.
    fn pool(n: usize) -> Vec<u8> {
        let mut cfb = CompoundFile::create(Cursor::new(Vec::new())).expect("create");
        cfb.create_storage("/ObjectPool").expect("pool");
        for i in 0..n {
            let storage = format!("/ObjectPool/_{}", 1_000_000 + i);
            cfb.create_storage(&storage).expect("storage");
            let mut s = cfb
                .create_stream(format!("{storage}/WordDocument"))
                .expect("stream");
            s.write_all(b"doc").expect("write");
        }
        cfb.into_inner().into_inner()
    }

    #[test]
    fn embedded_documents_are_copied_out_up_to_a_limit() {
        let d = crate::decompose_file(&pool(3), Some("a.doc"), &Limits::default());
        assert_eq!(d.parts.len(), 4, "{}", crate::render(&d));
        assert!(d.parts[0].part.unscannable_reason.is_none());
        let d = crate::decompose_file(&pool(MAX_OBJECTS + 1), Some("a.doc"), &Limits::default());
        let reason = d.parts[0].part.unscannable_reason.as_deref().unwrap_or("");
        assert!(reason.contains("embedded documents"), "{reason}");
    }
}

//! OLE compound files (`.doc`, `.xls`, `.ppt`, embedded `oleObject*.bin`) with `cfb`.
//!
//! Children are the embedded objects, not the document's own streams: `\x01Ole10Native`
//! packages (the packaged file under its name), `Package` and `CONTENTS` streams of
//! embedded objects, PowerPoint `ExOleObjStg` records, and embedded OLE documents kept as
//! storages (`ObjectPool/_N`, `MBD*`), copied into a compound file of their own.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use cfb::CompoundFile;

use crate::formats::{cstr, latin1, le16, le32};
use crate::walk::{Container, Failure, Member, Walker};

type Cfb<'d> = CompoundFile<Cursor<&'d [u8]>>;

/// Most entries looked at in one compound file.
const MAX_ENTRIES: usize = 100_000;

pub(crate) fn open(w: &mut Walker<'_>, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let mut file = CompoundFile::open(Cursor::new(data)).map_err(|e| Failure::corrupt("ole", e))?;
    let entries: Vec<(PathBuf, bool)> = file
        .walk()
        .take(MAX_ENTRIES)
        .map(|e| (e.path().to_path_buf(), e.is_stream()))
        .collect();
    for (path, is_stream) in &entries {
        if *is_stream {
            stream(w, cx, &mut file, path, data.len() as u64)?;
        } else if is_object_storage(path) && is_document_storage(&entries, path) {
            let copy = copy_storage(w, &mut file, path, &entries);
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
    w: &mut Walker<'_>,
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
fn native(w: &mut Walker<'_>, cx: &Container, path: &Path, bytes: &[u8]) -> Result<(), Failure> {
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
    w: &mut Walker<'_>,
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
            let mut out = crate::cap::zlib(&body[4..], &cap, declared);
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

/// An embedded storage that is itself an Office document (not just a package wrapper).
fn is_document_storage(entries: &[(PathBuf, bool)], storage: &Path) -> bool {
    const DOCUMENT_STREAMS: [&str; 4] = ["WordDocument", "Workbook", "Book", "PowerPoint Document"];
    entries.iter().any(|(p, is_stream)| {
        *is_stream
            && p.parent() == Some(storage)
            && p.file_name()
                .is_some_and(|n| DOCUMENT_STREAMS.iter().any(|d| n == *d))
    })
}

/// Copies the storage at `root` with everything below it into a new compound file.
fn copy_storage(
    w: &mut Walker<'_>,
    file: &mut Cfb<'_>,
    root: &Path,
    entries: &[(PathBuf, bool)],
) -> crate::cap::Unpacked {
    let mut out = match CompoundFile::create(Cursor::new(Vec::new())) {
        Ok(out) => out,
        Err(e) => return crate::cap::Unpacked::error(e),
    };
    for (path, is_stream) in entries
        .iter()
        .filter(|(p, _)| p.starts_with(root) && p != root)
    {
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
            return crate::cap::Unpacked::error(e);
        }
    }
    let bytes = out.into_inner().into_inner();
    let out = w.unpack(bytes.as_slice(), bytes.len() as u64, bytes.len() as u64);
    out
}

fn copy_stream(
    w: &mut Walker<'_>,
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

//! The binary Office formats: Word's FIB and field codes, Excel's BIFF records, PowerPoint's
//! record tree (encryption and the compressed storages holding VBA and embedded objects).

use std::io::{Read, Seek};
use std::path::Path;

use quarantd_core::Label;

use crate::fields::dde_in_word_binary;
use crate::limits::{MAX_NESTED_STORAGES, MAX_NESTED_TOTAL, MAX_OLE_STREAM, MAX_RECORDS};
use crate::native::{u16_le, u32_le};
use crate::Detection;

use super::{read_stream, Directory};

/// FIB flags: `fEncrypted` and `fObfuscated` (XOR) both mean the text is unreadable.
const FIB_ENCRYPTED: u16 = 0x0100;
const FIB_OBFUSCATED: u16 = 0x8000;

/// Word: encryption from the FIB, DDE fields from the document text.
pub(super) fn word<F: Read + Seek>(
    cfb: &mut cfb::CompoundFile<F>,
    path: &Path,
    found: &mut Detection,
) {
    let Some(stream) = read_stream(cfb, path) else {
        return;
    };
    let flags = u16_le(&stream, 0x0a).unwrap_or(0);
    if flags & (FIB_ENCRYPTED | FIB_OBFUSCATED) != 0 {
        found.flag(
            Label::Encrypted,
            "Word document is encrypted (FIB fEncrypted)",
        );
        return;
    }
    if let Some(instruction) = dde_in_word_binary(&stream) {
        found.flag(Label::Dde, format!("Word DDE field: {instruction}"));
    }
}

/// BIFF record types looked at.
const BIFF_EOF: u16 = 0x000a;
const BIFF_FILEPASS: u16 = 0x002f;
const BIFF_BOUNDSHEET: u16 = 0x0085;

/// `BOUNDSHEET` sheet types (high byte of `grbit`).
const SHEET_MACRO: u8 = 0x01;
const SHEET_VBA_MODULE: u8 = 0x06;

/// Excel BIFF5/BIFF8: the workbook globals up to their `EOF` record: `FILEPASS` means
/// encrypted, a `BOUNDSHEET` of type macro is an Excel 4 macro sheet.
pub(super) fn excel<F: Read + Seek>(
    cfb: &mut cfb::CompoundFile<F>,
    path: &Path,
    found: &mut Detection,
) {
    let Some(stream) = read_stream(cfb, path) else {
        return;
    };
    let mut pos = 0usize;
    for _ in 0..MAX_RECORDS {
        let (Some(kind), Some(len)) = (u16_le(&stream, pos), u16_le(&stream, pos + 2)) else {
            break;
        };
        let data = stream
            .get(pos + 4..pos + 4 + usize::from(len))
            .unwrap_or_default();
        pos += 4 + usize::from(len);
        match kind {
            BIFF_FILEPASS => {
                // Records after FILEPASS are encrypted: nothing more to read.
                found.flag(Label::Encrypted, "Excel workbook is encrypted (FILEPASS)");
                break;
            }
            BIFF_BOUNDSHEET => boundsheet(data, found),
            BIFF_EOF if pos > 4 => break,
            _ => {}
        }
    }
}

fn boundsheet(data: &[u8], found: &mut Detection) {
    match data.get(5) {
        Some(&SHEET_MACRO) => found.flag(Label::XlmMacro, "Excel 4 macro sheet (BOUNDSHEET)"),
        Some(&SHEET_VBA_MODULE) => found.note("Excel VBA module sheet (BOUNDSHEET)"),
        _ => {}
    }
}

/// PowerPoint record types looked at.
const PPT_EX_OLE_OBJ_STG: u16 = 0x1011;
const PPT_CRYPT_SESSION: u16 = 0x2f14;
const PPT_VBA_INFO_ATOM: u16 = 0x0400;

/// `CurrentUserAtom.headerToken` of an encrypted presentation.
const PPT_ENCRYPTED_TOKEN: u32 = 0xf3d1_c4df;

/// PowerPoint: encryption, and each `ExOleObjStg` (the VBA project storage or an embedded
/// object, zlib-compressed when its instance is 1) opened as a nested OLE file.
pub(super) fn powerpoint<F: Read + Seek>(
    cfb: &mut cfb::CompoundFile<F>,
    dir: &Directory,
    path: &Path,
    depth: usize,
    found: &mut Detection,
) {
    if ppt_encrypted(cfb, dir) {
        found.flag(Label::Encrypted, "PowerPoint presentation is encrypted");
        return;
    }
    let Some(stream) = read_stream(cfb, path) else {
        return;
    };
    let mut budget = StorageBudget {
        storages: MAX_NESTED_STORAGES,
        bytes: MAX_NESTED_TOTAL,
    };
    let mut pos = 0usize;
    for _ in 0..MAX_RECORDS {
        let (Some(ver_inst), Some(kind), Some(len)) = (
            u16_le(&stream, pos),
            u16_le(&stream, pos + 2),
            u32_le(&stream, pos + 4),
        ) else {
            break;
        };
        pos += 8;
        if ver_inst & 0x000f == 0x000f {
            continue; // a container: its children follow
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let data = stream.get(pos..pos.saturating_add(len)).unwrap_or_default();
        pos = pos.saturating_add(len);
        match kind {
            PPT_CRYPT_SESSION => {
                found.flag(Label::Encrypted, "PowerPoint presentation is encrypted");
            }
            PPT_EX_OLE_OBJ_STG => ole_storage(data, ver_inst >> 4 == 1, depth, &mut budget, found),
            PPT_VBA_INFO_ATOM => found.note("PowerPoint VBA project present (VBAInfoAtom)"),
            _ => {}
        }
    }
}

fn ppt_encrypted<F: Read + Seek>(cfb: &mut cfb::CompoundFile<F>, dir: &Directory) -> bool {
    if dir.root_stream("EncryptedSummary") {
        return true;
    }
    dir.root_path("Current User")
        .and_then(|path| read_stream(cfb, &path))
        .and_then(|user| u32_le(&user, 12))
        == Some(PPT_ENCRYPTED_TOKEN)
}

/// What is left for nested storages in one presentation.
struct StorageBudget {
    storages: usize,
    bytes: u64,
}

/// One `ExOleObjStg`: a VBA project storage (macros count for the presentation) or an
/// embedded object.
fn ole_storage(
    data: &[u8],
    compressed: bool,
    depth: usize,
    budget: &mut StorageBudget,
    found: &mut Detection,
) {
    if budget.storages == 0 || budget.bytes == 0 {
        found.note("PowerPoint: more OLE storages than the limit, not opened");
        return;
    }
    budget.storages -= 1;
    let storage = if compressed {
        let cap = budget.bytes.min(MAX_OLE_STREAM);
        data.get(4..)
            .and_then(|zlib| crate::inflate::zlib(zlib, cap))
    } else {
        Some(data.to_vec())
    };
    budget.bytes = budget
        .bytes
        .saturating_sub(storage.as_ref().map_or(0, |s| s.len() as u64));
    let Some(storage) = storage else {
        found.note("PowerPoint OLE storage could not be decompressed");
        return;
    };
    if !is_vba_storage(&storage) {
        found.flag(
            Label::OleObject,
            "PowerPoint embedded OLE object (ExOleObjStg)",
        );
    }
    super::merge_nested(&storage, depth, "PowerPoint OLE storage", found);
}

/// Whether a nested compound file is a VBA project storage rather than an object.
fn is_vba_storage(storage: &[u8]) -> bool {
    let Ok(cfb) = cfb::CompoundFile::open(std::io::Cursor::new(storage)) else {
        return false;
    };
    let dir = Directory::read(&cfb);
    dir.root_stream("PROJECT") || !dir.vba_storages().is_empty()
}

//! Zip-based formats: OOXML (Word, Excel incl. XLSB, PowerPoint, Visio), XPS, ODF, JAR,
//! APK, MSIX — and plain zips, whose members are parts of their own (made by
//! `quarantd-mime`); here only "every entry is encrypted" is judged for them.
//!
//! Members are read through `take` with [`MAX_ZIP_MEMBER`] per member and
//! [`MAX_ZIP_TOTAL`] for the whole part, so a bomb dressed as a document costs no more.

use std::io::{Cursor, Read};

use quarantd_core::Label;

use crate::fields;
use crate::limits::{MAX_NESTING, MAX_RECORDS, MAX_ZIP_ENTRIES, MAX_ZIP_MEMBER, MAX_ZIP_TOTAL};
use crate::Detection;

const OLE_MAGIC: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// One member of the zip's central directory.
struct Member {
    index: usize,
    /// The name in lower case (OOXML part names are case-insensitive).
    name: String,
    encrypted: bool,
    is_dir: bool,
}

/// The open zip, its members and what is left of the decompression budget.
struct Zip<'a> {
    archive: Archive<'a>,
    members: Vec<Member>,
    budget: u64,
}

impl Zip<'_> {
    fn has(&self, name: &str) -> bool {
        self.members.iter().any(|m| m.name == name)
    }

    fn any(&self, f: impl Fn(&str) -> bool) -> bool {
        self.members.iter().any(|m| f(&m.name))
    }

    fn names_where(&self, f: impl Fn(&str) -> bool) -> Vec<(usize, String)> {
        self.members
            .iter()
            .filter(|m| !m.is_dir && !m.encrypted && f(&m.name))
            .map(|m| (m.index, m.name.clone()))
            .collect()
    }

    /// A member's bytes, within the per-member and total budgets.
    fn read(&mut self, index: usize) -> Option<Vec<u8>> {
        let limit = self.budget.min(MAX_ZIP_MEMBER);
        let allowed = crate::inflate::allowance(limit);
        let file = self.archive.by_index(index).ok()?;
        let mut data = Vec::new();
        let read = file.take(allowed).read_to_end(&mut data);
        self.budget = self.budget.saturating_sub(data.len() as u64);
        crate::inflate::charge(data.len() as u64, allowed, limit);
        read.ok().map(|_| data)
    }

    /// The first `len` bytes of a member (to check its magic before reading it whole).
    fn peek(&mut self, index: usize, len: usize) -> Option<Vec<u8>> {
        let file = self.archive.by_index(index).ok()?;
        let mut data = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut data).ok()?;
        Some(data)
    }

    fn read_name(&mut self, name: &str) -> Option<Vec<u8>> {
        let index = self.members.iter().find(|m| m.name == name)?.index;
        self.read(index)
    }
}

/// Analyses a zip-based part. `depth` counts containers opened around it in this part.
pub(crate) fn analyse(content: &[u8], depth: usize, found: &mut Detection) {
    found.detected_type = "application/zip".into();
    let archive = match zip::ZipArchive::new(Cursor::new(content)) {
        Ok(archive) => archive,
        Err(error) => {
            found.note(format!("zip directory could not be read: {error}"));
            return;
        }
    };
    let mut zip = Zip {
        members: members(&archive),
        archive,
        budget: MAX_ZIP_TOTAL,
    };
    if zip.has("[content_types].xml") {
        ooxml(&mut zip, depth, found);
    } else if zip.has("mimetype") {
        odf(&mut zip, depth, found);
    } else if !packaged_program(&zip, found) {
        plain(&zip, found);
    }
}

fn members(archive: &Archive<'_>) -> Vec<Member> {
    (0..archive.len().min(MAX_ZIP_ENTRIES))
        .filter_map(|index| {
            let entry = archive.by_index_data(index).ok()?;
            let name = entry.name().ok()?.to_lowercase();
            Some(Member {
                index,
                encrypted: entry.encrypted(),
                is_dir: entry.is_dir(),
                name,
            })
        })
        .collect()
}

/// JAR, APK and MSIX packages.
fn packaged_program(zip: &Zip<'_>, found: &mut Detection) -> bool {
    let (mime, note) = if zip.has("androidmanifest.xml") && zip.has("classes.dex") {
        (
            "application/vnd.android.package-archive",
            "Android package (APK)",
        )
    } else if zip.has("appxmanifest.xml") || zip.has("appxmetadata/appxbundlemanifest.xml") {
        ("application/msix", "Windows app package (MSIX/AppX)")
    } else if zip.has("meta-inf/manifest.mf") || zip.any(|n| n.ends_with(".class")) {
        ("application/java-archive", "Java archive (JAR)")
    } else {
        return false;
    };
    found.detected_type = mime.into();
    found.flag(Label::Executable, note);
    true
}

/// A plain zip: encrypted when every file entry is.
fn plain(zip: &Zip<'_>, found: &mut Detection) {
    let mut files = zip.members.iter().filter(|m| !m.is_dir).peekable();
    if files.peek().is_some() && files.all(|m| m.encrypted) {
        found.flag(Label::Encrypted, "every zip entry is encrypted");
    }
}

/// OpenDocument: the `mimetype` member names the type; embedded objects are `Object N/`.
fn odf(zip: &mut Zip<'_>, depth: usize, found: &mut Detection) {
    let mime = zip
        .read_name("mimetype")
        .map(|m| {
            String::from_utf8_lossy(&m[..m.len().min(100)])
                .trim()
                .to_string()
        })
        .filter(|m| m.starts_with("application/"))
        .unwrap_or_else(|| "application/zip".into());
    found.detected_type = mime;
    if zip.any(is_odf_object) {
        found.flag(Label::OleObject, "OpenDocument embedded object");
    }
    nested_ole(zip, depth, is_odf_object, found);
    if zip.any(|n| {
        n.starts_with("basic/")
            && n.ends_with(".xml")
            && !n.ends_with("script-lb.xml")
            && !n.ends_with("script-lc.xml")
    }) {
        found.note("OpenDocument Basic macro library present");
    }
}

/// ODF objects: `Object N` (an OLE file or a sub-document folder) at the root.
fn is_odf_object(name: &str) -> bool {
    name.starts_with("object ")
}

/// Main content types and the MIME type each announces.
const MAIN_TYPES: &[(&str, &str)] = &[
    (
        "ms-word.document.macroenabled.main",
        "application/vnd.ms-word.document.macroEnabled.12",
    ),
    (
        "ms-word.template.macroenabledtemplate.main",
        "application/vnd.ms-word.template.macroEnabled.12",
    ),
    (
        "wordprocessingml.document.main",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "wordprocessingml.template.main",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    ),
    (
        "ms-excel.sheet.binary.macroenabled.main",
        "application/vnd.ms-excel.sheet.binary.macroEnabled.12",
    ),
    (
        "ms-excel.sheet.macroenabled.main",
        "application/vnd.ms-excel.sheet.macroEnabled.12",
    ),
    (
        "ms-excel.template.macroenabled.main",
        "application/vnd.ms-excel.template.macroEnabled.12",
    ),
    (
        "ms-excel.addin.macroenabled.main",
        "application/vnd.ms-excel.addin.macroEnabled.12",
    ),
    (
        "spreadsheetml.sheet.main",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        "spreadsheetml.template.main",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
    ),
    (
        "ms-powerpoint.presentation.macroenabled.main",
        "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
    ),
    (
        "ms-powerpoint.slideshow.macroenabled.main",
        "application/vnd.ms-powerpoint.slideshow.macroEnabled.12",
    ),
    (
        "presentationml.presentation.main",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    (
        "presentationml.slideshow.main",
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
    ),
    (
        "ms-visio.drawing.macroenabled.main",
        "application/vnd.ms-visio.drawing.macroEnabled.12",
    ),
    ("ms-visio.drawing.main", "application/vnd.ms-visio.drawing"),
    ("fixeddocumentsequence", "application/vnd.ms-xpsdocument"),
];

/// OOXML: type from `[Content_Types].xml`, then macros, DDE and embedded objects.
fn ooxml(zip: &mut Zip<'_>, depth: usize, found: &mut Detection) {
    let types = zip
        .read_name("[content_types].xml")
        .map(|t| String::from_utf8_lossy(&t).to_ascii_lowercase())
        .unwrap_or_default();
    found.detected_type = main_type(zip, &types).into();
    if types.contains("macrosheet") || zip.any(|n| n.contains("macrosheets/")) {
        found.flag(Label::XlmMacro, "Excel 4 macro sheet (xl/macrosheets)");
    }
    if zip.any(|n| n.contains("/embeddings/")) {
        found.flag(Label::OleObject, "OOXML embedded object (embeddings/)");
    }
    nested_ole(
        zip,
        depth,
        |n| n.ends_with(".bin") || n.contains("/embeddings/"),
        found,
    );
    word_fields(zip, found);
    excel_dde(zip, found);
}

fn main_type(zip: &Zip<'_>, types: &str) -> &'static str {
    if let Some((_, mime)) = MAIN_TYPES.iter().find(|(key, _)| types.contains(key)) {
        return mime;
    }
    if zip.any(|n| n.starts_with("word/")) {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    } else if zip.any(|n| n.starts_with("xl/")) {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else if zip.any(|n| n.starts_with("ppt/")) {
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    } else {
        "application/zip"
    }
}

/// `vbaProject.bin` and embedded objects chosen by `which`: OLE files whose macros count
/// for the document.
fn nested_ole(
    zip: &mut Zip<'_>,
    depth: usize,
    which: impl Fn(&str) -> bool,
    found: &mut Detection,
) {
    if depth >= MAX_NESTING {
        return;
    }
    for (index, name) in zip.names_where(which) {
        if zip.peek(index, OLE_MAGIC.len()).as_deref() != Some(OLE_MAGIC) {
            continue;
        }
        if let Some(data) = zip.read(index) {
            crate::ole::merge_nested(&data, depth, &name, found);
        }
    }
}

/// The Word parts that hold text and so fields: body (also of the glossary), headers,
/// footers, notes and comments; styles, themes, settings and fonts cannot.
fn is_word_story(name: &str) -> bool {
    let Some(part) = name.strip_prefix("word/") else {
        return false;
    };
    let part = part.strip_prefix("glossary/").unwrap_or(part);
    !part.contains('/')
        && part.ends_with(".xml")
        && [
            "document",
            "header",
            "footer",
            "footnotes",
            "endnotes",
            "comments",
        ]
        .iter()
        .any(|story| part.starts_with(story))
}

/// DDE fields in the Word parts (body, headers, footers, notes, comments).
fn word_fields(zip: &mut Zip<'_>, found: &mut Detection) {
    for (index, name) in zip.names_where(is_word_story) {
        let Some(xml) = zip.read(index) else {
            continue;
        };
        if let Some(instruction) = fields::dde_in_word_xml(&xml) {
            found.flag(Label::Dde, format!("DDE field in {name}: {instruction}"));
            return;
        }
    }
}

/// Excel DDE: `ddeLink` external links (XML), DDE `SupBook` records (XLSB), and DDE
/// formulas written straight into worksheet cells.
fn excel_dde(zip: &mut Zip<'_>, found: &mut Detection) {
    for (index, name) in
        zip.names_where(|n| n.starts_with("xl/externallinks/") && !n.contains("_rels"))
    {
        let Some(data) = zip.read(index) else {
            continue;
        };
        let dde = if name.ends_with(".bin") {
            xlsb_dde_supbook(&data)
        } else {
            memchr::memmem::find(&data, b"ddeLink").is_some()
        };
        if dde {
            found.flag(Label::Dde, format!("DDE external link {name}"));
        }
    }
    for (index, name) in zip.names_where(|n| n.starts_with("xl/worksheets/") && n.ends_with(".xml"))
    {
        let Some(xml) = zip.read(index) else {
            continue;
        };
        if let Some(formula) = fields::dde_in_formula_attributes(&xml) {
            found.flag(Label::Dde, format!("DDE formula in {name}: {formula}"));
        }
    }
}

/// XLSB record `BrtBeginSupBook` (360) with `sbt` = 1 is a DDE link.
fn xlsb_dde_supbook(data: &[u8]) -> bool {
    const BRT_BEGIN_SUP_BOOK: u32 = 360;
    let mut pos = 0;
    for _ in 0..MAX_RECORDS {
        let Some((kind, after_kind)) = varint(data, pos, 2) else {
            return false;
        };
        let Some((len, after_len)) = varint(data, after_kind, 4) else {
            return false;
        };
        if kind == BRT_BEGIN_SUP_BOOK {
            return crate::native::u16_le(data, after_len) == Some(1);
        }
        pos = after_len.saturating_add(len as usize);
    }
    false
}

/// An XLSB variable-length number: 7 bits per byte, high bit continues, at most `max` bytes.
fn varint(data: &[u8], mut pos: usize, max: usize) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for i in 0..max {
        let byte = *data.get(pos)?;
        pos += 1;
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
    }
    Some((value, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xlsb_supbook() {
        let dde = [0xe8, 0x02, 0x06, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00];
        let workbook = [0xe8, 0x02, 0x06, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00];
        let other_first = [0x01, 0x00, 0xe8, 0x02, 0x02, 0x01, 0x00];
        assert!(xlsb_dde_supbook(&dde));
        assert!(!xlsb_dde_supbook(&workbook));
        assert!(xlsb_dde_supbook(&other_first));
        assert!(!xlsb_dde_supbook(&[0xff, 0xff]));
        assert!(!xlsb_dde_supbook(&[]));
    }
}

//! Binary parts carried as base64 inside XML documents: flat OPC packages
//! (`<pkg:binaryData>` holding `vbaProject.bin`) and Word 2003 XML (`<w:binData>` holding an
//! ActiveMime `editdata.mso`, i.e. a zlib-compressed OLE file with the VBA project); and
//! ActiveMime (`.mso`) blobs on their own.

use crate::limits::{MAX_OLE_STREAM, TEXT_SCAN_BYTES};
use crate::native::u16_le;
use crate::Detection;
use quarantd_mime::lenient_base64;

const OLE_MAGIC: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const ACTIVE_MIME: &[u8] = b"ActiveMime";

/// Binary elements looked at per document.
const MAX_BINARIES: usize = 1_000;

/// Elements whose text is base64 of an embedded binary part.
const BINARY_ELEMENTS: &[&[u8]] = &[b"<pkg:binaryData", b"<w:binData", b"<o:binData"];

/// Whether content is an ActiveMime blob.
pub(crate) fn is_active_mime(content: &[u8]) -> bool {
    content.starts_with(ACTIVE_MIME)
}

/// Looks into every base64 binary element of an XML document; OLE files (directly or in
/// ActiveMime) have their macros merged into `found`. Only elements whose first bytes
/// decode to one of those magics are decoded whole.
pub(crate) fn xml_binaries(xml: &[u8], found: &mut Detection) {
    for element in BINARY_ELEMENTS {
        for at in memchr::memmem::find_iter(xml, element).take(MAX_BINARIES) {
            let Some(text) = element_text(&xml[at..]) else {
                continue;
            };
            let head = lenient_base64(&text[..text.len().min(64)]);
            if head.starts_with(OLE_MAGIC) || head.starts_with(ACTIVE_MIME) {
                let data = lenient_base64(text);
                analyse_binary(&data, found);
            }
        }
    }
}

fn analyse_binary(data: &[u8], found: &mut Detection) {
    if data.starts_with(OLE_MAGIC) {
        crate::ole::merge_nested(data, 0, "OLE part embedded in XML", found);
    } else if is_active_mime(data) {
        active_mime(data, found);
    }
}

/// An ActiveMime blob: a header, then a zlib stream holding an OLE file. The stream's
/// offset is read from the header (u16 at 0x1E, plus 46), else the offsets Word (0x32) and
/// Excel (0x22A) use.
pub(crate) fn active_mime(data: &[u8], found: &mut Detection) {
    let from_header = u16_le(data, 0x1e).map(|o| usize::from(o) + 46);
    let ole = [from_header, Some(0x32), Some(0x22a)]
        .into_iter()
        .flatten()
        .filter_map(|offset| data.get(offset..))
        .filter_map(|zlib| crate::inflate::zlib(zlib, MAX_OLE_STREAM))
        .find(|inflated| inflated.starts_with(OLE_MAGIC));
    match ole {
        Some(ole) => crate::ole::merge_nested(&ole, 0, "ActiveMime (editdata.mso)", found),
        None => found.note("ActiveMime blob could not be inflated"),
    }
}

/// The text of the element starting at the slice's beginning, up to the next `<`.
fn element_text(from: &[u8]) -> Option<&[u8]> {
    let start = memchr::memchr(b'>', &from[..from.len().min(4096)])? + 1;
    let rest = &from[start..];
    let end = memchr::memchr(b'<', rest).unwrap_or(rest.len());
    Some(&rest[..end.min(TEXT_SCAN_BYTES)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_leniently() {
        assert_eq!(lenient_base64(b"aGVsbG8="), b"hello");
        assert_eq!(lenient_base64(b"aGVs\r\n bG8"), b"hello");
        assert_eq!(lenient_base64(b""), b"");
        assert_eq!(lenient_base64(b"!!!!"), b"");
    }

    #[test]
    fn xml_without_binaries_is_quiet() {
        let mut found = Detection::default();
        xml_binaries(
            b"<pkg:binaryData>aGVsbG8=</pkg:binaryData><w:binData",
            &mut found,
        );
        assert!(found.labels.is_empty());
    }
}

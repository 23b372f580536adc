//! PDF: encryption (`/Encrypt` in the trailer or cross-reference stream dictionary), and
//! notes on active content (JavaScript, launch actions, attachments) for the reader.

use quarantd_core::Label;

use crate::Detection;

/// Active-content names noted (not labelled: the attachments are parts of their own, the
/// scanners judge the scripts).
const NOTED: &[(&[u8], &str)] = &[
    (b"/JavaScript", "PDF contains JavaScript"),
    (b"/Launch", "PDF contains a launch action"),
    (b"/EmbeddedFile", "PDF contains embedded files"),
    (b"/OpenAction", "PDF has an open action"),
];

/// Analyses a PDF.
pub(crate) fn analyse(content: &[u8], found: &mut Detection) {
    found.detected_type = "application/pdf".into();
    if has_name(content, b"/Encrypt") {
        found.flag(Label::Encrypted, "PDF is encrypted (/Encrypt)");
    }
    for (name, note) in NOTED {
        if has_name(content, name) {
            found.note(*note);
        }
    }
}

/// Whether the PDF name occurs as a whole name (`/Encrypt`, not `/EncryptMetadata`).
fn has_name(content: &[u8], name: &[u8]) -> bool {
    memchr::memmem::find_iter(content, name).any(|at| {
        content
            .get(at + name.len())
            .is_none_or(|b| !b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_table() {
        let cases: &[(&[u8], &[Label])] = &[
            (
                b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF",
                &[],
            ),
            (
                b"%PDF-1.4\ntrailer<</Root 1 0 R/Encrypt 5 0 R>>\n%%EOF",
                &[Label::Encrypted],
            ),
            (b"%PDF-1.4\n<</EncryptMetadata false>>", &[]),
            (b"%PDF-1.4\n/Encrypt", &[Label::Encrypted]),
        ];
        for (bytes, want) in cases {
            let mut found = Detection::default();
            analyse(bytes, &mut found);
            assert_eq!(&found.labels, want, "{}", String::from_utf8_lossy(bytes));
        }
    }
}

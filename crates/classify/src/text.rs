//! Text content: what kind of text, scripts and source code by content, and DDE formulas and
//! field codes in text-based spreadsheet and document formats (CSV, SYLK, SpreadsheetML,
//! Word XML).

use quarantd_core::Label;

use crate::fields;
use crate::limits::{TEXT_SCAN_BYTES, TEXT_SNIFF_BYTES};
use crate::Detection;

/// Whether `content` looks like text: UTF-16 with a BOM, or bytes without the control
/// characters that never occur in text (NUL and the C0 controls other than tab, line
/// breaks, form feed and escape), judged on the first [`TEXT_SNIFF_BYTES`].
pub(crate) fn is_text(content: &[u8]) -> bool {
    if content.starts_with(b"\xff\xfe") || content.starts_with(b"\xfe\xff") {
        return true;
    }
    let head = &content[..content.len().min(TEXT_SNIFF_BYTES)];
    !head.iter().any(|&b| is_binary_byte(b))
}

fn is_binary_byte(b: u8) -> bool {
    matches!(b, 0..=8 | 0x0e..=0x1a | 0x1c..=0x1f)
}

/// The first [`TEXT_SNIFF_BYTES`] as lower-case ASCII, with UTF-16 narrowed to 8 bits so
/// that markers are found in either encoding.
pub(crate) fn head_lower(content: &[u8]) -> Vec<u8> {
    let head = &content[..content.len().min(TEXT_SNIFF_BYTES)];
    let narrowed: Vec<u8> = if head.starts_with(b"\xff\xfe") {
        head[2..].iter().step_by(2).copied().collect()
    } else if head.starts_with(b"\xfe\xff") {
        head[2..].iter().skip(1).step_by(2).copied().collect()
    } else {
        head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head).to_vec()
    };
    narrowed.to_ascii_lowercase()
}

/// A script kind found by content, with its MIME type.
struct ScriptMarker {
    what: &'static str,
    mime: &'static str,
}

/// Analyses a text part: its detected type and the labels its content alone justifies.
pub(crate) fn analyse(content: &[u8], found: &mut Detection) {
    let head = head_lower(content);
    let trimmed = trim_start(&head);
    if let Some(marker) = script_marker(trimmed, &head) {
        found.detected_type = marker.mime.into();
        found.flag(Label::Script, marker.what);
    } else if let Some((language, mime)) = source_marker(trimmed) {
        found.detected_type = mime.into();
        found.flag(Label::SourceCode, format!("{language} source code"));
    } else {
        found.detected_type = text_type(trimmed).into();
    }
    scan_office_text(content, trimmed, found);
}

fn trim_start(head: &[u8]) -> &[u8] {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    &head[start..]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Scripts that Windows runs, recognised by content.
fn script_marker(trimmed: &[u8], head: &[u8]) -> Option<ScriptMarker> {
    let marker = |what, mime| Some(ScriptMarker { what, mime });
    if trimmed.starts_with(b"#@~^") {
        return marker(
            "encoded script (JScript.Encode/VBScript.Encode)",
            "text/x-script.encoded",
        );
    }
    if trimmed.starts_with(b"windows registry editor") || trimmed.starts_with(b"regedit4") {
        return marker("Windows registry file", "text/x-ms-regedit");
    }
    if contains(head, b"<hta:application") {
        return marker("HTML application (HTA)", "application/hta");
    }
    let body = skip_xml_prolog(trimmed);
    if (body.starts_with(b"<job") || body.starts_with(b"<package") || body.starts_with(b"<?job"))
        && contains(head, b"<script")
    {
        return marker("Windows Script File (WSF)", "text/x-wsf");
    }
    if body.starts_with(b"<scriptlet")
        || (body.starts_with(b"<component") && contains(head, b"<script"))
    {
        return marker("Windows scriptlet (SCT/WSC)", "text/scriptlet");
    }
    if trimmed.starts_with(b"@echo off") || trimmed.starts_with(b"@echo on") {
        return marker("batch file", "application/x-bat");
    }
    None
}

/// Skips `<?xml ...?>` declarations and `<!-- -->` comments (bounded by the head's length).
fn skip_xml_prolog(mut text: &[u8]) -> &[u8] {
    loop {
        let next = if text.starts_with(b"<?xml") {
            memchr::memmem::find(text, b"?>").map(|end| end + 2)
        } else if text.starts_with(b"<!--") {
            memchr::memmem::find(text, b"-->").map(|end| end + 3)
        } else {
            None
        };
        match next {
            Some(end) => text = trim_start(&text[end..]),
            None => return text,
        }
    }
}

/// Source code recognised by content: a `#!` line or `<?php`.
fn source_marker(trimmed: &[u8]) -> Option<(&'static str, &'static str)> {
    if trimmed.starts_with(b"<?php") {
        return Some(("PHP", "text/x-php"));
    }
    let line = trimmed.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    const INTERPRETERS: &[(&[u8], &str, &str)] = &[
        (b"python", "Python", "text/x-python"),
        (b"perl", "Perl", "text/x-perl"),
        (b"ruby", "Ruby", "text/x-ruby"),
        (b"php", "PHP", "text/x-php"),
        (b"node", "JavaScript (Node.js)", "application/javascript"),
        (b"bash", "shell", "text/x-shellscript"),
        (b"zsh", "shell", "text/x-shellscript"),
        (b"ksh", "shell", "text/x-shellscript"),
        (b"sh", "shell", "text/x-shellscript"),
    ];
    INTERPRETERS
        .iter()
        .find(|(name, ..)| contains(line, name))
        .map(|&(_, language, mime)| (language, mime))
}

/// The MIME type of plain text by its opening.
fn text_type(trimmed: &[u8]) -> &'static str {
    let body = skip_xml_prolog(trimmed);
    let opening = &trimmed[..trimmed.len().min(1024)];
    if trimmed.starts_with(b"id;p") {
        "application/x-sylk"
    } else if trimmed.starts_with(b"(this file must be converted with binhex") {
        "application/mac-binhex40"
    } else if is_mail(trimmed) {
        "message/rfc822"
    } else if trimmed.starts_with(b"<!doctype html")
        || body.starts_with(b"<html")
        || contains(opening, b"<html")
        || contains(opening, b"<body")
        || contains(opening, b"<a href=")
    {
        "text/html"
    } else if trimmed.starts_with(b"<?xml") {
        "text/xml"
    } else if trimmed.starts_with(b"<svg") || body.starts_with(b"<svg") {
        "image/svg+xml"
    } else {
        "text/plain"
    }
}

/// A mail message: the first line is a header field that every message has, or an mbox
/// `From ` line.
fn is_mail(trimmed: &[u8]) -> bool {
    const FIRST_FIELDS: &[&[u8]] = &[
        b"from ",
        b"from:",
        b"return-path:",
        b"received:",
        b"message-id:",
        b"mime-version:",
        b"date:",
        b"subject:",
        b"to:",
        b"delivered-to:",
        b"content-type:",
        b"content-transfer-encoding:",
        b"reply-to:",
        b"sender:",
        b"cc:",
        b"thread-topic:",
        b"x-",
    ];
    let first_line = trimmed.split(|&b| b == b'\n').next().unwrap_or_default();
    let is_field = first_line
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|colon| first_line[..colon].iter().all(|b| b.is_ascii_graphic()));
    FIRST_FIELDS.iter().any(|f| trimmed.starts_with(f))
        && (is_field || (first_line.starts_with(b"from ") && is_mbox_from(first_line)))
        && contains(trimmed, b"\n")
}

/// `From sender@host Mon Jan  1 00:00:00 2024`: an address and a time.
fn is_mbox_from(line: &[u8]) -> bool {
    contains(line, b"@") && contains(line, b":")
}

/// DDE and XLM in text-based Office formats, scanned over the first [`TEXT_SCAN_BYTES`].
fn scan_office_text(content: &[u8], trimmed_head: &[u8], found: &mut Detection) {
    let text = &content[..content.len().min(TEXT_SCAN_BYTES)];
    if trimmed_head.starts_with(b"id;") {
        sylk(text, found);
    } else if trimmed_head.starts_with(b"<") {
        xml_office(text, found);
    }
}

/// DDE formulas in a text part that a spreadsheet opens (a `.csv` name or a CSV/Excel
/// declared type: see `detect`). Ordinary text is not scanned: only Excel evaluates cells.
pub(crate) fn csv_dde(content: &[u8], found: &mut Detection) {
    let text = &content[..content.len().min(TEXT_SCAN_BYTES)];
    if let Some(cell) = csv_dde_cell(text) {
        found.flag(Label::Dde, format!("DDE formula in cell: {cell}"));
    }
}

/// Word and Excel XML (2003 XML, flat OPC): DDE fields, DDE formulas, macro sheets.
fn xml_office(text: &[u8], found: &mut Detection) {
    if let Some(instr) = fields::dde_in_word_xml(text) {
        found.flag(Label::Dde, format!("DDE field: {instr}"));
    }
    if let Some(formula) = fields::dde_in_formula_attributes(text) {
        found.flag(Label::Dde, format!("DDE formula: {formula}"));
    }
    if contains(text, b"<ddeLink") || contains(text, b":ddeLink") {
        found.flag(Label::Dde, "Excel ddeLink");
    }
    if contains(text, b"binData") || contains(text, b"binaryData") {
        crate::embedded::xml_binaries(text, found);
    }
    if contains(text, b"ms-excel.macrosheet")
        || contains(text, b"ms-excel.intlmacrosheet")
        || contains(text, b"/xl/macrosheets/")
    {
        found.flag(Label::XlmMacro, "Excel 4 macro sheet part in XML package");
    }
}

/// The first CSV cell holding a DDE formula (`=app|'topic'!item`).
fn csv_dde_cell(text: &[u8]) -> Option<String> {
    text.split(|&b| b == b'\n')
        .flat_map(|line| line.split(|&b| matches!(b, b',' | b';' | b'\t')))
        .map(|cell| strip_quotes(cell.trim_ascii()).trim_ascii())
        .find(|cell| fields::is_dde_formula(cell))
        .map(|cell| String::from_utf8_lossy(&cell[..cell.len().min(120)]).into_owned())
}

fn strip_quotes(cell: &[u8]) -> &[u8] {
    let cell = cell.strip_prefix(b"\"").unwrap_or(cell);
    cell.strip_suffix(b"\"").unwrap_or(cell)
}

/// SYLK: DDE formulas in cell records and Excel 4 macro sheets.
fn sylk(text: &[u8], found: &mut Detection) {
    found.detected_type = "application/x-sylk".into();
    for line in text.split(|&b| b == b'\n' || b == b'\r') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b';').collect();
        match fields.first().copied() {
            Some(b"C") | Some(b"F") => sylk_cell(&fields, found),
            Some(b"O") if fields.iter().skip(1).any(|f| *f == b"E") => {
                found.flag(Label::XlmMacro, "SYLK file is an Excel 4 macro sheet");
            }
            Some(b"NN") if fields.iter().any(|f| is_auto_name(f)) => {
                found.flag(Label::XlmMacro, "SYLK auto-run macro name");
            }
            _ => {}
        }
    }
}

fn sylk_cell(fields: &[&[u8]], found: &mut Detection) {
    for formula in fields.iter().filter_map(|f| f.strip_prefix(b"E")) {
        if fields::is_dde_formula(formula) || fields::is_dde_formula(&[b"=", formula].concat()) {
            found.flag(Label::Dde, "DDE formula in SYLK cell");
        }
        if fields::calls_xlm_function(formula) {
            found.flag(Label::XlmMacro, "Excel 4 macro function in SYLK cell");
        }
    }
}

fn is_auto_name(field: &[u8]) -> bool {
    let name = field
        .strip_prefix(b"N")
        .unwrap_or(field)
        .to_ascii_lowercase();
    name.starts_with(b"auto_open")
        || name.starts_with(b"auto_close")
        || name.starts_with(b"auto_activate")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(content: &[u8]) -> (String, Vec<Label>) {
        let mut found = Detection::default();
        analyse(content, &mut found);
        (found.detected_type, found.labels)
    }

    #[test]
    fn text_kinds() {
        let cases: &[(&[u8], &str, &[Label])] = &[
            (b"#@~^XAAAAA==...", "text/x-script.encoded", &[Label::Script]),
            (b"Windows Registry Editor Version 5.00\r\n", "text/x-ms-regedit", &[Label::Script]),
            (b"REGEDIT4\n[HKEY_CURRENT_USER]", "text/x-ms-regedit", &[Label::Script]),
            (b"<html><head><HTA:APPLICATION id=x/>", "application/hta", &[Label::Script]),
            (b"<?xml version=\"1.0\"?>\n<job id=\"a\"><script language=\"JScript\">", "text/x-wsf", &[Label::Script]),
            (b"<package><job><script>", "text/x-wsf", &[Label::Script]),
            (b"<?XML version=\"1.0\"?><scriptlet><registration/>", "text/scriptlet", &[Label::Script]),
            (b"@ECHO OFF\r\ndel x\r\n", "application/x-bat", &[Label::Script]),
            (b"#!/bin/sh\necho hi\n", "text/x-shellscript", &[Label::SourceCode]),
            (b"#!/usr/bin/env python3\n", "text/x-python", &[Label::SourceCode]),
            (b"#!/usr/bin/perl -w\n", "text/x-perl", &[Label::SourceCode]),
            (b"<?php echo 1; ?>", "text/x-php", &[Label::SourceCode]),
            (b"Dear colleague,\nplease find attached.\n", "text/plain", &[]),
            (b"<!DOCTYPE html><html><script>alert(1)</script>", "text/html", &[]),
            (b"a,b,c\n1,2,3\n", "text/plain", &[]),
            (b"From: a@example.org\nSubject: hi\n\nbody\n", "message/rfc822", &[]),
            (b"X-Mailer: y\nFrom: a@b\n\n", "message/rfc822", &[]),
            (b"Content-Type: text/plain\n\n=cmd|'/c calc'!A0\n", "message/rfc822", &[]),
            (b"From here to there\n", "text/plain", &[]),
            (b"=cmd|'/c calc'!A0\n", "text/plain", &[]),
            (b"ID;PWXL;N;E\r\nC;Y1;X1;E=cmd|' /c calc'!A0\r\nE\r\n", "application/x-sylk", &[Label::Dde]),
            (b"ID;PWXL;N;E\r\nO;L;E;D;V0\r\nNN;NAuto_Open;ER1C1\r\nC;Y1;X1;EEXEC(\"calc\")\r\n", "application/x-sylk", &[Label::XlmMacro]),
            (b"ID;PWXL;N;E\r\nC;Y1;X1;K1;ESUM(R1C2)\r\nE\r\n", "application/x-sylk", &[]),
            (b"<?xml version=\"1.0\"?><Workbook><Cell ss:Formula=\"=cmd|'/c calc.exe'!A1\">", "text/xml", &[Label::Dde]),
            (b"<?xml version=\"1.0\"?><w:document><w:fldSimple w:instr=\" DDEAUTO c:\\\\x.exe\"/>", "text/xml", &[Label::Dde]),
        ];
        for (bytes, mime, want) in cases {
            let (got_mime, got) = labels(bytes);
            assert_eq!(&got, want, "{}", String::from_utf8_lossy(bytes));
            assert_eq!(&got_mime, mime, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn csv_cells() {
        let cases: &[(&[u8], &[Label])] = &[
            (b"=cmd|'/c calc'!A0\n", &[Label::Dde]),
            (
                b"name,value\nx,\"=MSEXCEL|'\\..\\Windows\\System32\\cmd.exe /c calc'!''\"\n",
                &[Label::Dde],
            ),
            (b"a;b\n1;@SUM(cmd|'/c calc'!A0)\n", &[Label::Dde]),
            (b"a,=SUM(A1:A3),b\n", &[]),
            (b"a,b\n", &[]),
        ];
        for (bytes, want) in cases {
            let mut found = Detection::default();
            csv_dde(bytes, &mut found);
            assert_eq!(&found.labels, want, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn text_or_binary() {
        assert!(is_text(b"plain\r\n\ttext\x0c\x1b[0m"));
        assert!(is_text("Grüße, ½".as_bytes()));
        assert!(is_text(b"\xff\xfeh\0i\0"));
        assert!(!is_text(b"text\0with nul"));
        assert!(!is_text(b"\x01\x02\x03"));
    }
}

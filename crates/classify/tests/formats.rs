//! Table-driven tests with small hand-made samples, one or more per detector: OLE files
//! (Word, Excel, PowerPoint, VBA, MSI, encrypted OOXML, embedded objects) built with `cfb`,
//! zips (OOXML, JAR, encrypted) built with `zip`, and names and declared types.

use std::io::{Cursor, Write};

use quarantd_classify::{classify, detect};
use quarantd_core::{Decomposed, Label, Part, PartData, PartPath};

// ---- sample builders ----

/// An OLE compound file with the given streams (parents created as storages).
fn ole(streams: &[(&str, &[u8])], clsid: Option<&str>) -> Vec<u8> {
    let mut cfb = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
    if let Some(clsid) = clsid {
        cfb.set_storage_clsid("/", uuid::Uuid::parse_str(clsid).expect("uuid"))
            .expect("clsid");
    }
    for (path, data) in streams {
        let parent = std::path::Path::new(path).parent().expect("parent");
        cfb.create_storage_all(parent).expect("storage");
        cfb.create_stream(path)
            .expect("stream")
            .write_all(data)
            .expect("write");
    }
    cfb.flush().expect("flush");
    cfb.into_inner().into_inner()
}

/// MS-OVBA compression using literal tokens only (valid, if not small), for short text.
fn ovba(source: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    for chunk in source.chunks(3000) {
        let mut data = Vec::new();
        for group in chunk.chunks(8) {
            data.push(0);
            data.extend_from_slice(group);
        }
        let header = 0xb000u16 | (data.len() as u16 + 2 - 3);
        out.extend_from_slice(&header.to_le_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// A VBA `dir` stream naming one module whose source starts at offset 0.
fn vba_dir(module: &str) -> Vec<u8> {
    let mut dir = Vec::new();
    let mut record = |id: u16, data: &[u8]| {
        dir.extend_from_slice(&id.to_le_bytes());
        dir.extend_from_slice(&(data.len() as u32).to_le_bytes());
        dir.extend_from_slice(data);
    };
    record(0x0001, &1u32.to_le_bytes());
    record(0x0003, &1252u16.to_le_bytes());
    record(0x0019, module.as_bytes());
    record(0x001a, module.as_bytes());
    record(0x0031, &0u32.to_le_bytes());
    record(0x0021, &[]);
    record(0x002b, &[]);
    record(0x0010, &[]);
    ovba(&dir)
}

const CODE: &[u8] =
    b"Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\n  Shell \"calc\"\r\nEnd Sub\r\n";
const ATTRIBUTES_ONLY: &[u8] =
    b"Attribute VB_Name = \"ThisDocument\"\r\nAttribute VB_Base = \"1Normal.ThisDocument\"\r\n";

/// A Word document's FIB with the given flags, followed by text.
fn word_document(flags: u16, text: &[u8]) -> Vec<u8> {
    let mut fib = vec![0u8; 0x200];
    fib[0..2].copy_from_slice(&0xa5ecu16.to_le_bytes());
    fib[0x0a..0x0c].copy_from_slice(&flags.to_le_bytes());
    fib.extend_from_slice(text);
    fib
}

/// A BIFF8 workbook globals stream: BOF, the given records, EOF.
fn biff(records: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |kind: u16, data: &[u8]| {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(data);
    };
    push(0x0809, &[0, 6, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (kind, data) in records {
        push(*kind, data);
    }
    push(0x000a, &[]);
    out
}

fn boundsheet(sheet_type: u8) -> (u16, Vec<u8>) {
    (0x0085, vec![0, 0, 0, 0, 0, sheet_type, 1, 0, b'S'])
}

/// Sets the "encrypted" flag of every local and central header (the data stays plain:
/// enough for a detector that must judge by the flags).
fn mark_encrypted(mut zip: Vec<u8>) -> Vec<u8> {
    for (signature, flags_at) in [(b"PK\x03\x04", 6), (b"PK\x01\x02", 8)] {
        let hits: Vec<usize> = zip
            .windows(4)
            .enumerate()
            .filter(|(_, w)| w == signature)
            .map(|(i, _)| i)
            .collect();
        for at in hits {
            zip[at + flags_at] |= 1;
        }
    }
    zip
}

const CONTENT_TYPES_DOCX: &[u8] = br#"<?xml version="1.0"?><Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
const CONTENT_TYPES_XLSX: &[u8] = br#"<?xml version="1.0"?><Types><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#;
const CONTENT_TYPES_XLSM: &[u8] = br#"<?xml version="1.0"?><Types><Override PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/></Types>"#;

fn pe() -> Vec<u8> {
    let mut v = vec![0u8; 0x400];
    v[..2].copy_from_slice(b"MZ");
    v[0x3c] = 0x80;
    v[0x80..0x84].copy_from_slice(b"PE\0\0");
    v
}

// ---- tables ----

struct Case {
    what: &'static str,
    content: Vec<u8>,
    name: Option<&'static str>,
    declared: Option<&'static str>,
    detected: &'static str,
    labels: &'static [Label],
}

fn case(
    what: &'static str,
    content: Vec<u8>,
    detected: &'static str,
    labels: &'static [Label],
) -> Case {
    Case {
        what,
        content,
        name: None,
        declared: None,
        detected,
        labels,
    }
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let found = detect(&c.content, c.name, c.declared);
        if found.labels != c.labels || found.detected_type != c.detected {
            failures.push(format!(
                "{}: want {} {:?}, got {} {:?} ({})",
                c.what,
                c.detected,
                c.labels,
                found.detected_type,
                found.labels,
                found.notes.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn ole_detectors() {
    let vba_doc = |source: &[u8]| {
        ole(
            &[
                ("/WordDocument", &word_document(0, b"hello")),
                ("/Macros/VBA/dir", &vba_dir("Module1")),
                ("/Macros/VBA/Module1", &ovba(source)),
                ("/Macros/PROJECT", b"ID=\"{0}\"\r\nModule=Module1\r\n"),
            ],
            None,
        )
    };
    let word = "application/msword";
    let excel = "application/vnd.ms-excel";
    run(vec![
        case(
            "clean doc",
            ole(
                &[("/WordDocument", &word_document(0, b"Dear reader"))],
                None,
            ),
            word,
            &[],
        ),
        case(
            "encrypted doc",
            ole(&[("/WordDocument", &word_document(0x0100, b""))], None),
            word,
            &[Label::Encrypted],
        ),
        case(
            "obfuscated doc",
            ole(&[("/WordDocument", &word_document(0x8000, b""))], None),
            word,
            &[Label::Encrypted],
        ),
        case(
            "doc DDE field",
            ole(
                &[(
                    "/WordDocument",
                    &word_document(0, b"x\x13 DDEAUTO c:\\\\a.exe \x14r\x15"),
                )],
                None,
            ),
            word,
            &[Label::Dde],
        ),
        case("doc VBA with code", vba_doc(CODE), word, &[Label::VbaMacro]),
        case(
            "doc VBA with only attributes",
            vba_doc(ATTRIBUTES_ONLY),
            word,
            &[],
        ),
        case(
            "clean xls",
            ole(&[("/Workbook", &biff(&[boundsheet(0)]))], None),
            excel,
            &[],
        ),
        case(
            "xls macro sheet",
            ole(
                &[("/Workbook", &biff(&[boundsheet(0), boundsheet(1)]))],
                None,
            ),
            excel,
            &[Label::XlmMacro],
        ),
        case(
            "BIFF5 macro sheet",
            ole(&[("/Book", &biff(&[boundsheet(1)]))], None),
            excel,
            &[Label::XlmMacro],
        ),
        case(
            "xls FILEPASS",
            ole(
                &[(
                    "/Workbook",
                    &biff(&[(0x002f, vec![1, 0, 1, 0]), boundsheet(1)]),
                )],
                None,
            ),
            excel,
            &[Label::Encrypted],
        ),
        case(
            "xls embedded object",
            ole(
                &[
                    ("/Workbook", &biff(&[])),
                    ("/MBD0001/\u{1}Ole", b"\x01\0\0\x02"),
                ],
                None,
            ),
            excel,
            &[Label::OleObject],
        ),
        case(
            "doc embedded package",
            ole(
                &[
                    ("/WordDocument", &word_document(0, b"")),
                    ("/ObjectPool/_1/\u{1}Ole10Native", b"\x10\0\0\0"),
                ],
                None,
            ),
            word,
            &[Label::OleObject],
        ),
        case(
            "msi by clsid",
            ole(
                &[("/\u{5}SummaryInformation", b"")],
                Some("000c1084-0000-0000-c000-000000000046"),
            ),
            "application/x-msi",
            &[Label::Executable],
        ),
        case(
            "encrypted ooxml",
            ole(
                &[
                    ("/EncryptionInfo", b"\x04\0\x04\0"),
                    ("/EncryptedPackage", b"\0\0"),
                ],
                None,
            ),
            "application/x-ooxml-encrypted",
            &[Label::Encrypted],
        ),
        case(
            "encrypted ppt",
            ole(
                &[
                    ("/PowerPoint Document", b""),
                    (
                        "/Current User",
                        b"\0\0\xf6\x0f\x14\0\0\0\x14\0\0\0\xdf\xc4\xd1\xf3",
                    ),
                ],
                None,
            ),
            "application/vnd.ms-powerpoint",
            &[Label::Encrypted],
        ),
        case(
            "broken ole",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 broken".to_vec(),
            "application/x-ole-storage",
            &[Label::Unscannable],
        ),
    ]);
}

#[test]
fn zip_detectors() {
    let vba_project = ole(
        &[
            ("/VBA/dir", &vba_dir("Module1")),
            ("/VBA/Module1", &ovba(CODE)),
            ("/PROJECT", b"ID=\"{0}\"\r\n"),
        ],
        None,
    );
    let split_dde = br#"<w:document><w:body><w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>DD</w:instrText></w:r><w:r><w:instrText>EAUTO c:\\a.exe</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p></w:body></w:document>"#;
    let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    let xlsm = "application/vnd.ms-excel.sheet.macroEnabled.12";
    run(vec![
        case(
            "clean docx",
            quarantd_testkit::stored_zip(&[
                ("[Content_Types].xml", CONTENT_TYPES_DOCX),
                ("word/document.xml", b"<w:document/>"),
            ]),
            docx,
            &[],
        ),
        case(
            "docx DDE split across runs",
            quarantd_testkit::stored_zip(&[
                ("[Content_Types].xml", CONTENT_TYPES_DOCX),
                ("word/document.xml", split_dde),
            ]),
            docx,
            &[Label::Dde],
        ),
        case(
            "xlsm with VBA",
            quarantd_testkit::stored_zip(&[
                ("[Content_Types].xml", CONTENT_TYPES_XLSM),
                ("xl/vbaProject.bin", &vba_project),
            ]),
            xlsm,
            &[Label::VbaMacro],
        ),
        case(
            "xlsx macro sheet",
            quarantd_testkit::stored_zip(&[
                ("[Content_Types].xml", CONTENT_TYPES_XLSX),
                ("xl/macrosheets/sheet1.xml", b"<xm:macrosheet/>"),
            ]),
            xlsx,
            &[Label::XlmMacro],
        ),
        case(
            "xlsx ddeLink",
            quarantd_testkit::stored_zip(&[
                ("[Content_Types].xml", CONTENT_TYPES_XLSX),
                (
                    "xl/externalLinks/externalLink1.xml",
                    b"<externalLink><ddeLink ddeService=\"cmd\"/></externalLink>",
                ),
            ]),
            xlsx,
            &[Label::Dde],
        ),
        case(
            "xlsx DDE cell formula",
            quarantd_testkit::stored_zip(&[
                ("[Content_Types].xml", CONTENT_TYPES_XLSX),
                (
                    "xl/worksheets/sheet1.xml",
                    b"<c r=\"A1\"><f>cmd|'/c calc'!A0</f></c>",
                ),
            ]),
            xlsx,
            &[Label::Dde],
        ),
        case(
            "clean xlsx",
            quarantd_testkit::stored_zip(&[
                ("[Content_Types].xml", CONTENT_TYPES_XLSX),
                (
                    "xl/worksheets/sheet1.xml",
                    b"<c r=\"A1\"><f>SUM(B1:B9)</f></c>",
                ),
            ]),
            xlsx,
            &[],
        ),
        case(
            "jar",
            quarantd_testkit::stored_zip(&[
                ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
                ("a/B.class", b"\xca\xfe\xba\xbe"),
            ]),
            "application/java-archive",
            &[Label::Executable],
        ),
        case(
            "plain zip",
            quarantd_testkit::stored_zip(&[("a.txt", b"hello"), ("b.pdf", b"%PDF-1.4")]),
            "application/zip",
            &[],
        ),
        case(
            "zip with every entry encrypted",
            mark_encrypted(quarantd_testkit::stored_zip(&[
                ("a.txt", b"hello"),
                ("b.txt", b"x"),
            ])),
            "application/zip",
            &[Label::Encrypted],
        ),
        case(
            "odt",
            quarantd_testkit::stored_zip(&[
                ("mimetype", b"application/vnd.oasis.opendocument.text"),
                ("content.xml", b"<x/>"),
            ]),
            "application/vnd.oasis.opendocument.text",
            &[],
        ),
    ]);
}

#[test]
fn names_and_declared_types() {
    let named = |what, content: Vec<u8>, name, declared, detected, labels| Case {
        what,
        content,
        name,
        declared,
        detected,
        labels,
    };
    let pe_type = "application/vnd.microsoft.portable-executable";
    let docx = quarantd_testkit::stored_zip(&[
        ("[Content_Types].xml", CONTENT_TYPES_DOCX),
        ("word/document.xml", b"<w:document/>"),
    ]);
    run(vec![
        named(
            "exe named exe",
            pe(),
            Some("setup.exe"),
            Some("application/x-msdownload"),
            pe_type,
            &[Label::Executable],
        ),
        named(
            "exe named pdf",
            pe(),
            Some("invoice.pdf"),
            None,
            pe_type,
            &[Label::Executable, Label::TypeMismatch],
        ),
        named(
            "exe declared image",
            pe(),
            None,
            Some("image/jpeg"),
            pe_type,
            &[Label::Executable, Label::TypeMismatch],
        ),
        named(
            "exe declared octet-stream",
            pe(),
            Some("x"),
            Some("application/octet-stream"),
            pe_type,
            &[Label::Executable],
        ),
        named(
            "double extension",
            pe(),
            Some("invoice.pdf.exe"),
            None,
            pe_type,
            &[Label::Executable, Label::DoubleExtension],
        ),
        named(
            "bidi name",
            pe(),
            Some("invoice\u{202e}fdp.exe"),
            None,
            pe_type,
            &[Label::Executable, Label::BidiName],
        ),
        named(
            "docx named zip",
            docx.clone(),
            Some("report.zip"),
            Some("application/zip"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &[],
        ),
        named(
            "csv declared text/plain",
            b"a,b\n1,2\n".to_vec(),
            Some("data.csv"),
            Some("text/plain"),
            "text/csv",
            &[],
        ),
        named(
            "csv declared ms-excel with DDE",
            b"=cmd|'/c calc'!A0\n".to_vec(),
            Some("data.csv"),
            Some("application/vnd.ms-excel"),
            "text/csv",
            &[Label::Dde],
        ),
        named(
            "js text",
            b"var s = new ActiveXObject('WScript.Shell');".to_vec(),
            Some("Invoice.JS"),
            None,
            "application/javascript",
            &[Label::Script],
        ),
        named(
            "js double extension",
            b"x()".to_vec(),
            Some("scan.pdf.js"),
            None,
            "application/javascript",
            &[Label::Script, Label::DoubleExtension],
        ),
        named(
            "empty bat",
            Vec::new(),
            Some("AUTOEXEC.BAT"),
            None,
            "application/x-bat",
            &[Label::Script],
        ),
        named(
            "png named js",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            Some("a.js"),
            None,
            "image/png",
            &[],
        ),
        named(
            "python by name",
            b"print('hi')\n".to_vec(),
            Some("tool.py"),
            None,
            "text/plain",
            &[Label::SourceCode],
        ),
        named(
            "com by name",
            b"\xb4\x09\xba\x0c\x01\xcd\x21\xcd\x20".to_vec(),
            Some("HELLO.COM"),
            None,
            "application/x-dosexec",
            &[Label::Executable],
        ),
        named(
            "pdf named com",
            b"%PDF-1.4\n".to_vec(),
            Some("a.com"),
            None,
            "application/pdf",
            &[],
        ),
        named(
            "text named exe",
            b"not a program".to_vec(),
            Some("a.exe"),
            None,
            "text/plain",
            &[],
        ),
        named(
            "hta named txt",
            b"<html><hta:application/>".to_vec(),
            Some("a.txt"),
            None,
            "application/hta",
            &[Label::Script],
        ),
    ]);
}

fn part(path: &str, declared: Option<&str>, filename: Option<&str>, content: &[u8]) -> PartData {
    PartData {
        part: Part {
            path: PartPath(path.into()),
            filename: filename.map(Into::into),
            declared_type: declared.map(Into::into),
            detected_type: None,
            size: content.len() as u64,
            sha256: String::new(),
            labels: Vec::new(),
            unscannable_reason: None,
        },
        content: content.to_vec(),
    }
}

#[test]
fn classify_fills_every_part() {
    let mut limited = part(
        "2",
        Some("application/octet-stream"),
        Some("a.bin"),
        b"\x00\x01",
    );
    limited.part.mark_unscannable("member limit");
    let decomposed = Decomposed {
        parts: vec![
            part("", Some("message/rfc822"), None, b""),
            part("1", Some("multipart/mixed"), None, b""),
            part("1.1", Some("text/plain"), None, b"hello"),
            part("1.2", Some("application/pdf"), Some("invoice.pdf"), &pe()),
            limited,
            part(
                "3",
                Some("message/rfc822"),
                Some("fwd.eml"),
                b"Content-Type: text/csv\n\n=cmd|'/c calc'!A0\n",
            ),
            part("4", Some("message/rfc822"), None, &pe()),
        ],
    };
    let classified = classify(decomposed).part_list();
    let summary: Vec<(String, Option<String>, Vec<Label>)> = classified
        .into_iter()
        .map(|p| (p.path.0, p.detected_type, p.labels))
        .collect();
    let want = vec![
        ("".to_string(), Some("message/rfc822".to_string()), vec![]),
        ("1".into(), Some("multipart/mixed".into()), vec![]),
        ("1.1".into(), Some("text/plain".into()), vec![]),
        (
            "1.2".into(),
            Some("application/vnd.microsoft.portable-executable".into()),
            vec![Label::Executable, Label::TypeMismatch],
        ),
        (
            "2".into(),
            Some("application/octet-stream".into()),
            vec![Label::Unscannable],
        ),
        ("3".into(), Some("message/rfc822".into()), vec![]),
        (
            "4".into(),
            Some("application/vnd.microsoft.portable-executable".into()),
            vec![Label::Executable],
        ),
    ];
    assert_eq!(summary, want);
}

#[test]
fn vba_in_xml_and_active_mime() {
    let project = ole(
        &[
            ("/VBA/dir", &vba_dir("Module1")),
            ("/VBA/Module1", &ovba(CODE)),
            ("/PROJECT", b"ID=\"{0}\"\r\n"),
        ],
        None,
    );
    let flat_opc = format!(
        "<?xml version=\"1.0\"?><?mso-application progid=\"Word.Document\"?><pkg:package><pkg:part pkg:name=\"/word/vbaProject.bin\"><pkg:binaryData>{}</pkg:binaryData></pkg:part></pkg:package>",
        quarantd_testkit::base64_lines(&project, "\n")
    );
    let mut mso = b"ActiveMime".to_vec();
    mso.resize(0x32, 0);
    mso[0x1e..0x20].copy_from_slice(&4u16.to_le_bytes());
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&project).expect("compress");
    mso.extend(encoder.finish().expect("compress"));
    let word2003 = format!(
        "<?xml version=\"1.0\"?><w:wordDocument><w:docSuppData><w:binData w:name=\"editdata.mso\">{}</w:binData></w:docSuppData></w:wordDocument>",
        quarantd_testkit::base64_lines(&mso, "\n")
    );
    run(vec![
        case(
            "flat OPC with vbaProject.bin",
            flat_opc.into_bytes(),
            "text/xml",
            &[Label::VbaMacro],
        ),
        case(
            "ActiveMime blob",
            mso.clone(),
            "application/x-mso",
            &[Label::VbaMacro],
        ),
        case(
            "Word 2003 XML with editdata.mso",
            word2003.into_bytes(),
            "text/xml",
            &[Label::VbaMacro],
        ),
        case(
            "Word 2003 XML with a picture",
            b"<?xml version=\"1.0\"?><w:binData w:name=\"wordml://1.png\">iVBORw0KGgo=</w:binData>"
                .to_vec(),
            "text/xml",
            &[],
        ),
    ]);
}

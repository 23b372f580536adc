//! One budget per message: Office packages are inflated again by classification, so a
//! message of many small packages of huge XML must cost no more than the budget allows —
//! the parts past it are `unscannable`, never passed unlooked-at.

use std::io::{Cursor, Write};
use std::time::Duration;

use quarantd_classify::{classify_within, Budget};
use quarantd_core::{Decomposed, Label};
use quarantd_mime::{decompose, Limits};

/// A Word document whose body is `mib` MiB of XML that deflates to almost nothing.
fn docx(mib: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer
        .start_file("[Content_Types].xml", options)
        .expect("start");
    writer
        .write_all(br#"<Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#)
        .expect("write");
    writer
        .start_file("word/document.xml", options)
        .expect("start");
    let block = vec![b' '; 1024 * 1024];
    for _ in 0..mib {
        writer.write_all(&block).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

/// A message with `count` copies of `attachment` as base64 parts.
fn message(attachment: &[u8], count: usize) -> Vec<u8> {
    let mut raw =
        b"Subject: docs\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            .to_vec();
    let encoded = quarantd_testkit::base64_lines(attachment, "\r\n");
    for i in 0..count {
        raw.extend_from_slice(
            format!("--b\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=\"d{i}.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"--b--\r\n");
    raw
}

fn unscannable(parts: &Decomposed, name: &str) -> bool {
    parts
        .parts
        .iter()
        .find(|p| p.part.filename.as_deref() == Some(name))
        .is_some_and(|p| p.part.labels.contains(&Label::Unscannable))
}

#[test]
fn office_packages_past_the_message_budget_are_unscannable() {
    let raw = message(&docx(16), 4);
    let budget = Budget {
        max_inflated: 40 * 1024 * 1024,
        max_time: Duration::from_secs(600),
    };
    let decomposed = decompose(&raw, &Limits::default());
    let classified = Decomposed {
        parts: classify_within(decomposed, &budget).parts,
    };
    assert!(!unscannable(&classified, "d0.docx"));
    assert!(!unscannable(&classified, "d1.docx"));
    assert!(
        unscannable(&classified, "d2.docx"),
        "the budget cuts the third"
    );
    assert!(
        unscannable(&classified, "d3.docx"),
        "nothing is left for the fourth"
    );
    let generous = Budget {
        max_inflated: 1024 * 1024 * 1024,
        ..budget
    };
    let classified = Decomposed {
        parts: classify_within(decompose(&raw, &Limits::default()), &generous).parts,
    };
    assert!((0..4).all(|i| !unscannable(&classified, &format!("d{i}.docx"))));
}

#[test]
fn no_time_left_means_unscannable() {
    let raw = message(&docx(1), 1);
    let budget = Budget {
        max_time: Duration::ZERO,
        ..Budget::default()
    };
    let classified = Decomposed {
        parts: classify_within(decompose(&raw, &Limits::default()), &budget).parts,
    };
    assert!(unscannable(&classified, "d0.docx"));
}

//! Hostile structure ends within the per-message budget: a loop over attacker-controlled
//! structure is bounded in count and time, and costs time linear in the input.

mod common;

use std::time::Duration;

use quarantd_core::{Decomposed, Label};
use quarantd_mime::{decompose_file, Limits};

fn reason(d: &Decomposed) -> Option<String> {
    d.parts
        .iter()
        .find(|p| p.part.labels.contains(&Label::Unscannable))
        .and_then(|p| p.part.unscannable_reason.clone())
}

fn no_time() -> Limits {
    Limits {
        max_time: Duration::ZERO,
        ..Limits::default()
    }
}

/// `%PDF-1.4` and `keyword` repeated `times`: no object ever ends, so a scanner that looks
/// back or forward from each keyword is quadratic.
fn repeated_pdf(keyword: &[u8], times: usize) -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    for _ in 0..times {
        pdf.extend_from_slice(keyword);
    }
    pdf
}

#[test]
fn pdf_keyword_floods_are_scanned_once_and_stop_at_the_deadline() {
    for keyword in [
        &b"/EF "[..],
        b"/EmbeddedFile ",
        b"1 0 obj /EmbeddedFile stream\n",
    ] {
        let pdf = repeated_pdf(keyword, 200_000);
        let d = decompose_file(&pdf, Some("flood.pdf"), &Limits::default());
        assert_eq!(reason(&d), None, "{}", String::from_utf8_lossy(keyword));
        let d = decompose_file(&pdf, Some("flood.pdf"), &no_time());
        let why = reason(&d).expect("the deadline stops the scan");
        assert!(why.contains("time limit"), "{why}");
    }
}

#[test]
fn a_pdf_embedded_file_is_still_found() {
    let pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Filespec /F (a.exe) /EF << /F 2 0 R >> >>\nendobj\n\
2 0 obj\n<< /Type /EmbeddedFile /Length 5 >>\nstream\nMZabc\nendstream\nendobj\n%%EOF\n";
    let d = decompose_file(pdf, Some("x.pdf"), &Limits::default());
    let names: Vec<&str> = d.parts.iter().map(|p| p.part.path.0.as_str()).collect();
    assert_eq!(names, ["x.pdf", "x.pdf/a.exe"]);
    assert_eq!(d.parts[1].content, b"MZabc");
}

/// A 1.44 MB FAT12 floppy with one subdirectory `SUB` at cluster 2; `fat_next` is the
/// table's entry for cluster 2 and `sub` the subdirectory's first cluster of entries.
fn floppy(fat_next: u16, sub: &[[u8; 32]]) -> Vec<u8> {
    let mut img = vec![0u8; 2880 * 512];
    let boot = &mut img[..512];
    boot[..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
    boot[3..11].copy_from_slice(b"MSWIN4.1");
    boot[11..13].copy_from_slice(&512u16.to_le_bytes());
    boot[13] = 1; // sectors per cluster
    boot[14..16].copy_from_slice(&1u16.to_le_bytes()); // reserved sectors
    boot[16] = 2; // tables
    boot[17..19].copy_from_slice(&224u16.to_le_bytes()); // root entries
    boot[19..21].copy_from_slice(&2880u16.to_le_bytes()); // sectors
    boot[21] = 0xf0;
    boot[22..24].copy_from_slice(&9u16.to_le_bytes()); // sectors per table
    boot[24..26].copy_from_slice(&18u16.to_le_bytes());
    boot[26..28].copy_from_slice(&2u16.to_le_bytes());
    boot[38] = 0x29;
    boot[43..54].copy_from_slice(b"NO NAME    ");
    boot[54..62].copy_from_slice(b"FAT12   ");
    boot[510] = 0x55;
    boot[511] = 0xaa;
    for table in [512, 512 + 9 * 512] {
        // Media byte, end of chain for cluster 1, then cluster 2's entry (12 bits).
        img[table..table + 3].copy_from_slice(&[0xf0, 0xff, 0xff]);
        img[table + 3] = (fat_next & 0xff) as u8;
        img[table + 4] = (img[table + 4] & 0xf0) | ((fat_next >> 8) as u8 & 0x0f);
    }
    let root = 19 * 512;
    img[root..root + 32].copy_from_slice(&dir_entry(b"SUB        ", 0x10, 2));
    let cluster2 = 33 * 512;
    for (i, entry) in sub.iter().enumerate() {
        img[cluster2 + 32 * i..cluster2 + 32 * (i + 1)].copy_from_slice(entry);
    }
    img
}

fn dir_entry(name: &[u8; 11], attributes: u8, cluster: u16) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(name);
    e[11] = attributes;
    e[26..28].copy_from_slice(&cluster.to_le_bytes());
    e
}

fn deleted() -> [u8; 32] {
    let mut e = dir_entry(b"XDELETEDEXE", 0x20, 0);
    e[0] = 0xe5;
    e
}

#[test]
fn fat_directory_chain_that_loops_is_corrupt_not_endless() {
    let image = floppy(2, &[deleted(); 16]);
    let d = decompose_file(&image, Some("floppy.img"), &Limits::default());
    let why = reason(&d).expect("a looping chain is unscannable");
    assert!(why.contains("loops"), "{why}");
}

#[test]
fn fat_subdirectory_that_contains_itself_is_corrupt() {
    let image = floppy(0xfff, &[dir_entry(b"SELF       ", 0x10, 2)]);
    let d = decompose_file(&image, Some("floppy.img"), &Limits::default());
    let why = reason(&d).expect("a directory inside itself is unscannable");
    assert!(why.contains("used twice"), "{why}");
}

#[test]
fn fat_boot_sector_claiming_billions_of_clusters_costs_nothing() {
    // Sector count 0 in the 16-bit field, four billion in the 32-bit one.
    let mut image = floppy(0xfff, &[]);
    image[19..21].copy_from_slice(&0u16.to_le_bytes());
    image[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
    let limits = Limits {
        max_time: Duration::from_secs(3600),
        ..Limits::default()
    };
    let d = decompose_file(&image, Some("floppy.img"), &limits);
    let why = reason(&d).unwrap_or_default();
    assert!(!why.contains("time limit"), "{why}");
}

#[test]
fn fat_files_are_still_read() {
    let mut image = floppy(0xfff, &[dir_entry(b"A       TXT", 0x20, 0)]);
    image[19 * 512 + 32..19 * 512 + 64].copy_from_slice(&dir_entry(b"B       TXT", 0x20, 0));
    let d = decompose_file(&image, Some("floppy.img"), &Limits::default());
    assert_eq!(reason(&d), None);
    let names: Vec<&str> = d.parts.iter().map(|p| p.part.path.0.as_str()).collect();
    assert!(names.contains(&"floppy.img/SUB/A.TXT"), "{names:?}");
    assert!(names.contains(&"floppy.img/B.TXT"), "{names:?}");
}

#[test]
fn a_zip_behind_a_program_is_opened() {
    let zip = include_bytes!("data/one_exe.zip");
    let mut sfx = b"MZ\x90\x00\x03\x00\x00\x00 self-extractor stub ".to_vec();
    sfx.extend_from_slice(&[0u8; 4096]);
    sfx.extend_from_slice(zip);
    let d = decompose_file(&sfx, Some("setup.exe"), &Limits::default());
    let names: Vec<&str> = d.parts.iter().map(|p| p.part.path.0.as_str()).collect();
    assert!(names.contains(&"setup.exe/payload.exe"), "{names:?}");
    let mut pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n".to_vec();
    pdf.extend_from_slice(zip);
    let d = decompose_file(&pdf, Some("doc.pdf"), &Limits::default());
    let names: Vec<&str> = d.parts.iter().map(|p| p.part.path.0.as_str()).collect();
    assert!(names.contains(&"doc.pdf/payload.exe"), "{names:?}");
}

#[test]
fn every_container_format_stops_at_the_deadline() {
    let corpus = common::corpus().join("attachments");
    let mut formats = std::collections::BTreeSet::new();
    let rows = common::manifest(corpus.join("MANIFEST.tsv"));
    // Rows naming absolute paths are system test files (clamav-testfiles), not archives.
    for row in rows.iter().filter(|r| !r["file"].starts_with('/')) {
        let bytes = std::fs::read(corpus.join(&row["file"])).expect("sample");
        let name = row["file"].rsplit('/').next().unwrap_or("x").to_string();
        let opened = decompose_file(&bytes, Some(&name), &Limits::default());
        if opened.parts.len() < 2 || row["bomb"] == "1" {
            continue;
        }
        let stopped = decompose_file(&bytes, Some(&name), &no_time());
        let why = reason(&stopped).unwrap_or_default();
        assert!(why.contains("time limit"), "{}: {why:?}", row["file"]);
        formats.insert(name.rsplit('.').next().unwrap_or("").to_ascii_lowercase());
    }
    for format in [
        "zip", "7z", "rar", "tgz", "cab", "iso", "arj", "doc", "rtf", "dat",
    ] {
        assert!(
            formats.contains(format),
            "no {format} sample opened: {formats:?}"
        );
    }
}

#[test]
fn cab_folders_sharing_their_blocks_are_refused_before_they_are_walked() {
    // CFHEADER: 1,000 folders, no files; every folder claims 65,535 blocks at offset 0.
    let folders = 1000u16;
    let mut cab = b"MSCF\0\0\0\0".to_vec();
    cab.extend_from_slice(&[0; 8]); // cbCabinet, reserved2
    cab.extend_from_slice(&0u32.to_le_bytes()); // coffFiles
    cab.extend_from_slice(&[0; 4]);
    cab.extend_from_slice(&[3, 1]); // version
    cab.extend_from_slice(&folders.to_le_bytes());
    cab.extend_from_slice(&0u16.to_le_bytes()); // files
    cab.extend_from_slice(&[0; 6]); // flags, set id, index
    for _ in 0..folders {
        cab.extend_from_slice(&0u32.to_le_bytes());
        cab.extend_from_slice(&u16::MAX.to_le_bytes());
        cab.extend_from_slice(&0u16.to_le_bytes());
    }
    cab.resize(1024 * 1024, 0);
    let d = decompose_file(&cab, Some("x.cab"), &Limits::default());
    let why = reason(&d).unwrap_or_default();
    assert!(why.contains("claim"), "{why}");
}

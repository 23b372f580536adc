//! Bombs end within the limits: `unscannable`, in bounded memory. Its own test binary (one
//! test) so that the peak resident size (`VmHWM`) measures these decompositions only.

mod common;

use std::io::Write;

use quarantd_core::{Decomposed, Label};
use quarantd_mime::{decompose, decompose_file, Limits};

/// Peak resident set size of this process in KiB (Linux), if known.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn unscannable(d: &Decomposed) -> bool {
    d.parts
        .iter()
        .any(|p| p.part.labels.contains(&Label::Unscannable))
}

/// `levels` of gzip around a small file.
fn nested_gzip(levels: usize) -> Vec<u8> {
    let mut data = b"innermost".to_vec();
    for _ in 0..levels {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).expect("gzip");
        data = enc.finish().expect("gzip");
    }
    data
}

#[test]
fn bombs_end_unscannable_in_bounded_memory() {
    let corpus = common::corpus();
    let limits = Limits::default();
    let rows = common::manifest(corpus.join("attachments/MANIFEST.tsv"));
    let bombs: Vec<_> = rows.iter().filter(|r| r["bomb"] == "1").collect();
    assert!(bombs.len() >= 3, "bombs missing from the manifest");
    for row in &bombs {
        let bytes = std::fs::read(corpus.join("attachments").join(&row["file"])).expect("bomb");
        let d = decompose_file(&bytes, Some(&row["file"]), &limits);
        assert!(unscannable(&d), "{} not unscannable", row["file"]);
        let total: u64 = d.parts.iter().skip(1).map(|p| p.part.size).sum();
        assert!(
            total <= limits.max_total_unpacked,
            "{}: {total} bytes unpacked",
            row["file"]
        );
    }
    for eml in std::fs::read_dir(corpus.join("generated")).expect("generated") {
        let path = eml.expect("entry").path();
        if path.to_string_lossy().contains("bomb") {
            let d = decompose(&std::fs::read(&path).expect("eml"), &limits);
            assert!(unscannable(&d), "{} not unscannable", path.display());
        }
    }
    let deep = decompose_file(&nested_gzip(limits.max_depth + 5), Some("deep.gz"), &limits);
    let reason = deep
        .parts
        .iter()
        .find_map(|p| p.part.unscannable_reason.clone());
    assert!(
        reason.is_some_and(|r| r.contains("nested deeper")),
        "deep nesting not stopped"
    );

    let peak = peak_kib().unwrap_or(0);
    let bound_kib = (limits.max_total_unpacked + 256 * 1024 * 1024) / 1024;
    eprintln!("peak resident size after the bombs: {} MiB", peak / 1024);
    assert!(peak < bound_kib, "peak {peak} KiB over {bound_kib} KiB");
}

//! The labelled corpus shared by the integration tests and the bench.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The corpus directory: `QUARANTD_CORPUS`, else `shared/corpus` beside the workspace.
/// Panics with a clear message when it is missing: these tests must not pass vacuously.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("QUARANTD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/corpus"
            ))
        });
    assert!(
        dir.join("attachments/MANIFEST.tsv").is_file(),
        "test corpus not found at {}: set QUARANTD_CORPUS to the folder holding \
         attachments/MANIFEST.tsv",
        dir.display()
    );
    dir
}

/// One row of `attachments/MANIFEST.tsv`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub file: String,
    pub path: PathBuf,
    pub true_kind: String,
    pub has_vba: bool,
    pub has_xlm: bool,
    pub dde: bool,
    pub encrypted: bool,
    pub contains_executable: bool,
    pub expected_action: String,
}

impl Sample {
    /// The file name as an attachment would declare it.
    pub fn filename(&self) -> &str {
        self.file.rsplit('/').next().unwrap_or(&self.file)
    }

    /// Archives and containers: their members decide, through the mime crate.
    pub fn is_container(&self) -> bool {
        self.true_kind == "archive" || self.true_kind == "archive-encrypted"
    }

    pub fn is_office(&self) -> bool {
        self.true_kind.starts_with("office-")
    }
}

/// Every sample of the manifest whose file is present. Rows of the corpus itself must be
/// present; rows of `/usr/share/clamav-testfiles/` are skipped when that package is not
/// installed.
pub fn samples() -> Vec<Sample> {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("attachments/MANIFEST.tsv"))
        .expect("MANIFEST.tsv is readable");
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().expect("manifest header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("manifest column {name} missing"))
    };
    let (file, kind, vba, xlm, dde, enc, exe, action) = (
        col("file"),
        col("true_kind"),
        col("has_vba"),
        col("has_xlm"),
        col("dde"),
        col("encrypted"),
        col("contains_executable"),
        col("expected_action"),
    );
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        let cell = |i: usize| cells.get(i).copied().unwrap_or("");
        let name = cell(file).to_string();
        let path = if Path::new(&name).is_absolute() {
            PathBuf::from(&name)
        } else {
            dir.join("attachments").join(&name)
        };
        if !path.is_file() {
            assert!(
                Path::new(&name).is_absolute(),
                "corpus file {} is missing",
                path.display()
            );
            continue;
        }
        out.push(Sample {
            file: name,
            path,
            true_kind: cell(kind).to_string(),
            has_vba: cell(vba) == "1",
            has_xlm: cell(xlm) == "1",
            dde: cell(dde) == "1",
            encrypted: cell(enc) == "1",
            contains_executable: cell(exe) == "1",
            expected_action: cell(action).to_string(),
        });
    }
    out
}

//! The labelled corpus through the same analysis `serve` runs (decompose, classify, the
//! built-in policy's decision; no virus scanner — the scanning tests cover viruses with a real
//! clamd).
//!
//! - every attachment bare and every generated message: no miss on what must be held, no
//!   false hold on what must pass, no label at all on clean archives and clean Excel sheets;
//! - every real-world message decomposes, and none is held unless its manifest says so.

use std::path::{Path, PathBuf};

use quarantd_core::{Action, Decomposed, Envelope, Label, Part, Scanned, Verdict};
use quarantd_pipeline::{Decide, PolicyDecide};
use quarantd_policy::Policy;

fn corpus() -> PathBuf {
    let dir = std::env::var_os("QUARANTD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    assert!(
        dir.join("README.md").exists(),
        "corpus not found at {} (set QUARANTD_CORPUS)",
        dir.display()
    );
    dir
}

/// Rows of a manifest as (header name → value) maps.
fn manifest(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split('\t').map(str::to_string))
                .collect()
        })
        .collect()
}

fn envelope() -> Envelope {
    Envelope {
        id: "corpus".into(),
        peer: "127.0.0.1:25".parse().unwrap(),
        helo: "localhost".into(),
        mail_from: "a@example.org".into(),
        mail_params: Default::default(),
        recipients: vec![],
        xforward: Default::default(),
        received_at: std::time::SystemTime::now(),
    }
}

fn judge(decomposed: Decomposed) -> (Vec<Part>, Verdict) {
    let classified = quarantd_classify::classify(decomposed);
    let parts = classified.part_list();
    let scanned = Scanned {
        classified,
        findings: vec![],
    };
    let decide = PolicyDecide(std::sync::Arc::new(Policy::default()));
    (parts, decide.decide(&envelope(), &scanned))
}

fn analyse_message(raw: &[u8]) -> (Vec<Part>, Verdict) {
    judge(quarantd_mime::decompose(
        raw,
        &quarantd_mime::Limits::default(),
    ))
}

fn analyse_file(raw: &[u8], name: &str) -> (Vec<Part>, Verdict) {
    judge(quarantd_mime::decompose_file(
        raw,
        Some(name),
        &quarantd_mime::Limits::default(),
    ))
}

fn labels(parts: &[Part]) -> String {
    parts
        .iter()
        .filter(|p| !p.labels.is_empty())
        .map(|p| format!("{}={:?}", p.path, p.labels))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the verdict must be for a manifest row, or `None` when only a virus scanner decides.
fn expected(row: &std::collections::HashMap<String, String>) -> Option<Action> {
    match row["expected_action"].as_str() {
        "pass" => Some(Action::Pass),
        "quarantine" => Some(Action::Quarantine),
        _ => None, // reject: a virus; clamd finds it (tests/scanning.rs)
    }
}

/// A clean archive or a clean Excel sheet: not a single label anywhere, except the two
/// informational ones that describe real content (`source-code` in an archive of code,
/// `ole-object` for a sheet that embeds an object).
fn must_be_unlabelled(row: &std::collections::HashMap<String, String>) -> bool {
    let clean = row["expected_action"] == "pass";
    let archive = row["true_kind"] == "archive";
    let sheet = row["true_kind"] == "office-clean" && row["libmagic_mime"].contains("excel")
        || row["libmagic_mime"].contains("spreadsheetml");
    clean && (archive || sheet)
}

#[test]
fn every_attachment_bare_gets_its_expected_action() {
    let dir = corpus().join("attachments");
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in manifest(&dir.join("MANIFEST.tsv")) {
        let file = &row["file"];
        let path = if file.starts_with('/') {
            PathBuf::from(file)
        } else {
            dir.join(file)
        };
        let Ok(raw) = std::fs::read(&path) else {
            assert!(
                file.starts_with("/usr/share/clamav-testfiles"),
                "missing corpus file {file}"
            );
            continue; // clamav-testfiles not installed: scripts/install-test-deps.sh installs it
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (parts, verdict) = analyse_file(&raw, &name);
        checked += 1;
        if let Some(want) = expected(&row) {
            if verdict.action != want {
                failures.push(format!(
                    "{file}: {} (want {want}); {}",
                    verdict.header_value(),
                    labels(&parts)
                ));
            }
        }
        if must_be_unlabelled(&row) {
            let informational = [Label::OleObject, Label::SourceCode];
            let labelled: Vec<&Part> = parts
                .iter()
                .filter(|p| p.labels.iter().any(|l| !informational.contains(l)))
                .collect();
            if !labelled.is_empty() {
                failures.push(format!(
                    "{file}: clean archive/sheet has labels: {}",
                    labels(&parts)
                ));
            }
        }
    }
    assert!(checked >= 199, "only {checked} attachments checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_generated_message_gets_its_expected_action() {
    let dir = corpus().join("generated");
    let mut failures = Vec::new();
    let rows = manifest(&dir.join("MANIFEST.tsv"));
    for row in &rows {
        let raw = std::fs::read(dir.join(&row["eml"])).unwrap();
        let (parts, verdict) = analyse_message(&raw);
        if let Some(want) = expected(row) {
            if verdict.action != want {
                failures.push(format!(
                    "{}: {} (want {want}); {}",
                    row["eml"],
                    verdict.header_value(),
                    labels(&parts)
                ));
            }
        }
    }
    assert_eq!(rows.len(), 199);
    assert!(
        failures.is_empty(),
        "{} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn real_world_messages_decompose_and_are_held_only_when_expected() {
    let dir = corpus().join("messages");
    let mut failures = Vec::new();
    let rows = manifest(&dir.join("MANIFEST.tsv"));
    for row in &rows {
        let raw = std::fs::read(dir.join(&row["file"])).unwrap();
        let (parts, verdict) = analyse_message(&raw);
        assert!(!parts.is_empty());
        let want = if row["expected_action"] == "quarantine" {
            Action::Quarantine
        } else {
            Action::Pass
        };
        if verdict.action != want {
            failures.push(format!(
                "{}: {} (want {want}); {}",
                row["file"],
                verdict.header_value(),
                labels(&parts)
            ));
        }
    }
    assert!(rows.len() >= 340);
    assert!(
        failures.is_empty(),
        "{} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

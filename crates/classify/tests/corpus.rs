//! Every sample of the labelled corpus, bare (as the outer file of an attachment): no
//! missed executables, scripts, macros, DDE or encryption, and no false labels on clean
//! documents, spreadsheets and archives.

mod common;

use quarantd_classify::{detect, Detection};
use quarantd_core::Label;

use common::Sample;

/// Labels a clean document may carry: they are informational and pass by default.
const INFORMATIONAL: &[Label] = &[Label::OleObject, Label::SourceCode];

/// What is wrong with the detection of one sample, if anything.
fn problems(sample: &Sample, found: &Detection) -> Vec<String> {
    let mut out = Vec::new();
    let has = |l: Label| found.has(l);
    if sample.is_container() {
        if sample.expected_action == "pass" && !found.labels.is_empty() {
            out.push("labels on a clean archive".to_string());
        }
        return out;
    }
    let mut miss = |cond: bool, label: &str| {
        if cond {
            out.push(format!("miss {label}"));
        }
    };
    miss(
        sample.true_kind == "executable" && !has(Label::Executable),
        "executable",
    );
    miss(
        sample.true_kind == "script" && !has(Label::Script),
        "script",
    );
    miss(
        sample.true_kind == "source-code" && !has(Label::SourceCode),
        "source-code",
    );
    // olevba decrypts the default "VelvetSweatshop" password; here such files are
    // `encrypted`, which quarantines them all the same.
    let hidden = has(Label::Encrypted);
    miss(
        sample.has_vba && !has(Label::VbaMacro) && !hidden,
        "vba-macro",
    );
    miss(
        sample.has_xlm && !has(Label::XlmMacro) && !hidden,
        "xlm-macro",
    );
    miss(sample.dde && !has(Label::Dde) && !hidden, "dde");
    miss(sample.encrypted && !has(Label::Encrypted), "encrypted");
    miss(
        sample.true_kind == "office-embedded" && !has(Label::OleObject),
        "ole-object",
    );
    let mut false_label = |cond: bool, label: &str| {
        if cond {
            out.push(format!("false {label}"));
        }
    };
    false_label(!sample.has_vba && has(Label::VbaMacro), "vba-macro");
    false_label(!sample.has_xlm && has(Label::XlmMacro), "xlm-macro");
    false_label(!sample.dde && has(Label::Dde), "dde");
    false_label(!sample.encrypted && has(Label::Encrypted), "encrypted");
    if sample.expected_action == "pass" {
        for label in found.labels.iter().filter(|l| !INFORMATIONAL.contains(l)) {
            out.push(format!("false {label} on a clean file"));
        }
    }
    out
}

#[test]
fn corpus_samples_are_labelled_as_the_manifest_says() {
    let samples = common::samples();
    assert!(samples.len() > 150, "only {} samples found", samples.len());
    let mut failures = Vec::new();
    let mut misses = 0;
    let mut false_labels = 0;
    for sample in &samples {
        let content = std::fs::read(&sample.path).expect("sample is readable");
        let found = detect(&content, Some(sample.filename()), None);
        let wrong = problems(sample, &found);
        misses += wrong.iter().filter(|w| w.starts_with("miss")).count();
        false_labels += wrong.iter().filter(|w| !w.starts_with("miss")).count();
        if !wrong.is_empty() {
            failures.push(format!(
                "{:<55} {:<17} {:<40} {:<40} {}",
                sample.file,
                sample.true_kind,
                wrong.join(", "),
                format!("{} {:?}", found.detected_type, found.labels),
                found.notes.join("; ")
            ));
        }
    }
    println!(
        "{} samples, {misses} misses, {false_labels} false labels",
        samples.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} samples mismatch ({misses} misses, {false_labels} false labels):\n{:<55} {:<17} {:<40} {:<40} notes\n{}",
        failures.len(),
        samples.len(),
        "file",
        "true_kind",
        "problem",
        "detected",
        failures.join("\n")
    );
}

/// The Office files of the corpus get an Office type, never `application/octet-stream`.
#[test]
fn office_samples_get_an_office_type() {
    for sample in common::samples().iter().filter(|s| s.is_office()) {
        let content = std::fs::read(&sample.path).expect("sample is readable");
        let found = detect(&content, Some(sample.filename()), None);
        assert_ne!(
            found.detected_type, "application/octet-stream",
            "{}",
            sample.file
        );
    }
}

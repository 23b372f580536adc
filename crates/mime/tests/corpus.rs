//! Every sample of the corpus, bare and in its message: containers are opened to the depth
//! the manifest names, the members it lists are found, encrypted layers are labelled, bombs
//! end `unscannable`, and nothing panics.

mod common;

use quarantd_core::{Decomposed, Label};
use quarantd_mime::{decompose, decompose_file, Limits};

fn has(d: &Decomposed, label: Label) -> bool {
    d.parts.iter().any(|p| p.part.labels.contains(&label))
}

/// Names the manifest's `contents:` note lists (the last element of each `a!b!c` chain).
fn listed_members(notes: &str) -> Vec<String> {
    let Some(contents) = notes
        .split(" | ")
        .find_map(|n| n.strip_prefix("contents: "))
    else {
        return Vec::new();
    };
    contents
        .split("; ")
        .filter_map(|item| item.split('=').next())
        .filter_map(|chain| chain.rsplit('!').next())
        .map(str::to_string)
        .collect()
}

/// A listed member is found when a part's name ends with it (oletools prefixes extracted
/// objects with the document's name and replaces characters outside ASCII letters and
/// digits by `_`; rtfobj names raw objects by offset).
fn found(d: &Decomposed, file: &str, member: &str) -> bool {
    let prefix = format!("{file}_");
    let member = member.strip_prefix(&prefix).unwrap_or(member);
    if member.ends_with(".raw") {
        return d.parts.len() > 1;
    }
    let wanted = ascii_only(member);
    d.parts.iter().any(|p| {
        let name = p.part.filename.as_deref().unwrap_or_default();
        name.ends_with(member) || ascii_only(name).ends_with(&wanted)
    })
}

fn ascii_only(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-/".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[test]
fn every_container_is_opened_to_its_depth() {
    let corpus = common::corpus();
    let rows = common::manifest(corpus.join("attachments/MANIFEST.tsv"));
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows.iter().filter(|r| !r["file"].starts_with('/')) {
        let file = &row["file"];
        let depth: usize = row["nesting_depth"].parse().unwrap_or(0);
        if depth == 0 {
            continue;
        }
        checked += 1;
        let bytes = std::fs::read(corpus.join("attachments").join(file)).expect("sample");
        let name = file.rsplit('/').next();
        let d = decompose_file(&bytes, name, &Limits::default());
        let reached = common::depths(&d).into_iter().max().unwrap_or(0);
        let headers_encrypted = row["true_kind"] == "archive-encrypted" && d.parts.len() == 1;
        if headers_encrypted {
            if !has(&d, Label::Encrypted) {
                failures.push(format!("{file}: encrypted headers not labelled encrypted"));
            }
            continue;
        }
        if reached < depth {
            failures.push(format!(
                "{file}: reached depth {reached}, manifest says {depth}"
            ));
        }
        for member in listed_members(&row["notes"]) {
            if !found(&d, name.unwrap_or_default(), &member) {
                failures.push(format!("{file}: member {member} not found"));
            }
        }
        if row["true_kind"] == "archive-encrypted" && !has(&d, Label::Encrypted) {
            failures.push(format!("{file}: no part labelled encrypted"));
        }
        if row["bomb"] == "1" && !has(&d, Label::Unscannable) {
            failures.push(format!("{file}: bomb not labelled unscannable"));
        }
    }
    assert!(checked > 40, "only {checked} containers in the manifest");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_attachment_decomposes_bare() {
    let corpus = common::corpus();
    let rows = common::manifest(corpus.join("attachments/MANIFEST.tsv"));
    for row in rows.iter().filter(|r| !r["file"].starts_with('/')) {
        let bytes = std::fs::read(corpus.join("attachments").join(&row["file"])).expect("sample");
        let d = decompose_file(&bytes, Some(&row["file"]), &Limits::default());
        assert_eq!(d.parts[0].part.size, bytes.len() as u64, "{}", row["file"]);
    }
}

/// Every message of `messages/` and `generated/`: no panic, a root part, and no part
/// `unscannable` unless the manifest expects the message to be held.
#[test]
fn every_message_decomposes() {
    let corpus = common::corpus();
    let mut count = 0;
    let mut failures = Vec::new();
    for folder in ["messages", "generated"] {
        let rows = common::manifest(corpus.join(folder).join("MANIFEST.tsv"));
        for row in &rows {
            let file = row.get("file").or(row.get("eml")).expect("file column");
            let path = corpus.join(folder).join(file);
            let Ok(raw) = std::fs::read(&path) else {
                failures.push(format!("{}: unreadable", path.display()));
                continue;
            };
            count += 1;
            let d = decompose(&raw, &Limits::default());
            assert!(!d.parts.is_empty());
            let held = row.get("expected_action").is_some_and(|a| a != "pass");
            if !held && has(&d, Label::Unscannable) {
                failures.push(format!("{folder}/{file}: unscannable: {}", reasons(&d)));
            }
        }
    }
    assert!(count >= 500, "only {count} messages found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn reasons(d: &Decomposed) -> String {
    let r: Vec<String> = d
        .parts
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{}: {}",
                p.part.path,
                p.part.unscannable_reason.as_ref()?
            ))
        })
        .collect();
    r.join("; ")
}

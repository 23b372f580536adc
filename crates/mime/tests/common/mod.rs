//! Shared test helpers: where the corpus is, and reading its manifest.
#![allow(dead_code)]

use std::path::PathBuf;

use quarantd_core::Decomposed;

/// The corpus: `$QUARANTD_CORPUS`, else `shared/corpus` beside the workspace. Fails the
/// test with a clear message when it is missing.
pub fn corpus() -> PathBuf {
    let dir = match std::env::var_os("QUARANTD_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    assert!(
        dir.join("attachments/MANIFEST.tsv").is_file(),
        "test corpus not found at {} (set QUARANTD_CORPUS to the corpus directory)",
        dir.display()
    );
    dir
}

/// Rows of a tab-separated manifest as (column name → value) maps.
pub fn manifest(path: PathBuf) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Nesting depth of each part: how many parts above it.
pub fn depths(d: &Decomposed) -> Vec<usize> {
    let mut stack: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for p in &d.parts {
        let path = p.part.path.0.as_str();
        while stack.last().is_some_and(|a| !below(path, a)) {
            stack.pop();
        }
        out.push(stack.len());
        stack.push(path);
    }
    out
}

fn below(path: &str, ancestor: &str) -> bool {
    ancestor.is_empty()
        || path
            .strip_prefix(ancestor)
            .is_some_and(|r| r.starts_with('/') || r.starts_with('.'))
}

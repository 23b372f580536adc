//! Golden files: `tests/golden/NAME.eml` decomposes to the tree in `NAME.tree`
//! (`quarantd_mime::render`). Run with `UPDATE_GOLDEN=1` to rewrite the expectations after
//! a deliberate change, and review the diff.

use std::path::PathBuf;

use quarantd_mime::{decompose, render, Limits};

#[test]
fn golden_trees() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut emls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    emls.sort();
    assert!(emls.len() >= 6, "golden messages missing");
    let mut mismatches = Vec::new();
    for eml in emls {
        let raw = std::fs::read(&eml).expect("eml");
        let tree = render(&decompose(&raw, &Limits::default()));
        let expected_path = eml.with_extension("tree");
        if update {
            std::fs::write(&expected_path, &tree).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if tree != expected {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{tree}",
                eml.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

//! Classification speed on the Office files of the corpus, and olevba's on the same files in
//! the same run when oletools is installed.
//!
//! `cargo bench -p quarantd-classify`. olevba is found as `olevba` on `PATH` (its `#!`
//! line names the Python that has oletools) or through `OLEVBA_PYTHON`; one Python process
//! loops over the files with `oletools.olevba.VBA_Parser`, so interpreter start-up is not
//! counted against it. Prints documents/second, MB/s and the per-document speed ratio
//! (target: at least 50x).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The measuring loop runs at least this long.
const MIN_TIME: Duration = Duration::from_secs(3);

/// Python run by olevba's interpreter: per-document seconds for detection and extraction
/// of the VBA code (what deciding "has a macro" needs) and for the full analysis that
/// `olevba --json` does.
const OLEVBA_SCRIPT: &str = r#"
import sys, time, logging
logging.disable(logging.CRITICAL)
from oletools.olevba import VBA_Parser
files = sys.argv[1:]
def run(full):
    start = time.perf_counter()
    for f in files:
        try:
            vp = VBA_Parser(f)
            if vp.detect_vba_macros():
                for _ in vp.extract_all_macros():
                    pass
            if full:
                vp.analyze_macros()
            vp.close()
        except Exception:
            pass
    return time.perf_counter() - start
run(False)
print(run(False) / len(files), run(True) / len(files))
"#;

fn main() {
    let files: Vec<(PathBuf, String, Vec<u8>)> = common::samples()
        .into_iter()
        .filter(|s| s.is_office())
        .map(|s| {
            let content = std::fs::read(&s.path).expect("sample is readable");
            let name = s.filename().to_string();
            (s.path, name, content)
        })
        .collect();
    let bytes: usize = files.iter().map(|(_, _, c)| c.len()).sum();
    println!(
        "classify bench: {} Office documents, {:.1} MB",
        files.len(),
        bytes as f64 / 1e6
    );
    let ours = bench_detect(&files, bytes);
    if std::env::var_os("CLASSIFY_BENCH_SLOWEST").is_some() {
        print_slowest(&files);
    }
    match olevba_python() {
        Some(python) => compare_with_olevba(&python, &files, ours),
        None => println!("olevba: not installed (pip install oletools), no comparison"),
    }
}

/// Seconds per document for `detect` over all files, looped for at least [`MIN_TIME`].
fn bench_detect(files: &[(PathBuf, String, Vec<u8>)], bytes: usize) -> f64 {
    let mut labelled = 0;
    for (_, name, content) in files {
        labelled += usize::from(
            !quarantd_classify::detect(content, Some(name), None)
                .labels
                .is_empty(),
        );
    }
    let started = Instant::now();
    let mut rounds = 0u32;
    while started.elapsed() < MIN_TIME {
        for (_, name, content) in files {
            std::hint::black_box(quarantd_classify::detect(
                std::hint::black_box(content),
                Some(name),
                None,
            ));
        }
        rounds += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let docs = f64::from(rounds) * files.len() as f64;
    let per_doc = elapsed / docs;
    println!(
        "quarantd-classify: {:.0} documents/s, {:.1} MB/s, {:.3} ms/document ({} of {} labelled)",
        docs / elapsed,
        f64::from(rounds) * bytes as f64 / elapsed / 1e6,
        per_doc * 1e3,
        labelled,
        files.len()
    );
    per_doc
}

/// The ten slowest documents (set `CLASSIFY_BENCH_SLOWEST` to see them).
fn print_slowest(files: &[(PathBuf, String, Vec<u8>)]) {
    let mut times: Vec<(f64, &str, usize)> = files
        .iter()
        .map(|(_, name, content)| {
            let started = Instant::now();
            for _ in 0..50 {
                std::hint::black_box(quarantd_classify::detect(content, Some(name), None));
            }
            (
                started.elapsed().as_secs_f64() / 50.0,
                name.as_str(),
                content.len(),
            )
        })
        .collect();
    times.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (seconds, name, len) in times.iter().take(10) {
        println!("  {:>8.3} ms  {:>9} bytes  {name}", seconds * 1e3, len);
    }
}

fn compare_with_olevba(python: &str, files: &[(PathBuf, String, Vec<u8>)], ours: f64) {
    let output = Command::new(python)
        .arg("-c")
        .arg(OLEVBA_SCRIPT)
        .args(files.iter().map(|(path, _, _)| path))
        .output();
    let Ok(output) = output else {
        println!("olevba: {python} could not be run");
        return;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let times: Vec<f64> = text
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let [extract, full] = times[..] else {
        println!(
            "olevba: no timing ({})",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return;
    };
    println!(
        "olevba (VBA_Parser detect+extract): {:.0} documents/s, {:.3} ms/document -> quarantd {:.0}x faster",
        1.0 / extract,
        extract * 1e3,
        extract / ours
    );
    println!(
        "olevba (full analysis, as olevba --json): {:.0} documents/s, {:.3} ms/document -> quarantd {:.0}x faster (target >= 50x)",
        1.0 / full,
        full * 1e3,
        full / ours
    );
}

/// The Python interpreter that has oletools: `OLEVBA_PYTHON`, else the `#!` line of
/// `olevba` on `PATH`.
fn olevba_python() -> Option<String> {
    if let Ok(python) = std::env::var("OLEVBA_PYTHON") {
        return Some(python);
    }
    let path = std::env::var_os("PATH")?;
    let olevba = std::env::split_paths(&path)
        .map(|dir| dir.join("olevba"))
        .find(|p| p.is_file())?;
    let script = std::fs::read_to_string(olevba).ok()?;
    let shebang = script.lines().next()?.strip_prefix("#!")?.trim();
    Some(shebang.split_whitespace().last()?.to_string()).filter(|p| !p.ends_with("env"))
}

//! Prints the detection of each file named on the command line:
//! `cargo run -p quarantd-classify --example detect -- FILE...`

fn main() {
    for path in std::env::args().skip(1) {
        let content = match std::fs::read(&path) {
            Ok(content) => content,
            Err(error) => {
                eprintln!("{path}: {error}");
                continue;
            }
        };
        let name = path.rsplit('/').next().unwrap_or(&path);
        let found = quarantd_classify::detect(&content, Some(name), None);
        let labels: Vec<&str> = found.labels.iter().map(|l| l.as_str()).collect();
        println!(
            "{path}\t{}\t{}\t{}",
            found.detected_type,
            labels.join(","),
            found.notes.join("; ")
        );
    }
}

//! Prints the part tree of each file given: `.eml` files as messages, others as bare files.

fn main() {
    let limits = quarantd_mime::Limits::default();
    for path in std::env::args().skip(1) {
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("cannot read {path}");
            continue;
        };
        let d = if path.ends_with(".eml") || path.ends_with(".msg") {
            quarantd_mime::decompose(&bytes, &limits)
        } else {
            let name = path.rsplit('/').next();
            quarantd_mime::decompose_file(&bytes, name, &limits)
        };
        println!("== {path}\n{}", quarantd_mime::render(&d));
    }
}

//! Decomposition throughput over the corpus on one core, base64 decoding speed, and peak
//! memory for a 50 MB message. `cargo bench -p quarantd-mime`; prints figures, asserts
//! nothing. The corpus is found like the tests find it (`QUARANTD_CORPUS`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mail_parser::decoders::base64::base64_decode;
use quarantd_mime::{decompose, Limits};

fn corpus() -> PathBuf {
    match std::env::var_os("QUARANTD_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

fn peak_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// Pseudo-random bytes (xorshift), incompressible like real attachments.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn base64_lines(data: &[u8]) -> Vec<u8> {
    quarantd_testkit::base64_lines(data, "\r\n").into_bytes()
}

fn message_with_attachment(body_b64: &[u8]) -> Vec<u8> {
    let mut raw = b"From: a@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
--b\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(body_b64);
    raw.extend_from_slice(b"\r\n--b--\r\n");
    raw
}

fn mb_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

fn big_message() {
    let b64 = base64_lines(&noise(37 * 1000 * 1000));
    let raw = message_with_attachment(&b64);
    let before = peak_mib();
    let start = Instant::now();
    let d = decompose(&raw, &Limits::default());
    let elapsed = start.elapsed();
    println!(
        "50 MB message: {:.1} MB in {:.0} ms ({:.0} MB/s), {} parts, peak RSS {} MiB (before {} MiB, message itself {} MiB)",
        raw.len() as f64 / 1e6,
        elapsed.as_secs_f64() * 1e3,
        mb_per_s(raw.len(), elapsed),
        d.parts.len(),
        peak_mib(),
        before,
        raw.len() / (1024 * 1024)
    );
    drop(d);
    let start = Instant::now();
    let decoded = base64_decode(&b64).map(|d| d.len()).unwrap_or(0);
    let elapsed = start.elapsed();
    println!(
        "base64 (mail-parser, 76-char lines): {:.1} MB decoded in {:.0} ms: {:.0} MB/s of encoded input",
        decoded as f64 / 1e6,
        elapsed.as_secs_f64() * 1e3,
        mb_per_s(b64.len(), elapsed)
    );
}

/// The 100 KB message of the shared SMTP harness (workload b: text + base64 PDF): the cost
/// per message that `serve` pays before any scanner, split into mail-parser's parse and the
/// rest of the decomposition.
fn bench_message() {
    let path = corpus().join("../bench/messages/b-pdf-100k.eml");
    let Ok(raw) = std::fs::read(&path) else {
        println!("{} not found: bench message figure skipped", path.display());
        return;
    };
    let limits = Limits::default();
    let rounds = 2000;
    let time = |f: &dyn Fn() -> usize| {
        let start = Instant::now();
        let mut n = 0;
        for _ in 0..rounds {
            n += f();
        }
        (start.elapsed() / rounds, n)
    };
    let (parse, _) = time(&|| {
        mail_parser::MessageParser::default()
            .parse(&raw)
            .map_or(0, |m| m.parts.len())
    });
    let (whole, parts) = time(&|| decompose(&raw, &limits).parts.len());
    println!(
        "bench message b ({:.0} KB, {} parts): decompose {:.0} us per message (mail-parser parse {:.0} us)",
        raw.len() as f64 / 1e3,
        parts / rounds as usize,
        whole.as_secs_f64() * 1e6,
        parse.as_secs_f64() * 1e6
    );
}

fn corpus_messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for folder in ["messages", "generated"] {
        let mut stack = vec![corpus().join(folder)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "eml") {
                    out.extend(std::fs::read(&path).ok());
                }
            }
        }
    }
    out
}

fn corpus_throughput(messages: &[Vec<u8>], label: &str) {
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let limits = Limits::default();
    let rounds = 3;
    let start = Instant::now();
    let mut parts = 0;
    for _ in 0..rounds {
        for raw in messages {
            parts += decompose(raw, &limits).parts.len();
        }
    }
    let elapsed = start.elapsed() / rounds;
    println!(
        "{label}: {} messages, {:.1} MB, {} parts: {:.0} ms per pass, {:.1} MB/s, {:.0} messages/s",
        messages.len(),
        bytes as f64 / 1e6,
        parts / rounds as usize,
        elapsed.as_secs_f64() * 1e3,
        mb_per_s(bytes, elapsed),
        messages.len() as f64 / elapsed.as_secs_f64()
    );
}

/// Hostile structure (issue 11 B4): time and verdict of a PDF of 200,000 `/EF ` (65 s when
/// the scan was quadratic) and of a FAT floppy whose subdirectory's cluster chain loops
/// (endless with fatfs alone).
fn hostile() {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    for _ in 0..200_000 {
        pdf.extend_from_slice(b"/EF ");
    }
    let mut fat = vec![0u8; 2880 * 512];
    fat[..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
    fat[11..13].copy_from_slice(&512u16.to_le_bytes());
    fat[13] = 1;
    fat[14] = 1;
    fat[16] = 2;
    fat[17..19].copy_from_slice(&224u16.to_le_bytes());
    fat[19..21].copy_from_slice(&2880u16.to_le_bytes());
    fat[22] = 9;
    fat[54..62].copy_from_slice(b"FAT12   ");
    fat[510] = 0x55;
    fat[511] = 0xaa;
    for table in [512, 512 + 9 * 512] {
        fat[table..table + 5].copy_from_slice(&[0xf0, 0xff, 0xff, 0x02, 0x00]);
    }
    let root = 19 * 512;
    fat[root..root + 11].copy_from_slice(b"SUB        ");
    fat[root + 11] = 0x10;
    fat[root + 26] = 2;
    for i in 0..16 {
        fat[33 * 512 + 32 * i] = 0xe5;
    }
    for (name, bytes) in [
        ("pdf of 200,000 /EF", &pdf),
        ("fat with a looping directory", &fat),
    ] {
        let started = Instant::now();
        let d = quarantd_mime::decompose_file(bytes, Some("hostile"), &Limits::default());
        let reason = d
            .parts
            .iter()
            .find_map(|p| p.part.unscannable_reason.clone())
            .unwrap_or_else(|| "no label (nothing to open)".into());
        println!(
            "hostile: {name}: {:.3} s, {} parts, {reason}",
            started.elapsed().as_secs_f64(),
            d.parts.len()
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("BENCH_HOSTILE_ONLY").is_some() {
        hostile();
        return;
    }
    hostile();
    if std::env::var_os("BENCH_MESSAGE_ONLY").is_some() {
        bench_message();
        return;
    }
    big_message();
    bench_message();
    let messages = corpus_messages();
    if messages.is_empty() {
        println!(
            "corpus not found at {}: corpus figures skipped",
            corpus().display()
        );
        return;
    }
    corpus_throughput(&messages, "corpus (all, incl. 3 bomb messages)");
    let tame: Vec<Vec<u8>> = messages
        .into_iter()
        .filter(|m| !m.windows(4).any(|w| w == b"bomb"))
        .collect();
    corpus_throughput(&tame, "corpus without bombs");
}

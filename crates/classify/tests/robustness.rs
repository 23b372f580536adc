//! `detect` is total: truncated, bit-flipped and random bytes of every corpus sample (and
//! pure garbage) never panic, never trip the panic guard, and finish quickly.

mod common;

use std::time::{Duration, Instant};

use quarantd_classify::detect;
use quarantd_core::Label;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Variants of a sample: prefixes, flipped bytes, a zeroed block, a shuffled tail.
fn variants(content: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for cut in [1, 7, 64, 512, 513, 4096] {
        out.push(content[..content.len().min(cut)].to_vec());
    }
    for _ in 0..3 {
        out.push(content[..rng.below(content.len() + 1)].to_vec());
    }
    for flips in [1, 8, 64] {
        let mut v = content.to_vec();
        for _ in 0..flips {
            if !v.is_empty() {
                let at = rng.below(v.len());
                v[at] ^= 1 << rng.below(8);
            }
        }
        out.push(v);
    }
    let mut zeroed = content.to_vec();
    if !zeroed.is_empty() {
        let at = rng.below(zeroed.len());
        let end = zeroed.len().min(at + 512);
        zeroed[at..end].fill(0);
    }
    out.push(zeroed);
    let mut garbage_tail = content[..content.len() / 2].to_vec();
    garbage_tail.extend((0..content.len() / 2).map(|_| rng.next() as u8));
    out.push(garbage_tail);
    out
}

fn check(bytes: &[u8], name: &str, what: &str) {
    let started = Instant::now();
    let found = detect(bytes, Some(name), Some("application/octet-stream"));
    assert!(
        !found.has(Label::Unscannable) || !found.notes.iter().any(|n| n.contains("panic")),
        "{what}: analyser panicked: {:?}",
        found.notes
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{what}: took {:?}",
        started.elapsed()
    );
}

#[test]
fn damaged_corpus_samples_are_handled() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for sample in common::samples() {
        let content = std::fs::read(&sample.path).expect("sample is readable");
        for (i, variant) in variants(&content, &mut rng).iter().enumerate() {
            check(
                variant,
                sample.filename(),
                &format!("{} variant {i}", sample.file),
            );
        }
    }
}

#[test]
fn random_bytes_with_every_magic_are_handled() {
    let magics: &[&[u8]] = &[
        b"",
        b"MZ",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"PK\x03\x04",
        b"%PDF-",
        b"{\\rtf1",
        b"\x7fELF",
        b"\xca\xfe\xba\xbe",
        b"ITSF\x03\0\0\0",
        b"ID;P",
        b"<?xml version=\"1.0\"?><w:fldChar w:fldCharType=\"begin\"/>",
        b"#@~^",
    ];
    let mut rng = Rng(42);
    for magic in magics {
        for len in [0, 1, 16, 600, 5000] {
            let mut bytes = magic.to_vec();
            bytes.extend((0..len).map(|_| rng.next() as u8));
            check(&bytes, "x.bin", &format!("{magic:?} + {len} random bytes"));
        }
    }
}

/// Inputs built to make a careless scanner quadratic: each ends well within its time.
#[test]
fn pathological_text_stays_linear() {
    let mb = 1 << 20;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("lt.xml", vec![b'<'; mb]),
        (
            "attr.xml",
            [b"<?xml?>".to_vec(), b"instr=\"".repeat(mb / 7)].concat(),
        ),
        (
            "bin.xml",
            [b"<?xml?>".to_vec(), b"<w:binData".repeat(mb / 10)].concat(),
        ),
        (
            "f.xml",
            [
                b"<?xml?>".to_vec(),
                b"<w:fldChar w:fldCharType=\"begin\"".repeat(mb / 32),
            ]
            .concat(),
        ),
        ("cells.csv", b"=a|".repeat(mb / 3)),
        (
            "fields.rtf",
            [b"{\\rtf1".to_vec(), b"\\fldinst".repeat(mb / 8)].concat(),
        ),
        (
            "macro.slk",
            [b"ID;P\n".to_vec(), b"C;EEXEC(\n".repeat(mb / 9)].concat(),
        ),
        (
            "marks.doc",
            [b"\x13".repeat(mb), b"\x13\0".repeat(mb / 2)].concat(),
        ),
    ];
    for (name, bytes) in cases {
        let started = Instant::now();
        let _ = detect(&bytes, Some(name), None);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name}: took {:?}",
            started.elapsed()
        );
    }
}

//! RTF documents: the hex data of `\objdata` groups (embedded OLE1 objects) become
//! children: an OLE Package yields the packaged file under its name, other objects their
//! native data (often an OLE compound file, opened in turn).

use crate::formats::{latin1, le32, ole};
use crate::formats::{Container, Failure, Member, Sink};

/// Most objects taken from one document.
const MAX_OBJECTS: usize = 1000;

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let mut from = 0;
    let mut count = 0;
    while let Some(found) = data.get(from..).and_then(|rest| find(rest, b"\\objdata")) {
        let start = from + found + b"\\objdata".len();
        count += 1;
        if count > MAX_OBJECTS {
            break;
        }
        let (bytes, end) = objdata(data, start);
        from = end.max(start);
        let bytes = w.unpack(bytes.as_slice(), bytes.len() as u64, bytes.len() as u64);
        let (name, content) = match ole1(&bytes.bytes) {
            Some(Object::Package(name, body)) => (name, body.to_vec()),
            Some(Object::Native(class, body)) => (
                format!("object-{count}.{}", clean_class(&class)),
                body.to_vec(),
            ),
            None => (format!("object-{count}.bin"), bytes.bytes.clone()),
        };
        w.member(cx, Member::new(name, content))?;
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Decodes the hex digits of the group that `\objdata` opens, up to its closing brace;
/// control words are skipped, `\binN` raw bytes are taken as they are.
fn objdata(data: &[u8], mut at: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut nibble: Option<u8> = None;
    let mut depth = 0usize;
    while let Some(&b) = data.get(at) {
        at += 1;
        match b {
            b'{' => depth += 1,
            b'}' if depth == 0 => break,
            b'}' => depth -= 1,
            b'\\' => at = control_word(data, at, &mut out),
            _ => {
                let Some(v) = (b as char).to_digit(16) else {
                    continue;
                };
                match nibble.take() {
                    Some(high) => out.push((high << 4) | v as u8),
                    None => nibble = Some(v as u8),
                }
            }
        }
    }
    (out, at)
}

/// Skips a control word starting after its backslash; `\binN` copies N raw bytes.
fn control_word(data: &[u8], mut at: usize, out: &mut Vec<u8>) -> usize {
    let start = at;
    while data.get(at).is_some_and(u8::is_ascii_alphabetic) {
        at += 1;
    }
    if at == start {
        return at + 1;
    }
    let word = &data[start..at];
    let num_start = at;
    if data.get(at) == Some(&b'-') {
        at += 1;
    }
    while data.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    let param: usize = std::str::from_utf8(&data[num_start..at])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if data.get(at) == Some(&b' ') {
        at += 1;
    }
    if word == b"bin" {
        let end = at.saturating_add(param).min(data.len());
        out.extend_from_slice(&data[at..end]);
        at = end;
    }
    at
}

enum Object<'d> {
    Package(String, &'d [u8]),
    Native(String, &'d [u8]),
}

/// An OLE1 `ObjectHeader` + embedded object: class, topic, item, native data.
fn ole1(data: &[u8]) -> Option<Object<'_>> {
    let format = le32(data, 4)?;
    if format != 2 {
        return None;
    }
    let (class, at) = ansi(data, 8)?;
    let (_topic, at) = ansi(data, at)?;
    let (_item, at) = ansi(data, at)?;
    let size = le32(data, at)? as usize;
    let native = data.get(at + 4..(at + 4).checked_add(size)?.min(data.len()))?;
    if class.starts_with("Package") {
        if let Some((name, body)) = ole::package(native, false) {
            return Some(Object::Package(name, body));
        }
    }
    Some(Object::Native(class, native))
}

/// A length-prefixed ANSI string.
fn ansi(data: &[u8], at: usize) -> Option<(String, usize)> {
    let len = le32(data, at)? as usize;
    let raw = data.get(at + 4..(at + 4).checked_add(len)?)?;
    let text = latin1(raw.split(|&b| b == 0).next().unwrap_or_default());
    Some((text, at + 4 + len))
}

fn clean_class(class: &str) -> String {
    let c: String = class
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    if c.is_empty() {
        "bin".into()
    } else {
        c
    }
}

#[cfg(test)]
mod end_tests {
    #[test]
    fn an_object_group_cut_off_at_the_end_is_no_panic() {
        // Found by fuzz target rtf (fuzz/regressions/rtf/): the walk went past the end.
        for data in [
            &b"{\\rtf1{\\*\\objdata"[..],
            b"{\\rtf1{\\*\\objdata 0",
            b"{\\*\\objdata{\\*\\",
        ] {
            let limits = crate::Limits::default();
            let d = crate::decompose_as("rtf", data, &limits).expect("rtf is a format");
            assert!(!d.parts.is_empty());
        }
    }
}

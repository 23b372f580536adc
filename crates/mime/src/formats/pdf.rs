//! PDF embedded files (`/Type /EmbeddedFile` streams), named from their file
//! specification (`/UF`, `/F`). A light scanner over the bytes, not a PDF parser: what it
//! cannot find it leaves alone; a PDF is never `unscannable` because of it.

use crate::cap;
use crate::walk::{Container, Failure, Member, Walker};

/// Most embedded files taken from one document.
const MAX_FILES: usize = 1000;

pub(crate) fn open(w: &mut Walker<'_>, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let names = filespec_names(data);
    let mut from = 0;
    let mut count = 0;
    while let Some(pos) = find(&data[from..], b"/EmbeddedFile") {
        let at = from + pos;
        from = at + b"/EmbeddedFile".len();
        if data.get(from).is_some_and(u8::is_ascii_alphanumeric) || count >= MAX_FILES {
            continue;
        }
        let Some((object, dict, body)) = stream_at(data, at) else {
            continue;
        };
        count += 1;
        let name = object
            .and_then(|n| {
                names
                    .iter()
                    .find(|(r, _)| *r == n)
                    .map(|(_, name)| name.clone())
            })
            .unwrap_or_else(|| format!("embedded-{count}"));
        let content = if find(dict, b"/FlateDecode").is_some() {
            let out = cap::zlib(body, &w.cap(body.len() as u64), 0);
            w.charge(out)
        } else {
            w.unpack(body, body.len() as u64, body.len() as u64)
        };
        w.member(cx, Member::unpacked(name, content))?;
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::rfind(hay, needle)
}

/// The object number, dictionary and raw stream bytes of the object around `at`.
fn stream_at(data: &[u8], at: usize) -> Option<(Option<u32>, &[u8], &[u8])> {
    let obj_start = rfind(&data[..at], b" obj")?;
    let number = object_number(&data[..obj_start]);
    let keyword = at + stream_keyword(&data[at..])?;
    if find(&data[at..keyword], b"endobj").is_some() {
        return None;
    }
    let dict = &data[obj_start..keyword];
    let mut start = keyword + b"stream".len();
    if data.get(start) == Some(&b'\r') {
        start += 1;
    }
    if data.get(start) == Some(&b'\n') {
        start += 1;
    }
    let end = match direct_length(dict) {
        Some(len) if start + len <= data.len() => start + len,
        _ => start + find(&data[start..], b"endstream")?,
    };
    Some((number, dict, &data[start..end]))
}

/// The `stream` keyword: after the dictionary, followed by an end of line.
fn stream_keyword(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = from + find(&data[from..], b"stream")?;
        from = at + 1;
        let before = at.checked_sub(1).map(|i| data[i]);
        let after = data.get(at + 6).copied();
        let eol = matches!(after, Some(b'\r' | b'\n'));
        if eol && matches!(before, Some(b'>' | b' ' | b'\r' | b'\n')) {
            return Some(at);
        }
    }
}

/// `N G` before ` obj`: returns N.
fn object_number(before: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(&before[before.len().saturating_sub(24)..]).ok()?;
    let mut words = text.split_whitespace().rev();
    let _generation = words.next()?;
    words.next()?.parse().ok()
}

/// `/Length N` when it is a number, not a reference.
fn direct_length(dict: &[u8]) -> Option<usize> {
    let at = find(dict, b"/Length")? + b"/Length".len();
    let text = std::str::from_utf8(&dict[at..(at + 32).min(dict.len())]).ok()?;
    let mut words = text.split(|c: char| c.is_whitespace() || c == '/' || c == '>');
    let words: Vec<&str> = words.by_ref().filter(|w| !w.is_empty()).take(3).collect();
    if words.get(2) == Some(&"R") {
        return None;
    }
    words.first()?.parse().ok()
}

/// (embedded file object number, name) from every file specification with `/EF`.
fn filespec_names(data: &[u8]) -> Vec<(u32, String)> {
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(&data[from..], b"/EF") {
        let at = from + pos;
        from = at + 3;
        if names.len() >= MAX_FILES {
            break;
        }
        let start = rfind(&data[..at], b" obj").unwrap_or(0);
        let end = at + find(&data[at..], b"endobj").unwrap_or(data.len() - at);
        let spec = &data[start..end];
        let Some(target) = ef_reference(&data[at..end]) else {
            continue;
        };
        let name = literal_after(spec, b"/UF").or_else(|| literal_after(spec, b"/F"));
        if let Some(name) = name {
            names.push((target, name));
        }
    }
    names
}

/// `/EF << /F N G R >>`: returns N.
fn ef_reference(ef: &[u8]) -> Option<u32> {
    let at = find(ef, b"/F")? + 2;
    let text = std::str::from_utf8(&ef[at..(at + 32).min(ef.len())]).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The literal string `(...)` right after `key`.
fn literal_after(spec: &[u8], key: &[u8]) -> Option<String> {
    let mut from = 0;
    while let Some(pos) = find(&spec[from..], key) {
        let at = from + pos + key.len();
        from = at;
        let rest = &spec[at..];
        let open = rest.iter().position(|&b| !b.is_ascii_whitespace())?;
        if rest[open] != b'(' {
            continue;
        }
        return Some(decode_literal(&rest[open + 1..]));
    }
    None
}

fn decode_literal(rest: &[u8]) -> String {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut bytes = rest.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => out.extend(bytes.next().copied()),
            b'(' => {
                depth += 1;
                out.push(b);
            }
            b')' if depth == 0 => break,
            b')' => {
                depth -= 1;
                out.push(b);
            }
            _ => out.push(b),
        }
    }
    if let Some(utf16) = out.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = utf16
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    crate::formats::latin1(&out)
}

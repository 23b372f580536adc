//! PDF embedded files (`/Type /EmbeddedFile` streams), named from their file
//! specification (`/UF`, `/F`). A light scanner over the bytes, not a PDF parser: what it
//! cannot find it leaves alone. It is linear in the document: the keywords it looks for
//! are indexed in one pass each, every lookup is a binary search in that index, and each
//! object is looked at once however often a keyword repeats in it. Only the limits make a
//! PDF `unscannable` here (time, or more keywords than [`MAX_KEYWORDS`]).

use crate::formats::{Container, Failure, Member, Sink};

/// Most embedded files taken from one document.
const MAX_FILES: usize = 1000;

/// Most occurrences of each keyword indexed (` obj`, `endobj`, `stream`, `endstream`):
/// more than any real document has; a document with more is `unscannable`.
const MAX_KEYWORDS: usize = 2_000_000;

/// How far after `/EF` its `/F N G R` reference is looked for.
const EF_WINDOW: usize = 256;

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let Some(index) = Index::new(data) else {
        w.mark(
            cx.at,
            format!("pdf with more than {MAX_KEYWORDS} objects or streams"),
        );
        return Err(Failure::Stopped);
    };
    let names = filespec_names(w, cx, data, &index)?;
    let mut count = 0;
    let mut done_until = 0;
    for at in memchr::memmem::find_iter(data, b"/EmbeddedFile") {
        w.step(cx)?;
        let after = at + b"/EmbeddedFile".len();
        if at < done_until || data.get(after).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        if count >= MAX_FILES {
            break;
        }
        // Each object is looked at once, however often the keyword repeats in it.
        done_until = index.end_of_object(at);
        let Some((object, dict, body)) = index.stream_at(data, at) else {
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
            let out = quarantd_cap::zlib(body, &w.cap(body.len() as u64), 0);
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

/// Where the keywords are, found in one pass each, so that every lookup is a binary
/// search: the scan is linear in the document however its keywords repeat.
struct Index {
    /// Offsets of ` obj`.
    objs: Vec<usize>,
    /// Offsets of `endobj`.
    endobjs: Vec<usize>,
    /// Offsets of a `stream` keyword (after a dictionary, before an end of line).
    streams: Vec<usize>,
    /// Offsets of `endstream`.
    endstreams: Vec<usize>,
}

impl Index {
    fn new(data: &[u8]) -> Option<Index> {
        let streams = positions(data, b"stream")?
            .into_iter()
            .filter(|&at| is_stream_keyword(data, at))
            .collect();
        Some(Index {
            objs: positions(data, b" obj")?,
            endobjs: positions(data, b"endobj")?,
            endstreams: positions(data, b"endstream")?,
            streams,
        })
    }

    /// Start of the object around `at` (the ` obj` before it).
    fn object_start(&self, at: usize) -> Option<usize> {
        last_before(&self.objs, at)
    }

    /// End of the object around `at` (the `endobj` after it), or of the data.
    fn end_of_object(&self, at: usize) -> usize {
        first_from(&self.endobjs, at).unwrap_or(usize::MAX)
    }

    /// The object number, dictionary and raw stream bytes of the object around `at`.
    fn stream_at<'d>(
        &self,
        data: &'d [u8],
        at: usize,
    ) -> Option<(Option<u32>, &'d [u8], &'d [u8])> {
        let obj_start = self.object_start(at)?;
        let number = object_number(&data[..obj_start]);
        let keyword = first_from(&self.streams, at)?;
        if self.end_of_object(at) < keyword {
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
            Some(len) if start.checked_add(len).is_some_and(|e| e <= data.len()) => start + len,
            _ => first_from(&self.endstreams, start)?,
        };
        Some((number, dict, &data[start..end]))
    }
}

/// Every offset of `needle` in `data`; `None` when there are more than [`MAX_KEYWORDS`].
fn positions(data: &[u8], needle: &[u8]) -> Option<Vec<usize>> {
    let mut found = Vec::new();
    for at in memchr::memmem::find_iter(data, needle) {
        if found.len() >= MAX_KEYWORDS {
            return None;
        }
        found.push(at);
    }
    Some(found)
}

/// The last offset in `sorted` before `at`.
fn last_before(sorted: &[usize], at: usize) -> Option<usize> {
    let n = sorted.partition_point(|&p| p < at);
    n.checked_sub(1).map(|i| sorted[i])
}

/// The first offset in `sorted` at or after `at`.
fn first_from(sorted: &[usize], at: usize) -> Option<usize> {
    sorted.get(sorted.partition_point(|&p| p < at)).copied()
}

/// The `stream` keyword: after the dictionary, followed by an end of line.
fn is_stream_keyword(data: &[u8], at: usize) -> bool {
    let before = at.checked_sub(1).map(|i| data[i]);
    let after = data.get(at + 6).copied();
    let eol = matches!(after, Some(b'\r' | b'\n'));
    eol && matches!(before, Some(b'>' | b' ' | b'\r' | b'\n'))
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

/// (embedded file object number, name) from every file specification with `/EF`; each
/// object is looked at once.
fn filespec_names(
    w: &mut impl Sink,
    cx: &Container,
    data: &[u8],
    index: &Index,
) -> Result<Vec<(u32, String)>, Failure> {
    let mut names = Vec::new();
    let mut done_until = 0;
    for at in memchr::memmem::find_iter(data, b"/EF") {
        w.step(cx)?;
        if at < done_until {
            continue;
        }
        if names.len() >= MAX_FILES {
            break;
        }
        let start = index.object_start(at).unwrap_or(0);
        let end = index.end_of_object(at).min(data.len());
        done_until = end;
        let window = &data[at..end.min(at + EF_WINDOW)];
        let Some(target) = ef_reference(window) else {
            continue;
        };
        let spec = &data[start..end];
        let name = literal_after(spec, b"/UF").or_else(|| literal_after(spec, b"/F"));
        if let Some(name) = name {
            names.push((target, name));
        }
    }
    Ok(names)
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

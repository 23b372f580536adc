//! Uuencoded blocks (`begin 644 name` … `end`) inside text bodies.

/// One uuencoded file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UuFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Most uuencoded blocks taken from one text body.
const MAX_BLOCKS: usize = 100;

/// Every complete or truncated uuencoded block in `text`.
pub(crate) fn decode_all(text: &[u8]) -> Vec<UuFile> {
    let mut files = Vec::new();
    if memchr_begin(text).is_none() {
        return files;
    }
    let mut lines = text.split(|&b| b == b'\n').map(trim_cr);
    while let Some(line) = lines.next() {
        if files.len() >= MAX_BLOCKS {
            break;
        }
        if let Some(name) = begin_line(line) {
            let mut bytes = Vec::new();
            for body in lines.by_ref() {
                if body == b"end" || body.is_empty() {
                    break;
                }
                if !decode_line(body, &mut bytes) {
                    break;
                }
            }
            files.push(UuFile { name, bytes });
        }
    }
    files
}

fn memchr_begin(text: &[u8]) -> Option<usize> {
    memchr::memmem::find(text, b"begin ")
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `begin <octal mode> <name>`; returns the name.
fn begin_line(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"begin ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let (mode, name) = rest.split_at(space);
    if mode.is_empty() || mode.len() > 4 || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    let name = String::from_utf8_lossy(&name[1..]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

fn sextet(b: u8) -> Option<u8> {
    (b' '..=b'`')
        .contains(&b)
        .then(|| (b.wrapping_sub(b' ')) & 0x3f)
}

/// Decodes one body line; `false` when it is not uuencode.
fn decode_line(line: &[u8], out: &mut Vec<u8>) -> bool {
    let Some((&first, rest)) = line.split_first() else {
        return false;
    };
    let Some(len) = sextet(first) else {
        return false;
    };
    let len = len as usize;
    let mut decoded = Vec::with_capacity(len + 2);
    for group in rest.chunks(4) {
        let mut s = [0u8; 4];
        for (i, &b) in group.iter().enumerate() {
            match sextet(b) {
                Some(v) => s[i] = v,
                None => return false,
            }
        }
        decoded.push((s[0] << 2) | (s[1] >> 4));
        decoded.push((s[1] << 4) | (s[2] >> 2));
        decoded.push((s[2] << 6) | s[3]);
    }
    if decoded.len() < len {
        return false;
    }
    out.extend_from_slice(&decoded[..len]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_block_between_text() {
        let text = b"Hello\r\n\r\nbegin 644 cat.txt\r\n#0V%T\r\n`\r\nend\r\nbye\r\n";
        let files = decode_all(text);
        assert_eq!(
            files,
            [UuFile {
                name: "cat.txt".into(),
                bytes: b"Cat".to_vec()
            }]
        );
    }

    #[test]
    fn ignores_prose_starting_with_begin() {
        assert!(decode_all(b"begin the meeting at 10\r\n").is_empty());
    }
}

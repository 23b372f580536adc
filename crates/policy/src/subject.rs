//! The subject tag of the `tag` action, applied to the header block of a message on its way
//! out (the stored original is never changed).

/// Returns the message with `tag` put in front of its `Subject` (a `Subject` header is added
/// when there is none). A subject that already starts with the tag is left alone, so a
/// message passing twice is tagged once. Only the header block is touched; line endings are
/// kept. `tag` must be printable ASCII (the config checks it).
pub fn apply_subject_tag(message: &[u8], tag: &str) -> Vec<u8> {
    let header_end = quarantd_core::headers::header_block_end(message);
    let (headers, body) = message.split_at(header_end);
    let crlf = headers.windows(2).any(|w| w == b"\r\n") || !headers.contains(&b'\n');
    let mut out = Vec::with_capacity(message.len() + tag.len() + 12);
    let mut done = false;
    for line in split_lines_inclusive(headers) {
        if !done && line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"subject:") {
            done = true;
            let value = &line[8..];
            let trimmed = trim_start(value);
            if trimmed.starts_with(tag.as_bytes()) {
                out.extend_from_slice(line);
            } else {
                out.extend_from_slice(b"Subject: ");
                out.extend_from_slice(tag.as_bytes());
                if !trimmed.is_empty() && trimmed[0] != b'\r' && trimmed[0] != b'\n' {
                    out.push(b' ');
                }
                out.extend_from_slice(trimmed);
            }
        } else {
            out.extend_from_slice(line);
        }
    }
    if !done {
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut added = Vec::new();
        added.extend_from_slice(b"Subject: ");
        added.extend_from_slice(tag.as_bytes());
        added.extend_from_slice(eol);
        out.splice(0..0, added);
    }
    out.extend_from_slice(body);
    out
}

fn split_lines_inclusive(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|b| *b == b'\n')
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    &bytes[n..]
}

#[cfg(test)]
mod tests {
    use super::apply_subject_tag;

    #[test]
    fn subject_tag_cases() {
        let cases: &[(&str, &str)] = &[
            (
                "Subject: Hello\r\nFrom: a\r\n\r\nbody\r\n",
                "Subject: [TAG] Hello\r\nFrom: a\r\n\r\nbody\r\n",
            ),
            (
                "subject:Hi\n\nSubject: body\n",
                "Subject: [TAG] Hi\n\nSubject: body\n",
            ),
            ("Subject: [TAG] Hi\r\n\r\n", "Subject: [TAG] Hi\r\n\r\n"),
            (
                "Subject:\r\n =?utf-8?q?caf=C3=A9?=\r\n\r\nx",
                "Subject: [TAG]\r\n =?utf-8?q?caf=C3=A9?=\r\n\r\nx",
            ),
            (
                "From: a\r\n\r\nbody",
                "Subject: [TAG]\r\nFrom: a\r\n\r\nbody",
            ),
            ("", "Subject: [TAG]\r\n"),
        ];
        for (input, expected) in cases {
            let out = apply_subject_tag(input.as_bytes(), "[TAG]");
            assert_eq!(String::from_utf8(out).unwrap(), *expected, "{input:?}");
        }
    }
}

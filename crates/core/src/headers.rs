//! The header block of a message on its way out: quarantd's own header fields that arrived
//! with the message are removed before quarantd adds its own, so a sender cannot hand a
//! recipient's filters a forged `X-Quarantd-Verdict: pass` (the stored original is never
//! changed).

/// Offset just after the header lines (before the empty line), or the whole input when the
/// message has no body.
pub fn header_block_end(message: &[u8]) -> usize {
    let mut at = 0;
    for line in message.split_inclusive(|b| *b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            return at;
        }
        at += line.len();
    }
    at
}

/// True for the header names quarantd writes: `X-Quarantd` and `X-Quarantd-*` (any case).
pub fn is_own_header(name: &[u8]) -> bool {
    const OWN: &[u8] = b"x-quarantd";
    name.len() >= OWN.len()
        && name[..OWN.len()].eq_ignore_ascii_case(OWN)
        && (name.len() == OWN.len() || name[OWN.len()] == b'-')
}

/// The message without the top-level header fields named by [`is_own_header`] (with their
/// folded continuation lines); `None` when it has none, which is the common case and costs
/// no copy. Everything else — other fields, line endings, the body — is kept byte for byte.
pub fn strip_own_headers(message: &[u8]) -> Option<Vec<u8>> {
    let end = header_block_end(message);
    let (headers, body) = message.split_at(end);
    let mut out: Option<Vec<u8>> = None;
    let mut dropping = false;
    let mut at = 0;
    for line in headers.split_inclusive(|b| *b == b'\n') {
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|b| *b == b':').next().unwrap_or(line);
            dropping = line.contains(&b':') && is_own_header(name.trim_ascii_end());
        }
        if dropping {
            out.get_or_insert_with(|| {
                let mut kept = Vec::with_capacity(message.len());
                kept.extend_from_slice(&headers[..at]);
                kept
            });
        } else if let Some(kept) = out.as_mut() {
            kept.extend_from_slice(line);
        }
        at += line.len();
    }
    let mut kept = out?;
    kept.extend_from_slice(body);
    Some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(message: &str) -> Option<String> {
        strip_own_headers(message.as_bytes()).map(|m| String::from_utf8(m).unwrap())
    }

    #[test]
    fn own_fields_go_with_their_continuations_and_nothing_else_changes() {
        assert_eq!(
            strip(
                "Received: from a\r\n\tby b\r\nX-Quarantd-Verdict: pass\r\n \t(forged)\r\n\
                 Subject: hi\r\nx-quarantd: someone; id=1\r\nX-QUARANTD-WARNING : x\r\n\
                 X-Quarantdx: other\r\nX-Quarantine: kept\r\n\r\n\
                 X-Quarantd-Verdict: in the body stays\r\n"
            )
            .as_deref(),
            Some(
                "Received: from a\r\n\tby b\r\nSubject: hi\r\nX-Quarantdx: other\r\n\
                 X-Quarantine: kept\r\n\r\nX-Quarantd-Verdict: in the body stays\r\n"
            )
        );
        // Bare LF line endings are kept too.
        assert_eq!(
            strip("X-Quarantd: x\nFrom: a\n\nbody\n").as_deref(),
            Some("From: a\n\nbody\n")
        );
    }

    #[test]
    fn a_message_without_own_fields_is_not_copied() {
        assert_eq!(
            strip("From: a\r\nSubject: x\r\n\r\nX-Quarantd: body\r\n"),
            None
        );
        assert_eq!(strip(""), None);
        assert_eq!(strip("no header at all"), None);
    }

    #[test]
    fn names() {
        assert!(is_own_header(b"X-Quarantd"));
        assert!(is_own_header(b"x-quarantd-verdict"));
        assert!(!is_own_header(b"X-Quarantdx"));
        assert!(!is_own_header(b"X-Quarantine-Released"));
        assert!(!is_own_header(b"X-Quar"));
    }

    #[test]
    fn header_block_end_cases() {
        assert_eq!(header_block_end(b"A: b\r\n\r\nbody"), 6);
        assert_eq!(header_block_end(b"A: b\n\nbody"), 5);
        assert_eq!(header_block_end(b"A: b\r\n"), 6);
    }
}

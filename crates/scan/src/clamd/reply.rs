//! clamd's replies, parsed sans-IO: bytes in, a typed reply or a typed error out.
//!
//! With `z`-prefixed commands every reply ends with a NUL byte. The forms of `INSTREAM`:
//!
//! ```text
//! stream: OK
//! stream: Eicar-Signature FOUND
//! stream: Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND   (ExtendedDetectionInfo)
//! stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND                   (AlertExceedsMax)
//! stream: Can't allocate memory ERROR
//! INSTREAM size limit exceeded. ERROR
//! COMMAND READ TIMED OUT
//! ```
//!
//! With `AllowAllMatchScan` several `FOUND` records may arrive before clamd closes.

/// Longest reply read from clamd, all records together; more is an error.
pub const MAX_REPLY: usize = 16 * 1024;

/// What clamd said about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanReply {
    /// `stream: OK`
    Clean,
    /// One or more `stream: NAME FOUND`, names without the extended-info suffix.
    Found(Vec<String>),
    /// `INSTREAM size limit exceeded. ERROR` or a `Heuristics.Limits.Exceeded*` detection,
    /// with the names of any real detections clamd reported beside it (kept: a virus found
    /// before a limit stopped the scan is still a virus).
    SizeLimit {
        /// The limit, as clamd said it.
        text: String,
        /// Names found beside it.
        found: Vec<String>,
    },
    /// `... ERROR` or anything not understood, with the text, and the names of any
    /// detections beside it.
    Error {
        /// The error, as clamd said it.
        text: String,
        /// Names found beside it.
        found: Vec<String>,
    },
}

/// The reply could not be read as a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Nothing arrived before the connection closed.
    #[error("clamd closed the connection without a reply")]
    Empty,
    /// More than [`MAX_REPLY`] bytes.
    #[error("clamd's reply is longer than {MAX_REPLY} bytes")]
    TooLong,
}

/// Parses everything clamd sent for an `INSTREAM` (one or more NUL- or newline-terminated
/// records). Size limits win over errors, errors over detections, detections over clean —
/// and a limit or an error keeps the detections reported beside it.
pub fn parse_scan_reply(bytes: &[u8]) -> Result<ScanReply, ReplyError> {
    if bytes.len() > MAX_REPLY {
        return Err(ReplyError::TooLong);
    }
    let mut found = Vec::new();
    let mut error = None;
    let mut limit = None;
    let mut records = 0;
    for record in records_of(bytes) {
        records += 1;
        match parse_record(&record) {
            Record::Clean => {}
            Record::Found(name) => found.push(name),
            Record::SizeLimit(text) => limit = Some(text),
            Record::Error(text) => error = Some(text),
        }
    }
    if records == 0 {
        return Err(ReplyError::Empty);
    }
    Ok(match (limit, error) {
        (Some(text), _) => ScanReply::SizeLimit { text, found },
        (None, Some(text)) => ScanReply::Error { text, found },
        (None, None) if found.is_empty() => ScanReply::Clean,
        (None, None) => ScanReply::Found(found),
    })
}

/// The non-empty records of a reply, as lossy UTF-8 with surrounding white space removed
/// and every other control character a space: a name from a broken reply never carries one
/// into a log line or a header.
pub fn records_of(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes
        .split(|&b| b == 0 || b == b'\n')
        .map(|r| {
            let text: String = String::from_utf8_lossy(r)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            text.trim().to_string()
        })
        .filter(|r| !r.is_empty())
}

/// One record of a reply.
enum Record {
    Clean,
    Found(String),
    SizeLimit(String),
    Error(String),
}

fn parse_record(record: &str) -> Record {
    let body = strip_subject(record);
    if body == "OK" {
        return Record::Clean;
    }
    if let Some(name) = body
        .strip_suffix(" FOUND")
        .or_else(|| (body == "FOUND").then_some(""))
    {
        let raw = name.trim();
        // A detection is a detection even when a broken reply names it badly.
        let name = match strip_extended_info(raw) {
            "" if raw.is_empty() => "unnamed-detection",
            "" => raw,
            stripped => stripped,
        };
        if name.starts_with("Heuristics.Limits.Exceeded") {
            return Record::SizeLimit(name.to_string());
        }
        return Record::Found(name.to_string());
    }
    if body.contains("size limit exceeded") {
        return Record::SizeLimit(body.to_string());
    }
    Record::Error(body.to_string())
}

/// `stream: REST` (`INSTREAM`) or `fd[N]: REST` (`FILDES`) → `REST`.
fn strip_subject(record: &str) -> &str {
    if let Some(rest) = record.strip_prefix("stream:") {
        return rest.trim_start();
    }
    let fd = record
        .strip_prefix("fd[")
        .and_then(|rest| rest.split_once("]:"));
    match fd {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            rest.trim_start()
        }
        _ => record,
    }
}

/// `Name(hash:size)` → `Name` (clamd's `ExtendedDetectionInfo`).
fn strip_extended_info(name: &str) -> &str {
    match name.rfind('(') {
        Some(at) if name.ends_with(')') => {
            let inner = &name[at + 1..name.len() - 1];
            let looks_like_info = inner.split_once(':').is_some_and(|(hash, size)| {
                hash.bytes().all(|b| b.is_ascii_hexdigit())
                    && (size == "*" || size.bytes().all(|b| b.is_ascii_digit()))
            });
            if looks_like_info {
                &name[..at]
            } else {
                name
            }
        }
        _ => name,
    }
}

/// Parses the reply to `zVERSION`: `ClamAV 1.4.6/27412/Tue Oct  1 08:32:45 2024` or
/// `ClamAV 1.4.6` (no official database loaded).
pub fn parse_version(bytes: &[u8]) -> Result<String, ReplyError> {
    let record = records_of(bytes).next().ok_or(ReplyError::Empty)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str, found: &[&str]) -> ScanReply {
        ScanReply::SizeLimit {
            text: text.into(),
            found: found.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn error(text: &str, found: &[&str]) -> ScanReply {
        ScanReply::Error {
            text: text.into(),
            found: found.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn names_from_a_broken_reply_have_no_control_characters() {
        let reply = b"streW.m:TI\0\0\0\0\0\xfa\0\x04ME=MED  Ei\xfbar-Sigjature FOUND\0";
        let ScanReply::Error { found, .. } = parse_scan_reply(reply).unwrap() else {
            panic!("records not understood are an error");
        };
        assert_eq!(found.len(), 1);
        assert!(
            found.iter().all(|n| !n.chars().any(char::is_control)),
            "{found:?}"
        );
        assert_eq!(
            parse_scan_reply(b"stream: Bad\x01Name\tX FOUND\0").unwrap(),
            ScanReply::Found(vec!["Bad Name X".into()])
        );
    }

    #[test]
    fn a_detection_without_a_usable_name_is_still_a_detection() {
        for reply in [
            &b"(44d8e8e21278abb02f:68) FOUND\0"[..],
            b"stream: FOUND\0",
            b"stream:  FOUND\0",
        ] {
            let ScanReply::Found(names) = parse_scan_reply(reply).unwrap() else {
                panic!("{reply:?} is a detection");
            };
            assert!(names.iter().all(|n| !n.is_empty()), "{names:?}");
        }
    }

    #[test]
    fn every_reply_form() {
        let cases: &[(&[u8], ScanReply)] = &[
            (b"stream: OK\0", ScanReply::Clean),
            (
                b"stream: Eicar-Signature FOUND\0",
                ScanReply::Found(vec!["Eicar-Signature".into()]),
            ),
            (
                b"stream: Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND\0",
                ScanReply::Found(vec!["Eicar-Signature".into()]),
            ),
            (
                b"stream: Win.Test(EICAR) FOUND\0",
                ScanReply::Found(vec!["Win.Test(EICAR)".into()]),
            ),
            (
                b"stream: A FOUND\0stream: B.UNOFFICIAL FOUND\0",
                ScanReply::Found(vec!["A".into(), "B.UNOFFICIAL".into()]),
            ),
            (
                b"INSTREAM size limit exceeded. ERROR\0",
                limit("INSTREAM size limit exceeded. ERROR", &[]),
            ),
            (
                b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0",
                limit("Heuristics.Limits.Exceeded.MaxFileSize", &[]),
            ),
            // AllowAllMatchScan: a virus, then a limit stopped the rest: the virus stays.
            (
                b"stream: Eicar-Signature FOUND\0stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND\0",
                limit("Heuristics.Limits.Exceeded.MaxScanSize", &["Eicar-Signature"]),
            ),
            (
                b"stream: Can't allocate memory ERROR\0",
                error("Can't allocate memory ERROR", &[]),
            ),
            (
                b"COMMAND READ TIMED OUT\0",
                error("COMMAND READ TIMED OUT", &[]),
            ),
            (b"stream: OK\n", ScanReply::Clean),
            (b"fd[11]: OK\0", ScanReply::Clean),
            (
                b"fd[9]: Eicar-Signature FOUND\0",
                ScanReply::Found(vec!["Eicar-Signature".into()]),
            ),
            (
                b"No file descriptor received. ERROR\0",
                error("No file descriptor received. ERROR", &[]),
            ),
            (
                b"stream: X FOUND\0stream: Y ERROR\0",
                error("Y ERROR", &["X"]),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                parse_scan_reply(bytes).as_ref(),
                Ok(expected),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn empty_and_oversized_replies_are_errors() {
        assert_eq!(parse_scan_reply(b""), Err(ReplyError::Empty));
        assert_eq!(parse_scan_reply(b"\0\0"), Err(ReplyError::Empty));
        assert_eq!(
            parse_scan_reply(&vec![b'a'; MAX_REPLY + 1]),
            Err(ReplyError::TooLong)
        );
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut seed = 7u64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 56) as u8
                })
                .collect();
            let _ = parse_scan_reply(&bytes);
            let _ = parse_version(&bytes);
        }
    }

    #[test]
    fn version_reply() {
        assert_eq!(
            parse_version(b"ClamAV 1.4.6/27412/Tue Oct  1 08:32:45 2024\0").unwrap(),
            "ClamAV 1.4.6/27412/Tue Oct  1 08:32:45 2024"
        );
        assert_eq!(parse_version(b""), Err(ReplyError::Empty));
    }
}

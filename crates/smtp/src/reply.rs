//! SMTP replies: a code, an optional enhanced status code, and text lines.

use std::fmt;

/// One SMTP reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The text lines without the code, each possibly starting with an enhanced status code.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply; `text` should start with the enhanced status code.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// 2xx
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The text lines joined with spaces, for logs and for quoting in another reply.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// The reply on the wire: `250-a\r\n250 b\r\n`.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let last = self.lines.len().saturating_sub(1);
        if self.lines.is_empty() {
            out.extend_from_slice(format!("{}\r\n", self.code).as_bytes());
        }
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let line = sanitize(line);
            out.extend_from_slice(format!("{}{}{}\r\n", self.code, sep, line).as_bytes());
        }
        out
    }

    /// Parses one reply line `NNN-text` or `NNN text`; returns (code, is_last, text).
    pub fn parse_line(line: &[u8]) -> Option<(u16, bool, String)> {
        let line = trim_crlf(line);
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let code =
            (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
        if !(200..600).contains(&code) {
            return None;
        }
        let (last, text) = match line.get(3) {
            None => (true, &line[3..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return None,
        };
        Some((code, last, String::from_utf8_lossy(text).into_owned()))
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

/// Strips CR and LF from a line so no reply can smuggle extra lines.
fn sanitize(line: &str) -> std::borrow::Cow<'_, str> {
    if line.contains(['\r', '\n']) {
        line.replace(['\r', '\n'], " ").into()
    } else {
        line.into()
    }
}

/// The line without its trailing CRLF or LF.
pub fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_of_multiline_reply() {
        let r = Reply {
            code: 250,
            lines: vec!["a".into(), "b".into()],
        };
        assert_eq!(r.to_wire(), b"250-a\r\n250 b\r\n");
    }

    #[test]
    fn reply_text_cannot_inject_lines() {
        let r = Reply::new(550, "5.0.0 evil\r\n250 ok");
        assert_eq!(r.to_wire(), b"550 5.0.0 evil  250 ok\r\n");
    }

    #[test]
    fn parses_reply_lines() {
        assert_eq!(
            Reply::parse_line(b"250-PIPELINING\r\n"),
            Some((250, false, "PIPELINING".into()))
        );
        assert_eq!(
            Reply::parse_line(b"451 4.3.0 later\r\n"),
            Some((451, true, "4.3.0 later".into()))
        );
        assert_eq!(
            Reply::parse_line(b"250\r\n"),
            Some((250, true, String::new()))
        );
        assert_eq!(Reply::parse_line(b"25x ok"), None);
        assert_eq!(Reply::parse_line(b"999 no"), None);
        assert_eq!(Reply::parse_line(b"250:bad"), None);
    }
}

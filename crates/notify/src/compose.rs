//! Composition of a notification mail: headers, encoding, envelope.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::templates::{one_line, Rendered};
use crate::Error;

/// Who notifications come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composer {
    /// The `From` address, e.g. `postmaster@mx.example.org`.
    pub from: String,
    /// The `From` display name, e.g. `Mail gateway`; may be non-ASCII (encoded).
    pub from_name: String,
    /// The envelope sender; empty for the null sender `<>` (the default: nothing bounces
    /// back to a notification, so no loop can start).
    pub envelope_from: String,
    /// This host's name, for the `Message-ID`.
    pub hostname: String,
}

/// A notification ready for the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// `MAIL FROM`; empty for `<>`.
    pub envelope_from: String,
    /// `RCPT TO`.
    pub to: String,
    /// The message, CRLF line endings.
    pub bytes: Vec<u8>,
}

impl Composer {
    /// Composes the mail for one addressee: `From`, `To`, `Subject` (RFC 2047 when not ASCII),
    /// `Date` (RFC 5322), `Message-ID` (random, with the host), `Auto-Submitted:
    /// auto-generated`, `X-Auto-Response-Suppress: All`, `MIME-Version`, `Content-Type:
    /// text/plain; charset=utf-8` and `7bit` or `quoted-printable`.
    pub fn compose(
        &self,
        rendered: &Rendered,
        to: &str,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        let to = checked_address(to)?;
        let from = checked_address(&self.from)?;
        if !self.envelope_from.is_empty() {
            checked_address(&self.envelope_from)?;
        }
        let mut h = String::new();
        let name = one_line(&self.from_name);
        if name.is_empty() {
            h.push_str(&format!("From: <{from}>\r\n"));
        } else {
            let name = display_name(&name);
            let last = name.rsplit("\r\n").next().unwrap_or(&name);
            let sep = if last.len() + from.len() + 9 > 78 {
                "\r\n "
            } else {
                " "
            };
            h.push_str(&format!("From: {name}{sep}<{from}>\r\n"));
        }
        h.push_str(&format!("To: <{to}>\r\n"));
        h.push_str(&format!(
            "Subject: {}\r\n",
            encode_header_text(&rendered.subject, 9)
        ));
        h.push_str(&format!("Date: {}\r\n", rfc5322_date(now)));
        h.push_str(&format!(
            "Message-ID: <{}.notify@{}>\r\n",
            quarantd_core::id::new_id(),
            one_line(&self.hostname).replace(' ', "")
        ));
        h.push_str("Auto-Submitted: auto-generated\r\n");
        h.push_str("X-Auto-Response-Suppress: All\r\n");
        h.push_str("MIME-Version: 1.0\r\n");
        h.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        let (cte, body) = encode_body(&rendered.body);
        h.push_str(&format!("Content-Transfer-Encoding: {cte}\r\n\r\n"));
        let mut bytes = h.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Ok(Outgoing {
            envelope_from: self.envelope_from.clone(),
            to: to.to_string(),
            bytes,
        })
    }
}

/// An address without angle brackets, spaces or control characters, with one `@`.
fn checked_address(address: &str) -> Result<&str, Error> {
    let a = address.trim();
    let ok = a.len() <= 320
        && a.matches('@').count() == 1
        && !a.starts_with('@')
        && !a.ends_with('@')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    if ok {
        Ok(a)
    } else {
        Err(Error::BadAddress(address.to_string()))
    }
}

fn display_name(name: &str) -> String {
    if name.is_ascii() {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        encode_header_text(name, 6)
    }
}

/// A header value: as is when printable ASCII (folded at spaces), else RFC 2047 `B`
/// encoded-words of UTF-8 (split on character boundaries), folded one per line, every line
/// at most 76 characters. `used` is the length of `Name: ` on the first line.
pub fn encode_header_text(text: &str, used: usize) -> String {
    let text = one_line(text);
    if text.chars().all(|c| c.is_ascii_graphic() || c == ' ') && !text.contains("=?") {
        return fold_ascii(&text, used);
    }
    // A line of at most 76 characters: the field name (first line) or the folding space,
    // "=?utf-8?B?" (10), the base64, "?=" (2); base64 takes 4 characters per 3 bytes.
    let budget = |prefix: usize| (76usize.saturating_sub(prefix + 12) / 4 * 3).max(12);
    let mut words = Vec::new();
    let mut chunk = String::new();
    let mut max = budget(used);
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > max {
            words.push(std::mem::take(&mut chunk));
            max = budget(1);
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?utf-8?B?{}?=", STANDARD.encode(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

fn fold_ascii(text: &str, used: usize) -> String {
    let mut out = String::new();
    let mut line_len = used;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            if line_len + 1 + word.len() > 78 {
                out.push_str("\r\n ");
                line_len = 1;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

/// The body with CRLF line endings: `7bit` when ASCII with lines under 998 bytes, else
/// `quoted-printable` (so no relay needs 8BITMIME).
fn encode_body(body: &str) -> (&'static str, String) {
    let lines: Vec<&str> = body.trim_end_matches('\n').split('\n').collect();
    let plain = body.is_ascii() && lines.iter().all(|l| l.len() <= 998 && !l.contains('\r'));
    if plain {
        let mut out = lines.join("\r\n");
        out.push_str("\r\n");
        return ("7bit", out);
    }
    let mut out = String::new();
    for line in lines {
        quoted_printable_line(line.trim_end_matches('\r'), &mut out);
        out.push_str("\r\n");
    }
    ("quoted-printable", out)
}

/// One line in quoted-printable (RFC 2045 §6.7): soft breaks keep lines ≤ 76 characters;
/// a space or tab at the end of the line is encoded.
fn quoted_printable_line(line: &str, out: &mut String) {
    let bytes = line.as_bytes();
    let mut len = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let last = i + 1 == bytes.len();
        let literal = (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
        let piece = if literal {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if len + piece.len() > 75 {
            out.push_str("=\r\n");
            len = 0;
        }
        out.push_str(&piece);
        len += piece.len();
    }
}

/// A date as RFC 5322 wants it, in UTC: `Tue, 03 Mar 2026 14:05:09 +0000`.
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31); H. Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (1_772_546_709, "Tue, 03 Mar 2026 14:05:09 +0000"),
            (4_133_980_799, "Fri, 31 Dec 2100 23:59:59 +0000"),
            (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 +0000"),
        ];
        for (secs, expected) in cases {
            assert_eq!(
                rfc5322_date(UNIX_EPOCH + Duration::from_secs(secs)),
                expected
            );
        }
    }

    #[test]
    fn quoted_printable() {
        let mut out = String::new();
        quoted_printable_line("Grüße = 100% ", &mut out);
        assert_eq!(out, "Gr=C3=BC=C3=9Fe =3D 100%=20");
        let mut out = String::new();
        quoted_printable_line(&"ä".repeat(40), &mut out);
        assert!(out.split("=\r\n").all(|l| l.len() <= 76), "{out}");
    }
}

//! The headers quarantd adds to mail it passes.
//!
//! ```text
//! X-Quarantd: quarantd 0.1.0 on mx1.example.org; id=...
//! X-Quarantd-Verdict: pass
//! ```

use quarantd_core::Verdict;

/// Name of the header naming quarantd, its version, host and message id.
pub const SCANNED_BY: &str = "X-Quarantd";
/// Name of the header carrying the verdict and its reasons.
pub const VERDICT: &str = "X-Quarantd-Verdict";

/// The `X-Quarantd-Warning` header of the `tag` action: the reasons (or `tag`), made safe and
/// folded like the others, CRLF-terminated.
pub fn warning_header(name: &str, verdict: &Verdict) -> Vec<u8> {
    let value = if verdict.reasons.is_empty() {
        "tag".to_string()
    } else {
        verdict.reasons.join(", ")
    };
    let mut out = String::new();
    push_folded(&mut out, name, &value);
    out.into_bytes()
}

/// The header block prepended to a passed message, CRLF line endings, folded at 78 columns.
pub fn added_headers(version: &str, host: &str, id: &str, verdict: &Verdict) -> Vec<u8> {
    let mut out = String::new();
    push_folded(
        &mut out,
        SCANNED_BY,
        &format!("quarantd {version} on {host}; id={id}"),
    );
    push_folded(&mut out, VERDICT, &verdict.header_value());
    out.into_bytes()
}

/// True for a character that must never reach a header value: CR, LF and every other
/// control character (C0, DEL, C1), and the Unicode line and paragraph separators. Values
/// come from outside — a scanner's virus name, a label, a host name — and a CR or LF in one
/// would start a header line of the sender's (or scanner's) choosing.
fn unsafe_in_header(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Appends `Name: value` folded at spaces so no line exceeds 78 characters where possible.
/// Every character [`unsafe_in_header`] in `value` is a space (so it only separates words).
fn push_folded(out: &mut String, name: &str, value: &str) {
    let value: String = value
        .chars()
        .map(|c| if unsafe_in_header(c) { ' ' } else { c })
        .collect();
    let mut line_len = name.len() + 1;
    out.push_str(name);
    out.push(':');
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if line_len + 1 + word.len() > 78 && line_len > name.len() + 1 {
            out.push_str("\r\n");
            line_len = 0;
        }
        out.push(' ');
        out.push_str(word);
        line_len += 1 + word.len();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_core::Action;

    #[test]
    fn headers_for_a_clean_pass() {
        let h = added_headers("0.1.0", "mx.example.org", "abc", &Verdict::pass());
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "X-Quarantd: quarantd 0.1.0 on mx.example.org; id=abc\r\nX-Quarantd-Verdict: pass\r\n"
        );
    }

    /// Issue 11 A11: a value with CR, LF or another control character cannot add a line.
    #[test]
    fn control_characters_never_reach_a_header() {
        let verdict = Verdict {
            action: Action::Tag,
            reasons: vec![
                "virus:Evil\r\nX-Injected: yes".into(),
                "virus:A\rB\nC\u{1b}[31mD\u{0}E\u{7f}F\u{85}G\u{2028}H\tI".into(),
            ],
        };
        for block in [
            added_headers("0.1.0", "host\r\nX-Host: x", "i\nd", &verdict),
            warning_header("X-Quarantd-Warning", &verdict),
        ] {
            let text = String::from_utf8(block).unwrap();
            let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
            for line in &lines {
                assert!(
                    !line.chars().any(unsafe_in_header),
                    "control character left in {line:?}"
                );
                assert!(
                    line.starts_with("X-Quarantd") || line.starts_with(' '),
                    "a line of its own: {line:?} in {text:?}"
                );
            }
            assert!(text.contains("Evil X-Injected: yes"), "{text:?}");
            let crlf = text.matches("\r\n").count();
            assert_eq!(
                (text.matches('\r').count(), text.matches('\n').count()),
                (crlf, crlf),
                "no bare CR or LF: {text:?}"
            );
        }
    }

    #[test]
    fn long_values_are_folded() {
        let verdict = Verdict {
            action: Action::Pass,
            reasons: vec!["source-code".into(); 12],
        };
        let h = String::from_utf8(added_headers("0.1.0", "h", "i", &verdict)).unwrap();
        assert!(h.lines().all(|l| l.len() <= 78), "{h}");
        assert!(h.contains("\r\n source-code"));
    }
}

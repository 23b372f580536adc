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

/// Appends `Name: value` folded at spaces so no line exceeds 78 characters where possible.
fn push_folded(out: &mut String, name: &str, value: &str) {
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

//! xtext (RFC 3461 section 4): the encoding of DSN parameter values.

/// Encodes a value as xtext: `+`, `=`, and bytes outside `!`..`~` become `+XX`.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_specials() {
        assert_eq!(super::encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(super::encode("user@example.org"), "user@example.org");
    }
}

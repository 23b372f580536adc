//! xtext (RFC 3461 section 4): the encoding of DSN parameter values.

/// Encodes a value as xtext: `+`, `=`, and bytes outside `!`..`~` become `+XX`.
///
/// `value` is as `smtp-proto` decoded it: each `+XX` became the character U+00XX, so such
/// characters are encoded as the one byte they came from, and the value goes downstream as
/// the same bytes it came in as (any character above U+00FF is encoded as its UTF-8).
pub fn encode(value: &str) -> String {
    let mut bytes = Vec::with_capacity(value.len());
    for c in value.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => bytes.push(b),
            Err(_) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    let mut out = String::with_capacity(bytes.len());
    for b in bytes {
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

    #[test]
    fn decoded_bytes_go_back_as_the_same_bytes() {
        // smtp-proto decodes `b@example.net+EF+BF+BD` to these characters.
        assert_eq!(
            super::encode("b@example.net\u{ef}\u{bf}\u{bd}"),
            "b@example.net+EF+BF+BD"
        );
        assert_eq!(super::encode("\u{20ac}"), "+E2+82+AC");
    }
}

//! Content encodings for building test messages, with the `base64` crate: one encoder for
//! every test instead of one hand-written per test file.

use base64::Engine;

/// `data` in base64, in lines of 76 characters ended by `line_end` (`"\r\n"` in a message,
/// `"\n"` where an XML writer would break), the last line without one.
pub fn base64_lines(data: &[u8], line_end: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap_or_default())
        .collect();
    lines.join(line_end)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_of_76() {
        let out = super::base64_lines(&[0xffu8; 100], "\r\n");
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 76);
        assert!(lines[1].ends_with('='));
        assert_eq!(super::base64_lines(b"hi", "\n"), "aGk=");
    }
}

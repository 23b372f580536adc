//! Random identifiers: unguessable, URL-safe, at least 128 bits.

/// A new random id: 128 bits from the operating system's generator, as 26 characters of
/// lower-case base32 (RFC 4648 alphabet, no padding), safe in URLs, file names and logs.
///
/// # Panics
/// Only when the operating system has no random source at all, which no supported system lacks.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    base32(&bytes)
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_26_url_safe_chars_and_differ() {
        let a = super::new_id();
        let b = super::new_id();
        assert_eq!(a.len(), 26);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn base32_matches_rfc4648_vector() {
        assert_eq!(super::base32(b"foobar"), "mzxw6ytboi");
    }
}

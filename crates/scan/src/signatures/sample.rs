//! Samples that prove a new signature: what clamd must detect under the signature's name
//! once it loaded the new files. A hash signature's sample is the file itself; an
//! archive-member signature's is a zip built here in memory, holding one small member whose
//! name the expression matches (given, or derived by [`super::ere::Ere::sample`]).

use super::SignatureError;

/// The content of the member in a sample zip.
const MEMBER_CONTENT: &[u8] = b"quarantd signature sample: harmless\n";
/// Longest member name in a zip (a 16-bit length field).
const MAX_MEMBER_NAME: usize = u16::MAX as usize;
/// clamd compares only this many bytes of a zip member's name (`char name[256]` in
/// libclamav's unzip.c): a longer sample is truncated there.
pub const CLAMD_NAME_BYTES: usize = 255;

/// What a new signature must make clamd report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    /// A file the signature must detect (hash signatures: the file itself).
    File(Vec<u8>),
    /// A member name the signature must detect in a zip.
    MemberName(String),
}

impl Sample {
    /// The sample for an archive-member regex: `given` (which must match it as clamd reads
    /// it), else one derived from the regex; an error when neither works.
    pub fn for_member_regex(regex: &str, given: Option<&str>) -> Result<Sample, SignatureError> {
        let parsed = super::member_regex(regex)?;
        match given {
            Some(name) => {
                check_name(name)?;
                if !parsed.is_match(name.as_bytes()) {
                    return Err(SignatureError::SampleMismatch {
                        regex: regex.to_string(),
                        sample: name.to_string(),
                    });
                }
                Ok(Sample::MemberName(name.to_string()))
            }
            None => parsed
                .sample()
                .map(Sample::MemberName)
                .ok_or_else(|| SignatureError::SampleNeeded(regex.to_string())),
        }
    }

    /// The bytes sent to clamd.
    pub fn content(&self) -> Vec<u8> {
        match self {
            Sample::File(bytes) => bytes.clone(),
            Sample::MemberName(name) => stored_zip(name.as_bytes(), MEMBER_CONTENT),
        }
    }

    /// In words, for messages.
    pub fn describe(&self) -> String {
        match self {
            Sample::File(bytes) => format!("the file ({} bytes)", bytes.len()),
            Sample::MemberName(name) => format!("a zip holding a member named {name:?}"),
        }
    }

    /// A reason clamd may not see the sample as the regex does, if any.
    pub fn hint(&self) -> Option<String> {
        match self {
            Sample::MemberName(name) if name.len() > CLAMD_NAME_BYTES => Some(format!(
                "clamd compares only the first {CLAMD_NAME_BYTES} bytes of a member's name, \
                 and this sample is {} bytes long",
                name.len()
            )),
            _ => None,
        }
    }
}

fn check_name(name: &str) -> Result<(), SignatureError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_MEMBER_NAME {
        "longer than a zip member name can be (65535 bytes)"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(SignatureError::InvalidSample {
        sample: name.to_string(),
        reason,
    })
}

/// A zip with one stored (uncompressed) member `name` holding `content`.
fn stored_zip(name: &[u8], content: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(content);
    let size = content.len() as u32;
    let name_len = name.len() as u16;
    let mut out = Vec::with_capacity(2 * name.len() + content.len() + 100);
    // Local file header: version 2.0, no flags, stored, no time, CRC, sizes, name.
    out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00");
    push_entry_fields(&mut out, crc, size, name_len);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(name);
    out.extend_from_slice(content);
    let central_at = out.len() as u32;
    // Central directory header for the same member at offset 0.
    out.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00");
    push_entry_fields(&mut out, crc, size, name_len);
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(name);
    let central_len = out.len() as u32 - central_at;
    // End of central directory: one entry.
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    out.extend_from_slice(&central_len.to_le_bytes());
    out.extend_from_slice(&central_at.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn push_entry_fields(out: &mut Vec<u8>, crc: u32, size: u32, name_len: u16) {
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&name_len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_samples_are_given_or_derived() {
        assert_eq!(
            Sample::for_member_regex(r"^inv[0-9]+\.exe$", None).unwrap(),
            Sample::MemberName("inv0.exe".into())
        );
        assert_eq!(
            Sample::for_member_regex(r"^inv[0-9]+\.exe$", Some("inv2024.exe")).unwrap(),
            Sample::MemberName("inv2024.exe".into())
        );
        assert!(matches!(
            Sample::for_member_regex(r"^inv[0-9]+\.exe$", Some("invoice.pdf")),
            Err(SignatureError::SampleMismatch { .. })
        ));
        assert!(matches!(
            Sample::for_member_regex(r"a^b", None),
            Err(SignatureError::SampleNeeded(_))
        ));
        assert!(matches!(
            Sample::for_member_regex(r"a", Some("")),
            Err(SignatureError::InvalidSample { .. })
        ));
        assert!(matches!(
            Sample::for_member_regex(r"(?i)inv\d+", None),
            Err(SignatureError::InvalidRegex { .. })
        ));
    }

    #[test]
    fn the_sample_zip_is_a_zip_with_that_member() {
        let zip = Sample::MemberName("dir/inv1.exe".into()).content();
        assert!(zip.starts_with(b"PK\x03\x04"));
        let eocd = zip.len() - 22;
        assert_eq!(&zip[eocd..eocd + 4], b"PK\x05\x06");
        let central_at = u32::from_le_bytes(zip[eocd + 16..eocd + 20].try_into().unwrap());
        assert_eq!(
            &zip[central_at as usize..central_at as usize + 4],
            b"PK\x01\x02"
        );
        assert_eq!(&zip[30..42], b"dir/inv1.exe");
        assert_eq!(&zip[42..42 + MEMBER_CONTENT.len()], MEMBER_CONTENT);
        let crc = u32::from_le_bytes(zip[14..18].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(MEMBER_CONTENT));
    }

    #[test]
    fn long_samples_carry_a_hint() {
        let long = Sample::MemberName("x".repeat(300));
        assert!(long.hint().unwrap().contains("255"));
        assert!(Sample::MemberName("a".into()).hint().is_none());
    }
}

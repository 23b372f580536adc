//! Content for building test messages — base64 with the `base64` crate, zips with the
//! `zip` crate's writer — one helper for every test instead of one hand-written per file.

use std::io::{Cursor, Write};

use base64::Engine;

/// A zip of `members` (name, content), stored (not compressed).
pub fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        writer.start_file(*name, options).expect("zip member");
        writer.write_all(data).expect("zip member content");
    }
    writer.finish().expect("zip directory").into_inner()
}

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

    #[test]
    fn a_stored_zip_reads_back() {
        let zip = super::stored_zip(&[("a.txt", b"hi"), ("d/b.exe", b"MZ")]);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("zip");
        assert_eq!(archive.len(), 2);
        assert_eq!(
            archive.by_index(1).expect("member").name().expect("name"),
            "d/b.exe"
        );
    }
}

//! Decomposition: the bytes of a message become a tree of parts.
//!
//! [`decompose`] walks the MIME structure (multiparts, nested `message/rfc822` and
//! `message/global` messages) with `mail-parser` and records every part with its path,
//! declared name and type, decoded size and SHA-256, and its decoded content for the stages
//! after it. Limits are named in [`Limits`]; reaching one labels the part `unscannable`
//! instead of failing. Archives, TNEF and embedded objects come with the decomposition issue.
//!
//! Pure and synchronous: no I/O, no runtime. Never panics on input.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use quarantd_core::{Decomposed, Part, PartData, PartPath};
use sha2::{Digest, Sha256};

/// Named limits of the decomposition.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Deepest nesting of messages and multiparts followed.
    pub max_depth: usize,
    /// Most parts recorded per message.
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 20,
            max_parts: 10_000,
        }
    }
}

/// Decomposes a message into its parts, parents before children. The first part is always
/// the message itself (path empty). A message that is not MIME at all still yields that part;
/// a message `mail-parser` cannot read at all is labelled `unscannable`.
pub fn decompose(raw: &[u8], limits: &Limits) -> Decomposed {
    let mut walker = Walker {
        limits,
        parts: Vec::new(),
    };
    let mut root = leaf_part(PartPath::root(), None, Some("message/rfc822".into()), raw);
    root.content = Vec::new();
    walker.parts.push(root);
    match MessageParser::default().parse(raw) {
        Some(message) => walker.message(&message, &PartPath::root(), 0),
        None => walker.parts[0]
            .part
            .mark_unscannable("message could not be parsed"),
    }
    Decomposed {
        parts: walker.parts,
    }
}

struct Walker<'l> {
    limits: &'l Limits,
    parts: Vec<PartData>,
}

impl Walker<'_> {
    /// Walks a (possibly nested) message whose own part sits at `path`.
    fn message(&mut self, message: &Message<'_>, path: &PartPath, depth: usize) {
        let Some(root) = message.parts.first() else {
            return;
        };
        match &root.body {
            PartType::Multipart(children) => self.children(message, children, path, depth),
            _ => self.part(message, 0, path.mime_child(1), depth),
        }
    }

    fn children(&mut self, message: &Message<'_>, children: &[u32], path: &PartPath, depth: usize) {
        for (index, &child) in children.iter().enumerate() {
            self.part(
                message,
                child as usize,
                path.mime_child(index + 1),
                depth + 1,
            );
        }
    }

    fn part(&mut self, message: &Message<'_>, id: usize, path: PartPath, depth: usize) {
        let Some(mime) = message.parts.get(id) else {
            return;
        };
        if self.parts.len() >= self.limits.max_parts {
            self.parts[0]
                .part
                .mark_unscannable(format!("more than {} parts", self.limits.max_parts));
            return;
        }
        let declared = declared_type(mime);
        let name = mime.attachment_name().map(str::to_string);
        let at = self.parts.len();
        match &mime.body {
            PartType::Multipart(children) => {
                self.parts
                    .push(leaf_part(path.clone(), name, declared, b""));
                if depth >= self.limits.max_depth {
                    self.parts[at].part.mark_unscannable(format!(
                        "nested deeper than {} levels",
                        self.limits.max_depth
                    ));
                } else {
                    self.children(message, children, &path, depth);
                }
            }
            PartType::Message(inner) => {
                self.parts
                    .push(leaf_part(path.clone(), name, declared, inner.raw_message()));
                if depth >= self.limits.max_depth {
                    self.parts[at].part.mark_unscannable(format!(
                        "nested deeper than {} levels",
                        self.limits.max_depth
                    ));
                } else {
                    self.message(inner, &path, depth + 1);
                }
            }
            PartType::Text(text) | PartType::Html(text) => {
                self.parts
                    .push(leaf_part(path, name, declared, text.as_bytes()));
            }
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                self.parts.push(leaf_part(path, name, declared, bytes));
            }
        }
        if mime.is_encoding_problem {
            self.parts[at]
                .part
                .mark_unscannable("content transfer encoding is corrupt");
        }
    }
}

fn declared_type(mime: &mail_parser::MessagePart<'_>) -> Option<String> {
    let ct = mime.content_type()?;
    let subtype = ct.subtype().unwrap_or("");
    Some(format!("{}/{}", ct.ctype(), subtype).to_ascii_lowercase())
}

fn leaf_part(
    path: PartPath,
    filename: Option<String>,
    declared_type: Option<String>,
    content: &[u8],
) -> PartData {
    PartData {
        part: Part {
            path,
            filename,
            declared_type,
            detected_type: None,
            size: content.len() as u64,
            sha256: sha256_hex(content),
            labels: Vec::new(),
            unscannable_reason: None,
        },
        content: content.to_vec(),
    }
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(d: &Decomposed) -> Vec<String> {
        d.parts.iter().map(|p| p.part.path.0.clone()).collect()
    }

    #[test]
    fn plain_message_has_root_and_one_body_part() {
        let d = decompose(b"Subject: hi\r\n\r\nhello\r\n", &Limits::default());
        assert_eq!(paths(&d), ["", "1"]);
        assert_eq!(d.parts[1].content, b"hello\r\n");
        assert_eq!(d.parts[1].part.declared_type, None);
    }

    #[test]
    fn multipart_with_attachment_and_nested_message() {
        let raw = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n\
--b\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n\
--c\r\nContent-Type: text/plain\r\n\r\ninner body\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--c--\r\n\
--b--\r\n";
        let d = decompose(raw, &Limits::default());
        assert_eq!(paths(&d), ["", "1", "2", "3", "3.1", "3.2"]);
        let att = &d.parts[2];
        assert_eq!(att.part.filename.as_deref(), Some("a.bin"));
        assert_eq!(
            att.part.declared_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(att.content, [0u8, 1, 2]);
        assert_eq!(att.part.sha256, sha256_hex(&[0, 1, 2]));
        assert_eq!(
            d.parts[3].part.declared_type.as_deref(),
            Some("message/rfc822")
        );
    }

    #[test]
    fn depth_limit_labels_unscannable() {
        let raw = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n--a--\r\n";
        let d = decompose(
            raw,
            &Limits {
                max_depth: 1,
                max_parts: 100,
            },
        );
        assert!(d
            .parts
            .iter()
            .any(|p| p.part.labels.contains(&quarantd_core::Label::Unscannable)));
    }

    #[test]
    fn garbage_never_panics() {
        for raw in [
            &b""[..],
            b"\r\n",
            b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
            b"\xff\xfe\x00",
        ] {
            let d = decompose(raw, &Limits::default());
            assert!(!d.parts.is_empty());
        }
    }
}

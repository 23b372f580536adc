//! The MIME layer: multiparts, nested messages and leaf bodies, with `mail-parser`.
//!
//! Leaf bodies keep their transfer-decoded bytes (base64, quoted-printable), not a charset
//! conversion, so hashes match the attached file. Uuencoded blocks in text bodies become
//! child parts. Every leaf is then opened as a container if its content is one.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};
use quarantd_core::PartPath;

use crate::uu;
use crate::walk::{clean_name, new_part, Walker};

impl Walker<'_> {
    /// Walks a (possibly nested) message whose own part sits at `path`, index `at`.
    /// Decoded binary bodies are moved out of `message` into the parts, not copied: a
    /// message's largest attachments are held once.
    pub(crate) fn message(
        &mut self,
        message: &mut Message<'_>,
        at: usize,
        path: &PartPath,
        depth: usize,
    ) {
        let Some(root) = message.parts.first() else {
            return;
        };
        match &root.body {
            PartType::Multipart(children) => {
                let children = children.clone();
                self.children(message, &children, at, path, depth)
            }
            _ => self.mime_part(message, 0, at, path.mime_child(1), depth + 1),
        }
    }

    fn children(
        &mut self,
        message: &mut Message<'_>,
        children: &[u32],
        parent: usize,
        path: &PartPath,
        depth: usize,
    ) {
        for (index, &child) in children.iter().enumerate() {
            let path = path.mime_child(index + 1);
            self.mime_part(message, child as usize, parent, path, depth + 1);
        }
    }

    fn mime_part(
        &mut self,
        message: &mut Message<'_>,
        id: usize,
        parent: usize,
        path: PartPath,
        depth: usize,
    ) {
        let Some(mime) = message.parts.get(id) else {
            return;
        };
        if let Some(reason) = self.account.out_of_time() {
            self.mark(parent, reason);
            return;
        }
        let declared = declared_type(mime);
        let name = mime.attachment_name().map(str::to_string);
        let repaired = mime
            .is_encoding_problem
            .then(|| lenient_decoded(message, mime))
            .flatten();
        let content = match &mime.body {
            _ if repaired.is_some() => repaired.unwrap_or_default(),
            PartType::Multipart(_) => Vec::new(),
            PartType::Message(inner) => inner.raw_message().to_vec(),
            PartType::Text(text) | PartType::Html(text) => {
                transfer_decoded(message, mime).unwrap_or_else(|| text.as_bytes().to_vec())
            }
            PartType::Binary(_) | PartType::InlineBinary(_) => match &mut message.parts[id].body {
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                    std::mem::take(bytes).into_owned()
                }
                _ => Vec::new(),
            },
        };
        let Some(at) = self.push(
            parent,
            new_part(path.clone(), name.clone(), declared, content),
        ) else {
            return;
        };
        self.below(message, id, at, path, name, depth);
    }

    /// Walks what is below a MIME part: children, a nested message, or its content.
    fn below(
        &mut self,
        message: &mut Message<'_>,
        id: usize,
        at: usize,
        path: PartPath,
        name: Option<String>,
        depth: usize,
    ) {
        let body = &message.parts[id].body;
        let nests = matches!(body, PartType::Multipart(_) | PartType::Message(_));
        if nests && depth >= self.limits().max_depth {
            let reason = format!("nested deeper than {} levels", self.limits().max_depth);
            self.mark(at, reason);
            return;
        }
        if let PartType::Multipart(children) = body {
            let children = children.clone();
            return self.children(message, &children, at, &path, depth);
        }
        match &mut message.parts[id].body {
            PartType::Multipart(_) => {}
            PartType::Message(inner) => self.message(inner, at, &path, depth),
            PartType::Text(_) | PartType::Html(_) => {
                self.uuencoded(at, &path, depth);
                self.open(at, container_base(&path, name.as_deref()), depth);
            }
            PartType::Binary(_) | PartType::InlineBinary(_) => {
                self.open(at, container_base(&path, name.as_deref()), depth)
            }
        }
    }

    /// Adds the uuencoded files in the text part at `at` as its children.
    fn uuencoded(&mut self, at: usize, path: &PartPath, depth: usize) {
        let files = uu::decode_all(&self.parts[at].content);
        for file in files {
            let child = path.member(&clean_name(&file.name));
            let data = new_part(child.clone(), Some(file.name), None, file.bytes);
            let Some(child_at) = self.push(at, data) else {
                return;
            };
            self.open(child_at, child, depth + 1);
        }
    }
}

/// Members of a container attachment are named below the attachment's file name
/// (`2/invoice.zip/docs/a.exe`), or below its part number when it has none.
fn container_base(path: &PartPath, name: Option<&str>) -> PartPath {
    match name {
        Some(name) if !name.is_empty() => path.member(&clean_name(name)),
        _ => path.clone(),
    }
}

/// The body of a text part with only its transfer encoding undone.
fn transfer_decoded(message: &Message<'_>, mime: &MessagePart<'_>) -> Option<Vec<u8>> {
    // The whole buffer the part offsets point into (`raw_message()` is only the
    // message's own slice, which is wrong for nested messages).
    let raw: &[u8] = &message.raw_message;
    let body = raw.get(mime.offset_body as usize..mime.offset_end as usize)?;
    match mime.encoding {
        Encoding::None => None,
        Encoding::Base64 => base64_decode(body).or_else(|| Some(lenient_base64(body))),
        Encoding::QuotedPrintable => quoted_printable_decode(body),
    }
}

/// The body of a part whose transfer encoding `mail-parser` found corrupt, decoded the
/// way mail clients do: characters outside the alphabet skipped, a partial group dropped.
/// What a client shows is what must be scanned.
fn lenient_decoded(message: &Message<'_>, mime: &MessagePart<'_>) -> Option<Vec<u8>> {
    // The whole buffer the part offsets point into (`raw_message()` is only the
    // message's own slice, which is wrong for nested messages).
    let raw: &[u8] = &message.raw_message;
    let body = raw.get(mime.offset_body as usize..mime.offset_end as usize)?;
    let declared = mime
        .content_transfer_encoding()?
        .trim()
        .to_ascii_lowercase();
    match declared.as_str() {
        "base64" => Some(lenient_base64(body)),
        "quoted-printable" => quoted_printable_decode(body),
        _ => None,
    }
}

/// Base64 the way mail clients decode it: every byte outside the alphabet (line breaks,
/// stray characters) is skipped, decoding stops at padding, a partial group is dropped.
pub fn lenient_base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in body {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

pub(crate) fn declared_type(mime: &MessagePart<'_>) -> Option<String> {
    let ct = mime.content_type()?;
    let subtype = ct.subtype().unwrap_or("");
    Some(format!("{}/{}", ct.ctype(), subtype).to_ascii_lowercase())
}

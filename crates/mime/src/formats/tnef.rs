//! TNEF (`winmail.dat`): a small bounded reader for the attachments inside.
//!
//! Attributes are read in order; `attAttachRendData` starts an attachment, `attAttachTitle`
//! names it, `attAttachData` holds its bytes, and the long file name from the MAPI
//! properties (`attAttachment`, `PR_ATTACH_LONG_FILENAME`) wins over the title when present.

use crate::formats::{cstr, latin1, le16, le32};
use crate::formats::{Container, Failure, Member, Sink};

const LVL_ATTACHMENT: u8 = 2;
const ATT_ATTACH_REND_DATA: u32 = 0x0006_9002;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_DATA: u32 = 0x0006_800f;
const ATT_ATTACHMENT: u32 = 0x0006_9005;
/// Most attributes read from one stream.
const MAX_ATTRIBUTES: usize = 100_000;

#[derive(Default)]
struct Attachment<'d> {
    title: Option<String>,
    long_name: Option<String>,
    data: Option<&'d [u8]>,
}

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let (attachments, truncated) = attachments(data);
    for (index, att) in attachments.into_iter().enumerate() {
        let name = att
            .long_name
            .or(att.title)
            .unwrap_or_else(|| format!("attachment-{}", index + 1));
        let bytes = att.data.unwrap_or_default();
        let out = w.unpack(bytes, bytes.len() as u64, bytes.len() as u64);
        w.member(cx, Member::unpacked(name, out))?;
    }
    match truncated {
        true => Err(Failure::corrupt("tnef", "attribute runs past the end")),
        false => Ok(()),
    }
}

/// The attachments, and whether the stream ended inside an attribute.
fn attachments(data: &[u8]) -> (Vec<Attachment<'_>>, bool) {
    let mut list: Vec<Attachment<'_>> = Vec::new();
    let mut at = 6;
    for _ in 0..MAX_ATTRIBUTES {
        if at >= data.len() {
            return (list, false);
        }
        let Some((level, id, value, next)) = attribute(data, at) else {
            return (list, true);
        };
        at = next;
        if level != LVL_ATTACHMENT {
            continue;
        }
        if id == ATT_ATTACH_REND_DATA || list.is_empty() {
            list.push(Attachment::default());
        }
        let Some(current) = list.last_mut() else {
            continue;
        };
        match id {
            ATT_ATTACH_TITLE => current.title = cstr_or_all(value),
            ATT_ATTACH_DATA => current.data = Some(value),
            ATT_ATTACHMENT => current.long_name = long_filename(value),
            _ => {}
        }
    }
    (list, false)
}

fn attribute(data: &[u8], at: usize) -> Option<(u8, u32, &[u8], usize)> {
    let level = *data.get(at)?;
    let id = le32(data, at + 1)?;
    let len = le32(data, at + 5)? as usize;
    let start = at + 9;
    let value = data.get(start..start.checked_add(len)?)?;
    Some((level, id, value, start + len + 2))
}

fn cstr_or_all(value: &[u8]) -> Option<String> {
    let raw = cstr(value, 0).map(|(s, _)| s).unwrap_or(value);
    let name = latin1(raw);
    (!name.is_empty()).then_some(name)
}

/// `PR_ATTACH_LONG_FILENAME` (0x3707) from a MAPI property list.
fn long_filename(props: &[u8]) -> Option<String> {
    const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
    let count = le32(props, 0)?;
    let mut at = 4;
    for _ in 0..count.min(10_000) {
        let ptype = le16(props, at)?;
        let pid = le16(props, at + 2)?;
        at += 4;
        if pid >= 0x8000 {
            at = skip_name(props, at)?;
        }
        let (values, next) = prop_values(props, at, ptype)?;
        at = next;
        if pid == PR_ATTACH_LONG_FILENAME {
            let value = values.first()?;
            return Some(match ptype {
                0x1f => utf16le(value),
                _ => cstr_or_all(value)?,
            });
        }
    }
    None
}

fn skip_name(props: &[u8], at: usize) -> Option<usize> {
    let kind = le32(props, at + 16)?;
    if kind == 0 {
        return Some(at + 24);
    }
    let len = le32(props, at + 20)? as usize;
    Some(at + 24 + pad4(len))
}

fn pad4(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// The values of one property and the offset after them.
fn prop_values(props: &[u8], mut at: usize, ptype: u16) -> Option<(Vec<&[u8]>, usize)> {
    let multi = ptype & 0x1000 != 0;
    let base = ptype & 0x0fff;
    let variable = matches!(base, 0x1e | 0x1f | 0x102 | 0x0d);
    let count = if multi || variable {
        let n = le32(props, at)? as usize;
        at += 4;
        n
    } else {
        1
    };
    let mut values = Vec::new();
    for _ in 0..count.min(10_000) {
        let size = if variable {
            let len = le32(props, at)? as usize;
            at += 4;
            len
        } else {
            fixed_size(base)?
        };
        values.push(props.get(at..at.checked_add(size)?)?);
        at += pad4(size);
    }
    Some((values, at))
}

fn fixed_size(base: u16) -> Option<usize> {
    Some(match base {
        0x02 | 0x03 | 0x04 | 0x0a | 0x0b => 4,
        0x05 | 0x06 | 0x07 | 0x14 | 0x40 => 8,
        0x48 => 16,
        _ => return None,
    })
}

fn utf16le(value: &[u8]) -> String {
    let units: Vec<u16> = value
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

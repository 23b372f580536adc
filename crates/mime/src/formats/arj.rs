//! ARJ archives: a small bounded header reader. Stored members (method 0) are extracted;
//! compressed ones are listed by name and labelled `unscannable` (no maintained decoder).

use quarantd_cap::Unpacked;

use crate::formats::{cstr, latin1, le16, le32};
use crate::formats::{Container, Failure, Member, Sink};

const MAX_BASIC_HEADER: usize = 2600;
/// Flag bit of a garbled (password-protected) member.
const GARBLED: u8 = 0x01;

/// One local header: where the next starts and what it says.
struct Header {
    name: String,
    method: u8,
    flags: u8,
    file_type: u8,
    packed: usize,
    data_at: usize,
}

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let Some((_, mut at)) = header(data, 0) else {
        return Err(Failure::corrupt("arj", "bad main header"));
    };
    while let Some((Some(h), _)) = header(data, at) {
        w.step(cx)?;
        let end = h.data_at.saturating_add(h.packed).min(data.len());
        let start = h.data_at.min(end);
        at = end;
        if h.file_type > 1 {
            continue;
        }
        let member = member(w, h, &data[start..end]);
        w.member(cx, member)?;
    }
    Ok(())
}

fn member(w: &mut impl Sink, h: Header, packed: &[u8]) -> Member {
    if h.flags & GARBLED != 0 {
        return Member::encrypted(h.name);
    }
    if h.method == 0 {
        let out = w.unpack(packed, packed.len() as u64, packed.len() as u64);
        return Member::unpacked(h.name, out);
    }
    Member::unpacked(
        h.name,
        Unpacked {
            capped: Some(format!(
                "arj compression method {} is not supported",
                h.method
            )),
            ..Unpacked::default()
        },
    )
}

/// The header at `at`: `Some((None, _))` at the end marker, `None` when corrupt.
fn header(data: &[u8], at: usize) -> Option<(Option<Header>, usize)> {
    if data.get(at..at + 2)? != [0x60, 0xea] {
        return None;
    }
    let size = le16(data, at + 2)? as usize;
    if size == 0 {
        return Some((None, at + 4));
    }
    if size > MAX_BASIC_HEADER {
        return None;
    }
    let basic = data.get(at + 4..at + 4 + size)?;
    let mut next = at + 4 + size + 4;
    loop {
        let ext = le16(data, next)? as usize;
        next += 2;
        if ext == 0 {
            break;
        }
        next = next.checked_add(ext + 4)?;
    }
    let first = *basic.first()? as usize;
    let (name, _) = cstr(basic, first)?;
    let h = Header {
        name: latin1(name),
        method: *basic.get(5)?,
        flags: *basic.get(4)?,
        file_type: *basic.get(6)?,
        packed: le32(basic, 12)? as usize,
        data_at: next,
    };
    Some((Some(h), next))
}

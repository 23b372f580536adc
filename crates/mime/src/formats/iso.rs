//! ISO 9660 images (with Joliet names when present): a small bounded reader over the
//! image in memory. Rock Ridge and UDF-only images are read by their ISO 9660 names.

use crate::formats::{le16, le32};
use crate::formats::{Container, Failure, Member, Sink};

const SECTOR: usize = 2048;
/// Deepest directory followed.
const MAX_DIR_DEPTH: usize = 16;
/// Most directory records read per image.
const MAX_RECORDS: usize = 100_000;

struct Volume<'d> {
    data: &'d [u8],
    block: usize,
    joliet: bool,
    records: usize,
}

struct Record<'d> {
    extent: usize,
    length: usize,
    is_dir: bool,
    name: &'d [u8],
}

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let (root, block, joliet) =
        root_record(data).ok_or_else(|| Failure::corrupt("iso9660", "no volume descriptor"))?;
    let mut volume = Volume {
        data,
        block,
        joliet,
        records: 0,
    };
    let root =
        parse_record(root).ok_or_else(|| Failure::corrupt("iso9660", "bad root directory"))?;
    walk_dir(w, cx, &mut volume, &root, "", 0)
}

/// The root directory record of the Joliet descriptor when present, else of the primary.
fn root_record(data: &[u8]) -> Option<(&[u8], usize, bool)> {
    let mut primary = None;
    for index in 16..64 {
        let desc = data.get(index * SECTOR..(index + 1) * SECTOR)?;
        if &desc[1..6] != b"CD001" {
            return None;
        }
        let block = le16(desc, 128)? as usize;
        match desc[0] {
            1 => primary = Some((&desc[156..190], block, false)),
            2 if desc[88..90] == *b"%/" && matches!(desc[90], b'@' | b'C' | b'E') => {
                return Some((&desc[156..190], block, true))
            }
            255 => break,
            _ => {}
        }
    }
    primary
}

fn parse_record(rec: &[u8]) -> Option<Record<'_>> {
    let name_len = *rec.get(32)? as usize;
    Some(Record {
        extent: le32(rec, 2)? as usize,
        length: le32(rec, 10)? as usize,
        is_dir: rec.get(25)? & 2 != 0,
        name: rec.get(33..33 + name_len)?,
    })
}

fn walk_dir(
    w: &mut impl Sink,
    cx: &Container,
    vol: &mut Volume<'_>,
    dir: &Record<'_>,
    prefix: &str,
    depth: usize,
) -> Result<(), Failure> {
    if depth > MAX_DIR_DEPTH {
        return Err(Failure::corrupt("iso9660", "directories nested too deep"));
    }
    let data = vol.data;
    let start = dir.extent.saturating_mul(vol.block);
    let end = start.saturating_add(dir.length).min(data.len());
    let mut at = start;
    while at < end {
        let len = data[at] as usize;
        if len == 0 {
            at = (at / SECTOR + 1) * SECTOR;
            continue;
        }
        w.step(cx)?;
        vol.records += 1;
        if vol.records > MAX_RECORDS {
            return Err(Failure::corrupt("iso9660", "too many directory records"));
        }
        let rec = data.get(at..at + len).and_then(parse_record);
        at += len;
        let Some(rec) = rec else { break };
        if rec.name == [0] || rec.name == [1] {
            continue;
        }
        let name = format!("{prefix}{}", decode_name(rec.name, vol.joliet));
        if rec.is_dir {
            walk_dir(w, cx, vol, &rec, &format!("{name}/"), depth + 1)?;
        } else {
            file(w, cx, vol, &rec, name)?;
        }
    }
    Ok(())
}

fn file(
    w: &mut impl Sink,
    cx: &Container,
    vol: &Volume<'_>,
    rec: &Record<'_>,
    name: String,
) -> Result<(), Failure> {
    let start = rec.extent.saturating_mul(vol.block).min(vol.data.len());
    let end = start.saturating_add(rec.length).min(vol.data.len());
    let bytes = &vol.data[start..end];
    let out = w.unpack(bytes, bytes.len() as u64, bytes.len() as u64);
    w.member(cx, Member::unpacked(name, out))
}

/// Joliet names are UCS-2 big endian; both drop the `;1` version.
fn decode_name(raw: &[u8], joliet: bool) -> String {
    let name = if joliet {
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        crate::formats::latin1(raw)
    };
    let name = name.split(';').next().unwrap_or_default();
    name.strip_suffix('.').unwrap_or(name).to_string()
}

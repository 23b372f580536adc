//! Microsoft cabinet files with the `cab` crate (MSZIP, LZX, Quantum), from memory.
//!
//! The `cab` crate seeks to a file by walking its folder's data blocks and indexes past
//! the last one when the file starts beyond them (a panic). [`check`] reads the cabinet's
//! folder and file tables and the data block headers first (linear in the cabinet) and
//! refuses such a file before the crate sees it.

use std::io::Cursor;

use crate::formats::{cstr, le16, le32};
use crate::formats::{Container, Failure, Member, Sink};

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    check(w, cx, data)?;
    let mut cabinet =
        cab::Cabinet::new(Cursor::new(data)).map_err(|e| Failure::corrupt("cab", e))?;
    let names: Vec<(String, u32)> = cabinet
        .folder_entries()
        .flat_map(|folder| folder.file_entries())
        .map(|file| (file.name().to_string(), file.uncompressed_size()))
        .collect();
    let packed = data.len() as u64;
    for (name, size) in names {
        let out = match cabinet.read_file(&name) {
            Ok(reader) => w.unpack(reader, packed, u64::from(size)),
            Err(e) => quarantd_cap::Unpacked {
                error: Some(e.to_string()),
                ..Default::default()
            },
        };
        w.member(cx, Member::unpacked(name, out))?;
    }
    Ok(())
}

/// `CFHEADER` flag: reserve sizes follow the fixed header.
const RESERVE_PRESENT: u16 = 0x0004;
/// `CFHEADER` flags: the names of the previous / next cabinet follow.
const PREV_CABINET: u16 = 0x0001;
const NEXT_CABINET: u16 = 0x0002;

/// Refuses a file that starts beyond the data of its folder. What cannot be read here is
/// left to the crate, which refuses it with an error.
fn check(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let Some(table) = Tables::read(data) else {
        return Ok(());
    };
    // Every block header takes 8 bytes or more, so a cabinet whose folders claim more
    // blocks than fit in it has folders sharing them: refused, or 65,535 folders could each
    // walk the same blocks.
    let claimed: usize = table.folders.iter().map(|&(_, blocks)| blocks).sum();
    if claimed > data.len() / 8 + 1 {
        return Err(Failure::corrupt(
            "cab",
            format!("the folders claim {claimed} data blocks, more than the cabinet can hold"),
        ));
    }
    let mut totals = Vec::with_capacity(table.folders.len());
    for &(first_block, blocks) in &table.folders {
        totals.push(folder_size(
            w,
            cx,
            data,
            first_block,
            blocks,
            table.data_reserve,
        )?);
    }
    for &(offset, folder) in &table.files {
        w.step(cx)?;
        if let Some(&total) = totals.get(folder) {
            if u64::from(offset) > total {
                return Err(Failure::corrupt(
                    "cab",
                    format!("a file starts at {offset}, beyond the {total} bytes of its folder"),
                ));
            }
        }
    }
    Ok(())
}

/// The cabinet's folders (first data block offset, number of blocks) and files (offset in
/// the folder, folder index), and the reserve size of each data block header.
struct Tables {
    folders: Vec<(usize, usize)>,
    files: Vec<(u32, usize)>,
    data_reserve: usize,
}

impl Tables {
    fn read(data: &[u8]) -> Option<Tables> {
        let files_at = le32(data, 16)? as usize;
        let folder_count = usize::from(le16(data, 26)?);
        let file_count = usize::from(le16(data, 28)?);
        let flags = le16(data, 30)?;
        let mut at = 36;
        let (mut folder_reserve, mut data_reserve) = (0, 0);
        if flags & RESERVE_PRESENT != 0 {
            let header_reserve = usize::from(le16(data, at)?);
            folder_reserve = usize::from(*data.get(at + 2)?);
            data_reserve = usize::from(*data.get(at + 3)?);
            at += 4 + header_reserve;
        }
        for flag in [PREV_CABINET, NEXT_CABINET] {
            if flags & flag != 0 {
                let (_, next) = cstr(data, at)?;
                let (_, next) = cstr(data, next)?;
                at = next;
            }
        }
        let mut folders = Vec::with_capacity(folder_count);
        for _ in 0..folder_count {
            folders.push((le32(data, at)? as usize, usize::from(le16(data, at + 4)?)));
            at += 8 + folder_reserve;
        }
        let mut files = Vec::with_capacity(file_count);
        let mut at = files_at;
        for _ in 0..file_count {
            let offset = le32(data, at + 4)?;
            let folder = usize::from(le16(data, at + 8)?);
            files.push((offset, folder));
            let (_, next) = cstr(data, at + 16)?;
            at = next;
        }
        Some(Tables {
            folders,
            files,
            data_reserve,
        })
    }
}

/// Bytes the folder's data blocks unpack to, as their headers say; blocks past the end of
/// the cabinet count nothing.
fn folder_size(
    w: &mut impl Sink,
    cx: &Container,
    data: &[u8],
    mut at: usize,
    blocks: usize,
    reserve: usize,
) -> Result<u64, Failure> {
    let mut total = 0u64;
    for _ in 0..blocks {
        w.step(cx)?;
        let (Some(packed), Some(unpacked)) = (le16(data, at + 4), le16(data, at + 6)) else {
            break;
        };
        total += u64::from(unpacked);
        at += 8 + reserve + usize::from(packed);
    }
    Ok(total)
}

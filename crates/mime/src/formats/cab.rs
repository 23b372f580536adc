//! Microsoft cabinet files with the `cab` crate (MSZIP, LZX, Quantum), from memory.

use std::io::Cursor;

use crate::walk::{Container, Failure, Member, Walker};

pub(crate) fn open(w: &mut Walker<'_>, cx: &Container, data: &[u8]) -> Result<(), Failure> {
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
            Err(e) => crate::cap::Unpacked {
                error: Some(e.to_string()),
                ..Default::default()
            },
        };
        w.member(cx, Member::unpacked(name, out))?;
    }
    Ok(())
}

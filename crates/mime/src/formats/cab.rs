//! Microsoft cabinet files with the `cab` crate (MSZIP, LZX, Quantum), from memory.

use std::io::Cursor;

use crate::walk::{Container, Failure, Member, Walker};

pub(crate) fn open(w: &mut Walker<'_>, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let mut cabinet =
        cab::Cabinet::new(Cursor::new(data)).map_err(|e| Failure::corrupt("cab", e))?;
    // The `cab` crate indexes past the end of a folder's data blocks when a file lies
    // beyond them; a folder with none at all is refused here, before it can.
    if cabinet.folder_entries().any(|folder| {
        folder.num_data_blocks() == 0 && folder.file_entries().any(|f| f.uncompressed_size() > 0)
    }) {
        return Err(Failure::corrupt(
            "cab",
            "a folder holds files but no data blocks",
        ));
    }
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

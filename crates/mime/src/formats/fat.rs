//! FAT12/16/32 disk images (floppies) with `fatfs`, on a copy in memory.

use std::io::Cursor;

use crate::walk::{Container, Failure, Member, Walker};

/// Deepest directory followed.
const MAX_DIR_DEPTH: usize = 16;

type Dir<'a> = fatfs::Dir<'a, Cursor<Vec<u8>>>;

pub(crate) fn open(w: &mut Walker<'_>, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let disk = Cursor::new(data.to_vec());
    let fs = fatfs::FileSystem::new(disk, fatfs::FsOptions::new())
        .map_err(|e| Failure::corrupt("fat", e))?;
    let root = fs.root_dir();
    let result = walk(w, cx, &root, "", 0);
    drop(root);
    result
}

fn walk(
    w: &mut Walker<'_>,
    cx: &Container,
    dir: &Dir<'_>,
    prefix: &str,
    depth: usize,
) -> Result<(), Failure> {
    if depth > MAX_DIR_DEPTH {
        return Err(Failure::corrupt("fat", "directories nested too deep"));
    }
    for entry in dir.iter() {
        let entry = entry.map_err(|e| Failure::corrupt("fat", e))?;
        let name = entry.file_name();
        if name == "." || name == ".." {
            continue;
        }
        let path = format!("{prefix}{name}");
        if entry.is_dir() {
            walk(w, cx, &entry.to_dir(), &format!("{path}/"), depth + 1)?;
        } else {
            let size = entry.len();
            let out = w.unpack(entry.to_file(), size, size);
            w.member(cx, Member::unpacked(path, out))?;
        }
    }
    Ok(())
}

//! tar archives (POSIX, GNU, v7) with the `tar` crate, from memory.

use crate::formats::{Container, Failure, Member, Sink};

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let mut archive = tar::Archive::new(data);
    let entries = archive.entries().map_err(|e| Failure::corrupt("tar", e))?;
    for entry in entries {
        w.step(cx)?;
        let entry = entry.map_err(|e| Failure::corrupt("tar", e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = crate::formats::latin1(&entry.path_bytes());
        let size = entry.size();
        let out = w.unpack(entry, size, size);
        w.member(cx, Member::unpacked(name, out))?;
    }
    Ok(())
}

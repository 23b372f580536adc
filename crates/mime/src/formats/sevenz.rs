//! 7z archives with `sevenz-rust2` (pure Rust), from memory, one thread.
//!
//! Blocks encrypted with AES are not decoded: their files are listed with their names and
//! labelled `encrypted`. An archive whose headers are encrypted has no readable names: the
//! archive itself is labelled `encrypted`.

use std::io::{Cursor, Read};

use sevenz_rust2::{Archive, ArchiveEntry, BlockDecoder, EncoderMethod, Password};

use crate::formats::{Container, Failure, Member, Sink};

/// Most decoder memory (dictionary, model) per block, in KiB.
const MAX_DECODER_MEMORY_KB: usize = 256 * 1024;

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let mut source = Cursor::new(data);
    let password = Password::empty();
    let archive = Archive::read_with_memory_limit(&mut source, &password, MAX_DECODER_MEMORY_KB)
        .map_err(header_failure)?;
    for block in 0..archive.blocks.len() {
        if is_encrypted(&archive, block) {
            list_encrypted(w, cx, &archive, block)?;
        } else {
            decode_block(w, cx, &archive, block, &password, &mut source)?;
        }
    }
    for (index, file) in archive.files.iter().enumerate() {
        let in_block = archive
            .stream_map
            .file_block_index
            .get(index)
            .copied()
            .flatten();
        if in_block.is_none() && !file.is_directory && !file.is_anti_item {
            w.member(cx, Member::new(file.name.clone(), Vec::new()))?;
        }
    }
    Ok(())
}

fn header_failure(error: sevenz_rust2::Error) -> Failure {
    use sevenz_rust2::Error as E;
    match error {
        E::PasswordRequired | E::MaybeBadPassword(_) => {
            Failure::Encrypted("7z archive headers are encrypted".into())
        }
        E::UnsupportedCompressionMethod(m) if m.contains("AES") => {
            Failure::Encrypted("7z archive headers are encrypted".into())
        }
        other => Failure::corrupt("7z", other),
    }
}

fn is_encrypted(archive: &Archive, block: usize) -> bool {
    archive.blocks[block]
        .coders
        .iter()
        .any(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256)
}

fn block_files(archive: &Archive, block: usize) -> impl Iterator<Item = &ArchiveEntry> {
    archive
        .files
        .iter()
        .enumerate()
        .filter(move |(i, _)| {
            archive
                .stream_map
                .file_block_index
                .get(*i)
                .copied()
                .flatten()
                == Some(block)
        })
        .map(|(_, f)| f)
}

fn list_encrypted(
    w: &mut impl Sink,
    cx: &Container,
    archive: &Archive,
    block: usize,
) -> Result<(), Failure> {
    for file in block_files(archive, block) {
        if !file.is_directory {
            w.member(cx, Member::encrypted(file.name.clone()))?;
        }
    }
    Ok(())
}

fn decode_block(
    w: &mut impl Sink,
    cx: &Container,
    archive: &Archive,
    block: usize,
    password: &Password,
    source: &mut Cursor<&[u8]>,
) -> Result<(), Failure> {
    let packed = source.get_ref().len() as u64;
    let decoder = BlockDecoder::new_with_memory_limit(
        1,
        MAX_DECODER_MEMORY_KB,
        block,
        archive,
        password,
        source,
    );
    let mut stop: Option<Failure> = None;
    let result = decoder.for_each_entries(&mut |entry: &ArchiveEntry, reader: &mut dyn Read| {
        if entry.is_directory {
            return Ok(true);
        }
        let out = w.unpack(reader, packed, entry.size);
        let capped = out.capped.is_some();
        if let Err(failure) = w.member(cx, Member::unpacked(entry.name.clone(), out)) {
            stop = Some(failure);
            return Ok(false);
        }
        Ok(!capped)
    });
    if let Some(failure) = stop {
        return Err(failure);
    }
    result.map(|_| ()).map_err(|e| Failure::corrupt("7z", e))
}

//! VBA projects (MS-OVBA): the `dir` stream names the modules and where their compressed
//! source starts; a module counts as code when its source has a line other than
//! `Attribute …`.

use std::io::{Read, Seek};
use std::path::Path;

use crate::limits::{MAX_RECORDS, MAX_VBA_DECOMPRESSED, MAX_VBA_MODULES, MAX_VBA_PROJECT};
use crate::native::{u16_le, u32_le};

use super::read_stream;

/// What a VBA storage holds.
#[derive(Debug, Default)]
pub(crate) struct Project {
    /// Modules whose source has real code.
    pub(crate) code_modules: Vec<String>,
    /// Modules found in the `dir` stream (or streams found by the fallback scan).
    pub(crate) modules_seen: usize,
    /// Bytes of source decompressed so far (bounded by [`MAX_VBA_PROJECT`]).
    decompressed: usize,
}

impl Project {
    /// Counts a module's source; `false` once the project's budget is spent.
    fn within_budget(&mut self, source: &[u8]) -> bool {
        self.decompressed = self.decompressed.saturating_add(source.len());
        self.decompressed <= MAX_VBA_PROJECT
    }
}

/// One module as the `dir` stream describes it.
#[derive(Debug, Default, Clone)]
struct Module {
    name: String,
    stream: String,
    stream_unicode: String,
    offset: u32,
}

/// Analyses the VBA storage at `storage` (the folder holding `dir` and the module streams).
pub(crate) fn analyse<F: Read + Seek>(cfb: &mut cfb::CompoundFile<F>, storage: &Path) -> Project {
    let modules = read_stream(cfb, &storage.join("dir"))
        .and_then(|dir| decompress(&dir))
        .map(|dir| parse_dir(&dir))
        .unwrap_or_default();
    let mut project = Project::default();
    for module in modules.iter().take(MAX_VBA_MODULES) {
        project.modules_seen += 1;
        let Some(source) = module_source(cfb, storage, module) else {
            continue;
        };
        if !project.within_budget(&source) {
            break;
        }
        if has_code(&source) {
            project.code_modules.push(module.name.clone());
        }
    }
    if project.modules_seen == 0 {
        scan_streams(cfb, storage, &mut project);
    }
    project
}

/// A module's decompressed source, from its stream at the `dir` stream's offset.
fn module_source<F: Read + Seek>(
    cfb: &mut cfb::CompoundFile<F>,
    storage: &Path,
    module: &Module,
) -> Option<Vec<u8>> {
    let stream = [&module.stream, &module.stream_unicode, &module.name]
        .into_iter()
        .filter(|name| !name.is_empty())
        .find_map(|name| read_stream(cfb, &storage.join(name)));
    let stream = stream?;
    let offset = usize::try_from(module.offset).unwrap_or(usize::MAX);
    stream
        .get(offset..)
        .and_then(decompress)
        // A wrong offset: look for the compressed source where it usually starts.
        .or_else(|| find_compressed_source(&stream))
}

/// Fallback when the `dir` stream is missing or unreadable: every other stream of the
/// storage is searched for compressed source.
fn scan_streams<F: Read + Seek>(
    cfb: &mut cfb::CompoundFile<F>,
    storage: &Path,
    project: &mut Project,
) {
    let Ok(entries) = cfb.read_storage(storage) else {
        return;
    };
    let names: Vec<String> = entries
        .filter(|e| e.is_stream())
        .map(|e| e.name().to_string())
        .filter(|n| !is_project_stream(n))
        .take(MAX_VBA_MODULES)
        .collect();
    for name in names {
        let Some(stream) = read_stream(cfb, &storage.join(&name)) else {
            continue;
        };
        if let Some(source) = find_compressed_source(&stream) {
            project.modules_seen += 1;
            if !project.within_budget(&source) {
                break;
            }
            if has_code(&source) {
                project.code_modules.push(name);
            }
        }
    }
}

fn is_project_stream(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "dir" || lower.starts_with("_vba_project") || lower.starts_with("__srp_")
}

/// Compressed source starts with the signature byte, a chunk header and a flag byte 0
/// followed by the literal `Attribut` (of `Attribute VB_Name`).
fn find_compressed_source(stream: &[u8]) -> Option<Vec<u8>> {
    memchr::memmem::find_iter(stream, b"\x00Attribut")
        .filter(|&at| at >= 3 && stream[at - 3] == 1)
        .find_map(|at| decompress(&stream[at - 3..]))
}

/// Whether VBA source has a line other than blank lines and `Attribute` lines.
pub(crate) fn has_code(source: &[u8]) -> bool {
    source
        .split(|&b| b == b'\n' || b == b'\r')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .any(|line| {
            line.get(..10)
                .is_none_or(|head| !head.eq_ignore_ascii_case(b"attribute "))
        })
}

/// Parses the decompressed `dir` stream into its modules. Records are `id: u16, size: u32,
/// data`; `PROJECTVERSION` (0x0009) is the one record whose size field does not cover
/// its data (6 bytes follow).
fn parse_dir(dir: &[u8]) -> Vec<Module> {
    let mut modules = Vec::new();
    let mut current: Option<Module> = None;
    let mut pos = 0usize;
    for _ in 0..MAX_RECORDS {
        let (Some(id), Some(size)) = (u16_le(dir, pos), u32_le(dir, pos + 2)) else {
            break;
        };
        pos += 6;
        let size = if id == 0x0009 { 6 } else { size as usize };
        let Some(data) = dir.get(pos..pos.saturating_add(size)) else {
            break;
        };
        pos += size;
        match id {
            0x0019 => {
                current = Some(Module {
                    name: mbcs(data),
                    ..Module::default()
                })
            }
            0x001a => set(&mut current, |m| m.stream = mbcs(data)),
            0x0032 => set(&mut current, |m| m.stream_unicode = utf16(data)),
            0x0031 => set(&mut current, |m| m.offset = u32_le(data, 0).unwrap_or(0)),
            0x002b => modules.extend(current.take()),
            _ => {}
        }
        if modules.len() >= MAX_VBA_MODULES {
            break;
        }
    }
    modules.extend(current);
    modules
}

fn set(current: &mut Option<Module>, f: impl FnOnce(&mut Module)) {
    if let Some(module) = current.as_mut() {
        f(module);
    }
}

/// Module names are in the project's code page; ASCII covers stream lookup in practice,
/// other bytes are read as Latin-1 (the Unicode record is tried too).
fn mbcs(data: &[u8]) -> String {
    data.iter().map(|&b| char::from(b)).collect()
}

fn utf16(data: &[u8]) -> String {
    let units = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or('\u{fffd}'))
        .collect()
}

/// MS-OVBA 2.4.1 decompression of a `CompressedContainer`, at most
/// [`MAX_VBA_DECOMPRESSED`] bytes out. `None` when the signature byte is wrong or nothing
/// decompresses; a truncated or damaged container yields what was decoded before the damage.
pub(crate) fn decompress(data: &[u8]) -> Option<Vec<u8>> {
    let (&signature, mut rest) = data.split_first()?;
    if signature != 1 {
        return None;
    }
    let mut out = Vec::new();
    while rest.len() >= 2 && out.len() < MAX_VBA_DECOMPRESSED {
        let header = u16::from_le_bytes([rest[0], rest[1]]);
        if (header >> 12) & 0b111 != 0b011 {
            break;
        }
        let chunk_len = usize::from(header & 0x0fff) + 3;
        let chunk = &rest[2..chunk_len.min(rest.len())];
        rest = &rest[chunk_len.min(rest.len())..];
        if header & 0x8000 == 0 {
            out.extend_from_slice(&chunk[..chunk.len().min(4096)]);
        } else {
            decompress_chunk(chunk, &mut out);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// One compressed chunk: flag bytes, each followed by 8 tokens (literal byte or copy token).
fn decompress_chunk(chunk: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut pos = 0;
    while pos < chunk.len() && out.len() < MAX_VBA_DECOMPRESSED {
        let flags = chunk[pos];
        pos += 1;
        for bit in 0..8 {
            if pos >= chunk.len() {
                return;
            }
            if flags & (1 << bit) == 0 {
                out.push(chunk[pos]);
                pos += 1;
                continue;
            }
            let Some(token) = u16_le(chunk, pos) else {
                return;
            };
            pos += 2;
            if !copy_token(token, start, out) {
                return;
            }
        }
    }
}

/// Applies one copy token; `false` when it points before the chunk's start (damage).
fn copy_token(token: u16, chunk_start: usize, out: &mut Vec<u8>) -> bool {
    let written = out.len() - chunk_start;
    let bit_count = (usize::BITS - written.saturating_sub(1).leading_zeros()).clamp(4, 12);
    let length_mask = 0xffffu16 >> bit_count;
    let length = usize::from(token & length_mask) + 3;
    let offset = usize::from(token >> (16 - bit_count)) + 1;
    if offset > written {
        return false;
    }
    for _ in 0..length {
        if out.len() >= MAX_VBA_DECOMPRESSED {
            return false;
        }
        let byte = out[out.len() - offset];
        out.push(byte);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compressed text with copy tokens (MS-OVBA 3.2); the expected output is what
    /// oletools' `decompress_stream` yields for the same bytes.
    #[test]
    fn spec_examples() {
        let compressed = [
            0x01, 0x2f, 0xb0, 0x00, 0x23, 0x61, 0x61, 0x61, 0x62, 0x63, 0x64, 0x65, 0x82, 0x66,
            0x00, 0x70, 0x61, 0x67, 0x68, 0x69, 0x6a, 0x01, 0x38, 0x08, 0x61, 0x6b, 0x6c, 0x00,
            0x30, 0x6d, 0x6e, 0x6f, 0x70, 0x06, 0x71, 0x02, 0x70, 0x04, 0x10, 0x72, 0x73, 0x74,
            0x75, 0x76, 0x10, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x3c,
        ];
        let out = decompress(&compressed).expect("decompresses");
        assert_eq!(
            out,
            b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"
        );
        let literal = [
            0x01, 0x1a, 0xb0, 0x00, 0x23, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x00, 0x68,
            0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x00, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75,
            0x76, 0x2e,
        ];
        assert_eq!(
            decompress(&literal).expect("decompresses"),
            b"#abcdefghijklmnopqrstuv."
        );
    }

    #[test]
    fn damaged_containers_are_total() {
        assert_eq!(decompress(b""), None);
        assert_eq!(decompress(b"\x02\x00\xb0"), None);
        assert_eq!(decompress(b"\x01\xff\xbf\xff\xff\xff"), None);
        for end in 0..20 {
            let _ = decompress(
                &b"\x01\x2f\xb0\x00\x23\x61\x61\x61\x62\x63\x64\x65\x82\x66\x00\x70\x61\x67"
                    [..end.min(18)],
            );
        }
    }

    #[test]
    fn code_or_attributes() {
        let cases: &[(&[u8], bool)] = &[
            (
                b"Attribute VB_Name = \"ThisDocument\"\r\nAttribute VB_Base = \"1Normal\"\r\n",
                false,
            ),
            (
                b"Attribute VB_Name = \"Module1\"\r\n\r\nSub AutoOpen()\r\nEnd Sub\r\n",
                true,
            ),
            (b"attribute vb_name = \"x\"\r\nOption Explicit\r\n", true),
            (b"", false),
        ];
        for (source, want) in cases {
            assert_eq!(
                has_code(source),
                *want,
                "{}",
                String::from_utf8_lossy(source)
            );
        }
    }

    #[test]
    fn dir_records() {
        fn record(dir: &mut Vec<u8>, id: u16, data: &[u8]) {
            dir.extend_from_slice(&id.to_le_bytes());
            dir.extend_from_slice(&(data.len() as u32).to_le_bytes());
            dir.extend_from_slice(data);
        }
        let mut dir = Vec::new();
        record(&mut dir, 0x0001, &[1, 0, 0, 0]);
        // PROJECTVERSION: size field 4, then 6 bytes of data.
        dir.extend_from_slice(&[0x09, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0]);
        record(&mut dir, 0x0019, b"Module1");
        record(&mut dir, 0x001a, b"Module1");
        record(&mut dir, 0x0031, &[0x10, 0, 0, 0]);
        record(&mut dir, 0x002b, &[]);
        let modules = parse_dir(&dir);
        assert_eq!(modules.len(), 1);
        assert_eq!(modules[0].name, "Module1");
        assert_eq!(modules[0].offset, 16);
        for end in 0..dir.len() {
            let _ = parse_dir(&dir[..end]);
        }
    }
}

//! Native code by its headers: PE, DOS MZ, ELF, Mach-O, Java class, DEX, shortcuts, CHM.

/// A native executable format recognised from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Native {
    /// Portable Executable (EXE, DLL, SCR, CPL, SYS, ...).
    Pe { dll: bool, dotnet: bool },
    /// A DOS `MZ` program without a PE header.
    DosMz,
    /// ELF executable or shared object.
    Elf,
    /// Mach-O, thin or fat (universal).
    MachO { fat: bool },
    /// Java class file.
    JavaClass,
    /// Android Dalvik executable.
    Dex,
    /// Windows shell link (`.lnk`).
    Lnk,
    /// Compiled HTML help (`.chm`), which runs script and programs when opened.
    Chm,
}

impl Native {
    /// The MIME-type-like name of the format.
    pub(crate) fn mime(self) -> &'static str {
        match self {
            Native::Pe { dll: true, .. } => "application/x-msdownload",
            Native::Pe { .. } => "application/vnd.microsoft.portable-executable",
            Native::DosMz => "application/x-dosexec",
            Native::Elf => "application/x-executable",
            Native::MachO { .. } => "application/x-mach-binary",
            Native::JavaClass => "application/java-vm",
            Native::Dex => "application/vnd.android.dex",
            Native::Lnk => "application/x-ms-shortcut",
            Native::Chm => "application/vnd.ms-htmlhelp",
        }
    }

    /// Why the content is executable, in words.
    pub(crate) fn note(self) -> &'static str {
        match self {
            Native::Pe {
                dotnet: true,
                dll: true,
            } => "PE DLL (.NET assembly)",
            Native::Pe { dotnet: true, .. } => "PE executable (.NET assembly)",
            Native::Pe { dll: true, .. } => "PE DLL",
            Native::Pe { .. } => "PE executable",
            Native::DosMz => "DOS MZ executable",
            Native::Elf => "ELF executable",
            Native::MachO { fat: true } => "Mach-O universal binary",
            Native::MachO { .. } => "Mach-O executable",
            Native::JavaClass => "Java class file",
            Native::Dex => "Android DEX",
            Native::Lnk => "Windows shortcut (.lnk)",
            Native::Chm => "compiled HTML help (.chm)",
        }
    }
}

/// The native executable format of `content`, if its header is one.
pub(crate) fn sniff(content: &[u8]) -> Option<Native> {
    let head = content.get(..4)?;
    match head {
        [b'M', b'Z', ..] | [b'Z', b'M', ..] => mz(content),
        [0x7f, b'E', b'L', b'F'] => Some(Native::Elf),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe] => {
            Some(Native::MachO { fat: false })
        }
        [0xca, 0xfe, 0xba, 0xbe] => cafebabe(content),
        [0xca, 0xfe, 0xba, 0xbf] => Some(Native::MachO { fat: true }),
        [b'd', b'e', b'x', b'\n'] => Some(Native::Dex),
        [b'I', b'T', b'S', b'F'] if u32_le(content, 4) == Some(3) => Some(Native::Chm),
        _ if is_lnk(content) => Some(Native::Lnk),
        _ => None,
    }
}

/// `CAFEBABE` starts both Java class files and fat Mach-O binaries: a fat binary's next
/// word is its (small) architecture count, a class file's is its version (major >= 45).
fn cafebabe(content: &[u8]) -> Option<Native> {
    let next = u32_be(content, 4)?;
    if next == 0 {
        None
    } else if next < 40 {
        Some(Native::MachO { fat: true })
    } else {
        Some(Native::JavaClass)
    }
}

/// Shell link header: size 0x4C and the link CLSID 00021401-0000-0000-C000-000000000046.
fn is_lnk(content: &[u8]) -> bool {
    const HEADER: [u8; 20] = [
        0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46,
    ];
    content.starts_with(&HEADER)
}

/// An `MZ` header: PE when `e_lfanew` points at `PE\0\0`, else a DOS program when the DOS
/// header is plausible (binary fields, not a text file that happens to start with "MZ").
fn mz(content: &[u8]) -> Option<Native> {
    if let Some(pe) = pe(content) {
        return Some(pe);
    }
    let header = content.get(..64)?;
    let text_like = header
        .iter()
        .all(|&b| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b));
    (!text_like).then_some(Native::DosMz)
}

fn pe(content: &[u8]) -> Option<Native> {
    let lfanew = usize::try_from(u32_le(content, 0x3c)?).ok()?;
    if content.get(lfanew..lfanew.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let coff = lfanew + 4;
    let characteristics = u16_le(content, coff + 18).unwrap_or(0);
    let optional = coff + 20;
    Some(Native::Pe {
        dll: characteristics & 0x2000 != 0,
        dotnet: has_clr_header(content, optional),
    })
}

/// Whether the optional header's CLR runtime data directory (index 14) is present.
fn has_clr_header(content: &[u8], optional: usize) -> bool {
    let directories = match u16_le(content, optional) {
        Some(0x10b) => optional + 96,
        Some(0x20b) => optional + 112,
        _ => return false,
    };
    let count = u32_le(content, directories - 4).unwrap_or(0);
    count > 14 && u32_le(content, directories + 14 * 8 + 4).is_some_and(|size| size > 0)
}

pub(crate) fn u16_le(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([bytes[0], bytes[1]]))
}

pub(crate) fn u32_le(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn u32_be(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe_sample(characteristics: u16) -> Vec<u8> {
        let mut v = vec![0u8; 0x200];
        v[0] = b'M';
        v[1] = b'Z';
        v[0x3c] = 0x80;
        v[0x80..0x84].copy_from_slice(b"PE\0\0");
        v[0x80 + 4 + 18..0x80 + 4 + 20].copy_from_slice(&characteristics.to_le_bytes());
        v
    }

    #[test]
    fn headers() {
        let mut fat = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2];
        fat.resize(64, 0);
        let class = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52];
        let mut dos = b"MZ".to_vec();
        dos.resize(64, 0);
        let mut lnk = vec![
            0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46,
        ];
        lnk.resize(76, 0);
        let cases: &[(&[u8], Option<Native>)] = &[
            (
                &pe_sample(0x0102),
                Some(Native::Pe {
                    dll: false,
                    dotnet: false,
                }),
            ),
            (
                &pe_sample(0x2102),
                Some(Native::Pe {
                    dll: true,
                    dotnet: false,
                }),
            ),
            (&dos, Some(Native::DosMz)),
            (
                b"MZ is a text line that is long enough to be sixty-four bytes long",
                None,
            ),
            (b"\x7fELF\x02\x01\x01", Some(Native::Elf)),
            (
                b"\xcf\xfa\xed\xfe\x07\0\0\x01",
                Some(Native::MachO { fat: false }),
            ),
            (&fat, Some(Native::MachO { fat: true })),
            (&class, Some(Native::JavaClass)),
            (b"dex\n035\0", Some(Native::Dex)),
            (b"ITSF\x03\0\0\0", Some(Native::Chm)),
            (&lnk, Some(Native::Lnk)),
            (b"MZ", None),
            (b"", None),
            (b"%PDF-1.7", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), *want, "{:?}", &bytes[..bytes.len().min(8)]);
        }
    }

    #[test]
    fn truncated_pe_is_total() {
        let pe = pe_sample(0x2102);
        for end in 0..pe.len() {
            let _ = sniff(&pe[..end]);
        }
        let mut bad = pe.clone();
        bad[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(sniff(&bad), Some(Native::DosMz));
    }
}

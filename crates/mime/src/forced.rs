//! Opening bytes as a named container format, whatever their magic says: the entry point of
//! the per-format fuzz targets (`fuzz/`), so that a fuzzer reaches each parser directly instead
//! of having to find its magic first.

use quarantd_core::{Decomposed, PartPath};

use crate::detect::Kind;
use crate::formats;
use crate::formats::Container;
use crate::walk::{self, Walker};
use crate::Limits;

/// Every container kind, by the name [`Kind::name`] gives it.
const KINDS: [Kind; 16] = [
    Kind::Zip,
    Kind::SevenZ,
    Kind::Rar,
    Kind::Gzip,
    Kind::Bzip2,
    Kind::Xz,
    Kind::Zstd,
    Kind::Tar,
    Kind::Cab,
    Kind::Iso9660,
    Kind::Cfb,
    Kind::Rtf,
    Kind::Tnef,
    Kind::Fat,
    Kind::Arj,
    Kind::Pdf,
];

/// The names [`decompose_as`](crate::decompose_as) accepts (`"zip"`, `"7z"`, `"ole"`, ...).
pub(crate) fn format_names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.name())
}

/// See [`decompose_as`](crate::decompose_as).
pub(crate) fn decompose_as(format: &str, bytes: &[u8], limits: &Limits) -> Option<Decomposed> {
    let kind = *KINDS.iter().find(|k| k.name() == format)?;
    let mut walker = Walker::new(limits);
    let base = PartPath(format.to_string());
    walker
        .parts
        .push(walk::new_part(base.clone(), None, None, bytes.to_vec()));
    let cx = Container {
        at: 0,
        base,
        depth: 1,
        kind: kind.name(),
    };
    let result = formats::open(&mut walker, &cx, kind, bytes);
    walker.fail(&cx, result);
    Some(Decomposed {
        parts: walker.parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_by_its_name_and_unknown_names_refused() {
        for name in format_names() {
            let d = decompose_as(name, b"not really", &Limits::default()).unwrap();
            assert_eq!(d.parts[0].part.path.0, name);
        }
        assert!(decompose_as("nope", b"", &Limits::default()).is_none());
    }

    #[test]
    fn members_are_found_without_the_magic_deciding() {
        // One stored member `a.txt` = "hi", after bytes that hide the zip magic.
        let mut zip = b"junk".to_vec();
        zip.extend_from_slice(b"PK\x03\x04\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\xac\x2a\x93\xd8\x02\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00a.txthiPK\x01\x02\x14\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\xac\x2a\x93\xd8\x02\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00a.txtPK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00\x33\x00\x00\x00\x25\x00\x00\x00\x00\x00");
        let d = decompose_as("zip", &zip, &Limits::default()).unwrap();
        let paths: Vec<&str> = d.parts.iter().map(|p| p.part.path.0.as_str()).collect();
        assert_eq!(paths, ["zip", "zip/a.txt"]);
        assert_eq!(d.parts[1].content, b"hi");
    }
}

//! OLE compound files (CFB): Office 97-2003 documents, MSI packages, encrypted OOXML,
//! VBA project files and embedded objects.
//!
//! The directory is read once ([`Directory`]); the kind of file follows from its streams
//! and root CLSID, and each kind has its own look ([`office`]). VBA projects are found
//! wherever a `VBA` storage with a `dir` stream sits, also inside embedded storages.

mod office;
pub(crate) mod vba;

use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};

use quarantd_core::Label;

use crate::limits::{MAX_NESTING, MAX_OLE_ENTRIES, MAX_OLE_STREAM, MAX_VBA_PROJECTS};
use crate::Detection;

/// Root CLSIDs of Windows Installer packages, patches and transforms.
const MSI_CLSIDS: &[&str] = &[
    "000c1084-0000-0000-c000-000000000046",
    "000c1086-0000-0000-c000-000000000046",
    "000c1082-0000-0000-c000-000000000046",
];

/// One entry of the compound file's directory.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) is_stream: bool,
}

/// The directory of a compound file, bounded by [`MAX_OLE_ENTRIES`].
pub(crate) struct Directory {
    pub(crate) entries: Vec<Entry>,
    root_clsid: String,
}

impl Directory {
    fn read<F: Read + Seek>(cfb: &cfb::CompoundFile<F>) -> Directory {
        let entries = cfb
            .walk()
            .take(MAX_OLE_ENTRIES)
            .map(|e| Entry {
                path: e.path().to_path_buf(),
                name: e.name().to_string(),
                is_stream: e.is_stream(),
            })
            .collect();
        Directory {
            entries,
            root_clsid: cfb.root_entry().clsid().to_string().to_ascii_lowercase(),
        }
    }

    /// Whether a stream of this name sits directly under the root (case-insensitive).
    pub(crate) fn root_stream(&self, name: &str) -> bool {
        self.entries.iter().any(|e| {
            e.is_stream
                && e.path.parent() == Some(Path::new("/"))
                && e.name.eq_ignore_ascii_case(name)
        })
    }

    /// The root stream of this name, as a path.
    fn root_path(&self, name: &str) -> Option<PathBuf> {
        self.entries
            .iter()
            .find(|e| {
                e.is_stream
                    && e.path.parent() == Some(Path::new("/"))
                    && e.name.eq_ignore_ascii_case(name)
            })
            .map(|e| e.path.clone())
    }

    fn is_msi(&self) -> bool {
        MSI_CLSIDS.contains(&self.root_clsid.as_str())
            || self
                .entries
                .iter()
                .any(|e| e.path.parent() == Some(Path::new("/")) && e.name.starts_with('\u{4840}'))
    }

    /// Storages holding a VBA project: a `VBA` storage with a `dir` stream.
    fn vba_storages(&self) -> Vec<PathBuf> {
        self.entries
            .iter()
            .filter(|e| e.is_stream && e.name.eq_ignore_ascii_case("dir"))
            .filter_map(|e| e.path.parent())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.eq_ignore_ascii_case("VBA"))
            })
            .map(Path::to_path_buf)
            .collect()
    }

    /// Embedded objects: `ObjectPool` children (Word), `MBD*` storages (Excel), and
    /// `Ole10Native` packages below the root.
    fn embedded_objects(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| {
                let parent = e.path.parent().and_then(|p| p.file_name());
                let in_pool = parent.is_some_and(|p| p.eq_ignore_ascii_case("ObjectPool"));
                let nested = e.path.parent() != Some(Path::new("/"));
                (!e.is_stream && (in_pool || e.name.starts_with("MBD")))
                    || (nested && e.is_stream && e.name == "\u{1}Ole10Native")
            })
            .map(|e| e.path.display().to_string())
            .collect()
    }
}

/// Reads a whole stream, at most [`MAX_OLE_STREAM`] bytes; `None` when it cannot be read.
pub(crate) fn read_stream<F: Read + Seek>(
    cfb: &mut cfb::CompoundFile<F>,
    path: &Path,
) -> Option<Vec<u8>> {
    let stream = cfb.open_stream(path).ok()?;
    let mut data = Vec::new();
    stream.take(MAX_OLE_STREAM).read_to_end(&mut data).ok()?;
    Some(data)
}

/// Analyses an OLE compound file. `depth` counts the containers opened around it within
/// this part (0 for the part itself).
pub(crate) fn analyse(content: &[u8], depth: usize, found: &mut Detection) {
    found.detected_type = "application/x-ole-storage".into();
    let mut cfb = match cfb::CompoundFile::open(Cursor::new(content)) {
        Ok(cfb) => cfb,
        Err(error) => {
            found.flag(
                Label::Unscannable,
                format!("OLE compound file could not be parsed: {error}"),
            );
            return;
        }
    };
    let directory = Directory::read(&cfb);
    identify(&mut cfb, &directory, depth, found);
    macros(&mut cfb, &directory, found);
    objects(&directory, found);
}

/// The kind of compound file, and the look each kind needs.
fn identify<F: Read + Seek>(
    cfb: &mut cfb::CompoundFile<F>,
    dir: &Directory,
    depth: usize,
    found: &mut Detection,
) {
    if dir.is_msi() {
        found.detected_type = "application/x-msi".into();
        found.flag(Label::Executable, "Windows Installer package (MSI)");
    } else if dir.root_stream("EncryptionInfo") && dir.root_stream("EncryptedPackage") {
        found.detected_type = "application/x-ooxml-encrypted".into();
        found.flag(
            Label::Encrypted,
            "encrypted OOXML document (EncryptedPackage)",
        );
    } else if let Some(path) = dir.root_path("WordDocument") {
        found.detected_type = "application/msword".into();
        office::word(cfb, &path, found);
    } else if let Some(path) = dir.root_path("Workbook").or_else(|| dir.root_path("Book")) {
        found.detected_type = "application/vnd.ms-excel".into();
        office::excel(cfb, &path, found);
    } else if let Some(path) = dir.root_path("PowerPoint Document") {
        found.detected_type = "application/vnd.ms-powerpoint".into();
        office::powerpoint(cfb, dir, &path, depth, found);
    } else if dir.root_stream("VisioDocument") {
        found.detected_type = "application/vnd.visio".into();
    } else if dir
        .entries
        .iter()
        .any(|e| e.name.starts_with("__substg1.0_"))
    {
        found.detected_type = "application/vnd.ms-outlook".into();
    } else if dir.root_stream("PROJECT") || !dir.vba_storages().is_empty() {
        found.detected_type = "application/vnd.ms-office.vbaproject".into();
    } else if dir.root_stream("\u{1}Ole10Native") {
        found.detected_type = "application/x-ole-package".into();
    }
}

/// VBA projects anywhere in the file.
fn macros<F: Read + Seek>(cfb: &mut cfb::CompoundFile<F>, dir: &Directory, found: &mut Detection) {
    for storage in dir.vba_storages().into_iter().take(MAX_VBA_PROJECTS) {
        let project = vba::analyse(cfb, &storage);
        for module in &project.code_modules {
            found.flag(Label::VbaMacro, format!("VBA module {module}"));
        }
        if project.code_modules.is_empty() {
            found.note(format!(
                "VBA project in {} without code ({} modules)",
                storage.display(),
                project.modules_seen
            ));
        }
    }
}

fn objects(dir: &Directory, found: &mut Detection) {
    if let Some(first) = dir.embedded_objects().first() {
        found.flag(Label::OleObject, format!("embedded OLE object {first}"));
    }
}

/// Labels of an OLE file nested in this part (PowerPoint's VBA storage, `vbaProject.bin`
/// or an embedded `.bin` in OOXML), merged into `found`: macros and DDE count for the
/// document carrying them. Nesting deeper than [`MAX_NESTING`] is noted, not opened.
pub(crate) fn merge_nested(content: &[u8], depth: usize, what: &str, found: &mut Detection) {
    if depth >= MAX_NESTING {
        found.note(format!("{what}: nested too deep, not opened"));
        return;
    }
    let mut inner = Detection::default();
    analyse(content, depth + 1, &mut inner);
    let carried: Vec<Label> = inner
        .labels
        .iter()
        .copied()
        .filter(|l| matches!(l, Label::VbaMacro | Label::XlmMacro | Label::Dde))
        .collect();
    if carried.is_empty() {
        return;
    }
    for label in carried {
        found.flag(label, format!("{what}: {label}"));
    }
    for note in &inner.notes {
        found.note(format!("{what}: {note}"));
    }
}

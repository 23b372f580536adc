//! Classification: the true type of every part of a message and its risk labels.
//!
//! [`detect`] looks at one part's *content* — magic numbers and the structure of the
//! format — and returns a [`Detection`]: a MIME-type-like name for what the bytes really
//! are, the risk [`Label`]s, and notes saying why. The declared file name and MIME type are
//! evidence, not truth: they are only used where Windows itself goes by the name (a plain text
//! file named `.js` *is* run on a double-click; a DOS `.com` program has no magic), and to
//! see when they contradict the content. [`classify`] runs [`detect`] over a
//! [`Decomposed`] message from `quarantd-mime` and fills each [`Part`](quarantd_core::Part).
//!
//! This crate names risks; it does not choose an action (that is `quarantd-policy`) and
//! reads no configuration. Archive members, TNEF attachments and objects embedded in Office
//! and RTF documents are separate parts made by `quarantd-mime`; each is classified on its
//! own. The few formats whose risk lives *inside* a container of their own (OOXML and ODF
//! zips, OLE compound files, PowerPoint's compressed VBA storage) are opened here, read-only
//! and within the named limits of [`limits`].
//!
//! # Labels
//!
//! | label | set when |
//! |---|---|
//! | `executable` | native code or a package that installs or runs it, by content: PE (EXE, DLL, SCR, CPL, .NET assemblies), DOS MZ programs, ELF, Mach-O (also fat/universal), MSI/MSP (OLE file with the Windows Installer CLSID or its table streams), Java class files, JAR (zip with `META-INF/MANIFEST.MF` or `.class` members), Android APK/DEX, MSIX/AppX, Windows shortcuts (`.lnk`), compiled HTML help (`.chm`). A file named `.com` or `.pif` is a DOS program by name when its content is not clearly some other format (COM programs have no magic). |
//! | `script` | a script that Windows runs on a double-click. By content: encoded JScript/VBScript (`#@~^`), Windows Script Files (`<job>`/`<package>` with `<script>`), HTML applications (`<hta:application`), scriptlets (`<scriptlet>`), registry files (`Windows Registry Editor`, `REGEDIT4`), batch files starting with `@echo off`. By name when the content is plain text (or not clearly another format): `.js .jse .vbs .vbe .wsf .wsh .wsc .hta .bat .cmd .ps1 .psm1 .psd1 .ps1xml .sct .vb .mshxml .ws .reg`. |
//! | `source-code` | source code that no mail client runs on a click (passed by the default policy): a `#!` line naming sh/bash/python/perl/ruby/php/node, `<?php`, or a name ending in `.sh .bash .py .pyw .pl .pm .rb .php`. |
//! | `vba-macro` | a VBA project with real module code (any line other than `Attribute …`): in OLE `.doc/.xls/.ppt/.vsd` (any `VBA` storage, also inside embedded storages), in PowerPoint's compressed VBA storage, in `vbaProject.bin` (or any embedded OLE `.bin`) inside OOXML/XLSB zips, in base64 parts of flat-OPC and Word 2003 XML, and in ActiveMime (`editdata.mso`) blobs. The `dir` stream and module streams are decompressed (MS-OVBA); a project whose modules hold only `Attribute` lines is not a macro. |
//! | `xlm-macro` | Excel 4.0 macro sheets: a BIFF5/BIFF8 `BOUNDSHEET` record of sheet type macro in the `Workbook`/`Book` stream, an OOXML/XLSB part under `xl/macrosheets/` or a `macrosheet` content type, a SYLK file marked as a macro sheet or with `Auto_Open`-style names or macro-only functions. |
//! | `dde` | Dynamic Data Exchange: `DDE`/`DDEAUTO` field instructions in Word (`fldSimple`/`instrText`, also split across runs, in `.docx` and flat/2003 XML; field codes in the `WordDocument` stream of `.doc`, 8-bit or UTF-16), RTF `\fldinst` with `DDE`/`DDEAUTO`, Excel `ddeLink` external links (`.xlsx`) and DDE `SupBook` records (`.xlsb`), and `=app\|'topic'!item` formulas in SYLK, SpreadsheetML and OOXML cells and in CSV (a text part named `.csv/.tsv/.prn/.dif` or declared as CSV or Excel: only a spreadsheet evaluates them). |
//! | `ole-object` | an embedded OLE object or package inside an Office or RTF document (`ObjectPool`, `MBD*` storages, `Ole10Native`, PowerPoint `ExOleObjStg`, OOXML `embeddings/`, ODF objects, RTF `\object`). Informational: the object itself is a separate part. |
//! | `encrypted` | content that cannot be looked into without a password: OOXML in an OLE file (`EncryptionInfo` + `EncryptedPackage`), `.doc` with the FIB `fEncrypted` flag, `.xls` with a `FILEPASS` record, encrypted `.ppt` (`CryptSession10Container`, `EncryptedSummary`, or the encrypted `Current User` token), PDF with `/Encrypt` in its trailer, a zip whose every file entry is encrypted. |
//! | `type-mismatch` | the declared name or MIME type claims one family of formats (document, image, text, archive, …) and the content is another *in a way that matters*: the content is executable or a script by content, or carries macros or DDE. Examples: a PE named `.pdf` or declared `image/jpeg`, a Word file with VBA named `.rtf`, an Excel 4 macro workbook named `.csv`. Harmless differences (`application/octet-stream`, `text/plain` for CSV, `.zip` for a `.docx`, a clean RTF named `.doc`) are not mismatches. |
//! | `double-extension` | a document-like extension followed by an executable or script extension: `invoice.pdf.exe`, `scan_2024.pdf.js`. |
//! | `bidi-name` | a name containing Unicode direction controls (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, U+061C), used to make `exe.pdf` read as `pdf.exe`. |
//! | `unscannable` | (also set by `quarantd-mime` for its limits) an OLE compound file whose structure cannot be parsed, or an analyser that panicked: the part could not be looked into and is never passed as clean. The first note is the reason. |
//!
//! Parsing is total and bounded: no input panics, every loop has a named maximum, nested
//! containers are followed to a fixed depth only. Each analyser also runs under
//! [`std::panic::catch_unwind`] as a last line of defence against bugs in the format crates;
//! a caught panic makes the part `unscannable`. (Built with `panic = "abort"`, as fuzz
//! targets are, a panic aborts instead, so the fuzzer still sees it.)

mod detect;
mod embedded;
mod fields;
mod inflate;
pub mod limits;
mod magic;
mod names;
mod native;
mod ole;
mod ooxml;
mod pdf;
mod rtf;
mod text;

use quarantd_core::{Classified, Decomposed, Label, PartData};

pub use detect::detect;
pub use inflate::Budget;

/// What the content of one part is, and what risks it carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Detection {
    /// A MIME-type-like name for the content, e.g. `application/x-dosexec`,
    /// `application/vnd.ms-excel`, `application/zip`, `text/plain`.
    pub detected_type: String,
    /// Risk labels, sorted, without duplicates.
    pub labels: Vec<Label>,
    /// Why each label was set, in words, e.g. `VBA module ThisDocument`.
    pub notes: Vec<String>,
}

impl Detection {
    /// Adds a label once (keeping the list sorted) with the note saying why.
    pub(crate) fn flag(&mut self, label: Label, note: impl Into<String>) {
        if let Err(at) = self.labels.binary_search(&label) {
            self.labels.insert(at, label);
        }
        self.note(note);
    }

    /// Adds a note without a label; repeated notes are kept once, at most
    /// [`limits::MAX_NOTES`] in all.
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if self.notes.len() < limits::MAX_NOTES && !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Whether the label is set.
    pub fn has(&self, label: Label) -> bool {
        self.labels.binary_search(&label).is_ok()
    }
}

/// Classifies every part of a decomposed message: fills [`Part::detected_type`] and merges
/// the labels of [`detect`] into [`Part::labels`] (labels already present, such as
/// `unscannable` from the decomposition, are kept).
///
/// The message itself (path empty), multipart bodies and nested `message/*` parts are
/// containers whose parts follow: they get their declared type and no labels of their own
/// (a container whose content is not text at all is analysed like any part).
///
/// [`Part::detected_type`]: quarantd_core::Part::detected_type
/// [`Part::labels`]: quarantd_core::Part::labels
pub fn classify(parts: Decomposed) -> Classified {
    classify_within(parts, &Budget::default())
}

/// [`classify`] within `budget` for the whole message: once its bytes or its time are
/// used up, the part being analysed and every part after it are `unscannable` (labels
/// found before are kept), so a message of many Office bombs costs no more than one.
pub fn classify_within(parts: Decomposed, budget: &Budget) -> Classified {
    inflate::scoped(budget, || Classified {
        parts: parts.parts.into_iter().map(classify_part).collect(),
    })
}

fn classify_part(mut data: PartData) -> PartData {
    if is_container(&data) {
        data.part.detected_type = data.part.declared_type.clone();
        return data;
    }
    if let Some(reason) = inflate::exhausted() {
        data.part.mark_unscannable(reason);
        return data;
    }
    let found = detect(
        &data.content,
        data.part.filename.as_deref(),
        data.part.declared_type.as_deref(),
    );
    if let Some(reason) = inflate::take_cut() {
        data.part.mark_unscannable(reason);
    }
    for &label in &found.labels {
        if label == Label::Unscannable {
            let reason = found.notes.first().cloned().unwrap_or_default();
            data.part.mark_unscannable(reason);
        } else {
            data.part.add_label(label);
        }
    }
    data.part.detected_type = Some(found.detected_type);
    data
}

/// The root part, multipart bodies and nested messages are containers: their parts follow
/// and are classified one by one. A container's own content (the raw text of a forwarded
/// message, if the decomposition keeps it) is not analysed again, unless it is not text at
/// all (then it is no message, whatever its declared type says).
fn is_container(data: &PartData) -> bool {
    let declared_container = data
        .part
        .declared_type
        .as_deref()
        .is_some_and(|t| t.starts_with("multipart/") || t.starts_with("message/"));
    let root = data.part.path.0.is_empty();
    let textual = matches!(
        magic::sniff(&data.content),
        magic::Format::Empty | magic::Format::Text
    );
    (root || declared_container) && textual
}

//! [`detect`]: content first, then what the name adds where Windows goes by the name, then
//! whether the name and declared type contradict the content.

use std::panic::{catch_unwind, AssertUnwindSafe};

use quarantd_core::Label;

use crate::magic::{self, Format};
use crate::names::{self, Family};
use crate::{embedded, ole, ooxml, pdf, rtf, text, Detection};

/// Detects the type and risk labels of one part from its content.
///
/// `filename` and `declared_type` are what the message or archive claims. They add labels
/// only where the name is what Windows acts on (a plain-text `.js`, a DOS `.com`), and for
/// `double-extension`, `bidi-name` and `type-mismatch`. Total on any input: never panics,
/// bounded in time and memory by [`crate::limits`].
pub fn detect(content: &[u8], filename: Option<&str>, declared_type: Option<&str>) -> Detection {
    let format = magic::sniff(content);
    let mut found = analyse_content(content, format);
    if format == Format::Text && opened_as_spreadsheet(filename, declared_type) {
        text::csv_dde(content, &mut found);
    }
    type_mismatch(format, filename, declared_type, &mut found);
    if let Some(name) = filename {
        by_name(format, name, &mut found);
        name_tricks(name, &mut found);
    }
    found
}

/// Whether a text part would be opened by a spreadsheet: a CSV-like name or type.
fn opened_as_spreadsheet(filename: Option<&str>, declared: Option<&str>) -> bool {
    let by_name = filename
        .and_then(names::extension)
        .is_some_and(|ext| matches!(ext.as_str(), "csv" | "tsv" | "prn" | "dif"));
    let by_type = declared.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.contains("csv") || t.contains("comma-separated") || t.contains("ms-excel")
    });
    by_name || by_type
}

/// The content's own labels. A panic in an analyser (a bug, here or in a format crate) is
/// caught and makes the part `unscannable` rather than taking the message down.
fn analyse_content(content: &[u8], format: Format) -> Detection {
    let analysed = catch_unwind(AssertUnwindSafe(|| {
        let mut found = Detection::default();
        by_format(content, format, &mut found);
        found
    }));
    analysed.unwrap_or_else(|_| {
        let mut found = Detection {
            detected_type: "application/octet-stream".into(),
            ..Detection::default()
        };
        found.flag(Label::Unscannable, "content analysis failed (parser panic)");
        found
    })
}

fn by_format(content: &[u8], format: Format, found: &mut Detection) {
    match format {
        Format::Empty => found.detected_type = "application/x-empty".into(),
        Format::Native(native) => {
            found.detected_type = native.mime().into();
            found.flag(Label::Executable, native.note());
        }
        Format::Ole => ole::analyse(content, 0, found),
        Format::Zip => ooxml::analyse(content, 0, found),
        Format::Pdf => pdf::analyse(content, found),
        Format::Rtf => rtf::analyse(content, found),
        Format::ActiveMime => {
            found.detected_type = "application/x-mso".into();
            embedded::active_mime(content, found);
        }
        Format::Other(mime) => found.detected_type = mime.into(),
        Format::Text => text::analyse(content, found),
        Format::Unknown => found.detected_type = "application/octet-stream".into(),
    }
}

/// Whether the format leaves the name to decide (no other format was recognised).
fn name_decides(format: Format) -> bool {
    matches!(format, Format::Text | Format::Empty | Format::Unknown)
}

/// Scripts and source code by name when the content is plain text; DOS programs by name
/// when the content is not clearly another format.
fn by_name(format: Format, name: &str, found: &mut Detection) {
    if !name_decides(format) {
        return;
    }
    let Some(ext) = names::extension(name) else {
        return;
    };
    let ext = ext.as_str();
    if names::SCRIPT_EXTENSIONS.contains(&ext) {
        found.flag(
            Label::Script,
            format!("script by name (.{ext}), content is not another format"),
        );
        if let Some(mime) = script_mime(ext) {
            found.detected_type = mime.into();
        }
    } else if names::SOURCE_EXTENSIONS.contains(&ext) && format != Format::Unknown {
        found.flag(Label::SourceCode, format!("source code by name (.{ext})"));
    } else if matches!(ext, "com" | "pif") && format != Format::Empty {
        found.detected_type = "application/x-dosexec".into();
        found.flag(
            Label::Executable,
            format!("DOS program by name (.{ext}), content is not another format"),
        );
    } else if matches!(ext, "csv" | "tsv") && found.detected_type == "text/plain" {
        found.detected_type = "text/csv".into();
    } else if names::EXECUTABLE_EXTENSIONS.contains(&ext) {
        found.note(format!("named .{ext} but the content is not an executable"));
    }
}

fn script_mime(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "js" | "jse" => "application/javascript",
        "vbs" | "vbe" | "vb" => "text/vbscript",
        "bat" | "cmd" => "application/x-bat",
        "ps1" | "psm1" | "psd1" | "ps1xml" => "application/x-powershell",
        "hta" => "application/hta",
        "wsf" | "wsh" | "ws" => "text/x-wsf",
        "reg" => "text/x-ms-regedit",
        "sct" | "wsc" => "text/scriptlet",
        _ => return None,
    })
}

/// Double extensions and direction controls in the name.
fn name_tricks(name: &str, found: &mut Detection) {
    if let Some(double) = names::double_extension(name) {
        found.flag(Label::DoubleExtension, format!("double extension {double}"));
    }
    let controls = names::bidi_controls(name);
    if !controls.is_empty() {
        found.flag(
            Label::BidiName,
            format!("direction controls in name: {}", controls.join(", ")),
        );
    }
}

/// `type-mismatch` when the content is active (executable or script by content, macros,
/// DDE) and the name or declared type claims an incompatible family.
fn type_mismatch(
    format: Format,
    filename: Option<&str>,
    declared: Option<&str>,
    found: &mut Detection,
) {
    let active = [
        Label::Executable,
        Label::Script,
        Label::VbaMacro,
        Label::XlmMacro,
        Label::Dde,
    ];
    if !active.iter().any(|&l| found.has(l)) {
        return;
    }
    let Some(actual) = content_family(format, found) else {
        return;
    };
    let by_name = filename
        .and_then(names::extension)
        .and_then(|ext| names::family_of_extension(&ext).map(|f| (f, format!("named .{ext}"))));
    let by_type =
        declared.and_then(|t| names::family_of_mime(t).map(|f| (f, format!("declared {t}"))));
    for (claimed, how) in by_name.into_iter().chain(by_type) {
        if !compatible(claimed, actual) {
            let note = format!("{how} but the content is {}", found.detected_type);
            found.flag(Label::TypeMismatch, note);
        }
    }
}

/// The family of the content as detected.
fn content_family(format: Format, found: &Detection) -> Option<Family> {
    if found.has(Label::Executable) {
        return Some(Family::Executable);
    }
    if found.has(Label::Script) {
        return Some(Family::Script);
    }
    Some(match format {
        Format::Ole | Format::ActiveMime => Family::OfficeOle,
        Format::Zip => Family::ZipBased,
        Format::Rtf => Family::Rtf,
        Format::Pdf => Family::Pdf,
        Format::Text => Family::Text,
        Format::Other(mime) if mime.starts_with("image/") => Family::Image,
        Format::Other(mime) if mime.starts_with("audio/") || mime.starts_with("video/") => {
            Family::Media
        }
        Format::Other(_) => Family::Archive,
        Format::Native(_) => Family::Executable,
        Format::Empty | Format::Unknown => return None,
    })
}

/// Harmless differences: same family; a script by content under a text name (opened as
/// text); text declared as an Excel type (Windows declares `.csv` so).
fn compatible(claimed: Family, actual: Family) -> bool {
    claimed == actual
        || matches!(
            (claimed, actual),
            (Family::Text, Family::Script) | (Family::OfficeOle, Family::Text)
        )
}

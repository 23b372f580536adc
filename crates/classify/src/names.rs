//! What declared names and types claim: extensions, double extensions, direction controls,
//! and the family of formats a name or MIME type announces.

/// Extensions of scripts that Windows runs on a double-click.
pub(crate) const SCRIPT_EXTENSIONS: &[&str] = &[
    "js", "jse", "vbs", "vbe", "wsf", "wsh", "wsc", "hta", "bat", "cmd", "ps1", "psm1", "psd1",
    "ps1xml", "sct", "vb", "mshxml", "ws", "reg",
];

/// Extensions of source code that no mail client runs on a click.
pub(crate) const SOURCE_EXTENSIONS: &[&str] = &[
    "sh", "bash", "zsh", "ksh", "py", "pyw", "pl", "pm", "rb", "php",
];

/// Extensions of native programs and installers.
pub(crate) const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe", "dll", "scr", "com", "pif", "cpl", "msi", "msp", "mst", "sys", "drv", "ocx", "jar",
    "lnk", "elf", "so", "dylib", "apk", "msix", "appx", "chm", "class", "app",
];

/// Extensions that make a name look like a document (the first half of a double extension).
const DOCUMENT_EXTENSIONS: &[&str] = &[
    "pdf", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "xlsb", "ppt", "pptx", "pptm", "rtf",
    "odt", "ods", "odp", "txt", "csv", "xml", "htm", "html", "jpg", "jpeg", "png", "gif", "bmp",
    "tif", "tiff", "mp3", "mp4", "avi", "mov", "wav", "zip", "rar", "7z", "eml", "msg", "ics",
    "vcf",
];

/// Unicode direction controls that reorder how a name is displayed.
const BIDI_CONTROLS: &[char] = &[
    '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// The last component of a path-like name (archive members carry their folders).
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// The name as Windows sees it: base name, trailing dots and spaces stripped, lower case.
fn normalised(name: &str) -> String {
    base_name(name).trim_end_matches(['.', ' ']).to_lowercase()
}

/// The extensions of a name, last first, each trimmed of spaces (`a.pdf   .exe`).
fn extensions(name: &str) -> Vec<String> {
    let name = normalised(name);
    let mut parts: Vec<String> = name
        .split('.')
        .skip(1)
        .map(|e| e.trim().to_string())
        .collect();
    parts.reverse();
    parts
}

/// The last extension of a name, lower case, if it has one.
pub(crate) fn extension(name: &str) -> Option<String> {
    extensions(name)
        .into_iter()
        .next()
        .filter(|e| !e.is_empty())
}

/// `invoice.pdf.exe`: a document-like extension followed by an executable or script one.
pub(crate) fn double_extension(name: &str) -> Option<String> {
    let exts = extensions(name);
    let (last, previous) = (exts.first()?, exts.get(1)?);
    let runs = EXECUTABLE_EXTENSIONS.contains(&last.as_str())
        || SCRIPT_EXTENSIONS.contains(&last.as_str());
    (runs && DOCUMENT_EXTENSIONS.contains(&previous.as_str()))
        .then(|| format!(".{previous}.{last}"))
}

/// The direction controls in a name, as `U+XXXX` codes.
pub(crate) fn bidi_controls(name: &str) -> Vec<String> {
    let mut found: Vec<String> = name
        .chars()
        .filter(|c| BIDI_CONTROLS.contains(c))
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect();
    found.dedup();
    found
}

/// Families of formats, for telling whether a claim and the content disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Native programs and installers.
    Executable,
    /// Scripts Windows runs.
    Script,
    /// Office 97-2003 (OLE) documents.
    OfficeOle,
    /// OOXML, ODF and other zip-based documents and plain zips.
    ZipBased,
    /// RTF.
    Rtf,
    /// PDF.
    Pdf,
    /// Images.
    Image,
    /// Audio and video.
    Media,
    /// Archives and compressed files other than zip.
    Archive,
    /// Text of every kind (plain, CSV, HTML, XML, source code).
    Text,
}

/// The family an extension announces, if it is a known one.
pub(crate) fn family_of_extension(ext: &str) -> Option<Family> {
    use Family::*;
    if EXECUTABLE_EXTENSIONS.contains(&ext) {
        return Some(Executable);
    }
    if SCRIPT_EXTENSIONS.contains(&ext) {
        return Some(Script);
    }
    let family = match ext {
        "doc" | "dot" | "xls" | "xlt" | "xla" | "ppt" | "pps" | "pot" | "vsd" | "msg" | "pub" => {
            OfficeOle
        }
        "docx" | "docm" | "dotx" | "dotm" | "xlsx" | "xlsm" | "xlsb" | "xltx" | "xltm" | "xlam"
        | "pptx" | "pptm" | "ppsx" | "ppsm" | "potx" | "vsdx" | "vsdm" | "odt" | "ods" | "odp"
        | "odg" | "xps" | "oxps" | "zip" | "epub" => ZipBased,
        "rtf" => Rtf,
        "pdf" => Pdf,
        "jpg" | "jpeg" | "png" | "gif" | "bmp" | "tif" | "tiff" | "webp" | "ico" | "heic" => Image,
        "mp3" | "mp4" | "m4a" | "wav" | "avi" | "mov" | "mkv" | "ogg" | "flac" | "wmv" => Media,
        "rar" | "7z" | "gz" | "tgz" | "bz2" | "xz" | "zst" | "tar" | "cab" | "iso" | "arj" => {
            Archive
        }
        "txt" | "csv" | "tsv" | "log" | "md" | "htm" | "html" | "xml" | "json" | "ics" | "vcf"
        | "eml" | "svg" | "slk" => Text,
        _ => return None,
    };
    Some(family)
}

/// The family a declared MIME type announces; `None` for generic types
/// (`application/octet-stream` and the like) that claim nothing.
pub(crate) fn family_of_mime(mime: &str) -> Option<Family> {
    use Family::*;
    let mime = mime.trim().to_ascii_lowercase();
    let family = match mime.as_str() {
        "application/pdf" => Pdf,
        "application/rtf" | "text/rtf" => Rtf,
        "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.visio" => OfficeOle,
        "application/zip" | "application/x-zip-compressed" => ZipBased,
        "application/x-msdownload"
        | "application/x-dosexec"
        | "application/x-executable"
        | "application/vnd.microsoft.portable-executable"
        | "application/x-msi"
        | "application/java-archive" => Executable,
        "application/javascript"
        | "text/javascript"
        | "application/x-javascript"
        | "text/vbscript"
        | "application/hta"
        | "application/x-bat" => Script,
        "application/vnd.rar"
        | "application/x-rar-compressed"
        | "application/x-rar"
        | "application/x-7z-compressed"
        | "application/gzip"
        | "application/x-gzip"
        | "application/x-tar"
        | "application/x-bzip2"
        | "application/x-xz" => Archive,
        m if m.starts_with("image/") => Image,
        m if m.starts_with("audio/") || m.starts_with("video/") => Media,
        m if m.starts_with("text/") => Text,
        m if m.starts_with("application/vnd.openxmlformats-officedocument.")
            || m.starts_with("application/vnd.oasis.opendocument.")
            || m.starts_with("application/vnd.ms-word.")
            || m.starts_with("application/vnd.ms-excel.")
            || m.starts_with("application/vnd.ms-powerpoint.") =>
        {
            ZipBased
        }
        _ => return None,
    };
    Some(family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_extensions() {
        let cases = [
            ("invoice.pdf.exe", Some(".pdf.exe")),
            ("INVOICE.PDF.EXE", Some(".pdf.exe")),
            ("scan_2024.pdf.js", Some(".pdf.js")),
            ("dir/report.doc   .scr", Some(".doc.scr")),
            ("report.pdf.exe. ", Some(".pdf.exe")),
            ("archive.tar.gz", None),
            ("hello.exe", None),
            ("v1.2.exe", None),
            ("notes.txt", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(double_extension(name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn bidi() {
        assert_eq!(bidi_controls("invoice\u{202e}fdp.exe"), vec!["U+202E"]);
        assert_eq!(
            bidi_controls("a\u{2066}b\u{2069}"),
            vec!["U+2066", "U+2069"]
        );
        assert!(bidi_controls("Grüße.pdf").is_empty());
    }

    #[test]
    fn families() {
        assert_eq!(family_of_extension("pdf"), Some(Family::Pdf));
        assert_eq!(family_of_mime("application/octet-stream"), None);
        assert_eq!(family_of_mime("image/jpeg"), Some(Family::Image));
        assert_eq!(extension("a/b/NAME.Exe. "), Some("exe".into()));
        assert_eq!(extension("noext"), None);
    }
}

//! Parts of a message: MIME parts, archive members and embedded objects, with their labels.

use std::fmt;

/// Where a part sits in a message, e.g. `2/invoice.zip/docs/a.exe`.
///
/// MIME parts are numbered from 1 like IMAP body sections (`1`, `2`, `2.1`); members of
/// archives and embedded objects follow as `/`-separated names below their container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PartPath(pub String);

impl PartPath {
    /// The whole message, the root of every tree.
    pub fn root() -> Self {
        PartPath(String::new())
    }

    /// A MIME child: `1`, `1.2`, ...
    pub fn mime_child(&self, index: usize) -> Self {
        if self.0.is_empty() {
            PartPath(index.to_string())
        } else {
            PartPath(format!("{}.{}", self.0, index))
        }
    }

    /// True when this part sits somewhere below `ancestor` in the tree (the root is above
    /// everything else).
    pub fn is_below(&self, ancestor: &PartPath) -> bool {
        ancestor.0.is_empty() && !self.0.is_empty()
            || self
                .0
                .strip_prefix(&ancestor.0)
                .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('.'))
    }

    /// Depth of every part of a tree listed parents-first: 0 for the root.
    pub fn depths<'a>(paths: impl IntoIterator<Item = &'a PartPath>) -> Vec<usize> {
        let mut ancestors: Vec<&PartPath> = Vec::new();
        let mut depths = Vec::new();
        for path in paths {
            while ancestors.last().is_some_and(|a| !path.is_below(a)) {
                ancestors.pop();
            }
            depths.push(ancestors.len());
            ancestors.push(path);
        }
        depths
    }

    /// A member of the container at this path: `2/invoice.zip/docs/a.exe`.
    pub fn member(&self, name: &str) -> Self {
        PartPath(format!("{}/{}", self.0, name))
    }
}

#[cfg(test)]
mod tests {
    use super::PartPath;

    #[test]
    fn depths_follow_the_tree() {
        let paths: Vec<PartPath> = [
            "",
            "1",
            "2",
            "2/a.zip",
            "2/a.zip/b.txt",
            "2/a.zip/c.7z",
            "2/a.zip/c.7z/d.exe",
            "3",
            "3.1",
        ]
        .iter()
        .map(|p| PartPath(p.to_string()))
        .collect();
        assert_eq!(PartPath::depths(&paths), [0, 1, 1, 2, 3, 3, 4, 1, 2]);
        assert!(!PartPath("20".into()).is_below(&PartPath("2".into())));
    }
}

impl fmt::Display for PartPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(message)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// A risk label on a part. The README documents what each one means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    /// Native code or a package that installs it (PE, ELF, Mach-O, MSI, JAR, .lnk, ...).
    Executable,
    /// A script that Windows runs on a double-click (JS, VBS, HTA, BAT, PS1, ...).
    Script,
    /// Source code (Python, shell, ...): labelled, passed by default.
    SourceCode,
    /// A document carrying VBA macros.
    VbaMacro,
    /// A spreadsheet carrying Excel 4 (XLM) macros.
    XlmMacro,
    /// A document with DDE fields.
    Dde,
    /// An embedded OLE object.
    OleObject,
    /// Password-protected content that cannot be scanned.
    Encrypted,
    /// The declared name or type contradicts the content.
    TypeMismatch,
    /// A file name with a double extension (`invoice.pdf.exe`).
    DoubleExtension,
    /// A file name with Unicode direction overrides.
    BidiName,
    /// The part could not be looked into (limit, corruption); never passed as clean.
    Unscannable,
    /// An archive member whose name would be extracted outside the target directory
    /// (`../`, an absolute path): an attack on unpacking tools ("zip slip").
    PathTraversal,
}

impl Label {
    /// The label as written in headers, logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Executable => "executable",
            Label::Script => "script",
            Label::SourceCode => "source-code",
            Label::VbaMacro => "vba-macro",
            Label::XlmMacro => "xlm-macro",
            Label::Dde => "dde",
            Label::OleObject => "ole-object",
            Label::Encrypted => "encrypted",
            Label::TypeMismatch => "type-mismatch",
            Label::DoubleExtension => "double-extension",
            Label::BidiName => "bidi-name",
            Label::Unscannable => "unscannable",
            Label::PathTraversal => "path-traversal",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about one part, without its content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Part {
    /// Where the part sits.
    pub path: PartPath,
    /// The declared file name (decoded from RFC 2047/2231), if any.
    pub filename: Option<String>,
    /// The declared `Content-Type` (`type/subtype`, lower case), if any.
    pub declared_type: Option<String>,
    /// The type found from the content; filled by classification.
    pub detected_type: Option<String>,
    /// Size of the decoded content in bytes.
    pub size: u64,
    /// SHA-256 of the decoded content, lower-case hex.
    pub sha256: String,
    /// Risk labels, sorted, without duplicates.
    pub labels: Vec<Label>,
    /// Why the part is `unscannable`, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unscannable_reason: Option<String>,
}

impl Part {
    /// A part at `path` of `size` bytes with content hash `sha256`: no declared name or type,
    /// no detected type, no labels yet.
    pub fn new(path: PartPath, size: u64, sha256: impl Into<String>) -> Part {
        Part {
            path,
            filename: None,
            declared_type: None,
            detected_type: None,
            size,
            sha256: sha256.into(),
            labels: Vec::new(),
            unscannable_reason: None,
        }
    }

    /// Adds a label once, keeping the list sorted.
    pub fn add_label(&mut self, label: Label) {
        if let Err(at) = self.labels.binary_search(&label) {
            self.labels.insert(at, label);
        }
    }

    /// Labels the part `unscannable` with a reason.
    pub fn mark_unscannable(&mut self, reason: impl Into<String>) {
        self.add_label(Label::Unscannable);
        self.unscannable_reason.get_or_insert_with(|| reason.into());
    }
}

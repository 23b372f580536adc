//! The walker: holds the part list and the account, and opens containers found by content.

use std::io::Read;
use std::panic::{self, AssertUnwindSafe};

use quarantd_cap::{Cap, Unpacked};
use quarantd_core::{Label, Part, PartData, PartPath};

use crate::detect;
use crate::formats::{self, Container, Failure, Member, Sink};
use crate::limits::{Account, Limits};
use quarantd_core::sha256_hex;

pub(crate) struct Walker<'l> {
    pub account: Account<'l>,
    pub parts: Vec<PartData>,
}

impl<'l> Walker<'l> {
    pub fn new(limits: &'l Limits) -> Self {
        Walker {
            account: Account::new(limits),
            parts: Vec::new(),
        }
    }

    pub fn limits(&self) -> &'l Limits {
        self.account.limits
    }

    /// Records a part unless the part limit is reached; then marks `parent` instead.
    pub fn push(&mut self, parent: usize, data: PartData) -> Option<usize> {
        if self.parts.len() >= self.limits().max_parts {
            let reason = format!("more than {} parts", self.limits().max_parts);
            self.mark(parent, reason);
            return None;
        }
        self.parts.push(data);
        Some(self.parts.len() - 1)
    }

    pub fn mark(&mut self, at: usize, reason: impl Into<String>) {
        if let Some(p) = self.parts.get_mut(at) {
            p.part.mark_unscannable(reason);
        }
    }

    /// Opens the part at `at` if its content is a container, adding its members below
    /// `base`. `depth` is the part's own depth.
    pub fn open(&mut self, at: usize, base: PartPath, depth: usize) {
        let detected = detect::container(&self.parts[at].content);
        let appended = detect::appended_zip(&self.parts[at].content, detected);
        let Some(kind) = detected else {
            return;
        };
        self.open_as(at, base.clone(), depth, kind);
        if appended {
            self.open_as(at, base, depth, detect::Kind::Zip);
        }
    }

    /// Opens the part at `at` as a container of `kind`.
    fn open_as(&mut self, at: usize, base: PartPath, depth: usize, kind: detect::Kind) {
        if self.parts[at].part.labels.contains(&Label::Unscannable) {
            return;
        }
        if depth >= self.limits().max_depth {
            let reason = format!("nested deeper than {} levels", self.limits().max_depth);
            self.mark(at, reason);
            return;
        }
        let content = std::mem::take(&mut self.parts[at].content);
        let cx = Container {
            at,
            base,
            depth: depth + 1,
            kind: kind.name(),
        };
        let opened = panic::catch_unwind(AssertUnwindSafe(|| {
            formats::open(self, &cx, kind, &content)
        }));
        let result = opened.unwrap_or_else(|_| {
            Err(Failure::Corrupt(format!(
                "{} decoder failed unexpectedly",
                kind.name()
            )))
        });
        self.parts[at].content = content;
        self.fail(&cx, result);
    }

    pub(crate) fn fail(&mut self, cx: &Container, result: Result<(), Failure>) {
        match result {
            Ok(()) | Err(Failure::Stopped) => {}
            Err(Failure::Corrupt(reason)) => self.mark(cx.at, reason),
            Err(Failure::Encrypted(reason)) => {
                self.parts[cx.at].part.add_label(Label::Encrypted);
                self.mark(cx.at, reason);
            }
        }
    }
}

impl Sink for Walker<'_> {
    /// The cap for unpacking a member of `packed` bytes.
    fn cap(&self, packed: u64) -> Cap {
        self.account.cap(packed)
    }

    /// Unpacks a decoder through the one capped reader and charges the account.
    fn unpack(&mut self, reader: impl Read, packed: u64, size_hint: u64) -> Unpacked {
        let out = quarantd_cap::unpack(reader, &self.cap(packed), size_hint);
        self.account.charge(out.bytes.len() as u64);
        out
    }

    /// Charges bytes unpacked by a decoder outside [`Sink::unpack`].
    fn charge(&mut self, out: Unpacked) -> Unpacked {
        self.account.charge(out.bytes.len() as u64);
        out
    }

    /// One step of a parser loop over the structure of `cx` that does not yield a member
    /// every time (objects scanned, directory entries skipped): `Err(Stopped)`, with `cx`
    /// marked, once the message's time is up.
    fn step(&mut self, cx: &Container) -> Result<(), Failure> {
        match self.account.step() {
            Some(reason) => {
                self.mark(cx.at, reason);
                Err(Failure::Stopped)
            }
            None => Ok(()),
        }
    }

    /// Records a member of `cx` and opens it in turn. `Err(Stopped)` when a limit says
    /// the container's walk must end.
    fn member(&mut self, cx: &Container, member: Member) -> Result<(), Failure> {
        if let Some(reason) = self.account.out_of_time() {
            self.mark(cx.at, reason);
            return Err(Failure::Stopped);
        }
        let name = clean_name(&member.name);
        let traversal = escapes_extraction_dir(&member.name);
        let path = join(&cx.base, &name);
        let mut data = new_part(path.clone(), Some(member.name), None, member.content.bytes);
        if member.encrypted {
            data.part.add_label(Label::Encrypted);
        }
        if traversal {
            data.part.add_label(Label::PathTraversal);
        }
        if let Some(capped) = member.content.capped {
            data.part.mark_unscannable(capped);
        } else if let Some(error) = member.content.error {
            data.part
                .mark_unscannable(format!("corrupt {} member: {error}", cx.kind));
        }
        let Some(at) = self.push(cx.at, data) else {
            return Err(Failure::Stopped);
        };
        self.open(at, path, cx.depth);
        Ok(())
    }

    fn mark(&mut self, at: usize, reason: String) {
        Walker::mark(self, at, reason);
    }
}

/// The path of member `name` below `base` (no leading `/` below the root).
pub(crate) fn join(base: &PartPath, name: &str) -> PartPath {
    if base.0.is_empty() {
        PartPath(name.to_string())
    } else {
        base.member(name)
    }
}

/// A member name made fit for a part path: separators normalised, no empty segments,
/// control characters replaced. The original name stays in `filename`.
/// True when an archive member's name would be written outside the directory it is
/// extracted into ("zip slip"): a `..` segment, or an absolute or drive-letter path.
pub(crate) fn escapes_extraction_dir(name: &str) -> bool {
    let name = name.replace('\\', "/");
    let absolute = name.starts_with('/') || name.as_bytes().get(1) == Some(&b':');
    absolute || name.split('/').any(|segment| segment == "..")
}

pub(crate) fn clean_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| match c {
            '\\' => '/',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let segments: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        "_".to_string()
    } else {
        segments.join("/")
    }
}

/// A new part with `content`, its size and hash.
pub(crate) fn new_part(
    path: PartPath,
    filename: Option<String>,
    declared_type: Option<String>,
    content: Vec<u8>,
) -> PartData {
    PartData {
        part: Part {
            path,
            filename,
            declared_type,
            detected_type: None,
            size: content.len() as u64,
            sha256: sha256_hex(&content),
            labels: Vec::new(),
            unscannable_reason: None,
        },
        content,
    }
}

#[cfg(test)]
mod traversal_tests {
    #[test]
    fn member_names_that_escape_the_extraction_dir() {
        for name in [
            "../evil.sh",
            "a/../../b",
            "/etc/passwd",
            "C:\\Windows\\x.exe",
            "..\\x",
        ] {
            assert!(super::escapes_extraction_dir(name), "{name}");
        }
        for name in ["a/b.txt", "..hidden", "dir/..x/y", "x.."] {
            assert!(!super::escapes_extraction_dir(name), "{name}");
        }
    }
}

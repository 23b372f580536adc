//! Container formats. Each module opens one format from bytes in memory and hands every
//! member to [`Sink::member`] (the walker); none touches the file system.

mod arj;
mod cab;
mod fat;
mod iso;
mod ole;
mod pdf;
mod rar;
mod rtf;
mod sevenz;
mod stream;
mod tar;
mod tnef;
mod zip;

use std::io::Read;

use quarantd_cap::{Cap, Unpacked};
use quarantd_core::PartPath;

use crate::detect::Kind;

/// What a format reader hands its findings to, and asks its budget of (ripgrep's `Sink`
/// pattern): the walker implements it; the formats know nothing else of the walk, so the
/// module graph goes one way, `walk` → `formats`.
pub(crate) trait Sink {
    /// Records a member of `cx` and opens it in turn; `Err(Stopped)` when a limit says the
    /// container's walk must end.
    fn member(&mut self, cx: &Container, member: Member) -> Result<(), Failure>;
    /// Unpacks a decoder through the one capped reader and charges the account.
    fn unpack(&mut self, reader: impl Read, packed: u64, size_hint: u64) -> Unpacked;
    /// Charges bytes unpacked by a decoder outside [`Sink::unpack`].
    fn charge(&mut self, out: Unpacked) -> Unpacked;
    /// The cap for unpacking a member of `packed` bytes.
    fn cap(&self, packed: u64) -> Cap;
    /// One step of a loop over the structure of `cx` that does not yield a member every
    /// time: `Err(Stopped)`, with `cx` marked, once the message's time is up.
    fn step(&mut self, cx: &Container) -> Result<(), Failure>;
    /// Labels the part at `at` `unscannable` with `reason`.
    fn mark(&mut self, at: usize, reason: String);
}

/// Why a container could not be opened completely.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The container is damaged: `"corrupt zip: ..."`.
    Corrupt(String),
    /// The container's directory itself is encrypted (no names are readable).
    Encrypted(String),
    /// A limit stopped the walk; the reason is already recorded.
    Stopped,
}

impl Failure {
    pub fn corrupt(kind: &str, error: impl std::fmt::Display) -> Self {
        Failure::Corrupt(format!("corrupt {kind}: {error}"))
    }
}

/// A member found in a container, before it becomes a part.
#[derive(Debug, Default)]
pub(crate) struct Member {
    /// The name as the container stores it (never used as a file system path).
    pub name: String,
    /// The unpacked content, or as much of it as was unpacked.
    pub content: Unpacked,
    /// The member is encrypted: its content is not available.
    pub encrypted: bool,
}

impl Member {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Member {
            name: name.into(),
            content: Unpacked {
                bytes,
                ..Unpacked::default()
            },
            encrypted: false,
        }
    }

    pub fn unpacked(name: impl Into<String>, content: Unpacked) -> Self {
        Member {
            name: name.into(),
            content,
            encrypted: false,
        }
    }

    pub fn encrypted(name: impl Into<String>) -> Self {
        Member {
            name: name.into(),
            encrypted: true,
            ..Member::default()
        }
    }
}

/// Where the members of the container being opened go.
#[derive(Debug, Clone)]
pub(crate) struct Container {
    /// Index of the container's part.
    pub at: usize,
    /// Path its members are named below.
    pub base: PartPath,
    /// Nesting depth of its members.
    pub depth: usize,
    /// A short name of the format, for reasons (`"zip"`).
    pub kind: &'static str,
}

/// Opens `data`, known to be of `kind`, as the container `cx`.
pub(crate) fn open(
    w: &mut impl Sink,
    cx: &Container,
    kind: Kind,
    data: &[u8],
) -> Result<(), Failure> {
    match kind {
        Kind::Zip => zip::open(w, cx, data),
        Kind::SevenZ => sevenz::open(w, cx, data),
        Kind::Rar => rar::open(w, cx, data),
        Kind::Gzip | Kind::Bzip2 | Kind::Xz | Kind::Zstd => stream::open(w, cx, kind, data),
        Kind::Tar => tar::open(w, cx, data),
        Kind::Cab => cab::open(w, cx, data),
        Kind::Iso9660 => iso::open(w, cx, data),
        Kind::Cfb => ole::open(w, cx, data),
        Kind::Rtf => rtf::open(w, cx, data),
        Kind::Tnef => tnef::open(w, cx, data),
        Kind::Fat => fat::open(w, cx, data),
        Kind::Arj => arj::open(w, cx, data),
        Kind::Pdf => pdf::open(w, cx, data),
    }
}

pub(crate) use crate::bytes::{cstr, latin1, le16, le32};

//! RAR archives (1.3 to 5/7) with `rars` (pure Rust), from memory, without threads.
//!
//! Members go into [`CappedSink`]s; encrypted members are listed and labelled, and an
//! archive whose headers are encrypted is labelled `encrypted` itself.

use quarantd_cap::CappedSink;
use rars::{ArchiveMember, ArchiveReadOptions, ArchiveReader, ErrorKind, ExtractionDecision};

use crate::formats::{Container, Failure, Member, Sink};

/// Largest RAR 5 dictionary accepted.
const MAX_DICTIONARY: u64 = 256 * 1024 * 1024;
/// Most headers read from one archive.
const MAX_HEADERS: u64 = 100_000;

/// A member seen during extraction: its name and where its bytes went.
struct Seen {
    name: String,
    sink: Option<CappedSink>,
}

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let options = ArchiveReadOptions::new().with_max_header_count(MAX_HEADERS);
    let archive = ArchiveReader::read_with_options(data, options).map_err(header_failure)?;
    let mut seen: Vec<Seen> = Vec::new();
    let options = ArchiveReadOptions::new().with_rar50_dictionary_size_limit(MAX_DICTIONARY);
    let packed = data.len() as u64;
    let result =
        archive.extract_with_control(options, |member| Ok(decide(w, member, packed, &mut seen)));
    let error = result.err().map(|e| e.to_string());
    let last = seen.len();
    for (i, found) in seen.into_iter().enumerate() {
        let member = match found.sink {
            None => Member::encrypted(found.name),
            Some(sink) => {
                let err = if i + 1 == last { error.clone() } else { None };
                Member::unpacked(found.name, w.charge(sink.finish(err)))
            }
        };
        w.member(cx, member)?;
    }
    match error {
        Some(e) if last == 0 => Err(Failure::corrupt("rar", e)),
        _ => Ok(()),
    }
}

fn decide(
    w: &impl Sink,
    member: &ArchiveMember,
    packed: u64,
    seen: &mut Vec<Seen>,
) -> ExtractionDecision {
    let meta = &member.meta;
    if meta.is_directory || meta.is_redirection {
        return ExtractionDecision::Skip;
    }
    let name = meta.name_lossy();
    if meta.is_encrypted {
        seen.push(Seen { name, sink: None });
        return if member.is_solid() {
            ExtractionDecision::Stop
        } else {
            ExtractionDecision::Skip
        };
    }
    let used: u64 = seen
        .iter()
        .filter_map(|s| s.sink.as_ref())
        .map(CappedSink::written)
        .sum();
    let mut cap = w.cap(packed);
    cap.bytes = cap.bytes.saturating_sub(used);
    let sink = CappedSink::new(cap);
    seen.push(Seen {
        name,
        sink: Some(sink.clone()),
    });
    ExtractionDecision::Extract(Box::new(sink))
}

fn header_failure(error: rars::Error) -> Failure {
    match error.kind() {
        ErrorKind::PasswordRequired | ErrorKind::BadPassword => {
            Failure::Encrypted("rar archive headers are encrypted".into())
        }
        // Without the `encryption` feature, encrypted headers are refused as unsupported.
        ErrorKind::UnsupportedFeature if error.to_string().contains("encryption") => {
            Failure::Encrypted("rar archive headers are encrypted".into())
        }
        _ => Failure::corrupt("rar", error),
    }
}

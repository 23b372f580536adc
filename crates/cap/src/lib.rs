//! The one capped decompressor: every byte quarantd decompresses — from an archive member, a
//! compressed stream or an embedded object (`quarantd-mime`, `quarantd-classify`), or a
//! message stored in the quarantine (`quarantd-store`) — passes through here.
//!
//! A [`Cap`] is a byte budget, the reason recorded when it is reached, and a deadline.
//! `CappedReader` stops at the budget and remembers whether more was there; [`unpack`] reads
//! a decoder through it into memory, growing its buffer as bytes arrive (a declared size only
//! sizes the first allocation). Push-style decoders (RAR) write into a [`CappedSink`]
//! instead, which refuses bytes past the same kind of budget. The stream decoders are
//! constructed only in this crate: the workspace `clippy.toml` disallows their constructors
//! everywhere else.
//!
//! A leaf: no quarantd crate, no I/O, no runtime; pure computation over bytes in memory.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Instant;

/// What bounds one unpacking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    /// Most bytes it may unpack to.
    pub bytes: u64,
    /// What is recorded (e.g. as a part's `unscannable_reason`) when the cap is hit.
    pub reason: String,
    /// When time is up: a decoder still running then is stopped.
    pub deadline: Option<Instant>,
}

impl Cap {
    /// At most `bytes`, no deadline; `reason` is recorded when the cap is hit.
    pub fn bytes(bytes: u64, reason: impl Into<String>) -> Self {
        Cap {
            bytes,
            reason: reason.into(),
            deadline: None,
        }
    }

    /// The reason recorded when the deadline stopped an unpacking.
    pub fn time_reason(&self) -> String {
        "time limit per message reached while unpacking".to_string()
    }
}

/// Initial buffer reserved for an unpacking; the buffer grows as bytes arrive.
const INITIAL_RESERVE: u64 = 64 * 1024;

/// A `Read` adapter that returns end-of-stream at `remaining` bytes and records whether
/// the inner reader had more.
struct CappedReader<R> {
    inner: R,
    remaining: u64,
    hit: bool,
    deadline: Option<Instant>,
    timed_out: bool,
}

impl<R: Read> CappedReader<R> {
    fn new(inner: R, cap: u64) -> Self {
        CappedReader {
            inner,
            remaining: cap,
            hit: false,
            deadline: None,
            timed_out: false,
        }
    }

    /// Stops the reading with an error once `deadline` has passed.
    fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Whether the cap stopped the reading.
    fn hit(&self) -> bool {
        self.hit
    }

    /// Whether the deadline stopped the reading.
    fn timed_out(&self) -> bool {
        self.timed_out
    }
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.timed_out = true;
            return Err(io::Error::other("time limit reached"));
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.hit = true;
            }
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The outcome of one capped unpacking.
#[derive(Debug, Default)]
pub struct Unpacked {
    /// The bytes read (all of them, or those up to the cap or the error).
    pub bytes: Vec<u8>,
    /// The cap's reason, when the cap was hit.
    pub capped: Option<String>,
    /// The decoder's error, when it failed.
    pub error: Option<String>,
}

impl Unpacked {
    /// Nothing unpacked because of `error`.
    pub fn error(error: impl std::fmt::Display) -> Self {
        Unpacked {
            error: Some(error.to_string()),
            ..Unpacked::default()
        }
    }

    /// Why the content is incomplete, if it is.
    pub fn problem(&self) -> Option<&str> {
        self.capped.as_deref().or(self.error.as_deref())
    }
}

/// Reads `reader` to its end or to the cap, whichever comes first. `size_hint` (a declared
/// size, untrusted) only sizes the first allocation.
pub fn unpack(reader: impl Read, cap: &Cap, size_hint: u64) -> Unpacked {
    let mut capped = CappedReader::new(reader, cap.bytes).with_deadline(cap.deadline);
    let reserve = size_hint.min(cap.bytes).min(INITIAL_RESERVE);
    let mut bytes = Vec::with_capacity(reserve as usize);
    let error = capped.read_to_end(&mut bytes).err().map(|e| e.to_string());
    if capped.timed_out() {
        return Unpacked {
            capped: Some(cap.time_reason()),
            bytes,
            error: None,
        };
    }
    Unpacked {
        capped: capped.hit().then(|| cap.reason.clone()),
        bytes,
        error,
    }
}

/// Gunzips `data` (all members of a multi-member gzip).
#[allow(clippy::disallowed_methods)]
pub fn gunzip(data: &[u8], cap: &Cap) -> Unpacked {
    unpack(flate2::read::MultiGzDecoder::new(data), cap, 0)
}

/// Inflates a zlib stream.
#[allow(clippy::disallowed_methods)]
pub fn zlib(data: &[u8], cap: &Cap, size_hint: u64) -> Unpacked {
    unpack(flate2::read::ZlibDecoder::new(data), cap, size_hint)
}

/// Inflates a raw deflate stream (no zlib or gzip framing).
#[allow(clippy::disallowed_methods)]
pub fn inflate(data: &[u8], cap: &Cap, size_hint: u64) -> Unpacked {
    unpack(flate2::read::DeflateDecoder::new(data), cap, size_hint)
}

/// Decompresses bzip2 (all streams).
#[allow(clippy::disallowed_methods)]
pub fn bunzip2(data: &[u8], cap: &Cap) -> Unpacked {
    unpack(bzip2::read::MultiBzDecoder::new(data), cap, 0)
}

/// Most decoder memory (dictionary) accepted for `.xz` and zstd streams, in KiB.
const MAX_DECODER_MEMORY_KB: u32 = 128 * 1024;

/// Decompresses xz.
#[allow(clippy::disallowed_methods)]
pub fn unxz(data: &[u8], cap: &Cap) -> Unpacked {
    let reader = lzma_rust2::XzReader::new_mem_limit(data, true, MAX_DECODER_MEMORY_KB);
    unpack(reader, cap, 0)
}

/// Decompresses a zstd frame sequence.
#[allow(clippy::disallowed_methods)]
pub fn unzstd(data: &[u8], cap: &Cap, size_hint: u64) -> Unpacked {
    let window = u64::from(MAX_DECODER_MEMORY_KB) * 1024;
    match ruzstd::decoding::StreamingDecoder::new_with_max_window_size(data, window) {
        Ok(decoder) => unpack(decoder, cap, size_hint),
        Err(e) => Unpacked {
            error: Some(e.to_string()),
            ..Unpacked::default()
        },
    }
}

/// A `Write` target for push-style decoders: keeps bytes up to the cap, then refuses more
/// with an error the decoder passes up. Cloning shares the buffer.
#[derive(Clone)]
pub struct CappedSink {
    state: Rc<RefCell<SinkState>>,
}

struct SinkState {
    bytes: Vec<u8>,
    cap: Cap,
    hit: bool,
    timed_out: bool,
}

impl CappedSink {
    /// An empty sink that keeps at most `cap.bytes` bytes.
    pub fn new(cap: Cap) -> Self {
        CappedSink {
            state: Rc::new(RefCell::new(SinkState {
                bytes: Vec::new(),
                cap,
                hit: false,
                timed_out: false,
            })),
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.state.borrow().bytes.len() as u64
    }

    /// Takes what was written so far, with the cap's reason when it was hit; `error` is
    /// the decoder's error, if any.
    pub fn finish(&self, error: Option<String>) -> Unpacked {
        let mut state = self.state.borrow_mut();
        let bytes = std::mem::take(&mut state.bytes);
        let capped = if state.timed_out {
            Some(state.cap.time_reason())
        } else {
            state.hit.then(|| state.cap.reason.clone())
        };
        Unpacked {
            error: if capped.is_some() { None } else { error },
            bytes,
            capped,
        }
    }
}

impl Write for CappedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.state.borrow_mut();
        if state.cap.deadline.is_some_and(|d| Instant::now() >= d) {
            state.timed_out = true;
            return Err(io::Error::other("time limit reached"));
        }
        let room = state.cap.bytes.saturating_sub(state.bytes.len() as u64);
        if buf.len() as u64 > room {
            state.hit = true;
            return Err(io::Error::other("unpack cap reached"));
        }
        state.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(bytes: u64) -> Cap {
        Cap::bytes(bytes, "cap")
    }

    #[test]
    fn reader_stops_at_cap_and_reports_it() {
        let data = [7u8; 100];
        let out = unpack(&data[..], &cap(10), 0);
        assert_eq!(out.bytes.len(), 10);
        assert_eq!(out.capped.as_deref(), Some("cap"));
        let out = unpack(&data[..], &cap(100), 0);
        assert_eq!(out.bytes.len(), 100);
        assert!(out.capped.is_none());
    }

    #[test]
    fn a_passed_deadline_stops_the_decoder() {
        let data = [7u8; 100];
        let passed = Cap {
            deadline: Some(Instant::now()),
            ..cap(1000)
        };
        let out = unpack(&data[..], &passed, 0);
        assert!(out.bytes.is_empty());
        assert_eq!(out.capped, Some(passed.time_reason()));
        let mut sink = CappedSink::new(passed.clone());
        assert!(sink.write(b"abc").is_err());
        assert_eq!(sink.finish(None).capped, Some(passed.time_reason()));
    }

    #[test]
    fn inflate_reads_raw_deflate_up_to_the_cap() {
        use flate2::write::DeflateEncoder;
        let mut enc = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b'x'; 10_000]).unwrap();
        let packed = enc.finish().unwrap();
        let out = inflate(&packed, &cap(10_000), 10_000);
        assert_eq!(out.bytes, [b'x'; 10_000]);
        assert!(out.problem().is_none(), "{out:?}");
        let out = inflate(&packed, &cap(100), 10_000);
        assert_eq!(out.bytes.len(), 100);
        assert_eq!(out.capped.as_deref(), Some("cap"));
        assert!(inflate(b"\xff\xff not deflate", &cap(100), 0)
            .error
            .is_some());
    }

    #[test]
    fn sink_refuses_past_cap() {
        let mut sink = CappedSink::new(cap(4));
        assert!(sink.write(b"abc").is_ok());
        assert!(sink.write(b"de").is_err());
        let out = sink.finish(Some("decoder failed".into()));
        assert_eq!(out.bytes, b"abc");
        assert_eq!(out.capped.as_deref(), Some("cap"));
        assert!(out.error.is_none());
    }
}

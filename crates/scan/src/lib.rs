//! Virus scanning: what quarantd asks virus scanners, and how it keeps their answers.
//!
//! * [`Scanner`] is the seam: one engine (or a combination of engines) that scans bytes and
//!   says clean, infected (with names) or failed with a [`FailureKind`]. It is object-safe
//!   (boxed futures) and runs on tokio.
//! * [`clamd::Clamd`] speaks clamd's protocol (`zIDSESSION`, `zFILDES`, `zINSTREAM`, `zPING`,
//!   `zVERSION`, `zRELOAD`; one session per message, see [`Scanner::scan_batch`])
//!   over TCP or a unix socket, with a connection limit and a timeout per scan; its replies
//!   are parsed sans-IO by [`clamd::reply`].
//! * [`command::CommandScanner`] runs another engine's command line on a private temp file
//!   (like amavis' `@av_scanners`); [`AllOf`] asks several engines and [`Failover`] asks a
//!   backup when the primary fails.
//! * [`MessageScanner`] decides what of a message is sent ([`plan`]: every decoded MIME leaf,
//!   plus members of containers clamd cannot open), keeps verdicts in the bounded
//!   [`cache::VerdictCache`] keyed by content hash, engine signature version and the
//!   generation of quarantd's own signatures ([`generation`]), and returns findings.
//! * [`signatures`] writes quarantd's own ClamAV signatures (`.hsb`, `.cdb`) atomically, with
//!   member-name regexes in clamd's POSIX dialect ([`signatures::ere`]), and keeps a change only
//!   once clamd loaded it and detected a sample under the new name.
//!
//! This crate knows nothing of SMTP, policy or the quarantine: the pipeline turns its
//! findings and failures into verdicts.

pub mod cache;
pub mod clamd;
pub mod command;
pub mod generation;
pub mod plan;
pub mod signatures;

mod detection;
mod error;
mod message;
mod scanner;

pub use error::{FailureKind, ScanError};
pub use message::{MessageReport, MessageScanner, MessageScannerConfig, ScanStats};
pub use scanner::{AllOf, Batch, BoxFuture, Detection, Failover, Outcome, Scanner, Select};

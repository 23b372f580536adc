//! The seam to the quarantine: where the pipeline hands a message it must hold, and the
//! commit rule that goes with it — 250 only after the quarantine committed the message.
//!
//! The pipeline owns this trait; the binary implements it with `quarantd-store` (the pipeline
//! never opens a database). A test double that fails on demand stands in for a broken store
//! in the pipeline's own tests.

use std::future::Future;
use std::pin::Pin;

use quarantd_core::{Envelope, Finding, Part, Verdict};

/// Everything the quarantine keeps of one message.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    /// The envelope; its id becomes the quarantine id.
    pub envelope: &'a Envelope,
    /// The message exactly as received.
    pub raw: &'a [u8],
    /// The parts with their labels.
    pub parts: &'a [Part],
    /// What the scanners found.
    pub findings: &'a [Finding],
    /// Why it is held (or rejected, for the copy of a rejected message).
    pub verdict: &'a Verdict,
    /// `inbound`, `outbound`, `internal`, or `unknown` (no policy configured).
    pub direction: &'a str,
}

/// Why holding failed: the message gets a 4xx and stays in Postfix's queue.
#[derive(Debug, Clone, thiserror::Error)]
#[error("quarantine store failed: {0}")]
pub struct HoldError(pub String);

/// The future [`Hold::hold`] returns: the quarantine id once durably committed.
pub type HoldFuture<'a> = Pin<Box<dyn Future<Output = Result<String, HoldError>> + Send + 'a>>;

/// Durable storage of held messages.
pub trait Hold: Send + Sync {
    /// Commits the message durably (transaction committed, data synced) and returns its id.
    fn hold<'a>(&'a self, held: Held<'a>) -> HoldFuture<'a>;
}

//! The quarantine seam: what is kept of a message that must be held ([`Held`]), the trait the
//! pipeline hands it through ([`Hold`]), and why holding failed ([`HoldError`]).
//!
//! The rule that goes with it: the pipeline answers 250 for a held message only after
//! [`Hold::hold`] returned `Ok`, i.e. after the quarantine committed it durably. The seam is
//! defined here, in the shared vocabulary, so that the pipeline (which calls it) and
//! `quarantd-release`'s `StoreHold` (which implements it on `quarantd-store`) need not know
//! each other. The pipeline's own tests use doubles that fail on demand.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;

use crate::envelope::Envelope;
use crate::part::Part;
use crate::verdict::{Action, Finding, Verdict};

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

impl Held<'_> {
    /// Whether this is a message held for release or the copy of one refused with 5xx.
    pub fn kind(&self) -> HeldKind {
        if self.verdict.action == Action::Reject {
            HeldKind::RejectedCopy
        } else {
            HeldKind::Quarantined
        }
    }
}

/// What a stored message is, by its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeldKind {
    /// Held until someone releases or deletes it.
    Quarantined,
    /// The copy of a message refused with 5xx (stored as `rejected`).
    RejectedCopy,
}

impl HeldKind {
    /// The notification event it is announced as: `quarantined` or `rejected`.
    pub fn event(self) -> &'static str {
        match self {
            HeldKind::Quarantined => "quarantined",
            HeldKind::RejectedCopy => "rejected",
        }
    }
}

/// The cause of a [`HoldError`]: the store's own error type, kept whole.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why holding failed: the message gets a 4xx and stays in Postfix's queue. The store's
/// error is kept as the [`source`](StdError::source), so the log shows the whole chain.
#[derive(Debug, thiserror::Error)]
#[error("quarantine store failed")]
pub struct HoldError {
    transient: bool,
    #[source]
    source: BoxError,
}

impl HoldError {
    /// A failure that may go away by itself (database unreachable, busy, deadlocked).
    pub fn transient(source: impl Into<BoxError>) -> Self {
        HoldError {
            transient: true,
            source: source.into(),
        }
    }

    /// A failure that trying again will meet again (a constraint, a schema problem).
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        HoldError {
            transient: false,
            source: source.into(),
        }
    }

    /// True when the same message may be stored later.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

/// The future [`Hold::hold`] returns: the quarantine id once durably committed.
pub type HoldFuture<'a> = Pin<Box<dyn Future<Output = Result<String, HoldError>> + Send + 'a>>;

/// Durable storage of held messages.
pub trait Hold: Send + Sync {
    /// Commits the message durably (transaction committed, data synced) and returns its id.
    fn hold<'a>(&'a self, held: Held<'a>) -> HoldFuture<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_says_what_is_held() {
        let envelope = Envelope {
            id: "id1".into(),
            peer: ([127, 0, 0, 1], 25).into(),
            helo: String::new(),
            mail_from: String::new(),
            mail_params: Default::default(),
            recipients: Vec::new(),
            xforward: Default::default(),
            received_at: std::time::SystemTime::UNIX_EPOCH,
        };
        for (action, kind, event) in [
            (Action::Quarantine, HeldKind::Quarantined, "quarantined"),
            (Action::Reject, HeldKind::RejectedCopy, "rejected"),
        ] {
            let verdict = Verdict {
                action,
                reasons: vec!["executable".into()],
            };
            let held = Held {
                envelope: &envelope,
                raw: b"",
                parts: &[],
                findings: &[],
                verdict: &verdict,
                direction: "inbound",
            };
            assert_eq!(held.kind(), kind);
            assert_eq!(kind.event(), event);
        }
    }

    #[test]
    fn a_hold_error_keeps_its_cause_and_whether_it_is_transient() {
        let cause = || std::io::Error::other("database is locked");
        for (err, transient) in [
            (HoldError::transient(cause()), true),
            (HoldError::permanent(cause()), false),
        ] {
            assert_eq!(err.is_transient(), transient);
            let source = err.source().expect("the cause is kept");
            assert_eq!(source.to_string(), "database is locked");
            assert!(source.downcast_ref::<std::io::Error>().is_some());
        }
        assert_eq!(
            HoldError::transient("x").to_string(),
            "quarantine store failed"
        );
    }
}

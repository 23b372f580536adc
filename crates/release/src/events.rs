//! The workflow's event seam: what a step tells the rest of the system after it committed.
//!
//! [`Quarantine`](crate::Quarantine) emits one [`WorkflowEvent`] after each step that others
//! act on (the notifier turns them into mails, through the store's durable outbox). A
//! message being held is not emitted here: its `quarantined`/`rejected` run is queued in the
//! very transaction that stores it ([`crate::StoreHold`]'s outbox), so a held message never
//! exists without it.
//!
//! The seam is owned by this crate and implemented above it (`quarantd-notifier`); an
//! implementation reports its own failures (a step that was done is never undone because
//! its notification could not be queued).

use std::future::Future;
use std::pin::Pin;

/// A boxed future, as the seam returns it (object-safe, `Send`).
pub type EventFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One committed workflow step that others may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowEvent {
    /// A recipient asked for their copy (the first time).
    ReleaseRequested {
        /// The quarantine id.
        id: String,
        /// The recipient who asked.
        rcpt: String,
    },
    /// An approval was recorded and more are needed.
    ApprovalNeeded {
        /// The quarantine id.
        id: String,
        /// Who approved.
        actor: String,
        /// Approvals so far.
        have: u32,
        /// Approvals needed.
        needed: u32,
    },
    /// A release delivered the message to these recipients.
    Released {
        /// The quarantine id.
        id: String,
        /// The recipients delivered to (never empty).
        rcpts: Vec<String>,
        /// Who released (`rcpt:ADDR` for a recipient's own release).
        actor: String,
    },
    /// The content was deleted.
    Deleted {
        /// The quarantine id.
        id: String,
        /// The recipients whose copy was still held (or had failed).
        rcpts: Vec<String>,
        /// Who deleted.
        actor: String,
        /// The original's header block as it was before the content went (for the loop and
        /// list rules of notifications); empty when there was none.
        headers: Vec<u8>,
    },
    /// Messages past retention were removed.
    Expired {
        /// Their ids.
        ids: Vec<String>,
    },
}

impl WorkflowEvent {
    /// The event's name (the notification events' names where there is one).
    pub fn name(&self) -> &'static str {
        match self {
            WorkflowEvent::ReleaseRequested { .. } => "release-requested",
            WorkflowEvent::ApprovalNeeded { .. } => "approval-needed",
            WorkflowEvent::Released { .. } => "released",
            WorkflowEvent::Deleted { .. } => "deleted",
            WorkflowEvent::Expired { .. } => "expired",
        }
    }
}

/// Where the workflow's events go.
pub trait Events: Send + Sync {
    /// Takes one event after its step committed; returns when it is handed over (for the
    /// notifier: committed to the outbox).
    fn emit<'a>(&'a self, event: &'a WorkflowEvent) -> EventFuture<'a>;

    /// False when nothing listens, so a step does not read what only an event needs (the
    /// header block before a delete).
    fn listening(&self) -> bool {
        true
    }
}

/// Nobody listens (notifications off).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl Events for NoEvents {
    fn emit<'a>(&'a self, _event: &'a WorkflowEvent) -> EventFuture<'a> {
        Box::pin(async {})
    }

    fn listening(&self) -> bool {
        false
    }
}

/// The header block of a message (up to and including the empty line), at most 64 KiB.
pub fn header_block(raw: &[u8]) -> &[u8] {
    let head = &raw[..raw.len().min(64 * 1024)];
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
        .or_else(|| head.windows(2).position(|w| w == b"\n\n").map(|at| at + 2))
        .unwrap_or(head.len());
    &head[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_block_ends_at_the_empty_line() {
        let cases: [(&[u8], &[u8]); 3] = [
            (b"A: 1\r\nB: 2\r\n\r\nbody", b"A: 1\r\nB: 2\r\n\r\n"),
            (b"A: 1\nB: 2\n\nbody", b"A: 1\nB: 2\n\n"),
            (b"A: 1\r\n", b"A: 1\r\n"),
        ];
        for (raw, block) in cases {
            assert_eq!(header_block(raw), block);
        }
        assert_eq!(header_block(&vec![b'x'; 70_000]).len(), 64 * 1024);
    }
}

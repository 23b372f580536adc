//! The seam to notifications: after a message was held or rejected, the pipeline hands an
//! [`Incident`] to a [`Notifier`], which must return at once (it sends in the background,
//! never holding up the SMTP reply). The binary implements it with `quarantd-notify`.

use std::sync::Arc;

use quarantd_core::{Envelope, Finding, Part, Verdict};
use quarantd_policy::{Direction, Event};

/// Something that happened to a message that people may have to be told about.
#[derive(Debug, Clone)]
pub struct Incident {
    /// `quarantined` or `rejected`.
    pub event: Event,
    /// The envelope, with just the recipients concerned (the held group of a split message).
    pub envelope: Envelope,
    /// The message as received.
    pub raw: Arc<Vec<u8>>,
    /// Its parts with their labels.
    pub parts: Vec<Part>,
    /// What the scanners found.
    pub findings: Vec<Finding>,
    /// Why (for these recipients).
    pub verdict: Verdict,
    /// The message's direction (inbound when no policy decided).
    pub direction: Direction,
    /// The quarantine id, when the message (or the copy of a rejected one) is stored.
    pub quarantine_id: Option<String>,
}

/// Sends notifications about incidents.
pub trait Notifier: Send + Sync {
    /// Takes an incident; returns at once (sending, retries and auditing happen later).
    fn notify(&self, incident: Incident);
}

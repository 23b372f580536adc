//! The states of a held message and of each of its recipients (a leaf: the error type and
//! the model both name them).

use std::fmt;

/// The status of a quarantined message as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// In the quarantine; nobody asked for it yet.
    Held,
    /// A recipient (or someone on their behalf) asked for release; approvals are missing.
    ReleaseRequested,
    /// Approved by as many people as its reasons need; recipients may be released.
    Approved,
    /// No recipient is held any more: each was released (or refused downstream).
    Released,
    /// Deleted by a postmaster: the content is gone, the record stays until expiry.
    Deleted,
    /// Past retention. Expired messages are removed; the status appears in the audit log only.
    Expired,
    /// The stored copy of a message that was refused (5xx): the sender was told it was not
    /// delivered. Not released by the normal release path (only on explicit request, with
    /// its approvals); approvals are recorded but do not change this status.
    Rejected,
}

impl MessageStatus {
    /// Every status, in workflow order.
    pub const ALL: [MessageStatus; 7] = [
        MessageStatus::Held,
        MessageStatus::Rejected,
        MessageStatus::ReleaseRequested,
        MessageStatus::Approved,
        MessageStatus::Released,
        MessageStatus::Deleted,
        MessageStatus::Expired,
    ];

    /// The status as stored and shown: `held`, `release-requested`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Held => "held",
            MessageStatus::ReleaseRequested => "release-requested",
            MessageStatus::Approved => "approved",
            MessageStatus::Released => "released",
            MessageStatus::Deleted => "deleted",
            MessageStatus::Expired => "expired",
            MessageStatus::Rejected => "rejected",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<MessageStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True for the states a message never leaves (apart from expiry).
    pub fn is_final(self) -> bool {
        matches!(self, MessageStatus::Deleted | MessageStatus::Expired)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of one recipient of a quarantined message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecipientStatus {
    /// Not delivered.
    Held,
    /// Claimed by a release job (owner and time recorded), being delivered right now.
    Releasing,
    /// The relay answered 250 to the release: delivered. Never sent again.
    Released,
    /// The relay refused the release permanently (5xx); may be released again by name.
    Failed,
    /// The message was deleted before this recipient got it.
    Deleted,
    /// Not delivered: the message was refused (5xx) and this is its stored copy. Claimed for
    /// a release only when the release names rejected copies explicitly.
    Rejected,
}

impl RecipientStatus {
    /// Every status.
    pub const ALL: [RecipientStatus; 6] = [
        RecipientStatus::Held,
        RecipientStatus::Rejected,
        RecipientStatus::Releasing,
        RecipientStatus::Released,
        RecipientStatus::Failed,
        RecipientStatus::Deleted,
    ];

    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Held => "held",
            RecipientStatus::Releasing => "releasing",
            RecipientStatus::Released => "released",
            RecipientStatus::Failed => "failed",
            RecipientStatus::Deleted => "deleted",
            RecipientStatus::Rejected => "rejected",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<RecipientStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for RecipientStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

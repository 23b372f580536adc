//! Who is told about what: the default notification matrix, a pure function of the event and
//! the message's direction.
//!
//! | event | inbound | outbound | internal |
//! |---|---|---|---|
//! | `quarantined` | recipient, postmaster | sender-internal, postmaster | recipient, sender-internal, postmaster |
//! | `rejected` | recipient, postmaster | sender-internal, postmaster | recipient, sender-internal, postmaster |
//! | `release-requested` | recipient, postmaster | sender-internal, postmaster | recipient, postmaster |
//! | `approval-needed` | postmaster | postmaster | postmaster |
//! | `released` | recipient | sender-internal | recipient, sender-internal |
//! | `deleted` | recipient | sender-internal | recipient, sender-internal |
//!
//! - **Inbound mail never notifies the external sender** (no backscatter: the envelope sender
//!   of inbound mail is unproven, often forged). A rejected message's sender learns it from
//!   the 5xx its own server got.
//! - **Outbound mail never notifies the external recipient** (they should not learn that a
//!   colleague's mail was held); the internal sender is told, and can ask for release.
//! - **Internal mail** tells both sides: the recipient (whose copy is held) and the sender
//!   (who may want to resend it differently), and the postmaster.
//! - `release-requested` acknowledges the request to whoever can ask (the recipient, or the
//!   internal sender of outbound mail) and tells the postmasters; `approval-needed` is for
//!   postmasters only; `released` and `deleted` close the story for those who were told of
//!   the hold (postmasters did it themselves and have the audit log).
//! - `sender-external` is in no default row: a site that wants it must say so.
//!
//! Whether a notification is then actually sent is also subject to the loop and mailing-list
//! rules of `quarantd-notify` (`should_notify`): never about a bounce or an auto-generated
//! message, never to a list's sender; and a recipient party means local recipients only.

use crate::direction::Direction;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// A message was held.
    Quarantined,
    /// A message was refused with 5xx.
    Rejected,
    /// A recipient asked for release.
    ReleaseRequested,
    /// A release waits for (more) approvals.
    ApprovalNeeded,
    /// A message was released.
    Released,
    /// A held message was deleted.
    Deleted,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 6] = [
        Event::Quarantined,
        Event::Rejected,
        Event::ReleaseRequested,
        Event::ApprovalNeeded,
        Event::Released,
        Event::Deleted,
    ];

    /// The event's name in template file names and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Quarantined => "quarantined",
            Event::Rejected => "rejected",
            Event::ReleaseRequested => "release-requested",
            Event::ApprovalNeeded => "approval-needed",
            Event::Released => "released",
            Event::Deleted => "deleted",
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Party {
    /// A (local) recipient of the message.
    Recipient,
    /// The envelope sender, when the message is the organisation's own (outbound, internal).
    SenderInternal,
    /// The envelope sender of inbound mail (off by default: backscatter).
    SenderExternal,
    /// The postmasters.
    Postmaster,
}

impl Party {
    /// Every party.
    pub const ALL: [Party; 4] = [
        Party::Recipient,
        Party::SenderInternal,
        Party::SenderExternal,
        Party::Postmaster,
    ];

    /// The party's name in template file names and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Recipient => "recipient",
            Party::SenderInternal => "sender-internal",
            Party::SenderExternal => "sender-external",
            Party::Postmaster => "postmaster",
        }
    }

    /// True for the parties that are the message's envelope sender.
    pub fn is_sender(self) -> bool {
        matches!(self, Party::SenderInternal | Party::SenderExternal)
    }
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parties notified of `event` for a message of `direction` (see the module table).
pub fn parties(event: Event, direction: Direction) -> &'static [Party] {
    use Direction::*;
    use Party::*;
    match (event, direction) {
        (Event::Quarantined | Event::Rejected, Inbound) => &[Recipient, Postmaster],
        (Event::Quarantined | Event::Rejected, Outbound) => &[SenderInternal, Postmaster],
        (Event::Quarantined | Event::Rejected, Internal) => {
            &[Recipient, SenderInternal, Postmaster]
        }
        (Event::ReleaseRequested, Inbound | Internal) => &[Recipient, Postmaster],
        (Event::ReleaseRequested, Outbound) => &[SenderInternal, Postmaster],
        (Event::ApprovalNeeded, _) => &[Postmaster],
        (Event::Released | Event::Deleted, Inbound) => &[Recipient],
        (Event::Released | Event::Deleted, Outbound) => &[SenderInternal],
        (Event::Released | Event::Deleted, Internal) => &[Recipient, SenderInternal],
    }
}

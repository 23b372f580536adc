//! Notifications: templates and the composed mail.
//!
//! quarantd tells people when a message is held, refused, released or deleted, and when a
//! release waits for them. Who is told is policy (`quarantd_policy::parties`, re-exported
//! here as [`parties()`]); this crate turns (event, party, language, [`Notice`]) into a mail:
//!
//! - [`templates`]: minijinja templates per (event, party, language), shipped in English and
//!   German, overridable from a directory ([`Templates::with_overrides`]);
//! - [`describe()`]: a reason in plain words per language;
//! - the easy-release link a recipient's template shows ([`ReleaseLink`]); its signed token
//!   is the release workflow's (`quarantd_release::token`), which verifies it;
//! - [`compose`]: the mail itself ([`Composer::compose`]);
//! - [`guard`]: when nothing may be sent at all ([`should_notify`]: no loops, no mail to
//!   list senders; backscatter is kept out by the matrix).
//!
//! No network I/O: the caller sends [`Outgoing`] through the relay (null envelope sender by
//! default), audits it, and retries failures without holding up mail flow.

pub mod compose;
pub mod describe;
mod embedded;
pub mod guard;
pub mod templates;

pub use compose::{encode_header_text, rfc5322_date, Composer, Outgoing};
pub use describe::describe;
pub use guard::{should_notify, suppression, Suppressed};
pub use quarantd_policy::{parties, Direction, Event, Party};
pub use templates::{Approvals, MessageInfo, Notice, Reason, ReleaseLink, Rendered, Templates};

/// What can go wrong rendering or composing a notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A template is missing, does not parse, or failed to render.
    #[error("notification template {name}: {message}")]
    Template {
        /// The template's name, e.g. `de/quarantined.recipient.txt`.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// An address that cannot go into a header or the envelope.
    #[error("not a usable mail address: {0:?}")]
    BadAddress(String),
}

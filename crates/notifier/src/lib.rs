//! Notifications sent through the relay: the pipeline's [`Notifier`] seam and the release
//! workflow's [`Events`] seam, both through the store's durable outbox.
//!
//! A [`Case`] is an event and the message it happened to: from the daemon's incident (a
//! message held or rejected) or from the store (`release-requested`, `approval-needed`,
//! `released`, `deleted`, steps of the release workflow). [`NotifySender::run`] works
//! through `parties(event, direction)`: it skips every party
//! [`quarantd_notify::should_notify`] forbids (never about a bounce, an automatic message or
//! a report; never to a list's sender), finds the addressees (recipient = the local
//! recipients concerned, sender-internal = the envelope sender of outbound/internal mail,
//! postmaster = `notify.postmaster`), renders the template, composes the mail (with an
//! easy-release token for recipients of held mail) and sends it through the relay with the
//! configured envelope sender (null by default). 4xx and connection errors are retried with
//! doubling backoff; every send, and every final failure, is written to the audit log
//! (`notify-sent`, `notify-failed`, actor `quarantd`).
//!
//! **Durable outbox only.** A run about a held or rejected message was queued in the
//! transaction that stored it (owner: the daemon's node id). A workflow step's run is queued
//! by [`OutboxEvents`] (the workflow's seam) *unowned*, right after the step committed; the
//! front end's step returns then, it never sends. A running daemon ([`RelayNotifier`], at
//! most `notify.max_concurrent_sends` runs at once) claims unowned runs every
//! `notify.outbox_poll_secs` (5 s) and sends them like its own; `quarantd quarantine ... --wait-notify`
//! claims and sends its own runs before it returns ([`OutboxEvents::send_queued`]). The SMTP
//! reply never waits for any of this, and nothing queued is lost at a stop or a crash (the
//! next start of the same node id resumes its runs; unowned runs wait for any daemon). At
//! shutdown the daemon waits a bounded time and audits the runs it stops
//! ([`RelayNotifier::finish`]).
//!
//! [`Notifier`]: quarantd_pipeline::Notifier
//! [`Events`]: quarantd_release::Events

mod case;
mod daemon;
mod events;
mod sender;

pub use case::{parse_direction, stored_case, Case, Outcome};
pub use daemon::RelayNotifier;
pub use events::OutboxEvents;
pub use sender::NotifySender;

//! The quarantine's release workflow: states, four-eyes approvals and release jobs.
//!
//! ```text
//! held ──request-release──► release-requested ──approve × N──► approved ──release──► released
//!   │                              │                               │
//!   └──────────── approve × N ─────┴───────────────────────────────┘
//!   any state but deleted ──delete──► deleted;   past retention ──expire──► (removed, audited)
//!
//! rejected (the stored copy of a refused message) ──approve × N──► rejected
//!          ──release --rejected-copy──► released
//! ```
//!
//! [`Rules`] say how many distinct people must approve per verdict reason (default: `virus`
//! and `executable` 2, everything else 1) and whether a recipient may release their own copy
//! (never for a virus). The daemon stores the number a message needs when it holds it; the
//! workflow uses that number, not the rules of whoever runs a command ([`Workflow::
//! approvals_needed`]). [`Workflow`] has one function per postmaster command; each step is one
//! store transaction and one audit entry (`quarantd-store`).
//!
//! Every step that records a person takes an [`Actor`]: a normalised name (case-folded,
//! NFKC, format characters removed: [`normalize_name`]) and how the front end established
//! it ([`Source`]: the OS user, a name asserted by trusted automation, or an identity a front
//! end such as the web UI authenticated). Approvals by names that normalise alike are one
//! person's.
//!
//! The stored copy of a rejected message has the status `rejected`: [`Workflow::release`]
//! refuses it ([`Error::RejectedCopy`]); [`Workflow::release_rejected_copy`] delivers it when
//! asked explicitly, with at least a virus's approvals.
//!
//! A release is a job ([`Workflow::release`]): the recipients are first *claimed* in the
//! database (an atomic conditional `UPDATE` per recipient: `held` → `releasing` with a random
//! owner token and the time, committed before anything is sent), then the stored original is
//! sent through the relay (`quarantd_smtp::Relay`) with `X-Quarantine-Released: by NAME at
//! DATE; id=ID` in front of the unchanged bytes, 4xx is retried with backoff, and each
//! recipient is recorded `released` (2xx), `failed` (5xx) or back to `held` (4xx on every
//! attempt). Two postmasters releasing at once, from two processes, claim disjoint sets:
//! nobody is sent the message twice.
//!
//! A job that crashes between the relay's 250 and recording it leaves its recipients
//! `releasing` with its owner and claim time. They are never retried automatically:
//! [`Workflow::resume`] (`release ID --resume`) takes over claims older than
//! [`ReleaseSettings::stale_claim_after`] and delivers them, accepting a duplicate in the rare
//! case the crashed job had been answered 250 (the relay's log tells).
//!
//! Signed easy-release tokens ([`token`]) are issued by the notifier and redeemed here
//! ([`Quarantine::redeem`]): verified, then [`Workflow::request_release`] or
//! [`Workflow::release_as_recipient`].
//!
//! Messages come in through [`StoreHold`], the implementation of the pipeline's quarantine
//! seam (`quarantd_core::Hold`) on the store: it stores each message with the approvals
//! these [`Rules`] say it needs and, with notifications on, its outbox run.
//!
//! Front ends use [`Quarantine`], the workflow API: one method per step (list, show, raw,
//! part, approve, request-release, release, redeem, delete, expire, audit), each committed
//! with its audit entry, then its [`WorkflowEvent`] through the [`Events`] seam.

mod actor;
mod error;
pub mod events;
mod hold;
mod job;
mod rules;
mod service;
pub mod token;
mod workflow;

pub use actor::{normalize_name, Actor, Source, MAX_NAME_CHARS};
pub use error::Error;
pub use events::{EventFuture, Events, NoEvents, WorkflowEvent};
pub use hold::StoreHold;
pub use job::{released_header, Delivery, ReleaseReport, ReleaseSettings};
pub use rules::{Rules, VIRUS};
pub use service::{PartFinder, Quarantine, Redeemed, ReleaseMode, Shown};
pub use workflow::{ApprovalOutcome, RequestOutcome, Workflow};

/// What front ends see of the store: the types the workflow API takes and returns, and what
/// names or opens a store. A front end (the binary, the web UI, the policy service) uses
/// these and [`Quarantine`], never the store crate itself.
pub mod store {
    pub use quarantd_store::{
        format_time, now_ms, redact, sqlite_url, AuditEntry, Cursor, Error, ExpireReport,
        ListFilter, MessageDetail, MessageStatus, MessageSummary, Page, PartContent,
        RecipientStatus, Retention, Store, StoredPart, SQLITE_FILE,
    };
}

//! The quarantine's persistence: messages held by the pipeline, their recipients and parts,
//! the release workflow's approvals and claims, and the audit log, on SQLite (the embedded
//! default, a file under the data directory) or MariaDB, through sqlx.
//!
//! * [`Store::insert`] commits a held message durably before the daemon answers 250.
//! * [`Store::list`], [`Store::get`], [`Store::raw`], [`Store::part`] serve
//!   `quarantd quarantine list|show`; content views are audited.
//! * The release workflow's atomic steps ([`Store::request_release`], [`Store::approve`],
//!   [`Store::claim`], [`Store::finish`], [`Store::take_over_stale`], [`Store::delete`]) are
//!   driven by `quarantd-release`, which owns the rules.
//! * [`Store::expire`] removes what is past retention; [`Store::audit_log`] reads the log.
//!
//! Both backends go through sqlx's `any` driver with the same SQL (placeholders `?`, integers
//! and text only); each has its own migrations (`migrations/sqlite`, `migrations/mysql`),
//! embedded in the binary. This crate knows nothing of SMTP, HTTP or policy.

mod blob;
mod db;
mod error;
mod headers;
mod insert;
mod json;
mod list;
mod model;
mod outbox;
mod read;
mod retention;
mod status;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod workflow;

pub use db::{redact, sqlite_url, Backend, StoreOptions, SQLITE_FILE};
pub use error::Error;
pub use json::format_time;
pub use model::{
    reason_key, Approval, AuditEntry, Cursor, ExpireReport, Finish, ListFilter, MessageDetail,
    MessageStatus, MessageSummary, NewMessage, NewOutboxRun, Page, PartContent, RecipientState,
    RecipientStatus, Retention, StoredFinding, StoredPart, DEFAULT_PAGE, MAX_PAGE,
};
pub use outbox::{NewWorkflowRun, OutboxEntry, UNOWNED};
pub use store::{now_ms, system_time_ms, Store};
pub use workflow::{Approvals, ClaimRequest};

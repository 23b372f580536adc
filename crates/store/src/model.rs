//! The values the store takes and returns.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use quarantd_core::{Held, Part};

use crate::error::Error;
pub use crate::status::{MessageStatus, RecipientStatus};

/// A message to put into the quarantine: what the pipeline holds, and what only the store
/// records beside it.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// The message as the pipeline holds it; its envelope's `id` (from
    /// `quarantd_core::id::new_id`) becomes the quarantine id.
    pub held: Held<'a>,
    /// The host name of the node that took the message.
    pub node: &'a str,
    /// Distinct approvals a release of this message needs, by the rules in force when it
    /// was held; `None` leaves it to the rules of whoever releases it.
    pub approvals_required: Option<u32>,
    /// A notification run to queue in the same transaction (the daemon's outbox), so that a
    /// message is never committed without it.
    pub outbox: Option<NewOutboxRun<'a>>,
}

/// A notification run about a message being stored, queued with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOutboxRun<'a> {
    /// The node that will send it (its persistent node id).
    pub owner: &'a str,
    /// The event (`quarantined`, `rejected`); the concerned recipients are the envelope's.
    pub event: &'a str,
}

/// One line of `list`: what a postmaster needs to pick a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    /// The quarantine id.
    pub id: String,
    /// When the message was received, Unix milliseconds.
    pub received_at: i64,
    /// The message's status.
    pub status: MessageStatus,
    /// Envelope sender (empty for `<>`).
    pub mail_from: String,
    /// The `From:` header, decoded.
    pub from: Option<String>,
    /// The `Subject:` header, decoded.
    pub subject: Option<String>,
    /// Size of the raw message in bytes.
    pub size: u64,
    /// `inbound`, `outbound`, `internal` or `unknown`.
    pub direction: String,
    /// The verdict's reasons, e.g. `["executable", "virus:Eicar-Signature"]`.
    pub reasons: Vec<String>,
}

/// One recipient with its own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientState {
    /// The address as given in `RCPT TO`.
    pub address: String,
    /// DSN `NOTIFY=` as sent on (`SUCCESS,FAILURE`, `NEVER`), if any.
    pub notify: Option<String>,
    /// DSN `ORCPT=` address, if any.
    pub orcpt: Option<String>,
    /// Its status.
    pub status: RecipientStatus,
    /// The release job holding the claim, while `releasing`.
    pub claim_owner: Option<String>,
    /// When the claim was taken or last renewed, Unix ms.
    pub claimed_at: Option<i64>,
    /// How many delivery attempts were made.
    pub attempts: u32,
    /// The relay's last reply for this recipient (or the error).
    pub last_reply: Option<String>,
}

/// A part as stored: where it sits and what was found about it (no content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    /// `2/invoice.zip/a.exe`; empty for the message itself.
    pub path: String,
    /// Declared file name.
    pub filename: Option<String>,
    /// Declared content type.
    pub declared_type: Option<String>,
    /// Type found from the content.
    pub detected_type: Option<String>,
    /// Decoded size.
    pub size: u64,
    /// SHA-256 of the decoded content.
    pub sha256: String,
    /// Labels, e.g. `executable`.
    pub labels: Vec<String>,
    /// Why the part is unscannable, if it is.
    pub unscannable_reason: Option<String>,
}

impl From<&Part> for StoredPart {
    /// A part as it would be stored (what `quarantd inspect` shows for a part it decomposed).
    fn from(p: &Part) -> StoredPart {
        StoredPart {
            path: p.path.0.clone(),
            filename: p.filename.clone(),
            declared_type: p.declared_type.clone(),
            detected_type: p.detected_type.clone(),
            size: p.size,
            sha256: p.sha256.clone(),
            labels: p.labels.iter().map(|l| l.as_str().to_string()).collect(),
            unscannable_reason: p.unscannable_reason.clone(),
        }
    }
}

/// A scanner finding as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    /// `virus`, ...
    pub kind: String,
    /// `clamd`, ...
    pub engine: String,
    /// `Eicar-Signature`, ...
    pub name: String,
    /// The part it was found in.
    pub part: Option<String>,
}

/// One approval of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Who approved.
    pub approver: String,
    /// When, Unix ms.
    pub at: i64,
}

/// Everything stored about one message except its content: `show ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDetail {
    /// The list fields.
    pub summary: MessageSummary,
    /// The verdict's action (`quarantine`, ...).
    pub action: String,
    /// The node that took the message.
    pub node: String,
    /// `BODY=` of `MAIL FROM` (`7BIT`, `8BITMIME`).
    pub body_type: Option<String>,
    /// `SMTPUTF8` was given.
    pub smtputf8: bool,
    /// DSN `RET=`.
    pub dsn_ret: Option<String>,
    /// DSN `ENVID=`.
    pub dsn_envid: Option<String>,
    /// The TCP peer that handed the message over (normally Postfix).
    pub peer: String,
    /// The peer's HELO.
    pub peer_helo: String,
    /// The original client's address (XFORWARD ADDR).
    pub client_addr: Option<String>,
    /// The original client's HELO (XFORWARD HELO).
    pub client_helo: Option<String>,
    /// Every XFORWARD attribute, in order.
    pub xforward: Vec<(String, String)>,
    /// `To:` header.
    pub to: Option<String>,
    /// `Message-ID:` header.
    pub message_id: Option<String>,
    /// `Date:` header, RFC 3339.
    pub date: Option<String>,
    /// SHA-256 of the raw message.
    pub sha256: String,
    /// Whether the content is still stored (false after `delete`).
    pub has_content: bool,
    /// The recipients with their states.
    pub recipients: Vec<RecipientState>,
    /// The parts and their labels.
    pub parts: Vec<StoredPart>,
    /// Scanner findings.
    pub findings: Vec<StoredFinding>,
    /// Who approved the release so far.
    pub approvals: Vec<Approval>,
    /// Recipients who asked for release (lower case).
    pub requests: Vec<String>,
    /// Distinct approvals a release needs, fixed when the message was held; `None` for a
    /// message held before quarantd recorded it.
    pub approvals_required: Option<u32>,
}

/// Filters of `list`; every one given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Received at or after, Unix ms.
    pub since: Option<i64>,
    /// Received before, Unix ms.
    pub until: Option<i64>,
    /// An envelope recipient (case-insensitive).
    pub rcpt: Option<String>,
    /// The envelope sender (case-insensitive).
    pub sender: Option<String>,
    /// A recipient in this domain (case-insensitive).
    pub domain: Option<String>,
    /// A verdict reason, by its key: `virus` matches `virus:Eicar-Signature`.
    pub reason: Option<String>,
    /// The message's status.
    pub status: Option<MessageStatus>,
    /// Most messages per page (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]).
    pub limit: Option<u32>,
    /// Continue after this position (from the previous page's `next`).
    pub after: Option<Cursor>,
}

/// Page size when none is given.
pub const DEFAULT_PAGE: u32 = 50;
/// Largest page.
pub const MAX_PAGE: u32 = 1000;

/// A position in the list order (newest first): keyset pagination by (received_at, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `received_at` of the last message shown.
    pub received_at: i64,
    /// Its id.
    pub id: String,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.received_at, self.id)
    }
}

impl std::str::FromStr for Cursor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cursor, Error> {
        let bad = || Error::BadValue {
            column: "cursor",
            value: s.to_string(),
        };
        let (at, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(Cursor {
            received_at: at.parse().map_err(|_| bad())?,
            id: id.to_string(),
        })
    }
}

/// One page of `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The messages, newest first.
    pub messages: Vec<MessageSummary>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// The content of one part, for a postmaster's inspection (`show --part PATH`).
#[derive(Debug, Clone)]
pub struct PartContent {
    /// What the decomposition says about the part.
    pub part: Part,
    /// Its decoded bytes.
    pub content: Vec<u8>,
}

impl From<quarantd_core::PartData> for PartContent {
    fn from(data: quarantd_core::PartData) -> Self {
        PartContent {
            part: data.part,
            content: data.content,
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log (increasing).
    pub seq: i64,
    /// When, Unix ms.
    pub at: i64,
    /// Who: a postmaster's name, `rcpt:ADDRESS`, or `node:HOST` for the daemon.
    pub actor: String,
    /// What: `quarantine`, `view-raw`, `view-part`, `request-release`, `approve`, `claim`,
    /// `released`, `release-failed`, `release-deferred`, `release-unclaimed`, `resume`,
    /// `delete`, `expire`.
    pub action: String,
    /// The message concerned.
    pub message_id: Option<String>,
    /// Facts: recipient, reply, part path, ...
    pub detail: String,
}

/// How long messages are kept, per verdict reason key (`virus`, `executable`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// For reasons without their own setting (default 30 days).
    pub default: Duration,
    /// Per reason key. A message with several reasons is kept for the longest of them.
    pub per_reason: BTreeMap<String, Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            default: Duration::from_secs(30 * 24 * 3600),
            per_reason: BTreeMap::new(),
        }
    }
}

impl Retention {
    /// How long a message with these verdict reasons is kept.
    pub fn for_reasons(&self, reasons: &[String]) -> Duration {
        let mut keep: Option<Duration> = None;
        for reason in reasons {
            let d = self
                .per_reason
                .get(reason_key(reason))
                .copied()
                .unwrap_or(self.default);
            keep = Some(keep.map_or(d, |k| k.max(d)));
        }
        keep.unwrap_or(self.default)
    }

    /// The shortest retention of all, the first cut for candidates.
    pub(crate) fn shortest(&self) -> Duration {
        self.per_reason
            .values()
            .copied()
            .fold(self.default, Duration::min)
    }
}

/// What `expire` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// Ids of the messages removed.
    pub removed: Vec<String>,
}

/// The key of a verdict reason: `virus:Eicar-Signature` → `virus`, `executable` → `executable`.
pub fn reason_key(reason: &str) -> &str {
    reason.split(':').next().unwrap_or(reason).trim()
}

/// What a finished delivery attempt means for one claimed recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The relay answered 2xx to the end of data: `released`, never sent again.
    Released {
        /// The relay's reply.
        reply: String,
    },
    /// The relay refused permanently (5xx): `failed`.
    Failed {
        /// The relay's reply.
        reply: String,
    },
    /// Not delivered yet, will be tried again by the same job (4xx): the claim stays.
    Deferred {
        /// The relay's reply or the error.
        reply: String,
    },
    /// Not delivered, may be tried again (4xx attempts exhausted, relay unreachable): `held`.
    Unclaim {
        /// The relay's last reply or the error.
        reply: String,
    },
}

//! The one error type of the store.

use crate::status::{MessageStatus, RecipientStatus};

/// Why a store operation failed.
///
/// Callers act on three groups: [`Error::is_transient`] (the database could not be reached or
/// was busy: try again later, answer 4xx upstream), [`Error::is_not_found`] (no such message),
/// and the state errors ([`Error::StateForbids`], [`Error::AlreadyApproved`],
/// [`Error::NotARecipient`], [`Error::ReleaseInProgress`]), which are the user's mistakes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store URL is not one this build understands.
    #[error("unsupported store URL {url:?}: expected sqlite://PATH or mysql://USER:PASS@HOST/DB")]
    UnsupportedUrl {
        /// The URL as given (without password).
        url: String,
    },
    /// The database could not be reached, timed out, or refused the connection.
    #[error("quarantine database unavailable during {op}: {source}")]
    Unavailable {
        /// What the store was doing.
        op: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The database answered with an error.
    #[error("quarantine database error during {op}: {source}")]
    Database {
        /// What the store was doing.
        op: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed.
    #[error("quarantine schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// No message with this id is in the quarantine (never was, or expired).
    #[error("no quarantined message with id {id}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The message has no part at this path.
    #[error("message {id} has no part {path:?}")]
    PartNotFound {
        /// The message id.
        id: String,
        /// The part path asked for.
        path: String,
    },
    /// The message's state does not allow this change, e.g. releasing a deleted message.
    #[error("message {id} is {status}: cannot {action}")]
    StateForbids {
        /// The message id.
        id: String,
        /// Its current status.
        status: MessageStatus,
        /// What was attempted.
        action: &'static str,
    },
    /// A recipient's state does not allow this change.
    #[error("recipient {rcpt} of message {id} is {status}: cannot {action}")]
    RecipientStateForbids {
        /// The message id.
        id: String,
        /// The recipient address.
        rcpt: String,
        /// Its current status.
        status: RecipientStatus,
        /// What was attempted.
        action: &'static str,
    },
    /// The message is being released right now; it cannot be deleted meanwhile.
    #[error("message {id} is being released right now: cannot {action}")]
    ReleaseInProgress {
        /// The message id.
        id: String,
        /// What was attempted.
        action: &'static str,
    },
    /// The message has fewer approvals than its reasons need.
    #[error("message {id} needs {needed} approval(s) by distinct people, has {have}")]
    NotApproved {
        /// The message id.
        id: String,
        /// Approvals recorded.
        have: u32,
        /// Approvals needed.
        needed: u32,
    },
    /// This person has already approved the message (nobody approves twice).
    #[error("{approver} has already approved message {id}")]
    AlreadyApproved {
        /// The message id.
        id: String,
        /// The approver's name.
        approver: String,
    },
    /// The address is not an envelope recipient of the message.
    #[error("{rcpt} is not a recipient of message {id}")]
    NotARecipient {
        /// The message id.
        id: String,
        /// The address given.
        rcpt: String,
    },
    /// The stored message content does not match its checksum or cannot be decompressed.
    #[error("stored content of message {id} is corrupt: {detail}")]
    Corrupt {
        /// The message id.
        id: String,
        /// What is wrong.
        detail: String,
    },
    /// A stored value is not what this version of quarantd writes.
    #[error("unexpected value {value:?} in column {column}")]
    BadValue {
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
    },
}

impl Error {
    /// True when the same operation may succeed later: the database is unreachable, timed out,
    /// is shutting down, or reported a deadlock or lock timeout. The daemon answers 4xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unavailable { .. } => true,
            Error::Database { source, .. } => is_retryable_db_error(source),
            _ => false,
        }
    }

    /// True when the message does not exist (or no longer exists).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. } | Error::PartNotFound { .. })
    }

    /// True when the message's or a recipient's state forbids what was asked.
    pub fn is_state_error(&self) -> bool {
        matches!(
            self,
            Error::StateForbids { .. }
                | Error::RecipientStateForbids { .. }
                | Error::ReleaseInProgress { .. }
                | Error::AlreadyApproved { .. }
                | Error::NotApproved { .. }
                | Error::NotARecipient { .. }
        )
    }

    /// Classifies a driver error: connection-level problems become [`Error::Unavailable`].
    pub(crate) fn db(op: &'static str, source: sqlx::Error) -> Error {
        let unavailable = matches!(
            source,
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Protocol(_)
        );
        if unavailable {
            Error::Unavailable { op, source }
        } else {
            Error::Database { op, source }
        }
    }
}

/// Deadlocks, lock wait timeouts, a server going away and SQLite's "busy"/"locked" are worth
/// retrying.
fn is_retryable_db_error(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // 1205 lock wait timeout, 1213 deadlock, 1053 shutdown, 1927 connection killed,
        // 2006/2013 server gone away / lost connection.
        return matches!(my.number(), 1205 | 1213 | 1053 | 1927 | 2006 | 2013);
    }
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Primary result codes 5 (SQLITE_BUSY) and 6 (SQLITE_LOCKED), also as extended codes.
        let code: i64 = db.code().and_then(|c| c.parse().ok()).unwrap_or(0);
        return matches!(code & 0xff, 5 | 6);
    }
    false
}

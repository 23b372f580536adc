//! The one error type of the release workflow.

/// Why a workflow step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed or refused (unknown id, a state that forbids the change, database
    /// unreachable, ...).
    #[error(transparent)]
    Store(#[from] quarantd_store::Error),
    /// Fewer distinct people approved than the message's reasons need.
    #[error("message {id} needs {needed} approval(s) by distinct people before release; approved by: {}", if have.is_empty() { "nobody".to_string() } else { have.join(", ") })]
    NeedsApprovals {
        /// The message id.
        id: String,
        /// Who approved so far.
        have: Vec<String>,
        /// How many are needed.
        needed: u32,
    },
    /// A recipient may not release this message alone (e.g. a virus, or the site requires a
    /// postmaster's approval for these reasons).
    #[error("message {id} ({reasons}) cannot be released by a recipient's request alone")]
    RecipientMayNotRelease {
        /// The message id.
        id: String,
        /// The message's reasons.
        reasons: String,
    },
    /// No recipient is left to release (all released, failed, deleted or being released).
    #[error("message {id}: no recipient left to release{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    NothingToRelease {
        /// The message id.
        id: String,
        /// The recipients' states.
        detail: String,
    },
    /// A name that cannot stand for a person: empty once normalised, too long, or with
    /// control characters or `:`.
    #[error("{given:?} is not a name for the audit log: {why}")]
    InvalidActor {
        /// The name as given (cut).
        given: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The message is the stored copy of a rejected message: the normal release path does
    /// not deliver it.
    #[error("message {id} is the stored copy of a rejected message (the sender was told it was refused): it is not released like a held message; release it explicitly as a rejected copy, with {needed} approval(s) by distinct people")]
    RejectedCopy {
        /// The message id.
        id: String,
        /// Approvals an explicit release needs.
        needed: u32,
    },
    /// The relay accepted the message but the store could not record it: the recipients stay
    /// `releasing` with this job's claim and must not be resumed without checking the relay's
    /// log (resuming would deliver them again).
    #[error("message {id} was delivered to {} but recording it failed: {source}; the claim stays, check the relay's log before `release --resume`", rcpts.join(", "))]
    Unrecorded {
        /// The message id.
        id: String,
        /// Recipients delivered but not recorded.
        rcpts: Vec<String>,
        /// The store's error.
        source: quarantd_store::Error,
    },
    /// An easy-release token was refused.
    #[error("token refused: {0}")]
    Token(#[from] crate::token::TokenError),
    /// Tokens cannot be verified: no key is configured.
    #[error("no token key configured: give --config FILE with notify.token_key_file")]
    NoTokenKey,
}

impl Error {
    /// True when an easy-release token was refused (malformed, tampered, expired, misused).
    pub fn is_token_error(&self) -> bool {
        matches!(self, Error::Token(_))
    }

    /// True when trying again later may succeed (the database was unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_transient())
    }

    /// True when the message does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_not_found())
    }

    /// True when the message's state or its approvals forbid the step.
    pub fn is_state_error(&self) -> bool {
        match self {
            Error::Store(e) => e.is_state_error(),
            Error::NeedsApprovals { .. }
            | Error::RecipientMayNotRelease { .. }
            | Error::NothingToRelease { .. }
            | Error::RejectedCopy { .. } => true,
            Error::InvalidActor { .. }
            | Error::Unrecorded { .. }
            | Error::Token(_)
            | Error::NoTokenKey => false,
        }
    }
}

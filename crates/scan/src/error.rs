//! The one error type of scanning, with the failure kinds callers act on.

use std::fmt;

use crate::detection::Detection;

/// Why a scanner gave no verdict. The pipeline chooses per kind between a temporary failure
/// and quarantine as `unscannable`; none of them ever means "clean".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The engine could not be reached (connection refused, socket missing, broken).
    Down,
    /// The engine did not answer in time.
    Timeout,
    /// The engine answered with an error, or with something we do not understand.
    EngineError,
    /// The content exceeds a limit of the engine or of ours (stream size, scan limits).
    SizeLimit,
}

impl FailureKind {
    /// The kind as written in logs and config keys: `down`, `timeout`, `error`, `size-limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Down => "down",
            FailureKind::Timeout => "timeout",
            FailureKind::EngineError => "error",
            FailureKind::SizeLimit => "size-limit",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scanner failed: which engine, what kind of failure, and the facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scanner {engine}: {kind}: {detail}")]
pub struct ScanError {
    /// The engine's name, e.g. `clamd`.
    pub engine: String,
    /// What kind of failure.
    pub kind: FailureKind,
    /// What happened, e.g. `connect to /run/clamav/clamd.ctl: No such file or directory`.
    pub detail: String,
    /// What was found in the same content before or beside the failure (clamd's `FOUND`
    /// records next to a limit; an engine of [`crate::AllOf`] that answered while another
    /// failed). Never to be dropped: the content is infected whatever else failed.
    pub detections: Vec<Detection>,
}

impl ScanError {
    /// A failure of `engine`.
    pub fn new(engine: impl Into<String>, kind: FailureKind, detail: impl Into<String>) -> Self {
        ScanError {
            engine: engine.into(),
            kind,
            detail: detail.into(),
            detections: Vec::new(),
        }
    }

    /// This failure, with `detections` made in the same content added.
    pub fn with_detections(mut self, detections: impl IntoIterator<Item = Detection>) -> Self {
        self.detections.extend(detections);
        self
    }

    /// True when trying again later may succeed (down, timeout, engine error).
    pub fn is_transient(&self) -> bool {
        !self.is_limit()
    }

    /// True when the content itself is over a limit: trying again gives the same answer.
    pub fn is_limit(&self) -> bool {
        self.kind == FailureKind::SizeLimit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_the_kind() {
        for (kind, transient) in [
            (FailureKind::Down, true),
            (FailureKind::Timeout, true),
            (FailureKind::EngineError, true),
            (FailureKind::SizeLimit, false),
        ] {
            let err = ScanError::new("clamd", kind, "x");
            assert_eq!(err.is_transient(), transient, "{kind}");
            assert_eq!(err.is_limit(), !transient, "{kind}");
        }
        assert_eq!(
            ScanError::new("clamd", FailureKind::Down, "refused").to_string(),
            "scanner clamd: down: refused"
        );
    }
}

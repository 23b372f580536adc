//! Why a stage failed ([`StageError`], with its [`StageFailure`] kind and cause), and how
//! errors are written into log lines: with their whole source chain (`chain`).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use quarantd_core::BoxError;

/// A stage failed; the message gets a 4xx naming the stage. The cause (a scanner's error,
/// the task's join error, a stage implementation's own error) is kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("stage {stage} failed: {kind}")]
pub struct StageError {
    /// The stage's name: `decompose`, `classify`, `scan` or `decide`.
    pub stage: &'static str,
    /// What kind of failure.
    pub kind: StageFailure,
    #[source]
    source: Option<BoxError>,
}

/// The kinds of stage failure the pipeline tells apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageFailure {
    /// No result within the time allowed.
    Timeout(Duration),
    /// Every analysis worker stayed busy for the time allowed.
    NoWorker(Duration),
    /// The analysis pool is closed (shutting down).
    PoolClosed,
    /// The stage panicked; the panic's message.
    Panicked(String),
    /// The analysis task ended without a result (the cause says why).
    TaskFailed,
    /// The scanners gave no verdict (the cause says which and how).
    Scanner,
    /// The stage reported an error of its own (the cause).
    Failed,
}

impl StageFailure {
    /// The kind as written in logs: `timeout`, `no-worker`, `pool-closed`, `panic`,
    /// `task-failed`, `scanner`, `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            StageFailure::Timeout(_) => "timeout",
            StageFailure::NoWorker(_) => "no-worker",
            StageFailure::PoolClosed => "pool-closed",
            StageFailure::Panicked(_) => "panic",
            StageFailure::TaskFailed => "task-failed",
            StageFailure::Scanner => "scanner",
            StageFailure::Failed => "error",
        }
    }
}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageFailure::Timeout(limit) => write!(f, "no result within {} s", limit.as_secs()),
            StageFailure::NoWorker(limit) => {
                write!(f, "no analysis worker free within {} s", limit.as_secs())
            }
            StageFailure::PoolClosed => f.write_str("analysis pool closed"),
            StageFailure::Panicked(message) => write!(f, "panicked: {message}"),
            StageFailure::TaskFailed => f.write_str("analysis task failed"),
            StageFailure::Scanner => f.write_str("no verdict from the scanners"),
            StageFailure::Failed => f.write_str("error"),
        }
    }
}

impl StageError {
    /// A failure of `stage` of the `kind` given, without a further cause.
    pub fn new(stage: &'static str, kind: StageFailure) -> Self {
        StageError {
            stage,
            kind,
            source: None,
        }
    }

    /// `stage` reported `cause` (a stage implementation's own error).
    pub fn failed(stage: &'static str, cause: impl Into<BoxError>) -> Self {
        StageError::new(stage, StageFailure::Failed).caused_by(cause)
    }

    /// This failure with `cause` as its source.
    pub fn caused_by(mut self, cause: impl Into<BoxError>) -> Self {
        self.source = Some(cause.into());
        self
    }
}

/// `err` and its sources as one line, `outer: inner: innermost`, for log fields. A source
/// whose text its parent already ends with (errors that print their cause themselves) is
/// not repeated.
pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(source) = next {
        let part = source.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that prints its cause itself, as `quarantd_store::Error` does.
    #[derive(Debug, thiserror::Error)]
    #[error("quarantine database unavailable during store message: {source}")]
    struct Unavailable {
        source: std::io::Error,
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        let store = Unavailable {
            source: std::io::Error::other("connection refused"),
        };
        let err = quarantd_core::HoldError::transient(store);
        assert_eq!(
            chain(&err),
            "quarantine store failed: quarantine database unavailable during store message: connection refused"
        );
        let scan = StageError::new("scan", StageFailure::Scanner)
            .caused_by("scanner clamd: down: connection refused");
        assert_eq!(
            chain(&scan),
            "stage scan failed: no verdict from the scanners: scanner clamd: down: connection refused"
        );
    }

    #[test]
    fn kinds_are_named_for_logs() {
        let cases = [
            (
                StageFailure::Timeout(Duration::from_secs(3)),
                "timeout",
                "no result within 3 s",
            ),
            (
                StageFailure::NoWorker(Duration::from_secs(2)),
                "no-worker",
                "no analysis worker free within 2 s",
            ),
            (
                StageFailure::PoolClosed,
                "pool-closed",
                "analysis pool closed",
            ),
            (
                StageFailure::Panicked("boom".into()),
                "panic",
                "panicked: boom",
            ),
            (
                StageFailure::TaskFailed,
                "task-failed",
                "analysis task failed",
            ),
            (
                StageFailure::Scanner,
                "scanner",
                "no verdict from the scanners",
            ),
            (StageFailure::Failed, "error", "error"),
        ];
        for (kind, name, text) in cases {
            assert_eq!(kind.as_str(), name);
            assert_eq!(
                StageError::new("decompose", kind).to_string(),
                format!("stage decompose failed: {text}")
            );
        }
    }
}

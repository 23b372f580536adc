//! The `scan` stage backed by `quarantd-scan`, and what a scanner's failure does to a message.
//!
//! A failure never lets mail pass as clean. Per failure kind it either fails the stage (the
//! message gets `451 4.3.0`, Postfix retries) or labels the message `unscannable`, which the
//! decision holds in the quarantine (answered 451 until the quarantine store exists).

use std::sync::Arc;

use quarantd_core::{Classified, Scanned};
use quarantd_scan::{FailureKind, MessageScanner, ScanError};

use crate::stages::{Scan, ScanFuture, StageError, Stages};

/// What a scanner failure does to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// 4xx: the sender's MTA tries again later.
    Tempfail,
    /// The message is labelled `unscannable` (held by the default decision).
    Quarantine,
}

/// [`OnFailure`] per [`FailureKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Scanner unreachable.
    pub down: OnFailure,
    /// Scanner too slow.
    pub timeout: OnFailure,
    /// Scanner answered with an error.
    pub error: OnFailure,
    /// Content over a scanner's limits.
    pub size_limit: OnFailure,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            down: OnFailure::Tempfail,
            timeout: OnFailure::Tempfail,
            error: OnFailure::Tempfail,
            size_limit: OnFailure::Quarantine,
        }
    }
}

impl FailurePolicy {
    /// What to do for `kind`.
    pub fn for_kind(&self, kind: FailureKind) -> OnFailure {
        match kind {
            FailureKind::Down => self.down,
            FailureKind::Timeout => self.timeout,
            FailureKind::EngineError => self.error,
            FailureKind::SizeLimit => self.size_limit,
        }
    }
}

/// The scan stage: every message through a [`MessageScanner`].
pub struct ScannerStage {
    scanner: Arc<MessageScanner>,
    policy: FailurePolicy,
}

impl ScannerStage {
    /// A stage scanning with `scanner`, failures handled by `policy`.
    pub fn new(scanner: Arc<MessageScanner>, policy: FailurePolicy) -> Self {
        ScannerStage { scanner, policy }
    }

    fn failed(&self, err: ScanError, mut classified: Classified) -> Result<Scanned, StageError> {
        match self.policy.for_kind(err.kind) {
            OnFailure::Tempfail => {
                tracing::warn!(target: "quarantd::scan", kind = %err.kind, error = %err, "Scanner failed; the message is deferred.");
                Err(StageError::new("scan", err.to_string()))
            }
            OnFailure::Quarantine => {
                tracing::warn!(target: "quarantd::scan", kind = %err.kind, error = %err, "Scanner failed; the message is unscannable.");
                let Some(root) = classified.parts.first_mut() else {
                    return Err(StageError::new("scan", err.to_string()));
                };
                root.part.mark_unscannable(err.to_string());
                Ok(Scanned {
                    classified,
                    findings: Vec::new(),
                })
            }
        }
    }
}

impl Scan for ScannerStage {
    fn scan<'a>(&'a self, raw: &'a [u8], classified: Classified) -> ScanFuture<'a> {
        Box::pin(async move {
            match self.scanner.scan_message(raw, &classified.parts).await {
                Ok(report) => Ok(Scanned {
                    classified,
                    findings: report.findings,
                }),
                Err(err) => self.failed(err, classified),
            }
        })
    }
}

impl Stages {
    /// These stages with `scan` as the scan stage (e.g. a [`ScannerStage`]).
    pub fn with_scanner(mut self, scan: Box<dyn Scan>) -> Self {
        self.scan = scan;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_core::{Label, Part, PartData, PartPath};
    use quarantd_scan::generation::GenerationWatch;
    use quarantd_scan::{BoxFuture, MessageScannerConfig, Outcome, Scanner};

    struct Failing(FailureKind);

    impl Scanner for Failing {
        fn name(&self) -> &str {
            "failing"
        }
        fn scan<'a>(&'a self, _: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
            let err = ScanError::new("failing", self.0, "scripted");
            Box::pin(async move { Err(err) })
        }
        fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
            Box::pin(async { Ok(None) })
        }
    }

    fn classified() -> Classified {
        let part = |path: &str, content: &[u8]| PartData {
            part: Part::new(PartPath(path.into()), content.len() as u64, String::new()),
            content: content.to_vec(),
        };
        Classified {
            parts: vec![part("", b""), part("1", b"body")],
        }
    }

    fn stage(kind: FailureKind) -> ScannerStage {
        let scanner = MessageScanner::new(
            Box::new(Failing(kind)),
            GenerationWatch::new(None, std::time::Duration::ZERO),
            MessageScannerConfig::default(),
        );
        ScannerStage::new(Arc::new(scanner), FailurePolicy::default())
    }

    #[tokio::test]
    async fn failures_tempfail_or_make_the_message_unscannable_never_clean() {
        for kind in [
            FailureKind::Down,
            FailureKind::Timeout,
            FailureKind::EngineError,
        ] {
            let err = stage(kind).scan(b"raw", classified()).await.unwrap_err();
            assert_eq!(err.stage, "scan");
        }
        let scanned = stage(FailureKind::SizeLimit)
            .scan(b"raw", classified())
            .await
            .unwrap();
        assert!(scanned.classified.parts[0]
            .part
            .labels
            .contains(&Label::Unscannable));
    }
}

//! The `scan` stage backed by `quarantd-scan`, and what a scanner's failure does to a message.
//!
//! A failure never lets mail pass as clean, and never hides a detection.
//!
//! - **Failures and no detection**: per failure kind it either fails the stage (the message
//!   gets `451 4.3.0`, Postfix retries) or labels the message `unscannable`, which the
//!   decision holds in the quarantine. With several failures, any kind set to `tempfail`
//!   wins: a retry may scan what is missing.
//! - **A detection and failures of other items** (one over a size limit, or clamd gone or too
//!   slow for another): every detection is kept as a finding and the message is labelled
//!   `unscannable` on top, whatever `on_*` says — the message is a virus either way, so the
//!   decision treats it as one (by default held, or rejected in our own mail; the virus
//!   reason brings the virus approvals). It is not deferred: a retry would only find the
//!   virus again, and a scanner that stays down would end as Postfix's bounce to the sender.
//!   Only a site whose policy lets both `virus` and `unscannable` through delivers it.
//!
//! The failures are recorded as the message's `unscannable` reason, beside the findings.

use std::sync::Arc;

use quarantd_core::{Classified, Scanned};
use quarantd_scan::{FailureKind, MessageReport, MessageScanner, ScanError};

use crate::error::{StageError, StageFailure};
use crate::stages::{Scan, ScanFuture, Stages};

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

    /// Some items got no verdict: see the module documentation.
    fn incomplete(
        &self,
        report: MessageReport,
        mut classified: Classified,
    ) -> Result<Scanned, StageError> {
        let reason = failures_text(&report.failures);
        let retry = report
            .failures
            .iter()
            .any(|f| self.policy.for_kind(f.kind) == OnFailure::Tempfail);
        if report.findings.is_empty() && retry {
            tracing::warn!(target: "quarantd::scan", failures = report.failures.len(), error = %reason, "Scanner failed; the message is deferred.");
            return Err(scanner_failed(ScanFailures(report.failures)));
        }
        let Some(root) = classified.parts.first_mut() else {
            return Err(scanner_failed(ScanFailures(report.failures)));
        };
        if report.findings.is_empty() {
            tracing::warn!(target: "quarantd::scan", failures = report.failures.len(), error = %reason, "Scanner failed; the message is unscannable.");
        } else {
            tracing::warn!(target: "quarantd::scan", findings = report.findings.len(), failures = report.failures.len(), error = %reason, "Scanner failed for some parts of an infected message; the findings are kept and the message is unscannable too.");
        }
        root.part.mark_unscannable(reason);
        Ok(Scanned {
            classified,
            findings: report.findings,
        })
    }

    fn failed(&self, err: ScanError, mut classified: Classified) -> Result<Scanned, StageError> {
        match self.policy.for_kind(err.kind) {
            OnFailure::Tempfail => {
                tracing::warn!(target: "quarantd::scan", kind = %err.kind, error = %err, "Scanner failed; the message is deferred.");
                Err(scanner_failed(err))
            }
            OnFailure::Quarantine => {
                tracing::warn!(target: "quarantd::scan", kind = %err.kind, error = %err, "Scanner failed; the message is unscannable.");
                let Some(root) = classified.parts.first_mut() else {
                    return Err(scanner_failed(err));
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
                Ok(report) if report.failures.is_empty() => Ok(Scanned {
                    classified,
                    findings: report.findings,
                }),
                Ok(report) => self.incomplete(report, classified),
                Err(err) => self.failed(err, classified),
            }
        })
    }
}

/// The scan stage's error when the scanners gave no verdict: `cause` says which and how.
fn scanner_failed(cause: impl Into<quarantd_core::BoxError>) -> StageError {
    StageError::new("scan", StageFailure::Scanner).caused_by(cause)
}

/// Several items' failures as one cause (each a [`ScanError`] with its kind).
#[derive(Debug, thiserror::Error)]
#[error("{}", failures_text(.0))]
struct ScanFailures(Vec<ScanError>);

/// Most failures named in an `unscannable` reason; the rest are counted.
const MAX_FAILURES_NAMED: usize = 5;

/// The failures as one reason: `scanner clamd: size-limit: … (part 2); …`.
fn failures_text(failures: &[ScanError]) -> String {
    let mut text: Vec<String> = failures
        .iter()
        .take(MAX_FAILURES_NAMED)
        .map(ToString::to_string)
        .collect();
    if failures.len() > MAX_FAILURES_NAMED {
        text.push(format!("and {} more", failures.len() - MAX_FAILURES_NAMED));
    }
    text.join("; ")
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

    /// Infected when the content contains "evil"; else fails with `kind`.
    struct EvilOr(FailureKind);

    impl Scanner for EvilOr {
        fn name(&self) -> &str {
            "evil-or"
        }
        fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
            let answer = if data.windows(4).any(|w| w == b"evil") {
                Ok(Outcome::Infected(vec![quarantd_scan::Detection {
                    engine: "evil-or".into(),
                    name: "Test.Evil".into(),
                }]))
            } else {
                Err(ScanError::new("evil-or", self.0, "scripted"))
            };
            Box::pin(async move { answer })
        }
        fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
            Box::pin(async { Ok(Some("v".into())) })
        }
    }

    /// Issue 11 A3: a detection plus another item's failure — of any kind, a size limit or a
    /// scanner gone — keeps the finding and labels the message unscannable on top.
    #[tokio::test]
    async fn a_detection_beside_a_failure_is_kept_and_the_message_is_unscannable() {
        for kind in [
            FailureKind::SizeLimit,
            FailureKind::Down,
            FailureKind::Timeout,
        ] {
            let scanner = MessageScanner::new(
                Box::new(EvilOr(kind)),
                GenerationWatch::new(None, std::time::Duration::ZERO),
                MessageScannerConfig::default(),
            );
            let stage = ScannerStage::new(Arc::new(scanner), FailurePolicy::default());
            let part = |path: &str, content: &[u8]| PartData {
                part: Part::new(PartPath(path.into()), content.len() as u64, String::new()),
                content: content.to_vec(),
            };
            let classified = Classified {
                parts: vec![part("", b""), part("1", b"evil"), part("2", b"other")],
            };
            let scanned = stage.scan(b"raw", classified).await.unwrap();
            assert_eq!(scanned.findings.len(), 1, "{kind}");
            assert_eq!(scanned.findings[0].name, "Test.Evil");
            let root = &scanned.classified.parts[0].part;
            assert!(root.labels.contains(&Label::Unscannable), "{kind}");
            assert!(
                root.unscannable_reason
                    .as_deref()
                    .is_some_and(|r| r.contains(kind.as_str()) && r.contains("(part 2)")),
                "{kind}: {root:?}"
            );
        }
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
            assert_eq!(err.kind, StageFailure::Scanner);
            let cause = std::error::Error::source(&err).expect("the scanner's error is kept");
            let text = cause.to_string();
            assert!(
                text.contains(&format!("scanner failing: {kind}: scripted")),
                "{text}"
            );
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

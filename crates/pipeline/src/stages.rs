//! The stage traits and the stages of this release.

use std::future::Future;
use std::pin::Pin;

use quarantd_core::{Action, Classified, Decomposed, Envelope, Label, Scanned, Verdict};

/// A stage failed; the message gets a 4xx naming the stage.
#[derive(Debug, Clone, thiserror::Error)]
#[error("stage {stage} failed: {reason}")]
pub struct StageError {
    /// The stage's name: `decompose`, `classify`, `scan`, `decide` or `commit`.
    pub stage: &'static str,
    /// What went wrong.
    pub reason: String,
}

impl StageError {
    /// A failure of `stage`.
    pub fn new(stage: &'static str, reason: impl Into<String>) -> Self {
        StageError {
            stage,
            reason: reason.into(),
        }
    }
}

/// Raw bytes → parts.
pub trait Decompose: Send + Sync {
    /// Decomposes one message. Pure; may be slow, runs on the blocking pool.
    fn decompose(&self, raw: &[u8]) -> Result<Decomposed, StageError>;
}

/// Parts → labelled parts.
pub trait Classify: Send + Sync {
    /// Detects types and labels. Pure; runs on the blocking pool.
    fn classify(&self, parts: Decomposed) -> Result<Classified, StageError>;
}

/// The future a scanner stage returns.
pub type ScanFuture<'a> = Pin<Box<dyn Future<Output = Result<Scanned, StageError>> + Send + 'a>>;

/// Labelled parts → findings of scanners (does I/O).
pub trait Scan: Send + Sync {
    /// Scans the message and its parts.
    fn scan<'a>(&'a self, raw: &'a [u8], classified: Classified) -> ScanFuture<'a>;
}

/// Everything known → verdict.
pub trait Decide: Send + Sync {
    /// Decides what happens to the message. Pure.
    fn decide(&self, envelope: &Envelope, scanned: &Scanned) -> Verdict;
}

/// The four analysis stages of a pipeline.
pub struct Stages {
    /// `decompose`
    pub decompose: Box<dyn Decompose>,
    /// `classify`
    pub classify: Box<dyn Classify>,
    /// `scan`
    pub scan: Box<dyn Scan>,
    /// `decide`
    pub decide: Box<dyn Decide>,
}

impl Stages {
    /// The stages of this release: decomposition, classification, no scanner (add one with
    /// `with_scanner`), and the built-in default decision.
    pub fn standard(limits: quarantd_mime::Limits) -> Self {
        Stages {
            decompose: Box::new(MimeDecompose(limits)),
            classify: Box::new(ContentClassify),
            scan: Box::new(NoScan),
            decide: Box::new(DefaultDecide),
        }
    }
}

/// Decomposition by `quarantd-mime`.
pub struct MimeDecompose(pub quarantd_mime::Limits);

impl Decompose for MimeDecompose {
    fn decompose(&self, raw: &[u8]) -> Result<Decomposed, StageError> {
        Ok(quarantd_mime::decompose(raw, &self.0))
    }
}

/// Classification by content with `quarantd-classify`: detected type and risk labels.
pub struct ContentClassify;

impl Classify for ContentClassify {
    fn classify(&self, parts: Decomposed) -> Result<Classified, StageError> {
        Ok(quarantd_classify::classify(parts))
    }
}

/// No classification: the parts keep the labels decomposition gave them (e.g. `unscannable`).
/// For tests that look at transport alone.
pub struct NoClassify;

impl Classify for NoClassify {
    fn classify(&self, parts: Decomposed) -> Result<Classified, StageError> {
        Ok(Classified { parts: parts.parts })
    }
}

/// No scanner configured: no findings. The scanning issue adds clamd and others.
pub struct NoScan;

impl Scan for NoScan {
    fn scan<'a>(&'a self, _raw: &'a [u8], classified: Classified) -> ScanFuture<'a> {
        Box::pin(async move {
            Ok(Scanned {
                classified,
                findings: Vec::new(),
            })
        })
    }
}

/// The built-in decision until the policy issue lands: any finding → reject; any dangerous
/// label → quarantine; otherwise pass, with the other labels named.
pub struct DefaultDecide;

/// Labels that hold a message by default.
pub const HOLDING_LABELS: [Label; 8] = [
    Label::Executable,
    Label::Script,
    Label::VbaMacro,
    Label::XlmMacro,
    Label::Dde,
    Label::Encrypted,
    Label::Unscannable,
    Label::PathTraversal,
];

impl Decide for DefaultDecide {
    fn decide(&self, _envelope: &Envelope, scanned: &Scanned) -> Verdict {
        if !scanned.findings.is_empty() {
            let reasons = scanned
                .findings
                .iter()
                .map(|f| format!("{}:{}", f.kind, f.name))
                .collect();
            return Verdict {
                action: Action::Reject,
                reasons,
            };
        }
        let mut labels: Vec<Label> = scanned
            .classified
            .parts
            .iter()
            .flat_map(|p| p.part.labels.iter().copied())
            .collect();
        labels.sort();
        labels.dedup();
        let holds = labels.iter().any(|l| HOLDING_LABELS.contains(l));
        Verdict {
            action: if holds {
                Action::Quarantine
            } else {
                Action::Pass
            },
            reasons: labels.iter().map(|l| l.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_core::{Finding, Part, PartData, PartPath};

    fn scanned(labels: &[Label], findings: Vec<Finding>) -> Scanned {
        let part = Part {
            path: PartPath("1".into()),
            filename: None,
            declared_type: None,
            detected_type: None,
            size: 0,
            sha256: String::new(),
            labels: labels.to_vec(),
            unscannable_reason: None,
        };
        Scanned {
            classified: Classified {
                parts: vec![PartData {
                    part,
                    content: vec![],
                }],
            },
            findings,
        }
    }

    fn envelope() -> Envelope {
        Envelope {
            id: "x".into(),
            peer: "127.0.0.1:1".parse().unwrap(),
            helo: String::new(),
            mail_from: String::new(),
            mail_params: Default::default(),
            recipients: vec![],
            xforward: Default::default(),
            received_at: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn default_decision_table() {
        let cases: &[(&[Label], bool, Action)] = &[
            (&[], false, Action::Pass),
            (&[Label::SourceCode], false, Action::Pass),
            (
                &[Label::TypeMismatch, Label::OleObject],
                false,
                Action::Pass,
            ),
            (&[Label::Executable], false, Action::Quarantine),
            (&[Label::Unscannable], false, Action::Quarantine),
            (
                &[Label::VbaMacro, Label::SourceCode],
                false,
                Action::Quarantine,
            ),
            (&[], true, Action::Reject),
        ];
        for (labels, virus, expected) in cases {
            let findings = if *virus {
                vec![Finding {
                    kind: "virus".into(),
                    engine: "clamd".into(),
                    name: "Eicar".into(),
                    part: None,
                }]
            } else {
                vec![]
            };
            let verdict = DefaultDecide.decide(&envelope(), &scanned(labels, findings));
            assert_eq!(
                verdict.action, *expected,
                "labels {labels:?}, virus {virus}"
            );
        }
    }
}

//! The stage traits and the stages of this release.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use quarantd_policy::{Decision, Direction, Group, Policy};

use quarantd_core::{Classified, Decomposed, Envelope, Scanned, Verdict};

/// What the stage traits return on failure (defined with its kinds in [`crate::error`]).
pub use crate::error::StageError;

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

    /// True when this stage scans nothing although nobody chose that: each message's log
    /// line then says `scan=unscanned`.
    fn unscanned(&self) -> bool {
        false
    }
}

/// Everything known → verdict.
pub trait Decide: Send + Sync {
    /// Decides what happens to the message as a whole. Pure.
    fn decide(&self, envelope: &Envelope, scanned: &Scanned) -> Verdict;

    /// Decides per recipient; what the pipeline carries out. The default: one verdict for
    /// every recipient ([`Decide::decide`]), direction unknown.
    fn plan(&self, envelope: &Envelope, scanned: &Scanned) -> Plan {
        Plan::uniform(self.decide(envelope, scanned))
    }
}

/// What the pipeline carries out for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The verdict for the message as a whole (log line, verdict header, the reply when
    /// uniform).
    pub verdict: Verdict,
    /// The message's direction; `None` = unknown (the policy names no local domains, or a
    /// decision without a policy).
    pub direction: Option<Direction>,
    /// The subject tag when the whole message is delivered with the `tag` action.
    pub subject_tag: Option<String>,
    /// Recipients with different outcomes, one group per action (deliveries one per subject
    /// tag; see `quarantd_policy`'s `decide` module); empty when every recipient has the
    /// same outcome.
    pub split: Vec<Group>,
}

impl Plan {
    /// One verdict for every recipient, direction unknown.
    pub fn uniform(verdict: Verdict) -> Plan {
        Plan {
            verdict,
            direction: None,
            subject_tag: None,
            split: Vec::new(),
        }
    }

    /// The plan of a policy decision.
    pub fn from_decision(decision: &Decision) -> Plan {
        let uniform = decision.is_uniform();
        Plan {
            verdict: decision.verdict().clone(),
            direction: Some(decision.direction),
            subject_tag: if uniform {
                decision
                    .recipients
                    .first()
                    .and_then(|r| r.subject_tag.clone())
            } else {
                None
            },
            split: if uniform {
                Vec::new()
            } else {
                decision.groups()
            },
        }
    }

    /// The direction as recorded in the store: `inbound`, `outbound`, `internal` or
    /// `unknown`.
    pub fn direction_str(&self) -> &'static str {
        self.direction.map_or("unknown", Direction::as_str)
    }
}

/// The decision of the policy (`quarantd_policy::decide`): per domain and direction, an
/// outcome per recipient. Without `[policy]` the policy is [`Policy::default`].
pub struct PolicyDecide(pub Arc<Policy>);

impl PolicyDecide {
    /// The policy's decision on a message.
    pub fn decision(&self, envelope: &Envelope, scanned: &Scanned) -> Decision {
        quarantd_policy::decide(
            &self.0,
            envelope,
            scanned.classified.parts.iter().map(|p| &p.part),
            &scanned.findings,
        )
    }
}

impl Decide for PolicyDecide {
    fn decide(&self, envelope: &Envelope, scanned: &Scanned) -> Verdict {
        self.decision(envelope, scanned).verdict().clone()
    }

    /// The decision's plan. Without local domains every message is inbound by definition, so
    /// its direction says nothing: it is logged and stored as unknown.
    fn plan(&self, envelope: &Envelope, scanned: &Scanned) -> Plan {
        let mut plan = Plan::from_decision(&self.decision(envelope, scanned));
        if self.0.local_domains().is_empty() {
            plan.direction = None;
        }
        plan
    }
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
    /// `with_scanner`), and the decision of `policy`.
    pub fn standard(limits: quarantd_mime::Limits, policy: Arc<Policy>) -> Self {
        let budget = quarantd_classify::Budget {
            max_inflated: limits.max_total_unpacked,
            max_time: limits.max_time,
        };
        Stages {
            decompose: Box::new(MimeDecompose(limits)),
            classify: Box::new(ContentClassify(budget)),
            scan: Box::new(NoScan),
            decide: Box::new(PolicyDecide(policy)),
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

/// Classification by content with `quarantd-classify`: detected type and risk labels,
/// within one budget per message (the decomposition's byte and time limits again).
pub struct ContentClassify(pub quarantd_classify::Budget);

impl Classify for ContentClassify {
    fn classify(&self, parts: Decomposed) -> Result<Classified, StageError> {
        Ok(quarantd_classify::classify_within(parts, &self.0))
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

/// No scanner configured: no findings, and every message is logged `scan=unscanned`.
pub struct NoScan;

impl Scan for NoScan {
    fn scan<'a>(&'a self, _raw: &'a [u8], classified: Classified) -> ScanFuture<'a> {
        not_scanned(classified)
    }

    fn unscanned(&self) -> bool {
        true
    }
}

/// No scanner, on purpose (`scan.none = true`): no findings, nothing logged about it.
pub struct ScanNone;

impl Scan for ScanNone {
    fn scan<'a>(&'a self, _raw: &'a [u8], classified: Classified) -> ScanFuture<'a> {
        not_scanned(classified)
    }
}

fn not_scanned<'a>(classified: Classified) -> ScanFuture<'a> {
    Box::pin(async move {
        Ok(Scanned {
            classified,
            findings: Vec::new(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_core::{Action, Finding, Label, Part, PartData, PartPath};

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

    fn policy() -> Arc<Policy> {
        let mut raw = quarantd_policy::RawPolicy {
            local_domains: vec!["example.org".into(), "other.example".into()],
            local_networks: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        raw.default
            .outbound
            .insert("executable".into(), "reject".into());
        raw.default
            .internal
            .insert("executable".into(), "tag".into());
        let mut other = quarantd_policy::RawDomainPolicy::default();
        other.inbound.insert("executable".into(), "pass".into());
        raw.domains.insert("other.example".into(), other);
        Arc::new(raw.validate().unwrap())
    }

    fn envelope_from(client: &str, sender: &str, rcpts: &[&str]) -> Envelope {
        let mut e = envelope();
        if !client.is_empty() {
            e.xforward.set("ADDR", client);
        }
        e.mail_from = sender.into();
        e.recipients = rcpts
            .iter()
            .map(|a| quarantd_core::Recipient {
                address: a.to_string(),
                notify: None,
                orcpt: None,
            })
            .collect();
        e
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn policy_adapter_direction_matrix() {
        use Direction::*;
        let decide = PolicyDecide(policy());
        let exe = scanned(&[Label::Executable], vec![]);
        // (client, sender, recipients) → (direction, whole-message action, split groups)
        let cases: &[(&str, &str, &[&str], Direction, Action, usize)] = &[
            (
                "192.0.2.1",
                "x@remote.test",
                &["a@example.org"],
                Inbound,
                Action::Quarantine,
                0,
            ),
            (
                "192.0.2.1",
                "a@example.org",
                &["b@example.org"],
                Inbound,
                Action::Quarantine,
                0,
            ),
            (
                "10.1.1.1",
                "x@remote.test",
                &["a@example.org"],
                Inbound,
                Action::Quarantine,
                0,
            ),
            (
                "10.1.1.1",
                "",
                &["a@example.org"],
                Inbound,
                Action::Quarantine,
                0,
            ),
            (
                "",
                "a@example.org",
                &["b@example.org"],
                Inbound,
                Action::Quarantine,
                0,
            ),
            (
                "10.1.1.1",
                "a@example.org",
                &["b@example.org"],
                Internal,
                Action::Tag,
                0,
            ),
            (
                "10.1.1.1",
                "a@example.org",
                &["x@remote.test"],
                Outbound,
                Action::Reject,
                0,
            ),
            // Mixed outbound (reject) and internal (tag): the reject becomes quarantine
            // for the outbound recipient, the internal one is delivered tagged.
            (
                "10.1.1.1",
                "a@example.org",
                &["b@example.org", "x@remote.test"],
                Outbound,
                Action::Quarantine,
                2,
            ),
            // Inbound to two domains with different policies: held for one, passed to the other.
            (
                "192.0.2.1",
                "x@remote.test",
                &["a@example.org", "b@other.example"],
                Inbound,
                Action::Quarantine,
                2,
            ),
            (
                "192.0.2.1",
                "x@remote.test",
                &["b@other.example"],
                Inbound,
                Action::Pass,
                0,
            ),
        ];
        for (client, sender, rcpts, direction, action, groups) in cases {
            let plan = decide.plan(&envelope_from(client, sender, rcpts), &exe);
            let what = format!("{client} {sender} {rcpts:?}: {plan:?}");
            assert_eq!(plan.direction, Some(*direction), "{what}");
            assert_eq!(plan.verdict.action, *action, "{what}");
            assert_eq!(plan.split.len(), *groups, "{what}");
        }
        let plan = decide.plan(
            &envelope_from(
                "192.0.2.1",
                "x@remote.test",
                &["a@example.org", "b@other.example"],
            ),
            &exe,
        );
        assert_eq!(plan.split[0].verdict.action, Action::Quarantine);
        assert_eq!(plan.split[0].recipients, ["a@example.org"]);
        assert_eq!(plan.split[1].verdict.action, Action::Pass);
        assert_eq!(plan.split[1].recipients, ["b@other.example"]);
        assert_eq!(plan.direction_str(), "inbound");
    }

    #[test]
    fn without_local_domains_the_direction_is_unknown() {
        let exe = scanned(&[Label::Executable], vec![]);
        let local = envelope_from("10.1.1.1", "a@example.org", &["x@remote.test"]);
        let builtin = PolicyDecide(Arc::new(Policy::default())).plan(&local, &exe);
        assert_eq!(builtin.direction, None);
        assert_eq!(builtin.direction_str(), "unknown");
        assert_eq!(
            builtin.verdict.action,
            Action::Quarantine,
            "decided as inbound"
        );
        let networks_only = quarantd_policy::RawPolicy {
            local_networks: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        let decide = PolicyDecide(Arc::new(networks_only.validate().unwrap()));
        assert_eq!(decide.plan(&local, &exe).direction, None);
        let configured = PolicyDecide(policy()).plan(&local, &exe);
        assert_eq!(configured.direction, Some(Direction::Outbound));
    }

    #[test]
    fn default_decision_table() {
        let decide = PolicyDecide(Arc::new(Policy::default()));
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
            // A virus is held silently: the sender of inbound mail is unproven (backscatter).
            (&[], true, Action::Quarantine),
            (&[Label::Executable], true, Action::Quarantine),
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
            let verdict = decide.decide(&envelope(), &scanned(labels, findings));
            assert_eq!(
                verdict.action, *expected,
                "labels {labels:?}, virus {virus}"
            );
        }
    }
}

//! The decision on one message: an outcome per recipient, and how they are carried out.
//!
//! # One message, several policies
//!
//! Each recipient is decided on its own: its direction ([`crate::direction`]), the policy of
//! the domain responsible for it (the recipient's domain for inbound and internal mail, the
//! sender's for outbound mail: the organisation's domain the mail leaves from), and the most
//! severe action any label or finding has there (reject > tempfail > quarantine > tag > pass).
//!
//! SMTP has a single reply to the end of data for all recipients, so the wanted outcomes are
//! then reconciled ([`Decision::recipients`] keeps both, `wanted` and the `verdict` carried
//! out):
//!
//! 1. **Any recipient wants tempfail**: the whole message is tempfailed (451). Delivering to the
//!    others first would deliver them twice when the client retries all recipients, and
//!    tempfail is what a retry can cure (a scanner down).
//! 2. **Some, not all, recipients want reject**: their reject becomes **quarantine**. A reject
//!    for some recipients cannot be said at the end of data; answering 5xx would bounce the
//!    mail for everyone, answering 4xx would deliver the others again. Holding the copy keeps
//!    it out of the mailbox just as well, the postmaster sees it, and the verdict reasons
//!    (e.g. `virus:…`) still forbid self-release and ask for two approvals.
//! 3. Otherwise every recipient keeps its action.
//!
//! Then the recipients are **grouped by action** ([`Decision::groups`]), never by their
//! reasons: one group per action, its reasons the union of its recipients' reasons, except
//! that deliveries (pass, tag) form one group per subject tag, because the delivered message
//! differs by it. A tag group's `X-Quarantd-Warning` therefore names every reason any of its
//! recipients was tagged for. When there is one group ([`Decision::is_uniform`]) the message
//! has one outcome: pass/tag: deliver, answer the relay's reply; quarantine: commit, 250;
//! reject (every recipient): a copy is stored, then 554; tempfail (anyone): 451. Recipients
//! that want the same action for different reasons are one outcome — splitting them would
//! leave groups (reject, tempfail) that no transaction carries.
//!
//! With several groups only pass, tag and quarantine remain (rules 1 and 2). The pipeline
//! commits the quarantine group to the store first (one stored message with those
//! recipients), then delivers each delivering group (pass; tag with its header and subject
//! tag) in its own relay transaction with just those recipients, and answers **250** once
//! every group is carried out durably ([`Decision::reply`] = [`Reply::Accept`]). If the store
//! fails, nothing was delivered: 451. If a delivery fails with 4xx after the store commit, the
//! answer is 451 and the retry stores the held copy a second time (the store can recognise it
//! by upstream queue id, message hash and recipient); a 5xx from the relay for the first
//! delivering group, before anything was done, is passed on. Groups of different subject
//! tags are separate transactions: keep tags equal across domains to avoid that.
//!
//! Whatever the decision, the pipeline checks before it sends any 2xx that every recipient
//! of the transaction was delivered or held exactly once (`quarantd_pipeline::ledger`), and
//! answers 451 otherwise: a 250 never leaves a recipient behind.

use quarantd_core::{Action, Envelope, Finding, Part, PartPath, Verdict};

use crate::direction::{Direction, Origin};
use crate::kinds::{severity, ALL_LABELS};
use crate::Policy;

/// Header added to mail delivered with the `tag` action; its value names the reasons.
pub const TAG_HEADER: &str = "X-Quarantd-Warning";

/// One label of one part, or one finding: what an action is chosen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The key in the policy tables: a label (`executable`) or a finding kind (`virus`).
    pub key: String,
    /// The reason as recorded in verdicts: `executable`, `virus:Eicar-Signature`.
    pub reason: String,
    /// The part it concerns, when known.
    pub part: Option<PartPath>,
}

/// Every trigger of a message: each label of each part (parts in tree order), then the
/// findings.
pub fn triggers<'a>(
    parts: impl IntoIterator<Item = &'a Part>,
    findings: &[Finding],
) -> Vec<Trigger> {
    let mut out: Vec<Trigger> = parts
        .into_iter()
        .flat_map(|part| {
            part.labels.iter().map(|label| Trigger {
                key: label.as_str().to_string(),
                reason: label.as_str().to_string(),
                part: Some(part.path.clone()),
            })
        })
        .collect();
    out.extend(findings.iter().map(|f| Trigger {
        key: f.kind.clone(),
        reason: format!("{}:{}", f.kind, f.name),
        part: f.part.clone(),
    }));
    out
}

/// The outcome for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientOutcome {
    /// The recipient address as in the envelope.
    pub recipient: String,
    /// This recipient's direction.
    pub direction: Direction,
    /// The domain policy that applied (`default` or the configured pattern).
    pub policy: String,
    /// The action this recipient's policy asked for on its own.
    pub wanted: Action,
    /// What is carried out (differs from `wanted` after reconciliation, see module docs).
    pub verdict: Verdict,
    /// The subject tag when the verdict is `tag` and the domain has one.
    pub subject_tag: Option<String>,
}

/// Recipients that share one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// What happens to the message for these recipients.
    pub verdict: Verdict,
    /// The subject tag (tag action only).
    pub subject_tag: Option<String>,
    /// The recipients, in envelope order.
    pub recipients: Vec<String>,
}

impl Group {
    /// Headers to add when delivering this group (besides the pipeline's own): for `tag`,
    /// [`TAG_HEADER`] with the reasons.
    pub fn headers(&self) -> Vec<(String, String)> {
        if self.verdict.action == Action::Tag {
            vec![(TAG_HEADER.to_string(), self.verdict.reasons.join(", "))]
        } else {
            Vec::new()
        }
    }
}

/// The single reply at the end of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Carry out every group (deliver, hold), then answer 250 (or the relay's reply when the
    /// whole message is one delivering group).
    Accept,
    /// Every recipient rejects: 554 with these reasons (after the pipeline stored a copy);
    /// nothing is delivered.
    Reject(Verdict),
    /// Tempfail the whole message: 451; nothing is delivered or held.
    Tempfail(Verdict),
}

/// The decision on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The message's direction (outbound if any recipient is outbound, else internal if any
    /// is internal, else inbound).
    pub direction: Direction,
    /// Where the message came from.
    pub origin: Origin,
    /// Every recipient's outcome, in envelope order.
    pub recipients: Vec<RecipientOutcome>,
    /// The verdict for the message as a whole (see [`Decision::verdict`]).
    summary: Verdict,
}

impl Decision {
    /// Recipients grouped by the action carried out for them, in order of first appearance
    /// (see the module documentation): one group per action, except that deliveries (pass,
    /// tag) are one group per subject tag (each a relay transaction of its own). A group's
    /// reasons are the union of its recipients' reasons, in order.
    pub fn groups(&self) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for r in &self.recipients {
            match groups.iter_mut().find(|g| same_group(g, r)) {
                Some(g) => {
                    g.recipients.push(r.recipient.clone());
                    for reason in &r.verdict.reasons {
                        if !g.verdict.reasons.contains(reason) {
                            g.verdict.reasons.push(reason.clone());
                        }
                    }
                }
                None => groups.push(Group {
                    verdict: r.verdict.clone(),
                    subject_tag: r.subject_tag.clone(),
                    recipients: vec![r.recipient.clone()],
                }),
            }
        }
        groups
    }

    /// True when every recipient is in one group ([`Decision::groups`]): the same action
    /// and, for deliveries, the same subject tag. Reasons may differ.
    pub fn is_uniform(&self) -> bool {
        self.groups().len() <= 1
    }

    /// The reply at the end of data.
    pub fn reply(&self) -> Reply {
        match self.summary.action {
            Action::Reject => Reply::Reject(self.summary.clone()),
            Action::Tempfail => Reply::Tempfail(self.summary.clone()),
            _ => Reply::Accept,
        }
    }

    /// One verdict for the whole message (logs, the pipeline's `Decide` stage): the most
    /// severe action carried out for any recipient, with the reasons of every recipient that
    /// has it. With no recipients, the default policy's inbound decision.
    pub fn verdict(&self) -> &Verdict {
        &self.summary
    }
}

/// Decides on a message: the origin from XFORWARD, then [`decide_from`].
pub fn decide<'a>(
    policy: &Policy,
    envelope: &Envelope,
    parts: impl IntoIterator<Item = &'a Part>,
    findings: &[Finding],
) -> Decision {
    decide_from(
        policy.origin(&envelope.xforward),
        policy,
        envelope,
        parts,
        findings,
    )
}

/// Decides on a message whose origin the caller knows (e.g. a listener that only trusted,
/// authenticated submission reaches).
pub fn decide_from<'a>(
    origin: Origin,
    policy: &Policy,
    envelope: &Envelope,
    parts: impl IntoIterator<Item = &'a Part>,
    findings: &[Finding],
) -> Decision {
    let triggers = sorted(triggers(parts, findings));
    let sender_local = policy.is_local_address(&envelope.mail_from);
    let sender_domain = crate::domains::domain_of(&envelope.mail_from);
    let mut recipients: Vec<RecipientOutcome> = envelope
        .recipients
        .iter()
        .map(|rcpt| {
            let rcpt_domain = crate::domains::domain_of(&rcpt.address);
            let rcpt_local = rcpt_domain
                .as_deref()
                .is_some_and(|d| policy.is_local_domain(d));
            let direction = crate::direction::direction(origin, sender_local, rcpt_local);
            let domain = match direction {
                Direction::Outbound => sender_domain.as_deref(),
                _ => rcpt_domain.as_deref(),
            };
            outcome(policy, &rcpt.address, direction, domain, &triggers)
        })
        .collect();
    reconcile(&mut recipients);
    let direction = Direction::of_message(recipients.iter().map(|r| r.direction));
    let summary = if recipients.is_empty() {
        outcome(policy, "", Direction::Inbound, None, &triggers).verdict
    } else {
        summarise(&recipients)
    };
    Decision {
        direction,
        origin,
        recipients,
        summary,
    }
}

/// True when `r` is carried out together with the recipients of `g`: the same action, and
/// for a delivery the same subject tag (the message delivered differs by it).
fn same_group(g: &Group, r: &RecipientOutcome) -> bool {
    g.verdict.action == r.verdict.action
        && (!r.verdict.action.delivers() || g.subject_tag == r.subject_tag)
}

/// Label triggers in label order (then part order), then findings in scanner order.
fn sorted(mut triggers: Vec<Trigger>) -> Vec<Trigger> {
    let rank = |t: &Trigger| {
        ALL_LABELS
            .iter()
            .position(|l| l.as_str() == t.reason)
            .unwrap_or(ALL_LABELS.len())
    };
    triggers.sort_by_key(rank);
    triggers
}

/// One recipient's wanted outcome under its domain's policy.
fn outcome(
    policy: &Policy,
    recipient: &str,
    direction: Direction,
    domain: Option<&str>,
    triggers: &[Trigger],
) -> RecipientOutcome {
    let dp = policy.domain_policy(domain);
    let actions: Vec<Action> = triggers
        .iter()
        .map(|t| dp.action(direction, &t.key))
        .collect();
    let action = actions
        .iter()
        .copied()
        .max_by_key(|a| severity(*a))
        .unwrap_or(Action::Pass);
    let reasons = reasons_for(action, triggers, &actions);
    let subject_tag = (action == Action::Tag)
        .then(|| dp.subject_tag.clone())
        .flatten();
    RecipientOutcome {
        recipient: recipient.to_string(),
        direction,
        policy: dp.name.clone(),
        wanted: action,
        verdict: Verdict { action, reasons },
        subject_tag,
    }
}

/// The reasons recorded: for a pass every trigger (for information, as the header shows
/// them), otherwise every trigger that asked for more than a pass.
fn reasons_for(action: Action, triggers: &[Trigger], actions: &[Action]) -> Vec<String> {
    let mut reasons: Vec<String> = Vec::new();
    for (t, a) in triggers.iter().zip(actions) {
        let counts = action == Action::Pass || *a != Action::Pass;
        if counts && !reasons.contains(&t.reason) {
            reasons.push(t.reason.clone());
        }
    }
    reasons
}

/// Applies the rules of the module documentation to the wanted outcomes.
fn reconcile(recipients: &mut [RecipientOutcome]) {
    let wants = |a: Action| recipients.iter().any(|r| r.wanted == a);
    let all = |a: Action| recipients.iter().all(|r| r.wanted == a);
    if wants(Action::Tempfail) && !all(Action::Tempfail) {
        let reasons = union(recipients.iter().filter(|r| r.wanted == Action::Tempfail));
        for r in recipients.iter_mut() {
            r.verdict = Verdict {
                action: Action::Tempfail,
                reasons: reasons.clone(),
            };
            r.subject_tag = None;
        }
    } else if wants(Action::Reject) && !all(Action::Reject) {
        for r in recipients.iter_mut().filter(|r| r.wanted == Action::Reject) {
            r.verdict.action = Action::Quarantine;
        }
    }
}

/// The union of the reasons of some outcomes, in order.
fn union<'a>(outcomes: impl Iterator<Item = &'a RecipientOutcome>) -> Vec<String> {
    let mut reasons: Vec<String> = Vec::new();
    for r in outcomes.flat_map(|o| o.verdict.reasons.iter()) {
        if !reasons.contains(r) {
            reasons.push(r.clone());
        }
    }
    reasons
}

fn summarise(recipients: &[RecipientOutcome]) -> Verdict {
    let action = recipients
        .iter()
        .map(|r| r.verdict.action)
        .max_by_key(|a| severity(*a))
        .unwrap_or(Action::Pass);
    Verdict {
        action,
        reasons: union(recipients.iter().filter(|r| r.verdict.action == action)),
    }
}

//! What an action is chosen for: labels and finding kinds, and the built-in defaults.

use quarantd_core::{Action, Label};

use crate::direction::Direction;

/// Every label, in the order of [`Label`].
pub const ALL_LABELS: [Label; 13] = [
    Label::Executable,
    Label::Script,
    Label::SourceCode,
    Label::VbaMacro,
    Label::XlmMacro,
    Label::Dde,
    Label::OleObject,
    Label::Encrypted,
    Label::TypeMismatch,
    Label::DoubleExtension,
    Label::BidiName,
    Label::Unscannable,
    Label::PathTraversal,
];

/// Labels that hold a message by default (`quarantd_pipeline` re-exports this list for its
/// built-in decision).
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

/// The finding kind scanners report for malware (clamd and own signatures).
pub const VIRUS: &str = "virus";

/// The key that stands for every finding kind without a key of its own.
pub const OTHER_FINDING: &str = "other-finding";

/// The finding kinds a policy table may name, besides the labels.
pub const FINDING_KINDS: [&str; 2] = [VIRUS, OTHER_FINDING];

/// True when `key` names a label or a finding kind a policy table may use.
pub fn is_known_kind(key: &str) -> bool {
    ALL_LABELS.iter().any(|l| l.as_str() == key) || FINDING_KINDS.contains(&key)
}

/// The key a finding of `kind` is looked up under: its own kind when a table may name it,
/// else [`OTHER_FINDING`].
pub(crate) fn finding_key(kind: &str) -> &str {
    if FINDING_KINDS.contains(&kind) && kind != OTHER_FINDING {
        kind
    } else {
        OTHER_FINDING
    }
}

/// The built-in decision: holding labels quarantine, the rest passes; a finding (a virus) is
/// held silently in inbound mail and rejected in the organisation's own (outbound,
/// internal) mail.
///
/// Why not reject inbound viruses: quarantd filters after Postfix queued the mail, so a 5xx
/// makes Postfix bounce to the envelope sender with up to 50 KB of the original — for
/// inbound mail a usually forged address, i.e. malware mailed to a third party
/// (backscatter). Holding it (amavis' `D_DISCARD` with a copy kept) tells nobody outside; the
/// recipients and the postmaster are notified ([`crate::parties()`]). The sender of our own
/// mail is a colleague whose client should see the refusal. A site that wants SMTP-time
/// rejects sets `virus = "reject"` (sensible only in a before-queue set-up).
pub fn builtin_action(direction: Direction, key: &str) -> Action {
    if FINDING_KINDS.contains(&key) {
        match direction {
            Direction::Inbound => Action::Quarantine,
            Direction::Outbound | Direction::Internal => Action::Reject,
        }
    } else if HOLDING_LABELS.iter().any(|l| l.as_str() == key) {
        Action::Quarantine
    } else {
        Action::Pass
    }
}

/// Parses an action name as written in the config: `pass`, `tag`, `quarantine`, `reject`,
/// `tempfail`.
pub fn parse_action(name: &str) -> Option<Action> {
    [
        Action::Pass,
        Action::Tag,
        Action::Quarantine,
        Action::Reject,
        Action::Tempfail,
    ]
    .into_iter()
    .find(|a| a.as_str() == name)
}

/// How strongly an action wins over another when a message has several reasons:
/// reject > tempfail > quarantine > tag > pass. A certain reject (a virus) beats a failure that
/// a retry might cure; a retry beats holding, which might have been avoidable.
pub fn severity(action: Action) -> u8 {
    match action {
        Action::Pass => 0,
        Action::Tag => 1,
        Action::Quarantine => 2,
        Action::Tempfail => 3,
        Action::Reject => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_listed_once() {
        let mut names: Vec<&str> = ALL_LABELS.iter().map(|l| l.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL_LABELS.len());
    }

    #[test]
    fn builtin_actions() {
        use Direction::*;
        for (direction, finding) in [
            (Inbound, Action::Quarantine),
            (Outbound, Action::Reject),
            (Internal, Action::Reject),
        ] {
            assert_eq!(builtin_action(direction, "virus"), finding, "{direction:?}");
            assert_eq!(builtin_action(direction, "other-finding"), finding);
            assert_eq!(builtin_action(direction, "vba-macro"), Action::Quarantine);
            assert_eq!(builtin_action(direction, "source-code"), Action::Pass);
        }
        assert_eq!(finding_key("virus"), "virus");
        assert_eq!(finding_key("phishing"), "other-finding");
    }
}

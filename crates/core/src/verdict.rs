//! Findings of scanners and the verdict on a message.

use std::fmt;

use crate::part::PartPath;

/// What a scanner found, e.g. a virus.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The kind of finding, e.g. `virus`.
    pub kind: String,
    /// The engine that found it, e.g. `clamd`.
    pub engine: String,
    /// The engine's name for it, e.g. `Eicar-Signature`.
    pub name: String,
    /// The part it was found in, when known.
    pub part: Option<PartPath>,
}

/// What happens to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deliver with quarantd's headers.
    Pass,
    /// Deliver with a warning header (and optionally a subject tag).
    Tag,
    /// Hold in the quarantine.
    Quarantine,
    /// Refuse permanently (5xx).
    Reject,
    /// Refuse temporarily (4xx): the sender's MTA tries again later.
    Tempfail,
}

impl Action {
    /// The action as written in headers, logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Tag => "tag",
            Action::Quarantine => "quarantine",
            Action::Reject => "reject",
            Action::Tempfail => "tempfail",
        }
    }

    /// True when the message goes downstream.
    pub fn delivers(self) -> bool {
        matches!(self, Action::Pass | Action::Tag)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision on one message and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// What happens to the message.
    pub action: Action,
    /// The labels and findings that led to the action, e.g. `["executable", "virus:Eicar"]`.
    pub reasons: Vec<String>,
}

impl Verdict {
    /// A clean pass.
    pub fn pass() -> Self {
        Verdict {
            action: Action::Pass,
            reasons: Vec::new(),
        }
    }

    /// The value of the verdict header: `pass` or `quarantine (executable, vba-macro)`.
    pub fn header_value(&self) -> String {
        if self.reasons.is_empty() {
            self.action.to_string()
        } else {
            format!("{} ({})", self.action, self.reasons.join(", "))
        }
    }
}

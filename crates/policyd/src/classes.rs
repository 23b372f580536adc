//! Sender classes: which limits apply to a sender, and what is done over them.

use std::time::Duration;

/// The class of senders no other class names.
pub const DEFAULT_CLASS: &str = "person";

/// What a sender over a limit gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAction {
    /// `DEFER_IF_PERMIT 4.7.1`: try again later.
    Defer,
    /// `HOLD`: Postfix keeps the message in its hold queue for the postmaster.
    Hold,
    /// `REJECT 5.7.1`.
    Reject,
}

impl LimitAction {
    /// The action by its config name (`defer`, `hold`, `reject`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "defer" => Some(LimitAction::Defer),
            "hold" => Some(LimitAction::Hold),
            "reject" => Some(LimitAction::Reject),
            _ => None,
        }
    }

    /// The `action=` value for `text`.
    pub fn answer(self, text: &str) -> String {
        match self {
            LimitAction::Defer => format!("DEFER_IF_PERMIT 4.7.1 {text}"),
            LimitAction::Hold => format!("HOLD {text}"),
            LimitAction::Reject => format!("REJECT 5.7.1 {text}"),
        }
    }

    /// Its config name.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitAction::Defer => "defer",
            LimitAction::Hold => "hold",
            LimitAction::Reject => "reject",
        }
    }
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Messages.
    Messages,
    /// Recipients (`recipient_count`).
    Recipients,
    /// Distinct recipient domains.
    Domains,
}

impl Counted {
    /// Its name in config keys and log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Counted::Messages => "messages",
            Counted::Recipients => "recipients",
            Counted::Domains => "domains",
        }
    }
}

/// The spans limits are set for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// 60 s.
    Minute,
    /// 3,600 s.
    Hour,
    /// 86,400 s.
    Day,
}

impl Span {
    /// Every span, shortest first.
    pub const ALL: [Span; 3] = [Span::Minute, Span::Hour, Span::Day];

    /// Its length.
    pub fn length(self) -> Duration {
        Duration::from_secs(match self {
            Span::Minute => 60,
            Span::Hour => 3600,
            Span::Day => 86_400,
        })
    }

    /// The width of the buckets counts in this span are kept in.
    pub fn bucket(self) -> Duration {
        Duration::from_secs(match self {
            Span::Minute => 5,
            Span::Hour => 60,
            Span::Day => 600,
        })
    }

    /// Its name in config keys (`messages_per_hour`) and log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Span::Minute => "minute",
            Span::Hour => "hour",
            Span::Day => "day",
        }
    }
}

/// One limit: at most `max` of `counted` per `span`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What is counted.
    pub counted: Counted,
    /// Over which span.
    pub span: Span,
    /// The most allowed.
    pub max: u64,
}

impl Limit {
    /// Its name, e.g. `messages_per_hour`.
    pub fn name(&self) -> String {
        format!("{}_per_{}", self.counted.as_str(), self.span.as_str())
    }
}

/// A sender class: who is in it, its limits and its action over them.
#[derive(Debug, Clone)]
pub struct Class {
    /// Its name (`person`, `newsletter`, ...).
    pub name: String,
    /// Exact addresses and `*@domain` / `*` patterns, lower case.
    pub senders: Vec<String>,
    /// Its limits.
    pub limits: Vec<Limit>,
    /// What a sender over a limit gets.
    pub action: LimitAction,
}

/// How specifically `pattern` matches `address` (lower case): exact 3, `*@domain` 2, `*` 1.
fn specificity(pattern: &str, address: &str) -> Option<u8> {
    if pattern == "*" {
        return Some(1);
    }
    if let Some(domain) = pattern.strip_prefix("*@") {
        let matches = address.rsplit_once('@').is_some_and(|(_, d)| d == domain);
        return matches.then_some(2);
    }
    (pattern == address).then_some(3)
}

/// Every class, the default one included.
#[derive(Debug, Clone)]
pub struct Classes {
    classes: Vec<Class>,
}

impl Classes {
    /// `classes`, with a [`DEFAULT_CLASS`] without limits added when none is named so.
    pub fn new(mut classes: Vec<Class>) -> Self {
        if !classes.iter().any(|c| c.name == DEFAULT_CLASS) {
            classes.push(Class {
                name: DEFAULT_CLASS.into(),
                senders: Vec::new(),
                limits: Vec::new(),
                action: LimitAction::Defer,
            });
        }
        Classes { classes }
    }

    /// The class of a sender known by `names` (envelope sender, SASL login): the most
    /// specific match of any class's patterns (exact, then `*@domain`, then `*`), else
    /// the default class. Case-insensitive.
    pub fn class_of<'a>(&self, names: impl IntoIterator<Item = &'a str> + Clone) -> &Class {
        let mut best: Option<(u8, &Class)> = None;
        for class in &self.classes {
            for name in names.clone() {
                let name = name.to_ascii_lowercase();
                for pattern in &class.senders {
                    if let Some(s) = specificity(pattern, &name) {
                        if best.is_none_or(|(b, _)| s > b) {
                            best = Some((s, class));
                        }
                    }
                }
            }
        }
        best.map_or_else(|| self.default_class(), |(_, c)| c)
    }

    fn default_class(&self) -> &Class {
        self.classes
            .iter()
            .find(|c| c.name == DEFAULT_CLASS)
            .unwrap_or(&self.classes[0])
    }

    /// The longest span any class limits distinct domains over (`None`: none does).
    pub fn longest_domain_span(&self) -> Option<Duration> {
        self.all_limits()
            .filter(|l| l.counted == Counted::Domains)
            .map(|l| l.span.length())
            .max()
    }

    /// The most distinct domains any class allows in any span.
    pub fn most_domains(&self) -> u64 {
        self.all_limits()
            .filter(|l| l.counted == Counted::Domains)
            .map(|l| l.max)
            .max()
            .unwrap_or(0)
    }

    fn all_limits(&self) -> impl Iterator<Item = &Limit> {
        self.classes.iter().flat_map(|c| c.limits.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, senders: &[&str]) -> Class {
        Class {
            name: name.into(),
            senders: senders.iter().map(|s| s.to_string()).collect(),
            limits: Vec::new(),
            action: LimitAction::Defer,
        }
    }

    #[test]
    fn the_most_specific_pattern_wins_case_insensitively() {
        let classes = Classes::new(vec![
            class("catchall", &["*"]),
            class("lists", &["*@lists.example.org"]),
            class("newsletter", &["news@lists.example.org"]),
        ]);
        let cases = [
            (vec!["News@Lists.Example.org"], "newsletter"),
            (vec!["other@lists.example.org"], "lists"),
            (vec!["a@example.org"], "catchall"),
            (
                vec!["a@example.org", "news@lists.example.org"],
                "newsletter",
            ),
        ];
        for (names, expected) in cases {
            let got = &classes.class_of(names.iter().copied()).name;
            assert_eq!(got, expected, "{names:?}");
        }
    }

    #[test]
    fn without_a_match_the_default_class() {
        let classes = Classes::new(vec![class("newsletter", &["news@example.org"])]);
        assert_eq!(classes.class_of(["a@example.org"]).name, DEFAULT_CLASS);
        assert_eq!(classes.class_of(["news@example.org"]).name, "newsletter");
    }

    #[test]
    fn actions_answer_in_postfix_words() {
        assert_eq!(LimitAction::Defer.answer("t"), "DEFER_IF_PERMIT 4.7.1 t");
        assert_eq!(LimitAction::Hold.answer("t"), "HOLD t");
        assert_eq!(LimitAction::Reject.answer("t"), "REJECT 5.7.1 t");
        assert_eq!(LimitAction::parse("hold"), Some(LimitAction::Hold));
        assert_eq!(LimitAction::parse("HOLD"), None);
    }
}

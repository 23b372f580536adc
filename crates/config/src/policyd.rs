//! The `[policyd]` section: the Postfix policy service (off unless `listen` is set) and its
//! sender classes `[policyd.classes.NAME]`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use quarantd_policyd::{
    Class, Classes, Counted, Limit, LimitAction, PolicydConfig, Span, ThrottleConfig,
};
use serde::Deserialize;

use crate::check::Check;

/// `[policyd]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPolicyd {
    pub listen: String,
    pub allowed_clients: Vec<String>,
    pub max_sessions: u64,
    pub idle_timeout_secs: u64,
    pub max_senders: u64,
    pub classes: BTreeMap<String, RawClass>,
}

impl Default for RawPolicyd {
    fn default() -> Self {
        RawPolicyd {
            listen: String::new(),
            allowed_clients: vec!["127.0.0.0/8".into(), "::1/128".into()],
            max_sessions: 200,
            idle_timeout_secs: 300,
            max_senders: 100_000,
            classes: BTreeMap::new(),
        }
    }
}

/// `[policyd.classes.NAME]` as written; a limit not given is no limit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClass {
    pub senders: Vec<String>,
    pub messages_per_minute: Option<u64>,
    pub messages_per_hour: Option<u64>,
    pub messages_per_day: Option<u64>,
    pub recipients_per_minute: Option<u64>,
    pub recipients_per_hour: Option<u64>,
    pub recipients_per_day: Option<u64>,
    pub domains_per_minute: Option<u64>,
    pub domains_per_hour: Option<u64>,
    pub domains_per_day: Option<u64>,
    pub action: String,
}

impl Default for RawClass {
    fn default() -> Self {
        RawClass {
            senders: Vec::new(),
            messages_per_minute: None,
            messages_per_hour: None,
            messages_per_day: None,
            recipients_per_minute: None,
            recipients_per_hour: None,
            recipients_per_day: None,
            domains_per_minute: None,
            domains_per_hour: None,
            domains_per_day: None,
            action: "defer".into(),
        }
    }
}

impl RawClass {
    /// Each limit key with its value, in the order written above.
    fn limits(&self) -> [(Counted, Span, Option<u64>); 9] {
        use Counted::{Domains, Messages, Recipients};
        use Span::{Day, Hour, Minute};
        [
            (Messages, Minute, self.messages_per_minute),
            (Messages, Hour, self.messages_per_hour),
            (Messages, Day, self.messages_per_day),
            (Recipients, Minute, self.recipients_per_minute),
            (Recipients, Hour, self.recipients_per_hour),
            (Recipients, Day, self.recipients_per_day),
            (Domains, Minute, self.domains_per_minute),
            (Domains, Hour, self.domains_per_hour),
            (Domains, Day, self.domains_per_day),
        ]
    }
}

/// Validated `[policyd]`.
#[derive(Debug, Clone)]
pub struct PolicydSettings {
    /// Where the service listens; `None` = off.
    pub listen: Option<SocketAddr>,
    /// The service's settings.
    pub service: PolicydConfig,
}

impl RawPolicyd {
    /// Validates into `check`; `drain_timeout` is the server's.
    pub(crate) fn validate(&self, check: &mut Check, drain_timeout: Duration) -> PolicydSettings {
        let listen = self.listen_address(check);
        let classes = self
            .classes
            .iter()
            .map(|(name, raw)| class(check, name, raw))
            .collect();
        let throttle = ThrottleConfig {
            classes: Classes::new(classes),
            max_senders: check.positive("policyd.max_senders", self.max_senders) as usize,
        };
        let service = PolicydConfig {
            max_sessions: check.positive("policyd.max_sessions", self.max_sessions) as usize,
            idle_timeout: check.secs("policyd.idle_timeout_secs", self.idle_timeout_secs),
            allowed_clients: check.nets("policyd.allowed_clients", &self.allowed_clients),
            drain_timeout,
            throttle,
        };
        PolicydSettings { listen, service }
    }

    fn listen_address(&self, check: &mut Check) -> Option<SocketAddr> {
        if self.listen.is_empty() {
            return None;
        }
        let parsed = self.listen.parse::<SocketAddr>();
        if parsed.is_err() {
            check.fail(
                "policyd.listen",
                format!(
                    "{:?} is not an IP address with port (e.g. 127.0.0.1:10040); \"\" = off",
                    self.listen
                ),
            );
        }
        parsed.ok()
    }
}

/// One class, its errors at `policyd.classes.NAME.KEY`.
fn class(check: &mut Check, name: &str, raw: &RawClass) -> Class {
    let at = format!(
        "policyd.classes.{}",
        quarantd_policy::config::quote_key(name)
    );
    let action = LimitAction::parse(&raw.action).unwrap_or_else(|| {
        check.fail(
            &format!("{at}.action"),
            format!("{:?} is not one of defer, hold, reject", raw.action),
        );
        LimitAction::Defer
    });
    let mut limits = Vec::new();
    for (counted, span, value) in raw.limits() {
        let Some(max) = value else { continue };
        let limit = Limit { counted, span, max };
        if max == 0 {
            let key = format!("{at}.{}", limit.name());
            check.fail(&key, "must be greater than 0 (leave it out for no limit)");
            continue;
        }
        limits.push(limit);
    }
    Class {
        name: name.to_string(),
        senders: senders(check, &at, &raw.senders),
        limits,
        action,
    }
}

/// The patterns, lower case: an address or login, `*@domain`, or `*`.
fn senders(check: &mut Check, at: &str, raw: &[String]) -> Vec<String> {
    let mut patterns = Vec::new();
    for (i, pattern) in raw.iter().enumerate() {
        let lower = pattern.trim().to_ascii_lowercase();
        let wildcard_ok = lower == "*"
            || lower
                .strip_prefix("*@")
                .is_some_and(|d| !d.is_empty() && !d.contains(['*', '@']));
        let exact_ok = !lower.contains('*');
        if lower.is_empty() || lower.contains(char::is_whitespace) || !(wildcard_ok || exact_ok) {
            check.fail(
                &format!("{at}.senders[{i}]"),
                format!("{pattern:?} is not an address, a login, \"*@domain\" or \"*\""),
            );
            continue;
        }
        patterns.push(lower);
    }
    patterns
}

#[cfg(test)]
mod tests {
    use crate::parse;

    #[test]
    fn off_by_default_and_on_with_listen() {
        let s = parse("", "t").unwrap().validate("t").unwrap();
        assert_eq!(s.policyd.listen, None);
        let text = "[policyd]\nlisten = \"127.0.0.1:10040\"\n[policyd.classes.person]\nmessages_per_hour = 200\nrecipients_per_hour = 1000\naction = \"defer\"\n[policyd.classes.newsletter]\nsenders = [\"News@example.org\", \"*@lists.example.org\"]\nmessages_per_hour = 50000\naction = \"hold\"\n";
        let s = parse(text, "t").unwrap().validate("t").unwrap();
        assert_eq!(s.policyd.listen, Some("127.0.0.1:10040".parse().unwrap()));
        let classes = &s.policyd.service.throttle.classes;
        let newsletter = classes.class_of(["news@EXAMPLE.org"]);
        assert_eq!(newsletter.name, "newsletter");
        assert_eq!(newsletter.limits.len(), 1);
        assert_eq!(newsletter.action, quarantd_policyd::LimitAction::Hold);
        let person = classes.class_of(["someone@example.org"]);
        assert_eq!(person.name, "person");
        let names: Vec<String> = person.limits.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["messages_per_hour", "recipients_per_hour"]);
    }

    #[test]
    fn errors_have_key_paths() {
        let text = "[policyd]\nlisten = \"nowhere\"\nmax_sessions = 0\nlisten_on = 1\n[policyd.classes.person]\nmessages_per_hour = 0\naction = \"drop\"\nmesages_per_day = 3\n[policyd.classes.\"news letter\"]\nsenders = [\"ok@example.org\", \"a*b@example.org\", \"\"]\nrecipients_per_day = \"many\"\n";
        let err = parse(text, "t").unwrap().validate("t").unwrap_err();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "policyd.listen_on",
                "policyd.classes.person.mesages_per_day",
                "policyd.classes.\"news letter\".recipients_per_day",
                "policyd.listen",
                "policyd.classes.\"news letter\".senders[1]",
                "policyd.classes.\"news letter\".senders[2]",
                "policyd.classes.person.action",
                "policyd.classes.person.messages_per_hour",
                "policyd.max_sessions",
            ],
            "{err}"
        );
    }
}

//! The report: every problem found in a configuration, each at its key path.

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;

/// One problem in a configuration, at a key path such as `server.max_sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// Where the configuration came from.
    pub source: String,
    /// The problems, section by section (in the order of [`crate::RawConfig`]'s fields), in
    /// the order they were found within a section.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration in {}:", self.source)?;
        for issue in &self.issues {
            write!(f, "\n  {}: {}", issue.key, issue.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects issues while validating.
pub(crate) struct Check {
    pub(crate) issues: Vec<ConfigIssue>,
}

impl Check {
    pub(crate) fn fail(&mut self, key: &str, message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            key: key.into(),
            message: message.into(),
        });
    }

    pub(crate) fn positive(&mut self, key: &str, value: u64) -> u64 {
        if value == 0 {
            self.fail(key, "must be greater than 0");
            return 1;
        }
        value
    }

    pub(crate) fn secs(&mut self, key: &str, value: u64) -> Duration {
        Duration::from_secs(self.positive(key, value))
    }

    pub(crate) fn nets(&mut self, key: &str, values: &[String]) -> Vec<IpNet> {
        let mut nets = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match parse_net(value) {
                Some(net) => nets.push(net),
                None => self.fail(
                    &format!("{key}[{i}]"),
                    format!("{value:?} is not an IP address or network (e.g. 127.0.0.0/8)"),
                ),
            }
        }
        nets
    }
}

fn parse_net(value: &str) -> Option<IpNet> {
    value
        .parse::<IpNet>()
        .ok()
        .or_else(|| value.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

//! The `[policy]` section in two stages: raw serde structs ([`RawPolicy`], unknown keys
//! refused, every key optional with a documented default) → a validated [`Policy`]; every
//! problem is reported at once with its key path, e.g.
//! `policy.domains."example.org".inbound.vba-macro: unknown action "hold" (...)`.
//!
//! ```toml
//! [policy]
//! local_domains = ["example.org", "*.example.org"]  # default: none (all mail is inbound)
//! local_domains_file = "/etc/quarantd/local-domains" # one domain or *.domain per line, # comments
//! local_networks = ["127.0.0.0/8", "::1/128"]       # default: loopback
//! subject_tag = ""                                   # default for `tag`: "" = subject unchanged
//!
//! [policy.default.all]            # every direction, every domain without its own setting
//! encrypted = "tag"
//! [policy.default.outbound]       # one direction; wins over `all`
//! executable = "reject"
//!
//! [policy.domains."example.org"]  # a domain (or "*.example.org"): wins over the default
//! subject_tag = "[SUSPICIOUS]"
//! [policy.domains."example.org".internal]
//! vba-macro = "pass"              # the exception: macros allowed in this domain's internal mail
//!
//! [policy.reasons.executable]     # per reason: retention, approvals, self-release
//! retention_days = 60
//! approvals = 2
//! ```
//!
//! A domain's action for a key is found, first match wins, in: the domain's direction table,
//! the domain's `all`, the default's direction table, the default's `all`, the built-in
//! default ([`builtin_action`]: findings (viruses) quarantine in inbound mail and reject in
//! outbound and internal mail; `executable`, `script`, `vba-macro`, `xlm-macro`, `dde`,
//! `encrypted`, `unscannable`, `path-traversal` quarantine; the rest pass).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use quarantd_core::Action;
use serde::Deserialize;

use crate::direction::Direction;
use crate::domains::{normalise_pattern, parse_domain_list, DomainMap, DomainSet};
use crate::kinds::{
    builtin_action, is_known_kind, parse_action, ALL_LABELS, FINDING_KINDS, OTHER_FINDING, VIRUS,
};
use crate::Policy;

/// `[policy]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPolicy {
    /// Local domains: names and `*.domain` wildcards. Default: none.
    pub local_domains: Vec<String>,
    /// A file with more local domains, one per line (`#` comments). Default: none.
    pub local_domains_file: Option<PathBuf>,
    /// Networks whose clients send the organisation's own mail. Default: loopback.
    pub local_networks: Vec<String>,
    /// Subject tag of the `tag` action for domains without their own; "" = none. Default "".
    pub subject_tag: String,
    /// `[policy.default]`: the tables every domain starts from.
    pub default: RawDomainPolicy,
    /// `[policy.domains."NAME"]`: per domain or `*.domain`.
    pub domains: BTreeMap<String, RawDomainPolicy>,
    /// `[policy.reasons.KIND]`: retention, approvals and self-release per reason.
    pub reasons: BTreeMap<String, RawReason>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            local_domains: Vec::new(),
            local_domains_file: None,
            local_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            subject_tag: String::new(),
            default: RawDomainPolicy::default(),
            domains: BTreeMap::new(),
            reasons: BTreeMap::new(),
        }
    }
}

/// The actions of one domain (or the default), per direction; keys are labels and finding
/// kinds, values action names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDomainPolicy {
    /// Subject tag of the `tag` action; absent = the default's.
    pub subject_tag: Option<String>,
    /// Actions for every direction.
    pub all: BTreeMap<String, String>,
    /// Actions for inbound mail.
    pub inbound: BTreeMap<String, String>,
    /// Actions for outbound mail.
    pub outbound: BTreeMap<String, String>,
    /// Actions for internal mail.
    pub internal: BTreeMap<String, String>,
}

impl RawDomainPolicy {
    fn table(&self, direction: Direction) -> &BTreeMap<String, String> {
        match direction {
            Direction::Inbound => &self.inbound,
            Direction::Outbound => &self.outbound,
            Direction::Internal => &self.internal,
        }
    }
}

/// `[policy.reasons.KIND]`; absent keys leave the quarantine's settings alone.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawReason {
    /// Days a message held for this reason is kept.
    pub retention_days: Option<u64>,
    /// Distinct approvals a release needs.
    pub approvals: Option<u64>,
    /// Whether a recipient may release their own copy (never for `virus`).
    pub self_release: Option<bool>,
}

/// Validated settings for one reason key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasonSettings {
    /// Days to keep.
    pub retention_days: Option<u64>,
    /// Approvals needed (≥ 1).
    pub approvals: Option<u32>,
    /// Recipient self-release.
    pub self_release: Option<bool>,
}

/// One problem in the configuration, at a key path such as `policy.local_networks[2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path; domain keys quoted as in TOML.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found in `[policy]`, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<ConfigIssue>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid policy:")?;
        for issue in &self.0 {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// The actions of one domain (or the default) for every direction and key, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPolicy {
    /// The domain pattern as configured (`example.org`, `*.example.org`), or `default`.
    pub name: String,
    /// Subject tag of the `tag` action; `None` = subject unchanged.
    pub subject_tag: Option<String>,
    tables: [BTreeMap<String, Action>; 3],
}

impl DomainPolicy {
    /// The action for a label or finding-kind key in one direction. Unknown finding kinds
    /// are looked up as `other-finding`.
    pub fn action(&self, direction: Direction, key: &str) -> Action {
        let table = &self.tables[direction as usize];
        table
            .get(key)
            .or_else(|| table.get(crate::kinds::finding_key(key)))
            .copied()
            .unwrap_or_else(|| builtin_action(direction, key))
    }
}

const ROOT: &str = "policy";

/// Collects issues while validating.
struct Check {
    issues: Vec<ConfigIssue>,
}

impl Check {
    fn fail(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            key: key.into(),
            message: message.into(),
        });
    }
}

/// A key as written in a TOML path: bare when it may be, quoted otherwise.
pub fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

impl RawPolicy {
    /// Validates, reading `local_domains_file` from the file system.
    pub fn validate(&self) -> Result<Policy, PolicyErrors> {
        self.validate_with(&|path: &Path| std::fs::read_to_string(path))
    }

    /// Validates, reading `local_domains_file` with `read` (tests, or paths resolved against
    /// the config file's directory).
    pub fn validate_with(
        &self,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Policy, PolicyErrors> {
        let mut check = Check { issues: Vec::new() };
        let local_domains = self.local_domains(&mut check, read);
        let local_networks = self.local_networks(&mut check);
        let default_tag = tag(
            &mut check,
            &format!("{ROOT}.subject_tag"),
            &self.subject_tag,
        );
        let default_prefix = format!("{ROOT}.default");
        let default = domain_policy(
            &mut check,
            &default_prefix,
            "default",
            &self.default,
            None,
            default_tag,
        );
        let domains = self.domains(&mut check, &default);
        let reasons = self.reasons(&mut check);
        if !check.issues.is_empty() {
            return Err(PolicyErrors(check.issues));
        }
        Ok(Policy {
            local_domains,
            local_networks,
            default,
            domains,
            reasons,
        })
    }

    fn local_domains(
        &self,
        check: &mut Check,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> DomainSet {
        let mut set = DomainSet::default();
        for (i, domain) in self.local_domains.iter().enumerate() {
            match normalise_pattern(domain) {
                Ok(d) => set.insert(d),
                Err(message) => check.fail(format!("{ROOT}.local_domains[{i}]"), message),
            }
        }
        if let Some(path) = &self.local_domains_file {
            let key = format!("{ROOT}.local_domains_file");
            match read(path) {
                Err(err) => check.fail(key, format!("cannot read {}: {err}", path.display())),
                Ok(text) => match parse_domain_list(&text) {
                    Ok(domains) => domains.into_iter().for_each(|d| set.insert(d)),
                    Err(errors) => {
                        for (line, message) in errors {
                            check.fail(&key, format!("{} line {line}: {message}", path.display()));
                        }
                    }
                },
            }
        }
        set
    }

    fn local_networks(&self, check: &mut Check) -> Vec<IpNet> {
        let mut nets = Vec::new();
        for (i, value) in self.local_networks.iter().enumerate() {
            let net = value
                .parse::<IpNet>()
                .ok()
                .or_else(|| value.parse::<std::net::IpAddr>().ok().map(IpNet::from));
            match net {
                Some(net) => nets.push(net),
                None => check.fail(
                    format!("{ROOT}.local_networks[{i}]"),
                    format!("{value:?} is not an IP address or network (e.g. 10.0.0.0/8)"),
                ),
            }
        }
        nets
    }

    fn domains(&self, check: &mut Check, default: &DomainPolicy) -> DomainMap<DomainPolicy> {
        let mut map = DomainMap::default();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (name, raw) in &self.domains {
            let prefix = format!("{ROOT}.domains.{}", quote_key(name));
            let pattern = match normalise_pattern(name) {
                Ok(p) => p,
                Err(message) => {
                    check.fail(&prefix, message);
                    continue;
                }
            };
            if let Some(first) = seen.get(&pattern) {
                check.fail(
                    &prefix,
                    format!("{pattern:?} is configured twice (also as {first:?})"),
                );
            }
            let subject_tag = match &raw.subject_tag {
                Some(t) => tag(check, &format!("{prefix}.subject_tag"), t),
                None => default.subject_tag.clone(),
            };
            let policy = domain_policy(check, &prefix, &pattern, raw, Some(default), subject_tag);
            if !seen.contains_key(&pattern) {
                seen.insert(pattern.clone(), name.clone());
                map.insert(pattern, policy);
            }
        }
        map
    }

    fn reasons(&self, check: &mut Check) -> BTreeMap<String, ReasonSettings> {
        let mut out = BTreeMap::new();
        for (reason, raw) in &self.reasons {
            let prefix = format!("{ROOT}.reasons.{}", quote_key(reason));
            let key = reason.to_ascii_lowercase();
            if !is_known_kind(&key) || key == OTHER_FINDING {
                check.fail(
                    &prefix,
                    format!("unknown reason {reason:?} ({})", known_reasons()),
                );
                continue;
            }
            if raw.retention_days == Some(0) {
                check.fail(format!("{prefix}.retention_days"), "must be greater than 0");
            }
            if raw.approvals == Some(0) {
                check.fail(format!("{prefix}.approvals"), "must be greater than 0");
            }
            if raw.approvals.is_some_and(|n| n > 100) {
                check.fail(format!("{prefix}.approvals"), "must be at most 100");
            }
            if key == VIRUS && raw.self_release == Some(true) {
                check.fail(
                    format!("{prefix}.self_release"),
                    "a recipient may never release a virus",
                );
            }
            out.insert(
                key,
                ReasonSettings {
                    retention_days: raw.retention_days,
                    approvals: raw.approvals.map(|n| n.min(100) as u32),
                    self_release: raw.self_release,
                },
            );
        }
        out
    }
}

fn known_kinds() -> String {
    let mut names: Vec<&str> = ALL_LABELS.iter().map(|l| l.as_str()).collect();
    names.extend(FINDING_KINDS);
    names.join(", ")
}

fn known_reasons() -> String {
    let mut names: Vec<&str> = ALL_LABELS.iter().map(|l| l.as_str()).collect();
    names.push(VIRUS);
    names.join(", ")
}

/// Checks a subject tag: printable ASCII, at most 100 characters; "" = none.
fn tag(check: &mut Check, key: &str, value: &str) -> Option<String> {
    if !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) || value.len() > 100 {
        check.fail(key, "must be printable ASCII, at most 100 characters");
        return None;
    }
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Validates one domain's tables and resolves them over `parent` (the default) and the
/// built-in actions.
fn domain_policy(
    check: &mut Check,
    prefix: &str,
    name: &str,
    raw: &RawDomainPolicy,
    parent: Option<&DomainPolicy>,
    subject_tag: Option<String>,
) -> DomainPolicy {
    let all = action_table(check, &format!("{prefix}.all"), &raw.all);
    let tables = Direction::ALL.map(|direction| {
        let own = action_table(
            check,
            &format!("{prefix}.{}", direction.as_str()),
            raw.table(direction),
        );
        let mut resolved = BTreeMap::new();
        for key in ALL_LABELS.iter().map(|l| l.as_str()).chain(FINDING_KINDS) {
            let action = own
                .get(key)
                .or_else(|| all.get(key))
                .copied()
                .unwrap_or_else(|| match parent {
                    Some(p) => p.action(direction, key),
                    None => builtin_action(direction, key),
                });
            resolved.insert(key.to_string(), action);
        }
        resolved
    });
    DomainPolicy {
        name: name.to_string(),
        subject_tag,
        tables,
    }
}

/// Validates one `key = "action"` table.
fn action_table(
    check: &mut Check,
    prefix: &str,
    raw: &BTreeMap<String, String>,
) -> BTreeMap<String, Action> {
    let mut out = BTreeMap::new();
    for (key, value) in raw {
        let path = format!("{prefix}.{}", quote_key(key));
        let known = is_known_kind(key);
        if !known {
            check.fail(
                &path,
                format!("unknown label or finding kind {key:?} ({})", known_kinds()),
            );
        }
        match parse_action(value) {
            Some(action) if known => {
                out.insert(key.clone(), action);
            }
            Some(_) => {}
            None => check.fail(
                &path,
                format!("unknown action {value:?} (pass, tag, quarantine, reject, tempfail)"),
            ),
        }
    }
    out
}

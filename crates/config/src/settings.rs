//! The file as written ([`RawConfig`]: one raw struct per section, every key optional with a
//! documented default; unknown keys are reported, see `keys`) and the validated [`Settings`]
//! it becomes.
//!
//! `quarantd.example.toml` at the top of the repository documents every key; a test keeps it
//! equal to the defaults here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use quarantd_policy::Policy;
use serde::Deserialize;

use crate::check::{Check, ConfigErrors, ConfigIssue};
use crate::notify::{NotifySettings, RawNotify};
use crate::policyd::{PolicydSettings, RawPolicyd};
use crate::quarantine::{QuarantineSettings, RawQuarantine};
use crate::scan::{RawScan, ScanSettings};

/// Log line format (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[server]`
    pub server: RawServer,
    /// `[relay]`
    pub relay: RawRelay,
    /// `[analysis]`
    pub analysis: RawAnalysis,
    /// `[log]`
    pub log: RawLog,
    /// `[scan]`
    pub scan: RawScan,
    /// `[quarantine]`
    pub quarantine: RawQuarantine,
    /// `[policy]` (quarantd-policy's `RawPolicy`); absent = the built-in policy
    /// (`Policy::default()`, the one of an empty `[policy]`).
    pub policy: Option<quarantd_policy::RawPolicy>,
    /// `[notify]`
    pub notify: RawNotify,
    /// `[policyd]`
    pub policyd: RawPolicyd,
    /// What reading the file found (unknown keys, values of the wrong type; each left out),
    /// reported by [`RawConfig::validate`] with every other problem.
    #[serde(skip)]
    reading: Vec<ConfigIssue>,
}

impl RawConfig {
    /// This raw config with what reading its file found (`parse`).
    pub(crate) fn with_reading_issues(mut self, issues: Vec<ConfigIssue>) -> Self {
        self.reading = issues;
        self
    }

    /// `Err` with the unknown keys and values of the wrong type found reading the file, for a
    /// front end that uses raw values without validating the whole file.
    pub fn reading_errors(&self, source: &str) -> Result<(), ConfigErrors> {
        if self.reading.is_empty() {
            return Ok(());
        }
        Err(ConfigErrors {
            source: source.to_string(),
            issues: self.reading.clone(),
        })
    }

    /// Makes the file paths of `[policy]` and `[notify]` relative to `base`, the directory of
    /// the config file (absolute paths stay as they are).
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(policy) = &mut self.policy {
            if let Some(file) = &mut policy.local_domains_file {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        self.notify.resolve_paths(base);
    }
}

/// `[server]`: the inbound SMTP side.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    pub hostname: String,
    pub node_id: String,
    pub data_dir: PathBuf,
    pub allowed_clients: Vec<String>,
    pub xforward_clients: Vec<String>,
    pub max_sessions: u64,
    pub max_message_size: u64,
    pub max_recipients: u64,
    pub max_line_length: u64,
    pub command_timeout_secs: u64,
    pub data_timeout_secs: u64,
    pub data_deadline_secs: u64,
    pub drain_timeout_secs: u64,
    pub max_memory_bytes: u64,
    pub memory_wait_secs: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        let loopback = vec!["127.0.0.0/8".to_string(), "::1/128".to_string()];
        RawServer {
            listen: "127.0.0.1:10024".into(),
            hostname: String::new(),
            node_id: String::new(),
            data_dir: PathBuf::from("./var"),
            allowed_clients: loopback.clone(),
            xforward_clients: loopback,
            max_sessions: 100,
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 1000,
            max_line_length: 2048,
            command_timeout_secs: 300,
            data_timeout_secs: 300,
            data_deadline_secs: 600,
            drain_timeout_secs: 30,
            max_memory_bytes: 512 * 1024 * 1024,
            memory_wait_secs: 60,
        }
    }
}

/// `[relay]`: where passed mail is re-injected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRelay {
    pub address: String,
    pub connect_timeout_secs: u64,
    pub command_timeout_secs: u64,
    pub data_timeout_secs: u64,
    pub max_idle_connections: u64,
    pub idle_timeout_secs: u64,
    pub max_connections: u64,
    pub connection_wait_secs: u64,
}

impl Default for RawRelay {
    fn default() -> Self {
        RawRelay {
            address: "127.0.0.1:10025".into(),
            connect_timeout_secs: 30,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            max_idle_connections: 32,
            idle_timeout_secs: 60,
            max_connections: 20,
            connection_wait_secs: 60,
        }
    }
}

/// `[analysis]`: decomposition limits and the time allowed per message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAnalysis {
    pub timeout_secs: u64,
    pub scan_timeout_secs: u64,
    pub workers: u64,
    pub max_depth: u64,
    pub max_parts: u64,
    pub max_unpacked_bytes: u64,
    pub max_ratio: u64,
    pub ratio_grace_bytes: u64,
    pub max_time_secs: u64,
}

impl Default for RawAnalysis {
    fn default() -> Self {
        RawAnalysis {
            timeout_secs: 120,
            scan_timeout_secs: 300,
            workers: 0,
            max_depth: 32,
            max_parts: 10_000,
            max_unpacked_bytes: 256 * 1024 * 1024,
            max_ratio: 100,
            ratio_grace_bytes: 1024 * 1024,
            max_time_secs: 30,
        }
    }
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub format: LogFormat,
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Validated settings of the daemon.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub hostname: String,
    /// `server.node_id`; `None` = generated once and kept in `DATA_DIR/node-id` (by the
    /// daemon). `serve` puts the resolved id here.
    pub node_id: Option<String>,
    pub data_dir: PathBuf,
    pub inbound: quarantd_smtp::InboundConfig,
    pub relay: quarantd_smtp::RelayConfig,
    pub pipeline: quarantd_pipeline::PipelineConfig,
    pub mime_limits: quarantd_mime::Limits,
    pub log_format: LogFormat,
    pub log_level: tracing::Level,
    pub scan: ScanSettings,
    pub quarantine: QuarantineSettings,
    /// The validated `[policy]`, or `Policy::default()` without one: what every message is
    /// decided by and who is notified.
    pub policy: Arc<Policy>,
    pub notify: NotifySettings,
    /// `[policyd]`: the Postfix policy service, off unless `listen` is set.
    pub policyd: PolicydSettings,
}

/// Checks that `value` is `host:port` with a port.
fn relay_address(check: &mut Check, key: &str, value: &str) {
    let valid = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !valid {
        check.fail(
            key,
            format!("{value:?} is not host:port (e.g. 127.0.0.1:10025)"),
        );
    }
}

impl RawConfig {
    /// Validates into settings, reporting every problem at once.
    pub fn validate(self, source: &str) -> Result<Settings, ConfigErrors> {
        let mut check = Check {
            issues: self.reading.clone(),
        };
        let s = &self.server;
        let listen = s.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
            check.fail(
                "server.listen",
                format!(
                    "{:?} is not an IP address with port (e.g. 127.0.0.1:10024)",
                    s.listen
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 10024))
        });
        let hostname = if s.hostname.is_empty() {
            system_hostname()
        } else {
            s.hostname.clone()
        };
        let node_id = Some(s.node_id.trim().to_string()).filter(|id| !id.is_empty());
        if node_id
            .as_deref()
            .is_some_and(|id| !crate::node_id::is_valid(id))
        {
            check.fail(
                "server.node_id",
                format!(
                    "{:?} is not a node id (1 to {} letters, digits, '.', '_' or '-')",
                    s.node_id,
                    crate::node_id::MAX_NODE_ID_LEN
                ),
            );
        }
        let mut inbound = quarantd_smtp::InboundConfig::new(hostname.clone());
        inbound.allowed_clients = check.nets("server.allowed_clients", &s.allowed_clients);
        inbound.xforward_clients = check.nets("server.xforward_clients", &s.xforward_clients);
        inbound.limits.max_sessions =
            check.positive("server.max_sessions", s.max_sessions) as usize;
        inbound.limits.max_message_size =
            check.positive("server.max_message_size", s.max_message_size) as usize;
        inbound.limits.max_recipients =
            check.positive("server.max_recipients", s.max_recipients) as usize;
        if s.max_line_length < 512 {
            check.fail("server.max_line_length", "must be at least 512 (RFC 5321)");
        }
        inbound.limits.max_line_length = s.max_line_length as usize;
        inbound.limits.command_timeout =
            check.secs("server.command_timeout_secs", s.command_timeout_secs);
        inbound.limits.data_timeout = check.secs("server.data_timeout_secs", s.data_timeout_secs);
        inbound.limits.data_deadline =
            check.secs("server.data_deadline_secs", s.data_deadline_secs);
        inbound.drain_timeout = check.secs("server.drain_timeout_secs", s.drain_timeout_secs);
        if s.max_memory_bytes < s.max_message_size.max(1024 * 1024) {
            check.fail(
                "server.max_memory_bytes",
                format!(
                    "must be at least server.max_message_size ({}) and 1 MiB (1048576), so that any message fits",
                    s.max_message_size
                ),
            );
        }
        inbound.limits.max_memory = usize::try_from(s.max_memory_bytes).unwrap_or(usize::MAX);
        inbound.limits.memory_wait = check.secs("server.memory_wait_secs", s.memory_wait_secs);
        inbound.spool_dir = s.data_dir.join("spool");

        let r = &self.relay;
        relay_address(&mut check, "relay.address", &r.address);
        let mut relay = quarantd_smtp::RelayConfig::new(r.address.clone(), hostname.clone());
        relay.connect_timeout = check.secs("relay.connect_timeout_secs", r.connect_timeout_secs);
        relay.command_timeout = check.secs("relay.command_timeout_secs", r.command_timeout_secs);
        relay.data_timeout = check.secs("relay.data_timeout_secs", r.data_timeout_secs);
        relay.max_idle = r.max_idle_connections as usize;
        relay.idle_timeout = check.secs("relay.idle_timeout_secs", r.idle_timeout_secs);
        relay.max_connections = check.positive("relay.max_connections", r.max_connections) as usize;
        relay.connection_wait = check.secs("relay.connection_wait_secs", r.connection_wait_secs);

        let a = &self.analysis;
        let mut pipeline = quarantd_pipeline::PipelineConfig::new(hostname.clone());
        pipeline.analysis_timeout = check.secs("analysis.timeout_secs", a.timeout_secs);
        pipeline.scan_timeout = check.secs("analysis.scan_timeout_secs", a.scan_timeout_secs);
        if a.workers > 0 {
            pipeline.analysis_workers = a.workers as usize;
        }
        let mime_limits = quarantd_mime::Limits {
            max_depth: check.positive("analysis.max_depth", a.max_depth) as usize,
            max_parts: check.positive("analysis.max_parts", a.max_parts) as usize,
            max_total_unpacked: check.positive("analysis.max_unpacked_bytes", a.max_unpacked_bytes),
            max_ratio: check.positive("analysis.max_ratio", a.max_ratio),
            ratio_grace: a.ratio_grace_bytes,
            max_time: check.secs("analysis.max_time_secs", a.max_time_secs),
        };
        let log_level = self
            .log
            .level
            .parse::<tracing::Level>()
            .unwrap_or_else(|_| {
                check.fail(
                    "log.level",
                    format!(
                        "{:?} is not one of error, warn, info, debug, trace",
                        self.log.level
                    ),
                );
                tracing::Level::INFO
            });
        let scan = self.scan.validate(&mut check);
        let mut quarantine = self.quarantine.validate(&mut check);
        let policy = validate_policy(&mut check, self.policy.as_ref());
        quarantine.apply_policy(&policy);
        let notify = self.notify.validate(&mut check, &hostname);
        let policyd = self.policyd.validate(&mut check, inbound.drain_timeout);
        if !check.issues.is_empty() {
            let mut issues = check.issues;
            crate::keys::by_section::<RawConfig>(&mut issues);
            return Err(ConfigErrors {
                source: source.to_string(),
                issues,
            });
        }
        Ok(Settings {
            listen,
            hostname,
            node_id,
            data_dir: s.data_dir.clone(),
            inbound,
            relay,
            pipeline,
            mime_limits,
            log_format: self.log.format,
            log_level,
            scan,
            quarantine,
            policy: Arc::new(policy),
            notify,
            policyd,
        })
    }
}

/// `[policy]` validated into `check`; without the section, or with errors in it, the built-in
/// policy.
fn validate_policy(check: &mut Check, raw: Option<&quarantd_policy::RawPolicy>) -> Policy {
    let Some(raw) = raw else {
        return Policy::default();
    };
    raw.validate().unwrap_or_else(|errors| {
        for issue in errors.0 {
            check.fail(&issue.key, issue.message);
        }
        Policy::default()
    })
}

/// This machine's host name, for the greeting and the added header.
pub fn system_hostname() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::load;
    use crate::parse;

    #[test]
    fn example_file_parses_and_matches_embedded_defaults() {
        let text = include_str!("../../../quarantd.example.toml");
        let example = parse(text, "quarantd.example.toml")
            .unwrap()
            .validate("example")
            .unwrap();
        let defaults = RawConfig::default().validate("defaults").unwrap();
        assert_eq!(
            format!("{:?}", example.inbound),
            format!("{:?}", defaults.inbound)
        );
        assert_eq!(
            format!("{:?}", example.relay),
            format!("{:?}", defaults.relay)
        );
        assert_eq!(
            format!("{:?}", example.mime_limits),
            format!("{:?}", defaults.mime_limits)
        );
        assert_eq!(example.listen, defaults.listen);
        assert_eq!(example.data_dir, defaults.data_dir);
        assert_eq!(
            format!("{:?}", example.scan),
            format!("{:?}", defaults.scan)
        );
        assert_eq!(
            format!("{:?}", example.quarantine),
            format!("{:?}", defaults.quarantine)
        );
        assert_eq!(
            format!("{:?}", example.notify),
            format!("{:?}", defaults.notify)
        );
        assert_eq!(
            format!("{:?}", example.policyd),
            format!("{:?}", defaults.policyd)
        );
        // The example's `[policy]` is commented out: the built-in policy.
        let builtin = format!("{:?}", quarantd_policy::Policy::default());
        assert_eq!(format!("{:?}", example.policy), builtin);
        assert_eq!(format!("{:?}", defaults.policy), builtin);
        let raw_policy = quarantd_policy::RawPolicy::default();
        assert_eq!(
            raw_policy.local_networks,
            ["127.0.0.0/8".to_string(), "::1/128".to_string()]
        );
        // Every commented `[policy]` and `[notify]` line of the example parses when
        // uncommented, and gives the defaults.
        let uncommented: String = text
            .lines()
            .skip_while(|l| !l.starts_with("# [policy]"))
            .take_while(|l| !l.starts_with("[notify]"))
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let with_policy = parse(&uncommented, "example [policy]")
            .unwrap()
            .validate("example [policy]")
            .unwrap();
        assert_eq!(
            format!("{:?}", with_policy.policy),
            builtin,
            "{uncommented}"
        );
    }

    #[test]
    fn policy_and_notify_errors_have_key_paths() {
        let text = "[policy]\nlocal_networks = [\"nope\"]\n[policy.default.inbound]\nexecutable = \"hold\"\n[notify]\nlanguage = \"E N\"\npostmaster = \"not an address\"\ntoken_key_file = \"/nonexistent/key\"\n";
        let err = parse(text, "t").unwrap().validate("t").unwrap_err();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "policy.local_networks[0]",
                "policy.default.inbound.executable",
                "notify.language",
                "notify.postmaster",
                "notify.token_key_file"
            ],
            "{err}"
        );
    }

    #[test]
    fn policy_reasons_win_over_quarantine_settings() {
        let text = "[quarantine]\napprovals = { executable = 3 }\nretention_days_per_reason = { script = 5 }\n[policy.reasons.executable]\napprovals = 1\nself_release = true\n[policy.reasons.vba-macro]\nretention_days = 9\n";
        let s = parse(text, "t").unwrap().validate("t").unwrap();
        let q = &s.quarantine;
        assert_eq!(q.rules.approvals.get("executable"), Some(&1));
        assert_eq!(
            q.rules.approvals.get("virus"),
            Some(&2),
            "a table for one reason keeps the other defaults"
        );
        assert!(q.rules.self_release.contains("executable"));
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(q.retention.per_reason.get("vba-macro"), Some(&(day * 9)));
        assert_eq!(q.retention.per_reason.get("script"), Some(&(day * 5)));
    }

    #[test]
    fn relative_paths_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("domains"), "example.org\n*.example.net\n").unwrap();
        std::fs::write(dir.path().join("key"), "ab".repeat(32)).unwrap();
        std::fs::set_permissions(
            dir.path().join("key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let path = dir.path().join("q.toml");
        std::fs::write(
            &path,
            "[policy]\nlocal_domains_file = \"domains\"\n[notify]\ntoken_key_file = \"key\"\n",
        )
        .unwrap();
        let s = load(Some(&path)).unwrap().validate("t").unwrap();
        assert!(s.policy.is_local_domain("a.example.net"));
        assert!(s.notify.token_key.is_some());
    }

    #[test]
    fn cap_keys_are_validated_with_their_key_paths() {
        let text = "[server]\ndata_deadline_secs = 0\nmax_memory_bytes = 1000\nmemory_wait_secs = 0\n[relay]\nmax_connections = 0\nconnection_wait_secs = 0\n";
        let err = parse(text, "t").unwrap().validate("t").unwrap_err();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.data_deadline_secs",
                "server.max_memory_bytes",
                "server.memory_wait_secs",
                "relay.max_connections",
                "relay.connection_wait_secs"
            ],
            "{err}"
        );
        let s = RawConfig::default().validate("defaults").unwrap();
        assert_eq!(s.inbound.spool_dir, PathBuf::from("./var/spool"));
        assert_eq!(s.inbound.limits.max_memory, 512 * 1024 * 1024);
        assert_eq!(s.relay.max_connections, 20);
    }

    #[test]
    fn unknown_keys_are_kept_for_the_report_and_the_rest_is_read() {
        let raw = parse("[server]\nlisten = \"127.0.0.1:1\"\nmax_sesions = 3\n", "t").unwrap();
        assert_eq!(raw.server.listen, "127.0.0.1:1");
        let err = raw.reading_errors("t").unwrap_err();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["server.max_sesions"], "{err}");
        assert_eq!(raw.validate("t").unwrap_err().issues, err.issues);
        assert!(parse("[server]\n", "t")
            .unwrap()
            .reading_errors("t")
            .is_ok());
    }

    #[test]
    fn every_semantic_error_is_reported_with_its_key_path() {
        let text = "[server]\nlisten = \"nowhere\"\nmax_sessions = 0\nallowed_clients = [\"127.0.0.1\", \"bogus\"]\n[relay]\naddress = \"no-port\"\n[log]\nlevel = \"loud\"\n";
        let err = parse(text, "t").unwrap().validate("t").unwrap_err();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.listen",
                "server.allowed_clients[1]",
                "server.max_sessions",
                "relay.address",
                "log.level"
            ]
        );
    }
}

//! The `[scan]` section: which virus scanners, how they are reached, what their failures do,
//! the verdict cache and the own-signature directory; and the scanner built from it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use quarantd_pipeline::{FailurePolicy, OnFailure, ScannerStage};
use quarantd_scan::cache::CacheLimits;
use quarantd_scan::clamd::{Clamd, ClamdAddr, ClamdConfig};
use quarantd_scan::command::{CommandConfig, CommandScanner, PATH_PLACEHOLDER};
use quarantd_scan::generation::GenerationWatch;
use quarantd_scan::{AllOf, Failover, MessageScanner, MessageScannerConfig, Scanner};
use serde::Deserialize;

use crate::check::Check;

/// `[scan]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawScan {
    /// Run without a virus scanner on purpose: no warning at start, no `scan=unscanned` per
    /// message. An error together with a configured scanner.
    pub none: bool,
    pub scanners: Vec<String>,
    pub backups: BTreeMap<String, String>,
    pub send_raw_message: bool,
    pub on_down: String,
    pub on_timeout: String,
    pub on_error: String,
    pub on_size_limit: String,
    pub cache_max_entries: u64,
    pub cache_max_bytes: u64,
    pub signature_dir: PathBuf,
    pub reload_grace_secs: u64,
    pub reload_wait_secs: u64,
    pub temp_dir: PathBuf,
    pub clamd: RawClamd,
    pub command: Vec<RawCommand>,
}

impl Default for RawScan {
    fn default() -> Self {
        RawScan {
            none: false,
            scanners: Vec::new(),
            backups: BTreeMap::new(),
            send_raw_message: false,
            on_down: "tempfail".into(),
            on_timeout: "tempfail".into(),
            on_error: "tempfail".into(),
            on_size_limit: "quarantine".into(),
            cache_max_entries: 100_000,
            cache_max_bytes: 32 * 1024 * 1024,
            signature_dir: PathBuf::new(),
            reload_grace_secs: 60,
            reload_wait_secs: 120,
            temp_dir: PathBuf::from("/tmp"),
            clamd: RawClamd::default(),
            command: Vec::new(),
        }
    }
}

/// `[scan.clamd]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClamd {
    pub address: String,
    pub max_connections: u64,
    pub connect_timeout_secs: u64,
    pub timeout_secs: u64,
    pub chunk_size: u64,
    pub max_stream_size: u64,
    pub ping_interval_secs: u64,
}

impl Default for RawClamd {
    fn default() -> Self {
        RawClamd {
            address: String::new(),
            max_connections: 8,
            connect_timeout_secs: 5,
            timeout_secs: 120,
            chunk_size: 65536,
            max_stream_size: 25 * 1024 * 1024,
            ping_interval_secs: 30,
        }
    }
}

/// One `[[scan.command]]` as written; `name`, `command` and `virus_regex` must be set
/// (validation says so with the key path).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCommand {
    pub name: String,
    pub command: Vec<String>,
    pub clean_exit_codes: Vec<i32>,
    pub infected_exit_codes: Vec<i32>,
    pub virus_regex: String,
    pub timeout_secs: u64,
    pub max_concurrent: u64,
    pub version_command: Vec<String>,
    pub version_ttl_secs: u64,
}

impl Default for RawCommand {
    fn default() -> Self {
        RawCommand {
            name: String::new(),
            command: Vec::new(),
            clean_exit_codes: vec![0],
            infected_exit_codes: vec![1],
            virus_regex: String::new(),
            timeout_secs: 120,
            max_concurrent: 4,
            version_command: Vec::new(),
            version_ttl_secs: 60,
        }
    }
}

/// Validated `[scan]`.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// `scan.none = true`: no scanner, on purpose.
    pub none: bool,
    /// clamd, when `scan.clamd.address` is set.
    pub clamd: Option<ClamdConfig>,
    /// How often the daemon PINGs clamd between messages (`None`: only at start).
    pub clamd_ping_interval: Option<Duration>,
    /// The command-line scanners.
    pub commands: Vec<CommandConfig>,
    /// The engines asked for every item (empty: every engine that is not a backup).
    pub scanners: Vec<String>,
    /// primary → backup.
    pub backups: BTreeMap<String, String>,
    /// What failures do.
    pub policy: FailurePolicy,
    /// Raw message, cache bounds.
    pub message: MessageScannerConfig,
    /// The own-signature directory, when set.
    pub signature_dir: Option<PathBuf>,
    /// No verdict is cached this long after the own signatures changed.
    pub reload_grace: Duration,
    /// How long `signatures` commands wait for clamd to load a change.
    pub reload_wait: Duration,
}

impl RawScan {
    /// Validates into settings; problems go to `check` with their key paths.
    pub(crate) fn validate(&self, check: &mut Check) -> ScanSettings {
        let clamd = self.clamd.validate(check);
        let commands = self
            .command
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.validate(check, i, &self.temp_dir))
            .collect::<Vec<_>>();
        let mut names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        if clamd.is_some() {
            names.push("clamd");
        }
        self.check_names(check, &names, &commands);
        if self.none && !names.is_empty() {
            check.fail(
                "scan.none",
                format!(
                    "true means no virus scanner, but {} configured (remove scan.none or the scanner)",
                    names.join(", ")
                ),
            );
        }
        let policy = FailurePolicy {
            down: on_failure(check, "scan.on_down", &self.on_down),
            timeout: on_failure(check, "scan.on_timeout", &self.on_timeout),
            error: on_failure(check, "scan.on_error", &self.on_error),
            size_limit: on_failure(check, "scan.on_size_limit", &self.on_size_limit),
        };
        ScanSettings {
            none: self.none,
            clamd,
            clamd_ping_interval: (self.clamd.ping_interval_secs > 0)
                .then(|| Duration::from_secs(self.clamd.ping_interval_secs)),
            commands,
            scanners: self.scanners.clone(),
            backups: self.backups.clone(),
            policy,
            message: MessageScannerConfig {
                send_raw: self.send_raw_message,
                cache: CacheLimits {
                    max_entries: self.cache_max_entries as usize,
                    max_bytes: self.cache_max_bytes as usize,
                },
            },
            signature_dir: (!self.signature_dir.as_os_str().is_empty())
                .then(|| self.signature_dir.clone()),
            reload_grace: Duration::from_secs(self.reload_grace_secs),
            reload_wait: check.secs("scan.reload_wait_secs", self.reload_wait_secs),
        }
    }

    fn check_names(&self, check: &mut Check, names: &[&str], commands: &[CommandConfig]) {
        for (i, c) in commands.iter().enumerate() {
            if names.iter().filter(|n| **n == c.name).count() > 1 {
                check.fail(
                    &format!("scan.command[{i}].name"),
                    format!("{:?} is used twice (\"clamd\" is reserved)", c.name),
                );
            }
        }
        for (i, name) in self.scanners.iter().enumerate() {
            if !names.contains(&name.as_str()) {
                check.fail(
                    &format!("scan.scanners[{i}]"),
                    format!("{name:?} is not configured (clamd needs scan.clamd.address; others a [[scan.command]])"),
                );
            }
        }
        for (primary, backup) in &self.backups {
            for name in [primary, backup] {
                if !names.contains(&name.as_str()) {
                    check.fail(
                        &format!("scan.backups.{primary}"),
                        format!("{name:?} is not configured"),
                    );
                }
            }
        }
    }
}

impl RawClamd {
    fn validate(&self, check: &mut Check) -> Option<ClamdConfig> {
        if self.address.is_empty() {
            return None;
        }
        let addr = match self.address.parse::<ClamdAddr>() {
            Ok(addr) => addr,
            Err(err) => {
                check.fail("scan.clamd.address", err.to_string());
                return None;
            }
        };
        let mut config = ClamdConfig::new(addr);
        config.max_connections =
            check.positive("scan.clamd.max_connections", self.max_connections) as usize;
        config.connect_timeout =
            check.secs("scan.clamd.connect_timeout_secs", self.connect_timeout_secs);
        config.scan_timeout = check.secs("scan.clamd.timeout_secs", self.timeout_secs);
        config.chunk_size = check.positive("scan.clamd.chunk_size", self.chunk_size) as usize;
        config.max_stream_size = check.positive("scan.clamd.max_stream_size", self.max_stream_size);
        Some(config)
    }
}

impl RawCommand {
    fn validate(
        &self,
        check: &mut Check,
        i: usize,
        temp_dir: &std::path::Path,
    ) -> Option<CommandConfig> {
        let key = |field: &str| format!("scan.command[{i}].{field}");
        if self.name.is_empty() || self.name == "clamd" {
            check.fail(&key("name"), "must be set and not \"clamd\"");
        }
        if self.command.is_empty() {
            check.fail(&key("command"), "must name a program");
        } else if !self.command[1..]
            .iter()
            .any(|a| a.contains(PATH_PLACEHOLDER))
        {
            check.fail(
                &key("command"),
                "no argument contains {} (the file to scan)",
            );
        }
        if self.virus_regex.is_empty() {
            check.fail(
                &key("virus_regex"),
                "must be set (capture group 1, or the whole match, is the virus name)",
            );
            return None;
        }
        let regex = regex::Regex::new(&self.virus_regex)
            .map_err(|err| check.fail(&key("virus_regex"), err.to_string()))
            .ok()?;
        Some(CommandConfig {
            name: self.name.clone(),
            command: self.command.clone(),
            clean_exit_codes: self.clean_exit_codes.clone(),
            infected_exit_codes: self.infected_exit_codes.clone(),
            virus_regex: regex,
            timeout: check.secs(&key("timeout_secs"), self.timeout_secs),
            max_concurrent: check.positive(&key("max_concurrent"), self.max_concurrent) as usize,
            temp_dir: temp_dir.to_path_buf(),
            version_command: self.version_command.clone(),
            version_ttl: Duration::from_secs(self.version_ttl_secs),
        })
    }
}

fn on_failure(check: &mut Check, key: &str, value: &str) -> OnFailure {
    match value {
        "tempfail" => OnFailure::Tempfail,
        "quarantine" => OnFailure::Quarantine,
        other => {
            check.fail(
                key,
                format!("{other:?} is not \"tempfail\" or \"quarantine\""),
            );
            OnFailure::Tempfail
        }
    }
}

impl ScanSettings {
    /// True when at least one engine is configured.
    pub fn enabled(&self) -> bool {
        self.clamd.is_some() || !self.commands.is_empty()
    }

    /// The scanner of these settings: the selected engines (all must answer), each with its
    /// backup; `None` when no engine is configured.
    pub fn scanner(&self) -> Option<Box<dyn Scanner>> {
        let mut engines: BTreeMap<String, Box<dyn Scanner>> = BTreeMap::new();
        if let Some(clamd) = &self.clamd {
            engines.insert("clamd".into(), Box::new(Clamd::new(clamd.clone())));
        }
        for command in &self.commands {
            engines.insert(
                command.name.clone(),
                Box::new(CommandScanner::new(command.clone())),
            );
        }
        let selected: Vec<String> = if self.scanners.is_empty() {
            let backups: Vec<&String> = self.backups.values().collect();
            engines
                .keys()
                .filter(|n| !backups.contains(n))
                .cloned()
                .collect()
        } else {
            self.scanners.clone()
        };
        let mut chosen: Vec<Box<dyn Scanner>> = Vec::new();
        for name in selected {
            let Some(primary) = engines.remove(&name) else {
                continue;
            };
            let backup = self.backups.get(&name).and_then(|b| engines.remove(b));
            chosen.push(match backup {
                Some(backup) => Box::new(Failover::new(primary, backup)),
                None => primary,
            });
        }
        match chosen.len() {
            0 => None,
            1 => chosen.pop(),
            _ => Some(Box::new(AllOf::new(chosen))),
        }
    }

    /// The pipeline's scan stage, with the verdict cache and the own-signature generation.
    pub fn stage(&self) -> Option<(ScannerStage, Arc<MessageScanner>)> {
        let scanner = self.scanner()?;
        let generation = GenerationWatch::new(self.signature_dir.as_deref(), self.reload_grace);
        let message = Arc::new(MessageScanner::new(
            scanner,
            generation,
            self.message.clone(),
        ));
        Some((
            ScannerStage::new(Arc::clone(&message), self.policy),
            message,
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    fn validate(text: &str) -> Result<super::ScanSettings, Vec<String>> {
        parse(text, "t")
            .unwrap()
            .validate("t")
            .map(|s| s.scan)
            .map_err(|e| e.issues.into_iter().map(|i| i.key).collect())
    }

    #[test]
    fn defaults_scan_nothing() {
        let scan = validate("").unwrap();
        assert!(!scan.enabled());
        assert!(scan.scanner().is_none());
    }

    #[test]
    fn clamd_commands_and_backups() {
        let scan = validate(
            "[scan]\nbackups = { clamd = \"other\" }\n[scan.clamd]\naddress = \"/run/clamav/clamd.ctl\"\n\
             [[scan.command]]\nname = \"other\"\ncommand = [\"/usr/bin/other\", \"--scan={}\"]\nvirus_regex = \"Found: (\\\\S+)\"\n",
        )
        .unwrap();
        assert_eq!(scan.scanner().unwrap().name(), "clamd|other");
    }

    #[test]
    fn bad_scan_settings_are_reported_with_key_paths() {
        let keys = validate(
            "[scan]\non_down = \"pass\"\nscanners = [\"nope\"]\n[scan.clamd]\naddress = \"nowhere\"\n\
             [[scan.command]]\nname = \"x\"\ncommand = [\"/bin/x\"]\nvirus_regex = \"(\"\n",
        )
        .unwrap_err();
        assert_eq!(
            keys,
            [
                "scan.clamd.address",
                "scan.command[0].command",
                "scan.command[0].virus_regex",
                "scan.scanners[0]",
                "scan.on_down"
            ]
        );
    }
}

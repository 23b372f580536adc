//! The `[quarantine]` section: where held mail is stored, how long it is kept, how many
//! distinct people must approve a release per reason, and how release jobs retry.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use quarantd_release::{ReleaseSettings, Rules};
use quarantd_store::{Retention, StoreOptions};
use serde::Deserialize;

use crate::config::Check;

/// `[quarantine]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawQuarantine {
    pub store: String,
    pub max_connections: u64,
    pub acquire_timeout_secs: u64,
    pub retention_days: u64,
    pub retention_days_per_reason: BTreeMap<String, u64>,
    pub default_approvals: u64,
    pub approvals: BTreeMap<String, u64>,
    pub release_max_attempts: u64,
    pub release_first_backoff_secs: u64,
    pub release_max_backoff_secs: u64,
    pub stale_claim_after_secs: u64,
}

impl Default for RawQuarantine {
    fn default() -> Self {
        RawQuarantine {
            store: String::new(),
            max_connections: 8,
            acquire_timeout_secs: 10,
            retention_days: 30,
            retention_days_per_reason: BTreeMap::new(),
            default_approvals: 1,
            approvals: [("virus".to_string(), 2), ("executable".to_string(), 2)].into(),
            release_max_attempts: 4,
            release_first_backoff_secs: 15,
            release_max_backoff_secs: 120,
            stale_claim_after_secs: 1800,
        }
    }
}

/// Validated `[quarantine]`.
#[derive(Debug, Clone)]
pub struct QuarantineSettings {
    /// Database URL; empty = the SQLite file under the data directory.
    pub store: String,
    /// Pool settings.
    pub options: StoreOptions,
    /// Retention per reason.
    pub retention: Retention,
    /// Approvals per reason.
    pub rules: Rules,
    /// Release job retries.
    pub release: ReleaseSettings,
}

const DAY: u64 = 24 * 3600;

impl RawQuarantine {
    /// Validates, reporting problems into `check`.
    pub(crate) fn validate(&self, check: &mut Check) -> QuarantineSettings {
        let store = self.store.trim().to_string();
        if !(store.is_empty()
            || store.starts_with("sqlite:")
            || store.starts_with("mysql://")
            || store.starts_with("mariadb://"))
        {
            check.fail("quarantine.store", format!("{store:?} is not sqlite://PATH or mysql://user:pass@host/db (empty: SQLite under the data directory)"));
        }
        let mut per_reason = BTreeMap::new();
        for (reason, days) in &self.retention_days_per_reason {
            let days = check.positive(
                &format!("quarantine.retention_days_per_reason.{reason}"),
                *days,
            );
            per_reason.insert(reason.to_ascii_lowercase(), Duration::from_secs(days * DAY));
        }
        let mut approvals = BTreeMap::new();
        for (reason, n) in &self.approvals {
            let n = check.positive(&format!("quarantine.approvals.{reason}"), *n);
            approvals.insert(reason.to_ascii_lowercase(), n as u32);
        }
        QuarantineSettings {
            store,
            options: StoreOptions {
                max_connections: check.positive("quarantine.max_connections", self.max_connections)
                    as u32,
                acquire_timeout: check
                    .secs("quarantine.acquire_timeout_secs", self.acquire_timeout_secs),
                ..StoreOptions::default()
            },
            retention: Retention {
                default: Duration::from_secs(
                    check.positive("quarantine.retention_days", self.retention_days) * DAY,
                ),
                per_reason,
            },
            rules: Rules {
                approvals,
                default_approvals: check
                    .positive("quarantine.default_approvals", self.default_approvals)
                    as u32,
                ..Rules::default()
            },
            release: ReleaseSettings {
                max_attempts: check
                    .positive("quarantine.release_max_attempts", self.release_max_attempts)
                    as u32,
                first_backoff: check.secs(
                    "quarantine.release_first_backoff_secs",
                    self.release_first_backoff_secs,
                ),
                max_backoff: check.secs(
                    "quarantine.release_max_backoff_secs",
                    self.release_max_backoff_secs,
                ),
                stale_claim_after: check.secs(
                    "quarantine.stale_claim_after_secs",
                    self.stale_claim_after_secs,
                ),
            },
        }
    }
}

impl QuarantineSettings {
    /// Applies `[policy.reasons]`: for every reason it names, its `retention_days`,
    /// `approvals` and `self_release` win over `[quarantine]`'s `retention_days_per_reason`
    /// and `approvals`; reasons it does not name keep `[quarantine]`'s settings.
    pub fn apply_policy(&mut self, policy: &quarantd_policy::Policy) {
        for (reason, days) in policy.retention_days_per_reason() {
            self.retention
                .per_reason
                .insert(reason, Duration::from_secs(days * DAY));
        }
        for (reason, n) in policy.approvals_per_reason() {
            self.rules.approvals.insert(reason, n);
        }
        for (reason, settings) in policy.reasons() {
            if settings.self_release == Some(false) {
                self.rules.self_release.remove(reason);
            }
        }
        self.rules
            .self_release
            .extend(policy.self_release_reasons());
    }

    /// Opens the store: the configured URL (a `--store` flag wins), else SQLite under `data_dir`.
    pub async fn open(
        &self,
        flag: Option<&str>,
        data_dir: &Path,
    ) -> Result<quarantd_store::Store, quarantd_store::Error> {
        match flag
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.store)
        {
            "" => quarantd_store::Store::open_in_data_dir(data_dir, &self.options).await,
            url => quarantd_store::Store::open(url, &self.options).await,
        }
    }
}

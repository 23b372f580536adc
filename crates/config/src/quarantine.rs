//! The `[quarantine]` section: where held mail is stored, how long it is kept, how many
//! distinct people must approve a release per reason, and how release jobs retry.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use quarantd_release::{ReleaseSettings, Rules};
use quarantd_store::{Retention, StoreOptions};
use serde::Deserialize;

use crate::check::Check;

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
            approvals: BTreeMap::new(),
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
    /// Approvals per reason: the defaults ([`Rules::default`]: `virus` and `executable` 2)
    /// with `quarantine.approvals` and `[policy.reasons]` over them, key by key.
    pub rules: Rules,
    /// Where each reason's approvals in `rules` come from, for `config check`.
    pub approvals_origin: BTreeMap<String, &'static str>,
    /// Release job retries.
    pub release: ReleaseSettings,
}

const DAY: u64 = 24 * 3600;

/// Where a reason's approvals come from (`config check` prints it).
const ORIGIN_DEFAULT: &str = "default";
const ORIGIN_QUARANTINE: &str = "quarantine.approvals";
const ORIGIN_POLICY: &str = "policy.reasons";

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
        let mut approvals = Rules::default().approvals;
        let mut approvals_origin: BTreeMap<String, &'static str> = approvals
            .keys()
            .map(|k| (k.clone(), ORIGIN_DEFAULT))
            .collect();
        for (reason, n) in &self.approvals {
            let n = check.positive(&format!("quarantine.approvals.{reason}"), *n);
            let key = reason.to_ascii_lowercase();
            approvals.insert(key.clone(), n as u32);
            approvals_origin.insert(key, ORIGIN_QUARANTINE);
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
            approvals_origin,
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
            self.approvals_origin.insert(reason.clone(), ORIGIN_POLICY);
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

    /// The effective approvals table as `config check` prints it, e.g.
    /// `quarantine.approvals: executable=3, virus=2 (default); other reasons 1`: each reason
    /// with its number and, unless it is `quarantine.approvals`, where it comes from.
    pub fn describe_approvals(&self) -> String {
        let per_reason: Vec<String> = self
            .rules
            .approvals
            .iter()
            .map(
                |(reason, n)| match self.approvals_origin.get(reason).copied() {
                    Some(ORIGIN_QUARANTINE) | None => format!("{reason}={n}"),
                    Some(origin) => format!("{reason}={n} ({origin})"),
                },
            )
            .collect();
        format!(
            "quarantine.approvals: {}; other reasons {} (quarantine.default_approvals)",
            per_reason.join(", "),
            self.rules.default_approvals
        )
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

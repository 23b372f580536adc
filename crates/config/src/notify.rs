//! The `[notify]` section: who notifications come from, in which language, with which
//! templates, and the key that signs easy-release tokens.
//!
//! The token key file holds a hex key of at least 32 bytes (64 hex digits); generate one with
//!
//! ```sh
//! umask 077; openssl rand -hex 32 > /etc/quarantd/token.key
//! ```
//!
//! (or `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'`). Changing the key invalidates
//! every token issued before. A key file group or others may access (any of mode 077) is
//! refused, by `serve`, the CLI and `config check` alike.

use std::path::{Path, PathBuf};
use std::time::Duration;

use quarantd_notify::{Composer, Templates};
use quarantd_release::token::TokenKey;
use serde::Deserialize;

use crate::check::Check;

/// Most notification runs `notify.max_concurrent_sends` allows at once.
const MAX_CONCURRENT_SENDS: u64 = 1000;

/// `[notify]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNotify {
    pub enabled: bool,
    pub language: String,
    pub templates_dir: PathBuf,
    pub from: String,
    pub from_name: String,
    pub envelope_from: String,
    pub postmaster: String,
    pub release_url: String,
    pub token_validity_hours: u64,
    pub token_key_file: PathBuf,
    pub max_attempts: u64,
    pub first_backoff_secs: u64,
    pub max_backoff_secs: u64,
    pub max_concurrent_sends: u64,
    pub outbox_poll_secs: u64,
}

impl Default for RawNotify {
    fn default() -> Self {
        RawNotify {
            enabled: false,
            language: "en".into(),
            templates_dir: PathBuf::new(),
            from: String::new(),
            from_name: "Mail gateway".into(),
            envelope_from: String::new(),
            postmaster: String::new(),
            release_url: String::new(),
            token_validity_hours: 168,
            token_key_file: PathBuf::new(),
            max_attempts: 4,
            first_backoff_secs: 30,
            max_backoff_secs: 600,
            max_concurrent_sends: 4,
            outbox_poll_secs: 5,
        }
    }
}

impl RawNotify {
    /// Makes relative paths relative to `base` (the config file's directory).
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.templates_dir, &mut self.token_key_file] {
            if !path.as_os_str().is_empty() && path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

/// Validated `[notify]`.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Whether notifications are sent at all.
    pub enabled: bool,
    /// Template language (`en`, `de`, or one a site added).
    pub language: String,
    /// The site's template directory, if any.
    pub templates_dir: Option<PathBuf>,
    /// `From`, envelope sender, host name for the `Message-ID`.
    pub composer: Composer,
    /// The postmaster address (the `postmaster` party and the address named in texts).
    pub postmaster: String,
    /// Base URL of easy-release links; empty = the token is quoted as a code.
    pub release_url: String,
    /// How long a token is valid.
    pub token_validity: Duration,
    /// The token key; `None` = no tokens are offered (and `request-release --token` fails).
    pub token_key: Option<TokenKey>,
    /// Send attempts per notification on 4xx or connection errors.
    pub max_attempts: u32,
    /// First wait between attempts (doubling).
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Notification runs the daemon sends at once; more wait (queued in the store).
    pub max_concurrent_sends: usize,
    /// How often the daemon claims the runs workflow steps (the CLI) queued.
    pub outbox_poll: Duration,
}

impl NotifySettings {
    /// The template set: shipped, with the site's directory over it.
    pub fn templates(&self) -> Templates {
        match &self.templates_dir {
            Some(dir) => Templates::with_overrides(dir.clone()),
            None => Templates::embedded(),
        }
    }
}

/// An address for a header or the envelope: one `@`, no spaces, brackets or controls.
fn address_ok(a: &str) -> bool {
    a.matches('@').count() == 1
        && !a.starts_with('@')
        && !a.ends_with('@')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

/// Reads a hex key file into a token key; refuses one open to group or others (whoever can
/// read it can forge release tokens).
pub fn read_key_file(path: &Path) -> Result<TokenKey, String> {
    crate::private::check_private(path).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let hex: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !hex.len().is_multiple_of(2) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{} does not hold a hex key (generate one with `openssl rand -hex 32`)",
            path.display()
        ));
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect();
    TokenKey::new(bytes).map_err(|e| format!("{}: {e}", path.display()))
}

impl RawNotify {
    /// Validates, reporting problems into `check`; `hostname` is the server's name.
    pub(crate) fn validate(&self, check: &mut Check, hostname: &str) -> NotifySettings {
        let language = self.language.trim().to_ascii_lowercase();
        let lang_ok = !language.is_empty()
            && language.len() <= 8
            && language.chars().all(|c| c.is_ascii_lowercase());
        if !lang_ok {
            check.fail(
                "notify.language",
                format!("{:?} is not a language code (e.g. en, de)", self.language),
            );
        }
        let templates_dir =
            (!self.templates_dir.as_os_str().is_empty()).then(|| self.templates_dir.clone());
        if let Some(dir) = &templates_dir {
            if !dir.is_dir() {
                check.fail(
                    "notify.templates_dir",
                    format!("{} is not a directory", dir.display()),
                );
            } else if lang_ok {
                if let Err(e) = Templates::with_overrides(dir.clone()).check(&language) {
                    check.fail("notify.templates_dir", e.to_string());
                }
            }
        }
        let postmaster = match self.postmaster.trim() {
            "" => format!("postmaster@{hostname}"),
            a => a.to_string(),
        };
        if !address_ok(&postmaster) {
            check.fail(
                "notify.postmaster",
                format!("{postmaster:?} is not a mail address"),
            );
        }
        let from = match self.from.trim() {
            "" => postmaster.clone(),
            a => a.to_string(),
        };
        if !self.from.trim().is_empty() && !address_ok(&from) {
            check.fail("notify.from", format!("{from:?} is not a mail address"));
        }
        let envelope_from = self
            .envelope_from
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string();
        if !envelope_from.is_empty() && !address_ok(&envelope_from) {
            check.fail(
                "notify.envelope_from",
                format!("{envelope_from:?} is not a mail address (\"\" = the null sender <>)"),
            );
        }
        let url = self.release_url.trim().to_string();
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            check.fail(
                "notify.release_url",
                format!("{url:?} is not an http(s) URL (\"\" = quote the token as a code)"),
            );
        }
        let token_validity = Duration::from_secs(
            check.positive("notify.token_validity_hours", self.token_validity_hours) * 3600,
        );
        let token_key = if self.token_key_file.as_os_str().is_empty() {
            None
        } else {
            match read_key_file(&self.token_key_file) {
                Ok(key) => Some(key),
                Err(message) => {
                    check.fail("notify.token_key_file", message);
                    None
                }
            }
        };
        NotifySettings {
            enabled: self.enabled,
            language: if lang_ok { language } else { "en".into() },
            templates_dir,
            composer: Composer {
                from,
                from_name: self.from_name.clone(),
                envelope_from,
                hostname: hostname.to_string(),
            },
            postmaster,
            release_url: url,
            token_validity,
            token_key,
            max_attempts: check.positive("notify.max_attempts", self.max_attempts) as u32,
            first_backoff: check.secs("notify.first_backoff_secs", self.first_backoff_secs),
            max_backoff: check.secs("notify.max_backoff_secs", self.max_backoff_secs),
            max_concurrent_sends: self.concurrent_sends(check),
            outbox_poll: check.secs("notify.outbox_poll_secs", self.outbox_poll_secs),
        }
    }

    fn concurrent_sends(&self, check: &mut Check) -> usize {
        const KEY: &str = "notify.max_concurrent_sends";
        let n = check.positive(KEY, self.max_concurrent_sends);
        if n > MAX_CONCURRENT_SENDS {
            check.fail(KEY, format!("must be at most {MAX_CONCURRENT_SENDS}"));
        }
        n.min(MAX_CONCURRENT_SENDS) as usize
    }
}

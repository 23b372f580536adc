//! quarantd's configuration, in two stages: the TOML file as written ([`RawConfig`], one raw
//! struct per section, every key optional with a documented default) becomes the validated
//! [`Settings`] that `serve`, the command line and any other front end run on. Every problem
//! is reported at once, each at its key path ([`ConfigErrors`]).
//!
//! - [`load`]/[`parse`]: a file or text into [`RawConfig`]; unknown keys (at their full key
//!   path, with the keys expected there) and values of the wrong type are reported, not
//!   fatal, so one report has every problem of the file;
//! - [`settings`]: `[server]`, `[relay]`, `[analysis]`, `[log]` and [`RawConfig::validate`],
//!   which validates every section; [`scan`], [`quarantine`], [`notify`] and [`policyd`] are the sections
//!   of their own; `[policy]` is `quarantd_policy::RawPolicy`, validated there;
//! - [`check`]: the report, one [`ConfigIssue`] per problem;
//! - [`private`]: the rule that a secret file is private to quarantd's user, [`node_id`]: what
//!   a node id is.
//!
//! Built from the settings types of the crates it configures (`quarantd-smtp`,
//! `quarantd-pipeline`, `quarantd-scan`, `quarantd-store`, `quarantd-release`,
//! `quarantd-policy`, `quarantd-policyd`, `quarantd-notify`, `quarantd-mime`). It prints nothing and knows no
//! command line: `quarantd config check` (the binary) renders the report, and command-line
//! flags override the raw values before validation.

pub mod check;
mod keys;
mod load;
pub mod node_id;
pub mod notify;
pub mod policyd;
pub mod private;
pub mod quarantine;
pub mod scan;
mod schema;
pub mod settings;

pub use check::{ConfigErrors, ConfigIssue};
pub use load::{load, parse};
pub use settings::{system_hostname, LogFormat, RawConfig, Settings};

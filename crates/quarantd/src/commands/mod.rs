//! The commands, one file per family: `serve`, `inspect`, `signatures`, `quarantine`,
//! `audit`, `config`. What they share is here: loading the settings, opening the store as a
//! command does, who acts, and the exit codes.
//!
//! **Exit codes** ([`exit_code`]): 0 done; 1 other failure (config, I/O); 2 bad arguments, a
//! refused `--by` or a name that normalises to nothing; 3 unknown id or part; 4 the
//! message's state forbids it (deleted, approvals missing, approved twice, not a recipient,
//! nothing left to release, a rejected copy without `--rejected-copy`); 5 the relay refused a
//! release permanently (5xx); 6 an easy-release token was refused (malformed, tampered,
//! expired, or used for another message or recipient); 75 (`EX_TEMPFAIL`) the database or the
//! relay is unavailable, or a delivery is deferred or uncertain: try again later.

pub mod audit;
pub mod config;
pub mod inspect;
pub mod quarantine;
pub mod serve;
pub mod signatures;

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use quarantd_config::Settings;
use quarantd_release::store::Store;
use quarantd_release::{Actor, PartFinder};

use crate::cli::StoreArgs;

/// Some other failure: a bad config file, an I/O error.
pub const EXIT_FAILURE: u8 = 1;
/// Bad arguments (also clap's own code), or no actor known for a change.
pub const EXIT_USAGE: u8 = 2;
/// No message with this id, or no part with this path.
pub const EXIT_NOT_FOUND: u8 = 3;
/// The message's state (or its approvals) forbids the change.
pub const EXIT_STATE: u8 = 4;
/// The relay refused the release permanently (5xx) for at least one recipient.
pub const EXIT_REFUSED: u8 = 5;
/// An easy-release token was refused: malformed, tampered, expired or misused.
pub const EXIT_TOKEN: u8 = 6;
/// The database or the relay is unavailable, or a delivery was deferred: try again later.
pub const EXIT_TEMPFAIL: u8 = 75;

/// An error that carries its own exit code.
#[derive(Debug)]
pub struct Exit {
    /// The process exit code.
    pub code: u8,
    /// What to print after `quarantd: error: `.
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub(crate) fn exit(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code,
        message: message.into(),
    })
}

/// The exit code for an error of any command: the first error in the chain that has one
/// decides (store and release errors are classified), else [`EXIT_FAILURE`].
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Exit>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<quarantd_release::Error>() {
            return match e {
                quarantd_release::Error::Store(s) => store_code(s),
                quarantd_release::Error::InvalidActor { .. }
                | quarantd_release::Error::NoTokenKey => EXIT_USAGE,
                quarantd_release::Error::Token(_) => EXIT_TOKEN,
                _ if e.is_transient() => EXIT_TEMPFAIL,
                _ if e.is_not_found() => EXIT_NOT_FOUND,
                _ if e.is_state_error() => EXIT_STATE,
                _ => EXIT_FAILURE,
            };
        }
        if let Some(e) = cause.downcast_ref::<quarantd_release::store::Error>() {
            return store_code(e);
        }
    }
    EXIT_FAILURE
}

pub(crate) fn store_code(e: &quarantd_release::store::Error) -> u8 {
    if e.is_transient() {
        EXIT_TEMPFAIL
    } else if e.is_not_found() {
        EXIT_NOT_FOUND
    } else if e.is_state_error() {
        EXIT_STATE
    } else if matches!(e, quarantd_release::store::Error::UnsupportedUrl { .. }) {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn load_settings(args: &StoreArgs, relay: Option<&str>) -> anyhow::Result<Settings> {
    let mut raw = quarantd_config::load(args.config.as_deref())?;
    if let Some(relay) = relay {
        raw.relay.address = relay.to_string();
    }
    let source = args.config.as_ref().map_or_else(
        || "embedded defaults and flags".to_string(),
        |p| p.display().to_string(),
    );
    let mut settings = raw.validate(&source)?;
    if args.no_notify {
        settings.notify.enabled = false;
    }
    Ok(settings)
}

/// Opens the store; a SQLite file that does not exist is an error here (the daemon creates
/// it, the CLI must not invent an empty quarantine).
pub(crate) async fn open_store(settings: &Settings, flag: Option<&str>) -> anyhow::Result<Store> {
    let url = match flag.map(str::trim).filter(|s| !s.is_empty()) {
        Some(url) => url.to_string(),
        None if !settings.quarantine.store.is_empty() => settings.quarantine.store.clone(),
        None => quarantd_release::store::sqlite_url(&settings.data_dir),
    };
    if let Some(path) = sqlite_path(&url) {
        if !Path::new(path).exists() {
            bail!(
                "no quarantine at {path}: the file does not exist (give --store URL, or \
                 --config FILE with the daemon's data directory or quarantine.store)"
            );
        }
    }
    crate::permissions::warn_store(&url, &settings.data_dir);
    // The store's error already names its cause: print it once, keep its exit code.
    settings
        .quarantine
        .open(Some(&url), &settings.data_dir)
        .await
        .map_err(|e| {
            let shown = quarantd_release::store::redact(&url);
            exit(
                store_code(&e),
                format!("cannot open the quarantine store {shown}: {e}"),
            )
        })
}

/// The file of an SQLite URL (`sqlite:///var/x.sqlite`, `sqlite:x.sqlite?mode=ro`).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Who runs this command ([`crate::actor`]); a refused `--by` is exit status 2.
pub(crate) fn actor(by: Option<&str>) -> anyhow::Result<Actor> {
    crate::actor::current(by).map_err(|message| exit(EXIT_USAGE, message))
}

/// Finds a part of a held message by decomposing it again with the configured limits (the
/// ones it was held under).
pub(crate) fn part_finder(settings: &Settings) -> PartFinder {
    let limits = settings.mime_limits.clone();
    Arc::new(move |raw, path| quarantd_mime::find_part(&raw, path, &limits).map(Into::into))
}

/// The decoded content of part `path` of message `id`, for `signatures add
/// --from-quarantine`; the view is audited as `view-part` by the actor.
pub fn fetch_part(
    config: Option<&Path>,
    store_url: Option<&str>,
    by: Option<&str>,
    id: &str,
    path: &str,
) -> anyhow::Result<Vec<u8>> {
    let store_args = StoreArgs {
        store: store_url.map(str::to_string),
        config: config.map(Path::to_path_buf),
        by: by.map(str::to_string),
        no_notify: true,
        wait_notify: false,
    };
    let settings = load_settings(&store_args, None)?;
    let actor = actor(by)?;
    runtime()?.block_on(async {
        let store = open_store(&settings, store_url).await?;
        let find = part_finder(&settings);
        let part = store
            .part(id, path, actor.name(), move |raw, path| find(raw, path))
            .await;
        store.close().await;
        Ok(part?.content)
    })
}

/// Writes bytes as they are (a raw message, a part) to standard output.
pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .context("cannot write to standard output")?;
    out.flush().context("cannot write to standard output")
}

/// Longest token input read from standard input or a file (a token is a few hundred bytes).
const MAX_TOKEN_INPUT: u64 = 4096;

/// The token of `--token TOKEN`, `--token -` (standard input) or `--token-file FILE`: the
/// first line, trimmed. The last two keep it out of the process list (`ps` shows argv).
pub(crate) fn read_token(token: Option<&str>, file: Option<&Path>) -> anyhow::Result<String> {
    let (text, from) = match (token, file) {
        (Some("-"), _) => (
            read_bounded(std::io::stdin().lock())
                .context("cannot read the token from standard input")?,
            "standard input".to_string(),
        ),
        (Some(token), _) => (token.to_string(), "--token".to_string()),
        (None, Some(path)) => {
            let text = std::fs::File::open(path)
                .and_then(read_bounded)
                .with_context(|| format!("cannot read the token file {}", path.display()))?;
            (text, path.display().to_string())
        }
        (None, None) => (String::new(), "the command line".to_string()),
    };
    match text.lines().next().map(str::trim) {
        Some(token) if !token.is_empty() => Ok(token.to_string()),
        _ => Err(exit(EXIT_USAGE, format!("no token in {from}"))),
    }
}

fn read_bounded(reader: impl std::io::Read) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    reader.take(MAX_TOKEN_INPUT).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(sqlite_path("sqlite:///var/q.sqlite"), Some("/var/q.sqlite"));
        assert_eq!(
            sqlite_path("sqlite://./var/q.sqlite"),
            Some("./var/q.sqlite")
        );
        assert_eq!(sqlite_path("sqlite:q.sqlite?mode=ro"), Some("q.sqlite"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("mysql://root@h/db"), None);
    }
}

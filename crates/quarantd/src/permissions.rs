//! Who may read quarantd's files.
//!
//! The quarantine holds other people's mail, and the token key signs releases: neither may be
//! readable by other local users. So:
//!
//! * every command starts with umask 077 ([`restrict_umask`], called first in `main`):
//!   whatever quarantd creates — the data directory, the SQLite file and its `-wal`/`-shm`
//!   files (SQLite gives them the database file's mode) — is its owner's alone. The one
//!   exception is the own-signature files in clamd's database directory: clamd runs as its own
//!   user and must read them, so `quarantd_scan::signatures` sets 0644 on them explicitly.
//! * `serve` creates a missing data directory 0700 and refuses to start while the data
//!   directory or the SQLite files are open to group or others ([`check_serve`]); the token
//!   key file is refused the same way by config validation (`quarantd_config::private`, which
//!   has the rule), so `serve`, the CLI and `config check` all refuse it.
//! * the `quarantine`/`audit` commands only *warn* about an open data directory or database
//!   ([`warn_store`]): they are how the postmaster gets mail out, the exposure exists already,
//!   and the daemon refuses to run until it is fixed.
//!
//! Only mode bits are looked at (no ACLs, no ownership).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use quarantd_config::private::check_private;
use quarantd_config::Settings;

/// The umask every command runs with.
const UMASK: u32 = 0o077;
/// The companion files SQLite keeps next to the database.
const SQLITE_SUFFIXES: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Sets the process umask to 077: files and directories quarantd creates are private.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
}

/// Before `serve` starts: creates the data directory 0700 if missing, then refuses a data
/// directory or SQLite files open to group or others.
pub fn check_serve(settings: &Settings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    check_private(dir).context("refusing to start")?;
    if let Some(db) = sqlite_file(&settings.quarantine.store, dir) {
        for path in companions(&db) {
            check_private(&path).context("refusing to start")?;
        }
    }
    Ok(())
}

/// For the CLI opening the store at `url`: a warning on standard error for each of the data
/// directory (when the database is the default one in it) and the SQLite files open to
/// group or others.
pub fn warn_store(url: &str, data_dir: &Path) {
    let Some(db) = sqlite_path(url) else {
        return;
    };
    let default = db == data_dir.join(quarantd_release::store::SQLITE_FILE);
    let dir = default.then(|| data_dir.to_path_buf());
    for path in dir.into_iter().chain(companions(&db)) {
        if let Err(err) = check_private(&path) {
            eprintln!("quarantd: warning: {err:#}");
        }
    }
}

/// The SQLite database of the configured store (`""` = the default under `data_dir`).
fn sqlite_file(store: &str, data_dir: &Path) -> Option<PathBuf> {
    match store.trim() {
        "" => Some(data_dir.join(quarantd_release::store::SQLITE_FILE)),
        url => sqlite_path(url),
    }
}

/// The file of an SQLite URL (`sqlite:///var/x.sqlite`, `sqlite:x.sqlite?mode=ro`).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The database file and the files SQLite keeps next to it.
fn companions(db: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    SQLITE_SUFFIXES.iter().map(move |suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_are_found_for_the_store() {
        let data = Path::new("/var/q");
        assert_eq!(
            sqlite_file("", data),
            Some(PathBuf::from("/var/q/quarantine.sqlite"))
        );
        assert_eq!(
            sqlite_file("sqlite:///srv/q.db?mode=rwc", data),
            Some(PathBuf::from("/srv/q.db"))
        );
        assert_eq!(sqlite_file("mysql://u:p@h/db", data), None);
        assert_eq!(sqlite_file("sqlite::memory:", data), None);
        let all: Vec<PathBuf> = companions(Path::new("/d/q.sqlite")).collect();
        assert_eq!(
            all,
            [
                "/d/q.sqlite",
                "/d/q.sqlite-wal",
                "/d/q.sqlite-shm",
                "/d/q.sqlite-journal"
            ]
            .map(PathBuf::from)
        );
    }
}

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
//!   key file is refused the same way by config validation ([`check_key_file`]), so `serve`,
//!   the CLI and `config check` all refuse it.
//! * the `quarantine`/`audit` commands only *warn* about an open data directory or database
//!   ([`warn_store`]): they are how the postmaster gets mail out, the exposure exists already,
//!   and the daemon refuses to run until it is fixed.
//!
//! Only mode bits are looked at (no ACLs, no ownership).

use std::fmt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Settings;

/// The mode bits that give group or others any access.
const GROUP_OTHER: u32 = 0o077;
/// The umask every command runs with.
const UMASK: u32 = 0o077;
/// The companion files SQLite keeps next to the database.
const SQLITE_SUFFIXES: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Sets the process umask to 077: files and directories quarantd creates are private.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
}

/// A file or directory open to group or others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    /// The path.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// Whether it is a directory.
    pub dir: bool,
}

impl fmt::Display for Exposed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is accessible by group or others (mode {:04o}); it must be private to quarantd's \
             user: chmod {} {}",
            self.path.display(),
            self.mode,
            if self.dir { "700" } else { "600" },
            self.path.display()
        )
    }
}

impl std::error::Error for Exposed {}

/// `Err` when `path` exists and group or others have any access to it; a missing path is
/// fine (quarantd creates it private).
pub fn check_private(path: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("cannot stat {}", path.display())),
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & GROUP_OTHER != 0 {
        return Err(Exposed {
            path: path.to_path_buf(),
            mode,
            dir: meta.is_dir(),
        }
        .into());
    }
    Ok(())
}

/// The token key file must exist and be private (config validation; the message is the
/// reason for `notify.token_key_file`).
pub fn check_key_file(path: &Path) -> Result<(), String> {
    check_private(path).map_err(|e| format!("{e:#}"))
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
    let default = db == data_dir.join(quarantd_store::SQLITE_FILE);
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
        "" => Some(data_dir.join(quarantd_store::SQLITE_FILE)),
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

    fn with_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn group_or_other_access_is_refused_with_path_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        check_private(&file).unwrap();
        std::fs::write(&file, "x").unwrap();
        for (mode, refused) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
            with_mode(&file, mode);
            let result = check_private(&file);
            assert_eq!(result.is_err(), refused, "{mode:o}");
            if let Err(err) = result {
                let text = format!("{err:#}");
                assert!(text.contains(&format!("{mode:04o}")), "{text}");
                assert!(text.contains(&file.display().to_string()), "{text}");
                assert!(text.contains("chmod 600"), "{text}");
            }
        }
        with_mode(dir.path(), 0o755);
        let text = format!("{:#}", check_private(dir.path()).unwrap_err());
        assert!(
            text.contains("0755") && text.contains("chmod 700"),
            "{text}"
        );
    }

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

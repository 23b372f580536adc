//! Files that must be private to quarantd's user: the rule that a file or directory group or
//! others may access in any way is refused. Config validation applies it to the token key
//! file (`notify.token_key_file`); the daemon to its data directory and SQLite files. Only
//! mode bits are looked at (no ACLs, no ownership).

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The mode bits that give group or others any access.
const GROUP_OTHER: u32 = 0o077;

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

/// Why a path is not known to be private.
#[derive(Debug, thiserror::Error)]
pub enum NotPrivate {
    /// Group or others may access it.
    #[error(transparent)]
    Exposed(#[from] Exposed),
    /// Its mode could not be read.
    #[error("cannot stat {}: {error}", path.display())]
    Stat {
        /// The path.
        path: PathBuf,
        /// What `stat` said.
        error: std::io::Error,
    },
}

/// `Err` when `path` exists and group or others have any access to it; a missing path is
/// fine (quarantd creates it private).
pub fn check_private(path: &Path) -> Result<(), NotPrivate> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(NotPrivate::Stat {
                path: path.to_path_buf(),
                error,
            })
        }
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
                let text = err.to_string();
                assert!(text.contains(&format!("{mode:04o}")), "{text}");
                assert!(text.contains(&file.display().to_string()), "{text}");
                assert!(text.contains("chmod 600"), "{text}");
            }
        }
        with_mode(dir.path(), 0o755);
        let text = check_private(dir.path()).unwrap_err().to_string();
        assert!(
            text.contains("0755") && text.contains("chmod 700"),
            "{text}"
        );
    }
}

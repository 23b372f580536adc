//! The generation of quarantd's own signatures: a small file in the signature directory that
//! the `signatures` commands (another process) replace atomically after every change, once
//! clamd has loaded the change. The daemon looks at it (one `stat` per message, a read only
//! when it changed) and keys its verdict cache on its content.
//!
//! clamd reloads asynchronously: for a moment after `RELOAD` returns, scans may still use the
//! old database. The commands wait for clamd to confirm the new database before they write
//! the generation; as a second line, the daemon does not *store* verdicts for a grace period
//! after it sees a new generation.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The file's name inside the signature directory (clamd ignores unknown extensions).
pub const GENERATION_FILE: &str = "quarantd.generation";

/// Longest generation file read.
const MAX_GENERATION_LEN: u64 = 4096;

/// What the daemon knows about the generation right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The file's content (`none` when there is no file).
    pub value: String,
    /// False during the grace period after a change: verdicts must not be cached.
    pub settled: bool,
}

/// Watches the generation file; see the module documentation.
pub struct GenerationWatch {
    path: Option<PathBuf>,
    grace: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stamp: Option<(i64, i64, u64, u64)>,
    value: String,
    changed_at: Option<Instant>,
}

impl GenerationWatch {
    /// Watches `dir/quarantd.generation`; `None` means no own signatures (always settled).
    pub fn new(dir: Option<&Path>, grace: Duration) -> Self {
        let watch = GenerationWatch {
            path: dir.map(|d| d.join(GENERATION_FILE)),
            grace,
            state: Mutex::new(State::default()),
        };
        // The first look is not a change: no grace period at start.
        let _ = watch.current();
        if let Ok(mut state) = watch.state.lock() {
            state.changed_at = None;
        }
        watch
    }

    /// The current generation.
    pub fn current(&self) -> Generation {
        let Some(path) = &self.path else {
            return Generation {
                value: "none".into(),
                settled: true,
            };
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = stamp_of(path);
        if stamp != state.stamp || state.stamp.is_none() {
            let value = read_value(path);
            if value != state.value {
                if !state.value.is_empty() {
                    tracing::info!(target: "quarantd::scan", generation = %value, "Own signatures changed; cached verdicts dropped.");
                }
                state.value = value;
                state.changed_at = Some(Instant::now());
            }
            state.stamp = stamp;
        }
        let settled = state.changed_at.is_none_or(|at| at.elapsed() >= self.grace);
        Generation {
            value: state.value.clone(),
            settled,
        }
    }
}

/// (mtime s, mtime ns, size, inode) of the file; `None` when it is missing.
fn stamp_of(path: &Path) -> Option<(i64, i64, u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.mtime(), meta.mtime_nsec(), meta.size(), meta.ino()))
}

fn read_value(path: &Path) -> String {
    use std::io::Read;
    let mut text = String::new();
    match std::fs::File::open(path) {
        Ok(file) => {
            if file
                .take(MAX_GENERATION_LEN)
                .read_to_string(&mut text)
                .is_err()
            {
                return "unreadable".into();
            }
            let text = text.trim();
            if text.is_empty() {
                "empty".into()
            } else {
                text.to_string()
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => "none".into(),
        Err(_) => "unreadable".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signatures::atomic_write;

    #[test]
    fn a_new_generation_is_seen_and_starts_a_grace_period() {
        let dir = std::env::temp_dir().join(format!("qgen-{}", quarantd_core::id::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let watch = GenerationWatch::new(Some(&dir), Duration::from_secs(3600));
        let first = watch.current();
        assert_eq!(
            first,
            Generation {
                value: "none".into(),
                settled: true
            }
        );
        atomic_write(&dir.join(GENERATION_FILE), b"7\n").unwrap();
        let second = watch.current();
        assert_eq!(second.value, "7");
        assert!(!second.settled);
        let idle = GenerationWatch::new(Some(&dir), Duration::ZERO);
        assert_eq!(
            idle.current(),
            Generation {
                value: "7".into(),
                settled: true
            }
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! The daemon's persistent node id: the name under which it queues its notification runs in
//! the quarantine store (`notify_outbox.owner`), so that the next start of the same node —
//! and only that node — resumes them, whatever its host name is then.
//!
//! `server.node_id` sets it; otherwise it is generated once (128 random bits, base32) and
//! kept in `DATA_DIR/node-id` (mode 0600), created atomically: written to a private temporary
//! file, synced, then linked into place, which fails if another process created it first
//! (then that one's id is used). A node id file that cannot be read or holds no valid id
//! stops the daemon: replacing it would orphan the runs queued under the old id.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use quarantd_config::node_id::{is_valid, MAX_NODE_ID_LEN};

/// The file under the data directory.
pub const NODE_ID_FILE: &str = "node-id";

/// Where the id comes from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `server.node_id`.
    Configured,
    /// Read from the file.
    Read(PathBuf),
    /// Generated now and written to the file.
    Created(PathBuf),
}

/// The configured id, else the one kept in `data_dir` (generated the first time).
pub fn resolve(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<(String, Origin)> {
    if let Some(id) = configured {
        return Ok((id.to_string(), Origin::Configured));
    }
    let path = data_dir.join(NODE_ID_FILE);
    match read(&path)? {
        Some(id) => Ok((id, Origin::Read(path))),
        None => create(&path).map(|(id, created)| {
            if created {
                (id, Origin::Created(path))
            } else {
                (id, Origin::Read(path))
            }
        }),
    }
}

/// The id in `path`; `None` when the file does not exist.
fn read(path: &Path) -> anyhow::Result<Option<String>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let id = text.trim();
    if !is_valid(id) {
        anyhow::bail!(
            "{} does not hold a node id (1 to {MAX_NODE_ID_LEN} letters, digits, '.', '_' or \
             '-'); fix it or set server.node_id — a new id would orphan the notifications \
             queued under the old one",
            path.display()
        );
    }
    Ok(Some(id.to_string()))
}

/// Generates an id and links it into place; `false` when another process was first (its id
/// is returned).
fn create(path: &Path) -> anyhow::Result<(String, bool)> {
    let id = quarantd_core::id::new_id();
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{NODE_ID_FILE}.{id}"));
    write_private(&tmp, &id).with_context(|| format!("cannot write {}", tmp.display()))?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(dir);
            Ok((id, true))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match read(path)? {
            Some(theirs) => Ok((theirs, false)),
            None => anyhow::bail!("{} vanished while it was created", path.display()),
        },
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// A new file only the owner can read, holding `id`, synced to disk.
fn write_private(path: &Path, id: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{id}\n").as_bytes())?;
    file.sync_all()
}

/// Makes a new directory entry durable (best effort: not every file system allows it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (id, origin) = resolve(None, dir.path()).unwrap();
        let path = dir.path().join(NODE_ID_FILE);
        assert_eq!(origin, Origin::Created(path.clone()));
        assert!(is_valid(&id) && id.len() >= 26, "{id}: 128 bits in base32");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, origin) = resolve(None, dir.path()).unwrap();
        assert_eq!((again, origin), (id.clone(), Origin::Read(path)));
        // Nothing but the file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [NODE_ID_FILE]);
        // The configured id wins.
        let (configured, origin) = resolve(Some("mx1-a"), dir.path()).unwrap();
        assert_eq!((configured.as_str(), origin), ("mx1-a", Origin::Configured));
    }

    #[test]
    fn concurrent_starts_agree_on_one_id() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| resolve(None, dir.path()).unwrap().0))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    }

    #[test]
    fn a_broken_file_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(NODE_ID_FILE), "not an id\n").unwrap();
        let err = resolve(None, dir.path()).unwrap_err();
        assert!(
            format!("{err:#}").contains("does not hold a node id"),
            "{err:#}"
        );
        for bad in ["", "a b", "x".repeat(65).as_str(), "é"] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}

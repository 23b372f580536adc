//! Message content while it is received: in memory within one budget shared by every
//! session, or spilled to a private file when the budget is in use.
//!
//! Receiving never waits for the budget: a session that cannot get more writes what it has
//! to `SPOOL_DIR/ID` (created with `O_EXCL`, mode 0600, removed when the message is done) and
//! goes on there, holding no budget. Before the message is handed on, a spilled message
//! waits (bounded) for its whole size at once and is read back. A session that waits
//! therefore holds nothing others wait for, so no set of sessions can block each other.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget counts in units of this many bytes (a semaphore takes at most `u32` permits
/// at once; in KiB one acquire covers 4 TiB).
const UNIT: usize = 1024;
/// Smallest step an in-memory buffer grows by.
const MIN_GROWTH: usize = 64 * 1024;
/// A buffer grows by a quarter of what it holds (not double: at most 25 % unused).
const GROWTH_DIVISOR: usize = 4;
/// Bytes a spilled message collects in memory before they are written to its file.
const SPILL_CHUNK: usize = 64 * 1024;
/// Room beyond a declared `SIZE=`: Postfix counts lines with LF, the wire has CRLF.
const SIZE_SLACK_DIVISOR: usize = 32;

/// The budget for message bytes held in memory by all sessions together.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    units: Arc<Semaphore>,
    total: usize,
}

impl MemoryBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: usize) -> Self {
        let total = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        MemoryBudget {
            units: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The whole budget, in bytes.
    pub fn total_bytes(&self) -> usize {
        self.total * UNIT
    }

    /// Bytes not held by any message now.
    pub fn available_bytes(&self) -> usize {
        self.units.available_permits() * UNIT
    }

    /// Grows `charge` to cover `bytes` if the budget has the difference now; never waits.
    fn try_cover(&self, charge: &mut Charge, bytes: usize) -> bool {
        let want = units(bytes);
        if want <= charge.units {
            return true;
        }
        let Ok(more) = u32::try_from(want - charge.units) else {
            return false;
        };
        match Arc::clone(&self.units).try_acquire_many_owned(more) {
            Ok(permit) => {
                charge.add(permit, want - charge.units);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits up to `wait` for `bytes` at once (at most the whole budget, so a message
    /// larger than it is not refused for good).
    async fn wait_for(&self, bytes: usize, wait: Duration) -> Option<Charge> {
        let want = units(bytes).min(self.total);
        let n = u32::try_from(want).ok()?;
        let acquire = Arc::clone(&self.units).acquire_many_owned(n);
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => Some(Charge {
                permit: Some(permit),
                units: want,
            }),
            _ => None,
        }
    }
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

/// The part of the budget one message holds; given back when dropped.
#[derive(Debug, Default)]
pub struct Charge {
    permit: Option<OwnedSemaphorePermit>,
    units: usize,
}

impl Charge {
    fn add(&mut self, permit: OwnedSemaphorePermit, units: usize) {
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.units += units;
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.units * UNIT
    }
}

/// Where message content goes and how much of memory it may use.
#[derive(Debug, Clone)]
pub struct Spool {
    /// The shared budget.
    pub budget: MemoryBudget,
    /// Directory of spill files (must exist; private to the daemon).
    pub dir: PathBuf,
    /// How long a spilled message waits for budget before it is read back.
    pub wait: Duration,
}

/// The content of one message being received.
pub struct Incoming {
    spool: Spool,
    id: String,
    /// All content while in memory; after a spill, what is not yet written.
    data: Vec<u8>,
    charge: Charge,
    spill: Option<SpillFile>,
    len: usize,
}

impl Incoming {
    /// Starts a message; a declared `SIZE=` (up to `max`) is reserved up front when the
    /// budget has it, so the buffer never grows by copying.
    pub fn new(spool: Spool, id: &str, declared: Option<u64>, max: usize) -> Self {
        let mut incoming = Incoming {
            spool,
            id: id.to_string(),
            data: Vec::new(),
            charge: Charge::default(),
            spill: None,
            len: 0,
        };
        let first = declared.map_or(MIN_GROWTH, |size| {
            let size = usize::try_from(size).unwrap_or(max).min(max);
            size + size / SIZE_SLACK_DIVISOR + 4096
        });
        if incoming.spool.budget.try_cover(&mut incoming.charge, first) {
            incoming.data.reserve_exact(first);
        }
        incoming
    }

    /// Makes room for `more` bytes in [`buffer`](Self::buffer): grows within the budget,
    /// else spills to a file (and from then on writes there in chunks).
    pub async fn make_room(&mut self, more: usize) -> io::Result<()> {
        if self.spill.is_some() {
            if self.data.len() + more > self.data.capacity() {
                self.write_out().await?;
            }
            return Ok(());
        }
        let (len, capacity) = (self.data.len(), self.data.capacity());
        if capacity - len >= more {
            return Ok(());
        }
        let grow = more.max(len / GROWTH_DIVISOR).max(MIN_GROWTH);
        if self.spool.budget.try_cover(&mut self.charge, len + grow) {
            self.data.reserve_exact(grow);
            return Ok(());
        }
        self.spill_now(more).await
    }

    /// The buffer content is added to (after [`make_room`](Self::make_room)).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    /// Bytes received so far.
    pub fn len(&self) -> usize {
        self.len + self.data.len()
    }

    /// True before any byte arrived.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the content went to a file.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    async fn spill_now(&mut self, more: usize) -> io::Result<()> {
        let path = self.spool.dir.join(&self.id);
        let file = SpillFile::create(path)?;
        tracing::info!(id = %self.id, path = %file.path.display(), received = self.data.len(), budget = self.spool.budget.total_bytes(), "Message content spilled to disk: the memory budget is in use (server.max_memory_bytes).");
        self.spill = Some(file);
        self.write_out().await?;
        self.data = Vec::with_capacity(SPILL_CHUNK.max(more));
        self.charge = Charge::default();
        Ok(())
    }

    /// Appends what is in memory to the spill file (on the blocking pool) and empties the
    /// buffer, keeping its capacity.
    async fn write_out(&mut self) -> io::Result<()> {
        let Some(spill) = self.spill.as_mut() else {
            return Ok(());
        };
        if self.data.is_empty() {
            return Ok(());
        }
        let file = spill
            .file
            .take()
            .ok_or_else(|| io::Error::other("the spill file failed before"))?;
        let mut chunk = std::mem::take(&mut self.data);
        let n = chunk.len();
        let (file, chunk, result) = blocking(move || {
            use std::io::Write;
            let result = (&file).write_all(&chunk);
            chunk.clear();
            (file, chunk, result)
        })
        .await?;
        self.data = chunk;
        result?;
        spill.file = Some(file);
        self.len += n;
        Ok(())
    }

    /// The whole content in memory and the budget it holds: as received, or — when it was
    /// spilled — read back once the budget has room for all of it (waiting up to the
    /// spool's `wait`). `Ok(None)`: no room within the wait.
    pub async fn finish(mut self) -> io::Result<Option<(Vec<u8>, Charge)>> {
        if self.spill.is_none() {
            return Ok(Some((self.data, self.charge)));
        }
        self.write_out().await?;
        self.data = Vec::new();
        let Some(spill) = self.spill.take() else {
            return Ok(None);
        };
        let Some(charge) = self.spool.budget.wait_for(self.len, self.spool.wait).await else {
            tracing::warn!(id = %self.id, size = self.len, wait_secs = self.spool.wait.as_secs(), "No room in the memory budget for a spilled message within the wait (server.memory_wait_secs).");
            return Ok(None);
        };
        let path = spill.path.clone();
        let data = blocking(move || std::fs::read(path)).await??;
        if data.len() != self.len {
            return Err(io::Error::other(format!(
                "spill file {} holds {} bytes, {} were written",
                spill.path.display(),
                data.len(),
                self.len
            )));
        }
        Ok(Some((data, charge)))
    }
}

/// Runs `f` on tokio's blocking pool (file I/O must not stall the session's thread).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| io::Error::other(format!("spill file task failed: {err}")))
}

/// A private file holding one message's content; removed when dropped.
struct SpillFile {
    path: PathBuf,
    /// `None` only while a write is under way (or after one failed).
    file: Option<std::fs::File>,
}

impl SpillFile {
    /// Creates `path`, which must not exist, readable and writable by the owner only (and
    /// its directory, 0700, when that is missing).
    fn create(path: PathBuf) -> io::Result<SpillFile> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
        };
        let file = match open() {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)?;
                }
                open()?
            }
            other => other?,
        };
        Ok(SpillFile {
            path,
            file: Some(file),
        })
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        remove(&self.path);
    }
}

fn remove(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        if err.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %err, "Cannot remove a spill file.");
        }
    }
}

/// Removes every file left in `dir` by a daemon that stopped while receiving (those
/// messages were never acknowledged: Postfix sends them again). Returns how many.
pub fn clear_spool(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(dir: &Path, bytes: usize) -> Spool {
        Spool {
            budget: MemoryBudget::new(bytes),
            dir: dir.to_path_buf(),
            wait: Duration::from_secs(5),
        }
    }

    async fn feed(incoming: &mut Incoming, data: &[u8]) {
        for chunk in data.chunks(16 * 1024) {
            incoming.make_room(chunk.len()).await.unwrap();
            incoming.buffer().extend_from_slice(chunk);
        }
    }

    #[tokio::test]
    async fn within_the_budget_content_stays_in_memory_and_is_charged() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let budget = spool.budget.clone();
        let mut incoming = Incoming::new(spool, "m1", Some(100_000), 1 << 20);
        feed(&mut incoming, &[7u8; 100_000]).await;
        assert!(!incoming.spilled());
        let (data, charge) = incoming.finish().await.unwrap().unwrap();
        assert_eq!(data.len(), 100_000);
        assert!(
            data.capacity() < 110_000,
            "SIZE= reserved: {}",
            data.capacity()
        );
        assert!(charge.bytes() >= data.capacity());
        assert_eq!(budget.available_bytes(), (1 << 20) - charge.bytes());
        drop(charge);
        assert_eq!(budget.available_bytes(), 1 << 20);
    }

    #[tokio::test]
    async fn beyond_the_budget_content_spills_and_is_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 256 * 1024);
        let budget = spool.budget.clone();
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut incoming = Incoming::new(spool.clone(), "m2", None, 1 << 20);
        let mut other = Incoming::new(spool, "m3", None, 1 << 20);
        feed(&mut other, &data[..150_000]).await;
        feed(&mut incoming, &data).await;
        assert!(incoming.spilled(), "the budget was in use");
        let path = dir.path().join("m2");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(other);
        let (back, charge) = incoming.finish().await.unwrap().unwrap();
        assert!(back == data, "the same bytes come back");
        assert!(!path.exists(), "the file is removed");
        assert!(charge.bytes() >= back.len());
        drop(charge);
        assert_eq!(budget.available_bytes(), 256 * 1024);
    }

    #[tokio::test]
    async fn a_spilled_message_without_room_within_the_wait_gets_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = spool(dir.path(), 128 * 1024);
        spool.wait = Duration::from_millis(1);
        let hog = spool.budget.wait_for(128 * 1024, spool.wait).await.unwrap();
        let mut incoming = Incoming::new(spool, "m4", None, 1 << 20);
        feed(&mut incoming, &[1u8; 10_000]).await;
        assert!(incoming.spilled());
        assert!(incoming.finish().await.unwrap().is_none());
        assert!(!dir.path().join("m4").exists());
        drop(hog);
    }

    #[test]
    fn an_existing_file_is_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        std::fs::write(&path, b"someone else's").unwrap();
        let err = SpillFile::create(path.clone())
            .err()
            .expect("O_EXCL refuses it");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
    }
}

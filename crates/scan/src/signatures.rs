//! quarantd's own ClamAV signatures: whole-file hashes (`quarantd.hsb`, `sha256:size:Name:73`)
//! and archive-member names (`quarantd.cdb`, `Name:*:*:REGEX:*:*:*:*:*:*`), written
//! atomically (temp file, fsync, rename in the same directory, fsync of the directory) into
//! the directory clamd loads, mode 0644 whatever the process umask (clamd runs as its own
//! user and must read them). [`publish`] then makes clamd load a change, proves it with a
//! [`Sample`] the new signature must detect, and records the new generation (see
//! [`crate::generation`]) only once clamd confirmed both; otherwise it undoes the change.
//!
//! Member-name regexes are written in clamd's dialect (POSIX extended, see [`ere`]), not
//! Rust's: what clamd would read differently or refuse is refused here, with what to write
//! instead.
//!
//! Names follow ClamAV's rules for signature names: letters, digits, `.`, `_` and `-`, no
//! spaces or quotes, and not ending in `.UNOFFICIAL` (clamd appends that itself).

pub mod ere;
mod publish;
mod sample;

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::generation::GENERATION_FILE;

pub use publish::{publish, Published};
pub use sample::{Sample, CLAMD_NAME_BYTES};

/// The hash signatures' file.
pub const HASH_FILE: &str = "quarantd.hsb";
/// The container (archive member) signatures' file.
pub const CONTAINER_FILE: &str = "quarantd.cdb";
/// The canary whose detection proves that clamd loaded the current files.
pub const CANARY_FILE: &str = "quarantd-canary.hsb";
/// Longest signature name accepted.
pub const MAX_NAME_LEN: usize = 128;
/// Longest archive-member regex accepted.
pub const MAX_REGEX_LEN: usize = 1024;
/// The prefix reserved for canaries.
const CANARY_PREFIX: &str = "Quarantd.Canary.";
/// Lock file against two commands changing the directory at once (held with `flock` from
/// the change until its proof ended; the kernel releases it when the process dies).
const LOCK_FILE: &str = ".quarantd-signatures.lock";
/// How long a command waits for another one's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Mode of the files clamd reads (it runs as its own user).
const SHARED_MODE: u32 = 0o644;

/// What a signature matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureKind {
    /// A whole file by SHA-256 and size.
    Hash {
        /// Lower-case hex SHA-256.
        sha256: String,
        /// Size in bytes.
        size: u64,
    },
    /// A member of any container whose name matches a regex.
    ArchiveMember {
        /// The regex on the member's name.
        regex: String,
    },
}

/// One of quarantd's own signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnSignature {
    /// The signature's name (clamd reports it with `.UNOFFICIAL` appended).
    pub name: String,
    /// What it matches.
    pub kind: SignatureKind,
}

/// What can go wrong with own signatures.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The name breaks ClamAV's naming rules.
    #[error("invalid signature name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The SHA-256 is not 64 hex digits.
    #[error("invalid SHA-256 {0:?}: must be 64 hexadecimal digits")]
    InvalidHash(String),
    /// The regex cannot be used in a `.cdb` line.
    #[error("invalid archive member regex {regex:?}: {reason}")]
    InvalidRegex {
        /// The regex given.
        regex: String,
        /// Why.
        reason: String,
    },
    /// A signature of that name exists.
    #[error("a signature named {0:?} exists already (remove it first)")]
    Duplicate(String),
    /// No signature of that name.
    #[error("no signature named {0:?}")]
    NotFound(String),
    /// Another command holds the lock.
    #[error("another `quarantd signatures` command is changing {0}; try again when it has ended")]
    Locked(PathBuf),
    /// No sample name can be derived from the regex and none was given.
    #[error("cannot derive a sample member name from {0:?}: give one it must match (--sample-name NAME); clamd is asked to detect it before the signature is kept")]
    SampleNeeded(String),
    /// The given sample name does not match the regex as clamd reads it.
    #[error("the sample name {sample:?} does not match {regex:?} as clamd reads it (POSIX extended regex on the raw bytes of the name)")]
    SampleMismatch {
        /// The regex.
        regex: String,
        /// The sample name.
        sample: String,
    },
    /// The given sample name cannot be a zip member's name.
    #[error("invalid sample name {sample:?}: {reason}")]
    InvalidSample {
        /// The sample name.
        sample: String,
        /// Why.
        reason: &'static str,
    },
    /// clamd did not load the change or did not detect the sample; the change was undone.
    #[error("clamd did not confirm the change: {reason}; {undo}")]
    Unconfirmed {
        /// What clamd did or did not do.
        reason: String,
        /// What became of the change (undone, clamd reloaded or not).
        undo: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SignatureError + '_ {
    move |source| SignatureError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks a signature name against ClamAV's rules.
pub fn validate_name(name: &str) -> Result<(), SignatureError> {
    let fail = |reason| {
        Err(SignatureError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("must not be empty");
    }
    if name.len() > MAX_NAME_LEN {
        return fail("longer than 128 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return fail(
            "only letters, digits, '.', '_' and '-' are allowed (no spaces, quotes or ':')",
        );
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return fail("must not start or end with '.' or contain '..'");
    }
    if name.to_ascii_uppercase().ends_with(".UNOFFICIAL") {
        return fail("must not end with .UNOFFICIAL (clamd appends it)");
    }
    if name.starts_with(CANARY_PREFIX) {
        return fail("the prefix Quarantd.Canary. is reserved");
    }
    Ok(())
}

/// Checks a SHA-256 given in hex; returns it in lower case.
pub fn validate_sha256(hex: &str) -> Result<String, SignatureError> {
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(SignatureError::InvalidHash(hex.to_string()))
    }
}

/// Checks a regex for a `.cdb` line: 1 to [`MAX_REGEX_LEN`] bytes, no `:` (the field
/// separator), no control characters, and in clamd's dialect ([`ere::parse`]).
pub fn validate_regex(regex: &str) -> Result<(), SignatureError> {
    member_regex(regex).map(|_| ())
}

/// The regex of a member-name signature, parsed as clamd reads it (see [`validate_regex`]).
pub fn member_regex(regex: &str) -> Result<ere::Ere, SignatureError> {
    let fail = |reason: String| SignatureError::InvalidRegex {
        regex: regex.to_string(),
        reason,
    };
    if regex.is_empty() || regex.len() > MAX_REGEX_LEN {
        return Err(fail(format!("must be 1 to {MAX_REGEX_LEN} bytes")));
    }
    if regex.chars().any(char::is_control) {
        return Err(fail("must not contain control characters".into()));
    }
    let parsed = ere::parse(regex).map_err(|e| fail(e.to_string()))?;
    if regex.contains(':') {
        return Err(fail(
            "must not contain ':' (the field separator of .cdb files)".into(),
        ));
    }
    Ok(parsed)
}

impl OwnSignature {
    /// A whole-file signature of `content`.
    pub fn of_file(name: &str, content: &[u8]) -> Result<Self, SignatureError> {
        validate_name(name)?;
        Ok(OwnSignature {
            name: name.into(),
            kind: SignatureKind::Hash {
                sha256: hex(&Sha256::digest(content)),
                size: content.len() as u64,
            },
        })
    }

    /// A whole-file signature from a known hash and size.
    pub fn of_hash(name: &str, sha256: &str, size: u64) -> Result<Self, SignatureError> {
        validate_name(name)?;
        Ok(OwnSignature {
            name: name.into(),
            kind: SignatureKind::Hash {
                sha256: validate_sha256(sha256)?,
                size,
            },
        })
    }

    /// An archive-member-name signature.
    pub fn of_member_name(name: &str, regex: &str) -> Result<Self, SignatureError> {
        validate_name(name)?;
        validate_regex(regex)?;
        Ok(OwnSignature {
            name: name.into(),
            kind: SignatureKind::ArchiveMember {
                regex: regex.into(),
            },
        })
    }

    /// The line in its ClamAV file.
    pub fn line(&self) -> String {
        match &self.kind {
            SignatureKind::Hash { sha256, size } => format!("{sha256}:{size}:{}:73", self.name),
            SignatureKind::ArchiveMember { regex } => {
                format!("{}:*:*:{regex}:*:*:*:*:*:*", self.name)
            }
        }
    }

    fn file(&self) -> &'static str {
        match self.kind {
            SignatureKind::Hash { .. } => HASH_FILE,
            SignatureKind::ArchiveMember { .. } => CONTAINER_FILE,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature directory (the one clamd's `DatabaseDirectory` names).
#[derive(Debug, Clone)]
pub struct SignatureDir {
    dir: PathBuf,
    /// How long to wait for another command's lock: [`LOCK_WAIT`] (shorter in tests).
    lock_wait: Duration,
}

impl SignatureDir {
    /// The directory `dir` (must exist).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SignatureDir {
            dir: dir.into(),
            lock_wait: LOCK_WAIT,
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Every own signature, hashes first, in file order.
    pub fn list(&self) -> Result<Vec<OwnSignature>, SignatureError> {
        let mut out = Vec::new();
        for line in self.read_lines(HASH_FILE)? {
            let fields: Vec<&str> = line.split(':').collect();
            if let [sha256, size, name, ..] = fields[..] {
                out.push(OwnSignature {
                    name: name.into(),
                    kind: SignatureKind::Hash {
                        sha256: sha256.into(),
                        size: size.parse().unwrap_or(0),
                    },
                });
            }
        }
        for line in self.read_lines(CONTAINER_FILE)? {
            let fields: Vec<&str> = line.split(':').collect();
            if let [name, _, _, regex, ..] = fields[..] {
                out.push(OwnSignature {
                    name: name.into(),
                    kind: SignatureKind::ArchiveMember {
                        regex: regex.into(),
                    },
                });
            }
        }
        Ok(out)
    }

    /// Adds a signature (names are unique across both files). The returned [`Change`] holds
    /// the directory's lock and the file's previous content until it is published or undone.
    pub fn add(&self, signature: &OwnSignature) -> Result<Change<'_>, SignatureError> {
        let lock = self.lock()?;
        if self.list()?.iter().any(|s| s.name == signature.name) {
            return Err(SignatureError::Duplicate(signature.name.clone()));
        }
        let change = self.begin(lock, signature.clone(), signature.file())?;
        let mut lines = self.read_lines(change.file)?;
        lines.push(signature.line());
        self.write_lines(change.file, &lines)?;
        Ok(change)
    }

    /// Removes the signature named `name`; the [`Change`] names it.
    pub fn remove(&self, name: &str) -> Result<Change<'_>, SignatureError> {
        let lock = self.lock()?;
        let found = self
            .list()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| SignatureError::NotFound(name.to_string()))?;
        let file = found.file();
        let line = found.line();
        let change = self.begin(lock, found, file)?;
        let mut lines = self.read_lines(file)?;
        lines.retain(|l| *l != line);
        self.write_lines(file, &lines)?;
        Ok(change)
    }

    fn begin(
        &self,
        lock: LockFile,
        signature: OwnSignature,
        file: &'static str,
    ) -> Result<Change<'_>, SignatureError> {
        let path = self.dir.join(file);
        let previous = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(io_error(&path)(err)),
        };
        Ok(Change {
            dir: self,
            signature,
            file,
            previous,
            _lock: lock,
        })
    }

    /// Writes a new canary: unique content and a signature for exactly that content.
    pub fn write_canary(&self) -> Result<Canary, SignatureError> {
        let id = quarantd_core::id::new_id();
        let content = format!("quarantd signature canary {id}\n").into_bytes();
        let name = format!("{CANARY_PREFIX}{id}");
        let line = format!(
            "{}:{}:{name}:73\n",
            hex(&Sha256::digest(&content)),
            content.len()
        );
        let path = self.dir.join(CANARY_FILE);
        atomic_write(&path, line.as_bytes()).map_err(io_error(&path))?;
        Ok(Canary { id, name, content })
    }

    /// Records `value` as the new generation for the daemons.
    pub fn write_generation(&self, value: &str) -> Result<(), SignatureError> {
        let path = self.dir.join(GENERATION_FILE);
        atomic_write(&path, format!("{value}\n").as_bytes()).map_err(io_error(&path))
    }

    fn read_lines(&self, file: &str) -> Result<Vec<String>, SignatureError> {
        let path = self.dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(io_error(&path)(err)),
        }
    }

    fn write_lines(&self, file: &str, lines: &[String]) -> Result<(), SignatureError> {
        if lines.is_empty() {
            // clamd refuses empty database files: an empty set is no file.
            return self.replace(file, None);
        }
        let mut text = lines.join("\n");
        text.push('\n');
        self.replace(file, Some(text.as_bytes()))
    }

    /// Replaces `file` with `content` atomically, or removes it (`None`).
    fn replace(&self, file: &str, content: Option<&[u8]>) -> Result<(), SignatureError> {
        let path = self.dir.join(file);
        match content {
            Some(bytes) => atomic_write(&path, bytes).map_err(io_error(&path)),
            None => match std::fs::remove_file(&path) {
                Ok(()) => sync_dir(&self.dir).map_err(io_error(&self.dir)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(io_error(&path)(err)),
            },
        }
    }

    fn lock(&self) -> Result<LockFile, SignatureError> {
        use rustix::fs::{flock, FlockOperation};
        let path = self.dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_error(&path))?;
        let deadline = Instant::now() + self.lock_wait;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(LockFile(file)),
                Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR)
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(SignatureError::Locked(self.dir.clone()))
                }
                Err(err) => return Err(io_error(&path)(err.into())),
            }
        }
    }
}

/// The directory's lock: an open file with an exclusive `flock`, released when dropped (or
/// when the process ends, however it ends).
struct LockFile(#[allow(dead_code)] std::fs::File);

/// A change to the signature files not yet confirmed: it holds the directory's lock and the
/// changed file's previous content, so [`Change::undo`] restores exactly what was there.
/// Dropping it keeps the change.
pub struct Change<'a> {
    dir: &'a SignatureDir,
    signature: OwnSignature,
    file: &'static str,
    previous: Option<Vec<u8>>,
    _lock: LockFile,
}

impl Change<'_> {
    /// The signature added or removed.
    pub fn signature(&self) -> &OwnSignature {
        &self.signature
    }

    /// The signature directory.
    pub fn dir(&self) -> &SignatureDir {
        self.dir
    }

    /// Puts the changed file back as it was (still holding the lock).
    pub fn undo(&self) -> Result<(), SignatureError> {
        self.dir.replace(self.file, self.previous.as_deref())
    }
}

/// A canary signature and the content it detects.
#[derive(Debug, Clone)]
pub struct Canary {
    /// Its unique id (also the new generation).
    pub id: String,
    /// Its signature name.
    pub name: String,
    /// The content it matches.
    pub content: Vec<u8>,
}

/// Replaces `path` atomically: a temp file in the same directory, mode 0644 whatever the
/// umask (clamd reads it as its own user), fsync, rename over `path`, fsync of the directory.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", quarantd_core::id::new_id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(SHARED_MODE)
            .open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(SHARED_MODE))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qsig-{}", quarantd_core::id::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn names_follow_clamav_rules() {
        for good in ["Win.Trojan.Agent-123-1", "Local.Invoice_2024", "X"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "",
            "has space",
            "colon:name",
            "quote'",
            "\"q\"",
            ".dot",
            "dot.",
            "a..b",
            "Name.UNOFFICIAL",
            "Quarantd.Canary.x",
            "ümlaut",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn hashes_and_regexes_are_checked() {
        assert!(validate_sha256(&"A".repeat(64)).is_ok());
        assert!(validate_sha256("abc").is_err());
        assert!(validate_sha256(&"g".repeat(64)).is_err());
        assert!(validate_regex(r"invoice.*\.exe$").is_ok());
        assert!(validate_regex("a:b").is_err());
        assert!(validate_regex("(unclosed").is_err());
        assert!(validate_regex("").is_err());
        let err = validate_regex(r"(?i)inv\d+\.exe").unwrap_err().to_string();
        assert!(err.contains("[0-9]"), "{err}");
    }

    fn dot_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') && n != LOCK_FILE)
            .collect()
    }

    #[test]
    fn add_list_remove_round_trip_in_clamav_formats() {
        let dir = temp();
        let sigs = SignatureDir::new(&dir);
        let file = OwnSignature::of_file("Local.File", b"payload").unwrap();
        let member = OwnSignature::of_member_name("Local.Member", r"invoice\.exe$").unwrap();
        drop(sigs.add(&file).unwrap());
        drop(sigs.add(&member).unwrap());
        assert!(matches!(sigs.add(&file), Err(SignatureError::Duplicate(_))));
        assert_eq!(sigs.list().unwrap(), [file.clone(), member.clone()]);
        let hsb = std::fs::read_to_string(dir.join(HASH_FILE)).unwrap();
        assert_eq!(
            hsb,
            "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5:7:Local.File:73\n"
        );
        let cdb = std::fs::read_to_string(dir.join(CONTAINER_FILE)).unwrap();
        assert_eq!(cdb, "Local.Member:*:*:invoice\\.exe$:*:*:*:*:*:*\n");
        assert_eq!(sigs.remove("Local.File").unwrap().signature(), &file);
        assert!(!dir.join(HASH_FILE).exists(), "empty files are removed");
        assert!(matches!(
            sigs.remove("Local.File"),
            Err(SignatureError::NotFound(_))
        ));
        assert!(dot_files(&dir).is_empty(), "{:?}", dot_files(&dir));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_change_is_undone_exactly_and_holds_the_lock() {
        let dir = temp();
        let sigs = SignatureDir::new(&dir);
        drop(
            sigs.add(&OwnSignature::of_file("Local.A", b"a").unwrap())
                .unwrap(),
        );
        let before = std::fs::read(dir.join(HASH_FILE)).unwrap();
        let change = sigs
            .add(&OwnSignature::of_file("Local.B", b"b").unwrap())
            .unwrap();
        assert_eq!(sigs.list().unwrap().len(), 2);
        // A second command waits for the lock, then gives up. The wait is a real one (flock,
        // std's clock), so this one is given 300 ms instead of LOCK_WAIT.
        let other = SignatureDir {
            lock_wait: Duration::from_millis(300),
            ..SignatureDir::new(&dir)
        };
        let started = Instant::now();
        assert!(matches!(
            other.remove("Local.A"),
            Err(SignatureError::Locked(_))
        ));
        assert!(started.elapsed() >= other.lock_wait);
        change.undo().unwrap();
        drop(change);
        assert_eq!(std::fs::read(dir.join(HASH_FILE)).unwrap(), before);
        // A first member signature undone leaves no file (clamd refuses empty ones).
        let change = sigs
            .add(&OwnSignature::of_member_name("Local.M", "^a$").unwrap())
            .unwrap();
        assert!(dir.join(CONTAINER_FILE).exists());
        change.undo().unwrap();
        drop(change);
        assert!(!dir.join(CONTAINER_FILE).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn files_clamd_reads_are_0644_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp();
        let path = dir.join("x.hsb");
        // Not the process umask (tests run in parallel): a file created 0600 beforehand is
        // replaced by one with clamd's mode.
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        atomic_write(&path, b"new").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn publish_without_clamd_still_records_a_generation() {
        let dir = temp();
        let sigs = SignatureDir::new(&dir);
        let change = sigs
            .add(&OwnSignature::of_file("Local.File", b"payload").unwrap())
            .unwrap();
        let published = publish(change, None, None, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(!published.confirmed);
        let generation = std::fs::read_to_string(dir.join(GENERATION_FILE)).unwrap();
        assert_eq!(generation.trim(), published.generation);
        assert!(dir.join(CANARY_FILE).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

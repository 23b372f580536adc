//! quarantd's own ClamAV signatures: whole-file hashes (`quarantd.hsb`, `sha256:size:Name:73`)
//! and archive-member names (`quarantd.cdb`, `Name:*:*:REGEX:*:*:*:*:*:*`), written
//! atomically (temp file, fsync, rename in the same directory, fsync of the directory) into
//! the directory clamd loads. [`publish`] then makes clamd load them and records the new
//! generation (see [`crate::generation`]) once clamd confirms it.
//!
//! Names follow ClamAV's rules for signature names: letters, digits, `.`, `_` and `-`, no
//! spaces or quotes, and not ending in `.UNOFFICIAL` (clamd appends that itself).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::clamd::reply::ScanReply;
use crate::clamd::Clamd;
use crate::generation::GENERATION_FILE;

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
/// Lock file against two commands changing the directory at once.
const LOCK_FILE: &str = ".quarantd-signatures.lock";

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
    #[error("another `quarantd signatures` command is changing {0} (if none is running, remove {0}/{LOCK_FILE})")]
    Locked(PathBuf),
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

/// Checks a regex for a `.cdb` line: compiles, no `:` (the field separator), no control
/// characters, at most [`MAX_REGEX_LEN`] bytes.
pub fn validate_regex(regex: &str) -> Result<(), SignatureError> {
    let fail = |reason: String| {
        Err(SignatureError::InvalidRegex {
            regex: regex.to_string(),
            reason,
        })
    };
    if regex.is_empty() || regex.len() > MAX_REGEX_LEN {
        return fail(format!("must be 1 to {MAX_REGEX_LEN} bytes"));
    }
    if regex.contains(':') {
        return fail("must not contain ':' (the field separator of .cdb files)".into());
    }
    if regex.chars().any(char::is_control) {
        return fail("must not contain control characters".into());
    }
    if let Err(err) = regex::Regex::new(regex) {
        return fail(err.to_string());
    }
    Ok(())
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
}

impl SignatureDir {
    /// The directory `dir` (must exist).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SignatureDir { dir: dir.into() }
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

    /// Adds a signature; names are unique across both files.
    pub fn add(&self, signature: &OwnSignature) -> Result<(), SignatureError> {
        let _lock = self.lock()?;
        if self.list()?.iter().any(|s| s.name == signature.name) {
            return Err(SignatureError::Duplicate(signature.name.clone()));
        }
        let mut lines = self.read_lines(signature.file())?;
        lines.push(signature.line());
        self.write_lines(signature.file(), &lines)
    }

    /// Removes the signature named `name`; returns it.
    pub fn remove(&self, name: &str) -> Result<OwnSignature, SignatureError> {
        let _lock = self.lock()?;
        let found = self
            .list()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| SignatureError::NotFound(name.to_string()))?;
        let line = found.line();
        let mut lines = self.read_lines(found.file())?;
        lines.retain(|l| *l != line);
        self.write_lines(found.file(), &lines)?;
        Ok(found)
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
        let path = self.dir.join(file);
        if lines.is_empty() {
            // clamd refuses empty database files: an empty set is no file.
            return match std::fs::remove_file(&path) {
                Ok(()) => sync_dir(&self.dir).map_err(io_error(&self.dir)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(io_error(&path)(err)),
            };
        }
        let mut text = lines.join("\n");
        text.push('\n');
        atomic_write(&path, text.as_bytes()).map_err(io_error(&path))
    }

    fn lock(&self) -> Result<LockFile, SignatureError> {
        let path = self.dir.join(LOCK_FILE);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(LockFile(path)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() >= deadline {
                        return Err(SignatureError::Locked(self.dir.clone()));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(err) => return Err(io_error(&path)(err)),
            }
        }
    }
}

struct LockFile(PathBuf);

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
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

/// Replaces `path` atomically: a temp file in the same directory (mode 0644, readable by
/// clamd), fsync, rename over `path`, fsync of the directory.
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
            .mode(0o644)
            .open(&tmp)?;
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

/// What [`publish`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The new generation.
    pub generation: String,
    /// clamd detected the new canary: it scans with the new files.
    pub confirmed: bool,
    /// Why it was not confirmed, when it was not.
    pub warning: Option<String>,
}

/// Makes the current files take effect: writes a new canary, sends `RELOAD` to `clamd`,
/// waits up to `wait` until clamd detects the canary (its reload is asynchronous), then
/// records the new generation so that daemons drop their cached verdicts. Without clamd, or
/// when clamd does not confirm in time, the generation is still recorded (the daemons then
/// do not cache verdicts for their grace period) and a warning says why.
pub async fn publish(
    dir: &SignatureDir,
    clamd: Option<&Clamd>,
    wait: Duration,
) -> Result<Published, SignatureError> {
    let canary = dir.write_canary()?;
    let warning = match clamd {
        None => Some("no clamd given: it loads the signatures at its next reload".to_string()),
        Some(clamd) => confirm_reload(clamd, &canary, wait).await.err(),
    };
    dir.write_generation(&canary.id)?;
    Ok(Published {
        generation: canary.id,
        confirmed: warning.is_none(),
        warning,
    })
}

async fn confirm_reload(clamd: &Clamd, canary: &Canary, wait: Duration) -> Result<(), String> {
    clamd
        .reload()
        .await
        .map_err(|e| format!("RELOAD failed: {e}"))?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let last = match clamd.instream(&canary.content).await {
            Ok(ScanReply::Found(names)) if names.iter().any(|n| n.starts_with(&canary.name)) => {
                return Ok(())
            }
            Ok(reply) => format!("{reply:?}"),
            Err(err) => err.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "clamd did not load the new signatures within {wait:?} (last answer: {last})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    }

    #[test]
    fn add_list_remove_round_trip_in_clamav_formats() {
        let dir = temp();
        let sigs = SignatureDir::new(&dir);
        let file = OwnSignature::of_file("Local.File", b"payload").unwrap();
        let member = OwnSignature::of_member_name("Local.Member", r"invoice\.exe$").unwrap();
        sigs.add(&file).unwrap();
        sigs.add(&member).unwrap();
        assert!(matches!(sigs.add(&file), Err(SignatureError::Duplicate(_))));
        assert_eq!(sigs.list().unwrap(), [file.clone(), member.clone()]);
        let hsb = std::fs::read_to_string(dir.join(HASH_FILE)).unwrap();
        assert_eq!(
            hsb,
            "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5:7:Local.File:73\n"
        );
        let cdb = std::fs::read_to_string(dir.join(CONTAINER_FILE)).unwrap();
        assert_eq!(cdb, "Local.Member:*:*:invoice\\.exe$:*:*:*:*:*:*\n");
        assert_eq!(sigs.remove("Local.File").unwrap(), file);
        assert!(!dir.join(HASH_FILE).exists(), "empty files are removed");
        assert!(matches!(
            sigs.remove("Local.File"),
            Err(SignatureError::NotFound(_))
        ));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn publish_without_clamd_still_records_a_generation() {
        let dir = temp();
        let sigs = SignatureDir::new(&dir);
        let published = publish(&sigs, None, Duration::from_secs(1)).await.unwrap();
        assert!(!published.confirmed);
        let generation = std::fs::read_to_string(dir.join(GENERATION_FILE)).unwrap();
        assert_eq!(generation.trim(), published.generation);
        assert!(dir.join(CANARY_FILE).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

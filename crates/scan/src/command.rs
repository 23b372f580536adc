//! Another engine's command line as a [`Scanner`], like amavis' `@av_scanners`.
//!
//! The content is written to a file in a private directory (mode 0700, file 0600) under
//! `temp_dir`, the command runs with `{}` in its arguments replaced by the file's path, and
//! the directory is removed afterwards whatever happened. The exit code says clean, infected
//! or error; the virus names are taken from the output (stdout and stderr) by a regex whose
//! first capture group (or whole match) is the name.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use regex::Regex;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::error::{FailureKind, ScanError};
use crate::scanner::{BoxFuture, Detection, Outcome, Scanner};

/// Most bytes of a command's output read (stdout and stderr each); the rest is ignored.
pub const MAX_OUTPUT: u64 = 1024 * 1024;

/// The placeholder in arguments that becomes the path of the file to scan.
pub const PATH_PLACEHOLDER: &str = "{}";

/// Settings of one command-line scanner.
#[derive(Debug, Clone)]
pub struct CommandConfig {
    /// The engine's name in findings and logs.
    pub name: String,
    /// The program and its arguments; `{}` in an argument is replaced by the file's path.
    pub command: Vec<String>,
    /// Exit codes meaning "nothing found".
    pub clean_exit_codes: Vec<i32>,
    /// Exit codes meaning "infected".
    pub infected_exit_codes: Vec<i32>,
    /// Finds the virus names in the output: capture group 1, or the whole match.
    pub virus_regex: Regex,
    /// Time for one run; then the process is killed and the scan is a timeout.
    pub timeout: Duration,
    /// Most runs at once.
    pub max_concurrent: usize,
    /// Where the private directories are made.
    pub temp_dir: PathBuf,
    /// A command printing the engine's signature version; without one, verdicts of this
    /// engine are never cached.
    pub version_command: Vec<String>,
    /// How long a version read by `version_command` is reused.
    pub version_ttl: Duration,
}

/// A command-line scanner; see the module documentation.
pub struct CommandScanner {
    config: CommandConfig,
    permits: Semaphore,
    version: Mutex<Option<(Instant, String)>>,
}

impl CommandScanner {
    /// A scanner running `config.command`.
    pub fn new(config: CommandConfig) -> Self {
        let permits = Semaphore::new(config.max_concurrent.max(1));
        CommandScanner {
            config,
            permits,
            version: Mutex::new(None),
        }
    }

    fn error(&self, kind: FailureKind, detail: impl Into<String>) -> ScanError {
        ScanError::new(self.config.name.clone(), kind, detail)
    }

    async fn run_on(&self, data: &[u8]) -> Result<Outcome, ScanError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| self.error(FailureKind::Down, "scanner closed"))?;
        let dir = PrivateDir::create(&self.config.temp_dir)
            .map_err(|e| self.error(FailureKind::EngineError, format!("temp dir: {e}")))?;
        let file = dir
            .write("content", data)
            .map_err(|e| self.error(FailureKind::EngineError, format!("temp file: {e}")))?;
        let args = substitute(&self.config.command, &file);
        let (code, output) = self.run(&args).await?;
        self.judge(code, &output)
    }

    /// Runs `args` under the timeout: exit code (None when killed by a signal) and output.
    async fn run(&self, args: &[String]) -> Result<(Option<i32>, String), ScanError> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| self.error(FailureKind::EngineError, "empty command"))?;
        let mut child = Command::new(program)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.error(FailureKind::Down, format!("cannot run {program}: {e}")))?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let work = async {
            let (out, err) = tokio::join!(read_bounded(stdout), read_bounded(stderr));
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status.code(), format!("{out}{err}")))
        };
        match tokio::time::timeout(self.config.timeout, work).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(self.error(FailureKind::EngineError, format!("{program}: {e}"))),
            Err(_) => Err(self.error(
                FailureKind::Timeout,
                format!("{program} did not finish within {:?}", self.config.timeout),
            )),
        }
    }

    /// Exit code and output → outcome.
    fn judge(&self, code: Option<i32>, output: &str) -> Result<Outcome, ScanError> {
        let Some(code) = code else {
            return Err(self.error(FailureKind::EngineError, "killed by a signal"));
        };
        if self.config.clean_exit_codes.contains(&code) {
            return Ok(Outcome::Clean);
        }
        if !self.config.infected_exit_codes.contains(&code) {
            let last = output.lines().rev().find(|l| !l.trim().is_empty());
            return Err(self.error(
                FailureKind::EngineError,
                format!("exit code {code}: {}", last.unwrap_or("(no output)").trim()),
            ));
        }
        let mut names: Vec<String> = self
            .config
            .virus_regex
            .captures_iter(output)
            .filter_map(|c| c.get(1).or_else(|| c.get(0)))
            .map(|m| m.as_str().trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        names.dedup();
        if names.is_empty() {
            names.push("Unnamed".into());
        }
        Ok(Outcome::Infected(
            names
                .into_iter()
                .map(|name| Detection {
                    engine: self.config.name.clone(),
                    name,
                })
                .collect(),
        ))
    }

    async fn read_version(&self) -> Result<Option<String>, ScanError> {
        if self.config.version_command.is_empty() {
            return Ok(None);
        }
        if let Some((at, v)) = self
            .version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if at.elapsed() < self.config.version_ttl {
                return Ok(Some(v.clone()));
            }
        }
        let (code, output) = self.run(&self.config.version_command).await?;
        if code != Some(0) {
            return Err(self.error(
                FailureKind::EngineError,
                format!("version command exited with {code:?}"),
            ));
        }
        let version = output.trim().to_string();
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), version.clone()));
        Ok(Some(version))
    }
}

impl Scanner for CommandScanner {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
        Box::pin(self.run_on(data))
    }

    fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
        Box::pin(self.read_version())
    }
}

/// The arguments with `{}` replaced by `file`.
fn substitute(command: &[String], file: &Path) -> Vec<String> {
    let path = file.to_string_lossy();
    command
        .iter()
        .map(|a| a.replace(PATH_PLACEHOLDER, &path))
        .collect()
}

async fn read_bounded(stream: Option<impl AsyncRead + Unpin>) -> String {
    let mut out = Vec::new();
    if let Some(stream) = stream {
        let _ = stream.take(MAX_OUTPUT).read_to_end(&mut out).await;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A directory only we can read, removed with everything in it when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create(parent: &Path) -> std::io::Result<PrivateDir> {
        let path = parent.join(format!("quarantd-scan-{}", quarantd_core::id::new_id()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateDir(path))
    }

    fn write(&self, name: &str, data: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.0.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(data)?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), error = %err, "Cannot remove a scanner's temp dir.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(script: &str, dir: &Path) -> CommandConfig {
        CommandConfig {
            name: "cli".into(),
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                script.into(),
                "sh".into(),
                "{}".into(),
            ],
            clean_exit_codes: vec![0],
            infected_exit_codes: vec![1],
            virus_regex: Regex::new(r"FOUND: (\S+)").unwrap(),
            timeout: Duration::from_secs(10),
            max_concurrent: 2,
            temp_dir: dir.to_path_buf(),
            version_command: vec![],
            version_ttl: Duration::from_secs(60),
        }
    }

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qscan-test-{}", quarantd_core::id::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn exit_codes_and_names_map_to_outcomes() {
        let dir = temp();
        // Infected when the file contains "evil"; reports the file's mode and removes nothing.
        let script = r#"stat -c %a "$(dirname "$1")" >&2; if grep -q evil "$1"; then echo "FOUND: Test.Evil in $1"; exit 1; fi; exit 0"#;
        let scanner = CommandScanner::new(config(script, &dir));
        assert_eq!(scanner.scan(b"harmless").await.unwrap(), Outcome::Clean);
        let outcome = scanner.scan(b"so evil").await.unwrap();
        assert_eq!(outcome.detections()[0].name, "Test.Evil");
        assert_eq!(outcome.detections()[0].engine, "cli");
        assert_eq!(scanner.signature_version().await.unwrap(), None);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "temp dirs removed"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn private_dir_is_0700_and_unknown_exit_codes_are_errors() {
        let dir = temp();
        let script = r#"echo "mode $(stat -c %a "$(dirname "$1")") $(stat -c %a "$1")"; exit 7"#;
        let err = CommandScanner::new(config(script, &dir))
            .scan(b"x")
            .await
            .unwrap_err();
        assert_eq!(err.kind, FailureKind::EngineError);
        assert!(err.detail.contains("exit code 7: mode 700 600"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn slow_command_is_killed_as_a_timeout_and_missing_is_down() {
        let dir = temp();
        let mut cfg = config("sleep 30", &dir);
        cfg.timeout = Duration::from_millis(200);
        let err = CommandScanner::new(cfg).scan(b"x").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Timeout);
        let mut cfg = config("", &dir);
        cfg.command = vec!["/nonexistent/scanner".into(), "{}".into()];
        let err = CommandScanner::new(cfg).scan(b"x").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Down);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn version_command_is_read_and_reused() {
        let dir = temp();
        let mut cfg = config("exit 0", &dir);
        cfg.version_command = vec!["/bin/echo".into(), "engine 9 / sigs 42".into()];
        let scanner = CommandScanner::new(cfg);
        assert_eq!(
            scanner.signature_version().await.unwrap().as_deref(),
            Some("engine 9 / sigs 42")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! Who may read quarantd's files, through the real binary: the quarantine it creates is
//! private under a permissive umask, `serve` refuses to start on a data directory, database
//! or token key that group or others may access (naming the path and its mode), the CLI
//! warns about an open quarantine and refuses an open key, and the signature files clamd
//! reads stay readable by clamd's user.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{cli, Daemon, Extra};
use quarantd_testkit::free_addr;

/// Sets the test process's umask to the common default, 022, for the binaries it starts
/// (quarantd must not depend on the umask it is given).
fn permissive_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A config for `serve` with its data directory `data` (and more lines).
fn config(dir: &Path, data: &Path, more: &str) -> std::path::PathBuf {
    let path = dir.join("quarantd.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"{}\"\ndata_dir = \"{}\"\n[relay]\naddress = \"{}\"\n{more}",
            free_addr(),
            data.display(),
            free_addr()
        ),
    )
    .unwrap();
    path
}

/// Runs `quarantd serve --config CONFIG` and expects it to refuse: returns its exit code and
/// standard error. Panics (after stopping it) if it starts accepting sessions instead.
fn serve_refuses(config: &Path) -> (i32, String) {
    let mut child = common::quarantd()
        .command(&[
            OsStr::new("serve"),
            OsStr::new("--config"),
            config.as_os_str(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quarantd");
    let mut log = String::new();
    let stderr = child.stderr.take().expect("stderr");
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        if line.contains("Accepting SMTP sessions.") {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started instead of refusing; log:\n{log}{line}");
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().expect("wait for quarantd");
    (status.code().unwrap_or(-1), log)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quarantine_serve_creates_is_private_under_umask_022() {
    permissive_umask();
    let daemon = Daemon::start(free_addr(), Extra::default()).await;
    let data = daemon.data_dir();
    assert_eq!(mode(&data), 0o700, "data directory");
    for name in [
        "quarantine.sqlite",
        "quarantine.sqlite-wal",
        "quarantine.sqlite-shm",
    ] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
}

#[test]
fn serve_refuses_a_data_directory_others_can_read() {
    permissive_umask();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o755);
    let (code, log) = serve_refuses(&config(dir.path(), &data, ""));
    assert_ne!(code, 0, "{log}");
    assert!(log.contains(&data.display().to_string()), "{log}");
    assert!(log.contains("0755") && log.contains("chmod 700"), "{log}");
    assert!(
        !data.join("quarantine.sqlite").exists(),
        "nothing was opened"
    );
}

#[test]
fn serve_refuses_a_database_file_others_can_read() {
    permissive_umask();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o700);
    let db = data.join("quarantine.sqlite");
    std::fs::write(&db, b"").unwrap();
    chmod(&db, 0o644);
    let (code, log) = serve_refuses(&config(dir.path(), &data, ""));
    assert_ne!(code, 0, "{log}");
    assert!(
        log.contains(&db.display().to_string()) && log.contains("0644"),
        "{log}"
    );
}

#[test]
fn serve_and_the_cli_refuse_a_token_key_others_can_read() {
    permissive_umask();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("token.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    chmod(&key, 0o644);
    let data = dir.path().join("var");
    let more = format!("[notify]\ntoken_key_file = \"{}\"\n", key.display());
    let config = config(dir.path(), &data, &more);
    let (code, log) = serve_refuses(&config);
    assert_ne!(code, 0, "{log}");
    assert!(
        log.contains("notify.token_key_file")
            && log.contains(&key.display().to_string())
            && log.contains("0644"),
        "{log}"
    );
    let config = config.display().to_string();
    let check = cli(&["config", "check", "--config", &config]);
    let out = &check.stdout;
    assert_eq!(check.code, 1, "{out}");
    assert!(
        out.contains("notify.token_key_file") && out.contains("0644"),
        "{out}"
    );
    let err = cli(&[
        "quarantine",
        "request-release",
        "--config",
        &config,
        "--token",
        "v1.x",
    ])
    .fails(1, &key.display().to_string())
    .stderr;
    assert!(err.contains("0644"), "{err}");
    // Private, the same key is accepted.
    chmod(&key, 0o600);
    let out = cli(&["config", "check", "--config", &config]).ok().stdout;
    assert!(out.ends_with("ok\n"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_warns_about_an_open_quarantine_and_still_works() {
    permissive_umask();
    let mut daemon = Daemon::start(free_addr(), Extra::default()).await;
    daemon.terminate();
    assert!(daemon.wait_exit(Duration::from_secs(30)).await);
    let data = daemon.data_dir();
    let config = data.parent().unwrap().join("quarantd.toml");
    let config = config.display().to_string();
    let err = cli(&["quarantine", "list", "--config", &config])
        .ok()
        .stderr;
    assert!(!err.contains("warning"), "{err}");
    chmod(&data, 0o755);
    chmod(&data.join("quarantine.sqlite"), 0o644);
    let err = cli(&["quarantine", "list", "--config", &config])
        .ok()
        .stderr;
    for (path, mode) in [
        (data.clone(), "0755"),
        (data.join("quarantine.sqlite"), "0644"),
    ] {
        assert!(
            err.lines().any(|l| l.starts_with("quarantd: warning: ")
                && l.contains(&format!("{} is accessible", path.display()))
                && l.contains(mode)),
            "{err}"
        );
    }
}

#[test]
fn signature_files_stay_readable_by_clamd_under_quarantds_umask() {
    permissive_umask();
    let dir = tempfile::tempdir().unwrap();
    let sigs = dir.path().display().to_string();
    let hash = "a".repeat(64);
    cli(&[
        "signatures",
        "add",
        "--sha256",
        &hash,
        "--size",
        "3",
        "--name",
        "Local.Mode",
        "--signature-dir",
        &sigs,
    ])
    .ok();
    for name in ["quarantd.hsb", "quarantd-canary.hsb", "quarantd.generation"] {
        assert_eq!(mode(&dir.path().join(name)), 0o644, "{name}");
    }
}

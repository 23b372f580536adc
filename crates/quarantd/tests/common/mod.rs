//! Shared harness of the daemon's integration tests: start the real `quarantd serve` binary
//! on a free loopback port with a config file written for the test, read its JSON log lines,
//! and stop it.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quarantd_testkit::{Cli, CliOutput};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// Extra config lines per section.
#[derive(Default, Clone)]
pub struct Extra {
    pub server: &'static str,
    pub relay: &'static str,
    pub analysis: &'static str,
    /// Whole `[scan]`/`[scan.clamd]` sections, appended at the end of the config.
    pub scan: String,
    /// `--store URL` (default: SQLite under the daemon's temporary data directory).
    pub store: Option<String>,
    /// `server.data_dir` (default: `var` in the daemon's own temporary directory); give the
    /// same one to a restarted daemon to keep its node id.
    pub data_dir: Option<std::path::PathBuf>,
    /// `server.hostname` (default `filter.test`).
    pub hostname: Option<String>,
}

/// A running `quarantd serve`.
pub struct Daemon {
    pub addr: SocketAddr,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    new_log: Arc<Notify>,
    data_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts the daemon relaying to `relay`; waits until it accepts sessions.
    pub async fn start(relay: SocketAddr, extra: Extra) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = quarantd_testkit::free_addr();
        let data_dir = extra
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("var"));
        if extra.data_dir.is_some() {
            // A data directory the test made (a temporary directory, 0755 under the usual
            // umask) is made private, as a postmaster would: serve refuses an open one.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))
                .expect("make the data directory private");
        }
        let config = format!(
            "[server]\nlisten = \"{addr}\"\nhostname = \"{hostname}\"\ndata_dir = \"{data}\"\n{server}\n\
             [relay]\naddress = \"{relay}\"\n{relay_extra}\n[analysis]\n{analysis}\n[log]\nformat = \"json\"\nlevel = \"info\"\n{scan}\n",
            hostname = extra.hostname.as_deref().unwrap_or("filter.test"),
            data = data_dir.display(),
            server = extra.server,
            relay_extra = extra.relay,
            analysis = extra.analysis,
            scan = extra.scan,
        );
        let path = dir.path().join("quarantd.toml");
        std::fs::write(&path, config).expect("write config");
        let mut command = Command::new(env!("CARGO_BIN_EXE_quarantd"));
        command.arg("serve").arg("--config").arg(&path);
        if let Some(store) = &extra.store {
            command.arg("--store").arg(store);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn quarantd");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let new_log = Arc::new(Notify::new());
        let stderr = child.stderr.take().expect("stderr");
        let (sink, notify) = (Arc::clone(&logs), Arc::clone(&new_log));
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
                notify.notify_waiters();
            }
        });
        let daemon = Daemon {
            addr,
            child,
            logs,
            new_log,
            data_dir,
            _dir: dir,
        };
        daemon
            .wait_for_log("Accepting SMTP sessions.", Duration::from_secs(30))
            .await;
        daemon
    }

    /// The daemon's data directory (its SQLite quarantine lives there by default).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.data_dir.clone()
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Log lines parsed as JSON whose message is `message`.
    pub fn events(&self, message: &str) -> Vec<serde_json::Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// Waits until a log line contains `needle`; panics with the log after `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.new_log.notified();
            if let Some(line) = self.logs().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "no log line with {needle:?} within {timeout:?}; log:\n{}",
                    self.logs().join("\n")
                );
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running daemon has a pid");
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit and returns whether it exited successfully.
    pub async fn wait_exit(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .expect("daemon exits in time")
            .expect("wait for daemon")
            .success()
    }
}

/// The quarantine id in the reply to a message that must have been held; panics with the
/// reply otherwise.
pub fn held(reply: &quarantd_testkit::Reply) -> String {
    quarantd_testkit::held_id(&reply.text()).unwrap_or_else(|| panic!("not held: {reply}"))
}

/// A small message with a unique marker.
pub fn message(marker: &str) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: test {marker}\r\nMessage-ID: <{marker}@example.org>\r\n\r\nbody {marker}\r\n"
    )
    .into_bytes()
}

/// The part of delivered bytes after the headers quarantd prepends; panics if they are absent.
pub fn strip_added_headers(delivered: &[u8]) -> &[u8] {
    let text = delivered;
    assert!(
        text.starts_with(b"X-Quarantd: quarantd "),
        "no X-Quarantd header first: {}",
        String::from_utf8_lossy(&text[..text.len().min(200)])
    );
    let needle = b"\r\nX-Quarantd-Verdict: ";
    let at = text
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("verdict header");
    let rest = &text[at + 2..];
    let mut end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("end of verdict header")
        + 2;
    while rest.get(end) == Some(&b' ') || rest.get(end) == Some(&b'\t') {
        end += rest[end..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("folded line end")
            + 2;
    }
    &rest[end..]
}

/// A message with an executable attachment (a PE header is enough for the classifier).
pub fn with_executable(marker: &str, extra_headers: &str) -> Vec<u8> {
    let mut pe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    pe.resize(0x3c, 0);
    pe.extend_from_slice(&0x40u32.to_le_bytes());
    pe.extend_from_slice(b"PE\x00\x00\x4c\x01\x01\x00");
    pe.resize(96, 0);
    let b64 = quarantd_testkit::base64_lines(&pe, "\r\n");
    format!(
        "From: Someone <s@example.net>\r\nTo: b@example.org\r\nSubject: invoice {marker}\r\nMessage-ID: <{marker}@example.net>\r\n{extra_headers}\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\
Content-Type: text/plain\r\n\r\nplease pay\r\n--x\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--x--\r\n"
    )
    .into_bytes()
}

/// A message from s@remote.test with an .exe (a PE header: `executable`) and a .js
/// (JScript that runs a shell: `script`).
pub fn exe_and_js(marker: &str) -> Vec<u8> {
    let mut pe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    pe.resize(0x3c, 0);
    pe.extend_from_slice(&0x40u32.to_le_bytes());
    pe.extend_from_slice(b"PE\x00\x00\x4c\x01\x01\x00");
    pe.resize(96, 0);
    let js = b"var s = new ActiveXObject(\"WScript.Shell\");\r\ns.Run(\"cmd /c calc\");\r\n";
    format!(
        "From: s@remote.test\r\nTo: u@a.example, v@b.example\r\nSubject: both {marker}\r\n\
Message-ID: <{marker}@remote.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n\
--x\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
--x\r\nContent-Type: application/octet-stream; name=\"setup.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
--x\r\nContent-Type: application/javascript; name=\"run.js\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--x--\r\n",
        quarantd_testkit::base64_lines(&pe, "\r\n"),
        quarantd_testkit::base64_lines(js, "\r\n")
    )
    .into_bytes()
}

/// Writes `contents` to a file only its owner may read (0600), as quarantd requires of a
/// token key file.
pub fn write_private(path: &std::path::Path, contents: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).expect("write private file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// The `quarantd` binary of this test crate, with `$USER` set to `tester` (who a command
/// acts as comes from the OS, never from `$USER`).
pub fn quarantd() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_quarantd")).env("USER", "tester")
}

/// Runs `quarantd ARGS` (see [`quarantd`]) to its end.
pub fn cli(args: &[&str]) -> CliOutput {
    quarantd().run(args)
}

/// `serve::run` in this test's process on `raw` (listening on a free port, relaying to
/// `relay`), with `stages` changed by `inject` (fault injection, scripted decisions) and
/// `quarantine` as the hold: the address, the shutdown signal and the server's task.
pub async fn serve_in_process(
    relay: SocketAddr,
    mut raw: quarantd_config::RawConfig,
    inject: impl FnOnce(&mut quarantd_pipeline::Stages),
    quarantine: Option<Arc<dyn quarantd_core::Hold>>,
) -> (
    SocketAddr,
    quarantd_runtime::ShutdownSignal,
    tokio::task::JoinHandle<()>,
) {
    raw.server.listen = "127.0.0.1:0".into();
    raw.relay.address = relay.to_string();
    let settings = raw.validate("test").expect("test config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("free port");
    let addr = listener.local_addr().expect("bound");
    let mut stages = quarantd_pipeline::Stages::standard(
        settings.mime_limits.clone(),
        Arc::clone(&settings.policy),
    );
    inject(&mut stages);
    let shutdown = quarantd_runtime::ShutdownSignal::new();
    let server = tokio::spawn(quarantd::serve::run(
        settings,
        listener,
        stages,
        quarantine,
        shutdown.clone(),
    ));
    (addr, shutdown, server)
}

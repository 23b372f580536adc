//! A private clamd for tests: its own config in a temp dir, a unix socket there and a TCP
//! port on loopback, the database directory the test gives, no freshclam, no internet.
//!
//! `ConcurrentDatabaseReload yes` (clamd's default, as in production): a `RELOAD` loads the
//! new database in the background while scans go on with the old one, so tests see the same
//! asynchronous window production has (quarantd's `signatures` commands must wait it out).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs clamd.
pub const CLAMD: &str = "/usr/sbin/clamd";

/// How long [`Clamd::start`] waits for the first `PONG`.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running clamd, killed when dropped.
#[derive(Debug)]
pub struct Clamd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    socket: PathBuf,
    tcp: SocketAddr,
}

impl Clamd {
    /// True when clamd is installed.
    pub fn available() -> bool {
        Path::new(CLAMD).exists()
    }

    /// Writes a config and starts `clamd -c CONF` on `database_dir` (which must hold at least
    /// one signature file); returns once it answers `PING`.
    pub fn start(database_dir: &Path) -> io::Result<Clamd> {
        let dir = tempfile::Builder::new().prefix("clamd-test").tempdir()?;
        let socket = dir.path().join("clamd.sock");
        let tcp = crate::free_addr();
        let conf = dir.path().join("clamd.conf");
        std::fs::write(&conf, config(dir.path(), &socket, tcp, database_dir))?;
        let child = Command::new(CLAMD)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut clamd = Clamd {
            child: Some(child),
            dir,
            socket,
            tcp,
        };
        clamd.wait_ready()?;
        Ok(clamd)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.command("PING").map(|r| r == "PONG").unwrap_or(false) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(io::Error::other(format!(
                    "clamd exited with {status}; log:\n{}",
                    self.log()
                )));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "clamd did not answer PING within {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The TCP address on loopback.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    /// clamd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default()
    }

    /// Sends `zCMD\0` over the unix socket; the reply without its NUL.
    pub fn command(&self, cmd: &str) -> io::Result<String> {
        let mut conn = self.connect()?;
        conn.write_all(format!("z{cmd}\0").as_bytes())?;
        read_reply(&mut conn)
    }

    /// Scans `data` with `zINSTREAM`; the reply, e.g. `stream: OK`.
    pub fn scan(&self, data: &[u8]) -> io::Result<String> {
        let mut conn = self.connect()?;
        conn.write_all(b"zINSTREAM\0")?;
        for chunk in data.chunks(64 * 1024) {
            conn.write_all(&(chunk.len() as u32).to_be_bytes())?;
            conn.write_all(chunk)?;
        }
        conn.write_all(&[0, 0, 0, 0])?;
        read_reply(&mut conn)
    }

    fn connect(&self) -> io::Result<UnixStream> {
        let conn = UnixStream::connect(&self.socket)?;
        conn.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(conn)
    }

    /// Kills clamd and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_reply(conn: &mut UnixStream) -> io::Result<String> {
    let mut out = Vec::new();
    conn.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out);
    Ok(text.trim_end_matches(['\0', '\n']).to_string())
}

fn config(dir: &Path, socket: &Path, tcp: SocketAddr, database_dir: &Path) -> String {
    format!(
        "LocalSocket {socket}\nLocalSocketMode 600\nFixStaleSocket true\n\
         TCPSocket {port}\nTCPAddr 127.0.0.1\n\
         DatabaseDirectory {db}\nOfficialDatabaseOnly false\n\
         LogFile {log}\nLogTime true\nLogClean false\nLogVerbose false\nLogSyslog false\n\
         Foreground true\nSelfCheck 0\nConcurrentDatabaseReload yes\n\
         TemporaryDirectory {dir}\nDisableCache yes\n\
         ScanMail true\nScanArchive true\nScanPE true\nScanOLE2 true\nScanPDF true\nScanHTML true\n\
         MaxThreads 8\nMaxConnectionQueueLength 30\nReadTimeout 60\nCommandReadTimeout 10\n\
         StreamMaxLength 25M\nMaxScanSize 100M\nMaxFileSize 25M\nBytecode false\n",
        socket = socket.display(),
        port = tcp.port(),
        db = database_dir.display(),
        log = dir.join("clamd.log").display(),
        dir = dir.display(),
    )
}

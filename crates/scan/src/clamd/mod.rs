//! A clamd client: `zINSTREAM` (chunked), `zPING`, `zVERSION`, `zRELOAD` over TCP or a unix
//! socket, at most `max_connections` at once, each scan under a timeout.

pub mod reply;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Semaphore;

use crate::error::{FailureKind, ScanError};
use crate::scanner::{BoxFuture, Detection, Outcome, Scanner};
use reply::{ReplyError, ScanReply, MAX_REPLY};

/// Where clamd listens: `host:port` or the path of a unix socket (anything with a `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddr {
    /// TCP `host:port`.
    Tcp(String),
    /// A unix socket path.
    Unix(PathBuf),
}

/// An address that is neither a socket path nor `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither host:port (e.g. 127.0.0.1:3310) nor a socket path (e.g. /run/clamav/clamd.ctl)")]
pub struct BadAddr(pub String);

impl FromStr for ClamdAddr {
    type Err = BadAddr;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('/') {
            return Ok(ClamdAddr::Unix(PathBuf::from(s)));
        }
        let valid = s.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if valid {
            Ok(ClamdAddr::Tcp(s.to_string()))
        } else {
            Err(BadAddr(s.to_string()))
        }
    }
}

impl fmt::Display for ClamdAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClamdAddr::Tcp(a) => f.write_str(a),
            ClamdAddr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Settings of a clamd client.
#[derive(Debug, Clone)]
pub struct ClamdConfig {
    /// The engine's name in findings and logs.
    pub name: String,
    /// Where clamd listens.
    pub addr: ClamdAddr,
    /// Most connections open to clamd at once (keep it at or below clamd's `MaxThreads`).
    pub max_connections: usize,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time for one scan: sending the content and reading the verdict.
    pub scan_timeout: Duration,
    /// Bytes per `INSTREAM` chunk.
    pub chunk_size: usize,
    /// Largest content sent; larger is a size-limit failure without asking clamd (keep it
    /// at or below clamd's `StreamMaxLength`).
    pub max_stream_size: u64,
}

impl ClamdConfig {
    /// Defaults for `addr`.
    pub fn new(addr: ClamdAddr) -> Self {
        ClamdConfig {
            name: "clamd".into(),
            addr,
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            scan_timeout: Duration::from_secs(120),
            chunk_size: 64 * 1024,
            max_stream_size: 25 * 1024 * 1024,
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A clamd client; see the module documentation.
pub struct Clamd {
    config: ClamdConfig,
    permits: Semaphore,
}

impl Clamd {
    /// A client; nothing is connected until the first command.
    pub fn new(config: ClamdConfig) -> Self {
        let permits = Semaphore::new(config.max_connections.max(1));
        Clamd { config, permits }
    }

    /// The settings.
    pub fn config(&self) -> &ClamdConfig {
        &self.config
    }

    /// `zPING`: Ok when clamd answers `PONG`.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let reply = self.command("PING").await?;
        match reply::parse_version(&reply) {
            Ok(pong) if pong == "PONG" => Ok(()),
            other => Err(self.error(FailureKind::EngineError, format!("PING answered {other:?}"))),
        }
    }

    /// `zVERSION`: e.g. `ClamAV 1.4.6/27412/Tue Oct  1 08:32:45 2024`.
    pub async fn version(&self) -> Result<String, ScanError> {
        let reply = self.command("VERSION").await?;
        reply::parse_version(&reply)
            .map_err(|e| self.error(FailureKind::EngineError, e.to_string()))
    }

    /// `zRELOAD`: clamd answers `RELOADING` and loads its database in the background.
    pub async fn reload(&self) -> Result<(), ScanError> {
        let reply = self.command("RELOAD").await?;
        match reply::parse_version(&reply) {
            Ok(r) if r == "RELOADING" => Ok(()),
            other => Err(self.error(
                FailureKind::EngineError,
                format!("RELOAD answered {other:?}"),
            )),
        }
    }

    /// `zINSTREAM` of `data` in chunks; the parsed reply.
    pub async fn instream(&self, data: &[u8]) -> Result<ScanReply, ScanError> {
        if data.len() as u64 > self.config.max_stream_size {
            return Err(self.error(
                FailureKind::SizeLimit,
                format!(
                    "{} bytes exceed the stream limit of {} bytes",
                    data.len(),
                    self.config.max_stream_size
                ),
            ));
        }
        let _permit = self.permit().await?;
        let mut conn = self.connect().await?;
        let exchange = async {
            let sent = send_stream(&mut conn, data, self.config.chunk_size).await;
            let reply = read_reply(&mut conn).await;
            match (sent, reply) {
                (_, Ok(bytes)) if !bytes.is_empty() => Ok(bytes),
                (Err(err), _) | (Ok(()), Err(err)) => Err(err),
                (Ok(()), Ok(bytes)) => Ok(bytes),
            }
        };
        let bytes = self.timed(exchange).await?;
        reply::parse_scan_reply(&bytes).map_err(|e| self.reply_error(e))
    }

    /// Sends `zCMD\0` and reads the reply up to its NUL.
    async fn command(&self, cmd: &str) -> Result<Vec<u8>, ScanError> {
        let _permit = self.permit().await?;
        let mut conn = self.connect().await?;
        self.timed(async {
            conn.write_all(format!("z{cmd}\0").as_bytes()).await?;
            read_reply(&mut conn).await
        })
        .await
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ScanError> {
        self.permits
            .acquire()
            .await
            .map_err(|_| self.error(FailureKind::Down, "client closed"))
    }

    async fn connect(&self) -> Result<Box<dyn Io>, ScanError> {
        let connect = async {
            let conn: Box<dyn Io> = match &self.config.addr {
                ClamdAddr::Tcp(addr) => Box::new(TcpStream::connect(addr.as_str()).await?),
                ClamdAddr::Unix(path) => Box::new(UnixStream::connect(path).await?),
            };
            Ok::<_, std::io::Error>(conn)
        };
        match tokio::time::timeout(self.config.connect_timeout, connect).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(err)) => Err(self.error(
                FailureKind::Down,
                format!("connect to {}: {err}", self.config.addr),
            )),
            Err(_) => Err(self.error(
                FailureKind::Down,
                format!(
                    "connect to {}: no connection within {:?}",
                    self.config.addr, self.config.connect_timeout
                ),
            )),
        }
    }

    /// Runs one exchange under the scan timeout; I/O errors mean clamd went away.
    async fn timed<T>(
        &self,
        exchange: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> Result<T, ScanError> {
        match tokio::time::timeout(self.config.scan_timeout, exchange).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.error(
                FailureKind::Down,
                format!("connection to {} broke: {err}", self.config.addr),
            )),
            Err(_) => Err(self.error(
                FailureKind::Timeout,
                format!(
                    "no answer from {} within {:?}",
                    self.config.addr, self.config.scan_timeout
                ),
            )),
        }
    }

    fn reply_error(&self, err: ReplyError) -> ScanError {
        let kind = match err {
            ReplyError::Empty => FailureKind::Down,
            ReplyError::TooLong => FailureKind::EngineError,
        };
        self.error(kind, err.to_string())
    }

    fn error(&self, kind: FailureKind, detail: impl Into<String>) -> ScanError {
        ScanError::new(self.config.name.clone(), kind, detail)
    }
}

/// `zINSTREAM\0`, then `[u32 big-endian length][bytes]` chunks, then a zero length.
async fn send_stream(conn: &mut Box<dyn Io>, data: &[u8], chunk: usize) -> std::io::Result<()> {
    conn.write_all(b"zINSTREAM\0").await?;
    for piece in data.chunks(chunk.max(1)) {
        conn.write_all(&(piece.len() as u32).to_be_bytes()).await?;
        conn.write_all(piece).await?;
    }
    conn.write_all(&0u32.to_be_bytes()).await?;
    conn.flush().await
}

/// Reads until clamd closes the connection or [`MAX_REPLY`] bytes (one more is read so the
/// parser can tell an oversized reply).
async fn read_reply(conn: &mut Box<dyn Io>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while out.len() <= MAX_REPLY {
        let n = match conn.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if !out.is_empty() => {
                tracing::debug!(error = %err, "clamd connection reset after its reply");
                break;
            }
            Err(err) => return Err(err),
        };
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

impl Scanner for Clamd {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
        Box::pin(async move {
            match self.instream(data).await? {
                ScanReply::Clean => Ok(Outcome::Clean),
                ScanReply::Found(names) => Ok(Outcome::Infected(
                    names
                        .into_iter()
                        .map(|name| Detection {
                            engine: self.config.name.clone(),
                            name,
                        })
                        .collect(),
                )),
                ScanReply::SizeLimit(text) => Err(self.error(FailureKind::SizeLimit, text)),
                ScanReply::Error(text) => Err(self.error(FailureKind::EngineError, text)),
            }
        })
    }

    fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
        Box::pin(async move { self.version().await.map(Some) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn addresses() {
        assert_eq!(
            "127.0.0.1:3310".parse::<ClamdAddr>(),
            Ok(ClamdAddr::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            "/run/clamav/clamd.ctl".parse::<ClamdAddr>(),
            Ok(ClamdAddr::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert!("localhost".parse::<ClamdAddr>().is_err());
        assert!("host:0".parse::<ClamdAddr>().is_err());
    }

    /// A fake clamd answering `reply` after reading the whole stream; returns what it got.
    async fn fake(reply: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut got = vec![0u8; 10];
            conn.read_exact(&mut got).await.unwrap();
            loop {
                let mut len = [0u8; 4];
                conn.read_exact(&mut len).await.unwrap();
                let len = u32::from_be_bytes(len) as usize;
                got.extend_from_slice(&(len as u32).to_be_bytes());
                if len == 0 {
                    break;
                }
                let mut chunk = vec![0u8; len];
                conn.read_exact(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk);
            }
            conn.write_all(reply).await.unwrap();
            got
        });
        (addr, task)
    }

    #[tokio::test]
    async fn instream_is_chunked_and_found_is_a_detection() {
        let (addr, task) = fake(b"stream: Eicar-Test FOUND\0").await;
        let mut config = ClamdConfig::new(addr.parse().unwrap());
        config.chunk_size = 4;
        let clamd = Clamd::new(config);
        let outcome = clamd.scan(b"0123456789").await.unwrap();
        assert_eq!(outcome.detections()[0].name, "Eicar-Test");
        let got = task.await.unwrap();
        let mut expected = b"zINSTREAM\0".to_vec();
        for piece in [&b"0123"[..], b"4567", b"89"] {
            expected.extend_from_slice(&(piece.len() as u32).to_be_bytes());
            expected.extend_from_slice(piece);
        }
        expected.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn error_and_size_limit_replies_are_failures() {
        let (addr, _task) = fake(b"INSTREAM size limit exceeded. ERROR\0").await;
        let clamd = Clamd::new(ClamdConfig::new(addr.parse().unwrap()));
        assert_eq!(
            clamd.scan(b"x").await.unwrap_err().kind,
            FailureKind::SizeLimit
        );
        let (addr, _task) = fake(b"stream: Can't allocate memory ERROR\0").await;
        let clamd = Clamd::new(ClamdConfig::new(addr.parse().unwrap()));
        assert_eq!(
            clamd.scan(b"x").await.unwrap_err().kind,
            FailureKind::EngineError
        );
    }

    #[tokio::test]
    async fn our_own_stream_limit_is_a_size_limit_without_connecting() {
        let mut config = ClamdConfig::new("127.0.0.1:9".parse().unwrap());
        config.max_stream_size = 3;
        let err = Clamd::new(config).scan(b"abcd").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::SizeLimit);
    }

    #[tokio::test]
    async fn refused_connection_is_down() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let clamd = Clamd::new(ClamdConfig::new(addr.parse().unwrap()));
        let err = clamd.scan(b"x").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Down);
        assert!(err.is_transient());
        let missing = Clamd::new(ClamdConfig::new("/nonexistent/clamd.sock".parse().unwrap()));
        assert_eq!(missing.ping().await.unwrap_err().kind, FailureKind::Down);
    }

    #[tokio::test]
    async fn silent_peer_is_a_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let _hold = tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(conn);
        });
        let mut config = ClamdConfig::new(addr.parse().unwrap());
        config.scan_timeout = Duration::from_millis(300);
        let err = Clamd::new(config).scan(b"x").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Timeout);
    }
}

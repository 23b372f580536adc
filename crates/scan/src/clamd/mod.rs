//! A clamd client: `zINSTREAM` (chunked), `zFILDES`, `zIDSESSION`, `zPING`, `zVERSION`,
//! `zRELOAD` over TCP or a unix socket, at most `max_connections` at once, each scan under a
//! timeout.
//!
//! A message's items go through one `zIDSESSION` connection ([`Clamd::scan_batch`]): `VERSION`
//! first (it keys the verdict cache), then every item that is not cached, pipelined (clamd
//! scans them in parallel on its threads and prefixes each reply with the request number),
//! then `END`. Over a unix socket an item is handed over as a sealed in-memory file
//! (`memfd`) with `FILDES`: clamd scans the descriptor directly instead of copying an
//! `INSTREAM` into a temporary file first — the same `cl_scandesc` scan of the same bytes,
//! less work (ARCHITECTURE.md, "Scanning"). Over TCP items go as `INSTREAM`.

pub mod reply;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Semaphore;

use crate::error::{FailureKind, ScanError};
use crate::scanner::{Batch, BoxFuture, Detection, Outcome, Scanner, Select};
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
    /// Hand items to clamd as file descriptors (`FILDES`, unix socket only) instead of
    /// streaming them (`INSTREAM`). Default: on for a unix socket.
    pub fd_passing: bool,
}

impl ClamdConfig {
    /// Defaults for `addr`.
    pub fn new(addr: ClamdAddr) -> Self {
        ClamdConfig {
            name: "clamd".into(),
            addr: addr.clone(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            scan_timeout: Duration::from_secs(120),
            chunk_size: 64 * 1024,
            max_stream_size: 25 * 1024 * 1024,
            fd_passing: matches!(addr, ClamdAddr::Unix(_)),
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A clamd client; see the module documentation.
pub struct Clamd {
    config: ClamdConfig,
    permits: Semaphore,
    /// Set when clamd refused a passed descriptor: sessions stream from then on.
    fd_passing_refused: AtomicBool,
}

impl Clamd {
    /// A client; nothing is connected until the first command.
    pub fn new(config: ClamdConfig) -> Self {
        let permits = Semaphore::new(config.max_connections.max(1));
        Clamd {
            config,
            permits,
            fd_passing_refused: AtomicBool::new(false),
        }
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
        self.check_size(data)?;
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

    /// The items of one message in one `zIDSESSION`: `VERSION`, then the items `select`
    /// chooses (pipelined; `FILDES` or `INSTREAM`), then `END`. Every chosen item gets a
    /// verdict or a failure; an item clamd did not answer is a failure, never clean.
    pub async fn session(&self, items: &[&[u8]], select: &Select<'_>) -> Result<Batch, ScanError> {
        // clamd may scan all items of the session at once: hold a permit for each (at most
        // `max_connections`), taken at once so that sessions cannot starve each other.
        let wanted_permits = items.len().clamp(1, self.config.max_connections.max(1));
        let _permits = self
            .permits
            .acquire_many(wanted_permits as u32)
            .await
            .map_err(|_| self.error(FailureKind::Down, "client closed"))?;
        let mut conn = self.connect_raw().await?;
        let (mut reader, mut writer) = conn.split();
        let mut pending = Vec::new();
        let record = self
            .timed(async {
                writer.write_all(b"zIDSESSION\0zVERSION\0").await?;
                read_record(&mut reader, &mut pending).await
            })
            .await?;
        let version = match session_records(&record).first() {
            Some((Some(1), text)) => text.clone(),
            Some((_, text)) => {
                return Err(self.error(
                    FailureKind::EngineError,
                    format!("VERSION in a session answered {text:?}"),
                ))
            }
            None => return Err(self.reply_error(ReplyError::Empty)),
        };
        let wanted = select(Some(&version));
        let mut outcomes: Vec<Option<Result<Outcome, ScanError>>> =
            (0..items.len()).map(|_| None).collect();
        let mut send = Vec::new();
        for (i, (data, want)) in items.iter().zip(wanted).enumerate() {
            if !want {
                continue;
            }
            match self.check_size(data) {
                Ok(()) => send.push(i),
                Err(err) => outcomes[i] = Some(Err(err)),
            }
        }
        if send.is_empty() {
            // Best effort: clamd ends the session on END or when the connection closes.
            let _ = writer.write_all(b"zEND\0").await;
            return Ok(Batch {
                version: Some(version),
                outcomes,
            });
        }
        let fd_passing = self.config.fd_passing && !self.fd_passing_refused.load(Ordering::Relaxed);
        let chunk = self.config.chunk_size;
        let limit = MAX_REPLY * (send.len() + 1);
        let mut got = std::mem::take(&mut pending);
        let exchange = async {
            let write = async {
                let mut sent = Ok(());
                for &i in &send {
                    sent = writer.send_item(items[i], fd_passing, chunk).await;
                    if sent.is_err() {
                        break;
                    }
                }
                if sent.is_ok() {
                    sent = writer.write_all(b"zEND\0").await;
                }
                // A broken send must not leave clamd waiting for more: end our side.
                if sent.is_err() {
                    let _ = writer.shutdown().await;
                }
                sent
            };
            let read = read_to_end(&mut reader, &mut got, limit);
            let (sent, read) = tokio::join!(write, read);
            match (sent, read) {
                (_, Ok(())) if !got.is_empty() => Ok(()),
                (Err(err), _) | (Ok(()), Err(err)) => Err(err),
                (Ok(()), Ok(())) => Ok(()),
            }
        };
        let budget = self.config.scan_timeout * send.len() as u32;
        // A session cut short (timeout, broken connection) keeps the verdicts that arrived —
        // a detection among them is never lost; the items without one get the failure.
        let cut_short = match self.timed_for(budget, exchange).await {
            Ok(()) => None,
            Err(err) if got.is_empty() => return Err(err),
            Err(err) => Some(err),
        };
        let bytes = got;
        if bytes.len() > limit {
            return Err(self.reply_error(ReplyError::TooLong));
        }
        let mut by_id: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut unattributed: Vec<u8> = Vec::new();
        for (id, text) in session_records(&bytes) {
            let target = match id {
                Some(id) => by_id.entry(id).or_default(),
                None => &mut unattributed,
            };
            target.extend_from_slice(text.as_bytes());
            target.push(0);
        }
        for (n, &i) in send.iter().enumerate() {
            // Request 1 was VERSION; the items follow in the order they were sent.
            let id = n as u64 + 2;
            let result = match by_id.get(&id) {
                Some(reply) => reply::parse_scan_reply(reply)
                    .map_err(|e| self.reply_error(e))
                    .and_then(|reply| self.outcome(reply)),
                None if cut_short.is_some() => Err(cut_short.clone().expect("checked")),
                None if !unattributed.is_empty() => match reply::parse_scan_reply(&unattributed) {
                    Ok(ScanReply::SizeLimit { text, found }) => Err(self
                        .error(FailureKind::SizeLimit, text)
                        .with_detections(self.detections(found))),
                    Ok(_) | Err(_) => Err(self.error(
                        FailureKind::EngineError,
                        format!(
                            "no verdict in the session; clamd said {:?}",
                            String::from_utf8_lossy(&unattributed).replace('\0', " | ")
                        ),
                    )),
                },
                None => Err(self.error(
                    FailureKind::Down,
                    "clamd ended the session without a verdict",
                )),
            };
            if fd_passing {
                self.note_fd_refusal(&result);
            }
            outcomes[i] = Some(result);
        }
        Ok(Batch {
            version: Some(version),
            outcomes,
        })
    }

    /// A clamd that cannot take descriptors (built without fd passing, or a socket that is
    /// not clamd's own) answers `FILDES` with an error: that item fails (the message is
    /// retried, never passed) and later sessions use `INSTREAM`.
    fn note_fd_refusal(&self, result: &Result<Outcome, ScanError>) {
        let refused = result.as_ref().is_err_and(|err| {
            err.detail.contains("No file descriptor received")
                || err.detail.contains("UNKNOWN COMMAND")
        });
        if refused && !self.fd_passing_refused.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "quarantd::scan",
                clamd = %self.config.addr,
                error = %result.as_ref().err().map(ToString::to_string).unwrap_or_default(),
                "clamd refused a passed file descriptor; streaming with INSTREAM from now on."
            );
        }
    }

    fn check_size(&self, data: &[u8]) -> Result<(), ScanError> {
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
        Ok(())
    }

    /// A parsed scan reply as an outcome; size limits and errors are failures.
    fn outcome(&self, reply: ScanReply) -> Result<Outcome, ScanError> {
        match reply {
            ScanReply::Clean => Ok(Outcome::Clean),
            ScanReply::Found(names) => Ok(Outcome::Infected(self.detections(names))),
            ScanReply::SizeLimit { text, found } => Err(self
                .error(FailureKind::SizeLimit, text)
                .with_detections(self.detections(found))),
            ScanReply::Error { text, found } => Err(self
                .error(FailureKind::EngineError, text)
                .with_detections(self.detections(found))),
        }
    }

    /// clamd's names as detections of this engine.
    fn detections(&self, names: Vec<String>) -> Vec<Detection> {
        names
            .into_iter()
            .map(|name| Detection {
                engine: self.config.name.clone(),
                name,
            })
            .collect()
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
        Ok(match self.connect_raw().await? {
            Conn::Tcp(conn) => Box::new(conn),
            Conn::Unix(conn) => Box::new(conn),
        })
    }

    async fn connect_raw(&self) -> Result<Conn, ScanError> {
        let connect = async {
            Ok::<_, std::io::Error>(match &self.config.addr {
                ClamdAddr::Tcp(addr) => Conn::Tcp(TcpStream::connect(addr.as_str()).await?),
                ClamdAddr::Unix(path) => Conn::Unix(UnixStream::connect(path).await?),
            })
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
        self.timed_for(self.config.scan_timeout, exchange).await
    }

    /// Runs one exchange under `budget`.
    async fn timed_for<T>(
        &self,
        budget: Duration,
        exchange: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> Result<T, ScanError> {
        match tokio::time::timeout(budget, exchange).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.error(
                FailureKind::Down,
                format!("connection to {} broke: {err}", self.config.addr),
            )),
            Err(_) => Err(self.error(
                FailureKind::Timeout,
                format!("no answer from {} within {budget:?}", self.config.addr),
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
async fn send_stream(
    conn: &mut (impl AsyncWrite + Unpin + ?Sized),
    data: &[u8],
    chunk: usize,
) -> std::io::Result<()> {
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
    read_to_end(&mut **conn, &mut out, MAX_REPLY).await?;
    Ok(out)
}

/// A connection of either kind, for sessions (file descriptors go over unix sockets only).
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// The writing half of a [`Conn`].
enum Writer<'a> {
    Tcp(tokio::net::tcp::WriteHalf<'a>),
    Unix(tokio::net::unix::WriteHalf<'a>),
}

impl Conn {
    fn split(&mut self) -> (Box<dyn AsyncRead + Unpin + Send + '_>, Writer<'_>) {
        match self {
            Conn::Tcp(conn) => {
                let (r, w) = conn.split();
                (Box::new(r), Writer::Tcp(w))
            }
            Conn::Unix(conn) => {
                let (r, w) = conn.split();
                (Box::new(r), Writer::Unix(w))
            }
        }
    }
}

impl Writer<'_> {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Writer::Tcp(w) => w.write_all(bytes).await,
            Writer::Unix(w) => w.write_all(bytes).await,
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Writer::Tcp(w) => w.shutdown().await,
            Writer::Unix(w) => w.shutdown().await,
        }
    }

    /// One item: `FILDES` of a sealed memfd over a unix socket when `fd_passing`, else
    /// `INSTREAM`.
    async fn send_item(
        &mut self,
        data: &[u8],
        fd_passing: bool,
        chunk: usize,
    ) -> std::io::Result<()> {
        match self {
            Writer::Unix(w) if fd_passing => send_fd(w, data).await,
            Writer::Unix(w) => send_stream(w, data, chunk).await,
            Writer::Tcp(w) => send_stream(w, data, chunk).await,
        }
    }
}

/// `zFILDES\0` plus one byte that carries the descriptor of a sealed in-memory file holding
/// `data` (clamd reads the command, then takes the descriptor from the ancillary data).
async fn send_fd(w: &mut tokio::net::unix::WriteHalf<'_>, data: &[u8]) -> std::io::Result<()> {
    const CMD: &[u8] = b"zFILDES\0\0";
    let file = sealed_memfd(data)?;
    let stream: &UnixStream = w.as_ref();
    let sent = stream
        .async_io(Interest::WRITABLE, || {
            let fds = [file.as_fd()];
            let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
            if !control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds)) {
                return Err(std::io::Error::other("no room for the file descriptor"));
            }
            rustix::net::sendmsg(
                stream,
                &[IoSlice::new(CMD)],
                &mut control,
                rustix::net::SendFlags::NOSIGNAL,
            )
            .map_err(std::io::Error::from)
        })
        .await?;
    if sent < CMD.len() {
        w.write_all(&CMD[sent..]).await?;
    }
    Ok(())
}

/// An anonymous in-memory file with `data`, sealed against any change, read from offset 0.
fn sealed_memfd(data: &[u8]) -> std::io::Result<std::fs::File> {
    use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
    use std::io::Seek;
    let fd = memfd_create(
        "quarantd-scan",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(data)?;
    file.rewind()?;
    fcntl_add_seals(
        &file,
        SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL,
    )?;
    Ok(file)
}

/// Reads up to and including the next NUL (or to the end of the stream); bytes read past
/// it stay in `pending`.
async fn read_record(
    conn: &mut (impl AsyncRead + Unpin + ?Sized),
    pending: &mut Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    let mut buf = [0u8; 1024];
    loop {
        if let Some(at) = pending.iter().position(|&b| b == 0) {
            return Ok(pending.drain(..=at).collect());
        }
        if pending.len() > MAX_REPLY {
            return Ok(std::mem::take(pending));
        }
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(std::mem::take(pending));
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

/// Reads onto the end of `out` until clamd closes the connection or `out` holds more than
/// `limit` bytes. An error after some bytes ends the reply (clamd may reset after
/// answering). What arrived stays in `out` also when the caller stops waiting (a timeout).
async fn read_to_end(
    conn: &mut (impl AsyncRead + Unpin + ?Sized),
    out: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    while out.len() <= limit {
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
    Ok(())
}

/// The records of a session reply, each with its request number when it has one
/// (`2: stream: OK` → `(Some(2), "stream: OK")`).
fn session_records(bytes: &[u8]) -> Vec<(Option<u64>, String)> {
    bytes
        .split(|&b| b == 0 || b == b'\n')
        .map(|r| String::from_utf8_lossy(r).trim().to_string())
        .filter(|r| !r.is_empty())
        .map(|r| match r.split_once(": ") {
            Some((n, rest)) if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => {
                match n.parse() {
                    Ok(id) => (Some(id), rest.to_string()),
                    Err(_) => (None, r),
                }
            }
            _ => (None, r),
        })
        .collect()
}

impl Scanner for Clamd {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
        Box::pin(async move { self.outcome(self.instream(data).await?) })
    }

    fn scan_batch<'a>(
        &'a self,
        items: &'a [&'a [u8]],
        select: &'a Select<'a>,
    ) -> BoxFuture<'a, Result<Batch, ScanError>> {
        Box::pin(self.session(items, select))
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
    /// A fake clamd session: answers VERSION, reads `n` INSTREAMs and END, then sends
    /// `replies` and closes. Returns how many streams it got.
    async fn fake_session(
        n: usize,
        replies: &'static [u8],
    ) -> (String, tokio::task::JoinHandle<usize>) {
        fake_session_then(n, replies, false).await
    }

    /// [`fake_session`], staying silent and open after the replies when `stall`.
    async fn fake_session_then(
        n: usize,
        replies: &'static [u8],
        stall: bool,
    ) -> (String, tokio::task::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut hello = vec![0u8; b"zIDSESSION\0zVERSION\0".len()];
            conn.read_exact(&mut hello).await.unwrap();
            assert_eq!(hello, b"zIDSESSION\0zVERSION\0");
            conn.write_all(b"1: ClamAV 9.9.9/1/today\0").await.unwrap();
            let mut streams = 0;
            for _ in 0..n {
                let mut cmd = [0u8; 10];
                conn.read_exact(&mut cmd).await.unwrap();
                assert_eq!(&cmd, b"zINSTREAM\0");
                loop {
                    let mut len = [0u8; 4];
                    conn.read_exact(&mut len).await.unwrap();
                    let len = u32::from_be_bytes(len) as usize;
                    if len == 0 {
                        break;
                    }
                    conn.read_exact(&mut vec![0u8; len]).await.unwrap();
                }
                streams += 1;
            }
            let mut end = [0u8; 5];
            conn.read_exact(&mut end).await.unwrap();
            assert_eq!(&end, b"zEND\0");
            conn.write_all(replies).await.unwrap();
            if stall {
                let mut rest = Vec::new();
                let _ = conn.read_to_end(&mut rest).await;
            }
            streams
        });
        (addr, task)
    }

    /// Issue 11 A3: clamd answered one item with a detection, then went silent: the
    /// detection is kept, the other item is a timeout — never the whole batch thrown away.
    #[tokio::test]
    async fn a_session_cut_short_keeps_the_verdicts_that_arrived() {
        let (addr, _task) = fake_session_then(2, b"2: stream: Eicar FOUND\0", true).await;
        let mut config = ClamdConfig::new(addr.parse().unwrap());
        config.scan_timeout = Duration::from_millis(200);
        let clamd = Clamd::new(config);
        let select = |_: Option<&str>| vec![true, true];
        let items: [&[u8]; 2] = [b"a", b"b"];
        let batch = clamd.scan_batch(&items, &select).await.unwrap();
        let found = batch.outcomes[0].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(found.detections()[0].name, "Eicar");
        let err = batch.outcomes[1].as_ref().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind, FailureKind::Timeout);
    }

    #[tokio::test]
    async fn a_session_asks_the_version_then_scans_only_the_selected_items() {
        let (addr, task) = fake_session(2, b"3: stream: Eicar FOUND\x002: stream: OK\0").await;
        let clamd = Clamd::new(ClamdConfig::new(addr.parse().unwrap()));
        let seen = std::sync::Mutex::new(None);
        let select = |v: Option<&str>| {
            *seen.lock().unwrap() = v.map(str::to_string);
            vec![true, false, true]
        };
        let items: [&[u8]; 3] = [b"a", b"cached", b"c"];
        let batch = clamd.scan_batch(&items, &select).await.unwrap();
        assert_eq!(task.await.unwrap(), 2);
        assert_eq!(batch.version.as_deref(), Some("ClamAV 9.9.9/1/today"));
        assert_eq!(
            seen.lock().unwrap().as_deref(),
            Some("ClamAV 9.9.9/1/today")
        );
        assert_eq!(
            batch.outcomes[0].as_ref().unwrap().as_ref().unwrap(),
            &Outcome::Clean
        );
        assert!(batch.outcomes[1].is_none());
        let found = batch.outcomes[2].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(found.detections()[0].name, "Eicar");
    }

    #[tokio::test]
    async fn an_item_without_a_reply_in_the_session_is_a_failure() {
        let (addr, _task) = fake_session(2, b"2: stream: OK\0").await;
        let clamd = Clamd::new(ClamdConfig::new(addr.parse().unwrap()));
        let select = |_: Option<&str>| vec![true, true];
        let items: [&[u8]; 2] = [b"a", b"b"];
        let batch = clamd.scan_batch(&items, &select).await.unwrap();
        assert!(batch.outcomes[0].as_ref().unwrap().is_ok());
        let err = batch.outcomes[1].as_ref().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind, FailureKind::Down);
        let (addr, _task) = fake_session(1, b"INSTREAM size limit exceeded. ERROR\0").await;
        let clamd = Clamd::new(ClamdConfig::new(addr.parse().unwrap()));
        let select = |_: Option<&str>| vec![true];
        let batch = clamd.scan_batch(&items[..1], &select).await.unwrap();
        let err = batch.outcomes[0].as_ref().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind, FailureKind::SizeLimit);
        // A detection beside a limit (AllowAllMatchScan) stays with the failure.
        let (addr, _task) = fake_session(
            1,
            b"2: stream: Eicar FOUND\x002: stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND\0",
        )
        .await;
        let clamd = Clamd::new(ClamdConfig::new(addr.parse().unwrap()));
        let batch = clamd.scan_batch(&items[..1], &select).await.unwrap();
        let err = batch.outcomes[0].as_ref().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind, FailureKind::SizeLimit);
        assert_eq!(err.detections[0].name, "Eicar");
    }

    #[tokio::test]
    async fn a_sealed_memfd_holds_the_content() {
        use std::io::Read;
        let mut file = sealed_memfd(b"content").unwrap();
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"content");
        assert!(file.write_all(b"more").is_err(), "sealed against writes");
    }
    #[tokio::test]
    async fn a_refused_descriptor_fails_the_item_and_later_sessions_stream() {
        let dir = std::env::temp_dir().join(format!("qclamd-{}", quarantd_core::id::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("clamd.sock");
        // A blocking fake: a read that stops at a passed descriptor must not be taken for
        // the end of the data (tokio's readiness would).
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut got = Vec::new();
            for reply in [
                &b"2: No file descriptor received. ERROR\0"[..],
                b"2: stream: OK\0",
            ] {
                let (mut conn, _) = listener.accept().unwrap();
                let mut hello = vec![0u8; b"zIDSESSION\0zVERSION\0".len()];
                conn.read_exact(&mut hello).unwrap();
                conn.write_all(b"1: ClamAV 9.9.9\0").unwrap();
                let mut rest = Vec::new();
                while !rest.ends_with(b"zEND\0") {
                    let mut buf = [0u8; 256];
                    let n = conn.read(&mut buf).unwrap();
                    assert!(n > 0, "{:?}", String::from_utf8_lossy(&rest));
                    rest.extend_from_slice(&buf[..n]);
                }
                got.push(rest);
                conn.write_all(reply).unwrap();
            }
            got
        });
        let clamd = Clamd::new(ClamdConfig::new(sock.to_str().unwrap().parse().unwrap()));
        assert!(clamd.config().fd_passing);
        let select = |_: Option<&str>| vec![true];
        let items: [&[u8]; 1] = [b"x"];
        let first = clamd.scan_batch(&items, &select).await.unwrap();
        let err = first.outcomes[0].as_ref().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind, FailureKind::EngineError);
        let second = clamd.scan_batch(&items, &select).await.unwrap();
        assert!(second.outcomes[0].as_ref().unwrap().is_ok());
        let got = server.join().unwrap();
        assert_eq!(got[0], b"zFILDES\0\0zEND\0");
        assert!(got[1].starts_with(b"zINSTREAM\0"), "{:?}", got[1]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

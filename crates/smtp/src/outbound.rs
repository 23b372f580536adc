//! The re-injection client: a pool of SMTP connections to the relay (Postfix's re-injection
//! port) and one [`Transaction`] per message.
//!
//! A transaction is opened when the upstream client sends `MAIL`, gets each `RCPT` as it
//! arrives, and ends with [`Transaction::data`] (deliver) or [`Transaction::abort`] (drop the
//! message downstream, e.g. to quarantine or reject it). A connection whose transaction ended
//! cleanly goes back to the pool; any error closes it.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quarantd_core::{BodyType, MailParams, Recipient, Ret, XForward};
use tokio::io::{AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::address;
use crate::io::{read_line, Line};
use crate::reply::Reply;
use crate::xtext;

/// Longest reply line accepted from the relay.
const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one reply (an EHLO reply has a line per extension).
const MAX_REPLY_LINES: usize = 64;
/// Longest XFORWARD command we send (Postfix accepts 512 bytes per line).
pub(crate) const MAX_XFORWARD_LINE: usize = 500;

/// Settings of the relay client.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `host:port` of the relay, e.g. `127.0.0.1:10025`.
    pub address: String,
    /// The name sent in `EHLO`.
    pub helo_name: String,
    /// Time allowed to connect and read the greeting.
    pub connect_timeout: Duration,
    /// Time allowed for the reply to each command.
    pub command_timeout: Duration,
    /// Time allowed to send the message and read the final reply.
    pub data_timeout: Duration,
    /// Most idle connections kept for reuse.
    pub max_idle: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Most connections open to the relay at once, idle ones included (the relay's smtpd
    /// has a process limit).
    pub max_connections: usize,
    /// How long a transaction waits for a connection when `max_connections` are open.
    pub connection_wait: Duration,
}

impl RelayConfig {
    /// Defaults for a relay on `address`.
    pub fn new(address: impl Into<String>, helo_name: impl Into<String>) -> Self {
        RelayConfig {
            address: address.into(),
            helo_name: helo_name.into(),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            max_idle: 32,
            idle_timeout: Duration::from_secs(60),
            max_connections: 20,
            connection_wait: Duration::from_secs(60),
        }
    }
}

/// Why talking to the relay failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The relay could not be reached.
    #[error("cannot connect to relay {address}: {source}")]
    Connect {
        /// The relay address.
        address: String,
        /// The cause.
        source: io::Error,
    },
    /// The relay did not answer in time.
    #[error("relay did not answer {stage} within {secs} s")]
    Timeout {
        /// Which step timed out.
        stage: &'static str,
        /// The limit.
        secs: u64,
    },
    /// The connection broke.
    #[error("relay connection failed during {stage}: {source}")]
    Io {
        /// Which step failed.
        stage: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The relay said something that is not SMTP.
    #[error("relay protocol error during {stage}: {detail}")]
    Protocol {
        /// Which step failed.
        stage: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Every connection the relay may have (`max_connections`) stayed in use for the wait.
    #[error("all {limit} relay connections stayed in use for {secs} s")]
    Busy {
        /// `max_connections`.
        limit: usize,
        /// The wait.
        secs: u64,
    },
    /// The relay refused a step with this reply.
    #[error("relay refused {stage}: {reply}")]
    Rejected {
        /// Which step was refused.
        stage: &'static str,
        /// The relay's reply.
        reply: Reply,
    },
}

impl RelayError {
    /// True when trying again later may succeed (everything except a 5xx refusal).
    pub fn is_transient(&self) -> bool {
        !matches!(self, RelayError::Rejected { reply, .. } if reply.is_permanent())
    }
}

/// What the relay announced in its EHLO reply.
#[derive(Debug, Clone, Default)]
pub(crate) struct Capabilities {
    pipelining: bool,
    eight_bit: bool,
    smtputf8: bool,
    dsn: bool,
    size: bool,
    xforward: Vec<String>,
}

impl Capabilities {
    pub(crate) fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eight_bit = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "SIZE" => caps.size = true,
                "XFORWARD" => caps.xforward = words.map(|w| w.to_ascii_uppercase()).collect(),
                _ => {}
            }
        }
        caps
    }

    /// The XFORWARD attributes announced.
    pub(crate) fn xforward_attributes(&self) -> &[String] {
        &self.xforward
    }
}

/// One SMTP connection to the relay, after EHLO, holding one of the relay's
/// `max_connections` slots for as long as it is open.
struct Connection {
    stream: BufStream<TcpStream>,
    caps: Capabilities,
    command_timeout: Duration,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn open(cfg: &RelayConfig, slot: OwnedSemaphorePermit) -> Result<Connection, RelayError> {
        let connect = TcpStream::connect(&cfg.address);
        let tcp = match timeout(cfg.connect_timeout, connect).await {
            Err(_) => return Err(timeout_error("connect", cfg.connect_timeout)),
            Ok(Err(source)) => {
                return Err(RelayError::Connect {
                    address: cfg.address.clone(),
                    source,
                })
            }
            Ok(Ok(tcp)) => tcp,
        };
        let _ = tcp.set_nodelay(true);
        let mut conn = Connection {
            stream: BufStream::new(tcp),
            caps: Capabilities::default(),
            command_timeout: cfg.command_timeout,
            _slot: slot,
        };
        let greeting = conn.read_reply("greeting", cfg.connect_timeout).await?;
        expect_positive("greeting", greeting)?;
        let ehlo = conn
            .command(&format!("EHLO {}", cfg.helo_name), "EHLO")
            .await?;
        conn.caps = Capabilities::from_ehlo(&expect_positive("EHLO", ehlo)?);
        Ok(conn)
    }

    async fn read_reply(
        &mut self,
        stage: &'static str,
        limit: Duration,
    ) -> Result<Reply, RelayError> {
        match timeout(limit, self.read_reply_untimed(stage)).await {
            Ok(result) => result,
            Err(_) => Err(timeout_error(stage, limit)),
        }
    }

    async fn read_reply_untimed(&mut self, stage: &'static str) -> Result<Reply, RelayError> {
        let mut lines = Vec::new();
        loop {
            let line = match read_line(&mut self.stream, MAX_REPLY_LINE).await {
                Ok(Line::Complete(line)) => line,
                Ok(Line::TooLong) => return Err(protocol(stage, "reply line too long")),
                Ok(Line::Eof) => {
                    return Err(RelayError::Io {
                        stage,
                        source: io::ErrorKind::UnexpectedEof.into(),
                    })
                }
                Err(source) => return Err(RelayError::Io { stage, source }),
            };
            let Some((code, last, text)) = Reply::parse_line(&line) else {
                return Err(protocol(
                    stage,
                    format!("not an SMTP reply: {:?}", String::from_utf8_lossy(&line)),
                ));
            };
            lines.push(text);
            if last {
                return Ok(Reply { code, lines });
            }
            if lines.len() > MAX_REPLY_LINES {
                return Err(protocol(stage, "reply has too many lines"));
            }
        }
    }

    async fn send(&mut self, bytes: &[u8], stage: &'static str) -> Result<(), RelayError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match timeout(self.command_timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(RelayError::Io { stage, source }),
            Err(_) => Err(timeout_error(stage, self.command_timeout)),
        }
    }

    async fn command(&mut self, line: &str, stage: &'static str) -> Result<Reply, RelayError> {
        self.send(format!("{line}\r\n").as_bytes(), stage).await?;
        self.read_reply(stage, self.command_timeout).await
    }

    /// Sends the XFORWARD attributes the relay supports, in commands of bounded length.
    async fn xforward(&mut self, attrs: &XForward) -> Result<(), RelayError> {
        for line in xforward_commands(&self.caps.xforward, attrs) {
            let reply = self.command(&line, "XFORWARD").await?;
            expect_positive("XFORWARD", reply)?;
        }
        Ok(())
    }
}

/// The XFORWARD commands that pass on the attributes the relay supports (`supported`, as its
/// EHLO reply named them), each under [`MAX_XFORWARD_LINE`] bytes unless one attribute alone
/// is longer.
pub(crate) fn xforward_commands(supported: &[String], attrs: &XForward) -> Vec<String> {
    let wanted: Vec<&(String, String)> = attrs
        .0
        .iter()
        .filter(|(name, _)| supported.iter().any(|s| s == name))
        .collect();
    let mut lines = Vec::new();
    let mut line = String::from("XFORWARD");
    for (i, (name, value)) in wanted.iter().enumerate() {
        line.push_str(&format!(" {name}={value}"));
        let next_len = wanted.get(i + 1).map_or(0, |(n, v)| n.len() + v.len() + 2);
        if i + 1 == wanted.len() || line.len() + next_len > MAX_XFORWARD_LINE {
            lines.push(std::mem::replace(&mut line, String::from("XFORWARD")));
        }
    }
    lines
}

/// The pool of connections to one relay, at most `max_connections` open at once.
pub struct Relay {
    config: RelayConfig,
    idle: Mutex<Vec<(Connection, Instant)>>,
    /// One permit per connection that may be open (idle or in use).
    slots: Arc<Semaphore>,
    /// Woken when a connection goes back to the idle pool, for transactions waiting for one.
    returned: Notify,
}

/// What a transaction waiting for a connection got.
enum Slot {
    /// A free slot: open a new connection.
    Free(OwnedSemaphorePermit),
    /// A connection that another transaction just put back.
    Idle(Connection),
}

/// What opens a downstream transaction: the sender, its parameters and the XFORWARD attributes.
#[derive(Debug, Clone, Copy)]
pub struct MailFrom<'a> {
    /// The sender address; empty for `<>`.
    pub address: &'a str,
    /// `MAIL FROM` parameters to pass on.
    pub params: &'a MailParams,
    /// Original client attributes to pass on.
    pub xforward: &'a XForward,
}

impl Relay {
    /// A relay client with no connection open yet.
    pub fn new(config: RelayConfig) -> Self {
        Relay {
            slots: Arc::new(Semaphore::new(config.max_connections.max(1))),
            config,
            idle: Mutex::new(Vec::new()),
            returned: Notify::new(),
        }
    }

    /// The relay's address.
    pub fn address(&self) -> &str {
        &self.config.address
    }

    /// Opens a transaction: XFORWARD and MAIL FROM. A pooled connection that turns out to be
    /// dead is replaced by a fresh one, once. With `max_connections` open, waits up to
    /// `connection_wait` for one to be put back or closed, then fails with
    /// [`RelayError::Busy`].
    pub async fn begin(self: &Arc<Self>, mail: MailFrom<'_>) -> Result<Transaction, RelayError> {
        if let Some(conn) = self.take_idle() {
            match self.start(conn, mail).await {
                Ok(txn) => return Ok(txn),
                Err(err @ RelayError::Rejected { .. }) if !is_shutdown_reply(&err) => {
                    return Err(err)
                }
                Err(err) => {
                    tracing::debug!(error = %err, "pooled relay connection was stale; opening a new one")
                }
            }
        }
        let conn = self.connection().await?;
        self.start(conn, mail).await
    }

    /// A connection within the cap: a new one in a free slot, or one put back while waiting.
    async fn connection(&self) -> Result<Connection, RelayError> {
        let wait = self.config.connection_wait;
        match timeout(wait, self.slot()).await {
            Ok(Slot::Free(slot)) => Connection::open(&self.config, slot).await,
            Ok(Slot::Idle(conn)) => Ok(conn),
            Err(_) => {
                let limit = self.config.max_connections;
                tracing::warn!(relay = %self.config.address, limit, wait_secs = wait.as_secs(), "Every relay connection stayed in use; deferring the message (relay.max_connections).");
                Err(RelayError::Busy {
                    limit,
                    secs: wait.as_secs(),
                })
            }
        }
    }

    /// Waits for a free slot or a connection put back into the idle pool, whichever is first.
    async fn slot(&self) -> Slot {
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            // Registered before looking, so a connection put back meanwhile is not missed.
            returned.as_mut().enable();
            if let Some(conn) = self.take_idle() {
                return Slot::Idle(conn);
            }
            tokio::select! {
                slot = Arc::clone(&self.slots).acquire_owned() => match slot {
                    Ok(slot) => return Slot::Free(slot),
                    // Never closed; should it be, wait for a connection put back.
                    Err(_) => returned.await,
                },
                () = &mut returned => {}
            }
        }
    }

    async fn start(
        self: &Arc<Self>,
        mut conn: Connection,
        mail: MailFrom<'_>,
    ) -> Result<Transaction, RelayError> {
        if !mail.xforward.is_empty() && !conn.caps.xforward.is_empty() {
            conn.xforward(mail.xforward).await?;
        }
        let line = mail_command(&conn.caps, mail.address, mail.params);
        let reply = conn.command(&line, "MAIL FROM").await?;
        if !reply.is_positive() {
            if reply.code != 421 {
                self.put_back(conn_after_rset(conn).await);
            }
            return Err(RelayError::Rejected {
                stage: "MAIL FROM",
                reply,
            });
        }
        Ok(Transaction {
            relay: Arc::clone(self),
            conn: Some(conn),
            accepted: 0,
        })
    }

    fn take_idle(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        idle.retain(|(_, since)| now.duration_since(*since) < self.config.idle_timeout);
        idle.pop().map(|(conn, _)| conn)
    }

    fn put_back(&self, conn: Option<Connection>) {
        let Some(conn) = conn else { return };
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.config.max_idle {
            idle.push((conn, Instant::now()));
            drop(idle);
            self.returned.notify_waiters();
        }
    }

    /// Number of connections that may still be opened (`max_connections` minus those open).
    pub fn free_connections(&self) -> usize {
        self.slots.available_permits()
    }

    /// Number of idle connections in the pool.
    pub fn idle_connections(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Sends RSET; returns the connection when it is still usable.
async fn conn_after_rset(mut conn: Connection) -> Option<Connection> {
    match conn.command("RSET", "RSET").await {
        Ok(reply) if reply.is_positive() => Some(conn),
        _ => None,
    }
}

fn is_shutdown_reply(err: &RelayError) -> bool {
    matches!(err, RelayError::Rejected { reply, .. } if reply.code == 421)
}

/// One message on its way downstream.
pub struct Transaction {
    relay: Arc<Relay>,
    conn: Option<Connection>,
    accepted: usize,
}

impl Transaction {
    /// Forwards one recipient and returns the relay's reply to it.
    pub async fn rcpt(&mut self, rcpt: &Recipient) -> Result<Reply, RelayError> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| protocol("RCPT TO", "transaction already ended"))?;
        let line = rcpt_command(&conn.caps, rcpt);
        let reply = conn.command(&line, "RCPT TO").await;
        match reply {
            Ok(reply) if reply.code == 421 => {
                self.conn = None;
                Err(RelayError::Rejected {
                    stage: "RCPT TO",
                    reply,
                })
            }
            Ok(reply) => {
                if reply.is_positive() {
                    self.accepted += 1;
                }
                Ok(reply)
            }
            Err(err) => {
                self.conn = None;
                Err(err)
            }
        }
    }

    /// The relay this transaction belongs to: for opening further transactions of the same
    /// message (the pipeline splits a message whose recipients have different outcomes).
    pub fn relay(&self) -> Arc<Relay> {
        Arc::clone(&self.relay)
    }

    /// Number of recipients the relay accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// Sends the message: `prefix` (quarantd's headers) and then `body` exactly as received,
    /// dot-stuffed on the wire. Returns the relay's final reply, which applies to every
    /// recipient it accepted.
    pub async fn data(mut self, prefix: &[u8], body: &[u8]) -> Result<Reply, RelayError> {
        let mut conn = self
            .conn
            .take()
            .ok_or_else(|| protocol("DATA", "transaction already ended"))?;
        let reply = conn.command("DATA", "DATA").await?;
        if reply.code != 354 {
            if reply.code != 421 {
                self.relay.put_back(conn_after_rset(conn).await);
            }
            return Err(RelayError::Rejected {
                stage: "DATA",
                reply,
            });
        }
        let data_timeout = self.relay.config.data_timeout;
        let write = async {
            write_dot_stuffed(&mut conn.stream, prefix, body).await?;
            conn.stream.flush().await
        };
        match timeout(data_timeout, write).await {
            Err(_) => return Err(timeout_error("message content", data_timeout)),
            Ok(Err(source)) => {
                return Err(RelayError::Io {
                    stage: "message content",
                    source,
                })
            }
            Ok(Ok(())) => {}
        }
        let reply = conn.read_reply("end of data", data_timeout).await?;
        if reply.code != 421 {
            self.relay.put_back(Some(conn));
        }
        Ok(reply)
    }

    /// Ends the transaction without delivering anything (RSET), keeping the connection.
    pub async fn abort(mut self) {
        if let Some(conn) = self.conn.take() {
            self.relay.put_back(conn_after_rset(conn).await);
        }
    }
}

/// Writes prefix and body with SMTP dot-stuffing, ending with CRLF.CRLF.
async fn write_dot_stuffed<W: AsyncWriteExt + Unpin>(
    out: &mut W,
    prefix: &[u8],
    body: &[u8],
) -> io::Result<()> {
    let mut at_line_start = true;
    for chunk in [prefix, body] {
        let mut rest = chunk;
        while !rest.is_empty() {
            if at_line_start && rest[0] == b'.' {
                out.write_all(b".").await?;
            }
            let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1);
            out.write_all(&rest[..end]).await?;
            at_line_start = rest[end - 1] == b'\n';
            rest = &rest[end..];
        }
    }
    if !at_line_start {
        out.write_all(b"\r\n").await?;
    }
    out.write_all(b".\r\n").await
}

pub(crate) fn mail_command(caps: &Capabilities, address: &str, params: &MailParams) -> String {
    let mut line = format!("MAIL FROM:<{}>", address::to_wire(address));
    match params.body {
        Some(BodyType::EightBitMime) if caps.eight_bit => line.push_str(" BODY=8BITMIME"),
        Some(BodyType::SevenBit) if caps.eight_bit => line.push_str(" BODY=7BIT"),
        _ => {}
    }
    if params.smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    if let (Some(size), true) = (params.size, caps.size) {
        line.push_str(&format!(" SIZE={size}"));
    }
    if caps.dsn {
        match params.ret {
            Some(Ret::Full) => line.push_str(" RET=FULL"),
            Some(Ret::Hdrs) => line.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = &params.envid {
            line.push_str(&format!(" ENVID={}", xtext::encode(envid)));
        }
    }
    line
}

pub(crate) fn rcpt_command(caps: &Capabilities, rcpt: &Recipient) -> String {
    let mut line = format!("RCPT TO:<{}>", address::to_wire(&rcpt.address));
    if caps.dsn {
        if let Some(notify) = rcpt.notify {
            line.push_str(&format!(" NOTIFY={}", notify.dsn_value()));
        }
        if let Some(orcpt) = &rcpt.orcpt {
            line.push_str(&format!(" ORCPT=rfc822;{}", xtext::encode(orcpt)));
        }
    }
    line
}

fn expect_positive(stage: &'static str, reply: Reply) -> Result<Reply, RelayError> {
    if reply.is_positive() {
        Ok(reply)
    } else {
        Err(RelayError::Rejected { stage, reply })
    }
}

fn timeout_error(stage: &'static str, limit: Duration) -> RelayError {
    RelayError::Timeout {
        stage,
        secs: limit.as_secs(),
    }
}

fn protocol(stage: &'static str, detail: impl Into<String>) -> RelayError {
    RelayError::Protocol {
        stage,
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stuffed(prefix: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_dot_stuffed(&mut out, prefix, body).await.unwrap();
        out
    }

    #[tokio::test]
    async fn dot_stuffing_doubles_leading_dots_and_terminates() {
        assert_eq!(
            stuffed(b"X: 1\r\n", b".a\r\nb\r\n..c\r\n").await,
            b"X: 1\r\n..a\r\nb\r\n...c\r\n.\r\n"
        );
        assert_eq!(
            stuffed(b"", b"no final newline").await,
            b"no final newline\r\n.\r\n"
        );
        assert_eq!(stuffed(b"", b"").await, b".\r\n");
        assert_eq!(stuffed(b"", b".\r\n").await, b"..\r\n.\r\n");
    }

    #[test]
    fn mail_command_passes_dsn_and_body() {
        let caps = Capabilities {
            eight_bit: true,
            dsn: true,
            size: true,
            ..Default::default()
        };
        let params = MailParams {
            body: Some(BodyType::EightBitMime),
            smtputf8: true,
            size: Some(1234),
            ret: Some(Ret::Hdrs),
            envid: Some("id+1 x".into()),
        };
        assert_eq!(
            mail_command(&caps, "a@b", &params),
            "MAIL FROM:<a@b> BODY=8BITMIME SMTPUTF8 SIZE=1234 RET=HDRS ENVID=id+2B1+20x"
        );
        let rcpt = Recipient {
            address: "r@x".into(),
            notify: Some(quarantd_core::Notify {
                success: true,
                failure: true,
                ..Default::default()
            }),
            orcpt: Some("r@x".into()),
        };
        assert_eq!(
            rcpt_command(&caps, &rcpt),
            "RCPT TO:<r@x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r@x"
        );
    }

    #[test]
    fn capabilities_from_ehlo() {
        let reply = Reply {
            code: 250,
            lines: vec![
                "host".into(),
                "PIPELINING".into(),
                "XFORWARD NAME ADDR PROTO HELO".into(),
                "DSN".into(),
            ],
        };
        let caps = Capabilities::from_ehlo(&reply);
        assert!(caps.pipelining && caps.dsn && !caps.smtputf8);
        assert_eq!(caps.xforward, ["NAME", "ADDR", "PROTO", "HELO"]);
    }
}

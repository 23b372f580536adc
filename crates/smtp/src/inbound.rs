//! The inbound ESMTP server that Postfix hands mail to.
//!
//! One task per session. A session forwards `MAIL` and every `RCPT` to the relay as they
//! arrive and answers each with the relay's own reply, so a recipient the relay refuses is
//! refused upstream at once and is never in the message quarantd delivers. After the message
//! is received, the [`MessageHandler`] (the pipeline) gets envelope, bytes and the open
//! relay transaction, and its reply is the session's answer to the end of data.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use quarantd_core::{BodyType, Envelope, MailParams, Notify, Recipient, Ret, XForward};
use quarantd_runtime::{
    in_networks, Listener, ListenerConfig, Phase, PhaseWatch, Refusal, Service, ShutdownSignal,
};
use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver};
use smtp_proto::{Error as ParseError, Request};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::body::{Incoming, MemoryBudget, Spool};
use crate::io::{read_line, Line};
use crate::outbound::{MailFrom, Relay, RelayError, Transaction};
use crate::reply::Reply;

/// The XFORWARD attributes quarantd accepts (Postfix XFORWARD_README).
const XFORWARD_ATTRIBUTES: [&str; 7] = ["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"];

/// Named limits of the inbound server.
#[derive(Debug, Clone)]
pub struct InboundLimits {
    /// Largest message accepted, in bytes (`SIZE`); larger ones get 552.
    pub max_message_size: usize,
    /// Most recipients per message; more get 452.
    pub max_recipients: usize,
    /// Longest command line, in bytes, CRLF included.
    pub max_line_length: usize,
    /// Time allowed between commands.
    pub command_timeout: Duration,
    /// Time allowed between two reads of message content.
    pub data_timeout: Duration,
    /// Time allowed for all of a message's content, from the 354 to the final dot: a client
    /// that trickles bytes just often enough to beat `data_timeout` is cut off here.
    pub data_deadline: Duration,
    /// Most concurrent sessions; more get 421.
    pub max_sessions: usize,
    /// Protocol errors tolerated per session before it is closed.
    pub max_errors: usize,
    /// How long a connection over `max_sessions` waits for a session to end before it gets
    /// 421 (a client that just said QUIT may still hold its slot for a moment). At most
    /// `max_sessions` connections wait at once; more get 421 at once.
    pub session_wait: Duration,
    /// Most bytes of message content held in memory by all sessions together; content
    /// beyond it is spilled to a file in `InboundConfig::spool_dir`.
    pub max_memory: usize,
    /// How long a spilled message waits for room in `max_memory` before it is read back
    /// for the handler; past it the message gets 451.
    pub memory_wait: Duration,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits {
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 1000,
            max_line_length: 2048,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(300),
            data_deadline: Duration::from_secs(600),
            max_sessions: 100,
            max_errors: 20,
            session_wait: Duration::from_secs(2),
            max_memory: 512 * 1024 * 1024,
            memory_wait: Duration::from_secs(60),
        }
    }
}

/// Settings of the inbound server.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// The name in the greeting and EHLO reply.
    pub hostname: String,
    /// Limits.
    pub limits: InboundLimits,
    /// Networks allowed to connect; others get 554 and are disconnected.
    pub allowed_clients: Vec<IpNet>,
    /// Networks allowed to send XFORWARD.
    pub xforward_clients: Vec<IpNet>,
    /// How long sessions may go on finishing their message after shutdown begins.
    pub drain_timeout: Duration,
    /// Directory for message content spilled beyond `limits.max_memory`: must exist and be
    /// private to the daemon (files in it are created 0600).
    pub spool_dir: PathBuf,
}

impl InboundConfig {
    /// Defaults: loopback only, default limits, 30 s drain.
    pub fn new(hostname: impl Into<String>) -> Self {
        let loopback: Vec<IpNet> = vec![
            "127.0.0.0/8".parse().expect("valid net"),
            "::1/128".parse().expect("valid net"),
        ];
        InboundConfig {
            hostname: hostname.into(),
            limits: InboundLimits::default(),
            allowed_clients: loopback.clone(),
            xforward_clients: loopback,
            drain_timeout: Duration::from_secs(30),
            spool_dir: std::env::temp_dir(),
        }
    }
}

/// What the server hands over when a message has been received: the seam to the pipeline.
pub trait MessageHandler: Send + Sync + 'static {
    /// Processes one message and returns the reply to the end of data. The handler owns the
    /// relay transaction: it delivers with [`Transaction::data`] or drops the message
    /// downstream with [`Transaction::abort`].
    fn handle(
        &self,
        envelope: Envelope,
        data: Vec<u8>,
        txn: Transaction,
    ) -> impl Future<Output = Reply> + Send;
}

struct Shared<H> {
    config: InboundConfig,
    spool: Spool,
    relay: Arc<Relay>,
    handler: H,
}

/// The inbound server: SMTP sessions on a [`quarantd_runtime::Listener`].
pub struct Server<H> {
    shared: Arc<Shared<H>>,
    listener: Listener,
}

impl<H: MessageHandler> Server<H> {
    /// A server that relays through `relay` and hands messages to `handler`.
    pub fn new(config: InboundConfig, relay: Arc<Relay>, handler: H) -> Self {
        let listener = Listener::new(ListenerConfig {
            name: "smtp",
            max_sessions: config.limits.max_sessions,
            session_wait: config.limits.session_wait,
            allowed_clients: config.allowed_clients.clone(),
            drain_timeout: config.drain_timeout,
        });
        let spool = Spool {
            budget: MemoryBudget::new(config.limits.max_memory),
            dir: config.spool_dir.clone(),
            wait: config.limits.memory_wait,
        };
        Server {
            shared: Arc::new(Shared {
                spool,
                config,
                relay,
                handler,
            }),
            listener,
        }
    }

    /// Accepts sessions until `shutdown` is triggered, then drains: sessions finish the
    /// message in hand until the drain deadline, after which the rest get 421.
    pub async fn run(self, listener: TcpListener, shutdown: ShutdownSignal) {
        match listener.local_addr() {
            Ok(address) => tracing::info!(%address, "Accepting SMTP sessions."),
            Err(err) => tracing::info!(error = %err, "Accepting SMTP sessions."),
        }
        self.listener.serve(listener, shutdown, self.shared).await;
    }
}

impl<H: MessageHandler> Service<TcpStream> for Shared<H> {
    async fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr, phase: PhaseWatch) {
        Session::new(self, stream, peer, phase).run().await;
    }

    /// Answers a connection we will not serve and closes it.
    async fn refuse(&self, mut stream: TcpStream, why: Refusal) {
        let reply = match why {
            Refusal::NotAllowed => Reply::new(554, "5.7.1 Access denied"),
            Refusal::Busy => Reply::new(421, "4.7.0 Too many concurrent sessions, try again later"),
        };
        let _ = stream.write_all(&reply.to_wire()).await;
        let _ = stream.shutdown().await;
    }
}

/// What the session does after a command.
enum Flow {
    Continue,
    Close,
}

/// The open transaction of a session.
struct Mail {
    id: String,
    address: String,
    params: MailParams,
    txn: Option<Transaction>,
    started: SystemTime,
}

struct Session<H> {
    shared: Arc<Shared<H>>,
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    phase: PhaseWatch,
    peer: SocketAddr,
    helo: Option<String>,
    xforward: XForward,
    mail: Option<Mail>,
    rcpts: Vec<Recipient>,
    errors: usize,
}

impl<H: MessageHandler> Session<H> {
    fn new(shared: Arc<Shared<H>>, stream: TcpStream, peer: SocketAddr, phase: PhaseWatch) -> Self {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        Session {
            shared,
            reader: BufReader::with_capacity(16 * 1024, read),
            writer: BufWriter::with_capacity(4 * 1024, write),
            phase,
            peer,
            helo: None,
            xforward: XForward::default(),
            mail: None,
            rcpts: Vec::new(),
            errors: 0,
        }
    }

    async fn run(mut self) {
        let greeting = Reply::new(
            220,
            format!("{} ESMTP quarantd", self.shared.config.hostname),
        );
        if self.send(&greeting).await.is_err() {
            return;
        }
        loop {
            if self.flush_if_idle().await.is_err() {
                break;
            }
            match self.next_command().await {
                Ok(Some(line)) => match self.command(&line).await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Close) | Err(_) => break,
                },
                Ok(None) | Err(_) => break,
            }
        }
        let _ = self.writer.flush().await;
        if let Some(mail) = self.mail.take() {
            tracing::info!(id = %mail.id, peer = %self.peer, "Session ended in the middle of a transaction; nothing was delivered.");
        }
    }

    /// Flushes pending replies unless more pipelined commands are already waiting.
    async fn flush_if_idle(&mut self) -> std::io::Result<()> {
        if self.reader.buffer().is_empty() {
            self.writer.flush().await?;
        }
        Ok(())
    }

    async fn send(&mut self, reply: &Reply) -> std::io::Result<()> {
        self.writer.write_all(&reply.to_wire()).await
    }

    async fn send_now(&mut self, reply: &Reply) -> std::io::Result<()> {
        self.send(reply).await?;
        self.writer.flush().await
    }

    /// The next command line; `None` when the session must end (EOF, timeout, shutdown), in
    /// which case the client has already been told why where that is possible.
    async fn next_command(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let limit = self.shared.config.limits.command_timeout;
        let max = self.shared.config.limits.max_line_length;
        let in_txn = self.mail.is_some();
        let stop_at = if in_txn {
            Phase::Abort
        } else {
            Phase::Draining
        };
        let line = tokio::select! {
            line = timeout(limit, read_line(&mut self.reader, max)) => line,
            () = self.phase.reached(stop_at) => {
                self.send_now(&Reply::new(421, format!("4.3.2 {} Service shutting down, closing connection", self.shared.config.hostname))).await?;
                return Ok(None);
            }
        };
        match line {
            Err(_) => {
                tracing::info!(peer = %self.peer, "Client idle too long; closing the session.");
                self.send_now(&Reply::new(421, "4.4.2 Idle timeout, closing connection"))
                    .await?;
                Ok(None)
            }
            Ok(Err(err)) => Err(err),
            Ok(Ok(Line::Eof)) => Ok(None),
            Ok(Ok(Line::TooLong)) => {
                match self.error(Reply::new(500, "5.5.0 Line too long")).await? {
                    Flow::Continue => Ok(Some(Vec::new())),
                    Flow::Close => Ok(None),
                }
            }
            Ok(Ok(Line::Complete(line))) => Ok(Some(line)),
        }
    }

    /// Counts a protocol error and answers it.
    async fn error(&mut self, reply: Reply) -> std::io::Result<Flow> {
        self.errors += 1;
        if self.errors > self.shared.config.limits.max_errors {
            self.send_now(&Reply::new(
                421,
                "4.7.0 Too many errors, closing connection",
            ))
            .await?;
            return Ok(Flow::Close);
        }
        self.send(&reply).await?;
        Ok(Flow::Continue)
    }

    async fn command(&mut self, line: &[u8]) -> std::io::Result<Flow> {
        if line.is_empty() {
            return Ok(Flow::Continue); // an over-long line, already answered
        }
        if is_xforward(line) {
            return self.xforward(line).await;
        }
        let request = match parse_request(line) {
            Ok(request) => request,
            Err(reply) => return self.error(reply).await,
        };
        match request {
            Request::Ehlo { host } => self.hello(host, true).await,
            Request::Helo { host } => self.hello(host, false).await,
            Request::Mail { from } => self.mail_from(from).await,
            Request::Rcpt { to } => self.rcpt_to(to).await,
            Request::Data => self.data().await,
            Request::Rset => {
                self.reset().await;
                self.reply(250, "2.0.0 Ok").await
            }
            Request::Noop { .. } => self.reply(250, "2.0.0 Ok").await,
            Request::Quit => {
                self.send_now(&Reply::new(221, "2.0.0 Bye")).await?;
                Ok(Flow::Close)
            }
            Request::Vrfy { .. } => self.reply(252, "2.5.2 Cannot VRFY user").await,
            Request::Help { .. } => {
                self.reply(214, "2.0.0 quarantd content filter, see RFC 5321")
                    .await
            }
            other => {
                self.error(Reply::new(
                    502,
                    format!("5.5.1 {} not implemented", other.name()),
                ))
                .await
            }
        }
    }

    async fn reply(&mut self, code: u16, text: &str) -> std::io::Result<Flow> {
        self.send(&Reply::new(code, text)).await?;
        Ok(Flow::Continue)
    }

    async fn hello(&mut self, host: String, extended: bool) -> std::io::Result<Flow> {
        self.reset().await;
        self.xforward = XForward::default();
        self.helo = Some(host);
        let name = self.shared.config.hostname.clone();
        if !extended {
            return self.reply(250, &name).await;
        }
        let mut lines = vec![
            name,
            "PIPELINING".to_string(),
            format!("SIZE {}", self.shared.config.limits.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "DSN".to_string(),
        ];
        if self.xforward_allowed() {
            lines.push(format!("XFORWARD {}", XFORWARD_ATTRIBUTES.join(" ")));
        }
        self.send(&Reply { code: 250, lines }).await?;
        Ok(Flow::Continue)
    }

    fn xforward_allowed(&self) -> bool {
        in_networks(&self.shared.config.xforward_clients, self.peer.ip())
    }

    async fn xforward(&mut self, line: &[u8]) -> std::io::Result<Flow> {
        if !self.xforward_allowed() {
            return self
                .error(Reply::new(550, "5.7.0 XFORWARD not authorized"))
                .await;
        }
        if self.mail.is_some() {
            return self
                .error(Reply::new(
                    503,
                    "5.5.1 XFORWARD not allowed inside a transaction",
                ))
                .await;
        }
        match parse_xforward(line) {
            Ok(attrs) => {
                for (name, value) in attrs {
                    self.xforward.set(&name, &value);
                }
                self.reply(250, "2.0.0 Ok").await
            }
            Err(reply) => self.error(reply).await,
        }
    }

    async fn mail_from(&mut self, from: smtp_proto::MailFrom<String>) -> std::io::Result<Flow> {
        if self.helo.is_none() {
            return self
                .error(Reply::new(503, "5.5.1 Send EHLO or HELO first"))
                .await;
        }
        if self.mail.is_some() {
            return self
                .error(Reply::new(503, "5.5.1 Nested MAIL command"))
                .await;
        }
        if self.phase.current() != Phase::Running {
            self.send_now(&Reply::new(
                421,
                "4.3.2 Service shutting down, closing connection",
            ))
            .await?;
            return Ok(Flow::Close);
        }
        let max = self.shared.config.limits.max_message_size;
        if from.size > max {
            return self
                .reply(552, "5.3.4 Message size exceeds fixed maximum message size")
                .await;
        }
        let params = mail_params(&from);
        let id = quarantd_core::id::new_id();
        let mail = MailFrom {
            address: &from.address,
            params: &params,
            xforward: &self.xforward,
        };
        match self.shared.relay.begin(mail).await {
            Ok(txn) => {
                self.mail = Some(Mail {
                    id,
                    address: from.address,
                    params,
                    txn: Some(txn),
                    started: SystemTime::now(),
                });
                self.reply(250, "2.1.0 Ok").await
            }
            Err(err) => {
                tracing::warn!(%id, sender = %from.address, error = %err, "Relay refused or failed at MAIL FROM.");
                self.send(&relay_failure_reply(&err)).await?;
                Ok(Flow::Continue)
            }
        }
    }

    async fn rcpt_to(&mut self, to: smtp_proto::RcptTo<String>) -> std::io::Result<Flow> {
        let Some(mail) = self.mail.as_mut() else {
            return self
                .error(Reply::new(503, "5.5.1 Need MAIL before RCPT"))
                .await;
        };
        if self.rcpts.len() >= self.shared.config.limits.max_recipients {
            return self.reply(452, "4.5.3 Too many recipients").await;
        }
        let Some(txn) = mail.txn.as_mut() else {
            return self
                .reply(451, "4.4.1 Relay connection lost, try again later")
                .await;
        };
        let rcpt = recipient(&to);
        let reply = match txn.rcpt(&rcpt).await {
            Ok(reply) => reply,
            Err(err) => {
                tracing::warn!(id = %mail.id, rcpt = %rcpt.address, error = %err, "Relay failed at RCPT TO.");
                mail.txn = None;
                relay_failure_reply(&err)
            }
        };
        if reply.is_positive() {
            self.rcpts.push(rcpt);
        }
        self.send(&reply).await?;
        Ok(Flow::Continue)
    }

    async fn data(&mut self) -> std::io::Result<Flow> {
        if self.mail.is_none() {
            return self.error(Reply::new(503, "5.5.1 Need MAIL command")).await;
        }
        if self.rcpts.is_empty() {
            return self
                .error(Reply::new(554, "5.5.1 No valid recipients"))
                .await;
        }
        if self.mail.as_ref().is_some_and(|m| m.txn.is_none()) {
            self.reset().await;
            return self
                .reply(451, "4.4.1 Relay connection lost, try again later")
                .await;
        }
        self.send_now(&Reply::new(354, "End data with <CR><LF>.<CR><LF>"))
            .await?;
        let incoming = match self.receive_data().await? {
            Received::Complete(incoming) => incoming,
            Received::TooBig(size) => {
                let id = self.mail.as_ref().map(|m| m.id.clone()).unwrap_or_default();
                tracing::info!(%id, size, limit = self.shared.config.limits.max_message_size, "Refused a message over the size limit.");
                self.reset().await;
                return self
                    .reply(552, "5.3.4 Message size exceeds fixed maximum message size")
                    .await;
            }
            Received::Closed(reply) => {
                if let Some(reply) = reply {
                    self.send_now(&reply).await?;
                }
                return Ok(Flow::Close);
            }
            Received::Failed(err) => return self.spool_failed(&err).await,
        };
        let (data, charge) = match incoming.finish().await {
            Ok(Some(loaded)) => loaded,
            Ok(None) => {
                self.reset().await;
                return self
                    .reply(451, "4.3.1 Too much mail in memory, try again later")
                    .await;
            }
            Err(err) => return self.spool_failed(&err).await,
        };
        let Some(mut mail) = self.mail.take() else {
            return Ok(Flow::Close);
        };
        let Some(txn) = mail.txn.take() else {
            return Ok(Flow::Close);
        };
        let envelope = Envelope {
            id: mail.id,
            peer: self.peer,
            helo: self.helo.clone().unwrap_or_default(),
            mail_from: mail.address,
            mail_params: mail.params,
            recipients: std::mem::take(&mut self.rcpts),
            xforward: std::mem::take(&mut self.xforward),
            received_at: mail.started,
        };
        let reply = self.shared.handler.handle(envelope, data, txn).await;
        drop(charge);
        self.send(&reply).await?;
        Ok(Flow::Continue)
    }

    /// A spill file could not be written or read: the message is not taken (451).
    async fn spool_failed(&mut self, err: &std::io::Error) -> std::io::Result<Flow> {
        let id = self.mail.as_ref().map(|m| m.id.clone()).unwrap_or_default();
        tracing::error!(%id, dir = %self.shared.config.spool_dir.display(), error = %err, "Cannot spill message content to disk; deferring the message.");
        self.reset().await;
        self.reply(451, "4.3.0 Cannot store message content, try again later")
            .await
    }

    /// Reads message content up to the end-of-data dot, undoing dot-stuffing, within the size
    /// limit (past it the rest is read and thrown away), the data timeout and deadline, in
    /// memory within the budget or spilled to a file beyond it.
    async fn receive_data(&mut self) -> std::io::Result<Received> {
        let (id, declared) = self
            .mail
            .as_ref()
            .map_or((String::new(), None), |m| (m.id.clone(), m.params.size));
        let limits = &self.shared.config.limits;
        let (max, limit) = (limits.max_message_size, limits.data_timeout);
        let deadline_secs = limits.data_deadline.as_secs();
        let deadline = tokio::time::sleep(limits.data_deadline);
        tokio::pin!(deadline);
        let mut receiver = DataReceiver::new();
        let mut discard: Option<DummyDataReceiver> = None;
        let spool = self.shared.spool.clone();
        let mut incoming = Some(Incoming::new(spool, &id, declared, max));
        let mut failed: Option<std::io::Error> = None;
        let mut seen = 0usize;
        let phase = self.phase.clone();
        loop {
            let chunk = tokio::select! {
                chunk = timeout(limit, self.reader.fill_buf()) => chunk,
                () = &mut deadline => {
                    tracing::info!(peer = %self.peer, data_deadline_secs = deadline_secs, "Client took longer than server.data_deadline_secs to send the message content; closing.");
                    return Ok(Received::Closed(Some(Reply::new(
                        421,
                        "4.4.2 Message content took too long, closing connection",
                    ))));
                }
                () = phase.reached(Phase::Abort) => {
                    return Ok(Received::Closed(Some(Reply::new(421, "4.3.2 Service shutting down, message not accepted"))));
                }
            };
            let buf = match chunk {
                Err(_) => {
                    tracing::info!(peer = %self.peer, "Client stalled while sending message content; closing.");
                    return Ok(Received::Closed(Some(Reply::new(
                        421,
                        "4.4.2 Timeout while receiving message, closing connection",
                    ))));
                }
                Ok(result) => result?,
            };
            if buf.is_empty() {
                return Ok(Received::Closed(None));
            }
            if let (Some(body), None) = (incoming.as_mut(), &discard) {
                if let Err(err) = body.make_room(buf.len()).await {
                    failed = Some(err);
                    discard = Some(DummyDataReceiver::new_data(&receiver));
                    incoming = None;
                }
            }
            let mut iter = buf.iter();
            let done = match (discard.as_mut(), incoming.as_mut()) {
                (None, Some(body)) => receiver.ingest(&mut iter, body.buffer()),
                (Some(dummy), _) => dummy.ingest(&mut iter),
                (None, None) => true, // not reached: without a body there is a discarder
            };
            let used = buf.len() - iter.as_slice().len();
            self.reader.consume(used);
            seen += used;
            if discard.is_none() && incoming.as_ref().is_some_and(|b| b.len() > max) {
                discard = Some(DummyDataReceiver::new_data(&receiver));
                incoming = None;
            }
            if done {
                return Ok(match (failed, incoming) {
                    (Some(err), _) => Received::Failed(err),
                    (None, Some(body)) => Received::Complete(body),
                    (None, None) => Received::TooBig(seen),
                });
            }
        }
    }

    async fn reset(&mut self) {
        if let Some(mail) = self.mail.take() {
            if let Some(txn) = mail.txn {
                txn.abort().await;
            }
        }
        self.rcpts.clear();
    }
}

enum Received {
    Complete(Incoming),
    TooBig(usize),
    Closed(Option<Reply>),
    /// The spill file failed; the rest of the content was read and thrown away.
    Failed(std::io::Error),
}

pub(crate) fn is_xforward(line: &[u8]) -> bool {
    line.len() >= 9 && line[..8].eq_ignore_ascii_case(b"XFORWARD") && line[8] == b' '
}

/// Parses `XFORWARD NAME=value ...`; values stay xtext-encoded as Postfix sent them.
pub(crate) fn parse_xforward(line: &[u8]) -> Result<Vec<(String, String)>, Reply> {
    let text = std::str::from_utf8(crate::reply::trim_crlf(&line[9..]))
        .map_err(|_| Reply::new(501, "5.5.4 XFORWARD attributes must be ASCII"))?;
    let mut attrs = Vec::new();
    for word in text.split_ascii_whitespace() {
        let Some((name, value)) = word.split_once('=') else {
            return Err(Reply::new(501, "5.5.4 Syntax: XFORWARD attribute=value..."));
        };
        let name = name.to_ascii_uppercase();
        if !XFORWARD_ATTRIBUTES.contains(&name.as_str()) {
            return Err(Reply::new(
                501,
                format!("5.5.4 Bad XFORWARD attribute name: {name}"),
            ));
        }
        attrs.push((name, value.to_string()));
    }
    if attrs.is_empty() {
        return Err(Reply::new(501, "5.5.4 Syntax: XFORWARD attribute=value..."));
    }
    Ok(attrs)
}

/// Parses one command line (not XFORWARD) with `smtp-proto`, refusing what could not go
/// downstream as it came: DSN parameters that are not xtext, addresses that are not text.
/// The session and the fuzz targets (`fuzzing::command`) both read lines through here.
pub(crate) fn parse_request(line: &[u8]) -> Result<Request<String>, Reply> {
    dsn_params_are_xtext(line)?;
    let request = Request::parse(&mut line.iter())
        .map_err(parse_error_reply)?
        .into_owned();
    match &request {
        Request::Mail { from } if !is_sendable(&from.address) => {
            Err(parse_error_reply(ParseError::InvalidSenderAddress))
        }
        Request::Rcpt { to } if !is_sendable(&to.address) => {
            Err(parse_error_reply(ParseError::InvalidRecipientAddress))
        }
        _ => Ok(request),
    }
}

/// The DSN parameters of a command line (`ENVID=`, `ORCPT=`) must be xtext, printable ASCII:
/// `smtp-proto` decodes each `+XX` to the character U+00XX and raw bytes as UTF-8, so a raw
/// 8-bit or control byte could not go downstream as the byte it came in as (and grows to
/// three when encoded, past ENVID's 100 characters). Every place the parameter name appears
/// counts, not only after a space: `smtp-proto` takes `<addr>ORCPT=...` too. The line is
/// bounded by `max_line_length`.
fn dsn_params_are_xtext(line: &[u8]) -> Result<(), Reply> {
    for name in ["ENVID=", "ORCPT="] {
        let n = name.len();
        for at in (0..line.len().saturating_sub(n - 1))
            .filter(|&at| line[at..at + n].eq_ignore_ascii_case(name.as_bytes()))
        {
            let value = &line[at + n..];
            let end = value
                .iter()
                .position(|&b| matches!(b, b' ' | b'\n'))
                .unwrap_or(value.len());
            let value = value[..end].strip_suffix(b"\r").unwrap_or(&value[..end]);
            if !is_xtext(value) {
                return Err(Reply::new(
                    501,
                    format!(
                        "5.5.4 {} must be xtext (ASCII, other bytes as +XX)",
                        &name[..n - 1]
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A MAIL or RCPT address (as `smtp-proto` decoded it, quoted local parts unescaped) may be
/// UTF-8 (SMTPUTF8) but holds no control characters and no bytes that were not UTF-8 (seen
/// as U+FFFD): such an address could not go downstream as it came.
fn is_text(address: &str) -> bool {
    !address
        .chars()
        .any(|c| c.is_control() || c == char::REPLACEMENT_CHARACTER)
}

/// An address that can go downstream as it came: text ([`is_text`]) whose domain, when it has
/// one, is a domain name (letters, digits, `-`, `_`, `.`, UTF-8 for SMTPUTF8) or an address
/// literal (`[192.0.2.1]`, `[IPv6:…]`). `smtp-proto` reads a `"` after the `@` as a quoted
/// string, so a "domain" could otherwise hold `>` or spaces and end the path early on the
/// way out.
fn is_sendable(address: &str) -> bool {
    if !is_text(address) {
        return false;
    }
    let Some((_, domain)) = address.rsplit_once('@') else {
        return true;
    };
    match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        Some(literal) => literal
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'[' | b']' | b'\\')),
        None => domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || !c.is_ascii()),
    }
}

/// RFC 3461 xtext: printable ASCII except `+` and `=`, which only stand as `+XX` (two hex
/// digits) — as does every other byte. A `+` without its two digits would make `smtp-proto`
/// read on past the end of the parameter.
fn is_xtext(value: &[u8]) -> bool {
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'+' => {
                let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
                if !(hex(bytes.next()) && hex(bytes.next())) {
                    return false;
                }
            }
            b'=' => return false,
            b'!'..=b'~' => {}
            _ => return false,
        }
    }
    true
}

pub(crate) fn mail_params(from: &smtp_proto::MailFrom<String>) -> MailParams {
    let flags = from.flags;
    MailParams {
        body: if flags & smtp_proto::MAIL_BODY_8BITMIME != 0 {
            Some(BodyType::EightBitMime)
        } else if flags & smtp_proto::MAIL_BODY_7BIT != 0 {
            Some(BodyType::SevenBit)
        } else {
            None
        },
        smtputf8: flags & smtp_proto::MAIL_SMTPUTF8 != 0,
        size: (from.size > 0).then_some(from.size as u64),
        ret: if flags & smtp_proto::MAIL_RET_FULL != 0 {
            Some(Ret::Full)
        } else if flags & smtp_proto::MAIL_RET_HDRS != 0 {
            Some(Ret::Hdrs)
        } else {
            None
        },
        envid: from.env_id.clone(),
    }
}

pub(crate) fn recipient(to: &smtp_proto::RcptTo<String>) -> Recipient {
    let f = to.flags;
    let any = smtp_proto::RCPT_NOTIFY_NEVER
        | smtp_proto::RCPT_NOTIFY_SUCCESS
        | smtp_proto::RCPT_NOTIFY_FAILURE
        | smtp_proto::RCPT_NOTIFY_DELAY;
    Recipient {
        address: to.address.clone(),
        notify: (f & any != 0).then_some(Notify {
            never: f & smtp_proto::RCPT_NOTIFY_NEVER != 0,
            success: f & smtp_proto::RCPT_NOTIFY_SUCCESS != 0,
            failure: f & smtp_proto::RCPT_NOTIFY_FAILURE != 0,
            delay: f & smtp_proto::RCPT_NOTIFY_DELAY != 0,
        }),
        orcpt: to.orcpt.clone(),
    }
}

/// The upstream answer when the relay failed or refused: its own reply when it gave one,
/// 451 when it could not be reached or broke.
pub fn relay_failure_reply(err: &RelayError) -> Reply {
    match err {
        RelayError::Rejected { reply, .. } => reply.clone(),
        RelayError::Busy { .. } => {
            Reply::new(451, "4.4.5 All relay connections busy, try again later")
        }
        _ => Reply::new(451, "4.4.1 Relay unavailable, try again later"),
    }
}

fn parse_error_reply(err: ParseError) -> Reply {
    match err {
        ParseError::UnknownCommand => Reply::new(502, "5.5.2 Command not recognized"),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7 Invalid sender address"),
        ParseError::InvalidRecipientAddress => Reply::new(501, "5.1.3 Invalid recipient address"),
        ParseError::SyntaxError { syntax } => Reply::new(501, format!("5.5.4 Syntax: {syntax}")),
        ParseError::InvalidParameter { param } => {
            Reply::new(501, format!("5.5.4 Invalid parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => {
            Reply::new(555, format!("5.5.4 Unsupported parameter {param}"))
        }
        ParseError::ResponseTooLong => Reply::new(500, "5.5.0 Line too long"),
        ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => {
            Reply::new(500, "5.5.2 Syntax error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xforward_lines_parse_and_validate() {
        assert!(is_xforward(b"xforward NAME=a\r\n"));
        assert!(!is_xforward(b"XFORWARDX\r\n"));
        assert_eq!(
            parse_xforward(b"XFORWARD NAME=mx.example.org ADDR=192.0.2.1 ident=ABC123\r\n")
                .unwrap(),
            vec![
                ("NAME".into(), "mx.example.org".into()),
                ("ADDR".into(), "192.0.2.1".into()),
                ("IDENT".into(), "ABC123".into())
            ]
        );
        assert_eq!(
            parse_xforward(b"XFORWARD EVIL=1\r\n").unwrap_err().code,
            501
        );
        assert_eq!(parse_xforward(b"XFORWARD NAME\r\n").unwrap_err().code, 501);
    }

    /// Found by fuzzing: `smtp-proto` reads a `"` in the domain as the start of a quoted
    /// string, so `<postma@te">CRte">` became the address `postma@te>te`, which would go
    /// downstream as a line the relay cannot parse. A domain is a domain name or an address
    /// literal; anything else is refused here.
    #[test]
    fn addresses_whose_domain_is_no_domain_are_refused() {
        let refused: [&[u8]; 3] = [
            b"RCPT TO:<postma@te\">\rte\">\r\n",
            b"RCPT TO:<a@exa mple.org>\r\n",
            b"RCPT TO:<a@[1.2.3.4\\]>\r\n",
        ];
        for line in refused {
            let reply = parse_request(line).unwrap_err();
            assert_eq!(
                reply.code,
                501,
                "{:?}: {reply}",
                String::from_utf8_lossy(line)
            );
        }
        // (`smtp-proto` itself refuses address literals in a path.)
        let kept: [&[u8]; 3] = [
            b"RCPT TO:<\"a>b\"@example.org>\r\n",
            b"RCPT TO:<postmaster>\r\n",
            b"MAIL FROM:<j\xc3\xb8ran@bl\xc3\xb8b\xc3\xa6r.example> SMTPUTF8\r\n",
        ];
        assert!(is_sendable("b@[192.0.2.1]") && is_sendable("b@[IPv6:2001:db8::1]"));
        assert!(!is_sendable("b@[1.2\\]") && !is_sendable("a@te>te"));
        for line in kept {
            let got = parse_request(line);
            assert!(got.is_ok(), "{:?}: {got:?}", String::from_utf8_lossy(line));
        }
    }
}

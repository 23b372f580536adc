//! The recording SMTP sink server.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// Host name the sink uses in its greeting and EHLO reply.
const HOSTNAME: &str = "testsink";
/// Value advertised with the `SIZE` extension (not enforced).
const ADVERTISED_SIZE: u64 = 104_857_600;
/// XFORWARD attribute names the sink accepts (and advertises).
const XFORWARD_ATTRS: [&str; 7] = ["NAME", "ADDR", "PROTO", "HELO", "IDENT", "SOURCE", "PORT"];
/// Reply used for random temporary failures at RCPT and after the dot.
const RANDOM_TEMPFAIL: &str = "451 4.3.0 random test failure";

/// Behaviour of a [`Sink`], including fault injection.
///
/// Can be changed while the sink runs with [`Sink::update_config`]; changes
/// apply to the next command processed on any connection.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Advertise `XFORWARD NAME ADDR PROTO HELO IDENT SOURCE PORT` in the EHLO
    /// reply and accept the XFORWARD command (default `true`). When `false`,
    /// XFORWARD is answered with 502.
    pub advertise_xforward: bool,
    /// Advertise `DSN` in the EHLO reply (default `true`). `PIPELINING`,
    /// `SIZE`, `8BITMIME`, `SMTPUTF8` and `ENHANCEDSTATUSCODES` are always
    /// advertised.
    pub advertise_dsn: bool,
    /// Reply rules for RCPT TO: `(address substring, full reply line)`, e.g.
    /// `("nosuch", "550 5.1.1 no such user")`. The first rule whose substring
    /// occurs in the recipient address wins; without a match the reply is
    /// `250 2.1.5 Ok` (or a random temporary failure, see
    /// [`random_tempfail_rcpt`](Self::random_tempfail_rcpt)). A reply may be
    /// multi-line when written with `\r\n` separators in `NNN-text` form.
    pub rcpt_replies: Vec<(String, String)>,
    /// Reply to MAIL FROM instead of `250 2.1.0 Ok`. A non-2xx reply ends the
    /// transaction (recorded with [`Outcome::MailRejected`]).
    pub mail_reply: Option<String>,
    /// Reply after the end-of-data dot instead of `250 2.0.0 Ok: queued as <id>`.
    pub data_reply: Option<String>,
    /// Reply rules after the dot, per transaction: `(address substring, full reply line)`.
    /// The first rule whose substring occurs in any accepted recipient of the transaction
    /// wins over [`data_reply`](Self::data_reply) and the random failures, e.g.
    /// `("refuse-data", "554 5.7.1 not wanted")` refuses every transaction that carries such
    /// a recipient and no other.
    pub data_replies: Vec<(String, String)>,
    /// Probability in `[0, 1]` of answering `451 4.3.0 random test failure`
    /// after the dot. Drawn from a deterministic PRNG seeded by
    /// [`seed`](Self::seed), one draw per completed DATA (only when > 0).
    pub random_tempfail_data: f64,
    /// Probability in `[0, 1]` of answering `451 4.3.0 random test failure`
    /// to a RCPT TO that no [`rcpt_replies`](Self::rcpt_replies) rule
    /// matched. Uses its own PRNG stream, so it does not disturb the DATA
    /// draws.
    pub random_tempfail_rcpt: f64,
    /// Seed for the random failure PRNGs. With a single connection sending
    /// the same commands, the same seed gives the same failures.
    pub seed: u64,
    /// Accept DATA but never answer after the dot (for timeout tests). The
    /// transaction is recorded with [`Outcome::Unanswered`] as soon as the dot
    /// arrives; the connection then ignores all input until the client
    /// closes it.
    pub never_answer_data: bool,
    /// Wait this long after the end-of-data dot before answering (a slow relay); the
    /// transaction stays in its data phase meanwhile (see [`Sink::peak_data_phases`]).
    pub data_delay: Option<Duration>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            advertise_xforward: true,
            advertise_dsn: true,
            rcpt_replies: Vec::new(),
            mail_reply: None,
            data_reply: None,
            data_replies: Vec::new(),
            random_tempfail_data: 0.0,
            random_tempfail_rcpt: 0.0,
            seed: 0,
            never_answer_data: false,
            data_delay: None,
        }
    }
}

/// The envelope and content of one transaction.
///
/// [`Sink::messages`] returns these for the messages it accepted; each
/// [`Transaction`] carries one too (possibly partial).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// 1-based index of the TCP connection the transaction arrived on (in
    /// accept order), to check connection reuse.
    pub connection: usize,
    /// Argument of the last EHLO/HELO on the connection ("" if none).
    pub helo: String,
    /// The raw MAIL FROM command line as received, without CRLF, e.g.
    /// `MAIL FROM:<a@b> BODY=8BITMIME RET=HDRS ENVID=x SMTPUTF8`.
    pub mail_from_line: String,
    /// The reverse path between `<` and `>` ("" for the null sender).
    pub mail_from: String,
    /// Raw RCPT TO lines (without CRLF, with NOTIFY=/ORCPT= parameters) of the
    /// *accepted* recipients; `rcpt_lines[i]` belongs to `rcpts[i]`. Every
    /// attempt, accepted or not, is in [`Transaction::rcpt_results`].
    pub rcpt_lines: Vec<String>,
    /// Addresses (between `<` and `>`) of the accepted recipients.
    pub rcpts: Vec<String>,
    /// Every attribute of the XFORWARD commands sent for this transaction, in
    /// order: (name uppercased, value exactly as sent).
    pub xforward: Vec<(String, String)>,
    /// Message bytes after dot-unstuffing, exactly as the client meant them,
    /// ending with the CRLF before the final `.` line. Empty if DATA was never
    /// reached.
    pub data: Vec<u8>,
    /// Queue id the sink assigned when the dot arrived (used in the default
    /// DATA reply); "" if the dot never arrived.
    pub queue_id: String,
}

/// How a recorded transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The reply after the dot was 2xx; the message is in [`Sink::messages`].
    Accepted,
    /// The reply after the dot was 4xx/5xx (configured or random failure).
    DataRejected,
    /// The dot arrived but the sink never answered
    /// ([`SinkConfig::never_answer_data`]).
    Unanswered,
    /// MAIL FROM got a non-2xx reply.
    MailRejected,
    /// The transaction ended before the dot: RSET, EHLO/HELO, QUIT, or the
    /// connection closed (also mid-DATA; then `data` holds what arrived).
    Aborted,
}

/// One transaction (MAIL FROM up to its end) as seen by the sink, with the
/// replies it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Envelope and content (see [`Received`]).
    pub message: Received,
    /// Reply given to MAIL FROM.
    pub mail_reply: String,
    /// Every RCPT TO attempt: (raw command line, reply given), in order.
    pub rcpt_results: Vec<(String, String)>,
    /// Reply given after the dot; `None` if the dot never arrived or was
    /// never answered.
    pub data_reply: Option<String>,
    /// How the transaction ended.
    pub outcome: Outcome,
}

/// A running SMTP sink on `127.0.0.1`, recording everything it receives.
///
/// Dropping it (or calling [`stop`](Self::stop)) aborts the server task and
/// every open connection.
#[derive(Debug)]
pub struct Sink {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    notify: Notify,
    connections: AtomicUsize,
    queue_ids: AtomicU64,
    /// Transactions in their data phase now (DATA answered 354, the reply after the dot
    /// not yet given).
    in_data: AtomicUsize,
    /// The most transactions in their data phase at once so far.
    peak_in_data: AtomicUsize,
    /// Connections open now.
    open: AtomicUsize,
    /// The most connections open at once so far.
    peak_open: AtomicUsize,
}

#[derive(Debug)]
struct State {
    cfg: SinkConfig,
    rng_data: SplitMix64,
    rng_rcpt: SplitMix64,
    messages: Vec<Received>,
    transactions: Vec<Transaction>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, txn: Transaction) {
        {
            let mut st = self.lock();
            if txn.outcome == Outcome::Accepted {
                st.messages.push(txn.message.clone());
            }
            st.transactions.push(txn);
        }
        self.notify.notify_waiters();
    }

    /// A transaction entered its data phase (DATA answered 354).
    fn data_started(&self) {
        let now = self.in_data.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_data.fetch_max(now, Ordering::SeqCst);
    }

    /// Records the end of a transaction in its data phase.
    fn record_data(&self, txn: Transaction) {
        self.in_data.fetch_sub(1, Ordering::SeqCst);
        self.record(txn);
    }
}

impl Sink {
    /// Binds `127.0.0.1:0` (a free port) and starts serving in a spawned
    /// task. Must be called inside a tokio runtime.
    pub async fn start(cfg: SinkConfig) -> io::Result<Sink> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                rng_data: SplitMix64(cfg.seed),
                rng_rcpt: SplitMix64(cfg.seed ^ 0x5bd1_e995_9e37_79b9),
                cfg,
                messages: Vec::new(),
                transactions: Vec::new(),
            }),
            notify: Notify::new(),
            connections: AtomicUsize::new(0),
            queue_ids: AtomicU64::new(0),
            in_data: AtomicUsize::new(0),
            peak_in_data: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            peak_open: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Sink { shared, addr, task })
    }

    /// Address the sink listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message answered 2xx after the dot, in the order of the answers.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.lock().messages.clone()
    }

    /// Every finished transaction, including failed and aborted ones, in the
    /// order they ended. A transaction still in progress is not included.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.shared.lock().transactions.clone()
    }

    /// Number of TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The most transactions that were in their data phase at the same time (from the 354
    /// to DATA until the reply after the dot, or the connection's end), on all connections,
    /// since the sink started: how many messages a client sent at once.
    pub fn peak_data_phases(&self) -> usize {
        self.shared.peak_in_data.load(Ordering::SeqCst)
    }

    /// TCP connections open now, from accept until the sink is done with all the client
    /// sent: 0 once every client has gone and what it sent is recorded.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// The most TCP connections that were open at the same time since the sink started
    /// (from accept to close, on either side): how many connections a client held at once.
    pub fn peak_connections(&self) -> usize {
        self.shared.peak_open.load(Ordering::SeqCst)
    }

    /// Forgets all recorded messages and transactions (the connection count
    /// and PRNG state are kept).
    pub fn clear(&self) {
        let mut st = self.shared.lock();
        st.messages.clear();
        st.transactions.clear();
    }

    /// Changes the configuration of the running sink, e.g. to stop injecting
    /// failures. The PRNGs are not reseeded.
    pub fn update_config(&self, f: impl FnOnce(&mut SinkConfig)) {
        f(&mut self.shared.lock().cfg);
    }

    /// Waits until at least `n` messages were accepted or `timeout` elapsed,
    /// then returns all accepted messages (fewer than `n` on timeout).
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait_until(timeout, |st| st.messages.len() >= n).await;
        self.messages()
    }

    /// Waits until at least `n` transactions finished or `timeout` elapsed,
    /// then returns all finished transactions (fewer than `n` on timeout).
    pub async fn wait_for_transactions(&self, n: usize, timeout: Duration) -> Vec<Transaction> {
        self.wait_until(timeout, |st| st.transactions.len() >= n)
            .await;
        self.transactions()
    }

    async fn wait_until(&self, timeout: Duration, cond: impl Fn(&State) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Register before checking so that no notification is missed.
            notified.as_mut().enable();
            if cond(&self.shared.lock()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Stops the server: aborts the accept loop and all open connections.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Connection tasks live in the JoinSet, so aborting this task (dropping
    // the JoinSet) aborts them too.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                    conns.spawn(serve_connection(stream, Arc::clone(&shared), id));
                }
                Err(_) => {
                    // E.g. EMFILE under heavy load: back off briefly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Deterministic PRNG (SplitMix64).
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (draws only when `p > 0`).
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }
}

/// A transaction in progress on a connection.
struct OpenTxn {
    message: Received,
    mail_reply: String,
    rcpt_results: Vec<(String, String)>,
}

impl OpenTxn {
    fn finish(self, data_reply: Option<String>, outcome: Outcome) -> Transaction {
        Transaction {
            message: self.message,
            mail_reply: self.mail_reply,
            rcpt_results: self.rcpt_results,
            data_reply,
            outcome,
        }
    }
}

struct Conn {
    shared: Arc<Shared>,
    id: usize,
    helo: String,
    xforward: Vec<(String, String)>,
    txn: Option<OpenTxn>,
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
}

/// What the command loop should do after a command.
enum Next {
    Continue,
    Close,
    /// Ignore all further input until the client closes.
    Drain,
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, id: usize) {
    let _open = OpenConnection::count(Arc::clone(&shared));
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut conn = Conn {
        shared,
        id,
        helo: String::new(),
        xforward: Vec::new(),
        txn: None,
        reader: BufReader::new(r),
        writer: BufWriter::new(w),
    };
    let result = conn.run().await;
    // Whatever is still open ended without a dot.
    conn.abort_txn();
    if let Ok(Next::Drain) = result {
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = conn.reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    }
}

/// Counts a connection as open for as long as it lives (also when its task is aborted).
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn count(shared: Arc<Shared>) -> Self {
        let now = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak_open.fetch_max(now, Ordering::SeqCst);
        OpenConnection(shared)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Conn {
    async fn run(&mut self) -> io::Result<Next> {
        self.writer
            .write_all(format!("220 {HOSTNAME} ESMTP\r\n").as_bytes())
            .await?;
        let mut line = Vec::new();
        loop {
            // Reply to pipelined commands in one write: flush only when no
            // complete command line is waiting in the input buffer.
            if !self.reader.buffer().contains(&b'\n') {
                self.writer.flush().await?;
            }
            line.clear();
            if self.reader.read_until(b'\n', &mut line).await? == 0 {
                return Ok(Next::Close);
            }
            match self.command(&line).await? {
                Next::Continue => {}
                other => {
                    self.writer.flush().await?;
                    return Ok(other);
                }
            }
        }
    }

    async fn reply(&mut self, reply: &str) -> io::Result<()> {
        for l in reply.trim_end().split('\n') {
            self.writer
                .write_all(l.trim_end_matches('\r').as_bytes())
                .await?;
            self.writer.write_all(b"\r\n").await?;
        }
        Ok(())
    }

    fn abort_txn(&mut self) {
        if let Some(txn) = self.txn.take() {
            self.shared.record(txn.finish(None, Outcome::Aborted));
        }
    }

    async fn command(&mut self, raw: &[u8]) -> io::Result<Next> {
        let text = String::from_utf8_lossy(raw);
        let line = text.trim_end_matches(['\r', '\n']);
        let (verb, rest) = match line.find(' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, ""),
        };
        let verb = verb.to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                let name = rest.trim();
                if name.is_empty() {
                    self.reply(&format!("501 5.5.4 Syntax: {verb} hostname"))
                        .await?;
                    return Ok(Next::Continue);
                }
                self.abort_txn();
                self.xforward.clear();
                self.helo = name.to_string();
                let reply = if verb == "EHLO" {
                    self.ehlo_reply()
                } else {
                    format!("250 {HOSTNAME}")
                };
                self.reply(&reply).await?;
            }
            "XFORWARD" => self.xforward_cmd(rest).await?,
            "MAIL" => self.mail(line, rest).await?,
            "RCPT" => self.rcpt(line, rest).await?,
            "DATA" => return self.data().await,
            "RSET" => {
                self.abort_txn();
                self.xforward.clear();
                self.reply("250 2.0.0 Ok").await?;
            }
            "NOOP" => self.reply("250 2.0.0 Ok").await?,
            "QUIT" => {
                self.reply("221 2.0.0 Bye").await?;
                self.writer.flush().await?;
                let _ = self.writer.shutdown().await;
                return Ok(Next::Close);
            }
            _ => {
                self.reply("502 5.5.2 Error: command not recognized")
                    .await?
            }
        }
        Ok(Next::Continue)
    }

    fn ehlo_reply(&self) -> String {
        let cfg = self.shared.lock().cfg.clone();
        let mut lines = vec![
            HOSTNAME.to_string(),
            "PIPELINING".to_string(),
            format!("SIZE {ADVERTISED_SIZE}"),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if cfg.advertise_dsn {
            lines.push("DSN".to_string());
        }
        if cfg.advertise_xforward {
            lines.push(format!("XFORWARD {}", XFORWARD_ATTRS.join(" ")));
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    async fn xforward_cmd(&mut self, rest: &str) -> io::Result<()> {
        if !self.shared.lock().cfg.advertise_xforward {
            return self.reply("502 5.5.2 Error: command not recognized").await;
        }
        if self.txn.is_some() {
            return self
                .reply("503 5.5.1 Error: MAIL transaction in progress")
                .await;
        }
        let mut attrs = Vec::new();
        for word in rest.split_ascii_whitespace() {
            let Some((name, value)) = word.split_once('=') else {
                return self
                    .reply("501 5.5.4 Syntax: XFORWARD attribute=value...")
                    .await;
            };
            let name = name.to_ascii_uppercase();
            if !XFORWARD_ATTRS.contains(&name.as_str()) {
                return self.reply("501 5.5.4 Bad XFORWARD attribute name").await;
            }
            attrs.push((name, value.to_string()));
        }
        if attrs.is_empty() {
            return self
                .reply("501 5.5.4 Syntax: XFORWARD attribute=value...")
                .await;
        }
        self.xforward.extend(attrs);
        self.reply("250 2.0.0 Ok").await
    }

    async fn mail(&mut self, line: &str, rest: &str) -> io::Result<()> {
        if self.txn.is_some() {
            return self.reply("503 5.5.1 Error: nested MAIL command").await;
        }
        let Some(from) = parse_path(rest, "FROM:") else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        let reply = self
            .shared
            .lock()
            .cfg
            .mail_reply
            .clone()
            .unwrap_or_else(|| "250 2.1.0 Ok".to_string());
        let txn = OpenTxn {
            message: Received {
                connection: self.id,
                helo: self.helo.clone(),
                mail_from_line: line.to_string(),
                mail_from: from,
                xforward: self.xforward.clone(),
                ..Received::default()
            },
            mail_reply: reply.clone(),
            rcpt_results: Vec::new(),
        };
        if is_positive(&reply) {
            self.txn = Some(txn);
        } else {
            self.shared.record(txn.finish(None, Outcome::MailRejected));
        }
        self.reply(&reply).await
    }

    async fn rcpt(&mut self, line: &str, rest: &str) -> io::Result<()> {
        if self.txn.is_none() {
            return self.reply("503 5.5.1 Error: need MAIL command").await;
        }
        let Some(addr) = parse_path(rest, "TO:") else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        let reply = {
            let mut st = self.shared.lock();
            let rule = st
                .cfg
                .rcpt_replies
                .iter()
                .find(|(needle, _)| addr.contains(needle.as_str()))
                .map(|(_, reply)| reply.clone());
            match rule {
                Some(r) => r,
                None => {
                    let p = st.cfg.random_tempfail_rcpt;
                    if st.rng_rcpt.chance(p) {
                        RANDOM_TEMPFAIL.to_string()
                    } else {
                        "250 2.1.5 Ok".to_string()
                    }
                }
            }
        };
        if let Some(txn) = self.txn.as_mut() {
            txn.rcpt_results.push((line.to_string(), reply.clone()));
            if is_positive(&reply) {
                txn.message.rcpt_lines.push(line.to_string());
                txn.message.rcpts.push(addr);
            }
        }
        self.reply(&reply).await
    }

    async fn data(&mut self) -> io::Result<Next> {
        match &self.txn {
            None => {
                self.reply("503 5.5.1 Error: need RCPT command").await?;
                return Ok(Next::Continue);
            }
            Some(txn) if txn.message.rcpts.is_empty() => {
                self.reply("554 5.5.1 Error: no valid recipients").await?;
                return Ok(Next::Continue);
            }
            Some(_) => {}
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        self.writer.flush().await?;
        self.shared.data_started();
        let result = self.data_phase().await;
        if result.is_err() {
            // The connection broke mid-data: the transaction ends with the connection.
            self.shared.in_data.fetch_sub(1, Ordering::SeqCst);
        }
        result
    }

    /// From the 354 to the reply after the dot; every way out of it that returns `Ok` ends
    /// the data phase with [`Shared::record_data`].
    async fn data_phase(&mut self) -> io::Result<Next> {
        let mut data = Vec::new();
        let mut line = Vec::new();
        let mut prev_crlf = true;
        let complete = loop {
            line.clear();
            if self.reader.read_until(b'\n', &mut line).await? == 0 {
                break false;
            }
            if prev_crlf && line == b".\r\n" {
                break true;
            }
            prev_crlf = line.ends_with(b"\r\n");
            let body = match line.first() {
                Some(b'.') => &line[1..],
                _ => &line[..],
            };
            data.extend_from_slice(body);
        };
        let Some(mut txn) = self.txn.take() else {
            self.shared.in_data.fetch_sub(1, Ordering::SeqCst);
            return Ok(Next::Close);
        };
        txn.message.data = data;
        if !complete {
            self.shared.record_data(txn.finish(None, Outcome::Aborted));
            return Ok(Next::Close);
        }
        let delay = self.shared.lock().cfg.data_delay;
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.xforward.clear();
        let n = self.shared.queue_ids.fetch_add(1, Ordering::SeqCst) + 1;
        let queue_id = format!("T{n:09X}");
        txn.message.queue_id = queue_id.clone();

        let reply = {
            let mut st = self.shared.lock();
            let rule = st
                .cfg
                .data_replies
                .iter()
                .find(|(needle, _)| {
                    txn.message
                        .rcpts
                        .iter()
                        .any(|rcpt| rcpt.contains(needle.as_str()))
                })
                .map(|(_, reply)| reply.clone());
            if st.cfg.never_answer_data {
                None
            } else if rule.is_some() {
                rule
            } else {
                let p = st.cfg.random_tempfail_data;
                Some(if st.rng_data.chance(p) {
                    RANDOM_TEMPFAIL.to_string()
                } else {
                    st.cfg
                        .data_reply
                        .clone()
                        .unwrap_or_else(|| format!("250 2.0.0 Ok: queued as {queue_id}"))
                })
            }
        };
        let Some(reply) = reply else {
            self.shared
                .record_data(txn.finish(None, Outcome::Unanswered));
            return Ok(Next::Drain);
        };
        let outcome = if is_positive(&reply) {
            Outcome::Accepted
        } else {
            Outcome::DataRejected
        };
        // Record before answering, so a client that saw the reply also sees
        // the message in `Sink::messages`.
        self.shared
            .record_data(txn.finish(Some(reply.clone()), outcome));
        self.reply(&reply).await?;
        Ok(Next::Continue)
    }
}

fn is_positive(reply: &str) -> bool {
    reply.starts_with('2')
}

/// Parses `FROM:<addr> params` / `TO:<addr> params` (keyword
/// case-insensitive, optional space after the colon, angle brackets
/// optional) and returns the address.
fn parse_path(rest: &str, keyword: &str) -> Option<String> {
    let rest = rest.trim_start();
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let path = rest[keyword.len()..].trim_start();
    if let Some(inner) = path.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_string())
    } else {
        let addr = path.split_ascii_whitespace().next()?;
        Some(addr.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_paths() {
        assert_eq!(
            parse_path("FROM:<a@b> SIZE=1", "FROM:").as_deref(),
            Some("a@b")
        );
        assert_eq!(parse_path("from: <>", "FROM:").as_deref(), Some(""));
        assert_eq!(parse_path("To:x@y", "TO:").as_deref(), Some("x@y"));
        assert_eq!(
            parse_path("TO:<ü@ex.de>", "TO:").as_deref(),
            Some("ü@ex.de")
        );
        assert_eq!(parse_path("FROM:<a@b", "FROM:"), None);
        assert_eq!(parse_path("ü", "FROM:"), None);
        assert_eq!(parse_path("TO:", "TO:"), None);
    }

    #[test]
    fn prng_is_deterministic_and_in_range() {
        let mut a = SplitMix64(42);
        let mut b = SplitMix64(42);
        for _ in 0..1000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
        }
        let mut c = SplitMix64(1);
        assert!(!c.chance(0.0));
        assert!(c.chance(1.0));
    }
}

//! A tiny SMTP client for tests.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};

/// One SMTP reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// Text of each reply line, without the `NNN-` / `NNN ` prefix and CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx (e.g. 354 after DATA).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The text of all lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl fmt::Display for Reply {
    /// Formats as the reply looked on the wire, lines joined with `\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.lines.len().saturating_sub(1);
        if self.lines.is_empty() {
            return write!(f, "{}", self.code);
        }
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            write!(f, "{}{sep}{line}", self.code)?;
            if i != last {
                f.write_str("\n")?;
            }
        }
        Ok(())
    }
}

/// Dot-stuffs message data for the DATA phase: doubles the leading `.` of
/// every line (the start of `data` and every byte after a `\n`). Does not add
/// the terminating `.` line.
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out
}

/// A minimal SMTP client for driving servers from tests.
///
/// Every read and write is bounded by a timeout (default
/// [`Client::DEFAULT_TIMEOUT`]); expiry gives an [`io::ErrorKind::TimedOut`]
/// error, so a broken test fails instead of hanging.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    timeout: Duration,
}

impl Client {
    /// Default timeout for connecting, each read and each write.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Connects to `addr`. Does not read the greeting: call
    /// [`read_reply`](Self::read_reply) or [`handshake`](Self::handshake).
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        let stream = with_timeout(Self::DEFAULT_TIMEOUT, TcpStream::connect(addr)).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Client {
            reader: BufReader::new(r),
            writer: w,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// Changes the timeout for subsequent reads and writes.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Reads the greeting (must be 220) and sends `EHLO name`; returns the
    /// EHLO reply (an error if either reply is not as expected).
    pub async fn handshake(&mut self, name: &str) -> io::Result<Reply> {
        let greeting = self.read_reply().await?;
        if greeting.code != 220 {
            return Err(unexpected("greeting", &greeting));
        }
        let ehlo = self.cmd(&format!("EHLO {name}")).await?;
        if !ehlo.is_positive() {
            return Err(unexpected("EHLO", &ehlo));
        }
        Ok(ehlo)
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn read_reply(&mut self) -> io::Result<Reply> {
        let mut code = None;
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = with_timeout(self.timeout, self.reader.read_until(b'\n', &mut buf)).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed while reading an SMTP reply",
                ));
            }
            let text = String::from_utf8_lossy(&buf);
            let line = text.trim_end_matches(['\r', '\n']);
            let bad = || {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed SMTP reply line {line:?}"),
                )
            };
            let digits = line.get(..3).ok_or_else(bad)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let this_code: u16 = digits.parse().map_err(|_| bad())?;
            if *code.get_or_insert(this_code) != this_code {
                return Err(bad());
            }
            let (more, rest) = match line.as_bytes().get(3) {
                None => (false, ""),
                Some(b' ') => (false, &line[4..]),
                Some(b'-') => (true, &line[4..]),
                Some(_) => return Err(bad()),
            };
            lines.push(rest.to_string());
            if !more {
                return Ok(Reply {
                    code: this_code,
                    lines,
                });
            }
        }
    }

    /// Sends `line` + CRLF and reads the reply.
    pub async fn cmd(&mut self, line: &str) -> io::Result<Reply> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await?;
        self.read_reply().await
    }

    /// Sends bytes exactly as given (no CRLF added, no reply read).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        with_timeout(self.timeout, async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        })
        .await
    }

    /// Sends `DATA`; on 354 sends `data` dot-stuffed plus the terminating
    /// `.` line and returns the final reply, otherwise returns the DATA
    /// reply. A CRLF is appended first if `data` does not end with one.
    pub async fn data(&mut self, data: &[u8]) -> io::Result<Reply> {
        let reply = self.cmd("DATA").await?;
        if reply.code != 354 {
            return Ok(reply);
        }
        self.send_raw(&data_payload(data)).await?;
        self.read_reply().await
    }

    /// Runs one transaction: `MAIL FROM:<from>`, `RCPT TO:<r>` for each
    /// recipient, then [`data`](Self::data). Returns the first non-2xx reply
    /// of MAIL or RCPT (leaving the transaction open: send RSET before
    /// reusing the connection), else the DATA/final reply.
    pub async fn send_message(
        &mut self,
        from: &str,
        rcpts: &[&str],
        data: &[u8],
    ) -> io::Result<Reply> {
        let reply = self.cmd(&format!("MAIL FROM:<{from}>")).await?;
        if !reply.is_positive() {
            return Ok(reply);
        }
        for rcpt in rcpts {
            let reply = self.cmd(&format!("RCPT TO:<{rcpt}>")).await?;
            if !reply.is_positive() {
                return Ok(reply);
            }
        }
        self.data(data).await
    }

    /// Like [`send_message`](Self::send_message) but pipelined: sends MAIL,
    /// all RCPTs and DATA in one write, then reads their replies; if DATA got
    /// 354, sends the message and reads the final reply. Returns all replies
    /// in order: MAIL, each RCPT, DATA, and the final reply if sent.
    pub async fn send_message_pipelined(
        &mut self,
        from: &str,
        rcpts: &[&str],
        data: &[u8],
    ) -> io::Result<Vec<Reply>> {
        let mut batch = format!("MAIL FROM:<{from}>\r\n");
        for rcpt in rcpts {
            batch.push_str(&format!("RCPT TO:<{rcpt}>\r\n"));
        }
        batch.push_str("DATA\r\n");
        self.send_raw(batch.as_bytes()).await?;
        let mut replies = Vec::with_capacity(rcpts.len() + 3);
        for _ in 0..rcpts.len() + 2 {
            replies.push(self.read_reply().await?);
        }
        if replies.last().is_some_and(|r| r.code == 354) {
            self.send_raw(&data_payload(data)).await?;
            replies.push(self.read_reply().await?);
        }
        Ok(replies)
    }
}

/// Dot-stuffed data, CRLF-terminated, followed by the `.` line.
fn data_payload(data: &[u8]) -> Vec<u8> {
    let mut payload = dot_stuff(data);
    if !payload.is_empty() && !payload.ends_with(b"\r\n") {
        payload.extend_from_slice(b"\r\n");
    }
    payload.extend_from_slice(b".\r\n");
    payload
}

fn unexpected(what: &str, reply: &Reply) -> io::Error {
    io::Error::other(format!("unexpected {what} reply: {reply}"))
}

async fn with_timeout<T>(
    timeout: Duration,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("SMTP client timed out after {timeout:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        assert_eq!(
            dot_stuff(b".a\r\n.\r\nb.\r\n..x"),
            b"..a\r\n..\r\nb.\r\n...x"
        );
        assert_eq!(data_payload(b"x"), b"x\r\n.\r\n");
        assert_eq!(data_payload(b""), b".\r\n");
        assert_eq!(data_payload(b"x\r\n"), b"x\r\n.\r\n");
    }

    #[test]
    fn display() {
        let r = Reply {
            code: 250,
            lines: vec!["a".into(), "b".into()],
        };
        assert_eq!(r.to_string(), "250-a\n250 b");
    }
}

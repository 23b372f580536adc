//! Bounded line reading on a buffered stream, shared by the server and the client.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What reading one line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line including its LF.
    Complete(Vec<u8>),
    /// The line was longer than the limit; it was read and thrown away up to its LF.
    TooLong,
    /// The peer closed the connection (possibly in the middle of a line).
    Eof,
}

/// Reads one line of at most `max` bytes (LF included) without ever buffering more.
pub async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(pos) => (&buf[..=pos], true),
            None => (buf, false),
        };
        let used = chunk.len();
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete(line)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_lines_and_bounds_length() {
        let mut input: &[u8] = b"short\r\nthis line is far too long\r\nok\r\npartial";
        assert_eq!(
            read_line(&mut input, 10).await.unwrap(),
            Line::Complete(b"short\r\n".to_vec())
        );
        assert_eq!(read_line(&mut input, 10).await.unwrap(), Line::TooLong);
        assert_eq!(
            read_line(&mut input, 10).await.unwrap(),
            Line::Complete(b"ok\r\n".to_vec())
        );
        assert_eq!(read_line(&mut input, 10).await.unwrap(), Line::Eof);
    }
}

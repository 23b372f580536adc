//! The policy delegation protocol (Postfix SMTPD_POLICY_README), sans-IO: a request is
//! `name=value` lines ended by an empty line; the answer is `action=...` and an empty line.
//! Bytes go in ([`RequestReader::push`]), requests come out ([`RequestReader::next_request`]);
//! every buffer has a named maximum.

use thiserror::Error;

/// Longest attribute line, without its newline.
pub const MAX_LINE_LENGTH: usize = 4096;
/// Most attributes in one request (Postfix sends about 30).
pub const MAX_ATTRIBUTES: usize = 100;
/// Most bytes of one request, newlines included.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024;

/// Why a connection's input is not a policy request; the session closes the connection.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// A line longer than [`MAX_LINE_LENGTH`].
    #[error("an attribute line is longer than {MAX_LINE_LENGTH} bytes")]
    LineTooLong,
    /// More than [`MAX_ATTRIBUTES`] attributes.
    #[error("a request has more than {MAX_ATTRIBUTES} attributes")]
    TooManyAttributes,
    /// More than [`MAX_REQUEST_BYTES`].
    #[error("a request is longer than {MAX_REQUEST_BYTES} bytes")]
    RequestTooLong,
    /// A line without `=` or with an empty name.
    #[error("line {line} of a request is not name=value")]
    Malformed {
        /// The line's number within the request, from 1.
        line: usize,
    },
    /// A line that is not UTF-8.
    #[error("line {line} of a request is not UTF-8")]
    NotUtf8 {
        /// The line's number within the request, from 1.
        line: usize,
    },
}

/// One policy request: its attributes in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    attributes: Vec<(String, String)>,
}

impl Request {
    /// A request of `attributes` (tests, replays).
    pub fn from_pairs<'a>(attributes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Request {
            attributes: attributes
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The value of attribute `name` (the last one when sent twice); `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` when present and not empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// True without attributes.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }
}

/// The answer line of `action` (`DUNNO`, `DEFER_IF_PERMIT 4.7.1 ...`).
pub fn answer(action: &str) -> String {
    format!("action={action}\n\n")
}

/// Reads requests from the bytes of one connection, several per connection.
#[derive(Debug, Default)]
pub struct RequestReader {
    buffer: Vec<u8>,
    current: Request,
    request_bytes: usize,
    failed: Option<ProtocolError>,
}

impl RequestReader {
    /// A reader at the start of a connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete request, `Ok(None)` when more bytes are needed. After an error the
    /// reader stays failed: the connection is to be closed.
    pub fn next_request(&mut self) -> Result<Option<Request>, ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.take_lines();
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            self.buffer.clear();
        }
        result
    }

    fn take_lines(&mut self) -> Result<Option<Request>, ProtocolError> {
        loop {
            let Some(end) = self.buffer.iter().position(|&b| b == b'\n') else {
                return self.check_partial().map(|()| None);
            };
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            if let Some(request) = self.line(&line[..end])? {
                return Ok(Some(request));
            }
        }
    }

    /// Bounds what waits for its newline.
    fn check_partial(&self) -> Result<(), ProtocolError> {
        if self.buffer.len() > MAX_LINE_LENGTH {
            return Err(ProtocolError::LineTooLong);
        }
        if self.request_bytes + self.buffer.len() > MAX_REQUEST_BYTES {
            return Err(ProtocolError::RequestTooLong);
        }
        Ok(())
    }

    /// One line without its newline: the end of a request, or an attribute of it.
    fn line(&mut self, line: &[u8]) -> Result<Option<Request>, ProtocolError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE_LENGTH {
            return Err(ProtocolError::LineTooLong);
        }
        self.request_bytes += line.len() + 1;
        if self.request_bytes > MAX_REQUEST_BYTES {
            return Err(ProtocolError::RequestTooLong);
        }
        if line.is_empty() {
            self.request_bytes = 0;
            return Ok(Some(std::mem::take(&mut self.current)));
        }
        self.attribute(line).map(|()| None)
    }

    fn attribute(&mut self, line: &[u8]) -> Result<(), ProtocolError> {
        let number = self.current.len() + 1;
        if number > MAX_ATTRIBUTES {
            return Err(ProtocolError::TooManyAttributes);
        }
        let text =
            std::str::from_utf8(line).map_err(|_| ProtocolError::NotUtf8 { line: number })?;
        match text.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                self.current
                    .attributes
                    .push((name.to_string(), value.to_string()));
                Ok(())
            }
            _ => Err(ProtocolError::Malformed { line: number }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> (Vec<Request>, Option<ProtocolError>) {
        let mut reader = RequestReader::new();
        reader.push(input);
        let mut requests = Vec::new();
        loop {
            match reader.next_request() {
                Ok(Some(r)) => requests.push(r),
                Ok(None) => return (requests, None),
                Err(e) => return (requests, Some(e)),
            }
        }
    }

    #[test]
    fn several_requests_per_connection_with_values_containing_equals() {
        let input = b"request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@example.org\n\nrequest=smtpd_access_policy\nccert_subject=CN=x=y\r\n\r\n";
        let (requests, error) = read_all(input);
        assert_eq!(error, None);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].get("protocol_state"), Some("RCPT"));
        assert_eq!(requests[0].get("sender"), Some("a@example.org"));
        assert_eq!(requests[1].get("ccert_subject"), Some("CN=x=y"));
        assert_eq!(requests[1].get("sender"), None);
    }

    #[test]
    fn a_request_split_across_reads_is_assembled() {
        let mut reader = RequestReader::new();
        reader.push(b"sender=a@exa");
        assert_eq!(reader.next_request(), Ok(None));
        reader.push(b"mple.org\nsasl_username=");
        assert_eq!(reader.next_request(), Ok(None));
        reader.push(b"\n\n");
        let request = reader.next_request().unwrap().unwrap();
        assert_eq!(request.get("sender"), Some("a@example.org"));
        assert_eq!(request.get("sasl_username"), Some(""));
        assert_eq!(request.non_empty("sasl_username"), None);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line() {
        let cases: [(&[u8], ProtocolError); 3] = [
            (
                b"sender=a\nno equals\n\n",
                ProtocolError::Malformed { line: 2 },
            ),
            (b"=value\n\n", ProtocolError::Malformed { line: 1 }),
            (b"a=\xff\n\n", ProtocolError::NotUtf8 { line: 1 }),
        ];
        for (input, expected) in cases {
            assert_eq!(read_all(input).1, Some(expected), "{input:?}");
        }
    }

    #[test]
    fn bounds_are_errors_and_the_reader_stays_failed() {
        let long = vec![b'x'; MAX_LINE_LENGTH + 1];
        assert_eq!(read_all(&long).1, Some(ProtocolError::LineTooLong));
        let mut line = b"a=".to_vec();
        line.extend(vec![b'x'; MAX_LINE_LENGTH]);
        line.push(b'\n');
        assert_eq!(read_all(&line).1, Some(ProtocolError::LineTooLong));
        let many: Vec<u8> = (0..=MAX_ATTRIBUTES)
            .flat_map(|i| format!("a{i}=1\n").into_bytes())
            .collect();
        assert_eq!(read_all(&many).1, Some(ProtocolError::TooManyAttributes));
        let value = "x".repeat(4000);
        let big: Vec<u8> = (0..9)
            .flat_map(|i| format!("a{i}={value}\n").into_bytes())
            .collect();
        let (done, error) = read_all(&big);
        assert!(done.is_empty());
        assert_eq!(error, Some(ProtocolError::RequestTooLong));
        let mut reader = RequestReader::new();
        reader.push(&long);
        assert!(reader.next_request().is_err());
        reader.push(b"\n\n");
        assert_eq!(
            reader.next_request(),
            Err(ProtocolError::LineTooLong),
            "failed stays failed, with its error"
        );
    }

    #[test]
    fn the_answer_ends_with_an_empty_line() {
        assert_eq!(answer("DUNNO"), "action=DUNNO\n\n");
    }
}

//! Sans-IO entry points into what the server makes of a command line and what the relay client
//! sends downstream, for the fuzz targets in `fuzz/` (not a stable API).
//!
//! [`command`] is the part of the inbound session that reads a line (XFORWARD or a command
//! `smtp-proto` parses, mapped to our envelope types); [`mail_command`], [`rcpt_command`] and
//! [`xforward_commands`] are the lines the relay client builds from them.

use quarantd_core::{MailParams, Recipient, XForward};
use smtp_proto::Request;

use crate::inbound;
use crate::outbound::{self, Capabilities};
use crate::reply::Reply;

/// Longest XFORWARD command the relay client sends (one attribute alone may be longer).
pub const MAX_XFORWARD_LINE: usize = outbound::MAX_XFORWARD_LINE;

/// What the inbound session makes of one command line, before the session's state is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `XFORWARD NAME=value ...`: the attributes, names upper-cased, values as sent.
    XForward(Vec<(String, String)>),
    /// `MAIL FROM:<address> params`.
    Mail {
        /// The sender, empty for `<>`.
        address: String,
        /// The parameters passed on.
        params: MailParams,
    },
    /// `RCPT TO:<address> params`.
    Rcpt(Recipient),
    /// Any other command `smtp-proto` understood, by name.
    Other(&'static str),
}

/// Parses one command line (with its CRLF) as the inbound session does; `Err` is the reply the
/// client gets.
pub fn command(line: &[u8]) -> Result<Command, Reply> {
    if inbound::is_xforward(line) {
        return inbound::parse_xforward(line).map(Command::XForward);
    }
    Ok(match inbound::parse_request(line)? {
        Request::Mail { from } => Command::Mail {
            params: inbound::mail_params(&from),
            address: from.address,
        },
        Request::Rcpt { to } => Command::Rcpt(inbound::recipient(&to)),
        other => Command::Other(other.name()),
    })
}

/// The capabilities of a relay that announced every extension the client uses, XFORWARD
/// with the attributes the server accepts.
fn everything() -> Capabilities {
    let ehlo = Reply {
        code: 250,
        lines: [
            "relay.example",
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            "DSN",
            "SIZE 0",
            "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE",
        ]
        .map(String::from)
        .to_vec(),
    };
    Capabilities::from_ehlo(&ehlo)
}

/// The `MAIL FROM` line sent downstream (to a relay that announced every extension).
pub fn mail_command(address: &str, params: &MailParams) -> String {
    outbound::mail_command(&everything(), address, params)
}

/// The `RCPT TO` line sent downstream (to a relay that announced every extension).
pub fn rcpt_command(rcpt: &Recipient) -> String {
    outbound::rcpt_command(&everything(), rcpt)
}

/// The XFORWARD lines sent downstream (to a relay that supports every attribute).
pub fn xforward_commands(attrs: &XForward) -> Vec<String> {
    outbound::xforward_commands(everything().xforward_attributes(), attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_non_ascii_dsn_parameters_are_refused_and_xtext_passes() {
        for line in [
            &b"MAIL FROM:<a@example.org> ENVID=id\xc3\xa9\r\n"[..],
            b"RCPT TO:<b@example.net> ORCPT=rfc822;b@example.net\x8d\r\n",
            b"RCPT TO:<b@example.net> orcpt=rfc822;\xef\xbf\xbd\r\n",
            b"RCPT TO:<b@example.net>ORCPT=rfc822;b\xd2\xd2TP\r\n",
            b"MAIL FROM:<a@example.org> ENVID=QQ+8B314\r\x0f\x0f\x0f\r\n",
            b"RCPT TO:<b@example.net> ORCPT=rfc822;b+ NOTI\r\r\xffPORT\r\n",
            b"RCPT TO:<b@example.net> ORCPT=rfc822;a=b@example.net\r\n",
            b"MAIL FROM:<a@NAME\0\xffNAME>\r\n",
            b"RCPT TO:<b\x01@example.net>\r\n",
            b"RCPT TO:<\"quo\x10\x00ted local\"@example.net>\r\n",
        ] {
            let reply = command(line).expect_err("refused");
            assert_eq!(reply.code, 501, "{reply}");
        }
        let line = b"RCPT TO:<b@example.net> ORCPT=rfc822;b@example.net+C3+A9\r\n";
        let Ok(Command::Rcpt(rcpt)) = command(line) else {
            panic!("xtext is accepted");
        };
        assert!(rcpt_command(&rcpt).ends_with("ORCPT=rfc822;b@example.net+C3+A9"));
        let utf8_address = "MAIL FROM:<j\u{f6}rg@example.org> SMTPUTF8\r\n";
        assert!(command(utf8_address.as_bytes()).is_ok());
    }

    #[test]
    fn a_mail_command_goes_downstream_as_it_came() {
        let line = b"MAIL FROM:<a@example.org> BODY=8BITMIME ENVID=QQ+2B1 RET=HDRS\r\n";
        let Ok(Command::Mail { address, params }) = command(line) else {
            panic!("not parsed as MAIL");
        };
        let down = mail_command(&address, &params);
        assert_eq!(
            down,
            "MAIL FROM:<a@example.org> BODY=8BITMIME RET=HDRS ENVID=QQ+2B1"
        );
        assert_eq!(
            command(format!("{down}\r\n").as_bytes()),
            Ok(Command::Mail { address, params })
        );
    }

    #[test]
    fn a_quoted_local_part_is_quoted_downstream() {
        // Found by fuzz target smtp_command: sent as `<quoted local@example.net>` before.
        let line = b"RCPT TO:<\"quoted local\"@example.net>\r\n";
        let Ok(Command::Rcpt(rcpt)) = command(line) else {
            panic!("not parsed as RCPT");
        };
        assert_eq!(rcpt.address, "quoted local@example.net");
        let down = rcpt_command(&rcpt);
        assert_eq!(down, "RCPT TO:<\"quoted local\"@example.net>");
        assert_eq!(
            command(format!("{down}\r\n").as_bytes()),
            Ok(Command::Rcpt(rcpt))
        );
    }

    #[test]
    fn xforward_attributes_are_split_into_bounded_commands() {
        let long = "x".repeat(300);
        let line = format!("XFORWARD NAME={long} HELO={long} ADDR=192.0.2.1\r\n");
        let Ok(Command::XForward(attrs)) = command(line.as_bytes()) else {
            panic!("not parsed as XFORWARD");
        };
        let lines = xforward_commands(&XForward(attrs));
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.len() <= MAX_XFORWARD_LINE));
        assert!(lines[1].ends_with(" ADDR=192.0.2.1"));
    }

    #[test]
    fn errors_are_replies() {
        assert_eq!(command(b"BOGUS\r\n").unwrap_err().code, 502);
        assert_eq!(command(b"XFORWARD EVIL=1\r\n").unwrap_err().code, 501);
    }
}

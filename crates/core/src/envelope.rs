//! The SMTP envelope of one message: sender, recipients, their parameters, and where it came from.

use std::net::SocketAddr;
use std::time::SystemTime;

/// The `BODY=` parameter of `MAIL FROM` (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BodyType {
    /// `BODY=7BIT`
    SevenBit,
    /// `BODY=8BITMIME`
    EightBitMime,
}

/// The DSN `RET=` parameter of `MAIL FROM` (RFC 3461).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Ret {
    /// `RET=FULL`: return the full message in a DSN.
    Full,
    /// `RET=HDRS`: return the headers only.
    Hdrs,
}

/// The parameters of `MAIL FROM` that quarantd keeps and passes on downstream.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MailParams {
    /// `BODY=`, when the client gave one.
    pub body: Option<BodyType>,
    /// `SMTPUTF8` was given (RFC 6531).
    pub smtputf8: bool,
    /// `SIZE=` as declared by the client (RFC 1870).
    pub size: Option<u64>,
    /// DSN `RET=`.
    pub ret: Option<Ret>,
    /// DSN `ENVID=`, decoded from xtext.
    pub envid: Option<String>,
}

/// The DSN `NOTIFY=` parameter of one recipient (RFC 3461).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Notify {
    /// `NEVER`; excludes the others.
    pub never: bool,
    /// `SUCCESS`
    pub success: bool,
    /// `FAILURE`
    pub failure: bool,
    /// `DELAY`
    pub delay: bool,
}

impl Notify {
    /// The parameter's value on the wire: `NEVER` or e.g. `SUCCESS,FAILURE,DELAY`.
    pub fn dsn_value(self) -> String {
        if self.never {
            return "NEVER".into();
        }
        let words = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ];
        let on: Vec<&str> = words
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, word)| *word)
            .collect();
        on.join(",")
    }
}

/// One envelope recipient with its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recipient {
    /// The address as given in `RCPT TO:<...>`.
    pub address: String,
    /// DSN `NOTIFY=`, when given.
    pub notify: Option<Notify>,
    /// DSN `ORCPT=rfc822;...`: the original recipient address, decoded from xtext.
    pub orcpt: Option<String>,
}

impl Recipient {
    /// A recipient without DSN parameters.
    pub fn plain(address: impl Into<String>) -> Self {
        Recipient {
            address: address.into(),
            notify: None,
            orcpt: None,
        }
    }
}

/// The attributes Postfix sends with `XFORWARD` (the original client of the message),
/// kept in the order received, names upper-cased, values as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct XForward(pub Vec<(String, String)>);

impl XForward {
    /// The value of one attribute, e.g. `ADDR` or `IDENT`; `[UNAVAILABLE]` counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, v)| n.eq_ignore_ascii_case(name) && v != "[UNAVAILABLE]")
            .map(|(_, v)| v.as_str())
    }

    /// Sets an attribute, replacing an earlier value of the same name.
    pub fn set(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_uppercase();
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value.to_string()));
    }

    /// True when no attribute was received.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything known about a message apart from its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Envelope {
    /// quarantd's own id for this message (random, URL-safe); appears in logs and replies.
    pub id: String,
    /// The address of the TCP peer that handed the message to quarantd (normally Postfix).
    pub peer: SocketAddr,
    /// The `HELO`/`EHLO` name the peer gave.
    pub helo: String,
    /// `MAIL FROM` address; empty for the null sender `<>`.
    pub mail_from: String,
    /// `MAIL FROM` parameters that are passed on.
    pub mail_params: MailParams,
    /// Every recipient accepted for this message, in order.
    pub recipients: Vec<Recipient>,
    /// `XFORWARD` attributes from an allowed client.
    pub xforward: XForward,
    /// When the transaction began.
    #[serde(skip)]
    pub received_at: SystemTime,
}

impl Envelope {
    /// The upstream MTA's queue id (`XFORWARD IDENT`), when it sent one.
    pub fn upstream_queue_id(&self) -> Option<&str> {
        self.xforward.get("IDENT")
    }
}

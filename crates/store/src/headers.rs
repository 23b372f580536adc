//! The header fields a postmaster sees in `list` and `show`, read with mail-parser.

use mail_parser::{Address, MessageParser};

/// `From`, `To`, `Subject`, `Message-ID` and `Date` of a message, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Headers {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// RFC 3339.
    pub date: Option<String>,
}

/// Reads the header section only; a message mail-parser cannot read has no fields.
pub(crate) fn parse(raw: &[u8]) -> Headers {
    let parsed = std::panic::catch_unwind(|| {
        MessageParser::default()
            .parse_headers(raw)
            .map(|m| Headers {
                from: m.from().map(render),
                to: m.to().map(render),
                subject: m.subject().map(str::to_string),
                message_id: m.message_id().map(str::to_string),
                date: m.date().map(|d| d.to_rfc3339()),
            })
    });
    parsed.ok().flatten().unwrap_or_default()
}

/// `Name <addr>, addr2`; groups flattened.
fn render(addr: &Address<'_>) -> String {
    let one = |a: &mail_parser::Addr<'_>| match (&a.name, &a.address) {
        (Some(name), Some(address)) => format!("{name} <{address}>"),
        (None, Some(address)) => address.to_string(),
        (Some(name), None) => name.to_string(),
        (None, None) => String::new(),
    };
    match addr {
        Address::List(list) => list.iter().map(one).collect::<Vec<_>>().join(", "),
        Address::Group(groups) => groups
            .iter()
            .flat_map(|g| g.addresses.iter().map(one))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_listed_fields() {
        let raw = b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\nTo: a@x.example, B <b@x.example>\r\n\
Subject: Invoice\r\nMessage-ID: <m1@example.org>\r\nDate: Tue, 1 Jul 2025 10:00:00 +0200\r\n\r\nbody\r\n";
        let h = super::parse(raw);
        assert_eq!(h.from.as_deref(), Some("Jürgen <j@example.org>"));
        assert_eq!(h.to.as_deref(), Some("a@x.example, B <b@x.example>"));
        assert_eq!(h.subject.as_deref(), Some("Invoice"));
        assert_eq!(h.message_id.as_deref(), Some("m1@example.org"));
        assert_eq!(h.date.as_deref(), Some("2025-07-01T10:00:00+02:00"));
        assert_eq!(super::parse(b""), super::Headers::default());
    }
}

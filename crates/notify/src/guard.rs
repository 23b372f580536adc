//! Loop and backscatter rules: when no notification may be sent at all.

use quarantd_policy::Party;

/// The most header bytes looked at; a header block longer than this is read up to here.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;

/// Why a notification is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    /// The message is a bounce (null envelope sender).
    NullSender,
    /// The message is itself automatic (`Auto-Submitted` other than `no`): e.g. a notification.
    AutoSubmitted,
    /// The message is a delivery or disposition report (`Content-Type: multipart/report`).
    Report,
    /// The sender is a mailing list (`List-Id`, `Precedence: list/bulk/junk`); only the
    /// sender parties are spared.
    ListSender,
}

/// Why no notification to `party` may be sent about this message, if so. `message` is the
/// original (its header block is read, bounded by [`MAX_HEADER_BYTES`]); `envelope_sender`
/// is `MAIL FROM`, empty for `<>`.
///
/// Never about a bounce or an automatic message, for any party (no loops: two gateways
/// notifying each other); never to the sender of list or bulk mail (the list, not a person).
pub fn suppression(message: &[u8], envelope_sender: &str, party: Party) -> Option<Suppressed> {
    let sender = envelope_sender
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    if sender.is_empty() {
        return Some(Suppressed::NullSender);
    }
    let headers = header_fields(message);
    let value = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    if value("Auto-Submitted").any(|v| first_token(&v) != "no") {
        return Some(Suppressed::AutoSubmitted);
    }
    if value("Content-Type").any(|v| first_token(&v) == "multipart/report") {
        return Some(Suppressed::Report);
    }
    let list = value("List-Id").next().is_some()
        || value("Precedence").any(|v| matches!(first_token(&v), "list" | "bulk" | "junk"));
    if list && party.is_sender() {
        return Some(Suppressed::ListSender);
    }
    None
}

/// True when a notification to `party` about this message may be sent (see [`suppression`]).
pub fn should_notify(message: &[u8], envelope_sender: &str, party: Party) -> bool {
    suppression(message, envelope_sender, party).is_none()
}

fn first_token(value: &str) -> &str {
    value
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("")
}

/// The header fields of a message, unfolded, as `(name, value)`; lines that are not fields
/// are skipped.
fn header_fields(message: &[u8]) -> Vec<(String, String)> {
    let block = &message[..message.len().min(MAX_HEADER_BYTES)];
    let mut fields: Vec<(String, String)> = Vec::new();
    for raw in block.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(raw.strip_suffix(b"\r").unwrap_or(raw));
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    fields
}

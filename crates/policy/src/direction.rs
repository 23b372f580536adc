//! Which way a message goes: inbound, outbound or internal.
//!
//! Two facts decide, and both must hold for mail to count as *ours*:
//!
//! 1. **the origin is local**: the original client (`XFORWARD ADDR`) is in the local networks,
//!    or Postfix says the message was submitted on this host (`XFORWARD SOURCE=LOCAL`,
//!    e.g. `sendmail`/pickup); without XFORWARD the client is unknown and counts as outside;
//! 2. **the envelope sender's domain is local**.
//!
//! A local sender from an outside client is a spoofed (or at least unproven) local sender: the
//! message is **inbound**. Mail from a local origin with a foreign or null sender (a forwarder,
//! an application sending as someone else, a bounce) is inbound too: it is not the
//! organisation's own mail. Only for mail that is ours does the recipient matter, per
//! recipient: a local recipient makes it **internal**, a remote one **outbound**.
//!
//! | origin | sender | recipient | direction |
//! |---|---|---|---|
//! | outside | any | any | inbound |
//! | local | remote or `<>` | any | inbound |
//! | local | local | local | internal |
//! | local | local | remote | outbound |
//!
//! Postfix does not pass SASL authentication on with XFORWARD, so a user who submits from
//! outside the local networks is recognised only when the site routes submission through a
//! listener it trusts: the caller then passes [`Origin::Local`] itself.

use std::net::IpAddr;

use ipnet::IpNet;
use quarantd_core::XForward;

/// The direction of a message, or of one of its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From outside the organisation (or not provably from inside).
    Inbound,
    /// From a local sender at a local origin to a remote recipient.
    Outbound,
    /// From a local sender at a local origin to a local recipient.
    Internal,
}

impl Direction {
    /// Every direction, in config order.
    pub const ALL: [Direction; 3] = [Direction::Inbound, Direction::Outbound, Direction::Internal];

    /// The direction as written in the config, logs and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
        }
    }

    /// The direction of a whole message from its recipients' directions: outbound when any
    /// recipient is remote (mail leaves the organisation), else internal when any is internal,
    /// else inbound.
    pub fn of_message(per_recipient: impl IntoIterator<Item = Direction>) -> Direction {
        per_recipient
            .into_iter()
            .fold(Direction::Inbound, |acc, d| match (acc, d) {
                (Direction::Outbound, _) | (_, Direction::Outbound) => Direction::Outbound,
                (Direction::Internal, _) | (_, Direction::Internal) => Direction::Internal,
                _ => Direction::Inbound,
            })
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the message came from, as far as the gateway can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A client in the local networks, or submitted on the mail host itself.
    Local,
    /// Anyone else, including an unknown client.
    Outside,
}

/// The origin of a message from its XFORWARD attributes and the local networks.
pub fn origin(xforward: &XForward, local_networks: &[IpNet]) -> Origin {
    if xforward
        .get("SOURCE")
        .is_some_and(|s| s.eq_ignore_ascii_case("LOCAL"))
    {
        return Origin::Local;
    }
    match xforward.get("ADDR").and_then(parse_client_addr) {
        Some(ip) if local_networks.iter().any(|n| n.contains(&ip)) => Origin::Local,
        _ => Origin::Outside,
    }
}

/// Parses `XFORWARD ADDR`: `192.0.2.1`, `2001:db8::1` or Postfix's `IPv6:2001:db8::1`.
fn parse_client_addr(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    let value = value
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("IPv6:"))
        .map_or(value, |_| &value[5..]);
    value.parse().ok()
}

/// The direction for one recipient (see the module documentation).
pub fn direction(origin: Origin, sender_is_local: bool, recipient_is_local: bool) -> Direction {
    match (origin, sender_is_local, recipient_is_local) {
        (Origin::Local, true, true) => Direction::Internal,
        (Origin::Local, true, false) => Direction::Outbound,
        _ => Direction::Inbound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xf(pairs: &[(&str, &str)]) -> XForward {
        let mut x = XForward::default();
        for (n, v) in pairs {
            x.set(n, v);
        }
        x
    }

    #[test]
    fn origin_from_xforward() {
        let nets: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ];
        let cases = [
            (xf(&[("ADDR", "10.1.2.3")]), Origin::Local),
            (xf(&[("ADDR", "IPv6:2001:db8::5")]), Origin::Local),
            (xf(&[("ADDR", "2001:db8::5")]), Origin::Local),
            (xf(&[("ADDR", "192.0.2.1")]), Origin::Outside),
            (
                xf(&[("ADDR", "[UNAVAILABLE]"), ("SOURCE", "LOCAL")]),
                Origin::Local,
            ),
            (
                xf(&[("ADDR", "192.0.2.1"), ("SOURCE", "REMOTE")]),
                Origin::Outside,
            ),
            (xf(&[("ADDR", "garbage")]), Origin::Outside),
            (XForward::default(), Origin::Outside),
        ];
        for (x, expected) in cases {
            assert_eq!(origin(&x, &nets), expected, "{x:?}");
        }
    }

    #[test]
    fn message_direction_from_recipients() {
        use Direction::*;
        assert_eq!(Direction::of_message([]), Inbound);
        assert_eq!(Direction::of_message([Inbound, Inbound]), Inbound);
        assert_eq!(Direction::of_message([Internal, Internal]), Internal);
        assert_eq!(Direction::of_message([Internal, Outbound]), Outbound);
        assert_eq!(Direction::of_message([Outbound, Internal]), Outbound);
    }
}

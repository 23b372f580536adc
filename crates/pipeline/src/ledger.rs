//! The last check before a 250: what was done for each recipient of the transaction.
//!
//! The commit records every recipient the relay accepted the message for (a 2xx to the end
//! of data of a transaction carrying it) and every recipient committed to the quarantine.
//! [`Ledger::settle`] then looks at the reply about to be sent: a 2xx while any recipient is
//! neither delivered nor held — or both — becomes a 451 (logged as an error), so Postfix keeps
//! the message. It is the net under the decision and the commit: whatever a `Decide`
//! returns and however the commit carries it out, a 250 never leaves a recipient behind.

use quarantd_core::{Action, Envelope};
use quarantd_smtp::Reply;

/// What was done for each recipient of one transaction.
#[derive(Debug, Clone)]
pub struct Ledger {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    address: String,
    delivered: u32,
    held: u32,
}

impl Ledger {
    /// A ledger of the envelope's recipients, nothing done yet.
    pub fn new(envelope: &Envelope) -> Ledger {
        Ledger {
            entries: envelope
                .recipients
                .iter()
                .map(|r| Entry {
                    address: r.address.clone(),
                    delivered: 0,
                    held: 0,
                })
                .collect(),
        }
    }

    /// The relay answered 2xx to the end of data of a transaction carrying `recipients`.
    pub fn delivered<'a>(&mut self, recipients: impl IntoIterator<Item = &'a str>) {
        for address in recipients {
            self.entries_of(address).for_each(|e| e.delivered += 1);
        }
    }

    /// The quarantine committed a message for `recipients`.
    pub fn held<'a>(&mut self, recipients: impl IntoIterator<Item = &'a str>) {
        for address in recipients {
            self.entries_of(address).for_each(|e| e.held += 1);
        }
    }

    /// Recipients that are not exactly once delivered or held, with what was done for them
    /// (`b@example.org (delivered 0, held 0)`).
    pub fn unsettled(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.delivered + e.held != 1)
            .map(|e| format!("{} (delivered {}, held {})", e.address, e.delivered, e.held))
            .collect()
    }

    /// The reply to send: `reply` itself unless it is a 2xx while a recipient is unsettled;
    /// then a 451 (the message stays in Postfix's queue) and an error in the log.
    pub fn settle(&self, id: &str, outcome: Action, reply: Reply) -> (Action, Reply) {
        if !reply.is_positive() {
            return (outcome, reply);
        }
        let unsettled = self.unsettled();
        if unsettled.is_empty() {
            return (outcome, reply);
        }
        tracing::error!(
            id = %id,
            unsettled = %unsettled.join(", "),
            reply = %reply,
            "A 250 would have left recipients neither delivered nor held exactly once; deferring the message instead."
        );
        (
            Action::Tempfail,
            Reply::new(
                451,
                "4.3.0 Internal error: not every recipient was delivered or held, try again later",
            ),
        )
    }

    fn entries_of<'s>(&'s mut self, address: &'s str) -> impl Iterator<Item = &'s mut Entry> {
        self.entries
            .iter_mut()
            .filter(move |e| e.address == address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_core::Recipient;

    fn ledger(rcpts: &[&str]) -> Ledger {
        let envelope = Envelope {
            id: "m".into(),
            peer: "127.0.0.1:1".parse().unwrap(),
            helo: String::new(),
            mail_from: String::new(),
            mail_params: Default::default(),
            recipients: rcpts.iter().map(|r| Recipient::plain(*r)).collect(),
            xforward: Default::default(),
            received_at: std::time::SystemTime::UNIX_EPOCH,
        };
        Ledger::new(&envelope)
    }

    fn ok() -> Reply {
        Reply::new(250, "2.0.0 Ok")
    }

    #[test]
    fn a_250_needs_every_recipient_delivered_or_held_exactly_once() {
        // (delivered, held, reply code sent)
        let cases: &[(&[&str], &[&str], u16)] = &[
            (&["a", "b"], &[], 250),
            (&["a"], &["b"], 250),
            (&[], &["a", "b"], 250),
            (&["a"], &[], 451),
            (&[], &[], 451),
            (&["a", "b"], &["b"], 451),
            (&["a", "a", "b"], &[], 451),
        ];
        for (delivered, held, code) in cases {
            let mut l = ledger(&["a", "b"]);
            l.delivered(delivered.iter().copied());
            l.held(held.iter().copied());
            let (outcome, reply) = l.settle("m", Action::Pass, ok());
            assert_eq!(reply.code, *code, "{delivered:?} {held:?}: {reply}");
            if *code == 451 {
                assert_eq!(outcome, Action::Tempfail);
                assert!(!l.unsettled().is_empty());
            }
        }
    }

    #[test]
    fn failures_pass_unchanged() {
        let l = ledger(&["a"]);
        for reply in [Reply::new(451, "4.3.0 x"), Reply::new(554, "5.7.1 y")] {
            let (_, sent) = l.settle("m", Action::Reject, reply.clone());
            assert_eq!(sent, reply);
        }
    }
}

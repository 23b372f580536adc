//! A release job: delivers the stored original to claimed recipients through the relay,
//! retries 4xx with backoff, records each recipient's outcome.

use std::sync::Arc;
use std::time::Duration;

use quarantd_core::{BodyType, MailParams, Notify, Recipient, Ret, XForward};
use quarantd_smtp::outbound::MailFrom;
use quarantd_smtp::{Relay, RelayError, Reply};
use quarantd_store::{now_ms, Finish, MessageDetail, Store};

use crate::error::Error;

/// Retry and recovery settings of release jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSettings {
    /// Delivery attempts per job before a temporarily refused recipient goes back to `held`
    /// (default 4).
    pub max_attempts: u32,
    /// Wait after the first temporary failure; doubles each time (default 15 s).
    pub first_backoff: Duration,
    /// Longest wait between attempts (default 2 min).
    pub max_backoff: Duration,
    /// A `releasing` claim older than this may be taken over by `release --resume`
    /// (default 30 min: longer than the relay's connect + data timeouts together).
    pub stale_claim_after: Duration,
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        ReleaseSettings {
            max_attempts: 4,
            first_backoff: Duration::from_secs(15),
            max_backoff: Duration::from_secs(120),
            stale_claim_after: Duration::from_secs(30 * 60),
        }
    }
}

/// What happened to one recipient in a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The relay accepted it (2xx after the data); recorded `released`.
    Delivered {
        /// The relay's reply.
        reply: String,
    },
    /// The relay refused it permanently (5xx); recorded `failed`.
    Refused {
        /// The relay's reply.
        reply: String,
    },
    /// Temporarily refused on every attempt (4xx, relay unreachable); back to `held`.
    Deferred {
        /// The last reply or error.
        reply: String,
    },
    /// The connection broke after the message was sent and before the relay's answer: it may
    /// or may not have been delivered. The claim stays (`releasing`); see `resume`.
    Uncertain {
        /// The error.
        reply: String,
    },
    /// Not sent by this job: already released, being released by another job, deleted or
    /// failed (name it to retry a failed one).
    Skipped {
        /// The recipient's state.
        state: String,
    },
}

/// The outcome of a release, per recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseReport {
    /// The message id.
    pub id: String,
    /// Each recipient asked for, with what happened.
    pub recipients: Vec<(String, Delivery)>,
    /// Delivery attempts made.
    pub attempts: u32,
}

impl ReleaseReport {
    /// True when every recipient asked for was delivered by this job.
    pub fn all_delivered(&self) -> bool {
        self.recipients
            .iter()
            .all(|(_, d)| matches!(d, Delivery::Delivered { .. }))
    }
}

/// The result of one attempt for one recipient.
#[derive(Debug, Clone)]
enum Attempt {
    Delivered(String),
    Permanent(String),
    Temporary(String),
    Uncertain(String),
}

/// One release job for one message and its claimed recipients.
pub(crate) struct Job<'a> {
    pub store: &'a Store,
    pub relay: &'a Arc<Relay>,
    pub settings: &'a ReleaseSettings,
    pub message: &'a MessageDetail,
    pub owner: &'a str,
    pub actor: &'a str,
}

impl Job<'_> {
    /// Delivers to `claimed` until each has a final outcome or the attempts are used up.
    pub async fn run(&self, claimed: Vec<String>) -> Result<(Vec<(String, Delivery)>, u32), Error> {
        let id = &self.message.summary.id;
        let raw = self.store.content_for_release(id).await?;
        // As on the way through `serve`: X-Quarantd* fields from the sender are not passed on.
        let raw = quarantd_core::headers::strip_own_headers(&raw).unwrap_or(raw);
        let prefix = released_header(self.actor, now_ms(), id);
        let mut pending = claimed;
        let mut done = Vec::new();
        let mut backoff = self.settings.first_backoff;
        let mut attempts = 0;
        while !pending.is_empty() {
            attempts += 1;
            self.store.touch_claims(id, self.owner, now_ms()).await?;
            let results = self.attempt(&pending, &prefix, &raw).await;
            let last = attempts >= self.settings.max_attempts;
            pending = self.record(results, last, &mut done).await?;
            if !pending.is_empty() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.settings.max_backoff);
            }
        }
        Ok((done, attempts))
    }

    /// Records one attempt's results; returns the recipients to try again.
    async fn record(
        &self,
        results: Vec<(String, Attempt)>,
        last: bool,
        done: &mut Vec<(String, Delivery)>,
    ) -> Result<Vec<String>, Error> {
        let mut outcomes = Vec::new();
        let mut retry = Vec::new();
        for (rcpt, attempt) in results {
            let (finish, delivery) = match attempt {
                Attempt::Delivered(reply) => (
                    Finish::Released {
                        reply: reply.clone(),
                    },
                    Some(Delivery::Delivered { reply }),
                ),
                Attempt::Permanent(reply) => (
                    Finish::Failed {
                        reply: reply.clone(),
                    },
                    Some(Delivery::Refused { reply }),
                ),
                Attempt::Temporary(reply) if last => (
                    Finish::Unclaim {
                        reply: reply.clone(),
                    },
                    Some(Delivery::Deferred { reply }),
                ),
                Attempt::Temporary(reply) => {
                    retry.push(rcpt.clone());
                    (Finish::Deferred { reply }, None)
                }
                Attempt::Uncertain(reply) => (
                    Finish::Deferred {
                        reply: format!("uncertain: {reply}"),
                    },
                    Some(Delivery::Uncertain { reply }),
                ),
            };
            outcomes.push((rcpt.clone(), finish));
            if let Some(d) = delivery {
                done.push((rcpt, d));
            }
        }
        self.finish(&outcomes).await?;
        Ok(retry)
    }

    /// Records outcomes; a store failure is retried briefly, since a delivery that is not
    /// recorded leaves a claim that only a person can resolve.
    async fn finish(&self, outcomes: &[(String, Finish)]) -> Result<(), Error> {
        let id = &self.message.summary.id;
        let mut wait = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            match self
                .store
                .finish(id, self.owner, outcomes, self.actor, now_ms())
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.is_transient() && tries < 5 => {
                    tries += 1;
                    tracing::warn!(id = %id, error = %e, "recording a release failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(source) => {
                    let rcpts = outcomes
                        .iter()
                        .filter(|(_, f)| matches!(f, Finish::Released { .. }))
                        .map(|(r, _)| r.clone())
                        .collect::<Vec<_>>();
                    if rcpts.is_empty() {
                        return Err(Error::Store(source));
                    }
                    return Err(Error::Unrecorded {
                        id: id.clone(),
                        rcpts,
                        source,
                    });
                }
            }
        }
    }

    /// One SMTP transaction to the relay for `rcpts`.
    async fn attempt(&self, rcpts: &[String], prefix: &[u8], raw: &[u8]) -> Vec<(String, Attempt)> {
        let params = mail_params(self.message, prefix.len() + raw.len());
        let xforward = XForward(self.message.xforward.clone());
        let mail = MailFrom {
            address: &self.message.summary.mail_from,
            params: &params,
            xforward: &xforward,
        };
        let all = |a: Attempt| rcpts.iter().map(|r| (r.clone(), a.clone())).collect();
        let mut txn = match self.relay.begin(mail).await {
            Ok(txn) => txn,
            Err(e) => return all(from_error(&e)),
        };
        let mut results = Vec::new();
        let mut accepted = Vec::new();
        for (i, rcpt) in rcpts.iter().enumerate() {
            match txn.rcpt(&self.recipient(rcpt)).await {
                Ok(reply) if reply.is_positive() => accepted.push(rcpt.clone()),
                Ok(reply) => results.push((rcpt.clone(), from_reply(&reply))),
                Err(e) => {
                    let broken = Attempt::Temporary(e.to_string());
                    for r in accepted.iter().chain(&rcpts[i..]) {
                        results.push((r.clone(), broken.clone()));
                    }
                    return results;
                }
            }
        }
        if accepted.is_empty() {
            txn.abort().await;
            return results;
        }
        let outcome = match txn.data(prefix, raw).await {
            Ok(reply) if reply.is_positive() => Attempt::Delivered(reply.to_string()),
            Ok(reply) => from_reply(&reply),
            Err(e) => after_data_error(&e),
        };
        results.extend(accepted.into_iter().map(|r| (r, outcome.clone())));
        results
    }

    /// The stored recipient with its DSN parameters.
    fn recipient(&self, address: &str) -> Recipient {
        let stored = self
            .message
            .recipients
            .iter()
            .find(|r| r.address.eq_ignore_ascii_case(address));
        Recipient {
            address: address.to_string(),
            notify: stored.and_then(|r| r.notify.as_deref()).map(parse_notify),
            orcpt: stored.and_then(|r| r.orcpt.clone()),
        }
    }
}

fn from_reply(reply: &Reply) -> Attempt {
    if reply.is_permanent() {
        Attempt::Permanent(reply.to_string())
    } else {
        Attempt::Temporary(reply.to_string())
    }
}

fn from_error(e: &RelayError) -> Attempt {
    match e {
        RelayError::Rejected { reply, .. } => from_reply(reply),
        other => Attempt::Temporary(other.to_string()),
    }
}

/// An error once the content may have reached the relay: waiting for the reply to the final
/// dot is the one moment where the relay may have accepted the message without our knowing.
fn after_data_error(e: &RelayError) -> Attempt {
    match e {
        RelayError::Timeout { stage, .. } | RelayError::Io { stage, .. }
            if *stage == "end of data" =>
        {
            Attempt::Uncertain(e.to_string())
        }
        RelayError::Protocol { stage, .. } if *stage == "end of data" => {
            Attempt::Uncertain(e.to_string())
        }
        other => from_error(other),
    }
}

/// `X-Quarantine-Released: by NAME at DATE; id=ID`, CRLF-terminated.
pub fn released_header(by: &str, at_ms: i64, id: &str) -> Vec<u8> {
    let name: String = by.chars().filter(|c| !c.is_control()).take(200).collect();
    let date = mail_parser::DateTime::from_timestamp(at_ms.div_euclid(1000)).to_rfc822();
    format!("X-Quarantine-Released: by {name} at {date}; id={id}\r\n").into_bytes()
}

fn mail_params(m: &MessageDetail, size: usize) -> MailParams {
    MailParams {
        body: match m.body_type.as_deref() {
            Some("8BITMIME") => Some(BodyType::EightBitMime),
            Some("7BIT") => Some(BodyType::SevenBit),
            _ => None,
        },
        smtputf8: m.smtputf8,
        size: Some(size as u64),
        ret: match m.dsn_ret.as_deref() {
            Some("FULL") => Some(Ret::Full),
            Some("HDRS") => Some(Ret::Hdrs),
            _ => None,
        },
        envid: m.dsn_envid.clone(),
    }
}

fn parse_notify(s: &str) -> Notify {
    let has = |w: &str| s.split(',').any(|x| x.eq_ignore_ascii_case(w));
    Notify {
        never: has("NEVER"),
        success: has("SUCCESS"),
        failure: has("FAILURE"),
        delay: has("DELAY"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_who_when_and_id() {
        let h = super::released_header("anna\r\nBcc: x", 1_751_364_000_000, "abc");
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "X-Quarantine-Released: by annaBcc: x at Tue, 1 Jul 2025 10:00:00 +0000; id=abc\r\n"
        );
    }
}

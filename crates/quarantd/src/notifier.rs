//! Notifications sent through the relay: the pipeline's [`Notifier`] seam implemented with
//! `quarantd-notify`.
//!
//! For each incident (a message held or rejected) a background task works through
//! `parties(event, direction)`: it skips every party [`should_notify`] forbids (never about a
//! bounce, an automatic message or a report; never to a list's sender), finds the addressees
//! (recipient = the local recipients concerned, sender-internal = the envelope sender of
//! outbound/internal mail, postmaster = `notify.postmaster`), renders the template, composes
//! the mail (with an easy-release token for recipients of held mail) and sends it through the
//! relay with the configured envelope sender (null by default). 4xx and connection errors are
//! retried with doubling backoff; every send, and every final failure, is written to the
//! audit log (`notify-sent`, `notify-failed`). The SMTP reply never waits for any of this.

use std::sync::Arc;
use std::time::SystemTime;

use quarantd_core::{MailParams, Recipient, XForward};
use quarantd_notify::{
    issue, parties, rfc5322_date, should_notify, suppression, Claims, Direction, Event,
    MessageInfo, Notice, Outgoing, Party, Reason, ReleaseLink, Templates, TokenAction,
};
use quarantd_pipeline::{Incident, Notifier};
use quarantd_policy::Policy;
use quarantd_release::Rules;
use quarantd_smtp::outbound::MailFrom;
use quarantd_smtp::{Relay, RelayError};
use quarantd_store::Store;

use crate::notify_config::NotifySettings;

/// Sends notifications through the relay in the background.
pub struct RelayNotifier {
    inner: Arc<Inner>,
}

struct Inner {
    settings: NotifySettings,
    templates: Templates,
    policy: Arc<Policy>,
    rules: Rules,
    relay: Arc<Relay>,
    store: Option<Store>,
}

impl RelayNotifier {
    /// A notifier sending through `relay`, auditing into `store` when there is one. `policy`
    /// tells local addresses; `rules` whether a recipient's token releases or asks.
    pub fn new(
        settings: NotifySettings,
        policy: Arc<Policy>,
        rules: Rules,
        relay: Arc<Relay>,
        store: Option<Store>,
    ) -> RelayNotifier {
        let templates = settings.templates();
        RelayNotifier {
            inner: Arc::new(Inner {
                settings,
                templates,
                policy,
                rules,
                relay,
                store,
            }),
        }
    }
}

impl Notifier for RelayNotifier {
    fn notify(&self, incident: Incident) {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.run(incident).await });
    }
}

/// How one send attempt ended.
enum Sent {
    Ok(String),
    Temporary(String),
    Permanent(String),
}

impl Inner {
    async fn run(&self, incident: Incident) {
        let id = incident
            .quarantine_id
            .clone()
            .unwrap_or_else(|| incident.envelope.id.clone());
        for &party in parties(incident.event, incident.direction) {
            if let Some(why) = suppression(&incident.raw, &incident.envelope.mail_from, party) {
                tracing::info!(id = %id, event = %incident.event, party = %party, reason = ?why, "Notification not sent (loop or list rule).");
                continue;
            }
            debug_assert!(should_notify(
                &incident.raw,
                &incident.envelope.mail_from,
                party
            ));
            for to in self.addressees(&incident, party) {
                self.one(&incident, &id, party, &to).await;
            }
        }
    }

    /// Who `party` is for this incident.
    fn addressees(&self, incident: &Incident, party: Party) -> Vec<String> {
        let sender = incident.envelope.mail_from.trim();
        match party {
            Party::Recipient => incident
                .envelope
                .recipients
                .iter()
                .map(|r| r.address.clone())
                .filter(|a| self.policy.is_local_address(a))
                .collect(),
            Party::SenderInternal => (incident.direction != Direction::Inbound
                && self.policy.is_local_address(sender))
            .then(|| sender.to_string())
            .into_iter()
            .collect(),
            Party::SenderExternal => (!sender.is_empty())
                .then(|| sender.to_string())
                .into_iter()
                .collect(),
            Party::Postmaster => vec![self.settings.postmaster.clone()],
        }
    }

    /// Renders, composes, sends (with retries) and audits one notification.
    async fn one(&self, incident: &Incident, id: &str, party: Party, to: &str) {
        let now = SystemTime::now();
        let notice = self.notice(incident, id, party, to, now);
        let what = format!("event={} party={party} to={to}", incident.event);
        let outgoing = self
            .templates
            .render(incident.event, party, &self.settings.language, &notice)
            .and_then(|rendered| {
                self.settings
                    .composer
                    .compose(&rendered, to, now)
                    .map(|o| (rendered.template, o))
            });
        let (template, outgoing) = match outgoing {
            Ok(x) => x,
            Err(err) => {
                tracing::error!(id = %id, %what, error = %err, "Cannot compose a notification.");
                self.audit(id, incident, "notify-failed", &format!("{what}: {err}"))
                    .await;
                return;
            }
        };
        let mut wait = self.settings.first_backoff;
        let mut attempt = 1;
        loop {
            match self.send(&outgoing).await {
                Sent::Ok(reply) => {
                    tracing::info!(id = %id, %what, template = %template, attempt, relay = %reply, "Notification sent.");
                    let detail = format!("{what} template={template} attempt={attempt}: {reply}");
                    self.audit(id, incident, "notify-sent", &detail).await;
                    return;
                }
                Sent::Temporary(err) if attempt < self.settings.max_attempts => {
                    tracing::warn!(id = %id, %what, attempt, error = %err, retry_in_s = wait.as_secs(), "Notification deferred; retrying.");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.settings.max_backoff);
                    attempt += 1;
                }
                Sent::Temporary(err) | Sent::Permanent(err) => {
                    tracing::error!(id = %id, %what, attempt, error = %err, "Notification not sent.");
                    let detail = format!("{what} template={template} attempt={attempt}: {err}");
                    self.audit(id, incident, "notify-failed", &detail).await;
                    return;
                }
            }
        }
    }

    /// One SMTP transaction for one notification.
    async fn send(&self, out: &Outgoing) -> Sent {
        let params = MailParams::default();
        let xforward = XForward::default();
        let mail = MailFrom {
            address: &out.envelope_from,
            params: &params,
            xforward: &xforward,
        };
        let mut txn = match self.relay.begin(mail).await {
            Ok(txn) => txn,
            Err(err) => return from_error(&err),
        };
        let rcpt = Recipient {
            address: out.to.clone(),
            notify: None,
            orcpt: None,
        };
        match txn.rcpt(&rcpt).await {
            Ok(reply) if reply.is_positive() => {}
            Ok(reply) => {
                txn.abort().await;
                return if reply.is_permanent() {
                    Sent::Permanent(reply.to_string())
                } else {
                    Sent::Temporary(reply.to_string())
                };
            }
            Err(err) => return from_error(&err),
        }
        match txn.data(b"", &out.bytes).await {
            Ok(reply) if reply.is_positive() => Sent::Ok(reply.to_string()),
            Ok(reply) if reply.is_permanent() => Sent::Permanent(reply.to_string()),
            Ok(reply) => Sent::Temporary(reply.to_string()),
            Err(err) => from_error(&err),
        }
    }

    /// What a template gets for this incident and addressee.
    fn notice(
        &self,
        incident: &Incident,
        id: &str,
        party: Party,
        to: &str,
        now: SystemTime,
    ) -> Notice {
        let raw = &incident.raw;
        let recipient = (party == Party::Recipient).then(|| to.to_string());
        let release = match (
            &recipient,
            &self.settings.token_key,
            &incident.quarantine_id,
        ) {
            (Some(rcpt), Some(key), Some(qid)) if incident.event == Event::Quarantined => {
                let action = if self.rules.recipient_may_release(&incident.verdict.reasons) {
                    TokenAction::Release
                } else {
                    TokenAction::RequestRelease
                };
                let claims = Claims::new(qid, rcpt, action, now, self.settings.token_validity);
                let token = issue(&claims, key);
                let url = if self.settings.release_url.is_empty() {
                    String::new()
                } else {
                    format!("{}{token}", self.settings.release_url)
                };
                Some(ReleaseLink {
                    url,
                    token,
                    expires: rfc5322_date(claims.expires_at()),
                })
            }
            _ => None,
        };
        Notice {
            message: MessageInfo {
                id: id.to_string(),
                subject: header(raw, "Subject"),
                from: header(raw, "From"),
                sender: incident.envelope.mail_from.clone(),
                recipients: incident
                    .envelope
                    .recipients
                    .iter()
                    .map(|r| r.address.clone())
                    .collect(),
                date: rfc5322_date(incident.envelope.received_at),
                direction: incident.direction.as_str().to_string(),
            },
            recipient,
            reasons: Reason::list(
                &incident.parts,
                &incident.findings,
                &incident.verdict.reasons,
            ),
            release,
            actor: None,
            approvals: None,
            postmaster: self.settings.postmaster.clone(),
            hostname: self.settings.composer.hostname.clone(),
        }
    }

    async fn audit(&self, id: &str, incident: &Incident, action: &str, detail: &str) {
        let Some(store) = &self.store else { return };
        let message_id = incident.quarantine_id.as_deref();
        let detail = if message_id.is_none() {
            format!("{detail} (message {id}, not stored)")
        } else {
            detail.to_string()
        };
        if let Err(err) = store
            .record_audit("quarantd", action, message_id, &detail)
            .await
        {
            tracing::error!(id = %id, error = %err, "Cannot write the audit entry of a notification.");
        }
    }
}

fn from_error(err: &RelayError) -> Sent {
    match err {
        RelayError::Rejected { reply, .. } if reply.is_permanent() => {
            Sent::Permanent(reply.to_string())
        }
        other => Sent::Temporary(other.to_string()),
    }
}

/// The first header field `name` of a message, unfolded (not decoded), at most 200
/// characters.
fn header(raw: &[u8], name: &str) -> String {
    let block = &raw[..raw.len().min(64 * 1024)];
    let mut value: Option<String> = None;
    for line in block.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
        if line.is_empty() {
            break;
        }
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => {
                v.push(' ');
                v.push_str(line.trim());
            }
            Some(_) => break,
            None => {
                if let Some((n, v)) = line.split_once(':') {
                    if n.eq_ignore_ascii_case(name) {
                        value = Some(v.trim().to_string());
                    }
                }
            }
        }
    }
    value.unwrap_or_default().chars().take(200).collect()
}

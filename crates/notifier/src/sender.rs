//! [`NotifySender`]: who is told, rendering, composition, sending with retries, audit.

use std::sync::Arc;
use std::time::SystemTime;

use quarantd_config::notify::NotifySettings;
use quarantd_core::{MailParams, Recipient, XForward};
use quarantd_notify::{
    parties, rfc5322_date, suppression, Direction, Event, MessageInfo, Notice, Outgoing, Party,
    ReleaseLink, Templates,
};
use quarantd_policy::Policy;
use quarantd_release::token::{issue, Claims, TokenAction};
use quarantd_release::Rules;
use quarantd_smtp::outbound::MailFrom;
use quarantd_smtp::{Relay, RelayError};
use quarantd_store::Store;

use crate::case::{Case, Outcome};

/// How one send attempt ended.
enum Sent {
    Ok(String),
    Temporary(String),
    Permanent(String),
}

/// The one implementation behind the daemon's [`RelayNotifier`] and the CLI's workflow
/// notifications: who is told ([`parties()`], the loop and list rules, local addressees),
/// rendering, composition, sending with bounded retries, and the audit entries.
pub struct NotifySender {
    pub(crate) settings: NotifySettings,
    templates: Templates,
    policy: Arc<Policy>,
    rules: Rules,
    relay: Arc<Relay>,
    pub(crate) store: Option<Store>,
}

impl NotifySender {
    /// A sender through `relay`, auditing into `store` when there is one.
    pub fn new(
        settings: NotifySettings,
        policy: Arc<Policy>,
        rules: Rules,
        relay: Arc<Relay>,
        store: Option<Store>,
    ) -> NotifySender {
        let templates = settings.templates();
        NotifySender {
            settings,
            templates,
            policy,
            rules,
            relay,
            store,
        }
    }

    /// Sends every notification of `case` (one after the other, each with its retries) and
    /// audits each; returns how each ended. Never fails: failures are audited and returned.
    pub async fn run(&self, case: &Case) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for &party in parties(case.event, case.direction) {
            if let Some(why) = suppression(&case.raw, &case.mail_from, party) {
                tracing::info!(id = %case.id, event = %case.event, party = %party, reason = ?why, "Notification not sent (loop or list rule).");
                continue;
            }
            for to in self.addressees(case, party) {
                let result = self.one(case, party, &to).await;
                outcomes.push(Outcome { party, to, result });
            }
        }
        outcomes
    }

    /// Who `party` is for this case.
    fn addressees(&self, case: &Case, party: Party) -> Vec<String> {
        let sender = case.mail_from.trim();
        match party {
            Party::Recipient => case
                .concerned
                .iter()
                .filter(|a| self.policy.is_local_address(a))
                .cloned()
                .collect(),
            Party::SenderInternal => (case.direction != Direction::Inbound
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
    async fn one(&self, case: &Case, party: Party, to: &str) -> Result<String, String> {
        let id = &case.id;
        let now = SystemTime::now();
        let notice = self.notice(case, party, to, now);
        // The audit detail keeps its `event=… party=… to=…` text; the log has a field each.
        let what = format!("event={} party={party} to={to}", case.event);
        let outgoing = self
            .templates
            .render(case.event, party, &self.settings.language, &notice)
            .and_then(|rendered| {
                self.settings
                    .composer
                    .compose(&rendered, to, now)
                    .map(|o| (rendered.template, o))
            });
        let (template, outgoing) = match outgoing {
            Ok(x) => x,
            Err(err) => {
                tracing::error!(id = %id, event = %case.event, party = %party, to = %to, error = %err, "Cannot compose a notification.");
                let detail = format!("{what}: {err}");
                self.audit(case, "notify-failed", &detail).await;
                return Err(detail);
            }
        };
        let mut wait = self.settings.first_backoff;
        let mut attempt = 1;
        loop {
            match self.send(&outgoing).await {
                Sent::Ok(reply) => {
                    tracing::info!(id = %id, event = %case.event, party = %party, to = %to, template = %template, attempt, relay = %reply, "Notification sent.");
                    let detail = format!("{what} template={template} attempt={attempt}: {reply}");
                    self.audit(case, "notify-sent", &detail).await;
                    return Ok(reply);
                }
                Sent::Temporary(err) if attempt < self.settings.max_attempts => {
                    tracing::warn!(id = %id, event = %case.event, party = %party, to = %to, attempt, error = %err, retry_in_s = wait.as_secs(), "Notification deferred; retrying.");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.settings.max_backoff);
                    attempt += 1;
                }
                Sent::Temporary(err) | Sent::Permanent(err) => {
                    tracing::error!(id = %id, event = %case.event, party = %party, to = %to, attempt, error = %err, "Notification not sent.");
                    let detail = format!("{what} template={template} attempt={attempt}: {err}");
                    self.audit(case, "notify-failed", &detail).await;
                    return Err(detail);
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

    /// What a template gets for this case and addressee.
    fn notice(&self, case: &Case, party: Party, to: &str, now: SystemTime) -> Notice {
        let recipient = if party == Party::Recipient {
            Some(to.to_string())
        } else if case.concerned.len() == 1
            && !matches!(case.event, Event::Quarantined | Event::Rejected)
        {
            // A workflow event about one recipient's copy names it for the other parties.
            case.concerned.first().cloned()
        } else {
            None
        };
        let release = match (&self.settings.token_key, party) {
            (Some(key), Party::Recipient) if case.event == Event::Quarantined && case.stored => {
                let action = if self.rules.recipient_may_release(&case.verdict_reasons) {
                    TokenAction::Release
                } else {
                    TokenAction::RequestRelease
                };
                let claims = Claims::new(&case.id, to, action, now, self.settings.token_validity);
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
                id: case.id.clone(),
                subject: case.subject.clone(),
                from: case.from.clone(),
                sender: case.mail_from.clone(),
                recipients: case.recipients.clone(),
                date: rfc5322_date(case.received_at),
                direction: case.direction.as_str().to_string(),
            },
            recipient,
            reasons: case.reasons.clone(),
            release,
            actor: case.actor.clone(),
            approvals: case.approvals,
            postmaster: self.settings.postmaster.clone(),
            hostname: self.settings.composer.hostname.clone(),
        }
    }

    pub(crate) async fn audit(&self, case: &Case, action: &str, detail: &str) {
        let Some(store) = &self.store else { return };
        let message_id = case.stored.then_some(case.id.as_str());
        let detail = if case.stored {
            detail.to_string()
        } else {
            format!("{detail} (message {}, not stored)", case.id)
        };
        if let Err(err) = store
            .record_audit("quarantd", action, message_id, &detail)
            .await
        {
            tracing::error!(id = %case.id, error = %err, "Cannot write the audit entry of a notification.");
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

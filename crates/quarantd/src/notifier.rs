//! Notifications sent through the relay: the pipeline's [`Notifier`] seam implemented with
//! `quarantd-notify`, and the same code for the CLI's workflow events.
//!
//! A [`Case`] is an event and the message it happened to: from the daemon's incident (a
//! message held or rejected) or from the store (`release-requested`, `approval-needed`,
//! `released`, `deleted`, sent by `quarantd quarantine`). [`NotifySender::run`] works through
//! `parties(event, direction)`: it skips every party [`quarantd_notify::should_notify`]
//! forbids (never about a bounce, an automatic message or a report; never to a list's
//! sender), finds the addressees (recipient = the local recipients concerned,
//! sender-internal = the envelope sender of outbound/internal mail, postmaster =
//! `notify.postmaster`), renders the template, composes the mail (with an easy-release token
//! for recipients of held mail) and sends it through the relay with the configured envelope
//! sender (null by default). 4xx and connection errors are retried with doubling backoff;
//! every send, and every final failure, is written to the audit log (`notify-sent`,
//! `notify-failed`, actor `quarantd`). The daemon runs it in a bounded pool of workers
//! ([`RelayNotifier`], at most `notify.max_concurrent_sends` runs at once) fed from the
//! store's outbox, where each run about a held or rejected message was queued in the
//! transaction that stored it: the SMTP reply never waits for any of this, and nothing
//! queued is lost at a stop or a crash (the next start of the same node id resumes it). At
//! shutdown the daemon waits a bounded time and audits the runs it stops
//! ([`RelayNotifier::finish`]); the CLI runs it after the workflow step, synchronously, and
//! only warns when a notification failed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;

use quarantd_core::{MailParams, Recipient, XForward};
use quarantd_notify::{
    parties, rfc5322_date, suppression, Approvals, Direction, Event, MessageInfo, Notice, Outgoing,
    Party, Reason, ReleaseLink, Templates,
};
use quarantd_pipeline::{Incident, Notifier};
use quarantd_policy::Policy;
use quarantd_release::token::{issue, Claims, TokenAction};
use quarantd_release::Rules;
use quarantd_smtp::outbound::MailFrom;
use quarantd_smtp::{Relay, RelayError};
use quarantd_store::{MessageDetail, RecipientStatus, Store};

use quarantd_config::notify::NotifySettings;

/// What one notification run is about: an event and the message it happened to, from the
/// daemon's [`Incident`] ([`Case::from_incident`]) or from the quarantine store
/// ([`Case::from_stored`], for the CLI's workflow events).
#[derive(Debug, Clone)]
pub struct Case {
    /// What happened.
    pub event: Event,
    /// The quarantine id (or, for a message not stored, quarantd's id).
    pub id: String,
    /// Whether `id` names a stored message (audit entries are attached to it).
    pub stored: bool,
    /// The envelope sender, empty for `<>`.
    pub mail_from: String,
    /// Every envelope recipient of the (stored) message.
    pub recipients: Vec<String>,
    /// The recipients the `recipient` party means for this event (the held group, the one
    /// who asked, those released, those whose copy was deleted).
    pub concerned: Vec<String>,
    /// The original's header block (at least), for the loop and list rules.
    pub raw: Arc<Vec<u8>>,
    /// `Subject` of the original, unfolded.
    pub subject: String,
    /// `From` of the original, unfolded.
    pub from: String,
    /// When the message was received.
    pub received_at: SystemTime,
    /// The message's direction.
    pub direction: Direction,
    /// The verdict's reasons (`executable`, `virus:Eicar-Signature`).
    pub verdict_reasons: Vec<String>,
    /// What was held and why, per part.
    pub reasons: Vec<Reason>,
    /// Who acted (released, deleted, asked), for the text.
    pub actor: Option<String>,
    /// Approvals so far, for `approval-needed`.
    pub approvals: Option<Approvals>,
}

impl Case {
    /// The case of a message the pipeline held or rejected.
    pub fn from_incident(incident: &Incident) -> Case {
        let recipients: Vec<String> = incident
            .envelope
            .recipients
            .iter()
            .map(|r| r.address.clone())
            .collect();
        Case {
            event: incident.event,
            id: incident
                .quarantine_id
                .clone()
                .unwrap_or_else(|| incident.envelope.id.clone()),
            stored: incident.quarantine_id.is_some(),
            mail_from: incident.envelope.mail_from.clone(),
            concerned: recipients.clone(),
            recipients,
            raw: Arc::clone(&incident.raw),
            subject: header(&incident.raw, "Subject"),
            from: header(&incident.raw, "From"),
            received_at: incident.envelope.received_at,
            direction: incident.direction,
            verdict_reasons: incident.verdict.reasons.clone(),
            reasons: Reason::list(
                &incident.parts,
                &incident.findings,
                &incident.verdict.reasons,
            ),
            actor: None,
            approvals: None,
        }
    }

    /// The case of a stored message (`detail`, and its content while it is still stored:
    /// only its header block is read) for a workflow `event`; `concerned` is who the
    /// recipient party means.
    pub fn from_stored(
        event: Event,
        detail: &MessageDetail,
        raw: Option<Vec<u8>>,
        concerned: Vec<String>,
    ) -> Case {
        let s = &detail.summary;
        let wanted = |r: &str| s.reasons.iter().any(|v| v == r);
        let part_name = |p: &str| if p.is_empty() { "(message)" } else { p }.to_string();
        let mut reasons: Vec<Reason> = detail
            .parts
            .iter()
            .flat_map(|p| {
                p.labels.iter().filter(|l| wanted(l)).map(move |l| Reason {
                    part: part_name(&p.path),
                    filename: p.filename.clone(),
                    reason: l.clone(),
                    text: String::new(),
                })
            })
            .collect();
        for f in &detail.findings {
            let reason = format!("{}:{}", f.kind, f.name);
            if wanted(&reason) {
                reasons.push(Reason {
                    part: f
                        .part
                        .as_deref()
                        .map_or_else(|| "(message)".into(), part_name),
                    filename: f.part.as_ref().and_then(|pp| {
                        detail
                            .parts
                            .iter()
                            .find(|p| &p.path == pp)
                            .and_then(|p| p.filename.clone())
                    }),
                    reason,
                    text: String::new(),
                });
            }
        }
        Case {
            event,
            id: s.id.clone(),
            stored: true,
            mail_from: s.mail_from.clone(),
            recipients: detail
                .recipients
                .iter()
                .map(|r| r.address.clone())
                .collect(),
            concerned,
            raw: Arc::new(raw.unwrap_or_default()),
            subject: s.subject.clone().unwrap_or_default(),
            from: s.from.clone().unwrap_or_default(),
            received_at: UNIX_EPOCH + Duration::from_millis(s.received_at.max(0) as u64),
            direction: parse_direction(&s.direction),
            verdict_reasons: s.reasons.clone(),
            reasons,
            actor: None,
            approvals: None,
        }
    }
}

/// A stored direction (`unknown` for messages held without a policy: inbound).
pub fn parse_direction(s: &str) -> Direction {
    Direction::ALL
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(s.trim()))
        .unwrap_or(Direction::Inbound)
}

/// How one notification ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The party it was for.
    pub party: Party,
    /// The addressee.
    pub to: String,
    /// `Ok(relay reply)`, or why it was finally not sent.
    pub result: Result<String, String>,
}

/// The notification case of stored message `id` for `event`, the recipient party meaning
/// the recipients whose state `concerned` accepts. Read before or after the step, as the
/// step needs (delete: before, the content goes).
pub async fn stored_case(
    store: &Store,
    id: &str,
    event: Event,
    concerned: impl Fn(RecipientStatus) -> bool,
) -> anyhow::Result<Case> {
    let detail = store.get(id).await?;
    let raw = if detail.has_content {
        store.content_for_release(id).await.ok()
    } else {
        None
    };
    let rcpts = detail
        .recipients
        .iter()
        .filter(|r| concerned(r.status))
        .map(|r| r.address.clone())
        .collect();
    Ok(Case::from_stored(event, &detail, raw, rcpts))
}

/// Sends notifications through the relay in the background, at most
/// `notify.max_concurrent_sends` runs at once.
///
/// The queue is the store's outbox: a run about a stored message was queued there in the
/// transaction that stored it (or by an earlier daemon with this node id), so nothing waiting
/// here is lost when the daemon stops or crashes. In memory a run waits as its key; the first
/// `max_concurrent_sends` waiting runs keep the case the pipeline handed over, the others
/// read it back from the store when a worker takes them, so a burst of held messages does
/// not keep their contents in memory. Workers are started on demand, up to the limit, and
/// end when nothing is waiting.
pub struct RelayNotifier {
    inner: Arc<NotifySender>,
    /// This daemon's node id: the owner of its runs in the store's outbox.
    owner: String,
    /// The owner name of versions before node ids (`server.hostname`), whose runs this
    /// daemon takes over at start.
    legacy_owner: Option<String>,
    pool: Arc<Pool>,
}

/// The workers and what waits for them.
struct Pool {
    max: usize,
    state: std::sync::Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    waiting: VecDeque<Run>,
    /// How many waiting runs keep their case in memory.
    cases_waiting: usize,
    /// Workers alive (a worker counts itself out when it finds nothing waiting).
    live: usize,
    workers: JoinSet<()>,
    /// The run each worker is sending now (audited when the daemon stops it).
    current: HashMap<tokio::task::Id, Case>,
}

/// One notification run, waiting or running.
struct Run {
    /// The quarantine id (or quarantd's id, for a message not stored).
    id: String,
    event: Event,
    concerned: Vec<String>,
    queued: Queued,
    /// The case, while kept in memory; `None`: read from the store when the run starts.
    case: Option<Case>,
    /// Failed attempts to read the case from the store.
    load_failures: u32,
}

/// Where a run is queued durably, and so how it is removed when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queued {
    /// Not stored (no quarantine): nothing to remove, not resumed.
    Nowhere,
    /// Queued with its message (owner, message id, event).
    WithMessage,
    /// A row an earlier run of this node left (its key).
    Row(i64),
}

impl PoolState {
    fn lock(pool: &Pool) -> std::sync::MutexGuard<'_, PoolState> {
        pool.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the workers that have ended; one that panicked did not count itself out.
    fn reap(&mut self) {
        while let Some(ended) = self.workers.try_join_next_with_id() {
            if let Err(err) = ended {
                self.live = self.live.saturating_sub(1);
                if let Some(case) = self.current.remove(&err.id()) {
                    tracing::error!(id = %case.id, event = %case.event, error = %err, "A notification worker failed; its run is resumed at the next start.");
                }
            }
        }
    }

    /// The next waiting run, or `None` after counting this worker out.
    fn next(&mut self) -> Option<Run> {
        let run = self.waiting.pop_front();
        match &run {
            Some(r) if r.case.is_some() => self.cases_waiting -= 1,
            Some(_) => {}
            None => {
                self.live -= 1;
                self.current.remove(&tokio::task::id());
            }
        }
        run
    }
}

impl RelayNotifier {
    /// A notifier sending through `relay`, auditing into `store` when there is one, owning
    /// its queued runs there as `owner` (this daemon's node id) and taking over those of
    /// `legacy_owner` (the host name older versions used). `policy` tells local addresses;
    /// `rules` whether a recipient's token releases or asks.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: NotifySettings,
        policy: Arc<Policy>,
        rules: Rules,
        relay: Arc<Relay>,
        store: Option<Store>,
        owner: String,
        legacy_owner: Option<String>,
    ) -> RelayNotifier {
        let max = settings.max_concurrent_sends.max(1);
        RelayNotifier {
            inner: Arc::new(NotifySender::new(settings, policy, rules, relay, store)),
            legacy_owner: legacy_owner.filter(|l| *l != owner),
            owner,
            pool: Arc::new(Pool {
                max,
                state: std::sync::Mutex::new(PoolState::default()),
            }),
        }
    }

    /// Queues a run and starts a worker when fewer than the limit are alive.
    fn enqueue(&self, mut run: Run) {
        let mut state = PoolState::lock(&self.pool);
        state.reap();
        if run.case.is_some() {
            let readable = run.queued != Queued::Nowhere && self.inner.store.is_some();
            if readable && state.cases_waiting >= self.pool.max {
                run.case = None;
            } else {
                state.cases_waiting += 1;
            }
        }
        state.waiting.push_back(run);
        if state.live < self.pool.max {
            state.live += 1;
            let worker = Worker {
                inner: Arc::clone(&self.inner),
                pool: Arc::clone(&self.pool),
                owner: self.owner.clone(),
            };
            state.workers.spawn(worker.work());
        }
    }

    /// At start: resumes the runs this node queued and did not finish (the daemon stopped or
    /// crashed before, or held the message and stopped before its first attempt), after
    /// taking over those queued under the host name by a version before node ids. A run
    /// already partly sent sends its notifications again: at least once. Returns how many
    /// were resumed.
    pub async fn resume(&self) -> usize {
        let Some(store) = self.inner.store.clone() else {
            return 0;
        };
        if let Some(legacy) = &self.legacy_owner {
            match store.outbox_adopt(legacy, &self.owner).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(taken = n, host = %legacy, node_id = %self.owner, "Took over notifications queued under this host's name by an earlier version.");
                }
                Err(err) => {
                    tracing::error!(error = %err, host = %legacy, "Cannot take over the notifications queued under this host's name.");
                }
            }
        }
        let entries = match store.outbox_of(&self.owner).await {
            Ok(entries) => entries,
            Err(err) => {
                tracing::error!(error = %err, "Cannot read the notification queue; unfinished notifications are not resumed.");
                return 0;
            }
        };
        let mut resumed = 0;
        for entry in entries {
            let Some(event) = Event::ALL.into_iter().find(|e| e.as_str() == entry.event) else {
                tracing::warn!(id = %entry.message_id, event = %entry.event, "Dropping a queued notification of an unknown event.");
                let _ = store.outbox_remove(entry.seq).await;
                continue;
            };
            tracing::info!(id = %entry.message_id, event = %entry.event, "Resuming a notification the daemon did not finish before it stopped.");
            self.enqueue(Run {
                id: entry.message_id,
                event,
                concerned: entry.concerned,
                queued: Queued::Row(entry.seq),
                case: None,
                load_failures: 0,
            });
            resumed += 1;
        }
        resumed
    }

    /// At shutdown: waits up to `within` for the runs waiting and being sent (a first
    /// attempt is seconds; one waiting to retry may take minutes). Those still being sent
    /// then are stopped, and each is logged and written to the audit log as `notify-failed`,
    /// so the loss is seen, never silent; runs not started stay queued. Every run about a
    /// stored message is resumed by the next start with this node id. Returns how many runs
    /// were left unfinished.
    pub async fn finish(&self, within: std::time::Duration) -> usize {
        let mut workers = std::mem::take(&mut PoolState::lock(&self.pool).workers);
        let waited = tokio::time::timeout(within, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if waited.is_ok() {
            return 0;
        }
        workers.abort_all();
        while workers.join_next().await.is_some() {}
        let (stopped, left) = {
            let mut state = PoolState::lock(&self.pool);
            let stopped: Vec<Case> = state.current.drain().map(|(_, case)| case).collect();
            let left = std::mem::take(&mut state.waiting);
            (stopped, left)
        };
        for case in &stopped {
            tracing::warn!(id = %case.id, event = %case.event, "Notification not sent: the daemon stopped first.");
            let next = if case.stored && self.inner.store.is_some() {
                "resumed when the daemon starts again with this node id"
            } else {
                "not resumed"
            };
            let detail = format!(
                "event={}: unfinished, the daemon stopped first (what was sent is audited as notify-sent); {next}",
                case.event
            );
            self.inner.audit(case, "notify-failed", &detail).await;
        }
        if !left.is_empty() {
            let not_stored = left.iter().filter(|r| r.queued == Queued::Nowhere).count();
            tracing::warn!(
                waiting = left.len(),
                not_stored,
                "Notifications not started before the daemon stopped; those about stored messages are resumed at the next start."
            );
        }
        stopped.len() + left.len()
    }
}

impl Notifier for RelayNotifier {
    fn notify(&self, incident: Incident) {
        let case = Case::from_incident(&incident);
        let queued = if case.stored {
            Queued::WithMessage
        } else {
            Queued::Nowhere
        };
        self.enqueue(Run {
            id: case.id.clone(),
            event: case.event,
            concerned: case.concerned.clone(),
            queued,
            case: Some(case),
            load_failures: 0,
        });
    }
}

/// One worker of the pool: takes waiting runs one after the other until none is left.
struct Worker {
    inner: Arc<NotifySender>,
    pool: Arc<Pool>,
    owner: String,
}

impl Worker {
    async fn work(self) {
        loop {
            let Some(run) = PoolState::lock(&self.pool).next() else {
                return;
            };
            let Some((run, case)) = self.case_of(run).await else {
                continue;
            };
            PoolState::lock(&self.pool)
                .current
                .insert(tokio::task::id(), case.clone());
            self.inner.run(&case).await;
            self.dequeue(&run).await;
            PoolState::lock(&self.pool)
                .current
                .remove(&tokio::task::id());
        }
    }

    /// The run's case: kept in memory, or read from the store. A message that is gone ends
    /// the run; a store that fails is tried again later (the run goes to the back of the
    /// queue), at most `notify.max_attempts` times, then left for the next start.
    async fn case_of(&self, mut run: Run) -> Option<(Run, Case)> {
        if let Some(case) = run.case.take() {
            return Some((run, case));
        }
        let store = self.inner.store.as_ref()?;
        let loaded = stored_case(store, &run.id, run.event, |_| false).await;
        match loaded {
            Ok(mut case) => {
                case.concerned = run.concerned.clone();
                Some((run, case))
            }
            Err(err) if is_gone(&err) => {
                tracing::warn!(id = %run.id, event = %run.event, "Dropping a queued notification: the message is no longer stored.");
                self.dequeue(&run).await;
                None
            }
            Err(err) => {
                run.load_failures += 1;
                if run.load_failures >= self.inner.settings.max_attempts {
                    tracing::error!(id = %run.id, event = %run.event, error = %format!("{err:#}"), "Cannot read a queued notification's message; it is resumed at the next start.");
                    return None;
                }
                tracing::warn!(id = %run.id, event = %run.event, error = %format!("{err:#}"), "Cannot read a queued notification's message; trying again later.");
                tokio::time::sleep(self.inner.settings.first_backoff).await;
                let mut state = PoolState::lock(&self.pool);
                state.waiting.push_back(run);
                None
            }
        }
    }

    /// Removes a finished run from the store's outbox.
    async fn dequeue(&self, run: &Run) {
        let Some(store) = &self.inner.store else {
            return;
        };
        let removed = match run.queued {
            Queued::Nowhere => return,
            Queued::WithMessage => {
                store
                    .outbox_remove_run(&self.owner, &run.id, run.event.as_str())
                    .await
            }
            Queued::Row(seq) => store.outbox_remove(seq).await,
        };
        if let Err(err) = removed {
            tracing::warn!(id = %run.id, error = %err, "Cannot remove a finished notification from the store's queue; it may be sent again after a restart.");
        }
    }
}

/// True when the error says the message is not in the store (expired, or never was).
fn is_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<quarantd_store::Error>()
            .is_some_and(quarantd_store::Error::is_not_found)
    })
}

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
    settings: NotifySettings,
    templates: Templates,
    policy: Arc<Policy>,
    rules: Rules,
    relay: Arc<Relay>,
    store: Option<Store>,
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
                tracing::error!(id = %id, %what, error = %err, "Cannot compose a notification.");
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
                    tracing::info!(id = %id, %what, template = %template, attempt, relay = %reply, "Notification sent.");
                    let detail = format!("{what} template={template} attempt={attempt}: {reply}");
                    self.audit(case, "notify-sent", &detail).await;
                    return Ok(reply);
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

    async fn audit(&self, case: &Case, action: &str, detail: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_directions_parse_unknown_as_inbound() {
        assert_eq!(parse_direction("outbound"), Direction::Outbound);
        assert_eq!(parse_direction("Internal"), Direction::Internal);
        assert_eq!(parse_direction("inbound"), Direction::Inbound);
        assert_eq!(parse_direction("unknown"), Direction::Inbound);
    }

    #[test]
    fn headers_are_unfolded_and_cut() {
        let raw = b"From: a@example.org\r\nSubject: one\r\n two\r\n\r\nSubject: body\r\n";
        assert_eq!(header(raw, "subject"), "one two");
        assert_eq!(header(raw, "To"), "");
    }
}

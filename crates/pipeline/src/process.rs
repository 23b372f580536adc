//! The orchestration of one message: stages in order, then commit, then one log line.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quarantd_core::{Action, Classified, Committed, Envelope, Held, Hold, Scanned, Verdict};
use quarantd_policy::{apply_subject_tag, Direction, Event, Group, TAG_HEADER};
use quarantd_smtp::inbound::relay_failure_reply;
use quarantd_smtp::outbound::MailFrom;
use quarantd_smtp::{MessageHandler, Relay, Reply, Transaction};
use tokio::sync::Semaphore;

use crate::error::{chain, StageError, StageFailure};
use crate::headers::{added_headers, warning_header};
use crate::ledger::Ledger;
use crate::notice::{Incident, Notifier};
use crate::stages::{Plan, Stages};

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// This host's name, for the added header.
    pub hostname: String,
    /// quarantd's version, for the added header.
    pub version: String,
    /// Time allowed for decompose and classify together.
    pub analysis_timeout: Duration,
    /// Time allowed for scanning.
    pub scan_timeout: Duration,
    /// Messages analysed at once on the blocking pool.
    pub analysis_workers: usize,
}

impl PipelineConfig {
    /// Defaults for `hostname`.
    pub fn new(hostname: impl Into<String>) -> Self {
        PipelineConfig {
            hostname: hostname.into(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            analysis_timeout: Duration::from_secs(120),
            scan_timeout: Duration::from_secs(300),
            analysis_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// The per-message pipeline; see the crate documentation.
pub struct Pipeline {
    config: PipelineConfig,
    stages: Arc<Stages>,
    workers: Arc<Semaphore>,
    quarantine: Option<Arc<dyn Hold>>,
    notifier: Option<Arc<dyn Notifier>>,
}

impl Pipeline {
    /// A pipeline running `stages`.
    pub fn new(config: PipelineConfig, stages: Stages) -> Self {
        let workers = Arc::new(Semaphore::new(config.analysis_workers.max(1)));
        Pipeline {
            config,
            stages: Arc::new(stages),
            workers,
            quarantine: None,
            notifier: None,
        }
    }

    /// This pipeline with a quarantine: held messages are committed there before the 250,
    /// and a rejected message leaves a copy there before the 5xx.
    pub fn with_quarantine(mut self, quarantine: Arc<dyn Hold>) -> Self {
        self.quarantine = Some(quarantine);
        self
    }

    /// This pipeline with notifications: after a message was held or rejected, the notifier
    /// gets an [`Incident`] (it sends in the background).
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Runs decompose, classify, scan and decide on one message.
    pub async fn analyse(
        &self,
        envelope: &Envelope,
        data: Arc<Vec<u8>>,
    ) -> Result<(Scanned, Verdict), StageError> {
        let (scanned, plan) = self.analyse_plan(envelope, data).await?;
        Ok((scanned, plan.verdict))
    }

    /// Runs decompose, classify, scan and decide; returns what to carry out per recipient.
    pub async fn analyse_plan(
        &self,
        envelope: &Envelope,
        data: Arc<Vec<u8>>,
    ) -> Result<(Scanned, Plan), StageError> {
        let classified = self.decompose_and_classify(Arc::clone(&data)).await?;
        let scan = self.stages.scan.scan(&data, classified);
        let scanned = match tokio::time::timeout(self.config.scan_timeout, AssertUnwindFuture(scan))
            .await
        {
            Err(_) => {
                let limit = self.config.scan_timeout;
                return Err(StageError::new("scan", StageFailure::Timeout(limit)));
            }
            Ok(Err(panic)) => return Err(StageError::new("scan", StageFailure::Panicked(panic))),
            Ok(Ok(result)) => result?,
        };
        let plan = guard("decide", || Ok(self.stages.decide.plan(envelope, &scanned)))?;
        Ok((scanned, plan))
    }

    /// Decompose and classify on the blocking pool, bounded in number and time. The
    /// thread owns its permit: when the timeout answers the message, the permit is given
    /// back only once the thread has really ended (the parsers' own deadline ends it), so
    /// retries of a hostile message can never add threads beyond `analysis_workers`. The
    /// wait for a permit is bounded by the same timeout: when every worker is still busy
    /// with such messages, the next one is deferred (451), not left waiting.
    async fn decompose_and_classify(&self, data: Arc<Vec<u8>>) -> Result<Classified, StageError> {
        let wait = self.config.analysis_timeout;
        let permit =
            match tokio::time::timeout(wait, Arc::clone(&self.workers).acquire_owned()).await {
                Err(_) => return Err(StageError::new("decompose", StageFailure::NoWorker(wait))),
                Ok(permit) => permit.map_err(|closed| {
                    StageError::new("decompose", StageFailure::PoolClosed).caused_by(closed)
                })?,
            };
        let stages = Arc::clone(&self.stages);
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let decomposed = guard("decompose", || stages.decompose.decompose(&data))?;
            guard("classify", || stages.classify.classify(decomposed))
        });
        match tokio::time::timeout(self.config.analysis_timeout, task).await {
            Err(_) => {
                let limit = self.config.analysis_timeout;
                Err(StageError::new("decompose", StageFailure::Timeout(limit)))
            }
            Ok(Err(join)) => {
                Err(StageError::new("decompose", StageFailure::TaskFailed).caused_by(join))
            }
            Ok(Ok(result)) => result,
        }
    }

    /// Carries out the plan: deliver, hold, or drop downstream and answer accordingly;
    /// records in `ledger` what was done for whom.
    async fn commit(
        &self,
        envelope: &Envelope,
        data: &Arc<Vec<u8>>,
        scanned: &Scanned,
        plan: &Plan,
        txn: Transaction,
        ledger: &mut Ledger,
    ) -> (Action, Reply) {
        if !plan.split.is_empty() {
            return self
                .commit_split(envelope, data, scanned, plan, txn, ledger)
                .await;
        }
        let verdict = &plan.verdict;
        let direction = plan.direction_str();
        let reasons = verdict.reasons.join(", ");
        let everyone = || envelope.recipients.iter().map(|r| r.address.as_str());
        match verdict.action {
            Action::Pass | Action::Tag => {
                let tag = plan.subject_tag.as_deref();
                match self.deliver(envelope, data, verdict, tag, txn).await {
                    Ok(reply) => {
                        ledger.delivered(everyone());
                        let text = format!(
                            "2.0.0 Ok: {} delivered, relay said: {}",
                            envelope.id,
                            reply.text()
                        );
                        (verdict.action, Reply::new(250, text))
                    }
                    Err(reply) => (failure_outcome(&reply), reply),
                }
            }
            Action::Quarantine => {
                txn.abort().await;
                match self.hold(envelope, data, scanned, verdict, direction).await {
                    Some(Ok(id)) => {
                        ledger.held(everyone());
                        self.announce(
                            Event::Quarantined,
                            envelope,
                            data,
                            scanned,
                            verdict,
                            plan,
                            Some(id.clone()),
                        );
                        (
                            Action::Quarantine,
                            Reply::new(
                                250,
                                format!("2.0.0 Ok: held in quarantine as {id} ({reasons})"),
                            ),
                        )
                    }
                    Some(Err(reply)) => (Action::Tempfail, reply),
                    None => {
                        let text = format!("4.7.1 Message held ({reasons}); no quarantine store is configured, try again later");
                        (Action::Tempfail, Reply::new(451, text))
                    }
                }
            }
            Action::Reject => {
                txn.abort().await;
                match self.hold(envelope, data, scanned, verdict, direction).await {
                    Some(Err(reply)) => (Action::Tempfail, reply),
                    stored => {
                        let id = stored.and_then(Result::ok);
                        self.announce(Event::Rejected, envelope, data, scanned, verdict, plan, id);
                        (
                            Action::Reject,
                            Reply::new(554, format!("5.7.1 Message rejected: {reasons}")),
                        )
                    }
                }
            }
            Action::Tempfail => {
                txn.abort().await;
                (Action::Tempfail, deferred(verdict))
            }
        }
    }

    /// Carries out a plan whose recipients have different outcomes (`quarantd_policy`'s
    /// rule): the transaction opened at RCPT time (every recipient) is dropped; a tempfail
    /// group defers the whole message (451) before anything is done; the held recipients
    /// (quarantine groups, and reject groups, which become holds as in the policy) are
    /// committed to the store first as one message, then every delivering group goes
    /// downstream in its own transaction with just its recipients; 250 once all are done.
    /// A store failure: 451, nothing delivered. A relay failure after something was
    /// committed or delivered: 451 (the retry may hold or deliver a second copy, see
    /// ARCHITECTURE.md); before: the relay's reply. Whatever is left out, the ledger's check
    /// in [`Pipeline::process`] turns the 250 into a 451.
    async fn commit_split(
        &self,
        envelope: &Envelope,
        data: &Arc<Vec<u8>>,
        scanned: &Scanned,
        plan: &Plan,
        txn: Transaction,
        ledger: &mut Ledger,
    ) -> (Action, Reply) {
        let relay = txn.relay();
        txn.abort().await;
        if let Some(group) = plan
            .split
            .iter()
            .find(|g| g.verdict.action == Action::Tempfail)
        {
            return (Action::Tempfail, deferred(&group.verdict));
        }
        let mut done: Vec<String> = Vec::new();
        if let Some(group) = held_group(&plan.split) {
            match self.hold_group(envelope, data, scanned, plan, &group).await {
                Ok(note) => {
                    ledger.held(group.recipients.iter().map(String::as_str));
                    done.push(note);
                }
                Err(reply) => return (Action::Tempfail, reply),
            }
        }
        for group in plan.split.iter().filter(|g| g.verdict.action.delivers()) {
            match self.deliver_group(&relay, envelope, data, group).await {
                Ok(()) => {
                    ledger.delivered(group.recipients.iter().map(String::as_str));
                    done.push(format!(
                        "delivered to {} ({})",
                        group.recipients.len(),
                        group.verdict.header_value()
                    ));
                }
                Err(reply) if done.is_empty() => return (failure_outcome(&reply), reply),
                Err(reply) => {
                    tracing::warn!(id = %envelope.id, done = %done.join("; "), relay = %reply, "Relay failed for one group of a split message after others were carried out; deferring the whole message (its retry may duplicate them).");
                    return (
                        Action::Tempfail,
                        Reply::new(
                            451,
                            "4.4.1 Relay unavailable for some recipients, try again later",
                        ),
                    );
                }
            }
        }
        (
            plan.verdict.action,
            Reply::new(
                250,
                format!("2.0.0 Ok: {} {}", envelope.id, done.join("; ")),
            ),
        )
    }

    /// Commits the held recipients of a split message as one stored message and announces
    /// it; `Ok` with the note for the 250, else the reply (451).
    async fn hold_group(
        &self,
        envelope: &Envelope,
        data: &Arc<Vec<u8>>,
        scanned: &Scanned,
        plan: &Plan,
        group: &Group,
    ) -> Result<String, Reply> {
        let held_envelope = with_recipients(envelope, &group.recipients);
        let reasons = group.verdict.reasons.join(", ");
        match self
            .hold(
                &held_envelope,
                data,
                scanned,
                &group.verdict,
                plan.direction_str(),
            )
            .await
        {
            Some(Ok(id)) => {
                self.announce(
                    Event::Quarantined,
                    &held_envelope,
                    data,
                    scanned,
                    &group.verdict,
                    plan,
                    Some(id.clone()),
                );
                Ok(format!(
                    "held in quarantine as {id} for {} ({reasons})",
                    held_envelope.recipients.len()
                ))
            }
            Some(Err(reply)) => Err(reply),
            None => Err(Reply::new(
                451,
                format!("4.7.1 Message held for some recipients ({reasons}); no quarantine store is configured, try again later"),
            )),
        }
    }

    /// Delivers a split message's group in a transaction of its own.
    async fn deliver_group(
        &self,
        relay: &Arc<Relay>,
        envelope: &Envelope,
        data: &Arc<Vec<u8>>,
        group: &Group,
    ) -> Result<(), Reply> {
        let group_envelope = with_recipients(envelope, &group.recipients);
        let txn = self.begin_group(relay, &group_envelope).await?;
        self.deliver(
            &group_envelope,
            data,
            &group.verdict,
            group.subject_tag.as_deref(),
            txn,
        )
        .await
        .map(|_| ())
    }

    /// Opens a relay transaction for the recipients of `envelope`; every one must be
    /// accepted (they were at RCPT time).
    async fn begin_group(
        &self,
        relay: &Arc<Relay>,
        envelope: &Envelope,
    ) -> Result<Transaction, Reply> {
        let mail = MailFrom {
            address: &envelope.mail_from,
            params: &envelope.mail_params,
            xforward: &envelope.xforward,
        };
        let mut txn = relay.begin(mail).await.map_err(|err| {
            tracing::warn!(id = %envelope.id, error = %err, "Relay failed opening a transaction for a group of recipients.");
            relay_failure_reply(&err)
        })?;
        for rcpt in &envelope.recipients {
            match txn.rcpt(rcpt).await {
                Ok(reply) if reply.is_positive() => {}
                Ok(reply) => {
                    txn.abort().await;
                    return Err(reply);
                }
                Err(err) => {
                    tracing::warn!(id = %envelope.id, error = %err, "Relay failed at RCPT TO for a group of recipients.");
                    return Err(relay_failure_reply(&err));
                }
            }
        }
        Ok(txn)
    }

    /// Hands an incident to the notifier, if there is one (returns at once).
    #[allow(clippy::too_many_arguments)]
    fn announce(
        &self,
        event: Event,
        envelope: &Envelope,
        data: &Arc<Vec<u8>>,
        scanned: &Scanned,
        verdict: &Verdict,
        plan: &Plan,
        quarantine_id: Option<String>,
    ) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        notifier.notify(Incident {
            event,
            envelope: envelope.clone(),
            raw: Arc::clone(data),
            parts: scanned.classified.part_list(),
            findings: scanned.findings.clone(),
            verdict: verdict.clone(),
            direction: plan.direction.unwrap_or(Direction::Inbound),
            quarantine_id,
        });
    }

    /// Commits the message to the quarantine, when there is one: `Some(Ok(id))` once it is
    /// durable, `Some(Err(451))` when the store failed, transient or not (the message stays
    /// in Postfix's queue); the log line has the store's error chain.
    async fn hold(
        &self,
        envelope: &Envelope,
        data: &[u8],
        scanned: &Scanned,
        verdict: &Verdict,
        direction: &str,
    ) -> Option<Result<String, Reply>> {
        let quarantine = self.quarantine.as_ref()?;
        let parts = scanned.classified.part_list();
        let held = Held {
            envelope,
            raw: data,
            parts: &parts,
            findings: &scanned.findings,
            verdict,
            direction,
        };
        Some(quarantine.hold(held).await.map_err(|err| {
            tracing::error!(id = %envelope.id, transient = err.is_transient(), error = %chain(&err), "Cannot store the message in the quarantine; it is deferred.");
            Reply::new(451, "4.3.0 Quarantine store unavailable, try again later")
        }))
    }

    /// Sends the message down `txn` with quarantd's headers (and, for `tag`, the warning
    /// header and the subject tag) instead of any `X-Quarantd*` fields it arrived with. `Ok` with the relay's positive reply, else the reply for
    /// upstream.
    async fn deliver(
        &self,
        envelope: &Envelope,
        data: &[u8],
        verdict: &Verdict,
        subject_tag: Option<&str>,
        txn: Transaction,
    ) -> Result<Reply, Reply> {
        let mut headers = added_headers(
            &self.config.version,
            &self.config.hostname,
            &envelope.id,
            verdict,
        );
        // Fields with our names that came with the message are not passed on: only ours.
        let stripped = quarantd_core::headers::strip_own_headers(data);
        if stripped.is_some() {
            tracing::info!(id = %envelope.id, "Removed X-Quarantd header fields the message arrived with.");
        }
        let data = stripped.as_deref().unwrap_or(data);
        let tagged;
        let body = if verdict.action == Action::Tag {
            headers.extend_from_slice(&warning_header(TAG_HEADER, verdict));
            match subject_tag {
                Some(tag) => {
                    tagged = apply_subject_tag(data, tag);
                    &tagged[..]
                }
                None => data,
            }
        } else {
            data
        };
        match txn.data(&headers, body).await {
            Ok(reply) if reply.is_positive() => Ok(reply),
            Ok(reply) => Err(reply),
            Err(err) => {
                tracing::warn!(id = %envelope.id, error = %err, "Relay failed while delivering.");
                Err(relay_failure_reply(&err))
            }
        }
    }

    /// The whole path of one message; returns what was done and the reply for upstream.
    pub async fn process(
        &self,
        envelope: &Envelope,
        data: Vec<u8>,
        txn: Transaction,
    ) -> (Committed, Reply) {
        let data = Arc::new(data);
        match self.analyse_plan(envelope, Arc::clone(&data)).await {
            Ok((scanned, plan)) => {
                let mut ledger = Ledger::new(envelope);
                let (outcome, reply) = self
                    .commit(envelope, &data, &scanned, &plan, txn, &mut ledger)
                    .await;
                // The last check before any 2xx: every recipient delivered or held, once.
                let (outcome, reply) = ledger.settle(&envelope.id, outcome, reply);
                (
                    Committed {
                        verdict: plan.verdict,
                        outcome,
                    },
                    reply,
                )
            }
            Err(err) => {
                txn.abort().await;
                tracing::error!(id = %envelope.id, stage = err.stage, kind = err.kind.as_str(), error = %chain(&err), "A stage failed; the message is deferred.");
                let verdict = Verdict {
                    action: Action::Tempfail,
                    reasons: vec![format!("{}-failed", err.stage)],
                };
                let reply = stage_failure_reply(&err);
                (
                    Committed {
                        verdict,
                        outcome: Action::Tempfail,
                    },
                    reply,
                )
            }
        }
    }
}

impl MessageHandler for Pipeline {
    async fn handle(&self, envelope: Envelope, data: Vec<u8>, txn: Transaction) -> Reply {
        let started = Instant::now();
        let size = data.len();
        let (committed, reply) = self.process(&envelope, data, txn).await;
        let scan = self.stages.scan.unscanned().then_some("unscanned");
        log_message(&envelope, size, &committed, &reply, scan, started.elapsed());
        reply
    }
}

/// What was done when the relay refused or failed: reject for 5xx, else tempfail.
fn failure_outcome(reply: &Reply) -> Action {
    if reply.is_permanent() {
        Action::Reject
    } else {
        Action::Tempfail
    }
}

/// The 451 of a tempfail verdict.
fn deferred(verdict: &Verdict) -> Reply {
    Reply::new(
        451,
        format!("4.7.1 Message deferred: {}", verdict.reasons.join(", ")),
    )
}

/// The held recipients of a split plan as one group: every quarantine group and every
/// reject group (a reject for some recipients is a hold, as `quarantd_policy` decides), the
/// reasons merged. `None` when nobody is held.
fn held_group(split: &[Group]) -> Option<Group> {
    let mut held: Option<Group> = None;
    for group in split
        .iter()
        .filter(|g| matches!(g.verdict.action, Action::Quarantine | Action::Reject))
    {
        let into = held.get_or_insert_with(|| Group {
            verdict: Verdict {
                action: Action::Quarantine,
                reasons: Vec::new(),
            },
            subject_tag: None,
            recipients: Vec::new(),
        });
        for reason in &group.verdict.reasons {
            if !into.verdict.reasons.contains(reason) {
                into.verdict.reasons.push(reason.clone());
            }
        }
        into.recipients.extend(group.recipients.iter().cloned());
    }
    held
}

/// The envelope of `envelope` with only `recipients` (in envelope order).
fn with_recipients(envelope: &Envelope, recipients: &[String]) -> Envelope {
    let mut out = envelope.clone();
    out.recipients
        .retain(|r| recipients.iter().any(|a| a == &r.address));
    out
}

/// The 4xx for a failed stage: a scanner that failed says so, anything else is internal.
fn stage_failure_reply(err: &StageError) -> Reply {
    let text = if err.stage == "scan" {
        "4.3.0 Virus scan failed (scanner unavailable or too slow), try again later".to_string()
    } else {
        format!(
            "4.3.0 Internal error in stage {}, try again later",
            err.stage
        )
    };
    Reply::new(451, text)
}

/// The one structured line per message: `verdict` is the action, `reasons` its reasons
/// joined by commas (left out when there are none); `scan` is `unscanned` when no scanner is
/// configured (the field is left out otherwise).
fn log_message(
    envelope: &Envelope,
    size: usize,
    committed: &Committed,
    reply: &Reply,
    scan: Option<&str>,
    took: Duration,
) {
    let recipients: Vec<&str> = envelope
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    let verdict = &committed.verdict;
    let reasons = (!verdict.reasons.is_empty()).then(|| verdict.reasons.join(","));
    tracing::info!(
        target: "quarantd::message",
        id = %envelope.id,
        queue_id = envelope.upstream_queue_id().unwrap_or("-"),
        client = envelope.xforward.get("ADDR").unwrap_or("-"),
        sender = %envelope.mail_from,
        recipients = %recipients.join(","),
        size,
        verdict = %verdict.action,
        reasons = reasons.as_deref(),
        outcome = %committed.outcome,
        reply = %reply,
        scan = scan.map(tracing::field::display),
        ms = took.as_millis() as u64,
        "Message processed."
    );
}

/// Runs a synchronous stage, turning a panic into a [`StageError`].
fn guard<T>(
    stage: &'static str,
    f: impl FnOnce() -> Result<T, StageError>,
) -> Result<T, StageError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => Err(StageError::new(
            stage,
            StageFailure::Panicked(panic_message(&*panic)),
        )),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A future whose panics are caught and returned as the message.
struct AssertUnwindFuture<F>(F);

impl<F: std::future::Future + Unpin> std::future::Future for AssertUnwindFuture<F> {
    type Output = Result<F::Output, String>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| std::pin::Pin::new(inner).poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(out)) => std::task::Poll::Ready(Ok(out)),
            Err(panic) => std::task::Poll::Ready(Err(panic_message(&*panic))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_core::{HoldError, HoldFuture};

    /// A quarantine whose store always fails, transiently or not.
    struct FailingHold {
        transient: bool,
    }

    impl Hold for FailingHold {
        fn hold<'a>(&'a self, _held: Held<'a>) -> HoldFuture<'a> {
            let cause = std::io::Error::other("database is locked");
            let err = if self.transient {
                HoldError::transient(cause)
            } else {
                HoldError::permanent(cause)
            };
            Box::pin(async move { Err(err) })
        }
    }

    fn envelope() -> Envelope {
        Envelope {
            id: "q1".into(),
            peer: ([127, 0, 0, 1], 10025).into(),
            helo: String::new(),
            mail_from: "a@example.org".into(),
            mail_params: Default::default(),
            recipients: vec![quarantd_core::Recipient::plain("b@example.org")],
            xforward: Default::default(),
            received_at: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    /// A store failure, transient or permanent, is a 451: never a 250, and the message is
    /// not taken as held.
    #[tokio::test]
    async fn a_store_failure_defers_the_message() {
        let verdict = Verdict {
            action: Action::Quarantine,
            reasons: vec!["executable".into()],
        };
        for transient in [true, false] {
            let pipeline = Pipeline::new(
                PipelineConfig::new("filter.test"),
                Stages::standard(Default::default(), Default::default()),
            )
            .with_quarantine(Arc::new(FailingHold { transient }));
            let held = pipeline
                .hold(
                    &envelope(),
                    b"raw",
                    &Scanned::default(),
                    &verdict,
                    "inbound",
                )
                .await
                .expect("a quarantine is configured");
            let reply = held.expect_err("the store failed");
            assert_eq!(reply.code, 451, "transient {transient}: {reply}");
            assert_eq!(
                reply.text(),
                "4.3.0 Quarantine store unavailable, try again later"
            );
        }
    }

    #[test]
    fn guard_turns_panics_into_stage_errors() {
        let err = guard::<()>("classify", || panic!("boom")).unwrap_err();
        assert_eq!(err.stage, "classify");
        assert_eq!(err.kind, StageFailure::Panicked("boom".into()));
    }
}

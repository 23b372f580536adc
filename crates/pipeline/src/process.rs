//! The orchestration of one message: stages in order, then commit, then one log line.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quarantd_core::{Action, Classified, Committed, Envelope, Scanned, Verdict};
use quarantd_smtp::inbound::relay_failure_reply;
use quarantd_smtp::{MessageHandler, Reply, Transaction};
use tokio::sync::Semaphore;

use crate::headers::added_headers;
use crate::hold::{Held, Hold};
use crate::stages::{StageError, Stages};

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
        }
    }

    /// This pipeline with a quarantine: held messages are committed there before the 250,
    /// and a rejected message leaves a copy there before the 5xx.
    pub fn with_quarantine(mut self, quarantine: Arc<dyn Hold>) -> Self {
        self.quarantine = Some(quarantine);
        self
    }

    /// Runs decompose, classify, scan and decide on one message.
    pub async fn analyse(
        &self,
        envelope: &Envelope,
        data: Arc<Vec<u8>>,
    ) -> Result<(Scanned, Verdict), StageError> {
        let classified = self.decompose_and_classify(Arc::clone(&data)).await?;
        let scan = self.stages.scan.scan(&data, classified);
        let scanned = match tokio::time::timeout(self.config.scan_timeout, AssertUnwindFuture(scan))
            .await
        {
            Err(_) => {
                return Err(StageError::new(
                    "scan",
                    format!("no result within {} s", self.config.scan_timeout.as_secs()),
                ))
            }
            Ok(Err(panic)) => return Err(StageError::new("scan", format!("panicked: {panic}"))),
            Ok(Ok(result)) => result?,
        };
        let verdict = guard("decide", || {
            Ok(self.stages.decide.decide(envelope, &scanned))
        })?;
        Ok((scanned, verdict))
    }

    /// Decompose and classify on the blocking pool, bounded in number and time.
    async fn decompose_and_classify(&self, data: Arc<Vec<u8>>) -> Result<Classified, StageError> {
        let _permit = self
            .workers
            .acquire()
            .await
            .map_err(|_| StageError::new("decompose", "analysis pool closed"))?;
        let stages = Arc::clone(&self.stages);
        let task = tokio::task::spawn_blocking(move || {
            let decomposed = guard("decompose", || stages.decompose.decompose(&data))?;
            guard("classify", || stages.classify.classify(decomposed))
        });
        match tokio::time::timeout(self.config.analysis_timeout, task).await {
            Err(_) => Err(StageError::new(
                "decompose",
                format!(
                    "analysis took longer than {} s",
                    self.config.analysis_timeout.as_secs()
                ),
            )),
            Ok(Err(join)) => Err(StageError::new(
                "decompose",
                format!("analysis task failed: {join}"),
            )),
            Ok(Ok(result)) => result,
        }
    }

    /// Carries out the verdict: deliver, or drop downstream and answer accordingly.
    async fn commit(
        &self,
        envelope: &Envelope,
        data: &[u8],
        scanned: &Scanned,
        verdict: &Verdict,
        txn: Transaction,
    ) -> (Action, Reply) {
        let reasons = verdict.reasons.join(", ");
        match verdict.action {
            Action::Pass | Action::Tag => self.deliver(envelope, data, verdict, txn).await,
            Action::Quarantine => {
                txn.abort().await;
                match self.hold(envelope, data, scanned, verdict).await {
                    Some(Ok(id)) => (
                        Action::Quarantine,
                        Reply::new(
                            250,
                            format!("2.0.0 Ok: held in quarantine as {id} ({reasons})"),
                        ),
                    ),
                    Some(Err(reply)) => (Action::Tempfail, reply),
                    None => {
                        let text = format!("4.7.1 Message held ({reasons}); no quarantine store is configured, try again later");
                        (Action::Tempfail, Reply::new(451, text))
                    }
                }
            }
            Action::Reject => {
                txn.abort().await;
                match self.hold(envelope, data, scanned, verdict).await {
                    Some(Err(reply)) => (Action::Tempfail, reply),
                    Some(Ok(_)) | None => (
                        Action::Reject,
                        Reply::new(554, format!("5.7.1 Message rejected: {reasons}")),
                    ),
                }
            }
            Action::Tempfail => {
                txn.abort().await;
                (
                    Action::Tempfail,
                    Reply::new(451, format!("4.7.1 Message deferred: {reasons}")),
                )
            }
        }
    }

    /// Commits the message to the quarantine, when there is one: `Some(Ok(id))` once it is
    /// durable, `Some(Err(451))` when the store failed (the message stays in Postfix's queue).
    async fn hold(
        &self,
        envelope: &Envelope,
        data: &[u8],
        scanned: &Scanned,
        verdict: &Verdict,
    ) -> Option<Result<String, Reply>> {
        let quarantine = self.quarantine.as_ref()?;
        let parts = scanned.classified.part_list();
        let held = Held {
            envelope,
            raw: data,
            parts: &parts,
            findings: &scanned.findings,
            verdict,
        };
        Some(quarantine.hold(held).await.map_err(|err| {
            tracing::error!(id = %envelope.id, error = %err, "Cannot store the message in the quarantine; it is deferred.");
            Reply::new(451, "4.3.0 Quarantine store unavailable, try again later")
        }))
    }

    async fn deliver(
        &self,
        envelope: &Envelope,
        data: &[u8],
        verdict: &Verdict,
        txn: Transaction,
    ) -> (Action, Reply) {
        let headers = added_headers(
            &self.config.version,
            &self.config.hostname,
            &envelope.id,
            verdict,
        );
        match txn.data(&headers, data).await {
            Ok(reply) if reply.is_positive() => {
                let text = format!(
                    "2.0.0 Ok: {} delivered, relay said: {}",
                    envelope.id,
                    reply.text()
                );
                (verdict.action, Reply::new(250, text))
            }
            Ok(reply) => {
                let outcome = if reply.is_permanent() {
                    Action::Reject
                } else {
                    Action::Tempfail
                };
                (outcome, reply)
            }
            Err(err) => {
                tracing::warn!(id = %envelope.id, error = %err, "Relay failed while delivering.");
                let reply = relay_failure_reply(&err);
                let outcome = if reply.is_permanent() {
                    Action::Reject
                } else {
                    Action::Tempfail
                };
                (outcome, reply)
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
        match self.analyse(envelope, Arc::clone(&data)).await {
            Ok((scanned, verdict)) => {
                let (outcome, reply) = self.commit(envelope, &data, &scanned, &verdict, txn).await;
                (Committed { verdict, outcome }, reply)
            }
            Err(err) => {
                txn.abort().await;
                tracing::error!(id = %envelope.id, stage = err.stage, reason = %err.reason, "A stage failed; the message is deferred.");
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
        log_message(&envelope, size, &committed, &reply, started.elapsed());
        reply
    }
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

/// The one structured line per message.
fn log_message(
    envelope: &Envelope,
    size: usize,
    committed: &Committed,
    reply: &Reply,
    took: Duration,
) {
    let recipients: Vec<&str> = envelope
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    tracing::info!(
        target: "quarantd::message",
        id = %envelope.id,
        queue_id = envelope.upstream_queue_id().unwrap_or("-"),
        client = envelope.xforward.get("ADDR").unwrap_or("-"),
        sender = %envelope.mail_from,
        recipients = %recipients.join(","),
        size,
        verdict = %committed.verdict.header_value(),
        outcome = %committed.outcome,
        reply = %reply,
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
            format!("panicked: {}", panic_message(&*panic)),
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

    #[test]
    fn guard_turns_panics_into_stage_errors() {
        let err = guard::<()>("classify", || panic!("boom")).unwrap_err();
        assert_eq!(err.stage, "classify");
        assert!(err.reason.contains("boom"));
    }
}

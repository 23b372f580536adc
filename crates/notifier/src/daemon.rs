//! [`RelayNotifier`]: the daemon's bounded pool of senders, fed from the store's outbox.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::task::JoinSet;

use quarantd_notify::Event;
use quarantd_pipeline::{Incident, Notifier};
use quarantd_store::{OutboxEntry, Store};

use crate::case::{run_case, stored_case, Case};
use crate::sender::NotifySender;

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
    /// The outbox row it came from (resumed or claimed): the facts a workflow step queued.
    entry: Option<OutboxEntry>,
}

impl Run {
    /// The run of an outbox row; `None` (and the row removed) for an event this version
    /// does not know.
    async fn of_entry(store: &Store, entry: OutboxEntry) -> Option<Run> {
        let Some(event) = Event::ALL.into_iter().find(|e| e.as_str() == entry.event) else {
            tracing::warn!(id = %entry.message_id, event = %entry.event, "Dropping a queued notification of an unknown event.");
            let _ = store.outbox_remove(entry.seq).await;
            return None;
        };
        Some(Run {
            id: entry.message_id.clone(),
            event,
            concerned: entry.concerned.clone(),
            queued: Queued::Row(entry.seq),
            case: None,
            load_failures: 0,
            entry: Some(entry),
        })
    }
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
    /// A notifier sending with `sender` (its relay, store, rules and settings), owning its
    /// queued runs in the store as `owner` (this daemon's node id) and taking over those of
    /// `legacy_owner` (the host name older versions used).
    pub fn new(sender: NotifySender, owner: String, legacy_owner: Option<String>) -> RelayNotifier {
        let max = sender.settings.max_concurrent_sends.max(1);
        RelayNotifier {
            inner: Arc::new(sender),
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
            let Some(run) = Run::of_entry(&store, entry).await else {
                continue;
            };
            tracing::info!(id = %run.id, event = %run.event, "Resuming a notification the daemon did not finish before it stopped.");
            self.enqueue(run);
            resumed += 1;
        }
        resumed + self.claim_unowned().await
    }

    /// Claims the runs workflow steps queued unowned (the CLI's request-release, approve,
    /// release, delete) and sends them like its own; returns how many it claimed. Another
    /// node that claimed a row first keeps it.
    pub async fn claim_unowned(&self) -> usize {
        let Some(store) = self.inner.store.clone() else {
            return 0;
        };
        let claimed = match store.outbox_claim(&self.owner, 100).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "Cannot claim queued workflow notifications; trying again later.");
                return 0;
            }
        };
        let mut taken = 0;
        for entry in claimed {
            if let Some(run) = Run::of_entry(&store, entry).await {
                tracing::info!(id = %run.id, event = %run.event, "Sending a notification a workflow step queued.");
                self.enqueue(run);
                taken += 1;
            }
        }
        taken
    }

    /// Claims unowned runs every `notify.outbox_poll_secs` until the task is aborted (at shutdown,
    /// before [`RelayNotifier::finish`]; a row claimed and not yet sent then is resumed by
    /// the next start of this node id).
    pub fn spawn_poller(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.inner.settings.outbox_poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                me.claim_unowned().await;
            }
        })
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
            entry: None,
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
        let loaded = match &run.entry {
            Some(entry) => run_case(store, entry, run.event).await,
            None => stored_case(store, &run.id, run.event, run.concerned.clone()).await,
        };
        match loaded {
            Ok(case) => Some((run, case)),
            Err(err) if err.is_not_found() => {
                tracing::warn!(id = %run.id, event = %run.event, "Dropping a queued notification: the message is no longer stored.");
                self.dequeue(&run).await;
                None
            }
            Err(err) => {
                run.load_failures += 1;
                if run.load_failures >= self.inner.settings.max_attempts {
                    tracing::error!(id = %run.id, event = %run.event, error = %err, "Cannot read a queued notification's message; it is resumed at the next start.");
                    return None;
                }
                tracing::warn!(id = %run.id, event = %run.event, error = %err, "Cannot read a queued notification's message; trying again later.");
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

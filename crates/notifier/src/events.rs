//! [`OutboxEvents`]: the release workflow's event seam, queueing each step's notification
//! run in the store's outbox (unowned, for a daemon to claim).

use std::sync::Mutex;

use quarantd_notify::Event;
use quarantd_release::{EventFuture, Events, WorkflowEvent};
use quarantd_store::{NewWorkflowRun, Store};

use crate::case::{run_case, Case, Outcome};
use crate::sender::NotifySender;

/// The notification event of a workflow event (`None`: nobody is told, e.g. `expired`).
pub fn event_of(event: &WorkflowEvent) -> Option<Event> {
    match event {
        WorkflowEvent::ReleaseRequested { .. } => Some(Event::ReleaseRequested),
        WorkflowEvent::ApprovalNeeded { .. } => Some(Event::ApprovalNeeded),
        WorkflowEvent::Released { .. } => Some(Event::Released),
        WorkflowEvent::Deleted { .. } => Some(Event::Deleted),
        WorkflowEvent::Expired { .. } => None,
    }
}

/// Queues each workflow step's notification run in the store's outbox, unowned: a running
/// daemon claims and sends it ([`crate::RelayNotifier::claim_unowned`]), or the front end
/// itself when it is asked to wait ([`OutboxEvents::send_queued`]). Remembers what it
/// queued and what it could not queue, for the front end to tell.
pub struct OutboxEvents {
    store: Store,
    queued: Mutex<Vec<(i64, Event)>>,
    failed: Mutex<Vec<String>>,
}

impl OutboxEvents {
    /// Queues into `store`.
    pub fn new(store: Store) -> OutboxEvents {
        OutboxEvents {
            store,
            queued: Mutex::new(Vec::new()),
            failed: Mutex::new(Vec::new()),
        }
    }

    /// Queues the run of `event`; returns its key (`None` when nobody is told).
    pub async fn queue(
        &self,
        event: &WorkflowEvent,
    ) -> Result<Option<(i64, Event)>, quarantd_store::Error> {
        let Some(notify) = event_of(event) else {
            return Ok(None);
        };
        let (id, concerned, actor, approvals, headers) = match event {
            WorkflowEvent::ReleaseRequested { id, rcpt } => {
                (id, vec![rcpt.clone()], Some(rcpt.as_str()), None, None)
            }
            WorkflowEvent::ApprovalNeeded {
                id,
                actor,
                have,
                needed,
            } => (
                id,
                Vec::new(),
                Some(actor.as_str()),
                Some((*have, *needed)),
                None,
            ),
            WorkflowEvent::Released { id, rcpts, actor } => {
                (id, rcpts.clone(), Some(actor.as_str()), None, None)
            }
            WorkflowEvent::Deleted {
                id,
                rcpts,
                actor,
                headers,
            } => (
                id,
                rcpts.clone(),
                Some(actor.as_str()),
                None,
                Some(&headers[..]).filter(|h| !h.is_empty()),
            ),
            WorkflowEvent::Expired { .. } => return Ok(None),
        };
        let seq = self
            .store
            .outbox_queue(&NewWorkflowRun {
                message_id: id,
                event: notify.as_str(),
                concerned: &concerned,
                actor,
                approvals,
                headers,
            })
            .await?;
        Ok(Some((seq, notify)))
    }

    /// The runs queued so far (key, event).
    pub fn queued(&self) -> Vec<(i64, Event)> {
        lock(&self.queued).clone()
    }

    /// Why runs could not be queued (the step was done all the same).
    pub fn take_failures(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.failed))
    }

    /// Claims the runs this seam queued as `owner` and sends them now (`--wait-notify`),
    /// removing each when done; a run a daemon claimed first is left to it. Returns each
    /// case sent with how its notifications ended, or why it could not be read.
    pub async fn send_queued(
        &self,
        sender: &NotifySender,
        owner: &str,
    ) -> Vec<Result<(Case, Vec<Outcome>), String>> {
        let mut done = Vec::new();
        let queued = std::mem::take(&mut *lock(&self.queued));
        for (seq, event) in queued {
            let entry = match self.store.outbox_claim_one(seq, owner).await {
                Ok(true) => self.store.outbox_entry(seq).await,
                Ok(false) => continue,
                Err(err) => Err(err),
            };
            let case = match entry {
                Ok(Some(entry)) => run_case(&self.store, &entry, event).await,
                Ok(None) => continue,
                Err(err) => Err(err),
            };
            match case {
                Ok(case) => {
                    let outcomes = sender.run(&case).await;
                    if let Err(err) = self.store.outbox_remove(seq).await {
                        done.push(Err(format!(
                            "the {event} notification was sent but stays queued (it may be sent again): {err}"
                        )));
                    }
                    done.push(Ok((case, outcomes)));
                }
                Err(err) => done.push(Err(format!(
                    "cannot read the message of the {event} notification: {err}"
                ))),
            }
        }
        done
    }
}

impl Events for OutboxEvents {
    fn emit<'a>(&'a self, event: &'a WorkflowEvent) -> EventFuture<'a> {
        Box::pin(async move {
            match self.queue(event).await {
                Ok(Some(run)) => lock(&self.queued).push(run),
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(event = event.name(), error = %err, "Cannot queue a workflow notification.");
                    lock(&self.failed).push(format!(
                        "the {} notification was not queued: {err}",
                        event.name()
                    ));
                }
            }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

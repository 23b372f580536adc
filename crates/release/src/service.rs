//! [`Quarantine`]: the one workflow API every front end uses — the CLI today, the web UI,
//! the REST API and the policy service next. Each method is one committed step with its
//! audit entry (the store writes both in one transaction), then the step's
//! [`WorkflowEvent`] through the [`Events`] seam. No front end decides anything about the
//! quarantine itself: which event follows which step, what a token allows, who may release.

use std::sync::Arc;
use std::time::SystemTime;

use quarantd_smtp::Relay;
use quarantd_store::{
    AuditEntry, ExpireReport, ListFilter, MessageDetail, MessageStatus, Page, PartContent,
    RecipientStatus, Retention, Store,
};

use crate::actor::Actor;
use crate::error::Error;
use crate::events::{header_block, Events, NoEvents, WorkflowEvent};
use crate::job::{Delivery, ReleaseReport};
use crate::token::{self, TokenAction, TokenError, TokenKey};
use crate::workflow::{ApprovalOutcome, RequestOutcome, Workflow};

/// Finds part `path` in a raw message (by decomposing it again with the limits it was held
/// under); the front end supplies it, so this crate does not decompose MIME.
pub type PartFinder = Arc<dyn Fn(Vec<u8>, &str) -> Option<PartContent> + Send + Sync>;

/// How a release chooses its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReleaseMode {
    /// The named recipients, or every one still held ([`Workflow::release`]).
    #[default]
    Held,
    /// The stored copy of a rejected message, asked for explicitly
    /// ([`Workflow::release_rejected_copy`]).
    RejectedCopy,
    /// Take over stale claims of a job that crashed ([`Workflow::resume`]).
    Resume,
}

/// A message with its audit log, as `show` gives it.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The message.
    pub detail: MessageDetail,
    /// Its audit entries, newest first (at most 1,000).
    pub audit: Vec<AuditEntry>,
}

/// What redeeming an easy-release token did.
#[derive(Debug, Clone)]
pub enum Redeemed {
    /// The token asked for release; postmasters approve.
    Requested {
        /// The message.
        id: String,
        /// The recipient.
        rcpt: String,
        /// The request's outcome.
        outcome: RequestOutcome,
    },
    /// The recipient released their own copy.
    Released(ReleaseReport),
}

/// The quarantine workflow on one store, relay and event seam.
#[derive(Clone)]
pub struct Quarantine {
    workflow: Workflow,
    relay: Arc<Relay>,
    events: Arc<dyn Events>,
    token_key: Option<TokenKey>,
    find_part: Option<PartFinder>,
    retention: Retention,
}

impl std::fmt::Debug for Quarantine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quarantine")
            .field("workflow", &self.workflow)
            .field("token_key", &self.token_key.is_some())
            .finish_non_exhaustive()
    }
}

impl Quarantine {
    /// The workflow releasing through `relay`, telling nobody, without tokens.
    pub fn new(workflow: Workflow, relay: Arc<Relay>) -> Quarantine {
        Quarantine {
            workflow,
            relay,
            events: Arc::new(NoEvents),
            token_key: None,
            find_part: None,
            retention: Retention::default(),
        }
    }

    /// Emits each step's event to `events`.
    pub fn with_events(mut self, events: Arc<dyn Events>) -> Quarantine {
        self.events = events;
        self
    }

    /// Verifies easy-release tokens with `key`.
    pub fn with_token_key(mut self, key: Option<TokenKey>) -> Quarantine {
        self.token_key = key;
        self
    }

    /// Finds parts with `find` (for [`Quarantine::part`]).
    pub fn with_part_finder(mut self, find: PartFinder) -> Quarantine {
        self.find_part = Some(find);
        self
    }

    /// Expires by `retention`.
    pub fn with_retention(mut self, retention: Retention) -> Quarantine {
        self.retention = retention;
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.workflow.store()
    }

    /// The workflow underneath.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// One page of held messages.
    pub async fn list(&self, filter: &ListFilter) -> Result<Page, Error> {
        Ok(self.store().list(filter).await?)
    }

    /// One message with its audit log.
    pub async fn show(&self, id: &str) -> Result<Shown, Error> {
        let detail = self.store().get(id).await?;
        let audit = self.store().audit_log(Some(id), 1000).await?;
        Ok(Shown { detail, audit })
    }

    /// The raw message, its view audited (`view-raw`).
    pub async fn raw(&self, id: &str, by: &Actor) -> Result<Vec<u8>, Error> {
        Ok(self.store().raw(id, by.name()).await?)
    }

    /// The decoded content of part `path`, its view audited (`view-part`).
    pub async fn part(&self, id: &str, path: &str, by: &Actor) -> Result<PartContent, Error> {
        let find = self.find_part.clone();
        Ok(self
            .store()
            .part(id, path, by.name(), move |raw, path| {
                find.and_then(|f| f(raw, path))
            })
            .await?)
    }

    /// The audit log: of message `id` (an id that expired still has its log; one that never
    /// existed is an error), or of everything, newest first.
    pub async fn audit(&self, id: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, Error> {
        let store = self.store();
        if let Some(id) = id {
            if let Err(e) = store.get(id).await {
                if !e.is_not_found() || store.audit_log(Some(id), 1).await?.is_empty() {
                    return Err(e.into());
                }
            }
        }
        Ok(store.audit_log(id, limit).await?)
    }

    /// One person's approval; `approval-needed` when more are needed.
    pub async fn approve(&self, id: &str, by: &Actor) -> Result<ApprovalOutcome, Error> {
        let outcome = self.workflow.approve(id, by).await?;
        let have = outcome.approvers.len() as u32;
        if outcome.status != MessageStatus::Approved && have < outcome.needed {
            self.emit(WorkflowEvent::ApprovalNeeded {
                id: id.to_string(),
                actor: by.name().to_string(),
                have,
                needed: outcome.needed,
            })
            .await;
        }
        Ok(outcome)
    }

    /// A recipient asks for their copy; `release-requested` the first time.
    pub async fn request_release(&self, id: &str, rcpt: &str) -> Result<RequestOutcome, Error> {
        let outcome = self.workflow.request_release(id, rcpt).await?;
        if outcome.new {
            self.emit(WorkflowEvent::ReleaseRequested {
                id: id.to_string(),
                rcpt: rcpt.to_string(),
            })
            .await;
        }
        Ok(outcome)
    }

    /// A release (see [`ReleaseMode`]); `released` for the recipients it delivered to.
    pub async fn release(
        &self,
        id: &str,
        rcpts: &[String],
        by: &Actor,
        mode: ReleaseMode,
    ) -> Result<ReleaseReport, Error> {
        let relay = &self.relay;
        let report = match mode {
            ReleaseMode::Held => self.workflow.release(relay, id, rcpts, by).await?,
            ReleaseMode::RejectedCopy => {
                self.workflow
                    .release_rejected_copy(relay, id, rcpts, by)
                    .await?
            }
            ReleaseMode::Resume => self.workflow.resume(relay, id, by).await?,
        };
        self.released(&report, by.name()).await;
        Ok(report)
    }

    /// Redeems an easy-release token: its signature, then its expiry, then that it is used
    /// for its own message (`id`) and recipient (`rcpts`, at most one) when they are given;
    /// then what it allows — a request for release, or the recipient's own release where
    /// the rules allow it.
    pub async fn redeem(
        &self,
        token: &str,
        id: Option<&str>,
        rcpts: &[String],
    ) -> Result<Redeemed, Error> {
        let key = self.token_key.as_ref().ok_or(Error::NoTokenKey)?;
        let claims = token::verify(token, key, SystemTime::now())?;
        if rcpts.len() > 1 {
            return Err(TokenError::Misused("a token is for one recipient".into()).into());
        }
        claims.check_use(claims.action, id, rcpts.first().map(String::as_str))?;
        let (id, rcpt) = (claims.message, claims.recipient);
        match claims.action {
            TokenAction::RequestRelease => {
                let outcome = self.request_release(&id, &rcpt).await?;
                Ok(Redeemed::Requested { id, rcpt, outcome })
            }
            TokenAction::Release => {
                let report = self
                    .workflow
                    .release_as_recipient(&self.relay, &id, &rcpt)
                    .await?;
                let who = format!("rcpt:{}", rcpt.trim().to_lowercase());
                self.released(&report, &who).await;
                Ok(Redeemed::Released(report))
            }
        }
    }

    /// Deletes the content (the record stays until expiry); `deleted` for the recipients
    /// whose copy was still held, with the header block read before it went.
    pub async fn delete(&self, id: &str, by: &Actor) -> Result<(), Error> {
        let before = if self.events.listening() {
            let detail = self.store().get(id).await?;
            let headers = if detail.has_content {
                // The notification's loop rules need the headers; a read failure only
                // costs them, never the delete.
                self.store()
                    .content_for_release(id)
                    .await
                    .map(|raw| header_block(&raw).to_vec())
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let rcpts = detail
                .recipients
                .iter()
                .filter(|r| matches!(r.status, RecipientStatus::Held | RecipientStatus::Failed))
                .map(|r| r.address.clone())
                .collect();
            Some((rcpts, headers))
        } else {
            None
        };
        self.workflow.delete(id, by).await?;
        if let Some((rcpts, headers)) = before {
            self.emit(WorkflowEvent::Deleted {
                id: id.to_string(),
                rcpts,
                actor: by.name().to_string(),
                headers,
            })
            .await;
        }
        Ok(())
    }

    /// Removes what is past retention; `expired` with the ids removed (when any).
    pub async fn expire(&self, by: &Actor) -> Result<ExpireReport, Error> {
        let report = self.workflow.expire(&self.retention, by).await?;
        if !report.removed.is_empty() {
            self.emit(WorkflowEvent::Expired {
                ids: report.removed.clone(),
            })
            .await;
        }
        Ok(report)
    }

    async fn released(&self, report: &ReleaseReport, by: &str) {
        let rcpts: Vec<String> = report
            .recipients
            .iter()
            .filter(|(_, d)| matches!(d, Delivery::Delivered { .. }))
            .map(|(r, _)| r.clone())
            .collect();
        if !rcpts.is_empty() {
            self.emit(WorkflowEvent::Released {
                id: report.id.clone(),
                rcpts,
                actor: by.to_string(),
            })
            .await;
        }
    }

    async fn emit(&self, event: WorkflowEvent) {
        self.events.emit(&event).await;
    }
}

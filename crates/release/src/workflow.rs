//! The postmaster's commands, one function each: `request-release`, `approve`, `release`,
//! `release --resume`, `delete`, `expire`.

use std::sync::Arc;

use quarantd_core::id::new_id;
use quarantd_smtp::Relay;
use quarantd_store::{
    now_ms, ClaimRequest, ExpireReport, MessageDetail, MessageStatus, RecipientStatus, Retention,
    Store,
};

use crate::actor::Actor;
use crate::error::Error;
use crate::job::{Delivery, Job, ReleaseReport, ReleaseSettings};
use crate::rules::{Rules, VIRUS};

/// The result of `request-release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOutcome {
    /// False when this recipient had asked before.
    pub new: bool,
    /// The message's status afterwards.
    pub status: MessageStatus,
    /// Whether the recipient may release their copy alone ([`Workflow::release_as_recipient`]);
    /// otherwise postmasters must approve.
    pub self_release: bool,
    /// Approvals the message needs (as stored when it was held).
    pub approvals_needed: u32,
}

/// The result of `approve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalOutcome {
    /// Everyone who approved so far.
    pub approvers: Vec<String>,
    /// Approvals needed (as stored when it was held).
    pub needed: u32,
    /// The message's status afterwards (`approved` once enough people approved; a rejected
    /// copy stays `rejected`).
    pub status: MessageStatus,
}

/// The release workflow on one store with one set of rules.
#[derive(Debug, Clone)]
pub struct Workflow {
    store: Store,
    rules: Rules,
    settings: ReleaseSettings,
}

impl Workflow {
    /// A workflow on `store`.
    pub fn new(store: Store, rules: Rules, settings: ReleaseSettings) -> Workflow {
        Workflow {
            store,
            rules,
            settings,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `request-release ID --rcpt ADDR`: a recipient asks for their copy. Never releases
    /// anything by itself.
    pub async fn request_release(&self, id: &str, rcpt: &str) -> Result<RequestOutcome, Error> {
        let new = self.store.request_release(id, rcpt, now_ms()).await?;
        let msg = self.store.get(id).await?;
        Ok(RequestOutcome {
            new,
            status: msg.summary.status,
            self_release: self.rules.recipient_may_release(&msg.summary.reasons),
            approvals_needed: self.approvals_needed(&msg),
        })
    }

    /// Approvals a release of `msg` needs: the number stored when it was held (the
    /// daemon's rules then), else — for a message held before quarantd stored it — this
    /// workflow's rules. A rejected copy needs at least a virus's approvals.
    pub fn approvals_needed(&self, msg: &MessageDetail) -> u32 {
        let needed = msg
            .approvals_required
            .unwrap_or_else(|| self.rules.approvals_needed(&msg.summary.reasons))
            .max(1);
        if msg.summary.status == MessageStatus::Rejected {
            needed.max(self.rules.approvals_needed(&[VIRUS.to_string()]))
        } else {
            needed
        }
    }

    /// `approve ID`: one person's approval; nobody approves twice.
    pub async fn approve(&self, id: &str, by: &Actor) -> Result<ApprovalOutcome, Error> {
        let msg = self.store.get(id).await?;
        let needed = self.approvals_needed(&msg);
        let a = self.store.approve(id, by.name(), needed, now_ms()).await?;
        Ok(ApprovalOutcome {
            approvers: a.approvers,
            needed,
            status: a.status,
        })
    }

    /// `release ID [--rcpt ADDR ...]`: delivers the stored original through `relay` to the
    /// named recipients, or to every recipient still held. Releasing counts as the releaser's
    /// approval when they have not approved yet; the release goes ahead only when enough
    /// distinct people approved. Recipients already released (or being released by another
    /// job) are skipped, never sent twice. A recipient refused permanently (`failed`) is sent
    /// again only when named. The stored copy of a rejected message is refused
    /// ([`Error::RejectedCopy`]): see [`Workflow::release_rejected_copy`].
    pub async fn release(
        &self,
        relay: &Arc<Relay>,
        id: &str,
        rcpts: &[String],
        by: &Actor,
    ) -> Result<ReleaseReport, Error> {
        self.release_from(relay, id, rcpts, by, false).await
    }

    /// `release ID --rejected-copy`: as [`Workflow::release`], and also for the stored copy
    /// of a rejected message (its `rejected` recipients), which needs at least a virus's
    /// approvals. The sender was told the message was refused: the postmaster asks for this
    /// explicitly, for a message found harmless.
    pub async fn release_rejected_copy(
        &self,
        relay: &Arc<Relay>,
        id: &str,
        rcpts: &[String],
        by: &Actor,
    ) -> Result<ReleaseReport, Error> {
        self.release_from(relay, id, rcpts, by, true).await
    }

    async fn release_from(
        &self,
        relay: &Arc<Relay>,
        id: &str,
        rcpts: &[String],
        by: &Actor,
        rejected_copy: bool,
    ) -> Result<ReleaseReport, Error> {
        let msg = self.store.get(id).await?;
        let needed = self.approvals_needed(&msg);
        let rejected = msg.summary.status == MessageStatus::Rejected;
        if rejected && !rejected_copy {
            return Err(Error::RejectedCopy {
                id: id.to_string(),
                needed,
            });
        }
        self.approve_implicitly(&msg, by.name(), needed).await?;
        let (targets, from) = targets(&msg, rcpts, rejected)?;
        let request = ClaimRequest {
            rcpts: &targets,
            from,
            owner: &new_id(),
            approvals_needed: needed,
            actor: by.name(),
        };
        self.claim_and_deliver(relay, &msg, &targets, request).await
    }

    /// The seam for easy-release links (issue 6 verifies the signed token and calls this):
    /// a recipient releases their own copy, allowed only when
    /// [`Rules::recipient_may_release`] says so for every reason, never for a virus.
    pub async fn release_as_recipient(
        &self,
        relay: &Arc<Relay>,
        id: &str,
        rcpt: &str,
    ) -> Result<ReleaseReport, Error> {
        let msg = self.store.get(id).await?;
        if msg.summary.status == MessageStatus::Rejected {
            return Err(Error::RejectedCopy {
                id: id.to_string(),
                needed: self.approvals_needed(&msg),
            });
        }
        if !self.rules.recipient_may_release(&msg.summary.reasons) {
            return Err(Error::RecipientMayNotRelease {
                id: id.to_string(),
                reasons: msg.summary.reasons.join(", "),
            });
        }
        self.store.request_release(id, rcpt, now_ms()).await?;
        let actor = format!("rcpt:{}", rcpt.trim().to_lowercase());
        let targets = vec![rcpt.trim().to_string()];
        let request = ClaimRequest {
            rcpts: &targets,
            from: &[RecipientStatus::Held],
            owner: &new_id(),
            approvals_needed: 0,
            actor: &actor,
        };
        self.claim_and_deliver(relay, &msg, &targets, request).await
    }

    /// `release ID --resume`: takes over claims older than
    /// [`ReleaseSettings::stale_claim_after`] (a job that crashed between claiming and
    /// recording) and delivers to them. If the crashed job had already been answered 250 by
    /// the relay, this delivers a second copy: check the relay's log first when in doubt.
    pub async fn resume(
        &self,
        relay: &Arc<Relay>,
        id: &str,
        by: &Actor,
    ) -> Result<ReleaseReport, Error> {
        let by = by.name();
        let msg = self.store.get(id).await?;
        let stale_ms =
            i64::try_from(self.settings.stale_claim_after.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        let owner = new_id();
        let taken = self
            .store
            .take_over_stale(id, now.saturating_sub(stale_ms), &owner, by, now)
            .await?;
        if taken.is_empty() {
            return Err(Error::NothingToRelease {
                id: id.to_string(),
                detail: "no stale claim".into(),
            });
        }
        let job = self.job(relay, &msg, &owner, by);
        let (delivered, attempts) = job.run(taken).await?;
        Ok(ReleaseReport {
            id: id.to_string(),
            recipients: delivered,
            attempts,
        })
    }

    /// `delete ID`: removes the content; the record stays until expiry.
    pub async fn delete(&self, id: &str, by: &Actor) -> Result<(), Error> {
        Ok(self.store.delete(id, by.name(), now_ms()).await?)
    }

    /// `expire`: removes what is past retention.
    pub async fn expire(&self, retention: &Retention, by: &Actor) -> Result<ExpireReport, Error> {
        Ok(self.store.expire(now_ms(), retention, by.name()).await?)
    }

    /// Records the releaser's approval when it is still missing and could count.
    async fn approve_implicitly(
        &self,
        msg: &MessageDetail,
        by: &str,
        needed: u32,
    ) -> Result<(), Error> {
        let who = by.trim().to_lowercase();
        let mut have: Vec<String> = msg.approvals.iter().map(|a| a.approver.clone()).collect();
        if have.len() < needed as usize && !have.contains(&who) {
            match self
                .store
                .approve(&msg.summary.id, by, needed, now_ms())
                .await
            {
                Ok(a) => have = a.approvers,
                Err(quarantd_store::Error::AlreadyApproved { .. }) => have.push(who),
                Err(e) => return Err(e.into()),
            }
        }
        if have.len() < needed as usize {
            return Err(Error::NeedsApprovals {
                id: msg.summary.id.clone(),
                have,
                needed,
            });
        }
        Ok(())
    }

    async fn claim_and_deliver(
        &self,
        relay: &Arc<Relay>,
        msg: &MessageDetail,
        targets: &[String],
        request: ClaimRequest<'_>,
    ) -> Result<ReleaseReport, Error> {
        let id = &msg.summary.id;
        let claimed = self.store.claim(id, &request, now_ms()).await?;
        let mut report = ReleaseReport {
            id: id.clone(),
            recipients: Vec::new(),
            attempts: 0,
        };
        if !claimed.is_empty() {
            let job = self.job(relay, msg, request.owner, request.actor);
            let (delivered, attempts) = job.run(claimed.clone()).await?;
            report.recipients = delivered;
            report.attempts = attempts;
        }
        let now = self.store.get(id).await?;
        for rcpt in targets {
            if !claimed.iter().any(|c| c.eq_ignore_ascii_case(rcpt)) {
                let state = now
                    .recipients
                    .iter()
                    .find(|r| r.address.eq_ignore_ascii_case(rcpt))
                    .map_or("unknown".to_string(), |r| r.status.to_string());
                report
                    .recipients
                    .push((rcpt.clone(), Delivery::Skipped { state }));
            }
        }
        Ok(report)
    }

    fn job<'a>(
        &'a self,
        relay: &'a Arc<Relay>,
        message: &'a MessageDetail,
        owner: &'a str,
        actor: &'a str,
    ) -> Job<'a> {
        Job {
            store: &self.store,
            relay,
            settings: &self.settings,
            message,
            owner,
            actor,
        }
    }
}

/// The recipients to release and the states they may be claimed from: the named ones (held
/// or failed), or every recipient still held — for a rejected copy released explicitly
/// (`rejected`), its rejected recipients instead of held ones.
fn targets(
    msg: &MessageDetail,
    rcpts: &[String],
    rejected: bool,
) -> Result<(Vec<String>, &'static [RecipientStatus]), Error> {
    let id = &msg.summary.id;
    let waiting = if rejected {
        RecipientStatus::Rejected
    } else {
        RecipientStatus::Held
    };
    if rcpts.is_empty() {
        let held: Vec<String> = msg
            .recipients
            .iter()
            .filter(|r| r.status == waiting)
            .map(|r| r.address.clone())
            .collect();
        if held.is_empty() {
            let detail = msg
                .recipients
                .iter()
                .map(|r| format!("{} {}", r.address, r.status))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::NothingToRelease {
                id: id.clone(),
                detail,
            });
        }
        return Ok((
            held,
            if rejected {
                &[RecipientStatus::Rejected]
            } else {
                &[RecipientStatus::Held]
            },
        ));
    }
    let mut out = Vec::new();
    for rcpt in rcpts {
        let found = msg
            .recipients
            .iter()
            .find(|r| r.address.eq_ignore_ascii_case(rcpt.trim()));
        match found {
            Some(r) => out.push(r.address.clone()),
            None => {
                return Err(Error::Store(quarantd_store::Error::NotARecipient {
                    id: id.clone(),
                    rcpt: rcpt.clone(),
                }))
            }
        }
    }
    let from: &'static [RecipientStatus] = if rejected {
        &[RecipientStatus::Rejected, RecipientStatus::Failed]
    } else {
        &[RecipientStatus::Held, RecipientStatus::Failed]
    };
    Ok((out, from))
}

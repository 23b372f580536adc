//! The atomic steps of the release workflow. The rules (how many approvals, who may release
//! what) live in `quarantd-release`; each step here is one transaction that locks the message
//! first, checks the state it needs, changes it and writes the audit entry.

use sqlx::{Any, Transaction};

use crate::db::{self, Val};
use crate::error::Error;
use crate::model::{Finish, MessageStatus, RecipientStatus};
use crate::store::{audit, commit, exec, fetch, lock_message, AuditRecord, Store};

/// The result of `approve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approvals {
    /// Everyone who approved so far (lower case, oldest first).
    pub approvers: Vec<String>,
    /// The message's status afterwards.
    pub status: MessageStatus,
}

/// What a release job asks to claim.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    /// The recipients to claim (any case).
    pub rcpts: &'a [String],
    /// Recipient states that may be claimed (`held`; `failed` too when named explicitly).
    pub from: &'a [RecipientStatus],
    /// The job's owner token (random).
    pub owner: &'a str,
    /// Approvals the message needs; the claim fails while fewer are recorded.
    pub approvals_needed: u32,
    /// Who releases.
    pub actor: &'a str,
}

impl Store {
    /// Records a recipient's request for release: `held` becomes `release-requested`. Asking
    /// twice is harmless (returns `false` the second time).
    pub async fn request_release(&self, id: &str, rcpt: &str, at: i64) -> Result<bool, Error> {
        let rcpt_lc = rcpt.trim().to_lowercase();
        let mut tx = self.begin("request release").await?;
        let status = lock_message(&mut tx, id, at).await?;
        forbid_final(id, status, "request its release")?;
        if status == MessageStatus::Rejected {
            return Err(Error::StateForbids {
                id: id.to_string(),
                status,
                action: "request its release (the sender was told it was refused)",
            });
        }
        require_recipient(&mut tx, id, &rcpt_lc).await?;
        let known = fetch(
            &mut tx,
            "request release",
            "SELECT 1 AS x FROM release_requests WHERE message_id = ? AND recipient_lc = ?",
            vec![id.into(), rcpt_lc.as_str().into()],
        )
        .await?;
        let new = known.is_empty();
        if new {
            exec(
                &mut tx,
                "request release",
                "INSERT INTO release_requests (message_id, recipient_lc, requested_at) \
                 VALUES (?, ?, ?)",
                vec![id.into(), rcpt_lc.as_str().into(), at.into()],
            )
            .await?;
        }
        set_status_if(
            &mut tx,
            id,
            &[MessageStatus::Held],
            MessageStatus::ReleaseRequested,
            at,
        )
        .await?;
        let actor = format!("rcpt:{rcpt_lc}");
        let detail = format!("rcpt={rcpt_lc}{}", if new { "" } else { " (again)" });
        audit(&mut tx, record(at, &actor, "request-release", id, &detail)).await?;
        commit(tx, "request release").await?;
        Ok(new)
    }

    /// Records `approver`'s approval (nobody approves twice: [`Error::AlreadyApproved`]); when
    /// `needed` approvals are reached the message becomes `approved`.
    pub async fn approve(
        &self,
        id: &str,
        approver: &str,
        needed: u32,
        at: i64,
    ) -> Result<Approvals, Error> {
        let who = approver.trim().to_lowercase();
        let mut tx = self.begin("approve").await?;
        let status = lock_message(&mut tx, id, at).await?;
        forbid_final(id, status, "approve its release")?;
        let mut approvers = approvers(&mut tx, id).await?;
        if approvers.contains(&who) {
            return Err(Error::AlreadyApproved {
                id: id.to_string(),
                approver: who,
            });
        }
        exec(
            &mut tx,
            "approve",
            "INSERT INTO approvals (message_id, approver, approved_at) VALUES (?, ?, ?)",
            vec![id.into(), db::cut(&who, 320).into(), at.into()],
        )
        .await?;
        approvers.push(who.clone());
        let mut status = status;
        if approvers.len() >= needed as usize
            && matches!(
                status,
                MessageStatus::Held | MessageStatus::ReleaseRequested
            )
        {
            set_status_if(&mut tx, id, &[status], MessageStatus::Approved, at).await?;
            status = MessageStatus::Approved;
        }
        let detail = format!("approvals {} of {needed}", approvers.len());
        audit(&mut tx, record(at, &who, "approve", id, &detail)).await?;
        commit(tx, "approve").await?;
        Ok(Approvals { approvers, status })
    }

    /// Claims recipients for a release job: each one whose status is in `req.from` becomes
    /// `releasing` with the job's owner token and the time, by one conditional `UPDATE` per
    /// recipient, in one transaction. Only the claimed recipients (returned, as stored) may be
    /// sent to; a recipient another job claimed or released meanwhile is not returned.
    pub async fn claim(
        &self,
        id: &str,
        req: &ClaimRequest<'_>,
        at: i64,
    ) -> Result<Vec<String>, Error> {
        let mut tx = self.begin("claim recipients").await?;
        let status = lock_message(&mut tx, id, at).await?;
        forbid_final(id, status, "release it")?;
        let have = approvers(&mut tx, id).await?.len();
        if have < req.approvals_needed as usize {
            return Err(Error::NotApproved {
                id: id.to_string(),
                have: have as u32,
                needed: req.approvals_needed,
            });
        }
        let from: Vec<&str> = req.from.iter().map(|s| s.as_str()).collect();
        let in_list = vec!["?"; from.len().max(1)].join(", ");
        let sql = format!(
            "UPDATE recipients SET status = ?, claim_owner = ?, claimed_at = ?, updated_at = ? \
             WHERE message_id = ? AND address_lc = ? AND status IN ({in_list})"
        );
        let mut claimed_lc = Vec::new();
        for rcpt in req.rcpts {
            let lc = rcpt.trim().to_lowercase();
            let mut vals: Vec<Val> = vec![
                RecipientStatus::Releasing.as_str().into(),
                req.owner.into(),
                at.into(),
                at.into(),
                id.into(),
                lc.as_str().into(),
            ];
            vals.extend(from.iter().map(|s| Val::from(*s)));
            if from.is_empty() {
                vals.push("".into());
            }
            if exec(&mut tx, "claim recipients", &sql, vals).await? == 1 {
                claimed_lc.push(lc);
            }
        }
        let claimed = owned_by(&mut tx, id, req.owner).await?;
        if !claimed.is_empty() {
            let detail = format!("rcpts={} owner={}", claimed_lc.join(","), req.owner);
            audit(&mut tx, record(at, req.actor, "claim", id, &detail)).await?;
        }
        commit(tx, "claim recipients").await?;
        Ok(claimed)
    }

    /// Renews the claims of a job before each delivery attempt (so they are not taken for
    /// stale) and counts the attempt.
    pub async fn touch_claims(&self, id: &str, owner: &str, at: i64) -> Result<u64, Error> {
        let mut tx = self.begin("renew claims").await?;
        lock_message(&mut tx, id, at).await?;
        let n = exec(
            &mut tx,
            "renew claims",
            "UPDATE recipients SET claimed_at = ?, attempts = attempts + 1, updated_at = ? \
             WHERE message_id = ? AND claim_owner = ? AND status = ?",
            vec![
                at.into(),
                at.into(),
                id.into(),
                owner.into(),
                RecipientStatus::Releasing.as_str().into(),
            ],
        )
        .await?;
        commit(tx, "renew claims").await?;
        Ok(n)
    }

    /// Records the outcome of a delivery attempt for claimed recipients, each only while the
    /// claim is still this job's. `Released`, `Failed` and `Unclaim` end the claim;
    /// `Deferred` keeps it and records the reply. When no recipient is left held or
    /// releasing, the message becomes `released`. Returns the recipients that matched.
    pub async fn finish(
        &self,
        id: &str,
        owner: &str,
        outcomes: &[(String, Finish)],
        actor: &str,
        at: i64,
    ) -> Result<Vec<String>, Error> {
        let mut tx = self.begin("record release").await?;
        let message_status = lock_message(&mut tx, id, at).await?;
        // A recipient not delivered goes back to what it was: held, or a rejected copy.
        let unclaimed = if message_status == MessageStatus::Rejected {
            RecipientStatus::Rejected
        } else {
            RecipientStatus::Held
        };
        let mut matched = Vec::new();
        for (rcpt, outcome) in outcomes {
            let lc = rcpt.trim().to_lowercase();
            let (status, reply, action) = match outcome {
                Finish::Released { reply } => (RecipientStatus::Released, reply, "released"),
                Finish::Failed { reply } => (RecipientStatus::Failed, reply, "release-failed"),
                Finish::Deferred { reply } => {
                    (RecipientStatus::Releasing, reply, "release-deferred")
                }
                Finish::Unclaim { reply } => (unclaimed, reply, "release-unclaimed"),
            };
            let keep_claim = status == RecipientStatus::Releasing;
            let sql = if keep_claim {
                "UPDATE recipients SET status = ?, last_reply = ?, updated_at = ? \
                 WHERE message_id = ? AND address_lc = ? AND status = ? AND claim_owner = ?"
            } else {
                "UPDATE recipients SET status = ?, last_reply = ?, updated_at = ?, \
                 claim_owner = NULL, claimed_at = NULL \
                 WHERE message_id = ? AND address_lc = ? AND status = ? AND claim_owner = ?"
            };
            let vals = vec![
                status.as_str().into(),
                db::cut(reply, 1000).into(),
                at.into(),
                id.into(),
                lc.as_str().into(),
                RecipientStatus::Releasing.as_str().into(),
                owner.into(),
            ];
            if exec(&mut tx, "record release", sql, vals).await? == 1 {
                let detail = format!("rcpt={lc} reply={reply}");
                audit(&mut tx, record(at, actor, action, id, &detail)).await?;
                matched.push(rcpt.clone());
            }
        }
        mark_released_when_done(&mut tx, id, at).await?;
        commit(tx, "record release").await?;
        Ok(matched)
    }

    /// Takes over claims of this message older than `stale_before` (a job that crashed or
    /// lost its database connection between claiming and recording): they get `new_owner`
    /// and the time, and the caller may deliver to them again. Audited as `resume` with the
    /// previous owners. Returns the recipients taken over.
    pub async fn take_over_stale(
        &self,
        id: &str,
        stale_before: i64,
        new_owner: &str,
        actor: &str,
        at: i64,
    ) -> Result<Vec<String>, Error> {
        let mut tx = self.begin("resume release").await?;
        let status = lock_message(&mut tx, id, at).await?;
        forbid_final(id, status, "resume its release")?;
        let stale = fetch(
            &mut tx,
            "resume release",
            "SELECT address_lc, claim_owner, claimed_at FROM recipients \
             WHERE message_id = ? AND status = ? AND claimed_at < ?",
            vec![
                id.into(),
                RecipientStatus::Releasing.as_str().into(),
                stale_before.into(),
            ],
        )
        .await?;
        let mut previous = Vec::new();
        for row in &stale {
            previous.push(format!(
                "{} (owner {}, claimed {})",
                db::text(row, "address_lc")?,
                db::opt_text(row, "claim_owner")?.unwrap_or_default(),
                db::opt_int(row, "claimed_at")?.unwrap_or(0)
            ));
        }
        exec(
            &mut tx,
            "resume release",
            "UPDATE recipients SET claim_owner = ?, claimed_at = ?, updated_at = ? \
             WHERE message_id = ? AND status = ? AND claimed_at < ?",
            vec![
                new_owner.into(),
                at.into(),
                at.into(),
                id.into(),
                RecipientStatus::Releasing.as_str().into(),
                stale_before.into(),
            ],
        )
        .await?;
        let taken = owned_by(&mut tx, id, new_owner).await?;
        if !previous.is_empty() {
            let detail = format!("took over {}; owner={new_owner}", previous.join(", "));
            audit(&mut tx, record(at, actor, "resume", id, &detail)).await?;
        }
        commit(tx, "resume release").await?;
        Ok(taken)
    }

    /// Claims of any message older than `stale_before` (Unix ms), oldest first: what
    /// `release --resume` without an id would look at. `(message id, recipient, owner,
    /// claimed at)`.
    pub async fn stale_claims(
        &self,
        stale_before: i64,
        limit: u32,
    ) -> Result<Vec<(String, String, Option<String>, i64)>, Error> {
        let rows = self
            .query(
                "list stale claims",
                "SELECT message_id, address, claim_owner, claimed_at FROM recipients \
                 WHERE status = ? AND claimed_at < ? ORDER BY claimed_at LIMIT ?",
                vec![
                    RecipientStatus::Releasing.as_str().into(),
                    stale_before.into(),
                    i64::from(limit).into(),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    db::text(r, "message_id")?,
                    db::text(r, "address")?,
                    db::opt_text(r, "claim_owner")?,
                    db::opt_int(r, "claimed_at")?.unwrap_or(0),
                ))
            })
            .collect()
    }

    /// Deletes a message: its content is removed at once, held recipients become `deleted`,
    /// the record stays (status `deleted`) until retention removes it. Forbidden while a
    /// release of it is in progress and for a message already deleted.
    pub async fn delete(&self, id: &str, by: &str, at: i64) -> Result<(), Error> {
        let mut tx = self.begin("delete").await?;
        let status = lock_message(&mut tx, id, at).await?;
        forbid_final(id, status, "delete it")?;
        let releasing = fetch(
            &mut tx,
            "delete",
            "SELECT 1 AS x FROM recipients WHERE message_id = ? AND status = ?",
            vec![id.into(), RecipientStatus::Releasing.as_str().into()],
        )
        .await?;
        if !releasing.is_empty() {
            return Err(Error::ReleaseInProgress {
                id: id.to_string(),
                action: "delete it",
            });
        }
        exec(
            &mut tx,
            "delete",
            "UPDATE messages SET status = ?, raw_encoding = ? WHERE id = ?",
            vec![
                MessageStatus::Deleted.as_str().into(),
                crate::blob::ENCODING_NONE.into(),
                id.into(),
            ],
        )
        .await?;
        exec(
            &mut tx,
            "delete",
            "DELETE FROM message_blobs WHERE message_id = ?",
            vec![id.into()],
        )
        .await?;
        exec(
            &mut tx,
            "delete",
            "UPDATE recipients SET status = ?, updated_at = ? WHERE message_id = ? \
             AND status IN (?, ?, ?)",
            vec![
                RecipientStatus::Deleted.as_str().into(),
                at.into(),
                id.into(),
                RecipientStatus::Held.as_str().into(),
                RecipientStatus::Failed.as_str().into(),
                RecipientStatus::Rejected.as_str().into(),
            ],
        )
        .await?;
        let detail = format!("was {status}");
        audit(&mut tx, record(at, by, "delete", id, &detail)).await?;
        commit(tx, "delete").await
    }
}

fn record<'a>(
    at: i64,
    actor: &'a str,
    action: &'a str,
    id: &'a str,
    detail: &'a str,
) -> AuditRecord<'a> {
    AuditRecord {
        at,
        actor,
        action,
        message_id: Some(id),
        detail,
    }
}

fn forbid_final(id: &str, status: MessageStatus, action: &'static str) -> Result<(), Error> {
    if status.is_final() {
        return Err(Error::StateForbids {
            id: id.to_string(),
            status,
            action,
        });
    }
    Ok(())
}

async fn require_recipient(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    rcpt_lc: &str,
) -> Result<(), Error> {
    let rows = fetch(
        tx,
        "check recipient",
        "SELECT 1 AS x FROM recipients WHERE message_id = ? AND address_lc = ?",
        vec![id.into(), rcpt_lc.into()],
    )
    .await?;
    if rows.is_empty() {
        return Err(Error::NotARecipient {
            id: id.to_string(),
            rcpt: rcpt_lc.to_string(),
        });
    }
    Ok(())
}

async fn approvers(tx: &mut Transaction<'static, Any>, id: &str) -> Result<Vec<String>, Error> {
    let rows = fetch(
        tx,
        "read approvals",
        "SELECT approver FROM approvals WHERE message_id = ? ORDER BY approved_at, approver",
        vec![id.into()],
    )
    .await?;
    rows.iter().map(|r| db::text(r, "approver")).collect()
}

async fn owned_by(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    owner: &str,
) -> Result<Vec<String>, Error> {
    let rows = fetch(
        tx,
        "read claims",
        "SELECT address FROM recipients WHERE message_id = ? AND claim_owner = ? AND status = ? \
         ORDER BY seq",
        vec![
            id.into(),
            owner.into(),
            RecipientStatus::Releasing.as_str().into(),
        ],
    )
    .await?;
    rows.iter().map(|r| db::text(r, "address")).collect()
}

async fn set_status_if(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    from: &[MessageStatus],
    to: MessageStatus,
    at: i64,
) -> Result<u64, Error> {
    let in_list = vec!["?"; from.len()].join(", ");
    let sql = format!(
        "UPDATE messages SET status = ?, updated_at = ? WHERE id = ? AND status IN ({in_list})"
    );
    let mut vals: Vec<Val> = vec![to.as_str().into(), at.into(), id.into()];
    vals.extend(from.iter().map(|s| Val::from(s.as_str())));
    exec(tx, "change status", &sql, vals).await
}

/// `released` once no recipient is held, a rejected copy or being released.
async fn mark_released_when_done(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    at: i64,
) -> Result<(), Error> {
    let open = fetch(
        tx,
        "check recipients",
        "SELECT 1 AS x FROM recipients WHERE message_id = ? AND status IN (?, ?, ?)",
        vec![
            id.into(),
            RecipientStatus::Held.as_str().into(),
            RecipientStatus::Releasing.as_str().into(),
            RecipientStatus::Rejected.as_str().into(),
        ],
    )
    .await?;
    if open.is_empty() {
        set_status_if(
            tx,
            id,
            &[
                MessageStatus::Held,
                MessageStatus::ReleaseRequested,
                MessageStatus::Approved,
                MessageStatus::Rejected,
            ],
            MessageStatus::Released,
            at,
        )
        .await?;
    }
    Ok(())
}

//! The daemon's notification outbox: one row per notification run (an event about a stored
//! message) that has not finished yet. The row of a held or rejected message is written in
//! the transaction that stores the message ([`crate::NewMessage::outbox`]); the daemon
//! removes it when every notification of the run was sent or finally failed. Rows left
//! behind by a process that stopped (or crashed) are resumed by the next daemon with the same
//! owner (its persistent node id).
//!
//! A workflow step (request-release, approve, release, delete: `quarantd-release`) queues
//! its run *unowned* (owner `''`, [`Store::outbox_queue`]) with the facts of the step; a
//! running daemon claims it ([`Store::outbox_claim`]: one conditional `UPDATE` per row, so two
//! nodes never both take a row) and sends it like its own. `quarantine ... --wait-notify`
//! claims its own row the same way and sends it before the command returns.

use crate::db::{self, bind_all, Backend, Val};
use crate::error::Error;
use crate::store::{commit, exec, fetch, now_ms, Store};

/// One unfinished notification run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its key.
    pub seq: i64,
    /// The host that queued it.
    pub owner: String,
    /// The quarantine id of the message.
    pub message_id: String,
    /// The event (`quarantined`, `rejected`, …).
    pub event: String,
    /// The recipients the recipient party means.
    pub concerned: Vec<String>,
    /// When it was queued (ms since the epoch).
    pub created_at: i64,
    /// Who carried out the step (workflow runs).
    pub actor: Option<String>,
    /// Approvals at the time of the step, (have, needed) (`approval-needed`).
    pub approvals: Option<(u32, u32)>,
    /// The original's header block, kept with a run whose message content is gone (delete).
    pub headers: Option<Vec<u8>>,
}

/// The owner of runs queued by workflow steps, until a daemon claims them.
pub const UNOWNED: &str = "";

/// A workflow step's notification run, queued unowned for a daemon to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewWorkflowRun<'a> {
    /// The quarantine id.
    pub message_id: &'a str,
    /// The event (`release-requested`, `approval-needed`, `released`, `deleted`).
    pub event: &'a str,
    /// The recipients the recipient party means.
    pub concerned: &'a [String],
    /// Who carried out the step.
    pub actor: Option<&'a str>,
    /// Approvals (have, needed) at the time of the step.
    pub approvals: Option<(u32, u32)>,
    /// The original's header block, when the content is gone after the step.
    pub headers: Option<&'a [u8]>,
}

impl Store {
    /// Queues a run for `owner`; returns its key.
    pub async fn outbox_add(
        &self,
        owner: &str,
        message_id: &str,
        event: &str,
        concerned: &[String],
    ) -> Result<i64, Error> {
        let run = NewWorkflowRun {
            message_id,
            event,
            concerned,
            actor: None,
            approvals: None,
            headers: None,
        };
        self.outbox_insert(owner, &run).await
    }

    /// Queues a workflow step's run unowned, for a running daemon (or the command itself,
    /// with `--wait-notify`) to claim; returns its key.
    pub async fn outbox_queue(&self, run: &NewWorkflowRun<'_>) -> Result<i64, Error> {
        self.outbox_insert(UNOWNED, run).await
    }

    async fn outbox_insert(&self, owner: &str, run: &NewWorkflowRun<'_>) -> Result<i64, Error> {
        let vals: Vec<Val> = vec![
            owner.into(),
            run.message_id.into(),
            run.event.into(),
            run.concerned.join("\n").into(),
            now_ms().into(),
            Val::OptText(run.actor.map(|a| db::cut(a, 255))),
            Val::OptInt(run.approvals.map(|(have, _)| i64::from(have))),
            Val::OptInt(run.approvals.map(|(_, needed)| i64::from(needed))),
            Val::Blob(run.headers.map(<[u8]>::to_vec).unwrap_or_default()),
        ];
        const OP: &str = "queue notification";
        // The key is read on the same connection, in the same transaction.
        let mut tx = self.begin(OP).await?;
        exec(
            &mut tx,
            OP,
            "INSERT INTO notify_outbox (owner, message_id, event, concerned, created_at, \
             actor, approvals_have, approvals_needed, headers) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vals,
        )
        .await?;
        let last = match self.backend() {
            Backend::Sqlite => "SELECT last_insert_rowid() AS seq",
            Backend::MySql => "SELECT CAST(LAST_INSERT_ID() AS SIGNED) AS seq",
        };
        let rows = fetch(&mut tx, OP, last, Vec::new()).await?;
        let seq = match rows.first() {
            Some(row) => db::int(row, "seq")?,
            None => {
                return Err(Error::db(
                    OP,
                    sqlx::Error::Protocol("the database gave no key for the new row".into()),
                ))
            }
        };
        commit(tx, OP).await?;
        Ok(seq)
    }

    /// Removes the finished run `owner` queued about `message_id` for `event` (a run queued
    /// with its message, whose key the sender does not know).
    pub async fn outbox_remove_run(
        &self,
        owner: &str,
        message_id: &str,
        event: &str,
    ) -> Result<(), Error> {
        bind_all(
            "DELETE FROM notify_outbox WHERE message_id = ? AND owner = ? AND event = ?",
            vec![message_id.into(), owner.into(), event.into()],
        )
        .execute(&self.pool)
        .await
        .map_err(|e| Error::db("finish notification", e))?;
        Ok(())
    }

    /// Gives every run queued by `from` to `to` (a daemon taking over the runs of an older
    /// version that named itself by host name); returns how many.
    pub async fn outbox_adopt(&self, from: &str, to: &str) -> Result<u64, Error> {
        bind_all(
            "UPDATE notify_outbox SET owner = ? WHERE owner = ?",
            vec![to.into(), from.into()],
        )
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| Error::db("take over notifications", e))
    }

    /// Removes a finished run.
    pub async fn outbox_remove(&self, seq: i64) -> Result<(), Error> {
        bind_all("DELETE FROM notify_outbox WHERE seq = ?", vec![seq.into()])
            .execute(&self.pool)
            .await
            .map_err(|e| Error::db("finish notification", e))?;
        Ok(())
    }

    /// The unfinished runs `owner` queued, oldest first.
    pub async fn outbox_of(&self, owner: &str) -> Result<Vec<OutboxEntry>, Error> {
        let rows = self
            .query(
                "read notification queue",
                &format!("{SELECT} WHERE owner = ? ORDER BY seq"),
                vec![owner.into()],
            )
            .await?;
        rows.iter().map(entry).collect()
    }

    /// Claims up to `limit` unowned runs (queued by workflow steps) for `owner`, oldest
    /// first: each with its own conditional `UPDATE`, so a row another node claimed first is
    /// skipped. Returns the runs claimed.
    pub async fn outbox_claim(&self, owner: &str, limit: u32) -> Result<Vec<OutboxEntry>, Error> {
        let rows = self
            .query(
                "read notification queue",
                &format!(
                    "{SELECT} WHERE owner = ? ORDER BY seq LIMIT {}",
                    limit.max(1)
                ),
                vec![UNOWNED.into()],
            )
            .await?;
        let mut claimed = Vec::new();
        for row in &rows {
            let mut e = entry(row)?;
            if self.outbox_claim_one(e.seq, owner).await? {
                e.owner = owner.to_string();
                claimed.push(e);
            }
        }
        Ok(claimed)
    }

    /// Claims the unowned run `seq` for `owner`; false when it is gone or another owner
    /// has it.
    pub async fn outbox_claim_one(&self, seq: i64, owner: &str) -> Result<bool, Error> {
        let done = bind_all(
            "UPDATE notify_outbox SET owner = ? WHERE seq = ? AND owner = ?",
            vec![owner.into(), seq.into(), UNOWNED.into()],
        )
        .execute(&self.pool)
        .await
        .map_err(|e| Error::db("claim notification", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// The run `seq`, if it is still queued.
    pub async fn outbox_entry(&self, seq: i64) -> Result<Option<OutboxEntry>, Error> {
        let rows = self
            .query(
                "read notification queue",
                &format!("{SELECT} WHERE seq = ?"),
                vec![seq.into()],
            )
            .await?;
        rows.first().map(entry).transpose()
    }
}

const SELECT: &str = "SELECT seq, owner, message_id, event, concerned, created_at, actor, \
                      approvals_have, approvals_needed, headers FROM notify_outbox";

fn entry(r: &sqlx::any::AnyRow) -> Result<OutboxEntry, Error> {
    use sqlx::Row as _;
    let concerned = db::text(r, "concerned")?;
    let count = |col| -> Result<Option<u32>, Error> {
        Ok(db::opt_int(r, col)?.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)))
    };
    let approvals = match (count("approvals_have")?, count("approvals_needed")?) {
        (Some(have), Some(needed)) => Some((have, needed)),
        _ => None,
    };
    let headers: Option<Vec<u8>> = r
        .try_get("headers")
        .map_err(|e| Error::db("decode notification headers", e))?;
    Ok(OutboxEntry {
        seq: db::int(r, "seq")?,
        owner: db::text(r, "owner")?,
        message_id: db::text(r, "message_id")?,
        event: db::text(r, "event")?,
        concerned: concerned
            .split('\n')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: db::int(r, "created_at")?,
        actor: db::opt_text(r, "actor")?,
        approvals,
        headers: headers.filter(|h| !h.is_empty()),
    })
}

//! The daemon's notification outbox: one row per notification run (an event about a stored
//! message) that has not finished yet. The row of a held or rejected message is written in
//! the transaction that stores the message ([`crate::NewMessage::outbox`]); the daemon
//! removes it when every notification of the run was sent or finally failed. Rows left
//! behind by a process that stopped (or crashed) are resumed by the next daemon with the same
//! owner (its persistent node id).

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
        let vals: Vec<Val> = vec![
            owner.into(),
            message_id.into(),
            event.into(),
            concerned.join("\n").into(),
            now_ms().into(),
        ];
        const OP: &str = "queue notification";
        // The key is read on the same connection, in the same transaction.
        let mut tx = self.begin(OP).await?;
        exec(
            &mut tx,
            OP,
            "INSERT INTO notify_outbox (owner, message_id, event, concerned, created_at) \
             VALUES (?, ?, ?, ?, ?)",
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
                "SELECT seq, owner, message_id, event, concerned, created_at \
                 FROM notify_outbox WHERE owner = ? ORDER BY seq",
                vec![owner.into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let concerned = db::text(r, "concerned")?;
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
                })
            })
            .collect()
    }
}

//! The daemon's notification outbox: one row per notification run (an event about a stored
//! message) that has not finished yet. The daemon adds the row before sending and removes it
//! when every notification of the run was sent or finally failed; rows left behind by a
//! process that stopped (or crashed) are resumed by the next daemon on the same host.

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

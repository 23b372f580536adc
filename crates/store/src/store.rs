//! The [`Store`] handle: a connection pool and the helpers its operations share.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Transaction};

use crate::db::{self, bind_all, Backend, StoreOptions, Val};
use crate::error::Error;
use crate::model::MessageStatus;

/// The quarantine store. Cheap to clone (a pool handle); every method is one or a few
/// transactions, safe to call from many tasks and many processes at once.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

/// The current time as Unix milliseconds.
pub fn now_ms() -> i64 {
    system_time_ms(SystemTime::now())
}

/// A `SystemTime` as Unix milliseconds (0 before 1970).
pub fn system_time_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Opens the store at `url` (`sqlite:///var/lib/quarantd/quarantine.sqlite` or
    /// `mysql://user:pass@host/db`) and applies pending migrations. A missing SQLite file is
    /// created.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store, Error> {
        let (pool, backend) = db::connect(url, options).await?;
        Ok(Store { pool, backend })
    }

    /// Opens (creating it if needed) the embedded SQLite quarantine in `data_dir`.
    pub async fn open_in_data_dir(
        data_dir: &std::path::Path,
        options: &StoreOptions,
    ) -> Result<Store, Error> {
        Store::open(&db::sqlite_url(data_dir), options).await
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection; waits for checked-out ones to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn begin(&self, op: &'static str) -> Result<Transaction<'static, Any>, Error> {
        self.pool.begin().await.map_err(|e| Error::db(op, e))
    }
}

/// Runs one statement in a transaction; returns the number of rows changed.
pub(crate) async fn exec(
    tx: &mut Transaction<'static, Any>,
    op: &'static str,
    sql: &str,
    vals: Vec<Val>,
) -> Result<u64, Error> {
    bind_all(sql, vals)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| Error::db(op, e))
}

/// Runs a query in a transaction and returns its rows.
pub(crate) async fn fetch(
    tx: &mut Transaction<'static, Any>,
    op: &'static str,
    sql: &str,
    vals: Vec<Val>,
) -> Result<Vec<AnyRow>, Error> {
    bind_all(sql, vals)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| Error::db(op, e))
}

/// Commits a transaction.
pub(crate) async fn commit(tx: Transaction<'static, Any>, op: &'static str) -> Result<(), Error> {
    tx.commit().await.map_err(|e| Error::db(op, e))
}

/// Locks one message for the rest of the transaction and returns its status.
///
/// The first statement of every workflow transaction is this write (an `UPDATE` of the
/// message's `updated_at`): on MariaDB it takes the row lock, so changes to one message are
/// serialised; on SQLite it takes the write lock at once (waiting for `busy_timeout`),
/// instead of upgrading a read transaction later, which WAL mode may refuse at once.
pub(crate) async fn lock_message(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    at: i64,
) -> Result<MessageStatus, Error> {
    let changed = exec(
        tx,
        "lock message",
        "UPDATE messages SET updated_at = ? WHERE id = ?",
        vec![at.into(), id.into()],
    )
    .await?;
    if changed == 0 {
        return Err(Error::NotFound { id: id.to_string() });
    }
    let rows = fetch(
        tx,
        "read status",
        "SELECT status FROM messages WHERE id = ?",
        vec![id.into()],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    parse_status(&db::text(row, "status")?)
}

pub(crate) fn parse_status(s: &str) -> Result<MessageStatus, Error> {
    MessageStatus::parse(s).ok_or_else(|| Error::BadValue {
        column: "messages.status",
        value: s.to_string(),
    })
}

/// Adds one audit entry inside a transaction.
pub(crate) async fn audit(
    tx: &mut Transaction<'static, Any>,
    entry: AuditRecord<'_>,
) -> Result<(), Error> {
    exec(
        tx,
        "write audit log",
        "INSERT INTO audit_log (at, actor, action, message_id, detail) VALUES (?, ?, ?, ?, ?)",
        vec![
            entry.at.into(),
            db::cut(entry.actor, 320).into(),
            entry.action.into(),
            entry.message_id.map(str::to_string).into(),
            db::cut(entry.detail, 2000).into(),
        ],
    )
    .await
    .map(|_| ())
}

/// An audit entry to write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuditRecord<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub message_id: Option<&'a str>,
    pub detail: &'a str,
}

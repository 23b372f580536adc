//! `expire`: removes what is past retention, in batches, and audits each removal.

use crate::db::{self, placeholders, Val};
use crate::error::Error;
use crate::list::split_lines;
use crate::model::{ExpireReport, RecipientStatus, Retention};
use crate::store::{commit, exec, fetch, Store};

/// Messages looked at per transaction.
const EXPIRE_BATCH: usize = 500;

/// The tables that hold a message's rows, and their message id column.
const MESSAGE_TABLES: &[(&str, &str)] = &[
    ("message_blobs", "message_id"),
    ("message_facets", "message_id"),
    ("recipients", "message_id"),
    ("parts", "message_id"),
    ("findings", "message_id"),
    ("approvals", "message_id"),
    ("release_requests", "message_id"),
    ("messages", "id"),
];

impl Store {
    /// Removes every message received longer ago than its retention (the longest of its
    /// reasons' settings) before `now` (Unix ms), whatever its status, except one being
    /// released at this moment (it goes at the next run). Each removal is audited as
    /// `expire` by `actor`; the audit log itself is kept.
    pub async fn expire(
        &self,
        now: i64,
        retention: &Retention,
        actor: &str,
    ) -> Result<ExpireReport, Error> {
        let first_cut = now.saturating_sub(ms(retention.shortest()));
        let mut report = ExpireReport::default();
        let mut after: Option<(i64, String)> = None;
        loop {
            let candidates = self.expire_candidates(first_cut, after.as_ref()).await?;
            let Some(last) = candidates.last() else { break };
            after = Some((last.1, last.0.clone()));
            let due: Vec<String> = candidates
                .iter()
                .filter(|(_, at, reasons)| {
                    *at < now.saturating_sub(ms(retention.for_reasons(reasons)))
                })
                .map(|(id, _, _)| id.clone())
                .collect();
            report.removed.extend(self.remove(&due, actor, now).await?);
            if candidates.len() < EXPIRE_BATCH {
                break;
            }
        }
        Ok(report)
    }

    /// Messages older than `cut`, oldest first, after the keyset position.
    async fn expire_candidates(
        &self,
        cut: i64,
        after: Option<&(i64, String)>,
    ) -> Result<Vec<(String, i64, Vec<String>)>, Error> {
        let mut vals: Vec<Val> = vec![cut.into()];
        let keyset = match after {
            Some((at, id)) => {
                vals.extend([Val::from(*at), Val::from(*at), Val::from(id.as_str())]);
                "AND (received_at > ? OR (received_at = ? AND id > ?))"
            }
            None => "",
        };
        vals.push((EXPIRE_BATCH as i64).into());
        let sql = format!(
            "SELECT id, received_at, reasons FROM messages WHERE received_at < ? {keyset} \
             ORDER BY received_at, id LIMIT ?"
        );
        let rows = self.query("expire", &sql, vals).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    db::text(r, "id")?,
                    db::int(r, "received_at")?,
                    split_lines(&db::text(r, "reasons")?),
                ))
            })
            .collect()
    }

    /// Removes these messages (those not being released) and audits each.
    async fn remove(&self, ids: &[String], actor: &str, now: i64) -> Result<Vec<String>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin("expire").await?;
        let in_list = placeholders(1, ids.len());
        let in_list = in_list.replace(['(', ')'], "");
        let mut vals: Vec<Val> = vec![RecipientStatus::Releasing.as_str().into()];
        vals.extend(ids.iter().map(Val::from));
        let busy = fetch(
            &mut tx,
            "expire",
            &format!(
                "SELECT DISTINCT message_id FROM recipients WHERE status = ? \
                 AND message_id IN ({in_list})"
            ),
            vals,
        )
        .await?;
        let busy: Vec<String> = busy
            .iter()
            .map(|r| db::text(r, "message_id"))
            .collect::<Result<_, _>>()?;
        let gone: Vec<String> = ids
            .iter()
            .filter(|id| !busy.contains(id))
            .cloned()
            .collect();
        if gone.is_empty() {
            return Ok(gone);
        }
        let in_list = vec!["?"; gone.len()].join(", ");
        for (table, column) in MESSAGE_TABLES {
            let sql = format!("DELETE FROM {table} WHERE {column} IN ({in_list})");
            exec(
                &mut tx,
                "expire",
                &sql,
                gone.iter().map(Val::from).collect(),
            )
            .await?;
        }
        for id in &gone {
            crate::store::audit(
                &mut tx,
                crate::store::AuditRecord {
                    at: now,
                    actor,
                    action: "expire",
                    message_id: Some(id),
                    detail: "past retention",
                },
            )
            .await?;
        }
        commit(tx, "expire").await?;
        Ok(gone)
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

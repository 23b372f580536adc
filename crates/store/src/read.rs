//! Reading one message: metadata (`show`), its raw content and one of its parts (audited), and
//! the audit log.

use sqlx::any::AnyRow;

use crate::blob;
use crate::db::{self, bind_all, Val};
use crate::error::Error;
use crate::list::{split_lines, summary};
use crate::model::{
    Approval, AuditEntry, MessageDetail, PartContent, RecipientState, RecipientStatus,
    StoredFinding, StoredPart,
};
use crate::store::{audit, commit, now_ms, AuditRecord, Store};

impl Store {
    /// Everything stored about a message except its content (not audited: no content).
    pub async fn get(&self, id: &str) -> Result<MessageDetail, Error> {
        let rows = self
            .query(
                "show",
                "SELECT * FROM messages m WHERE m.id = ?",
                vec![id.into()],
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::NotFound { id: id.to_string() })?;
        let by_id = || vec![Val::from(id)];
        let recipients = self
            .query(
                "show recipients",
                "SELECT * FROM recipients WHERE message_id = ? ORDER BY seq",
                by_id(),
            )
            .await?;
        let parts = self
            .query(
                "show parts",
                "SELECT * FROM parts WHERE message_id = ? ORDER BY seq",
                by_id(),
            )
            .await?;
        let findings = self
            .query(
                "show findings",
                "SELECT * FROM findings WHERE message_id = ? ORDER BY seq",
                by_id(),
            )
            .await?;
        let approvals = self
            .query(
                "show approvals",
                "SELECT * FROM approvals WHERE message_id = ? ORDER BY approved_at, approver",
                by_id(),
            )
            .await?;
        let requests = self
            .query(
                "show requests",
                "SELECT recipient_lc FROM release_requests WHERE message_id = ? \
                 ORDER BY requested_at, recipient_lc",
                by_id(),
            )
            .await?;
        Ok(MessageDetail {
            summary: summary(row)?,
            action: db::text(row, "action")?,
            node: db::text(row, "node")?,
            body_type: db::opt_text(row, "body_type")?,
            smtputf8: db::int(row, "smtputf8")? != 0,
            dsn_ret: db::opt_text(row, "dsn_ret")?,
            dsn_envid: db::opt_text(row, "dsn_envid")?,
            peer: db::text(row, "peer")?,
            peer_helo: db::text(row, "peer_helo")?,
            client_addr: db::opt_text(row, "client_addr")?,
            client_helo: db::opt_text(row, "client_helo")?,
            xforward: split_lines(&db::text(row, "xforward")?)
                .into_iter()
                .map(|l| match l.split_once('=') {
                    Some((n, v)) => (n.to_string(), v.to_string()),
                    None => (l, String::new()),
                })
                .collect(),
            to: db::opt_text(row, "hdr_to")?,
            message_id: db::opt_text(row, "hdr_message_id")?,
            date: db::opt_text(row, "hdr_date")?,
            sha256: db::text(row, "sha256")?,
            has_content: db::text(row, "raw_encoding")? != blob::ENCODING_NONE,
            recipients: recipients.iter().map(recipient).collect::<Result<_, _>>()?,
            parts: parts.iter().map(part).collect::<Result<_, _>>()?,
            findings: findings.iter().map(finding).collect::<Result<_, _>>()?,
            approvals: approvals
                .iter()
                .map(|r| {
                    Ok(Approval {
                        approver: db::text(r, "approver")?,
                        at: db::int(r, "approved_at")?,
                    })
                })
                .collect::<Result<_, Error>>()?,
            requests: requests
                .iter()
                .map(|r| db::text(r, "recipient_lc"))
                .collect::<Result<_, _>>()?,
            approvals_required: db::opt_int(row, "approvals_required")?
                .and_then(|n| u32::try_from(n).ok()),
        })
    }

    /// The raw message, byte-exact, for `show --raw`; audited as `view-raw` by `actor`.
    pub async fn raw(&self, id: &str, actor: &str) -> Result<Vec<u8>, Error> {
        let raw = self.load_raw(id).await?;
        self.record_audit(actor, "view-raw", Some(id), &format!("size={}", raw.len()))
            .await?;
        Ok(raw)
    }

    /// One part's decoded content, for `show --part PATH`; audited as `view-part` by `actor`.
    /// The store keeps the raw message, not its parts' bytes: `find` takes the raw message
    /// apart — the caller decomposes it with the limits it runs with — and returns the part
    /// at `path`; it runs on the blocking pool.
    pub async fn part<F>(
        &self,
        id: &str,
        path: &str,
        actor: &str,
        find: F,
    ) -> Result<PartContent, Error>
    where
        F: FnOnce(Vec<u8>, &str) -> Option<PartContent> + Send + 'static,
    {
        let raw = self.load_raw(id).await?;
        let wanted = path.to_string();
        let found = tokio::task::spawn_blocking(move || find(raw, &wanted))
            .await
            .ok()
            .flatten();
        let Some(found) = found else {
            return Err(Error::PartNotFound {
                id: id.to_string(),
                path: path.to_string(),
            });
        };
        let detail = format!("part={path} size={}", found.content.len());
        self.record_audit(actor, "view-part", Some(id), &detail)
            .await?;
        Ok(PartContent {
            part: found.part,
            content: found.content,
        })
    }

    /// The raw message for re-injection by a release job. Not audited as a view: the release's
    /// own entries (`claim`, `released`, ...) record what was done with it.
    pub async fn content_for_release(&self, id: &str) -> Result<Vec<u8>, Error> {
        self.load_raw(id).await
    }

    /// The audit log, oldest first: the last `limit` entries, of one message or of all.
    pub async fn audit_log(&self, id: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, Error> {
        let (sql, mut vals) = match id {
            Some(id) => (
                "SELECT * FROM audit_log WHERE message_id = ? ORDER BY seq DESC LIMIT ?",
                vec![Val::from(id)],
            ),
            None => ("SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?", vec![]),
        };
        vals.push(i64::from(limit).into());
        let rows = self.query("read audit log", sql, vals).await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: db::int(r, "seq")?,
                    at: db::int(r, "at")?,
                    actor: db::text(r, "actor")?,
                    action: db::text(r, "action")?,
                    message_id: db::opt_text(r, "message_id")?,
                    detail: db::text(r, "detail")?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        out.reverse();
        Ok(out)
    }

    /// Adds an entry to the audit log now (for actions outside the store: notifications,
    /// views in other front ends).
    pub async fn record_audit(
        &self,
        actor: &str,
        action: &str,
        message_id: Option<&str>,
        detail: &str,
    ) -> Result<(), Error> {
        let mut tx = self.begin("write audit log").await?;
        let record = AuditRecord {
            at: now_ms(),
            actor,
            action,
            message_id,
            detail,
        };
        audit(&mut tx, record).await?;
        commit(tx, "write audit log").await
    }

    /// The stored content, inflated and checked against its SHA-256.
    async fn load_raw(&self, id: &str) -> Result<Vec<u8>, Error> {
        let meta = self
            .query(
                "read content",
                "SELECT status, size, sha256, raw_encoding FROM messages WHERE id = ?",
                vec![id.into()],
            )
            .await?;
        let meta = meta
            .first()
            .ok_or_else(|| Error::NotFound { id: id.to_string() })?;
        if db::text(meta, "raw_encoding")? == blob::ENCODING_NONE {
            return Err(Error::StateForbids {
                id: id.to_string(),
                status: crate::store::parse_status(&db::text(meta, "status")?)?,
                action: "show its content",
            });
        }
        let chunks = self
            .query(
                "read content",
                "SELECT data FROM message_blobs WHERE message_id = ? ORDER BY seq",
                vec![id.into()],
            )
            .await?;
        let mut packed = Vec::new();
        for row in &chunks {
            let data: Vec<u8> =
                sqlx::Row::try_get(row, "data").map_err(|e| Error::db("read content", e))?;
            packed.extend_from_slice(&data);
        }
        let size = u64::try_from(db::int(meta, "size")?).unwrap_or(0);
        let corrupt = |detail: String| Error::Corrupt {
            id: id.to_string(),
            detail,
        };
        let raw = blob::decompress(&packed, size).map_err(corrupt)?;
        if quarantd_core::sha256_hex(&raw) != db::text(meta, "sha256")? {
            return Err(corrupt("SHA-256 does not match".into()));
        }
        Ok(raw)
    }

    pub(crate) async fn query(
        &self,
        op: &'static str,
        sql: &str,
        vals: Vec<Val>,
    ) -> Result<Vec<AnyRow>, Error> {
        bind_all(sql, vals)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| Error::db(op, e))
    }
}

fn recipient(r: &AnyRow) -> Result<RecipientState, Error> {
    let status = db::text(r, "status")?;
    Ok(RecipientState {
        address: db::text(r, "address")?,
        notify: db::opt_text(r, "notify")?,
        orcpt: db::opt_text(r, "orcpt")?,
        status: RecipientStatus::parse(&status).ok_or(Error::BadValue {
            column: "recipients.status",
            value: status,
        })?,
        claim_owner: db::opt_text(r, "claim_owner")?,
        claimed_at: db::opt_int(r, "claimed_at")?,
        attempts: u32::try_from(db::int(r, "attempts")?).unwrap_or(0),
        last_reply: db::opt_text(r, "last_reply")?,
    })
}

fn part(r: &AnyRow) -> Result<StoredPart, Error> {
    Ok(StoredPart {
        path: db::text(r, "path")?,
        filename: db::opt_text(r, "filename")?,
        declared_type: db::opt_text(r, "declared_type")?,
        detected_type: db::opt_text(r, "detected_type")?,
        size: u64::try_from(db::int(r, "size")?).unwrap_or(0),
        sha256: db::text(r, "sha256")?,
        labels: db::text(r, "labels")?
            .split(',')
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        unscannable_reason: db::opt_text(r, "unscannable_reason")?,
    })
}

fn finding(r: &AnyRow) -> Result<StoredFinding, Error> {
    Ok(StoredFinding {
        kind: db::text(r, "kind")?,
        engine: db::text(r, "engine")?,
        name: db::text(r, "name")?,
        part: db::opt_text(r, "part_path")?,
    })
}

//! Putting messages into the quarantine: one transaction, committed durably before return.

use std::collections::BTreeSet;

use quarantd_core::{BodyType, Held, HeldKind, Notify, Ret};
use sqlx::{Any, Transaction};

use crate::blob;
use crate::db::{cut, placeholders, Val};
use crate::error::Error;
use crate::headers;
use crate::model::{reason_key, MessageStatus, NewMessage, NewOutboxRun, RecipientStatus};
use crate::store::{commit, exec, system_time_ms, Store};

/// Most bound values per statement (SQLite allows 32766, MariaDB 65535).
const MAX_PARAMS: usize = 30_000;
/// Most blob bytes per statement (MariaDB's default `max_allowed_packet` is 16 MiB).
const MAX_BLOB_BYTES_PER_STATEMENT: usize = 4 * 1024 * 1024;

/// The rows of one table, built before the transaction starts.
struct Rows {
    table: &'static str,
    columns: &'static [&'static str],
    rows: Vec<Vec<Val>>,
}

impl Rows {
    fn new(table: &'static str, columns: &'static [&'static str]) -> Rows {
        Rows {
            table,
            columns,
            rows: Vec::new(),
        }
    }
}

const MESSAGE_COLUMNS: &[&str] = &[
    "id",
    "received_at",
    "status",
    "direction",
    "node",
    "mail_from",
    "sender_lc",
    "body_type",
    "smtputf8",
    "dsn_ret",
    "dsn_envid",
    "peer",
    "peer_helo",
    "client_addr",
    "client_helo",
    "xforward",
    "hdr_from",
    "hdr_to",
    "subject",
    "hdr_message_id",
    "hdr_date",
    "size",
    "sha256",
    "action",
    "reasons",
    "raw_encoding",
    "updated_at",
    "approvals_required",
];
const FACET_COLUMNS: &[&str] = &["kind", "value", "received_at", "message_id"];
const BLOB_COLUMNS: &[&str] = &["message_id", "seq", "data"];
const RECIPIENT_COLUMNS: &[&str] = &[
    "message_id",
    "seq",
    "address",
    "address_lc",
    "notify",
    "orcpt",
    "status",
    "attempts",
    "updated_at",
];
const PART_COLUMNS: &[&str] = &[
    "message_id",
    "seq",
    "path",
    "filename",
    "declared_type",
    "detected_type",
    "size",
    "sha256",
    "labels",
    "unscannable_reason",
];
const FINDING_COLUMNS: &[&str] = &["message_id", "seq", "kind", "engine", "name", "part_path"];
const AUDIT_COLUMNS: &[&str] = &["at", "actor", "action", "message_id", "detail"];
const OUTBOX_COLUMNS: &[&str] = &["owner", "message_id", "event", "concerned", "created_at"];

/// Every row of a batch of messages, table by table.
struct Batch {
    messages: Rows,
    facets: Rows,
    blobs: Rows,
    recipients: Rows,
    parts: Rows,
    findings: Rows,
    audit: Rows,
    outbox: Rows,
}

impl Store {
    /// Stores one message and returns its quarantine id (the envelope's id). When this returns
    /// `Ok`, the transaction is committed (SQLite `synchronous=FULL`; InnoDB with
    /// `innodb_flush_log_at_trx_commit=1`): the daemon may answer 250 upstream. The message's
    /// notification run ([`NewMessage::outbox`]) is queued in the same transaction: both are
    /// stored, or neither.
    pub async fn insert(&self, msg: &NewMessage<'_>) -> Result<String, Error> {
        self.insert_batch(std::slice::from_ref(msg)).await?;
        Ok(msg.held.envelope.id.clone())
    }

    /// Stores several messages in one transaction (bulk import, benchmarks).
    pub async fn insert_batch(&self, msgs: &[NewMessage<'_>]) -> Result<(), Error> {
        let now = crate::store::now_ms();
        let batch = build_batch(msgs, now);
        let mut tx = self.begin("store message").await?;
        for rows in [
            &batch.messages,
            &batch.recipients,
            &batch.facets,
            &batch.parts,
            &batch.findings,
            &batch.audit,
            &batch.outbox,
        ] {
            insert_rows(&mut tx, rows, MAX_PARAMS).await?;
        }
        insert_blobs(&mut tx, &batch.blobs).await?;
        commit(tx, "store message").await
    }
}

fn build_batch(msgs: &[NewMessage<'_>], now: i64) -> Batch {
    let mut b = Batch {
        messages: Rows::new("messages", MESSAGE_COLUMNS),
        facets: Rows::new("message_facets", FACET_COLUMNS),
        blobs: Rows::new("message_blobs", BLOB_COLUMNS),
        recipients: Rows::new("recipients", RECIPIENT_COLUMNS),
        parts: Rows::new("parts", PART_COLUMNS),
        findings: Rows::new("findings", FINDING_COLUMNS),
        audit: Rows::new("audit_log", AUDIT_COLUMNS),
        outbox: Rows::new("notify_outbox", OUTBOX_COLUMNS),
    };
    for msg in msgs {
        add_message(&mut b, msg, now);
    }
    b
}

fn add_message(b: &mut Batch, msg: &NewMessage<'_>, now: i64) {
    let held = &msg.held;
    let env = held.envelope;
    let id = env.id.as_str();
    let received_at = system_time_ms(env.received_at);
    let raw_sha256 = quarantd_core::sha256_hex(held.raw);
    b.messages
        .rows
        .push(message_row(msg, &raw_sha256, received_at, now));
    for (seq, chunk) in blob::chunks(blob::compress(held.raw))
        .into_iter()
        .enumerate()
    {
        b.blobs
            .rows
            .push(vec![id.into(), (seq as i64).into(), chunk.into()]);
    }
    let mut seen = BTreeSet::new();
    for (seq, rcpt) in env.recipients.iter().enumerate() {
        let lc = cut(&rcpt.address.to_lowercase(), 320);
        if !seen.insert(lc.clone()) {
            continue; // the same recipient twice in one envelope: keep the first
        }
        b.recipients.rows.push(vec![
            id.into(),
            (seq as i64).into(),
            cut(&rcpt.address, 1000).into(),
            lc.into(),
            rcpt.notify.map(Notify::dsn_value).into(),
            rcpt.orcpt.as_deref().map(|o| cut(o, 1000)).into(),
            initial_status(held).1.as_str().into(),
            0i64.into(),
            now.into(),
        ]);
    }
    for (kind, value) in facets(held) {
        b.facets.rows.push(vec![
            kind.into(),
            value.into(),
            received_at.into(),
            id.into(),
        ]);
    }
    for (seq, part) in held.parts.iter().enumerate() {
        let labels: Vec<&str> = part.labels.iter().map(|l| l.as_str()).collect();
        b.parts.rows.push(vec![
            id.into(),
            (seq as i64).into(),
            cut(&part.path.0, 2000).into(),
            part.filename.as_deref().map(|s| cut(s, 1000)).into(),
            part.declared_type.as_deref().map(|s| cut(s, 255)).into(),
            part.detected_type.as_deref().map(|s| cut(s, 255)).into(),
            i64::try_from(part.size).unwrap_or(i64::MAX).into(),
            // Decomposition leaves hashing the message itself (the root) to us.
            if part.sha256.is_empty() && part.path.0.is_empty() {
                raw_sha256.as_str()
            } else {
                part.sha256.as_str()
            }
            .into(),
            cut(&labels.join(","), 1000).into(),
            part.unscannable_reason
                .as_deref()
                .map(|s| cut(s, 1000))
                .into(),
        ]);
    }
    for (seq, f) in held.findings.iter().enumerate() {
        b.findings.rows.push(vec![
            id.into(),
            (seq as i64).into(),
            cut(&f.kind, 64).into(),
            cut(&f.engine, 64).into(),
            cut(&f.name, 1000).into(),
            f.part.as_ref().map(|p| cut(&p.0, 2000)).into(),
        ]);
    }
    let detail = format!(
        "from=<{}> rcpts={} size={} reasons={}",
        env.mail_from,
        env.recipients.len(),
        held.raw.len(),
        held.verdict.reasons.join(",")
    );
    b.audit.rows.push(vec![
        now.into(),
        cut(&format!("node:{}", msg.node), 320).into(),
        "quarantine".into(),
        id.into(),
        cut(&detail, 2000).into(),
    ]);
    if let Some(run) = &msg.outbox {
        b.outbox.rows.push(outbox_row(held, run, now));
    }
}

/// The notification run queued with the message: the recipient party means its recipients.
fn outbox_row(held: &Held<'_>, run: &NewOutboxRun<'_>, now: i64) -> Vec<Val> {
    let concerned: Vec<&str> = held
        .envelope
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    vec![
        cut(run.owner, 255).into(),
        held.envelope.id.as_str().into(),
        cut(run.event, 32).into(),
        concerned.join("\n").into(),
        now.into(),
    ]
}

/// `rejected` for the stored copy of a refused message, else `held`.
fn initial_status(held: &Held<'_>) -> (MessageStatus, RecipientStatus) {
    match held.kind() {
        HeldKind::RejectedCopy => (MessageStatus::Rejected, RecipientStatus::Rejected),
        HeldKind::Quarantined => (MessageStatus::Held, RecipientStatus::Held),
    }
}

fn message_row(msg: &NewMessage<'_>, raw_sha256: &str, received_at: i64, now: i64) -> Vec<Val> {
    let held = &msg.held;
    let env = held.envelope;
    let hdr = headers::parse(held.raw);
    let xforward: Vec<String> = env
        .xforward
        .0
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let opt = |s: Option<String>, max: usize| Val::OptText(s.map(|s| cut(&s, max)));
    vec![
        env.id.as_str().into(),
        received_at.into(),
        initial_status(held).0.as_str().into(),
        cut(held.direction, 32).into(),
        cut(msg.node, 255).into(),
        cut(&env.mail_from, 1000).into(),
        cut(&env.mail_from.to_lowercase(), 320).into(),
        env.mail_params
            .body
            .map(|b| match b {
                BodyType::SevenBit => "7BIT".to_string(),
                BodyType::EightBitMime => "8BITMIME".to_string(),
            })
            .into(),
        i64::from(env.mail_params.smtputf8).into(),
        env.mail_params
            .ret
            .map(|r| match r {
                Ret::Full => "FULL".to_string(),
                Ret::Hdrs => "HDRS".to_string(),
            })
            .into(),
        opt(env.mail_params.envid.clone(), 200),
        env.peer.to_string().into(),
        cut(&env.helo, 255).into(),
        opt(env.xforward.get("ADDR").map(str::to_string), 100),
        opt(env.xforward.get("HELO").map(str::to_string), 255),
        cut(&xforward.join("\n"), 2000).into(),
        opt(hdr.from, 1000),
        opt(hdr.to, 2000),
        opt(hdr.subject, 1000),
        opt(hdr.message_id, 1000),
        opt(hdr.date, 100),
        (held.raw.len() as i64).into(),
        raw_sha256.into(),
        held.verdict.action.as_str().into(),
        cut(&held.verdict.reasons.join("\n"), 2000).into(),
        blob::ENCODING_DEFLATE.into(),
        now.into(),
        msg.approvals_required.map(i64::from).into(),
    ]
}

/// The `list` filter values of a message: recipients, their domains, the reason keys.
fn facets(held: &Held<'_>) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    for rcpt in &held.envelope.recipients {
        let lc = rcpt.address.to_lowercase();
        if let Some((_, domain)) = lc.rsplit_once('@') {
            out.insert(("domain", cut(domain, 320)));
        }
        out.insert(("rcpt", cut(&lc, 320)));
    }
    for reason in &held.verdict.reasons {
        out.insert(("reason", cut(&reason_key(reason).to_lowercase(), 320)));
    }
    out
}

/// Inserts rows with multi-row `INSERT`s of at most `max_params` values each.
async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    rows: &Rows,
    max_params: usize,
) -> Result<(), Error> {
    let per_statement = (max_params / rows.columns.len()).max(1);
    for group in rows.rows.chunks(per_statement) {
        insert_group(tx, rows, group).await?;
    }
    Ok(())
}

/// Inserts blob rows, a few MiB per statement.
async fn insert_blobs(tx: &mut Transaction<'static, Any>, rows: &Rows) -> Result<(), Error> {
    let mut start = 0;
    while start < rows.rows.len() {
        let (mut end, mut bytes) = (start, 0);
        while end < rows.rows.len() && (end == start || bytes < MAX_BLOB_BYTES_PER_STATEMENT) {
            if let Some(Val::Blob(b)) = rows.rows[end].get(2) {
                bytes += b.len();
            }
            end += 1;
        }
        insert_group(tx, rows, &rows.rows[start..end]).await?;
        start = end;
    }
    Ok(())
}

async fn insert_group(
    tx: &mut Transaction<'static, Any>,
    rows: &Rows,
    group: &[Vec<Val>],
) -> Result<(), Error> {
    if group.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        rows.table,
        rows.columns.join(", "),
        placeholders(rows.columns.len(), group.len())
    );
    let vals: Vec<Val> = group.iter().flatten().cloned().collect();
    exec(tx, "store message", &sql, vals).await.map(|_| ())
}

//! `list`: filtered pages, newest first, keyset pagination by (received_at, id).
//!
//! The query is driven by the most selective filter's index: a recipient, a domain or a reason
//! walks `message_facets (kind, value, received_at, message_id)`, the sender
//! `messages (sender_lc, received_at, id)`; otherwise the status walks
//! `messages (status, received_at, id)`, and no filter `messages (received_at, id)`. Every
//! index is already in list order, so a page reads about `limit` index entries plus what the
//! other filters reject. With two or more of recipient, domain, reason and sender, the most
//! selective is measured, not guessed: each one's index entries are counted (short index
//! range scans, capped: [`COUNT_CAPS`]) and the fewest drives; a filter with none ends the
//! query at once. Without that, a common domain combined with a rare sender walked the
//! whole domain.

use sqlx::any::AnyRow;

use crate::db::{self, bind_all, Val};
use crate::error::Error;
use crate::model::{Cursor, ListFilter, MessageSummary, Page, DEFAULT_PAGE, MAX_PAGE};
use crate::store::{parse_status, Store};

const SUMMARY_COLUMNS: &str =
    "m.id, m.received_at, m.status, m.mail_from, m.hdr_from, m.subject, m.size, m.direction, m.reasons";

/// Index entries counted per filter when choosing the driving one: first up to the small
/// cap for every filter (most rare filters are told apart there), and only when all reach it
/// again up to the large one, never further than the fewest counted so far.
const COUNT_CAPS: [i64; 2] = [2_000, 50_000];

/// The filter whose index drives the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// The n-th of [`facet_filters`].
    Facet(usize),
    /// `messages (sender_lc, …)`.
    Sender,
}

impl Store {
    /// One page of quarantined messages matching `filter`, newest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Page, Error> {
        let limit = filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let driver = match self.choose_driver(filter).await? {
            Some(driver) => Some(driver),
            None => {
                return Ok(Page {
                    messages: Vec::new(),
                    next: None,
                })
            }
        };
        let (sql, vals) = list_query(filter, limit, driver.flatten());
        let rows = bind_all(&sql, vals)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| Error::db("list", e))?;
        let mut messages = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
        let next = if messages.len() > limit as usize {
            messages.truncate(limit as usize);
            messages.last().map(|m| Cursor {
                received_at: m.received_at,
                id: m.id.clone(),
            })
        } else {
            None
        };
        Ok(Page { messages, next })
    }
}

impl Store {
    /// With two or more indexed filters, the one with the fewest index entries (counted up
    /// to [`COUNT_CAPS`]; the first of equals). `Some(None)`: let [`list_query`] choose (one
    /// filter or none). `None`: some filter matches nothing, so neither does the query.
    async fn choose_driver(&self, f: &ListFilter) -> Result<Option<Option<Driver>>, Error> {
        let facets = facet_filters(f);
        let mut candidates: Vec<(Driver, String, Vec<Val>)> = facets
            .iter()
            .enumerate()
            .map(|(i, (kind, value))| {
                (
                    Driver::Facet(i),
                    "SELECT 1 AS x FROM message_facets WHERE kind = ? AND value = ?".to_string(),
                    vec![Val::from(*kind), Val::from(value.as_str())],
                )
            })
            .collect();
        if let Some(sender) = &f.sender {
            candidates.push((
                Driver::Sender,
                "SELECT 1 AS x FROM messages WHERE sender_lc = ?".to_string(),
                vec![sender.trim().to_lowercase().into()],
            ));
        }
        if candidates.len() < 2 {
            return Ok(Some(None));
        }
        let mut best: Option<(i64, Driver)> = None;
        for cap in COUNT_CAPS {
            best = None;
            for (driver, inner, vals) in &candidates {
                // Past the fewest so far nothing is learned: count no further.
                let limit = best.map_or(cap, |(fewest, _)| fewest.min(cap));
                let mut vals = vals.clone();
                vals.push(limit.into());
                let sql = format!("SELECT COUNT(*) AS n FROM ({inner} LIMIT ?) t");
                let row = bind_all(&sql, vals)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| Error::db("list", e))?;
                let n = db::int(&row, "n")?;
                if n == 0 {
                    return Ok(None);
                }
                if best.is_none_or(|(fewest, _)| n < fewest) {
                    best = Some((n, *driver));
                }
            }
            if best.is_some_and(|(fewest, _)| fewest < cap) {
                break;
            }
        }
        Ok(Some(best.map(|(_, driver)| driver)))
    }
}

/// Builds the SQL and its values, driven by `driver` (default: the first facet filter, else
/// the sender, else `messages`). Fetches `limit + 1` rows to know whether a next page exists.
fn list_query(f: &ListFilter, limit: u32, driver: Option<Driver>) -> (String, Vec<Val>) {
    let facets = facet_filters(f);
    let driver = driver.or(if facets.is_empty() {
        None
    } else {
        Some(Driver::Facet(0))
    });
    let mut vals: Vec<Val> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    let (from, time_col, id_col) = match driver {
        Some(Driver::Facet(i)) => {
            let (kind, value) = &facets[i];
            conds.push("f.kind = ? AND f.value = ?".into());
            vals.extend([Val::from(*kind), Val::from(value.as_str())]);
            (
                "message_facets f JOIN messages m ON m.id = f.message_id",
                "f.received_at",
                "f.message_id",
            )
        }
        Some(Driver::Sender) | None => ("messages m", "m.received_at", "m.id"),
    };
    let driving = match driver {
        Some(Driver::Facet(i)) => Some(i),
        _ => None,
    };
    for (_, (kind, value)) in facets
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != driving)
    {
        conds.push(
            "EXISTS (SELECT 1 FROM message_facets g WHERE g.kind = ? AND g.value = ? \
             AND g.received_at = m.received_at AND g.message_id = m.id)"
                .into(),
        );
        vals.extend([Val::from(*kind), Val::from(value.as_str())]);
    }
    if let Some(sender) = &f.sender {
        conds.push("m.sender_lc = ?".into());
        vals.push(sender.trim().to_lowercase().into());
    }
    if let Some(status) = f.status {
        conds.push("m.status = ?".into());
        vals.push(status.as_str().into());
    }
    if let Some(since) = f.since {
        conds.push(format!("{time_col} >= ?"));
        vals.push(since.into());
    }
    if let Some(until) = f.until {
        conds.push(format!("{time_col} < ?"));
        vals.push(until.into());
    }
    if let Some(after) = &f.after {
        // `t <= c AND (t < c OR id < i)` is `(t, id) < (c, i)`, written so that both planners
        // see a plain range on the index's first column.
        conds.push(format!(
            "{time_col} <= ? AND ({time_col} < ? OR {id_col} < ?)"
        ));
        vals.extend([
            after.received_at.into(),
            after.received_at.into(),
            after.id.as_str().into(),
        ]);
    }
    let where_clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    vals.push(i64::from(limit + 1).into());
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM {from} {where_clause} \
         ORDER BY {time_col} DESC, {id_col} DESC LIMIT ?"
    );
    (sql, vals)
}

/// The facet filters given, most selective first.
fn facet_filters(f: &ListFilter) -> Vec<(&'static str, String)> {
    let norm = |s: &String| s.trim().to_lowercase();
    let mut out = Vec::new();
    if let Some(r) = &f.rcpt {
        out.push(("rcpt", norm(r)));
    }
    if let Some(d) = &f.domain {
        out.push(("domain", norm(d).trim_start_matches('@').to_string()));
    }
    if let Some(r) = &f.reason {
        out.push(("reason", crate::model::reason_key(&norm(r)).to_string()));
    }
    out
}

pub(crate) fn summary(row: &AnyRow) -> Result<MessageSummary, Error> {
    let reasons = db::text(row, "reasons")?;
    Ok(MessageSummary {
        id: db::text(row, "id")?,
        received_at: db::int(row, "received_at")?,
        status: parse_status(&db::text(row, "status")?)?,
        mail_from: db::text(row, "mail_from")?,
        from: db::opt_text(row, "hdr_from")?,
        subject: db::opt_text(row, "subject")?,
        size: u64::try_from(db::int(row, "size")?).unwrap_or(0),
        direction: db::text(row, "direction")?,
        reasons: split_lines(&reasons),
    })
}

pub(crate) fn split_lines(s: &str) -> Vec<String> {
    s.split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

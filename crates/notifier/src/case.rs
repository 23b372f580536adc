//! What a notification run is about ([`Case`]), from the pipeline's incident or the store.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quarantd_notify::{Approvals, Direction, Event, Party, Reason};
use quarantd_pipeline::Incident;
use quarantd_store::{MessageDetail, OutboxEntry, Store};

/// What one notification run is about: an event and the message it happened to, from the
/// daemon's [`Incident`] ([`Case::from_incident`]) or from the quarantine store
/// ([`Case::from_stored`], for the CLI's workflow events).
#[derive(Debug, Clone)]
pub struct Case {
    /// What happened.
    pub event: Event,
    /// The quarantine id (or, for a message not stored, quarantd's id).
    pub id: String,
    /// Whether `id` names a stored message (audit entries are attached to it).
    pub stored: bool,
    /// The envelope sender, empty for `<>`.
    pub mail_from: String,
    /// Every envelope recipient of the (stored) message.
    pub recipients: Vec<String>,
    /// The recipients the `recipient` party means for this event (the held group, the one
    /// who asked, those released, those whose copy was deleted).
    pub concerned: Vec<String>,
    /// The original's header block (at least), for the loop and list rules.
    pub raw: Arc<Vec<u8>>,
    /// `Subject` of the original, unfolded.
    pub subject: String,
    /// `From` of the original, unfolded.
    pub from: String,
    /// When the message was received.
    pub received_at: SystemTime,
    /// The message's direction.
    pub direction: Direction,
    /// The verdict's reasons (`executable`, `virus:Eicar-Signature`).
    pub verdict_reasons: Vec<String>,
    /// What was held and why, per part.
    pub reasons: Vec<Reason>,
    /// Who acted (released, deleted, asked), for the text.
    pub actor: Option<String>,
    /// Approvals so far, for `approval-needed`.
    pub approvals: Option<Approvals>,
}

impl Case {
    /// The case of a message the pipeline held or rejected.
    pub fn from_incident(incident: &Incident) -> Case {
        let recipients: Vec<String> = incident
            .envelope
            .recipients
            .iter()
            .map(|r| r.address.clone())
            .collect();
        Case {
            event: incident.event,
            id: incident
                .quarantine_id
                .clone()
                .unwrap_or_else(|| incident.envelope.id.clone()),
            stored: incident.quarantine_id.is_some(),
            mail_from: incident.envelope.mail_from.clone(),
            concerned: recipients.clone(),
            recipients,
            raw: Arc::clone(&incident.raw),
            subject: header(&incident.raw, "Subject"),
            from: header(&incident.raw, "From"),
            received_at: incident.envelope.received_at,
            direction: incident.direction,
            verdict_reasons: incident.verdict.reasons.clone(),
            reasons: Reason::list(
                &incident.parts,
                &incident.findings,
                &incident.verdict.reasons,
            ),
            actor: None,
            approvals: None,
        }
    }

    /// The case of a stored message (`detail`, and its content while it is still stored:
    /// only its header block is read) for a workflow `event`; `concerned` is who the
    /// recipient party means.
    pub fn from_stored(
        event: Event,
        detail: &MessageDetail,
        raw: Option<Vec<u8>>,
        concerned: Vec<String>,
    ) -> Case {
        let s = &detail.summary;
        let wanted = |r: &str| s.reasons.iter().any(|v| v == r);
        let part_name = |p: &str| if p.is_empty() { "(message)" } else { p }.to_string();
        let mut reasons: Vec<Reason> = detail
            .parts
            .iter()
            .flat_map(|p| {
                p.labels.iter().filter(|l| wanted(l)).map(move |l| Reason {
                    part: part_name(&p.path),
                    filename: p.filename.clone(),
                    reason: l.clone(),
                    text: String::new(),
                })
            })
            .collect();
        for f in &detail.findings {
            let reason = format!("{}:{}", f.kind, f.name);
            if wanted(&reason) {
                reasons.push(Reason {
                    part: f
                        .part
                        .as_deref()
                        .map_or_else(|| "(message)".into(), part_name),
                    filename: f.part.as_ref().and_then(|pp| {
                        detail
                            .parts
                            .iter()
                            .find(|p| &p.path == pp)
                            .and_then(|p| p.filename.clone())
                    }),
                    reason,
                    text: String::new(),
                });
            }
        }
        Case {
            event,
            id: s.id.clone(),
            stored: true,
            mail_from: s.mail_from.clone(),
            recipients: detail
                .recipients
                .iter()
                .map(|r| r.address.clone())
                .collect(),
            concerned,
            raw: Arc::new(raw.unwrap_or_default()),
            subject: s.subject.clone().unwrap_or_default(),
            from: s.from.clone().unwrap_or_default(),
            received_at: UNIX_EPOCH + Duration::from_millis(s.received_at.max(0) as u64),
            direction: parse_direction(&s.direction),
            verdict_reasons: s.reasons.clone(),
            reasons,
            actor: None,
            approvals: None,
        }
    }
}

impl Case {
    /// The case of an outbox run about stored message `detail` (content `raw` while it is
    /// stored): the run's concerned recipients, and the facts a workflow step queued with it
    /// (who acted, the approvals, the header block of content deleted since).
    pub fn from_run(
        entry: &OutboxEntry,
        event: Event,
        detail: &MessageDetail,
        raw: Option<Vec<u8>>,
    ) -> Case {
        let raw = raw.or_else(|| entry.headers.clone());
        let mut case = Case::from_stored(event, detail, raw, entry.concerned.clone());
        case.actor = entry.actor.clone();
        case.approvals = entry
            .approvals
            .map(|(have, needed)| Approvals { have, needed });
        case
    }
}

/// A stored direction (`unknown` for messages held without a policy: inbound).
pub fn parse_direction(s: &str) -> Direction {
    Direction::ALL
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(s.trim()))
        .unwrap_or(Direction::Inbound)
}

/// How one notification ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The party it was for.
    pub party: Party,
    /// The addressee.
    pub to: String,
    /// `Ok(relay reply)`, or why it was finally not sent.
    pub result: Result<String, String>,
}

/// The notification case of stored message `id` for `event`, the recipient party meaning
/// `concerned` (a run queued with its message: the envelope's recipients).
pub async fn stored_case(
    store: &Store,
    id: &str,
    event: Event,
    concerned: Vec<String>,
) -> Result<Case, quarantd_store::Error> {
    let (detail, raw) = read_message(store, id).await?;
    Ok(Case::from_stored(event, &detail, raw, concerned))
}

/// The case of outbox row `entry` read from the store.
pub(crate) async fn run_case(
    store: &Store,
    entry: &OutboxEntry,
    event: Event,
) -> Result<Case, quarantd_store::Error> {
    let (detail, raw) = read_message(store, &entry.message_id).await?;
    Ok(Case::from_run(entry, event, &detail, raw))
}

/// A stored message and, while it is stored, its content (only its header block is used).
async fn read_message(
    store: &Store,
    id: &str,
) -> Result<(MessageDetail, Option<Vec<u8>>), quarantd_store::Error> {
    let detail = store.get(id).await?;
    let raw = if detail.has_content {
        store.content_for_release(id).await.ok()
    } else {
        None
    };
    Ok((detail, raw))
}

/// The first header field `name` of a message, unfolded (not decoded), at most 200
/// characters.
pub(crate) fn header(raw: &[u8], name: &str) -> String {
    let block = &raw[..raw.len().min(64 * 1024)];
    let mut value: Option<String> = None;
    for line in block.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
        if line.is_empty() {
            break;
        }
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => {
                v.push(' ');
                v.push_str(line.trim());
            }
            Some(_) => break,
            None => {
                if let Some((n, v)) = line.split_once(':') {
                    if n.eq_ignore_ascii_case(name) {
                        value = Some(v.trim().to_string());
                    }
                }
            }
        }
    }
    value.unwrap_or_default().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_directions_parse_unknown_as_inbound() {
        assert_eq!(parse_direction("outbound"), Direction::Outbound);
        assert_eq!(parse_direction("Internal"), Direction::Internal);
        assert_eq!(parse_direction("inbound"), Direction::Inbound);
        assert_eq!(parse_direction("unknown"), Direction::Inbound);
    }

    #[test]
    fn headers_are_unfolded_and_cut() {
        let raw = b"From: a@example.org\r\nSubject: one\r\n two\r\n\r\nSubject: body\r\n";
        assert_eq!(header(raw, "subject"), "one two");
        assert_eq!(header(raw, "To"), "");
    }
}

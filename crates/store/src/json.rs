//! The JSON views of what the store reads: one encoder per type, shared by the CLI's
//! `--json` and the coming REST API.
//!
//! Times are RFC 3339 in UTC to the second ([`format_time`]); a summary and an audit entry
//! also carry their time in Unix milliseconds (`received_at_ms`, `at_ms`), which sorts and
//! pages exactly. Every optional field is present, `null` when empty. Serialised through
//! `serde_json::to_value`, the keys come out in alphabetical order.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::model::{
    Approval, AuditEntry, MessageDetail, MessageSummary, RecipientState, StoredFinding, StoredPart,
};

/// Unix milliseconds as RFC 3339 in UTC, to the second: `2025-07-01T08:00:00Z`.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => format!("@{secs}"),
    }
}

impl Serialize for MessageSummary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("MessageSummary", 10)?;
        summary_fields::<S>(&mut st, self)?;
        st.end()
    }
}

fn summary_fields<S: Serializer>(
    st: &mut S::SerializeStruct,
    m: &MessageSummary,
) -> Result<(), S::Error> {
    st.serialize_field("id", &m.id)?;
    st.serialize_field("received_at", &format_time(m.received_at))?;
    st.serialize_field("received_at_ms", &m.received_at)?;
    st.serialize_field("status", m.status.as_str())?;
    st.serialize_field("mail_from", &m.mail_from)?;
    st.serialize_field("from", &m.from)?;
    st.serialize_field("subject", &m.subject)?;
    st.serialize_field("size", &m.size)?;
    st.serialize_field("direction", &m.direction)?;
    st.serialize_field("reasons", &m.reasons)
}

impl Serialize for MessageDetail {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self;
        let mut st = s.serialize_struct("MessageDetail", 32)?;
        summary_fields::<S>(&mut st, &d.summary)?;
        st.serialize_field("action", &d.action)?;
        st.serialize_field("node", &d.node)?;
        st.serialize_field("body_type", &d.body_type)?;
        st.serialize_field("smtputf8", &d.smtputf8)?;
        st.serialize_field("dsn_ret", &d.dsn_ret)?;
        st.serialize_field("dsn_envid", &d.dsn_envid)?;
        st.serialize_field("peer", &d.peer)?;
        st.serialize_field("peer_helo", &d.peer_helo)?;
        st.serialize_field("client_addr", &d.client_addr)?;
        st.serialize_field("client_helo", &d.client_helo)?;
        st.serialize_field("xforward", &d.xforward)?;
        st.serialize_field("to", &d.to)?;
        st.serialize_field("message_id", &d.message_id)?;
        st.serialize_field("date", &d.date)?;
        st.serialize_field("sha256", &d.sha256)?;
        st.serialize_field("has_content", &d.has_content)?;
        st.serialize_field("recipients", &d.recipients)?;
        st.serialize_field("parts", &d.parts)?;
        st.serialize_field("findings", &d.findings)?;
        st.serialize_field("approvals", &d.approvals)?;
        st.serialize_field("requests", &d.requests)?;
        st.serialize_field("approvals_required", &d.approvals_required)?;
        st.end()
    }
}

impl Serialize for RecipientState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self;
        let mut st = s.serialize_struct("RecipientState", 8)?;
        st.serialize_field("address", &r.address)?;
        st.serialize_field("status", r.status.as_str())?;
        st.serialize_field("notify", &r.notify)?;
        st.serialize_field("orcpt", &r.orcpt)?;
        st.serialize_field("attempts", &r.attempts)?;
        st.serialize_field("last_reply", &r.last_reply)?;
        st.serialize_field("claim_owner", &r.claim_owner)?;
        st.serialize_field("claimed_at", &r.claimed_at.map(format_time))?;
        st.end()
    }
}

/// A part: the same fields for a stored part and for one `quarantd inspect` decomposed
/// (it converts its parts with `StoredPart::from`).
impl Serialize for StoredPart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self;
        let mut st = s.serialize_struct("StoredPart", 8)?;
        st.serialize_field("path", &p.path)?;
        st.serialize_field("filename", &p.filename)?;
        st.serialize_field("declared_type", &p.declared_type)?;
        st.serialize_field("detected_type", &p.detected_type)?;
        st.serialize_field("size", &p.size)?;
        st.serialize_field("sha256", &p.sha256)?;
        st.serialize_field("labels", &p.labels)?;
        st.serialize_field("unscannable_reason", &p.unscannable_reason)?;
        st.end()
    }
}

impl Serialize for StoredFinding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("StoredFinding", 4)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("engine", &self.engine)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("part", &self.part)?;
        st.end()
    }
}

impl Serialize for Approval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Approval", 2)?;
        st.serialize_field("approver", &self.approver)?;
        st.serialize_field("at", &format_time(self.at))?;
        st.end()
    }
}

impl Serialize for AuditEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self;
        let mut st = s.serialize_struct("AuditEntry", 7)?;
        st.serialize_field("seq", &e.seq)?;
        st.serialize_field("at", &format_time(e.at))?;
        st.serialize_field("at_ms", &e.at)?;
        st.serialize_field("actor", &e.actor)?;
        st.serialize_field("action", &e.action)?;
        st.serialize_field("message_id", &e.message_id)?;
        st.serialize_field("detail", &e.detail)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_printed_in_utc_to_the_second() {
        assert_eq!(format_time(1_751_364_000_000), "2025-07-01T10:00:00Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_time(1_709_164_800_999), "2024-02-29T00:00:00Z");
    }
}

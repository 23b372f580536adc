//! What the commands print: tables, the detail view, release lines — with content cleaned
//! of control characters, so a header cannot rewrite the postmaster's terminal.

use std::io::Write;

use quarantd_release::store::{format_time, AuditEntry, MessageDetail};
use quarantd_release::{Delivery, ReleaseReport};

pub fn sender(mail_from: &str) -> String {
    if mail_from.is_empty() {
        "<>".into()
    } else {
        mail_from.to_string()
    }
}

/// Message content shown on a terminal: control characters (escape sequences, CR, LF) are
/// written as `\x1b`, `\u{85}`, so a header cannot rewrite the postmaster's screen.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            if (c as u32) < 0x80 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Cuts to `max` characters with an ellipsis.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn write_table<const N: usize>(
    out: &mut impl Write,
    rows: &[[String; N]],
    caps: &[usize; N],
) -> std::io::Result<()> {
    let mut widths = [0usize; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count().min(caps[i]));
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let cell = cut(cell, caps[i]);
            if i + 1 == N {
                line.push_str(&cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(&cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

pub fn print_detail(
    out: &mut impl Write,
    d: &MessageDetail,
    audit: &[AuditEntry],
) -> std::io::Result<()> {
    let s = &d.summary;
    let opt = |v: &Option<String>| clean(v.as_deref().unwrap_or("-"));
    writeln!(out, "id:         {}", s.id)?;
    writeln!(out, "status:     {}", s.status)?;
    writeln!(
        out,
        "received:   {} ({}, by {})",
        format_time(s.received_at),
        clean(&s.direction),
        clean(&d.node)
    )?;
    writeln!(
        out,
        "verdict:    {} ({})",
        d.action,
        clean(&s.reasons.join(", "))
    )?;
    writeln!(
        out,
        "size:       {} bytes, sha256 {}{}",
        s.size,
        d.sha256,
        if d.has_content {
            ""
        } else {
            " (content deleted)"
        }
    )?;
    writeln!(out, "envelope:")?;
    let mut params = Vec::new();
    if let Some(body) = &d.body_type {
        params.push(format!("BODY={body}"));
    }
    if d.smtputf8 {
        params.push("SMTPUTF8".into());
    }
    if let Some(ret) = &d.dsn_ret {
        params.push(format!("RET={ret}"));
    }
    if let Some(envid) = &d.dsn_envid {
        params.push(format!("ENVID={envid}"));
    }
    let line = format!(
        "  mail from: <{}> {}",
        clean(&s.mail_from),
        clean(&params.join(" "))
    );
    writeln!(out, "{}", line.trim_end())?;
    writeln!(
        out,
        "  peer:      {} helo {}",
        clean(&d.peer),
        clean(&d.peer_helo)
    )?;
    writeln!(
        out,
        "  client:    {} helo {}",
        opt(&d.client_addr),
        opt(&d.client_helo)
    )?;
    if !d.xforward.is_empty() {
        let xf: Vec<String> = d.xforward.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "  xforward:  {}", clean(&xf.join(" ")))?;
    }
    writeln!(out, "recipients:")?;
    for r in &d.recipients {
        let mut line = format!(
            "  {}  {}  attempts {}",
            clean(&r.address),
            r.status,
            r.attempts
        );
        if let Some(reply) = &r.last_reply {
            line.push_str(&format!("  last reply: {}", clean(reply)));
        }
        if let (Some(owner), Some(at)) = (&r.claim_owner, r.claimed_at) {
            line.push_str(&format!("  claimed by job {owner} at {}", format_time(at)));
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out, "headers:")?;
    writeln!(out, "  From:       {}", opt(&s.from))?;
    writeln!(out, "  To:         {}", opt(&d.to))?;
    writeln!(out, "  Subject:    {}", opt(&s.subject))?;
    writeln!(out, "  Message-ID: {}", opt(&d.message_id))?;
    writeln!(out, "  Date:       {}", opt(&d.date))?;
    writeln!(out, "parts:")?;
    for p in &d.parts {
        let path = if p.path.is_empty() {
            "(message)"
        } else {
            &p.path
        };
        let mut line = format!(
            "  {}  {}  {} bytes",
            clean(path),
            clean(
                p.detected_type
                    .as_deref()
                    .or(p.declared_type.as_deref())
                    .unwrap_or("?")
            ),
            p.size
        );
        if let Some(name) = &p.filename {
            line.push_str(&format!("  name {:?}", clean(name)));
        }
        if !p.labels.is_empty() {
            line.push_str(&format!("  labels {}", clean(&p.labels.join(","))));
        }
        if let Some(why) = &p.unscannable_reason {
            line.push_str(&format!("  unscannable: {}", clean(why)));
        }
        line.push_str(&format!("  sha256 {}", p.sha256));
        writeln!(out, "{line}")?;
    }
    writeln!(out, "findings:")?;
    for f in &d.findings {
        writeln!(
            out,
            "  {} {} {} in part {}",
            clean(&f.kind),
            clean(&f.engine),
            clean(&f.name),
            opt(&f.part)
        )?;
    }
    match d.approvals_required {
        Some(n) => writeln!(out, "approvals:  {n} required (stored when held)")?,
        None => writeln!(out, "approvals:")?,
    }
    for a in &d.approvals {
        writeln!(out, "  {} at {}", clean(&a.approver), format_time(a.at))?;
    }
    writeln!(out, "release requests:")?;
    for r in &d.requests {
        writeln!(out, "  {}", clean(r))?;
    }
    writeln!(out, "audit:")?;
    for e in audit {
        writeln!(
            out,
            "  {}  {}  {}  {}",
            format_time(e.at),
            clean(&e.actor),
            e.action,
            clean(&e.detail)
        )?;
    }
    Ok(())
}

/// One line per recipient of a release.
pub fn print_release(report: &ReleaseReport) {
    for (rcpt, delivery) in &report.recipients {
        let rcpt = clean(rcpt);
        let line = match delivery {
            Delivery::Delivered { reply } => format!("{rcpt}: released ({})", clean(reply)),
            Delivery::Refused { reply } => {
                format!("{rcpt}: refused by the relay ({}); failed", clean(reply))
            }
            Delivery::Deferred { reply } => format!(
                "{rcpt}: deferred ({}); still held, release again later",
                clean(reply)
            ),
            Delivery::Uncertain { reply } => format!(
                "{rcpt}: uncertain ({}); the claim stays: check the relay's log, then `release --resume`",
                clean(reply)
            ),
            Delivery::Skipped { state } => format!("{rcpt}: not sent (recipient is {state})"),
        };
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_output_is_cleaned() {
        assert_eq!(clean("a\x1b[2Jb\r\n"), "a\\x1b[2Jb\\x0d\\x0a");
        assert_eq!(clean("Grüße"), "Grüße");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}

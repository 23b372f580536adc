//! `quarantd quarantine list|show|release|approve|request-release|delete|expire`: the front
//! of the workflow API (`quarantd_release::Quarantine`) on the command line.
//!
//! Every command opens the store named by `--store URL`, else the config file's
//! `quarantine.store`, else the SQLite file under the data directory (which must exist: the
//! CLI never creates an empty quarantine because it was started in the wrong directory).
//!
//! **Actor** ([`crate::actor`]). Who acts is the operating-system user running the command:
//! the real uid, or through `sudo` the user behind it (`SUDO_UID`), named from the password
//! database. `--by NAME` is accepted only from trusted automation running as root without
//! `SUDO_UID` (otherwise exit status 2). Names are normalised (case, NFKC, no format
//! characters); changes (approve, release, delete, expire) and views of content (`show
//! --raw`, `show --part`) are audited under that name. The approvals a message needs were
//! stored when it was held; this command's config does not change them.
//!
//! **Notifications.** With `notify.enabled`, `request-release`, `approve`, `release` and
//! `delete` queue `release-requested`, `approval-needed`, `released` and `deleted` in the
//! store's outbox after the step ([`quarantd_notifier::OutboxEvents`]); a running daemon
//! sends them. `--wait-notify` sends them from the command instead, through `--relay` or
//! `[relay]`, before it returns. A notification that cannot be queued or sent is printed as
//! a warning, never an error of the step.

use std::io::Write;
use std::sync::Arc;

use quarantd_config::Settings;
use quarantd_notifier::{NotifySender, OutboxEvents};
use quarantd_release::store::{format_time, Cursor, ListFilter, Store};
use quarantd_release::{
    Delivery, Events, Quarantine, Redeemed, ReleaseMode, ReleaseReport, Workflow,
};
use quarantd_smtp::Relay;
use serde_json::json;

use super::{
    actor, exit, load_settings, open_store, part_finder, read_token, runtime, write_stdout,
    EXIT_REFUSED, EXIT_STATE, EXIT_TEMPFAIL,
};
use crate::cli::{QuarantineArgs, QuarantineCommand, QuarantineListArgs, QuarantineReleaseArgs};
use crate::output::{clean, print_detail, print_release, sender, write_table};

/// Runs one `quarantd quarantine` command.
pub fn main(args: QuarantineArgs) -> anyhow::Result<()> {
    let relay = match &args.command {
        QuarantineCommand::Release(r) => r.relay.as_deref(),
        QuarantineCommand::RequestRelease { relay, .. }
        | QuarantineCommand::Approve { relay, .. }
        | QuarantineCommand::Delete { relay, .. } => relay.as_deref(),
        _ => None,
    };
    let settings = load_settings(&args.store, relay)?;
    runtime()?.block_on(async {
        let store = open_store(&settings, args.store.store.as_deref()).await?;
        let events = settings
            .notify
            .enabled
            .then(|| Arc::new(OutboxEvents::new(store.clone())));
        let quarantine = quarantine(&settings, &store, events.clone());
        let result = run(&args, &settings, &quarantine).await;
        if let Some(events) = events {
            notifications(&events, &settings, &store, args.store.wait_notify).await;
        }
        store.close().await;
        result
    })
}

/// The workflow API as this command's config sets it up.
fn quarantine(settings: &Settings, store: &Store, events: Option<Arc<OutboxEvents>>) -> Quarantine {
    let q = &settings.quarantine;
    let workflow = Workflow::new(store.clone(), q.rules.clone(), q.release.clone());
    let relay = Arc::new(Relay::new(settings.relay.clone()));
    let mut quarantine = Quarantine::new(workflow, relay)
        .with_token_key(settings.notify.token_key.clone())
        .with_part_finder(part_finder(settings))
        .with_retention(q.retention.clone());
    if let Some(events) = events {
        quarantine = quarantine.with_events(events as Arc<dyn Events>);
    }
    quarantine
}

async fn run(args: &QuarantineArgs, settings: &Settings, q: &Quarantine) -> anyhow::Result<()> {
    let by = args.store.by.as_deref();
    match &args.command {
        QuarantineCommand::List(list_args) => list(list_args, q).await,
        QuarantineCommand::Show(show) => {
            if show.raw {
                return write_stdout(&q.raw(&show.id, &actor(by)?).await?);
            }
            if let Some(path) = &show.part {
                let part = q.part(&show.id, path, &actor(by)?).await?;
                return write_stdout(&part.content);
            }
            let shown = q.show(&show.id).await?;
            let mut out = std::io::stdout().lock();
            if show.json {
                let mut doc = serde_json::to_value(&shown.detail)?;
                doc["audit"] = serde_json::to_value(&shown.audit)?;
                writeln!(out, "{doc}")?;
            } else {
                print_detail(&mut out, &shown.detail, &shown.audit)?;
            }
            Ok(())
        }
        QuarantineCommand::Release(release_args) => {
            release(release_args, settings, q, &actor(by)?).await
        }
        QuarantineCommand::Approve { id, .. } => {
            let by = actor(by)?;
            let outcome = q.approve(id, &by).await?;
            println!(
                "approved {id} as {by}: {} of {} approval(s) ({}); status {}",
                outcome.approvers.len(),
                outcome.needed,
                outcome.approvers.join(", "),
                outcome.status
            );
            Ok(())
        }
        QuarantineCommand::RequestRelease {
            id,
            rcpt,
            token,
            token_file,
            ..
        } if token.is_some() || token_file.is_some() => {
            let token = read_token(token.as_deref(), token_file.as_deref())?;
            match q.redeem(&token, id.as_deref(), rcpt).await? {
                Redeemed::Requested { id, rcpt, outcome } => {
                    println!(
                        "release of {id} requested for {rcpt}{}; status {}; needs {} approval(s)",
                        if outcome.new { "" } else { " (asked before)" },
                        outcome.status,
                        outcome.approvals_needed,
                    );
                    Ok(())
                }
                Redeemed::Released(report) => {
                    print_release(&report);
                    release_outcome(&report)
                }
            }
        }
        QuarantineCommand::RequestRelease { id, rcpt, .. } => {
            let id = id.as_deref().unwrap_or_default();
            for rcpt in rcpt {
                let outcome = q.request_release(id, rcpt).await?;
                println!(
                    "release of {id} requested for {rcpt}{}; status {}; needs {} approval(s){}",
                    if outcome.new { "" } else { " (asked before)" },
                    outcome.status,
                    outcome.approvals_needed,
                    if outcome.self_release {
                        " or the recipient's own release"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        QuarantineCommand::Delete { id, .. } => {
            q.delete(id, &actor(by)?).await?;
            println!("deleted {id} (content removed; the record stays until retention)");
            Ok(())
        }
        QuarantineCommand::Expire => {
            let report = q.expire(&actor(by)?).await?;
            for id in &report.removed {
                println!("expired {id}");
            }
            println!("{} message(s) expired", report.removed.len());
            Ok(())
        }
    }
}

async fn list(args: &QuarantineListArgs, q: &Quarantine) -> anyhow::Result<()> {
    let filter = ListFilter {
        since: args.since,
        until: args.until,
        rcpt: args.rcpt.clone(),
        sender: args.sender.as_ref().map(|s| {
            let s = s.trim();
            if s == "<>" { "" } else { s }.to_string()
        }),
        domain: args.domain.clone(),
        reason: args.reason.clone(),
        status: args.status,
        limit: args.limit,
        after: args.after.clone(),
    };
    let page = q.list(&filter).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = json!({
            "messages": page.messages,
            "next": page.next.as_ref().map(Cursor::to_string),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let mut rows = vec![[
        "ID", "RECEIVED", "STATUS", "SENDER", "SIZE", "REASONS", "SUBJECT",
    ]
    .map(str::to_string)];
    for m in &page.messages {
        rows.push([
            m.id.clone(),
            format_time(m.received_at),
            m.status.to_string(),
            clean(&sender(&m.mail_from)),
            m.size.to_string(),
            clean(&m.reasons.join(",")),
            clean(m.subject.as_deref().unwrap_or("")),
        ]);
    }
    write_table(&mut out, &rows, &[40, 20, 17, 40, 10, 40, 60])?;
    match &page.next {
        Some(next) => writeln!(out, "more: --after {next}")?,
        None if page.messages.is_empty() => writeln!(out, "no messages")?,
        None => {}
    }
    Ok(())
}

async fn release(
    args: &QuarantineReleaseArgs,
    settings: &Settings,
    q: &Quarantine,
    by: &quarantd_release::Actor,
) -> anyhow::Result<()> {
    // Unknown ids fail before the progress line.
    q.store().get(&args.id).await?;
    let r = &settings.quarantine.release;
    eprintln!(
        "releasing {} through {} (up to {} attempt(s), {}s apart at first, on temporary failures)",
        args.id,
        settings.relay.address,
        r.max_attempts,
        r.first_backoff.as_secs()
    );
    let mode = if args.resume {
        ReleaseMode::Resume
    } else if args.rejected_copy {
        ReleaseMode::RejectedCopy
    } else {
        ReleaseMode::Held
    };
    let report = q
        .release(&args.id, &args.rcpt, by, mode)
        .await
        .map_err(|e| match e {
            quarantd_release::Error::RejectedCopy { .. } => exit(
                EXIT_STATE,
                format!("{e} (quarantd quarantine release ID --rejected-copy)"),
            ),
            other => other.into(),
        })?;
    print_release(&report);
    release_outcome(&report)
}

/// After the step: what could not be queued is a warning; with `--wait-notify` the queued
/// runs are sent now through the relay (with `notify.max_attempts` bounded retries, each
/// audited by the daemon's code), otherwise a running daemon sends them.
async fn notifications(events: &OutboxEvents, settings: &Settings, store: &Store, wait: bool) {
    for failure in events.take_failures() {
        eprintln!("quarantd: warning: {}", clean(&failure));
    }
    if events.queued().is_empty() {
        return;
    }
    if !wait {
        for (_, event) in events.queued() {
            eprintln!(
                "queued the {event} notification (a running quarantd sends it; --wait-notify sends it now)"
            );
        }
        return;
    }
    let sender = NotifySender::new(
        settings.notify.clone(),
        Arc::clone(&settings.policy),
        settings.quarantine.rules.clone(),
        Arc::new(Relay::new(settings.relay.clone())),
        Some(store.clone()),
    );
    let owner = format!("cli:{}", quarantd_core::id::new_id());
    for done in events.send_queued(&sender, &owner).await {
        match done {
            Ok((case, outcomes)) => {
                for o in outcomes {
                    match &o.result {
                        Ok(_) => {
                            eprintln!("notified {} ({}) of {}", clean(&o.to), o.party, case.event)
                        }
                        Err(err) => eprintln!(
                            "quarantd: warning: notification of {} to {} ({}) not sent: {}",
                            case.event,
                            clean(&o.to),
                            o.party,
                            clean(err)
                        ),
                    }
                }
            }
            Err(err) => eprintln!("quarantd: warning: no notification sent: {}", clean(&err)),
        }
    }
}

/// The exit of a release that ran: 0 when something was delivered and nothing failed.
fn release_outcome(report: &ReleaseReport) -> anyhow::Result<()> {
    let count = |f: fn(&Delivery) -> bool| report.recipients.iter().filter(|(_, d)| f(d)).count();
    let delivered = count(|d| matches!(d, Delivery::Delivered { .. }));
    let later = count(|d| matches!(d, Delivery::Deferred { .. } | Delivery::Uncertain { .. }));
    let refused = count(|d| matches!(d, Delivery::Refused { .. }));
    let skipped = count(|d| matches!(d, Delivery::Skipped { .. }));
    let id = &report.id;
    if later > 0 {
        return Err(exit(
            EXIT_TEMPFAIL,
            format!("message {id}: {later} recipient(s) not delivered yet (relay unavailable or deferring); try again later"),
        ));
    }
    if refused > 0 {
        return Err(exit(
            EXIT_REFUSED,
            format!("message {id}: the relay refused {refused} recipient(s) permanently"),
        ));
    }
    if delivered == 0 && skipped > 0 {
        return Err(exit(
            EXIT_STATE,
            format!("message {id}: nothing released (every recipient named is released, being released or deleted)"),
        ));
    }
    Ok(())
}

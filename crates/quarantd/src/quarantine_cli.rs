//! The postmaster's command line for the quarantine: `quarantd quarantine list|show|release|
//! approve|request-release|delete|expire` and `quarantd audit`.
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
//! `delete` notify `release-requested`, `approval-needed`, `released` and `deleted` after the
//! step, through `--relay` or `[relay]`, with the daemon's code ([`NotifySender`]); a failed
//! notification is audited and printed as a warning, never an error of the step.
//!
//! **Exit codes** ([`exit_code`]): 0 done; 1 other failure (config, I/O); 2 bad arguments, a
//! refused `--by` or a name that normalises to nothing; 3 unknown id or part; 4 the
//! message's state forbids it (deleted, approvals missing, approved twice, not a recipient,
//! nothing left to release, a rejected copy without `--rejected-copy`); 5 the relay refused a
//! release permanently (5xx); 6 an easy-release token was refused (malformed, tampered,
//! expired, or used for another message or recipient); 75 (`EX_TEMPFAIL`) the database or the relay is unavailable, or
//! a delivery is deferred or uncertain: try again later.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use quarantd_notify::{Approvals, Event};
use quarantd_release::{Actor, Delivery, ReleaseReport, Workflow};
use quarantd_smtp::Relay;
use quarantd_store::{
    AuditEntry, Cursor, ListFilter, MessageDetail, MessageStatus, MessageSummary, RecipientStatus,
    Store,
};
use serde_json::{json, Value};

use crate::cli::{
    AuditArgs, QuarantineArgs, QuarantineCommand, QuarantineListArgs, QuarantineReleaseArgs,
    QuarantineShowArgs, StoreArgs,
};
use crate::notifier::{stored_case, Case, NotifySender};
use quarantd_config::Settings;

/// Some other failure: a bad config file, an I/O error.
pub const EXIT_FAILURE: u8 = 1;
/// Bad arguments (also clap's own code), or no actor known for a change.
pub const EXIT_USAGE: u8 = 2;
/// No message with this id, or no part with this path.
pub const EXIT_NOT_FOUND: u8 = 3;
/// The message's state (or its approvals) forbids the change.
pub const EXIT_STATE: u8 = 4;
/// The relay refused the release permanently (5xx) for at least one recipient.
pub const EXIT_REFUSED: u8 = 5;
/// An easy-release token was refused: malformed, tampered, expired or misused.
pub const EXIT_TOKEN: u8 = 6;
/// The database or the relay is unavailable, or a delivery was deferred: try again later.
pub const EXIT_TEMPFAIL: u8 = 75;

/// An error that carries its own exit code.
#[derive(Debug)]
pub struct Exit {
    /// The process exit code.
    pub code: u8,
    /// What to print after `quarantd: error: `.
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn exit(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code,
        message: message.into(),
    })
}

/// The exit code for an error of any command: the first error in the chain that has one
/// decides (store and release errors are classified), else [`EXIT_FAILURE`].
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Exit>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<quarantd_release::Error>() {
            return match e {
                quarantd_release::Error::Store(s) => store_code(s),
                quarantd_release::Error::InvalidActor { .. } => EXIT_USAGE,
                _ if e.is_transient() => EXIT_TEMPFAIL,
                _ if e.is_not_found() => EXIT_NOT_FOUND,
                _ if e.is_state_error() => EXIT_STATE,
                _ => EXIT_FAILURE,
            };
        }
        if let Some(e) = cause.downcast_ref::<quarantd_store::Error>() {
            return store_code(e);
        }
    }
    EXIT_FAILURE
}

fn store_code(e: &quarantd_store::Error) -> u8 {
    if e.is_transient() {
        EXIT_TEMPFAIL
    } else if e.is_not_found() {
        EXIT_NOT_FOUND
    } else if e.is_state_error() {
        EXIT_STATE
    } else if matches!(e, quarantd_store::Error::UnsupportedUrl { .. }) {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

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
        let result = run(&args, &settings, &store).await;
        store.close().await;
        result
    })
}

/// Runs `quarantd audit`.
pub fn audit_main(args: AuditArgs) -> anyhow::Result<()> {
    let settings = load_settings(&args.store, None)?;
    runtime()?.block_on(async {
        let store = open_store(&settings, args.store.store.as_deref()).await?;
        let result = audit(&args, &store).await;
        store.close().await;
        result
    })
}

/// The decoded content of part `path` of message `id`, for `signatures add
/// --from-quarantine`; the view is audited as `view-part` by the actor.
pub fn fetch_part(
    config: Option<&Path>,
    store_url: Option<&str>,
    by: Option<&str>,
    id: &str,
    path: &str,
) -> anyhow::Result<Vec<u8>> {
    let store_args = StoreArgs {
        store: store_url.map(str::to_string),
        config: config.map(Path::to_path_buf),
        by: by.map(str::to_string),
        no_notify: true,
    };
    let settings = load_settings(&store_args, None)?;
    let actor = actor(by)?;
    runtime()?.block_on(async {
        let store = open_store(&settings, store_url).await?;
        let find = part_finder(&settings);
        let part = store.part(id, path, actor.name(), find).await;
        store.close().await;
        Ok(part?.content)
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn load_settings(args: &StoreArgs, relay: Option<&str>) -> anyhow::Result<Settings> {
    let mut raw = quarantd_config::load(args.config.as_deref())?;
    if let Some(relay) = relay {
        raw.relay.address = relay.to_string();
    }
    let source = args.config.as_ref().map_or_else(
        || "embedded defaults and flags".to_string(),
        |p| p.display().to_string(),
    );
    let mut settings = raw.validate(&source)?;
    if args.no_notify {
        settings.notify.enabled = false;
    }
    Ok(settings)
}

/// Opens the store; a SQLite file that does not exist is an error here (the daemon creates
/// it, the CLI must not invent an empty quarantine).
async fn open_store(settings: &Settings, flag: Option<&str>) -> anyhow::Result<Store> {
    let url = match flag.map(str::trim).filter(|s| !s.is_empty()) {
        Some(url) => url.to_string(),
        None if !settings.quarantine.store.is_empty() => settings.quarantine.store.clone(),
        None => quarantd_store::sqlite_url(&settings.data_dir),
    };
    if let Some(path) = sqlite_path(&url) {
        if !Path::new(path).exists() {
            bail!(
                "no quarantine at {path}: the file does not exist (give --store URL, or \
                 --config FILE with the daemon's data directory or quarantine.store)"
            );
        }
    }
    crate::permissions::warn_store(&url, &settings.data_dir);
    // The store's error already names its cause: print it once, keep its exit code.
    settings
        .quarantine
        .open(Some(&url), &settings.data_dir)
        .await
        .map_err(|e| {
            let shown = quarantd_store::redact(&url);
            exit(
                store_code(&e),
                format!("cannot open the quarantine store {shown}: {e}"),
            )
        })
}

/// The file of an SQLite URL (`sqlite:///var/x.sqlite`, `sqlite:x.sqlite?mode=ro`).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Who runs this command ([`crate::actor`]); a refused `--by` is exit status 2.
fn actor(by: Option<&str>) -> anyhow::Result<Actor> {
    crate::actor::current(by).map_err(|message| exit(EXIT_USAGE, message))
}

async fn run(args: &QuarantineArgs, settings: &Settings, store: &Store) -> anyhow::Result<()> {
    let by = args.store.by.as_deref();
    let q = &settings.quarantine;
    let workflow = Workflow::new(store.clone(), q.rules.clone(), q.release.clone());
    match &args.command {
        QuarantineCommand::List(list_args) => list(list_args, store).await,
        QuarantineCommand::Show(show_args) => show(show_args, by, store, settings).await,
        QuarantineCommand::Release(release_args) => {
            let by = actor(by)?;
            release(release_args, settings, &workflow, &by).await
        }
        QuarantineCommand::Approve { id, .. } => {
            let by = actor(by)?;
            let outcome = workflow.approve(id, &by).await?;
            println!(
                "approved {id} as {by}: {} of {} approval(s) ({}); status {}",
                outcome.approvers.len(),
                outcome.needed,
                outcome.approvers.join(", "),
                outcome.status
            );
            let have = outcome.approvers.len() as u32;
            if outcome.status != MessageStatus::Approved && have < outcome.needed {
                let approvals = Approvals {
                    have,
                    needed: outcome.needed,
                };
                notify_step(
                    settings,
                    store,
                    id,
                    Event::ApprovalNeeded,
                    Vec::new(),
                    |c| {
                        c.actor = Some(by.name().to_string());
                        c.approvals = Some(approvals);
                    },
                )
                .await;
            }
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
            request_with_token(&token, id.as_deref(), rcpt, settings, &workflow).await
        }
        QuarantineCommand::RequestRelease { id, rcpt, .. } => {
            let id = id.as_deref().unwrap_or_default();
            for rcpt in rcpt {
                let outcome = workflow.request_release(id, rcpt).await?;
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
                if outcome.new {
                    notify_requested(settings, store, id, rcpt).await;
                }
            }
            Ok(())
        }
        QuarantineCommand::Delete { id, .. } => {
            let by = actor(by)?;
            // What the notification needs is read before the content is gone.
            let before = if settings.notify.enabled {
                Some(
                    stored_case(store, id, Event::Deleted, |r| {
                        matches!(r, RecipientStatus::Held | RecipientStatus::Failed)
                    })
                    .await,
                )
            } else {
                None
            };
            workflow.delete(id, &by).await?;
            println!("deleted {id} (content removed; the record stays until retention)");
            if let Some(case) = before {
                send_case(
                    settings,
                    store,
                    case.map(|mut c| {
                        c.actor = Some(by.name().to_string());
                        c
                    }),
                )
                .await;
            }
            Ok(())
        }
        QuarantineCommand::Expire => {
            let by = actor(by)?;
            let report = workflow.expire(&q.retention, &by).await?;
            for id in &report.removed {
                println!("expired {id}");
            }
            println!("{} message(s) expired", report.removed.len());
            Ok(())
        }
    }
}

async fn list(args: &QuarantineListArgs, store: &Store) -> anyhow::Result<()> {
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
    let page = store.list(&filter).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = json!({
            "messages": page.messages.iter().map(summary_json).collect::<Vec<_>>(),
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

/// Finds a part of a held message by decomposing it again with the configured limits (the
/// ones it was held under), for [`Store::part`].
fn part_finder(
    settings: &Settings,
) -> impl FnOnce(Vec<u8>, &str) -> Option<quarantd_store::PartContent> + Send + 'static {
    let limits = settings.mime_limits.clone();
    move |raw, path| quarantd_mime::find_part(&raw, path, &limits).map(Into::into)
}

async fn show(
    args: &QuarantineShowArgs,
    by: Option<&str>,
    store: &Store,
    settings: &Settings,
) -> anyhow::Result<()> {
    if args.raw {
        let raw = store.raw(&args.id, actor(by)?.name()).await?;
        return write_stdout(&raw);
    }
    if let Some(path) = &args.part {
        let find = part_finder(settings);
        let part = store.part(&args.id, path, actor(by)?.name(), find).await?;
        return write_stdout(&part.content);
    }
    let detail = store.get(&args.id).await?;
    let audit = store.audit_log(Some(&args.id), 1000).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut doc = detail_json(&detail);
        doc["audit"] = audit.iter().map(audit_json).collect();
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    print_detail(&mut out, &detail, &audit)?;
    Ok(())
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .context("cannot write to standard output")?;
    out.flush().context("cannot write to standard output")
}

/// Longest token input read from standard input or a file (a token is a few hundred bytes).
const MAX_TOKEN_INPUT: u64 = 4096;

/// The token of `--token TOKEN`, `--token -` (standard input) or `--token-file FILE`: the
/// first line, trimmed. The last two keep it out of the process list (`ps` shows argv).
fn read_token(token: Option<&str>, file: Option<&Path>) -> anyhow::Result<String> {
    let (text, from) = match (token, file) {
        (Some("-"), _) => (
            read_bounded(std::io::stdin().lock())
                .context("cannot read the token from standard input")?,
            "standard input".to_string(),
        ),
        (Some(token), _) => (token.to_string(), "--token".to_string()),
        (None, Some(path)) => {
            let text = std::fs::File::open(path)
                .and_then(read_bounded)
                .with_context(|| format!("cannot read the token file {}", path.display()))?;
            (text, path.display().to_string())
        }
        (None, None) => (String::new(), "the command line".to_string()),
    };
    match text.lines().next().map(str::trim) {
        Some(token) if !token.is_empty() => Ok(token.to_string()),
        _ => Err(exit(EXIT_USAGE, format!("no token in {from}"))),
    }
}

fn read_bounded(reader: impl std::io::Read) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    reader.take(MAX_TOKEN_INPUT).read_to_string(&mut text)?;
    Ok(text)
}

/// `request-release --token TOKEN [ID] [--rcpt ADDR]`: verifies the token (signature, then
/// expiry), checks it is used for its message and recipient (when given), then carries out
/// its action: a request for release, or the recipient's own release.
async fn request_with_token(
    token: &str,
    id: Option<&str>,
    rcpts: &[String],
    settings: &Settings,
    workflow: &Workflow,
) -> anyhow::Result<()> {
    let Some(key) = &settings.notify.token_key else {
        return Err(exit(
            EXIT_USAGE,
            "no token key configured: give --config FILE with notify.token_key_file",
        ));
    };
    let refused = |e: quarantd_notify::TokenError| exit(EXIT_TOKEN, format!("token refused: {e}"));
    let claims =
        quarantd_notify::verify(token, key, std::time::SystemTime::now()).map_err(refused)?;
    if rcpts.len() > 1 {
        return Err(refused(quarantd_notify::TokenError::Misused(
            "a token is for one recipient".into(),
        )));
    }
    claims
        .check_use(claims.action, id, rcpts.first().map(String::as_str))
        .map_err(refused)?;
    let (id, rcpt) = (&claims.message, &claims.recipient);
    match claims.action {
        quarantd_notify::TokenAction::RequestRelease => {
            let outcome = workflow.request_release(id, rcpt).await?;
            println!(
                "release of {id} requested for {rcpt}{}; status {}; needs {} approval(s)",
                if outcome.new { "" } else { " (asked before)" },
                outcome.status,
                outcome.approvals_needed,
            );
            if outcome.new {
                notify_requested(settings, workflow.store(), id, rcpt).await;
            }
            Ok(())
        }
        quarantd_notify::TokenAction::Release => {
            let relay = Arc::new(Relay::new(settings.relay.clone()));
            let report = workflow.release_as_recipient(&relay, id, rcpt).await?;
            print_release(&report);
            let who = format!("rcpt:{}", rcpt.trim().to_lowercase());
            notify_released(settings, workflow.store(), &report, &who).await;
            release_outcome(&report)
        }
    }
}

async fn release(
    args: &QuarantineReleaseArgs,
    settings: &Settings,
    workflow: &Workflow,
    by: &Actor,
) -> anyhow::Result<()> {
    let relay = Arc::new(Relay::new(settings.relay.clone()));
    // Unknown ids fail before the progress line.
    workflow.store().get(&args.id).await?;
    let r = &settings.quarantine.release;
    eprintln!(
        "releasing {} through {} (up to {} attempt(s), {}s apart at first, on temporary failures)",
        args.id,
        settings.relay.address,
        r.max_attempts,
        r.first_backoff.as_secs()
    );
    let report = if args.resume {
        workflow.resume(&relay, &args.id, by).await?
    } else if args.rejected_copy {
        workflow
            .release_rejected_copy(&relay, &args.id, &args.rcpt, by)
            .await?
    } else {
        workflow
            .release(&relay, &args.id, &args.rcpt, by)
            .await
            .map_err(|e| match e {
                quarantd_release::Error::RejectedCopy { .. } => exit(
                    EXIT_STATE,
                    format!("{e} (quarantd quarantine release ID --rejected-copy)"),
                ),
                other => other.into(),
            })?
    };
    print_release(&report);
    notify_released(settings, workflow.store(), &report, by.name()).await;
    release_outcome(&report)
}

// ---- notifications of workflow steps ---------------------------------------------------

/// Notifies `event` about `id` after a step (when `notify.enabled`): the recipient party
/// is `concerned`; `edit` fills in the actor and approvals.
async fn notify_step(
    settings: &Settings,
    store: &Store,
    id: &str,
    event: Event,
    concerned: Vec<String>,
    edit: impl FnOnce(&mut Case),
) {
    if !settings.notify.enabled {
        return;
    }
    let case = stored_case(store, id, event, |_| false).await.map(|mut c| {
        c.concerned = concerned;
        edit(&mut c);
        c
    });
    send_case(settings, store, case).await;
}

/// `release-requested` for `rcpt`'s request.
async fn notify_requested(settings: &Settings, store: &Store, id: &str, rcpt: &str) {
    let who = rcpt.to_string();
    notify_step(
        settings,
        store,
        id,
        Event::ReleaseRequested,
        vec![who.clone()],
        |c| c.actor = Some(who),
    )
    .await;
}

/// `released` for the recipients this release delivered to (nothing when none).
async fn notify_released(settings: &Settings, store: &Store, report: &ReleaseReport, by: &str) {
    let delivered: Vec<String> = report
        .recipients
        .iter()
        .filter(|(_, d)| matches!(d, Delivery::Delivered { .. }))
        .map(|(r, _)| r.clone())
        .collect();
    if delivered.is_empty() {
        return;
    }
    let by = by.to_string();
    notify_step(
        settings,
        store,
        &report.id,
        Event::Released,
        delivered,
        |c| c.actor = Some(by),
    )
    .await;
}

/// Sends a case's notifications synchronously through the relay (`--relay` or the config's),
/// with `notify.max_attempts` bounded retries, each audited (`notify-sent`/`notify-failed`)
/// by the same code as the daemon's. A failure never fails the step that was done: it is
/// printed as a warning on standard error.
async fn send_case(settings: &Settings, store: &Store, case: anyhow::Result<Case>) {
    let case = match case {
        Ok(case) => case,
        Err(err) => {
            eprintln!("quarantd: warning: no notification sent: cannot read the message: {err:#}");
            return;
        }
    };
    let sender = NotifySender::new(
        settings.notify.clone(),
        Arc::clone(&settings.policy),
        settings.quarantine.rules.clone(),
        Arc::new(Relay::new(settings.relay.clone())),
        Some(store.clone()),
    );
    for o in sender.run(&case).await {
        match &o.result {
            Ok(_) => eprintln!("notified {} ({}) of {}", clean(&o.to), o.party, case.event),
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

fn print_release(report: &ReleaseReport) {
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

async fn audit(args: &AuditArgs, store: &Store) -> anyhow::Result<()> {
    if let Some(id) = &args.id {
        // An id that never existed is an error; one that expired still has its log.
        if let Err(e) = store.get(id).await {
            if !e.is_not_found() {
                return Err(e.into());
            }
            if store.audit_log(Some(id), 1).await?.is_empty() {
                return Err(e.into());
            }
        }
    }
    let entries = store.audit_log(args.id.as_deref(), args.limit).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = json!({ "entries": entries.iter().map(audit_json).collect::<Vec<_>>() });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let mut rows = vec![["TIME", "ACTOR", "ACTION", "ID", "DETAIL"].map(str::to_string)];
    for e in &entries {
        rows.push([
            format_time(e.at),
            clean(&e.actor),
            e.action.clone(),
            e.message_id.clone().unwrap_or_else(|| "-".into()),
            clean(&e.detail),
        ]);
    }
    write_table(&mut out, &rows, &[20, 40, 18, 40, 100])?;
    Ok(())
}

// ---- output ----------------------------------------------------------------------------

fn sender(mail_from: &str) -> String {
    if mail_from.is_empty() {
        "<>".into()
    } else {
        mail_from.to_string()
    }
}

/// Message content shown on a terminal: control characters (escape sequences, CR, LF) are
/// written as `\x1b`, `\u{85}`, so a header cannot rewrite the postmaster's screen.
fn clean(s: &str) -> String {
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
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn write_table<const N: usize>(
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

fn summary_json(m: &MessageSummary) -> Value {
    json!({
        "id": m.id,
        "received_at": format_time(m.received_at),
        "received_at_ms": m.received_at,
        "status": m.status.as_str(),
        "mail_from": m.mail_from,
        "from": m.from,
        "subject": m.subject,
        "size": m.size,
        "direction": m.direction,
        "reasons": m.reasons,
    })
}

fn detail_json(d: &MessageDetail) -> Value {
    let mut doc = summary_json(&d.summary);
    let extra = json!({
        "action": d.action,
        "node": d.node,
        "body_type": d.body_type,
        "smtputf8": d.smtputf8,
        "dsn_ret": d.dsn_ret,
        "dsn_envid": d.dsn_envid,
        "peer": d.peer,
        "peer_helo": d.peer_helo,
        "client_addr": d.client_addr,
        "client_helo": d.client_helo,
        "xforward": d.xforward.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "to": d.to,
        "message_id": d.message_id,
        "date": d.date,
        "sha256": d.sha256,
        "has_content": d.has_content,
        "recipients": d.recipients.iter().map(|r| json!({
            "address": r.address,
            "status": r.status.as_str(),
            "notify": r.notify,
            "orcpt": r.orcpt,
            "attempts": r.attempts,
            "last_reply": r.last_reply,
            "claim_owner": r.claim_owner,
            "claimed_at": r.claimed_at.map(format_time),
        })).collect::<Vec<_>>(),
        "parts": d.parts.iter().map(|p| json!({
            "path": p.path,
            "filename": p.filename,
            "declared_type": p.declared_type,
            "detected_type": p.detected_type,
            "size": p.size,
            "sha256": p.sha256,
            "labels": p.labels,
            "unscannable_reason": p.unscannable_reason,
        })).collect::<Vec<_>>(),
        "findings": d.findings.iter().map(|f| json!({
            "kind": f.kind, "engine": f.engine, "name": f.name, "part": f.part,
        })).collect::<Vec<_>>(),
        "approvals": d.approvals.iter().map(|a| json!({
            "approver": a.approver, "at": format_time(a.at),
        })).collect::<Vec<_>>(),
        "requests": d.requests,
        "approvals_required": d.approvals_required,
    });
    if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
        doc.extend(extra);
    }
    doc
}

fn audit_json(e: &AuditEntry) -> Value {
    json!({
        "seq": e.seq,
        "at": format_time(e.at),
        "at_ms": e.at,
        "actor": e.actor,
        "action": e.action,
        "message_id": e.message_id,
        "detail": e.detail,
    })
}

fn print_detail(
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

// ---- argument parsers ------------------------------------------------------------------

/// `--status`: one of the stored statuses.
pub fn parse_status(s: &str) -> Result<MessageStatus, String> {
    MessageStatus::parse(s.trim()).ok_or_else(|| {
        let all: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

/// `--after`: a cursor as printed by `list`.
pub fn parse_cursor(s: &str) -> Result<Cursor, String> {
    s.trim()
        .parse::<Cursor>()
        .map_err(|_| "expected a cursor as printed by `list` (MILLIS.ID)".to_string())
}

/// `--since`/`--until` as Unix milliseconds: an age (`30s`, `15m`, `2h`, `3d`, `1w`: that long
/// ago), a date `YYYY-MM-DD` (00:00 UTC), or RFC 3339 `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`
/// or `±HH:MM` (UTC when the offset is left out; a space may replace the `T`).
pub fn parse_time(s: &str) -> Result<i64, String> {
    parse_time_at(s, quarantd_store::now_ms())
}

fn parse_time_at(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    let bad = || {
        format!("{s:?}: expected an age like 2h or 3d, a date YYYY-MM-DD, or RFC 3339 like 2025-07-01T10:00:00Z")
    };
    if let Some(unit) = s.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let digits = &s[..s.len() - 1];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && s.len() < 12 {
            let n: i64 = digits.parse().map_err(|_| bad())?;
            let secs: i64 = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(bad()),
            };
            let ago = n
                .checked_mul(secs * 1000)
                .ok_or_else(|| format!("{s:?}: too long ago"))?;
            return Ok(now.saturating_sub(ago));
        }
    }
    // Extended format only (`2025-07-01`, not `20250701`), as documented.
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let utc = |dt: jiff::civil::DateTime| {
        jiff::tz::TimeZone::UTC
            .to_timestamp(dt)
            .map(|t| t.as_millisecond())
            .map_err(|_| bad())
    };
    if b.len() == 10 {
        let date: jiff::civil::Date = s.parse().map_err(|_| bad())?;
        return utc(date.to_datetime(jiff::civil::Time::midnight()));
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
        return Err(bad());
    }
    // With `Z` or `±HH:MM` an instant; without an offset a civil time in UTC. The offset is
    // looked at here, so that jiff's civil parser never drops one silently.
    let zone = &s[s.len().min(16)..];
    let has_offset = zone.ends_with(['Z', 'z'])
        || zone.rfind(['+', '-']).is_some_and(|at| {
            let offset = &zone.as_bytes()[at + 1..];
            offset.len() == 5 && offset[2] == b':'
        });
    if has_offset {
        return s
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| bad());
    }
    if zone.contains(['+', '-']) {
        return Err(bad());
    }
    utc(s.parse().map_err(|_| bad())?)
}

/// Unix milliseconds as RFC 3339 in UTC, to the second: `2025-07-01T08:00:00Z`.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => format!("@{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_documented_form() {
        let now = 1_751_364_000_000; // 2025-07-01T10:00:00Z
        assert_eq!(format_time(now), "2025-07-01T10:00:00Z");
        let cases: &[(&str, i64)] = &[
            ("2h", now - 2 * 3_600_000),
            ("3d", now - 3 * 86_400_000),
            ("1w", now - 7 * 86_400_000),
            ("90s", now - 90_000),
            ("15m", now - 900_000),
            ("2025-07-01", now - 10 * 3_600_000),
            ("2025-07-01T10:00:00Z", now),
            ("2025-07-01T12:00:00+02:00", now),
            ("2025-07-01 10:00", now),
            ("2025-07-01T10:00:00.250Z", now + 250),
            ("2025-07-01t05:30:00-04:30", now),
            ("1970-01-01", 0),
            ("2024-02-29", 1_709_164_800_000),
        ];
        for (input, want) in cases {
            assert_eq!(parse_time_at(input, now), Ok(*want), "{input}");
        }
        for bad in [
            "",
            "yesterday",
            "2h ago",
            "5y",
            "2025-13-01",
            "2025-02-30",
            "2025-07-01T25:00",
            "2025-07-01T10:00+2",
            "20250701",
            "-3d",
            "2025-07-01T10",
            "2025-07-01T10:00:00+0200",
        ] {
            assert!(parse_time_at(bad, now).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn times_are_printed_in_utc_to_the_second() {
        assert_eq!(format_time(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_time(1_709_164_800_999), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn terminal_output_is_cleaned() {
        assert_eq!(clean("a\x1b[2Jb\r\n"), "a\\x1b[2Jb\\x0d\\x0a");
        assert_eq!(clean("Grüße"), "Grüße");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(sqlite_path("sqlite:///var/q.sqlite"), Some("/var/q.sqlite"));
        assert_eq!(
            sqlite_path("sqlite://./var/q.sqlite"),
            Some("./var/q.sqlite")
        );
        assert_eq!(sqlite_path("sqlite:q.sqlite?mode=ro"), Some("q.sqlite"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("mysql://root@h/db"), None);
    }
}

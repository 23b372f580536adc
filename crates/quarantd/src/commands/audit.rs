//! `quarantd audit [ID] [--limit N] [--json]`: the audit log, newest first.

use std::io::Write;
use std::sync::Arc;

use quarantd_release::store::format_time;
use quarantd_release::{Quarantine, Workflow};
use quarantd_smtp::Relay;
use serde_json::json;

use super::{load_settings, open_store, runtime};
use crate::cli::AuditArgs;
use crate::output::{clean, write_table};

/// Runs `quarantd audit`.
pub fn main(args: AuditArgs) -> anyhow::Result<()> {
    let settings = load_settings(&args.store, None)?;
    runtime()?.block_on(async {
        let store = open_store(&settings, args.store.store.as_deref()).await?;
        let q = &settings.quarantine;
        let workflow = Workflow::new(store.clone(), q.rules.clone(), q.release.clone());
        let quarantine = Quarantine::new(workflow, Arc::new(Relay::new(settings.relay.clone())));
        let result = audit(&args, &quarantine).await;
        store.close().await;
        result
    })
}

async fn audit(args: &AuditArgs, q: &Quarantine) -> anyhow::Result<()> {
    let entries = q.audit(args.id.as_deref(), args.limit).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = json!({ "entries": entries });
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

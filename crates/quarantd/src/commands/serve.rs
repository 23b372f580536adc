//! `quarantd serve`: wiring of listeners (SMTP, and the policy service when configured),
//! relay, pipeline, signals and shutdown.

use std::sync::Arc;

use anyhow::Context;
use quarantd_pipeline::{Pipeline, Stages};
use quarantd_policyd::Policyd;
use quarantd_runtime::ShutdownSignal;
use quarantd_smtp::{Relay, Server};
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use quarantd_config::Settings;
use quarantd_core::Hold;
use quarantd_notifier::{NotifySender, RelayNotifier};
use quarantd_release::StoreHold;

/// Runs the daemon until SIGTERM or SIGINT.
pub fn main(args: ServeArgs) -> anyhow::Result<()> {
    tune_allocator();
    let settings = settings_from(&args)?;
    crate::permissions::check_serve(&settings)?;
    crate::logging::init(settings.log_format, settings.log_level);
    if args.config.is_none() {
        tracing::info!(
            listen = %settings.listen,
            relay = %settings.relay.address,
            data_dir = %settings.data_dir.display(),
            "No --config given: running on embedded defaults."
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("quarantd")
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async {
        let mut settings = settings;
        let listener = bind(&settings).await?;
        settings.node_id = Some(node_id(&settings)?);
        let shutdown = ShutdownSignal::new();
        tokio::spawn(on_signal(shutdown.clone()));
        let stages = stages_for(&settings).await;
        let store = open_store(&settings).await?;
        let quarantine: Arc<dyn Hold> = Arc::new(store_hold(&settings, store.clone()));
        let policyd = start_policyd(&settings, shutdown.clone()).await?;
        run_with(
            settings,
            listener,
            stages,
            Some(quarantine),
            Some(store),
            shutdown,
        )
        .await;
        if let Some(policyd) = policyd {
            let _ = policyd.await;
        }
        Ok(())
    });
    // Mail is drained. An analysis thread still inside a parser (its deadline ends it
    // soon, but no later than that) must not hold the process: exit without waiting.
    runtime.shutdown_timeout(EXIT_WAIT);
    served
}

/// How long the process waits at exit for blocking threads after the drain.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The glibc tunable `serve` runs with, and the variable that turns the re-execution off.
const MMAP_TUNABLE: &str = "glibc.malloc.mmap_threshold=1048576";
const NO_MALLOC_TUNING: &str = "QUARANTD_NO_MALLOC_TUNING";

/// Messages are buffers of megabytes, allocated and freed by many threads. glibc raises its
/// mmap threshold after the first such buffer is freed, and then serves the next ones from
/// per-thread arenas that keep the memory resident: with the memory budget at 128 MiB, 40
/// messages of 11 MB at once peaked at 535 MB. A fixed threshold of 1 MiB returns every
/// large buffer to the system when it is freed (236 MB). The threshold can only be set
/// before the process starts (or with `mallopt`, which is `unsafe`), so `serve` executes
/// itself again once with the tunable added — same process id, arguments and descriptors —
/// unless it is set already or `QUARANTD_NO_MALLOC_TUNING` is set. On failure it goes on.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        let name = MMAP_TUNABLE.split('=').next().unwrap_or_default();
        if current.contains(name) || std::env::var_os(NO_MALLOC_TUNING).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let tunables = if current.is_empty() {
            MMAP_TUNABLE.to_string()
        } else {
            format!("{current}:{MMAP_TUNABLE}")
        };
        let error = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("GLIBC_TUNABLES", tunables)
            .exec();
        eprintln!(
            "quarantd: cannot execute itself with {MMAP_TUNABLE} ({error}); going on without it"
        );
    }
}

/// Settings from the config file (or embedded defaults) with the command-line overrides.
pub fn settings_from(args: &ServeArgs) -> anyhow::Result<Settings> {
    let mut raw = quarantd_config::load(args.config.as_deref())?;
    if let Some(listen) = &args.listen {
        raw.server.listen = listen.clone();
    }
    if let Some(relay) = &args.relay {
        raw.relay.address = relay.clone();
    }
    if let Some(dir) = &args.data_dir {
        raw.server.data_dir = dir.clone();
    }
    if let Some(format) = args.log_format {
        raw.log.format = format.into();
    }
    if let Some(store) = &args.store {
        raw.quarantine.store = store.clone();
    }
    if let Some(level) = &args.log_level {
        raw.log.level = level.clone();
    }
    if let Some(clamd) = &args.clamd {
        raw.scan.clamd.address = clamd.clone();
    }
    let source = args.config.as_ref().map_or_else(
        || "embedded defaults and flags".to_string(),
        |p| p.display().to_string(),
    );
    Ok(raw.validate(&source)?)
}

/// The standard stages with the configured scanners; checks clamd with PING once.
pub async fn stages_for(settings: &Settings) -> Stages {
    tracing::info!(
        local_domains = settings.policy.local_domains().len(),
        local_networks = settings.policy.local_networks().len(),
        "Deciding by the policy."
    );
    let stages = Stages::standard(settings.mime_limits.clone(), Arc::clone(&settings.policy));
    let Some((stage, scanner)) = settings.scan.stage() else {
        if settings.scan.none {
            tracing::info!("Running without a virus scanner (scan.none = true).");
            return stages.with_scanner(Box::new(quarantd_pipeline::stages::ScanNone));
        }
        tracing::warn!("No virus scanner configured: messages are not scanned for viruses and each one is logged with scan=unscanned. Configure clamd with scan.clamd.address (or serve --clamd ADDR) or another engine with [[scan.command]]; or set scan.none = true to run without one on purpose.");
        return stages;
    };
    tracing::info!(engine = scanner.engine(), "Virus scanning enabled.");
    if let Some(clamd) = &settings.scan.clamd {
        let client = quarantd_scan::clamd::Clamd::new(clamd.clone());
        let up = check_clamd(&client).await;
        if let Some(every) = settings.scan.clamd_ping_interval {
            tokio::spawn(watch_clamd(client, up, every));
        }
    }
    stages.with_scanner(Box::new(stage))
}

/// Logs whether clamd answers PING and its VERSION; a clamd that is down is not fatal
/// (messages get 4xx until it answers). True when it answered.
async fn check_clamd(clamd: &quarantd_scan::clamd::Clamd) -> bool {
    match clamd.ping().await {
        Ok(()) => {
            let version = clamd.version().await.unwrap_or_default();
            tracing::info!(clamd = %clamd.config().addr, version = %version, "clamd answers PING.");
            true
        }
        Err(err) => {
            tracing::warn!(clamd = %clamd.config().addr, error = %err, "clamd does not answer PING; messages are deferred until it does.");
            false
        }
    }
}

/// PINGs clamd every `every` for the daemon's life and logs each change: down (warning)
/// and back (with its VERSION). Scans do not depend on it.
async fn watch_clamd(clamd: quarantd_scan::clamd::Clamd, mut up: bool, every: std::time::Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match clamd.ping().await {
            Ok(()) if !up => {
                up = true;
                let version = clamd.version().await.unwrap_or_default();
                tracing::info!(clamd = %clamd.config().addr, version = %version, "clamd answers PING again.");
            }
            Err(err) if up => {
                up = false;
                tracing::warn!(clamd = %clamd.config().addr, error = %err, "clamd stopped answering PING; messages are deferred until it answers.");
            }
            _ => {}
        }
    }
}

async fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    prepare_spool(settings)?;
    TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))
}

/// Creates `DATA_DIR/spool` (0700 under the daemon's umask) and removes what an earlier run
/// left there: content of messages that were never acknowledged, which Postfix sends again.
fn prepare_spool(settings: &Settings) -> anyhow::Result<()> {
    let dir = &settings.inbound.spool_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the spool directory {}", dir.display()))?;
    let removed = quarantd_smtp::body::clear_spool(dir)
        .with_context(|| format!("cannot clear the spool directory {}", dir.display()))?;
    if removed > 0 {
        tracing::info!(removed, dir = %dir.display(), "Removed message content an earlier run spilled to disk (never acknowledged: Postfix sends those messages again).");
    }
    Ok(())
}

/// This daemon's node id (`server.node_id`, else kept in the data directory), logged.
fn node_id(settings: &Settings) -> anyhow::Result<String> {
    let (id, origin) = crate::node_id::resolve(settings.node_id.as_deref(), &settings.data_dir)?;
    let from = match &origin {
        crate::node_id::Origin::Configured => "server.node_id".to_string(),
        crate::node_id::Origin::Read(path) => path.display().to_string(),
        crate::node_id::Origin::Created(path) => format!("{} (new)", path.display()),
    };
    tracing::info!(node_id = %id, from = %from, "Node id.");
    Ok(id)
}

/// Starts the policy service when `[policyd] listen` is set: its own listener and permits,
/// stopped and drained by the daemon's one `shutdown`. The task ends when it has drained.
async fn start_policyd(
    settings: &Settings,
    shutdown: ShutdownSignal,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(address) = settings.policyd.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address).await.with_context(|| {
        format!("cannot listen for policy requests on {address} (policyd.listen)")
    })?;
    let service = Policyd::new(
        settings.policyd.service.clone(),
        Arc::clone(&settings.policy),
    );
    Ok(Some(tokio::spawn(service.run(listener, shutdown))))
}

/// The quarantine seam on `store`: each message is stored with the approvals the configured
/// rules say it needs and, with notifications on, its notification run for this node.
fn store_hold(settings: &Settings, store: quarantd_release::store::Store) -> StoreHold {
    let hold = StoreHold::new(store, settings.hostname.clone())
        .with_rules(settings.quarantine.rules.clone());
    if settings.notify.enabled {
        hold.with_outbox(outbox_owner(settings))
    } else {
        hold
    }
}

/// The owner of this daemon's queued notifications: its node id (the host name when none
/// was resolved, as versions before node ids did).
fn outbox_owner(settings: &Settings) -> String {
    settings
        .node_id
        .clone()
        .unwrap_or_else(|| settings.hostname.clone())
}

/// Opens the quarantine store (migrating it) for the pipeline to hold messages in.
pub async fn open_quarantine(settings: &Settings) -> anyhow::Result<Arc<dyn Hold>> {
    let store = open_store(settings).await?;
    Ok(Arc::new(store_hold(settings, store)))
}

/// Opens the quarantine store (migrating it).
pub async fn open_store(settings: &Settings) -> anyhow::Result<quarantd_release::store::Store> {
    let store = settings
        .quarantine
        .open(None, &settings.data_dir)
        .await
        .with_context(|| {
            let url = match settings.quarantine.store.as_str() {
                "" => format!("SQLite under {}", settings.data_dir.display()),
                url => quarantd_release::store::redact(url),
            };
            format!("cannot open the quarantine store ({url})")
        })?;
    tracing::info!(backend = ?store.backend(), "Quarantine store open.");
    Ok(store)
}

/// Serves on `listener` with `stages` until `shutdown` is triggered, then drains. Without a
/// quarantine, messages to hold are answered 451.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    stages: Stages,
    quarantine: Option<Arc<dyn Hold>>,
    shutdown: ShutdownSignal,
) {
    run_with(settings, listener, stages, quarantine, None, shutdown).await;
}

/// [`run`], with the store notifications are audited in. With `notify.enabled`, held and
/// rejected messages are notified through the relay in the background.
pub async fn run_with(
    settings: Settings,
    listener: TcpListener,
    stages: Stages,
    quarantine: Option<Arc<dyn Hold>>,
    store: Option<quarantd_release::store::Store>,
    shutdown: ShutdownSignal,
) {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %settings.listen,
        relay = %settings.relay.address,
        max_sessions = settings.inbound.limits.max_sessions,
        max_memory_bytes = settings.inbound.limits.max_memory,
        relay_max_connections = settings.relay.max_connections,
        "quarantd starting."
    );
    let relay = Arc::new(Relay::new(settings.relay.clone()));
    let mut pipeline = Pipeline::new(settings.pipeline.clone(), stages);
    if let Some(quarantine) = quarantine {
        pipeline = pipeline.with_quarantine(quarantine);
    }
    let mut notifications = None;
    if settings.notify.enabled {
        let policy = Arc::clone(&settings.policy);
        if policy.local_domains().is_empty() {
            tracing::warn!("Notifications are on but [policy] names no local domains: recipients are not notified, only the postmaster.");
        }
        let sender = NotifySender::new(
            settings.notify.clone(),
            policy,
            settings.quarantine.rules.clone(),
            Arc::clone(&relay),
            store,
        );
        let notifier = Arc::new(RelayNotifier::new(
            sender,
            outbox_owner(&settings),
            Some(settings.hostname.clone()),
        ));
        let resumed = notifier.resume().await;
        if resumed > 0 {
            tracing::info!(
                resumed,
                "Resumed notifications left unfinished by the last run."
            );
        }
        pipeline = pipeline.with_notifier(notifier.clone());
        // Runs the CLI's workflow steps queued (unowned) are claimed and sent from here.
        let poller = notifier.spawn_poller();
        notifications = Some((notifier, poller));
    }
    Server::new(settings.inbound.clone(), relay, pipeline)
        .run(listener, shutdown)
        .await;
    if let Some((notifier, poller)) = notifications {
        poller.abort();
        // Mail is drained; notifications get up to the same time again.
        let lost = notifier.finish(settings.inbound.drain_timeout).await;
        if lost > 0 {
            tracing::warn!(
                lost,
                "Notifications given up at shutdown (each is in the log and the audit log)."
            );
        }
    }
    tracing::info!("quarantd stopped.");
}

/// Triggers the shutdown on SIGTERM or SIGINT.
async fn on_signal(shutdown: ShutdownSignal) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::error!(error = %err, "Cannot listen for SIGTERM; only SIGINT stops the daemon.");
            let _ = tokio::signal::ctrl_c().await;
            shutdown.trigger();
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received."),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received."),
    }
    shutdown.trigger();
}

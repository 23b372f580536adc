//! Notifications and policy end to end, through `serve` and the quarantine CLI with a real
//! SMTP sink: the `tag` action, a notification retried after a 4xx, outbound mail (the
//! internal sender is told, the external recipient is not), list mail (its sender gets
//! nothing), a virus (a shell "scanner": held silently inbound, rejected outbound), the workflow events sent by the CLI
//! (`release-requested`, `approval-needed`, `released`, `deleted`) and a CLI notification
//! that cannot be sent, and the split delivery's failure after the held group was committed.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{cli, held, with_executable, Daemon, Extra};
use quarantd_testkit::{free_addr, wait_until, Client, Outcome, Received, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(20);

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// `[policy]`: example.org and other.example are local, 10/8 is the local network;
/// other.example's inbound executables are tagged.
const POLICY: &str = "[policy]\nlocal_domains = [\"example.org\", \"other.example\"]\n\
    local_networks = [\"10.0.0.0/8\"]\n\
    [policy.domains.\"other.example\"]\nsubject_tag = \"[SUSPICIOUS]\"\n\
    [policy.domains.\"other.example\".inbound]\nexecutable = \"tag\"\n";

/// `[notify]` on, postmaster@example.org, 1 s first backoff, the CLI's runs claimed every second.
fn notify_section(key_file: &Path) -> String {
    format!(
        "[notify]\nenabled = true\npostmaster = \"postmaster@example.org\"\n\
         token_key_file = \"{}\"\nfirst_backoff_secs = 1\nmax_attempts = 3\noutbox_poll_secs = 1\n",
        key_file.display()
    )
}

/// A key directory, a sink and a daemon relaying to it with `POLICY`, `[notify]` (when
/// `notify`) and `more`.
async fn setup(notify: bool, more: &str) -> (tempfile::TempDir, Sink, Daemon) {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("token.key");
    common::write_private(&key_file, KEY_HEX);
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut scan = POLICY.to_string();
    if notify {
        scan.push_str(&notify_section(&key_file));
    }
    scan.push_str(more);
    let extra = Extra {
        scan,
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    (keys, sink, daemon)
}

async fn client(daemon: &Daemon, xforward_addr: &str) -> Client {
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    client
        .cmd(&format!("XFORWARD ADDR={xforward_addr} NAME=client.test"))
        .await
        .unwrap();
    client
}

/// Sends `raw` from `from` to `rcpts`; it must be held: returns its quarantine id.
async fn hold(client: &mut Client, from: &str, rcpts: &[&str], raw: &[u8]) -> String {
    let reply = client.send_message(from, rcpts, raw).await.unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    held(&reply)
}

/// An inbound executable from s@example.net to b@example.org in a session of its own; it
/// must be held: returns its quarantine id.
async fn hold_one(daemon: &Daemon, marker: &str) -> String {
    let mut client = client(daemon, "192.0.2.9").await;
    let id = hold(
        &mut client,
        "s@example.net",
        &["b@example.org"],
        &with_executable(marker, ""),
    )
    .await;
    client.cmd("QUIT").await.ok();
    id
}

/// Notifications (null envelope sender) among `msgs`.
fn notes(msgs: &[Received]) -> Vec<&Received> {
    msgs.iter().filter(|m| m.mail_from.is_empty()).collect()
}

/// The notification to exactly `to` among `msgs`.
fn note_to<'a>(msgs: &'a [Received], to: &str) -> &'a Received {
    notes(msgs)
        .into_iter()
        .find(|m| m.rcpts == [to])
        .unwrap_or_else(|| panic!("no notification to {to} among {} messages", msgs.len()))
}

/// Every message at the sink once `n` arrived and half a second passed without more being
/// expected (so a message sent twice would show).
async fn settled(sink: &Sink, n: usize) -> Vec<Received> {
    sink.wait_for_messages(n, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sink.messages()
}

fn notes_to(msgs: &[Received]) -> Vec<String> {
    let mut to: Vec<String> = notes(msgs)
        .iter()
        .flat_map(|m| m.rcpts.iter().cloned())
        .collect();
    to.sort();
    to
}

fn text(m: &Received) -> String {
    String::from_utf8_lossy(&m.data).into_owned()
}

/// Waits until the audit log of `id` has `n` entries with all of `needles`; returns them.
async fn audited(store: &str, id: &str, needles: &[&str], n: usize) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    wait_until(WAIT, || {
        let doc = cli(&["audit", id, "--json", "--store", store]).ok().json();
        found = doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                let line = format!("{} {}", e["action"], e["detail"]);
                needles.iter().all(|n| line.contains(n))
            })
            .cloned()
            .collect();
        found.len() >= n
    })
    .await;
    assert_eq!(found.len(), n, "audit entries with {needles:?}: {found:?}");
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagged_message_is_delivered_with_warning_and_subject_tag() {
    let (_keys, sink, daemon) = setup(true, "").await;
    let mut client = client(&daemon, "192.0.2.9").await;
    let raw = with_executable("t1", "");
    let reply = client
        .send_message("s@example.net", &["c@other.example"], &raw)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    assert!(reply.text().contains("delivered"), "{reply}");
    let msgs = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].rcpts, ["c@other.example"]);
    let body = text(&msgs[0]);
    assert!(body.contains("X-Quarantd-Verdict: tag"), "{body}");
    assert!(
        body.contains("\r\nX-Quarantd-Warning: executable\r\n"),
        "{body}"
    );
    assert!(
        body.contains("\r\nSubject: [SUSPICIOUS] invoice t1\r\n"),
        "{body}"
    );
    assert!(!body.contains("\r\nSubject: invoice t1\r\n"), "{body}");
    // Nobody is notified of a tagged message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1);
    client.cmd("QUIT").await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_deferred_once_is_retried_and_sent_once() {
    let (_keys, sink, daemon) = setup(true, "").await;
    // A held message goes nowhere downstream; only notifications reach DATA.
    sink.update_config(|c| c.data_reply = Some("451 4.3.0 try again later".into()));
    let mut client = client(&daemon, "192.0.2.9").await;
    let id = hold(
        &mut client,
        "s@example.net",
        &["b@example.org"],
        &with_executable("r1", ""),
    )
    .await;
    // The first attempt is answered 451; then the sink accepts again.
    let mut refused = 0;
    let seen = wait_until(WAIT, || {
        refused = refused_count(&sink);
        refused > 0
    })
    .await;
    assert!(seen, "no attempt seen");
    assert_eq!(refused, 1);
    sink.update_config(|c| c.data_reply = None);
    let msgs = sink.wait_for_messages(2, WAIT).await;
    assert_eq!(notes_to(&msgs), ["b@example.org", "postmaster@example.org"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = sink.messages();
    assert_eq!(
        notes_to(&msgs),
        ["b@example.org", "postmaster@example.org"],
        "each notification arrives once"
    );
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let sent = audited(&store, &id, &["notify-sent", "to=b@example.org"], 1).await;
    assert!(
        sent[0]["detail"].as_str().unwrap().contains("attempt=2"),
        "{sent:?}"
    );
    assert_eq!(sent[0]["actor"], "quarantd");
    audited(
        &store,
        &id,
        &["notify-sent", "to=postmaster@example.org"],
        1,
    )
    .await;
    audited(&store, &id, &["notify-failed"], 0).await;
    client.cmd("QUIT").await.ok();
}

/// A command-line "scanner": anything containing `VIRUS-MARKER-7` is a virus.
const MARKER_SCANNER: &str = "[[scan.command]]\nname = \"marker\"\n\
    command = [\"/bin/sh\", \"-c\", \"if grep -q VIRUS-MARKER-7 \\\"$1\\\"; then echo 'FOUND: Test-Marker'; exit 1; fi; exit 0\", \"sh\", \"{}\"]\n\
    clean_exit_codes = [0]\ninfected_exit_codes = [1]\nvirus_regex = \"FOUND: (\\\\S+)\"\n";

/// Inbound viruses rejected (554 after the copy) rather than held: the site asked for it.
const REJECT_VIRUSES: &str = "[policy.default.inbound]\nvirus = \"reject\"\n";

/// A virus from s@example.net to b@example.org in a session of its own: rejected (554) with
/// its copy stored; returns the copy's quarantine id.
async fn reject_one(daemon: &Daemon, marker: &str) -> String {
    let mut client = client(daemon, "192.0.2.9").await;
    let raw = format!(
        "From: s@example.net\r\nTo: b@example.org\r\nSubject: {marker}\r\n\
         Message-ID: <{marker}@example.net>\r\n\r\nhello VIRUS-MARKER-7\r\n"
    );
    let reply = client
        .send_message("s@example.net", &["b@example.org"], raw.as_bytes())
        .await
        .unwrap();
    assert_eq!(reply.code, 554, "{reply}");
    client.cmd("QUIT").await.ok();
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let list = cli(&[
        "quarantine",
        "list",
        "--status",
        "rejected",
        "--json",
        "--store",
        &store,
    ])
    .ok()
    .json();
    list["messages"][0]["id"].as_str().unwrap().to_string()
}

/// How many transactions the sink refused after the data.
fn refused_count(sink: &Sink) -> usize {
    sink.transactions()
        .iter()
        .filter(|t| t.outcome == Outcome::DataRejected)
        .count()
}

/// Waits until the sink refused `n` transactions after the data.
async fn refusals(sink: &Sink, n: usize) {
    assert!(
        wait_until(WAIT, || refused_count(sink) >= n).await,
        "fewer than {n} attempts seen"
    );
}

/// Starts daemons on one data directory (so one node id) with `hostname`, the notifications
/// deferred for a minute after a 4xx, the marker scanner, and `drain_timeout_secs = 1`.
struct Node {
    keys: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let keys = tempfile::tempdir().unwrap();
        common::write_private(&keys.path().join("token.key"), KEY_HEX);
        Node {
            keys,
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn store(&self) -> String {
        quarantd_store::sqlite_url(self.data.path())
    }

    async fn start(&self, sink: &Sink, hostname: &str) -> Daemon {
        let notify = notify_section(&self.keys.path().join("token.key"))
            .replace("first_backoff_secs = 1", "first_backoff_secs = 60");
        Daemon::start(
            sink.addr(),
            Extra {
                server: "drain_timeout_secs = 1",
                scan: format!("{POLICY}{notify}{MARKER_SCANNER}{REJECT_VIRUSES}"),
                data_dir: Some(self.data.path().to_path_buf()),
                hostname: Some(hostname.to_string()),
                ..Extra::default()
            },
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_unfinished_at_shutdown_are_audited_and_resumed_at_the_next_start() {
    let node = Node::new();
    let store = node.store();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    // Every notification is deferred and would be retried only after a minute.
    sink.update_config(|c| c.data_reply = Some("451 4.3.0 try again later".into()));
    let daemon = node.start(&sink, "filter.test").await;
    let held = hold_one(&daemon, "r1").await;
    let rejected = reject_one(&daemon, "v1").await;
    // The first attempt of each run was refused; both now wait to retry.
    refusals(&sink, 2).await;
    daemon.terminate();
    daemon
        .wait_for_log("Notifications given up at shutdown", WAIT)
        .await;
    daemon.wait_for_log("quarantd stopped.", WAIT).await;
    let lost = daemon.events("Notification not sent: the daemon stopped first.");
    let mut lost_ids: Vec<&str> = lost.iter().map(|e| e["id"].as_str().unwrap()).collect();
    lost_ids.sort();
    let mut want = vec![held.as_str(), rejected.as_str()];
    want.sort();
    assert_eq!(lost_ids, want, "{lost:?}");
    for id in [&held, &rejected] {
        let failed = audited(
            &store,
            id,
            &[
                "notify-failed",
                "the daemon stopped first",
                "resumed when the daemon starts again",
            ],
            1,
        )
        .await;
        assert_eq!(failed[0]["actor"], "quarantd");
    }
    assert!(sink.messages().is_empty());

    // The relay accepts again; the host was renamed meanwhile. The next daemon with this
    // node id (kept in the data directory) resumes both runs.
    sink.update_config(|c| c.data_reply = None);
    let daemon = node.start(&sink, "renamed.test").await;
    for id in [&held, &rejected] {
        let resumed = daemon
            .wait_for_log(&format!("\"id\":\"{id}\",\"event\""), WAIT)
            .await;
        assert!(resumed.contains("Resuming a notification"), "{resumed}");
    }
    let msgs = settled(&sink, 4).await;
    assert_eq!(
        notes_to(&msgs),
        [
            "b@example.org",
            "b@example.org",
            "postmaster@example.org",
            "postmaster@example.org"
        ]
    );
    audited(
        &store,
        &held,
        &["notify-sent", "event=quarantined", "to=b@example.org"],
        1,
    )
    .await;
    audited(
        &store,
        &rejected,
        &["notify-sent", "event=rejected", "to=b@example.org"],
        1,
    )
    .await;
    // Done: nothing is left to resume.
    daemon.terminate();
    daemon.wait_for_log("quarantd stopped.", WAIT).await;
    let daemon = node.start(&sink, "renamed.test").await;
    // serve resumes (and logs) the runs left, and claims the unowned ones, before it accepts
    // sessions, which is what node.start waited for: the log is complete on that.
    assert!(daemon
        .events("Resuming a notification the daemon did not finish before it stopped.")
        .is_empty());
    assert!(daemon
        .events("Resumed notifications left unfinished by the last run.")
        .is_empty());
    assert_eq!(notes_to(&sink.messages()).len(), 4, "nothing sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_of_a_hold_survives_a_crash_right_after_the_250() {
    let node = Node::new();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    // Nothing is accepted before the crash (held mail never reaches DATA downstream).
    sink.update_config(|c| c.data_reply = Some("451 4.3.0 try again later".into()));
    let daemon = node.start(&sink, "filter.test").await;
    let held = hold_one(&daemon, "c1").await;
    let rejected = reject_one(&daemon, "c2").await;
    // SIGKILL at once: no drain, no shutdown audit; the runs were queued with the messages.
    drop(daemon);
    sink.update_config(|c| c.data_reply = None);
    let daemon = node.start(&sink, "other-name.test").await;
    daemon
        .wait_for_log("Resuming a notification the daemon did not finish", WAIT)
        .await;
    let msgs = settled(&sink, 4).await;
    assert_eq!(notes(&msgs).len(), 4, "{msgs:?}");
    let store = node.store();
    audited(&store, &held, &["notify-sent", "event=quarantined"], 2).await;
    audited(&store, &rejected, &["notify-sent", "event=rejected"], 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_queued_by_the_host_name_before_node_ids_are_taken_over() {
    let node = Node::new();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = node.start(&sink, "filter.test").await;
    let held = hold_one(&daemon, "u1").await;
    settled(&sink, 2).await;
    daemon.terminate();
    daemon.wait_for_log("quarantd stopped.", WAIT).await;
    sink.clear();
    // As a version before node ids left it: queued under the host name.
    let store = quarantd_store::Store::open(&node.store(), &Default::default())
        .await
        .unwrap();
    store
        .outbox_add(
            "filter.test",
            &held,
            "quarantined",
            &["b@example.org".into()],
        )
        .await
        .unwrap();
    store
        .outbox_add(
            "elsewhere.test",
            &held,
            "quarantined",
            &["b@example.org".into()],
        )
        .await
        .unwrap();
    let daemon = node.start(&sink, "filter.test").await;
    daemon
        .wait_for_log(
            "Took over notifications queued under this host's name",
            WAIT,
        )
        .await;
    let msgs = settled(&sink, 2).await;
    assert_eq!(notes_to(&msgs), ["b@example.org", "postmaster@example.org"]);
    assert!(store.outbox_of("filter.test").await.unwrap().is_empty());
    // Another host's run is not this node's.
    assert_eq!(store.outbox_of("elsewhere.test").await.unwrap().len(), 1);
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_tells_the_internal_sender_not_the_external_recipient() {
    let (_keys, sink, daemon) = setup(true, "").await;
    let mut client = client(&daemon, "10.1.2.3").await;
    let id = hold(
        &mut client,
        "a@example.org",
        &["x@remote.example"],
        &with_executable("o1", ""),
    )
    .await;
    let msgs = settled(&sink, 2).await;
    assert_eq!(notes_to(&msgs), ["a@example.org", "postmaster@example.org"]);
    assert!(msgs
        .iter()
        .all(|m| !m.rcpts.iter().any(|r| r == "x@remote.example")));
    let to_sender = note_to(&msgs, "a@example.org");
    let body = text(to_sender);
    assert!(body.contains("Auto-Submitted: auto-generated"), "{body}");
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let shown = cli(&["quarantine", "show", &id, "--json", "--store", &store])
        .ok()
        .json();
    assert_eq!(shown["direction"], "outbound", "{shown}");
    audited(
        &store,
        &id,
        &["notify-sent", "party=sender-internal", "to=a@example.org"],
        1,
    )
    .await;
    client.cmd("QUIT").await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_mail_sender_is_never_told() {
    let (_keys, sink, daemon) = setup(true, "").await;
    // Internal mail would tell the sender too, but this sender is a list.
    let mut client = client(&daemon, "10.1.2.3").await;
    let id = hold(
        &mut client,
        "list@example.org",
        &["b@example.org"],
        &with_executable("l1", "List-Id: <staff.example.org>\r\n"),
    )
    .await;
    sink.wait_for_messages(2, WAIT).await;
    daemon
        .wait_for_log("Notification not sent (loop or list rule).", WAIT)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = sink.messages();
    assert_eq!(notes_to(&msgs), ["b@example.org", "postmaster@example.org"]);
    assert!(msgs
        .iter()
        .all(|m| !m.rcpts.iter().any(|r| r == "list@example.org")));
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let shown = cli(&["quarantine", "show", &id, "--json", "--store", &store])
        .ok()
        .json();
    assert_eq!(shown["direction"], "internal", "{shown}");
    client.cmd("QUIT").await.ok();
}

fn infected(from: &str, to: &str, marker: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {marker}\r\nMessage-ID: <{marker}@example.net>\r\n\r\nhello VIRUS-MARKER-7\r\n"
    )
    .into_bytes()
}

/// The id of the only message in the quarantine.
fn only_stored(daemon: &Daemon) -> (String, String) {
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let list = cli(&["quarantine", "list", "--json", "--store", &store])
        .ok()
        .json();
    assert_eq!(list["messages"].as_array().unwrap().len(), 1, "{list}");
    let id = list["messages"][0]["id"].as_str().unwrap().to_string();
    (store, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_virus_is_held_silently_and_never_told_to_its_sender() {
    let (_keys, sink, daemon) = setup(true, MARKER_SCANNER).await;
    let mut client = client(&daemon, "192.0.2.9").await;
    let raw = infected("s@example.net", "b@example.org", "v1");
    let id = hold(&mut client, "s@example.net", &["b@example.org"], &raw).await;
    let msgs = settled(&sink, 2).await;
    assert_eq!(notes_to(&msgs), ["b@example.org", "postmaster@example.org"]);
    assert!(
        msgs.iter()
            .all(|m| !m.rcpts.iter().any(|r| r == "s@example.net")),
        "no backscatter to the sender"
    );
    let body = text(note_to(&msgs, "b@example.org"));
    assert!(body.contains("Auto-Submitted: auto-generated"), "{body}");
    assert!(body.contains("Test-Marker"), "{body}");
    let (store, stored) = only_stored(&daemon);
    assert_eq!(stored, id);
    audited(&store, &id, &["notify-sent", "event=quarantined"], 2).await;
    client.cmd("QUIT").await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_virus_is_rejected_and_the_internal_sender_is_told() {
    let (_keys, sink, daemon) = setup(true, MARKER_SCANNER).await;
    let mut client = client(&daemon, "10.0.0.5").await;
    let raw = infected("a@example.org", "x@remote.test", "v2");
    let reply = client
        .send_message("a@example.org", &["x@remote.test"], &raw)
        .await
        .unwrap();
    assert_eq!(reply.code, 554, "{reply}");
    assert!(reply.text().contains("virus:Test-Marker"), "{reply}");
    let msgs = settled(&sink, 2).await;
    assert_eq!(notes_to(&msgs), ["a@example.org", "postmaster@example.org"]);
    assert!(msgs
        .iter()
        .all(|m| !m.rcpts.iter().any(|r| r == "x@remote.test")));
    let (store, id) = only_stored(&daemon);
    audited(&store, &id, &["notify-sent", "event=rejected"], 2).await;
    client.cmd("QUIT").await.ok();
}

/// A CLI config: the daemon's store, `POLICY`, `[notify]`, relay `relay`.
fn cli_config(dir: &Path, store: &str, relay: &str, max_attempts: u32) -> PathBuf {
    let path = dir.join(format!("cli-{max_attempts}.toml"));
    std::fs::write(
        &path,
        format!(
            "[relay]\naddress = \"{relay}\"\n[quarantine]\nstore = \"{store}\"\n{POLICY}\
             [notify]\nenabled = true\npostmaster = \"postmaster@example.org\"\n\
             token_key_file = \"token.key\"\nfirst_backoff_secs = 1\nmax_attempts = {max_attempts}\n"
        ),
    )
    .unwrap();
    path
}

/// The CLI's workflow steps queue their notifications; the running daemon claims and sends
/// them (within its poll interval), once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_events_are_notified_through_the_daemon() {
    let (keys, sink, daemon) = setup(true, "").await;
    let mut client = client(&daemon, "192.0.2.9").await;
    let mut ids = Vec::new();
    for marker in ["w1", "w2"] {
        ids.push(
            hold(
                &mut client,
                "s@example.net",
                &["b@example.org"],
                &with_executable(marker, ""),
            )
            .await,
        );
    }
    client.cmd("QUIT").await.ok();
    // Two holds, each told to b and the postmaster.
    sink.wait_for_messages(4, WAIT).await;
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    for id in &ids {
        audited(&store, id, &["notify-sent", "event=quarantined"], 2).await;
    }
    sink.clear();
    let config = cli_config(keys.path(), &store, &sink.addr().to_string(), 3);
    let config = config.to_str().unwrap();
    let id = ids[0].as_str();
    let run = |args: &[&str]| {
        let mut all = vec!["quarantine"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", config]);
        cli(&all)
    };
    let check_notes = |msgs: &[Received], want: &[&str], subject: &str| {
        assert_eq!(notes_to(msgs), want, "{msgs:?}");
        for m in notes(msgs) {
            let body = text(m);
            assert!(body.contains("Auto-Submitted: auto-generated"), "{body}");
            assert!(body.contains(subject), "{subject} missing: {body}");
        }
    };

    // request-release: the recipient's acknowledgement and the postmaster.
    let err = run(&["request-release", id, "--rcpt", "b@example.org"])
        .ok()
        .stderr;
    assert!(
        err.contains("queued the release-requested notification"),
        "{err}"
    );
    assert!(
        !err.contains("notified"),
        "the command itself sends nothing: {err}"
    );
    let msgs = sink.wait_for_messages(2, WAIT).await;
    check_notes(
        &msgs,
        &["b@example.org", "postmaster@example.org"],
        "elease requested",
    );
    audited(&store, id, &["notify-sent", "event=release-requested"], 2).await;
    sink.clear();

    // The first approval of two: the postmasters are asked for the second.
    run(&["approve", id, "--by", "alice"]).ok();
    let msgs = sink.wait_for_messages(1, WAIT).await;
    check_notes(&msgs, &["postmaster@example.org"], "approval needed");
    assert!(text(&msgs[0]).contains("1 of 2"), "{}", text(&msgs[0]));
    audited(&store, id, &["notify-sent", "event=approval-needed"], 1).await;
    sink.clear();
    let out = run(&["approve", id, "--by", "bob"]).ok().stdout;
    assert!(out.contains("status approved"), "{out}");

    // Released: the message itself, then the recipient is told.
    run(&["release", id, "--by", "alice"]).ok();
    let msgs = sink.wait_for_messages(2, WAIT).await;
    let released: Vec<_> = msgs.iter().filter(|m| !m.mail_from.is_empty()).collect();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].rcpts, ["b@example.org"]);
    check_notes(&msgs, &["b@example.org"], "Message released");
    assert!(text(notes(&msgs)[0]).contains("by alice"));
    audited(
        &store,
        id,
        &["notify-sent", "event=released", "party=recipient"],
        1,
    )
    .await;
    sink.clear();

    // Deleted: the recipient is told.
    let other = ids[1].as_str();
    run(&["delete", other, "--by", "alice"]).ok();
    let msgs = sink.wait_for_messages(1, WAIT).await;
    check_notes(&msgs, &["b@example.org"], "Held message deleted");
    assert!(text(&msgs[0]).contains("invoice w2"), "{}", text(&msgs[0]));
    audited(&store, other, &["notify-sent", "event=deleted"], 1).await;
    // Every run was claimed once and removed once sent: the outbox is empty (none unowned,
    // none the daemon's), so nothing else can be sent.
    let db = quarantd_store::Store::open(&store, &Default::default())
        .await
        .unwrap();
    let node_id = std::fs::read_to_string(daemon.data_dir().join("node-id")).unwrap();
    let drained = quarantd_testkit::wait_until_async(WAIT, || async {
        db.outbox_of(quarantd_store::UNOWNED)
            .await
            .unwrap()
            .is_empty()
            && db.outbox_of(node_id.trim()).await.unwrap().is_empty()
    })
    .await;
    assert!(drained, "workflow runs left in the outbox");
    assert_eq!(sink.messages().len(), 1, "nothing else was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_notification_failure_never_fails_the_step() {
    let (keys, sink, daemon) = setup(true, "").await;
    let id = hold_one(&daemon, "f1").await;
    sink.wait_for_messages(2, WAIT).await;
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    // Nothing listens on the relay address: both attempts fail.
    let down = free_addr().to_string();
    let config = cli_config(keys.path(), &store, &down, 2);
    let out = cli(&[
        "quarantine",
        "delete",
        &id,
        "--by",
        "alice",
        "--wait-notify",
        "--config",
        config.to_str().unwrap(),
    ])
    .ok();
    assert!(
        out.stdout.contains(&format!("deleted {id}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("warning: notification of deleted to b@example.org"),
        "{}",
        out.stderr
    );
    let failed = audited(&store, &id, &["notify-failed", "event=deleted"], 1).await;
    assert!(
        failed[0]["detail"].as_str().unwrap().contains("attempt=2"),
        "{failed:?}"
    );
    let shown = cli(&["quarantine", "show", &id, "--json", "--store", &store])
        .ok()
        .json();
    assert_eq!(shown["status"], "deleted", "{shown}");

    // --no-notify: the step is done and audited, nothing is sent or tried.
    let second = hold_one(&daemon, "f2").await;
    let out = cli(&[
        "quarantine",
        "delete",
        &second,
        "--by",
        "alice",
        "--no-notify",
        "--config",
        config.to_str().unwrap(),
    ])
    .ok();
    assert!(
        out.stdout.contains(&format!("deleted {second}")),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("notif"), "{}", out.stderr);
    audited(&store, &second, &["delete"], 1).await;
    audited(&store, &second, &["event=deleted"], 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_group_refused_after_the_hold_defers_the_message() {
    let (_keys, sink, daemon) = setup(false, "").await;
    // The delivering group's data is answered 4xx (the held group never reaches DATA).
    sink.update_config(|c| c.data_reply = Some("451 4.3.0 try again later".into()));
    let mut client = client(&daemon, "192.0.2.9").await;
    let reply = client
        .send_message(
            "s@example.net",
            &["b@example.org", "c@other.example"],
            &with_executable("x1", ""),
        )
        .await
        .unwrap();
    assert_eq!(reply.code, 451, "{reply}");
    assert!(
        reply
            .text()
            .contains("Relay unavailable for some recipients"),
        "{reply}"
    );
    // The delivering group was tried with just its recipient; nothing was accepted.
    let tried: Vec<_> = sink
        .transactions()
        .into_iter()
        .filter(|t| t.outcome == Outcome::DataRejected)
        .collect();
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0].message.rcpts, ["c@other.example"]);
    assert!(sink.messages().is_empty());
    // The held group was committed before (Postfix's retry stores it again: the documented
    // duplicate risk).
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let list = cli(&["quarantine", "list", "--json", "--store", &store])
        .ok()
        .json();
    let held = list["messages"].as_array().unwrap();
    assert_eq!(held.len(), 1, "{list}");
    daemon
        .wait_for_log("Relay failed for one group of a split message", WAIT)
        .await;
    client.cmd("QUIT").await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_sends_are_bounded_and_all_arrive() {
    const HELD: usize = 12;
    let (_keys, sink, daemon) = setup(true, "max_concurrent_sends = 2\n").await;
    // A slow relay that defers the first notifications.
    sink.update_config(|c| {
        c.data_delay = Some(Duration::from_millis(300));
        c.data_reply = Some("451 4.3.0 try again later".into());
    });
    let mut client = client(&daemon, "192.0.2.9").await;
    let mut ids = Vec::new();
    for i in 0..HELD {
        let raw = with_executable(&format!("p{i}"), "");
        ids.push(hold(&mut client, "s@example.net", &["b@example.org"], &raw).await);
    }
    client.cmd("QUIT").await.ok();
    refusals(&sink, 2).await;
    sink.update_config(|c| c.data_reply = None);
    // Every run tells b and the postmaster: all arrive, each once.
    let msgs = settled(&sink, 2 * HELD).await;
    assert_eq!(notes(&msgs).len(), 2 * HELD, "{msgs:?}");
    for id in &ids {
        audited(
            &quarantd_store::sqlite_url(&daemon.data_dir()),
            id,
            &["notify-sent", "event=quarantined"],
            2,
        )
        .await;
    }
    // Never more than two sends at once (and the pool was used: two did run at once).
    assert_eq!(sink.peak_data_phases(), 2);
    // Nothing is left queued.
    let store = quarantd_store::Store::open(
        &quarantd_store::sqlite_url(&daemon.data_dir()),
        &Default::default(),
    )
    .await
    .unwrap();
    let node_id = std::fs::read_to_string(daemon.data_dir().join("node-id")).unwrap();
    assert!(store.outbox_of(node_id.trim()).await.unwrap().is_empty());
}

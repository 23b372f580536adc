//! Issue 11 A9 (backscatter) against the daemon binary: by default an inbound virus is held
//! silently — committed to the quarantine and answered 250, so Postfix never bounces the
//! (usually forged) sender a copy of the malware. A 554 (after the copy is stored) only where
//! the sender is ours (outbound, internal) or the site asks for it with `virus = "reject"`.
//! The "scanner" is a command line that reports a marker as a virus.

mod common;

use common::{cli, Daemon, Extra};
use quarantd_testkit::{held_id, Client, Sink, SinkConfig};

/// A command-line scanner: anything containing the marker is a virus `Test-Marker`.
const SCANNER: &str = "[[scan.command]]\nname = \"marker\"\n\
    command = [\"/bin/sh\", \"-c\", \"if grep -q VIRUS-MARKER-9 \\\"$1\\\"; then echo 'FOUND: Test-Marker'; exit 1; fi; exit 0\", \"sh\", \"{}\"]\n\
    clean_exit_codes = [0]\ninfected_exit_codes = [1]\nvirus_regex = \"FOUND: (\\\\S+)\"\n";

const LOCAL: &str =
    "[policy]\nlocal_domains = [\"example.org\"]\nlocal_networks = [\"10.0.0.0/8\"]\n";

fn infected(marker: &str) -> Vec<u8> {
    format!(
        "From: s@example.net\r\nTo: b@example.org\r\nSubject: {marker}\r\nMessage-ID: <{marker}@example.net>\r\n\r\nhello VIRUS-MARKER-9\r\n"
    )
    .into_bytes()
}

async fn start(sink: &Sink, sections: &str) -> Daemon {
    let extra = Extra {
        scan: format!("{sections}{SCANNER}"),
        ..Extra::default()
    };
    Daemon::start(sink.addr(), extra).await
}

/// Sends an infected message from `from` (client `client`) to `to`.
async fn send(daemon: &Daemon, client: &str, from: &str, to: &str) -> quarantd_testkit::Reply {
    let mut c = Client::connect(daemon.addr).await.unwrap();
    c.handshake("mx.example.org").await.unwrap();
    c.cmd(&format!("XFORWARD ADDR={client} NAME=client.test"))
        .await
        .unwrap();
    let reply = c.send_message(from, &[to], &infected("v")).await.unwrap();
    c.cmd("QUIT").await.ok();
    reply
}

/// `(status, direction, reasons)` of every stored message.
fn stored(daemon: &Daemon) -> Vec<(String, String, String)> {
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let list = cli(&["quarantine", "list", "--json", "--store", &store])
        .ok()
        .json();
    list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["status"].as_str().unwrap_or_default().to_string(),
                m["direction"].as_str().unwrap_or_default().to_string(),
                m["reasons"].to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_virus_is_held_silently_by_default() {
    for sections in ["", LOCAL] {
        let sink = Sink::start(SinkConfig::default()).await.unwrap();
        let daemon = start(&sink, sections).await;
        let reply = send(&daemon, "192.0.2.9", "s@example.net", "b@example.org").await;
        assert_eq!(reply.code, 250, "[policy] {sections:?}: {reply}");
        assert!(held_id(&reply.text()).is_some(), "{reply}");
        assert!(reply.text().contains("virus:Test-Marker"), "{reply}");
        assert!(sink.messages().is_empty(), "nothing delivered");
        let held = stored(&daemon);
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0].0, "held", "{held:?}");
        assert!(held[0].2.contains("virus:Test-Marker"), "{held:?}");
        // Without local domains every message is inbound by definition: stored as unknown.
        let direction = if sections.is_empty() {
            "unknown"
        } else {
            "inbound"
        };
        assert_eq!(held[0].1, direction, "{held:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_virus_or_a_configured_reject_is_554_after_the_copy() {
    // Outbound (a local client, a local sender): the sender is ours and learns of it.
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = start(&sink, LOCAL).await;
    let reply = send(&daemon, "10.0.0.5", "a@example.org", "x@remote.test").await;
    assert_eq!(reply.code, 554, "{reply}");
    assert!(reply.text().contains("virus:Test-Marker"), "{reply}");
    let copies = stored(&daemon);
    assert_eq!(copies.len(), 1, "the copy is stored first: {copies:?}");
    assert_eq!(copies[0].1, "outbound");
    // Inbound with `virus = "reject"`: the site asked for it.
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let site = format!("{LOCAL}[policy.default.inbound]\nvirus = \"reject\"\n");
    let daemon = start(&sink, &site).await;
    let reply = send(&daemon, "192.0.2.9", "s@example.net", "b@example.org").await;
    assert_eq!(reply.code, 554, "{reply}");
    assert_eq!(stored(&daemon).len(), 1);
    assert!(sink.messages().is_empty());
}

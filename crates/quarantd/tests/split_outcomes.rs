//! Issue 11 A1 against the real daemon: a message whose recipients all get the same action
//! for different reasons is one outcome, never a "split" that nothing carries out. Tempfail
//! for everyone → 451, nothing delivered, nothing stored; reject for everyone → 554 after one
//! stored copy, nothing delivered.

mod common;

use std::time::Duration;

use common::{cli, exe_and_js, Daemon, Extra};
use quarantd_testkit::{Client, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(20);

/// `[policy]`: inbound executables and scripts get `action`, except that a.example passes
/// scripts — so u@a.example wants `action` for (executable), v@b.example for (executable,
/// script).
fn policy(action: &str) -> String {
    format!(
        "[policy]\n[policy.default.inbound]\nexecutable = \"{action}\"\nscript = \"{action}\"\n\
         [policy.domains.\"a.example\".inbound]\nscript = \"pass\"\n"
    )
}

async fn daemon(sink: &Sink, action: &str) -> Daemon {
    let extra = Extra {
        scan: policy(action),
        ..Extra::default()
    };
    Daemon::start(sink.addr(), extra).await
}

async fn send(daemon: &Daemon, raw: &[u8]) -> quarantd_testkit::Reply {
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    client
        .cmd("XFORWARD ADDR=198.51.100.9 NAME=bad.remote.test")
        .await
        .unwrap();
    let reply = client
        .send_message("s@remote.test", &["u@a.example", "v@b.example"], raw)
        .await
        .unwrap();
    client.cmd("QUIT").await.ok();
    reply
}

/// The stored messages of the daemon's quarantine (`list --json`).
fn stored(daemon: &Daemon) -> Vec<serde_json::Value> {
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let list = cli(&["quarantine", "list", "--json", "--store", &store])
        .ok()
        .json();
    list["messages"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempfail_for_every_recipient_for_different_reasons_is_451() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = daemon(&sink, "tempfail").await;
    let reply = send(&daemon, &exe_and_js("t1")).await;
    assert_eq!(reply.code, 451, "{reply}");
    let line = daemon.wait_for_log("Message processed.", WAIT).await;
    assert!(line.contains("\"outcome\":\"tempfail\""), "{line}");
    assert!(line.contains("executable, script"), "{line}");
    assert!(sink.messages().is_empty(), "nothing delivered");
    assert!(stored(&daemon).is_empty(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_for_every_recipient_for_different_reasons_is_554_after_one_copy() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = daemon(&sink, "reject").await;
    let reply = send(&daemon, &exe_and_js("r1")).await;
    assert_eq!(reply.code, 554, "{reply}");
    assert!(reply.text().contains("executable, script"), "{reply}");
    assert!(sink.messages().is_empty(), "nothing delivered");
    let copies = stored(&daemon);
    assert_eq!(
        copies.len(),
        1,
        "one copy of the rejected message: {copies:?}"
    );
    let reasons = &copies[0]["reasons"];
    assert_eq!(
        reasons,
        &serde_json::json!(["executable", "script"]),
        "{copies:?}"
    );
}

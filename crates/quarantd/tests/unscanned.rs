//! Issue 11 A13: a daemon without a virus scanner says so — one warning at start that names
//! how to configure one, and `scan=unscanned` on every message's log line — unless the
//! config opts out with `scan.none = true`, which cannot be combined with a scanner.

mod common;

use std::time::Duration;

use common::{cli, message, Daemon, Extra};
use quarantd_testkit::{Client, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(20);

async fn one_message(scan: &str) -> (Daemon, serde_json::Value) {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        scan: scan.into(),
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    let reply = client
        .send_message("a@example.org", &["b@example.org"], &message("u1"))
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    client.cmd("QUIT").await.ok();
    daemon.wait_for_log("Message processed.", WAIT).await;
    let event = daemon.events("Message processed.").remove(0);
    (daemon, event)
}

fn scanner_warnings(daemon: &Daemon) -> Vec<String> {
    daemon
        .logs()
        .into_iter()
        .filter(|l| l.contains("No virus scanner configured"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_scanner_the_start_warns_and_every_message_says_unscanned() {
    let (daemon, event) = one_message("").await;
    let warnings = scanner_warnings(&daemon);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning: serde_json::Value = serde_json::from_str(&warnings[0]).unwrap();
    assert_eq!(warning["level"], "WARN", "{warning}");
    for how in ["scan.clamd.address", "[[scan.command]]", "scan.none = true"] {
        assert!(warning.to_string().contains(how), "{how} in {warning}");
    }
    assert_eq!(event["scan"], "unscanned", "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_none_opts_out_of_both() {
    let (daemon, event) = one_message("[scan]\nnone = true\n").await;
    assert!(scanner_warnings(&daemon).is_empty());
    assert!(event.get("scan").is_none(), "{event}");
    assert!(!daemon.logs().iter().any(|l| l.contains("unscanned")));
}

#[test]
fn scan_none_with_a_scanner_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quarantd.toml");
    std::fs::write(
        &path,
        "[scan]\nnone = true\n[scan.clamd]\naddress = \"/run/clamav/clamd.ctl\"\n",
    )
    .unwrap();
    let out = cli(&["config", "check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("scan.none: "), "{}", out.stdout);
}

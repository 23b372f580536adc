//! Decomposition and classification as a user sees them: `quarantd inspect` (tree, JSON,
//! stdin, errors) and `serve` (labels in the verdict header; a message to hold goes to the
//! quarantine, named in the 250).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Daemon, Extra};
use quarantd_testkit::{held_id, Cli, CliOutput, Client, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(20);

fn generated(name: &str) -> PathBuf {
    let dir = std::env::var_os("QUARANTD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    let path = dir.join("generated").join(name);
    assert!(
        path.exists(),
        "corpus file {} missing (set QUARANTD_CORPUS)",
        path.display()
    );
    path
}

/// `quarantd inspect ARGS`, with `stdin` as its standard input.
async fn inspect(args: &[&str], stdin: Option<&[u8]>) -> CliOutput {
    let mut cli = Cli::new(env!("CARGO_BIN_EXE_quarantd"));
    if let Some(bytes) = stdin {
        cli = cli.stdin(bytes);
    }
    let all: Vec<&str> = ["inspect"].iter().chain(args).copied().collect();
    cli.run_async(&all).await
}

#[tokio::test]
async fn inspect_json_names_every_part_and_the_verdict() {
    let file = generated("001_generated__Hello.jar.eml");
    let v = inspect(&["--json", "--no-scan", file.to_str().unwrap()], None)
        .await
        .ok()
        .json();
    assert_eq!(v["action"], "quarantine");
    assert_eq!(v["reasons"], serde_json::json!(["executable"]));
    let parts = v["parts"].as_array().unwrap();
    let class = parts
        .iter()
        .find(|p| p["path"] == "2/Hello.jar/Hello.class")
        .expect("the class file inside the jar");
    assert_eq!(class["labels"], serde_json::json!(["executable"]));
    assert_eq!(class["filename"], "Hello.class");
    assert_eq!(class["detected_type"], "application/java-vm");
    for part in parts {
        for key in [
            "path",
            "filename",
            "declared_type",
            "detected_type",
            "size",
            "sha256",
            "labels",
        ] {
            assert!(part.get(key).is_some(), "part lacks {key}: {part}");
        }
        assert_eq!(part["sha256"].as_str().unwrap().len(), 64);
    }
    let jar = parts.iter().find(|p| p["path"] == "2").unwrap();
    assert_eq!(jar["declared_type"], "application/java-archive");
}

#[tokio::test]
async fn inspect_reads_stdin_and_prints_an_indented_tree() {
    let raw = std::fs::read(generated("009_generated__clean.rar.eml")).unwrap();
    let out = inspect(&["--no-scan", "-"], Some(&raw)).await.ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("(message) "), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  2 application/vnd.rar ")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    2/clean.rar/letter.txt text/plain ")),
        "{out}"
    );
    assert_eq!(*lines.last().unwrap(), "verdict: pass");
}

#[tokio::test]
async fn inspect_refuses_a_missing_file_clearly() {
    let out = inspect(&["/nonexistent/message.eml"], None).await;
    assert_ne!(out.code, 0);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("cannot read /nonexistent/message.eml"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn serve_names_labels_in_the_verdict_header_and_holds_what_must_be_held() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = Daemon::start(sink.addr(), Extra::default()).await;
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();

    let code = b"Subject: code\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: text/x-python; name=\"fit.py\"\r\n\
Content-Disposition: attachment; filename=\"fit.py\"\r\n\r\n#!/usr/bin/env python3\r\nimport numpy\r\nprint(numpy.pi)\r\n--b--\r\n";
    let reply = client
        .send_message("a@example.org", &["b@example.org"], code)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    let got = sink.wait_for_messages(1, WAIT).await;
    let text = String::from_utf8_lossy(&got[0].data);
    assert!(
        text.contains("\r\nX-Quarantd-Verdict: pass (source-code)\r\n"),
        "{text}"
    );

    let exe = std::fs::read(generated("002_generated__INVOICE.PDF.EXE.eml")).unwrap();
    let reply = client
        .send_message("a@example.org", &["b@example.org"], &exe)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    assert!(
        held_id(&reply.text()).is_some() && reply.text().contains("executable"),
        "{reply}"
    );
    let line = daemon
        .wait_for_log("\"verdict\":\"quarantine\"", WAIT)
        .await;
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["outcome"], "quarantine", "{line}");
    let reasons = event["reasons"].as_str().expect("reasons");
    assert!(reasons.split(',').any(|r| r == "executable"), "{line}");
    assert_eq!(sink.messages().len(), 1, "the executable was not delivered");
}

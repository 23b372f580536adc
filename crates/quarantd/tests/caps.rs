//! Connection, time and memory caps (issue 11, B6), against the real daemon: relay
//! connections bounded by `relay.max_connections`, a total deadline for DATA, over-long
//! command lines counted as errors, and one budget for message bytes held in memory.

mod common;

use std::time::Duration;

use common::{message, Daemon, Extra};
use quarantd_testkit::{Client, Sink, SinkConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(30);

async fn client(daemon: &Daemon) -> Client {
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    client
}

async fn open_transaction(c: &mut Client, rcpt: &str) {
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await.unwrap().code, 250);
    let reply = c.cmd(&format!("RCPT TO:<{rcpt}>")).await.unwrap();
    assert_eq!(reply.code, 250, "{reply}");
}

#[tokio::test]
async fn a_transaction_waits_for_a_relay_connection_beyond_the_cap() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        relay: "max_connections = 2",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let (mut a, mut b, mut c) = (
        client(&daemon).await,
        client(&daemon).await,
        client(&daemon).await,
    );
    open_transaction(&mut a, "a@example.org").await;
    open_transaction(&mut b, "b@example.org").await;
    // Both relay connections are in use: the third transaction's MAIL waits for one.
    c.send_raw(b"MAIL FROM:<c@example.org>\r\n").await.unwrap();
    let done = a.data(&message("first")).await.unwrap();
    assert_eq!(done.code, 250, "{done}");
    let mail = c.read_reply().await.unwrap();
    assert_eq!(
        mail.code, 250,
        "the connection the first message freed is handed on: {mail}"
    );
    assert_eq!(c.cmd("RCPT TO:<c@example.org>").await.unwrap().code, 250);
    assert_eq!(c.data(&message("third")).await.unwrap().code, 250);
    assert_eq!(b.data(&message("second")).await.unwrap().code, 250);
    assert_eq!(sink.wait_for_messages(3, WAIT).await.len(), 3);
    assert_eq!(sink.peak_connections(), 2, "never more than the cap");
}

#[tokio::test]
async fn concurrent_messages_never_hold_more_relay_connections_than_the_cap() {
    let sink = Sink::start(SinkConfig {
        data_delay: Some(Duration::from_millis(100)),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let extra = Extra {
        relay: "max_connections = 3",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut sessions = Vec::new();
    for s in 0..8 {
        let addr = daemon.addr;
        sessions.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await.unwrap();
            c.handshake("mx.example.org").await.unwrap();
            let mut codes = Vec::new();
            for m in 0..3 {
                let marker = format!("s{s}m{m}");
                let reply = c
                    .send_message("a@example.org", &["b@example.org"], &message(&marker))
                    .await
                    .unwrap();
                codes.push(reply.code);
            }
            codes
        }));
    }
    for session in sessions {
        assert_eq!(session.await.unwrap(), [250, 250, 250]);
    }
    assert_eq!(sink.wait_for_messages(24, WAIT).await.len(), 24);
    let peak = sink.peak_connections();
    assert!((1..=3).contains(&peak), "peak relay connections {peak}");
}

#[tokio::test]
async fn no_relay_connection_within_the_wait_gives_451_never_250() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        relay: "max_connections = 1\nconnection_wait_secs = 1",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut holder = client(&daemon).await;
    open_transaction(&mut holder, "a@example.org").await;
    let mut late = client(&daemon).await;
    let reply = late.cmd("MAIL FROM:<late@example.org>").await.unwrap();
    assert_eq!(reply.code, 451, "{reply}");
    assert!(reply.text().starts_with("4.4.5"), "{reply}");
    assert_eq!(holder.data(&message("held")).await.unwrap().code, 250);
    assert_eq!(sink.peak_connections(), 1);
}

/// Writes `prefix`, then one byte at a time with `every` in between, until the peer stops
/// reading; returns the first reply line read after the prefix, and whether the connection
/// was closed after it.
async fn trickle(addr: std::net::SocketAddr, prefix: &[u8], every: Duration) -> (String, bool) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    read.read_line(&mut line).await.unwrap(); // greeting
    write.write_all(prefix).await.unwrap();
    let mut replies = Vec::new();
    // EHLO (several lines), MAIL, RCPT, DATA
    while replies.len() < 4 {
        line.clear();
        read.read_line(&mut line).await.unwrap();
        if line.as_bytes().get(3) == Some(&b' ') {
            replies.push(line.clone());
        }
    }
    assert!(replies[3].starts_with("354"), "{replies:?}");
    let writer = tokio::spawn(async move {
        for _ in 0..10_000 {
            if write.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    line.clear();
    tokio::time::timeout(WAIT, read.read_line(&mut line))
        .await
        .expect("a reply before the test gives up")
        .unwrap();
    let mut rest = String::new();
    let closed = tokio::time::timeout(WAIT, read.read_line(&mut rest))
        .await
        .is_ok_and(|n| !matches!(n, Ok(len) if len > 0));
    writer.abort();
    (line, closed)
}

#[tokio::test]
async fn a_client_trickling_message_content_is_cut_off_at_the_data_deadline() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "data_timeout_secs = 300\ndata_deadline_secs = 2",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let prefix =
        b"EHLO mx.example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n";
    let (reply, closed) = trickle(daemon.addr, prefix, Duration::from_millis(200)).await;
    assert!(reply.starts_with("421 4.4.2"), "{reply}");
    assert!(closed, "the connection is closed after the 421");
    daemon.wait_for_log("data_deadline_secs", WAIT).await;
    let txns = sink.wait_for_transactions(1, WAIT).await;
    assert!(sink.messages().is_empty(), "nothing delivered: {txns:?}");
}

#[tokio::test]
async fn over_long_command_lines_count_toward_max_errors() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = Daemon::start(sink.addr(), Extra::default()).await;
    let mut c = client(&daemon).await;
    let long = format!("NOOP {}", "x".repeat(5000));
    let mut codes = Vec::new();
    for _ in 0..30 {
        match c.cmd(&long).await {
            Ok(reply) => codes.push(reply.code),
            Err(_) => break,
        }
    }
    // InboundLimits::max_errors (20) errors are answered, the one after is the last.
    assert_eq!(codes.len(), 21, "{codes:?}");
    assert!(codes[..20].iter().all(|&c| c == 500), "{codes:?}");
    assert_eq!(codes[20], 421, "{codes:?}");
    let eof = c.read_reply().await;
    assert!(eof.is_err(), "closed after the 421: {eof:?}");
}

/// `size` bytes of message content in 998-byte lines, with a header naming `marker`.
fn big_message(marker: &str, size: usize) -> Vec<u8> {
    let mut data = format!("From: a@example.org\r\nSubject: big {marker}\r\n\r\n").into_bytes();
    let line = format!("{}\r\n", &marker.repeat(996 / marker.len() + 1)[..996]);
    while data.len() < size {
        data.extend_from_slice(line.as_bytes());
    }
    data
}

fn spool_files(daemon: &Daemon) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(daemon.data_dir().join("spool")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn a_message_over_the_memory_budget_spills_to_a_private_file_and_arrives_intact() {
    use std::os::unix::fs::PermissionsExt;
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "max_message_size = 4194304\nmax_memory_bytes = 4194304",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    // Two messages of 3 MB in a budget of 4 MiB: whichever comes second spills.
    let mut sessions = [client(&daemon).await, client(&daemon).await];
    let mut sent = Vec::new();
    for (i, c) in sessions.iter_mut().enumerate() {
        open_transaction(c, "b@example.org").await;
        assert_eq!(c.cmd("DATA").await.unwrap().code, 354);
        let data = big_message(&format!("spill{i}"), 3 * 1024 * 1024);
        c.send_raw(&quarantd_testkit::dot_stuff(&data))
            .await
            .unwrap();
        sent.push(data);
    }
    let line = daemon.wait_for_log("spilled to disk", WAIT).await;
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    let path = std::path::PathBuf::from(event["path"].as_str().expect("path in the log"));
    assert_eq!(
        path.parent(),
        Some(daemon.data_dir().join("spool").as_path())
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
    for c in &mut sessions {
        c.send_raw(b".\r\n").await.unwrap();
        let reply = c.read_reply().await.unwrap();
        assert_eq!(reply.code, 250, "{reply}");
    }
    let got = sink.wait_for_messages(2, WAIT).await;
    let mut delivered: Vec<&[u8]> = got
        .iter()
        .map(|m| common::strip_added_headers(&m.data))
        .collect();
    delivered.sort();
    assert!(
        delivered == [&sent[0][..], &sent[1][..]],
        "both arrive byte for byte"
    );
    assert!(!path.exists(), "the spill file is removed");
    assert!(
        spool_files(&daemon).is_empty(),
        "{:?}",
        spool_files(&daemon)
    );
}

#[tokio::test]
async fn concurrent_messages_over_the_memory_budget_all_arrive_intact() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "max_message_size = 2097152\nmax_memory_bytes = 2097152",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut sessions = Vec::new();
    for s in 0..6 {
        let addr = daemon.addr;
        sessions.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await.unwrap();
            c.handshake("mx.example.org").await.unwrap();
            let data = big_message(&format!("m{s}"), 1_500_000);
            let reply = c
                .send_message("a@example.org", &["b@example.org"], &data)
                .await
                .unwrap();
            (reply.code, data)
        }));
    }
    let mut sent = Vec::new();
    for session in sessions {
        let (code, data) = session.await.unwrap();
        assert_eq!(code, 250);
        sent.push(data);
    }
    let got = sink.wait_for_messages(6, WAIT).await;
    let mut delivered: Vec<Vec<u8>> = got
        .iter()
        .map(|m| common::strip_added_headers(&m.data).to_vec())
        .collect();
    delivered.sort();
    sent.sort();
    assert!(delivered == sent, "every message arrives byte for byte");
    assert!(
        !daemon.events("Message content spilled to disk: the memory budget is in use (server.max_memory_bytes).").is_empty(),
        "6 × 1.5 MB in 2 MiB: some were spilled"
    );
    assert!(
        spool_files(&daemon).is_empty(),
        "{:?}",
        spool_files(&daemon)
    );
}

//! No mail is lost: thousands of messages over parallel sessions while the relay randomly
//! answers 4xx at RCPT and after DATA. Every recipient of every message is delivered exactly
//! once when quarantd said 250 to both its RCPT and the DATA, and never otherwise.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Daemon, Extra};
use quarantd_testkit::{Client, Sink, SinkConfig};

const SESSIONS: usize = 20;
const PER_SESSION: usize = 150;
const RCPTS: [&str; 2] = ["alice@example.org", "bob@example.org"];

/// What the client was told about one message.
struct Told {
    rcpt_ok: Vec<bool>,
    final_code: u16,
}

async fn session(addr: std::net::SocketAddr, session: usize) -> Vec<(String, Told)> {
    let mut client = Client::connect(addr).await.unwrap();
    client.handshake("load.example.org").await.unwrap();
    let mut told = Vec::new();
    for i in 0..PER_SESSION {
        let marker = format!("m-{session}-{i}");
        let mail = client.cmd("MAIL FROM:<sender@example.org>").await.unwrap();
        assert_eq!(mail.code, 250, "{mail}");
        let mut rcpt_ok = Vec::new();
        for rcpt in RCPTS {
            let reply = client.cmd(&format!("RCPT TO:<{rcpt}>")).await.unwrap();
            assert!(
                reply.code == 250 || reply.is_transient(),
                "RCPT got neither 250 nor 4xx: {reply}"
            );
            rcpt_ok.push(reply.code == 250);
        }
        let final_code = if rcpt_ok.iter().any(|ok| *ok) {
            let body = format!(
                "Subject: {marker}\r\nMessage-ID: <{marker}@example.org>\r\n\r\n{marker}\r\n"
            );
            client.data(body.as_bytes()).await.unwrap().code
        } else {
            assert_eq!(client.cmd("RSET").await.unwrap().code, 250);
            450
        };
        assert!(
            final_code == 250 || (400..500).contains(&final_code),
            "end of data got {final_code}"
        );
        told.push((
            marker,
            Told {
                rcpt_ok,
                final_code,
            },
        ));
    }
    client.cmd("QUIT").await.unwrap();
    told
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_delivered_exactly_once_or_deferred() {
    let sink = Sink::start(SinkConfig {
        random_tempfail_data: 0.2,
        random_tempfail_rcpt: 0.1,
        seed: 20261127,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let daemon = Daemon::start(sink.addr(), Extra::default()).await;
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|s| tokio::spawn(session(daemon.addr, s)))
        .collect();
    let mut told = Vec::new();
    for task in tasks {
        told.extend(task.await.unwrap());
    }
    assert_eq!(told.len(), SESSIONS * PER_SESSION);

    let accepted = told.iter().filter(|(_, t)| t.final_code == 250).count();
    sink.wait_for_messages(accepted, Duration::from_secs(30))
        .await;
    let mut delivered: HashMap<(String, String), usize> = HashMap::new();
    for m in sink.messages() {
        let text = String::from_utf8_lossy(&m.data);
        let marker = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap()
            .to_string();
        for rcpt in &m.rcpts {
            *delivered.entry((marker.clone(), rcpt.clone())).or_default() += 1;
        }
    }
    let (mut deferred, mut partial) = (0, 0);
    for (marker, t) in &told {
        if t.final_code != 250 {
            deferred += 1;
        } else if t.rcpt_ok.iter().any(|ok| !ok) {
            partial += 1;
        }
        for (rcpt, ok) in RCPTS.iter().zip(&t.rcpt_ok) {
            let copies = delivered
                .get(&(marker.clone(), rcpt.to_string()))
                .copied()
                .unwrap_or(0);
            let expected = usize::from(*ok && t.final_code == 250);
            assert_eq!(
                copies, expected,
                "{marker} to {rcpt}: rcpt ok {ok}, final {}",
                t.final_code
            );
        }
    }
    assert!(
        deferred > 100 && partial > 100,
        "the faults were exercised: {deferred} deferred, {partial} partial"
    );
    eprintln!(
        "{} messages: {accepted} delivered ({partial} to one recipient only), {deferred} deferred",
        told.len()
    );
}

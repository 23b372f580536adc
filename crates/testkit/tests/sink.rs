//! Tests of the testkit itself: `Client` against `Sink`.

use std::time::Duration;

use quarantd_testkit::{wait_until, Client, Outcome, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(10);

async fn connected(sink: &Sink) -> Client {
    let mut c = Client::connect(sink.addr()).await.expect("connect");
    c.handshake("client.test").await.expect("handshake");
    c
}

#[tokio::test]
async fn greeting_and_ehlo_extensions() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = Client::connect(sink.addr()).await.unwrap();
    let greeting = c.read_reply().await.unwrap();
    assert_eq!(greeting.code, 220);
    assert_eq!(greeting.lines, ["testsink ESMTP"]);
    let ehlo = c.cmd("EHLO client.test").await.unwrap();
    assert_eq!(ehlo.code, 250);
    for ext in [
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
        "XFORWARD NAME ADDR PROTO HELO IDENT SOURCE PORT",
    ] {
        assert!(ehlo.lines.iter().any(|l| l == ext), "{ext} missing: {ehlo}");
    }
    assert!(ehlo.lines.iter().any(|l| l.starts_with("SIZE ")));
    assert_eq!(c.cmd("NOOP").await.unwrap().code, 250);
    assert_eq!(c.cmd("VRFY x").await.unwrap().code, 502);
    assert_eq!(c.cmd("RCPT TO:<a@b>").await.unwrap().code, 503);
    assert_eq!(c.cmd("DATA").await.unwrap().code, 503);
    assert_eq!(c.cmd("MAIL FROM:<a@b").await.unwrap().code, 501);
    assert_eq!(c.cmd("QUIT").await.unwrap().code, 221);
    assert_eq!(sink.connections(), 1);
    assert!(sink.transactions().is_empty());
}

#[tokio::test]
async fn ehlo_without_dsn_and_xforward() {
    let sink = Sink::start(SinkConfig {
        advertise_dsn: false,
        advertise_xforward: false,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut c = Client::connect(sink.addr()).await.unwrap();
    let ehlo = c.handshake("client.test").await.unwrap();
    assert!(!ehlo.lines.iter().any(|l| l == "DSN"));
    assert!(!ehlo.lines.iter().any(|l| l.starts_with("XFORWARD")));
    assert!(ehlo.lines.iter().any(|l| l == "PIPELINING"));
    assert_eq!(c.cmd("XFORWARD ADDR=1.2.3.4").await.unwrap().code, 502);
}

#[tokio::test]
async fn dot_stuffing_round_trip_and_8bit() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = connected(&sink).await;
    let mut data: Vec<u8> = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n\
middle . dot\r\n. space\r\n"
        .to_vec();
    data.extend_from_slice(b"8bit: \xe4\xf6\xfc \xff\x00\x80 caf\xc3\xa9\r\n");
    data.extend_from_slice(b"bare\nlf and bare\rcr\r\n.\r\n");
    let reply = c
        .send_message("sender@example.org", &["rcpt@example.org"], &data)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    assert!(reply.lines[0].starts_with("2.0.0 Ok: queued as "));

    let msgs = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.data, data);
    assert_eq!(m.helo, "client.test");
    assert_eq!(m.mail_from, "sender@example.org");
    assert_eq!(m.mail_from_line, "MAIL FROM:<sender@example.org>");
    assert_eq!(m.rcpts, ["rcpt@example.org"]);
    assert_eq!(m.rcpt_lines, ["RCPT TO:<rcpt@example.org>"]);
    assert_eq!(m.connection, 1);
    assert!(reply.lines[0].ends_with(&m.queue_id));

    let t = sink.transactions();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].outcome, Outcome::Accepted);
    assert_eq!(t[0].mail_reply, "250 2.1.0 Ok");
    assert_eq!(
        t[0].rcpt_results,
        [(
            "RCPT TO:<rcpt@example.org>".to_string(),
            "250 2.1.5 Ok".to_string()
        )]
    );
    assert_eq!(t[0].data_reply.as_deref(), Some(reply.to_string().as_str()));
}

#[tokio::test]
async fn raw_dot_unstuffing_and_terminator() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = connected(&sink).await;
    assert_eq!(c.cmd("MAIL FROM:<>").await.unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<a@b>").await.unwrap().code, 250);
    assert_eq!(c.cmd("DATA").await.unwrap().code, 354);
    // "..\r\n" is a stuffed "." line, "\n.\r\n" is not a terminator (no CRLF
    // before the dot), ".x" loses its dot.
    c.send_raw(b"a\r\n..\r\n.x\r\nb\n.\r\nc\r\n.\r\n")
        .await
        .unwrap();
    assert_eq!(c.read_reply().await.unwrap().code, 250);
    let m = &sink.wait_for_messages(1, WAIT).await[0];
    assert_eq!(m.data, b"a\r\n.\r\nx\r\nb\n\r\nc\r\n");
    assert_eq!(m.mail_from, "");
}

#[tokio::test]
async fn empty_message() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = connected(&sink).await;
    let reply = c.send_message("a@b", &["c@d"], b"").await.unwrap();
    assert_eq!(reply.code, 250);
    assert_eq!(sink.wait_for_messages(1, WAIT).await[0].data, b"");
}

#[tokio::test]
async fn pipelined_commands_in_one_write() {
    let sink = Sink::start(SinkConfig {
        rcpt_replies: vec![("bad".into(), "550 5.1.1 no such user".into())],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut c = Client::connect(sink.addr()).await.unwrap();
    assert_eq!(c.read_reply().await.unwrap().code, 220);
    c.send_raw(
        b"EHLO pipe.test\r\nXFORWARD NAME=host.example ADDR=192.0.2.1\r\n\
MAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<b@example.org> NOTIFY=NEVER\r\n\
RCPT TO:<bad@example.org>\r\nRCPT TO:<c@example.org> ORCPT=rfc822;c@example.org\r\nDATA\r\n",
    )
    .await
    .unwrap();
    let codes = [250, 250, 250, 250, 550, 250, 354];
    for code in codes {
        assert_eq!(c.read_reply().await.unwrap().code, code);
    }
    // The message and the next commands in one write as well.
    c.send_raw(b"hello\r\n.\r\nNOOP\r\nRSET\r\nQUIT\r\n")
        .await
        .unwrap();
    for code in [250, 250, 250, 221] {
        assert_eq!(c.read_reply().await.unwrap().code, code);
    }
    let m = &sink.wait_for_messages(1, WAIT).await[0];
    assert_eq!(m.helo, "pipe.test");
    assert_eq!(m.mail_from_line, "MAIL FROM:<a@example.org> BODY=8BITMIME");
    assert_eq!(m.rcpts, ["b@example.org", "c@example.org"]);
    assert_eq!(
        m.rcpt_lines,
        [
            "RCPT TO:<b@example.org> NOTIFY=NEVER",
            "RCPT TO:<c@example.org> ORCPT=rfc822;c@example.org"
        ]
    );
    assert_eq!(m.data, b"hello\r\n");
    let t = &sink.transactions()[0];
    assert_eq!(t.rcpt_results.len(), 3);
    assert_eq!(
        t.rcpt_results[1],
        (
            "RCPT TO:<bad@example.org>".to_string(),
            "550 5.1.1 no such user".to_string()
        )
    );
}

#[tokio::test]
async fn client_pipelined_helper() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = connected(&sink).await;
    let replies = c
        .send_message_pipelined("a@b", &["c@d", "e@f"], b"x\r\n")
        .await
        .unwrap();
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes, [250, 250, 250, 354, 250]);
    assert_eq!(
        sink.wait_for_messages(1, WAIT).await[0].rcpts,
        ["c@d", "e@f"]
    );
}

#[tokio::test]
async fn xforward_recorded_and_reset() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = connected(&sink).await;
    let r = c
        .cmd("XFORWARD NAME=mail.example.com ADDR=192.0.2.7 PORT=4711")
        .await
        .unwrap();
    assert_eq!(r.code, 250);
    assert_eq!(r.lines, ["2.0.0 Ok"]);
    let r = c
        .cmd("XFORWARD proto=ESMTP HELO=[UNAVAILABLE] IDENT=abc SOURCE=REMOTE")
        .await
        .unwrap();
    assert_eq!(r.code, 250);
    assert_eq!(c.cmd("XFORWARD BOGUS=1").await.unwrap().code, 501);
    assert_eq!(c.cmd("XFORWARD").await.unwrap().code, 501);
    assert_eq!(
        c.send_message("a@b", &["c@d"], b"1\r\n")
            .await
            .unwrap()
            .code,
        250
    );
    // Attributes were reset at the end of DATA.
    assert_eq!(
        c.send_message("a@b", &["c@d"], b"2\r\n")
            .await
            .unwrap()
            .code,
        250
    );
    // ... and by RSET.
    assert_eq!(c.cmd("XFORWARD ADDR=198.51.100.1").await.unwrap().code, 250);
    assert_eq!(c.cmd("RSET").await.unwrap().code, 250);
    assert_eq!(
        c.send_message("a@b", &["c@d"], b"3\r\n")
            .await
            .unwrap()
            .code,
        250
    );
    // Not allowed inside a transaction.
    assert_eq!(c.cmd("MAIL FROM:<a@b>").await.unwrap().code, 250);
    assert_eq!(c.cmd("XFORWARD ADDR=198.51.100.1").await.unwrap().code, 503);

    let msgs = sink.wait_for_messages(3, WAIT).await;
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        msgs[0].xforward,
        pairs(&[
            ("NAME", "mail.example.com"),
            ("ADDR", "192.0.2.7"),
            ("PORT", "4711"),
            ("PROTO", "ESMTP"),
            ("HELO", "[UNAVAILABLE]"),
            ("IDENT", "abc"),
            ("SOURCE", "REMOTE"),
        ])
    );
    assert!(msgs[1].xforward.is_empty());
    assert!(msgs[2].xforward.is_empty());
}

#[tokio::test]
async fn rcpt_rules_first_match_wins() {
    let sink = Sink::start(SinkConfig {
        rcpt_replies: vec![
            ("nosuch".into(), "550 5.1.1 no such user".into()),
            ("later".into(), "452 4.2.2 mailbox full".into()),
            ("nosuch-later".into(), "250 never used".into()),
        ],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut c = connected(&sink).await;
    let r = c
        .send_message("a@b", &["nosuch-later@x"], b"x\r\n")
        .await
        .unwrap();
    assert_eq!(r.code, 550);
    assert_eq!(r.lines, ["5.1.1 no such user"]);
    // The transaction is still open, no valid recipients: DATA refused.
    assert_eq!(c.cmd("DATA").await.unwrap().code, 554);
    assert_eq!(c.cmd("RSET").await.unwrap().code, 250);
    let r = c.send_message("a@b", &["later@x"], b"x\r\n").await.unwrap();
    assert_eq!(r.code, 452);
    assert_eq!(c.cmd("RSET").await.unwrap().code, 250);
    let r = c.send_message("a@b", &["ok@x"], b"x\r\n").await.unwrap();
    assert_eq!(r.code, 250);

    let t = sink.wait_for_transactions(3, WAIT).await;
    let outcomes: Vec<Outcome> = t.iter().map(|t| t.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Aborted, Outcome::Aborted, Outcome::Accepted]
    );
    assert_eq!(t[0].rcpt_results[0].1, "550 5.1.1 no such user");
    assert!(t[0].message.rcpts.is_empty());
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn mail_and_data_reply_overrides() {
    let sink = Sink::start(SinkConfig {
        mail_reply: Some("421 4.3.2 go away".into()),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut c = connected(&sink).await;
    let r = c.send_message("a@b", &["c@d"], b"x\r\n").await.unwrap();
    assert_eq!(r.code, 421);
    sink.update_config(|cfg| {
        cfg.mail_reply = None;
        cfg.data_reply = Some("554-5.7.1 rejected\r\n554 5.7.1 really".into());
    });
    let r = c.send_message("a@b", &["c@d"], b"x\r\n").await.unwrap();
    assert_eq!(r.code, 554);
    assert_eq!(r.lines, ["5.7.1 rejected", "5.7.1 really"]);
    sink.update_config(|cfg| cfg.data_reply = Some("250 2.0.0 custom".into()));
    let r = c.send_message("a@b", &["c@d"], b"y\r\n").await.unwrap();
    assert_eq!(r.to_string(), "250 2.0.0 custom");

    let t = sink.wait_for_transactions(3, WAIT).await;
    assert_eq!(t[0].outcome, Outcome::MailRejected);
    assert_eq!(t[0].mail_reply, "421 4.3.2 go away");
    assert_eq!(t[1].outcome, Outcome::DataRejected);
    assert_eq!(t[1].message.data, b"x\r\n");
    assert_eq!(t[2].outcome, Outcome::Accepted);
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].data, b"y\r\n");
}

#[tokio::test]
async fn data_reply_rules_apply_per_transaction_by_recipient() {
    let sink = Sink::start(SinkConfig {
        data_replies: vec![
            ("refuse".into(), "554 5.7.1 not for them".into()),
            ("busy".into(), "452 4.3.1 later".into()),
        ],
        data_reply: Some("250 2.0.0 default".into()),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut c = connected(&sink).await;
    let r = c
        .send_message("a@b", &["ok@d", "refuse@d"], b"x\r\n")
        .await
        .unwrap();
    assert_eq!(r.to_string(), "554 5.7.1 not for them");
    let r = c.send_message("a@b", &["busy@d"], b"x\r\n").await.unwrap();
    assert_eq!(r.code, 452);
    let r = c.send_message("a@b", &["ok@d"], b"y\r\n").await.unwrap();
    assert_eq!(r.to_string(), "250 2.0.0 default");
    let msgs = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].rcpts, ["ok@d"]);
}

async fn tempfail_pattern(seed: u64) -> (Vec<u16>, Vec<u16>) {
    let sink = Sink::start(SinkConfig {
        random_tempfail_data: 0.3,
        random_tempfail_rcpt: 0.2,
        seed,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut c = connected(&sink).await;
    let mut rcpt_codes = Vec::new();
    let mut data_codes = Vec::new();
    for i in 0..100 {
        assert_eq!(c.cmd("MAIL FROM:<a@b>").await.unwrap().code, 250);
        let r = c.cmd(&format!("RCPT TO:<r{i}@x>")).await.unwrap();
        rcpt_codes.push(r.code);
        if r.code == 250 {
            let r = c.data(format!("msg {i}\r\n").as_bytes()).await.unwrap();
            data_codes.push(r.code);
            if r.code == 451 {
                assert_eq!(r.to_string(), "451 4.3.0 random test failure");
            }
        } else {
            assert_eq!(r.to_string(), "451 4.3.0 random test failure");
            assert_eq!(c.cmd("RSET").await.unwrap().code, 250);
        }
    }
    let accepted = data_codes.iter().filter(|&&c| c == 250).count();
    assert_eq!(sink.messages().len(), accepted);
    (rcpt_codes, data_codes)
}

#[tokio::test]
async fn random_tempfail_is_deterministic() {
    let (rcpt_a, data_a) = tempfail_pattern(7).await;
    let (rcpt_b, data_b) = tempfail_pattern(7).await;
    assert_eq!(rcpt_a, rcpt_b);
    assert_eq!(data_a, data_b);
    let rcpt_fails = rcpt_a.iter().filter(|&&c| c == 451).count();
    let data_fails = data_a.iter().filter(|&&c| c == 451).count();
    assert!((5..=40).contains(&rcpt_fails), "{rcpt_fails}");
    assert!((5..=50).contains(&data_fails), "{data_fails}");
    let (rcpt_c, data_c) = tempfail_pattern(8).await;
    assert!(rcpt_a != rcpt_c || data_a != data_c);
}

#[tokio::test]
async fn connection_reuse_and_counting() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = connected(&sink).await;
    for i in 0..5 {
        let r = c
            .send_message("a@b", &["c@d"], format!("m{i}\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(r.code, 250);
    }
    assert_eq!(c.cmd("QUIT").await.unwrap().code, 221);
    let mut c2 = connected(&sink).await;
    assert_eq!(
        c2.send_message("a@b", &["c@d"], b"m5\r\n")
            .await
            .unwrap()
            .code,
        250
    );
    let msgs = sink.wait_for_messages(6, WAIT).await;
    let conns: Vec<usize> = msgs.iter().map(|m| m.connection).collect();
    assert_eq!(conns, [1, 1, 1, 1, 1, 2]);
    assert_eq!(sink.connections(), 2);
    let ids: std::collections::HashSet<_> = msgs.iter().map(|m| m.queue_id.clone()).collect();
    assert_eq!(ids.len(), 6);
}

#[tokio::test]
async fn aborted_transactions_recorded() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = connected(&sink).await;
    assert_eq!(c.cmd("MAIL FROM:<a@b>").await.unwrap().code, 250);
    assert_eq!(c.cmd("RSET").await.unwrap().code, 250);
    assert_eq!(c.cmd("MAIL FROM:<x@y>").await.unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<c@d>").await.unwrap().code, 250);
    assert_eq!(c.cmd("DATA").await.unwrap().code, 354);
    c.send_raw(b"partial\r\nmessage").await.unwrap();
    drop(c);
    let t = sink.wait_for_transactions(2, WAIT).await;
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].outcome, Outcome::Aborted);
    assert_eq!(t[1].outcome, Outcome::Aborted);
    assert_eq!(t[1].message.mail_from, "x@y");
    assert_eq!(t[1].message.data, b"partial\r\nmessage");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn never_answer_data_times_out_client() {
    let sink = Sink::start(SinkConfig {
        never_answer_data: true,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut c = connected(&sink).await;
    c.set_timeout(Duration::from_millis(300));
    let err = c.send_message("a@b", &["c@d"], b"x\r\n").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    let t = sink.wait_for_transactions(1, WAIT).await;
    assert_eq!(t[0].outcome, Outcome::Unanswered);
    assert_eq!(t[0].data_reply, None);
    assert_eq!(t[0].message.data, b"x\r\n");
    assert!(sink.messages().is_empty());
    // Further commands are ignored too.
    let err = c.cmd("NOOP").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn utf8_commands() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut c = connected(&sink).await;
    assert_eq!(
        c.cmd("MAIL FROM:<jörg@bücher.example> SMTPUTF8")
            .await
            .unwrap()
            .code,
        250
    );
    assert_eq!(
        c.cmd("RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>")
            .await
            .unwrap()
            .code,
        250
    );
    assert_eq!(
        c.data("Subject: ü\r\n\r\nü\r\n".as_bytes())
            .await
            .unwrap()
            .code,
        250
    );
    let m = &sink.wait_for_messages(1, WAIT).await[0];
    assert_eq!(m.mail_from, "jörg@bücher.example");
    assert_eq!(m.mail_from_line, "MAIL FROM:<jörg@bücher.example> SMTPUTF8");
    assert_eq!(m.rcpts, ["δοκιμή@παράδειγμα.δοκιμή"]);
}

// Nothing connects, so tokio's paused clock can jump straight to the timeout.
#[tokio::test(start_paused = true)]
async fn wait_for_messages_times_out_with_fewer() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let start = tokio::time::Instant::now();
    let msgs = sink.wait_for_messages(1, Duration::from_millis(200)).await;
    assert!(msgs.is_empty());
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn open_connections_count_until_the_client_has_gone() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let (mut a, b) = (connected(&sink).await, connected(&sink).await);
    assert_eq!(sink.open_connections(), 2);
    a.cmd("QUIT").await.unwrap();
    drop(b);
    assert!(wait_until(WAIT, || sink.open_connections() == 0).await);
    assert_eq!(sink.peak_connections(), 2);
}

#[tokio::test]
async fn stop_closes_listener() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let addr = sink.addr();
    let mut c = connected(&sink).await;
    sink.stop();
    // The open connection is closed...
    let err = c.cmd("NOOP").await;
    assert!(err.is_err(), "{err:?}");
    // ... and nothing listens any more (once the aborted accept loop has been dropped).
    let closed = wait_until(WAIT, || std::net::TcpStream::connect(addr).is_err()).await;
    assert!(closed, "{addr} still accepts connections");
    assert!(Client::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_parallel_connections() {
    const CONNS: usize = 25;
    const PER_CONN: usize = 100;
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let addr = sink.addr();
    let mut tasks = Vec::new();
    for conn in 0..CONNS {
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await.unwrap();
            c.handshake(&format!("c{conn}.test")).await.unwrap();
            for i in 0..PER_CONN {
                let body = format!("Subject: {conn}/{i}\r\n\r\n.body {conn} {i}\r\n");
                let replies = if i % 2 == 0 {
                    vec![c
                        .send_message("a@b", &[&format!("r{conn}@x")], body.as_bytes())
                        .await
                        .unwrap()]
                } else {
                    c.send_message_pipelined("a@b", &[&format!("r{conn}@x")], body.as_bytes())
                        .await
                        .unwrap()
                };
                assert_eq!(replies.last().unwrap().code, 250);
            }
            c.cmd("QUIT").await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let msgs = sink
        .wait_for_messages(CONNS * PER_CONN, Duration::from_secs(30))
        .await;
    assert_eq!(msgs.len(), CONNS * PER_CONN);
    assert_eq!(sink.connections(), CONNS);
    for m in &msgs {
        let helo_conn: usize = m.helo[1..m.helo.len() - 5].parse().unwrap();
        assert_eq!(m.rcpts, [format!("r{helo_conn}@x")]);
        assert!(m
            .data
            .starts_with(format!("Subject: {helo_conn}/").as_bytes()));
        assert!(m.data.windows(7).any(|w| w == b"\r\n.body"));
    }
}

#[tokio::test]
async fn slow_data_replies_and_the_peak_of_messages_in_flight() {
    let sink = Sink::start(SinkConfig {
        data_delay: Some(Duration::from_millis(50)),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    // One client at a time: never more than one message in its data phase.
    let mut c = connected(&sink).await;
    for i in 0..2 {
        let reply = c
            .send_message("a@x.test", &["b@y.test"], format!("m{i}\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(reply.code, 250);
    }
    assert_eq!(sink.peak_data_phases(), 1);
    // Three clients at once, each answered a second after its dot: three at once.
    sink.update_config(|c| c.data_delay = Some(Duration::from_secs(1)));
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(connected(&sink).await);
    }
    let sends = clients.into_iter().map(|mut c| {
        tokio::spawn(async move { c.send_message("a@x.test", &["b@y.test"], b"m\r\n").await })
    });
    for send in sends.collect::<Vec<_>>() {
        assert_eq!(send.await.unwrap().unwrap().code, 250);
    }
    assert_eq!(sink.peak_data_phases(), 3);
    assert_eq!(sink.wait_for_messages(5, WAIT).await.len(), 5);
}

//! The policy service through `quarantd serve`: real policy requests over TCP to the port
//! `[policyd] listen` names, several on one connection as Postfix sends them.

mod common;

use std::time::Duration;

use common::{Daemon, Extra};
use quarantd_testkit::{Sink, SinkConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const LIMIT: usize = 5;

fn request(state: &str, instance: &str) -> String {
    format!(
        "request=smtpd_access_policy\nprotocol_state={state}\nprotocol_name=ESMTP\n\
         client_address=192.0.2.7\nsasl_method=PLAIN\nsasl_username=alice\n\
         sender=alice@example.org\nrecipient=bob@other.test\nrecipient_count=1\n\
         instance={instance}\n\n"
    )
}

/// Sends `request` and reads the answer: `action=...` and the empty line.
async fn ask(conn: &mut BufReader<TcpStream>, request: &str) -> String {
    conn.get_mut().write_all(request.as_bytes()).await.unwrap();
    let mut action = String::new();
    conn.read_line(&mut action).await.unwrap();
    let mut empty = String::new();
    conn.read_line(&mut empty).await.unwrap();
    assert_eq!(empty, "\n", "the answer ends with an empty line");
    action.trim_end().to_string()
}

#[tokio::test]
async fn the_message_over_the_limit_is_deferred_and_a_new_one_refused_at_rcpt() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let policyd = quarantd_testkit::free_addr();
    let extra = Extra {
        scan: format!(
            "[policyd]\nlisten = \"{policyd}\"\n[policyd.classes.person]\n\
             messages_per_hour = {LIMIT}\naction = \"defer\"\n"
        ),
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    daemon
        .wait_for_log("Accepting policy requests.", Duration::from_secs(10))
        .await;
    let mut conn = BufReader::new(TcpStream::connect(policyd).await.unwrap());
    for i in 0..LIMIT {
        let instance = format!("i{i}");
        assert_eq!(
            ask(&mut conn, &request("RCPT", &instance)).await,
            "action=DUNNO"
        );
        assert_eq!(
            ask(&mut conn, &request("END-OF-MESSAGE", &instance)).await,
            "action=DUNNO",
            "message {i}"
        );
    }
    let over = ask(&mut conn, &request("END-OF-MESSAGE", "over")).await;
    assert_eq!(
        over,
        format!("action=DEFER_IF_PERMIT 4.7.1 Sending rate limit reached: at most {LIMIT} messages per hour")
    );
    let mut second = BufReader::new(TcpStream::connect(policyd).await.unwrap());
    let rcpt = ask(&mut second, &request("RCPT", "next")).await;
    assert!(rcpt.starts_with("action=DEFER_IF_PERMIT 4.7.1 "), "{rcpt}");
    // The daemon's log is read from its standard error as it comes: wait for every decision
    // (two per message, the one refused, the RCPT on the second connection).
    let all = 2 * LIMIT + 2;
    let logged = quarantd_testkit::wait_until(Duration::from_secs(10), || {
        daemon.events("Policy decision.").len() >= all
    })
    .await;
    assert!(
        logged,
        "{} decision lines",
        daemon.events("Policy decision.").len()
    );
    let decisions = daemon.events("Policy decision.");
    let last = decisions.last().expect("a decision line");
    assert_eq!(last["sender"], "alice", "{last}");
    assert_eq!(last["class"], "person");
    assert_eq!(last["state"], "RCPT");
    assert_eq!(last["limit"], "messages_per_hour");
    assert_eq!(last["count"], LIMIT as u64);
}

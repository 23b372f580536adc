//! Policy and notifications through `serve` with a real SMTP sink: a message to two domains
//! with different policies is split (delivered to one, held for the other), notifications
//! reach the local recipient and the postmaster (never the external sender), carry the loop
//! headers and a token; the token works through `quarantine request-release --token`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{cli, with_executable, Daemon, Extra};
use quarantd_testkit::{wait_until, Client, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(20);

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn sections(key_file: &Path) -> String {
    format!(
        "[policy]\nlocal_domains = [\"example.org\", \"other.example\"]\nlocal_networks = [\"10.0.0.0/8\"]\n\
         [policy.domains.\"other.example\".inbound]\nexecutable = \"pass\"\n\
         [notify]\nenabled = true\npostmaster = \"postmaster@example.org\"\n\
         token_key_file = \"{}\"\nfirst_backoff_secs = 1\n",
        key_file.display()
    )
}

fn token_in(text: &str) -> String {
    let at = text.find("v1.").expect("a token in the notification");
    text[at..]
        .split(|c: char| c.is_whitespace() || c == '<' || c == '>')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_delivery_hold_and_notifications() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("token.key");
    common::write_private(&key_file, KEY_HEX);
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        scan: sections(&key_file),
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    client
        .cmd("XFORWARD ADDR=192.0.2.9 NAME=bad.example.net")
        .await
        .unwrap();
    let raw = with_executable("s1", "");
    let reply = client
        .send_message("m@example.net", &["b@example.org", "c@other.example"], &raw)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    let id = common::held(&reply);
    assert!(reply.text().contains("delivered to 1"), "{reply}");

    // The delivered copy (only c@other.example) and two notifications (b, postmaster).
    let msgs = sink.wait_for_messages(3, WAIT).await;
    let delivered: Vec<_> = msgs
        .iter()
        .filter(|m| m.mail_from == "m@example.net")
        .collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].rcpts, ["c@other.example"]);
    assert!(delivered[0].data.ends_with(&raw));
    let notes: Vec<_> = msgs.iter().filter(|m| m.mail_from.is_empty()).collect();
    let mut to: Vec<&str> = notes
        .iter()
        .flat_map(|m| m.rcpts.iter().map(String::as_str))
        .collect();
    to.sort();
    assert_eq!(to, ["b@example.org", "postmaster@example.org"]);
    // No backscatter: the external sender gets nothing.
    assert!(msgs
        .iter()
        .all(|m| !m.rcpts.iter().any(|r| r == "m@example.net")));
    let note = notes.iter().find(|m| m.rcpts == ["b@example.org"]).unwrap();
    let body = String::from_utf8_lossy(&note.data).into_owned();
    for needle in [
        "Auto-Submitted: auto-generated",
        "Message-ID: <",
        "Date: ",
        "To: <b@example.org>",
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    let token = token_in(&body);
    let key = quarantd_config::notify::read_key_file(&key_file).unwrap();
    let claims =
        quarantd_release::token::verify(&token, &key, std::time::SystemTime::now()).unwrap();
    assert_eq!(claims.message, id);
    assert_eq!(claims.recipient, "b@example.org");

    // A notification about a notification is never sent (no loop).
    sink.clear();
    let auto = with_executable("s2", "Auto-Submitted: auto-generated\r\n");
    let reply = client
        .send_message("m@example.net", &["b@example.org"], &auto)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    daemon
        .wait_for_log("Notification not sent (loop or list rule).", WAIT)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.messages().is_empty());
    client.cmd("QUIT").await.ok();

    // The store has the direction and the audit log the notifications.
    let store = quarantd_store::sqlite_url(&daemon.data_dir());
    let shown = cli(&["quarantine", "show", &id, "--json", "--store", &store])
        .ok()
        .json();
    assert_eq!(shown["direction"], "inbound", "{shown}");
    let rcpts: Vec<&str> = shown["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(rcpts, ["b@example.org"], "{shown}");
    let mut sent = 0;
    wait_until(WAIT, || {
        let out = cli(&["audit", &id, "--json", "--store", &store]).stdout;
        sent = out.matches("notify-sent").count();
        sent == 2
    })
    .await;
    assert_eq!(sent, 2);

    // The token through the CLI: a config with the key.
    let config = keys.path().join("cli.toml");
    std::fs::write(
        &config,
        format!("[quarantine]\nstore = \"{store}\"\n[notify]\ntoken_key_file = \"token.key\"\n"),
    )
    .unwrap();
    let config = config.display().to_string();
    let rr = |extra: &[&str]| {
        let mut args = vec!["quarantine", "request-release", "--config", &config];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let out = rr(&["--token", &token]).ok().stdout;
    assert!(
        out.contains(&format!("release of {id} requested for b@example.org")),
        "{out}"
    );
    tokens_stay_out_of_the_process_list(&config, &token, &id, &keys.path().join("token.key"));
    // Tampered: one character of the claims changed.
    let mut tampered = token.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    rr(&["--token", &String::from_utf8(tampered).unwrap()]).fails(6, "token refused");
    // Misused: for another message, for another recipient.
    rr(&["someotherid", "--token", &token]).fails(6, "another message");
    rr(&["--token", &token, "--rcpt", "x@example.org"]).fails(6, "another recipient");
    // Expired: issued with the same key, expired a second ago.
    let claims = quarantd_release::token::Claims {
        expires: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 1,
        ..claims
    };
    let expired = quarantd_release::token::issue(&claims, &key);
    rr(&["--token", &expired]).fails(6, "expired");
}

/// `--token -` (standard input) and `--token-file FILE` work like `--token TOKEN` without
/// putting the token into argv (which `ps` shows every local user); an empty input is a usage
/// error; a key file others can read is refused with its path and mode.
fn tokens_stay_out_of_the_process_list(config: &str, token: &str, id: &str, key: &Path) {
    let asked = format!("release of {id} requested for b@example.org");
    let stdin = |input: &str| {
        common::quarantd().stdin(input).run(&[
            "quarantine",
            "request-release",
            "--config",
            config,
            "--token",
            "-",
        ])
    };
    let out = stdin(&format!("{token}\n")).ok().stdout;
    assert!(out.contains(&asked), "{out}");
    stdin("\n").fails(2, "no token in standard input");

    let file = key.with_file_name("token.txt");
    std::fs::write(&file, format!("  {token}\n")).unwrap();
    let file = file.display().to_string();
    let by_file = || {
        cli(&[
            "quarantine",
            "request-release",
            "--config",
            config,
            "--token-file",
            &file,
        ])
    };
    let out = by_file().ok().stdout;
    assert!(out.contains(&asked), "{out}");

    std::fs::set_permissions(key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let err = by_file().fails(1, &key.display().to_string()).stderr;
    assert!(err.contains("0644"), "{err}");
    std::fs::set_permissions(key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

//! Notifications: golden renderings in both languages, overrides, loop/backscatter rules,
//! composition.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use quarantd_notify::{
    suppression, Approvals, Composer, Error, Event, MessageInfo, Notice, Party, Reason,
    ReleaseLink, Suppressed, Templates,
};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares with `tests/golden/NAME`; `UPDATE_GOLDEN=1` rewrites it instead.
fn golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        actual, expected,
        "golden file {name} differs (UPDATE_GOLDEN=1 rewrites)"
    );
}

fn notice() -> Notice {
    Notice {
        message: MessageInfo {
            id: "k3v6q2m7x4c5b7n2p4r6t8w2y4".into(),
            subject: "Rechnung März / invoice".into(),
            from: "Alice Example <alice@remote.test>".into(),
            sender: "alice@remote.test".into(),
            recipients: vec!["bob@example.org".into(), "carol@example.org".into()],
            date: "Tue, 03 Mar 2026 14:05:09 +0000".into(),
            direction: "inbound".into(),
        },
        recipient: Some("bob@example.org".into()),
        reasons: vec![
            Reason {
                part: "2/invoice.zip/invoice.pdf.exe".into(),
                filename: Some("invoice.pdf.exe".into()),
                reason: "executable".into(),
                text: String::new(),
            },
            Reason {
                part: "2/invoice.zip/invoice.pdf.exe".into(),
                filename: Some("invoice.pdf.exe".into()),
                reason: "virus:Win.Trojan.Agent".into(),
                text: String::new(),
            },
        ],
        release: Some(ReleaseLink {
            url: "https://quarantine.example.org/release?token=v1.abc.def".into(),
            token: "v1.abc.def".into(),
            expires: "Tue, 17 Mar 2026 14:05:09 +0000".into(),
        }),
        actor: Some("Dana".into()),
        approvals: Some(Approvals { have: 1, needed: 2 }),
        postmaster: "postmaster@example.org".into(),
        hostname: "mx1.example.org".into(),
    }
}

#[test]
fn every_template_renders_as_its_golden_file_in_both_languages() {
    let templates = Templates::embedded();
    for lang in ["en", "de"] {
        for event in Event::ALL {
            for party in Party::ALL {
                let r = templates.render(event, party, lang, &notice()).unwrap();
                assert_eq!(r.template, format!("{lang}/{event}.{party}.txt"));
                assert!(!r.subject.is_empty() && !r.subject.contains('\n'));
                let text = format!("Subject: {}\n\n{}", r.subject, r.body);
                golden(&format!("{lang}.{event}.{party}.txt"), &text);
            }
        }
        templates.check(lang).unwrap();
    }
}

#[test]
fn release_instructions_without_a_url_quote_the_token_and_without_a_token_the_id() {
    let templates = Templates::embedded();
    let mut n = notice();
    n.release.as_mut().unwrap().url.clear();
    let r = templates
        .render(Event::Quarantined, Party::Recipient, "en", &n)
        .unwrap();
    golden("en.quarantined.recipient.code.txt", &r.body);
    n.release = None;
    let r = templates
        .render(Event::Quarantined, Party::Recipient, "de", &n)
        .unwrap();
    golden("de.quarantined.recipient.no-token.txt", &r.body);
}

#[test]
fn an_override_directory_wins_and_unknown_languages_fall_back_to_english() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("en")).unwrap();
    std::fs::create_dir_all(dir.path().join("de")).unwrap();
    std::fs::create_dir_all(dir.path().join("fr")).unwrap();
    std::fs::write(
        dir.path().join("en/quarantined.recipient.txt"),
        "Subject: Site says: {{ message.subject }}\n\nHeld for {{ recipient }}.\n{% include \"en/_footer.txt\" %}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("de/_footer.txt"), "-- \nIhre IT").unwrap();
    std::fs::write(
        dir.path().join("fr/quarantined.recipient.txt"),
        "Subject: Message retenu\n\n{% for r in reasons %}{{ r.text }}\n{% endfor %}",
    )
    .unwrap();
    let t = Templates::with_overrides(dir.path());
    let r = t
        .render(Event::Quarantined, Party::Recipient, "en", &notice())
        .unwrap();
    assert_eq!(r.subject, "Site says: Rechnung März / invoice");
    assert!(
        r.body
            .starts_with("Held for bob@example.org.\n-- \nThis notification"),
        "{}",
        r.body
    );
    // A partial overridden in one language only.
    let r = t
        .render(Event::Quarantined, Party::Recipient, "de", &notice())
        .unwrap();
    assert!(r.body.ends_with("-- \nIhre IT\n"), "{}", r.body);
    let r = t
        .render(Event::Released, Party::Recipient, "en", &notice())
        .unwrap();
    assert!(r.body.contains("This notification was generated"));
    // A language the site added: its template, reasons in English words (no French map).
    let r = t
        .render(Event::Quarantined, Party::Recipient, "fr", &notice())
        .unwrap();
    assert_eq!(r.subject, "Message retenu");
    assert!(r.body.starts_with("a program that would run"), "{}", r.body);
    // Nothing for this pair in French: English.
    let r = t
        .render(Event::Deleted, Party::Recipient, "fr", &notice())
        .unwrap();
    assert_eq!(r.template, "en/deleted.recipient.txt");
    // Path tricks are not templates.
    let r = t
        .render(Event::Deleted, Party::Recipient, "../en", &notice())
        .unwrap();
    assert_eq!(r.template, "en/deleted.recipient.txt");
}

#[test]
fn broken_override_templates_are_reported_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("en")).unwrap();
    std::fs::write(
        dir.path().join("en/deleted.postmaster.txt"),
        "Subject: x\n\n{% if %}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("en/released.postmaster.txt"),
        "No subject line\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("en/rejected.postmaster.txt"),
        "Subject: {{ nonsense }}\n",
    )
    .unwrap();
    let t = Templates::with_overrides(dir.path());
    for (event, fragment) in [
        (Event::Deleted, "syntax"),
        (Event::Released, "first line must be"),
        (Event::Rejected, "undefined"),
    ] {
        let err = t
            .render(event, Party::Postmaster, "en", &notice())
            .unwrap_err();
        let Error::Template { name, message } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(name, &format!("en/{event}.postmaster.txt"));
        assert!(
            message.to_lowercase().contains(fragment),
            "{event}: {message}"
        );
    }
    assert!(t.check("en").is_err());
}

#[test]
fn no_loops_and_no_mail_to_list_senders() {
    use Party::*;
    let plain = "From: a@remote.test\r\nSubject: hi\r\n\r\nbody\r\n";
    let cases: &[(&str, &str, Party, Option<Suppressed>)] = &[
        (plain, "a@remote.test", Recipient, None),
        (plain, "a@remote.test", SenderInternal, None),
        (plain, "<a@remote.test>", Postmaster, None),
        // Bounces: null sender, for anyone.
        (plain, "", Recipient, Some(Suppressed::NullSender)),
        (plain, "<>", Postmaster, Some(Suppressed::NullSender)),
        // Automatic messages (our own notifications among them).
        (
            "Auto-Submitted: auto-generated\r\n\r\n",
            "x@example.org",
            Postmaster,
            Some(Suppressed::AutoSubmitted),
        ),
        (
            "auto-submitted: Auto-Replied; owner-email=x@y\r\n\r\n",
            "x@example.org",
            Recipient,
            Some(Suppressed::AutoSubmitted),
        ),
        (
            "Auto-Submitted: no\r\n\r\n",
            "x@example.org",
            Recipient,
            None,
        ),
        (
            "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=x\r\n\r\n",
            "mailer@remote.test",
            Recipient,
            Some(Suppressed::Report),
        ),
        (
            "Content-Type:\r\n Multipart/Report; report-type=disposition-notification\r\n\r\n",
            "x@remote.test",
            Postmaster,
            Some(Suppressed::Report),
        ),
        // Lists: never to the sender, the recipient and postmaster still hear.
        (
            "List-Id: <dev.lists.example.org>\r\n\r\n",
            "dev-bounces@lists.example.org",
            SenderInternal,
            Some(Suppressed::ListSender),
        ),
        (
            "List-Id: <dev.lists.example.org>\r\n\r\n",
            "dev-bounces@lists.example.org",
            SenderExternal,
            Some(Suppressed::ListSender),
        ),
        (
            "List-Id: <dev.lists.example.org>\r\n\r\n",
            "dev-bounces@lists.example.org",
            Recipient,
            None,
        ),
        (
            "Precedence: bulk\r\n\r\n",
            "news@remote.test",
            SenderInternal,
            Some(Suppressed::ListSender),
        ),
        (
            "Precedence: junk\n\n",
            "news@remote.test",
            SenderExternal,
            Some(Suppressed::ListSender),
        ),
        (
            "PRECEDENCE: List\r\n\r\n",
            "news@remote.test",
            SenderInternal,
            Some(Suppressed::ListSender),
        ),
        (
            "Precedence: first-class\r\n\r\n",
            "a@remote.test",
            SenderInternal,
            None,
        ),
        // Only the header block counts.
        (
            "Subject: x\r\n\r\nAuto-Submitted: auto-generated\r\n",
            "a@remote.test",
            Recipient,
            None,
        ),
    ];
    for (message, sender, party, expected) in cases {
        assert_eq!(
            suppression(message.as_bytes(), sender, *party),
            *expected,
            "{message:?} {sender} {party}"
        );
    }
}

#[test]
fn a_composed_notification_is_never_notified_about() {
    let t = Templates::embedded();
    let r = t
        .render(Event::Quarantined, Party::Recipient, "en", &notice())
        .unwrap();
    let out = composer()
        .compose(&r, "bob@example.org", UNIX_EPOCH)
        .unwrap();
    for party in Party::ALL {
        assert!(!quarantd_notify::should_notify(
            &out.bytes,
            "postmaster@example.org",
            party
        ));
        assert!(!quarantd_notify::should_notify(
            &out.bytes,
            &out.envelope_from,
            party
        ));
    }
}

fn composer() -> Composer {
    Composer {
        from: "postmaster@example.org".into(),
        from_name: "Mail-Gateway Überwachung".into(),
        envelope_from: String::new(),
        hostname: "mx1.example.org".into(),
    }
}

#[test]
fn composed_mail_has_every_header_and_encodes_what_is_not_ascii() {
    let t = Templates::embedded();
    let r = t
        .render(Event::Quarantined, Party::Recipient, "de", &notice())
        .unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_772_546_709);
    let out = composer().compose(&r, "bob@example.org", now).unwrap();
    assert_eq!(out.envelope_from, "", "null sender");
    assert_eq!(out.to, "bob@example.org");
    let text = String::from_utf8(out.bytes.clone()).unwrap();
    assert!(text.is_ascii());
    assert!(text.lines().all(|l| l.len() <= 78), "{text}");
    assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
    // Message-ID is random: replace it for the golden comparison.
    let (before, rest) = text.split_once("Message-ID: <").unwrap();
    let (id, after) = rest.split_once('>').unwrap();
    assert!(
        id.ends_with(".notify@mx1.example.org") && id.len() > 30,
        "{id}"
    );
    golden(
        "de.quarantined.recipient.eml",
        &format!("{before}Message-ID: <ID>{after}"),
    );
    let other = composer().compose(&r, "bob@example.org", now).unwrap();
    assert_ne!(other.bytes, out.bytes, "Message-IDs differ");

    let plain = quarantd_notify::Rendered {
        subject: "Held: invoice".into(),
        body: "Plain ASCII.\nSecond line.\n".into(),
        template: "t".into(),
    };
    let c = Composer {
        from_name: String::new(),
        envelope_from: "notify@example.org".into(),
        ..composer()
    };
    let text = String::from_utf8(c.compose(&plain, "x@example.org", now).unwrap().bytes).unwrap();
    assert!(text.starts_with("From: <postmaster@example.org>\r\nTo: <x@example.org>\r\nSubject: Held: invoice\r\nDate: Tue, 03 Mar 2026 14:05:09 +0000\r\n"), "{text}");
    assert!(text.contains("\r\nAuto-Submitted: auto-generated\r\n"));
    assert!(text.contains("\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nPlain ASCII.\r\nSecond line.\r\n"), "{text}");
    assert_eq!(
        c.compose(&plain, "x@example.org", now)
            .unwrap()
            .envelope_from,
        "notify@example.org"
    );
}

#[test]
fn header_encoding() {
    use base64::Engine;
    let decode = |s: &str| -> String {
        s.split("\r\n ")
            .map(|w| {
                let b64 = w
                    .strip_prefix("=?utf-8?B?")
                    .unwrap()
                    .strip_suffix("?=")
                    .unwrap();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap(),
                )
                .unwrap()
            })
            .collect()
    };
    let long = "Zurückgehalten: ".to_string() + &"äöü ".repeat(30);
    for text in [
        "Grüße",
        "日本語のテキスト",
        long.trim_end(),
        "=?utf-8?B?x?= looks encoded",
    ] {
        let enc = quarantd_notify::encode_header_text(text, 9);
        assert!(
            enc.split("\r\n ").all(|w| w.len() <= 75 && w.is_ascii()),
            "{enc}"
        );
        assert_eq!(decode(&enc), text);
    }
    let ascii = "word ".repeat(30);
    let enc = quarantd_notify::encode_header_text(ascii.trim_end(), 9);
    assert!(enc.split("\r\n").all(|l| l.len() <= 78), "{enc}");
    assert_eq!(enc.replace("\r\n ", " "), ascii.trim_end());
    // Header injection through a subject is impossible: line breaks are collapsed.
    let enc = quarantd_notify::encode_header_text("Hi\r\nBcc: eve@remote.test", 9);
    assert_eq!(enc, "Hi Bcc: eve@remote.test");
    for bad in [
        "",
        "a b@example.org",
        "a@b\r\nBcc: x",
        "<a@b>",
        "no-at-sign",
    ] {
        let r = quarantd_notify::Rendered {
            subject: "s".into(),
            body: "b".into(),
            template: "t".into(),
        };
        assert!(
            matches!(
                composer().compose(&r, bad, UNIX_EPOCH),
                Err(Error::BadAddress(_))
            ),
            "{bad:?}"
        );
    }
}

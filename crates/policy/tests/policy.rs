//! Table tests of the policy: directions, actions, exceptions, wildcards, many domains,
//! several recipients, config errors.

use std::time::SystemTime;

use quarantd_core::{
    Action, Envelope, Finding, Label, Part, PartPath, Recipient, Verdict, XForward,
};
use quarantd_policy::{
    decide, parties, Direction, Event, Origin, Party, Policy, RawPolicy, Reply, HOLDING_LABELS,
};

fn policy(toml_text: &str) -> Policy {
    raw(toml_text)
        .validate_with(&|_| Ok(String::new()))
        .unwrap()
}

fn raw(toml_text: &str) -> RawPolicy {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        policy: RawPolicy,
    }
    toml::from_str::<File>(toml_text).unwrap().policy
}

fn errors(toml_text: &str) -> Vec<String> {
    raw(toml_text)
        .validate_with(&|p| match p.to_str() {
            Some("bad-domains.txt") => Ok("ok.example\n\nbad domain # comment\n*.\n".into()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            )),
        })
        .unwrap_err()
        .0
        .iter()
        .map(|i| i.to_string())
        .collect()
}

fn envelope(client: Option<&str>, from: &str, rcpts: &[&str]) -> Envelope {
    let mut xforward = XForward::default();
    if let Some(addr) = client {
        xforward.set("ADDR", addr);
    }
    Envelope {
        id: "m1".into(),
        peer: "127.0.0.1:40000".parse().unwrap(),
        helo: "localhost".into(),
        mail_from: from.into(),
        mail_params: Default::default(),
        recipients: rcpts.iter().map(|r| Recipient::plain(*r)).collect(),
        xforward,
        received_at: SystemTime::UNIX_EPOCH,
    }
}

fn part(path: &str, labels: &[Label]) -> Part {
    Part {
        path: PartPath(path.into()),
        filename: None,
        declared_type: None,
        detected_type: None,
        size: 1,
        sha256: String::new(),
        labels: labels.to_vec(),
        unscannable_reason: None,
    }
}

fn virus(name: &str) -> Finding {
    Finding {
        kind: "virus".into(),
        engine: "clamd".into(),
        name: name.into(),
        part: Some(PartPath("2".into())),
    }
}

const SITE: &str = r#"
[policy]
local_domains = ["example.org", "*.example.net"]
local_networks = ["10.0.0.0/8", "2001:db8::/32"]
"#;

#[test]
fn direction_matrix() {
    let p = policy(SITE);
    let inside = Some("10.1.1.1");
    let outside = Some("192.0.2.7");
    // (client, sender, recipient, expected)
    let cases: &[(Option<&str>, &str, &str, Direction)] = &[
        (
            inside,
            "a@example.org",
            "b@example.org",
            Direction::Internal,
        ),
        (
            inside,
            "a@example.org",
            "b@remote.test",
            Direction::Outbound,
        ),
        (inside, "a@remote.test", "b@example.org", Direction::Inbound),
        (inside, "a@remote.test", "b@remote.test", Direction::Inbound),
        (
            outside,
            "a@example.org",
            "b@example.org",
            Direction::Inbound,
        ), // spoofed local sender
        (
            outside,
            "a@example.org",
            "b@remote.test",
            Direction::Inbound,
        ),
        (
            outside,
            "a@remote.test",
            "b@example.org",
            Direction::Inbound,
        ),
        (
            outside,
            "a@remote.test",
            "b@remote.test",
            Direction::Inbound,
        ),
        (inside, "", "b@remote.test", Direction::Inbound), // bounce from inside: not ours
        (None, "a@example.org", "b@remote.test", Direction::Inbound), // no XFORWARD: outside
        (
            Some("IPv6:2001:db8::1"),
            "a@sub.example.net",
            "b@remote.test",
            Direction::Outbound,
        ),
        (
            inside,
            "A@EXAMPLE.ORG",
            "b@Deep.Sub.Example.NET",
            Direction::Internal,
        ),
        (inside, "a@example.net", "b@remote.test", Direction::Inbound), // wildcard excludes apex
    ];
    for (client, from, rcpt, expected) in cases {
        let env = envelope(*client, from, &[rcpt]);
        let d = decide(&p, &env, &[], &[]);
        assert_eq!(d.direction, *expected, "{client:?} {from} → {rcpt}");
        assert_eq!(d.recipients[0].direction, *expected);
    }
}

#[test]
fn local_submission_counts_as_local_origin() {
    let p = policy(SITE);
    let mut env = envelope(None, "a@example.org", &["b@remote.test"]);
    env.xforward.set("ADDR", "[UNAVAILABLE]");
    env.xforward.set("SOURCE", "LOCAL");
    assert_eq!(p.origin(&env.xforward), Origin::Local);
    assert_eq!(decide(&p, &env, &[], &[]).direction, Direction::Outbound);
}

#[test]
fn defaults_reproduce_the_built_in_decision_in_every_direction() {
    let p = Policy::default();
    let p_site = policy(SITE);
    let envs = [
        envelope(Some("192.0.2.1"), "a@remote.test", &["b@example.org"]),
        envelope(Some("10.0.0.1"), "a@example.org", &["b@remote.test"]),
        envelope(Some("10.0.0.1"), "a@example.org", &["b@example.org"]),
    ];
    let all_labels = quarantd_policy::kinds::ALL_LABELS;
    for (i, env) in envs.iter().enumerate() {
        for policy in [&p, &p_site] {
            for label in all_labels {
                let parts = [part("1", &[label])];
                let d = decide(policy, env, &parts, &[]);
                let expected = if HOLDING_LABELS.contains(&label) {
                    Action::Quarantine
                } else {
                    Action::Pass
                };
                assert_eq!(d.verdict().action, expected, "{label} env {i}");
                assert_eq!(d.verdict().reasons, [label.as_str()]);
            }
            let parts = [part("1", &[Label::Executable, Label::SourceCode])];
            let d = decide(policy, env, &parts, &[virus("Eicar-Signature")]);
            // A virus in inbound mail is held silently (the sender is unproven: no 5xx that
            // Postfix would bounce to it); in our own mail it is rejected.
            let virus_action = if d.direction == Direction::Inbound {
                Action::Quarantine
            } else {
                Action::Reject
            };
            assert_eq!(
                d.verdict(),
                &Verdict {
                    action: virus_action,
                    reasons: vec!["executable".into(), "virus:Eicar-Signature".into()],
                },
                "env {i}, {:?}",
                d.direction
            );
            let d = decide(policy, env, &[part("1", &[])], &[]);
            assert_eq!(d.verdict(), &Verdict::pass());
        }
    }
    let d = decide(&p_site, &envs[2], &[], &[virus("X")]);
    assert_eq!(
        d.direction,
        Direction::Internal,
        "internal mail is filtered too"
    );
    assert_eq!(d.verdict().action, Action::Reject);
}

const RULES: &str = r#"
[policy]
local_domains = ["example.org", "lab.test", "*.example.net"]
local_networks = ["10.0.0.0/8"]
subject_tag = "[SUSPICIOUS]"

[policy.default.all]
encrypted = "tag"
other-finding = "quarantine"
[policy.default.outbound]
executable = "reject"
unscannable = "tempfail"

[policy.domains."example.org".internal]
vba-macro = "pass"
[policy.domains."lab.test"]
subject_tag = "[LAB]"
[policy.domains."lab.test".all]
executable = "pass"
script = "tag"
[policy.domains."lab.test".inbound]
encrypted = "quarantine"
[policy.domains."*.example.net".inbound]
double-extension = "reject"
"#;

#[test]
fn action_matrix_with_exceptions() {
    let p = policy(RULES);
    let inside = Some("10.0.0.5");
    let outside = Some("198.51.100.9");
    // (client, sender, recipient, labels, finding kind, expected action)
    type Case<'a> = (
        Option<&'a str>,
        &'a str,
        &'a str,
        &'a [Label],
        Option<&'a str>,
        Action,
    );
    let cases: &[Case] = &[
        // The exception: macros pass in example.org's internal mail only.
        (
            inside,
            "a@example.org",
            "b@example.org",
            &[Label::VbaMacro],
            None,
            Action::Pass,
        ),
        (
            outside,
            "a@remote.test",
            "b@example.org",
            &[Label::VbaMacro],
            None,
            Action::Quarantine,
        ),
        (
            inside,
            "a@example.org",
            "b@remote.test",
            &[Label::VbaMacro],
            None,
            Action::Quarantine,
        ),
        (
            inside,
            "a@lab.test",
            "b@lab.test",
            &[Label::VbaMacro],
            None,
            Action::Quarantine,
        ),
        // Default tables: all → every direction; direction table wins.
        (
            outside,
            "a@remote.test",
            "b@example.org",
            &[Label::Encrypted],
            None,
            Action::Tag,
        ),
        (
            inside,
            "a@example.org",
            "b@remote.test",
            &[Label::Executable],
            None,
            Action::Reject,
        ),
        (
            outside,
            "a@remote.test",
            "b@example.org",
            &[Label::Executable],
            None,
            Action::Quarantine,
        ),
        (
            inside,
            "a@example.org",
            "b@remote.test",
            &[Label::Unscannable],
            None,
            Action::Tempfail,
        ),
        // Domain tables over the default; domain direction over domain all.
        (
            outside,
            "a@remote.test",
            "b@lab.test",
            &[Label::Executable],
            None,
            Action::Pass,
        ),
        (
            outside,
            "a@remote.test",
            "b@lab.test",
            &[Label::Encrypted],
            None,
            Action::Quarantine,
        ),
        (
            inside,
            "a@lab.test",
            "b@lab.test",
            &[Label::Encrypted],
            None,
            Action::Tag,
        ),
        // Outbound uses the sender's domain: lab.test's executable = pass beats default reject.
        (
            inside,
            "a@lab.test",
            "b@remote.test",
            &[Label::Executable],
            None,
            Action::Pass,
        ),
        (
            inside,
            "a@lab.test",
            "b@remote.test",
            &[Label::Unscannable],
            None,
            Action::Tempfail,
        ),
        // Wildcard domain policy.
        (
            outside,
            "a@remote.test",
            "b@x.example.net",
            &[Label::DoubleExtension],
            None,
            Action::Reject,
        ),
        (
            outside,
            "a@remote.test",
            "b@example.org",
            &[Label::DoubleExtension],
            None,
            Action::Pass,
        ),
        // Findings: the built-in virus action is quarantine inbound, reject in our own mail;
        // other kinds use other-finding.
        (
            outside,
            "a@remote.test",
            "b@example.org",
            &[],
            Some("virus"),
            Action::Quarantine,
        ),
        (
            inside,
            "a@example.org",
            "b@remote.test",
            &[],
            Some("virus"),
            Action::Reject,
        ),
        (
            inside,
            "a@example.org",
            "b@example.org",
            &[],
            Some("virus"),
            Action::Reject,
        ),
        (
            outside,
            "a@remote.test",
            "b@example.org",
            &[],
            Some("phishing"),
            Action::Quarantine,
        ),
        // Severity: reject > tempfail > quarantine > tag > pass.
        (
            inside,
            "a@example.org",
            "b@remote.test",
            &[Label::Encrypted, Label::Unscannable, Label::Script],
            None,
            Action::Tempfail,
        ),
        (
            inside,
            "a@example.org",
            "b@remote.test",
            &[Label::Unscannable, Label::Executable],
            None,
            Action::Reject,
        ),
        (
            outside,
            "a@remote.test",
            "b@example.org",
            &[Label::Encrypted, Label::SourceCode],
            None,
            Action::Tag,
        ),
    ];
    for (client, from, rcpt, labels, finding, expected) in cases {
        let env = envelope(*client, from, &[rcpt]);
        let findings: Vec<Finding> = finding
            .iter()
            .map(|k| Finding {
                kind: k.to_string(),
                engine: "e".into(),
                name: "N".into(),
                part: None,
            })
            .collect();
        let d = decide(&p, &env, &[part("1", labels)], &findings);
        assert_eq!(
            d.recipients[0].wanted, *expected,
            "{client:?} {from} → {rcpt} {labels:?} {finding:?}"
        );
    }
}

#[test]
fn tag_carries_the_domains_subject_tag_and_a_header() {
    let p = policy(RULES);
    let env = envelope(
        Some("203.0.113.1"),
        "a@remote.test",
        &["b@example.org", "c@lab.test"],
    );
    let d = decide(&p, &env, &[part("2", &[Label::Script])], &[]);
    // example.org: script → quarantine (default); lab.test: script → tag with [LAB].
    let groups = d.groups();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].verdict.action, Action::Quarantine);
    assert_eq!(groups[0].recipients, ["b@example.org"]);
    assert_eq!(groups[1].verdict.action, Action::Tag);
    assert_eq!(groups[1].subject_tag.as_deref(), Some("[LAB]"));
    assert_eq!(
        groups[1].headers(),
        [("X-Quarantd-Warning".to_string(), "script".to_string())]
    );
    assert_eq!(d.reply(), Reply::Accept);
    let env = envelope(Some("203.0.113.1"), "a@remote.test", &["b@example.org"]);
    let d = decide(&p, &env, &[part("2", &[Label::Encrypted])], &[]);
    assert_eq!(d.recipients[0].subject_tag.as_deref(), Some("[SUSPICIOUS]"));
}

#[test]
fn multi_recipient_outcomes() {
    let p = policy(RULES);
    let outside = Some("198.51.100.9");
    let inside = Some("10.0.0.5");
    // (client, sender, recipients, labels, per-recipient (wanted, carried out), reply)
    type Case<'a> = (
        Option<&'a str>,
        &'a str,
        &'a [&'a str],
        &'a [Label],
        &'a [(Action, Action)],
        &'a str,
    );
    let cases: &[Case] = &[
        // Same outcome for all: one group.
        (
            outside,
            "a@remote.test",
            &["b@example.org", "c@example.org"],
            &[Label::Script],
            &[(Action::Quarantine, Action::Quarantine); 2],
            "accept",
        ),
        // Pass for lab.test, quarantine for example.org: two groups, 250.
        (
            outside,
            "a@remote.test",
            &["b@example.org", "c@lab.test", "d@example.org"],
            &[Label::Executable],
            &[
                (Action::Quarantine, Action::Quarantine),
                (Action::Pass, Action::Pass),
                (Action::Quarantine, Action::Quarantine),
            ],
            "accept",
        ),
        // Reject for some recipients only becomes quarantine.
        (
            inside,
            "a@example.org",
            &["b@remote.test", "c@example.org"],
            &[Label::Executable],
            &[
                (Action::Reject, Action::Quarantine),
                (Action::Quarantine, Action::Quarantine),
            ],
            "accept",
        ),
        (
            outside,
            "a@remote.test",
            &["b@x.example.net", "c@example.org"],
            &[Label::DoubleExtension],
            &[
                (Action::Reject, Action::Quarantine),
                (Action::Pass, Action::Pass),
            ],
            "accept",
        ),
        // Reject for everyone stays reject.
        (
            outside,
            "a@remote.test",
            &["b@x.example.net", "c@y.example.net"],
            &[Label::DoubleExtension],
            &[(Action::Reject, Action::Reject); 2],
            "reject",
        ),
        // Tempfail for one makes the whole message tempfail.
        (
            inside,
            "a@example.org",
            &["b@remote.test", "c@example.org"],
            &[Label::Unscannable],
            &[
                (Action::Tempfail, Action::Tempfail),
                (Action::Quarantine, Action::Tempfail),
            ],
            "tempfail",
        ),
    ];
    for (i, (client, from, rcpts, labels, expected, reply)) in cases.iter().enumerate() {
        let d = decide(
            &p,
            &envelope(*client, from, rcpts),
            &[part("1", labels)],
            &[],
        );
        let got: Vec<(Action, Action)> = d
            .recipients
            .iter()
            .map(|r| (r.wanted, r.verdict.action))
            .collect();
        assert_eq!(got, *expected, "case {i}");
        let got_reply = match d.reply() {
            Reply::Accept => "accept",
            Reply::Reject(_) => "reject",
            Reply::Tempfail(_) => "tempfail",
        };
        assert_eq!(got_reply, *reply, "case {i}");
        let grouped: usize = d.groups().iter().map(|g| g.recipients.len()).sum();
        assert_eq!(grouped, rcpts.len());
    }
    // Groups keep envelope order and gather equal outcomes.
    let d = decide(
        &p,
        &envelope(
            outside,
            "a@remote.test",
            &["b@example.org", "c@lab.test", "d@example.org"],
        ),
        &[part("1", &[Label::Executable])],
        &[],
    );
    let groups = d.groups();
    assert_eq!(groups[0].recipients, ["b@example.org", "d@example.org"]);
    assert_eq!(groups[1].recipients, ["c@lab.test"]);
    assert_eq!(d.verdict().action, Action::Quarantine);
    assert!(!d.is_uniform());
}

#[test]
fn seventy_and_more_local_domains_from_a_file() {
    let mut text = String::from("# local domains\n\n");
    for i in 0..120 {
        text.push_str(&format!("Domain{i}.Example  # customer {i}\n"));
    }
    text.push_str("*.wild.test\n");
    let r = raw("[policy]\nlocal_domains_file = \"/etc/quarantd/local-domains\"\nlocal_domains = [\"listed.test\"]\nlocal_networks = [\"10.0.0.0/8\"]\n");
    let p = r
        .validate_with(&|path| {
            assert_eq!(path.to_str(), Some("/etc/quarantd/local-domains"));
            Ok(text.clone())
        })
        .unwrap();
    assert_eq!(p.local_domains().len(), 122);
    for i in [0, 69, 70, 119] {
        assert!(p.is_local_domain(&format!("domain{i}.example")), "{i}");
    }
    assert!(!p.is_local_domain("domain120.example"));
    assert!(p.is_local_domain("a.wild.test"));
    assert!(p.is_local_domain("listed.test"));
    let env = envelope(
        Some("10.9.9.9"),
        "a@domain5.example",
        &["b@domain77.example", "c@remote.test"],
    );
    let d = decide(&p, &env, &[], &[]);
    let dirs: Vec<Direction> = d.recipients.iter().map(|r| r.direction).collect();
    assert_eq!(dirs, [Direction::Internal, Direction::Outbound]);
    assert_eq!(d.direction, Direction::Outbound);
}

#[test]
fn local_domains_file_through_the_file_system() {
    let dir = std::env::temp_dir().join(format!("quarantd-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("domains");
    std::fs::write(&file, "a.test\nb.test\n").unwrap();
    let r = RawPolicy {
        local_domains_file: Some(file.clone()),
        ..RawPolicy::default()
    };
    let p = r.validate().unwrap();
    assert!(p.is_local_domain("b.test"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_config_error_is_reported_with_its_key_path() {
    let text = r#"
[policy]
local_domains = ["example.org", "bad domain", "*."]
local_domains_file = "bad-domains.txt"
local_networks = ["10.0.0.0/8", "10.0.0.0/33", "bogus"]
subject_tag = "multi\nline"

[policy.default.all]
virsu = "reject"
[policy.default.inbound]
executable = "drop"

[policy.domains."example.org"]
subject_tag = "Ünicode"
[policy.domains."example.org".inbound]
vba-macro = "hold"
[policy.domains."Example.ORG"]
[policy.domains."not a domain"]
[policy.domains."*.example.net".outbound]
spam = "hold"

[policy.reasons.virus]
self_release = true
approvals = 0
[policy.reasons.executable]
retention_days = 0
approvals = 101
[policy.reasons.other-finding]
[policy.reasons.banana]
"#;
    let got = errors(text);
    let expected = [
        r#"policy.local_domains[1]: "bad domain" is not a domain (e.g. example.org or *.example.org)"#,
        r#"policy.local_domains[2]: "*." is not a domain (e.g. example.org or *.example.org)"#,
        r#"policy.local_domains_file: bad-domains.txt line 3: "bad domain" is not a domain (e.g. example.org or *.example.org)"#,
        r#"policy.local_domains_file: bad-domains.txt line 4: "*." is not a domain (e.g. example.org or *.example.org)"#,
        r#"policy.local_networks[1]: "10.0.0.0/33" is not an IP address or network (e.g. 10.0.0.0/8)"#,
        r#"policy.local_networks[2]: "bogus" is not an IP address or network (e.g. 10.0.0.0/8)"#,
        "policy.subject_tag: must be printable ASCII, at most 100 characters",
        "policy.default.all.virsu: unknown label or finding kind \"virsu\" (executable, script, source-code, vba-macro, xlm-macro, dde, ole-object, encrypted, type-mismatch, double-extension, bidi-name, unscannable, path-traversal, virus, other-finding)",
        r#"policy.default.inbound.executable: unknown action "drop" (pass, tag, quarantine, reject, tempfail)"#,
        r#"policy.domains."*.example.net".outbound.spam: unknown label or finding kind "spam" (executable, script, source-code, vba-macro, xlm-macro, dde, ole-object, encrypted, type-mismatch, double-extension, bidi-name, unscannable, path-traversal, virus, other-finding)"#,
        r#"policy.domains."*.example.net".outbound.spam: unknown action "hold" (pass, tag, quarantine, reject, tempfail)"#,
        r#"policy.domains."example.org": "example.org" is configured twice (also as "Example.ORG")"#,
        r#"policy.domains."example.org".subject_tag: must be printable ASCII, at most 100 characters"#,
        r#"policy.domains."example.org".inbound.vba-macro: unknown action "hold" (pass, tag, quarantine, reject, tempfail)"#,
        r#"policy.domains."not a domain": "not a domain" is not a domain (e.g. example.org or *.example.org)"#,
        r#"policy.reasons.banana: unknown reason "banana" (executable, script, source-code, vba-macro, xlm-macro, dde, ole-object, encrypted, type-mismatch, double-extension, bidi-name, unscannable, path-traversal, virus)"#,
        "policy.reasons.executable.retention_days: must be greater than 0",
        "policy.reasons.executable.approvals: must be at most 100",
        r#"policy.reasons.other-finding: unknown reason "other-finding" (executable, script, source-code, vba-macro, xlm-macro, dde, ole-object, encrypted, type-mismatch, double-extension, bidi-name, unscannable, path-traversal, virus)"#,
        "policy.reasons.virus.approvals: must be greater than 0",
        "policy.reasons.virus.self_release: a recipient may never release a virus",
    ];
    assert_eq!(got, expected, "\n{}", got.join("\n"));
}

#[test]
fn missing_domains_file_and_unknown_keys() {
    let got = errors("[policy]\nlocal_domains_file = \"/nonexistent\"\n");
    assert_eq!(
        got,
        ["policy.local_domains_file: cannot read /nonexistent: no such file"]
    );
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct File {
        policy: RawPolicy,
    }
    let err =
        toml::from_str::<File>("[policy.domains.\"a.test\".inbund]\nx = \"pass\"\n").unwrap_err();
    assert!(err.message().contains("inbund"), "{err}");
}

#[test]
fn reason_settings_feed_the_quarantine() {
    let p = policy(
        "[policy.reasons.executable]\nretention_days = 60\napprovals = 3\n[policy.reasons.encrypted]\nself_release = true\n[policy.reasons.virus]\nretention_days = 7\n",
    );
    assert_eq!(
        p.retention_days_per_reason(),
        [("executable".to_string(), 60), ("virus".to_string(), 7)].into()
    );
    assert_eq!(
        p.approvals_per_reason(),
        [("executable".to_string(), 3)].into()
    );
    assert_eq!(p.self_release_reasons(), ["encrypted".to_string()].into());
}

#[test]
fn notification_matrix() {
    use Direction::*;
    use Party::*;
    let table: &[(Event, Direction, &[Party])] = &[
        (Event::Quarantined, Inbound, &[Recipient, Postmaster]),
        (Event::Quarantined, Outbound, &[SenderInternal, Postmaster]),
        (
            Event::Quarantined,
            Internal,
            &[Recipient, SenderInternal, Postmaster],
        ),
        (Event::Rejected, Inbound, &[Recipient, Postmaster]),
        (Event::Rejected, Outbound, &[SenderInternal, Postmaster]),
        (
            Event::Rejected,
            Internal,
            &[Recipient, SenderInternal, Postmaster],
        ),
        (Event::ReleaseRequested, Inbound, &[Recipient, Postmaster]),
        (
            Event::ReleaseRequested,
            Outbound,
            &[SenderInternal, Postmaster],
        ),
        (Event::ReleaseRequested, Internal, &[Recipient, Postmaster]),
        (Event::ApprovalNeeded, Inbound, &[Postmaster]),
        (Event::ApprovalNeeded, Outbound, &[Postmaster]),
        (Event::ApprovalNeeded, Internal, &[Postmaster]),
        (Event::Released, Inbound, &[Recipient]),
        (Event::Released, Outbound, &[SenderInternal]),
        (Event::Released, Internal, &[Recipient, SenderInternal]),
        (Event::Deleted, Inbound, &[Recipient]),
        (Event::Deleted, Outbound, &[SenderInternal]),
        (Event::Deleted, Internal, &[Recipient, SenderInternal]),
    ];
    assert_eq!(table.len(), Event::ALL.len() * Direction::ALL.len());
    for (event, direction, expected) in table {
        assert_eq!(
            parties(*event, *direction),
            *expected,
            "{event} {direction}"
        );
    }
    for event in Event::ALL {
        // No backscatter: the external sender is never in the default matrix; outbound mail
        // never notifies its (external) recipient.
        for direction in Direction::ALL {
            assert!(!parties(event, direction).contains(&SenderExternal));
        }
        assert!(!parties(event, Outbound).contains(&Recipient));
        assert!(!parties(event, Inbound).contains(&SenderInternal));
    }
}

#[test]
fn a_reject_turned_quarantine_keeps_its_reasons_and_the_summary_names_them() {
    let p = policy(RULES);
    let env = envelope(
        Some("198.51.100.9"),
        "a@remote.test",
        &["b@x.example.net", "c@example.org"],
    );
    let labels = [Label::DoubleExtension, Label::Executable];
    let d = decide(&p, &env, &[part("2", &labels)], &[]);
    let got: Vec<(Action, Action, Vec<&str>)> = d
        .recipients
        .iter()
        .map(|r| {
            let reasons = r.verdict.reasons.iter().map(String::as_str).collect();
            (r.wanted, r.verdict.action, reasons)
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Action::Reject,
                Action::Quarantine,
                vec!["executable", "double-extension"]
            ),
            (Action::Quarantine, Action::Quarantine, vec!["executable"]),
        ]
    );
    assert_eq!(d.verdict().action, Action::Quarantine);
    assert_eq!(d.verdict().reasons, ["executable", "double-extension"]);
    assert_eq!(d.reply(), Reply::Accept);
    let groups = d.groups();
    assert_eq!(
        groups.len(),
        1,
        "every held recipient in one stored message"
    );
    assert_eq!(groups[0].recipients, ["b@x.example.net", "c@example.org"]);
    assert_eq!(
        groups[0].verdict.reasons,
        ["executable", "double-extension"]
    );
    assert!(
        d.is_uniform(),
        "one action for everyone: the reasons are merged, not split"
    );
}

/// Issue 11 A1: recipients whose outcomes differ only in their reasons are one outcome. A
/// tempfail (or reject) for every recipient, for different reasons each, used to be split
/// into groups the pipeline did not carry out: 250 and the message was gone.
#[test]
fn recipients_are_grouped_by_action_whatever_their_reasons() {
    let both = [part("2", &[Label::Executable]), part("3", &[Label::Script])];
    let env = || {
        envelope(
            Some("198.51.100.9"),
            "s@remote.test",
            &["u@a.example", "v@b.example"],
        )
    };
    for action in ["tempfail", "reject"] {
        let p = policy(&format!(
            "[policy]\n[policy.default.inbound]\nexecutable = \"{action}\"\nscript = \"{action}\"\n\
             [policy.domains.\"a.example\".inbound]\nscript = \"pass\"\n"
        ));
        let d = decide(&p, &env(), &both, &[]);
        assert_eq!(d.recipients[0].verdict.reasons, ["executable"], "{action}");
        assert_eq!(
            d.recipients[1].verdict.reasons,
            ["executable", "script"],
            "{action}"
        );
        assert!(d.is_uniform(), "{action}: one action for everyone");
        let groups = d.groups();
        assert_eq!(groups.len(), 1, "{action}: {groups:?}");
        assert_eq!(groups[0].recipients, ["u@a.example", "v@b.example"]);
        let merged = Verdict {
            action: quarantd_policy::parse_action(action).unwrap(),
            reasons: vec!["executable".into(), "script".into()],
        };
        assert_eq!(groups[0].verdict, merged, "{action}");
        assert_eq!(d.verdict(), &merged, "{action}");
        let expected = if action == "tempfail" {
            Reply::Tempfail(merged)
        } else {
            Reply::Reject(merged)
        };
        assert_eq!(d.reply(), expected);
    }
    // Tag for both, for different reasons and the same subject tag: one delivery whose
    // warning names every reason; a different subject tag is a delivery of its own.
    let tags = |b_tag: &str| {
        policy(&format!(
            "[policy]\nsubject_tag = \"[X]\"\n[policy.default.inbound]\nexecutable = \"tag\"\nscript = \"tag\"\n\
             [policy.domains.\"a.example\".inbound]\nscript = \"pass\"\n\
             [policy.domains.\"b.example\"]\nsubject_tag = \"{b_tag}\"\n"
        ))
    };
    let d = decide(&tags("[X]"), &env(), &both, &[]);
    assert!(d.is_uniform());
    let groups = d.groups();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(
        groups[0].headers(),
        [(
            "X-Quarantd-Warning".to_string(),
            "executable, script".to_string()
        )]
    );
    let d = decide(&tags("[Y]"), &env(), &both, &[]);
    assert!(!d.is_uniform());
    let groups = d.groups();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(groups[1].subject_tag.as_deref(), Some("[Y]"));
}

/// Issue 11 A9: an inbound virus is held, and nobody outside hears of it — neither a 5xx
/// that Postfix would bounce to the (forged) sender nor a notification to the sender.
#[test]
fn an_inbound_virus_is_held_and_its_sender_is_never_told() {
    for p in [Policy::default(), policy(SITE)] {
        let env = envelope(Some("192.0.2.7"), "a@remote.test", &["b@example.org"]);
        let d = decide(&p, &env, &[part("2", &[])], &[virus("Eicar-Signature")]);
        assert_eq!(d.direction, Direction::Inbound);
        assert_eq!(d.verdict().action, Action::Quarantine);
        assert_eq!(d.reply(), Reply::Accept);
        let told = parties(Event::Quarantined, d.direction);
        assert!(told.iter().all(|p| !p.is_sender()), "{told:?}");
    }
}

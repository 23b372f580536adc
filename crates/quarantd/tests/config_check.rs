//! `quarantd config check` through the binary.

use std::ffi::OsStr;

use quarantd_testkit::Cli;

fn check(config: Option<&std::path::Path>) -> (i32, String, String) {
    let mut args: Vec<&OsStr> = vec!["config".as_ref(), "check".as_ref()];
    if let Some(path) = config {
        args.extend(["--config".as_ref(), path.as_os_str()]);
    }
    let out = Cli::new(env!("CARGO_BIN_EXE_quarantd")).run(&args);
    (out.code, out.stdout, out.stderr)
}

/// The keys `config check` reports for a file that must fail (exit status 1), in order, and
/// its whole standard output and error.
fn failing_keys(path: &std::path::Path) -> (Vec<String>, String, String) {
    let (code, stdout, stderr) = check(Some(path));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let keys = stdout
        .lines()
        .map(|l| l.split(": ").next().unwrap().to_string())
        .collect();
    (keys, stdout, stderr)
}

/// A token key file must be private (0600).
fn private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_broken_file_lists_every_error_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quarantd.toml");
    std::fs::write(
        &path,
        "[server]\nmax_sessions = 0\n\
         [policy]\nlocal_domains = [\"example.org\", \"bad domain\"]\nlocal_domains_file = \"missing.txt\"\n\
         [policy.domains.\"example.org\".internal]\nvba-macro = \"allow\"\n\
         [policy.reasons.virus]\nself_release = true\n\
         [notify]\nenvelope_from = \"a b\"\ntoken_key_file = \"short.key\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("short.key"), "abcd\n").unwrap();
    private(&dir.path().join("short.key"));
    let (keys, stdout, stderr) = failing_keys(&path);
    assert_eq!(
        keys,
        [
            "server.max_sessions",
            "policy.local_domains[1]",
            "policy.local_domains_file",
            "policy.domains.\"example.org\".internal.vba-macro",
            "policy.reasons.virus.self_release",
            "notify.envelope_from",
            "notify.token_key_file",
        ],
        "{stdout}"
    );
    // The domains file is looked for next to the config file.
    assert!(
        stdout.contains(&dir.path().join("missing.txt").display().to_string()),
        "{stdout}"
    );
    assert!(stdout.contains("at least 32"), "{stdout}");
    assert!(stderr.contains("7 error(s)"), "{stderr}");
}

#[test]
fn a_good_file_and_the_defaults_are_ok() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("domains.txt"),
        "example.org\n*.example.net # subs\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("token.key"),
        format!("{}\n", "0f".repeat(32)),
    )
    .unwrap();
    private(&dir.path().join("token.key"));
    let path = dir.path().join("quarantd.toml");
    std::fs::write(
        &path,
        "[policy]\nlocal_domains_file = \"domains.txt\"\n\
         [policy.domains.\"example.org\".internal]\nvba-macro = \"pass\"\n\
         [notify]\nenabled = true\nlanguage = \"de\"\ntoken_key_file = \"token.key\"\n",
    )
    .unwrap();
    const DEFAULT_APPROVALS: &str = "quarantine.approvals: executable=2 (default), virus=2 (default); other reasons 1 (quarantine.default_approvals)\nok\n";
    let (code, stdout, stderr) = check(Some(&path));
    assert_eq!((code, stdout.as_str()), (0, DEFAULT_APPROVALS), "{stderr}");
    let (code, stdout, _) = check(None);
    assert_eq!((code, stdout.as_str()), (0, DEFAULT_APPROVALS));
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../quarantd.example.toml");
    let (code, stdout, _) = check(Some(std::path::Path::new(example)));
    assert_eq!((code, stdout.as_str()), (0, DEFAULT_APPROVALS));
}

#[test]
fn approvals_given_for_one_reason_keep_the_defaults_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quarantd.toml");
    std::fs::write(
        &path,
        "[quarantine]\napprovals = { executable = 3, script = 2 }\n\
         [policy]\n[policy.reasons.vba-macro]\napprovals = 2\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check(Some(&path));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().next().unwrap(),
        "quarantine.approvals: executable=3, script=2, vba-macro=2 (policy.reasons), \
         virus=2 (default); other reasons 1 (quarantine.default_approvals)",
    );
}

#[test]
fn unknown_keys_in_two_sections_and_a_bad_value_are_all_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quarantd.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:10024\"\nmax_sesions = 10\n\
         [relay]\nmax_connections = 0\n\
         [scan.clamd]\nadress = \"/run/clamav/clamd.ctl\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check(Some(&path));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("server.max_sesions: unknown key (expected one of listen, hostname,"),
        "{stdout}"
    );
    assert_eq!(lines[1], "relay.max_connections: must be greater than 0");
    assert_eq!(
        lines[2],
        "scan.clamd.adress: unknown key (expected one of address, max_connections, \
         connect_timeout_secs, timeout_secs, chunk_size, max_stream_size, ping_interval_secs)"
    );
    assert!(stderr.contains("3 error(s)"), "{stderr}");
}

#[test]
fn nested_unknown_keys_are_listed_with_their_full_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quarantd.toml");
    std::fs::write(
        &path,
        "[policy.domains.\"example.org\".inbound]\nexecutable = \"pass\"\n\
         [policy.domains.\"example.org\".inbound_]\nscript = \"pass\"\n\
         [[scan.command]]\nname = \"x\"\ncommand = [\"/bin/x\", \"{}\"]\nvirus_regex = \"(x)\"\n\
         timeout = 5\n",
    )
    .unwrap();
    let (keys, stdout, _) = failing_keys(&path);
    assert_eq!(
        keys,
        [
            "scan.command[0].timeout",
            "policy.domains.\"example.org\".inbound_",
        ],
        "{stdout}"
    );
    assert!(stdout.contains("(expected one of subject_tag, all, inbound, outbound, internal)"));
}

#[test]
fn policyd_errors_are_listed_with_their_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quarantd.toml");
    std::fs::write(
        &path,
        "[policyd]\nlisten = \"127.0.0.1\"\nidle_timout_secs = 5\n\
         [policyd.classes.person]\nmessages_per_hour = 0\naction = \"bounce\"\n\
         [policyd.classes.newsletter]\nsenders = [\"news@example.org\", \"*news@example.org\"]\nmesages_per_hour = 1\n",
    )
    .unwrap();
    let (keys, stdout, _) = failing_keys(&path);
    assert_eq!(
        keys,
        [
            "policyd.idle_timout_secs",
            "policyd.classes.newsletter.mesages_per_hour",
            "policyd.listen",
            "policyd.classes.newsletter.senders[1]",
            "policyd.classes.person.action",
            "policyd.classes.person.messages_per_hour",
        ],
        "{stdout}"
    );
    assert!(stdout.contains("unknown key"), "{stdout}");
}

//! Reading a TOML table into a raw type without stopping at the first problem: every unknown
//! key is reported at its full key path with the keys expected there, and every value of the
//! wrong type at its own key path; both are left out (a value left out keeps its default), so
//! the rest of the file is still read and validated.
//!
//! Which keys a table may have comes from the raw types themselves ([`Schema`]), so a new key
//! or section needs nothing here.

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::check::ConfigIssue;
use crate::schema::{Pattern, Schema, Shape, ANY_KEY, ELEMENT};

/// `table` as a `T`: unknown keys and values of the wrong type are reported into `issues`
/// (in the order of the type's fields) and left out.
pub(crate) fn read<T: DeserializeOwned + Default>(
    table: Table,
    issues: &mut Vec<ConfigIssue>,
) -> T {
    let schema = Schema::of::<T>();
    let mut root = Value::Table(table);
    take_unknown_below(&schema, &mut Vec::new(), &mut Vec::new(), &mut root, issues);
    if let Ok(value) = T::deserialize(root.clone()) {
        return value;
    }
    for path in bad_values::<T>(&schema, &root, issues) {
        remove(&mut root, &path);
    }
    T::deserialize(root).unwrap_or_else(|err| {
        issues.push(ConfigIssue {
            key: "(file)".into(),
            message: err.message().to_string(),
        });
        T::default()
    })
}

/// One step of a key path as the site wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `a.b."c.d"[0].e`: keys quoted where TOML needs it, as `[policy]`'s own report does.
fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&quarantd_policy::config::quote_key(key));
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Removes and reports the keys of `table` (at `at`/`path`) and of every table below it that
/// the schema does not know.
fn take_unknown(
    schema: &Schema,
    at: &mut Pattern,
    path: &mut Vec<Step>,
    table: &mut Table,
    issues: &mut Vec<ConfigIssue>,
) {
    match schema.shape(at) {
        Some(Shape::Table(fields)) => {
            let unknown: Vec<String> = table
                .keys()
                .filter(|k| !fields.contains(&k.as_str()))
                .cloned()
                .collect();
            for key in unknown {
                table.remove(&key);
                path.push(Step::Key(key));
                issues.push(ConfigIssue {
                    key: display(path),
                    message: format!("unknown key (expected one of {})", fields.join(", ")),
                });
                path.pop();
            }
            for field in fields {
                if let Some(value) = table.get_mut(*field) {
                    at.push(field);
                    path.push(Step::Key(field.to_string()));
                    take_unknown_below(schema, at, path, value, issues);
                    path.pop();
                    at.pop();
                }
            }
        }
        Some(Shape::Map) => {
            at.push(ANY_KEY);
            for (key, value) in table.iter_mut() {
                path.push(Step::Key(key.clone()));
                take_unknown_below(schema, at, path, value, issues);
                path.pop();
            }
            at.pop();
        }
        Some(Shape::Array) | None => {}
    }
}

fn take_unknown_below(
    schema: &Schema,
    at: &mut Pattern,
    path: &mut Vec<Step>,
    value: &mut Value,
    issues: &mut Vec<ConfigIssue>,
) {
    match value {
        Value::Table(table) => take_unknown(schema, at, path, table, issues),
        Value::Array(items) if schema.shape(at) == Some(Shape::Array) => {
            at.push(ELEMENT);
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Step::Index(i));
                take_unknown_below(schema, at, path, item, issues);
                path.pop();
            }
            at.pop();
        }
        _ => {}
    }
}

/// A value the schema does not look into: a plain value, an array of plain values, or a
/// value where a table or array belongs.
struct Leaf<'a> {
    at: Pattern,
    path: Vec<Step>,
    value: &'a Value,
}

/// Every leaf of `value` (at `at`/`path`), in the order of the type's fields.
fn leaves<'a>(
    schema: &Schema,
    at: &mut Pattern,
    path: &mut Vec<Step>,
    value: &'a Value,
    out: &mut Vec<Leaf<'a>>,
) {
    match (schema.shape(at), value) {
        (Some(Shape::Table(fields)), Value::Table(table)) => {
            for field in fields {
                if let Some(v) = table.get(*field) {
                    let step = Step::Key(field.to_string());
                    leaves_below(schema, (at, field), (path, step), v, out);
                }
            }
        }
        (Some(Shape::Map), Value::Table(table)) => {
            for (key, v) in table {
                let step = Step::Key(key.clone());
                leaves_below(schema, (at, ANY_KEY), (path, step), v, out);
            }
        }
        (Some(Shape::Array), Value::Array(items)) if schema.shape_below(at).is_some() => {
            for (i, v) in items.iter().enumerate() {
                leaves_below(schema, (at, ELEMENT), (path, Step::Index(i)), v, out);
            }
        }
        _ => out.push(Leaf {
            at: at.clone(),
            path: path.clone(),
            value,
        }),
    }
}

/// [`leaves`] one step further down.
fn leaves_below<'a>(
    schema: &Schema,
    (at, key): (&mut Pattern, &'static str),
    (path, step): (&mut Vec<Step>, Step),
    value: &'a Value,
    out: &mut Vec<Leaf<'a>>,
) {
    at.push(key);
    path.push(step);
    leaves(schema, at, path, value, out);
    path.pop();
    at.pop();
}

/// Reports every leaf of `root` that `T` refuses on its own (all else default), and returns
/// the paths to leave out for them.
fn bad_values<T: DeserializeOwned>(
    schema: &Schema,
    root: &Value,
    issues: &mut Vec<ConfigIssue>,
) -> Vec<Vec<Step>> {
    let mut all = Vec::new();
    leaves(schema, &mut Vec::new(), &mut Vec::new(), root, &mut all);
    let mut bad = Vec::new();
    for leaf in all {
        let message = match schema.shape(&leaf.at) {
            Some(Shape::Table(_) | Shape::Map) => {
                Some(format!("must be a table, not {}", kind(leaf.value)))
            }
            _ => T::deserialize(alone(&leaf.path, leaf.value.clone()))
                .err()
                .map(|err| err.message().to_string()),
        };
        if let Some(message) = message {
            issues.push(ConfigIssue {
                key: display(&leaf.path),
                message,
            });
            bad.push(leaf.path);
        }
    }
    bad
}

/// The TOML name of a value's type, with its article.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// A document with only `value`, at `path` (an array in the path becomes an array of one).
fn alone(path: &[Step], value: Value) -> Value {
    path.iter().rev().fold(value, |inner, step| match step {
        Step::Key(key) => Value::Table(Table::from_iter([(key.clone(), inner)])),
        Step::Index(_) => Value::Array(vec![inner]),
    })
}

/// Removes the value at `path`; a path into an array of plain values removes the whole
/// array, so that the indices the report names stay those of the file.
fn remove(root: &mut Value, path: &[Step]) {
    let Some(end) = path.iter().rposition(|s| matches!(s, Step::Key(_))) else {
        return;
    };
    let mut here = root;
    for step in &path[..end] {
        let next = match (here, step) {
            (Value::Table(table), Step::Key(key)) => table.get_mut(key),
            (Value::Array(items), Step::Index(i)) => items.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else {
            return;
        };
        here = next;
    }
    if let (Value::Table(table), Step::Key(last)) = (here, &path[end]) {
        table.remove(last);
    }
}

/// Sorts `issues` by the position of their section (the first key of the path) in `T`,
/// keeping the order within a section; keys outside every section (`line 3`, an unknown
/// section) come first.
pub(crate) fn by_section<T: DeserializeOwned>(issues: &mut [ConfigIssue]) {
    let sections = Schema::of::<T>().top_level_keys();
    issues.sort_by_key(|issue| {
        let first = issue.key.split(['.', '[']).next().unwrap_or_default();
        sections
            .iter()
            .position(|s| *s == first)
            .map_or(0, |i| i + 1)
    });
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::RawConfig;

    /// The report of `text` as `KEY: message` lines.
    fn report(text: &str) -> Vec<String> {
        match crate::parse(text, "t").and_then(|raw| raw.validate("t")) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .issues
                .iter()
                .map(|i| format!("{}: {}", i.key, i.message))
                .collect(),
        }
    }

    const CLAMD_KEYS: &str = "address, max_connections, connect_timeout_secs, timeout_secs, \
                              chunk_size, max_stream_size, ping_interval_secs";

    #[test]
    fn unknown_keys_in_two_sections_and_a_bad_value_are_all_reported() {
        let got = report(
            "[server]\nmax_sesions = 3\nmax_recipients = 0\n[scan.clamd]\nadress = \"/run/clamd.ctl\"\n",
        );
        assert_eq!(
            got,
            [
                "server.max_sesions: unknown key (expected one of listen, hostname, node_id, \
                 data_dir, allowed_clients, xforward_clients, max_sessions, max_message_size, \
                 max_recipients, max_line_length, command_timeout_secs, data_timeout_secs, \
                 data_deadline_secs, drain_timeout_secs, max_memory_bytes, memory_wait_secs)"
                    .to_string(),
                "server.max_recipients: must be greater than 0".to_string(),
                format!("scan.clamd.adress: unknown key (expected one of {CLAMD_KEYS})"),
            ]
        );
    }

    #[test]
    fn nested_unknown_keys_have_their_full_path() {
        let got = report(
            "[policy.domains.\"example.org\".inbund]\nexecutable = \"pass\"\n\
             [policy.reasons.virus]\naprovals = 3\n\
             [[scan.command]]\nname = \"a\"\ncommand = [\"/bin/a\", \"{}\"]\nvirus_regex = \"(x)\"\n\
             [[scan.command]]\nname = \"b\"\ncommand = [\"/bin/b\", \"{}\"]\nvirus_regex = \"(x)\"\ntimout_secs = 9\n\
             [notify.extra]\nx = 1\n[policy_]\n",
        );
        let keys: Vec<&str> = got.iter().map(|l| l.split(": ").next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "policy_",
                "scan.command[1].timout_secs",
                "policy.domains.\"example.org\".inbund",
                "policy.reasons.virus.aprovals",
                "notify.extra",
            ],
            "{got:#?}"
        );
        assert!(
            got[2].ends_with(
                "unknown key (expected one of subject_tag, all, inbound, outbound, internal)"
            ),
            "{got:#?}"
        );
        assert!(
            got[3]
                .ends_with("unknown key (expected one of retention_days, approvals, self_release)"),
            "{got:#?}"
        );
    }

    #[test]
    fn every_value_of_the_wrong_type_is_reported_at_its_key() {
        let got = report(
            "scan = 5\n[server]\nlisten = 10024\nmax_sessions = \"many\"\nallowed_clients = [\"127.0.0.1\", 8]\n\
             [relay]\nmax_connections = 0\n[log]\nformat = \"xml\"\n\
             [quarantine]\napprovals = { virus = \"two\" }\n",
        );
        assert_eq!(
            got,
            [
                "server.listen: invalid type: integer `10024`, expected a string",
                "server.allowed_clients: invalid type: integer `8`, expected a string",
                "server.max_sessions: invalid type: string \"many\", expected u64",
                "relay.max_connections: must be greater than 0",
                "log.format: unknown variant `xml`, expected `text` or `json`",
                "scan: must be a table, not an integer",
                "quarantine.approvals.virus: invalid type: string \"two\", expected u64",
            ]
        );
    }

    #[test]
    fn a_bad_value_in_an_array_of_tables_keeps_the_indices_of_the_file() {
        let got = report(
            "[[scan.command]]\nname = \"a\"\ncommand = [\"/bin/a\", \"{}\"]\nvirus_regex = \"(x)\"\ntimeout_secs = \"9\"\n\
             [[scan.command]]\nname = \"b\"\ncommand = [\"/bin/b\", \"{}\"]\n",
        );
        assert_eq!(
            got,
            [
                "scan.command[0].timeout_secs: invalid type: string \"9\", expected u64",
                "scan.command[1].virus_regex: must be set (capture group 1, or the whole match, is the virus name)",
            ]
        );
    }

    #[test]
    fn text_that_is_not_toml_is_reported_at_its_line_alone() {
        let err = crate::parse("[server]\nlisten = \"a\"\nmax_sesions = \n", "t").unwrap_err();
        assert_eq!(err.issues.len(), 1, "{err}");
        assert_eq!(err.issues[0].key, "line 3", "{err}");
    }

    #[test]
    fn issues_are_sorted_by_section_in_declaration_order() {
        let issue = |key: &str| ConfigIssue {
            key: key.into(),
            message: String::new(),
        };
        let mut issues = [
            "notify.a",
            "server.b",
            "(file)",
            "scan.command[0].x",
            "server.a",
            "nope",
        ]
        .map(issue);
        by_section::<RawConfig>(&mut issues);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "(file)",
                "nope",
                "server.b",
                "server.a",
                "scan.command[0].x",
                "notify.a"
            ]
        );
    }
}

//! The text log format: logfmt, one event per line.
//!
//! `timestamp=… level=INFO target=quarantd::message message="Message processed." id=…` —
//! the keys of the JSON format, then the event's fields in their order. A value is written
//! as it is unless it is empty or holds a space, `=`, `"` or a control character; then it
//! is quoted, with `\"`, `\\`, `\n`, `\r`, `\t` and `\uXXXX` (other controls, U+2028/2029)
//! escaped, so every line parses back into its keys and values. Spans are not written
//! (quarantd has none).

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The logfmt event and field format of the text log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("timestamp=")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, " level={} target=", meta.level())?;
        write_value(&mut writer, meta.target())?;
        writer.write_char(' ')?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

impl<'writer> FormatFields<'writer> for Logfmt {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut pairs = Pairs {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut pairs);
        pairs.result
    }
}

/// Writes each field as `key=value`, separated by spaces.
struct Pairs<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Pairs<'_> {
    fn pair(&mut self, key: &str, value: &str) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = self
            .writer
            .write_str(separator)
            .and_then(|()| write_key(&mut self.writer, key))
            .and_then(|()| self.writer.write_char('='))
            .and_then(|()| write_value(&mut self.writer, value));
    }
}

impl Visit for Pairs<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.pair(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here too, their `Debug` being their `Display`.
        self.pair(field.name(), &format!("{value:?}"));
    }
}

/// A key is a field name; anything that would end it early becomes `_`.
fn write_key(writer: &mut impl Write, key: &str) -> fmt::Result {
    if key.is_empty() {
        return writer.write_char('_');
    }
    for c in key.chars() {
        writer.write_char(if needs_quotes(c) { '_' } else { c })?;
    }
    Ok(())
}

/// A value as it is, or quoted and escaped when it is empty or holds what would end it.
fn write_value(writer: &mut impl Write, value: &str) -> fmt::Result {
    if !value.is_empty() && !value.chars().any(needs_quotes) {
        return writer.write_str(value);
    }
    writer.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => writer.write_str("\\\"")?,
            '\\' => writer.write_str("\\\\")?,
            '\n' => writer.write_str("\\n")?,
            '\r' => writer.write_str("\\r")?,
            '\t' => writer.write_str("\\t")?,
            c if breaks_lines(c) => write!(writer, "\\u{:04x}", u32::from(c))?,
            c => writer.write_char(c)?,
        }
    }
    writer.write_char('"')
}

fn needs_quotes(c: char) -> bool {
    c == '=' || c == '"' || c.is_whitespace() || breaks_lines(c)
}

/// Characters never written as they are: controls and the Unicode line separators.
fn breaks_lines(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// A tiny logfmt reader: `key=value` and `key="quoted \"value\""` pairs.
    fn parse(line: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut chars = line.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            let mut value = String::new();
            if chars.next_if_eq(&'"').is_some() {
                loop {
                    match chars.next().expect("closing quote") {
                        '"' => break,
                        '\\' => match chars.next().expect("escape") {
                            'n' => value.push('\n'),
                            'r' => value.push('\r'),
                            't' => value.push('\t'),
                            'u' => {
                                let hex: String = chars.by_ref().take(4).collect();
                                let code = u32::from_str_radix(&hex, 16).expect("hex");
                                value.push(char::from_u32(code).expect("char"));
                            }
                            c => value.push(c),
                        },
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != ' ') {
                    value.push(c);
                }
            }
            assert!(
                matches!(chars.next(), Some(' ') | None),
                "pairs are separated by spaces: {line}"
            );
            pairs.push((key, value));
        }
        pairs
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn logged(emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .event_format(Logfmt)
            .fmt_fields(Logfmt)
            .with_writer(move || writer.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn every_value_reads_back_from_its_line() {
        let reply = "250 2.0.0 Ok: held in quarantine as Q1 (executable)";
        let out = logged(|| {
            tracing::info!(
                target: "quarantd::message",
                id = "Q1",
                verdict = %"quarantine",
                reasons = "executable,vba-macro",
                reply = %reply,
                what = "event=quarantined party=recipient",
                quoted = r#"say "hi" \o/"#,
                empty = "",
                lines = "one\r\ntwo\u{2028}three\u{1b}",
                size = 268u64,
                "Message processed."
            );
        });
        let line = out.strip_suffix('\n').expect("one line");
        assert!(!line.contains('\n'), "{line}");
        let pairs = parse(line);
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "level",
                "target",
                "message",
                "id",
                "verdict",
                "reasons",
                "reply",
                "what",
                "quoted",
                "empty",
                "lines",
                "size"
            ]
        );
        let value = |key: &str| pairs.iter().find(|(k, _)| k == key).unwrap().1.as_str();
        assert!(value("timestamp").ends_with('Z'), "{line}");
        assert_eq!(value("level"), "INFO");
        assert_eq!(value("target"), "quarantd::message");
        assert_eq!(value("message"), "Message processed.");
        assert_eq!(value("verdict"), "quarantine");
        assert_eq!(value("reasons"), "executable,vba-macro");
        assert_eq!(value("reply"), reply);
        assert_eq!(value("what"), "event=quarantined party=recipient");
        assert_eq!(value("quoted"), r#"say "hi" \o/"#);
        assert_eq!(value("empty"), "");
        assert_eq!(value("lines"), "one\r\ntwo\u{2028}three\u{1b}");
        assert_eq!(value("size"), "268");
        for plain in [
            "level=INFO ",
            " id=Q1 ",
            " verdict=quarantine ",
            " size=268",
        ] {
            assert!(line.contains(plain), "{plain:?} unquoted in {line}");
        }
        assert!(line.contains(r#" quoted="say \"hi\" \\o/" "#), "{line}");
    }

    #[test]
    fn keys_cannot_end_early() {
        let mut key = String::new();
        write_key(&mut key, "a b=c\"d").unwrap();
        assert_eq!(key, "a_b_c_d");
    }
}

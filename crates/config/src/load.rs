//! The TOML stage: a file or text into [`RawConfig`].

use std::path::Path;

use crate::check::{ConfigErrors, ConfigIssue};
use crate::settings::RawConfig;

/// Reads and parses a file ([`parse`]); `None` means embedded defaults.
pub fn load(path: Option<&Path>) -> Result<RawConfig, ConfigErrors> {
    let Some(path) = path else {
        return Ok(RawConfig::default());
    };
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ConfigErrors {
        source: source.clone(),
        issues: vec![ConfigIssue {
            key: "(file)".into(),
            message: format!("cannot read: {err}"),
        }],
    })?;
    let mut raw = parse(&text, &source)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    raw.resolve_paths(base);
    Ok(raw)
}

/// Parses TOML text into the raw form. Fails only on text that is not TOML (at its line);
/// unknown keys and values of the wrong type are left out and kept with the raw form, for
/// [`RawConfig::validate`] to report with every other problem.
pub fn parse(text: &str, source: &str) -> Result<RawConfig, ConfigErrors> {
    let table = text.parse::<toml::Table>().map_err(|err| ConfigErrors {
        source: source.to_string(),
        issues: vec![ConfigIssue {
            key: toml_error_key(text, &err),
            message: err.message().to_string(),
        }],
    })?;
    let mut reading = Vec::new();
    let raw: RawConfig = crate::keys::read(table, &mut reading);
    Ok(raw.with_reading_issues(reading))
}

fn toml_error_key(text: &str, err: &toml::de::Error) -> String {
    match err.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        }
        None => "(file)".into(),
    }
}

//! The TOML stage: a file or text into [`RawConfig`].

use std::path::Path;

use crate::check::{ConfigErrors, ConfigIssue};
use crate::settings::RawConfig;

/// Reads and parses a file; `None` means embedded defaults.
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

/// Parses TOML text into the raw form.
pub fn parse(text: &str, source: &str) -> Result<RawConfig, ConfigErrors> {
    toml::from_str(text).map_err(|err| ConfigErrors {
        source: source.to_string(),
        issues: vec![ConfigIssue {
            key: toml_error_key(text, &err),
            message: err.message().to_string(),
        }],
    })
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

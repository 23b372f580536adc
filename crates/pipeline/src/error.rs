//! How errors are written into log lines: with their whole source chain ([`chain`]).

use std::error::Error as StdError;

/// `err` and its sources as one line, `outer: inner: innermost`, for log fields. A source
/// whose text its parent already ends with (errors that print their cause themselves) is
/// not repeated.
pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(source) = next {
        let part = source.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that prints its cause itself, as `quarantd_store::Error` does.
    #[derive(Debug, thiserror::Error)]
    #[error("quarantine database unavailable during store message: {source}")]
    struct Unavailable {
        source: std::io::Error,
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        let store = Unavailable {
            source: std::io::Error::other("connection refused"),
        };
        let err = quarantd_core::HoldError::transient(store);
        assert_eq!(
            chain(&err),
            "quarantine store failed: quarantine database unavailable during store message: connection refused"
        );
    }
}

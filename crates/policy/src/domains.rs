//! Domain names: normalising, matching exact names and `*.` wildcards, and domain list files.

use std::collections::HashSet;

/// The domain of an address (`user@Example.ORG` → `example.org`), lower case, without a
/// trailing dot; `None` for the null sender and addresses without `@`.
pub fn domain_of(address: &str) -> Option<String> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    (!domain.is_empty()).then(|| domain.to_lowercase())
}

/// Checks and normalises a domain or a `*.domain` pattern: lower case, no trailing dot,
/// labels of letters, digits, `-`, `_` or non-ASCII (IDN) characters.
pub(crate) fn normalise_pattern(pattern: &str) -> Result<String, String> {
    let trimmed = pattern.trim();
    let lower = trimmed.strip_suffix('.').unwrap_or(trimmed).to_lowercase();
    let name = lower.strip_prefix("*.").unwrap_or(&lower);
    if name.is_empty() {
        return Err(format!(
            "{pattern:?} is not a domain (e.g. example.org or *.example.org)"
        ));
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    };
    if name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!(
            "{pattern:?} is not a domain (e.g. example.org or *.example.org)"
        ));
    }
    Ok(lower)
}

/// A set of domains given by exact names and wildcards.
///
/// `*.example.org` matches every subdomain of `example.org` (`a.example.org`,
/// `b.a.example.org`) but not `example.org` itself: list both when both are meant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainSet {
    exact: HashSet<String>,
    /// Suffixes with their leading dot (`.example.org`).
    wildcards: Vec<String>,
}

impl DomainSet {
    /// Adds a normalised pattern (see [`normalise_pattern`]).
    pub(crate) fn insert(&mut self, pattern: String) {
        match pattern.strip_prefix('*') {
            Some(suffix) => {
                if !self.wildcards.iter().any(|w| w == suffix) {
                    self.wildcards.push(suffix.to_string());
                }
            }
            None => {
                self.exact.insert(pattern);
            }
        }
    }

    /// True when `domain` (any case) is in the set.
    pub fn contains(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_lowercase();
        self.exact.contains(&domain) || self.wildcards.iter().any(|w| domain.ends_with(w.as_str()))
    }

    /// Number of exact names and wildcards.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcards.len()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses the text of a domain list file: one domain or `*.domain` per line; blank lines and
/// everything after `#` are ignored. Returns the patterns, normalised, or every bad line as
/// `(line number, message)`.
pub fn parse_domain_list(text: &str) -> Result<Vec<String>, Vec<(usize, String)>> {
    let mut domains = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match normalise_pattern(line) {
            Ok(domain) => domains.push(domain),
            Err(message) => errors.push((i + 1, message)),
        }
    }
    if errors.is_empty() {
        Ok(domains)
    } else {
        Err(errors)
    }
}

/// Values keyed by domain pattern, found by exact name first, then by the longest matching
/// wildcard.
#[derive(Debug, Clone)]
pub(crate) struct DomainMap<T> {
    exact: std::collections::HashMap<String, T>,
    /// `(suffix with leading dot, value)`, longest suffix first.
    wildcards: Vec<(String, T)>,
}

impl<T> Default for DomainMap<T> {
    fn default() -> Self {
        DomainMap {
            exact: Default::default(),
            wildcards: Vec::new(),
        }
    }
}

impl<T> DomainMap<T> {
    pub(crate) fn insert(&mut self, pattern: String, value: T) {
        match pattern.strip_prefix('*') {
            Some(suffix) => {
                self.wildcards.push((suffix.to_string(), value));
                self.wildcards
                    .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
            }
            None => {
                self.exact.insert(pattern, value);
            }
        }
    }

    pub(crate) fn get(&self, domain: &str) -> Option<&T> {
        self.exact.get(domain).or_else(|| {
            self.wildcards
                .iter()
                .find(|(suffix, _)| domain.ends_with(suffix.as_str()))
                .map(|(_, v)| v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_of_addresses() {
        let cases = [
            ("user@Example.ORG", Some("example.org")),
            ("<user@example.org.>", Some("example.org")),
            ("\"a@b\"@example.net", Some("example.net")),
            ("", None),
            ("postmaster", None),
            ("user@", None),
        ];
        for (address, domain) in cases {
            assert_eq!(domain_of(address).as_deref(), domain, "{address}");
        }
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let mut set = DomainSet::default();
        set.insert(normalise_pattern("*.Example.org").unwrap());
        set.insert(normalise_pattern("example.net").unwrap());
        assert!(set.contains("a.example.org"));
        assert!(set.contains("b.A.example.org."));
        assert!(!set.contains("example.org"));
        assert!(!set.contains("badexample.org"));
        assert!(set.contains("EXAMPLE.NET"));
        assert!(!set.contains("a.example.net"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "",
            "*.",
            "a..b",
            "user@example.org",
            "exa mple.org",
            "*",
            "-.org..",
        ] {
            assert!(normalise_pattern(bad).is_err(), "{bad:?}");
        }
        assert_eq!(normalise_pattern(" Bücher.DE. ").unwrap(), "bücher.de");
    }

    #[test]
    fn domain_map_prefers_exact_then_longest_wildcard() {
        let mut map = DomainMap::default();
        map.insert("*.example.org".to_string(), 1);
        map.insert("*.sales.example.org".to_string(), 2);
        map.insert("x.sales.example.org".to_string(), 3);
        assert_eq!(map.get("a.example.org"), Some(&1));
        assert_eq!(map.get("a.sales.example.org"), Some(&2));
        assert_eq!(map.get("x.sales.example.org"), Some(&3));
        assert_eq!(map.get("example.org"), None);
    }
}

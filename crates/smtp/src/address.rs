//! Mailbox addresses on the wire: `smtp-proto` hands over a quoted local part without its
//! quotes (`"john doe"@example.org` → `john doe@example.org`), so an address is quoted again
//! when it is sent, or the relay would read another address (or refuse it).

use std::borrow::Cow;

/// `address` as it goes between `<` and `>` in `MAIL FROM`/`RCPT TO`: unchanged when its local
/// part is a dot-string (RFC 5321 4.1.2; RFC 6531 UTF-8 allowed), otherwise with the local part
/// as a quoted string (`"` and `\` escaped).
pub(crate) fn to_wire(address: &str) -> Cow<'_, str> {
    let (local, domain) = match address.rsplit_once('@') {
        Some((local, domain)) => (local, Some(domain)),
        None => (address, None),
    };
    let local = quote_if_needed(local);
    match domain {
        // An address with an `@` keeps it, even with nothing after it.
        Some(domain) => Cow::Owned(format!("{local}@{domain}")),
        None => local,
    }
}

fn quote_if_needed(local: &str) -> Cow<'_, str> {
    if local.is_empty() || is_dot_string(local) {
        return Cow::Borrowed(local);
    }
    let mut quoted = String::with_capacity(local.len() + 2);
    quoted.push('"');
    for c in local.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    Cow::Owned(quoted)
}

/// `atom *("." atom)`: no leading, trailing or doubled dot, atext characters only.
fn is_dot_string(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || !c.is_ascii() && !c.is_control()
}

#[cfg(test)]
mod tests {
    use super::to_wire;

    #[test]
    fn dot_strings_stay_and_the_rest_is_quoted() {
        let cases = [
            ("", ""),
            ("postmaster", "postmaster"),
            ("a.b+c@example.org", "a.b+c@example.org"),
            ("jøran@bløbær.example", "jøran@bløbær.example"),
            ("quoted local@example.net", "\"quoted local\"@example.net"),
            ("a..b@x", "\"a..b\"@x"),
            (".a@x", "\".a\"@x"),
            ("a\"b\\c@x", "\"a\\\"b\\\\c\"@x"),
            ("x@y@example.org", "\"x@y\"@example.org"),
            ("b@", "b@"),
            ("a b@", "\"a b\"@"),
        ];
        for (address, wire) in cases {
            assert_eq!(to_wire(address), wire, "{address}");
        }
    }
}

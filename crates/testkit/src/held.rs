//! The quarantine id in quarantd's answer to a message it held.

/// What the reply says before the id: `250 2.0.0 Ok: held in quarantine as ID (reasons)`,
/// and in a split delivery `... held in quarantine as ID for N (reasons)`.
const HELD_AS: &str = "held in quarantine as ";

/// The quarantine id named in `reply` (a reply's text, or a log line quoting it); `None`
/// when it names none (the message was not held).
pub fn held_id(reply: &str) -> Option<String> {
    let (_, rest) = reply.split_once(HELD_AS)?;
    let id: String = rest
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::held_id;

    #[test]
    fn the_id_of_every_reply_that_names_one() {
        for (reply, id) in [
            (
                "2.0.0 Ok: held in quarantine as q1abc (executable)",
                Some("q1abc"),
            ),
            ("250 2.0.0 Ok: held in quarantine as Q1", Some("Q1")),
            (
                "2.0.0 Ok: delivered to 1, held in quarantine as x7 for 1 (executable)",
                Some("x7"),
            ),
            ("2.0.0 Ok: queued as T000000001", None),
            ("2.0.0 Ok: held in quarantine as (executable)", None),
            ("", None),
        ] {
            assert_eq!(held_id(reply).as_deref(), id, "{reply:?}");
        }
    }
}

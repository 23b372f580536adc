//! Parsers of the command line's values (`--since`, `--status`, `--after`), for clap.

use quarantd_release::store::{Cursor, MessageStatus};

/// `--status`: one of the stored statuses.
pub fn parse_status(s: &str) -> Result<MessageStatus, String> {
    MessageStatus::parse(s.trim()).ok_or_else(|| {
        let all: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

/// `--after`: a cursor as printed by `list`.
pub fn parse_cursor(s: &str) -> Result<Cursor, String> {
    s.trim()
        .parse::<Cursor>()
        .map_err(|_| "expected a cursor as printed by `list` (MILLIS.ID)".to_string())
}

/// `--since`/`--until` as Unix milliseconds: an age (`30s`, `15m`, `2h`, `3d`, `1w`: that long
/// ago), a date `YYYY-MM-DD` (00:00 UTC), or RFC 3339 `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`
/// or `±HH:MM` (UTC when the offset is left out; a space may replace the `T`).
pub fn parse_time(s: &str) -> Result<i64, String> {
    parse_time_at(s, quarantd_release::store::now_ms())
}

fn parse_time_at(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    let bad = || {
        format!("{s:?}: expected an age like 2h or 3d, a date YYYY-MM-DD, or RFC 3339 like 2025-07-01T10:00:00Z")
    };
    if let Some(unit) = s.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let digits = &s[..s.len() - 1];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && s.len() < 12 {
            let n: i64 = digits.parse().map_err(|_| bad())?;
            let secs: i64 = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(bad()),
            };
            let ago = n
                .checked_mul(secs * 1000)
                .ok_or_else(|| format!("{s:?}: too long ago"))?;
            return Ok(now.saturating_sub(ago));
        }
    }
    // Extended format only (`2025-07-01`, not `20250701`), as documented.
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let utc = |dt: jiff::civil::DateTime| {
        jiff::tz::TimeZone::UTC
            .to_timestamp(dt)
            .map(|t| t.as_millisecond())
            .map_err(|_| bad())
    };
    if b.len() == 10 {
        let date: jiff::civil::Date = s.parse().map_err(|_| bad())?;
        return utc(date.to_datetime(jiff::civil::Time::midnight()));
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
        return Err(bad());
    }
    // With `Z` or `±HH:MM` an instant; without an offset a civil time in UTC. The offset is
    // looked at here, so that jiff's civil parser never drops one silently.
    let zone = &s[s.len().min(16)..];
    let has_offset = zone.ends_with(['Z', 'z'])
        || zone.rfind(['+', '-']).is_some_and(|at| {
            let offset = &zone.as_bytes()[at + 1..];
            offset.len() == 5 && offset[2] == b':'
        });
    if has_offset {
        return s
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| bad());
    }
    if zone.contains(['+', '-']) {
        return Err(bad());
    }
    utc(s.parse().map_err(|_| bad())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_release::store::format_time;

    #[test]
    fn times_parse_in_every_documented_form() {
        let now = 1_751_364_000_000; // 2025-07-01T10:00:00Z
        assert_eq!(format_time(now), "2025-07-01T10:00:00Z");
        let cases: &[(&str, i64)] = &[
            ("2h", now - 2 * 3_600_000),
            ("3d", now - 3 * 86_400_000),
            ("1w", now - 7 * 86_400_000),
            ("90s", now - 90_000),
            ("15m", now - 900_000),
            ("2025-07-01", now - 10 * 3_600_000),
            ("2025-07-01T10:00:00Z", now),
            ("2025-07-01T12:00:00+02:00", now),
            ("2025-07-01 10:00", now),
            ("2025-07-01T10:00:00.250Z", now + 250),
            ("2025-07-01t05:30:00-04:30", now),
            ("1970-01-01", 0),
            ("2024-02-29", 1_709_164_800_000),
        ];
        for (input, want) in cases {
            assert_eq!(parse_time_at(input, now), Ok(*want), "{input}");
        }
        for bad in [
            "",
            "yesterday",
            "2h ago",
            "5y",
            "2025-13-01",
            "2025-02-30",
            "2025-07-01T25:00",
            "2025-07-01T10:00+2",
            "20250701",
            "-3d",
            "2025-07-01T10",
            "2025-07-01T10:00:00+0200",
        ] {
            assert!(parse_time_at(bad, now).is_err(), "{bad:?} must be refused");
        }
    }
}

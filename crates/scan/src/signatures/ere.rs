//! clamd's regular-expression dialect for archive-member names (the name field of a `.cdb`
//! signature), parsed sans-IO.
//!
//! clamd compiles that field with `cli_regcomp(…, REG_EXTENDED | REG_NOSUB)`: Henry Spencer's
//! POSIX *extended* regular expressions (the BSD `regcomp` ClamAV carries in
//! `libclamav/regex/`), matched against the raw bytes of the member's name, with one
//! extension — a leading `(?i)` makes the whole expression case-insensitive. Measured with
//! ClamAV 1.4.6 (Debian 12): `(?i)^INV[0-9]+\.exe$` detects `inv123.exe`; `inv\d+\.exe`
//! detects `invddd.exe` and not `inv123.exe` (`\d` is a plain `d`); `^b[\.]x$` detects
//! `b\x` (a backslash inside brackets is a backslash); `^r.\.pdf$` misses `rä.pdf` (`.` is
//! one byte); and a line with `ab*?` makes clamd refuse to load its *whole* database
//! ("Database reload failed, keeping the previous instance").
//!
//! So Perl or Rust syntax is either silently something else or breaks every signature.
//! [`parse`] accepts exactly the subset both read alike — literals, `\` before punctuation,
//! `.`, bracket expressions with ranges, groups, `|`, `^`, `$`, `*`, `+`, `?`, `{m}`, `{m,}`,
//! `{m,n}` (n ≤ 255), and a leading `(?i)` — and refuses everything else with what to write
//! instead. (POSIX classes such as `[[:digit:]]` are refused too: their `:` is the field
//! separator of a `.cdb` line, and clamd refuses a file with a malformed line.) [`Ere::is_match`] matches a name the way clamd does (bytes,
//! ASCII case folding), and [`Ere::sample`] derives a name the expression must match, for
//! proving a new signature through clamd.

use std::fmt;

/// Most nested groups accepted.
pub const MAX_DEPTH: usize = 32;
/// Largest repetition bound (`RE_DUP_MAX` of clamd's regcomp).
pub const MAX_BOUND: u32 = 255;
/// Longest sample name derived.
pub const MAX_SAMPLE_LEN: usize = 1024;
/// The prefix clamd's `cli_regcomp` reads as "case-insensitive".
const CASE_PREFIX: &str = "(?i)";
/// Characters a derived sample prefers, in order.
const SAMPLE_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-.~+=@#";

/// Why an expression is refused: the byte offset and the reason, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EreError {
    /// Byte offset in the expression as given.
    pub at: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for EreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.at, self.message)
    }
}

impl std::error::Error for EreError {}

/// A parsed member-name expression in clamd's dialect.
#[derive(Debug, Clone)]
pub struct Ere {
    case_insensitive: bool,
    branches: Vec<Branch>,
    matcher: regex::bytes::Regex,
}

type Branch = Vec<Piece>;

#[derive(Debug, Clone)]
struct Piece {
    atom: Atom,
    min: u32,
    max: Option<u32>,
}

#[derive(Debug, Clone)]
enum Atom {
    Byte(u8),
    Any,
    Set(Set),
    Group(Vec<Branch>),
    Start,
    End,
}

#[derive(Debug, Clone)]
struct Set {
    negated: bool,
    items: Vec<SetItem>,
}

#[derive(Debug, Clone)]
enum SetItem {
    Byte(u8),
    Range(u8, u8),
}

/// Parses `text` as clamd reads a `.cdb` name regex; refuses what clamd reads differently
/// from Perl/Rust syntax or cannot compile.
pub fn parse(text: &str) -> Result<Ere, EreError> {
    let (case_insensitive, body, offset) = match text.strip_prefix(CASE_PREFIX) {
        Some(rest) => (true, rest, CASE_PREFIX.len()),
        None => (false, text, 0),
    };
    if body.is_empty() {
        return Err(EreError {
            at: offset,
            message: "the expression is empty".into(),
        });
    }
    let mut parser = Parser {
        text: body.as_bytes(),
        pos: 0,
        offset,
        depth: 0,
    };
    let branches = parser.alternation(false)?;
    let matcher = compile(case_insensitive, &branches).map_err(|e| EreError {
        at: 0,
        message: match e {
            regex::Error::CompiledTooBig(_) => {
                "too large once its repetitions are expanded: simplify it".to_string()
            }
            other => format!("cannot be matched here: {other}"),
        },
    })?;
    Ok(Ere {
        case_insensitive,
        branches,
        matcher,
    })
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    /// Bytes before `text` in the expression as given (a stripped `(?i)`).
    offset: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.pos + ahead).copied()
    }

    fn fail<T>(&self, at: usize, message: impl Into<String>) -> Result<T, EreError> {
        Err(EreError {
            at: self.offset + at,
            message: message.into(),
        })
    }

    /// Branches separated by `|`, up to the end or (in a group) a `)`.
    fn alternation(&mut self, in_group: bool) -> Result<Vec<Branch>, EreError> {
        let mut branches = Vec::new();
        loop {
            let start = self.pos;
            let branch = self.branch()?;
            if branch.is_empty() {
                return self.fail(
                    start,
                    "an empty alternative (`|` at the start or end, `||`, or `()`) is an error \
                     for clamd: remove it",
                );
            }
            branches.push(branch);
            match self.peek() {
                Some(b'|') => self.pos += 1,
                Some(b')') if in_group => return Ok(branches),
                Some(b')') => {
                    return self.fail(self.pos, "unmatched `)`: write `\\)` for a parenthesis")
                }
                _ => return Ok(branches),
            }
        }
    }

    fn branch(&mut self) -> Result<Branch, EreError> {
        let mut pieces = Vec::new();
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                break;
            }
            let at = self.pos;
            let atoms = self.atom()?;
            let multibyte = atoms.len() > 1;
            let quantifier = self.quantifier()?;
            for atom in atoms {
                pieces.push(Piece {
                    atom,
                    min: 1,
                    max: Some(1),
                });
            }
            if let Some((min, max)) = quantifier {
                self.check_repeatable(at, multibyte, pieces.last())?;
                if let Some(last) = pieces.last_mut() {
                    last.min = min;
                    last.max = max;
                }
            }
        }
        Ok(pieces)
    }

    fn check_repeatable(
        &self,
        at: usize,
        multibyte: bool,
        piece: Option<&Piece>,
    ) -> Result<(), EreError> {
        if multibyte {
            return self.fail(
                at,
                "a repetition after a non-ASCII character repeats only its last byte in clamd's \
                 regex: put the character in a group, e.g. `(ä)+`",
            );
        }
        if matches!(piece.map(|p| &p.atom), Some(Atom::Start) | Some(Atom::End)) {
            return self.fail(at, "`^` and `$` cannot be repeated");
        }
        Ok(())
    }

    /// One atom; a non-ASCII character is several byte atoms.
    fn atom(&mut self) -> Result<Vec<Atom>, EreError> {
        let at = self.pos;
        let c = self.text[at];
        self.pos += 1;
        let atom =
            match c {
                b'(' => self.group(at)?,
                b'[' => Atom::Set(self.bracket(at)?),
                b'\\' => self.escape(at)?,
                b'.' => Atom::Any,
                b'^' => Atom::Start,
                b'$' => Atom::End,
                b'*' | b'+' | b'?' => {
                    return self.fail(
                        at,
                        format!(
                        "`{}` has nothing to repeat here (start, after `(`, `|` or `^`): clamd \
                         refuses it; write `\\{}` for the character",
                        c as char, c as char
                    ),
                    )
                }
                b'{' => return self.fail(
                    at,
                    "a `{` that does not follow something to repeat: write `\\{` for the character",
                ),
                c if c >= 0x80 => return Ok(self.non_ascii(at)),
                c if c.is_ascii_control() => {
                    return self.fail(at, "control characters cannot be in a member name regex")
                }
                c => Atom::Byte(c),
            };
        Ok(vec![atom])
    }

    fn non_ascii(&mut self, at: usize) -> Vec<Atom> {
        let len = utf8_len(self.text[at]);
        let end = (at + len).min(self.text.len());
        self.pos = end;
        self.text[at..end].iter().map(|&b| Atom::Byte(b)).collect()
    }

    fn group(&mut self, at: usize) -> Result<Atom, EreError> {
        if self.peek() == Some(b'?') {
            return self.fail(at, inline_construct(&self.text[at..]));
        }
        if self.depth >= MAX_DEPTH {
            return self.fail(at, format!("more than {MAX_DEPTH} nested groups"));
        }
        self.depth += 1;
        let branches = self.alternation(true)?;
        self.depth -= 1;
        if self.peek() != Some(b')') {
            return self.fail(at, "unclosed `(`: write `\\(` for a parenthesis");
        }
        self.pos += 1;
        Ok(Atom::Group(branches))
    }

    fn escape(&mut self, at: usize) -> Result<Atom, EreError> {
        let Some(c) = self.peek() else {
            return self.fail(at, "a `\\` at the end escapes nothing: clamd refuses it");
        };
        if let Some(message) = escape_problem(c) {
            return self.fail(at, message);
        }
        self.pos += 1;
        Ok(Atom::Byte(c))
    }

    /// `*`, `+`, `?` or a bound after an atom, if any; refuses lazy, possessive and stacked
    /// repetitions and bounds clamd reads differently.
    fn quantifier(&mut self) -> Result<Option<(u32, Option<u32>)>, EreError> {
        let at = self.pos;
        let found = match self.peek() {
            Some(b'*') => (0, None),
            Some(b'+') => (1, None),
            Some(b'?') => (0, Some(1)),
            Some(b'{') => {
                self.pos += 1;
                return self.bound(at).map(Some);
            }
            _ => return Ok(None),
        };
        self.pos += 1;
        self.no_second_repetition(at)?;
        Ok(Some(found))
    }

    fn no_second_repetition(&self, first: usize) -> Result<(), EreError> {
        let message = match self.peek() {
            Some(b'?') => {
                "lazy repetitions (`*?`, `+?`, `??`, `{m,n}?`) do not exist in POSIX regexes and \
                 make clamd refuse its whole database: drop the `?` (a name matches or not, \
                 laziness changes nothing)"
            }
            Some(b'+') => {
                "possessive repetitions (`*+`, `++`, `?+`) do not exist in POSIX regexes: drop \
                 the second `+`"
            }
            Some(b'*') => "two repetitions in a row are an error for clamd: keep one",
            Some(b'{') if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                "two repetitions in a row are an error for clamd: keep one"
            }
            _ => return Ok(()),
        };
        self.fail(first, message)
    }

    /// `{m}`, `{m,}` or `{m,n}` (the `{` eaten).
    fn bound(&mut self, at: usize) -> Result<(u32, Option<u32>), EreError> {
        let shape = "a repetition bound is `{m}`, `{m,}` or `{m,n}` with m ≤ n ≤ 255 (write `\\{` \
                     for the character; `{,n}` is `{0,n}`)";
        let Some(min) = self.number() else {
            return self.fail(at, shape);
        };
        let max = if self.peek() == Some(b',') {
            self.pos += 1;
            if self.peek() == Some(b'}') {
                None
            } else {
                match self.number() {
                    Some(max) => Some(max),
                    None => return self.fail(at, shape),
                }
            }
        } else {
            Some(min)
        };
        if self.peek() != Some(b'}') || max.is_some_and(|max| max < min) {
            return self.fail(at, shape);
        }
        if min > MAX_BOUND || max.is_some_and(|max| max > MAX_BOUND) {
            return self.fail(at, format!("clamd's bounds go up to {MAX_BOUND}"));
        }
        self.pos += 1;
        self.no_second_repetition(at)?;
        Ok((min, max))
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) && self.pos - start < 4 {
            self.pos += 1;
        }
        std::str::from_utf8(&self.text[start..self.pos])
            .ok()?
            .parse()
            .ok()
    }

    /// A bracket expression (the `[` eaten at `at`).
    fn bracket(&mut self, at: usize) -> Result<Set, EreError> {
        let negated = self.peek() == Some(b'^');
        if negated {
            self.pos += 1;
        }
        let mut items = Vec::new();
        if let Some(c @ (b']' | b'-')) = self.peek() {
            items.push(SetItem::Byte(c));
            self.pos += 1;
        }
        loop {
            let item_at = self.pos;
            match (self.peek(), self.peek_at(1)) {
                (None, _) => return self.fail(at, "unclosed `[`: write `\\[` for the character"),
                (Some(b']'), _) => break,
                (Some(b'-'), Some(b']')) => {
                    items.push(SetItem::Byte(b'-'));
                    self.pos += 1;
                }
                (Some(b'-'), _) => {
                    return self.fail(
                        item_at,
                        "a `-` inside `[ ]` must come first or last, or join a range like `a-z`",
                    )
                }
                (Some(b'['), Some(b':')) => items.push(self.class(item_at)?),
                (Some(b'['), Some(b'=' | b'.')) => {
                    return self.fail(
                        item_at,
                        "equivalence classes and collating symbols (`[=a=]`, `[.a.]`) are not \
                         accepted here: list the characters",
                    )
                }
                (Some(b'&'), Some(b'&')) => {
                    return self.fail(
                        item_at,
                        "`&&` inside `[ ]` is two `&` characters for clamd (no set \
                         operations): list the characters",
                    )
                }
                (Some(b'\\'), next) => {
                    return self.fail(item_at, bracket_backslash(next));
                }
                (Some(c), _) if c >= 0x80 => {
                    return self.fail(
                        item_at,
                        "non-ASCII characters inside `[ ]` are separate bytes for clamd: write \
                         alternatives instead, e.g. `(ä|ö)`",
                    )
                }
                (Some(c), _) if c.is_ascii_control() => {
                    return self.fail(
                        item_at,
                        "control characters cannot be in a member name regex",
                    )
                }
                (Some(c), _) => items.push(self.range_or_byte(c)?),
            }
        }
        self.pos += 1;
        Ok(Set { negated, items })
    }

    fn range_or_byte(&mut self, first: u8) -> Result<SetItem, EreError> {
        let at = self.pos;
        self.pos += 1;
        let is_range = self.peek() == Some(b'-') && self.peek_at(1).is_some_and(|c| c != b']');
        if !is_range {
            return Ok(SetItem::Byte(first));
        }
        let last = self.peek_at(1).unwrap_or(b']');
        if last == b'[' || last == b'\\' || last >= 0x80 || last.is_ascii_control() {
            return self.fail(at, "a range inside `[ ]` ends in a plain ASCII character");
        }
        if last < first {
            return self.fail(
                at,
                format!(
                    "the range `{}-{}` runs backwards: clamd refuses it",
                    first as char, last as char
                ),
            );
        }
        self.pos += 2;
        Ok(SetItem::Range(first, last))
    }

    /// `[:name:]` inside brackets (at `at`, the `[`): POSIX allows it, but its `:` is the
    /// field separator of a `.cdb` line, so clamd would read the line as malformed and load
    /// none of its signatures.
    fn class(&self, at: usize) -> Result<SetItem, EreError> {
        let rest = &self.text[at + 2..];
        let name = rest
            .windows(2)
            .position(|w| w == b":]")
            .and_then(|end| std::str::from_utf8(&rest[..end]).ok())
            .unwrap_or("");
        let instead =
            match name {
                "<" | ">" => return self.fail(
                    at,
                    "word boundaries do not exist in clamd's regex: anchor with `^` and `$` or \
                     spell out the neighbouring characters",
                ),
                "digit" => "`0-9`",
                "alpha" => "`A-Za-z`",
                "alnum" => "`A-Za-z0-9`",
                "upper" => "`A-Z`",
                "lower" => "`a-z`",
                "xdigit" => "`0-9A-Fa-f`",
                "space" | "blank" => "a space",
                _ => "the characters themselves",
            };
        self.fail(
            at,
            format!(
                "classes like `[:{name}:]` contain `:`, the field separator of .cdb lines \
                 (clamd would refuse the file): write {instead} inside the brackets"
            ),
        )
    }
}

/// Length of the UTF-8 sequence starting with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

/// What `(?…` means in Perl/Rust and what to write for clamd.
fn inline_construct(rest: &[u8]) -> String {
    let what = |prefix: &[u8]| rest.starts_with(prefix);
    if what(b"(?i)") {
        "`(?i)` is read by clamd only at the very start of the expression: move it there, or \
         write each letter as a bracket, e.g. `[Ii][Nn][Vv]`"
            .into()
    } else if what(b"(?:") {
        "non-capturing groups `(?:…)` are an error for clamd: write a plain group `(…)`".into()
    } else if what(b"(?=") || what(b"(?!") || what(b"(?<=") || what(b"(?<!") {
        "lookahead and lookbehind do not exist in clamd's regex: match the whole name instead \
         and anchor it with `^` and `$`"
            .into()
    } else if what(b"(?P<") || what(b"(?<") {
        "named groups are an error for clamd: write a plain group `(…)`".into()
    } else {
        "inline flags `(?…)` are an error for clamd (only a leading `(?i)` is understood, for \
         case-insensitive matching): write the expression without them"
            .into()
    }
}

/// Why `\c` (outside brackets) cannot be given to clamd, if it cannot.
fn escape_problem(c: u8) -> Option<String> {
    let hint = match c {
        b'd' => "`\\d` is a plain `d` for clamd: write `[0-9]`",
        b'D' => "`\\D` is a plain `D` for clamd: write `[^0-9]`",
        b'w' => "`\\w` is a plain `w` for clamd: write `[A-Za-z0-9_]`",
        b'W' => "`\\W` is a plain `W` for clamd: write `[^A-Za-z0-9_]`",
        b's' => "`\\s` is a plain `s` for clamd: write a space, or `[ ]`",
        b'S' => "`\\S` is a plain `S` for clamd: write `[^ ]`",
        b'b' | b'B' | b'<' | b'>' => {
            "word boundaries do not exist in clamd's regex: anchor with `^` and `$` or spell \
             out the neighbouring characters"
        }
        b'A' => "`\\A` is a plain `A` for clamd: write `^`",
        b'z' | b'Z' => "`\\z` is a plain letter for clamd: write `$`",
        b'1'..=b'9' => "back-references do not exist in clamd's regex (POSIX extended)",
        b'x' | b'u' | b'U' => {
            "`\\x`/`\\u` escapes are plain letters for clamd: write the character itself"
        }
        b'p' | b'P' => "Unicode classes (`\\p{…}`) do not exist in clamd's regex: use `[ ]`",
        b'n' | b't' | b'r' | b'f' | b'v' | b'e' | b'a' | b'0' => {
            "member names have no control characters; `\\n`, `\\t` and the like are plain \
             letters for clamd"
        }
        c if c.is_ascii_alphanumeric() => {
            return Some(format!(
                "`\\{0}` is a plain `{0}` for clamd: write `{0}` (escape only punctuation, e.g. \
                 `\\.`)",
                c as char
            ))
        }
        c if c >= 0x80 => "write a non-ASCII character without `\\`",
        c if c.is_ascii_control() => "control characters cannot be in a member name regex",
        _ => return None,
    };
    Some(hint.to_string())
}

/// What a `\` inside brackets means for clamd and what to write.
fn bracket_backslash(next: Option<u8>) -> String {
    let instead = match next {
        Some(b'd') => " (`[\\d]` → `[0-9]`)",
        Some(b'w') => " (`[\\w]` → `[A-Za-z0-9_]`)",
        Some(b's') => " (`[\\s]` → `[ ]`)",
        Some(b'.') => " (`[\\.]` → `[.]`)",
        _ => "",
    };
    format!(
        "inside `[ ]` a backslash is a plain backslash for clamd: write the characters \
         themselves{instead}; put `]` first (`[]a]`) and `-` last (`[a-]`)"
    )
}

impl Ere {
    /// True when clamd, given this expression, matches a member named `name`.
    pub fn is_match(&self, name: &[u8]) -> bool {
        self.matcher.is_match(name)
    }

    /// A member name this expression matches, derived from it (the shortest repetitions,
    /// the first alternative, a plain character from each class; letters in the other case
    /// under `(?i)`, so a proof exercises it). `None` when no sample can be derived (`^`/`$`
    /// inside the expression, an empty or over-long result): give one.
    pub fn sample(&self) -> Option<String> {
        self.branches.iter().find_map(|branch| {
            let mut out = Vec::new();
            self.derive_branch(branch, true, &mut out)?;
            let sample = String::from_utf8(out).ok()?;
            (!sample.is_empty() && self.is_match(sample.as_bytes())).then_some(sample)
        })
    }

    fn derive_branch(&self, branch: &Branch, top: bool, out: &mut Vec<u8>) -> Option<()> {
        for (i, piece) in branch.iter().enumerate() {
            match piece.atom {
                Atom::Start if top && i == 0 => continue,
                Atom::End if top && i + 1 == branch.len() => continue,
                Atom::Start | Atom::End => return None,
                _ => {}
            }
            let times = match piece.max {
                Some(0) => 0,
                _ => piece.min.max(1),
            };
            for _ in 0..times {
                self.derive_atom(&piece.atom, out)?;
                if out.len() > MAX_SAMPLE_LEN {
                    return None;
                }
            }
        }
        Some(())
    }

    fn derive_atom(&self, atom: &Atom, out: &mut Vec<u8>) -> Option<()> {
        match atom {
            Atom::Byte(b) if self.case_insensitive => out.push(other_case(*b)),
            Atom::Byte(b) => out.push(*b),
            Atom::Any => out.push(b'x'),
            Atom::Set(set) => out.push(
                SAMPLE_CHARS
                    .iter()
                    .copied()
                    .find(|&c| set.admits(c, self.case_insensitive))?,
            ),
            Atom::Group(branches) => {
                let mark = out.len();
                let derived = branches.iter().any(|branch| {
                    out.truncate(mark);
                    self.derive_branch(branch, false, out).is_some()
                });
                if !derived {
                    return None;
                }
            }
            Atom::Start | Atom::End => return None,
        }
        Some(())
    }
}

fn other_case(b: u8) -> u8 {
    if b.is_ascii_lowercase() {
        b.to_ascii_uppercase()
    } else {
        b.to_ascii_lowercase()
    }
}

impl Set {
    /// True when the set matches the byte `c` (as clamd does, folding case under `(?i)`).
    fn admits(&self, c: u8, case_insensitive: bool) -> bool {
        let inside = self.contains(c) || (case_insensitive && self.contains(other_case(c)));
        inside != self.negated
    }

    fn contains(&self, c: u8) -> bool {
        self.items.iter().any(|item| match *item {
            SetItem::Byte(b) => b == c,
            SetItem::Range(first, last) => (first..=last).contains(&c),
        })
    }
}

/// The parsed expression as a byte-oriented Rust regex with clamd's meaning (no Unicode,
/// `.` is any byte, ASCII case folding).
fn compile(
    case_insensitive: bool,
    branches: &[Branch],
) -> Result<regex::bytes::Regex, regex::Error> {
    let mut pattern = String::from("(?s-u)");
    if case_insensitive {
        pattern.push_str("(?i)");
    }
    write_branches(branches, &mut pattern);
    regex::bytes::RegexBuilder::new(&pattern)
        .unicode(false)
        .size_limit(1 << 20)
        .build()
}

fn write_branches(branches: &[Branch], out: &mut String) {
    for (i, branch) in branches.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        for piece in branch {
            write_atom(&piece.atom, out);
            match (piece.min, piece.max) {
                (1, Some(1)) => {}
                (0, None) => out.push('*'),
                (1, None) => out.push('+'),
                (0, Some(1)) => out.push('?'),
                (min, None) => out.push_str(&format!("{{{min},}}")),
                (min, Some(max)) if min == max => out.push_str(&format!("{{{min}}}")),
                (min, Some(max)) => out.push_str(&format!("{{{min},{max}}}")),
            }
        }
    }
}

fn write_atom(atom: &Atom, out: &mut String) {
    match atom {
        Atom::Byte(b) => write_byte(*b, out),
        Atom::Any => out.push('.'),
        Atom::Start => out.push('^'),
        Atom::End => out.push('$'),
        Atom::Group(branches) => {
            out.push_str("(?:");
            write_branches(branches, out);
            out.push(')');
        }
        Atom::Set(set) => {
            out.push('[');
            if set.negated {
                out.push('^');
            }
            for item in &set.items {
                match *item {
                    SetItem::Byte(b) => write_byte(b, out),
                    SetItem::Range(first, last) => {
                        write_byte(first, out);
                        out.push('-');
                        write_byte(last, out);
                    }
                }
            }
            out.push(']');
        }
    }
}

fn write_byte(b: u8, out: &mut String) {
    if b.is_ascii_alphanumeric() {
        out.push(b as char);
    } else {
        out.push_str(&format!("\\x{b:02X}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("{text:?} accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn perl_and_rust_syntax_is_refused_with_what_to_write() {
        let cases: &[(&str, &str)] = &[
            (r"(?i)inv\d+\.exe", "[0-9]"),
            (r"inv\d+", "[0-9]"),
            (r"\D", "[^0-9]"),
            (r"a\w", "[A-Za-z0-9_]"),
            (r"a\s", "`[ ]`"),
            (r"\bword", "word boundaries"),
            (r"\<word", "word boundaries"),
            (r"[[:<:]]a", "word boundaries"),
            (r"(a)\1", "back-references"),
            (r"\x41", "the character itself"),
            (r"\p{L}", "Unicode classes"),
            (r"\q", "plain `q`"),
            (r"inv(?i)oice", "[Ii][Nn][Vv]"),
            (r"(?s)a", "inline flags"),
            (r"(?-i)a", "inline flags"),
            (r"(?:ab)+", "plain group"),
            (r"a(?=b)", "lookahead"),
            (r"(?<!a)b", "lookahead"),
            (r"(?P<x>a)", "named groups"),
            (r"a*?", "lazy"),
            (r"a+?", "lazy"),
            (r"a??", "lazy"),
            (r"a{2,3}?", "lazy"),
            (r"a*+", "possessive"),
            (r"a**", "two repetitions"),
            (r"a+{2}", "two repetitions"),
            (r"*a", "nothing to repeat"),
            (r"a|*b", "nothing to repeat"),
            (r"(+a)", "nothing to repeat"),
            (r"^*a", "cannot be repeated"),
            (r"a$+", "cannot be repeated"),
            (r"a{,3}", "{0,n}"),
            (r"a{3,2}", "m ≤ n"),
            (r"a{256}", "up to 255"),
            (r"a{1", "repetition bound"),
            (r"a{x}", "repetition bound"),
            (r"{a", "\\{"),
            (r"a|", "empty alternative"),
            (r"|a", "empty alternative"),
            (r"a||b", "empty alternative"),
            (r"()", "empty alternative"),
            (r"(a", "unclosed `(`"),
            (r"a)", "unmatched `)`"),
            (r"[a", "unclosed `[`"),
            (r"[\.]exe", "[.]"),
            (r"[\d]", "[0-9]"),
            (r"[a-c-e]", "first or last"),
            (r"[z-a]", "backwards"),
            (r"[[:digit:]]", "`0-9`"),
            (r"[[:space:]]", "a space"),
            (r"[[=a=]]", "equivalence"),
            (r"[a-z&&[^x]]", "&&"),
            (r"[ä]", "non-ASCII"),
            (r"ä+", "non-ASCII"),
            (r"a\", "escapes nothing"),
            ("(?i)", "empty"),
            ("", "empty"),
        ];
        for (text, hint) in cases {
            let message = refused(text);
            assert!(message.contains(hint), "{text:?}: {message}");
        }
        assert!(refused(r"^(a{255}){255}$").contains("too large"));
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert!(refused(&deep).contains("nested"));
    }

    #[test]
    fn the_posix_subset_is_accepted_and_matches_as_clamd_does() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                r"inv[0-9]+\.exe",
                &["inv123.exe", "x/inv1.exe.zip"],
                &["invddd.exe", "inv.exe"],
            ),
            (
                r"^invoice[0-9]+\.scr$",
                &["invoice42.scr"],
                &["ainvoice42.scr", "invoice42.scr2"],
            ),
            (
                r"(?i)^INV[0-9]+\.EXE$",
                &["inv123.exe", "Inv7.Exe"],
                &["inv.exe"],
            ),
            (r"^r.\.pdf$", &["rx.pdf"], &["rä.pdf"]),
            (r"^[]a-]x$", &["]x", "ax", "-x"], &["bx"]),
            (r"^[^.]+$", &["abc"], &["a.c"]),
            (r"^[0-9A-Z]{2,3}$", &["1A", "AB9"], &["a1", "1234"]),
            (
                r"^(doc|xls)[mx]?\.(zip|rar)$",
                &["doc.zip", "xlsm.rar"],
                &["ppt.zip"],
            ),
            (r"^a{2}b{1,}c{0,1}$", &["aab", "aabbbc"], &["ab"]),
            (
                r"\(x\)\{\}\|\*\+\?\.\[\]\^\$\\",
                &["(x){}|*+?.[]^$\\"],
                &["x"],
            ),
            (r"}]", &["a}]"], &["a"]),
            (
                r"^rechnung_ä\.exe$",
                &["rechnung_ä.exe"],
                &["rechnung_a.exe"],
            ),
        ];
        for (text, matching, other) in cases {
            let ere = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            for name in *matching {
                assert!(ere.is_match(name.as_bytes()), "{text:?} misses {name:?}");
            }
            for name in *other {
                assert!(!ere.is_match(name.as_bytes()), "{text:?} matches {name:?}");
            }
        }
    }

    #[test]
    fn samples_are_derived_and_match() {
        let cases: &[(&str, Option<&str>)] = &[
            (r"inv[0-9]+\.exe", Some("inv0.exe")),
            (r"^invoice[0-9]+\.scr$", Some("invoice0.scr")),
            (r"(?i)^INV[0-9]+\.EXE$", Some("inv0.exe")),
            (r"^(doc|xls)[mx]?\.zip$", Some("docm.zip")),
            (r"^[^a-z0-9]{3}$", Some("AAA")),
            (r"^a{0}b$", Some("b")),
            (r"a.b", Some("axb")),
            (r"^rechnung_ä\.exe$", Some("rechnung_ä.exe")),
            (r"a^b", None),
            (r"a$b", None),
            (r"^$", None),
            (r"^(a{100}){20}$", None),
        ];
        for (text, want) in cases {
            let ere = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(ere.sample().as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn error_offsets_count_a_leading_case_prefix() {
        let err = parse(r"(?i)ab\d").unwrap_err();
        assert_eq!(err.at, 6);
    }
}

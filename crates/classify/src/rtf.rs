//! Rich Text Format: embedded objects (`\object`, `\objdata`) and DDE field instructions
//! (`\fldinst` starting with `DDE`/`DDEAUTO`).

use quarantd_core::Label;

use crate::fields::is_dde_instruction;
use crate::Detection;

/// Fields examined per document.
const MAX_FIELDS: usize = 100_000;

/// Characters of a field instruction looked at after `\fldinst`.
const INSTRUCTION_WINDOW: usize = 512;

/// Analyses an RTF document.
pub(crate) fn analyse(content: &[u8], found: &mut Detection) {
    found.detected_type = "text/rtf".into();
    if has_control_word(content, b"\\object") || has_control_word(content, b"\\objdata") {
        found.flag(Label::OleObject, "RTF embedded object (\\object)");
    }
    if let Some(instruction) = dde_field(content) {
        found.flag(Label::Dde, format!("RTF DDE field: {instruction}"));
    }
}

/// Whether the control word occurs, ended by a non-letter (so `\objectx` is not `\object`).
fn has_control_word(content: &[u8], word: &[u8]) -> bool {
    memchr::memmem::find_iter(content, word).any(|at| {
        content
            .get(at + word.len())
            .is_none_or(|b| !b.is_ascii_alphabetic())
    })
}

fn dde_field(content: &[u8]) -> Option<String> {
    memchr::memmem::find_iter(content, b"\\fldinst")
        .take(MAX_FIELDS)
        .find_map(|at| {
            let window = &content[at + 8..content.len().min(at + 8 + INSTRUCTION_WINDOW)];
            // The instruction's first word decides; only a DDE field is decoded further.
            if !is_dde_instruction(&plain_text(window, 16)) {
                return None;
            }
            Some(plain_text(window, 120).trim().to_string())
        })
}

/// The literal text of an RTF fragment: control words, braces and `\*` dropped, `\'hh`
/// escapes decoded; at most `max` characters.
fn plain_text(rtf: &[u8], max: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < rtf.len() && out.len() < max {
        match rtf[i] {
            b'{' | b'}' | b'\r' | b'\n' => i += 1,
            b'\\' => i = skip_control(rtf, i, &mut out),
            b => {
                out.push(char::from(b));
                i += 1;
            }
        }
    }
    out
}

/// Skips the control word or symbol at `i` (a backslash), appending what it stands for.
fn skip_control(rtf: &[u8], i: usize, out: &mut String) -> usize {
    let next = i + 1;
    match rtf.get(next) {
        Some(b'\'') => {
            let hex = rtf.get(next + 1..next + 3).unwrap_or_default();
            if let Some(byte) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(char::from(byte));
            }
            next + 3
        }
        Some(b) if b.is_ascii_alphabetic() => {
            let mut end = next;
            while end < rtf.len() && rtf[end].is_ascii_alphabetic() {
                end += 1;
            }
            while end < rtf.len() && (rtf[end].is_ascii_digit() || rtf[end] == b'-') {
                end += 1;
            }
            if rtf.get(end) == Some(&b' ') {
                end += 1;
            }
            end
        }
        Some(&b) => {
            if matches!(b, b'\\' | b'{' | b'}') {
                out.push(char::from(b));
            }
            next + 1
        }
        None => next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtf_table() {
        let cases: &[(&[u8], &[Label])] = &[
            (b"{\\rtf1\\ansi hello}", &[]),
            (b"{\\rtf1{\\object\\objemb{\\*\\objclass Package}{\\objdata 0105}}}", &[Label::OleObject]),
            (b"{\\rtf1{\\objectx}}", &[]),
            (b"{\\rtf1{\\field{\\*\\fldinst {\\rtlch DDEAUTO c:\\\\\\\\windows\\\\\\\\cmd.exe}}}}", &[Label::Dde]),
            (b"{\\rtf1{\\field{\\*\\fldinst{ D}{DE \"c:\\\\a.exe\"}}}}", &[Label::Dde]),
            (b"{\\rtf1{\\field{\\*\\fldinst \\'44DE x}}}", &[Label::Dde]),
            (b"{\\rtf1{\\field{\\*\\fldinst HYPERLINK \"x\"}}}", &[]),
            (b"{\\rtf1{\\field{\\*\\fldinst", &[]),
        ];
        for (bytes, want) in cases {
            let mut found = Detection::default();
            analyse(bytes, &mut found);
            assert_eq!(&found.labels, want, "{}", String::from_utf8_lossy(bytes));
        }
    }
}

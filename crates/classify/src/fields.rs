//! DDE in its textual forms: Word field instructions (`DDE`, `DDEAUTO`) and spreadsheet
//! formulas that call another application (`=app|'topic'!item`), plus Excel 4 macro-only
//! functions in formulas.

/// Word field instructions scanned at most per field (characters).
const MAX_INSTRUCTION: usize = 4096;

/// Nesting of Word fields followed in XML.
const MAX_FIELD_DEPTH: usize = 32;

/// Longest XML tag looked at (a `<` without `>` within it is not followed further).
const MAX_TAG: usize = 1024;

/// Field marks, attributes or formulas examined per part.
const MAX_FIELDS: usize = 100_000;

/// Whether a field instruction is a DDE field (`DDE` or `DDEAUTO`).
pub(crate) fn is_dde_instruction(instruction: &str) -> bool {
    let head: String = instruction
        .trim_start_matches(|c: char| c.is_whitespace() || c == '"')
        .chars()
        .take(3)
        .collect();
    head.eq_ignore_ascii_case("DDE")
}

fn excerpt(text: &str) -> String {
    text.trim().chars().take(120).collect()
}

/// The first DDE field instruction in WordprocessingML (2003 XML, 2007+ XML, flat OPC):
/// `w:fldSimple/@w:instr`, and `w:instrText` runs between `fldChar` begin and separate/end,
/// joined when Word split them across runs.
pub(crate) fn dde_in_word_xml(xml: &[u8]) -> Option<String> {
    simple_field_dde(xml).or_else(|| complex_field_dde(xml))
}

fn simple_field_dde(xml: &[u8]) -> Option<String> {
    let finder = memchr::memmem::Finder::new(b"instr=\"");
    finder.find_iter(xml).take(MAX_FIELDS).find_map(|at| {
        let value = attribute_value(&xml[at + 7..]);
        let value = unescape(value);
        is_dde_instruction(&value).then(|| excerpt(&value))
    })
}

fn attribute_value(rest: &[u8]) -> &[u8] {
    let rest = &rest[..rest.len().min(MAX_INSTRUCTION)];
    let end = memchr::memchr(b'"', rest).unwrap_or(rest.len());
    &rest[..end]
}

/// Walks the tags in order; a stack of instruction buffers follows nested fields.
fn complex_field_dde(xml: &[u8]) -> Option<String> {
    let mut stack: Vec<String> = Vec::new();
    for at in memchr::memchr_iter(b'<', xml).take(MAX_FIELDS * 16) {
        if !is_field_tag(&xml[at..xml.len().min(at + 48)]) {
            continue;
        }
        let tag = tag_at(xml, at);
        if tag.name.ends_with(b"fldChar") {
            match field_char_type(tag.raw) {
                Some(FieldChar::Begin) if stack.len() < MAX_FIELD_DEPTH => {
                    stack.push(String::new())
                }
                Some(FieldChar::Begin) => {}
                Some(FieldChar::Separate) | Some(FieldChar::End) => {
                    let done = stack.pop().unwrap_or_default();
                    if is_dde_instruction(&done) {
                        return Some(excerpt(&done));
                    }
                    if matches!(field_char_type(tag.raw), Some(FieldChar::Separate)) {
                        // The result follows; the field's end pops nothing more.
                        stack.push(String::from("\u{0}"));
                    }
                }
                None => {}
            }
        } else if tag.name.ends_with(b"instrText") && !tag.closing {
            if let Some(top) = stack.last_mut() {
                let text = element_text(xml, at + tag.raw.len());
                if top.len() < MAX_INSTRUCTION {
                    top.push_str(&unescape(text));
                }
            }
        }
    }
    None
}

/// A cheap look at the tag name (within its first bytes): `…fldChar` or `…instrText`.
fn is_field_tag(head: &[u8]) -> bool {
    let name = head.strip_prefix(b"<").unwrap_or(head);
    let name = name.strip_prefix(b"/").unwrap_or(name);
    let end = name
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
        .unwrap_or(name.len());
    let name = &name[..end];
    name.ends_with(b"fldChar") || name.ends_with(b"instrText")
}

enum FieldChar {
    Begin,
    Separate,
    End,
}

fn field_char_type(tag: &[u8]) -> Option<FieldChar> {
    let at = memchr::memmem::find(tag, b"fldCharType=\"")?;
    let value = attribute_value(&tag[at + 13..]);
    match value {
        b"begin" => Some(FieldChar::Begin),
        b"separate" => Some(FieldChar::Separate),
        b"end" => Some(FieldChar::End),
        _ => None,
    }
}

struct Tag<'a> {
    raw: &'a [u8],
    name: &'a [u8],
    closing: bool,
}

/// The tag starting at `at` (`<` ... `>`), its name and whether it is a closing tag.
fn tag_at(xml: &[u8], at: usize) -> Tag<'_> {
    let rest = &xml[at..xml.len().min(at.saturating_add(MAX_TAG))];
    let end = memchr::memchr(b'>', rest).map_or(rest.len(), |e| e + 1);
    let raw = &rest[..end];
    let closing = raw.get(1) == Some(&b'/');
    let name_start = if closing { 2 } else { 1 }.min(raw.len());
    let name_len = raw[name_start..]
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
        .unwrap_or(raw.len() - name_start);
    Tag {
        raw,
        name: &raw[name_start..name_start + name_len],
        closing,
    }
}

/// The text of an element from just after its start tag up to the next `<`.
fn element_text(xml: &[u8], from: usize) -> &[u8] {
    let rest = xml.get(from..).unwrap_or_default();
    let rest = &rest[..rest.len().min(MAX_INSTRUCTION)];
    let end = memchr::memchr(b'<', rest).unwrap_or(rest.len());
    &rest[..end.min(MAX_INSTRUCTION)]
}

/// XML text with the five predefined entities resolved (enough for prefixes and pipes).
fn unescape(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The first DDE formula in spreadsheet XML: SpreadsheetML `ss:Formula="…"` attributes and
/// OOXML `<f>…</f>` cell formulas.
pub(crate) fn dde_in_formula_attributes(xml: &[u8]) -> Option<String> {
    let attributes = memchr::memmem::find_iter(xml, b"Formula=\"")
        .take(MAX_FIELDS)
        .map(|at| {
            let value = attribute_value(&xml[at + 9..]);
            unescape(value)
        });
    let elements = memchr::memmem::find_iter(xml, b"<f")
        .take(MAX_FIELDS)
        .filter_map(|at| {
            let tag = tag_at(xml, at);
            (tag.name == b"f" && !tag.raw.ends_with(b"/>"))
                .then(|| format!("={}", unescape(element_text(xml, at + tag.raw.len()))))
        });
    attributes
        .chain(elements)
        .find(|formula| is_dde_formula(formula.as_bytes()))
        .map(|formula| excerpt(&formula))
}

/// Whether a spreadsheet cell is a DDE formula: it starts as a formula (`=`, `+`, `-`, `@`)
/// and names an application and topic (`app|topic!item`), or calls `DDE(`.
pub(crate) fn is_dde_formula(cell: &[u8]) -> bool {
    let cell = cell.trim_ascii();
    let Some((&first, rest)) = cell.split_first() else {
        return false;
    };
    if !matches!(first, b'=' | b'+' | b'-' | b'@') {
        return false;
    }
    let pipe_then_bang = memchr::memchr(b'|', rest)
        .is_some_and(|pipe| pipe > 0 && memchr::memchr(b'!', &rest[pipe..]).is_some());
    pipe_then_bang || calls_function(&rest.to_ascii_uppercase(), b"DDE")
}

/// Functions that exist only on Excel 4 macro sheets (or are their usual payload).
const XLM_FUNCTIONS: &[&[u8]] = &[
    b"EXEC",
    b"CALL",
    b"REGISTER",
    b"RUN",
    b"HALT",
    b"ALERT",
    b"FOPEN",
    b"FWRITE",
    b"FWRITELN",
    b"FORMULA",
    b"FORMULA.FILL",
    b"SET.VALUE",
    b"GET.WORKSPACE",
    b"GET.DOCUMENT",
    b"GOTO",
    b"RETURN",
    b"SET.NAME",
    b"APP.MAXIMIZE",
    b"FILE.DELETE",
];

/// Whether a formula calls an Excel 4 macro-only function.
pub(crate) fn calls_xlm_function(formula: &[u8]) -> bool {
    let upper = formula.to_ascii_uppercase();
    XLM_FUNCTIONS
        .iter()
        .any(|name| calls_function(&upper, name))
}

/// Whether the upper-case `upper` contains `NAME(` with `NAME` a whole word.
fn calls_function(upper: &[u8], name: &[u8]) -> bool {
    let call = [name, b"("].concat();
    memchr::memmem::find_iter(upper, &call)
        .any(|at| at == 0 || !matches!(upper[at - 1], b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_'))
}

/// The first DDE field in the text of a binary Word document: a field-begin mark (0x13)
/// followed by a `DDE`/`DDEAUTO` instruction, in 8-bit or UTF-16LE text.
pub(crate) fn dde_in_word_binary(stream: &[u8]) -> Option<String> {
    memchr::memchr_iter(0x13, stream)
        .take(MAX_FIELDS)
        .find_map(|at| {
            let instruction = field_instruction(&stream[at + 1..]);
            is_dde_instruction(&instruction).then(|| excerpt(&instruction))
        })
}

/// Up to 64 characters after a field-begin mark, read as UTF-16LE when the mark is one.
fn field_instruction(after: &[u8]) -> String {
    if after.first() == Some(&0) {
        let units = after[1..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take(64);
        char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{fffd}'))
            .take_while(|&c| c != '\u{14}' && c != '\u{15}')
            .collect()
    } else {
        after
            .iter()
            .take(64)
            .take_while(|&&b| b != 0x14 && b != 0x15)
            .map(|&b| char::from(b))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas() {
        let cases: &[(&[u8], bool)] = &[
            (b"=cmd|'/c calc'!A0", true),
            (b"+cmd|' /C calc'!A0", true),
            (b"@SUM(cmd|'/c calc'!A0)", true),
            (b"-2+3+cmd|' /C calc'!'A0'", true),
            (b"=DDE(\"cmd\";\"/c calc\";\"x\")", true),
            (b"=SUM(A1:B2)", false),
            (b"=A1&\"|\"", false),
            (b"cmd|'/c calc'!A0", false),
            (b"|!", false),
            (b"", false),
        ];
        for (cell, want) in cases {
            assert_eq!(
                is_dde_formula(cell),
                *want,
                "{}",
                String::from_utf8_lossy(cell)
            );
        }
        assert!(calls_xlm_function(b"=EXEC(\"calc.exe\")"));
        assert!(calls_xlm_function(b"HALT()"));
        assert!(!calls_xlm_function(b"=TRUNC(A1)"));
    }

    #[test]
    fn word_xml_fields() {
        let split = br#"<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DD</w:instrText></w:r><w:r><w:instrText xml:space="preserve">EAUTO c:\\a.exe</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>x</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>"#;
        let page = br#"<w:fldChar w:fldCharType="begin"/><w:instrText>PAGE</w:instrText><w:fldChar w:fldCharType="end"/>"#;
        let simple = br#"<w:fldSimple w:instr=" DDE &quot;c:\\a.exe&quot;"><w:r/></w:fldSimple>"#;
        assert!(dde_in_word_xml(split).is_some());
        assert!(dde_in_word_xml(simple).is_some());
        assert_eq!(dde_in_word_xml(page), None);
        assert_eq!(
            dde_in_word_xml(b"<w:fldChar w:fldCharType=\"end\"/><"),
            None
        );
    }

    #[test]
    fn word_binary_fields() {
        assert!(dde_in_word_binary(b"xx\x13 DDEAUTO c:\\\\a.exe \x14x\x15").is_some());
        let utf16: Vec<u8> = "\u{13} DDE x\u{14}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(dde_in_word_binary(&utf16).is_some());
        assert_eq!(dde_in_word_binary(b"\x13 HYPERLINK x\x14\x15\x13"), None);
    }
}

//! Reasons in plain words, per language: `executable` → "a program that runs when opened".

/// The sentence for a verdict reason (`executable`, `virus:Eicar-Signature`) in `lang`
/// (`en`, `de`; other languages get English).
pub fn describe(reason: &str, lang: &str) -> String {
    let (key, detail) = reason.split_once(':').unwrap_or((reason, ""));
    let de = lang.eq_ignore_ascii_case("de");
    if key == "virus" {
        return if de {
            format!("der Virenscanner hat Schadsoftware gefunden ({detail})")
        } else {
            format!("the virus scanner found malware ({detail})")
        };
    }
    let text = if de { german(key) } else { english(key) };
    match text {
        Some(t) => t.to_string(),
        None if de => format!("als {reason} eingestuft"),
        None => format!("flagged as {reason}"),
    }
}

fn english(key: &str) -> Option<&'static str> {
    Some(match key {
        "executable" => "a program that would run on a computer when opened",
        "script" => "a script that Windows runs when it is double-clicked",
        "source-code" => "program source code",
        "vba-macro" => "a document with macros (VBA), a common way to spread malware",
        "xlm-macro" => "a spreadsheet with old Excel 4 macros, a common way to spread malware",
        "dde" => "a document with DDE fields that can start programs",
        "ole-object" => "a document with an embedded object",
        "encrypted" => "password-protected content that cannot be checked for malware",
        "type-mismatch" => "a file whose name or declared type does not match its content",
        "double-extension" => {
            "a file name with two extensions (such as .pdf.exe) that hides its type"
        }
        "bidi-name" => "a file name with hidden direction characters that disguise its type",
        "unscannable" => {
            "content that could not be checked (too large, too deeply nested or damaged)"
        }
        "path-traversal" => {
            "an archive whose file names point outside the folder it is unpacked into"
        }
        "other-finding" => "a scanner found something suspicious",
        _ => return None,
    })
}

fn german(key: &str) -> Option<&'static str> {
    Some(match key {
        "executable" => "ein Programm, das beim Öffnen auf einem Rechner ausgeführt würde",
        "script" => "ein Skript, das Windows bei einem Doppelklick ausführt",
        "source-code" => "Programm-Quelltext",
        "vba-macro" => "ein Dokument mit Makros (VBA), ein häufiger Weg für Schadsoftware",
        "xlm-macro" => "eine Tabelle mit alten Excel-4-Makros, ein häufiger Weg für Schadsoftware",
        "dde" => "ein Dokument mit DDE-Feldern, die Programme starten können",
        "ole-object" => "ein Dokument mit einem eingebetteten Objekt",
        "encrypted" => "passwortgeschützter Inhalt, der nicht auf Schadsoftware geprüft werden kann",
        "type-mismatch" => "eine Datei, deren Name oder angegebener Typ nicht zum Inhalt passt",
        "double-extension" => "ein Dateiname mit zwei Endungen (etwa .pdf.exe), der den Typ verschleiert",
        "bidi-name" => "ein Dateiname mit versteckten Richtungszeichen, die den Typ verschleiern",
        "unscannable" => "Inhalt, der nicht geprüft werden konnte (zu groß, zu tief verschachtelt oder beschädigt)",
        "path-traversal" => "ein Archiv, dessen Dateinamen aus dem Entpack-Ordner hinaus zeigen",
        "other-finding" => "ein Scanner hat etwas Verdächtiges gefunden",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn every_label_has_words_in_both_languages() {
        for label in quarantd_policy::kinds::ALL_LABELS {
            for lang in ["en", "de"] {
                let text = describe(label.as_str(), lang);
                assert!(
                    !text.contains("flagged as") && !text.contains("eingestuft"),
                    "{label} {lang}"
                );
            }
        }
        assert_eq!(
            describe("virus:Eicar-Signature", "de"),
            "der Virenscanner hat Schadsoftware gefunden (Eicar-Signature)"
        );
        assert_eq!(describe("spam", "fr"), "flagged as spam");
    }
}

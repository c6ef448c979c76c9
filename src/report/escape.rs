//! Ledger text made inert for HTML. Every string a ledger holds (titles,
//! notes, party names, document text) is chosen by a party, so all of it
//! passes through here on its way to the page: the five characters HTML
//! gives a meaning (`& < > " '`) become entities, and control, bidi and
//! invisible characters are shown as visible escapes (`\u{202e}`), never
//! interpreted, so that text cannot reorder or hide what is around it.

/// Whether `c` must be shown escaped rather than as itself: C0/C1
/// controls, and characters that are invisible or change the direction of
/// what follows (bidi embeddings, overrides and isolates, marks, zero-width
/// characters, line and paragraph separators).
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

fn push_entity(out: &mut String, c: char) -> bool {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        _ => return false,
    }
    true
}

/// Text for an element's content: one line, escapes marked visibly.
pub fn text(s: &str) -> String {
    escaped(s, false, true)
}

/// Text for an element's content, keeping its line breaks (in an element
/// styled `white-space: pre-wrap`).
pub fn block(s: &str) -> String {
    escaped(s, true, true)
}

/// Text for a `title="…"` attribute, the only attribute ledger text is
/// ever put in: quoted with `"`, so entities are enough, and escapes are
/// plain text.
pub fn attr(s: &str) -> String {
    escaped(s, false, false)
}

/// Text with the same visible escapes and no HTML, for the PDF (where
/// nothing is markup, but a bidi override would still reorder the line).
pub fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn escaped(s: &str, lines: bool, marked: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        if push_entity(&mut out, c) {
            continue;
        }
        if lines && c == '\n' {
            out.push('\n');
        } else if hidden(c) {
            if marked {
                out.push_str("<span class=\"esc\">");
            }
            out.extend(c.escape_unicode());
            if marked {
                out.push_str("</span>");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_entities() {
        assert_eq!(
            text("</script><img src=x onerror='a'>&\""),
            "&lt;/script&gt;&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;"
        );
    }

    #[test]
    fn bidi_and_controls_are_shown_escaped() {
        assert_eq!(attr("a\u{202E}b\u{0}"), "a\\u{202e}b\\u{0}");
        assert_eq!(text("\u{2066}x"), "<span class=\"esc\">\\u{2066}</span>x");
        assert_eq!(
            block("a\nb\u{200F}"),
            "a\nb<span class=\"esc\">\\u{200f}</span>"
        );
        assert_eq!(text("a\nb"), "a<span class=\"esc\">\\u{a}</span>b");
        assert_eq!(plain("\u{202D}<"), "\\u{202d}<");
    }
}

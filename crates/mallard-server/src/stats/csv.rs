//! CSV cells as RFC 4180 writes them, made safe for spreadsheets.
//!
//! A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
//! return would be read as a formula by Excel, LibreOffice or Google Sheets
//! (CSV injection); such a cell gets a leading `'`, which spreadsheets show as
//! text. Cells holding `,`, `"`, CR or LF are quoted, with `"` doubled.
//! Numbers and booleans written by the server itself are not escaped.

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Appends a text cell.
pub(crate) fn push_text(out: &mut String, text: &str) {
    let guarded = text.starts_with(FORMULA_STARTS);
    let quoted = text.contains([',', '"', '\r', '\n']);
    if quoted {
        out.push('"');
    }
    if guarded {
        out.push('\'');
    }
    if quoted {
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// Appends one line: `cells` (already escaped) separated by commas, then CRLF.
pub(crate) fn push_line(out: &mut String, cells: &[String]) {
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// A text cell on its own.
pub(crate) fn text_cell(text: &str) -> String {
    let mut out = String::new();
    push_text(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_special_characters_quoted() {
        for (input, expected) in [
            ("/pricing", "/pricing"),
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "\"'\rcmd\""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(text_cell(input), expected, "{input:?}");
        }
        let mut line = String::new();
        push_line(&mut line, &["a".into(), "1".into()]);
        assert_eq!(line, "a,1\r\n");
    }
}

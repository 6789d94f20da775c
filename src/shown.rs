//! How text that came from a file — file and folder names, values — is shown to people, on a
//! terminal or in plain text: every control character escaped, so that a name holding a line
//! break cannot forge a line of dams' output and an escape sequence never reaches the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// Characters that are not shown as themselves: C0 and C1 controls, DEL, the Unicode line and
/// paragraph separators, and the invisible formatting characters that reorder or hide text
/// (bidirectional overrides and isolates, zero-width marks; "Trojan Source").
fn escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}'
        )
}

/// `s` with every control and invisible formatting character written as an escape: `\n`, `\r`,
/// `\t`, `\x1B` for the other C0 controls and DEL, `\u{202E}` for the rest. Borrowed when there
/// is nothing to escape (the usual case). A backslash stays as it is (DICOM separates values
/// with it).
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !escaped(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:X}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// A path as text to show: lossy where it is not UTF-8 (U+FFFD), control characters escaped.
#[must_use]
pub fn path(p: &Path) -> String {
    text(&p.to_string_lossy()).into_owned()
}

/// Characters that make a spreadsheet read a cell as a formula (or as something it treats
/// like one) when it starts with them (OWASP, "CSV injection").
const FORMULA_START: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// A cell for a CSV table meant for spreadsheets: a cell starting with `=`, `+`, `-`, `@`, tab
/// or CR gets a `'` in front (OWASP's rule), so that `=HYPERLINK(…)` in a patient's name
/// stays text. A cell that starts with `'` before one of those (or before another `'`) gets
/// one too, so that [`from_spreadsheet`] gives back exactly the original.
#[must_use]
pub fn spreadsheet_cell(cell: &str) -> Cow<'_, str> {
    let mut chars = cell.chars();
    let guard = match chars.next() {
        Some(c) if FORMULA_START.contains(&c) => true,
        Some('\'') => chars.next().is_some_and(|c| c == '\'' || FORMULA_START.contains(&c)),
        _ => false,
    };
    if guard {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A cell read back from such a table: the `'` [`spreadsheet_cell`] put in front is taken
/// off (and only that one).
#[must_use]
pub fn from_spreadsheet(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(|c: char| c == '\'' || FORMULA_START.contains(&c)) => rest,
        _ => cell,
    }
}

/// Whether `s` would be shown as it is.
pub fn is_plain(s: &str) -> bool {
    !s.chars().any(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_cells_never_start_a_formula_and_read_back_exactly() {
        for (cell, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=x", "''=x"),
            ("''", "'''"),
            ("'quoted", "'quoted"),
            ("P0001", "P0001"),
            ("DOE^JANE", "DOE^JANE"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_cell(cell), written, "{cell:?}");
            assert_eq!(from_spreadsheet(written), cell, "{written:?}");
        }
    }

    #[test]
    fn controls_and_invisible_formatting_are_escaped() {
        assert!(matches!(text("CT_small.dcm"), Cow::Borrowed(_)));
        assert_eq!(text("a\nwrote 999 file(s)"), "a\\nwrote 999 file(s)");
        assert_eq!(text("\x1b[31mred\x07"), "\\x1B[31mred\\x07");
        assert_eq!(text("x\r\ty\x7f"), "x\\r\\ty\\x7F");
        assert_eq!(text("abc\u{202E}fdp.exe"), "abc\\u{202E}fdp.exe");
        assert_eq!(text("\u{85}\u{2028}"), "\\u{85}\\u{2028}");
        assert_eq!(text("ORIGINAL\\PRIMARY Müller"), "ORIGINAL\\PRIMARY Müller");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let p = Path::new(std::ffi::OsStr::from_bytes(b"dir/\xFFname\n.dcm"));
            assert_eq!(path(p), "dir/\u{FFFD}name\\n.dcm");
        }
    }
}

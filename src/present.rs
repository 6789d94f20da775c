//! How values read to a person, on the review screen and in the command line's text: shortening
//! to a width (text from the end, paths from the front), dates, counts, one-line values. Text
//! that came from a file (names, values) has its control and invisible formatting characters
//! escaped ([`crate::shown`]).

use std::path::Path;

/// Shortens text to `n` characters with an ellipsis at the end.
#[must_use]
pub fn fit(s: &str, n: usize) -> String {
    let s = crate::shown::text(s);
    if s.chars().count() <= n {
        s.to_string()
    } else if n == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Shortens a path to `n` characters, keeping its end (the file and its folder say more
/// than the start of a long absolute path).
#[must_use]
pub fn fit_path(p: &Path, n: usize) -> String {
    let s = crate::shown::path(p);
    let len = s.chars().count();
    if len <= n {
        s
    } else if n == 0 {
        String::new()
    } else {
        let tail: String = s.chars().skip(len - (n - 1)).collect();
        format!("…{tail}")
    }
}

/// `20240115` as `2024-01-15`; anything else as it is.
#[must_use]
pub fn fmt_date(da: &str) -> String {
    if da.len() == 8 && da.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &da[..4], &da[4..6], &da[6..])
    } else {
        da.to_string()
    }
}

/// `1 file`, `2 files`.
#[must_use]
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A value as one line: empty ones said so, line breaks as spaces.
#[must_use]
pub fn one_line(v: &str) -> String {
    if v.is_empty() {
        "(empty)".into()
    } else {
        crate::shown::text(&v.replace(['\r', '\n'], " ")).into_owned()
    }
}

/// The last component of a path (the path itself when it has none).
#[must_use]
pub fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || crate::shown::path(p),
        |n| crate::shown::text(&n.to_string_lossy()).into_owned(),
    )
}

/// Breaks text into lines of at most `width` characters, at spaces where it can (a word
/// longer than a line is broken inside). Never returns no line.
#[must_use]
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut len = 0;
        for word in para.split(' ') {
            let mut word: Vec<char> = word.chars().collect();
            // Room for the word on this line (with its space)?
            if len > 0 && len + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
                len = 0;
            }
            if len > 0 {
                line.push(' ');
                len += 1;
            }
            while len + word.len() > width {
                let take = width - len;
                line.extend(word.drain(..take));
                lines.push(std::mem::take(&mut line));
                len = 0;
            }
            len += word.len();
            line.extend(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_keeps_what_matters() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit_path(Path::new("/tmp/very/long/out"), 8), "…ong/out");
        assert_eq!(fit_path(Path::new("/out"), 8), "/out");
        assert_eq!(fmt_date("20240115"), "2024-01-15");
        assert_eq!(fmt_date("2024"), "2024");
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(one_line("a\nb"), "a b");
        assert_eq!(one_line("a\x1b[2Jb\u{202E}"), "a\\x1B[2Jb\\u{202E}");
        assert_eq!(fit("x\ny", 9), "x\\ny");
        assert_eq!(file_name(Path::new("d/a\nb.dcm")), "a\\nb.dcm");
        assert_eq!(one_line(""), "(empty)");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("a\nb", 4), ["a", "b"]);
        for l in wrap("2.25.144435578125 → ANONYMIZED value of (7FE0,0010)", 9) {
            assert!(l.chars().count() <= 9, "{l}");
        }
    }
}

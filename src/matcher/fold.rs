//! The one normal form text is matched in, on both sides (patterns and text):
//!
//! - compatibility decomposition (NFKD: full-width letters, ligatures, precomposed letters
//!   split into base and marks), then the Latin, Greek and Cyrillic combining marks dropped,
//!   so `Müller`, `Müller` (decomposed), `MÜLLER` and `Muller` are one form;
//! - full Unicode case folding (`ß` → `ss`, so `STRASSE` = `Straße`);
//! - letters that decompose to nothing plainer written the way people type them without the
//!   key: `ø` → `o`, `æ` → `ae`, `œ` → `oe`, `ł` → `l`, `đ`/`ð` → `d`, `þ` → `th`, `ı` → `i`;
//! - apostrophes (`’ ‘ ʼ ´` and the backtick) → `'`, dashes (`‐ ‑ ‒ – — ― −`) → `-`;
//! - any run of whitespace → one space.
//!
//! Hangul syllables and the kana voicing marks are kept as they are: decomposing them would
//! make different names one.
//!
//! [`fold_into`] keeps, for every byte of the folded text, where the character it came from
//! starts and ends in the original, so a match in the folded text replaces the whole original
//! span (a decomposed `u` + `¨` is replaced together).

use caseless::Caseless;
use unicode_normalization::char::decompose_compatible;

/// Whether `c` is a mark that only decorates a Latin, Greek or Cyrillic letter.
fn is_dropped_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Chinese, Japanese and Korean letters: text in these scripts has no spaces between words,
/// so patterns of them are matched without word boundaries.
#[must_use]
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF      // Hangul Jamo
        | 0x2E80..=0x2FDF    // CJK radicals
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3100..=0x312F    // Bopomofo
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0x31F0..=0x31FF    // Katakana extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // half-width Katakana
        | 0x20000..=0x3FFFF) // CJK extensions B and later
}

/// A character that makes a word in Latin-like scripts: a match of a word pattern may not
/// have one right before or after it.
#[must_use]
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

/// Text that is already in the folded form but for ASCII case: no byte outside ASCII, no
/// backtick, no whitespace but single spaces. The search runs on such text as it is (the
/// automaton ignores ASCII case), without folding or allocating.
#[must_use]
pub fn is_plain(b: &[u8]) -> bool {
    let mut prev_space = false;
    for &c in b {
        if c >= 0x80 || c == b'`' || matches!(c, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            return false;
        }
        let space = c == b' ';
        if space && prev_space {
            return false;
        }
        prev_space = space;
    }
    true
}

/// The folded form of a pattern.
#[must_use]
pub fn fold(s: &str) -> String {
    let mut f = Folded::default();
    fold_into(s, &mut f);
    f.text
}

/// Folded text with the original span of each of its bytes.
#[derive(Debug, Default)]
pub struct Folded {
    pub text: String,
    /// Per byte of `text`: the original character's start and end.
    spans: Vec<(u32, u32)>,
}

impl Folded {
    /// The original span of the folded range `r`.
    #[must_use]
    pub fn original(&self, r: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let start = self.spans[r.start].0 as usize;
        let end = self.spans[r.end - 1].1 as usize;
        start..end
    }
}

/// Folds `s` into `out` (cleared first), recording where each folded byte came from.
pub fn fold_into(s: &str, out: &mut Folded) {
    out.text.clear();
    out.spans.clear();
    let mut prev_space = false;
    for (at, c) in s.char_indices() {
        let span = (at as u32, (at + c.len_utf8()) as u32);
        let before = out.text.len();
        if c.is_whitespace() {
            if !prev_space {
                out.text.push(' ');
            }
            prev_space = true;
        } else {
            prev_space = false;
            fold_char(c, &mut out.text);
        }
        out.spans.extend(std::iter::repeat_n(span, out.text.len() - before));
    }
}

fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(if c == '`' { '\'' } else { c.to_ascii_lowercase() });
        return;
    }
    let plain: Option<&str> = match c {
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BC}' | '\u{00B4}' | '\u{2032}' => Some("'"),
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}' => Some("-"),
        'ø' | 'Ø' => Some("o"),
        'æ' | 'Æ' => Some("ae"),
        'œ' | 'Œ' => Some("oe"),
        'ł' | 'Ł' => Some("l"),
        'đ' | 'Đ' | 'ð' | 'Ð' => Some("d"),
        'þ' | 'Þ' => Some("th"),
        'ı' => Some("i"),
        _ => None,
    };
    if let Some(p) = plain {
        out.push_str(p);
        return;
    }
    if matches!(c as u32, 0xAC00..=0xD7A3 | 0x3099..=0x309C) {
        out.push(c);
        return;
    }
    decompose_compatible(c, |d| {
        if !is_dropped_mark(d) {
            out.extend(std::iter::once(d).default_case_fold().filter(|f| !is_dropped_mark(*f)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_form_for_case_marks_and_compatibility_forms() {
        for s in ["Müller", "Mu\u{308}ller", "MÜLLER", "Muller", "ＭＵＬＬＥＲ"] {
            assert_eq!(fold(s), "muller", "{s:?}");
        }
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("STRASSE"), "strasse");
        assert_eq!(fold("José"), "jose");
        assert_eq!(fold("Łukasz Wałęsa"), "lukasz walesa");
        assert_eq!(fold("Søren Ærø"), "soren aero");
        assert_eq!(fold("O’Brien"), fold("O'Brien"));
        assert_eq!(fold("Smith–Jones"), "smith-jones");
        assert_eq!(fold("Doe \t\n Jane"), "doe jane");
        assert_eq!(fold("김민준"), "김민준", "Hangul syllables stay whole");
        assert_ne!(fold("が"), fold("か"), "kana voicing marks stay");
    }

    #[test]
    fn the_original_span_of_a_folded_match() {
        let mut f = Folded::default();
        let s = "x Mu\u{308}ller y";
        fold_into(s, &mut f);
        let at = f.text.find("muller").expect("found");
        assert_eq!(&s[f.original(at..at + 6)], "Mu\u{308}ller");
        let s = "STRAßE";
        fold_into(s, &mut f);
        assert_eq!(f.text, "strasse");
        assert_eq!(&s[f.original(0..7)], s);
    }

    #[test]
    fn plain_text_is_recognised() {
        assert!(is_plain(b"CT THORAX pre-op SMITH"));
        assert!(!is_plain(b"two  spaces"));
        assert!(!is_plain("Köhler".as_bytes()));
        assert!(!is_plain(b"O`Brien"));
    }
}

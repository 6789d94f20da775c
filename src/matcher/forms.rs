//! What to look for: from a patient's identifiers, every form people write them in. The
//! rules, each with its reason:
//!
//! - **Names** (PN): every value of a multi-valued name (`\`), every component group
//!   (alphabetic, ideographic, phonetic: `=`). Whole names in any order of family and given
//!   name, with or without a separator (`Smith^John`, `SMITH JOHN`, `John Smith`,
//!   `Smith, John`, `JohnSmith`, `Smith_John`, `John-Smith`), middle names included
//!   (`John Q Smith`, `Smith, John Q`). Single parts (a component, or a word of one:
//!   `van der Berg` gives `Berg`) count alone when they have [`MIN_LEN`] letters or more and
//!   are no common word of imaging ([`STOP_WORDS`]: a patient called `Head` or `Mask` must
//!   not turn every `MASK liver` into a code; their whole names still count).
//! - **CJK names** (Chinese, Japanese, Korean): family and given name together, with and
//!   without a space (`山田太郎`, `山田 太郎`, `王芳`, `김민준`), and the family name alone when
//!   it has two characters or more (`山田`; a one-character family name such as `王` or `김`
//!   alone would be found in every text). They are found without word boundaries: CJK text
//!   has no spaces between words.
//! - **Transliterations**: besides the form without marks that the fold gives (`Müller` →
//!   `Muller`), the German and Nordic way of writing a letter without its marks (`Mueller`,
//!   `Koehler`, `Aasen` for `Åsen`, `Soeren` for `Søren`). Only in that direction: a patient
//!   written `Mueller` is not looked for as `Müller`.
//! - **IDs** (`PatientID`, OtherPatientIDs): as whole tokens; when six characters or more with
//!   a digit, also inside longer tokens (`MRN778899123`, `CT778899123/`, `ID00PAT001`); with
//!   leading zeros stripped (when four or more characters remain) and, for short numeric IDs,
//!   with one or two added (`012345` for `12345`). An ID of letters only is a word and is
//!   found only as one.
//! - **Dates** (birth date): every form of [`crate::values::dates::date_forms`]; forms of
//!   digits only (`19610423`, `610423`) only where no digit, letter or dot touches them, so
//!   a date inside a UID or a longer number is no finding.

use crate::values::dates::date_forms;

use super::fold::is_cjk;

/// Shorter Latin-script strings would match everywhere (initials, two-digit numbers).
pub const MIN_LEN: usize = 3;

/// CJK strings of fewer characters would match everywhere.
const MIN_CJK_LEN: usize = 2;

/// IDs of at least this many characters (one a digit) are found inside longer tokens.
const INSIDE_MIN_LEN: usize = 6;

/// Where a form may be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// As a word: no letter or digit right before or after it (CJK edges need none).
    Word,
    /// Anywhere, inside longer tokens too.
    Inside,
    /// As a number: no letter, digit or dot right before or after it.
    Number,
}

/// Whether `form` is long enough to be looked for.
pub fn long_enough(form: &str) -> bool {
    let n = form.chars().count();
    if form.chars().any(is_cjk) {
        n >= MIN_CJK_LEN
    } else {
        n >= MIN_LEN
    }
}

/// Words that are names of people but also what images, folders and structures are called
/// (compared after folding): never looked for alone.
pub const STOP_WORDS: &[&str] = &[
    "ABDOMEN",
    "ANONYMIZED",
    "ANONYMOUS",
    "AXIAL",
    "BODY",
    "BONE",
    "BRAIN",
    "BREAST",
    "CHEST",
    "CONTRAST",
    "CORONAL",
    "DATA",
    "DICOM",
    "EXPORT",
    "FILE",
    "FILES",
    "HEAD",
    "HEART",
    "IMAGE",
    "IMAGES",
    "KIDNEY",
    "LABEL",
    "LABELS",
    "LEFT",
    "LIVER",
    "LUNG",
    "MASK",
    "MASKS",
    "NECK",
    "NONE",
    "PATIENT",
    "PELVIS",
    "PHANTOM",
    "RIGHT",
    "SAGITTAL",
    "SCAN",
    "SERIES",
    "SPINE",
    "STUDY",
    "TEST",
    "TUMOR",
    "TUMOUR",
    "UNKNOWN",
];

/// Whether a single name part is a common word ([`STOP_WORDS`]).
#[must_use]
pub fn is_stop_word(part: &str) -> bool {
    let folded = super::fold::fold(part);
    STOP_WORDS.iter().any(|w| w.eq_ignore_ascii_case(&folded))
}

/// The component groups of a PN value: every value (`\`), every group (`=`), as lists of
/// non-empty components.
fn groups(name: &str) -> impl Iterator<Item = Vec<&str>> {
    name.split('\\').flat_map(|v| v.split('=')).filter_map(|g| {
        let comps: Vec<&str> = g.split('^').map(str::trim).filter(|c| !c.is_empty()).collect();
        (!comps.is_empty()).then_some(comps)
    })
}

/// The whole written forms of a person name (never its single parts: [`name_parts`]).
#[must_use]
pub fn name_forms(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for value in name.split('\\') {
        for group in value.split('=') {
            let group = group.trim().trim_end_matches('^');
            if !group.is_empty() {
                out.push(group.to_string());
            }
        }
    }
    for comps in groups(name) {
        if comps.iter().any(|c| c.chars().any(is_cjk)) {
            out.push(comps.concat());
            out.push(comps.join(" "));
            continue;
        }
        out.push(comps.join(" "));
        if let [family, given, middle @ ..] = &comps[..] {
            for sep in [" ", ", ", ",", "", "_", "-", "^", "."] {
                out.push(format!("{family}{sep}{given}"));
                out.push(format!("{given}{sep}{family}"));
            }
            if !middle.is_empty() {
                let given_all = std::iter::once(*given)
                    .chain(middle.iter().copied())
                    .collect::<Vec<_>>()
                    .join(" ");
                out.push(format!("{given_all} {family}"));
                out.push(format!("{family}, {given_all}"));
                out.push(format!("{family} {given_all}"));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The single parts of a person name that count alone (see the module's rules).
pub fn name_parts(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for comps in groups(name) {
        if comps.iter().any(|c| c.chars().any(is_cjk)) {
            if comps[0].chars().count() >= MIN_CJK_LEN {
                out.push(comps[0].to_string());
            }
            continue;
        }
        for comp in comps {
            let words = comp.split([' ', ',', '-', '\u{2010}', '\u{2013}']).map(str::trim);
            for part in std::iter::once(comp).chain(words) {
                if part.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_LEN && !is_stop_word(part) {
                    out.push(part.to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The forms of a patient ID, each with where it may be found.
#[must_use]
pub fn id_forms(id: &str) -> Vec<(String, Reach)> {
    let id = id.trim();
    let reach = |s: &str| {
        if s.chars().count() >= INSIDE_MIN_LEN && s.chars().any(|c| c.is_ascii_digit()) {
            Reach::Inside
        } else {
            Reach::Word
        }
    };
    let mut out = vec![(id.to_string(), reach(id))];
    let stripped = id.trim_start_matches('0');
    if stripped.len() != id.len() && stripped.chars().count() >= 4 {
        out.push((stripped.to_string(), reach(stripped)));
    }
    // With zeros added: found whole (`0778899123` is replaced as one, not as `0` + code).
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
        for zeros in ["0", "00"] {
            let padded = format!("{zeros}{id}");
            let r = reach(&padded);
            out.push((padded, r));
        }
    }
    out
}

/// The forms of a birth date (DICOM DA), each with where it may be found.
#[must_use]
pub fn birth_date_forms(da: &str) -> Vec<(String, Reach)> {
    date_forms(da)
        .into_iter()
        .map(|f| {
            let reach = if f.bytes().all(|b| b.is_ascii_digit()) {
                Reach::Number
            } else {
                Reach::Word
            };
            (f, reach)
        })
        .collect()
}

/// The forms of a study's date that are searched and replaced: those of [`birth_date_forms`]
/// without the six-digit ones (`040119`, `190104`), which any number may be. Each with its
/// place in [`date_forms`], to pair it with the same form of the moved or masked date.
#[must_use]
pub fn study_date_forms(da: &str) -> Vec<(usize, String, Reach)> {
    birth_date_forms(da)
        .into_iter()
        .enumerate()
        .filter(|(_, (f, _))| !(f.len() == 6 && f.bytes().all(|b| b.is_ascii_digit())))
        .map(|(i, (f, reach))| (i, f, reach))
        .collect()
}

/// Other spellings of a form without its marks that the fold does not give: German `ä ö ü`
/// as `ae oe ue`, Nordic `å ø` as `aa oe`. Empty when there is none.
#[must_use]
pub fn transliterated(form: &str) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    let form: String = form.nfc().collect();
    if !form.chars().any(|c| "äöüÄÖÜåÅøØ".contains(c)) {
        return None;
    }
    let mut out = String::with_capacity(form.len() + 4);
    for c in form.chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' | 'ø' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'å' => out.push_str("aa"),
            'Ä' => out.push_str("Ae"),
            'Ö' | 'Ø' => out.push_str("Oe"),
            'Ü' => out.push_str("Ue"),
            'Å' => out.push_str("Aa"),
            c => out.push(c),
        }
    }
    Some(out)
}

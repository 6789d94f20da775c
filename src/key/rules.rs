//! What a code may look like and what it must never equal: the rules every backend and every
//! way into the key (generated, imported, migrated) is held to.

/// Patient keys that start with a backslash are made by dams for patients without a
/// `PatientID` (e.g. `\N\DOE^JANE\19700101`); a real `PatientID` (VR LO) can never contain `\`.
#[must_use]
pub fn is_synthetic(patient_key: &str) -> bool {
    patient_key.starts_with('\\')
}

/// A real identifier (`PatientID`, `OtherPatientID`) folded for case-insensitive comparison with
/// codes: full Unicode default case folding (`ß` → `ss`, `ſ` → `s`, KELVIN SIGN → `k`), so
/// that no spelling a case-insensitive file share or a person would take for a code slips
/// through.
#[must_use]
pub fn fold_id(id: &str) -> String {
    // For ASCII, full case folding is ASCII lowercase (and much faster).
    if id.is_ascii() {
        id.to_ascii_lowercase()
    } else {
        caseless::default_case_fold_str(id)
    }
}

/// A code folded the same way. Codes are ASCII (see [`valid_code`]), where full case folding
/// is ASCII lowercase.
#[must_use]
pub fn fold_code(code: &str) -> String {
    if code.is_ascii() {
        code.to_ascii_lowercase()
    } else {
        fold_id(code)
    }
}

/// A code that is safe as `PatientID` (LO), `PatientName` (PN: no '^' or '='), and as a file or
/// folder name (no separator, not `.` or `..`, nothing hidden).
#[must_use]
pub fn valid_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && !code.starts_with('.')
        && code.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The limits on how generated codes look, for `set_format` and for a store being read.
pub fn check_format(prefix: &str, digits: usize) -> Result<(), String> {
    if !(1..=12).contains(&digits) {
        return Err("digits must be between 1 and 12".into());
    }
    // The codes made from it must be valid codes (as PatientID, PatientName and folder name),
    // up to the largest number a code can have (20 digits).
    if prefix.is_empty() || !valid_code(&format!("{prefix}{}", "0".repeat(digits.max(20)))) {
        return Err(
            "a code prefix is made of letters, digits, '-', '_' or '.', does not start with '.', and fits in 64 characters with a code's number"
                .into(),
        );
    }
    Ok(())
}

/// The largest date offset, in days either way (about a hundred years).
pub const MAX_DATE_OFFSET: i32 = 36_500;

/// A date offset the key store keeps: a whole number of days, before or after, between 1 and
/// [`MAX_DATE_OFFSET`] (0 would move nothing; "no offset" is `None`).
#[must_use]
pub fn valid_date_offset(days: i32) -> bool {
    days != 0 && days.unsigned_abs() <= MAX_DATE_OFFSET.unsigned_abs()
}

pub const DATE_OFFSET_RULE: &str = "a date offset is a whole number of days, before (-) or after, between 1 and 36500";

/// A date offset as a table gives it: empty for none, else an integer with an optional sign
/// that [`valid_date_offset`] accepts. The reason when it is refused never quotes the cell.
pub fn parse_date_offset(cell: &str) -> Result<Option<i32>, &'static str> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DATE_OFFSET_RULE);
    }
    // More digits than any valid offset has: out of range, without overflowing.
    let days: i32 = match digits.trim_start_matches('0') {
        d if d.len() > 6 => return Err(DATE_OFFSET_RULE),
        d => d.parse().unwrap_or(0),
    };
    let days = if cell.starts_with('-') { -days } else { days };
    if valid_date_offset(days) {
        Ok(Some(days))
    } else {
        Err(DATE_OFFSET_RULE)
    }
}

pub const CODE_RULE: &str = "a code may hold only letters, digits, '-', '_' and '.', at most 64, and not start with '.' (it becomes PatientID, PatientName and a folder name)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_codes_must_be_safe_names() {
        for ok in ["P0001", "STUDY-12_a.b", "7"] {
            assert!(valid_code(ok), "{ok}");
        }
        for bad in [
            "../x",
            "a/b",
            "..",
            ".hidden",
            "A^B",
            "A=B",
            "a b",
            "",
            &"x".repeat(65),
            "Müller",
        ] {
            assert!(!valid_code(bad), "{bad}");
        }
    }

    #[test]
    fn date_offsets_are_whole_days_within_a_hundred_years() {
        for (cell, days) in [
            ("", None),
            ("  ", None),
            ("1", Some(1)),
            ("-1234", Some(-1234)),
            ("+17", Some(17)),
            ("36500", Some(36500)),
            ("-36500", Some(-36500)),
            ("007", Some(7)),
        ] {
            assert_eq!(parse_date_offset(cell), Ok(days), "{cell:?}");
        }
        for bad in [
            "0",
            "-0",
            "+",
            "-",
            "36501",
            "-36501",
            "1.5",
            "12d",
            "1e3",
            "--3",
            "9999999999999999999999",
            "x",
        ] {
            assert!(parse_date_offset(bad).is_err(), "{bad:?}");
        }
        assert!(!valid_date_offset(0) && !valid_date_offset(i32::MIN) && valid_date_offset(-36500));
    }

    /// Every character whose full case folding is made only of characters a code may hold
    /// (computed with Python's `str.casefold` over all of Unicode): an ID spelled with one of
    /// them is the same as the ASCII code for the rule "a code never equals an ID".
    #[test]
    fn folding_is_full_unicode_case_folding() {
        let non_ascii_folding_to_code_chars = [
            ('\u{DF}', "ss"),
            ('\u{17F}', "s"),
            ('\u{1E9E}', "ss"),
            ('\u{212A}', "k"),
            ('\u{FB00}', "ff"),
            ('\u{FB01}', "fi"),
            ('\u{FB02}', "fl"),
            ('\u{FB03}', "ffi"),
            ('\u{FB04}', "ffl"),
            ('\u{FB05}', "st"),
            ('\u{FB06}', "st"),
        ];
        for (c, f) in non_ascii_folding_to_code_chars {
            assert_eq!(fold_id(&c.to_string()), f, "{c:?}");
        }
        assert_eq!(fold_id("PAT\u{212A}"), fold_code("patk"));
        assert_eq!(fold_id("Stra\u{DF}e"), fold_code("STRASSE"));
        assert_eq!(fold_code("C1"), fold_code("c1"));
        assert_ne!(fold_id("Müller"), fold_code("muller"));
        assert!(is_synthetic("\\N\\DOE^JANE\\19700101"));
        assert!(!is_synthetic("DOE"));
    }
}

//! `shift`: every date of a patient moves by the same number of days, so every interval
//! between two of them (follow-up, response, age at a study) stays as it was.
//!
//! - The offset is the patient's: derived from the key's secret and the patient's key with
//!   HMAC-SHA256 ([`offset`]), within the profile's range; the key store records it when a
//!   shifted file is first written, and `dams key import --offset-column` can set it. Knowing
//!   the `PatientID` is not enough to undo it (peers hash the `PatientID` without a secret).
//! - Values keep their form: a DICOM DA stays `YYYYMMDD`, a DT keeps its precision, time of
//!   day, fraction and UTC offset (only the date part moves); ISO dates and datetimes keep
//!   their separators and what follows the date; day-first, month-first and month-name forms
//!   keep their separators, padding, language and case ([`shift_in_text`]).
//! - A DT or date of less than day precision (a year, a year and month) is shifted from its
//!   first day and written in its own precision.
//! - Times stay as they are; an age (AS) stays too: birth date and study dates move by the same
//!   offset, so the age at each study is unchanged.

use std::ops::Range;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The range offsets are drawn from when a profile names none: one to ten years back.
pub const DEFAULT_RANGE: (i32, i32) = (-3650, -365);

/// The patient's offset in days, within `range` (inclusive, either order), from the key's
/// secret and the patient's key. The same on every run and machine sharing the key.
///
/// # Panics
///
/// Never: an HMAC key may be of any length, and the fallback key is a fixed 32 bytes.
#[must_use]
pub fn offset(secret: &[u8], patient_key: &str, range: (i32, i32)) -> i32 {
    let (lo, hi) = (range.0.min(range.1), range.0.max(range.1));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new_from_slice(&[0u8; 32]).expect("HMAC key"));
    mac.update(b"dams-date-shift-v1\0");
    mac.update(patient_key.as_bytes());
    let d = mac.finalize().into_bytes();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
    let mut days = i64::from(lo) + (u64::from_be_bytes(b) % span) as i64;
    // A zero offset would leave the dates as they are.
    if days == 0 {
        days = if hi != 0 { i64::from(hi) } else { i64::from(lo) };
    }
    days as i32
}

/// Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
#[must_use]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number of [`days_from_civil`].
#[must_use]
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// A real calendar date.
#[must_use]
pub fn valid(y: i64, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// `(y, m, d)` moved by `days`; `None` outside the years 1–9999.
#[must_use]
pub fn add(y: i64, m: u32, d: u32, days: i32) -> Option<(i64, u32, u32)> {
    let r = civil_from_days(days_from_civil(y, m, d) + i64::from(days));
    (1..=9999).contains(&r.0).then_some(r)
}

fn num(s: &str) -> Option<u32> {
    numb(s.as_bytes())
}

/// Digits as a number: bytes, so that no slice of a text can fall inside a character.
fn numb(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// A DICOM DA (`YYYYMMDD`, or the ACR-NEMA `YYYY.MM.DD`) or a DA range (`A-B`, `-B`, `A-`)
/// moved by `days`.
#[must_use]
pub fn shift_da(value: &str, days: i32) -> Option<String> {
    let v = value.trim();
    if let Some((a, b)) = v.split_once('-') {
        // One range, each side a date or nothing: never a chain of dashes (a hostile value of
        // a million dashes must not recurse a million deep).
        if (a.is_empty() && b.is_empty()) || b.contains('-') {
            return None;
        }
        let side = |s: &str| {
            if s.is_empty() {
                Some(String::new())
            } else {
                shift_da(s, days)
            }
        };
        return Some(format!("{}-{}", side(a)?, side(b)?));
    }
    let b = v.as_bytes();
    let (y, m, d, dotted) = match b.len() {
        8 => (numb(&b[..4])?, numb(&b[4..6])?, numb(&b[6..8])?, false),
        10 if b[4] == b'.' && b[7] == b'.' => (numb(&b[..4])?, numb(&b[5..7])?, numb(&b[8..10])?, true),
        _ => return None,
    };
    if !valid(i64::from(y), m, d) {
        return None;
    }
    let (y, m, d) = add(i64::from(y), m, d, days)?;
    Some(if dotted {
        format!("{y:04}.{m:02}.{d:02}")
    } else {
        format!("{y:04}{m:02}{d:02}")
    })
}

/// The day number ([`days_from_civil`]) of the date a DICOM DA or DT value starts with, when
/// it starts with one of day precision (`YYYYMMDD…`).
#[must_use]
pub fn day_number(value: &str) -> Option<i64> {
    let b = value.trim().as_bytes();
    let (y, m, d) = (numb(b.get(..4)?)?, numb(b.get(4..6)?)?, numb(b.get(6..8)?)?);
    valid(i64::from(y), m, d).then(|| days_from_civil(i64::from(y), m, d))
}

/// A DICOM DT (`YYYY[MM[DD[hh[mm[ss[.F]]]]]][&ZZXX]`) moved by `days`: the date part moves, its
/// precision, the time of day and the UTC offset stay.
pub fn shift_dt(value: &str, days: i32) -> Option<String> {
    let v = value.trim();
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 4 || (digits < 8 && !matches!(digits, 4 | 6)) {
        return None;
    }
    // What may follow: a fraction after the seconds, then a UTC offset.
    let mut rest = &v[digits..];
    if digits == 14
        && let Some(f) = rest.strip_prefix('.')
    {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=6).contains(&n) {
            return None;
        }
        rest = &f[n..];
    }
    let offset_ok = rest.len() == 5 && rest.starts_with(['+', '-']) && rest[1..].bytes().all(|b| b.is_ascii_digit());
    if !(rest.is_empty() || offset_ok) || digits > 14 {
        return None;
    }
    let y = i64::from(num(&v[..4])?);
    let m = if digits >= 6 { num(&v[4..6])? } else { 1 };
    let d = if digits >= 8 { num(&v[6..8])? } else { 1 };
    if !valid(y, m, d) {
        return None;
    }
    let (ny, nm, nd) = add(y, m, d, days)?;
    let date = format!("{ny:04}{nm:02}{nd:02}");
    let keep = digits.min(8);
    Some(format!("{}{}", &date[..keep], &v[keep..]))
}

/// A date in any form [`shift_in_text`] knows, when it is the whole value (DICOM DA and DT
/// first), moved by `days`.
#[must_use]
pub fn shift(value: &str, days: i32) -> Option<String> {
    let v = value.trim();
    if let Some(s) = shift_da(v, days).or_else(|| shift_dt(v, days)) {
        return Some(s);
    }
    let found = shift_in_text(v, days);
    match found.as_slice() {
        [(r, by)] if r.start == 0 && r.end == v.len() => Some(by.clone()),
        [(r, by)] if r.start == 0 && is_iso_time_tail(&v[r.end..]) => Some(format!("{by}{}", &v[r.end..])),
        _ => None,
    }
}

/// What may follow an ISO date in an ISO datetime (`T10:00:00Z`, ` 10:00`).
fn is_iso_time_tail(s: &str) -> bool {
    let Some(t) = s.strip_prefix(['T', ' ']) else {
        return false;
    };
    t.len() >= 2 && t.as_bytes()[..2].iter().all(u8::is_ascii_digit)
}

const MONTHS: [[&str; 12]; 4] = [
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ],
    [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    [
        "januar",
        "februar",
        "märz",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "dezember",
    ],
    [
        "jan", "feb", "mrz", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez",
    ],
];

/// A month name at the start of `s`: (month 1–12, which list, its length in bytes). The
/// longest name wins; a name must end at a non-letter.
fn month_at(s: &str) -> Option<(u32, usize, usize)> {
    let word_len = s
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map_or(s.len(), |(i, _)| i);
    if word_len < 3 {
        return None;
    }
    let word = s[..word_len].to_lowercase();
    let word = word.trim_end_matches('.');
    for (list, names) in MONTHS.iter().enumerate() {
        if let Some(m) = names.iter().position(|n| *n == word) {
            return Some((m as u32 + 1, list, word_len));
        }
    }
    // "Sept", "Maerz"
    match word {
        "sept" => Some((9, 1, word_len)),
        "maerz" => Some((3, 2, word_len)),
        _ => None,
    }
}

/// The month's name in the same list and case as `like`.
fn month_name(m: u32, list: usize, like: &str) -> String {
    let name = MONTHS[list][m as usize - 1];
    let name = if like == "maerz" || like.eq_ignore_ascii_case("maerz") {
        "maerz"
    } else if like.eq_ignore_ascii_case("sept") {
        if m == 9 { "sept" } else { name }
    } else {
        name
    };
    let letters: Vec<char> = like.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() > 1 && letters.iter().all(|c| c.is_uppercase()) {
        name.to_uppercase()
    } else if letters.first().is_some_and(|c| c.is_uppercase()) {
        let mut c = name.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    } else {
        name.to_string()
    }
}

/// 2 when a number is written with a leading zero, else 1.
fn zero_padded(digits: &str) -> usize {
    if digits.len() == 2 && digits.starts_with('0') {
        2
    } else {
        1
    }
}

/// The length of an ISO 8601 time of day starting `s` with its `T` (`T10:15`, `T10:15:00.5Z`,
/// `T101500+0100`), or 0.
pub fn iso_time_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first() != Some(&b'T') {
        return 0;
    }
    let mut i = 1;
    let digits = |i: usize| b.get(i..i + 2).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if !digits(i) {
        return 0;
    }
    i += 2;
    for _ in 0..2 {
        let colon = usize::from(b.get(i) == Some(&b':'));
        if digits(i + colon) {
            i += colon + 2;
        } else {
            break;
        }
    }
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(b'+' | b'-') if digits(i + 1) => {
            i += 3;
            let colon = usize::from(b.get(i) == Some(&b':'));
            if digits(i + colon) {
                i += colon + 2;
            }
        }
        _ => {}
    }
    i
}

fn pad(n: u32, width: usize) -> String {
    if width >= 2 { format!("{n:02}") } else { n.to_string() }
}

/// A plausible year for a date found in free text (8-digit numbers are common).
fn plausible_year(y: u32) -> bool {
    (1850..=2150).contains(&y)
}

/// Every date written in `text` in a form dams knows, each with its shifted form: DICOM
/// `YYYYMMDD` (also followed by a time: `YYYYMMDDhhmmss`), ISO `YYYY-MM-DD` (also `/` and
/// `.`, also starting an ISO datetime), day first `D.M.YYYY`, `D/M/YYYY`, `D-M-YYYY`, month
/// first `M/D/YYYY` where the day is over 12, and month names in English and German (`23 Apr
/// 1961`, `23-Apr-1961`, `April 23, 1961`, `23. April 1961`). A slash form whose day and
/// month could be either is read day first. Digits that are part of a UID or a longer number
/// are no date; two-digit years are not searched (only a patient's known dates are, by the
/// matcher). Byte ranges in order, not overlapping.
#[must_use]
pub fn shift_in_text(text: &str, days: i32) -> Vec<(Range<usize>, String)> {
    map_dates_in_text(text, &|y, m, d| add(y, m, d, days))
}

/// Every date of `text` as [`shift_in_text`] finds them, each written anew in its own form
/// with the date `f` gives (`None` leaves it out: the date is not touched).
pub fn map_dates_in_text(
    text: &str,
    f: &dyn Fn(i64, u32, u32) -> Option<(i64, u32, u32)>,
) -> Vec<(Range<usize>, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // A date starts a word, and not after a digit and a dot (inside a UID).
        let in_uid = i >= 2 && b[i - 1] == b'.' && b[i - 2].is_ascii_digit();
        let boundary = i == 0 || !(is_word_byte(b[i - 1]) || in_uid);
        if !boundary || !(c.is_ascii_digit() || c.is_ascii_alphabetic()) {
            i += utf8_len(c);
            continue;
        }
        if let Some((len, by)) = date_at(&text[i..], f) {
            out.push((i..i + len, by));
            i += len;
            continue;
        }
        // Skip the rest of this word.
        while i < b.len() && is_word_byte(b[i]) {
            i += 1;
        }
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// How dates found in text are moved: a date's year, month and day to the new ones (`None`:
/// the date is left as it is).
type MapDate<'f> = dyn Fn(i64, u32, u32) -> Option<(i64, u32, u32)> + 'f;

/// A date starting `s`, ending at a boundary: its length and its shifted form.
fn date_at(s: &str, f: &MapDate<'_>) -> Option<(usize, String)> {
    let b = s.as_bytes();
    let run = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if run == 0 {
        return month_first_date(s, f);
    }
    // YYYYMMDD, optionally with a time (DICOM DT without separators).
    if run >= 8 && b.get(4).is_some_and(u8::is_ascii_digit) {
        return dicom_date(b, run, f);
    }
    // YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD (also starting an ISO datetime).
    if run == 4 && b.len() >= 10 && matches!(b[4], b'-' | b'/' | b'.') && b[7] == b[4] {
        return iso_date(b, f);
    }
    if !(1..=2).contains(&run) {
        return None;
    }
    let first = num(&s[..run])?;
    let rest = &s[run..];
    // Day first with a month name: "23 Apr 1961", "23-Apr-1961", "23. April 1961".
    let lead = if rest.starts_with(". ") {
        2
    } else {
        usize::from(rest.starts_with([' ', '-']))
    };
    if lead > 0
        && let Some(month) = month_at(&rest[lead..])
    {
        return day_first_named_date(s, run, first, lead, month, f);
    }
    numeric_date(s, run, first, f)
}

/// Whether a date ending at byte `at` of `b` ends there: it must not run on into a word or
/// a dotted number (a UID).
fn ends_ok(b: &[u8], at: usize) -> bool {
    match b.get(at) {
        None => true,
        Some(c) if is_word_byte(*c) => false,
        Some(b'.') => !b.get(at + 1).is_some_and(u8::is_ascii_digit),
        _ => true,
    }
}

/// [`ends_ok`], or an ISO datetime's `T` and digits follow the date.
fn ends_ok_dt(b: &[u8], at: usize) -> bool {
    ends_ok(b, at) || (b.get(at) == Some(&b'T') && b.get(at + 1).is_some_and(u8::is_ascii_digit))
}

/// Month name first: "April 23, 1961", "Apr 23, 1961".
fn month_first_date(s: &str, f: &MapDate<'_>) -> Option<(usize, String)> {
    let (m, list, len) = month_at(s)?;
    let rest = &s[len..];
    let sp = rest.bytes().take_while(|c| *c == b' ').count();
    if sp == 0 {
        return None;
    }
    let rest2 = &rest[sp..];
    let dlen = rest2.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&dlen) {
        return None;
    }
    let after = &rest2[dlen..];
    let sep = if after.starts_with(", ") {
        2
    } else if after.starts_with(' ') {
        1
    } else {
        return None;
    };
    let ystr = &after[sep..];
    let ylen = ystr.bytes().take_while(u8::is_ascii_digit).count();
    if ylen != 4 {
        return None;
    }
    let total = len + sp + dlen + sep + 4;
    if !ends_ok(s.as_bytes(), total) {
        return None;
    }
    let (y, d) = (num(&ystr[..4])?, num(&rest2[..dlen])?);
    if !plausible_year(y) || !valid(i64::from(y), m, d) {
        return None;
    }
    let (ny, nm, nd) = f(i64::from(y), m, d)?;
    let name = month_name(nm, list, &s[..len]);
    Some((
        total,
        format!(
            "{name}{}{}{}{ny:04}",
            &rest[..sp],
            pad(nd, zero_padded(&rest2[..dlen])),
            &after[..sep]
        ),
    ))
}

/// `YYYYMMDD` starting a run of `run` digits of `b`, optionally with a time (DICOM DT
/// without separators).
fn dicom_date(b: &[u8], run: usize, f: &MapDate<'_>) -> Option<(usize, String)> {
    if !(run == 8 || matches!(run, 10 | 12 | 14)) {
        return None;
    }
    let (y, m, d) = (numb(&b[..4])?, numb(&b[4..6])?, numb(&b[6..8])?);
    if !plausible_year(y) || !valid(i64::from(y), m, d) {
        return None;
    }
    if run > 8 {
        let hh = numb(&b[8..10])?;
        let mm = if run >= 12 { numb(&b[10..12])? } else { 0 };
        let ss = if run >= 14 { numb(&b[12..14])? } else { 0 };
        if hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
    }
    if !ends_ok(b, run) {
        return None;
    }
    let (ny, nm, nd) = f(i64::from(y), m, d)?;
    Some((8, format!("{ny:04}{nm:02}{nd:02}")))
}

/// `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD` at the start of `b` (also starting an ISO
/// datetime).
fn iso_date(b: &[u8], f: &MapDate<'_>) -> Option<(usize, String)> {
    let (y, m, d) = (numb(&b[..4])?, numb(&b[5..7])?, numb(&b[8..10])?);
    if !plausible_year(y) || !valid(i64::from(y), m, d) || !ends_ok_dt(b, 10) {
        return None;
    }
    let sep = b[4] as char;
    let (ny, nm, nd) = f(i64::from(y), m, d)?;
    Some((10, format!("{ny:04}{sep}{nm:02}{sep}{nd:02}")))
}

/// Day first with a month name: "23 Apr 1961", "23-Apr-1961", "23. April 1961". `s` starts
/// with the `run` digits of day `first`, `lead` bytes of separator, then the `month` name
/// ([`month_at`]).
fn day_first_named_date(
    s: &str,
    run: usize,
    first: u32,
    lead: usize,
    (m, list, len): (u32, usize, usize),
    f: &MapDate<'_>,
) -> Option<(usize, String)> {
    let rest = &s[run..];
    let after = &rest[lead + len..];
    let sep = after.chars().next().filter(|c| *c == ' ' || *c == '-')?;
    let ystr = &after[1..];
    let ylen = ystr.bytes().take_while(u8::is_ascii_digit).count();
    let total = run + lead + len + 1 + 4;
    if ylen != 4 || !ends_ok(s.as_bytes(), total) {
        return None;
    }
    let y = num(&ystr[..4])?;
    if !plausible_year(y) || !valid(i64::from(y), m, first) {
        return None;
    }
    let (ny, nm, nd) = f(i64::from(y), m, first)?;
    let name = month_name(nm, list, &rest[lead..lead + len]);
    Some((
        total,
        format!("{}{}{name}{sep}{ny:04}", pad(nd, zero_padded(&s[..run])), &rest[..lead]),
    ))
}

/// Numeric, day or month first: `D.M.YYYY`, `D/M/YYYY`, `D-M-YYYY`, `M/D/YYYY`. `s` starts
/// with the `run` digits of `first`.
fn numeric_date(s: &str, run: usize, first: u32, f: &MapDate<'_>) -> Option<(usize, String)> {
    let rest = &s[run..];
    let sep = *rest.as_bytes().first()?;
    if !matches!(sep, b'.' | b'/' | b'-') {
        return None;
    }
    let r = &rest[1..];
    let mlen = r.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&mlen) || r.as_bytes().get(mlen) != Some(&sep) {
        return None;
    }
    let second = num(&r[..mlen])?;
    let ystr = &r[mlen + 1..];
    let ylen = ystr.bytes().take_while(u8::is_ascii_digit).count();
    let total = run + 1 + mlen + 1 + 4;
    if ylen != 4 || !ends_ok(s.as_bytes(), total) {
        return None;
    }
    let y = num(&ystr[..4])?;
    if !plausible_year(y) {
        return None;
    }
    let y = i64::from(y);
    // Day first, unless only month first is a date (a slash form with a day over 12).
    let (d, m, month_first) = if valid(y, second, first) {
        (first, second, false)
    } else if sep == b'/' && valid(y, first, second) {
        (second, first, true)
    } else {
        return None;
    };
    let (ny, nm, nd) = f(y, m, d)?;
    let sep = sep as char;
    // Written with two digits each (04.03.2019, 28.12.2005): the new date too; else as short
    // as it goes (4.3.2019).
    let width = if run == 2 && mlen == 2 { 2 } else { 1 };
    let (a, b2) = if month_first {
        (pad(nm, width), pad(nd, width))
    } else {
        (pad(nd, width), pad(nm, width))
    };
    Some((total, format!("{a}{sep}{b2}{sep}{ny:04}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (1900, 3, 1), (1600, 12, 31), (2024, 2, 29)] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28), 2);
        assert_eq!(add(2020, 3, 1, -1), Some((2020, 2, 29)));
        assert_eq!(add(2019, 3, 1, -1), Some((2019, 2, 28)));
        assert!(!valid(1900, 2, 29) && valid(2000, 2, 29));
    }

    #[test]
    fn offsets_are_keyed_in_range_and_never_zero() {
        let a = offset(b"secret-1", "PAT001", DEFAULT_RANGE);
        assert_eq!(a, offset(b"secret-1", "PAT001", DEFAULT_RANGE));
        assert!((-3650..=-365).contains(&a), "{a}");
        let others: std::collections::BTreeSet<i32> = (0..50)
            .map(|i| offset(b"secret-1", &format!("P{i}"), DEFAULT_RANGE))
            .collect();
        assert!(others.len() > 40, "offsets spread: {others:?}");
        let other_secret = (0..20)
            .filter(|i| {
                offset(b"secret-1", &format!("P{i}"), DEFAULT_RANGE)
                    != offset(b"secret-2", &format!("P{i}"), DEFAULT_RANGE)
            })
            .count();
        assert!(other_secret > 15);
        assert!((0..30).all(|i| offset(b"s", &format!("x{i}"), (-1, 1)) != 0));
        assert!((5..=9).contains(&offset(b"s", "x", (9, 5))));
    }

    #[test]
    fn dicom_values_keep_their_form() {
        assert_eq!(shift_da("20190304", -10).as_deref(), Some("20190222"));
        assert_eq!(shift_da("2019.03.04", -10).as_deref(), Some("2019.02.22"));
        assert_eq!(shift_da("20190304-20190310", 1).as_deref(), Some("20190305-20190311"));
        assert_eq!(shift_da("-20190310", 1).as_deref(), Some("-20190311"));
        assert_eq!(shift_da("20190230", 1), None);
        assert_eq!(
            shift_da(&"-".repeat(1_000_000), 1),
            None,
            "no recursion on a chain of dashes"
        );
        assert_eq!(shift_da("20190304-20190310-20190311", 1), None);
        assert_eq!(day_number("20190304101500"), Some(day_number("20190304").unwrap()));
        assert_eq!(day_number("2019"), None);
        assert_eq!(day_number("2019é304"), None);
        assert_eq!(
            shift_dt("20190304101530.123456+0100", -4).as_deref(),
            Some("20190228101530.123456+0100")
        );
        assert_eq!(
            shift_dt("201903", -31).as_deref(),
            Some("201901"),
            "month precision stays"
        );
        assert_eq!(shift_dt("2019", -1).as_deref(), Some("2018"));
        assert_eq!(shift_dt("2019-0500", 0).as_deref(), Some("2019-0500"));
        assert_eq!(shift_dt("20190304T10", 1), None);
        assert_eq!(shift("20190304", 1).as_deref(), Some("20190305"));
        assert_eq!(
            shift("2019-03-04T10:00:00Z", 1).as_deref(),
            Some("2019-03-05T10:00:00Z")
        );
        assert_eq!(shift("04.03.2019", 1).as_deref(), Some("05.03.2019"));
        assert_eq!(shift("March 4, 2019", 28).as_deref(), Some("April 1, 2019"));
        assert_eq!(shift("unknown", 1), None);
        assert_eq!(shift("", 1), None);
    }

    fn shifted(text: &str, days: i32) -> String {
        let mut out = String::new();
        let mut last = 0;
        for (r, by) in shift_in_text(text, days) {
            out.push_str(&text[last..r.start]);
            out.push_str(&by);
            last = r.end;
        }
        out.push_str(&text[last..]);
        out
    }

    #[test]
    fn dates_in_text_are_found_in_every_form() {
        let cases = [
            ("seen 20190304, again", "seen 20190302, again"),
            ("at 20190304101500 sharp", "at 20190302101500 sharp"),
            ("2019-03-04", "2019-03-02"),
            ("2019/03/04 and 2019.03.04", "2019/03/02 and 2019.03.02"),
            ("2019-03-04T10:00:00+01:00", "2019-03-02T10:00:00+01:00"),
            ("04.03.2019", "02.03.2019"),
            ("4.3.2019", "2.3.2019"),
            ("on 1.3.2019.", "on 27.2.2019."),
            ("04/03/2019 (day first)", "02/03/2019 (day first)"),
            ("03/24/2019 (month first)", "03/22/2019 (month first)"),
            ("04-03-2019", "02-03-2019"),
            ("4 Mar 2019", "2 Mar 2019"),
            ("04-MAR-2019", "02-MAR-2019"),
            ("4 March 2019", "2 March 2019"),
            ("March 4, 2019", "March 2, 2019"),
            ("March 04, 2019", "March 02, 2019"),
            ("February 28, 2005", "February 26, 2005"),
            ("March 1, 2005", "February 27, 2005"),
            ("28.12.2005", "26.12.2005"),
            ("01.03.2005", "27.02.2005"),
            ("Mar 4, 2019", "Mar 2, 2019"),
            ("4. März 2019", "2. März 2019"),
            ("1. März 2019", "27. Februar 2019"),
            ("1. Mrz 2019", "27. Feb 2019"),
            ("1 MAR 2019", "27 FEB 2019"),
        ];
        for (text, want) in cases {
            assert_eq!(shifted(text, -2), want, "{text}");
        }
    }

    #[test]
    fn any_text_is_searched_without_a_panic() {
        let parts = [
            "2019", "-", "/", ".", "03", "0", "é", "€", "日本", "…", " ", "T", "10", ":", "Mär", "März", "Apr", ",",
            "20190304", "1", "12", "+01", "Z",
        ];
        // Every string of up to four parts (23^4 ≈ 280,000), each searched and shifted whole.
        let mut text = String::new();
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in parts {
                        text.clear();
                        text.push_str(a);
                        text.push_str(b);
                        text.push_str(c);
                        text.push_str(d);
                        let _ = shift_in_text(&text, -400);
                        let _ = shift(&text, -400);
                        let _ = shift_dt(&text, 3);
                        let _ = shift_da(&text, 3);
                    }
                }
            }
        }
        for t in [
            "2019-03-…",
            "2019-03-€",
            "2019-03-0é",
            "2019/03/日本",
            "period 2004-03-… pending",
        ] {
            assert!(shift_in_text(t, 1).is_empty(), "{t}");
        }
    }

    #[test]
    fn iso_times_are_measured() {
        assert_eq!(iso_time_len("T10:15:00+01:00 x"), 15);
        assert_eq!(iso_time_len("T10:15:00.25Z"), 13);
        assert_eq!(iso_time_len("T101500+0100"), 12);
        assert_eq!(iso_time_len("T10"), 3);
        assert_eq!(iso_time_len("Tx"), 0);
        assert_eq!(iso_time_len(" 10:00"), 0);
    }

    #[test]
    fn numbers_and_uids_are_no_dates() {
        for text in [
            "1.2.840.10008.20190304.1",
            "1.2.840.20190304",
            "20190304.5",
            "ID 120190304",
            "A20190304",
            "201903041",
            "2019030410153",
            "99999999",
            "00000000",
            "19001301",
            "12345678",
            "32.01.2019",
            "v1.2.2019",
            "1961-04-23x",
            "May I come on 4?",
        ] {
            assert!(
                shift_in_text(text, -2).is_empty(),
                "{text}: {:?}",
                shift_in_text(text, -2)
            );
        }
    }

    #[test]
    fn intervals_survive() {
        let dates = ["19610423", "20190304", "20191231", "20200229", "20210101"];
        for days in [-3650, -365, -1, 1, 1234] {
            let moved: Vec<String> = dates.iter().map(|d| shift_da(d, days).expect("date")).collect();
            let day = |s: &str| {
                days_from_civil(
                    s[..4].parse().unwrap(),
                    s[4..6].parse().unwrap(),
                    s[6..].parse().unwrap(),
                )
            };
            for i in 0..dates.len() {
                assert_eq!(day(&moved[i]) - day(dates[i]), i64::from(days));
                for j in 0..dates.len() {
                    assert_eq!(day(&moved[i]) - day(&moved[j]), day(dates[i]) - day(dates[j]));
                }
            }
        }
    }
}

//! `keep-year`: a date keeps its year, month and day become 01-01, in whatever form the date
//! was written (DICOM DA/DT, ISO 8601, day-first forms such as 31.12.1950).

/// The masked form of `value`, or `None` when it is not a date we recognise.
#[must_use]
pub fn keep_year(value: &str) -> Option<String> {
    let v = value.trim();
    let b = v.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    // DICOM DA (YYYYMMDD) and DT (YYYYMMDDhhmmss...): the time of day goes too.
    if b.len() >= 8 && digits(0..8) {
        return valid_md(&v[4..6], &v[6..8]).then(|| format!("{}0101", &v[..4]));
    }
    // ISO 8601: YYYY-MM-DD[Thh:mm...], also YYYY/MM/DD and YYYY.MM.DD.
    if b.len() >= 10
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && b[4] == b[7]
        && matches!(b[4], b'-' | b'/' | b'.')
    {
        let sep = b[4] as char;
        return valid_md(&v[5..7], &v[8..10]).then(|| format!("{}{sep}01{sep}01", &v[..4]));
    }
    // Day first: DD.MM.YYYY, DD/MM/YYYY, DD-MM-YYYY.
    if b.len() == 10
        && digits(0..2)
        && digits(3..5)
        && digits(6..10)
        && b[2] == b[5]
        && matches!(b[2], b'-' | b'/' | b'.')
    {
        let sep = b[2] as char;
        return valid_md(&v[3..5], &v[0..2]).then(|| format!("01{sep}01{sep}{}", &v[6..]));
    }
    None
}

fn valid_md(month: &str, day: &str) -> bool {
    let m: u32 = month.parse().unwrap_or(0);
    let d: u32 = day.parse().unwrap_or(0);
    (1..=12).contains(&m) && (1..=31).contains(&d)
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_DE: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
/// Abbreviations that are not the first three letters of the German name.
const MONTHS_DE_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mrz", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez",
];

/// The written forms of a DICOM date (YYYYMMDD) in common use, for the search for identifiers
/// left behind and for replacing them: DICOM and ISO (`19610423`, `1961-04-23`, `1961/04/23`,
/// `1961.04.23`), day first with and without leading zeros (`23.04.1961`, `23.4.1961`,
/// `23/04/1961`, `23-04-1961`), month first (`04/23/1961`, `4/23/1961`), month names in
/// English and German, long and short (`23 APR 1961`, `23-Apr-1961`, `April 23, 1961`,
/// `23. April 1961`, `23. Mrz 1961`), and two-digit years (`610423`, `230461`). Case does
/// not matter to the matcher. The list has the same length and order for every date, so the
/// forms of a date and of its masked value pair up.
pub fn date_forms(da: &str) -> Vec<String> {
    let b = da.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) || !valid_md(&da[4..6], &da[6..8]) {
        return Vec::new();
    }
    let (y, m, d) = (&da[..4], &da[4..6], &da[6..8]);
    let yy = &da[2..4];
    let mi: usize = m.parse().unwrap_or(1);
    let (dn, mn) = (d.trim_start_matches('0'), m.trim_start_matches('0'));
    let (en, de, de_short) = (MONTHS_EN[mi - 1], MONTHS_DE[mi - 1], MONTHS_DE_SHORT[mi - 1]);
    let en_short = &en[..3];
    vec![
        da.to_string(),
        format!("{y}-{m}-{d}"),
        format!("{y}/{m}/{d}"),
        format!("{y}.{m}.{d}"),
        format!("{d}.{m}.{y}"),
        format!("{d}/{m}/{y}"),
        format!("{d}-{m}-{y}"),
        format!("{m}/{d}/{y}"),
        format!("{dn}.{mn}.{y}"),
        format!("{dn}/{mn}/{y}"),
        format!("{mn}/{dn}/{y}"),
        format!("{d} {en_short} {y}"),
        format!("{dn} {en_short} {y}"),
        format!("{d}-{en_short}-{y}"),
        format!("{d} {en} {y}"),
        format!("{dn} {en} {y}"),
        format!("{en} {dn}, {y}"),
        format!("{en} {d}, {y}"),
        format!("{en_short} {dn}, {y}"),
        format!("{dn}. {de} {y}"),
        format!("{d}. {de} {y}"),
        format!("{dn}. {de_short} {y}"),
        format!("{d} {de} {y}"),
        format!("{yy}{m}{d}"),
        format!("{d}{m}{yy}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_common_forms() {
        assert_eq!(keep_year("19500317").as_deref(), Some("19500101"));
        assert_eq!(keep_year("19500317120000.000000+0100").as_deref(), Some("19500101"));
        assert_eq!(keep_year("1950-03-17").as_deref(), Some("1950-01-01"));
        assert_eq!(keep_year("1950-03-17T10:00:00Z").as_deref(), Some("1950-01-01"));
        assert_eq!(keep_year("31.12.1950").as_deref(), Some("01.01.1950"));
        assert_eq!(keep_year("17/03/1950").as_deref(), Some("01/01/1950"));
        assert_eq!(keep_year("19501399"), None, "month 13 is no date");
        assert_eq!(
            keep_year("11111111").as_deref(),
            Some("11110101"),
            "a valid, if odd, date"
        );
        assert_eq!(keep_year("unknown"), None);
        assert_eq!(keep_year(""), None);
    }

    #[test]
    fn forms_of_a_date() {
        let f = date_forms("19610423");
        for form in [
            "19610423",
            "1961-04-23",
            "23.04.1961",
            "23.4.1961",
            "04/23/1961",
            "23 Apr 1961",
            "23-Apr-1961",
            "April 23, 1961",
            "23. April 1961",
            "610423",
            "230461",
        ] {
            assert!(f.contains(&form.to_string()), "{form}: {f:?}");
        }
        assert!(
            f.contains(&"17. März 1950".to_string()) || date_forms("19500317").contains(&"17. März 1950".to_string())
        );
        assert_eq!(
            date_forms("19500317").len(),
            date_forms("19500101").len(),
            "forms pair up"
        );
        assert!(date_forms("1950").is_empty());
    }
}

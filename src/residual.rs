//! The residual-identifier search: the strings that identify a patient (name and its parts,
//! IDs, birth date in common written forms) and where they still occur.

use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::Serialize;

use crate::dicom::dict;
use crate::dicom::parse::Parsed;

use crate::identity::Identity;
use crate::values::dates::date_forms;

/// Shorter strings would match everywhere (initials, two-digit numbers).
const MIN_LEN: usize = 3;

/// Identifying values longer than this are searched for by their first `MAX_PATTERN` bytes
/// only (and a match of that prefix counts whatever follows it). DICOM allows 64 characters
/// per name component or ID; a longer value is hostile or broken, and compiling it whole
/// into a search would cost seconds and hundreds of megabytes.
pub const MAX_PATTERN: usize = 1024;

/// `p` cut to at most `MAX_PATTERN` bytes at a character boundary, and whether it was cut.
fn capped(p: &str) -> (&str, bool) {
    if p.len() <= MAX_PATTERN {
        return (p, false);
    }
    let mut end = MAX_PATTERN;
    while !p.is_char_boundary(end) {
        end -= 1;
    }
    (&p[..end], true)
}

/// What kind of identifier was found (never the value itself: reports must not leak it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierKind {
    PatientName,
    PatientId,
    BirthDate,
    AccessionNumber,
    ReferringPhysician,
}

impl IdentifierKind {
    pub fn label(self) -> &'static str {
        match self {
            IdentifierKind::PatientName => "patient name",
            IdentifierKind::PatientId => "patient ID",
            IdentifierKind::BirthDate => "birth date",
            IdentifierKind::AccessionNumber => "accession number",
            IdentifierKind::ReferringPhysician => "referring physician's name",
        }
    }
}

/// Above this many pattern bytes a search is built as a compact NFA, never as a DFA: a DFA
/// costs a row of transitions per pattern byte, and a hostile 4 MiB PatientName would take
/// minutes and gigabytes to compile. Real identifiers are far below it (PN and LO hold 64
/// characters per component).
const DFA_MAX_PATTERN_BYTES: usize = 64 * 1024;

/// The automaton kind for `patterns`: `small` (None: the crate's own choice) while they are
/// small, a contiguous NFA (built in linear time and memory) when they are not.
pub fn search_kind<P: AsRef<[u8]>>(patterns: &[P], small: Option<AhoCorasickKind>) -> Option<AhoCorasickKind> {
    let total: usize = patterns.iter().map(|p| p.as_ref().len()).sum();
    if total > DFA_MAX_PATTERN_BYTES {
        Some(AhoCorasickKind::ContiguousNFA)
    } else {
        small
    }
}

/// A compiled, case-insensitive search for one patient's identifying strings.
#[derive(Debug, Clone)]
pub struct Identifiers {
    kinds: Vec<IdentifierKind>,
    /// Per pattern: only the prefix of a longer value (no word boundary needed after it).
    prefix: Vec<bool>,
    search: Option<AhoCorasick>,
}

/// The parts of a DICOM person name (family^given^middle^prefix^suffix, groups split by '=').
pub fn name_parts(name: &str) -> Vec<String> {
    name.split(['^', '=', ' ', ','])
        .map(str::trim)
        .filter(|p| p.chars().count() >= MIN_LEN)
        .map(str::to_string)
        .collect()
}

impl Identifiers {
    pub fn new(identity: &Identity) -> Identifiers {
        let mut pats: Vec<(String, IdentifierKind)> = Vec::new();
        for id in identity.ids.iter().chain(&identity.other_ids) {
            pats.push((id.clone(), IdentifierKind::PatientId));
        }
        for a in &identity.accession_numbers {
            pats.push((a.clone(), IdentifierKind::AccessionNumber));
        }
        // Every written form of a name the replacer knows ("Doe^Jane", "Jane Doe", "Doe,
        // Jane", …) and its parts.
        let names = identity
            .physicians
            .iter()
            .map(|n| (n, IdentifierKind::ReferringPhysician))
            .chain(
                identity
                    .names
                    .iter()
                    .chain(&identity.other_names)
                    .map(|n| (n, IdentifierKind::PatientName)),
            );
        for (name, kind) in names {
            for form in name_forms(name).into_iter().chain(name_parts(name)) {
                pats.push((form, kind));
            }
        }
        for d in &identity.birth_dates {
            for f in date_forms(d) {
                pats.push((f, IdentifierKind::BirthDate));
            }
        }
        pats.retain(|(p, _)| p.chars().count() >= MIN_LEN);
        let mut pats: Vec<(String, IdentifierKind, bool)> = pats
            .into_iter()
            .map(|(p, k)| {
                let (p, cut) = capped(&p);
                (p.to_string(), k, cut)
            })
            .collect();
        pats.sort();
        pats.dedup_by(|a, b| a.0.eq_ignore_ascii_case(&b.0));
        // Latin-1 files hold non-ASCII names as single bytes; search for that form too.
        let mut all: Vec<(Vec<u8>, IdentifierKind, bool)> = Vec::new();
        for (p, k, cut) in &pats {
            all.push((p.as_bytes().to_vec(), *k, *cut));
            if !p.is_ascii() && p.chars().all(|c| (c as u32) < 256) {
                all.push((p.chars().map(|c| c as u8).collect(), *k, *cut));
            }
        }
        let search = (!all.is_empty()).then(|| {
            let patterns: Vec<&[u8]> = all.iter().map(|(p, _, _)| p.as_slice()).collect();
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(search_kind(&patterns, None))
                .build(&patterns)
        });
        Identifiers {
            kinds: all.iter().map(|(_, k, _)| *k).collect(),
            prefix: all.iter().map(|(_, _, cut)| *cut).collect(),
            search: search.and_then(Result::ok),
        }
    }

    /// The kinds of identifier found in `bytes` (deduplicated, sorted).
    /// Only whole words count: a name part "Ann" inside "Annotation" is no finding, an ID
    /// between dots in a UID is.
    pub fn find(&self, bytes: &[u8]) -> Vec<IdentifierKind> {
        let Some(ac) = &self.search else { return Vec::new() };
        let word = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
        let mut found: Vec<IdentifierKind> = ac
            .find_overlapping_iter(bytes)
            .filter(|m| {
                let cut = self.prefix[m.pattern().as_usize()];
                let inside_word = (m.start() > 0 && word(m.start() - 1)) || (!cut && word(m.end()));
                !inside_word
            })
            .map(|m| self.kinds[m.pattern().as_usize()])
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

/// The written forms of a DICOM person name: as groups, spaced, given-first, family-comma.
pub fn name_forms(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for group in name.split('=') {
        let group = group.trim().trim_end_matches('^');
        if group.is_empty() {
            continue;
        }
        out.push(group.to_string());
        let parts: Vec<&str> = group.split('^').map(str::trim).collect();
        let spaced = parts
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        out.push(spaced);
        if let [family, given, ..] = parts[..]
            && !family.is_empty()
            && !given.is_empty()
        {
            out.push(format!("{given} {family}"));
            out.push(format!("{family}, {given}"));
        }
    }
    out
}

/// What replaces each identifying string of these patients: IDs and names (all forms and
/// parts) by the patient's code, birth dates by the year-only date in the same written
/// form. Strings of every patient are listed, so text naming several patients is cleaned of
/// all of them, each by their own code.
pub fn replacement_patterns<'a>(patients: impl IntoIterator<Item = (&'a str, &'a Identity)>) -> Vec<(String, String)> {
    use crate::values::dates::keep_year;
    let mut pats: Vec<(String, String)> = Vec::new();
    for (code, identity) in patients {
        for id in identity.ids.iter().chain(&identity.other_ids) {
            pats.push((id.trim().to_string(), code.to_string()));
        }
        for name in identity.names.iter().chain(&identity.other_names) {
            for form in name_forms(name) {
                pats.push((form, code.to_string()));
            }
            for part in name_parts(name) {
                pats.push((part, code.to_string()));
            }
        }
        for d in &identity.birth_dates {
            let masked = keep_year(d).unwrap_or_default();
            for (form, masked_form) in date_forms(d).into_iter().zip(date_forms(&masked)) {
                pats.push((form, masked_form));
            }
        }
    }
    pats
}

/// Words that are names of people but also what folders and files of images are called
/// (a patient named `Head` must not turn every `head/` folder into a code): never replaced in
/// a path on their own.
const PATH_STOP_WORDS: &[&str] = &[
    "ABDOMEN",
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
    "ANONYMOUS",
    "ANONYMIZED",
];

/// What of one patient's identifiers is replaced in file and folder names, and by what: only
/// values specific enough to be that patient's. A name part alone counts when it has four or
/// more letters, no digit and is no common word ([`PATH_STOP_WORDS`]): `MR1`, `CT` or `Head`
/// as a name component says nothing about who a folder belongs to. An ID counts as a word of
/// a name when it is distinctive ([`distinctive_id`]); other IDs are returned by
/// [`exact_path_ids`] and replace a name only when they are all of it. Whole written names
/// (two parts or more) and the birth date as YYYYMMDD always count.
pub fn path_patterns(code: &str, identity: &Identity) -> Vec<(String, String)> {
    use crate::values::dates::keep_year;
    let mut pats: Vec<(String, String)> = Vec::new();
    for id in identity.ids.iter().chain(&identity.other_ids) {
        let id = id.trim();
        if distinctive_id(id) {
            pats.push((id.to_string(), code.to_string()));
        }
    }
    for name in identity.names.iter().chain(&identity.other_names) {
        for form in name_forms(name) {
            if form.split(['^', ' ', ',']).filter(|p| !p.is_empty()).count() >= 2 {
                pats.push((form, code.to_string()));
            }
        }
        for part in name_parts(name) {
            let letters = part.chars().all(char::is_alphabetic);
            let common = PATH_STOP_WORDS.iter().any(|w| w.eq_ignore_ascii_case(&part));
            if letters && part.chars().count() >= 4 && !common {
                pats.push((part, code.to_string()));
            }
        }
    }
    for d in &identity.birth_dates {
        if let Some(masked) = keep_year(d).filter(|_| d.len() == 8) {
            pats.push((d.clone(), masked));
        }
    }
    pats
}

/// An ID that identifies its patient wherever it stands as a word in a name: six characters
/// or more, or three or more mixing letters and digits that do not look like a series or
/// modality label (`MR1`, `CT02`, `T1`: one to three letters, then one or two digits).
fn distinctive_id(id: &str) -> bool {
    let n = id.chars().count();
    if n >= 6 {
        return true;
    }
    let letters = id.chars().take_while(|c| c.is_ascii_alphabetic()).count();
    let label_like = (1..=3).contains(&letters)
        && (1..=2).contains(&(n - letters))
        && id.chars().skip(letters).all(|c| c.is_ascii_digit());
    n >= 3 && id.chars().any(|c| c.is_ascii_digit()) && id.chars().any(char::is_alphabetic) && !label_like
}

/// The patient's IDs not distinctive enough to be replaced inside a longer name
/// ([`path_patterns`]) that still replace a file or folder name that is exactly the ID (`MR1/`
/// of a patient whose ID is MR1, `12345/`): three characters or more with a letter, or four
/// digits or more (a plain `001` is any series' folder).
pub fn exact_path_ids(identity: &Identity) -> Vec<String> {
    identity
        .ids
        .iter()
        .chain(&identity.other_ids)
        .map(|id| id.trim())
        .filter(|id| {
            let n = id.chars().count();
            let digits = id.chars().all(|c| c.is_ascii_digit());
            !distinctive_id(id) && ((n >= 3 && !digits) || (n >= 4 && digits))
        })
        .map(str::to_string)
        .collect()
}

/// Replaces identifying strings in a text (case-insensitively), longest match first.
#[derive(Debug, Clone, Default)]
pub struct Replacer {
    search: Option<std::sync::Arc<AhoCorasick>>,
    replacements: std::sync::Arc<Vec<String>>,
}

impl Replacer {
    pub fn new(pats: Vec<(String, String)>) -> Replacer {
        Replacer::build(pats, None, true)
    }

    /// For a handful of short patterns searched in short values millions of times (XML text
    /// and attributes): a full DFA is small, and a prefilter costs more than it saves. Large
    /// pattern sets (a cohort's worth, or a hostile value) still get a compact NFA.
    pub fn for_short_values(pats: Vec<(String, String)>) -> Replacer {
        Replacer::build(pats, Some(AhoCorasickKind::DFA), false)
    }

    fn build(mut pats: Vec<(String, String)>, small: Option<AhoCorasickKind>, prefilter: bool) -> Replacer {
        // An over-long value cannot be replaced by its prefix (the rest would stay); it is
        // left to the residual check, which finds it by that prefix.
        pats.retain(|(p, _)| p.chars().count() >= MIN_LEN && p.len() <= MAX_PATTERN);
        // Stable: among equal patterns the first patient's replacement is kept.
        pats.sort_by_key(|(p, _)| p.to_ascii_lowercase());
        pats.dedup_by(|a, b| a.0.eq_ignore_ascii_case(&b.0));
        let search = (!pats.is_empty())
            .then(|| {
                let patterns: Vec<&str> = pats.iter().map(|(p, _)| p.as_str()).collect();
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(search_kind(&patterns, small))
                    .prefilter(prefilter)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        Replacer {
            search: search.map(std::sync::Arc::new),
            replacements: std::sync::Arc::new(pats.into_iter().map(|(_, r)| r).collect()),
        }
    }

    /// Every identifying string in `text` (leftmost longest, not only whole words), with
    /// what replaces it.
    pub fn matches<'a>(&'a self, text: &'a str) -> impl Iterator<Item = (std::ops::Range<usize>, &'a str)> + 'a {
        self.search
            .iter()
            .flat_map(move |ac| ac.find_iter(text))
            .map(|m| (m.range(), self.replacements[m.pattern().as_usize()].as_str()))
    }

    /// The text with identifiers replaced, or `None` when it holds none. Only whole words
    /// are replaced (a name part "Lee" is not replaced inside "Leeds"); where the longest
    /// match is not a whole word, a shorter one at the same place may be ("Jane" in "Jane
    /// Doerr", where "Jane Doe" is not).
    pub fn replace(&self, text: &str) -> Option<String> {
        let ac = self.search.as_ref()?;
        let b = text.as_bytes();
        let whole_word = |m: &aho_corasick::Match| {
            // Never cut a multi-byte character (ASCII case folding only matches ASCII).
            text.is_char_boundary(m.start())
                && text.is_char_boundary(m.end())
                && !(m.start() > 0 && b[m.start() - 1].is_ascii_alphanumeric())
                && !(m.end() < b.len() && b[m.end()].is_ascii_alphanumeric())
        };
        let find = |span: std::ops::Range<usize>| ac.find(aho_corasick::Input::new(text).span(span));
        let mut out = String::with_capacity(text.len());
        let (mut last, mut pos, mut changed) = (0, 0, false);
        while let Some(m) = find(pos..text.len()) {
            // The longest match at this start first, then ever shorter ones.
            let mut candidate = Some(m);
            let chosen = loop {
                match candidate {
                    Some(c) if c.start() == m.start() => {
                        if whole_word(&c) {
                            break Some(c);
                        }
                        candidate = (c.end() > c.start() + 1)
                            .then(|| find(m.start()..c.end() - 1))
                            .flatten();
                    }
                    _ => break None,
                }
            };
            match chosen {
                Some(c) => {
                    out.push_str(&text[last..c.start()]);
                    out.push_str(&self.replacements[c.pattern().as_usize()]);
                    (last, pos, changed) = (c.end(), c.end(), true);
                }
                None => pos = m.start() + 1,
            }
        }
        if !changed {
            return None;
        }
        out.push_str(&text[last..]);
        Some(out)
    }
}

/// One search over the identifiers of all these patients: the one place verify, the write
/// warnings and the deeper search ([`crate::places`]) get their search from.
pub fn search_for(identities: &[Identity]) -> Identifiers {
    if let [one] = identities {
        return Identifiers::new(one);
    }
    let mut all = Identity::default();
    for i in identities {
        all.ids.extend(i.ids.iter().cloned());
        all.names.extend(i.names.iter().cloned());
        all.birth_dates.extend(i.birth_dates.iter().cloned());
        all.other_ids.extend(i.other_ids.iter().cloned());
        all.other_names.extend(i.other_names.iter().cloned());
        all.accession_numbers.extend(i.accession_numbers.iter().cloned());
        all.physicians.extend(i.physicians.iter().cloned());
    }
    Identifiers::new(&all)
}

/// The kinds of identifier the search finds in raw bytes (text in any single-byte or UTF-8
/// form).
pub fn find_in(ids: &Identifiers, bytes: &[u8]) -> Vec<IdentifierKind> {
    ids.find(bytes)
}

/// An identifying value that is still in a file. The value itself is never reported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Residual {
    /// The file (relative to its folder).
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    /// Element path, e.g. `(0010,1000)` or `(0008,1110)[0]/(0008,1030)`.
    pub element: String,
    pub keyword: String,
    pub identifier: IdentifierKind,
}

/// Where the patient's identifying strings occur in a file's values, leaving out the
/// elements in `skip` (those a plan changes anyway).
pub fn residual_in(parsed: &Parsed, path: &Path, ids: &Identifiers, skip: &[usize]) -> Vec<Residual> {
    let mut out = Vec::new();
    for (i, e) in parsed.elements.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        let Some(v) = parsed.value(e) else { continue };
        for kind in ids.find(v) {
            out.push(Residual {
                path: path.to_path_buf(),
                element: parsed.path(i),
                keyword: dict::display_name(e.tag).to_string(),
                identifier: kind,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_paths_only_when_distinctive() {
        for id in ["1CT1", "PAT001", "98890234", "ID00PAT001", "X7Q", "AB12C"] {
            assert!(distinctive_id(id), "{id}");
        }
        for id in ["MR1", "CT02", "T1", "ID1", "001", "12345", "AB", "ABCDE"] {
            assert!(!distinctive_id(id), "{id}");
        }
        let identity = Identity {
            ids: ["MR1", "001", "12345", "1CT1", "ABCD"]
                .into_iter()
                .map(String::from)
                .collect(),
            ..Default::default()
        };
        assert_eq!(exact_path_ids(&identity), ["12345", "ABCD", "MR1"]);
    }

    #[test]
    fn name_parts_in_paths_only_when_distinctive() {
        let identity = Identity {
            names: ["CompressedSamples^MR1".to_string(), "Head^Jo^Anne".to_string()].into(),
            ..Default::default()
        };
        let pats: Vec<String> = path_patterns("P1", &identity).into_iter().map(|(p, _)| p).collect();
        assert!(pats.contains(&"CompressedSamples".to_string()), "{pats:?}");
        assert!(pats.contains(&"Head Jo Anne".to_string()), "{pats:?}");
        assert!(pats.contains(&"Anne".to_string()), "{pats:?}");
        for generic in ["MR1", "Head", "Jo"] {
            assert!(!pats.contains(&generic.to_string()), "{generic}: {pats:?}");
        }
    }

    #[test]
    fn a_shorter_whole_word_is_replaced_where_the_longest_match_is_not_one() {
        let r = Replacer::new(vec![
            ("Jane Doe".into(), "P1".into()),
            ("Jane".into(), "P1".into()),
            ("Doe".into(), "P1".into()),
            ("Lee".into(), "P2".into()),
        ]);
        assert_eq!(r.replace("Jane Doerr").as_deref(), Some("P1 Doerr"));
        assert_eq!(r.replace("jane doe, Lee").as_deref(), Some("P1, P2"));
        assert_eq!(r.replace("Leeds Doerr"), None);
        assert_eq!(r.replace("xJane Doe").as_deref(), Some("xJane P1"));
        assert_eq!(r.replace("Jäne Doe").as_deref(), Some("Jäne P1"));
    }

    #[test]
    fn replacer_replaces_whole_words_each_by_its_patients_code() {
        let mut a = Identity::default();
        a.ids.insert("DEMO-001".into());
        a.names.insert("Doe^Jane^pre".into());
        let mut b = Identity::default();
        b.ids.insert("X77".into());
        let r = Replacer::new(replacement_patterns([("P1", &a), ("P2", &b)]));
        assert_eq!(r.replace("DEMO-001").as_deref(), Some("P1"));
        assert_eq!(r.replace("Doe_Jane_scan").as_deref(), Some("P1_P1_scan"));
        assert_eq!(r.replace("seen by x77, Doe").as_deref(), Some("seen by P2, P1"));
        assert_eq!(r.replace("rtstruct_no_preamble"), None, "no part of a word");
        assert_eq!(r.replace("Doerr"), None);
    }

    fn identity() -> Identity {
        let mut i = Identity::default();
        i.ids.insert("MAP001".into());
        i.names.insert("Müller^Hans^Q".into());
        i.birth_dates.insert("19500317".into());
        i
    }

    #[test]
    fn an_over_long_value_is_found_by_its_prefix() {
        let long = "Q".repeat(MAX_PATTERN * 3);
        let ids = Identifiers::new(&Identity {
            ids: [long.clone()].into(),
            ..Default::default()
        });
        // The whole value, and the value followed by more letters: both hold the prefix.
        assert_eq!(
            ids.find(format!("x {long} y").as_bytes()),
            vec![IdentifierKind::PatientId]
        );
        assert_eq!(
            ids.find(format!("{long}QQQ").as_bytes()),
            vec![IdentifierKind::PatientId]
        );
        // Inside a longer word at its start it is no finding.
        assert!(ids.find(format!("A{long}").as_bytes()).is_empty());
        assert!(ids.find("QQQ".as_bytes()).is_empty());
        // And a replacer leaves it alone rather than replace a part of it.
        let r = Replacer::new(vec![(long.clone(), "P0001".into())]);
        assert_eq!(r.replace(&long), None);
    }

    #[test]
    fn finds_parts_ids_and_date_forms_case_insensitively() {
        let ids = Identifiers::new(&identity());
        assert_eq!(ids.find(b"report for hans"), vec![IdentifierKind::PatientName]);
        assert_eq!(ids.find(b"id=map001, x"), vec![IdentifierKind::PatientId]);
        assert!(ids.find(b"id=map001x").is_empty(), "part of a longer word");
        assert_eq!(
            ids.find(b"1.2.840.MAP001.7"),
            vec![IdentifierKind::PatientId],
            "inside a UID"
        );
        assert_eq!(ids.find(b"born 17.03.1950"), vec![IdentifierKind::BirthDate]);
        assert_eq!(
            ids.find("MÜLLER".as_bytes()),
            Vec::<IdentifierKind>::new(),
            "case folding is ASCII only"
        );
        assert_eq!(
            ids.find(b"M\xFCller"),
            vec![IdentifierKind::PatientName],
            "Latin-1 bytes are found"
        );
        assert!(
            ids.find(b"nothing here, Q").is_empty(),
            "one-letter parts are not searched"
        );
        // A name whose parts are too short to search alone is still found in every written
        // form the replacer knows.
        let mut short = Identity::default();
        short.names.insert("Li^Bo".into());
        let ids = Identifiers::new(&short);
        for text in [
            &b"seen by Li^Bo"[..],
            b"seen by Li Bo",
            b"seen by Bo Li",
            b"seen by Li, Bo",
        ] {
            assert_eq!(
                ids.find(text),
                vec![IdentifierKind::PatientName],
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

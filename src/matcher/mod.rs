//! The matcher: the one place that knows what a patient's identifiers look like in text and
//! finds them. Plan (DICOM `clean`, file and folder names), XML, verify and the write warnings
//! all use it; nothing else searches for identifiers.
//!
//! - [`forms`]: from a patient's identifiers, every form to look for (names in any order and
//!   script, IDs inside longer tokens, dates in every common written form) and the rules
//!   that keep short and common strings out;
//! - [`fold`]: the one normal form both sides are matched in (NFKC-like decomposition,
//!   diacritics dropped, full case folding, apostrophes, dashes and whitespace runs);
//! - [`Identifiers`] finds which kinds of identifier a text holds, [`Replacer`] replaces
//!   each by what it stands for (a code, a masked date), the whole original span.
//!
//! Both compile once per patient set (Aho–Corasick over the folded forms) and search text
//! that needs no folding (ASCII without tabs, line breaks or double spaces: nearly all DICOM
//! values) as it is, without allocating; other text is folded into a buffer kept per thread.

pub mod fold;
pub mod forms;

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::identity::Identity;
use fold::{Folded, fold_into, is_plain, is_word_char};
pub use forms::{MIN_LEN, Reach, birth_date_forms, name_forms, name_parts, study_date_forms};
use forms::{id_forms, is_stop_word, long_enough, transliterated};

/// Identifying values longer than this are searched for by their first `MAX_PATTERN` bytes
/// only (and a match of that prefix counts whatever follows it). DICOM allows 64 characters
/// per name component or ID; a longer value is hostile or broken, and compiling it whole
/// into a search would cost seconds and hundreds of megabytes.
pub const MAX_PATTERN: usize = 1024;

/// What kind of identifier was found (never the value itself: reports must not leak it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierKind {
    PatientName,
    PatientId,
    BirthDate,
    /// A date of the patient's studies, searched for under a profile that shifts dates.
    StudyDate,
    AccessionNumber,
    ReferringPhysician,
}

impl IdentifierKind {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            IdentifierKind::PatientName => "patient name",
            IdentifierKind::PatientId => "patient ID",
            IdentifierKind::BirthDate => "birth date",
            IdentifierKind::StudyDate => "study date",
            IdentifierKind::AccessionNumber => "accession number",
            IdentifierKind::ReferringPhysician => "referring physician's name",
        }
    }
}

/// Above this many pattern bytes a search is built as a compact NFA, never as a DFA: a DFA
/// costs a row of transitions per pattern byte, and a hostile 4 MiB `PatientName` would take
/// minutes and gigabytes to compile. Real identifiers are far below it (PN and LO hold 64
/// characters per component).
const DFA_MAX_PATTERN_BYTES: usize = 64 * 1024;

/// Above this many patterns (a cohort's forms, some fifty per patient) a search is built as
/// a contiguous NFA too: a DFA over 5,000 forms took longer to build than the plan of the
/// 20,000 files it searched spent searching with it.
const DFA_MAX_PATTERNS: usize = 1000;

/// The automaton kind for `count` patterns of `total` bytes: `small` (None: the crate's own
/// choice) while they are small, `large` when they are not: a contiguous NFA (built in linear
/// time and memory), or the noncontiguous one it is made from, which is about as large once
/// built (the contiguous one is made from it, so building it holds both at once).
fn search_kind(
    count: usize,
    total: usize,
    small: Option<AhoCorasickKind>,
    large: AhoCorasickKind,
) -> Option<AhoCorasickKind> {
    if total > DFA_MAX_PATTERN_BYTES || count > DFA_MAX_PATTERNS {
        Some(large)
    } else {
        small
    }
}

// A form's length is held in 16 bits (`Form::len`).
const _: () = assert!(MAX_PATTERN <= u16::MAX as usize);

/// How a search is compiled: see [`search_kind`], and whether it uses a prefilter.
#[derive(Debug, Clone, Copy)]
struct Build {
    kind: MatchKind,
    small: Option<AhoCorasickKind>,
    large: AhoCorasickKind,
    prefilter: bool,
}

/// What may touch one edge of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    Nothing,
    /// No letter or digit of a Latin-like script.
    Word,
    /// No letter or digit, and no dot with a digit beyond it (a longer number, a UID).
    Number,
}

/// The guards at both edges of a folded form found with `reach` (a cut prefix of an
/// over-long value has none after it).
fn guards(folded: &str, reach: Reach, cut: bool) -> (Guard, Guard) {
    let edge = |c: Option<char>| match (reach, c) {
        (Reach::Inside, _) => Guard::Nothing,
        (Reach::Number, _) => Guard::Number,
        (Reach::Word, Some(c)) if is_word_char(c) => Guard::Word,
        (Reach::Word, _) => Guard::Nothing,
    };
    let right = if cut {
        Guard::Nothing
    } else {
        edge(folded.chars().next_back())
    };
    (edge(folded.chars().next()), right)
}

fn violates(g: Guard, c: Option<char>) -> bool {
    match (g, c) {
        (_, None) | (Guard::Nothing, _) => false,
        (Guard::Word, Some(c)) => is_word_char(c),
        (Guard::Number, Some(c)) => c.is_alphanumeric() || c == '.',
    }
}

/// The character ending at byte `at` of valid UTF-8 `b`.
fn char_before(b: &[u8], at: usize) -> Option<char> {
    if at == 0 {
        return None;
    }
    let mut s = at - 1;
    while s > 0 && at - s < 4 && (b[s] & 0xC0) == 0x80 {
        s -= 1;
    }
    std::str::from_utf8(&b[s..at]).ok()?.chars().next_back()
}

/// The character starting at byte `at` of valid UTF-8 `b`.
fn char_at(b: &[u8], at: usize) -> Option<char> {
    let end = (at + 4).min(b.len());
    let slice = b.get(at..end)?;
    match std::str::from_utf8(slice) {
        Ok(s) => s.chars().next(),
        Err(e) => std::str::from_utf8(&slice[..e.valid_up_to()]).ok()?.chars().next(),
    }
}

fn fits(b: &[u8], r: &Range<usize>, (left, right): (Guard, Guard)) -> bool {
    let (before, after) = (char_before(b, r.start), char_at(b, r.end));
    // A dot next to a number is a sentence's end or a list's (`born 19610423.`), unless a
    // digit follows beyond it: then the number is part of a longer one, a UID (`1.2.840.…`).
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    let number_goes_on = |dot: Option<char>, beyond: Option<char>| dot == Some('.') && digit(beyond);
    let left_ok = match left {
        Guard::Number if before == Some('.') => {
            !number_goes_on(before, r.start.checked_sub(1).and_then(|s| char_before(b, s)))
        }
        g => !violates(g, before),
    };
    let right_ok = match right {
        Guard::Number if after == Some('.') => !number_goes_on(after, char_at(b, r.end + 1)),
        g => !violates(g, after),
    };
    left_ok && right_ok
}

thread_local! {
    /// The folded form of the text being searched (reused: no allocation per value).
    static FOLDED: RefCell<Folded> = RefCell::new(Folded::default());
}

/// One form to look for: its folded text (`text[start..end]` of its [`Forms`]), its guards,
/// and what it stands for.
#[derive(Debug, Clone, Copy)]
struct Form<T> {
    start: usize,
    /// At most [`MAX_PATTERN`] bytes: a cohort's search holds a million forms.
    len: u16,
    guards: (Guard, Guard),
    what: T,
}

impl<T> Form<T> {
    fn range(&self) -> Range<usize> {
        self.start..self.start + usize::from(self.len)
    }
}

/// What a pattern of a compiled search stands for, and where it may stand: all a search
/// keeps of its forms once the automaton is built.
#[derive(Debug, Clone, Copy)]
struct Hit<T> {
    guards: (Guard, Guard),
    what: T,
}

/// The forms of one search while it is built, their folded text in one buffer: a cohort's
/// search holds some fifty forms a patient, and a string of its own for each cost more than
/// the text (issue 17).
#[derive(Debug)]
struct Forms<T> {
    text: String,
    list: Vec<Form<T>>,
}

impl<T: Copy> Forms<T> {
    fn new() -> Forms<T> {
        Forms {
            text: String::new(),
            list: Vec::new(),
        }
    }

    fn push(&mut self, folded: &str, guards: (Guard, Guard), what: T) {
        // `spellings` cuts every form to MAX_PATTERN bytes (or leaves it out).
        let Ok(len) = u16::try_from(folded.len()) else { return };
        let start = self.text.len();
        self.text.push_str(folded);
        self.list.push(Form {
            start,
            len,
            guards,
            what,
        });
    }

    /// Sorted by folded text (stably: equal texts keep the order they were added in), then
    /// by `then`; of neighbours with the same text, those `same` as the one kept before them
    /// are dropped.
    fn sort_dedup(
        &mut self,
        then: impl Fn(&Form<T>, &Form<T>) -> std::cmp::Ordering,
        same: impl Fn(&Form<T>, &Form<T>) -> bool,
    ) {
        let text = &self.text;
        let folded = |f: &Form<T>| &text[f.range()];
        self.list
            .sort_by(|a, b| folded(a).cmp(folded(b)).then_with(|| then(a, b)));
        self.list.dedup_by(|a, b| folded(a) == folded(b) && same(a, b));
    }

    /// The search over the forms and what each pattern stands for (the text is dropped).
    /// The patterns are handed to the builder straight from the text (a cohort's list of
    /// them was 16 bytes a form more while it was built).
    fn compile(mut self, how: Build) -> (Option<AhoCorasick>, Vec<Hit<T>>) {
        self.list.shrink_to_fit();
        self.text.shrink_to_fit();
        let hits = self
            .list
            .iter()
            .map(|f| Hit {
                guards: f.guards,
                what: f.what,
            })
            .collect();
        let total: usize = self.list.iter().map(|f| usize::from(f.len)).sum();
        let search = (!self.list.is_empty())
            .then(|| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(how.kind)
                    .kind(search_kind(self.list.len(), total, how.small, how.large))
                    .prefilter(how.prefilter)
                    .build(self.list.iter().map(|f| &self.text[f.range()]))
                    .ok()
            })
            .flatten();
        (search, hits)
    }
}

/// Every folded spelling of `form` (itself, and its transliteration), capped at
/// [`MAX_PATTERN`] bytes when `cap` (else left out when longer).
fn spellings<T: Copy>(form: &str, reach: Reach, what: T, cap: bool, out: &mut Forms<T>) {
    if !long_enough(form.trim()) {
        return;
    }
    for s in std::iter::once(form.to_string()).chain(transliterated(form)) {
        let mut folded = fold::fold(s.trim());
        let mut cut = false;
        if folded.len() > MAX_PATTERN {
            if !cap {
                continue;
            }
            let mut end = MAX_PATTERN;
            while !folded.is_char_boundary(end) {
                end -= 1;
            }
            folded.truncate(end);
            cut = true;
        }
        if folded.is_empty() {
            continue;
        }
        out.push(&folded, guards(&folded, reach, cut), what);
    }
}

/// Runs `f` on the text as the matcher searches it: `text` itself when it needs no folding,
/// else its folded form (with the way back to the original).
fn with_folded<R>(text: &str, f: impl FnOnce(&[u8], Option<&Folded>) -> R) -> R {
    if is_plain(text.as_bytes()) {
        return f(text.as_bytes(), None);
    }
    FOLDED.with(|cell| {
        if let Ok(mut folded) = cell.try_borrow_mut() {
            fold_into(text, &mut folded);
            f(folded.text.as_bytes(), Some(&folded))
        } else {
            let mut folded = Folded::default();
            fold_into(text, &mut folded);
            f(folded.text.as_bytes(), Some(&folded))
        }
    })
}

/// A compiled search for identifying strings: which kinds a text holds.
#[derive(Debug, Clone)]
pub struct Identifiers {
    forms: Vec<Hit<IdentifierKind>>,
    search: Option<AhoCorasick>,
}

impl Identifiers {
    #[must_use]
    pub fn new(identity: &Identity) -> Identifiers {
        Identifiers::with_dates(identity, false)
    }

    /// With `study_dates`, the dates of the patient's studies too ([`Identity::dates`]): what
    /// a profile that shifts dates must leave nowhere.
    #[must_use]
    pub fn with_dates(identity: &Identity, study_dates: bool) -> Identifiers {
        let mut forms = Forms::new();
        Identifiers::add_forms(identity, study_dates, &mut forms);
        forms.sort_dedup(|a, b| a.what.cmp(&b.what), |a, b| a.guards == b.guards);
        // A contiguous NFA: built in a fraction of a DFA's time (one per patient, thousands
        // per run), and nearly as fast on the short values it searches.
        let (search, forms) = forms.compile(Build {
            kind: MatchKind::Standard,
            small: Some(AhoCorasickKind::ContiguousNFA),
            large: AhoCorasickKind::ContiguousNFA,
            prefilter: true,
        });
        Identifiers { forms, search }
    }

    fn add_forms(identity: &Identity, study_dates: bool, forms: &mut Forms<IdentifierKind>) {
        if study_dates {
            for d in identity.dates() {
                for (_, f, reach) in study_date_forms(d) {
                    spellings(&f, reach, IdentifierKind::StudyDate, true, forms);
                }
            }
        }
        for v in identity.ids.iter().chain(&identity.other_ids) {
            for (f, reach) in id_forms(v) {
                spellings(&f, reach, IdentifierKind::PatientId, true, forms);
            }
        }
        for n in identity.names.iter().chain(&identity.other_names) {
            for f in name_forms(n).into_iter().chain(name_parts(n)) {
                spellings(&f, Reach::Word, IdentifierKind::PatientName, true, forms);
            }
        }
        for d in &identity.birth_dates {
            for (f, reach) in birth_date_forms(d) {
                spellings(&f, reach, IdentifierKind::BirthDate, true, forms);
            }
        }
        for a in &identity.accession_numbers {
            spellings(a, Reach::Word, IdentifierKind::AccessionNumber, true, forms);
        }
        for n in &identity.physicians {
            for f in name_forms(n).into_iter().chain(name_parts(n)) {
                spellings(&f, Reach::Word, IdentifierKind::ReferringPhysician, true, forms);
            }
        }
    }

    /// The kinds of identifier found in `bytes` (deduplicated, sorted): text in UTF-8, or
    /// else read as Latin-1. Only where each form may stand (see [`forms`]): a name part
    /// "Ann" inside "Annotation" is no finding, an ID between dots in a UID is.
    #[must_use]
    pub fn find(&self, bytes: &[u8]) -> Vec<IdentifierKind> {
        let Some(ac) = &self.search else { return Vec::new() };
        let text: std::borrow::Cow<str> = match std::str::from_utf8(bytes) {
            Ok(s) => s.into(),
            Err(_) => bytes.iter().map(|&b| b as char).collect::<String>().into(),
        };
        let mut found: Vec<IdentifierKind> = with_folded(&text, |b, _| {
            ac.find_overlapping_iter(b)
                .filter(|m| fits(b, &m.range(), self.forms[m.pattern().as_usize()].guards))
                .map(|m| self.forms[m.pattern().as_usize()].what)
                .collect()
        });
        found.sort();
        found.dedup();
        found
    }
}

impl Identifiers {
    /// [`Identifiers::find`] on bytes of no known text encoding (OB, OW, UN values): as
    /// UTF-8 or Latin-1, and, where every other byte is mostly zero, as UTF-16 in the byte
    /// order that fits (a Windows application's note in a private OB value).
    #[must_use]
    pub fn find_in_bytes(&self, bytes: &[u8]) -> Vec<IdentifierKind> {
        let mut found = self.find(bytes);
        if let Some(text) = as_utf16(bytes) {
            found.extend(self.find(text.as_bytes()));
            found.sort();
            found.dedup();
        }
        found
    }
}

/// `bytes` read as UTF-16 when they look like it: an even length of at least four bytes,
/// and at least a third of the bytes at odd (little endian) or even (big endian) offsets
/// zero — as ASCII-range text in UTF-16 is.
fn as_utf16(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 4 {
        return None;
    }
    let even = &bytes[..bytes.len() & !1];
    let pairs = even.len() / 2;
    let zeros_at = |k: usize| even.iter().skip(k).step_by(2).filter(|&&b| b == 0).count();
    let (hi_le, hi_be) = (zeros_at(1), zeros_at(0));
    let big_endian = match (hi_le * 3 >= pairs, hi_be * 3 >= pairs) {
        (true, false) => false,
        (false, true) => true,
        _ => return None,
    };
    let units = even.chunks_exact(2).map(|c| {
        if big_endian {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_le_bytes([c[0], c[1]])
        }
    });
    Some(char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')).collect())
}

/// A search for forms that each stand for something of the caller's (the patients a value
/// belongs to, say), found where they may stand: every hit, with what it stands for.
#[derive(Debug, Clone)]
pub struct Finder<T> {
    forms: Vec<Hit<usize>>,
    whats: Vec<T>,
    search: Option<AhoCorasick>,
}

impl<T: Clone> Finder<T> {
    /// Forms equal after folding are one: the first one's `T` is kept.
    pub fn new(items: impl IntoIterator<Item = (String, Reach, T)>) -> Finder<T> {
        let mut forms = Forms::new();
        let mut whats = Vec::new();
        for (form, reach, what) in items {
            spellings(&form, reach, whats.len(), false, &mut forms);
            whats.push(what);
        }
        forms.sort_dedup(|_, _| std::cmp::Ordering::Equal, |_, _| true);
        let (search, forms) = forms.compile(Build {
            kind: MatchKind::Standard,
            small: None,
            large: AhoCorasickKind::ContiguousNFA,
            prefilter: true,
        });
        Finder { forms, whats, search }
    }

    /// What the forms found in `text` stand for, in the order found (overlapping hits too).
    #[must_use]
    pub fn find(&self, text: &str) -> Vec<&T> {
        let Some(ac) = &self.search else { return Vec::new() };
        with_folded(text, |b, _| {
            ac.find_overlapping_iter(b)
                .filter(|m| fits(b, &m.range(), self.forms[m.pattern().as_usize()].guards))
                .map(|m| &self.whats[self.forms[m.pattern().as_usize()].what])
                .collect()
        })
    }
}

/// One string to replace, where it may stand, and what replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub find: String,
    pub reach: Reach,
    pub by: String,
}

impl Replacement {
    /// A string replaced where it stands as a word.
    pub fn word(find: impl Into<String>, by: impl Into<String>) -> Replacement {
        Replacement {
            find: find.into(),
            reach: Reach::Word,
            by: by.into(),
        }
    }
}

/// Replaces identifying strings in a text, longest match first, the whole original span of
/// each (whatever its case, marks or spelling).
#[derive(Debug, Clone, Default)]
pub struct Replacer {
    search: Option<Arc<AhoCorasick>>,
    /// What each pattern stands for: an index into `bys`.
    forms: Arc<Vec<Hit<u32>>>,
    /// Each replacement once (a patient's code stands for all of their forms).
    bys: Arc<Vec<String>>,
}

impl Replacer {
    #[must_use]
    pub fn new(pats: impl IntoIterator<Item = Replacement>) -> Replacer {
        Replacer::build(pats, None, AhoCorasickKind::ContiguousNFA, true)
    }

    /// For file and folder names ([`NameRules`]): a few short texts per file, against
    /// every patient's forms. A large set is searched with the noncontiguous automaton, which
    /// is a little slower per byte and costs half the memory to build (issue 17: the
    /// cohort's name rules were a plan's peak).
    #[must_use]
    pub fn for_names(pats: impl IntoIterator<Item = Replacement>) -> Replacer {
        Replacer::build(pats, None, AhoCorasickKind::NoncontiguousNFA, true)
    }

    /// For a handful of short patterns searched in short values millions of times (XML text
    /// and attributes): a full DFA is small, and a prefilter costs more than it saves. Large
    /// pattern sets (a cohort's worth, or a hostile value) still get a compact NFA.
    #[must_use]
    pub fn for_short_values(pats: impl IntoIterator<Item = Replacement>) -> Replacer {
        Replacer::build(pats, Some(AhoCorasickKind::DFA), AhoCorasickKind::ContiguousNFA, false)
    }

    fn build(
        pats: impl IntoIterator<Item = Replacement>,
        small: Option<AhoCorasickKind>,
        large: AhoCorasickKind,
        prefilter: bool,
    ) -> Replacer {
        // An over-long value cannot be replaced by its prefix (the rest would stay); it is
        // left to the residual check, which finds it by that prefix.
        let mut forms = Forms::new();
        let mut bys: Vec<String> = Vec::new();
        let mut by_index: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        for p in pats {
            let next = u32::try_from(bys.len()).unwrap_or(u32::MAX);
            let by = *by_index.entry(p.by).or_insert_with_key(|by| {
                bys.push(by.clone());
                next
            });
            spellings(&p.find, p.reach, by, false, &mut forms);
        }
        drop(by_index);
        // Stable: among equal forms the first patient's replacement is kept.
        forms.sort_dedup(|_, _| std::cmp::Ordering::Equal, |_, _| true);
        let (search, forms) = forms.compile(Build {
            kind: MatchKind::LeftmostLongest,
            small,
            large,
            prefilter,
        });
        bys.shrink_to_fit();
        Replacer {
            search: search.map(Arc::new),
            forms: Arc::new(forms),
            bys: Arc::new(bys),
        }
    }

    /// Where identifying strings stand in `text` (original byte ranges, in order, never
    /// overlapping), with what replaces each. Where the longest match at a place may not
    /// stand there, a shorter one may ("Jane" in "Jane Doerr", where "Jane Doe" is not).
    #[must_use]
    pub fn matches<'a>(&'a self, text: &str) -> Vec<(Range<usize>, &'a str)> {
        let Some(ac) = &self.search else { return Vec::new() };
        with_folded(text, |b, folded| {
            let find = |span: Range<usize>| ac.find(aho_corasick::Input::new(b).span(span));
            let mut out: Vec<(Range<usize>, &'a str)> = Vec::new();
            let mut pos = 0;
            while let Some(m) = find(pos..b.len()) {
                let mut candidate = Some(m);
                let chosen = loop {
                    match candidate {
                        Some(c) if c.start() == m.start() => {
                            if fits(b, &c.range(), self.forms[c.pattern().as_usize()].guards) {
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
                        let range = folded.map_or(c.range(), |f| f.original(c.range()));
                        if out.last().is_none_or(|(last, _)| last.end <= range.start) {
                            let by = self.forms[c.pattern().as_usize()].what;
                            out.push((range, self.bys[by as usize].as_str()));
                        }
                        pos = c.end();
                    }
                    None => pos = next_char(b, m.start()),
                }
            }
            out
        })
    }

    /// The text with identifiers replaced, or `None` when it holds none.
    #[must_use]
    pub fn replace(&self, text: &str) -> Option<String> {
        let found = self.matches(text);
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (r, by) in found {
            out.push_str(&text[last..r.start]);
            out.push_str(by);
            last = r.end;
        }
        out.push_str(&text[last..]);
        Some(out)
    }
}

/// The start of the character after the one at `at`.
fn next_char(b: &[u8], at: usize) -> usize {
    let mut n = at + 1;
    while n < b.len() && (b[n] & 0xC0) == 0x80 {
        n += 1;
    }
    n
}

/// What replaces each identifying string of these patients: IDs and names (all forms and
/// parts) by the patient's code, birth dates by the year-only date in the same written
/// form. Strings of every patient are listed, so text naming several patients is cleaned of
/// all of them, each by their own code.
pub fn replacement_patterns<'a>(patients: impl IntoIterator<Item = (&'a str, &'a Identity)>) -> Vec<Replacement> {
    replacement_patterns_shifting(patients.into_iter().map(|(c, i)| (c, i, None)))
}

/// A patient's date offset in days, and which of their dates move by it: the birth date
/// (when the profile shifts `PatientBirthDate`) and the dates of their studies (when it shifts
/// `StudyDate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shifted {
    pub days: i32,
    pub birth_date: bool,
    pub study_dates: bool,
}

/// [`replacement_patterns`], leaving out the dates that move by a patient's offset: those
/// are the patient's own ([`own_date_patterns`]), searched in the patient's own files only,
/// so that a date two patients share moves by the file's owner's offset, not by whoever came
/// first. A birth date that does not move keeps its year as before.
pub fn replacement_patterns_shifting<'a>(
    patients: impl IntoIterator<Item = (&'a str, &'a Identity, Option<Shifted>)>,
) -> Vec<Replacement> {
    use crate::values::dates::{date_forms, keep_year};
    let mut pats = Vec::new();
    for (code, identity, shift) in patients {
        for id in identity.ids.iter().chain(&identity.other_ids) {
            pats.extend(id_replacements(id, code));
        }
        for name in identity.names.iter().chain(&identity.other_names) {
            for find in name_forms(name).into_iter().chain(name_parts(name)) {
                pats.push(Replacement::word(find, code));
            }
        }
        let birth_moves = shift.is_some_and(|s| s.birth_date);
        for d in identity.birth_dates.iter().filter(|_| !birth_moves) {
            let masked = date_forms(&keep_year(d).unwrap_or_default());
            for ((find, reach), by) in birth_date_forms(d).into_iter().zip(masked) {
                pats.push(Replacement { find, reach, by });
            }
        }
    }
    pats
}

/// The dates of one patient that move by their offset, each written form replaced by the
/// same form of the moved date: the birth date, and the dates of their studies
/// ([`Identity::dates`]; not in their six-digit forms, which any number may be).
#[must_use]
pub fn own_date_patterns(identity: &Identity, shift: Shifted) -> Vec<Replacement> {
    use crate::values::dates::date_forms;
    let mut pats = Vec::new();
    let births = identity.birth_dates.iter().filter(|_| shift.birth_date);
    let studies = identity.dates().filter(|_| shift.study_dates);
    for (d, study) in births.map(|d| (d.as_str(), false)).chain(studies.map(|d| (d, true))) {
        let Some(moved) = crate::values::shift::shift_da(d, shift.days) else {
            continue;
        };
        let moved = date_forms(&moved);
        let forms = if study {
            study_date_forms(d)
        } else {
            birth_date_forms(d)
                .into_iter()
                .enumerate()
                .map(|(i, (f, r))| (i, f, r))
                .collect()
        };
        for (i, find, reach) in forms {
            if let Some(by) = moved.get(i) {
                pats.push(Replacement {
                    find,
                    reach,
                    by: by.clone(),
                });
            }
        }
    }
    pats
}

/// Whether a replacement is a date (masked or moved) rather than a code or a removal.
#[must_use]
pub fn is_date(by: &str) -> bool {
    !by.is_empty() && crate::values::shift::shift(by, 0).is_some()
}

/// Hits of several searches in one text, earlier layers first: a hit that overlaps one
/// already taken is dropped. In order, never overlapping.
#[must_use]
pub fn layered<'a>(
    layers: Vec<Vec<(Range<usize>, std::borrow::Cow<'a, str>)>>,
) -> Vec<(Range<usize>, std::borrow::Cow<'a, str>)> {
    // Taken hits by start, so that each new one is checked against its two neighbours only
    // (a long text may hold hundreds of thousands).
    let mut taken: std::collections::BTreeMap<usize, (usize, std::borrow::Cow<'a, str>)> =
        std::collections::BTreeMap::new();
    for layer in layers {
        for (r, by) in layer {
            let before = taken
                .range(..=r.start)
                .next_back()
                .is_some_and(|(_, (end, _))| *end > r.start);
            let after = taken.range(r.start..).next().is_some_and(|(start, _)| *start < r.end);
            // An empty hit overlaps nothing, but two at one place would not both fit.
            if !(before || after || (r.is_empty() && taken.contains_key(&r.start))) {
                taken.insert(r.start, (r.end, by));
            }
        }
    }
    taken.into_iter().map(|(start, (end, by))| (start..end, by)).collect()
}

/// The text with these hits replaced, or `None` when there are none.
#[must_use]
pub fn replace_hits(text: &str, hits: &[(Range<usize>, std::borrow::Cow<'_, str>)]) -> Option<String> {
    if hits.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (r, by) in hits {
        out.push_str(&text[last..r.start]);
        out.push_str(by);
        last = r.end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// The hits of the search shared by a batch and of the owner's own dates in one text: codes
/// and removals first, then the owner's dates, then the dates of the shared search.
#[must_use]
pub fn owner_first<'a>(
    shared: &'a Replacer,
    own: Option<&'a Replacer>,
    text: &str,
    between: Vec<(Range<usize>, std::borrow::Cow<'a, str>)>,
) -> Vec<(Range<usize>, std::borrow::Cow<'a, str>)> {
    use std::borrow::Cow;
    let (dates, ids): (Vec<_>, Vec<_>) = shared
        .matches(text)
        .into_iter()
        .map(|(r, by)| (r, Cow::Borrowed(by)))
        .partition(|(_, by)| is_date(by));
    if between.is_empty() && own.is_none() {
        let mut all = ids;
        all.extend(dates);
        all.sort_by_key(|(r, _)| r.start);
        return all;
    }
    let own: Vec<_> = own
        .map(|o| {
            o.matches(text)
                .into_iter()
                .map(|(r, by)| (r, Cow::Borrowed(by)))
                .collect()
        })
        .unwrap_or_default();
    layered(vec![ids, between, own, dates])
}

/// Every form of one ID ([`id_forms`]), each replaced by the patient's code.
fn id_replacements<'a>(id: &str, code: &'a str) -> impl Iterator<Item = Replacement> + 'a {
    id_forms(id).into_iter().map(move |(find, reach)| Replacement {
        find,
        reach,
        by: code.to_string(),
    })
}

/// What of one patient's identifiers is replaced in file and folder names, and by what: only
/// values specific enough to be that patient's. A name part alone counts when it has
/// [`MIN_LEN`] letters or more (`Doe`, `Lee`), no digit and is no common word
/// ([`forms::STOP_WORDS`]): `MR1`, `CT` or `Head` as a name component says nothing about who
/// a folder belongs to. An ID counts inside a
/// name when it is distinctive ([`distinctive_id`]), inside longer tokens when it also has
/// six characters or more with a digit (`CT778899123/`); other IDs are returned by
/// [`exact_path_ids`] and replace a name only when they are all of it. Whole written names
/// (two parts or more, or a CJK name) and the birth date as YYYYMMDD always count.
#[must_use]
pub fn path_patterns(code: &str, identity: &Identity) -> Vec<Replacement> {
    path_patterns_shifting(code, identity, None)
}

/// [`path_patterns`], with the patient's dates that move by their offset moved (a folder
/// `20040119_CT` of a patient whose study dates move).
pub fn path_patterns_shifting(code: &str, identity: &Identity, shift: Option<Shifted>) -> Vec<Replacement> {
    use crate::values::dates::keep_year;
    let mut pats = Vec::new();
    for id in identity.ids.iter().chain(&identity.other_ids) {
        if distinctive_id(id.trim()) {
            pats.extend(id_replacements(id, code));
        }
    }
    for name in identity.names.iter().chain(&identity.other_names) {
        for form in name_forms(name) {
            let cjk = form.chars().any(fold::is_cjk);
            if cjk
                || form
                    .split(['^', ' ', ',', '_', '-', '.'])
                    .filter(|p| !p.is_empty())
                    .count()
                    >= 2
            {
                pats.push(Replacement::word(form, code));
            }
        }
        for part in name_parts(name) {
            let cjk = part.chars().any(fold::is_cjk);
            let letters = part.chars().all(char::is_alphabetic);
            if cjk || (letters && part.chars().count() >= MIN_LEN && !is_stop_word(&part)) {
                pats.push(Replacement::word(part, code));
            }
        }
    }
    for d in &identity.birth_dates {
        let masked = match shift {
            Some(s) if s.birth_date => crate::values::shift::shift_da(d, s.days),
            _ => keep_year(d),
        };
        if let Some(masked) = masked.filter(|_| d.len() == 8) {
            pats.push(Replacement {
                find: d.clone(),
                reach: Reach::Number,
                by: masked,
            });
        }
    }
    for d in identity.dates().filter(|_| shift.is_some_and(|s| s.study_dates)) {
        if let Some(moved) = shift.and_then(|s| crate::values::shift::shift_da(d, s.days)) {
            pats.push(Replacement {
                find: d.to_string(),
                reach: Reach::Number,
                by: moved,
            });
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
    let letters = id.chars().take_while(char::is_ascii_alphabetic).count();
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

/// Every patient's identifiers as dams replaces them in file and folder names: the
/// distinctive forms inside a name ([`path_patterns`]) and the short IDs as a whole name
/// ([`exact_path_ids`]). What else the search for identifiers finds in a name (`MR1` of
/// `CompressedSamples^MR1`, `12345` in `12345_CT`) is too short or generic to be that
/// patient's there: the plan keeps it, and says so, and verify lists it as kept. The one rule
/// both use, so that they agree on every name.
#[derive(Debug, Clone)]
pub struct NameRules {
    replacer: Replacer,
    exact: std::collections::HashSet<String>,
}

impl NameRules {
    /// The rules of these patients; with `study_dates` their study dates too (a profile that
    /// shifts them renames `20040119_CT`).
    #[must_use]
    pub fn new<'a>(identities: impl IntoIterator<Item = &'a Identity>, study_dates: bool) -> NameRules {
        // Only what is found matters here, not what replaces it: the days are any.
        let shift = study_dates.then_some(Shifted {
            days: 1,
            birth_date: false,
            study_dates: true,
        });
        let mut pats = Vec::new();
        let mut exact = std::collections::HashSet::new();
        for identity in identities {
            pats.extend(path_patterns_shifting("", identity, shift));
            exact.extend(exact_path_ids(identity).into_iter().map(|id| id.to_uppercase()));
        }
        NameRules {
            replacer: Replacer::for_names(pats),
            exact,
        }
    }

    /// Whether a file or folder name holds an identifier dams replaces in names (for the
    /// patient whose files are there).
    #[must_use]
    pub fn replaces(&self, name: &str, is_file: bool) -> bool {
        let stem = match (is_file, name.rfind('.')) {
            (true, Some(dot)) if dot > 0 => &name[..dot],
            _ => name,
        };
        self.exact.contains(&stem.trim().to_uppercase()) || !self.replacer.matches(name).is_empty()
    }
}

/// One search over the identifiers of all these patients: the one place verify, the write
/// warnings and the deeper search get their search from.
#[must_use]
pub fn search_for(identities: &[Identity], study_dates: bool) -> Identifiers {
    if let [one] = identities {
        return Identifiers::with_dates(one, study_dates);
    }
    search_for_all(identities, study_dates)
}

/// [`search_for`] over identities held elsewhere (no copy of a cohort's worth is made).
#[must_use]
pub fn search_for_all<'a>(identities: impl IntoIterator<Item = &'a Identity>, study_dates: bool) -> Identifiers {
    let mut all = Identity::default();
    for i in identities {
        all.ids.extend(i.ids.iter().cloned());
        all.names.extend(i.names.iter().cloned());
        all.birth_dates.extend(i.birth_dates.iter().cloned());
        all.other_ids.extend(i.other_ids.iter().cloned());
        all.other_names.extend(i.other_names.iter().cloned());
        all.accession_numbers.extend(i.accession_numbers.iter().cloned());
        all.physicians.extend(i.physicians.iter().cloned());
        if study_dates {
            for (t, v) in &i.study_values {
                all.study_values.entry(*t).extend(v.iter().cloned());
            }
        }
    }
    Identifiers::with_dates(&all, study_dates)
}

/// The kinds of identifier the search finds in raw bytes (text in UTF-8, else Latin-1).
#[must_use]
pub fn find_in(ids: &Identifiers, bytes: &[u8]) -> Vec<IdentifierKind> {
    ids.find(bytes)
}

#[cfg(test)]
mod tests;

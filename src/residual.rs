//! The residual-identifier search: the strings that identify a patient (name and its parts,
//! IDs, birth date in common written forms) and where they still occur.

use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Serialize;

use crate::dicom::dict;
use crate::dicom::parse::Parsed;

use crate::plan::dates::date_forms;
use crate::scan::Identity;

/// Shorter strings would match everywhere (initials, two-digit numbers).
const MIN_LEN: usize = 3;

/// What kind of identifier was found (never the value itself: reports must not leak it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierKind {
    PatientName,
    PatientId,
    BirthDate,
}

impl IdentifierKind {
    pub fn label(self) -> &'static str {
        match self {
            IdentifierKind::PatientName => "patient name",
            IdentifierKind::PatientId => "patient ID",
            IdentifierKind::BirthDate => "birth date",
        }
    }
}

/// A compiled, case-insensitive search for one patient's identifying strings.
#[derive(Debug, Clone)]
pub struct Identifiers {
    kinds: Vec<IdentifierKind>,
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
        for id in &identity.ids {
            pats.push((id.clone(), IdentifierKind::PatientId));
        }
        for name in &identity.names {
            let full = name.trim_end_matches('^').to_string();
            pats.push((full.clone(), IdentifierKind::PatientName));
            pats.push((full.replace('^', " "), IdentifierKind::PatientName));
            for part in name_parts(name) {
                pats.push((part, IdentifierKind::PatientName));
            }
        }
        for d in &identity.birth_dates {
            for f in date_forms(d) {
                pats.push((f, IdentifierKind::BirthDate));
            }
        }
        pats.retain(|(p, _)| p.chars().count() >= MIN_LEN);
        pats.sort();
        pats.dedup_by(|a, b| a.0.eq_ignore_ascii_case(&b.0));
        // Latin-1 files hold non-ASCII names as single bytes; search for that form too.
        let mut all: Vec<(Vec<u8>, IdentifierKind)> = Vec::new();
        for (p, k) in &pats {
            all.push((p.as_bytes().to_vec(), *k));
            if !p.is_ascii() && p.chars().all(|c| (c as u32) < 256) {
                all.push((p.chars().map(|c| c as u8).collect(), *k));
            }
        }
        let search = (!all.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(all.iter().map(|(p, _)| p))
        });
        Identifiers {
            kinds: all.into_iter().map(|(_, k)| k).collect(),
            search: search.and_then(Result::ok),
        }
    }

    /// The kinds of identifier found in `bytes` (deduplicated, sorted).
    pub fn find(&self, bytes: &[u8]) -> Vec<IdentifierKind> {
        let Some(ac) = &self.search else { return Vec::new() };
        let mut found: Vec<IdentifierKind> = ac
            .find_iter(bytes)
            .map(|m| self.kinds[m.pattern().as_usize()])
            .collect();
        found.sort();
        found.dedup();
        found
    }
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

    fn identity() -> Identity {
        let mut i = Identity::default();
        i.ids.insert("MAP001".into());
        i.names.insert("Müller^Hans^Q".into());
        i.birth_dates.insert("19500317".into());
        i
    }

    #[test]
    fn finds_parts_ids_and_date_forms_case_insensitively() {
        let ids = Identifiers::new(&identity());
        assert_eq!(ids.find(b"report for hans"), vec![IdentifierKind::PatientName]);
        assert_eq!(ids.find(b"id=map001x"), vec![IdentifierKind::PatientId]);
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
    }
}

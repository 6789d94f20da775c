//! Who a patient is: the identifying values found in their files (kept in memory only, for
//! codes, the key store and the search for identifiers left behind; never logged), and the
//! key under which a patient's code is stored.

use serde::Serialize;

/// The patient's identifying values as found in one file, for codes and residual scans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileIdentity {
    pub patient_id: String,
    pub patient_name: String,
    pub birth_date: String,
    pub other_ids: Vec<String>,
    pub other_names: Vec<String>,
    pub accession_number: String,
    pub referring_physician: String,
    /// Values that identify the study rather than the patient — institution name and
    /// address, station name, operators', performing physicians' names, `StudyID`, and the
    /// study's, series', acquisition's and content's dates — by tag:
    /// what a profile that removes them from the DICOM removes from the patient's XML too.
    pub study_values: Vec<(dicom_core::Tag, String)>,
    /// `PatientIdentityRemoved` (0012,0062) is YES and `DeidentificationMethod` (0012,0063) names
    /// dams: the file is dams output, and its `PatientID` is probably a code.
    pub deidentified_by_dams: bool,
}

/// A small set of strings, kept sorted in one vector: what a patient's files say of one kind
/// of value is nearly always one or two strings, and a `BTreeSet` took a node of some 280 bytes
/// for them (2.7 KiB a patient, issue 17).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(Vec<String>);

impl Values {
    /// Adds `v` unless it is there; whether it was added.
    pub fn insert(&mut self, v: String) -> bool {
        match self.0.binary_search(&v) {
            Ok(_) => false,
            Err(at) => {
                // Sets of a patient stay tiny: grow them by one, not by doubling.
                if self.0.len() == self.0.capacity() && self.0.len() < 8 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(at, v);
                true
            }
        }
    }

    #[must_use]
    pub fn contains(&self, v: &str) -> bool {
        self.0.binary_search_by(|x| x.as_str().cmp(v)).is_ok()
    }

    /// The values in byte order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    #[must_use]
    pub fn first(&self) -> Option<&String> {
        self.0.first()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Values {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Many values at once (a cohort's merged identity): appended, then sorted once.
impl Extend<String> for Values {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        self.0.extend(iter);
        self.0.sort_unstable();
        self.0.dedup();
    }
}

impl<const N: usize> From<[String; N]> for Values {
    fn from(values: [String; N]) -> Values {
        values.into_iter().collect()
    }
}

impl FromIterator<String> for Values {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Values {
        let mut v = Values::default();
        v.extend(iter);
        v
    }
}

/// [`FileIdentity::study_values`] of a patient, by tag (in tag order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyValues(Vec<(dicom_core::Tag, Values)>);

impl StudyValues {
    /// The values of one tag, if any were seen.
    #[must_use]
    pub fn get(&self, tag: &dicom_core::Tag) -> Option<&Values> {
        self.0.binary_search_by(|(t, _)| t.cmp(tag)).ok().map(|i| &self.0[i].1)
    }

    /// The values of one tag, to add to.
    pub fn entry(&mut self, tag: dicom_core::Tag) -> &mut Values {
        let i = match self.0.binary_search_by(|(t, _)| t.cmp(&tag)) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (tag, Values::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Every tag with its values, in tag order.
    pub fn iter(&self) -> impl Iterator<Item = (&dicom_core::Tag, &Values)> {
        self.0.iter().map(|(t, v)| (t, v))
    }

    fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl<'a> IntoIterator for &'a StudyValues {
    type Item = (&'a dicom_core::Tag, &'a Values);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (dicom_core::Tag, Values)>,
        fn(&'a (dicom_core::Tag, Values)) -> (&'a dicom_core::Tag, &'a Values),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(t, v)| (t, v))
    }
}

/// The identifying values seen for one patient across all their files. Kept in memory only,
/// used for codes, the key store and the residual-identifier scan; never logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub ids: Values,
    pub names: Values,
    pub birth_dates: Values,
    pub other_ids: Values,
    pub other_names: Values,
    pub accession_numbers: Values,
    pub physicians: Values,
    /// See [`FileIdentity::study_values`]; never searched as the patient's identifiers.
    pub study_values: StudyValues,
    /// Files of the patient that say they are dams output (see
    /// [`FileIdentity::deidentified_by_dams`]).
    pub dams_output_files: usize,
}

impl Identity {
    /// Adds what one more file of the patient says.
    pub fn add(&mut self, f: &FileIdentity) {
        let put = |set: &mut Values, v: &str| {
            if !v.is_empty() && !set.contains(v) {
                set.insert(v.to_string());
            }
        };
        put(&mut self.ids, &f.patient_id);
        put(&mut self.names, &f.patient_name);
        put(&mut self.birth_dates, &f.birth_date);
        for v in &f.other_ids {
            put(&mut self.other_ids, v);
        }
        for v in &f.other_names {
            put(&mut self.other_names, v);
        }
        put(&mut self.accession_numbers, &f.accession_number);
        put(&mut self.physicians, &f.referring_physician);
        for (tag, v) in &f.study_values {
            put(self.study_values.entry(*tag), v);
        }
        self.study_values.shrink_to_fit();
        if f.deidentified_by_dams {
            self.dams_output_files += 1;
        }
    }

    /// The dates of the patient's studies, series, acquisitions and contents (DICOM DA),
    /// for a profile that shifts dates: each is searched for in text as well.
    pub fn dates(&self) -> impl Iterator<Item = &str> {
        use dicom_dictionary_std::tags;
        [
            tags::STUDY_DATE,
            tags::SERIES_DATE,
            tags::ACQUISITION_DATE,
            tags::CONTENT_DATE,
        ]
        .into_iter()
        .flat_map(|t| self.study_values.get(&t).into_iter().flatten())
        .map(String::as_str)
        .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The first name seen (for the key store's re-identification record).
    pub fn name(&self) -> &str {
        self.names.iter().next().map_or("", String::as_str)
    }

    pub fn birth_date(&self) -> &str {
        self.birth_dates.iter().next().map_or("", String::as_str)
    }
}

/// Keys of patients formed from files without a `PatientID` start with a backslash, which a
/// `PatientID` (VR LO) can never hold: they never collide with a real `PatientID`.
const FORMED_BY_NAME: &str = "\\N\\";
const FORMED_BY_NAME_STUDY: &str = "\\NS\\";
const FORMED_BY_STUDY: &str = "\\S\\";

/// How a patient was formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Formed {
    /// By the `PatientID` its files carry (the usual case).
    PatientId,
    /// Files without a `PatientID` sharing `PatientName` and `PatientBirthDate`.
    NameBirthDate,
    /// Files without a `PatientID` sharing `PatientName` and `StudyInstanceUID`: those without
    /// a birth date, or whose name stands for no one ([`is_placeholder_name`]).
    NameStudy,
    /// Files without `PatientID` or name sharing a `StudyInstanceUID`.
    Study,
}

/// The key of a patient formed from files without a `PatientID`, by name and birth date.
/// The name is compared as DICOM people write it: components trimmed, case folded, empty
/// trailing components dropped.
#[must_use]
pub fn name_key(name: &str, birth_date: &str) -> String {
    format!("{FORMED_BY_NAME}{}\\{}", normal_name(name), birth_date.trim())
}

/// The key of a patient formed from files without a `PatientID` by name and study (no birth
/// date, or a placeholder name: see [`is_placeholder_name`]).
#[must_use]
pub fn name_study_key(name: &str, study_uid: &str) -> String {
    format!("{FORMED_BY_NAME_STUDY}{}\\{}", normal_name(name), study_uid.trim())
}

/// Names that stand for no one, compared as [`normal_name`] writes them (upper case): what
/// anonymisers and test generators write instead of a name. Files without a `PatientID` with
/// such a name are not one patient because they share it (see [`name_study_key`]).
pub const PLACEHOLDER_NAMES: &[&str] = &[
    "ANON",
    "ANONYMIZED",
    "ANONYMISED",
    "ANONYMOUS",
    "DEIDENTIFIED",
    "DE-IDENTIFIED",
    "REMOVED",
    "UNKNOWN",
    "NONE",
    "NULL",
    "N/A",
    "NO NAME",
    "NONAME",
];

/// Whether a `PatientName` stands for no one: every component is one of [`PLACEHOLDER_NAMES`]
/// or holds no letter or digit (`*`, `?`, `-`, `^^`).
#[must_use]
pub fn is_placeholder_name(name: &str) -> bool {
    normal_name(name)
        .split(['^', '='])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .all(|c| PLACEHOLDER_NAMES.contains(&c) || !c.chars().any(char::is_alphanumeric))
}

/// The key of a patient formed from files with neither `PatientID` nor name, by study.
#[must_use]
pub fn study_key(study_uid: &str) -> String {
    format!("{FORMED_BY_STUDY}{}", study_uid.trim())
}

/// A person name compared loosely: each group's components trimmed and upper-cased, empty
/// trailing components and groups dropped ("Doe^Jane^^" = "DOE^JANE"); "" when nothing is left.
pub(crate) fn normal_name(name: &str) -> String {
    let groups: Vec<String> = name
        .split('=')
        .map(|g| {
            let parts: Vec<String> = g.split('^').map(|p| p.trim().to_uppercase()).collect();
            let keep = parts.iter().rposition(|p| !p.is_empty()).map_or(0, |i| i + 1);
            parts[..keep].join("^")
        })
        .collect();
    let keep = groups.iter().rposition(|g| !g.is_empty()).map_or(0, |i| i + 1);
    groups[..keep].join("=")
}

/// How the patient with this key was formed.
#[must_use]
pub fn formed(key: &str) -> Formed {
    if key.starts_with(FORMED_BY_NAME) {
        Formed::NameBirthDate
    } else if key.starts_with(FORMED_BY_NAME_STUDY) {
        Formed::NameStudy
    } else if key.starts_with(FORMED_BY_STUDY) {
        Formed::Study
    } else {
        Formed::PatientId
    }
}

/// The `PatientID` in a patient key ("" for a patient formed without one).
#[must_use]
pub fn real_id(key: &str) -> &str {
    if key.starts_with('\\') { "" } else { key }
}

/// A patient key as people read it.
#[must_use]
pub fn label(key: &str) -> String {
    if let Some(rest) = key.strip_prefix(FORMED_BY_NAME) {
        let (name, birth) = rest.rsplit_once('\\').unwrap_or((rest, ""));
        if birth.is_empty() {
            format!("(no PatientID) {name}")
        } else {
            format!("(no PatientID) {name}, born {birth}")
        }
    } else if let Some(rest) = key.strip_prefix(FORMED_BY_NAME_STUDY) {
        let (name, uid) = rest.rsplit_once('\\').unwrap_or((rest, ""));
        format!("(no PatientID) {name}, study {uid}")
    } else if let Some(uid) = key.strip_prefix(FORMED_BY_STUDY) {
        format!("(no PatientID or name) study {uid}")
    } else {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Placeholders in any case and as every component; real names, even short or odd ones,
    /// are names.
    #[test]
    fn placeholder_names_are_told_from_names() {
        for p in [
            "Anonymized",
            "ANONYMOUS^ANONYMOUS",
            "anon",
            "*",
            "^^",
            "-",
            "No Name",
            "Unknown^",
        ] {
            assert!(is_placeholder_name(p), "{p}");
        }
        for n in ["SMITH^JOHN", "Anonymized^Anna", "Li^Bo", "PAT001", "Unknown^Jane"] {
            assert!(!is_placeholder_name(n), "{n}");
        }
        let key = name_study_key("Anonymized", "1.2.3");
        assert_eq!(formed(&key), Formed::NameStudy);
        assert_eq!(label(&key), "(no PatientID) ANONYMIZED, study 1.2.3");
        assert_eq!(real_id(&key), "");
    }
}

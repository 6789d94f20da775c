//! The Plan: for every file, the exact edits (tag, before, after, rule) and its destination;
//! for the key, the entries it will need. Building a plan writes nothing.

mod conform;
pub mod mapping;
mod part10;
pub mod stays;
pub mod stream;
pub mod summary;

pub use stream::{Mode, PlanSink, PlannedFile, stream};

// Moved to `crate::values`; re-exported while other code moves over.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use crate::dicom::parse::TOP;
use crate::dicom::parse::{Element, ElementKind, Parsed};
use crate::dicom::rewrite::{Change, Insert};
use crate::dicom::tags;
use crate::dicom::{Tag, VR, dict, tag_string, text};
use crate::key::{KeyStore, NewEntry};
use crate::link::{Links, Repair, StaleOverride};
use crate::matcher::Identifiers;
use crate::profile::{Action, Profile, RuleKind};
use crate::progress::Progress;
use crate::residual::{Residual, residual_noting};
use crate::review::Workspace;
use crate::scan::{Index, Instance, Unreadable};
use crate::values::{dates, shift, uid};

/// `Edit::element` of an element that is added rather than changed.
pub(crate) const INSERTED: usize = usize::MAX;
/// `Edit::element` of the edit that stands for the file preamble (not an element).
pub(crate) const PREAMBLE: usize = usize::MAX - 1;
/// `Edit::element` of the edit that stands for the file meta group a raw data set is written
/// with (not an element of the input).
pub(crate) const FILE_META: usize = usize::MAX - 2;

/// One planned change to one element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edit {
    /// Where the element sits: `(0010,0010)`, or `(0008,1115)[0]/(0008,1155)` when nested.
    pub path: String,
    pub tag: String,
    pub keyword: String,
    /// The value now (decoded text; `null` when absent).
    pub before: Option<String>,
    /// The value after the change; `null` when the element is removed.
    pub after: Option<String>,
    /// The profile action behind the change (`code`, `keep-year`, `replace`, …).
    pub rule: RuleKind,
    #[serde(skip)]
    pub(crate) element: usize,
    #[serde(skip)]
    pub(crate) change: Change,
}

/// What happens to one input file.
#[derive(Debug, Clone, Serialize)]
pub struct FilePlan {
    /// Relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub source: PathBuf,
    /// Relative to the output folder.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub dest: PathBuf,
    pub edits: Vec<Edit>,
    /// Things a reviewer should see (a date that could not be masked, …).
    pub warnings: Vec<String>,
    /// Identifying values of the patient that the profile leaves in place, and identifiers
    /// its output path still holds that dams replaces in names.
    pub residual: Vec<Residual>,
    /// Identifiers its output path holds that are too short or generic to be replaced inside
    /// a name (`MR1`, `12345` in `12345_CT`): kept on purpose (see
    /// [`crate::residual::NameFindings`]).
    pub kept: Vec<Residual>,
    /// Elements added (a repaired mask lacking `InstanceNumber`, say).
    #[serde(skip)]
    pub(crate) inserts: Vec<Insert>,
    /// The 128-byte preamble is written as zeros.
    #[serde(skip)]
    pub clear_preamble: bool,
    /// The file meta group of a file that has none (a raw data set), written with a preamble
    /// before the data set ([`part10`]); empty for a file that has one.
    #[serde(skip)]
    pub(crate) file_meta: Vec<Insert>,
}

/// A file that was readable at scan time but could not be planned or written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {reason}", path = .path.display())]
pub struct FileError {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatientPlan {
    /// The key of the patient in the key store: the original `PatientID`, or for a patient
    /// formed without one, a key made from name and birth date or study (see
    /// [`crate::scan::Patient`]). In JSON: the `PatientID` ("" for such a patient).
    #[serde(serialize_with = "real_id")]
    pub patient_id: String,
    /// The same key, as it is (JSON: `patient_key`).
    pub patient_key: String,
    pub formed_by: crate::scan::Formed,
    /// Why the input looks like dams output already (its `PatientID` a code), if it does.
    pub looks_pseudonymised: Option<String>,
    pub code: String,
    /// True when the code is new and will be added to the key store on apply.
    pub new_code: bool,
    pub files: Vec<FilePlan>,
    /// The patient's XML sidecars.
    pub xml: Vec<XmlFilePlan>,
    pub failed: Vec<FileError>,
}

impl PatientPlan {
    /// The plan of a patient before any of its files.
    pub fn empty(patient: &crate::scan::Patient, planner: &Planner) -> PatientPlan {
        PatientPlan {
            new_code: planner.is_new(&patient.patient_id),
            patient_id: patient.patient_id.clone(),
            patient_key: patient.patient_id.clone(),
            formed_by: patient.formed(),
            looks_pseudonymised: planner.looks_pseudonymised(&patient.patient_id).map(str::to_string),
            code: planner.code(&patient.patient_id).unwrap_or_default().to_string(),
            files: Vec::new(),
            xml: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Files, XML files and failures in path order (they arrive in whatever order the
    /// workers finish).
    #[must_use]
    pub fn sorted(mut self) -> PatientPlan {
        self.files.sort_by(|a, b| a.source.cmp(&b.source));
        self.xml.sort_by(|a, b| a.source.cmp(&b.source));
        self.failed.sort_by(|a, b| a.path.cmp(&b.path));
        self
    }
}

fn real_id<S: serde::Serializer>(key: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(crate::scan::index::real_id(key))
}

/// What happens to one XML file.
#[derive(Debug, Clone, Serialize)]
pub struct XmlFilePlan {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub source: PathBuf,
    #[serde(serialize_with = "crate::paths::lossy")]
    pub dest: PathBuf,
    /// How the patient was decided (its ID or name in it, its folder, by hand).
    pub assigned_by: String,
    #[serde(flatten)]
    pub plan: crate::xml::XmlPlan,
    /// What its output path still holds, as for DICOM files ([`FilePlan::residual`]).
    pub residual: Vec<Residual>,
    /// What its output path keeps on purpose ([`FilePlan::kept`]).
    pub kept: Vec<Residual>,
}

/// An XML file that belongs to no patient yet: not written until it is assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnassignedXml {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub profile: String,
    pub patients: Vec<PatientPlan>,
    pub unassigned_xml: Vec<UnassignedXml>,
    /// Files without a `PatientID` no patient was found for: not written until assigned.
    pub unplaced: Vec<crate::scan::Unplaced>,
    pub unreadable: Vec<Unreadable>,
    pub new_key_entries: Vec<NewEntry>,
}

/// Decides the edits of each file: the profile, the patients' codes (existing or proposed),
/// and the decisions made in review. Shared read-only by the parallel workers.
#[derive(Debug, Clone)]
pub struct Planner {
    pub profile: Profile,
    codes: BTreeMap<String, String>,
    pub new_entries: Vec<NewEntry>,
    /// Per patient: their identity, and the search for their identifiers built from it on
    /// first use (kept for the patients planned last only: a cohort's worth of searches would
    /// take some 20 KiB a patient).
    identities: std::sync::Arc<std::collections::HashMap<String, std::sync::Arc<crate::identity::Identity>>>,
    identifiers: PatientCache<Identifiers>,
    /// Whether the dates of the patients' studies are searched as identifiers too.
    study_dates_searched: bool,
    /// Tag repairs of per-slice mask files, by relative path.
    repairs: std::collections::HashMap<PathBuf, Repair>,
    /// The segmentation links in force (for the mapping table apply writes).
    pub links: Option<std::sync::Arc<Links>>,
    /// The patient of each assigned XML file (automatic or by hand), and how.
    xml_owner: BTreeMap<PathBuf, (String, String)>,
    /// Per patient: what replaces their identifiers in XML.
    xml_contexts: BTreeMap<String, crate::xml::XmlContext>,
    pub unassigned_xml: Vec<UnassignedXml>,
    /// Every patient's identifiers → that patient's code (for `clean` and output paths).
    replacer: crate::matcher::Replacer,
    /// The key's secret, for UIDs derived by `uid` actions.
    secret: std::sync::Arc<Vec<u8>>,
    /// Per patient with a code, when the profile shifts dates: their offset in days, and
    /// whether the key store holds it already (else apply records it).
    offsets: BTreeMap<String, (i32, bool)>,
    /// Per patient whose dates move: their own dates in every written form, moved (`None`:
    /// nothing to search), built on first use.
    date_replacers: PatientCache<Option<crate::matcher::Replacer>>,
    /// Output paths that differ from the input path (identifiers in names, collisions).
    dests: std::collections::HashMap<PathBuf, PathBuf>,
    /// Folders whose output path differs from the input path.
    dest_dirs: std::collections::HashMap<PathBuf, PathBuf>,
    /// Files whose output path keeps an identifier, and why (a folder of several patients).
    dest_warnings: std::collections::HashMap<PathBuf, String>,
    /// Files whose output path holds identifiers, by the rules of names verify uses.
    dest_names: std::collections::HashMap<PathBuf, crate::residual::NameFindings>,
    /// Files whose `SeriesInstanceUID` is shared with files of another patient.
    shared_series: std::collections::HashSet<PathBuf>,
    /// Patients whose input looks like dams output already, and why.
    pseudonymised: BTreeMap<String, String>,
    /// Codes the key store holds for patients of this input that can be mistaken for a real
    /// ID of the input ([`code_conflicts`]): nothing is written while there is one.
    pub code_conflicts: Vec<CodeConflict>,
    /// The user agreed to give such patients codes anyway (`--recode`, or asked in review).
    pub recode: bool,
    /// The user agreed to replace files in the output folder that dams did not write
    /// (`--overwrite`), and to take over an output folder written with other rules.
    pub overwrite: bool,
    /// The user agreed to write images that may show identifiers in their pixels without
    /// approving each (`--accept-burned-in`).
    pub accept_burned_in: bool,
    /// This run writes one shard of the patients (`--shard K/N`): its manifest and mapping
    /// table are its own part.
    pub shard: Option<crate::manifest::Shard>,
}

/// Searches for the patients planned last, built on first use: planning goes patient by
/// patient, so a few hundred are enough, and memory does not grow with the cohort (a
/// patient's search takes some 20 KiB).
#[derive(Debug)]
struct PatientCache<T> {
    built: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<T>>>,
}

/// More than the patients of any batch the plan stream plans at once.
const PATIENT_CACHE: usize = 1024;

impl<T> PatientCache<T> {
    fn new() -> PatientCache<T> {
        PatientCache {
            built: std::sync::Mutex::default(),
        }
    }

    fn get(&self, patient_id: &str, make: impl FnOnce() -> Option<T>) -> Option<std::sync::Arc<T>> {
        if let Some(t) = self.built.lock().ok()?.get(patient_id) {
            return Some(t.clone());
        }
        // Built outside the lock: other patients' files go on meanwhile.
        let t = std::sync::Arc::new(make()?);
        let mut built = self.built.lock().ok()?;
        if built.len() >= PATIENT_CACHE {
            built.clear();
        }
        Some(built.entry(patient_id.to_string()).or_insert(t).clone())
    }
}

impl<T> Clone for PatientCache<T> {
    fn clone(&self) -> PatientCache<T> {
        PatientCache::new()
    }
}

/// One patient's identifiers as they are replaced in file and folder names (see
/// [`crate::matcher::path_patterns`]).
#[derive(Debug, Clone)]
struct PathRules {
    code: String,
    replacer: crate::matcher::Replacer,
    /// Short IDs: a name that is exactly one of them (upper-cased) becomes the code.
    exact: Vec<String>,
}

/// Everything the faces need to plan: the planner (profile, codes, repairs) and the links
/// with the user's manual ones in force, from one Index and the review decisions.
pub struct Prepared {
    pub planner: Planner,
    pub links: Links,
    /// Manual links that no longer fit the folder (reported, not applied).
    pub stale: Vec<StaleOverride>,
    /// Manual XML assignments that no longer fit (reported, not applied).
    pub stale_xml: Vec<String>,
}

pub fn prepare(index: &Index, profile: Profile, key: &KeyStore, ws: &Workspace) -> Prepared {
    // The review state names patients by keyed hashes: the ones of this folder by their keys.
    let resolved;
    let ws = if ws.has_unresolved() {
        let mut w = ws.clone();
        w.resolve(index.patients.iter().map(|p| p.patient_id.as_str()));
        resolved = w;
        &resolved
    } else {
        ws
    };
    let mut links = crate::link::resolve(index);
    let stale = links.apply_overrides(&ws.links);
    let mode = profile.segmentation.repair;
    let repairs = links.repairs(&key.secret(), |g| {
        let wanted = match mode {
            crate::profile::Repair::Flagged => g.needs_repair(),
            crate::profile::Repair::All => g.repairable(),
            crate::profile::Repair::None => false,
        };
        wanted && !ws.no_repair.contains(&g.key)
    });
    let mut planner = Planner::build(index, profile, key);
    planner.repairs = repairs.into_iter().map(|r| (r.path.clone(), r)).collect();
    planner.links = Some(std::sync::Arc::new(links.clone()));
    let mut stale_xml = Vec::new();
    for x in &index.xml {
        let manual = ws.xml_assignments.get(&x.path);
        match (manual, &x.assignment) {
            (Some(pid), _) if index.patient(pid).is_some() => {
                planner
                    .xml_owner
                    .insert(x.path.clone(), (pid.clone(), "assigned by hand".into()));
            }
            (Some(_), _) => stale_xml.push(format!(
                "{} was assigned by hand to a patient who is no longer in the folder; assign it again",
                x.path.display()
            )),
            (None, crate::scan::XmlAssignment::Assigned { patient_id, by }) => {
                planner
                    .xml_owner
                    .insert(x.path.clone(), (patient_id.clone(), by.clone()));
            }
            (None, crate::scan::XmlAssignment::Unassigned { reason }) => planner.unassigned_xml.push(UnassignedXml {
                path: x.path.clone(),
                reason: reason.clone(),
            }),
            (None, crate::scan::XmlAssignment::Pending) => {}
        }
    }
    // One search over every patient's identifiers: a file may name others than its owner.
    let coded: Vec<(String, &crate::identity::Identity, String)> = index
        .patients
        .iter()
        .filter_map(|p| {
            planner
                .code(&p.patient_id)
                .map(|c| (p.patient_id.clone(), &*p.identity, c.to_string()))
        })
        .collect();
    let all = crate::xml::XmlContext::sharing("", &planner.replacer, xml_reach(index, &planner));
    // A context for each patient who owns an XML file (the others need none).
    let owners: std::collections::BTreeSet<String> = planner.xml_owner.values().map(|(p, _)| p.clone()).collect();
    for (pid, _, code) in coded.iter().filter(|(pid, _, _)| owners.contains(pid)) {
        let dates = crate::xml::XmlDates::of(&planner.profile, planner.offset(pid));
        let own = planner
            .shifted(pid)
            .zip(index.patient(pid))
            .map_or_else(Vec::new, |(s, p)| crate::matcher::own_date_patterns(&p.identity, s));
        let ctx = all
            .with_code(code)
            .with_dates(dates)
            .with_offset(planner.offset(pid), own);
        planner.xml_contexts.insert(pid.clone(), ctx);
    }
    // Output paths, once the XML files' owners are known (each patient's name rules are built
    // for this and dropped after).
    planner.settle_dests(index);
    Prepared {
        planner,
        links,
        stale,
        stale_xml,
    }
}

/// Every coded patient's date offset when the profile shifts dates: the one the key store
/// holds, else the one derived from the key's secret and the patient's key in the profile's
/// range (see [`crate::values::shift::offset`]).
fn date_offsets(
    index: &Index,
    profile: &Profile,
    key: &KeyStore,
    codes: &BTreeMap<String, String>,
) -> BTreeMap<String, (i32, bool)> {
    if !profile.shifts_dates() {
        return BTreeMap::new();
    }
    let secret = key.secret();
    index
        .patients
        .iter()
        .filter(|p| codes.contains_key(&p.patient_id))
        .map(|p| {
            let v = match key.date_offset(&p.patient_id) {
                Some(d) => (d, true),
                None => (shift::offset(&secret, &p.patient_id, profile.shift_range), false),
            };
            (p.patient_id.clone(), v)
        })
        .collect()
}

/// The input's patients as the key store needs them to give codes (`KeyStore::propose`):
/// key, name, birth date and every real ID their files carry.
#[must_use]
pub fn candidates(index: &Index) -> Vec<crate::key::Candidate> {
    index
        .patients
        .iter()
        .map(|p| crate::key::Candidate {
            key: p.patient_id.clone(),
            name: p.identity.name().to_string(),
            birth_date: p.identity.birth_date().to_string(),
            ids: p.identity.ids.iter().chain(&p.identity.other_ids).cloned().collect(),
        })
        .collect()
}

/// A code of the key store, given to a patient of the input, that equals (ignoring case, as
/// the key's rules compare) a real ID of the input: imported, or given, before the key could
/// know that ID. Written, it would make one patient's files look like another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeConflict {
    /// The key of the patient the code belongs to.
    pub patient: String,
    /// The key of the patient whose ID the code equals (maybe the same patient).
    pub other: String,
    /// The code equals that patient's `PatientID` (else one of their `OtherPatientIDs`).
    pub patient_id: bool,
}

impl std::fmt::Display for CodeConflict {
    /// Names the patients by label and nothing else (the code is the other's ID already).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let which = if self.patient_id {
            "the PatientID"
        } else {
            "an OtherPatientID"
        };
        let label = crate::scan::index::label;
        if self.patient == self.other {
            write!(
                f,
                "the code of patient {} in the key store is, ignoring case, {which} of that patient",
                label(&self.patient)
            )
        } else {
            write!(
                f,
                "the code of patient {} in the key store is, ignoring case, {which} of patient {} of this folder",
                label(&self.patient),
                label(&self.other)
            )
        }
    }
}

/// Every code the key holds for a patient of `index` that equals, folded as the key's rules
/// fold, a `PatientID` or `OtherPatientID` of the input. The other patient then also looks
/// like dams output (its ID is a code of the key), but with the code's own patient in the
/// same input that is no reason to go on: giving it a new code (`--recode`) would still write
/// the first patient's files under the second's ID.
fn code_conflicts(index: &Index, key: &KeyStore) -> Vec<CodeConflict> {
    use crate::key::{fold_code, fold_id};
    let mut ids: HashMap<String, (&str, bool)> = HashMap::new();
    for p in &index.patients {
        let own = p.identity.ids.iter().map(|i| (i, true));
        for (id, is_pid) in own.chain(p.identity.other_ids.iter().map(|i| (i, false))) {
            if !id.trim().is_empty() {
                ids.entry(fold_id(id)).or_insert((p.patient_id.as_str(), is_pid));
            }
        }
    }
    index
        .patients
        .iter()
        .filter_map(|p| {
            let code = key.code_for(&p.patient_id)?;
            let (other, patient_id) = ids.get(&fold_code(code))?;
            Some(CodeConflict {
                patient: p.patient_id.clone(),
                other: (*other).to_string(),
                patient_id: *patient_id,
            })
        })
        .collect()
}

impl Planner {
    /// A planner without the links, repairs, XML owners and review decisions `prepare` adds
    /// (the review screen's first look, while those are being worked out).
    #[cfg(feature = "tui")]
    pub(crate) fn new(index: &Index, profile: Profile, key: &KeyStore) -> Planner {
        let mut planner = Planner::build(index, profile, key);
        planner.settle_dests(index);
        planner
    }

    /// A planner without the output paths (`prepare` decides them once the XML files'
    /// owners are known).
    fn build(index: &Index, profile: Profile, key: &KeyStore) -> Planner {
        let mut new_entries = key.propose(&candidates(index));
        let mut codes = BTreeMap::new();
        for p in &index.patients {
            if let Some(c) = key.code_for(&p.patient_id) {
                codes.insert(p.patient_id.clone(), c.to_string());
            }
        }
        for e in &new_entries {
            codes.insert(e.patient_id.clone(), e.code.clone());
        }
        let offsets = date_offsets(index, &profile, key, &codes);
        // A new patient's offset goes into the key with their code, in one transaction.
        for e in &mut new_entries {
            e.date_offset = offsets.get(&e.patient_id).map(|(d, _)| *d);
        }
        let study_dates = profile.shifts_study_dates();
        // Each patient's searches are built when their files are planned (`PatientCache`).
        let identities = std::sync::Arc::new(
            index
                .patients
                .iter()
                .map(|p| (p.patient_id.clone(), p.identity.clone()))
                .collect(),
        );
        let study_dates_searched = !offsets.is_empty() && study_dates;
        let birth_date = profile.action_for(tags::PATIENT_BIRTH_DATE) == Some(&Action::Shift);
        let shifted = |pid: &str| {
            offsets.get(pid).map(|(days, _)| crate::matcher::Shifted {
                days: *days,
                birth_date,
                study_dates,
            })
        };
        let replacer = crate::matcher::Replacer::new(crate::matcher::replacement_patterns_shifting(
            index.patients.iter().filter_map(|p| {
                codes
                    .get(&p.patient_id)
                    .map(|c| (c.as_str(), &*p.identity, shifted(&p.patient_id)))
            }),
        ));
        let mut series_owners: std::collections::HashMap<&str, std::collections::BTreeSet<&str>> = HashMap::default();
        for p in &index.patients {
            for s in p.series() {
                series_owners.entry(&s.series_uid).or_default().insert(&p.patient_id);
            }
        }
        let shared_series = index
            .patients
            .iter()
            .flat_map(crate::scan::Patient::series)
            .filter(|s| {
                !s.series_uid.is_empty() && series_owners.get(s.series_uid.as_str()).is_some_and(|o| o.len() > 1)
            })
            .flat_map(|s| s.instances.iter().map(|i| i.path.clone()))
            .collect();
        let pseudonymised = index
            .patients
            .iter()
            .filter_map(|p| p.looks_pseudonymised(key).map(|why| (p.patient_id.clone(), why)))
            .collect();
        Planner {
            profile,
            codes,
            new_entries,
            identities,
            identifiers: PatientCache::new(),
            study_dates_searched,
            repairs: HashMap::default(),
            links: None,
            xml_owner: BTreeMap::new(),
            xml_contexts: BTreeMap::new(),
            unassigned_xml: Vec::new(),
            replacer,
            secret: std::sync::Arc::new(key.secret()),
            offsets,
            date_replacers: PatientCache::new(),
            dests: std::collections::HashMap::new(),
            dest_dirs: std::collections::HashMap::new(),
            dest_warnings: std::collections::HashMap::new(),
            dest_names: std::collections::HashMap::new(),
            shared_series,
            code_conflicts: code_conflicts(index, key),
            pseudonymised,
            recode: false,
            overwrite: false,
            accept_burned_in: false,
            shard: None,
        }
    }

    pub fn code(&self, patient_id: &str) -> Option<&str> {
        self.codes.get(patient_id).map(String::as_str)
    }

    /// The patient's date offset in days, when the profile shifts dates.
    pub fn offset(&self, patient_id: &str) -> Option<i32> {
        self.offsets.get(patient_id).map(|(d, _)| *d)
    }

    /// The patient's offset, and whether their studies' dates move by it.
    pub fn shifted(&self, patient_id: &str) -> Option<crate::matcher::Shifted> {
        self.offset(patient_id).map(|days| crate::matcher::Shifted {
            days,
            birth_date: self.profile.action_for(tags::PATIENT_BIRTH_DATE) == Some(&Action::Shift),
            study_dates: self.profile.shifts_study_dates(),
        })
    }

    /// A text with the identifiers and the owner's moving dates (`own`, from
    /// [`Planner::own_dates`]) in it replaced ([`crate::matcher::owner_first`]), or `None` when
    /// it holds none.
    fn cleaned(&self, own: Option<&crate::matcher::Replacer>, text: &str) -> Option<String> {
        crate::matcher::replace_hits(
            text,
            &crate::matcher::owner_first(&self.replacer, own, text, Vec::new()),
        )
    }

    /// Whether a text names any patient of the cohort (a DICOMDIR's file-set ID, say).
    #[must_use]
    pub fn names_anyone(&self, text: &str) -> bool {
        !text.trim().is_empty() && self.cleaned(None, text).is_some()
    }

    /// The search for the patient's own dates that move by their offset, when they move.
    fn own_dates(&self, patient_id: &str) -> Option<std::sync::Arc<Option<crate::matcher::Replacer>>> {
        let shifted = self.shifted(patient_id)?;
        self.date_replacers.get(patient_id, || {
            let pats = crate::matcher::own_date_patterns(self.identities.get(patient_id)?, shifted);
            Some((!pats.is_empty()).then(|| crate::matcher::Replacer::new(pats)))
        })
    }

    /// Offsets used by this plan that the key store does not hold yet, by patient key: apply
    /// records them before the first file is written (any patient's dates may be written, in
    /// another's text), so every later run shifts the same way.
    pub fn new_offsets(&self) -> Vec<(String, i32)> {
        self.offsets
            .iter()
            .filter(|(_, (_, stored))| !stored)
            .map(|(p, (d, _))| (p.clone(), *d))
            .collect()
    }

    /// Why the patient's input looks like dams output already (giving it a code would code a
    /// code), if it does.
    pub fn looks_pseudonymised(&self, patient_id: &str) -> Option<&str> {
        self.pseudonymised.get(patient_id).map(String::as_str)
    }

    /// The patients whose input looks like dams output already.
    pub fn pseudonymised_patients(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pseudonymised.iter().map(|(p, w)| (p.as_str(), w.as_str()))
    }

    /// Where a file (relative to the input) goes, relative to the output: the same path, with
    /// identifiers of the file's own patient in folder and file names replaced by the code
    /// (see [`Planner::settle_dests`]).
    pub fn dest(&self, rel: &Path) -> PathBuf {
        self.dests.get(rel).cloned().unwrap_or_else(|| rel.to_path_buf())
    }

    /// The UID an original UID of attribute `tag` has in the output: derived from it and the
    /// key's secret when the profile replaces that attribute's UIDs, else the same.
    pub fn output_uid(&self, tag: crate::dicom::Tag, original: &str) -> String {
        if self.profile.replaces_uid(tag) && !original.is_empty() {
            uid::derive(&self.secret, original)
        } else {
            original.to_string()
        }
    }

    /// Where a folder of the input (relative) is in the output.
    pub fn dest_folder(&self, rel: &Path) -> PathBuf {
        self.dest_dirs.get(rel).cloned().unwrap_or_else(|| rel.to_path_buf())
    }

    /// Why a file's output path still holds an identifier, if it does.
    pub fn dest_warning(&self, rel: &Path) -> Option<&str> {
        self.dest_warnings.get(rel).map(String::as_str)
    }

    /// A file or folder name with the identifiers of patient `pid` replaced (`None`: none in
    /// it). A name that is not UTF-8 (Latin-1 from a Windows share) is searched in its lossy
    /// form: when it holds an identifier, the output name is the replaced lossy text (U+FFFD
    /// where bytes were invalid), so that no identifier survives in a path.
    fn renamed_component(rules: &PathRules, name: &std::ffi::OsStr, is_file: bool) -> Option<String> {
        let text = name.to_string_lossy();
        let (stem, ext) = match (is_file, text.rfind('.')) {
            (true, Some(dot)) if dot > 0 => (&text[..dot], &text[dot..]),
            _ => (&text[..], ""),
        };
        if rules.exact.iter().any(|id| *id == stem.trim().to_uppercase()) {
            return Some(format!("{}{ext}", rules.code));
        }
        rules.replacer.replace(&text)
    }

    /// What of one patient's identifiers is replaced in file and folder names
    /// ([`crate::matcher::path_patterns`]); built while the output paths are decided and
    /// dropped after, one patient at a time (a cohort's worth would take tens of KiB each).
    fn path_rules(&self, p: &crate::scan::Patient) -> Option<PathRules> {
        let code = self.code(&p.patient_id)?;
        Some(PathRules {
            code: code.to_string(),
            replacer: crate::matcher::Replacer::new(crate::matcher::path_patterns_shifting(
                code,
                &p.identity,
                self.shifted(&p.patient_id),
            )),
            exact: crate::matcher::exact_path_ids(&p.identity)
                .into_iter()
                .map(|id| id.to_uppercase())
                .collect(),
        })
    }

    /// Decides every output path at once. A folder or file name is rewritten only with the
    /// identifiers of the patient whose files it holds, and only those specific enough to be
    /// theirs ([`crate::matcher::path_patterns`]): a folder holding several patients' files
    /// keeps its name (with a warning when it names one of them), so that no path ever carries
    /// another patient's code. Two inputs never get the same output: later ones (in path
    /// order) get `~2`, `~3` before their extension.
    fn settle_dests(&mut self, index: &Index) {
        let d = self.decide_dests(index);
        self.dests = d.files;
        self.dest_dirs = d.dirs;
        self.dest_warnings = d.warnings;
        self.dest_names = self.name_findings(index);
    }

    /// What the output path of each file (DICOM, and XML given to a patient) still holds of
    /// the patients' identifiers, by the rules verify checks names by
    /// ([`crate::residual::in_path`]): only the files with a finding. Each folder is
    /// searched once.
    fn name_findings(&self, index: &Index) -> HashMap<PathBuf, crate::residual::NameFindings> {
        use crate::residual::{NameFindings, name_element, names_hits};
        let owned = self.owned_paths(index);
        // Each distinct name (of a file, of a folder) is searched once; the output paths are
        // worked out again below rather than held (a path each, issue 17).
        let mut at: [HashMap<std::ffi::OsString, usize>; 2] = [HashMap::new(), HashMap::new()];
        let mut names: Vec<(std::ffi::OsString, bool)> = Vec::new();
        for (rel, _) in &owned {
            let dest = self.dest(rel);
            let n = dest.iter().count();
            for (k, part) in dest.iter().enumerate() {
                let is_file = k + 1 == n;
                if !at[usize::from(is_file)].contains_key(part) {
                    at[usize::from(is_file)].insert(part.to_os_string(), names.len());
                    names.push((part.to_os_string(), is_file));
                }
            }
        }
        let identities: Vec<&crate::identity::Identity> = index.patients.iter().map(|p| &*p.identity).collect();
        let refs: Vec<(&std::ffi::OsStr, bool)> = names.iter().map(|(n, f)| (n.as_os_str(), *f)).collect();
        let hits = names_hits(&refs, &identities, self.profile.shifts_study_dates());
        drop(refs);
        let mut out = HashMap::new();
        for (rel, _) in &owned {
            let dest = self.dest(rel);
            let n = dest.iter().count();
            let mut found = NameFindings::default();
            for (k, part) in dest.iter().enumerate() {
                let i = at[usize::from(k + 1 == n)][part];
                for &(identifier, replaced) in &hits[i] {
                    let r = Residual {
                        path: dest.clone(),
                        element: name_element(&dest, k),
                        keyword: "path".into(),
                        identifier,
                    };
                    if replaced {
                        found.residual.push(r);
                    } else {
                        found.kept.push(r);
                    }
                }
            }
            if !found.is_empty() {
                out.insert(rel.to_path_buf(), found);
            }
        }
        out
    }

    /// The output paths of [`Planner::settle_dests`].
    fn decide_dests(&self, index: &Index) -> Dests {
        let owned = self.owned_paths(index);
        let folders = folder_owners(&owned);
        let renames = self.renamed_names(index, &owned, &folders);
        let mut d = Dests::default();
        // dams' own files at the top of the output folder (mapping tables, manifest, send
        // log) are never an input's output name: such an input gets `~2` like any collision.
        let own: Vec<PathBuf> = crate::manifest::OWN_FILES.iter().map(PathBuf::from).collect();
        let mut taken: std::collections::HashSet<PathBuf> = own.iter().cloned().collect();
        for (rel, pid) in &owned {
            let first = self.renamed_path(rel, pid, &folders, renames.get(rel), &mut d);
            let dest = unique_dest(&first, &mut taken);
            if own.contains(&first) {
                d.warnings.insert(
                    rel.to_path_buf(),
                    format!(
                        "written as {} in the output: {} is the name of dams' own table there",
                        crate::shown::path(&dest),
                        crate::shown::path(&first)
                    ),
                );
            }
            if dest != *rel {
                d.files.insert(rel.to_path_buf(), dest);
            }
        }
        d
    }

    /// Every file with a patient (DICOM files, and XML files given to one) and that patient,
    /// in path order.
    fn owned_paths<'a>(&'a self, index: &'a Index) -> Vec<(&'a Path, &'a str)> {
        let mut owned: Vec<(&Path, &str)> = index
            .patients
            .iter()
            .flat_map(|p| p.instances().map(move |i| (i.path.as_path(), p.patient_id.as_str())))
            .collect();
        owned.extend(
            index
                .xml
                .iter()
                .filter_map(|x| self.xml_owner.get(&x.path).map(|(p, _)| (x.path.as_path(), p.as_str()))),
        );
        owned.sort();
        owned
    }

    /// Each file's names as its own patient's rules have them (`None`: kept), for the files
    /// with a name to change; patient by patient on every core, each patient's rules dropped
    /// when their files are done.
    fn renamed_names<'a>(
        &self,
        index: &Index,
        owned: &[(&'a Path, &'a str)],
        folders: &HashMap<&Path, Option<&str>>,
    ) -> HashMap<&'a Path, Vec<Option<String>>> {
        use rayon::prelude::*;
        let mut by_patient: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
        for (rel, pid) in owned {
            by_patient.entry(pid).or_default().push(rel);
        }
        by_patient
            .into_par_iter()
            .flat_map_iter(|(pid, files)| {
                let rules = index.patient(pid).and_then(|p| self.path_rules(p));
                files
                    .into_iter()
                    .filter_map(|rel| {
                        let rules = rules.as_ref()?;
                        let parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
                        let mut prefix = PathBuf::new();
                        let names: Vec<Option<String>> = parts
                            .iter()
                            .enumerate()
                            .map(|(k, part)| {
                                prefix.push(part);
                                let is_file = k + 1 == parts.len();
                                let own = is_file || folders.get(prefix.as_path()).copied().flatten() == Some(pid);
                                own.then(|| Planner::renamed_component(rules, part, is_file)).flatten()
                            })
                            .collect();
                        names.iter().any(Option::is_some).then_some((rel, names))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The path of `rel` with its renamed names (`names`, from [`Planner::renamed_names`]);
    /// notes renamed folders, and folders of several patients that keep a name holding an
    /// identifier, in `d`.
    fn renamed_path(
        &self,
        rel: &Path,
        pid: &str,
        folders: &HashMap<&Path, Option<&str>>,
        names: Option<&Vec<Option<String>>>,
        d: &mut Dests,
    ) -> PathBuf {
        let parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
        let mut first = PathBuf::new();
        let mut prefix = PathBuf::new();
        for (k, part) in parts.iter().enumerate() {
            prefix.push(part);
            let is_file = k + 1 == parts.len();
            let own = is_file || folders.get(prefix.as_path()).copied().flatten() == Some(pid);
            if let Some(new) = names.and_then(|n| n[k].as_ref()) {
                first.push(new)
            } else {
                if !own && self.replacer.replace(&part.to_string_lossy()).is_some() {
                    d.warnings.insert(
                        rel.to_path_buf(),
                        format!(
                            "the folder name {} holds a patient identifier, but the folder holds several patients' files: its name is kept",
                            prefix.display()
                        ),
                    );
                }
                first.push(part);
            }
            if !is_file && first != prefix {
                d.dirs.entry(prefix.clone()).or_insert_with(|| first.clone());
            }
        }
        first
    }

    /// The patient of an XML file, and how it was decided; `None` while unassigned.
    pub fn xml_owner(&self, rel: &Path) -> Option<(&str, &str)> {
        self.xml_owner.get(rel).map(|(p, by)| (p.as_str(), by.as_str()))
    }

    /// Reads and plans an XML file of an assigned patient.
    ///
    /// # Errors
    ///
    /// `FileError` when the file cannot be read or parsed, or its rewrite cannot be planned.
    pub fn plan_xml(
        &self,
        root: &Path,
        x: &crate::scan::XmlFile,
    ) -> Result<(crate::xml::Source, XmlFilePlan), FileError> {
        let fail = |reason: String| FileError {
            path: x.path.clone(),
            reason,
        };
        let (pid, by) = self
            .xml_owner(&x.path)
            .ok_or_else(|| fail("not assigned to a patient".into()))?;
        let ctx = self
            .xml_contexts
            .get(pid)
            .ok_or_else(|| fail("internal: the patient has no code".into()))?;
        if !crate::paths::plain_relative(&x.path) {
            return Err(fail("refused: not a plain path inside the input folder".into()));
        }
        let meta = std::fs::metadata(root.join(&x.path)).map_err(|e| fail(format!("cannot read: {e}")))?;
        if meta.len() != x.size || (x.modified.is_some() && meta.modified().ok() != x.modified) {
            return Err(fail("the file changed since it was scanned; scan again".into()));
        }
        // A large file is mapped, and its pages are given back as the walk passes them.
        let bytes = crate::xml::Source::open(&root.join(&x.path)).map_err(|e| fail(format!("cannot read: {e}")))?;
        if bytes.len() as u64 != x.size {
            return Err(fail("the file changed since it was scanned; scan again".into()));
        }
        let mut plan =
            crate::xml::plan_source(&bytes, &self.profile.xml, ctx).map_err(|e| fail(format!("XML: {e}")))?;
        if let Some(w) = self.dest_warning(&x.path) {
            plan.warnings.push(w.to_string());
        }
        let names = self.dest_names.get(&x.path).cloned().unwrap_or_default();
        let fp = XmlFilePlan {
            source: x.path.clone(),
            dest: self.dest(&x.path),
            assigned_by: by.to_string(),
            plan,
            residual: names.residual,
            kept: names.kept,
        };
        Ok((bytes, fp))
    }

    /// The repair planned for a file, if any.
    pub fn repair(&self, rel: &Path) -> Option<&Repair> {
        self.repairs.get(rel)
    }

    pub fn is_new(&self, patient_id: &str) -> bool {
        self.new_entries.iter().any(|e| e.patient_id == patient_id)
    }

    /// Reads the file and plans it.
    ///
    /// # Errors
    ///
    /// `FileError` when the file cannot be read or parsed, or its edits cannot be planned.
    pub fn plan_file(&self, root: &Path, inst: &Instance, patient_id: &str) -> Result<(Parsed, FilePlan), FileError> {
        self.plan_instance(root, inst, patient_id, Mode::Review)
            .map(|p| (p.parsed, p.plan))
    }

    /// Reads a file of the Index again, checks that it is still the file that was scanned,
    /// and plans it. The file's metadata comes along (its mode is kept on output).
    ///
    /// # Errors
    ///
    /// `FileError` when the file cannot be read, changed since the scan, needs an approval it
    /// lacks, or its edits cannot be planned.
    pub fn plan_instance(
        &self,
        root: &Path,
        inst: &Instance,
        patient_id: &str,
        mode: Mode,
    ) -> Result<PlannedFile, FileError> {
        let fail = |reason: String| FileError {
            path: inst.path.clone(),
            reason,
        };
        if !crate::paths::plain_relative(&inst.path) {
            return Err(fail("refused: not a plain path inside the input folder".into()));
        }
        let (parsed, meta) =
            crate::dicom::parse::parse_file_meta(&root.join(&inst.path)).map_err(|e| fail(e.to_string()))?;
        if meta.len() != inst.size || (inst.modified.is_some() && meta.modified().ok() != inst.modified) {
            return Err(fail("the file changed since it was scanned; scan again".into()));
        }
        // Size and time can stay the same while the content changes (a copy that kept the old
        // time): the file must still be the instance, of the patient, that was scanned.
        let now = |tag| parsed.top_string(tag).unwrap_or_default();
        let pid = now(tags::PATIENT_ID);
        if now(tags::SOP_INSTANCE_UID) != inst.sop_instance_uid || !(pid.trim().is_empty() || pid == patient_id) {
            return Err(fail("the file changed since it was scanned; scan again".into()));
        }
        if self.profile.annex_e.is_some()
            && !self.accept_burned_in
            && let Some(why) = self.may_show_identifiers(inst)
        {
            return Err(fail(format!(
                "not written: it {why}, and the Basic Profile writes such images only when approved in review (one patient at a time) or with --accept-burned-in"
            )));
        }
        if let Some(g) = self.undecided_group(&inst.path) {
            let proposed = g
                .proposed
                .as_ref()
                .map(|s| format!(" (the most of them reference {}/)", s.folder.display()))
                .unwrap_or_default();
            return Err(fail(format!(
                "not written: its {} {}/ is ambiguous: its files reference different CT series{proposed}; choose its source in the review screen's masks pane or with `dams map --set GROUP=SERIES`",
                g.kind.label(),
                g.folder.display()
            )));
        }
        let mut plan = self.plan_parsed_with(&parsed, &inst.path, patient_id, mode == Mode::Review)?;
        if let Some(how) = inst.placed_by {
            plan.warnings
                .push(format!("the file has no PatientID: {}", how.reason()));
            let code = self.code(patient_id).unwrap_or_default();
            insert_patient(&self.profile, &parsed, code, &mut plan).map_err(fail)?;
        }
        if self.shared_series.contains(&inst.path) {
            plan.warnings.push(
                "its series (SeriesInstanceUID) holds files of another patient too: check that they belong together"
                    .into(),
            );
        }
        if let Some(w) = self.dest_warning(&inst.path) {
            plan.warnings.push(w.to_string());
        }
        if let Some(n) = self.dest_names.get(&inst.path) {
            plan.residual.extend(n.residual.iter().cloned());
            plan.kept.extend(n.kept.iter().cloned());
        }
        Ok(PlannedFile { parsed, meta, plan })
    }

    /// Plans an already parsed file.
    ///
    /// # Errors
    ///
    /// `FileError` when the patient has no code or a new value cannot be encoded in the file.
    pub fn plan_parsed(&self, parsed: &Parsed, rel: &Path, patient_id: &str) -> Result<FilePlan, FileError> {
        self.plan_parsed_with(parsed, rel, patient_id, true)
    }

    /// [`Planner::plan_parsed`]; without `residual` the search for identifiers the profile
    /// leaves is skipped (writing needs the edits only; plans and verify show the search).
    ///
    /// # Errors
    ///
    /// `FileError` when the patient has no code or a new value cannot be encoded in the file.
    pub fn plan_parsed_with(
        &self,
        parsed: &Parsed,
        rel: &Path,
        patient_id: &str,
        residual: bool,
    ) -> Result<FilePlan, FileError> {
        let fail = |reason: String| FileError {
            path: rel.to_path_buf(),
            reason,
        };
        let code = self
            .code(patient_id)
            .ok_or_else(|| fail("internal: the patient has no code".into()))?;
        // The patient's own moving dates, looked up once per file (not per element).
        let own = self.own_dates(patient_id);
        let file = FileInPlan {
            parsed,
            patient_id,
            code,
            own: own.as_deref().and_then(Option::as_ref),
        };
        let mut warnings = copies_dropped(parsed);
        let (mut edits, replaced) = self.plan_elements(&file, &mut warnings).map_err(fail)?;
        let mut inserts = Vec::new();
        if let Some(a) = &self.profile.annex_e {
            plan_deidentified(parsed, a, &mut edits, &mut inserts).map_err(fail)?;
        }
        let clear_preamble = match self.preamble_edit(parsed) {
            Some(edit) => {
                edits.insert(0, edit);
                true
            }
            None => false,
        };
        if let Some(r) = self.repairs.get(rel) {
            self.plan_repair(parsed, r, &mut edits, &mut inserts).map_err(fail)?;
        }
        let file_meta = match part10::file_meta(parsed, &edits).map_err(fail)? {
            Some((edit, meta)) => {
                edits.insert(0, edit);
                meta
            }
            None => Vec::new(),
        };
        let residual = if residual {
            self.residual_left(&file, rel, &edits, &replaced, &mut warnings)
        } else {
            Vec::new()
        };
        Ok(FilePlan {
            source: rel.to_path_buf(),
            dest: self.dest(rel),
            edits,
            warnings,
            residual,
            kept: Vec::new(),
            inserts,
            clear_preamble,
            file_meta,
        })
    }

    /// The edits of the file's elements by the profile's rules and the `[clean]` pass, and
    /// which elements go with their whole value (removed, or a sequence emptied): elements
    /// inside those need no edit of their own (they are not written at all).
    fn plan_elements(&self, file: &FileInPlan, warnings: &mut Vec<String>) -> Result<(Vec<Edit>, Vec<bool>), String> {
        let parsed = file.parsed;
        let mut edits = Vec::new();
        let mut replaced = vec![false; parsed.elements.len()];
        // A copy of an earlier element is not written (dicom::rewrite drops it): nothing in
        // it is edited.
        for &c in parsed.copies() {
            replaced[c] = true;
        }
        let mut creators = None;
        let mut dummied = vec![false; parsed.elements.len()];
        for (i, e) in parsed.elements.iter().enumerate() {
            if e.tag.1 == 0x0000 || replaced[i] || parsed.within(i, &replaced) {
                continue;
            }
            let action = self.element_action(file, i, e, &mut creators);
            let Some(action) = conform::fitted(&self.profile, parsed, i, e, action, &mut dummied) else {
                continue;
            };
            if let Some(edit) = self.plan_element(file, i, e, &action, &mut replaced, warnings)? {
                edits.push(edit);
            }
        }
        Ok((edits, replaced))
    }

    /// The action of element `i`: its rule (a private element's by its creator under the
    /// Basic Profile); with none, `Clean` for free text that names a patient.
    fn element_action(
        &self,
        file: &FileInPlan,
        i: usize,
        e: &Element,
        creators: &mut Option<HashMap<(u32, Tag), usize>>,
    ) -> Option<Action> {
        let parsed = file.parsed;
        let ruled = if e.tag.0 % 2 == 1 {
            match (self.profile.rule(e.tag), &self.profile.annex_e) {
                (Some(r), _) => Some(r.action.clone()),
                (None, Some(a)) => {
                    let creators = creators.get_or_insert_with(|| private_creators(parsed));
                    Some(a.private_action(e.tag, private_creator(parsed, creators, i).as_deref()))
                }
                (None, None) => None,
            }
        } else {
            self.profile.action_for(e.tag).cloned()
        };
        // No rule: free text is still cleaned of every patient's identifiers.
        match ruled {
            Some(a) => Some(a),
            None if self.profile.clean_dicom && self.holds_identifier(parsed, e, file.own) => Some(Action::Clean),
            None => None,
        }
    }

    /// The edit `action` makes of element `i` (`None`: the element stays as it is); marks in
    /// `replaced` an element that goes with its whole value.
    fn plan_element(
        &self,
        file: &FileInPlan,
        i: usize,
        e: &Element,
        action: &Action,
        replaced: &mut [bool],
        warnings: &mut Vec<String>,
    ) -> Result<Option<Edit>, String> {
        if *action == Action::Keep {
            return Ok(None);
        }
        let parsed = file.parsed;
        let vr = e.value_vr();
        let at = ElementAt {
            i,
            e,
            vr,
            is_text: e.kind == ElementKind::Value && (text::is_text_vr(vr) || vr == VR::UN),
        };
        let before = match e.kind {
            ElementKind::Value if vr == VR::UN && *action == Action::Clean => {
                parsed.value(e).and_then(|v| un_text(v, &parsed.charset))
            }
            ElementKind::Value => parsed.value(e).map(|v| text::decode(v, vr, &parsed.charset, e.enc)),
            ElementKind::Sequence => Some(format!("<sequence of {} items>", parsed.items_of(i).count())),
            ElementKind::Bulk | ElementKind::Encapsulated => Some(format!("<{} bytes>", e.value_len())),
        };
        let Some((after, raw)) = self.new_value(file, &at, action, before.as_deref(), warnings) else {
            return Ok(None);
        };
        let Some(change) = new_change(parsed, &at, after.as_deref(), raw, before.as_deref(), replaced)? else {
            return Ok(None);
        };
        Ok(Some(Edit {
            path: parsed.path(i),
            tag: tag_string(e.tag),
            keyword: dict::display_name(e.tag).to_string(),
            before,
            after,
            rule: action.rule(),
            element: i,
            change,
        }))
    }

    /// The new value `action` gives an element whose value is `before`: as text (`None`:
    /// removed), with the raw bytes of a binary dummy. `None` when the action leaves it.
    fn new_value(
        &self,
        file: &FileInPlan,
        at: &ElementAt,
        action: &Action,
        before: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Option<(Option<String>, Option<Vec<u8>>)> {
        let (parsed, e, vr, is_text) = (file.parsed, at.e, at.vr, at.is_text);
        let not_a_date = |instead: &str| {
            format!(
                "{} ({}) is not a date; it is emptied instead of {instead}",
                parsed.path(at.i),
                dict::display_name(e.tag)
            )
        };
        Some(match action {
            Action::Keep => return None,
            Action::Remove => (None, None),
            Action::Empty => (Some(String::new()), None),
            Action::Code => (Some(file.code.to_string()), None),
            Action::Replace(s) => (Some(s.clone()), None),
            Action::KeepYear => {
                let old = before.unwrap_or_default();
                if old.is_empty() || !is_text {
                    return None;
                }
                let masked: Option<Vec<String>> = old.split('\\').map(dates::keep_year).collect();
                if let Some(parts) = masked {
                    (Some(parts.join("\\")), None)
                } else {
                    warnings.push(not_a_date("keeping its year"));
                    (Some(String::new()), None)
                }
            }
            Action::Shift => {
                let old = before.unwrap_or_default();
                if old.trim().is_empty() || !is_text {
                    return None;
                }
                let days = self.offset(file.patient_id)?;
                if let Some(moved) = shifted_values(old, vr, days) {
                    (Some(moved), None)
                } else {
                    warnings.push(not_a_date("shifted"));
                    (Some(String::new()), None)
                }
            }
            Action::Dummy => match e.kind {
                ElementKind::Value if is_text => (Some(dummy_text(vr).to_string()), None),
                ElementKind::Value => {
                    let n = e.length as usize;
                    (Some(format!("<{n} zero bytes>")), Some(vec![0u8; n]))
                }
                ElementKind::Sequence => (Some(String::new()), None),
                ElementKind::Bulk | ElementKind::Encapsulated => (None, None),
            },
            Action::Clean => {
                let old = before.filter(|_| is_text)?;
                let cleaned = self.cleaned(file.own, old)?;
                let others = self.others_named(old, file.code);
                if !others.is_empty() {
                    warnings.push(format!(
                        "{} ({}) names another patient of this batch; replaced by their code {}",
                        parsed.path(at.i),
                        dict::display_name(e.tag),
                        others.join(", ")
                    ));
                }
                (Some(cleaned), None)
            }
            Action::Uid => {
                let old = before.filter(|o| is_text && !o.is_empty())?;
                // The rule asked for it: derived whatever other attributes do.
                let mapped: Vec<String> = old
                    .split('\\')
                    .map(|u| match u.trim() {
                        "" => String::new(),
                        u => uid::derive(&self.secret, u),
                    })
                    .collect();
                (Some(mapped.join("\\")), None)
            }
        })
    }

    /// The edit that zeroes the preamble, when it holds anything. The preamble is free for
    /// applications (PS3.10 7.1) and may hold anything, a name included: zeroed under every
    /// profile, unless it is the header of a dual-personality TIFF file, which would break.
    fn preamble_edit(&self, parsed: &Parsed) -> Option<Edit> {
        if !parsed.layout.preamble {
            return None;
        }
        let b = parsed.source.loaded(0, 128)?;
        if !b.iter().any(|&x| x != 0) || is_tiff_header(b) {
            return None;
        }
        Some(Edit {
            path: "preamble".into(),
            tag: String::new(),
            keyword: "FilePreamble".into(),
            before: Some("<128 bytes of another application's data>".into()),
            after: Some("<128 zero bytes>".into()),
            rule: if self.profile.annex_e.is_some() {
                RuleKind::Basic
            } else {
                RuleKind::Clean
            },
            element: PREAMBLE,
            change: Change::Remove,
        })
    }

    /// The patient's identifiers the plan leaves in the file. What is edited, and what is
    /// inside a removed or replaced sequence, is not left in the output.
    fn residual_left(
        &self,
        file: &FileInPlan,
        rel: &Path,
        edits: &[Edit],
        replaced: &[bool],
        warnings: &mut Vec<String>,
    ) -> Vec<Residual> {
        let parsed = file.parsed;
        let Some(ids) = self.identifiers.get(file.patient_id, || {
            let who = self.identities.get(file.patient_id)?;
            Some(Identifiers::with_dates(who, self.study_dates_searched))
        }) else {
            return Vec::new();
        };
        let mut edited: Vec<usize> = edits.iter().map(|e| e.element).collect();
        edited.extend_from_slice(parsed.copies());
        if replaced.contains(&true) {
            edited.extend((0..parsed.elements.len()).filter(|&i| parsed.within(i, replaced)));
        }
        edited.sort_unstable();
        edited.dedup();
        residual_noting(parsed, rel, &ids, &edited, warnings)
    }

    /// Whether an element no rule covers is free text (or a private value that holds text)
    /// naming one of the patients: the values the `[clean] dicom` search rewrites. Codes,
    /// dates, times, numbers and UIDs are left alone (a patient ID `100` must not turn a
    /// `SeriesNumber` into a code, nor another patient's birth date a `StudyDate`); what the
    /// matcher finds there is reported as residual instead. Plain ASCII values are searched
    /// as they are, without decoding.
    fn holds_identifier(&self, parsed: &Parsed, e: &Element, own: Option<&crate::matcher::Replacer>) -> bool {
        if e.kind != ElementKind::Value {
            return false;
        }
        let Some(v) = parsed.value(e).filter(|v| !v.is_empty()) else {
            return false;
        };
        let vr = e.value_vr();
        let found = |t: &str| !self.replacer.matches(t).is_empty() || own.is_some_and(|o| !o.matches(t).is_empty());
        match vr {
            VR::AE | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UR | VR::UT => {
                match std::str::from_utf8(v).ok().filter(|t| t.is_ascii()) {
                    Some(t) => found(t),
                    None => found(&text::decode(v, vr, &parsed.charset, e.enc)),
                }
            }
            VR::UN => un_text(v, &parsed.charset).is_some_and(|t| found(&t)),
            _ => false,
        }
    }

    /// The segmentation object of this file when it is ambiguous and nobody has chosen its
    /// source: its files are not written until someone does (a mask written with a wrong
    /// source is joined to the wrong images later).
    #[must_use]
    pub fn undecided_group(&self, rel: &Path) -> Option<&crate::link::SegmentationGroup> {
        let links = self.links.as_deref()?;
        let g = links.group(&links.file(rel)?.group)?;
        g.needs_decision().then_some(g)
    }

    /// Why this image may show identifiers in its pixels ([`Instance::may_show_identifiers`]),
    /// unless the mapping knows it as a mask or segmentation: tools write per-slice masks as
    /// secondary captures, and a label image holds no text.
    pub fn may_show_identifiers(&self, inst: &Instance) -> Option<&'static str> {
        let why = inst.may_show_identifiers()?;
        let mask = self.links.as_deref().is_some_and(|l| l.file(&inst.path).is_some());
        (!mask || inst.image.burned_in_annotation).then_some(why)
    }

    /// Whether `s` is one of the batch's patient codes (and not, say, a masked date).
    fn is_code(&self, s: &str) -> bool {
        self.codes.values().any(|c| c == s)
    }

    /// The codes of the other patients whose identifiers `text` holds (sorted, once each).
    fn others_named(&self, text: &str, own: &str) -> Vec<String> {
        let mut others: Vec<String> = self
            .replacer
            .matches(text)
            .into_iter()
            .map(|(_, by)| by)
            .filter(|by| *by != own && self.is_code(by))
            .map(str::to_string)
            .collect();
        others.sort();
        others.dedup();
        others
    }

    /// The edits of a mask repair. They win over a profile rule on the same element.
    fn plan_repair(
        &self,
        parsed: &Parsed,
        r: &Repair,
        edits: &mut Vec<Edit>,
        inserts: &mut Vec<Insert>,
    ) -> Result<(), String> {
        let targets = [
            (tags::MEDIA_STORAGE_SOP_INSTANCE_UID, VR::UI, r.sop_instance_uid.clone()),
            (tags::SOP_INSTANCE_UID, VR::UI, r.sop_instance_uid.clone()),
            (tags::SERIES_INSTANCE_UID, VR::UI, r.series_instance_uid.clone()),
            (tags::SERIES_NUMBER, VR::IS, r.series_number.to_string()),
            (tags::INSTANCE_NUMBER, VR::IS, r.instance_number.to_string()),
        ];
        for (tag, vr, value) in targets {
            let found = parsed.elements.iter().position(|e| e.parent == TOP && e.tag == tag);
            edits.retain(|e| Some(e.element) != found);
            let bytes = text::encode(&value, vr, &parsed.charset)?;
            let keyword = dict::display_name(tag).to_string();
            match found {
                Some(i) => {
                    let e = &parsed.elements[i];
                    if parsed.value(e) == Some(&bytes[..]) {
                        continue;
                    }
                    let before = parsed
                        .value(e)
                        .map(|v| text::decode(v, e.value_vr(), &parsed.charset, e.enc));
                    edits.push(Edit {
                        path: parsed.path(i),
                        tag: tag_string(tag),
                        keyword,
                        before,
                        after: Some(value),
                        rule: RuleKind::Repair,
                        element: i,
                        change: Change::Set(bytes),
                    });
                }
                // Adding to the file meta group is not done: a file without meta has none.
                None if tag.0 == 0x0002 => {}
                None => {
                    inserts.push(Insert {
                        tag,
                        vr,
                        value: bytes.clone(),
                    });
                    edits.push(Edit {
                        path: tag_string(tag),
                        tag: tag_string(tag),
                        keyword,
                        before: None,
                        after: Some(value),
                        rule: RuleKind::Repair,
                        element: INSERTED,
                        change: Change::Set(bytes),
                    });
                }
            }
        }
        edits.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(())
    }

    /// The element changes to hand to the rewriter.
    #[must_use]
    pub fn changes(plan: &FilePlan) -> Vec<(usize, Change)> {
        plan.edits
            .iter()
            .filter(|e| e.element != INSERTED && e.element != PREAMBLE && e.element != FILE_META)
            .map(|e| (e.element, e.change.clone()))
            .collect()
    }

    /// The elements to add.
    #[must_use]
    pub fn inserts(plan: &FilePlan) -> &[Insert] {
        &plan.inserts
    }

    /// The file meta group to write a file without one with (empty when it has one).
    #[must_use]
    pub fn file_meta(plan: &FilePlan) -> &[Insert] {
        &plan.file_meta
    }
}

/// The warning for each element that repeats an earlier one of its data set byte for byte
/// (one inside such a copy goes with it and is not named).
fn copies_dropped(parsed: &Parsed) -> Vec<String> {
    // A hostile file of many repeats is said as the first few and a count (40,000 doubled
    // elements gave 40,000 warnings).
    const SAID: usize = 10;
    let copies: Vec<usize> = parsed
        .copies()
        .iter()
        .copied()
        .filter(|&c| {
            let parent = parsed.elements[c].parent;
            parent == TOP || !parsed.in_copy(parsed.items[parent as usize].parent as usize)
        })
        .collect();
    let mut said: Vec<String> = copies
        .iter()
        .take(SAID)
        .map(|&c| {
            format!(
                "{} ({}) appears twice in its data set, byte for byte the same: the first is read, the second is not written",
                parsed.path(c),
                dict::display_name(parsed.elements[c].tag)
            )
        })
        .collect();
    if copies.len() > SAID {
        said.push(format!(
            "and {} more elements appear twice, byte for byte the same (the second of each is not written)",
            copies.len() - SAID
        ));
    }
    said
}

/// What the XML files lose besides the patients' identifiers, so that they say no more than
/// the DICOM beside them: under a profile that remaps UIDs, every study's, series' and frame
/// of reference's UID becomes the UID the images get; under one that changes `AccessionNumber`
/// or `ReferringPhysicianName`, their values are removed too (accession numbers of four
/// characters or more, physicians by whole name: a short number or a name part alone would
/// be found in any text).
fn xml_reach(index: &Index, planner: &Planner) -> Vec<crate::matcher::Replacement> {
    use crate::matcher::{Reach, Replacement, name_forms};
    let mut out = Vec::new();
    let changes = |tag| {
        !matches!(
            planner.profile.action_for(tag),
            None | Some(Action::Keep | Action::Clean)
        )
    };
    for p in &index.patients {
        for study in &p.studies {
            let mut uids = vec![(tags::STUDY_INSTANCE_UID, study.study_uid.clone())];
            for series in &study.series {
                uids.push((tags::SERIES_INSTANCE_UID, series.series_uid.clone()));
                for i in &series.instances {
                    uids.push((tags::FRAME_OF_REFERENCE_UID, i.frame_of_reference_uid.to_string()));
                }
            }
            uids.sort();
            uids.dedup();
            for (tag, uid) in uids {
                let uid = uid.trim_end_matches('\0').trim().to_string();
                let by = planner.output_uid(tag, &uid);
                if !uid.is_empty() && by != uid {
                    out.push(Replacement {
                        find: uid,
                        reach: Reach::Number,
                        by,
                    });
                }
            }
        }
        if changes(tags::ACCESSION_NUMBER) {
            for a in p
                .identity
                .accession_numbers
                .iter()
                .filter(|a| a.trim().chars().count() >= 4)
            {
                out.push(Replacement::word(a.trim(), ""));
            }
        }
        let whole_names = |n: &str| -> Vec<String> {
            name_forms(n)
                .into_iter()
                .filter(|f| f.split(['^', ' ', ',']).filter(|x| !x.is_empty()).count() >= 2)
                .collect()
        };
        if changes(tags::REFERRING_PHYSICIAN_NAME) {
            for n in &p.identity.physicians {
                for form in whole_names(n) {
                    out.push(Replacement::word(form, ""));
                }
            }
        }
        // Institution, station, operators, performing physicians, StudyID: as the DICOM's
        // rule has them (a replacement text where the rule gives one, else removed).
        for (tag, v) in p
            .identity
            .study_values
            .iter()
            .flat_map(|(t, vs)| vs.iter().map(move |v| (t, v)))
        {
            let action = planner.profile.action_for(*tag);
            if dict::vr_of(*tag) == Some(VR::DA) {
                // A study's date: every written form of it, as the DICOM's rule has it (a
                // shifted date is moved by the patient's offset, with the XML's other dates).
                let masked = match action {
                    None | Some(Action::Keep | Action::Clean | Action::Shift) => continue,
                    Some(Action::KeepYear) => dates::keep_year(v).map(|m| dates::date_forms(&m)),
                    Some(_) => None,
                };
                for (i, find, reach) in crate::matcher::study_date_forms(v) {
                    let by = masked.as_ref().and_then(|m| m.get(i).cloned()).unwrap_or_default();
                    out.push(Replacement { find, reach, by });
                }
                continue;
            }
            let by = match action {
                None | Some(Action::Keep | Action::Clean) => continue,
                Some(Action::Replace(s)) => s.clone(),
                Some(_) => String::new(),
            };
            let person = *tag == tags::OPERATORS_NAME || *tag == tags::PERFORMING_PHYSICIAN_NAME;
            if person {
                for form in whole_names(v) {
                    out.push(Replacement::word(form, by.clone()));
                }
            } else if v.chars().count() >= 4 {
                out.push(Replacement::word(v.clone(), by));
            }
        }
    }
    out
}

/// The output paths decided for the inputs ([`Planner::settle_dests`]).
#[derive(Default)]
struct Dests {
    /// Inputs written under another path than their own.
    files: HashMap<PathBuf, PathBuf>,
    /// Folders of the input renamed in the output.
    dirs: HashMap<PathBuf, PathBuf>,
    /// Why an output path still holds an identifier, or differs from the one planned.
    warnings: HashMap<PathBuf, String>,
}

/// Whose files each folder holds: one patient, or several (`None`).
fn folder_owners<'a>(owned: &[(&'a Path, &'a str)]) -> HashMap<&'a Path, Option<&'a str>> {
    let mut folders: HashMap<&Path, Option<&str>> = HashMap::new();
    for (rel, pid) in owned {
        for d in rel.ancestors().skip(1) {
            let o = folders.entry(d).or_insert(Some(pid));
            if *o != Some(*pid) {
                *o = None;
            }
        }
    }
    folders
}

/// `first`, or the first of `first~2`, `first~3`, … (before its extension) not yet taken;
/// taken from then on.
fn unique_dest(first: &Path, taken: &mut std::collections::HashSet<PathBuf>) -> PathBuf {
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = first
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let mut dest = first.to_path_buf();
    let mut n = 1;
    while !taken.insert(dest.clone()) {
        n += 1;
        dest = first.with_file_name(format!("{stem}~{n}{ext}"));
    }
    dest
}

/// One file being planned: what the edits of its elements are made from.
struct FileInPlan<'a> {
    parsed: &'a Parsed,
    patient_id: &'a str,
    code: &'a str,
    /// The search for the patient's own dates that move ([`Planner::own_dates`]).
    own: Option<&'a crate::matcher::Replacer>,
}

/// The element being planned: its index, the VR its value is read with, and whether that
/// value is text.
struct ElementAt<'e> {
    i: usize,
    e: &'e Element,
    vr: VR,
    is_text: bool,
}

/// Each of the values of `old` (backslash-separated) moved by `days` as its VR writes dates;
/// `None` when one is not a date.
fn shifted_values(old: &str, vr: VR, days: i32) -> Option<String> {
    let moved: Option<Vec<String>> = old
        .split('\\')
        .map(|v| {
            if v.trim().is_empty() {
                Some(String::new())
            } else if vr == VR::DT {
                shift::shift_dt(v, days)
            } else if vr == VR::DA {
                shift::shift_da(v, days)
            } else {
                shift::shift(v, days)
            }
        })
        .collect();
    moved.map(|parts| parts.join("\\"))
}

/// The change to the bytes of an element given the new value `after` (`None`: removed) or
/// the `raw` bytes of a binary dummy; `None` when the bytes stay as they are. Marks in
/// `replaced` an element that goes with its whole value.
fn new_change(
    parsed: &Parsed,
    at: &ElementAt,
    after: Option<&str>,
    raw: Option<Vec<u8>>,
    before: Option<&str>,
    replaced: &mut [bool],
) -> Result<Option<Change>, String> {
    let (i, e) = (at.i, at.e);
    let s = match (after, raw) {
        (None, _) => {
            replaced[i] = true;
            return Ok(Some(Change::Remove));
        }
        (Some(_), Some(bytes)) => return Ok(Some(Change::Set(bytes))),
        (Some(s), None) => s,
    };
    if e.kind != ElementKind::Value && !s.is_empty() {
        return Err(format!(
            "{} holds {} and cannot be given a text value",
            parsed.path(i),
            before.unwrap_or("data")
        ));
    }
    let enc_vr = if at.vr == VR::UN { e.vr } else { at.vr };
    let bytes = if s.is_empty() {
        Vec::new()
    } else {
        text::encode(s, enc_vr, &parsed.charset).map_err(|m| format!("{}: {m}", parsed.path(i)))?
    };
    // Unchanged bytes are no edit (e.g. a second run over pseudonymised data).
    if e.kind == ElementKind::Value && parsed.value(e) == Some(&bytes[..]) {
        return Ok(None);
    }
    if e.kind == ElementKind::Sequence && parsed.items_of(i).next().is_none() {
        return Ok(None);
    }
    replaced[i] = e.kind == ElementKind::Sequence;
    Ok(Some(Change::Set(bytes)))
}

/// A preamble that starts a TIFF file (`II*\0` or `MM\0*`): a DICOM file that is a TIFF
/// file too (PS3.10 7.1 allows it) keeps it.
fn is_tiff_header(b: &[u8]) -> bool {
    b.starts_with(b"II*\0") || b.starts_with(b"MM\0*")
}

/// The text a value of unknown VR holds, when it holds text: a private element in an
/// implicit-VR file, say. Printable characters (in the file's character set), tabs and line
/// breaks only, padding trimmed; anything else is binary and `None`.
fn un_text(v: &[u8], charset: &text::Charset) -> Option<String> {
    let trimmed = {
        let end = v.iter().rposition(|&b| b != 0 && b != b' ').map_or(0, |i| i + 1);
        &v[..end]
    };
    if trimmed.is_empty() || trimmed.iter().any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) {
        return None;
    }
    let t = charset.decode(trimmed);
    t.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .then_some(t)
}

/// A file placed in a patient without a `PatientID` of its own carries the patient's code as
/// `PatientID` (Type 2: the element belongs there, empty or not) and `PatientName` where it has
/// neither element, as the profile's rule for each writes them: a code, or a replacement
/// text. A rule that removes, empties or keeps them inserts nothing. A file that has the
/// element (empty, say) gets it from the rule like any other.
fn insert_patient(profile: &Profile, parsed: &Parsed, code: &str, plan: &mut FilePlan) -> Result<(), String> {
    for (tag, vr) in [(tags::PATIENT_NAME, VR::PN), (tags::PATIENT_ID, VR::LO)] {
        if parsed.elements.iter().any(|e| e.parent == TOP && e.tag == tag) {
            continue;
        }
        let action = profile.action_for(tag);
        let value = match action {
            Some(Action::Code) => code.to_string(),
            Some(Action::Replace(s)) => s.clone(),
            _ => continue,
        };
        let bytes = text::encode(&value, vr, &parsed.charset)?;
        plan.inserts.push(Insert {
            tag,
            vr,
            value: bytes.clone(),
        });
        let path = tag_string(tag);
        // In element order (the preamble's edit, if any, stays first).
        let at = plan
            .edits
            .iter()
            .position(|e| e.element != PREAMBLE && e.path > path)
            .unwrap_or(plan.edits.len());
        plan.edits.insert(
            at,
            Edit {
                path: path.clone(),
                tag: path,
                keyword: dict::display_name(tag).to_string(),
                before: None,
                after: Some(value),
                rule: action.map_or(RuleKind::Clean, Action::rule),
                element: INSERTED,
                change: Change::Set(bytes),
            },
        );
    }
    Ok(())
}

/// Records on the object that it was de-identified, and how (PS3.15 E.1.1, PS3.3 C.7.1.1):
/// `PatientIdentityRemoved` YES, `DeidentificationMethod`, and `DeidentificationMethodCodeSequence`
/// with the Basic Profile and each option in force.
fn plan_deidentified(
    parsed: &Parsed,
    a: &crate::profile::annex_e::AnnexE,
    edits: &mut Vec<Edit>,
    inserts: &mut Vec<Insert>,
) -> Result<(), String> {
    let mut method = vec![format!(
        "DICOM {} Basic Profile (dams)",
        crate::profile::annex_e::EDITION
    )];
    let mut codes = vec![("113100", "Basic Application Confidentiality Profile")];
    for o in &a.options {
        codes.push(o.code());
        method.push(o.code().1.to_string());
    }
    set_top_value(
        parsed,
        tags::PATIENT_IDENTITY_REMOVED,
        VR::CS,
        "YES".into(),
        edits,
        inserts,
    )?;
    set_top_value(
        parsed,
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        method.join("\\"),
        edits,
        inserts,
    )?;
    // PS3.15 E.3.6: dates moved by the patient's offset say so.
    if a.options
        .contains(&crate::profile::annex_e::AnnexOption::RetainLongitudinalModifiedDates)
    {
        let tag = dicom_dictionary_std::tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED;
        set_top_value(parsed, tag, VR::CS, "MODIFIED".into(), edits, inserts)?;
    }
    replace_method_codes(parsed, &codes, edits, inserts)
}

/// Plans top-level element `tag` to hold `value`: its edit replaces any other of the
/// element, and an element the file lacks is inserted. Nothing when it holds it already.
fn set_top_value(
    parsed: &Parsed,
    tag: Tag,
    vr: VR,
    value: String,
    edits: &mut Vec<Edit>,
    inserts: &mut Vec<Insert>,
) -> Result<(), String> {
    let bytes = text::encode(&value, vr, &parsed.charset)?;
    let found = parsed.elements.iter().position(|e| e.parent == TOP && e.tag == tag);
    edits.retain(|e| Some(e.element) != found);
    let (before, element, change) = if let Some(i) = found {
        let e = &parsed.elements[i];
        if parsed.value(e) == Some(&bytes[..]) {
            return Ok(());
        }
        let before = parsed
            .value(e)
            .map(|v| text::decode(v, e.value_vr(), &parsed.charset, e.enc));
        (before, i, Change::Set(bytes))
    } else {
        inserts.push(Insert {
            tag,
            vr,
            value: bytes.clone(),
        });
        (None, INSERTED, Change::Set(bytes))
    };
    edits.push(Edit {
        path: tag_string(tag),
        tag: tag_string(tag),
        keyword: dict::display_name(tag).to_string(),
        before,
        after: Some(value),
        rule: RuleKind::Basic,
        element,
        change,
    });
    Ok(())
}

/// Writes the `DeidentificationMethodCodeSequence` anew with `codes` (code value, meaning):
/// an old one is removed, the new one added.
fn replace_method_codes(
    parsed: &Parsed,
    codes: &[(&str, &str)],
    edits: &mut Vec<Edit>,
    inserts: &mut Vec<Insert>,
) -> Result<(), String> {
    let seq_tag = tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE;
    let enc = parsed.layout.encoding;
    let items: Vec<Vec<(Tag, VR, Vec<u8>)>> = codes
        .iter()
        .map(|(value, meaning)| -> Result<Vec<(Tag, VR, Vec<u8>)>, String> {
            Ok(vec![
                (tags::CODE_VALUE, VR::SH, text::encode(value, VR::SH, &parsed.charset)?),
                (
                    tags::CODING_SCHEME_DESIGNATOR,
                    VR::SH,
                    text::encode("DCM", VR::SH, &parsed.charset)?,
                ),
                (
                    tags::CODE_MEANING,
                    VR::LO,
                    text::encode(meaning, VR::LO, &parsed.charset)?,
                ),
            ])
        })
        .collect::<Result<_, _>>()?;
    if let Some(i) = parsed.elements.iter().position(|e| e.parent == TOP && e.tag == seq_tag) {
        edits.retain(|e| e.element != i);
        edits.push(Edit {
            path: tag_string(seq_tag),
            tag: tag_string(seq_tag),
            keyword: dict::display_name(seq_tag).to_string(),
            before: Some(format!("<sequence of {} items>", parsed.items_of(i).count())),
            after: None,
            rule: RuleKind::Basic,
            element: i,
            change: Change::Remove,
        });
    }
    inserts.push(Insert {
        tag: seq_tag,
        vr: VR::SQ,
        value: crate::dicom::rewrite::encode_items(&items, enc),
    });
    edits.push(Edit {
        path: tag_string(seq_tag),
        tag: tag_string(seq_tag),
        keyword: dict::display_name(seq_tag).to_string(),
        before: None,
        after: Some(format!(
            "<{}>",
            codes.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
        )),
        rule: RuleKind::Basic,
        element: INSERTED,
        change: Change::Remove,
    });
    Ok(())
}

/// The private creator of a private element: its own value for a creator element
/// (gggg,0010-00FF), else the creator of its block (gggg,00bb) in the same data set.
fn private_creator(parsed: &Parsed, creators: &HashMap<(u32, Tag), usize>, i: usize) -> Option<String> {
    let e = &parsed.elements[i];
    let creator_tag = if (0x0010..=0x00FF).contains(&e.tag.1) {
        e.tag
    } else {
        Tag(e.tag.0, e.tag.1 >> 8)
    };
    let c = &parsed.elements[*creators.get(&(e.parent, creator_tag))?];
    parsed.value(c).map(|v| text::decode(v, VR::LO, &parsed.charset, c.enc))
}

/// The private creator elements (gggg,0010-00FF) of a file, by data set and tag: looked up
/// for every private element, a search of the whole file each time was quadratic in files
/// with thousands of private elements. The first of duplicates counts.
fn private_creators(parsed: &Parsed) -> HashMap<(u32, Tag), usize> {
    let mut map = HashMap::new();
    for (i, e) in parsed.elements.iter().enumerate() {
        if e.tag.0 % 2 == 1 && (0x0010..=0x00FF).contains(&e.tag.1) {
            map.entry((e.parent, e.tag)).or_insert(i);
        }
    }
    map
}

pub(crate) use crate::values::dummy_text;

/// Plans every file of the Index into one [`Plan`] value (`None`: cancelled).
pub fn build(index: &Index, planner: &Planner, progress: Progress, cancel: &AtomicBool) -> Option<Plan> {
    let collect = stream::Collect::new(planner);
    if !stream(index, planner, None, Mode::Review, progress, cancel, &collect) {
        return None;
    }
    Some(Plan {
        profile: planner.profile.name.clone(),
        patients: collect.into_patients(),
        unassigned_xml: planner.unassigned_xml.clone(),
        unplaced: index.unplaced.clone(),
        unreadable: index.unreadable.clone(),
        new_key_entries: planner.new_entries.clone(),
    })
}

#[cfg(test)]
mod creator_tests {
    use super::*;
    use crate::dicom::parse::parse_file;

    /// Each private element finds the creator of its block in its own data set.
    #[test]
    fn private_elements_find_their_creator() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pydicom/CT_small.dcm");
        let parsed = parse_file(&path).unwrap();
        let creators = private_creators(&parsed);
        let of = |tag: Tag| {
            let i = parsed
                .elements
                .iter()
                .position(|e| e.tag == tag && e.parent == TOP)
                .unwrap();
            private_creator(&parsed, &creators, i)
        };
        assert_eq!(of(Tag(0x0009, 0x1001)).as_deref(), Some("GEMS_IDEN_01"));
        assert_eq!(of(Tag(0x0009, 0x0010)).as_deref(), Some("GEMS_IDEN_01"));
        assert_eq!(of(Tag(0x0019, 0x0010)).as_deref(), Some("GEMS_ACQU_01"));
        let acqu = parsed
            .elements
            .iter()
            .position(|e| e.tag.0 == 0x0019 && e.tag.1 >= 0x1000)
            .unwrap();
        assert_eq!(
            private_creator(&parsed, &creators, acqu).as_deref(),
            Some("GEMS_ACQU_01")
        );
    }
}

//! Verify: a proof of the whole output folder. It reads the manifest apply wrote
//! (`dams-manifest.json`: the profile, the key, every file written with its digest) and
//!
//! - checks every file under the folder: those dams wrote still have their digest, files it
//!   did not write are reported, and every file, known or not, is searched for identifiers —
//!   its values (DICOM, XML, or the bytes of anything else) and its file and folder names;
//! - with the input (`--against`), checks each output against the input and the plan: every
//!   planned edit present, every other element and the pixel data unchanged, the output
//!   readable by an independent reader (dicom-rs); problems the input had already are
//!   reported as the input's.
//!
//! Values the profile itself produces (a keep-year date, a dummy date, a code) are not
//! residual identifiers even when they look like one.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::dicom::parse::{Element, ElementKind, Parsed, parse_file};
use crate::dicom::{dict, text};
use crate::identity::Identity;
use crate::manifest::{FileRecord, Manifest};
use crate::matcher::Identifiers;
use crate::plan::{FilePlan, Planner};
use crate::profile::{Action, Profile};
use crate::progress::Progress;
use crate::residual::{Residual, residual_in};
use crate::scan::{Index, Instance};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Relative to the output folder.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub kind: ProblemKind,
    pub detail: String,
}

/// What is wrong with an output file.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The plan or the manifest names the file; the output folder does not have it.
    Missing,
    /// The input or the output cannot be read.
    Unreadable,
    /// An XML file's planned edits cannot be applied to the output.
    Xml,
    /// A planned edit is not in the output (or is, differently).
    Edit,
    /// An element no rule changes has changed.
    Changed,
    /// The pixel data differs from the input's.
    PixelData,
    /// The transfer syntax differs from the input's.
    TransferSyntax,
    /// An independent reader (dicom-rs) does not read the output.
    DicomRs,
    /// A file in the output folder that dams did not write (the manifest does not list it).
    NotWrittenByDams,
    /// A file whose digest is not the one dams wrote.
    ChangedSinceWritten,
    /// A file the manifest says was being written when a run stopped.
    Unfinished,
}

impl ProblemKind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::Xml => "xml",
            ProblemKind::Edit => "edit",
            ProblemKind::Changed => "changed",
            ProblemKind::PixelData => "pixel-data",
            ProblemKind::TransferSyntax => "transfer-syntax",
            ProblemKind::DicomRs => "dicom-rs",
            ProblemKind::NotWrittenByDams => "not-written-by-dams",
            ProblemKind::ChangedSinceWritten => "changed-since-written",
            ProblemKind::Unfinished => "unfinished",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    /// The profile the manifest names (the output was made with it, and checked against it).
    pub profile: String,
    /// The output was compared with its input (`--against`), not only with its manifest.
    pub against_input: bool,
    pub checked: usize,
    pub ok: usize,
    pub problems: Vec<Problem>,
    pub residual: Vec<Residual>,
    /// Identifying values the profile keeps on purpose (accession numbers and referring
    /// physicians under the default profile, which has no rule for them): listed, not held
    /// against the output.
    pub kept: Vec<Residual>,
    /// What the input had already (a group length that was wrong before dams): reported,
    /// not held against the output.
    pub input_problems: Vec<Problem>,
    /// The check was interrupted: what is not listed was not checked (never a clean bill).
    pub cancelled: bool,
}

impl VerifyReport {
    /// Each file with a finding, and its first one in words: what a send says of a file it
    /// does not send.
    #[must_use]
    pub fn first_findings(&self) -> std::collections::BTreeMap<PathBuf, String> {
        let mut why = std::collections::BTreeMap::new();
        for p in &self.problems {
            why.entry(p.path.clone())
                .or_insert_with(|| format!("verify: [{}] {}", p.kind, p.detail));
        }
        for r in &self.residual {
            why.entry(r.path.clone()).or_insert_with(|| {
                format!(
                    "verify: an original identifier ({}) is still in {} {}",
                    r.identifier.label(),
                    r.element,
                    r.keyword
                )
            });
        }
        why
    }

    /// Nothing wrong was found, and everything was checked.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.residual.is_empty() && !self.cancelled
    }
}

/// Why an output folder cannot be verified at all (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "{0} holds no {man}: it was not written by dams apply (or by an earlier dams); there is nothing to verify it against",
        man = crate::manifest::MANIFEST
    )]
    NoManifest(PathBuf),
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error("{0}: the profile its manifest records cannot be read: {1}")]
    Profile(PathBuf, crate::profile::ProfileError),
    #[error(
        "{out} was written with another key store (its manifest names key {manifest}, the key store {key} is {ours}); verify with the key it was made with"
    )]
    OtherKey {
        out: PathBuf,
        manifest: String,
        key: String,
        ours: String,
    },
    #[error("the plan was made with another profile than the one {0} was written with")]
    OtherProfile(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// The manifest of `out` and the profile it records, checked against the key: everything
/// verify needs to know before it reads a file.
///
/// # Errors
///
/// `VerifyError` when there is no manifest, it cannot be read, or it records another key or a
/// profile that no longer parses.
pub fn open(out: &Path, key: &crate::key::KeyStore) -> Result<(Manifest, Profile), VerifyError> {
    let manifest = Manifest::read_all(out)?.ok_or_else(|| VerifyError::NoManifest(out.to_path_buf()))?;
    let ours = crate::manifest::key_fingerprint(&key.secret());
    if manifest.key_fingerprint != ours {
        return Err(VerifyError::OtherKey {
            out: out.to_path_buf(),
            manifest: manifest.key_fingerprint.clone(),
            key: key.location().to_string(),
            ours,
        });
    }
    let profile = manifest
        .profile
        .profile()
        .map_err(|e| VerifyError::Profile(out.join(crate::manifest::MANIFEST), e))?;
    Ok((manifest, profile))
}

/// The identities verify searches for: the patients of the input when it is given, and
/// those the key knows for every code the manifest lists (their original ID, name and birth
/// date), so that an output is searched for its patients' identifiers even without its input.
#[must_use]
pub fn identities(manifest: &Manifest, key: &crate::key::KeyStore, index: Option<&Index>) -> Vec<Identity> {
    let mut out: Vec<Identity> = index
        .map(|i| i.patients.iter().map(|p| (*p.identity).clone()).collect())
        .unwrap_or_default();
    for e in key.entries().iter().filter(|e| manifest.patients.contains(&e.code)) {
        let mut id = Identity::default();
        let real = crate::scan::index::real_id(&e.patient_id);
        for (set, v) in [
            (&mut id.ids, real),
            (&mut id.names, e.patient_name.as_str()),
            (&mut id.birth_dates, e.birth_date.as_str()),
        ] {
            if !v.trim().is_empty() {
                set.insert(v.to_string());
            }
        }
        out.push(id);
    }
    out
}

/// Whether the profile writes the value of `tag` itself (a code, a replacement, a keep-year
/// or dummy date, a derived UID, nothing): what is there after apply is the profile's
/// product, not something left behind, even when it looks like an identifier (a patient
/// born on 1 January keeps their birth date under keep-year).
fn produced_by_profile(profile: &Profile, tag: crate::dicom::Tag) -> bool {
    matches!(
        profile.action_for(tag),
        Some(
            Action::Code
                | Action::Replace(_)
                | Action::Empty
                | Action::KeepYear
                | Action::Shift
                | Action::Dummy
                | Action::Uid
        )
    )
}

/// The elements of an output whose values the profile produced (see [`produced_by_profile`]).
fn produced(parsed: &Parsed, profile: &Profile) -> Vec<usize> {
    parsed
        .elements
        .iter()
        .enumerate()
        .filter(|(_, e)| produced_by_profile(profile, e.tag))
        .map(|(i, _)| i)
        .collect()
}

/// Verifies the output folder `out`: against its manifest always, and against the input and
/// the plan `against` makes when it is given (its planner must use the manifest's profile).
///
/// # Errors
///
/// `VerifyError` when the manifest cannot be read or does not fit the key or the planner's profile.
pub fn verify(
    out: &Path,
    against: Option<(&Index, &Planner)>,
    key: &crate::key::KeyStore,
    progress: Progress,
    cancel: &AtomicBool,
) -> Result<VerifyReport, VerifyError> {
    let (manifest, profile) = open(out, key)?;
    if let Some((_, planner)) = against
        && crate::manifest::profile_fingerprint(&planner.profile) != manifest.profile.fingerprint
    {
        return Err(VerifyError::OtherProfile(out.to_path_buf()));
    }
    let adjusted = against.map(|(index, planner)| (index, as_written(planner, &manifest)));
    let against = adjusted.as_ref().map(|(index, planner)| (*index, planner.as_ref()));
    let who = identities(&manifest, key, against.map(|(i, _)| i));
    let everyone = crate::matcher::search_for(&who, profile.shifts_study_dates());
    // Names by the plan's rules: what it replaces in names is held against the output when
    // left, what it keeps on purpose (too short or generic inside a name) is listed as kept.
    let rules = crate::matcher::NameRules::new(&who, profile.shifts_study_dates());
    drop(who);
    let files = walk(out)?;
    let mut report = VerifyReport {
        profile: manifest.profile.name.clone(),
        against_input: against.is_some(),
        ..VerifyReport::default()
    };
    // The comparison with the input: every planned file.
    let mut compared: HashMap<PathBuf, bool> = HashMap::new();
    let total = files.len();
    let done = AtomicUsize::new(0);
    if let Some((index, planner)) = against {
        let (planned, r) = compare_with_input(out, index, planner, None, cancel, &|| {
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total.max(1));
        });
        compared = planned;
        report.checked += r.checked;
        report.ok += r.ok;
        report.problems.extend(r.problems);
        report.residual.extend(r.residual);
        report.input_problems.extend(r.input_problems);
    }
    // Every file under the folder against the manifest, searched unless compared above.
    let known = manifest.by_path();
    let pending: HashSet<&str> = manifest.pending.iter().map(String::as_str).collect();
    let search = Search {
        ids: &everyone,
        rules: &rules,
    };
    let results: Vec<(bool, Checked)> = files
        .par_iter()
        .filter_map(|rel| {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            let searched = compared.contains_key(rel);
            let r = check_file(out, rel, (&known, &pending), &profile, &search, searched);
            if !searched {
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total.max(1));
            }
            Some((searched, r))
        })
        .collect();
    let mut names_kept = Vec::new();
    for (searched, (problems, residual, kept)) in results {
        names_kept.extend(kept);
        if !searched {
            report.checked += 1;
            if problems.is_empty() && residual.is_empty() {
                report.ok += 1;
            }
        } else if !problems.is_empty() || !residual.is_empty() {
            // A file compared clean above is not clean after all.
            report.ok = report.ok.saturating_sub(1);
        }
        report.problems.extend(problems);
        report.residual.extend(residual);
    }
    // Files the manifest lists that are gone.
    let present: HashSet<&Path> = files.iter().map(PathBuf::as_path).collect();
    for f in &manifest.files {
        let p = crate::paths::from_exact(&f.path).unwrap_or_else(|_| PathBuf::from(&f.path));
        if !present.contains(p.as_path()) && !compared.contains_key(&p) {
            report.problems.push(Problem {
                path: p,
                kind: ProblemKind::Missing,
                detail: "dams wrote this file, and it is no longer in the output folder".into(),
            });
        }
    }
    report.cancelled = cancel.load(Ordering::Relaxed);
    finish(&mut report, &profile, names_kept);
    Ok(report)
}

/// The findings in path order, once each; what the profile keeps on purpose, and the names
/// kept on purpose, under `kept` (they do not make a file not ok: it was counted by its
/// other findings).
fn finish(report: &mut VerifyReport, profile: &Profile, names_kept: Vec<Residual>) {
    report.problems.sort_by(|a, b| a.path.cmp(&b.path));
    report.problems.dedup();
    report
        .residual
        .sort_by(|a, b| a.path.cmp(&b.path).then(a.element.cmp(&b.element)));
    report.residual.dedup();
    set_aside_kept(report, profile);
    report.kept.extend(names_kept);
    report
        .kept
        .sort_by(|a, b| a.path.cmp(&b.path).then(a.element.cmp(&b.element)));
    report.kept.dedup();
}

/// The planner as the folder's runs used it: with the options they recorded (codes for dams
/// output, images that may show identifiers approved in review).
fn as_written<'a>(planner: &'a Planner, manifest: &Manifest) -> std::borrow::Cow<'a, Planner> {
    if (manifest.options.recode && !planner.recode) || (manifest.options.accept_burned_in && !planner.accept_burned_in)
    {
        let mut p = planner.clone();
        p.recode |= manifest.options.recode;
        p.accept_burned_in |= manifest.options.accept_burned_in;
        std::borrow::Cow::Owned(p)
    } else {
        std::borrow::Cow::Borrowed(planner)
    }
}

/// What [`verify_patients`] found: the report, and the output files of those patients that
/// are clean (compared with their input and plan, as dams wrote them, no identifier left).
#[derive(Debug, Default)]
pub struct PatientsVerified {
    pub report: VerifyReport,
    /// Relative to the output folder, in path order.
    pub clean: Vec<PathBuf>,
}

/// Verifies the output files of `patients` only, as [`verify`] does with the input: each
/// compared with its input and plan, checked against the manifest (its digest), its names
/// and values searched. What the review screen checks before it sends those patients; the
/// rest of the folder is not looked at.
///
/// # Errors
///
/// `VerifyError` when the manifest cannot be read or does not fit the key or the planner's profile.
pub fn verify_patients(
    out: &Path,
    index: &Index,
    planner: &Planner,
    key: &crate::key::KeyStore,
    patients: &BTreeSet<String>,
    progress: Progress,
    cancel: &AtomicBool,
) -> Result<PatientsVerified, VerifyError> {
    let (manifest, profile) = open(out, key)?;
    if crate::manifest::profile_fingerprint(&planner.profile) != manifest.profile.fingerprint {
        return Err(VerifyError::OtherProfile(out.to_path_buf()));
    }
    let planner = as_written(planner, &manifest);
    let planner = planner.as_ref();
    let who = identities(&manifest, key, Some(index));
    let everyone = crate::matcher::search_for(&who, profile.shifts_study_dates());
    let rules = crate::matcher::NameRules::new(&who, profile.shifts_study_dates());
    drop(who);
    let search = Search {
        ids: &everyone,
        rules: &rules,
    };
    let total = index
        .patients
        .iter()
        .filter(|p| patients.contains(&p.patient_id))
        .map(|p| p.instances().count())
        .sum::<usize>()
        + index
            .xml
            .iter()
            .filter(|x| planner.xml_owner(&x.path).is_some_and(|(p, _)| patients.contains(p)))
            .count();
    let done = AtomicUsize::new(0);
    let (compared, r) = compare_with_input(out, index, planner, Some(patients), cancel, &|| {
        progress(done.fetch_add(1, Ordering::Relaxed) + 1, total.max(1));
    });
    let mut report = VerifyReport {
        profile: manifest.profile.name.clone(),
        against_input: true,
        checked: r.checked,
        ok: r.ok,
        problems: r.problems,
        residual: r.residual,
        input_problems: r.input_problems,
        ..VerifyReport::default()
    };
    let known = manifest.by_path();
    let pending: HashSet<&str> = manifest.pending.iter().map(String::as_str).collect();
    let mut dests: Vec<(&PathBuf, &bool)> = compared.iter().collect();
    dests.sort();
    let mut names_kept = Vec::new();
    for (rel, _) in &dests {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        // One the comparison found missing is reported as such already.
        if out.join(rel).exists() {
            let (problems, residual, kept) = check_file(out, rel, (&known, &pending), &profile, &search, true);
            report.problems.extend(problems);
            report.residual.extend(residual);
            names_kept.extend(kept);
        }
    }
    report.cancelled = cancel.load(Ordering::Relaxed);
    finish(&mut report, &profile, names_kept);
    // Clean: no problem in the comparison (whatever path it names: an unreadable input is
    // reported at the input's), none at the output's path, no identifier left.
    let flagged: HashSet<&Path> = report
        .problems
        .iter()
        .map(|p| p.path.as_path())
        .chain(report.residual.iter().map(|r| r.path.as_path()))
        .collect();
    let clean = if report.cancelled {
        Vec::new()
    } else {
        dests
            .into_iter()
            .filter(|(rel, no_problem)| **no_problem && !flagged.contains(rel.as_path()) && out.join(rel).exists())
            .map(|(rel, _)| rel.clone())
            .collect()
    };
    report.ok = clean.len();
    Ok(PatientsVerified { report, clean })
}

/// One file under the output folder checked: its problems, the identifiers left in it, and
/// those its names keep on purpose.
type Checked = (Vec<Problem>, Vec<Residual>, Vec<Residual>);

/// The searches of every file under the output folder: the patients' identifiers, and the
/// rules by which names keep some of them on purpose.
struct Search<'a> {
    ids: &'a Identifiers,
    rules: &'a crate::matcher::NameRules,
}

/// Moves the findings of kinds the profile keeps from `residual` to `kept`; a file whose
/// only findings were such counts as ok.
fn set_aside_kept(report: &mut VerifyReport, profile: &Profile) {
    let kinds = crate::residual::kept_on_purpose(profile);
    let (kept, residual): (Vec<Residual>, Vec<Residual>) = std::mem::take(&mut report.residual)
        .into_iter()
        .partition(|r| kinds.contains(&r.identifier));
    report.residual = residual;
    let not_ok: HashSet<&Path> = report
        .residual
        .iter()
        .map(|r| r.path.as_path())
        .chain(report.problems.iter().map(|p| p.path.as_path()))
        .collect();
    let now_ok: HashSet<&Path> = kept
        .iter()
        .map(|r| r.path.as_path())
        .filter(|p| !not_ok.contains(p))
        .collect();
    report.ok += now_ok.len();
    report.kept = kept;
}

/// Every file below `out` (relative, sorted), leaving out dams' manifest and send log.
fn walk(out: &Path) -> Result<Vec<PathBuf>, VerifyError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(out).follow_links(false) {
        let entry = entry.map_err(|e| {
            let path = e.path().map_or_else(|| out.to_path_buf(), Path::to_path_buf);
            VerifyError::Io(path, e.into())
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(out) else {
            continue;
        };
        let top = rel.components().count() == 1;
        let name = rel.to_string_lossy();
        let manifest =
            |n: &str| n == crate::manifest::MANIFEST || crate::manifest::is_part_of(n, crate::manifest::MANIFEST);
        if top && (manifest(&name) || name == crate::manifest::SEND_LOG) {
            continue;
        }
        files.push(rel.to_path_buf());
    }
    files.sort();
    Ok(files)
}

/// One file under the output folder: against the manifest (its digest, or that dams did not
/// write it: the files it records and those pending), its names searched, and its content
/// searched unless the comparison with the input has done that (`searched`). Returns the
/// problems, the identifiers left, and the identifiers its names keep on purpose.
fn check_file(
    out: &Path,
    rel: &Path,
    (known, pending): (&std::collections::BTreeMap<&str, &FileRecord>, &HashSet<&str>),
    profile: &Profile,
    search: &Search,
    searched: bool,
) -> Checked {
    let ids = search.ids;
    let mut problems = Vec::new();
    let problem = |kind: ProblemKind, detail: String| Problem {
        path: rel.to_path_buf(),
        kind,
        detail,
    };
    let path = out.join(rel);
    let key = crate::manifest::rel_string(rel);
    let meta = std::fs::symlink_metadata(&path);
    let is_file = meta.as_ref().is_ok_and(std::fs::Metadata::is_file);
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.starts_with(crate::atomic::TEMP_PREFIX) {
        problems.push(problem(
            ProblemKind::Unfinished,
            "a temporary file of an apply that was stopped (the next apply removes it)".into(),
        ));
    } else if !is_file {
        problems.push(problem(
            ProblemKind::NotWrittenByDams,
            "not a regular file (a link, a FIFO, a device): dams writes none".into(),
        ));
    } else if let Some(rec) = known.get(key.as_str()) {
        match crate::manifest::digest_file(&path) {
            Ok((sha, size)) if sha == rec.sha256 && size == rec.size => {}
            Ok(_) => problems.push(problem(
                ProblemKind::ChangedSinceWritten,
                "differs from what dams wrote (its SHA-256 is not the manifest's)".into(),
            )),
            Err(e) => problems.push(problem(ProblemKind::Unreadable, format!("cannot be read: {e}"))),
        }
    } else if pending.contains(key.as_str()) {
        problems.push(problem(
            ProblemKind::Unfinished,
            "an apply that stopped before it finished set out to write this file; run it again".into(),
        ));
    } else {
        problems.push(problem(
            ProblemKind::NotWrittenByDams,
            "dams did not write this file (its manifest does not list it); it is searched for identifiers all the same"
                .into(),
        ));
    }
    // dams' own tables: their names and words are dams'; the folder names they list are
    // searched (like every path).
    use crate::manifest::{MAPPING_CSV, MAPPING_JSON, is_part_of};
    let is = |own: &str| name == own || is_part_of(&name, own);
    let table = rel.components().count() == 1 && (is(MAPPING_CSV) || is(MAPPING_JSON));
    if table {
        let (residual, kept) = if is(MAPPING_JSON) {
            table_residual(&path, rel, search)
        } else {
            (Vec::new(), Vec::new())
        };
        return (problems, residual, kept);
    }
    // The names by the rules the plan renames by (`residual::in_path`, shared with it).
    let names = crate::residual::in_path(rel, ids, search.rules);
    let mut residual = names.residual;
    if !searched && is_file {
        // A DICOMDIR is never compared with the input (no plan makes one): it is checked here,
        // from the one read its search makes.
        match content_residual(&path, rel, profile, ids) {
            Ok((r, missing)) => {
                residual.extend(r);
                problems.extend(missing.map(|d| problem(ProblemKind::Missing, d)));
            }
            Err(e) => problems.push(problem(ProblemKind::Unreadable, e)),
        }
    }
    (problems, residual, names.kept)
}

/// For a DICOMDIR, what is wrong when some of its records name files that are not there.
fn dicomdir_missing(parsed: &Parsed, path: &Path) -> Option<String> {
    if parsed
        .top_string(crate::dicom::tags::MEDIA_STORAGE_SOP_CLASS_UID)
        .as_deref()
        != Some(dicom_dictionary_std::uids::MEDIA_STORAGE_DIRECTORY_STORAGE)
    {
        return None;
    }
    let folder = path.parent()?;
    let entries = crate::dicom::dir::file_entries(parsed);
    let mut names = FolderNames::default();
    let missing: Vec<PathBuf> = entries
        .iter()
        // One that would name a file outside the folder (`..`, `/etc`) names none of it.
        .filter(|e| !crate::dicom::dir::stays_below(&e.file_id) || !names.has_file(folder, &e.file_id))
        .map(|e| e.file_id.iter().collect::<PathBuf>())
        .collect();
    let first = missing.first()?;
    Some(format!(
        "this DICOMDIR lists {} of its {} file(s) that are not in the output folder, first {}",
        missing.len(),
        entries.len(),
        first.display()
    ))
}

/// The names in the folders a DICOMDIR's records lead through, upper-cased, each folder read
/// once: a file ID is upper case, the file on disk may be in any case, component by component
/// (a lowered copy whose patient folder dams renamed to its code: `P0001/st000000/im1`).
#[derive(Default)]
struct FolderNames(HashMap<PathBuf, HashMap<String, std::ffi::OsString>>);

impl FolderNames {
    /// Whether `id` names a file below `folder`, in any case.
    fn has_file(&mut self, folder: &Path, id: &[String]) -> bool {
        let exact: PathBuf = id.iter().collect();
        if folder.join(&exact).is_file() {
            return true;
        }
        let mut at = folder.to_path_buf();
        for c in id {
            let names = self.0.entry(at.clone()).or_insert_with(|| {
                std::fs::read_dir(&at)
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .map(|e| (e.file_name().to_string_lossy().to_uppercase(), e.file_name()))
                    .collect()
            });
            let Some(name) = names.get(&c.to_uppercase()) else {
                return false;
            };
            at.push(name);
        }
        at.is_file()
    }
}

/// Identifiers in the folder names the mapping table lists, by the rules of names: those
/// left against the rules, and those kept on purpose (as the folders themselves).
fn table_residual(path: &Path, rel: &Path, search: &Search) -> (Vec<Residual>, Vec<Residual>) {
    let (mut residual, mut kept) = (Vec::new(), Vec::new());
    let Ok(bytes) = std::fs::read(path) else {
        return (residual, kept);
    };
    let Ok(table) = serde_json::from_slice::<crate::plan::mapping::MappingFile>(&bytes) else {
        return (residual, kept);
    };
    for row in &table.segmentations {
        let folders = std::iter::once(&row.segmentation_folder).chain(row.source_folder.as_ref());
        for name in folders.flat_map(|f| f.iter()) {
            for (kind, replaced) in crate::residual::name_hits(name, false, search.ids, search.rules) {
                let r = Residual {
                    path: rel.to_path_buf(),
                    element: "a folder it names".into(),
                    keyword: "mapping".into(),
                    identifier: kind,
                };
                if replaced {
                    residual.push(r);
                } else {
                    kept.push(r);
                }
            }
        }
    }
    (residual, kept)
}

/// Identifiers in what a file holds: a DICOM file's values (those the profile produced
/// left out), an XML file's text and attributes, or any other file's bytes.
/// What of the identifiers is left in a file's content, and for a DICOMDIR what is wrong when
/// its records name files that are not there ([`dicomdir_missing`]).
fn content_residual(
    path: &Path,
    rel: &Path,
    profile: &Profile,
    ids: &Identifiers,
) -> Result<(Vec<Residual>, Option<String>), String> {
    if let Ok(parsed) = parse_file(path) {
        let missing = dicomdir_missing(&parsed, path);
        return Ok((residual_in(&parsed, rel, ids, &produced(&parsed, profile)), missing));
    }
    let src = crate::xml::Source::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    if crate::xml::check_source(&src).is_ok()
        && let Ok(hits) = crate::xml::residual_source(&src, ids)
    {
        let residual = hits
            .into_iter()
            .map(|h| Residual {
                path: rel.to_path_buf(),
                element: format!("{} (line {})", h.path, h.line),
                keyword: "XML".into(),
                identifier: h.kind,
            })
            .collect();
        return Ok((residual, None));
    }
    let residual = crate::residual::find_in_chunks(ids, src.bytes(), &|at| src.release_before(at))
        .into_iter()
        .map(|kind| Residual {
            path: rel.to_path_buf(),
            element: "content".into(),
            keyword: "bytes".into(),
            identifier: kind,
        })
        .collect();
    Ok((residual, None))
}

/// One output compared with its input: its path, its problems, the identifiers left in it,
/// and what the input had wrong already.
type FileCheck = (PathBuf, Vec<Problem>, Vec<Residual>, Vec<Problem>);

/// What the comparison with the input found.
#[derive(Default)]
struct Compared {
    checked: usize,
    ok: usize,
    problems: Vec<Problem>,
    residual: Vec<Residual>,
    input_problems: Vec<Problem>,
    /// Every output path compared, with whether the comparison found no problem.
    dests: HashMap<PathBuf, bool>,
}

impl Compared {
    /// With one more file's check.
    fn add(mut self, (dest, problems, residual, input): FileCheck) -> Compared {
        self.checked += 1;
        if problems.is_empty() && residual.is_empty() {
            self.ok += 1;
        }
        self.dests.insert(dest, problems.is_empty());
        self.problems.extend(problems);
        self.residual.extend(residual);
        self.input_problems.extend(input);
        self
    }

    /// Both together, `self`'s findings first (the larger map of paths takes the other's).
    fn merge(mut self, mut other: Compared) -> Compared {
        if other.dests.len() > self.dests.len() {
            std::mem::swap(&mut self.dests, &mut other.dests);
        }
        self.checked += other.checked;
        self.ok += other.ok;
        self.dests.extend(other.dests);
        self.problems.extend(other.problems);
        self.residual.extend(other.residual);
        self.input_problems.extend(other.input_problems);
        self
    }
}

/// Compares the output with the input and its plan, file by file (of every patient, or of
/// `only` these). Returns the output paths it compared (and searched), each with whether the
/// comparison found no problem (identifiers left are in `Compared::residual`).
fn compare_with_input(
    out: &Path,
    index: &Index,
    planner: &Planner,
    only: Option<&BTreeSet<String>>,
    cancel: &AtomicBool,
    tick: &(dyn Fn() + Sync),
) -> (HashMap<PathBuf, bool>, Compared) {
    let wanted = |pid: &str| only.is_none_or(|o| o.contains(pid));
    // Patient by patient: each patient's search is made when their files are checked and
    // dropped after (made for every patient up front, they took gigabytes at 60,000 patients).
    // Each check is folded in as it is made: only what it found and the path it compared stay.
    let compared = index
        .patients
        .par_iter()
        .filter(|p| wanted(&p.patient_id))
        .map(|p| {
            let ids =
                crate::matcher::search_for(std::slice::from_ref(&p.identity), planner.profile.shifts_study_dates());
            let files: Vec<&Instance> = p.instances().collect();
            files
                .into_par_iter()
                .filter(|_| !cancel.load(Ordering::Relaxed))
                .map(|inst| {
                    let r = verify_one(&index.root, out, planner, &p.patient_id, inst, &ids);
                    tick();
                    r
                })
                .fold(Compared::default, Compared::add)
                .reduce(Compared::default, Compared::merge)
        })
        .reduce(Compared::default, Compared::merge);
    // XML files may name several patients: look for everyone's identifiers.
    let xml: Vec<&crate::scan::XmlFile> = index
        .xml
        .iter()
        .filter(|x| planner.xml_owner(&x.path).is_some_and(|(pid, _)| wanted(pid)))
        .collect();
    let everyone = (!xml.is_empty()).then(|| {
        crate::matcher::search_for(
            &index.patients.iter().map(|p| (*p.identity).clone()).collect::<Vec<_>>(),
            planner.profile.shifts_study_dates(),
        )
    });
    let xml_results: Vec<FileCheck> = xml
        .par_iter()
        .filter(|_| !cancel.load(Ordering::Relaxed))
        .filter_map(|x| Some((x, everyone.as_ref()?)))
        .map(|(x, everyone)| {
            let (dest, p, r) = verify_xml(&index.root, out, planner, x, everyone);
            tick();
            (dest, p, r, Vec::new())
        })
        .collect();
    let mut c = xml_results.into_iter().fold(compared, Compared::add);
    (std::mem::take(&mut c.dests), c)
}
/// A writer that only compares what it is given with `with`, from the start.
struct Same<'a> {
    with: &'a crate::xml::Source,
    at: usize,
    differs: bool,
}

impl std::io::Write for Same<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let end = self.at + buf.len();
        if self.with.bytes().get(self.at..end) != Some(buf) {
            self.differs = true;
        }
        self.at = end;
        self.with.release_before(end);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An XML output must be exactly what the plan makes of its input, and hold no identifier.
fn verify_xml(
    root: &Path,
    out: &Path,
    planner: &Planner,
    x: &crate::scan::XmlFile,
    ids: &Identifiers,
) -> (PathBuf, Vec<Problem>, Vec<Residual>) {
    let problem = |path: &Path, kind: ProblemKind, detail: String| Problem {
        path: path.to_path_buf(),
        kind,
        detail,
    };
    let dest = planner.dest(&x.path);
    let (bytes, fp) = match planner.plan_xml(root, x) {
        Ok(v) => v,
        Err(e) => {
            return (
                dest,
                vec![problem(
                    &x.path,
                    ProblemKind::Unreadable,
                    format!("input: {}", e.reason),
                )],
                Vec::new(),
            );
        }
    };
    let Ok(written) = crate::xml::Source::open(&out.join(&fp.dest)) else {
        return (
            dest,
            vec![problem(&fp.dest, ProblemKind::Missing, "no output file".into())],
            Vec::new(),
        );
    };
    let mut problems = Vec::new();
    // What the plan makes of the input, compared with the output as it is made (neither is
    // held whole: a large file is mapped and given back as the comparison goes).
    let mut same = Same {
        with: &written,
        at: 0,
        differs: false,
    };
    match crate::xml::rewrite_source(&bytes, &fp.plan, &mut same) {
        Ok(()) if !same.differs && same.at == written.len() => {}
        Ok(()) => problems.push(problem(
            &fp.dest,
            ProblemKind::Xml,
            "differs from what the plan makes of the input".into(),
        )),
        Err(e) => problems.push(problem(
            &fp.dest,
            ProblemKind::Xml,
            format!("the plan cannot be applied: {e}"),
        )),
    }
    let residual = match crate::xml::residual_source(&written, ids) {
        Ok(hits) => hits
            .into_iter()
            .map(|h| Residual {
                path: fp.dest.clone(),
                element: format!("{} (line {})", h.path, h.line),
                keyword: "XML".into(),
                identifier: h.kind,
            })
            .collect(),
        Err(e) => {
            problems.push(problem(&fp.dest, ProblemKind::Unreadable, format!("XML: {e}")));
            Vec::new()
        }
    };
    (dest, problems, residual)
}

fn verify_one(
    root: &Path,
    out: &Path,
    planner: &Planner,
    patient_id: &str,
    inst: &Instance,
    ids: &Identifiers,
) -> FileCheck {
    let dest = planner.dest(&inst.path);
    let mut problems = Vec::new();
    let mut input_problems = Vec::new();
    let problem = |path: &Path, kind: ProblemKind, detail: String| Problem {
        path: path.to_path_buf(),
        kind,
        detail,
    };
    // An image that may show identifiers in its pixels is written under the Basic Profile only
    // when approved (one patient in review, or a run with --accept-burned-in): held back, it
    // is no problem of the output.
    if planner.profile.annex_e.is_some() && planner.may_show_identifiers(inst).is_some() && !out.join(&dest).exists() {
        return (dest, problems, Vec::new(), input_problems);
    }
    let (input, plan) = match planner.plan_file(root, inst, patient_id) {
        Ok(x) => x,
        Err(e) => {
            problems.push(problem(
                &inst.path,
                ProblemKind::Unreadable,
                format!("input: {}", e.reason),
            ));
            return (dest, problems, Vec::new(), input_problems);
        }
    };
    let out_path = out.join(&plan.dest);
    if !out_path.exists() {
        problems.push(problem(&plan.dest, ProblemKind::Missing, "no output file".into()));
        return (dest, problems, Vec::new(), input_problems);
    }
    let output = match parse_file(&out_path) {
        Ok(p) => p,
        Err(e) => {
            problems.push(problem(&plan.dest, ProblemKind::Unreadable, e.to_string()));
            return (dest, problems, Vec::new(), input_problems);
        }
    };
    let shift = planner.offset(patient_id).map(|d| (d, &planner.profile));
    compare(&input, &output, &plan, shift, &mut problems, &mut input_problems);
    if plan.clear_preamble || !plan.file_meta.is_empty() {
        let mut pre = [0u8; 128];
        if output.read_at(0, &mut pre).is_err() || pre.iter().any(|&b| b != 0) {
            problems.push(problem(
                &plan.dest,
                ProblemKind::Changed,
                "the file preamble should be zeroed".into(),
            ));
        }
    }
    let part10 = !plan.file_meta.is_empty();
    independent_read(&root.join(&inst.path), &out_path, &plan.dest, part10, &mut problems);
    let residual = residual_in(&output, &plan.dest, ids, &produced(&output, &planner.profile));
    (dest, problems, residual, input_problems)
}

/// Whether every date of `after` is the date of `before` at the same place moved by exactly
/// `days` (the first eight digits of each DA or DT value; a value of less than day precision,
/// or one that was no date and was emptied, is not held to it).
fn moved_by(before: &str, after: &str, days: i32) -> bool {
    let day = crate::values::shift::day_number;
    // Values, and both sides of a DA range (`20040101-20040131`).
    let parts = |v: &'_ str| -> Vec<String> {
        v.split('\\')
            .flat_map(|x| {
                let x = x.trim();
                match x.split_once('-') {
                    Some((l, r)) if x.len() == 17 && l.len() == 8 => vec![l.to_string(), r.to_string()],
                    _ => vec![x.to_string()],
                }
            })
            .collect()
    };
    let (b, a) = (parts(before), parts(after));
    if after.trim().is_empty() {
        return true;
    }
    b.len() == a.len()
        && b.iter().zip(&a).all(|(x, y)| match (day(x), day(y)) {
            (Some(x), Some(y)) => y - x == i64::from(days),
            (None, _) => true,
            (Some(_), None) => false,
        })
}

/// Checks the output against the input and the plan, element by element.
fn compare(
    input: &Parsed,
    output: &Parsed,
    plan: &FilePlan,
    shift: Option<(i32, &Profile)>,
    problems: &mut Vec<Problem>,
    input_problems: &mut Vec<Problem>,
) {
    let mut c = Comparison {
        input,
        output,
        plan,
        shift,
        out_paths: (0..output.elements.len()).map(|i| (output.path(i), i)).collect(),
        seen: vec![false; output.elements.len()],
        problems,
        input_problems,
    };
    if input.layout.transfer_syntax != output.layout.transfer_syntax {
        c.push(
            ProblemKind::TransferSyntax,
            format!(
                "transfer syntax changed from {} to {}",
                crate::dicom::parse::transfer_syntax_name(&input.layout.transfer_syntax),
                crate::dicom::parse::transfer_syntax_name(&output.layout.transfer_syntax)
            ),
        );
    }
    let edits: HashMap<&str, &crate::plan::Edit> = plan.edits.iter().map(|e| (e.path.as_str(), e)).collect();
    let paths: Vec<String> = (0..input.elements.len()).map(|i| input.path(i)).collect();
    // What lies inside a removed element or an emptied sequence is gone with it.
    let mut replaced: Vec<bool> = paths
        .iter()
        .zip(&input.elements)
        .map(|(p, e)| {
            edits
                .get(p.as_str())
                .is_some_and(|ed| ed.after.is_none() || e.kind == ElementKind::Sequence)
        })
        .collect();
    // A copy of an earlier element is not written (dicom::rewrite drops it).
    for &c in input.copies() {
        replaced[c] = true;
    }
    for (i, (e, path)) in input.elements.iter().zip(paths).enumerate() {
        if input.within(i, &replaced) || input.copies().binary_search(&i).is_ok() {
            continue;
        }
        let found = c.out_paths.get(&path).copied();
        if let Some(o) = found {
            c.seen[o] = true;
        }
        if let Some(edit) = edits.get(path.as_str()) {
            c.edited(e, &path, edit, found);
        } else if let Some(o) = found {
            c.kept(i, &path, o);
        } else if e.tag.1 == 0x0000 && !c.group_written(&path, e.tag.0) {
            // A group length goes with the last element of its group.
        } else {
            c.push(
                ProblemKind::Changed,
                format!("{path} ({}) is missing from the output", dict::display_name(e.tag)),
            );
        }
    }
    c.file_meta();
    c.inserted();
    c.unseen();
}

/// One file's output being checked against its input and plan ([`compare`]).
struct Comparison<'a> {
    input: &'a Parsed,
    output: &'a Parsed,
    plan: &'a FilePlan,
    shift: Option<(i32, &'a Profile)>,
    /// Each element of the output by its path.
    out_paths: HashMap<String, usize>,
    /// Elements of the output accounted for by the input or the plan.
    seen: Vec<bool>,
    problems: &'a mut Vec<Problem>,
    /// Problems of the input itself (a group length already wrong there).
    input_problems: &'a mut Vec<Problem>,
}

impl Comparison<'_> {
    fn push(&mut self, kind: ProblemKind, detail: String) {
        self.problems.push(Problem {
            path: self.plan.dest.clone(),
            kind,
            detail,
        });
    }

    /// An input element the plan edits (`found`: where it is in the output): removed, or
    /// holding the planned value, moved by the patient's offset where the profile shifts.
    fn edited(&mut self, e: &Element, path: &str, edit: &crate::plan::Edit, found: Option<usize>) {
        match (&edit.after, found) {
            (None, Some(_)) => self.push(
                ProblemKind::Edit,
                format!("{path} ({}) should have been removed", edit.keyword),
            ),
            (Some(_), None) => self.push(ProblemKind::Edit, format!("{path} ({}) is missing", edit.keyword)),
            (Some(after), Some(o)) => {
                let output = self.output;
                let oe = &output.elements[o];
                let got = output
                    .value(oe)
                    .map(|v| text::decode(v, oe.value_vr(), &output.charset, oe.enc))
                    .unwrap_or_default();
                if got != *after {
                    self.push(
                        ProblemKind::Edit,
                        format!("{path} ({}) does not hold the planned value", edit.keyword),
                    );
                } else if let Some((days, profile)) = self.shift
                    && profile.action_for(e.tag) == Some(&Action::Shift)
                    && !moved_by(edit.before.as_deref().unwrap_or_default(), &got, days)
                {
                    self.push(
                        ProblemKind::Edit,
                        format!("{path} ({}) is not moved by the patient's date offset", edit.keyword),
                    );
                }
            }
            (None, None) => {}
        }
    }

    /// Input element `i`, which the plan leaves, against output element `o`: the same bytes;
    /// a group length the length of its group as written.
    fn kept(&mut self, i: usize, path: &str, o: usize) {
        let (input, output) = (self.input, self.output);
        let (e, oe) = (&input.elements[i], &output.elements[o]);
        // A group length is written as its group's length (whatever the input said): it
        // must equal the group's length in the output. One that was wrong in the input is
        // the input's problem, and reported as such.
        if e.tag.1 == 0x0000 && oe.length == 4 {
            let wrong = |p: &Parsed, k: usize| {
                let el = &p.elements[k];
                p.value(el)
                    .is_some_and(|v| u64::from(el.enc.u32(v)) != group_length(p, k))
            };
            let detail = format!("{path} ({}) does not match its group", dict::display_name(e.tag));
            if e.length == 4 && wrong(input, i) {
                self.input_problems.push(Problem {
                    path: self.plan.source.clone(),
                    kind: ProblemKind::Changed,
                    detail: format!("{detail} in the input (written as the group's length)"),
                });
            }
            if wrong(output, o) {
                self.push(ProblemKind::Changed, detail);
            }
            return;
        }
        let same = match e.kind {
            ElementKind::Sequence => oe.kind == ElementKind::Sequence,
            ElementKind::Value => input.value(e) == output.value(oe),
            ElementKind::Bulk | ElementKind::Encapsulated => same_bytes(
                input,
                e.value_start,
                output,
                oe.value_start,
                e.value_len(),
                oe.value_len(),
            ),
        };
        if !same {
            let kind = if e.tag == crate::dicom::tags::PIXEL_DATA {
                ProblemKind::PixelData
            } else {
                ProblemKind::Changed
            };
            self.push(
                kind,
                format!("{path} ({}) differs from the input", dict::display_name(e.tag)),
            );
        }
    }

    /// The file meta group the plan gives a file that had none (a raw data set): the output
    /// is a Part 10 file, and its file meta holds each planned element with its planned value,
    /// after a group length that is the group's.
    fn file_meta(&mut self) {
        let (output, plan) = (self.output, self.plan);
        if plan.file_meta.is_empty() {
            return;
        }
        if !(output.layout.preamble && output.layout.has_meta) {
            self.push(
                ProblemKind::Edit,
                "the output should be a Part 10 file (preamble, DICM, file meta)".into(),
            );
            return;
        }
        for ins in &plan.file_meta {
            let path = crate::dicom::tag_string(ins.tag);
            let Some(&o) = self.out_paths.get(&path) else {
                self.push(
                    ProblemKind::Edit,
                    format!("{path} ({}) should have been added", dict::display_name(ins.tag)),
                );
                continue;
            };
            self.seen[o] = true;
            if output.value(&output.elements[o]) != Some(&ins.value[..]) {
                self.push(
                    ProblemKind::Edit,
                    format!(
                        "{path} ({}) does not hold the planned value",
                        dict::display_name(ins.tag)
                    ),
                );
            }
        }
        let gl = crate::dicom::tags::FILE_META_INFORMATION_GROUP_LENGTH;
        let path = crate::dicom::tag_string(gl);
        let right = self.out_paths.get(&path).copied().is_some_and(|o| {
            self.seen[o] = true;
            let e = &output.elements[o];
            output
                .value(e)
                .is_some_and(|v| v.len() == 4 && u64::from(e.enc.u32(v)) == group_length(output, o))
        });
        if !right {
            self.push(
                ProblemKind::Edit,
                format!("{path} ({}) does not match its group", dict::display_name(gl)),
            );
        }
    }

    /// Whether the output has an element of group `group` in the data set that holds the
    /// element at `path` (the group length at `path` itself aside).
    fn group_written(&self, path: &str, group: u16) -> bool {
        let parent = path.rfind('/').map_or("", |k| &path[..=k]);
        let prefix = format!("{parent}({group:04X},");
        self.out_paths
            .keys()
            .any(|p| p.len() == parent.len() + 11 && p.starts_with(&prefix) && !p.ends_with(",0000)"))
    }

    /// Elements the plan adds (a repaired mask lacking `InstanceNumber`, say): there, with the
    /// planned value.
    fn inserted(&mut self) {
        let (output, plan) = (self.output, self.plan);
        for edit in plan.edits.iter().filter(|e| e.element == crate::plan::INSERTED) {
            let Some(&o) = self.out_paths.get(edit.path.as_str()) else {
                self.push(
                    ProblemKind::Edit,
                    format!("{} ({}) should have been added", edit.path, edit.keyword),
                );
                continue;
            };
            self.seen[o] = true;
            let oe = &output.elements[o];
            if oe.kind == ElementKind::Sequence {
                // An added sequence (the de-identification method codes): its content is
                // what the plan made; it has no counterpart in the input.
                let prefix = format!("{}[", edit.path);
                for (p, &j) in &self.out_paths {
                    if p.starts_with(&prefix) {
                        self.seen[j] = true;
                    }
                }
                continue;
            }
            let got = output
                .value(oe)
                .map(|v| text::decode(v, oe.value_vr(), &output.charset, oe.enc));
            if got.as_deref() != edit.after.as_deref() {
                self.push(
                    ProblemKind::Edit,
                    format!("{} ({}) does not hold the planned value", edit.path, edit.keyword),
                );
            }
        }
    }

    /// Elements of the output that neither the input nor the plan accounts for.
    fn unseen(&mut self) {
        let output = self.output;
        let seen = std::mem::take(&mut self.seen);
        for o in (0..seen.len()).filter(|&o| !seen[o]) {
            let oe = &output.elements[o];
            self.push(
                ProblemKind::Changed,
                format!(
                    "{} ({}) is in the output but not in the input",
                    output.path(o),
                    dict::display_name(oe.tag)
                ),
            );
        }
    }
}

/// The bytes taken by the elements of a group length element's group (itself excluded).
fn group_length(p: &Parsed, gl: usize) -> u64 {
    let g = &p.elements[gl];
    p.elements
        .iter()
        .enumerate()
        .filter(|(i, e)| *i != gl && e.parent == g.parent && e.tag.0 == g.tag.0)
        .map(|(_, e)| e.end - e.start)
        .sum()
}

/// Compares two byte ranges (pixel data) without loading them whole.
fn same_bytes(a: &Parsed, a_start: u64, b: &Parsed, b_start: u64, a_len: u64, b_len: u64) -> bool {
    if a_len != b_len {
        return false;
    }
    let mut buf_a = vec![0u8; 1 << 20];
    let mut buf_b = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < a_len {
        let n = ((a_len - off) as usize).min(buf_a.len());
        if a.read_at(a_start + off, &mut buf_a[..n]).is_err() || b.read_at(b_start + off, &mut buf_b[..n]).is_err() {
            return false;
        }
        if buf_a[..n] != buf_b[..n] {
            return false;
        }
        off += n as u64;
    }
    true
}

/// What kind of failure a dicom-rs read error is, in dams' words.
fn dicom_rs_kind(e: &dicom_object::ReadError) -> &'static str {
    use dicom_object::ReadError as E;
    match e {
        E::OpenFile { .. } | E::ReadFile { .. } => "the file cannot be opened or read",
        E::ReadPreambleBytes { .. } => "the preamble cannot be read",
        E::ParseMetaDataSet { .. } => "the file meta group cannot be parsed",
        E::PrematureEnd { .. } => "it ends too early",
        E::ParseSopAttribute { .. } => "a SOP attribute cannot be parsed",
        E::ReadUnrecognizedTransferSyntax { .. }
        | E::ReadUnsupportedTransferSyntax { .. }
        | E::ReadUnsupportedTransferSyntaxWithSuggestion { .. } => "its transfer syntax is not supported",
        E::CreateParser { .. } | E::ReadToken { .. } | E::UnexpectedToken { .. } | E::MissingElementValue { .. } => {
            "the data set cannot be parsed"
        }
        _ => "the data set cannot be read",
    }
}

/// An independent reader must be able to read the output: dicom-rs reads the output if it reads the input, and always when dams wrote the output as
/// a Part 10 file of a raw data set (`part10`; dicom-rs opens no raw data set as a file).
fn independent_read(input: &Path, output: &Path, dest: &Path, part10: bool, problems: &mut Vec<Problem>) {
    let open = |p: &Path| {
        dicom_object::OpenFileOptions::new()
            .read_until(crate::dicom::tags::PIXEL_DATA)
            .open_file(p)
            .map(|_| ())
    };
    if (part10 || open(input).is_ok())
        && let Err(e) = open(output)
    {
        problems.push(Problem {
            path: dest.to_path_buf(),
            kind: ProblemKind::DicomRs,
            // dicom-rs's own message may quote what it read (a tag's value, a VR, a UID): its
            // kind is enough to say what went wrong.
            detail: format!("dicom-rs cannot read the output ({})", dicom_rs_kind(&e)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::moved_by;

    /// A file ID is upper case; on disk each component may be in any case (a lowered copy
    /// whose patient folder was renamed to an upper-case code).
    #[test]
    fn a_dicomdir_record_names_its_file_in_any_case_component_by_component() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("P0001/st000000")).unwrap();
        std::fs::write(tmp.path().join("P0001/st000000/im1"), b"x").unwrap();
        let id = |c: &[&str]| c.iter().map(|c| (*c).to_string()).collect::<Vec<String>>();
        let mut names = super::FolderNames::default();
        assert!(names.has_file(tmp.path(), &id(&["P0001", "ST000000", "IM1"])));
        assert!(names.has_file(tmp.path(), &id(&["P0001", "st000000", "im1"])));
        assert!(!names.has_file(tmp.path(), &id(&["P0001", "ST000000", "IM2"])));
        assert!(
            !names.has_file(tmp.path(), &id(&["P0001", "ST000000"])),
            "a folder is no file"
        );
    }

    /// A record whose file ID leaves the folder (`/etc\\passwd`, `..`) names no file of it,
    /// though a file is there: it is missing, not found.
    #[test]
    fn a_dicomdir_record_outside_its_folder_names_a_missing_file() {
        use crate::dicom::dir::{Encoded, FileSet, Record, write};
        use crate::dicom::{VR, tags};
        let tmp = tempfile::tempdir().unwrap();
        let folder = tmp.path().join("out");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(tmp.path().join("IM1"), b"x").unwrap();
        std::fs::write(folder.join("IM2"), b"x").unwrap();
        let leaf = |id: &str| Record {
            kind: "IMAGE".into(),
            keys: vec![Encoded::text(tags::REFERENCED_FILE_ID, VR::CS, id)],
            children: Vec::new(),
        };
        let set = FileSet {
            instance_uid: "2.25.1",
            id: "",
            implementation: ("2.25.2", "DAMS"),
        };
        let bytes = write(&set, &[leaf("/etc\\passwd"), leaf("..\\IM1"), leaf("IM2")]).unwrap();
        std::fs::write(folder.join("DICOMDIR"), bytes).unwrap();
        let dicomdir = folder.join("DICOMDIR");
        let detail = super::dicomdir_missing(&super::parse_file(&dicomdir).unwrap(), &dicomdir).unwrap();
        assert!(detail.contains("2 of its 3"), "{detail}");
    }

    #[test]
    fn a_shifted_date_must_move_by_the_offset_exactly() {
        assert!(moved_by("20040119", "20040109", -10));
        assert!(moved_by("20040301", "20040229", -1), "across a leap day");
        assert!(moved_by("20040119101530.5+0100", "20040109101530.5+0100", -10));
        assert!(moved_by("20040119\\20040120", "20040109\\20040110", -10));
        assert!(!moved_by("20040119", "20040110", -10), "changed, but not by the offset");
        assert!(!moved_by("20040119", "20040119", -10), "not moved");
        assert!(!moved_by("20040119\\20040120", "20040109", -10), "a value lost");
        assert!(!moved_by("20040119", "garbage", -10));
        assert!(
            moved_by("20040119", "", -10),
            "emptied (not a date) is the plan's own warning"
        );
        assert!(
            moved_by("2004", "2001", -1000),
            "less than day precision is not held to it"
        );
    }
}

//! What a write leaves behind or does not do, in one list: identifiers still in the output
//! (by element and kind, with those the profile keeps on purpose apart), files that will not
//! be written and why, images that may show identifiers in their pixels, and the warnings of
//! single files. Every write path shows it from here, in the same words: the CLI's prompt and
//! report, `apply --json`, and the review screen's confirmation of one patient or of many.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::stream::{Mode, PlanSink, PlannedFile, PlannedXml};
use super::summary::{ResidualCount, Summary};
use super::{FileError, FilePlan, Planner};
use crate::matcher::IdentifierKind;
use crate::progress::Progress;
use crate::scan::{Index, Instance, Patient, XmlFile};

/// One warning text and how many files have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarningCount {
    pub warning: String,
    pub files: usize,
    /// The first file (in path order) that has it.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub first: PathBuf,
}

/// Files of the run that will not be written, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotWritten {
    /// Planned and failed (a value that cannot be encoded, a file changed since the scan).
    pub failed: usize,
    /// Could not be read at all.
    pub unreadable: usize,
    /// No patient was found for them (no PatientID): until assigned.
    pub unplaced: usize,
    /// XML files of no patient: until assigned.
    pub unassigned_xml: usize,
}

/// What stays: see the module's comment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stays {
    /// Elements that still hold an identifier the profile removes elsewhere.
    pub residual: Vec<ResidualCount>,
    /// Elements that hold an identifier the profile keeps on purpose (accession numbers and
    /// referring physicians under the default profile).
    pub kept: Vec<ResidualCount>,
    /// Images that may show identifiers in their pixels (`BurnedInAnnotation` YES; secondary
    /// captures and ultrasound that do not say NO), by reason.
    pub burned_in: Vec<WarningCount>,
    pub not_written: NotWritten,
    /// The warnings of single files, each text once with its count.
    pub warnings: Vec<WarningCount>,
}

impl Stays {
    /// From a summary of planned files (the review screen's).
    #[must_use]
    pub fn from_summary(s: &Summary, kept_kinds: &[IdentifierKind], failed: usize) -> Stays {
        let (mut kept, residual): (Vec<ResidualCount>, Vec<ResidualCount>) = s
            .residual
            .iter()
            .cloned()
            .partition(|r| kept_kinds.contains(&r.identifier));
        kept.extend(s.kept.iter().cloned());
        Stays {
            residual,
            kept,
            warnings: grouped(s.warnings.iter().map(|(f, w)| (PathBuf::from(f), w.clone()))),
            not_written: NotWritten {
                failed,
                ..NotWritten::default()
            },
            ..Stays::default()
        }
    }

    /// Adds what the index says of the run's patients (`only`, or all): burned-in images,
    /// unreadable and unplaced files, XML without a patient.
    pub fn with_index(mut self, index: &Index, planner: &Planner, only: Option<&BTreeSet<String>>) -> Stays {
        let in_run = |p: &Patient| only.is_none_or(|o| o.contains(&p.patient_id));
        let gated = planner.profile.annex_e.is_some() && !planner.accept_burned_in;
        self.burned_in = grouped(
            index
                .patients
                .iter()
                .filter(|p| in_run(p))
                .flat_map(crate::scan::Patient::instances)
                .filter_map(|i| planner.may_show_identifiers(i).map(|why| (i, why)))
                .map(|(i, why)| {
                    let then = if gated {
                        "not written under the Basic Profile unless approved in review or --accept-burned-in"
                    } else {
                        "its pixels may show identifiers, which no profile changes"
                    };
                    (i.path.clone(), format!("{why}: {then}"))
                }),
        );
        // Unreadable and unplaced files belong to no patient: a run of all patients counts
        // them, a run of some does not (they are not its files).
        if only.is_none() {
            self.not_written.unreadable = index.unreadable.iter().filter(|u| !u.kind.is_skipped()).count();
            self.not_written.unplaced = index.unplaced.len();
            self.not_written.unassigned_xml = planner.unassigned_xml.len();
        }
        self
    }

    /// Nothing to warn about.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.residual.is_empty()
            && self.kept.is_empty()
            && self.burned_in.is_empty()
            && self.warnings.is_empty()
            && self.not_written == NotWritten::default()
    }

    /// One line per warning, for people (no identifying value, only kinds, elements, paths
    /// and counts): what the CLI prints and the review screen lists.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let files = |n: usize| {
            if n == 1 {
                "1 file".to_string()
            } else {
                format!("{n} files")
            }
        };
        for r in &self.residual {
            out.push(format!(
                "{} {} still holds the {} in {}",
                r.element,
                r.keyword,
                r.identifier.label(),
                files(r.files)
            ));
        }
        for r in &self.kept {
            out.push(format!(
                "kept: {} {}, the {}, in {}",
                r.element,
                r.keyword,
                r.identifier.label(),
                files(r.files)
            ));
        }
        for b in &self.burned_in {
            out.push(format!("{} {}", files_named(b), b.warning));
        }
        let n = &self.not_written;
        for (count, why) in [
            (n.failed, "failed: see the plan or the report"),
            (n.unreadable, "could not be read (see `dams scan`)"),
            (n.unplaced, "have no patient until assigned (see `dams assign`)"),
        ] {
            if count > 0 {
                out.push(format!("not written, {}: {why}", files(count)));
            }
        }
        if n.unassigned_xml > 0 {
            let xml = match n.unassigned_xml {
                1 => "1 XML file".to_string(),
                k => format!("{k} XML files"),
            };
            out.push(format!(
                "not written, {xml}: no patient until assigned (see `dams xml`)"
            ));
        }
        for w in &self.warnings {
            out.push(format!("{}: {}", files_named(w), w.warning));
        }
        out
    }
}

/// `path` for one file, `path and N other files` for more.
fn files_named(w: &WarningCount) -> String {
    let first = crate::shown::path(&w.first);
    match w.files {
        1 => first,
        2 => format!("{first} and 1 other file"),
        n => format!("{first} and {} other files", n - 1),
    }
}

/// Each warning text once, with its count and first file.
fn grouped(items: impl Iterator<Item = (PathBuf, String)>) -> Vec<WarningCount> {
    let mut by: BTreeMap<String, (usize, PathBuf)> = BTreeMap::new();
    for (file, w) in items {
        let e = by.entry(w).or_insert_with(|| (0, file.clone()));
        e.0 += 1;
        if file < e.1 {
            e.1 = file;
        }
    }
    let mut out: Vec<WarningCount> = by
        .into_iter()
        .map(|(warning, (files, first))| WarningCount { warning, files, first })
        .collect();
    out.sort_by(|a, b| b.files.cmp(&a.files).then(a.first.cmp(&b.first)));
    out
}

/// Counts what the plans of a run leave, as the plans are made.
#[derive(Debug, Default)]
pub struct Tally {
    residual: BTreeMap<(String, IdentifierKind), (String, usize)>,
    /// What names keep on purpose ([`FilePlan::kept`]).
    kept: BTreeMap<(String, IdentifierKind), (String, usize)>,
    warnings: Vec<(PathBuf, String)>,
    failed: usize,
}

impl Tally {
    pub fn add(&mut self, plan: &FilePlan) {
        super::summary::count(&mut self.residual, &plan.residual);
        super::summary::count(&mut self.kept, &plan.kept);
        for w in &plan.warnings {
            self.warnings.push((plan.source.clone(), w.clone()));
        }
    }

    /// What an XML file's output path leaves (its content's findings are the plan's edits).
    pub fn add_xml(&mut self, plan: &super::XmlFilePlan) {
        super::summary::count(&mut self.residual, &plan.residual);
        super::summary::count(&mut self.kept, &plan.kept);
    }

    pub fn failed(&mut self) {
        self.failed += 1;
    }

    /// What stays, from the plans counted and the index.
    pub fn finish(self, index: &Index, planner: &Planner, only: Option<&BTreeSet<String>>) -> Stays {
        let kept_kinds = crate::residual::kept_on_purpose(&planner.profile);
        let (mut kept, residual): (Vec<ResidualCount>, Vec<ResidualCount>) = super::summary::counts(self.residual)
            .into_iter()
            .partition(|r| kept_kinds.contains(&r.identifier));
        kept.extend(super::summary::counts(self.kept));
        Stays {
            residual,
            kept,
            warnings: grouped(self.warnings.into_iter()),
            not_written: NotWritten {
                failed: self.failed,
                ..NotWritten::default()
            },
            ..Stays::default()
        }
        .with_index(index, planner, only)
    }
}

/// A sink that only counts.
struct Counting(Mutex<Tally>);

impl PlanSink for Counting {
    fn file(&self, _: &Patient, _: &Instance, planned: Result<PlannedFile, FileError>) {
        let Ok(mut t) = self.0.lock() else { return };
        match planned {
            Ok(p) => t.add(&p.plan),
            Err(_) => t.failed(),
        }
    }

    fn xml(&self, _: &Patient, _: &XmlFile, planned: Result<PlannedXml, FileError>) {
        let Ok(mut t) = self.0.lock() else { return };
        match planned {
            Ok(p) => t.add_xml(&p.plan),
            Err(_) => t.failed(),
        }
    }
}

/// Plans every file of the run (the patients in `only`, or all) as a review would, and says
/// what stays: what the CLI shows before it asks. Reads each file's header again; writes
/// nothing. `None` when cancelled.
pub fn check(
    index: &Index,
    planner: &Planner,
    only: Option<&BTreeSet<String>>,
    progress: Progress,
    cancel: &AtomicBool,
) -> Option<Stays> {
    let sink = Counting(Mutex::new(Tally::default()));
    if !super::stream(index, planner, only, Mode::Review, progress, cancel, &sink) {
        return None;
    }
    let tally = sink.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    Some(tally.finish(index, planner, only))
}

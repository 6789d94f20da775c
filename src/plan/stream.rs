//! The one stream of per-file plans: the files of the Index are read again and planned in
//! parallel, a batch of patients at a time (so memory follows the batch, not the cohort), and
//! each plan is handed to a sink as soon as it is made. `dams plan` prints what it gets,
//! apply writes it, verify checks the output against it: all three see the same plans.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;

use super::{FileError, FilePlan, PatientPlan, Planner, XmlFilePlan};
use crate::dicom::parse::Parsed;
use crate::progress::Progress;
use crate::scan::{Index, Instance, Patient, XmlFile};

/// What a plan is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// To be read: with the search for identifiers the profile leaves (plans, review, verify).
    Review,
    /// To be written: the edits only.
    Write,
}

/// One DICOM file read again and planned.
#[derive(Debug)]
pub struct PlannedFile {
    pub parsed: Parsed,
    pub meta: std::fs::Metadata,
    pub plan: FilePlan,
}

/// One XML file read (or mapped, when large) and planned: its bytes and its plan.
#[derive(Debug)]
pub struct PlannedXml {
    pub bytes: crate::xml::Source,
    pub plan: XmlFilePlan,
}

/// Where the plans go. Called from many threads at once.
pub trait PlanSink: Sync {
    /// A DICOM file of `patient`, planned (or why it could not be).
    fn file(&self, patient: &Patient, instance: &Instance, planned: Result<PlannedFile, FileError>);

    /// An XML file of `patient`, planned (or why it could not be).
    fn xml(&self, _patient: &Patient, _file: &XmlFile, _planned: Result<PlannedXml, FileError>) {}

    /// Every file of `patient` has been handed over (called in patient order, from one thread
    /// at a time).
    fn patient_done(&self, _patient: &Patient) {}
}

/// A batch of patients is planned together once it holds this many files (or one patient,
/// whatever its size): enough to keep every core busy, few enough to bound memory.
const BATCH_FILES: usize = 512;

/// Plans the files of every patient (or of those in `only`) and hands them to `sink`.
/// Returns false when cancelled (the sink has then seen only some files; `patient_done` only
/// for patients that were complete).
pub fn stream(
    index: &Index,
    planner: &Planner,
    only: Option<&BTreeSet<String>>,
    mode: Mode,
    progress: Progress,
    cancel: &AtomicBool,
    sink: &dyn PlanSink,
) -> bool {
    let patients: Vec<&Patient> = index
        .patients
        .iter()
        .filter(|p| only.is_none_or(|o| o.contains(&p.patient_id)))
        .collect();
    let total = patients.iter().map(|p| p.file_count()).sum();
    let done = AtomicUsize::new(0);
    progress(0, total);
    for batch in batches(&patients) {
        let files: Vec<(&Patient, &Instance)> =
            batch.iter().flat_map(|p| p.instances().map(move |i| (*p, i))).collect();
        files.par_iter().for_each(|(p, inst)| {
            if cancel.load(Ordering::Relaxed) {
                return;
            }
            sink.file(p, inst, planner.plan_instance(&index.root, inst, &p.patient_id, mode));
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
        });
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        let ids: BTreeSet<&str> = batch.iter().map(|p| p.patient_id.as_str()).collect();
        let xml: Vec<(&Patient, &XmlFile)> = index
            .xml
            .iter()
            .filter_map(|x| {
                let (owner, _) = planner.xml_owner(&x.path)?;
                ids.contains(owner)
                    .then(|| batch.iter().find(|p| p.patient_id == owner).map(|p| (*p, x)))
                    .flatten()
            })
            .collect();
        xml.par_iter().for_each(|(p, x)| {
            if cancel.load(Ordering::Relaxed) {
                return;
            }
            let planned = planner
                .plan_xml(&index.root, x)
                .map(|(bytes, plan)| PlannedXml { bytes, plan });
            sink.xml(p, x, planned);
        });
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        for p in batch {
            sink.patient_done(p);
        }
    }
    true
}

/// Consecutive patients, grouped until a group holds [`BATCH_FILES`] files.
fn batches<'a>(patients: &[&'a Patient]) -> Vec<Vec<&'a Patient>> {
    let mut out: Vec<Vec<&Patient>> = Vec::new();
    let mut files = 0;
    for p in patients {
        if out.is_empty() || files >= BATCH_FILES {
            out.push(Vec::new());
            files = 0;
        }
        files += p.file_count();
        if let Some(last) = out.last_mut() {
            last.push(p);
        }
    }
    out
}

/// A sink that keeps every patient's plan (for [`super::build`], and faces that show all).
pub struct Collect<'p> {
    planner: &'p Planner,
    open: Mutex<HashMap<String, PatientPlan>>,
    done: Mutex<Vec<PatientPlan>>,
}

impl<'p> Collect<'p> {
    pub fn new(planner: &'p Planner) -> Collect<'p> {
        Collect {
            planner,
            open: Mutex::new(HashMap::new()),
            done: Mutex::new(Vec::new()),
        }
    }

    /// The plans of the patients, in patient order.
    pub fn into_patients(self) -> Vec<PatientPlan> {
        self.done.into_inner().unwrap_or_default()
    }

    /// The whole plan of a patient whose files have all been handed over (for sinks that pass
    /// each patient on instead of keeping them all).
    pub fn take(&self, patient: &Patient) -> Option<PatientPlan> {
        let plan = self
            .open
            .lock()
            .ok()?
            .remove(&patient.patient_id)
            .unwrap_or_else(|| PatientPlan::empty(patient, self.planner));
        Some(plan.sorted())
    }

    fn with<R>(&self, patient: &Patient, f: impl FnOnce(&mut PatientPlan) -> R) -> Option<R> {
        let mut open = self.open.lock().ok()?;
        let plan = open
            .entry(patient.patient_id.clone())
            .or_insert_with(|| PatientPlan::empty(patient, self.planner));
        Some(f(plan))
    }
}

impl PlanSink for Collect<'_> {
    fn file(&self, patient: &Patient, _: &Instance, planned: Result<PlannedFile, FileError>) {
        self.with(patient, |p| match planned {
            Ok(f) => p.files.push(f.plan),
            Err(e) => p.failed.push(e),
        });
    }

    fn xml(&self, patient: &Patient, _: &XmlFile, planned: Result<PlannedXml, FileError>) {
        self.with(patient, |p| match planned {
            Ok(x) => p.xml.push(x.plan),
            Err(e) => p.failed.push(e),
        });
    }

    fn patient_done(&self, patient: &Patient) {
        if let Some(plan) = self.take(patient)
            && let Ok(mut done) = self.done.lock()
        {
            done.push(plan);
        }
    }
}

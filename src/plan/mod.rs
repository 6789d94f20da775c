//! The Plan: for every file, the exact edits (tag, before, after, rule) and its destination;
//! for the key, the entries it will need. Building a plan writes nothing.

pub mod dates;
pub mod summary;
pub mod uid;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::config::{Action, Profile};
use crate::dicom::parse::TOP;
use crate::dicom::parse::{ElementKind, Parsed, parse_file};
use crate::dicom::rewrite::{Change, Insert};
use crate::dicom::tags;
use crate::dicom::{VR, dict, tag_string, text};
use crate::key::{KeyStore, NewEntry};
use crate::link::{Links, Repair, StaleOverride};
use crate::residual::{Identifiers, Residual, residual_in};
use crate::review::Workspace;
use crate::scan::{Index, Instance, Progress, Unreadable};

/// `Edit::element` of an element that is added rather than changed.
pub(crate) const INSERTED: usize = usize::MAX;

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
    pub rule: String,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Identifying values of the patient that the profile leaves in place.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub residual: Vec<Residual>,
    /// Elements added (a repaired mask lacking InstanceNumber, say).
    #[serde(skip)]
    pub(crate) inserts: Vec<Insert>,
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
    /// The original PatientID.
    pub patient_id: String,
    pub code: String,
    /// True when the code is new and will be added to the key store on apply.
    pub new_code: bool,
    pub files: Vec<FilePlan>,
    /// The patient's XML sidecars.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub xml: Vec<XmlFilePlan>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FileError>,
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
    identifiers: BTreeMap<String, Identifiers>,
    /// Tag repairs of per-slice mask files, by relative path.
    repairs: std::collections::HashMap<PathBuf, Repair>,
    /// The segmentation links in force (for the mapping table apply writes).
    pub links: Option<std::sync::Arc<Links>>,
    /// The patient of each assigned XML file (automatic or by hand), and how.
    xml_owner: BTreeMap<PathBuf, (String, String)>,
    /// Per patient: what replaces their identifiers in XML.
    xml_contexts: BTreeMap<String, crate::xml::XmlContext>,
    pub unassigned_xml: Vec<UnassignedXml>,
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
    let mut links = crate::link::resolve(index);
    let stale = links.apply_overrides(&ws.links);
    let mode = profile.segmentation.repair;
    let repairs = links.repairs(&key.secret(), |g| {
        let wanted = match mode {
            crate::config::Repair::Flagged => g.needs_repair(),
            crate::config::Repair::All => g.repairable(),
            crate::config::Repair::None => false,
        };
        wanted && !ws.no_repair.contains(&g.key)
    });
    let mut planner = Planner::new(index, profile, key);
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
    let coded: Vec<(String, &crate::scan::Identity, String)> = index
        .patients
        .iter()
        .filter_map(|p| {
            planner
                .code(&p.patient_id)
                .map(|c| (p.patient_id.clone(), &p.identity, c.to_string()))
        })
        .collect();
    let all = crate::xml::XmlContext::for_patients("", coded.iter().map(|(_, i, c)| (c.as_str(), *i)));
    for (pid, _, code) in &coded {
        planner.xml_contexts.insert(pid.clone(), all.with_code(code));
    }
    Prepared {
        planner,
        links,
        stale,
        stale_xml,
    }
}

impl Planner {
    pub fn new(index: &Index, profile: Profile, key: &KeyStore) -> Planner {
        let patients: Vec<(String, String, String)> = index
            .patients
            .iter()
            .map(|p| {
                (
                    p.patient_id.clone(),
                    p.identity.name().to_string(),
                    p.identity.birth_date().to_string(),
                )
            })
            .collect();
        let new_entries = key.propose(&patients);
        let mut codes = BTreeMap::new();
        for p in &index.patients {
            if let Some(c) = key.code_for(&p.patient_id) {
                codes.insert(p.patient_id.clone(), c.to_string());
            }
        }
        for e in &new_entries {
            codes.insert(e.patient_id.clone(), e.code.clone());
        }
        let identifiers = index
            .patients
            .iter()
            .map(|p| (p.patient_id.clone(), Identifiers::new(&p.identity)))
            .collect();
        Planner {
            profile,
            codes,
            new_entries,
            identifiers,
            repairs: Default::default(),
            links: None,
            xml_owner: BTreeMap::new(),
            xml_contexts: BTreeMap::new(),
            unassigned_xml: Vec::new(),
        }
    }

    pub fn code(&self, patient_id: &str) -> Option<&str> {
        self.codes.get(patient_id).map(String::as_str)
    }

    /// Where a file or folder (relative to the input) goes, relative to the output.
    pub fn dest(&self, rel: &Path) -> PathBuf {
        rel.to_path_buf()
    }

    /// The UID an original UID has in the output.
    pub fn output_uid(&self, original: &str) -> String {
        original.to_string()
    }

    /// The patient of an XML file, and how it was decided; `None` while unassigned.
    pub fn xml_owner(&self, rel: &Path) -> Option<(&str, &str)> {
        self.xml_owner.get(rel).map(|(p, by)| (p.as_str(), by.as_str()))
    }

    /// Reads and plans an XML file of an assigned patient.
    pub fn plan_xml(&self, root: &Path, x: &crate::scan::XmlFile) -> Result<(Vec<u8>, XmlFilePlan), FileError> {
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
        let bytes = std::fs::read(root.join(&x.path)).map_err(|e| fail(format!("cannot read: {e}")))?;
        let plan = crate::xml::plan(&bytes, &self.profile.xml, ctx).map_err(|e| fail(format!("XML: {e}")))?;
        let fp = XmlFilePlan {
            source: x.path.clone(),
            dest: self.dest(&x.path),
            assigned_by: by.to_string(),
            plan,
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
    pub fn plan_file(&self, root: &Path, inst: &Instance, patient_id: &str) -> Result<(Parsed, FilePlan), FileError> {
        let parsed = parse_file(&root.join(&inst.path)).map_err(|e| FileError {
            path: inst.path.clone(),
            reason: e.to_string(),
        })?;
        let mut plan = self.plan_parsed(&parsed, &inst.path, patient_id)?;
        if inst.adopted {
            plan.warnings
                .push("the file has no PatientID; it was given to the patient whose files share its folder".into());
        }
        Ok((parsed, plan))
    }

    /// Plans an already parsed file.
    pub fn plan_parsed(&self, parsed: &Parsed, rel: &Path, patient_id: &str) -> Result<FilePlan, FileError> {
        let fail = |reason: String| FileError {
            path: rel.to_path_buf(),
            reason,
        };
        let code = self
            .code(patient_id)
            .ok_or_else(|| fail("internal: the patient has no code".into()))?;
        let mut edits = Vec::new();
        let mut warnings = Vec::new();
        for (i, e) in parsed.elements.iter().enumerate() {
            let Some(rule) = self.profile.rule(e.tag) else { continue };
            let vr = e.value_vr();
            let before = match e.kind {
                ElementKind::Value => parsed.value(e).map(|v| text::decode(v, vr, &parsed.charset, e.enc)),
                ElementKind::Sequence => Some(format!("<sequence of {} items>", parsed.items_of(i).count())),
                ElementKind::Bulk | ElementKind::Encapsulated => Some(format!("<{} bytes>", e.value_len())),
            };
            let after: Option<String> = match &rule.action {
                Action::Keep => continue,
                Action::Remove => None,
                Action::Empty => Some(String::new()),
                Action::Code => Some(code.to_string()),
                Action::Replace(s) => Some(s.clone()),
                Action::KeepYear => {
                    let old = before.clone().unwrap_or_default();
                    if old.is_empty() {
                        continue;
                    }
                    let masked: Option<Vec<String>> = old.split('\\').map(dates::keep_year).collect();
                    match masked {
                        Some(parts) => Some(parts.join("\\")),
                        None => {
                            warnings.push(format!(
                                "{} ({}) is not a date; it is emptied instead of keeping its year",
                                parsed.path(i),
                                dict::display_name(e.tag)
                            ));
                            Some(String::new())
                        }
                    }
                }
            };
            let change = match &after {
                None => Change::Remove,
                Some(s) => {
                    if e.kind != ElementKind::Value && !s.is_empty() {
                        return Err(fail(format!(
                            "{} holds {} and cannot be given a text value",
                            parsed.path(i),
                            before.as_deref().unwrap_or("data")
                        )));
                    }
                    let enc_vr = if vr == VR::UN { e.vr } else { vr };
                    let bytes = if s.is_empty() {
                        Vec::new()
                    } else {
                        text::encode(s, enc_vr, &parsed.charset)
                            .map_err(|m| fail(format!("{}: {m}", parsed.path(i))))?
                    };
                    // Unchanged bytes are no edit (e.g. a second run over pseudonymised data).
                    if e.kind == ElementKind::Value && parsed.value(e) == Some(&bytes[..]) {
                        continue;
                    }
                    Change::Set(bytes)
                }
            };
            edits.push(Edit {
                path: parsed.path(i),
                tag: tag_string(e.tag),
                keyword: dict::display_name(e.tag).to_string(),
                before,
                after,
                rule: rule.action.name().to_string(),
                element: i,
                change,
            });
        }
        let mut inserts = Vec::new();
        if let Some(r) = self.repairs.get(rel) {
            self.plan_repair(parsed, r, &mut edits, &mut inserts).map_err(fail)?;
        }
        let residual = match self.identifiers.get(patient_id) {
            Some(ids) => {
                let edited: Vec<usize> = edits.iter().map(|e| e.element).collect();
                residual_in(parsed, rel, ids, &edited)
            }
            None => Vec::new(),
        };
        Ok(FilePlan {
            source: rel.to_path_buf(),
            dest: self.dest(rel),
            edits,
            warnings,
            residual,
            inserts,
        })
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
                        rule: "repair".into(),
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
                        rule: "repair".into(),
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
    pub fn changes(plan: &FilePlan) -> Vec<(usize, Change)> {
        plan.edits
            .iter()
            .filter(|e| e.element != INSERTED)
            .map(|e| (e.element, e.change.clone()))
            .collect()
    }

    /// The elements to add.
    pub fn inserts(plan: &FilePlan) -> &[Insert] {
        &plan.inserts
    }
}

/// Plans every file of the Index (reading headers again, in parallel).
pub fn build(index: &Index, planner: &Planner, progress: Progress, cancel: &AtomicBool) -> Option<Plan> {
    let total = index.file_count();
    let done = AtomicUsize::new(0);
    let mut patients = Vec::new();
    for p in &index.patients {
        let code = planner.code(&p.patient_id).unwrap_or_default().to_string();
        let insts: Vec<&Instance> = p.instances().collect();
        let results: Vec<Result<FilePlan, FileError>> = insts
            .par_iter()
            .map(|inst| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(FileError {
                        path: inst.path.clone(),
                        reason: "cancelled".into(),
                    });
                }
                let r = planner.plan_file(&index.root, inst, &p.patient_id).map(|(_, fp)| fp);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                r
            })
            .collect();
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        let mut files = Vec::new();
        let mut failed = Vec::new();
        for r in results {
            match r {
                Ok(f) => files.push(f),
                Err(e) => failed.push(e),
            }
        }
        files.sort_by(|a, b| a.source.cmp(&b.source));
        let mut xml = Vec::new();
        for x in index
            .xml
            .iter()
            .filter(|x| planner.xml_owner(&x.path).map(|o| o.0) == Some(p.patient_id.as_str()))
        {
            match planner.plan_xml(&index.root, x) {
                Ok((_, fp)) => xml.push(fp),
                Err(e) => failed.push(e),
            }
        }
        patients.push(PatientPlan {
            new_code: planner.is_new(&p.patient_id),
            patient_id: p.patient_id.clone(),
            code,
            files,
            xml,
            failed,
        });
    }
    Some(Plan {
        profile: planner.profile.name.clone(),
        patients,
        unassigned_xml: planner.unassigned_xml.clone(),
        unreadable: index.unreadable.clone(),
        new_key_entries: planner.new_entries.clone(),
    })
}

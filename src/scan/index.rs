//! The Index: what is in a scanned folder — patients → studies → series → instances, and the
//! files that could not be read, with the reason. Kept sorted so that it can be filled
//! incrementally (the TUI shows it while the scan runs) and still be deterministic.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::header::{FileIdentity, Header, Instance};

/// A file that could not be handled, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// Relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    /// `not-dicom`, `empty`, `truncated`, `malformed`, `unsupported`, `io`, `dicomdir`,
    /// `no-patient-id`, `symlink`.
    pub kind: String,
    pub reason: String,
}

/// The identifying values seen for one patient across all their files. Kept in memory only,
/// used for codes, the key store and the residual-identifier scan; never logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub ids: BTreeSet<String>,
    pub names: BTreeSet<String>,
    pub birth_dates: BTreeSet<String>,
    pub other_ids: BTreeSet<String>,
    pub other_names: BTreeSet<String>,
    pub accession_numbers: BTreeSet<String>,
    pub physicians: BTreeSet<String>,
}

impl Identity {
    fn add(&mut self, f: &FileIdentity) {
        let put = |set: &mut BTreeSet<String>, v: &str| {
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
    }

    /// The first name seen (for the key store's re-identification record).
    pub fn name(&self) -> &str {
        self.names.iter().next().map(String::as_str).unwrap_or("")
    }

    pub fn birth_date(&self) -> &str {
        self.birth_dates.iter().next().map(String::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub series_uid: String,
    /// Modality, description and number are those of the file with the first path (in byte
    /// order), so that they do not depend on which file the scan read first.
    pub modality: String,
    pub description: String,
    pub number: Option<i64>,
    pub instances: Vec<Instance>,
    /// The file the fields above come from.
    #[serde(skip)]
    fields_from: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Study {
    pub study_uid: String,
    /// Date and description are those of the file with the first path (in byte order).
    pub date: String,
    pub description: String,
    pub series: Vec<Series>,
    /// The file the fields above come from.
    #[serde(skip)]
    fields_from: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Patient {
    /// The original PatientID: the key under which the patient's code is stored.
    pub patient_id: String,
    #[serde(skip)]
    pub identity: Identity,
    pub studies: Vec<Study>,
}

impl Patient {
    pub fn series(&self) -> impl Iterator<Item = &Series> {
        self.studies.iter().flat_map(|s| s.series.iter())
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.series().flat_map(|s| s.instances.iter())
    }

    pub fn file_count(&self) -> usize {
        self.series().map(|s| s.instances.len()).sum()
    }
}

/// Which patient an XML file belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum XmlAssignment {
    /// Not decided yet (the scan is still running).
    Pending,
    /// `by` says how: the patient's ID or name found in it, its folder, or by hand.
    Assigned { patient_id: String, by: String },
    /// Not written until the user assigns it.
    Unassigned { reason: String },
}

/// An XML file found by the scan (tool logs, exports, reports beside the images).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct XmlFile {
    /// Relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    #[serde(skip)]
    pub size: u64,
    #[serde(skip)]
    pub modified: Option<std::time::SystemTime>,
    /// The automatic assignment (manual ones are applied when planning).
    pub assignment: XmlAssignment,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Index {
    #[serde(skip)]
    #[serde(serialize_with = "crate::paths::lossy")]
    pub root: PathBuf,
    pub patients: Vec<Patient>,
    pub xml: Vec<XmlFile>,
    pub unreadable: Vec<Unreadable>,
    /// Files without a PatientID, waiting for [`Index::adopt_orphans`].
    #[serde(skip)]
    orphans: Vec<Header>,
    /// Values many instances share, held once (see [`Interner`]).
    #[serde(skip)]
    shared: Interner,
}

/// Keeps one copy of each SOP class, transfer syntax, frame of reference and image type:
/// a series' files nearly always share them, and the index holds every file of the tree.
#[derive(Debug, Clone, Default)]
struct Interner {
    strs: HashSet<Arc<str>>,
    types: HashSet<Arc<[String]>>,
}

impl Interner {
    fn str(&mut self, v: &mut Arc<str>) {
        match self.strs.get(&**v) {
            Some(known) => *v = known.clone(),
            None => {
                self.strs.insert(v.clone());
            }
        }
    }

    fn instance(&mut self, i: &mut Instance) {
        self.str(&mut i.sop_class_uid);
        self.str(&mut i.transfer_syntax);
        self.str(&mut i.frame_of_reference_uid);
        match self.types.get(&*i.image_type) {
            Some(known) => i.image_type = known.clone(),
            None => {
                self.types.insert(i.image_type.clone());
            }
        }
    }
}

impl Index {
    pub fn new(root: &Path) -> Index {
        Index {
            root: root.to_path_buf(),
            ..Index::default()
        }
    }

    /// Adds one file's header, keeping everything sorted (patients by ID, studies and
    /// series by UID, instances by path). A file without PatientID waits for
    /// [`Index::adopt_orphans`].
    pub fn add(&mut self, mut h: Header) {
        self.shared.instance(&mut h.instance);
        if h.identity.patient_id.is_empty() {
            self.orphans.push(h);
            return;
        }
        let pid = h.identity.patient_id.clone();
        let pi = match self.patients.binary_search_by(|p| p.patient_id.as_str().cmp(&pid)) {
            Ok(i) => i,
            Err(i) => {
                self.patients.insert(
                    i,
                    Patient {
                        patient_id: pid,
                        identity: Identity::default(),
                        studies: Vec::new(),
                    },
                );
                i
            }
        };
        let patient = &mut self.patients[pi];
        patient.identity.add(&h.identity);

        let si = match patient
            .studies
            .binary_search_by(|s| s.study_uid.as_str().cmp(&h.study_uid))
        {
            Ok(i) => i,
            Err(i) => {
                patient.studies.insert(
                    i,
                    Study {
                        study_uid: h.study_uid.clone(),
                        date: h.study_date.clone(),
                        description: h.study_description.clone(),
                        series: Vec::new(),
                        fields_from: h.instance.path.clone(),
                    },
                );
                i
            }
        };
        let study = &mut patient.studies[si];
        // Files of one study or series may disagree; the scan adds them in whatever order its
        // threads finish, so the first path decides, not the first file read.
        if h.instance.path.as_os_str() < study.fields_from.as_os_str() {
            study.date.clone_from(&h.study_date);
            study.description.clone_from(&h.study_description);
            study.fields_from.clone_from(&h.instance.path);
        }
        let ri = match study
            .series
            .binary_search_by(|s| s.series_uid.as_str().cmp(&h.series_uid))
        {
            Ok(i) => i,
            Err(i) => {
                study.series.insert(
                    i,
                    Series {
                        series_uid: h.series_uid.clone(),
                        modality: h.modality.clone(),
                        description: h.series_description.clone(),
                        number: h.series_number,
                        instances: Vec::new(),
                        fields_from: h.instance.path.clone(),
                    },
                );
                i
            }
        };
        let series = &mut study.series[ri];
        if h.instance.path.as_os_str() < series.fields_from.as_os_str() {
            series.modality.clone_from(&h.modality);
            series.description.clone_from(&h.series_description);
            series.number = h.series_number;
            series.fields_from.clone_from(&h.instance.path);
        }
        let at = series
            .instances
            // Byte order of the path: much cheaper than Path's component-wise order.
            .binary_search_by(|x| x.path.as_os_str().cmp(h.instance.path.as_os_str()))
            .unwrap_or_else(|i| i);
        series.instances.insert(at, h.instance);
    }

    /// Gives each file without a PatientID to the patient whose files share its folder
    /// (the nearest folder up that holds files of exactly one patient). Segmentation tools
    /// often leave the ID out; dropping their files would lose the masks. A file whose folder
    /// holds several patients, or none, cannot be given a code and is reported instead.
    pub fn adopt_orphans(&mut self) {
        let mut orphans = std::mem::take(&mut self.orphans);
        // In path order, not in the order the scan's threads happened to finish.
        orphans.sort_by(|a, b| a.instance.path.cmp(&b.instance.path));
        for mut h in orphans {
            let mut owner: Result<Option<String>, ()> = Ok(None);
            let mut dir = h.instance.path.parent();
            while let Some(d) = dir {
                let owners: BTreeSet<&str> = self
                    .patients
                    .iter()
                    .filter(|p| p.instances().any(|i| i.path.starts_with(d)))
                    .map(|p| p.patient_id.as_str())
                    .collect();
                match owners.len() {
                    0 => dir = d.parent(),
                    1 => {
                        owner = Ok(owners.into_iter().next().map(str::to_string));
                        break;
                    }
                    _ => {
                        owner = Err(());
                        break;
                    }
                }
            }
            match owner {
                Ok(Some(pid)) => {
                    h.identity.patient_id = pid;
                    h.instance.adopted = true;
                    self.add(h);
                }
                Ok(None) => self.add_unreadable(Unreadable {
                    path: h.instance.path,
                    kind: "no-patient-id".into(),
                    reason: "no PatientID (0010,0020), and no other patient's files beside it to take it from".into(),
                }),
                Err(()) => self.add_unreadable(Unreadable {
                    path: h.instance.path,
                    kind: "no-patient-id".into(),
                    reason: "no PatientID (0010,0020), and the nearest folder with other files holds several patients"
                        .into(),
                }),
            }
        }
    }

    pub fn add_xml(&mut self, x: XmlFile) {
        let at = self.xml.binary_search_by(|y| y.path.cmp(&x.path)).unwrap_or_else(|i| i);
        self.xml.insert(at, x);
    }

    /// Completes an Index once every file is in: files without a PatientID are adopted,
    /// XML files assigned (those that are not well-formed XML become unreadable rows).
    pub fn finish(&mut self) {
        use rayon::prelude::*;
        self.adopt_orphans();
        // Instances were inserted one by one: give back what the vectors grew in advance.
        for series in self
            .patients
            .iter_mut()
            .flat_map(|p| &mut p.studies)
            .flat_map(|s| &mut s.series)
        {
            series.instances.shrink_to_fit();
        }
        self.shared = Interner::default();
        if self.xml.is_empty() {
            return;
        }
        let results: Vec<Result<XmlAssignment, Unreadable>> = {
            let assigner = crate::xml::Assigner::new(self);
            let root = &self.root;
            self.xml
                .par_iter()
                .map(|x| {
                    let fail = |kind: &str, reason: String| Unreadable {
                        path: x.path.clone(),
                        kind: kind.into(),
                        reason,
                    };
                    let bytes =
                        std::fs::read(root.join(&x.path)).map_err(|e| fail("io", format!("cannot read file: {e}")))?;
                    match assigner.assign(&x.path, &bytes) {
                        Ok(crate::xml::Assignment::Assigned { patient_id, evidence }) => Ok(XmlAssignment::Assigned {
                            patient_id,
                            by: evidence.to_string(),
                        }),
                        Ok(crate::xml::Assignment::Unassigned { reason }) => Ok(XmlAssignment::Unassigned {
                            reason: reason.to_string(),
                        }),
                        Err(e) => Err(fail("malformed-xml", format!("XML: {e}"))),
                    }
                })
                .collect()
        };
        let mut kept = Vec::new();
        for (mut x, r) in std::mem::take(&mut self.xml).into_iter().zip(results) {
            match r {
                Ok(a) => {
                    x.assignment = a;
                    kept.push(x);
                }
                Err(u) => self.add_unreadable(u),
            }
        }
        self.xml = kept;
    }

    pub fn add_unreadable(&mut self, u: Unreadable) {
        let at = self
            .unreadable
            .binary_search_by(|x| x.path.cmp(&u.path))
            .unwrap_or_else(|i| i);
        self.unreadable.insert(at, u);
    }

    pub fn patient(&self, patient_id: &str) -> Option<&Patient> {
        self.patients
            .binary_search_by(|p| p.patient_id.as_str().cmp(patient_id))
            .ok()
            .map(|i| &self.patients[i])
    }

    pub fn file_count(&self) -> usize {
        self.patients.iter().map(Patient::file_count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::header::FileIdentity;

    fn header(path: &str, study: (&str, &str), series: (&str, &str, Option<i64>), pid: &str) -> Header {
        Header {
            identity: FileIdentity {
                patient_id: pid.into(),
                ..FileIdentity::default()
            },
            study_uid: "1.2.3".into(),
            study_date: study.0.into(),
            study_description: study.1.into(),
            series_uid: "1.2.3.4".into(),
            series_number: series.2,
            series_description: series.1.into(),
            modality: series.0.into(),
            instance: Instance {
                path: PathBuf::from(path),
                size: 0,
                modified: None,
                sop_instance_uid: format!("1.2.3.4.{}", path.len()),
                sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
                transfer_syntax: "".into(),
                frame_of_reference_uid: "".into(),
                instance_number: None,
                series_number: series.2,
                image_position: None,
                image_orientation: None,
                image_type: Vec::new().into(),
                number_of_frames: 1,
                adopted: false,
                references: Vec::new(),
                referenced_series: Vec::new(),
            },
        }
    }

    /// Files of one study and series that disagree on its fields give the same Index in
    /// whichever order the scan's threads deliver them.
    #[test]
    fn disagreeing_files_give_the_same_index_in_any_order() {
        let files = [
            header("b/2.dcm", ("20210101", "LATER"), ("MR", "second", Some(2)), "P1"),
            header("a/1.dcm", ("20200101", "FIRST"), ("CT", "first", Some(1)), "P1"),
            header("c/3.dcm", ("20220101", "LAST"), ("PT", "third", None), "P1"),
            // An orphan (no PatientID) adopted from the folder's only patient.
            header("a/0.dcm", ("19990101", "ORPHAN"), ("OT", "orphan", Some(9)), ""),
        ];
        let mut seen = Vec::new();
        for order in [[0, 1, 2, 3], [1, 0, 3, 2], [3, 2, 1, 0], [2, 3, 0, 1]] {
            let mut index = Index::new(Path::new("/in"));
            for i in order {
                index.add(files[i].clone());
            }
            index.finish();
            seen.push(serde_json::to_value(&index).unwrap());
        }
        assert!(seen.iter().all(|v| *v == seen[0]), "{seen:#?}");
        let study = &seen[0]["patients"][0]["studies"][0];
        assert_eq!(study["date"], "19990101");
        assert_eq!(study["series"][0]["modality"], "OT");
        assert_eq!(study["series"][0]["instances"].as_array().unwrap().len(), 4);
    }

    /// Files that share a SOP class, transfer syntax, frame of reference and image type hold
    /// one copy of each between them, and keep their own values where they differ.
    #[test]
    fn shared_values_are_held_once() {
        let mut index = Index::new(Path::new("/in"));
        for (path, kind) in [("a/1.dcm", "ORIGINAL"), ("a/2.dcm", "ORIGINAL"), ("a/3.dcm", "DERIVED")] {
            let mut h = header(path, ("20200101", ""), ("CT", "", Some(1)), "P1");
            // Fresh allocations per file, as the scan makes them.
            h.instance.frame_of_reference_uid = String::from("1.2.9").into();
            h.instance.image_type = vec![kind.to_string(), "PRIMARY".to_string()].into();
            index.add(h);
        }
        index.finish();
        let i: Vec<&Instance> = index.patients[0].instances().collect();
        assert_eq!(i.len(), 3);
        assert!(Arc::ptr_eq(&i[0].sop_class_uid, &i[1].sop_class_uid));
        assert!(Arc::ptr_eq(&i[0].frame_of_reference_uid, &i[2].frame_of_reference_uid));
        assert!(Arc::ptr_eq(&i[0].image_type, &i[1].image_type));
        assert!(!Arc::ptr_eq(&i[0].image_type, &i[2].image_type));
        assert_eq!(&*i[2].image_type, ["DERIVED".to_string(), "PRIMARY".to_string()]);
        assert_eq!(&*i[1].frame_of_reference_uid, "1.2.9");
    }
}

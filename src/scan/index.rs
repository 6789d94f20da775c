//! The Index: what is in a scanned folder — patients → studies → series → instances, and the
//! files that could not be read, with the reason. Kept sorted so that it can be filled
//! incrementally (the TUI shows it while the scan runs) and still be deterministic.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::header::{Header, Instance, Placement};
use crate::identity::normal_name;
pub use crate::identity::{Formed, Identity, formed, label, name_key, name_study_key, real_id, study_key};

/// A file that could not be handled, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// Relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub kind: UnreadableKind,
    pub reason: String,
}

/// Why a file could not be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnreadableKind {
    /// An empty file.
    Empty,
    /// Neither DICOM nor XML (a note, a spreadsheet, an archive): skipped.
    NotDicom,
    /// Declared lengths run past the end of the file.
    Truncated,
    /// DICOM that breaks its own rules (invalid VR, items that never end, …).
    Malformed,
    /// An XML file that is not well-formed.
    MalformedXml,
    /// A transfer syntax dams cannot read.
    Unsupported,
    /// The file or folder could not be read (permissions, I/O errors).
    Io,
    /// A DICOMDIR (media directory): not copied; apply writes a new one for the output
    /// (`apply::dicomdir`).
    Dicomdir,
    /// A symbolic link that is not followed (outside the folder, broken, a loop, a repeat).
    Symlink,
    /// A FIFO, socket or device: never read.
    Special,
}

impl UnreadableKind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            UnreadableKind::Empty => "empty",
            UnreadableKind::NotDicom => "not-dicom",
            UnreadableKind::Truncated => "truncated",
            UnreadableKind::Malformed => "malformed",
            UnreadableKind::MalformedXml => "malformed-xml",
            UnreadableKind::Unsupported => "unsupported",
            UnreadableKind::Io => "io",
            UnreadableKind::Dicomdir => "dicomdir",
            UnreadableKind::Symlink => "symlink",
            UnreadableKind::Special => "special",
        }
    }

    /// A file that is not an image or a sidecar dams handles (not DICOM or XML, a DICOMDIR, a
    /// link it does not follow, a special file): skipped, and listed, but not a failure. The
    /// others are damaged or unreadable files that may hold images: a failure.
    #[must_use]
    pub fn is_skipped(self) -> bool {
        matches!(
            self,
            UnreadableKind::Empty
                | UnreadableKind::NotDicom
                | UnreadableKind::Dicomdir
                | UnreadableKind::Symlink
                | UnreadableKind::Special
        )
    }

    /// The kind of a file the DICOM reader refused.
    #[must_use]
    pub fn of(e: &crate::dicom::ParseError) -> UnreadableKind {
        use crate::dicom::ParseError;
        match e {
            ParseError::Io(_) => UnreadableKind::Io,
            ParseError::Empty => UnreadableKind::Empty,
            ParseError::NotDicom => UnreadableKind::NotDicom,
            ParseError::Truncated { .. } => UnreadableKind::Truncated,
            ParseError::Malformed { .. } | ParseError::TooDeep | ParseError::Deflate(_) => UnreadableKind::Malformed,
            ParseError::UnsupportedTransferSyntax(_) => UnreadableKind::Unsupported,
        }
    }
}

impl std::fmt::Display for UnreadableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub series_uid: String,
    /// Modality, description and number are those of the file with the first path (in byte
    /// order), so that they do not depend on which file the scan read first. Files with a
    /// `PatientID` of their own decide them before files placed without one.
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
    /// Date and description are those of the file with the first path (in byte order),
    /// files with a `PatientID` of their own first.
    pub date: String,
    pub description: String,
    pub series: Vec<Series>,
    /// The file the fields above come from.
    #[serde(skip)]
    fields_from: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Patient {
    /// The key under which the patient's code is stored: the original `PatientID`, or for a
    /// patient formed from files without one, a key made from name and birth date or from
    /// the study (starting with `\`, see [`Patient::formed`]).
    pub patient_id: String,
    /// Everything identifying found in the patient's files (placed ones included). Shared:
    /// the planner holds the same (a copy was 2.7 KiB a patient).
    pub identity: Arc<Identity>,
    pub studies: Vec<Study>,
    /// What the files with the patient's own `PatientID` say (placement starts from it), once
    /// a placed file has added to `identity`; until then it is `identity` (not a second copy).
    base_identity: Option<Arc<Identity>>,
}

impl Serialize for Patient {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Patient", 4)?;
        st.serialize_field("patient_id", self.real_id())?;
        st.serialize_field("patient_key", &self.patient_id)?;
        st.serialize_field("formed_by", &self.formed())?;
        st.serialize_field("studies", &self.studies)?;
        st.end()
    }
}

impl Patient {
    /// A patient with no files yet.
    #[must_use]
    pub fn new(key: &str) -> Patient {
        Patient {
            patient_id: key.to_string(),
            identity: Arc::default(),
            studies: Vec::new(),
            base_identity: None,
        }
    }

    /// What the files with the patient's own PatientID say.
    fn base_identity(&self) -> &Identity {
        self.base_identity.as_ref().unwrap_or(&self.identity)
    }

    pub fn series(&self) -> impl Iterator<Item = &Series> {
        self.studies.iter().flat_map(|s| s.series.iter())
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.series().flat_map(|s| s.instances.iter())
    }

    #[must_use]
    pub fn file_count(&self) -> usize {
        self.series().map(|s| s.instances.len()).sum()
    }

    #[must_use]
    pub fn formed(&self) -> Formed {
        formed(&self.patient_id)
    }

    /// The `PatientID` the files carry ("" for a patient formed without one).
    #[must_use]
    pub fn real_id(&self) -> &str {
        real_id(&self.patient_id)
    }

    /// How the patient is shown to people: the `PatientID`, or what the patient was formed by.
    #[must_use]
    pub fn label(&self) -> String {
        label(&self.patient_id)
    }

    /// Why the patient's files look like dams output already (a code for them would be a code
    /// of a code), if they do: files that say dams de-identified them, or a `PatientID` that
    /// is a code of `key` and no patient of its own there. The one rule of scan, plan and the
    /// review screen: the default profile's output says nothing of itself, only its codes do.
    #[must_use]
    pub fn looks_pseudonymised(&self, key: &crate::key::KeyStore) -> Option<String> {
        if self.identity.dams_output_files > 0 {
            return Some(format!(
                "{} of its files say they were de-identified by dams",
                self.identity.dams_output_files
            ));
        }
        let id = self.real_id();
        (!id.is_empty() && key.code_for(&self.patient_id).is_none() && key.entry_by_code(id).is_some())
            .then(|| "its PatientID is a code of the key store".to_string())
    }
}

/// Whose files a folder or a study holds: one patient with a `PatientID` (by index), one
/// patient formed from files without one (by key), or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner<'a> {
    Patient(usize),
    Formed(&'a str),
    Several,
}

/// Every folder holding files of a patient, and every study of a patient with a `PatientID`,
/// with their owner: built once per placement, so that placing each file is a few look-ups.
struct Owners<'a> {
    folders: HashMap<&'a Path, Owner<'a>>,
    studies: HashMap<&'a str, Owner<'a>>,
}

impl<'a> Owners<'a> {
    /// The owners of the folders and studies of the patients with a `PatientID`.
    fn of(index: &'a Index) -> Owners<'a> {
        let mut o = Owners {
            folders: HashMap::new(),
            studies: HashMap::new(),
        };
        for (pi, p) in index.patients.iter().enumerate() {
            for st in &p.studies {
                for i in st.series.iter().flat_map(|s| &s.instances) {
                    o.mark(Some(&st.study_uid), &i.path, Owner::Patient(pi));
                }
            }
        }
        o
    }

    /// Adds the patients that files without a `PatientID` form of their own (by name and
    /// birth date, by name and study, by study: `placed`, the first placement of each file) as
    /// owners of their folders: a folder holding SMITH's files and DOE^JANE's files without an
    /// ID is no one patient's. Not of their studies: a study is the patient's whose files
    /// carry its UID with a PatientID (a file of DOE^JANE's that carries SMITH's
    /// StudyInstanceUID contradicts SMITH, and is not SMITH's, but the study stays his).
    fn with_formed(mut self, orphans: &'a [Header], placed: &'a [Result<(String, Placement), String>]) -> Owners<'a> {
        for (h, d) in orphans.iter().zip(placed) {
            if let Ok((key, how)) = d
                && how.forms_a_patient()
            {
                self.mark(None, &h.instance.path, Owner::Formed(key));
            }
        }
        self
    }

    /// The owner of the nearest folder up from `path` that holds files of a patient.
    fn nearest(&self, path: &Path) -> Option<Owner<'a>> {
        path.ancestors().skip(1).find_map(|d| self.folders.get(d).copied())
    }

    /// Notes that `owner` has a file at `path` (in `study`, when given).
    fn mark(&mut self, study: Option<&'a str>, path: &'a Path, owner: Owner<'a>) {
        // The new owner of a folder or study that had `now` (`None`: no change).
        let next = |now: Option<&Owner<'a>>| -> Option<Owner<'a>> {
            match now {
                None => Some(owner),
                Some(o) if *o != owner && *o != Owner::Several => Some(Owner::Several),
                Some(_) => None,
            }
        };
        if let Some(study) = study
            && let Some(v) = next(self.studies.get(study))
        {
            self.studies.insert(study, v);
        }
        for d in path.ancestors().skip(1) {
            match next(self.folders.get(d)) {
                Some(v) => {
                    self.folders.insert(d, v);
                }
                // Already this owner's (or several's): so are the folders above it.
                None => break,
            }
        }
    }
}

/// Why a file without a `PatientID` was not adopted by a patient with one.
#[derive(Debug, Default)]
struct NotAdopted {
    /// Its name or birth date is not that of the patient whose study or folder it is in.
    contradicted: bool,
    /// Its folder holds several patients' files, or one formed without a `PatientID`.
    several: bool,
}

/// A file without a `PatientID` that could not be given to any patient: listed, not written
/// until assigned by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unplaced {
    /// Relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub reason: String,
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
    /// Files without a `PatientID` that no patient could be found for (patient unknown).
    pub unplaced: Vec<Unplaced>,
    /// Files without a `PatientID`, as read: placed by [`Index::place_orphans`] (again, when
    /// assignments by hand change).
    #[serde(skip)]
    orphans: Vec<Header>,
    /// Values many instances share, held once (see [`Interner`]).
    #[serde(skip)]
    shared: Interner,
}

/// Keeps one copy of each SOP class, transfer syntax, frame of reference, image type and
/// set of image facts: a series' files nearly always share them, and the index holds every
/// file of the tree.
#[derive(Debug, Clone, Default)]
struct Interner {
    strs: HashSet<Arc<str>>,
    types: HashSet<Arc<[String]>>,
    facts: HashSet<Arc<super::header::ImageFacts>>,
    /// By the bits of each number (an `f64` is neither `Eq` nor `Hash`).
    orientations: HashMap<[u64; 6], Arc<[f64; 6]>>,
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
        match self.facts.get(&*i.image) {
            Some(known) => i.image = known.clone(),
            None => {
                self.facts.insert(i.image.clone());
            }
        }
        if let Some(o) = &mut i.image_orientation {
            let bits = o.map(f64::to_bits);
            *o = self.orientations.entry(bits).or_insert_with(|| o.clone()).clone();
        }
    }
}

impl Index {
    #[must_use]
    pub fn new(root: &Path) -> Index {
        Index {
            root: root.to_path_buf(),
            ..Index::default()
        }
    }

    /// Adds one file's header, keeping everything sorted (patients by ID, studies and
    /// series by UID, instances by path). A file without `PatientID` waits for
    /// [`Index::place_orphans`].
    pub fn add(&mut self, mut h: Header) {
        self.shared.instance(&mut h.instance);
        if h.identity.patient_id.trim().is_empty() {
            self.orphans.push(h);
            return;
        }
        let key = h.identity.patient_id.clone();
        self.insert(h, key);
    }

    /// Puts a file into the patient with key `pid` → study → series (`instance.placed_by`
    /// says whether it has a `PatientID` of its own; a placed file's identity keeps its empty
    /// `PatientID`, so that a patient's IDs are only ever real ones).
    fn insert(&mut self, h: Header, pid: String) {
        let own = h.instance.placed_by.is_none();
        let pi = match self.patients.binary_search_by(|p| p.patient_id.as_str().cmp(&pid)) {
            Ok(i) => i,
            Err(i) => {
                self.patients.insert(i, Patient::new(&pid));
                i
            }
        };
        let patient = &mut self.patients[pi];
        match (&mut patient.base_identity, own) {
            (Some(base), true) => Arc::make_mut(base).add(&h.identity),
            (None, false) => patient.base_identity = Some(patient.identity.clone()),
            _ => {}
        }
        Arc::make_mut(&mut patient.identity).add(&h.identity);

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
        // threads finish, so the first path decides, not the first file read. Placed files
        // come after every file with a PatientID and never decide for them.
        if own && h.instance.path.as_os_str() < study.fields_from.as_os_str() {
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
        if own && h.instance.path.as_os_str() < series.fields_from.as_os_str() {
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

    /// Takes every placed file out again (before placing anew): patients formed only from
    /// such files go, the others keep what their own files say.
    fn unplace(&mut self) {
        for p in &mut self.patients {
            for st in &mut p.studies {
                for se in &mut st.series {
                    se.instances.retain(|i| i.placed_by.is_none());
                }
                st.series.retain(|se| !se.instances.is_empty());
            }
            p.studies.retain(|st| !st.series.is_empty());
            if let Some(base) = p.base_identity.take() {
                p.identity = base;
            }
        }
        self.patients.retain(|p| !p.studies.is_empty());
        self.unplaced.clear();
    }

    /// Gives each file without a `PatientID` (legal: the attribute is Type 2, and SR, secondary
    /// capture and exported files often leave it empty) a patient, in this order:
    /// 1. by hand: `manual` maps a file or a folder above it (relative paths) to a patient key;
    /// 2. the patient whose files carry the same `StudyInstanceUID`, if exactly one does;
    /// 3. the patient of its folder: the nearest folder up that holds other files, if they
    ///    are all of one patient;
    /// 4. otherwise, files that share `PatientName` and `PatientBirthDate` form a patient of
    ///    their own, and files with no name either, one per `StudyInstanceUID`.
    ///
    /// 2 and 3 hold only where the file's name and birth date do not contradict the patient's
    /// (a file named DOE^JANE in SMITH's folder is not SMITH's). A file none of this places is
    /// listed as unplaced (patient unknown) and not written until it is assigned by hand.
    pub fn place_orphans(&mut self, manual: &BTreeMap<PathBuf, String>) {
        self.unplace();
        let mut orphans = std::mem::take(&mut self.orphans);
        // In path order, not in the order the scan's threads happened to finish.
        orphans.sort_by(|a, b| a.instance.path.cmp(&b.instance.path));
        // First by the patients with a PatientID; then again with the patients the others
        // formed of their own, which own their folders and studies too (a file placed by
        // either pass forms the same patient in both).
        let base = Owners::of(self);
        let first: Vec<Result<(String, Placement), String>> = orphans
            .iter()
            .map(|h| self.automatic_placement(h, &base, &base))
            .collect();
        let owners = Owners::of(self).with_formed(&orphans, &first);
        let automatic: Vec<Result<(String, Placement), String>> = orphans
            .iter()
            .map(|h| self.automatic_placement(h, &owners, &base))
            .collect();
        let formed: BTreeSet<&str> = automatic
            .iter()
            .filter_map(|d| d.as_ref().ok().map(|(k, _)| k.as_str()))
            .collect();
        let decisions: Vec<Result<(String, Placement), String>> = orphans
            .iter()
            .zip(&automatic)
            .map(|(h, auto)| {
                let by_hand = h
                    .instance
                    .path
                    .ancestors()
                    .find_map(|a| manual.get(a))
                    .filter(|k| self.patient(k).is_some() || formed.contains(k.as_str()));
                match by_hand {
                    Some(k) => Ok((k.clone(), Placement::ByHand)),
                    None => auto.clone(),
                }
            })
            .collect();
        for (h, d) in orphans.iter().zip(decisions) {
            match d {
                Ok((key, how)) => {
                    let mut h = h.clone();
                    h.instance.placed_by = Some(how);
                    self.insert(h, key);
                }
                Err(reason) => self.unplaced.push(Unplaced {
                    path: h.instance.path.clone(),
                    reason,
                }),
            }
        }
        self.orphans = orphans;
    }

    /// Where rules 2–4 of [`Index::place_orphans`] put a file, or why nowhere. `owners`: of
    /// every patient; `base`: of the patients with a `PatientID` only.
    fn automatic_placement(&self, h: &Header, owners: &Owners, base: &Owners) -> Result<(String, Placement), String> {
        let name = normal_name(&h.identity.patient_name);
        let birth = h.identity.birth_date.trim();
        let mut why = NotAdopted::default();
        if let Some(adopted) = self.adopted(h, (&name, birth), (owners, base), &mut why) {
            return Ok(adopted);
        }
        // By name and birth date; by name and study when there is no birth date, or the name
        // stands for no one ("Anonymized" in three unrelated studies is not one patient).
        // A name that stands for no one with no study says nothing of who the file is: as
        // good as no name (every "Anonymized" of one birth date, or of none, is not one patient).
        let study = h.study_uid.trim();
        let placeholder = crate::identity::is_placeholder_name(&name);
        if !name.is_empty() {
            if (birth.is_empty() || placeholder) && !study.is_empty() {
                return Ok((name_study_key(&name, study), Placement::NameStudy));
            }
            if !placeholder {
                return Ok((name_key(&name, birth), Placement::NameBirthDate));
            }
        }
        if !study.is_empty() {
            return Ok((study_key(study), Placement::StudyUid));
        }
        Err(if placeholder && !name.is_empty() {
            "no PatientID or study, and its name stands for no one (a placeholder such as Anonymized): assign it by hand"
        } else if why.contradicted {
            "no PatientID, name or study, and its birth date is not that of the patient whose files share its folder"
        } else if why.several {
            "no PatientID, name or study, and the nearest folder with other files holds several patients, or one without a PatientID"
        } else {
            "no PatientID, name or study, and no other patient's files beside it"
        }
        .into())
    }

    /// The patient with a `PatientID` that takes a file without one by rule 2 or 3 of
    /// [`Index::place_orphans`] (`name` normalised, and birth date of the file), if any; else
    /// notes in `why` what stood in the way.
    fn adopted(
        &self,
        h: &Header,
        (name, birth): (&str, &str),
        (owners, base): (&Owners, &Owners),
        why: &mut NotAdopted,
    ) -> Option<(String, Placement)> {
        let births_agree = |p: &Patient| {
            birth.is_empty()
                || p.base_identity().birth_dates.is_empty()
                || p.base_identity().birth_dates.contains(birth)
        };
        let named = |p: &Patient| p.base_identity().names.iter().any(|n| normal_name(n) == name);
        let agrees =
            |p: &Patient| (name.is_empty() || p.base_identity().names.is_empty() || named(p)) && births_agree(p);
        let study = owners
            .studies
            .get(h.study_uid.as_str())
            .filter(|_| !h.study_uid.trim().is_empty());
        if let Some(Owner::Patient(pi)) = study {
            let p = &self.patients[*pi];
            if agrees(p) {
                return Some((p.patient_id.clone(), Placement::Study));
            }
            why.contradicted = true;
        }
        // The nearest folder up with other files: adopted by its one patient with a
        // PatientID. One formed without (or several patients) adopts no file, unless the file
        // is named as the one patient with a PatientID there.
        match owners.nearest(&h.instance.path) {
            Some(Owner::Patient(pi)) => {
                let p = &self.patients[pi];
                if agrees(p) {
                    return Some((p.patient_id.clone(), Placement::Folder));
                }
                why.contradicted = true;
            }
            Some(Owner::Several | Owner::Formed(_)) => {
                why.several = true;
                if let Some(Owner::Patient(pi)) = base.nearest(&h.instance.path) {
                    let p = &self.patients[pi];
                    if !name.is_empty() && named(p) && births_agree(p) {
                        return Some((p.patient_id.clone(), Placement::FolderAndName));
                    }
                }
            }
            None => {}
        }
        None
    }

    /// The files without a `PatientID`, as read (wherever they were placed).
    pub fn orphans(&self) -> impl Iterator<Item = &Header> {
        self.orphans.iter()
    }

    pub fn add_xml(&mut self, x: XmlFile) {
        let at = self.xml.binary_search_by(|y| y.path.cmp(&x.path)).unwrap_or_else(|i| i);
        self.xml.insert(at, x);
    }

    /// Completes an Index once every file is in: files without a `PatientID` are placed.
    /// (XML files are assigned to patients afterwards, by [`crate::xml::assign_all`].)
    pub fn finish(&mut self) {
        self.place_orphans(&BTreeMap::new());
        // Patients, studies, series and instances were inserted one by one: give back what
        // the vectors grew in advance (a patient of one series held room for four studies of
        // four series, some 0.8 KiB, issue 17).
        self.patients.shrink_to_fit();
        for p in &mut self.patients {
            p.studies.shrink_to_fit();
            for study in &mut p.studies {
                study.series.shrink_to_fit();
                for series in &mut study.series {
                    series.instances.shrink_to_fit();
                }
            }
        }
        self.shared = Interner::default();
    }

    pub fn add_unreadable(&mut self, u: Unreadable) {
        let at = self
            .unreadable
            .binary_search_by(|x| x.path.cmp(&u.path))
            .unwrap_or_else(|i| i);
        self.unreadable.insert(at, u);
    }

    #[must_use]
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
            media_storage_sop_class: String::new(),
            dicomdir_files: Vec::new(),
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
                image: Arc::default(),
                largest_value: None,
                placed_by: None,
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
        // The first path among the files with a PatientID decides (the placed a/0.dcm, first
        // in path order, does not: it was read without a patient of its own).
        let study = &seen[0]["patients"][0]["studies"][0];
        assert_eq!(study["date"], "20200101");
        assert_eq!(study["series"][0]["modality"], "CT");
        assert_eq!(study["series"][0]["instances"].as_array().unwrap().len(), 4);
        assert_eq!(study["series"][0]["instances"][0]["placed_by"], "study");
    }

    /// A folder of SMITH's files and DOE^JANE's (without an ID): a file with nothing to go by
    /// is not SMITH's; one named as SMITH, born when he was, is; one of SMITH's study is his
    /// by the study; DOE's own files, one of them in SMITH's study, are hers.
    #[test]
    fn a_folder_of_two_patients_takes_only_files_named_as_one() {
        let file = |path: &str, pid: &str, name: &str, birth: &str, study: &str| {
            let mut h = header(path, ("20200101", ""), ("CT", "", Some(1)), pid);
            h.identity.patient_name = name.into();
            h.identity.birth_date = birth.into();
            h.study_uid = study.into();
            h.series_uid = format!("{study}.1");
            h
        };
        let mut index = Index::new(Path::new("/in"));
        for h in [
            file("s/ct.dcm", "MRN1", "SMITH^JOHN", "19600505", "1.1"),
            file("s/doe.dcm", "", "DOE^JANE", "19750615", "1.2"),
            file("s/doe_in_his_study.dcm", "", "DOE^JANE", "19750615", "1.1"),
            file("s/sr.dcm", "", "Smith^John", "19600505", "1.3"),
            file("s/nothing.dcm", "", "", "", "1.4"),
            file("s/his_study.dcm", "", "", "", "1.1"),
        ] {
            index.add(h);
        }
        index.finish();
        let placed = |rel: &str| {
            index
                .patients
                .iter()
                .find_map(|p| {
                    p.instances()
                        .find(|i| i.path == Path::new(rel))
                        .map(|i| (p.patient_id.clone(), i.placed_by))
                })
                .unwrap()
        };
        let doe = name_key("DOE^JANE", "19750615");
        assert_eq!(placed("s/sr.dcm"), ("MRN1".into(), Some(Placement::FolderAndName)));
        assert_eq!(placed("s/his_study.dcm"), ("MRN1".into(), Some(Placement::Study)));
        assert_eq!(placed("s/nothing.dcm"), (study_key("1.4"), Some(Placement::StudyUid)));
        assert_eq!(placed("s/doe.dcm"), (doe.clone(), Some(Placement::NameBirthDate)));
        assert_eq!(placed("s/doe_in_his_study.dcm"), (doe, Some(Placement::NameBirthDate)));
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

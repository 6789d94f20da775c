//! What one file's header says that the Index needs: identity, hierarchy UIDs, geometry and
//! the instances it references.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::dicom::parse::{Parsed, TOP};
use crate::dicom::{Tag, tags, text};

/// Through which sequence a file references another instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum RefVia {
    /// ReferencedImageSequence (0008,1140).
    ReferencedImage,
    /// SourceImageSequence (0008,2112) at the top level.
    SourceImage,
    /// DerivationImageSequence (0008,9124) → SourceImageSequence, per frame in SEG.
    Derivation,
    /// ContourImageSequence (3006,0016) in RTSTRUCT.
    ContourImage,
    /// ReferencedSeriesSequence (0008,1115) → ReferencedInstanceSequence (0008,114A).
    ReferencedSeries,
    /// Any other sequence (performed procedure steps, studies, …).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub sop_instance_uid: String,
    pub via: RefVia,
}

pub use crate::identity::FileIdentity;

/// How a file without a PatientID was given to its patient (see
/// [`crate::scan::Index::place_orphans`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Another file of the same study carries the patient's PatientID.
    Study,
    /// The nearest folder with other files holds only this patient's files.
    Folder,
    /// Files without a PatientID that share name and birth date form a patient of their own.
    NameBirthDate,
    /// Files with neither PatientID nor name that share a study form a patient of their own.
    StudyUid,
    /// Assigned by hand (`dams assign`, or in the review screen).
    ByHand,
}

impl Placement {
    /// Why the file belongs to its patient, for plans and the review screen.
    pub fn reason(self) -> &'static str {
        match self {
            Placement::Study => "another file of its study carries the patient's PatientID",
            Placement::Folder => "its folder holds only this patient's files, and its name and birth date agree",
            Placement::NameBirthDate => {
                "files without a PatientID that share its name and birth date form this patient"
            }
            Placement::StudyUid => "files without a PatientID or name that share its study form this patient",
            Placement::ByHand => "assigned by hand",
        }
    }
}

/// One readable DICOM file, as the Index keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// Relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    #[serde(skip)]
    pub size: u64,
    #[serde(skip)]
    pub modified: Option<SystemTime>,
    pub sop_instance_uid: String,
    // The values most files share are held once by the Index (see `Index::add`): with a
    // String each, they were half of the ~0.9 KiB the index spent per file.
    pub sop_class_uid: Arc<str>,
    pub transfer_syntax: Arc<str>,
    pub frame_of_reference_uid: Arc<str>,
    pub instance_number: Option<i64>,
    /// This file's own SeriesNumber. The Index keeps one per series, from whichever file came
    /// first; a mask that copied its CT's SeriesInstanceUID shares that series, and linking
    /// needs the CT's number, not the mask's, whatever order the files were added in.
    #[serde(skip)]
    pub series_number: Option<i64>,
    pub image_position: Option<[f64; 3]>,
    pub image_orientation: Option<[f64; 6]>,
    pub image_type: Arc<[String]>,
    pub number_of_frames: u32,
    /// The file has no PatientID: how it was given to its patient.
    pub placed_by: Option<Placement>,
    pub references: Vec<Reference>,
    /// Series UIDs named in ReferencedSeriesSequence / RTReferencedSeriesSequence.
    pub referenced_series: Vec<String>,
}

/// Everything read from one file's header.
#[derive(Debug, Clone)]
pub struct Header {
    pub identity: FileIdentity,
    pub study_uid: String,
    pub study_date: String,
    pub study_description: String,
    pub series_uid: String,
    pub series_number: Option<i64>,
    pub series_description: String,
    pub modality: String,
    /// MediaStorageSOPClassUID (0002,0002) of the file meta (a DICOMDIR names its SOP class
    /// only there).
    pub media_storage_sop_class: String,
    pub instance: Instance,
}

/// Reads `root/rel` and extracts its header. Errors carry a plain reason.
pub fn read(root: &Path, rel: &Path) -> Result<Header, crate::dicom::ParseError> {
    let path = root.join(rel);
    let (parsed, meta) = crate::dicom::parse::parse_file_meta(&path)?;
    Ok(from_parsed(&parsed, rel, meta.len(), meta.modified().ok()))
}

pub fn from_parsed(p: &Parsed, rel: &Path, size: u64, modified: Option<SystemTime>) -> Header {
    let s = |tag: Tag| p.top_string(tag).unwrap_or_default();
    let multi = |tag: Tag| -> Vec<String> {
        p.top_string(tag)
            .map(|v| {
                v.split('\\')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let int = |tag: Tag| p.top_string(tag).and_then(|v| v.trim().parse::<i64>().ok());
    let floats = |tag: Tag| p.top_string(tag).map(|v| text::numbers(&v));

    let identity = FileIdentity {
        patient_id: s(tags::PATIENT_ID),
        patient_name: s(tags::PATIENT_NAME),
        birth_date: s(tags::PATIENT_BIRTH_DATE),
        other_ids: multi(tags::OTHER_PATIENT_IDS),
        other_names: multi(tags::OTHER_PATIENT_NAMES),
        accession_number: s(tags::ACCESSION_NUMBER),
        referring_physician: s(tags::REFERRING_PHYSICIAN_NAME),
        deidentified_by_dams: s(dicom_dictionary_std::tags::PATIENT_IDENTITY_REMOVED).trim() == "YES"
            && s(dicom_dictionary_std::tags::DEIDENTIFICATION_METHOD).contains("(dams)"),
    };

    let mut references = Vec::new();
    let mut referenced_series = Vec::new();
    for (i, e) in p.elements.iter().enumerate() {
        if e.parent == TOP {
            continue;
        }
        let is_sop = e.tag == tags::REFERENCED_SOP_INSTANCE_UID;
        let is_series = e.tag == tags::SERIES_INSTANCE_UID;
        if !is_sop && !is_series {
            continue;
        }
        let Some(v) = p.value(e) else { continue };
        let uid = text::decode(v, e.value_vr(), &p.charset, e.enc);
        if uid.is_empty() {
            continue;
        }
        let chain = p.ancestry(i);
        let has = |t: Tag| chain.iter().any(|(tag, _)| *tag == t);
        if is_series {
            if has(tags::REFERENCED_SERIES_SEQUENCE) || has(tags::RT_REFERENCED_SERIES_SEQUENCE) {
                referenced_series.push(uid);
            }
            continue;
        }
        let innermost = chain.last().map(|(t, _)| *t).unwrap_or(Tag(0, 0));
        let via = if has(tags::DERIVATION_IMAGE_SEQUENCE) {
            RefVia::Derivation
        } else if innermost == tags::CONTOUR_IMAGE_SEQUENCE {
            RefVia::ContourImage
        } else if innermost == tags::SOURCE_IMAGE_SEQUENCE {
            RefVia::SourceImage
        } else if innermost == tags::REFERENCED_IMAGE_SEQUENCE {
            RefVia::ReferencedImage
        } else if innermost == tags::REFERENCED_INSTANCE_SEQUENCE && has(tags::REFERENCED_SERIES_SEQUENCE) {
            RefVia::ReferencedSeries
        } else {
            RefVia::Other
        };
        references.push(Reference {
            sop_instance_uid: uid,
            via,
        });
    }
    referenced_series.sort();
    referenced_series.dedup();

    let array3 = |v: Option<Vec<f64>>| v.filter(|v| v.len() == 3).map(|v| [v[0], v[1], v[2]]);
    let array6 = |v: Option<Vec<f64>>| v.filter(|v| v.len() == 6).map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]]);

    Header {
        identity,
        study_uid: s(tags::STUDY_INSTANCE_UID),
        study_date: s(tags::STUDY_DATE),
        study_description: s(tags::STUDY_DESCRIPTION),
        series_uid: s(tags::SERIES_INSTANCE_UID),
        series_number: int(tags::SERIES_NUMBER),
        series_description: s(tags::SERIES_DESCRIPTION),
        modality: s(tags::MODALITY),
        media_storage_sop_class: s(tags::MEDIA_STORAGE_SOP_CLASS_UID),
        instance: Instance {
            path: rel.to_path_buf(),
            size,
            modified,
            sop_instance_uid: s(tags::SOP_INSTANCE_UID),
            sop_class_uid: s(tags::SOP_CLASS_UID).into(),
            transfer_syntax: p.layout.transfer_syntax.as_str().into(),
            frame_of_reference_uid: s(tags::FRAME_OF_REFERENCE_UID).into(),
            instance_number: int(tags::INSTANCE_NUMBER),
            series_number: int(tags::SERIES_NUMBER),
            image_position: array3(floats(tags::IMAGE_POSITION_PATIENT)),
            image_orientation: array6(floats(tags::IMAGE_ORIENTATION_PATIENT)),
            image_type: multi(tags::IMAGE_TYPE).into(),
            number_of_frames: int(tags::NUMBER_OF_FRAMES)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1),
            placed_by: None,
            references,
            referenced_series,
        },
    }
}

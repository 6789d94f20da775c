//! What one file's header says that the Index needs: identity, hierarchy UIDs, geometry and
//! the instances it references.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::dicom::parse::{Parsed, TOP};
use dicom_dictionary_std::tags as dict_tags;

use crate::dicom::{Tag, tags, text};

/// Through which sequence a file references another instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum RefVia {
    /// `ReferencedImageSequence` (0008,1140).
    ReferencedImage,
    /// `SourceImageSequence` (0008,2112) at the top level.
    SourceImage,
    /// `DerivationImageSequence` (0008,9124) → `SourceImageSequence`, per frame in SEG.
    Derivation,
    /// `ContourImageSequence` (3006,0016) in RTSTRUCT.
    ContourImage,
    /// `ReferencedSeriesSequence` (0008,1115) → `ReferencedInstanceSequence` (0008,114A).
    ReferencedSeries,
    /// Any other sequence (performed procedure steps, studies, …).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub sop_instance_uid: String,
    pub via: RefVia,
    /// The DCM code of the reference's `PurposeOfReferenceCodeSequence` (0040,A170), e.g.
    /// 121320 "Uncompressed predecessor": what the referenced instance is to this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<NonZeroU32>,
}

/// What the header says about the pixels and how the image was made: what the linking
/// needs to tell a mask from a compressed copy, a screen capture or a dose report, and to
/// tell the files of one object from those of another (its header signature). Most files of
/// a series share all of it, so the Index holds one copy per distinct value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ImageFacts {
    /// Modality (0008,0060) of this file (the Series keeps the first file's).
    pub modality: Arc<str>,
    /// `SeriesDescription` (0008,103E) of this file.
    pub series_description: Arc<str>,
    /// Manufacturer, `ManufacturerModelName` and `SoftwareVersions`, joined by `\0`.
    pub equipment: Arc<str>,
    pub rows: u16,
    pub columns: u16,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub photometric: Arc<str>,
    /// `LossyImageCompression` (0028,2110): `01` (has been lossy compressed) → true.
    pub lossy: Option<bool>,
    /// `BurnedInAnnotation` (0028,0301) is YES.
    pub burned_in_annotation: bool,
    /// `BurnedInAnnotation` is NO: said explicitly (absent says nothing).
    pub burned_in_no: bool,
    /// DCM codes of every `DerivationCodeSequence` (0008,9215) item, at any depth (113040
    /// lossy compression, 113076 segmentation, …), sorted.
    pub derivation_codes: Arc<[u32]>,
    /// `DerivationDescription` (0008,2111), free text (only searched for words, never shown).
    pub derivation_description: Arc<str>,
}

pub use crate::identity::FileIdentity;

/// How a file without a `PatientID` was given to its patient (see
/// [`crate::scan::Index::place_orphans`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Another file of the same study carries the patient's `PatientID`.
    Study,
    /// The nearest folder with other files holds only this patient's files.
    Folder,
    /// The nearest folder with this patient's files holds others' too (without a
    /// `PatientID`), and the file is named as this patient, with no other birth date.
    FolderAndName,
    /// Files without a `PatientID` that share name and birth date form a patient of their own.
    NameBirthDate,
    /// Files without a `PatientID` and without a birth date, or with a name that stands for no
    /// one, that share name and study form a patient of their own.
    NameStudy,
    /// Files with neither `PatientID` nor name that share a study form a patient of their own.
    StudyUid,
    /// Assigned by hand (`dams assign`, or in the review screen).
    ByHand,
}

impl Placement {
    /// Whether files placed so form a patient of their own (rather than join a patient with
    /// a `PatientID`).
    #[must_use]
    pub fn forms_a_patient(self) -> bool {
        matches!(
            self,
            Placement::NameBirthDate | Placement::NameStudy | Placement::StudyUid
        )
    }

    /// Why the file belongs to its patient, for plans and the review screen.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Placement::Study => "another file of its study carries the patient's PatientID",
            Placement::Folder => "its folder holds only this patient's files, and its name and birth date agree",
            Placement::FolderAndName => {
                "the nearest folder with this patient's files holds others' too, and its name and birth date are this patient's"
            }
            Placement::NameBirthDate => {
                "files without a PatientID that share its name and birth date form this patient"
            }
            Placement::NameStudy => {
                "files without a PatientID that share its name in its study form this patient (it has no birth date, or its name stands for no one)"
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
    /// This file's own `SeriesNumber`. The Index keeps one per series, from whichever file came
    /// first; a mask that copied its CT's `SeriesInstanceUID` shares that series, and linking
    /// needs the CT's number, not the mask's, whatever order the files were added in.
    #[serde(skip)]
    pub series_number: Option<i64>,
    pub image_position: Option<[f64; 3]>,
    /// Held once for the files that agree on it (a series' slices do), like the values above:
    /// 56 bytes a file otherwise.
    pub image_orientation: Option<Arc<[f64; 6]>>,
    pub image_type: Arc<[String]>,
    pub number_of_frames: u32,
    /// Pixel and derivation facts (shared between files that agree on them).
    #[serde(skip)]
    pub image: Arc<ImageFacts>,
    /// `LargestImagePixelValue` (0028,0107): differs per slice, so kept out of `image`.
    #[serde(skip)]
    pub largest_value: Option<i32>,
    /// The file has no `PatientID`: how it was given to its patient.
    pub placed_by: Option<Placement>,
    pub references: Vec<Reference>,
    /// Series UIDs named in `ReferencedSeriesSequence` / `RTReferencedSeriesSequence`.
    pub referenced_series: Vec<String>,
}

impl Instance {
    /// `ImageOrientationPatient`, if the file has one.
    #[must_use]
    pub fn orientation(&self) -> Option<[f64; 6]> {
        self.image_orientation.as_deref().copied()
    }

    /// Why this image may show identifiers in its pixels, which no profile changes: it says
    /// so (`BurnedInAnnotation` YES), or it is a secondary capture or ultrasound image — screen
    /// grabs and scanners that write the patient's name into the picture — that does not say
    /// NO.
    #[must_use]
    pub fn may_show_identifiers(&self) -> Option<&'static str> {
        use dicom_dictionary_std::uids;
        if self.image.burned_in_annotation {
            return Some("says text is burned into its pixels (BurnedInAnnotation YES)");
        }
        let capture = [
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
            uids::MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
            uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
            uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
            uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
        ];
        // The retired classes too: old scanners' files still carry them.
        #[allow(deprecated)]
        let ultrasound = [
            uids::ULTRASOUND_IMAGE_STORAGE,
            uids::ULTRASOUND_IMAGE_STORAGE_RETIRED,
            uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
            uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE_RETIRED,
        ];
        let class = self.sop_class_uid.trim_end_matches('\0');
        if self.image.burned_in_no {
            None
        } else if capture.contains(&class) {
            Some("is a secondary capture that does not say BurnedInAnnotation NO")
        } else if ultrasound.contains(&class) {
            Some("is an ultrasound image that does not say BurnedInAnnotation NO")
        } else {
            None
        }
    }
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
    /// `MediaStorageSOPClassUID` (0002,0002) of the file meta (a DICOMDIR names its SOP class
    /// only there).
    pub media_storage_sop_class: String,
    /// For a DICOMDIR: the `ReferencedFileID` (0004,1500) of every directory record, as a
    /// path relative to the DICOMDIR's folder (empty for every other file).
    pub dicomdir_files: Vec<PathBuf>,
    pub instance: Instance,
}

/// Reads `root/rel` and extracts its header. Errors carry a plain reason.
///
/// # Errors
///
/// `ParseError` when the file cannot be read or is not a DICOM file dams can read.
pub fn read(root: &Path, rel: &Path) -> Result<Header, crate::dicom::ParseError> {
    let path = root.join(rel);
    let (parsed, meta) = crate::dicom::parse::parse_file_meta(&path)?;
    Ok(from_parsed(&parsed, rel, meta.len(), meta.modified().ok()))
}

/// The header of file `rel` (of `size` bytes, last modified at `modified`) from its parse.
#[must_use]
pub fn from_parsed(p: &Parsed, rel: &Path, size: u64, modified: Option<SystemTime>) -> Header {
    let s = |tag: Tag| top(p, tag);
    let codes = coded_items(p);
    let (references, referenced_series) = references(p, &codes.purposes);
    let array3 = |v: Option<Vec<f64>>| v.filter(|v| v.len() == 3).map(|v| [v[0], v[1], v[2]]);
    let array6 = |v: Option<Vec<f64>>| v.filter(|v| v.len() == 6).map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]]);
    let media_storage_sop_class = s(tags::MEDIA_STORAGE_SOP_CLASS_UID);
    let sop_class = s(tags::SOP_CLASS_UID);
    let dicomdir_files = if [&media_storage_sop_class, &sop_class]
        .iter()
        .any(|c| c.as_str() == dicom_dictionary_std::uids::MEDIA_STORAGE_DIRECTORY_STORAGE)
    {
        dicomdir_files(p)
    } else {
        Vec::new()
    };

    Header {
        identity: file_identity(p),
        study_uid: s(tags::STUDY_INSTANCE_UID),
        study_date: s(tags::STUDY_DATE),
        study_description: s(tags::STUDY_DESCRIPTION),
        series_uid: s(tags::SERIES_INSTANCE_UID),
        series_number: top_int(p, tags::SERIES_NUMBER),
        series_description: s(tags::SERIES_DESCRIPTION),
        modality: s(tags::MODALITY),
        media_storage_sop_class,
        dicomdir_files,
        instance: Instance {
            path: rel.to_path_buf(),
            size,
            modified,
            sop_instance_uid: s(tags::SOP_INSTANCE_UID),
            sop_class_uid: sop_class.into(),
            transfer_syntax: p.layout.transfer_syntax.as_str().into(),
            frame_of_reference_uid: s(tags::FRAME_OF_REFERENCE_UID).into(),
            instance_number: top_int(p, tags::INSTANCE_NUMBER),
            series_number: top_int(p, tags::SERIES_NUMBER),
            image_position: array3(top_numbers(p, tags::IMAGE_POSITION_PATIENT)),
            image_orientation: array6(top_numbers(p, tags::IMAGE_ORIENTATION_PATIENT)).map(Arc::new),
            image_type: top_values(p, tags::IMAGE_TYPE).into(),
            number_of_frames: top_int(p, tags::NUMBER_OF_FRAMES)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1),
            image: Arc::new(image_facts(p, codes.derivations)),
            largest_value: top_int(p, dict_tags::LARGEST_IMAGE_PIXEL_VALUE).and_then(|n| i32::try_from(n).ok()),
            placed_by: None,
            references,
            referenced_series,
        },
    }
}

/// A top-level element's value as text (empty when absent).
fn top(p: &Parsed, tag: Tag) -> String {
    p.top_string(tag).unwrap_or_default()
}

/// The values of a multi-valued top-level element, trimmed, empty ones left out.
fn top_values(p: &Parsed, tag: Tag) -> Vec<String> {
    p.top_string(tag)
        .map(|v| {
            v.split('\\')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// A top-level integer (IS) value.
fn top_int(p: &Parsed, tag: Tag) -> Option<i64> {
    p.top_string(tag).and_then(|v| v.trim().parse::<i64>().ok())
}

/// The numbers of a top-level DS value.
fn top_numbers(p: &Parsed, tag: Tag) -> Option<Vec<f64>> {
    p.top_string(tag).map(|v| text::numbers(&v))
}

/// The `PatientIDs` in the items of the top-level `OtherPatientIDsSequence` (0010,1002): where
/// the standard puts a patient's other IDs now ((0010,1000) is retired), and where many
/// systems write them. They are the patient's IDs like any other: no code may equal one, and
/// the search for the patient's identifiers looks for them.
fn sequence_other_ids(p: &Parsed) -> Vec<String> {
    p.elements
        .iter()
        .filter(|e| e.tag == tags::PATIENT_ID && e.parent != TOP)
        .filter(|e| {
            let seq = p
                .items
                .get(e.parent as usize)
                .and_then(|item| p.elements.get(item.parent as usize));
            seq.is_some_and(|s| s.tag == dict_tags::OTHER_PATIENT_I_DS_SEQUENCE && s.parent == TOP)
        })
        .filter_map(|e| p.value(e).map(|v| text::decode(v, e.value_vr(), &p.charset, e.enc)))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Who the file says its patient is, and the study's identifying values.
fn file_identity(p: &Parsed) -> FileIdentity {
    let s = |tag: Tag| top(p, tag);
    FileIdentity {
        patient_id: s(tags::PATIENT_ID),
        patient_name: s(tags::PATIENT_NAME),
        birth_date: s(tags::PATIENT_BIRTH_DATE),
        other_ids: top_values(p, tags::OTHER_PATIENT_IDS)
            .into_iter()
            .chain(sequence_other_ids(p))
            .collect(),
        other_names: top_values(p, tags::OTHER_PATIENT_NAMES),
        accession_number: s(tags::ACCESSION_NUMBER),
        referring_physician: s(tags::REFERRING_PHYSICIAN_NAME),
        study_values: [
            dict_tags::INSTITUTION_NAME,
            dict_tags::INSTITUTION_ADDRESS,
            dict_tags::STATION_NAME,
            dict_tags::OPERATORS_NAME,
            dict_tags::PERFORMING_PHYSICIAN_NAME,
            dict_tags::STUDY_ID,
            dict_tags::STUDY_DATE,
            dict_tags::SERIES_DATE,
            dict_tags::ACQUISITION_DATE,
            dict_tags::CONTENT_DATE,
        ]
        .into_iter()
        .flat_map(|t| {
            s(t).split('\\')
                .map(|v| (t, v.trim().to_string()))
                .filter(|(_, v)| !v.is_empty())
                .collect::<Vec<_>>()
        })
        .collect(),
        deidentified_by_dams: s(dicom_dictionary_std::tags::PATIENT_IDENTITY_REMOVED).trim() == "YES"
            && s(dicom_dictionary_std::tags::DEIDENTIFICATION_METHOD).contains("(dams)"),
    }
}

/// The instances the file references, with the sequence and purpose of each reference, and
/// the series it references (sorted, once each); `purposes` from [`coded_items`].
fn references(p: &Parsed, purposes: &HashMap<u32, NonZeroU32>) -> (Vec<Reference>, Vec<String>) {
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
        references.push(Reference {
            sop_instance_uid: uid,
            via: ref_via(&chain),
            purpose: purposes.get(&e.parent).copied(),
        });
    }
    referenced_series.sort();
    referenced_series.dedup();
    (references, referenced_series)
}

/// Through which sequence a reference nested in the sequences of `chain` (outermost first)
/// is made.
fn ref_via(chain: &[(Tag, u32)]) -> RefVia {
    let has = |t: Tag| chain.iter().any(|(tag, _)| *tag == t);
    let innermost = chain.last().map_or(Tag(0, 0), |(t, _)| *t);
    if has(tags::DERIVATION_IMAGE_SEQUENCE) {
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
    }
}

/// What the file says of its image (geometry, equipment, burned-in text, derivation);
/// `derivations` from [`coded_items`].
fn image_facts(p: &Parsed, derivations: Vec<u32>) -> ImageFacts {
    let s = |tag: Tag| top(p, tag);
    let equipment = [
        dict_tags::MANUFACTURER,
        dict_tags::MANUFACTURER_MODEL_NAME,
        dict_tags::SOFTWARE_VERSIONS,
    ]
    .map(s)
    .join("\0");
    let small = |tag: Tag| top_int(p, tag).and_then(|n| u16::try_from(n).ok()).unwrap_or(0);
    ImageFacts {
        modality: s(tags::MODALITY).into(),
        series_description: s(tags::SERIES_DESCRIPTION).into(),
        equipment: if equipment.len() == 2 {
            "".into()
        } else {
            equipment.into()
        },
        rows: small(dict_tags::ROWS),
        columns: small(dict_tags::COLUMNS),
        samples_per_pixel: small(dict_tags::SAMPLES_PER_PIXEL),
        bits_allocated: small(dict_tags::BITS_ALLOCATED),
        bits_stored: small(dict_tags::BITS_STORED),
        photometric: s(dict_tags::PHOTOMETRIC_INTERPRETATION)
            .trim()
            .to_ascii_uppercase()
            .into(),
        lossy: match s(dict_tags::LOSSY_IMAGE_COMPRESSION).trim() {
            "01" => Some(true),
            "00" => Some(false),
            _ => None,
        },
        burned_in_annotation: s(dict_tags::BURNED_IN_ANNOTATION).trim().eq_ignore_ascii_case("YES"),
        burned_in_no: s(dict_tags::BURNED_IN_ANNOTATION).trim().eq_ignore_ascii_case("NO"),
        derivation_codes: derivations.into(),
        derivation_description: s(dict_tags::DERIVATION_DESCRIPTION).into(),
    }
}

/// The coded values the linking reads from code sequences nested anywhere.
#[derive(Default)]
struct CodedItems {
    /// Item (index into `Parsed::items`) holding a `PurposeOfReferenceCodeSequence` → the DCM
    /// code of its first item: the purpose of the reference made in that item.
    purposes: HashMap<u32, NonZeroU32>,
    /// DCM codes of `DerivationCodeSequence` items, sorted, once each.
    derivations: Vec<u32>,
}

/// Reads every `PurposeOfReferenceCodeSequence` and `DerivationCodeSequence` of the file, in one
/// pass over its elements (a SEG has a purpose per frame). A code counts when its scheme is
/// DCM, or absent as some writers leave it; DCM code values are all digits.
fn coded_items(p: &Parsed) -> CodedItems {
    // Code item → (CodeValue, CodingSchemeDesignator).
    let mut items: HashMap<u32, (Option<String>, Option<String>)> = HashMap::new();
    for e in &p.elements {
        let value = e.tag == dict_tags::CODE_VALUE;
        if e.parent == TOP || !(value || e.tag == dict_tags::CODING_SCHEME_DESIGNATOR) {
            continue;
        }
        let Some(v) = p.value(e) else { continue };
        let text = text::decode(v, e.value_vr(), &p.charset, e.enc);
        let entry = items.entry(e.parent).or_default();
        if value {
            entry.0 = Some(text);
        } else {
            entry.1 = Some(text);
        }
    }
    let mut out = CodedItems::default();
    let mut found: Vec<(u32, u32, NonZeroU32)> = Vec::new();
    for (item, (value, scheme)) in items {
        let scheme_ok = scheme
            .as_deref()
            .is_none_or(|s| s.trim().is_empty() || s.trim() == "DCM");
        let Some(code) = value
            .filter(|_| scheme_ok)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .and_then(NonZeroU32::new)
        else {
            continue;
        };
        let Some(it) = p.items.get(item as usize) else { continue };
        let Some(seq) = p.elements.get(it.parent as usize) else {
            continue;
        };
        if seq.tag == dict_tags::DERIVATION_CODE_SEQUENCE {
            out.derivations.push(code.get());
        } else if seq.tag == dict_tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE && seq.parent != TOP {
            // The purpose belongs to the item holding the sequence: the reference it makes.
            found.push((seq.parent, it.index, code));
        }
    }
    // The first item of each purpose sequence (the sequence has one item by definition).
    found.sort_unstable();
    for (holder, _, code) in found {
        out.purposes.entry(holder).or_insert(code);
    }
    out.derivations.sort_unstable();
    out.derivations.dedup();
    out
}

/// The `ReferencedFileID` of every directory record of a DICOMDIR, as relative paths (its
/// components are the values of the multi-valued CS; `.` and `..` are left out).
fn dicomdir_files(p: &Parsed) -> Vec<PathBuf> {
    crate::dicom::dir::file_entries(p)
        .into_iter()
        .map(|e| {
            e.file_id
                .iter()
                .filter(|c| *c != "." && *c != "..")
                .collect::<PathBuf>()
        })
        .filter(|path| !path.as_os_str().is_empty())
        .collect()
}

/// The `MediaStorageSOPClassUID` of a file's meta information (read with dicom-rs), for files
/// whose data set could not be read: a damaged DICOMDIR still says what it is there. Reads
/// the 128-byte preamble and the meta group only.
#[must_use]
pub fn meta_sop_class(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let mut magic = [0u8; 4];
    f.seek(SeekFrom::Start(128)).ok()?;
    f.read_exact(&mut magic).ok()?;
    if &magic != b"DICM" {
        return None;
    }
    f.seek(SeekFrom::Start(128)).ok()?;
    let meta = dicom_object::FileMetaTable::from_reader(f).ok()?;
    Some(meta.media_storage_sop_class_uid().to_string())
}

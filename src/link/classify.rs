//! What each file is to the linking, from its own header and the files it references: a
//! segmentation (SEG, RTSTRUCT, a per-slice mask), a derived image that is no segmentation
//! (a compressed copy, key images, a screen capture, a dose report, an image made by
//! processing), a localizer, or an image that may be a source — each with its evidence.
//!
//! The rule, in full (it is also the module documentation of [`crate::link`]):
//!
//! 1. **By SOP class**, whatever the file references: Segmentation Storage (and the label
//!    map, surface and height map segmentation classes) is a SEG; RT Structure Set Storage an
//!    RTSTRUCT; Key Object Selection Document a set of key images; the radiation dose SR
//!    classes a dose report.
//! 2. **Localizers** (`ImageType` mentions LOCALIZER, SCOUT, TOPOGRAM, SURVIEW or SCANOGRAM)
//!    are present but never a source and never anything else.
//! 3. An image that **does not say it is derived** — `ImageType` value 1 `ORIGINAL`, or absent
//!    or other on a SOP class that is not Secondary Capture — is an acquisition: a possible
//!    source, whatever it references (a CT slice names its localizer). The one exception is
//!    an `ORIGINAL` image that names a source it was made from (SourceImage/Derivation
//!    sequence) *and* says in words or codes that it is a mask (below): tools that copy the
//!    CT header keep its `ImageType`.
//! 4. A derived image (`ImageType` `DERIVED`, or Secondary Capture) that **claims no source** is
//!    an image of its own, a possible source. It claims one when it references, through
//!    `SourceImage`, Derivation or `ReferencedSeries` sequences, an instance that is not itself, not
//!    a localizer and not a derived image of its own series (an earlier version of itself);
//!    or such an instance through `ReferencedImageSequence` that is present. A dangling
//!    `ReferencedImageSequence` entry is a claim only from Secondary Capture (it also lists
//!    merely "related" images).
//! 5. A derived image that claims a source is **weighed by its clues**. Against a mask (any
//!    one decides): a purpose of reference that is no image processing for a mask (121320
//!    uncompressed predecessor, 121330 lossy compressed predecessor, 121329 source image for
//!    montage, 121321 mask image for image processing — a subtraction mask —, 121358 For
//!    Processing predecessor, 113130 predecessor containing group of imaging subjects);
//!    derivation code 113040 (lossy compression); `LossyImageCompression` `01`; colour pixels;
//!    `BurnedInAnnotation` `YES`; a word for a screen capture, a dose report, compression or a
//!    reformat in `ImageType`, `SeriesDescription` or `DerivationDescription`. For a mask:
//!    derivation code 113076 (segmentation); 1-bit pixels; at most 8 bits stored and
//!    monochrome; `LargestImagePixelValue` at most 255; a word for a mask or label map.
//!    A clue against makes it a derived image (of the kind the strongest clue says); else a
//!    clue for makes it a per-slice mask; else it is a derived image made by processing:
//!    nothing says it is a mask, so it is never repaired.
//!
//! Steps 1–5 look at one file's header and at per-file properties of the files it
//! references, so they have no cycles and do not depend on the order files were found. The
//! grouping into objects (`resolve.rs`) then lets a file follow the object its header
//! signature puts it in.

use std::collections::BTreeSet;

use dicom_dictionary_std::uids;
use serde::Serialize;

use crate::scan::{Instance, RefVia};

use super::SegmentationKind;

pub use dicom_dictionary_std::uids::{RT_STRUCTURE_SET_STORAGE, SEGMENTATION_STORAGE};

/// Words vendors put in `ImageType` for planning images (CT topogram, Philips surview, …).
const LOCALIZER_WORDS: &[&str] = &["LOCALIZER", "LOCALISER", "SCOUT", "TOPOGRAM", "SURVIEW", "SCANOGRAM"];

/// What sort of derived image a file is that is no segmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DerivedKind {
    /// A lossy or lossless (re)compressed copy of an image (its uncompressed predecessor).
    CompressedCopy,
    /// A Key Object Selection Document: a list of key images.
    KeyImages,
    /// A screen capture (colour, burned-in annotation, "screen save").
    ScreenCapture,
    /// A dose report (a radiation dose SR, or a page of one captured as an image).
    DoseReport,
    /// A montage of source images.
    Montage,
    /// An image made from others by processing (a reformat, a For Presentation image, a
    /// filtered image …), with nothing that says it is a mask.
    Processed,
}

impl DerivedKind {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            DerivedKind::CompressedCopy => "compressed copy",
            DerivedKind::KeyImages => "key images",
            DerivedKind::ScreenCapture => "screen capture",
            DerivedKind::DoseReport => "dose report",
            DerivedKind::Montage => "montage",
            DerivedKind::Processed => "derived image",
        }
    }

    /// Which kind wins when several clues speak against a mask (the most specific first).
    fn rank(self) -> u8 {
        match self {
            DerivedKind::KeyImages => 0,
            DerivedKind::DoseReport => 1,
            DerivedKind::ScreenCapture => 2,
            DerivedKind::CompressedCopy => 3,
            DerivedKind::Montage => 4,
            DerivedKind::Processed => 5,
        }
    }
}

/// Which way a clue points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// It says mask (or label map): a per-slice image with it may be a segmentation.
    Mask,
    /// It says this is no mask, and which sort of derived image it is instead.
    NotMask(DerivedKind),
    /// Shown, decides nothing.
    Neutral,
}

/// What a word found in free text says (the word is one of ours, never the text around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Says {
    Mask,
    ScreenCapture,
    DoseReport,
    Compression,
    Reformat,
}

/// One piece of evidence for what a file is. Serialised with `clue` naming the variant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "clue", rename_all = "kebab-case")]
pub enum Clue {
    /// The SOP class decides (SEG, RTSTRUCT, key object selection, dose SR).
    SopClass { name: &'static str },
    /// A reference's `PurposeOfReferenceCodeSequence` (DCM code).
    Purpose { code: u32, meaning: &'static str },
    /// A `DerivationCodeSequence` item (DCM code).
    DerivationCode { code: u32, meaning: &'static str },
    /// `LossyImageCompression` is 01.
    LossyCompression { bits_stored: u16 },
    /// Colour pixels (`PhotometricInterpretation`, `SamplesPerPixel`).
    Colour { photometric: String, samples: u16 },
    /// `BurnedInAnnotation` is YES.
    BurnedInAnnotation,
    /// A word of ours in `ImageType`, `SeriesDescription` or `DerivationDescription`.
    Word {
        element: &'static str,
        word: &'static str,
        says: Says,
    },
    /// `BitsStored` is 1.
    BinaryPixels,
    /// At most 8 bits stored, monochrome: a label map's pixels.
    LabelPixels { bits_stored: u16 },
    /// `LargestImagePixelValue` is small: a label set.
    SmallLargestValue { value: i32 },
    /// `ImageType` says ORIGINAL, yet the file names a source it was made from and says mask.
    OriginalButMask,
    /// The file says it is derived and claims a source, but nothing says it is a mask.
    NoMaskSign,
}

impl Clue {
    #[must_use]
    pub fn weight(&self) -> Weight {
        match self {
            Clue::SopClass { .. } | Clue::OriginalButMask => Weight::Neutral,
            Clue::Purpose { code, .. } => match purpose_kind(*code) {
                Some(kind) => Weight::NotMask(kind),
                None => Weight::Neutral,
            },
            Clue::DerivationCode { code, .. } => match *code {
                SEGMENTATION_CODE => Weight::Mask,
                LOSSY_COMPRESSION_CODE => Weight::NotMask(DerivedKind::CompressedCopy),
                _ => Weight::Neutral,
            },
            Clue::LossyCompression { .. } => Weight::NotMask(DerivedKind::CompressedCopy),
            Clue::Colour { .. } => Weight::NotMask(DerivedKind::Processed),
            Clue::BurnedInAnnotation => Weight::NotMask(DerivedKind::ScreenCapture),
            Clue::Word { says, .. } => match says {
                Says::Mask => Weight::Mask,
                Says::ScreenCapture => Weight::NotMask(DerivedKind::ScreenCapture),
                Says::DoseReport => Weight::NotMask(DerivedKind::DoseReport),
                Says::Compression => Weight::NotMask(DerivedKind::CompressedCopy),
                Says::Reformat => Weight::NotMask(DerivedKind::Processed),
            },
            Clue::BinaryPixels | Clue::LabelPixels { .. } | Clue::SmallLargestValue { .. } => Weight::Mask,
            Clue::NoMaskSign => Weight::NotMask(DerivedKind::Processed),
        }
    }

    /// A sentence for people (never a value from the file beyond codes and our own words).
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Clue::SopClass { name } => format!("SOP class {name}"),
            Clue::Purpose { code, meaning } => format!("a reference's purpose is {code} \"{meaning}\""),
            Clue::DerivationCode { code, meaning } => format!("derivation code {code} \"{meaning}\""),
            Clue::LossyCompression { bits_stored } => {
                format!("LossyImageCompression 01 (lossy compressed), {bits_stored} bits stored")
            }
            Clue::Colour { photometric, samples } => {
                format!("colour pixels ({photometric}, {samples} samples per pixel)")
            }
            Clue::BurnedInAnnotation => "BurnedInAnnotation YES".into(),
            Clue::Word { element, word, says } => {
                let what = match says {
                    Says::Mask => "a mask",
                    Says::ScreenCapture => "a screen capture",
                    Says::DoseReport => "a dose report",
                    Says::Compression => "compression",
                    Says::Reformat => "a reformat",
                };
                format!("{element} says {word} ({what})")
            }
            Clue::BinaryPixels => "1-bit pixels".into(),
            Clue::LabelPixels { bits_stored } => format!("{bits_stored} bits stored, monochrome (label pixels)"),
            Clue::SmallLargestValue { value } => format!("LargestImagePixelValue {value} (a label set)"),
            Clue::OriginalButMask => "ImageType says ORIGINAL, but it names its source and says mask".into(),
            Clue::NoMaskSign => "derived from another image, and nothing says mask".into(),
        }
    }
}

/// DCM 113076 "Segmentation" (CID 7203 Image Derivation).
const SEGMENTATION_CODE: u32 = 113076;
/// DCM 113040 "Lossy Compression".
const LOSSY_COMPRESSION_CODE: u32 = 113040;

/// Purposes of reference (CID 7202) that say the file is no mask, and what it is instead.
/// 121322 "Source image for image processing operation" is what SEG and masks use too.
fn purpose_kind(code: u32) -> Option<DerivedKind> {
    Some(match code {
        121320 | 121330 => DerivedKind::CompressedCopy,
        121329 => DerivedKind::Montage,
        121321 | 121358 | 113130 => DerivedKind::Processed,
        _ => return None,
    })
}

fn purpose_meaning(code: u32) -> &'static str {
    match code {
        121320 => "Uncompressed predecessor",
        121321 => "Mask image for image processing operation",
        121322 => "Source image for image processing operation",
        121329 => "Source image for montage",
        121330 => "Lossy compressed predecessor",
        121358 => "For Processing predecessor",
        113130 => "Predecessor containing group of imaging subjects",
        _ => "",
    }
}

fn derivation_meaning(code: u32) -> &'static str {
    match code {
        SEGMENTATION_CODE => "Segmentation",
        LOSSY_COMPRESSION_CODE => "Lossy Compression",
        113072 => "Multiplanar reformatting",
        113085 => "Spatial resampling",
        _ => "",
    }
}

/// Our words, upper case, matched as whole words of the text (split at anything that is not
/// a letter or digit).
const WORDS: &[(&str, Says)] = &[
    ("MASK", Says::Mask),
    ("MASKS", Says::Mask),
    ("LABEL", Says::Mask),
    ("LABELS", Says::Mask),
    ("LABELMAP", Says::Mask),
    ("LABELMAPS", Says::Mask),
    ("SEG", Says::Mask),
    ("SEGMENTATION", Says::Mask),
    ("SEGMENTATIONS", Says::Mask),
    ("SEGMENTED", Says::Mask),
    ("SCREEN", Says::ScreenCapture),
    ("SCREENSHOT", Says::ScreenCapture),
    ("SCREENSAVE", Says::ScreenCapture),
    ("SNAPSHOT", Says::ScreenCapture),
    ("DOSE", Says::DoseReport),
    ("DLP", Says::DoseReport),
    ("CTDI", Says::DoseReport),
    ("CTDIVOL", Says::DoseReport),
    ("LOSSY", Says::Compression),
    ("LOSSLESS", Says::Compression),
    ("COMPRESSION", Says::Compression),
    ("COMPRESSED", Says::Compression),
    ("JPEG", Says::Compression),
    ("JPEG2000", Says::Compression),
    ("J2K", Says::Compression),
    ("RLE", Says::Compression),
    ("MPR", Says::Reformat),
    ("MIP", Says::Reformat),
    ("REFORMATTED", Says::Reformat),
    ("RESAMPLED", Says::Reformat),
    ("SUBTRACTION", Says::Reformat),
];

fn words_in(element: &'static str, text: &str, out: &mut BTreeSet<Clue>) {
    for token in text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()) {
        let token = token.to_uppercase();
        if let Some((word, says)) = WORDS.iter().find(|(w, _)| *w == token) {
            out.insert(Clue::Word {
                element,
                word,
                says: *says,
            });
        }
    }
}

/// The clues a file's own header gives (its references' purposes included). `made_from`:
/// the file names a source it was made from (for the ORIGINAL exception).
pub(super) fn header_clues(inst: &Instance) -> Vec<Clue> {
    let f = &*inst.image;
    let mut out = BTreeSet::new();
    for r in &inst.references {
        if let Some(code) = r.purpose.map(std::num::NonZero::get)
            && (purpose_kind(code).is_some() || code == 121322)
        {
            out.insert(Clue::Purpose {
                code,
                meaning: purpose_meaning(code),
            });
        }
    }
    for &code in f.derivation_codes.iter() {
        if matches!(code, SEGMENTATION_CODE | LOSSY_COMPRESSION_CODE) {
            out.insert(Clue::DerivationCode {
                code,
                meaning: derivation_meaning(code),
            });
        }
    }
    if f.lossy == Some(true) {
        out.insert(Clue::LossyCompression {
            bits_stored: f.bits_stored,
        });
    }
    let monochrome = f.photometric.is_empty() || f.photometric.starts_with("MONOCHROME");
    if !monochrome || f.samples_per_pixel > 1 {
        out.insert(Clue::Colour {
            photometric: f.photometric.to_string(),
            samples: f.samples_per_pixel,
        });
    }
    if f.burned_in_annotation {
        out.insert(Clue::BurnedInAnnotation);
    }
    for v in inst.image_type.iter() {
        words_in("ImageType", v, &mut out);
    }
    words_in("SeriesDescription", &f.series_description, &mut out);
    words_in("DerivationDescription", &f.derivation_description, &mut out);
    if monochrome && f.samples_per_pixel <= 1 {
        if f.bits_stored == 1 {
            out.insert(Clue::BinaryPixels);
        } else if (2..=8).contains(&f.bits_stored) {
            out.insert(Clue::LabelPixels {
                bits_stored: f.bits_stored,
            });
        }
        if let Some(v) = inst.largest_value.filter(|v| (0..=255).contains(v)) {
            out.insert(Clue::SmallLargestValue { value: v });
        }
    }
    out.into_iter().collect()
}

/// The verdict of step 5 on a derived image that claims a source: a mask, or the derived
/// kind the strongest clue against names (with `NoMaskSign` added when nothing spoke).
pub(super) fn weigh(clues: &mut Vec<Clue>) -> Option<DerivedKind> {
    let against = clues
        .iter()
        .filter_map(|c| match c.weight() {
            Weight::NotMask(k) => Some(k),
            _ => None,
        })
        .min_by_key(|k| k.rank());
    if against.is_some() {
        return against;
    }
    if clues.iter().any(|c| c.weight() == Weight::Mask) {
        return None;
    }
    clues.push(Clue::NoMaskSign);
    Some(DerivedKind::Processed)
}

/// What the SOP class alone makes of a file.
pub(super) enum ByClass {
    Segmentation(SegmentationKind),
    /// A derived object that is no image (it can never be a source).
    Document(DerivedKind),
}

pub(super) fn by_class(sop_class: &str) -> Option<(ByClass, &'static str)> {
    Some(match sop_class {
        uids::SEGMENTATION_STORAGE => (ByClass::Segmentation(SegmentationKind::Seg), "Segmentation"),
        uids::LABEL_MAP_SEGMENTATION_STORAGE => {
            (ByClass::Segmentation(SegmentationKind::Seg), "Label Map Segmentation")
        }
        uids::SURFACE_SEGMENTATION_STORAGE => (ByClass::Segmentation(SegmentationKind::Seg), "Surface Segmentation"),
        uids::HEIGHT_MAP_SEGMENTATION_STORAGE => {
            (ByClass::Segmentation(SegmentationKind::Seg), "Height Map Segmentation")
        }
        uids::RT_STRUCTURE_SET_STORAGE => (ByClass::Segmentation(SegmentationKind::RtStruct), "RT Structure Set"),
        uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE => (
            ByClass::Document(DerivedKind::KeyImages),
            "Key Object Selection Document",
        ),
        uids::X_RAY_RADIATION_DOSE_SR_STORAGE => {
            (ByClass::Document(DerivedKind::DoseReport), "X-Ray Radiation Dose SR")
        }
        uids::ENHANCED_X_RAY_RADIATION_DOSE_SR_STORAGE => (
            ByClass::Document(DerivedKind::DoseReport),
            "Enhanced X-Ray Radiation Dose SR",
        ),
        uids::RADIOPHARMACEUTICAL_RADIATION_DOSE_SR_STORAGE => (
            ByClass::Document(DerivedKind::DoseReport),
            "Radiopharmaceutical Radiation Dose SR",
        ),
        uids::PATIENT_RADIATION_DOSE_SR_STORAGE => {
            (ByClass::Document(DerivedKind::DoseReport), "Patient Radiation Dose SR")
        }
        _ => return None,
    })
}

/// True for planning images (scout, topogram, localizer), whose references never count as a
/// source: CT slices point at them, and so do masks copied from CT slices.
#[must_use]
pub fn is_localizer(inst: &Instance) -> bool {
    inst.image_type.iter().any(|v| {
        let v = v.to_ascii_uppercase();
        LOCALIZER_WORDS.iter().any(|w| v.contains(w))
    })
}

pub(super) fn is_secondary_capture(sop_class: &str) -> bool {
    sop_class == uids::SECONDARY_CAPTURE_IMAGE_STORAGE
        || sop_class
            .strip_prefix(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The file says it was derived from other images (see the module rule, point 3).
pub(super) fn looks_derived(inst: &Instance) -> bool {
    match inst.image_type.first().map(|v| v.trim().to_ascii_uppercase()) {
        Some(v) if v == "DERIVED" => true,
        Some(v) if v == "ORIGINAL" => false,
        _ => is_secondary_capture(&inst.sop_class_uid),
    }
}

/// Whether a reference through `via` names a source of a derived object of `kind`. Other
/// sequences (referenced studies, performed procedure steps, …) say nothing about sources.
pub(super) fn counts(kind: SegmentationKind, via: RefVia) -> bool {
    match kind {
        SegmentationKind::PerSliceMask => matches!(
            via,
            RefVia::SourceImage | RefVia::ReferencedImage | RefVia::Derivation | RefVia::ReferencedSeries
        ),
        SegmentationKind::Seg => matches!(via, RefVia::ReferencedSeries | RefVia::SourceImage | RefVia::Derivation),
        SegmentationKind::RtStruct => via == RefVia::ContourImage,
    }
}

/// Whether a reference through `via` names the source of a derived image (documents name
/// their images in their own sequences, which count too).
pub(super) fn counts_for_derived(document: bool, via: RefVia) -> bool {
    document || counts(SegmentationKind::PerSliceMask, via)
}

/// References through these sequences mean "made from", even when the target is missing.
pub(super) fn means_made_from(via: RefVia) -> bool {
    matches!(via, RefVia::SourceImage | RefVia::Derivation | RefVia::ReferencedSeries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secondary_capture_family() {
        assert!(is_secondary_capture("1.2.840.10008.5.1.4.1.1.7"));
        assert!(is_secondary_capture("1.2.840.10008.5.1.4.1.1.7.4"));
        assert!(!is_secondary_capture("1.2.840.10008.5.1.4.1.1.77.1"));
        assert!(!is_secondary_capture("1.2.840.10008.5.1.4.1.1.2"));
    }

    #[test]
    fn words_are_whole_words_of_ours_only() {
        let mut found = BTreeSet::new();
        words_in(
            "SeriesDescription",
            "Liver-Mask (segmented) masked segmentor",
            &mut found,
        );
        let words: Vec<&str> = found
            .iter()
            .filter_map(|c| match c {
                Clue::Word { word, .. } => Some(*word),
                _ => None,
            })
            .collect();
        assert_eq!(words, ["MASK", "SEGMENTED"]);
    }

    #[test]
    fn a_clue_against_a_mask_outweighs_one_for_it() {
        let mut clues = vec![
            Clue::LabelPixels { bits_stored: 8 },
            Clue::Word {
                element: "SeriesDescription",
                word: "DOSE",
                says: Says::DoseReport,
            },
            Clue::BurnedInAnnotation,
        ];
        assert_eq!(weigh(&mut clues), Some(DerivedKind::DoseReport));
        let mut clues = vec![Clue::LabelPixels { bits_stored: 8 }];
        assert_eq!(weigh(&mut clues), None);
        let mut clues = vec![Clue::Purpose {
            code: 121322,
            meaning: purpose_meaning(121322),
        }];
        assert_eq!(weigh(&mut clues), Some(DerivedKind::Processed));
        assert_eq!(clues.last(), Some(&Clue::NoMaskSign));
    }
}

//! Which files are derived objects (segmentations) and which are localizers: the rule that
//! decides what may be a source and what must be linked to one.
//!
//! The rule, in full (it is also the module documentation of [`crate::link`]):
//!
//! 1. A file whose SOP class is Segmentation Storage (`…66.4`) is a SEG and one whose SOP
//!    class is RT Structure Set Storage (`…481.3`) is an RTSTRUCT, whatever it references.
//! 2. Any other file is a per-slice mask when all of these hold:
//!    - it says it is derived: ImageType value 1 is `DERIVED`, or ImageType is absent or
//!      neither `ORIGINAL` nor `DERIVED` and the SOP class is Secondary Capture (SC images are
//!      never acquisitions). An `ORIGINAL` image is an acquisition whatever it references —
//!      a CT slice pointing at its localizer, an image pointing at an earlier version of
//!      itself — and is never a mask;
//!    - it is not itself a localizer;
//!    - it claims a source: a reference through SourceImageSequence, DerivationImageSequence
//!      or ReferencedSeriesSequence to an instance that is not the file itself, not a
//!      localizer and not another derived-looking image of its own series (an earlier
//!      version of itself); or such a reference through ReferencedImageSequence to an
//!      instance present in the patient's files. ReferencedImageSequence also lists merely
//!      "related" images (a CT slice's localizer), so a dangling one is only taken as a
//!      source claim from Secondary Capture.
//! 3. Everything else is a candidate source; localizers (ImageType mentions LOCALIZER,
//!    SCOUT, TOPOGRAM, SURVIEW or SCANOGRAM) are kept apart and never count as a source.
//!
//! The rule looks only at each file's own header and at per-file properties of the files it
//! references, so it has no cycles and does not depend on the order files were found.

use crate::scan::{Instance, RefVia};

use super::SegmentationKind;

/// SOP class UID of Segmentation Storage.
pub const SEGMENTATION_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.66.4";
/// SOP class UID of RT Structure Set Storage.
pub const RT_STRUCTURE_SET_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.481.3";
/// Secondary Capture Image Storage; the multi-frame SC classes are `…7.1` to `…7.4`.
const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";

/// Words vendors put in ImageType for planning images (CT topogram, Philips surview, …).
const LOCALIZER_WORDS: &[&str] = &["LOCALIZER", "LOCALISER", "SCOUT", "TOPOGRAM", "SURVIEW", "SCANOGRAM"];

/// What a file is to the linking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// May be the source of a segmentation.
    Source,
    /// A planning image: present, but never a source.
    Localizer,
    /// A segmentation to be linked to its source.
    Derived(SegmentationKind),
}

/// True for planning images (scout, topogram, localizer), whose references never count as a
/// source: CT slices point at them, and so do masks copied from CT slices.
pub fn is_localizer(inst: &Instance) -> bool {
    inst.image_type.iter().any(|v| {
        let v = v.to_ascii_uppercase();
        LOCALIZER_WORDS.iter().any(|w| v.contains(w))
    })
}

pub(super) fn is_secondary_capture(sop_class: &str) -> bool {
    sop_class == SECONDARY_CAPTURE
        || sop_class
            .strip_prefix(SECONDARY_CAPTURE)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The file says it was derived from other images (see the module rule, point 2).
pub(super) fn looks_derived(inst: &Instance) -> bool {
    match inst.image_type.first().map(|v| v.trim().to_ascii_uppercase()) {
        Some(v) if v == "DERIVED" => true,
        Some(v) if v == "ORIGINAL" => false,
        _ => is_secondary_capture(&inst.sop_class_uid),
    }
}

/// The segmentation kind fixed by the SOP class alone (SEG, RTSTRUCT).
pub(super) fn kind_of_class(sop_class: &str) -> Option<SegmentationKind> {
    match sop_class {
        SEGMENTATION_STORAGE => Some(SegmentationKind::Seg),
        RT_STRUCTURE_SET_STORAGE => Some(SegmentationKind::RtStruct),
        _ => None,
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
}

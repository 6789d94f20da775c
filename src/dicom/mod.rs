//! Byte-level DICOM: where every element of a file sits, what its value says, and how to
//! rewrite a few values while every other byte (pixel data included) is copied as it was.
//!
//! dicom-rs re-encodes a whole data set when it writes one (explicit-length sequences turn
//! undefined, pixel data must be loaded first). Our fidelity and speed rules need offsets
//! instead, so this module walks the file itself and leans on dicom-rs for the dictionary,
//! character sets and the transfer-syntax registry.

pub mod dict;
pub mod parse;
pub mod rewrite;
pub mod text;

pub use dicom_core::{Tag, VR};
pub use parse::{Element, ElementKind, Encoding, ParseError, Parsed};

/// Well-known tags used across the crate, named after their DICOM keywords.
pub mod tags {
    use super::Tag;
    pub const TRANSFER_SYNTAX_UID: Tag = Tag(0x0002, 0x0010);
    pub const MEDIA_STORAGE_SOP_CLASS_UID: Tag = Tag(0x0002, 0x0002);
    pub const MEDIA_STORAGE_SOP_INSTANCE_UID: Tag = Tag(0x0002, 0x0003);
    pub const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
    pub const IMAGE_TYPE: Tag = Tag(0x0008, 0x0008);
    pub const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);
    pub const SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x0018);
    pub const STUDY_DATE: Tag = Tag(0x0008, 0x0020);
    pub const ACCESSION_NUMBER: Tag = Tag(0x0008, 0x0050);
    pub const MODALITY: Tag = Tag(0x0008, 0x0060);
    pub const REFERRING_PHYSICIAN_NAME: Tag = Tag(0x0008, 0x0090);
    pub const STUDY_DESCRIPTION: Tag = Tag(0x0008, 0x1030);
    pub const SERIES_DESCRIPTION: Tag = Tag(0x0008, 0x103E);
    pub const REFERENCED_SERIES_SEQUENCE: Tag = Tag(0x0008, 0x1115);
    pub const REFERENCED_IMAGE_SEQUENCE: Tag = Tag(0x0008, 0x1140);
    pub const REFERENCED_INSTANCE_SEQUENCE: Tag = Tag(0x0008, 0x114A);
    pub const REFERENCED_SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x1155);
    pub const SOURCE_IMAGE_SEQUENCE: Tag = Tag(0x0008, 0x2112);
    pub const DERIVATION_IMAGE_SEQUENCE: Tag = Tag(0x0008, 0x9124);
    pub const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
    pub const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
    pub const PATIENT_BIRTH_DATE: Tag = Tag(0x0010, 0x0030);
    pub const OTHER_PATIENT_IDS: Tag = Tag(0x0010, 0x1000);
    pub const OTHER_PATIENT_NAMES: Tag = Tag(0x0010, 0x1001);
    pub const STUDY_INSTANCE_UID: Tag = Tag(0x0020, 0x000D);
    pub const SERIES_INSTANCE_UID: Tag = Tag(0x0020, 0x000E);
    pub const SERIES_NUMBER: Tag = Tag(0x0020, 0x0011);
    pub const INSTANCE_NUMBER: Tag = Tag(0x0020, 0x0013);
    pub const IMAGE_POSITION_PATIENT: Tag = Tag(0x0020, 0x0032);
    pub const IMAGE_ORIENTATION_PATIENT: Tag = Tag(0x0020, 0x0037);
    pub const FRAME_OF_REFERENCE_UID: Tag = Tag(0x0020, 0x0052);
    pub const NUMBER_OF_FRAMES: Tag = Tag(0x0028, 0x0008);
    pub const CONTOUR_IMAGE_SEQUENCE: Tag = Tag(0x3006, 0x0016);
    pub const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
    pub const ITEM: Tag = Tag(0xFFFE, 0xE000);
    pub const ITEM_DELIMITATION: Tag = Tag(0xFFFE, 0xE00D);
    pub const SEQUENCE_DELIMITATION: Tag = Tag(0xFFFE, 0xE0DD);
}

/// Transfer syntax UIDs that change how the data set itself is encoded.
pub mod ts {
    pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
    pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
    pub const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";
    pub const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
    pub const JPIP_REFERENCED_DEFLATE: &str = "1.2.840.10008.1.2.4.95";
}

/// Format a tag the way DICOM people write it: `(0010,0010)`.
pub fn tag_string(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag.0, tag.1)
}

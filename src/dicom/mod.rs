//! Byte-level DICOM: where every element of a file sits, what its value says, and how to
//! rewrite a few values while every other byte (pixel data included) is copied as it was.
//!
//! dicom-rs re-encodes a whole data set when it writes one (explicit-length sequences turn
//! undefined, pixel data must be loaded first). Our fidelity and speed rules need offsets
//! instead, so this module walks the file itself and leans on dicom-rs for the dictionary,
//! character sets and the transfer-syntax registry.

pub mod dict;
pub mod dir;
pub mod jpeg;
pub mod parse;
pub mod pdf;
pub mod rewrite;
pub mod text;

pub use dicom_core::{Tag, VR};
pub use parse::{Element, ElementKind, Encoding, ParseError, Parsed};

/// Tags by DICOM keyword (dicom-dictionary-std's constants), and the three item markers of
/// PS3.5 §7.5 that a data dictionary does not list.
pub mod tags {
    use super::Tag;
    pub use dicom_dictionary_std::tags::*;
    /// Item (FFFE,E000).
    pub const ITEM: Tag = Tag(0xFFFE, 0xE000);
    /// Item Delimitation Item (FFFE,E00D).
    pub const ITEM_DELIMITATION: Tag = Tag(0xFFFE, 0xE00D);
    /// Sequence Delimitation Item (FFFE,E0DD).
    pub const SEQUENCE_DELIMITATION: Tag = Tag(0xFFFE, 0xE0DD);
    /// `OtherPatientIDs` (0010,1000): retired by the standard, still written by many systems.
    #[allow(deprecated)]
    pub const OTHER_PATIENT_IDS: Tag = dicom_dictionary_std::tags::OTHER_PATIENT_I_DS;
}

/// Transfer syntax UIDs that change how the data set itself is encoded.
pub mod ts {
    pub use dicom_dictionary_std::uids::{
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
        JPIP_REFERENCED_DEFLATE,
    };
    /// Explicit VR Big Endian: retired by the standard, still found in old archives.
    #[allow(deprecated)]
    pub const EXPLICIT_VR_BIG_ENDIAN: &str = dicom_dictionary_std::uids::EXPLICIT_VR_BIG_ENDIAN;
}

/// Format a tag the way DICOM people write it: `(0010,0010)`.
#[must_use]
pub fn tag_string(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag.0, tag.1)
}

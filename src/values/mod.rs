//! Values every stage shares: dates and their written forms, new UIDs, and the dummy
//! values a profile puts where a value must stay but say nothing.

pub mod dates;
pub mod shift;
pub mod uid;

use crate::dicom::VR;

/// A dummy value for action D, valid for the VR (and short enough for all of them).
#[must_use]
pub fn dummy_text(vr: VR) -> &'static str {
    match vr {
        VR::DA => "19000101",
        VR::DT => "19000101000000",
        VR::TM => "000000",
        VR::AS => "000D",
        VR::DS | VR::IS => "0",
        VR::UI => "2.25.0",
        VR::UR => "urn:x-dams:anonymized",
        _ => "ANONYMIZED",
    }
}

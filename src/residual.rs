//! Where a patient's identifiers still occur in a file's values (the search itself is the
//! [`crate::matcher`]'s).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dicom::dict;
use crate::dicom::parse::Parsed;

use crate::matcher::{IdentifierKind, Identifiers};
use crate::profile::{Action, Profile};

/// An identifying value that is still in a file. The value itself is never reported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Residual {
    /// The file (relative to its folder).
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    /// Element path, e.g. `(0010,1000)` or `(0008,1110)[0]/(0008,1030)`.
    pub element: String,
    pub keyword: String,
    pub identifier: IdentifierKind,
}

/// Where the patient's identifying strings occur in a file's values, leaving out the
/// elements in `skip` (sorted: those a plan changes anyway).
pub fn residual_in(parsed: &Parsed, path: &Path, ids: &Identifiers, skip: &[usize]) -> Vec<Residual> {
    let mut out = Vec::new();
    for (i, e) in parsed.elements.iter().enumerate() {
        if skip.binary_search(&i).is_ok() {
            continue;
        }
        // Numbers in binary (US, FL, AT, …) hold no text; everything else is searched, bytes
        // (OB, OW, UN) included.
        if holds_no_text(e.value_vr()) {
            continue;
        }
        // Compressed frames: the text segments before their compressed data.
        if e.kind == crate::dicom::parse::ElementKind::Encapsulated {
            let texts = crate::dicom::jpeg::frame_texts(parsed, e).unwrap_or_default();
            let mut kinds: Vec<IdentifierKind> = texts.iter().flat_map(|t| ids.find_in_bytes(t)).collect();
            kinds.sort();
            kinds.dedup();
            for kind in kinds {
                out.push(Residual {
                    path: path.to_path_buf(),
                    element: parsed.path(i),
                    keyword: "PixelData (comment in a compressed frame)".to_string(),
                    identifier: kind,
                });
            }
            continue;
        }
        let Some(v) = parsed.value(e) else { continue };
        let found = match e.value_vr() {
            crate::dicom::VR::OB | crate::dicom::VR::OW | crate::dicom::VR::UN => ids.find_in_bytes(v),
            _ => ids.find(v),
        };
        for kind in found {
            out.push(Residual {
                path: path.to_path_buf(),
                element: parsed.path(i),
                keyword: dict::display_name(e.tag).to_string(),
                identifier: kind,
            });
        }
    }
    out
}

/// VRs of binary numbers: no identifier can be written in them as text.
fn holds_no_text(vr: crate::dicom::VR) -> bool {
    use crate::dicom::VR;
    matches!(
        vr,
        VR::US
            | VR::SS
            | VR::UL
            | VR::SL
            | VR::UV
            | VR::SV
            | VR::FL
            | VR::FD
            | VR::AT
            | VR::OF
            | VR::OD
            | VR::OL
            | VR::OV
    )
}

/// The kinds of identifier the profile keeps on purpose: AccessionNumber and
/// ReferringPhysicianName when no rule (and no Basic Profile action) changes them. Found in
/// an output, they are listed as kept, not held against it.
pub fn kept_on_purpose(profile: &Profile) -> Vec<IdentifierKind> {
    use crate::dicom::tags;
    [
        (IdentifierKind::AccessionNumber, tags::ACCESSION_NUMBER),
        (IdentifierKind::ReferringPhysician, tags::REFERRING_PHYSICIAN_NAME),
    ]
    .into_iter()
    .filter(|(_, tag)| matches!(profile.action_for(*tag), None | Some(Action::Keep | Action::Clean)))
    .map(|(kind, _)| kind)
    .collect()
}

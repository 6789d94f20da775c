//! The Basic Profile's actions fitted to what the file's IOD needs, so that a validator
//! (dicom3tools' `dciodvfy`) finds no error in the output the input did not have.
//!
//! PS3.15 E.1.1 reads a combined code as "the first unless the next is needed for IOD
//! conformance"; dams does not know every IOD's module table, so it decides from what the
//! attribute is where it stands:
//!
//! - **X/Z, X/D, X/Z/D on a top-level sequence** remove it, unless it is listed in [`NEEDED`]
//!   (Type 1 or 2 in the IODs that hold it). ReferencedStudySequence (General Study),
//!   ReferencedPerformedProcedureStepSequence and OperatorIdentificationSequence (General
//!   Series) and InstitutionCodeSequence (General Equipment) are Type 3: an empty one is an
//!   error, a missing one is not. Nested, a combined code keeps its Z or D (the macro around it
//!   may need it).
//! - **D on a sequence** (ContentSequence, VerifyingObserverSequence, WaveformAnnotationSequence
//!   as X/D) keeps its items, so that a Type 1 or 1C sequence stays valid: each element in them
//!   gets its own rule, and one the table removes (X) is replaced by a dummy value instead
//!   (its VR's, `values::dummy_text`), which keeps every item's required attributes. Free
//!   text the table does not list (TextValue: UT; any LT, ST, UC, PN) gets a dummy too, as D
//!   asks of the sequence's content; codes (CS, SH, LO), numbers, UIDs (remapped) and dates
//!   under their own rule keep the report's structure.
//! - **An overlay's group (60xx) goes whole** when its OverlayData (60xx,3000) is removed: an
//!   Overlay Plane without its data is an error.
//! - **ResponsibleOrganization, ResponsiblePerson** (X) are Type 2C, required when the patient
//!   is an animal (PatientSpeciesDescription or PatientSpeciesCodeSequence present): emptied
//!   (Z) there instead of removed.
//!
//! A user's own rule for an attribute is never changed here.

use crate::dicom::parse::{Element, ElementKind, Parsed, TOP};
use crate::dicom::{Tag, VR};
use crate::profile::{Action, Profile};

/// Top-level sequences with a combined X code that an IOD needs: the tag, its type there
/// (1: kept with its items, as D; 2: emptied, as Z) and the modalities whose IODs need it
/// (empty: every IOD that holds it). AcquisitionContextSequence is Type 2 in the Acquisition
/// Context Module, WaveformAnnotationSequence Type 1 in the Waveform Annotation Module,
/// ReferencedPerformedProcedureStepSequence Type 2 in the SR Document Series and Key Object
/// Document Series Modules (Type 3 in General Series).
const NEEDED: &[(Tag, u8, &[&str])] = &[
    (Tag(0x0040, 0x0555), 2, &[]),
    (Tag(0x0040, 0xB020), 1, &[]),
    (Tag(0x0008, 0x1111), 2, &["SR", "KO"]),
];

/// Modality (0008,0060).
const MODALITY: Tag = Tag(0x0008, 0x0060);

/// ResponsibleOrganization, ResponsiblePerson: Type 2C in the Patient Module (animals).
const RESPONSIBLE: &[Tag] = &[Tag(0x0010, 0x2299), Tag(0x0010, 0x2297)];

/// PatientSpeciesDescription, PatientSpeciesCodeSequence: the patient is an animal.
const SPECIES: &[Tag] = &[Tag(0x0010, 0x2201), Tag(0x0010, 0x2202)];

/// The action for element `i` once fitted to the IOD (`action`: its rule's, `None` when no
/// rule touches it). `dummied` marks the sequences kept by D, whose elements' X becomes D;
/// elements are visited in file order, so a sequence is marked before its items' elements.
pub(super) fn fitted(
    profile: &Profile,
    parsed: &Parsed,
    i: usize,
    e: &Element,
    action: Option<Action>,
    dummied: &mut [bool],
) -> Option<Action> {
    if overlay_goes(profile, parsed, e) {
        return Some(Action::Remove);
    }
    let Some(annex) = profile.annex_e.as_ref() else {
        return action;
    };
    if e.tag.0 % 2 == 1 || profile.rule(e.tag).is_some() {
        return action;
    }
    if matches!(action, None | Some(Action::Clean)) && is_free_text(e) && parsed.within(i, dummied) {
        return Some(Action::Dummy);
    }
    let action = action?;
    let top = e.parent == TOP;
    let sequence = e.kind == ElementKind::Sequence;
    Some(match action {
        Action::Remove if top && RESPONSIBLE.contains(&e.tag) && is_animal(parsed) => Action::Empty,
        Action::Remove if parsed.within(i, dummied) => match e.kind {
            ElementKind::Sequence => {
                dummied[i] = true;
                Action::Keep
            }
            ElementKind::Value => Action::Dummy,
            ElementKind::Bulk | ElementKind::Encapsulated => Action::Remove,
        },
        Action::Empty | Action::Dummy if sequence && top && annex.may_remove(e.tag) => match needed(parsed, e.tag) {
            None => Action::Remove,
            Some(2) => Action::Empty,
            Some(_) => {
                dummied[i] = true;
                Action::Keep
            }
        },
        Action::Dummy if sequence => {
            dummied[i] = true;
            Action::Keep
        }
        a => a,
    })
}

/// Whether `e` belongs to a top-level overlay group (60xx, even) whose OverlayData the
/// profile removes (and no rule of its own keeps `e`).
fn overlay_goes(profile: &Profile, parsed: &Parsed, e: &Element) -> bool {
    let g = e.tag.0;
    if e.parent != TOP || !(0x6000..=0x601E).contains(&g) || g % 2 == 1 || e.tag.1 == 0 || profile.rule(e.tag).is_some()
    {
        return false;
    }
    let data = Tag(g, 0x3000);
    matches!(profile.action_for(data), Some(Action::Remove)) && parsed.top(data).is_some()
}

/// A non-empty value of a free-text or person-name VR (not a code: CS, SH and LO carry the
/// code values and meanings a report's structure needs).
fn is_free_text(e: &Element) -> bool {
    e.kind == ElementKind::Value && e.length > 0 && matches!(e.value_vr(), VR::LT | VR::ST | VR::UT | VR::UC | VR::PN)
}

fn is_animal(parsed: &Parsed) -> bool {
    SPECIES.iter().any(|t| parsed.top(*t).is_some())
}

/// The type of a top-level sequence in the file's IOD, when [`NEEDED`] says it needs it.
fn needed(parsed: &Parsed, tag: Tag) -> Option<u8> {
    let modality = parsed.top_string(MODALITY).unwrap_or_default();
    NEEDED
        .iter()
        .find(|(t, _, m)| *t == tag && (m.is_empty() || m.contains(&modality.trim())))
        .map(|(_, ty, _)| *ty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::parse::parse_bytes;

    /// An explicit VR little endian file built by hand.
    fn file(body: &[u8]) -> Parsed {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        let ts = b"1.2.840.10008.1.2.1\0";
        let mut meta = short((0x0002, 0x0010), b"UI", ts);
        let mut head = vec![0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0];
        head.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        head.append(&mut meta);
        f.extend(head);
        f.extend_from_slice(body);
        parse_bytes(f).unwrap()
    }

    fn short(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    fn long(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&(value.len() as u32).to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    /// A sequence of one item holding `item`.
    fn sq(tag: (u16, u16), item: &[u8]) -> Vec<u8> {
        let mut it = vec![0xFE, 0xFF, 0x00, 0xE0];
        it.extend_from_slice(&(item.len() as u32).to_le_bytes());
        it.extend_from_slice(item);
        long(tag, b"SQ", &it)
    }

    /// Every element's fitted action under `basic`, by tag, in file order.
    fn fitted_all(p: &Parsed) -> Vec<(Tag, Option<Action>)> {
        let profile = Profile::resolve(Some("basic"), &[]).unwrap();
        let mut dummied = vec![false; p.elements.len()];
        (0..p.elements.len())
            .filter(|&i| p.elements[i].tag.0 != 0x0002)
            .map(|i| {
                let e = &p.elements[i];
                let action = profile.action_for(e.tag).cloned();
                (e.tag, fitted(&profile, p, i, e, action, &mut dummied))
            })
            .collect()
    }

    fn action_of(all: &[(Tag, Option<Action>)], tag: Tag) -> Option<Action> {
        all.iter().find(|(t, _)| *t == tag).and_then(|(_, a)| a.clone())
    }

    #[test]
    fn a_type3_sequence_with_a_combined_code_is_removed_and_a_needed_one_kept() {
        let mut body = short((0x0008, 0x0060), b"CS", b"CT");
        body.extend(sq((0x0008, 0x1110), &short((0x0008, 0x1150), b"UI", b"1.2\0")));
        body.extend(sq((0x0008, 0x1111), &short((0x0008, 0x1150), b"UI", b"1.2\0")));
        let all = fitted_all(&file(&body));
        assert_eq!(
            action_of(&all, Tag(0x0008, 0x1110)),
            Some(Action::Remove),
            "X/Z, Type 3"
        );
        assert_eq!(
            action_of(&all, Tag(0x0008, 0x1111)),
            Some(Action::Remove),
            "X/Z/D, Type 3"
        );
        // In an SR, ReferencedPerformedProcedureStepSequence is Type 2: emptied.
        let mut body = short((0x0008, 0x0060), b"CS", b"SR");
        body.extend(sq((0x0008, 0x1111), &short((0x0008, 0x1150), b"UI", b"1.2\0")));
        let all = fitted_all(&file(&body));
        assert_eq!(
            action_of(&all, Tag(0x0008, 0x1111)),
            Some(Action::Empty),
            "Type 2 in SR"
        );
    }

    #[test]
    fn d_on_a_sequence_keeps_its_items_and_what_x_removes_in_them_gets_a_dummy() {
        // ContentSequence (D) holding a standard attribute the table removes (X:
        // ResponsiblePerson stands in), one it replaces (D) and a private one.
        let mut item = short((0x0010, 0x2297), b"PN", b"DOE^JANE");
        item.extend(short((0x0040, 0xA123), b"PN", b"DOE^JOHN"));
        item.extend(long((0x0040, 0xA160), b"UT", b"seen by Dr Who"));
        item.extend(short((0x0040, 0xA040), b"CS", b"TEXT"));
        item.extend(short((0x0009, 0x0010), b"LO", b"ACME"));
        item.extend(short((0x0009, 0x1001), b"LO", b"secret"));
        let p = file(&sq((0x0040, 0xA730), &item));
        let all = fitted_all(&p);
        assert_eq!(action_of(&all, Tag(0x0040, 0xA730)), Some(Action::Keep), "items kept");
        assert_eq!(
            action_of(&all, Tag(0x0010, 0x2297)),
            Some(Action::Dummy),
            "X → D inside"
        );
        assert_eq!(action_of(&all, Tag(0x0040, 0xA123)), Some(Action::Dummy), "own rule D");
        assert_eq!(action_of(&all, Tag(0x0040, 0xA160)), Some(Action::Dummy), "TextValue");
        assert_eq!(action_of(&all, Tag(0x0040, 0xA040)), None, "ValueType stays");
        // Private elements are not in the table: the profile's own (Remove) stays.
        let profile = Profile::resolve(Some("basic"), &[]).unwrap();
        let i = p.elements.iter().position(|e| e.tag == Tag(0x0009, 0x1001)).unwrap();
        let mut dummied = vec![true; p.elements.len()];
        let a = fitted(&profile, &p, i, &p.elements[i], Some(Action::Remove), &mut dummied);
        assert_eq!(a, Some(Action::Remove));
    }

    #[test]
    fn a_waveform_annotation_sequence_keeps_its_items() {
        let item = short((0x0070, 0x0006), b"ST", b"note");
        let all = fitted_all(&file(&sq((0x0040, 0xB020), &item)));
        assert_eq!(action_of(&all, Tag(0x0040, 0xB020)), Some(Action::Keep), "X/D, Type 1");
        assert_eq!(action_of(&all, Tag(0x0070, 0x0006)), Some(Action::Dummy));
    }

    #[test]
    fn an_overlay_group_goes_whole_with_its_data() {
        let mut body = short((0x6000, 0x0010), b"US", &[4, 0]);
        body.extend(short((0x6000, 0x0011), b"US", &[4, 0]));
        body.extend(long((0x6000, 0x3000), b"OW", &[0; 2]));
        body.extend(short((0x6002, 0x0010), b"US", &[4, 0]));
        let all = fitted_all(&file(&body));
        assert_eq!(action_of(&all, Tag(0x6000, 0x0010)), Some(Action::Remove));
        assert_eq!(action_of(&all, Tag(0x6000, 0x0011)), Some(Action::Remove));
        assert_eq!(action_of(&all, Tag(0x6000, 0x3000)), Some(Action::Remove));
        assert_eq!(action_of(&all, Tag(0x6002, 0x0010)), None, "a group without data stays");
        // A rule of the user's own for an element of the group is kept.
        let text = format!(
            "{}\n[[dicom]]\ntag = \"(6000,0011)\"\naction = \"keep\"\n",
            crate::profile::builtin_text("basic").unwrap()
        );
        let profile = Profile::parse(&text, "test.toml", &[]).unwrap();
        let p = file(&body);
        let i = p.elements.iter().position(|e| e.tag == Tag(0x6000, 0x0011)).unwrap();
        let mut dummied = vec![false; p.elements.len()];
        let a = fitted(&profile, &p, i, &p.elements[i], Some(Action::Keep), &mut dummied);
        assert_eq!(a, Some(Action::Keep));
    }

    #[test]
    fn responsible_person_is_emptied_for_an_animal_only() {
        let person = short((0x0010, 0x2297), b"PN", b"DOE^JANE");
        let all = fitted_all(&file(&person));
        assert_eq!(action_of(&all, Tag(0x0010, 0x2297)), Some(Action::Remove), "a human");
        let mut body = short((0x0010, 0x2201), b"LO", b"cat ");
        body.extend(person);
        body.extend(short((0x0010, 0x2299), b"LO", b"ZOO "));
        let all = fitted_all(&file(&body));
        assert_eq!(action_of(&all, Tag(0x0010, 0x2297)), Some(Action::Empty), "Type 2C");
        assert_eq!(action_of(&all, Tag(0x0010, 0x2299)), Some(Action::Empty), "Type 2C");
    }
}

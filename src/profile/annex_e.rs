//! The DICOM Basic Application Level Confidentiality Profile (PS3.15 Annex E, Table E.1-1,
//! edition in `assets/annex_e/README.md`) and its options, compiled into one action per tag.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;

use super::action::Action;
use crate::dicom::{Tag, VR, dict, tags};

const TABLE: &str = include_str!("../../assets/annex_e/table_e1_1.tsv");
const SAFE_PRIVATE: &str = include_str!("../../assets/annex_e/safe_private.tsv");
pub const EDITION: &str = "PS3.15 2026d";
/// dams' Implementation Class UID (`uid::from_seed("dams implementation class uid")`), written
/// in the file meta of de-identified files in place of the original writer's.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.13469996910360635550447189135214341923";
/// dams' Implementation Version Name, written beside [`IMPLEMENTATION_CLASS_UID`].
pub const IMPLEMENTATION_VERSION_NAME: &str = "DAMS";

/// The options of PS3.15 E.3 a profile can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnnexOption {
    RetainSafePrivate,
    RetainUids,
    RetainDeviceIdentity,
    RetainInstitutionIdentity,
    RetainPatientCharacteristics,
    RetainLongitudinalFullDates,
    RetainLongitudinalModifiedDates,
    CleanDescriptors,
    CleanStructuredContent,
    CleanGraphics,
}

impl AnnexOption {
    /// Every option's name, as profiles and `--option` write it.
    #[must_use]
    pub fn names() -> Vec<&'static str> {
        vec![
            "retain-safe-private",
            "retain-uids",
            "retain-device-identity",
            "retain-institution-identity",
            "retain-patient-characteristics",
            "retain-longitudinal-full-dates",
            "retain-longitudinal-modified-dates",
            "clean-descriptors",
            "clean-structured-content",
            "clean-graphics",
        ]
    }

    /// The table column of the option.
    fn column(self) -> usize {
        match self {
            AnnexOption::RetainSafePrivate => 4,
            AnnexOption::RetainUids => 5,
            AnnexOption::RetainDeviceIdentity => 6,
            AnnexOption::RetainInstitutionIdentity => 7,
            AnnexOption::RetainPatientCharacteristics => 8,
            AnnexOption::RetainLongitudinalFullDates => 9,
            AnnexOption::RetainLongitudinalModifiedDates => 10,
            AnnexOption::CleanDescriptors => 11,
            AnnexOption::CleanStructuredContent => 12,
            AnnexOption::CleanGraphics => 13,
        }
    }

    /// The code of the option in `DeidentificationMethodCodeSequence` (PS3.16 CID 7050).
    #[must_use]
    pub fn code(self) -> (&'static str, &'static str) {
        match self {
            AnnexOption::RetainSafePrivate => ("113111", "Retain Safe Private Option"),
            AnnexOption::RetainUids => ("113110", "Retain UIDs Option"),
            AnnexOption::RetainDeviceIdentity => ("113109", "Retain Device Identity Option"),
            AnnexOption::RetainInstitutionIdentity => ("113112", "Retain Institution Identity Option"),
            AnnexOption::RetainPatientCharacteristics => ("113108", "Retain Patient Characteristics Option"),
            AnnexOption::RetainLongitudinalFullDates => {
                ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
            }
            AnnexOption::RetainLongitudinalModifiedDates => (
                "113107",
                "Retain Longitudinal Temporal Information Modified Dates Option",
            ),
            AnnexOption::CleanDescriptors => ("113105", "Clean Descriptors Option"),
            AnnexOption::CleanStructuredContent => ("113104", "Clean Structured Content Option"),
            AnnexOption::CleanGraphics => ("113103", "Clean Graphics Option"),
        }
    }
}

/// A tag pattern of the table: one tag, or a repeating group such as `(60xx,4000)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pattern {
    group: u16,
    group_mask: u16,
    element: u16,
    element_mask: u16,
}

impl Pattern {
    fn parse(text: &str) -> Option<Pattern> {
        let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
        let (g, e) = inner.split_once(',')?;
        let half = |s: &str| -> Option<(u16, u16)> {
            if s.len() != 4 {
                return None;
            }
            let mut value = 0u16;
            let mut mask = 0u16;
            for c in s.chars() {
                value <<= 4;
                mask <<= 4;
                if let Some(d) = c.to_digit(16) {
                    value |= d as u16;
                    mask |= 0xF;
                } else if c != 'x' && c != 'X' {
                    return None;
                }
            }
            Some((value, mask))
        };
        let (group, group_mask) = half(g)?;
        let (element, element_mask) = half(e)?;
        Some(Pattern {
            group,
            group_mask,
            element,
            element_mask,
        })
    }

    fn matches(self, t: Tag) -> bool {
        t.0 & self.group_mask == self.group && t.1 & self.element_mask == self.element
    }
}

/// The Basic Profile with a set of options, as actions.
#[derive(Debug, Clone)]
pub struct AnnexE {
    pub options: BTreeSet<AnnexOption>,
    exact: HashMap<Tag, Action>,
    patterns: Vec<(Pattern, Action)>,
    /// Attributes whose code (with the options in force) offers removal beside another
    /// action (X/Z, X/D, X/Z/D): removed where the IOD does not need them (see
    /// `plan::conform`).
    removable: std::collections::HashSet<Tag>,
    /// Action for private attributes not on the safe list (X).
    private: Action,
    /// (private creator, group, element low byte) of the safe private attributes, when
    /// Retain Safe Private is on.
    safe: Option<HashMap<(String, u16, u8), ()>>,
}

/// How a table code (with the options in force) becomes one action. Combined codes take
/// the branch that keeps an IOD valid without knowing the attribute's type in it:
/// X/Z → Z, X/D → D, Z/D → D, X/Z/D → D; X/Z/U* keeps the sequence, whose referenced UIDs
/// are replaced by their own U rule. C on a date or datetime is the patient's date shift (the
/// Modified Dates option: every interval stays); C elsewhere cleans the patient's identifiers
/// out of the text.
fn action_of(code: &str, vr: Option<VR>) -> Option<Action> {
    Some(match code.trim() {
        "X" => Action::Remove,
        "Z" | "X/Z" => Action::Empty,
        "D" | "X/D" | "Z/D" | "X/Z/D" => Action::Dummy,
        "K" | "X/Z/U*" => Action::Keep,
        "U" => Action::Uid,
        "C" if matches!(vr, Some(VR::DA | VR::DT)) => Action::Shift,
        "C" => Action::Clean,
        _ => return None,
    })
}

impl AnnexE {
    #[must_use]
    pub fn new(options: BTreeSet<AnnexOption>) -> AnnexE {
        let mut exact = HashMap::new();
        let mut patterns = Vec::new();
        let mut private = Action::Remove;
        let mut removable = std::collections::HashSet::new();
        for line in TABLE.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 14 {
                continue;
            }
            // The first option in force that names an action for the row wins; retain (K)
            // options before clean (C) ones, as a user who asks to keep expects.
            let mut chosen = cols[3];
            let mut by_option: Vec<(&str, AnnexOption)> = options
                .iter()
                .map(|o| (cols[o.column()].trim(), *o))
                .filter(|(c, _)| !c.is_empty())
                .collect();
            by_option.sort_by_key(|(c, _)| *c != "K");
            if let Some((c, _)) = by_option.first() {
                chosen = c;
            }
            if cols[0].contains("gggg") {
                private = if chosen.trim() == "C" {
                    Action::Keep
                } else {
                    Action::Remove
                };
                continue;
            }
            let Some(p) = Pattern::parse(cols[0]) else { continue };
            let vr = (p.group_mask == 0xFFFF && p.element_mask == 0xFFFF)
                .then(|| dict::vr_of(Tag(p.group, p.element)))
                .flatten();
            // Modified dates moves the day, not the time of day: a time stays as it is.
            let chosen = if chosen.trim() == "C" && matches!(vr, Some(VR::TM)) {
                "K"
            } else {
                chosen
            };
            let Some(action) = action_of(chosen, vr) else { continue };
            if p.group_mask == 0xFFFF && p.element_mask == 0xFFFF {
                if matches!(chosen.trim(), "X/Z" | "X/D" | "X/Z/D") {
                    removable.insert(Tag(p.group, p.element));
                }
                exact.insert(Tag(p.group, p.element), action);
            } else {
                patterns.push((p, action));
            }
        }
        // The file meta names the application that wrote the original (its AE titles, its
        // implementation, private information): replaced by dams' own or removed.
        for tag in [
            tags::SOURCE_APPLICATION_ENTITY_TITLE,
            tags::SENDING_APPLICATION_ENTITY_TITLE,
            tags::RECEIVING_APPLICATION_ENTITY_TITLE,
            tags::PRIVATE_INFORMATION_CREATOR_UID,
            tags::PRIVATE_INFORMATION,
        ] {
            exact.insert(tag, Action::Remove);
        }
        exact.insert(
            tags::IMPLEMENTATION_CLASS_UID,
            Action::Replace(IMPLEMENTATION_CLASS_UID.into()),
        );
        exact.insert(
            tags::IMPLEMENTATION_VERSION_NAME,
            Action::Replace(IMPLEMENTATION_VERSION_NAME.into()),
        );
        // Modified dates: the birth date moves with the patient's other dates, so every age
        // at a study stays (a profile line for PatientBirthDate wins, e.g. keep-year).
        if options.contains(&AnnexOption::RetainLongitudinalModifiedDates) {
            exact.insert(dicom_dictionary_std::tags::PATIENT_BIRTH_DATE, Action::Shift);
        }
        let safe = options.contains(&AnnexOption::RetainSafePrivate).then(|| {
            let mut m = HashMap::new();
            for line in SAFE_PRIVATE.lines().skip(1) {
                let cols: Vec<&str> = line.split('\t').collect();
                if cols.len() < 2 {
                    continue;
                }
                // "(0019,xx27)": the group and the element's low byte, under the creator.
                let t = cols[0].trim().trim_start_matches('(').trim_end_matches(')');
                let Some((g, e)) = t.split_once(',') else { continue };
                let (Ok(g), Ok(low)) = (
                    u16::from_str_radix(g, 16),
                    u8::from_str_radix(e.get(2..4).unwrap_or(""), 16),
                ) else {
                    continue;
                };
                m.insert((cols[1].trim().to_string(), g, low), ());
            }
            m
        });
        AnnexE {
            options,
            exact,
            patterns,
            removable,
            private,
            safe,
        }
    }

    /// True when the table's code for a standard attribute offers removal beside the action
    /// [`AnnexE::action`] gives (X/Z, X/D, X/Z/D): PS3.15 removes it unless the IOD needs it.
    #[must_use]
    pub fn may_remove(&self, tag: Tag) -> bool {
        self.removable.contains(&tag)
    }

    /// The action for a standard (even group) attribute; `None` when the table does not
    /// list it (it is kept).
    #[must_use]
    pub fn action(&self, tag: Tag) -> Option<&Action> {
        self.exact
            .get(&tag)
            .or_else(|| self.patterns.iter().find(|(p, _)| p.matches(tag)).map(|(_, a)| a))
    }

    /// The action for a private attribute, given its private creator (if found).
    #[must_use]
    pub fn private_action(&self, tag: Tag, creator: Option<&str>) -> Action {
        if let (Some(safe), Some(creator)) = (&self.safe, creator) {
            let is_creator = (0x0010..=0x00FF).contains(&tag.1);
            let low = (tag.1 & 0xFF) as u8;
            let kept = if is_creator {
                safe.keys().any(|(c, g, _)| c == creator && *g == tag.0)
            } else {
                safe.contains_key(&(creator.to_string(), tag.0, low))
            };
            if kept {
                return Action::Keep;
            }
        }
        if self.private == Action::Keep && self.safe.is_none() {
            return Action::Keep;
        }
        Action::Remove
    }

    /// True when UIDs are replaced (the Retain UIDs option is off).
    #[must_use]
    pub fn replaces_uids(&self) -> bool {
        !self.options.contains(&AnnexOption::RetainUids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_actions_from_the_table() {
        let a = AnnexE::new(BTreeSet::new());
        assert_eq!(a.action(Tag(0x0008, 0x0050)), Some(&Action::Empty), "AccessionNumber Z");
        assert_eq!(a.action(Tag(0x0008, 0x0018)), Some(&Action::Uid), "SOPInstanceUID U");
        assert_eq!(
            a.action(Tag(0x0008, 0x0080)),
            Some(&Action::Dummy),
            "InstitutionName X/Z/D → D"
        );
        assert_eq!(a.action(Tag(0x0010, 0x0020)), Some(&Action::Dummy), "PatientID Z/D → D");
        assert_eq!(
            a.action(Tag(0x0002, 0x0003)),
            Some(&Action::Uid),
            "MediaStorageSOPInstanceUID U"
        );
        assert_eq!(
            a.action(Tag(0x6002, 0x4000)),
            Some(&Action::Remove),
            "overlay comments (60xx,4000)"
        );
        assert_eq!(
            a.action(Tag(0x5004, 0x0010)),
            Some(&Action::Remove),
            "curve data (50xx,xxxx)"
        );
        assert_eq!(a.action(Tag(0x0028, 0x0010)), None, "Rows is not in the table");
        assert!(a.may_remove(Tag(0x0008, 0x1110)), "ReferencedStudySequence X/Z");
        assert!(a.may_remove(Tag(0x0040, 0xB020)), "WaveformAnnotationSequence X/D");
        assert!(!a.may_remove(Tag(0x0040, 0xA730)), "ContentSequence D");
        assert!(
            !a.may_remove(Tag(0x0008, 0x1140)),
            "ReferencedImageSequence X/Z/U* is kept"
        );
        assert_eq!(
            a.private_action(Tag(0x0019, 0x1027), Some("GEMS_ACQU_01")),
            Action::Remove
        );
    }

    #[test]
    fn implementation_uid_is_the_documented_one() {
        assert_eq!(
            crate::values::uid::from_seed("dams implementation class uid"),
            IMPLEMENTATION_CLASS_UID
        );
    }

    #[test]
    fn options_change_actions() {
        let full = AnnexE::new([AnnexOption::RetainLongitudinalFullDates].into());
        assert_eq!(full.action(Tag(0x0008, 0x0020)), Some(&Action::Keep), "StudyDate kept");
        let modified = AnnexE::new([AnnexOption::RetainLongitudinalModifiedDates].into());
        assert_eq!(modified.action(Tag(0x0008, 0x0020)), Some(&Action::Shift));
        assert_eq!(
            modified.action(Tag(0x0008, 0x0030)),
            Some(&Action::Keep),
            "StudyTime stays"
        );
        assert_eq!(modified.action(Tag(0x0010, 0x0030)), Some(&Action::Shift), "birth date");
        let uids = AnnexE::new([AnnexOption::RetainUids].into());
        assert_eq!(uids.action(Tag(0x0008, 0x0018)), Some(&Action::Keep));
        assert!(!uids.replaces_uids());
        let chars = AnnexE::new([AnnexOption::RetainPatientCharacteristics].into());
        assert_eq!(
            chars.action(Tag(0x0010, 0x0040)),
            Some(&Action::Keep),
            "PatientSex kept"
        );
        let desc = AnnexE::new([AnnexOption::CleanDescriptors].into());
        assert_eq!(
            desc.action(Tag(0x0008, 0x1030)),
            Some(&Action::Clean),
            "StudyDescription cleaned"
        );
    }
}

//! Tag ↔ keyword ↔ VR look-ups over the standard dictionary (dicom-dictionary-std),
//! plus the parsing of the tag notations users write in profiles.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};

use dicom_dictionary_std::StandardDataDictionary;

use super::{Tag, VR};

/// The keyword of a tag, e.g. `PatientName`; `None` for private and unknown tags.
#[must_use]
pub fn keyword(tag: Tag) -> Option<&'static str> {
    if tag.0 % 2 == 1 {
        return None;
    }
    StandardDataDictionary.by_tag(tag).map(|e| e.alias)
}

/// The VR the dictionary gives a tag (relaxed for the context-dependent ones: xs → US, ox → OW).
#[must_use]
pub fn vr_of(tag: Tag) -> Option<VR> {
    if tag.0 % 2 == 1 {
        // Private creators are LO; other private elements are unknown without the creator.
        return (0x0010..=0x00FF).contains(&tag.1).then_some(VR::LO);
    }
    StandardDataDictionary.by_tag(tag).map(|e| e.vr().relaxed())
}

/// Parse what a user wrote for a tag: a keyword (`PatientName`) or `(0010,0010)` / `0010,0010` /
/// `00100010`. Returns `None` when it is neither.
#[must_use]
pub fn parse_tag(text: &str) -> Option<Tag> {
    let t = text.trim();
    let inner = t.strip_prefix('(').and_then(|s| s.strip_suffix(')')).unwrap_or(t);
    let (g, e) = match inner.split_once(',') {
        Some((g, e)) => (g.trim(), e.trim()),
        None if inner.len() == 8 => inner.split_at(4),
        None => ("", ""),
    };
    let is_hex4 = |s: &str| s.len() == 4 && s.chars().all(|c| c.is_ascii_hexdigit());
    if is_hex4(g) && is_hex4(e) {
        return Some(Tag(u16::from_str_radix(g, 16).ok()?, u16::from_str_radix(e, 16).ok()?));
    }
    if t.chars().all(|c| c.is_ascii_alphanumeric()) {
        return StandardDataDictionary.by_name(t).map(|e| e.tag_range().inner());
    }
    None
}

/// A display name for a tag: its keyword, or `Private`/`Unknown`.
#[must_use]
pub fn display_name(tag: Tag) -> &'static str {
    if tag.0 % 2 == 1 {
        if (0x0010..=0x00FF).contains(&tag.1) {
            "PrivateCreator"
        } else {
            "Private"
        }
    } else {
        keyword(tag).unwrap_or("Unknown")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keywords_and_numeric_forms() {
        assert_eq!(parse_tag("PatientName"), Some(Tag(0x0010, 0x0010)));
        assert_eq!(parse_tag("(0010,0020)"), Some(Tag(0x0010, 0x0020)));
        assert_eq!(parse_tag("0008,1030"), Some(Tag(0x0008, 0x1030)));
        assert_eq!(parse_tag("00081030"), Some(Tag(0x0008, 0x1030)));
        assert_eq!(parse_tag("(0009,10ab)"), Some(Tag(0x0009, 0x10AB)));
        assert_eq!(parse_tag("PatientNme"), None);
        assert_eq!(parse_tag("(0010,00"), None);
        assert_eq!(parse_tag(""), None);
    }

    #[test]
    fn keywords_and_vrs() {
        assert_eq!(keyword(Tag(0x0010, 0x0010)), Some("PatientName"));
        assert_eq!(vr_of(Tag(0x0010, 0x0030)), Some(VR::DA));
        assert_eq!(vr_of(Tag(0x0008, 0x1140)), Some(VR::SQ));
        assert_eq!(keyword(Tag(0x0009, 0x1001)), None);
        assert_eq!(display_name(Tag(0x0009, 0x0010)), "PrivateCreator");
    }
}

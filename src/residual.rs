//! Where a patient's identifiers still occur in a file's values (the search itself is the
//! [`crate::matcher`]'s).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dicom::parse::Parsed;
use crate::dicom::{VR, dict};

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

/// What a path's names hold of the patients' identifiers ([`in_path`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFindings {
    /// Identifiers dams replaces in names ([`crate::matcher::NameRules`]): left in a name,
    /// they are held against the output (another patient's ID in a folder of someone else's
    /// files, a folder of several patients named after one).
    pub residual: Vec<Residual>,
    /// What the search finds that is too short or generic to be replaced inside a name
    /// (`MR1`, `12345` in `12345_CT`): kept on purpose, listed.
    pub kept: Vec<Residual>,
}

impl NameFindings {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.residual.is_empty() && self.kept.is_empty()
    }
}

/// How a report names part `k` of the names of `rel`: `file name` for the last, `folder name
/// DIR/SUB` (the folder's path, escaped) for a folder.
#[must_use]
pub fn name_element(rel: &Path, k: usize) -> String {
    let parts: Vec<_> = rel.iter().collect();
    if k + 1 == parts.len() {
        "file name".to_string()
    } else {
        format!(
            "folder name {}",
            crate::shown::text(&parts[..=k].iter().collect::<PathBuf>().to_string_lossy())
        )
    }
}

/// The kinds of identifier one file or folder name holds, each with whether dams replaces
/// it in names (see [`NameFindings`]).
#[must_use]
pub fn name_hits(
    name: &std::ffi::OsStr,
    is_file: bool,
    ids: &Identifiers,
    rules: &crate::matcher::NameRules,
) -> Vec<(IdentifierKind, bool)> {
    let kinds = ids.find(name.as_encoded_bytes());
    if kinds.is_empty() {
        return Vec::new();
    }
    let replaced = rules.replaces(&name.to_string_lossy(), is_file);
    kinds.into_iter().map(|k| (k, replaced)).collect()
}

/// Patients whose identifiers one part of [`names_hits`] searches at once: a search over
/// every patient of a cohort in every spelling took some 6 KiB a patient while it was built
/// (issue 17); a part of this many takes about 12 MB.
const NAMES_PART: usize = 2_000;

/// [`name_hits`] of many file (`true`) and folder names at once, against every identity,
/// without one search over all of them: the identities are searched a part at a time
/// ([`NAMES_PART`]), each part's search dropped before the next is built, every name on every
/// core. The same answer as one search over everyone: a name holds the kinds any part finds
/// in it, and it is replaced when any part's rules replace it (both searches try every
/// pattern at every place).
#[must_use]
pub fn names_hits(
    names: &[(&std::ffi::OsStr, bool)],
    identities: &[&crate::identity::Identity],
    study_dates: bool,
) -> Vec<Vec<(IdentifierKind, bool)>> {
    names_hits_by(names, identities, study_dates, NAMES_PART)
}

/// [`names_hits`], `part` identities at a time.
fn names_hits_by(
    names: &[(&std::ffi::OsStr, bool)],
    identities: &[&crate::identity::Identity],
    study_dates: bool,
    part: usize,
) -> Vec<Vec<(IdentifierKind, bool)>> {
    use rayon::prelude::*;
    let mut kinds: Vec<Vec<IdentifierKind>> = vec![Vec::new(); names.len()];
    for part in identities.chunks(part) {
        let ids = crate::matcher::search_for_all(part.iter().copied(), study_dates);
        kinds.par_iter_mut().zip(names.par_iter()).for_each(|(k, (name, _))| {
            let found = ids.find(name.as_encoded_bytes());
            if !found.is_empty() {
                k.extend(found);
                k.sort();
                k.dedup();
            }
        });
    }
    let mut replaced = vec![false; names.len()];
    if kinds.iter().any(|k| !k.is_empty()) {
        for part in identities.chunks(part) {
            let rules = crate::matcher::NameRules::new(part.iter().copied(), study_dates);
            replaced
                .par_iter_mut()
                .zip(names.par_iter().zip(kinds.par_iter()))
                .filter(|(r, (_, k))| !**r && !k.is_empty())
                .for_each(|(r, ((name, is_file), _))| *r = rules.replaces(&name.to_string_lossy(), *is_file));
        }
    }
    kinds
        .into_iter()
        .zip(replaced)
        .map(|(k, r)| k.into_iter().map(|k| (k, r)).collect())
        .collect()
}

/// The identifiers in the file's and its folders' names (`rel`, relative to the output),
/// as [`NameFindings`]: what plan, apply and verify say of every path, in the same words.
#[must_use]
pub fn in_path(rel: &Path, ids: &Identifiers, rules: &crate::matcher::NameRules) -> NameFindings {
    let parts: Vec<_> = rel.iter().collect();
    let mut out = NameFindings::default();
    for (k, part) in parts.iter().enumerate() {
        for (kind, replaced) in name_hits(part, k + 1 == parts.len(), ids, rules) {
            let r = Residual {
                path: rel.to_path_buf(),
                element: name_element(rel, k),
                keyword: "path".into(),
                identifier: kind,
            };
            if replaced {
                out.residual.push(r);
            } else {
                out.kept.push(r);
            }
        }
    }
    out
}

/// Where the patient's identifying strings occur in a file's values, leaving out the
/// elements in `skip` (sorted: those a plan changes anyway).
#[must_use]
pub fn residual_in(parsed: &Parsed, path: &Path, ids: &Identifiers, skip: &[usize]) -> Vec<Residual> {
    residual_noting(parsed, path, ids, skip, &mut Vec::new())
}

/// [`residual_in`], adding to `notes` why a part of the file could not be searched (an
/// encrypted or unreadable PDF): one pass over the file for both.
pub fn residual_noting(
    parsed: &Parsed,
    path: &Path,
    ids: &Identifiers,
    skip: &[usize],
    notes: &mut Vec<String>,
) -> Vec<Residual> {
    use crate::dicom::parse::ElementKind;
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
        let mut found: Vec<(IdentifierKind, &str)> = Vec::new();
        let keyword = dict::display_name(e.tag);
        if e.kind == ElementKind::Encapsulated {
            // Compressed frames: the text segments before their compressed data.
            let texts = crate::dicom::jpeg::frame_texts(parsed, e).unwrap_or_default();
            let kinds = texts.iter().flat_map(|t| ids.find_in_bytes(t));
            found.extend(kinds.map(|k| (k, "PixelData (comment in a compressed frame)")));
        } else {
            if e.tag == crate::dicom::tags::ENCAPSULATED_DOCUMENT {
                let kinds = search_pdf(parsed, e, ids, notes);
                found.extend(
                    kinds
                        .into_iter()
                        .map(|k| (k, "EncapsulatedDocument (compressed text of the PDF)")),
                );
            }
            let kinds = match (e.kind, parsed.value(e)) {
                // Too large to be loaded (over 1 MiB of bytes, over 16 MiB of text): searched
                // as it is read, a chunk at a time; image data is not text.
                (ElementKind::Bulk, _) if !is_image_data(e.tag) => search_streaming(parsed, e, ids),
                (_, Some(v)) if matches!(e.value_vr(), VR::OB | VR::OW | VR::UN) => ids.find_in_bytes(v),
                (_, Some(v)) => ids.find(v),
                _ => Vec::new(),
            };
            found.extend(kinds.into_iter().map(|k| (k, keyword)));
        }
        found.sort();
        found.dedup();
        for (kind, keyword) in found {
            out.push(Residual {
                path: path.to_path_buf(),
                element: parsed.path(i),
                keyword: keyword.to_string(),
                identifier: kind,
            });
        }
    }
    out
}

/// The kinds found in the compressed text streams of an encapsulated PDF; why it could not be
/// searched whole goes to `notes`.
fn search_pdf(
    parsed: &Parsed,
    e: &crate::dicom::parse::Element,
    ids: &Identifiers,
    notes: &mut Vec<String>,
) -> Vec<IdentifierKind> {
    if e.value_len() > crate::dicom::pdf::INFLATED_MAX {
        notes.push("its encapsulated PDF is larger than dams searches (64 MiB): check it by hand".into());
        return Vec::new();
    }
    let Some(doc) = whole_value(parsed, e).filter(|d| d.starts_with(b"%PDF")) else {
        return Vec::new();
    };
    let t = crate::dicom::pdf::texts(&doc);
    if t.encrypted {
        notes.push("its encapsulated PDF is encrypted: its text could not be searched for identifiers".into());
    } else if t.unreadable > 0 {
        notes.push(format!(
            "its encapsulated PDF has {} stream(s) dams cannot read: their text was not searched for identifiers",
            t.unreadable
        ));
    }
    t.streams.iter().flat_map(|s| ids.find_in_bytes(s)).collect()
}

/// A value's bytes, loaded or read, up to [`crate::dicom::pdf::INFLATED_MAX`].
#[must_use]
pub fn whole_value<'p>(parsed: &'p Parsed, e: &crate::dicom::parse::Element) -> Option<std::borrow::Cow<'p, [u8]>> {
    if let Some(v) = parsed.value(e) {
        return Some(v.into());
    }
    let len = e.value_len();
    if e.kind != crate::dicom::parse::ElementKind::Bulk || len > crate::dicom::pdf::INFLATED_MAX {
        return None;
    }
    let mut buf = vec![0u8; len as usize];
    parsed.read_at(e.value_start, &mut buf).ok()?;
    Some(buf.into())
}

/// Pixels, overlays, waveforms and spectra: samples, not text.
fn is_image_data(tag: crate::dicom::Tag) -> bool {
    use crate::dicom::{Tag, tags};
    matches!(tag, Tag(0x7FE0, 0x0008..=0x0010))
        || (tag.0 & 0xFF01 == 0x6000 && tag.1 == 0x3000)
        || tag == tags::WAVEFORM_DATA
        || tag == tags::SPECTROSCOPY_DATA
}

/// How much of a large value is read and searched at once, and how much of each chunk is
/// searched again with the next (more than the longest form the matcher looks for).
const CHUNK: usize = 4 << 20;
const OVERLAP: usize = 4 * crate::matcher::MAX_PATTERN;

/// The kinds found in a value that is not loaded, read in chunks that overlap (memory stays
/// at one chunk whatever the value's size). A value that cannot be read is not searched.
fn search_streaming(parsed: &Parsed, e: &crate::dicom::parse::Element, ids: &Identifiers) -> Vec<IdentifierKind> {
    let (start, len) = (e.value_start, e.value_len());
    let mut found = Vec::new();
    let mut buf = vec![0u8; CHUNK.min(len as usize)];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(CHUNK as u64) as usize;
        if parsed.read_at(start + at, &mut buf[..n]).is_err() {
            break;
        }
        // End on a character boundary where the chunk is UTF-8, so a name is not cut in two.
        let mut end = n;
        if at + (n as u64) < len {
            while end > n.saturating_sub(4) && end > 0 && (buf[end - 1] & 0xC0) == 0x80 {
                end -= 1;
            }
            end = end.saturating_sub(usize::from(end > 0 && buf[end - 1] >= 0xC0));
        }
        found.extend(ids.find_in_bytes(&buf[..end]));
        if at + (n as u64) >= len {
            break;
        }
        at += end.saturating_sub(OVERLAP).max(1) as u64;
    }
    found.sort();
    found.dedup();
    found
}

/// The kinds found in `bytes` of any size, searched a chunk at a time with overlaps (the
/// matcher's own buffers stay at a chunk); `passed` learns how far the search has got.
pub fn find_in_chunks(ids: &Identifiers, bytes: &[u8], passed: &dyn Fn(usize)) -> Vec<IdentifierKind> {
    if bytes.len() <= CHUNK {
        return ids.find(bytes);
    }
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let mut end = (at + CHUNK).min(bytes.len());
        // End on a character boundary where the text is UTF-8, so a name is not cut in two.
        while end < bytes.len() && end > at + CHUNK / 2 && (bytes[end] & 0xC0) == 0x80 {
            end -= 1;
        }
        found.extend(ids.find(&bytes[at..end]));
        passed(end);
        if end >= bytes.len() {
            break;
        }
        at = end - OVERLAP;
    }
    found.sort();
    found.dedup();
    found
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

/// The kinds of identifier the profile keeps on purpose: `AccessionNumber` and
/// `ReferringPhysicianName` when no rule (and no Basic Profile action) changes them. Found in
/// an output, they are listed as kept, not held against it.
#[must_use]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn person(name: &str, id: &str, birth: &str) -> Identity {
        let mut i = Identity::default();
        i.names.insert(name.into());
        i.ids.insert(id.into());
        if !birth.is_empty() {
            i.birth_dates.insert(birth.into());
        }
        i
    }

    /// The cohort searched a part at a time finds in every name what one search over everyone
    /// finds, replaced or kept alike, even where one patient's search finds an identifier and
    /// another's rules replace the name.
    #[test]
    fn names_searched_in_parts_as_in_one() {
        let people = [
            person("LEE^ANN", "12345", ""),
            person("SMITH^JOHN", "A12345", "19600505"),
            person("CompressedSamples^MR1", "4MR1", ""),
            person("Müller^Hans", "778899123", "19610423"),
        ];
        let refs: Vec<&Identity> = people.iter().collect();
        let names: Vec<(&std::ffi::OsStr, bool)> = [
            ("A12345", false),
            ("12345", false),
            ("12345.dcm", true),
            ("Smith_CT", false),
            ("19600505", false),
            ("12345_CT", false),
            ("MR1", false),
            ("CT_001", false),
            ("MUELLER_HANS", false),
            ("x_778899123_y.dcm", true),
            ("1961-04-23", false),
            ("A12345_12345", false),
        ]
        .into_iter()
        .map(|(n, f)| (std::ffi::OsStr::new(n), f))
        .collect();
        let ids = crate::matcher::search_for(&people, false);
        let rules = crate::matcher::NameRules::new(&people, false);
        let whole: Vec<_> = names.iter().map(|(n, f)| name_hits(n, *f, &ids, &rules)).collect();
        let found = whole.iter().flatten();
        assert!(found.clone().any(|(_, replaced)| *replaced), "{whole:?}");
        assert!(found.clone().any(|(_, replaced)| !*replaced), "{whole:?}");
        assert!(whole.iter().filter(|h| h.is_empty()).count() >= 1, "{whole:?}");
        for part in [1, 2, 3, 4] {
            assert_eq!(names_hits_by(&names, &refs, false, part), whole, "parts of {part}");
        }
    }
}

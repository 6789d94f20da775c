//! A file without file meta information (a raw data set: no preamble, no file meta) is
//! written as a PS3.10 file: a zero preamble, `DICM` and a file meta group naming the data
//! set as it is written — its transfer syntax (the one the data set was found in, which is
//! kept), its SOP class and instance (the instance UID as written, remapped where the plan
//! remaps it) and dams as the implementation that wrote the file. Many readers (pydicom
//! without `force`, viewers) open no raw data set. The data set itself is not re-encoded.

use super::{Edit, FILE_META};
use crate::dicom::parse::{Parsed, transfer_syntax_name};
use crate::dicom::rewrite::{Change, Insert};
use crate::dicom::{Tag, VR, tag_string, tags, text};
use crate::profile::RuleKind;
use crate::profile::annex_e::{IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME};

/// PS3.10 7.1: version 1 of the file meta information, `00 01`.
const FILE_META_VERSION: [u8; 2] = [0x00, 0x01];

/// The file meta group a file without one is written with (none for a file that has one),
/// and the edit that shows it in the plan. `edits` are the file's other edits: the UIDs are
/// those they write.
///
/// # Errors
///
/// A message when a UID cannot be encoded.
pub(super) fn file_meta(parsed: &Parsed, edits: &[Edit]) -> Result<Option<(Edit, Vec<Insert>)>, String> {
    let layout = &parsed.layout;
    if layout.has_meta {
        return Ok(None);
    }
    let written = |tag: Tag| -> Option<String> {
        let path = tag_string(tag);
        match edits.iter().find(|e| e.path == path) {
            Some(e) => e.after.clone(),
            None => parsed.top_string(tag),
        }
        .filter(|v| !v.is_empty())
    };
    let ui = |tag: Tag, value: &str| -> Result<Insert, String> {
        Ok(Insert {
            tag,
            vr: VR::UI,
            value: text::encode(value, VR::UI, &parsed.charset)?,
        })
    };
    let mut meta = vec![Insert {
        tag: tags::FILE_META_INFORMATION_VERSION,
        vr: VR::OB,
        value: FILE_META_VERSION.to_vec(),
    }];
    // Type 1 in the file meta; a data set without them (no real one) is written without.
    for (tag, from) in [
        (tags::MEDIA_STORAGE_SOP_CLASS_UID, tags::SOP_CLASS_UID),
        (tags::MEDIA_STORAGE_SOP_INSTANCE_UID, tags::SOP_INSTANCE_UID),
    ] {
        if let Some(uid) = written(from) {
            meta.push(ui(tag, &uid)?);
        }
    }
    meta.push(ui(tags::TRANSFER_SYNTAX_UID, &layout.transfer_syntax)?);
    meta.push(ui(tags::IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_CLASS_UID)?);
    meta.push(Insert {
        tag: tags::IMPLEMENTATION_VERSION_NAME,
        vr: VR::SH,
        value: text::encode(IMPLEMENTATION_VERSION_NAME, VR::SH, &parsed.charset)?,
    });
    let before = if layout.preamble {
        "no file meta"
    } else {
        "a raw data set: no preamble, no file meta"
    };
    let edit = Edit {
        path: "file meta".into(),
        tag: String::new(),
        keyword: "FileMetaInformation".into(),
        before: Some(before.into()),
        after: Some(format!(
            "written as a Part 10 file with file meta (transfer syntax {})",
            transfer_syntax_name(&layout.transfer_syntax)
        )),
        rule: RuleKind::Format,
        element: FILE_META,
        change: Change::Remove,
    };
    Ok(Some((edit, meta)))
}

//! DICOMDIRs (PS3.10 §8, PS3.3 Annex F): what the file records of one say, and the bytes of a
//! new one. A DICOMDIR's records point at each other by byte offsets from the start of the
//! file (preamble included). Every record's size is known before its offsets are, and the
//! offsets are fixed-size (UL), so a new DICOMDIR is laid out first and then written once, in
//! Explicit VR Little Endian (the transfer syntax PS3.10 §8.6 asks of one) with defined lengths.

use std::collections::HashMap;

use super::parse::{ElementKind, Parsed, TOP};
use super::{Tag, VR, dict, tags, text};

/// A record of a DICOMDIR that names a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Its `DirectoryRecordType` (IMAGE, RT STRUCTURE SET, SR DOCUMENT, …).
    pub kind: String,
    /// The components of its `ReferencedFileID`.
    pub file_id: Vec<String>,
    /// The tags of its other keys, in tag order (the record's own group 0004 left out).
    pub keys: Vec<Tag>,
}

/// The records of a DICOMDIR's `DirectoryRecordSequence` that name a file, in the order they
/// are written (one pass over the elements).
#[must_use]
pub fn file_entries(p: &Parsed) -> Vec<FileEntry> {
    let Some(seq) = p
        .elements
        .iter()
        .position(|e| e.parent == TOP && e.tag == tags::DIRECTORY_RECORD_SEQUENCE)
    else {
        return Vec::new();
    };
    // Item index → slot: the records in sequence order.
    let mut slot: HashMap<u32, usize> = HashMap::new();
    let mut records: Vec<FileEntry> = Vec::new();
    for (i, it) in p.items.iter().enumerate() {
        if it.parent as usize == seq {
            slot.insert(i as u32, records.len());
            records.push(FileEntry {
                kind: String::new(),
                file_id: Vec::new(),
                keys: Vec::new(),
            });
        }
    }
    for e in &p.elements {
        let Some(&r) = (e.parent != TOP).then(|| slot.get(&e.parent)).flatten() else {
            continue;
        };
        let value = || p.value(e).map(|v| text::decode(v, e.value_vr(), &p.charset, e.enc));
        match e.tag {
            tags::DIRECTORY_RECORD_TYPE => records[r].kind = value().unwrap_or_default().trim().to_string(),
            tags::REFERENCED_FILE_ID => {
                records[r].file_id = value()
                    .unwrap_or_default()
                    .split('\\')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect();
            }
            t if t.0 == 0x0004 => {}
            t => records[r].keys.push(t),
        }
    }
    records.retain(|r| !r.file_id.is_empty());
    for r in &mut records {
        r.keys.sort_unstable();
        r.keys.dedup();
    }
    records
}

/// Whether a file ID names a file below the DICOMDIR's folder: no component of it is `.` or
/// `..` or holds a separator or NUL (a hostile ID must not name a file outside).
#[must_use]
pub fn stays_below(id: &[String]) -> bool {
    !id.is_empty()
        && id
            .iter()
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['/', '\\', '\0']))
}

/// One element in Explicit VR Little Endian, header and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub tag: Tag,
    pub bytes: Vec<u8>,
}

impl Encoded {
    /// An element with this value, padded to even length (UI and binary VRs with NUL, text
    /// with a space). A value too long for the 16-bit length of its VR (from an implicit VR
    /// file, or UN in one) is written as UN, as PS3.5 §6.2.2 asks: its length was cut to 16
    /// bits, and the records after it read as garbage.
    #[must_use]
    pub fn new(tag: Tag, vr: VR, value: &[u8]) -> Encoded {
        let vr = if value.len() > 0xFFFE && !super::parse::is_long_vr(vr) {
            VR::UN
        } else {
            vr
        };
        let mut v = value.to_vec();
        if v.len() % 2 == 1 {
            v.push(if matches!(vr, VR::UI | VR::OB | VR::UN) {
                0
            } else {
                b' '
            });
        }
        let mut bytes = super::rewrite::header_bytes(tag, vr, v.len(), super::Encoding::EXPLICIT_LE);
        bytes.extend(v);
        Encoded { tag, bytes }
    }

    /// A text element (the text is ASCII or already in the record's character set).
    #[must_use]
    pub fn text(tag: Tag, vr: VR, value: &str) -> Encoded {
        Encoded::new(tag, vr, value.as_bytes())
    }

    #[must_use]
    pub fn us(tag: Tag, v: u16) -> Encoded {
        Encoded::new(tag, VR::US, &v.to_le_bytes())
    }

    #[must_use]
    pub fn ul(tag: Tag, v: u32) -> Encoded {
        Encoded::new(tag, VR::UL, &v.to_le_bytes())
    }
}

/// Where the elements of each item and the items of each sequence of a parsed file are (one
/// pass: [`Parsed::children`] walks every element each time).
pub struct Children {
    elements: HashMap<u32, Vec<usize>>,
    items: HashMap<usize, Vec<u32>>,
}

impl Children {
    #[must_use]
    pub fn of(p: &Parsed) -> Children {
        let mut elements: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, e) in p.elements.iter().enumerate() {
            if e.parent != TOP {
                elements.entry(e.parent).or_default().push(i);
            }
        }
        let mut items: HashMap<usize, Vec<u32>> = HashMap::new();
        for (i, it) in p.items.iter().enumerate() {
            items.entry(it.parent as usize).or_default().push(i as u32);
        }
        Children { elements, items }
    }
}

/// How many bytes one number of a binary VR takes (for byte order), 1 for text.
fn unit(vr: VR) -> usize {
    match vr {
        VR::US | VR::SS | VR::OW | VR::AT => 2,
        VR::UL | VR::SL | VR::FL | VR::OF | VR::OL => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    }
}

/// Element `idx` of a parsed file in Explicit VR Little Endian, a sequence with its items in
/// defined lengths. `None` when a value in it was not loaded (bulk data, encapsulated pixel
/// data) or is a copy ([`Parsed::in_copy`]).
#[must_use]
pub fn reencode(p: &Parsed, kids: &Children, idx: usize) -> Option<Encoded> {
    let e = &p.elements[idx];
    if p.in_copy(idx) {
        return None;
    }
    match e.kind {
        ElementKind::Value => {
            let mut v = p.value(e)?.to_vec();
            let vr = e.value_vr();
            let n = unit(vr);
            if e.enc.big_endian && n > 1 {
                v.chunks_exact_mut(n).for_each(<[u8]>::reverse);
            }
            Some(Encoded::new(e.tag, if e.vr == VR::UN { vr } else { e.vr }, &v))
        }
        ElementKind::Sequence => {
            let mut value = Vec::new();
            for item in kids.items.get(&idx).into_iter().flatten() {
                let mut body = Vec::new();
                for &child in kids.elements.get(item).into_iter().flatten() {
                    body.extend(reencode(p, kids, child)?.bytes);
                }
                value.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
                value.extend_from_slice(&u32::try_from(body.len()).ok()?.to_le_bytes());
                value.extend(body);
            }
            Some(Encoded::new(e.tag, VR::SQ, &value))
        }
        ElementKind::Bulk | ElementKind::Encapsulated => None,
    }
}

/// A zero-length element of a tag, with the VR the dictionary gives it (`None` for a tag it
/// does not know).
#[must_use]
pub fn empty(tag: Tag) -> Option<Encoded> {
    dict::vr_of(tag).map(|vr| Encoded::new(tag, vr, &[]))
}

/// One directory record to write, with the records below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its `DirectoryRecordType`.
    pub kind: String,
    /// Its keys (any order; written in tag order). Tags of group 0004 up to the record type
    /// are the record's structure and are left out.
    pub keys: Vec<Encoded>,
    pub children: Vec<Record>,
}

/// What names the DICOMDIR itself.
pub struct FileSet<'a> {
    /// Its `MediaStorageSOPInstanceUID`.
    pub instance_uid: &'a str,
    /// Its `FileSetID` (Type 2: may be empty).
    pub id: &'a str,
    /// Implementation class UID and version name of the writer.
    pub implementation: (&'a str, &'a str),
}

/// A record with the positions of the next record at its level and of its first child.
struct Laid<'a> {
    record: &'a Record,
    keys: Vec<&'a Encoded>,
    next: Option<usize>,
    lower: Option<usize>,
}

/// Depth first, as dcmtk and pydicom write them: a record, the records below it, then the
/// next record at its level. Returns where the last record of `level` is.
fn lay_out<'a>(level: &'a [Record], out: &mut Vec<Laid<'a>>) -> Option<usize> {
    let mut previous: Option<usize> = None;
    for record in level {
        let me = out.len();
        let mut keys: Vec<&Encoded> = record
            .keys
            .iter()
            .filter(|k| k.tag > tags::DIRECTORY_RECORD_TYPE)
            .collect();
        keys.sort_by_key(|k| k.tag);
        keys.dedup_by_key(|k| k.tag);
        out.push(Laid {
            record,
            keys,
            next: None,
            lower: None,
        });
        if let Some(p) = previous {
            out[p].next = Some(me);
        }
        if !record.children.is_empty() {
            out[me].lower = Some(out.len());
            lay_out(&record.children, out);
        }
        previous = Some(me);
    }
    previous
}

/// The elements of a record before its keys, with its offsets.
fn record_head(kind: &str, next: u32, lower: u32) -> Vec<u8> {
    let mut b = Encoded::ul(tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD, next).bytes;
    b.extend(Encoded::us(tags::RECORD_IN_USE_FLAG, 0xFFFF).bytes);
    b.extend(Encoded::ul(tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY, lower).bytes);
    b.extend(Encoded::text(tags::DIRECTORY_RECORD_TYPE, VR::CS, kind).bytes);
    b
}

fn file_meta(set: &FileSet) -> Vec<u8> {
    let mut meta = Encoded::new(tags::FILE_META_INFORMATION_VERSION, VR::OB, &[0, 1]).bytes;
    for (tag, vr, value) in [
        (
            tags::MEDIA_STORAGE_SOP_CLASS_UID,
            VR::UI,
            dicom_dictionary_std::uids::MEDIA_STORAGE_DIRECTORY_STORAGE,
        ),
        (tags::MEDIA_STORAGE_SOP_INSTANCE_UID, VR::UI, set.instance_uid),
        (tags::TRANSFER_SYNTAX_UID, VR::UI, super::ts::EXPLICIT_VR_LITTLE_ENDIAN),
        (tags::IMPLEMENTATION_CLASS_UID, VR::UI, set.implementation.0),
        (tags::IMPLEMENTATION_VERSION_NAME, VR::SH, set.implementation.1),
    ] {
        meta.extend(Encoded::text(tag, vr, value).bytes);
    }
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend(Encoded::ul(tags::FILE_META_INFORMATION_GROUP_LENGTH, meta.len() as u32).bytes);
    out.extend(meta);
    out
}

/// The bytes of a DICOMDIR holding `roots` (patient records, say) and what is below them.
///
/// # Errors
///
/// A message when the directory would pass 4 GiB (offsets are 32 bits).
pub fn write(set: &FileSet, roots: &[Record]) -> Result<Vec<u8>, String> {
    let mut laid = Vec::new();
    let last_root = lay_out(roots, &mut laid);
    let too_big = || "a DICOMDIR of more than 4 GiB cannot be written (its offsets are 32 bits)".to_string();
    let size = |l: &Laid| -> u64 {
        let head = record_head(&l.record.kind, 0, 0).len();
        8 + (head + l.keys.iter().map(|k| k.bytes.len()).sum::<usize>()) as u64
    };
    let mut out = file_meta(set);
    let mut head = Encoded::text(tags::FILE_SET_ID, VR::CS, set.id).bytes;
    // Root offsets, the consistency flag and the sequence header: 12 + 12 + 10 + 12 bytes.
    let first = out.len() as u64 + head.len() as u64 + 46;
    let mut at = Vec::with_capacity(laid.len());
    let mut pos = first;
    for l in &laid {
        at.push(u32::try_from(pos).map_err(|_| too_big())?);
        pos += size(l);
    }
    let offset = |i: Option<usize>| i.map_or(0, |i| at[i]);
    let seq_len = u32::try_from(pos - first).map_err(|_| too_big())?;
    head.extend(
        Encoded::ul(
            tags::OFFSET_OF_THE_FIRST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
            offset((!laid.is_empty()).then_some(0)),
        )
        .bytes,
    );
    head.extend(
        Encoded::ul(
            tags::OFFSET_OF_THE_LAST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
            offset(last_root),
        )
        .bytes,
    );
    head.extend(Encoded::us(tags::FILE_SET_CONSISTENCY_FLAG, 0).bytes);
    head.extend(super::rewrite::header_bytes(
        tags::DIRECTORY_RECORD_SEQUENCE,
        VR::SQ,
        seq_len as usize,
        super::Encoding::EXPLICIT_LE,
    ));
    out.extend(head);
    debug_assert_eq!(out.len() as u64, first);
    for l in &laid {
        let mut body = record_head(&l.record.kind, offset(l.next), offset(l.lower));
        for k in &l.keys {
            body.extend_from_slice(&k.bytes);
        }
        out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend(body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(file: &str) -> Record {
        Record {
            kind: "IMAGE".into(),
            keys: vec![
                Encoded::text(tags::INSTANCE_NUMBER, VR::IS, "1"),
                Encoded::text(tags::REFERENCED_FILE_ID, VR::CS, file),
            ],
            children: Vec::new(),
        }
    }

    #[test]
    fn offsets_point_at_the_records_they_name() {
        let series = |files: &[&str]| Record {
            kind: "SERIES".into(),
            keys: vec![Encoded::text(tags::MODALITY, VR::CS, "CT")],
            children: files.iter().map(|f| leaf(f)).collect(),
        };
        let roots = vec![
            Record {
                kind: "PATIENT".into(),
                keys: vec![Encoded::text(tags::PATIENT_ID, VR::LO, "P0001")],
                children: vec![series(&["A\\1", "A\\2"]), series(&["B\\1"])],
            },
            Record {
                kind: "PATIENT".into(),
                keys: vec![Encoded::text(tags::PATIENT_ID, VR::LO, "P0002")],
                children: vec![series(&["C\\1"])],
            },
        ];
        let set = FileSet {
            instance_uid: "2.25.1",
            id: "",
            implementation: ("2.25.2", "DAMS"),
        };
        let bytes = write(&set, &roots).unwrap();
        let p = crate::dicom::parse::parse_bytes(bytes).unwrap();
        let ul = |item: Option<u32>, tag: Tag| -> u32 {
            let e = p
                .elements
                .iter()
                .find(|e| e.tag == tag && item.is_none_or(|i| e.parent == i))
                .unwrap();
            u32::from_le_bytes(p.value(e).unwrap().try_into().unwrap())
        };
        let item_at = |off: u32| {
            p.items
                .iter()
                .position(|it| it.start == u64::from(off))
                .map(|i| i as u32)
        };
        let kind = |i: u32| {
            let e = p
                .elements
                .iter()
                .find(|e| e.parent == i && e.tag == tags::DIRECTORY_RECORD_TYPE)
                .unwrap();
            String::from_utf8_lossy(p.value(e).unwrap()).trim().to_string()
        };
        // Root: first and last patient.
        let first = item_at(ul(
            None,
            tags::OFFSET_OF_THE_FIRST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
        ))
        .unwrap();
        let last = item_at(ul(
            None,
            tags::OFFSET_OF_THE_LAST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
        ))
        .unwrap();
        assert_eq!((kind(first), kind(last)), ("PATIENT".into(), "PATIENT".into()));
        assert_eq!(
            item_at(ul(Some(first), tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD)),
            Some(last)
        );
        assert_eq!(ul(Some(last), tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD), 0);
        // The first patient's series, and the first series' two images.
        let s1 = item_at(ul(Some(first), tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY)).unwrap();
        let s2 = item_at(ul(Some(s1), tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD)).unwrap();
        assert_eq!((kind(s1), kind(s2)), ("SERIES".into(), "SERIES".into()));
        assert_eq!(ul(Some(s2), tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD), 0);
        let i1 = item_at(ul(Some(s1), tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY)).unwrap();
        let i2 = item_at(ul(Some(i1), tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD)).unwrap();
        assert_eq!(ul(Some(i2), tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD), 0);
        assert_eq!(ul(Some(i2), tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY), 0);
        // What is read back names the files in the order given.
        let files: Vec<Vec<String>> = file_entries(&p).into_iter().map(|f| f.file_id).collect();
        assert_eq!(files, [["A", "1"], ["A", "2"], ["B", "1"], ["C", "1"]]);
        assert!(
            file_entries(&p)
                .iter()
                .all(|f| f.kind == "IMAGE" && f.keys == [tags::INSTANCE_NUMBER])
        );
    }

    #[test]
    fn a_value_too_long_for_its_vr_is_written_as_un() {
        let long = vec![b'A'; 70_000];
        let e = Encoded::new(tags::IMAGE_COMMENTS, VR::LT, &long);
        assert_eq!(&e.bytes[4..6], b"UN");
        assert_eq!(u32::from_le_bytes(e.bytes[8..12].try_into().unwrap()), 70_000);
        assert_eq!(e.bytes.len(), 12 + 70_000);
        let short = Encoded::new(tags::IMAGE_COMMENTS, VR::LT, b"AB");
        assert_eq!((&short.bytes[4..6], short.bytes.len()), (&b"LT"[..], 10));
    }

    #[test]
    fn a_file_id_stays_below_its_folder() {
        let id = |c: &[&str]| c.iter().map(|c| (*c).to_string()).collect::<Vec<String>>();
        assert!(stays_below(&id(&["PT000000", "IM1"])));
        for bad in [
            &["..", "etc"][..],
            &["/etc", "passwd"],
            &["."],
            &["A\0B"],
            &["C:\\X"],
            &[],
        ] {
            assert!(!stays_below(&id(bad)), "{bad:?}");
        }
    }

    #[test]
    fn an_empty_directory_is_a_valid_one() {
        let set = FileSet {
            instance_uid: "2.25.1",
            id: "EMPTY",
            implementation: ("2.25.2", "DAMS"),
        };
        let p = crate::dicom::parse::parse_bytes(write(&set, &[]).unwrap()).unwrap();
        assert!(p.items.is_empty());
        assert_eq!(p.top_string(tags::FILE_SET_ID).as_deref(), Some("EMPTY"));
    }
}

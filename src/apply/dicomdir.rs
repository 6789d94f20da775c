//! A DICOMDIR of the input is written anew into the output once the files are written: it
//! lists the files of the input's DICOMDIR that are in the output folder (this run's and
//! earlier runs'), under their output names, with the values their output files hold —
//! codes, new UIDs, what the profile did to dates and descriptions. Records for files that
//! were not written (another patient not approved yet, refused, failed, no longer there) are
//! left out and counted.
//!
//! The patient, study and series records are made again from the files, with the keys PS3.3
//! Annex F.5 asks of them; a record that names a file keeps its type and its keys, each with
//! the value of the written file (a key the file no longer holds is written empty, a Type 1
//! key is given the dummy value action D gives). Icons are not carried over. The input's
//! DICOMDIR is never read for a value: what it says of patients stays behind.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dicom::dir::{self, Children, Encoded, FileEntry, Record};
use crate::dicom::parse::{Parsed, parse_file};
use crate::dicom::{Tag, VR, dict, tags};
use crate::plan::Planner;
use crate::scan::{Index, UnreadableKind};

/// What became of one DICOMDIR of the input.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DicomdirReport {
    /// The DICOMDIR of the input, relative to the input folder.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub input: PathBuf,
    /// Where it was written, relative to the output folder (absent when it was not).
    #[serde(serialize_with = "crate::paths::lossy_opt")]
    pub output: Option<PathBuf>,
    /// The files the new DICOMDIR lists.
    pub files: usize,
    /// Records of the input's DICOMDIR for files that are not in the output folder.
    pub left_out: usize,
    /// Why it was not written (absent when it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether it could not be written where it goes (a file dams did not write in the way, an
    /// I/O error): the run needs attention (exit status 1), as for a file that failed. Not in
    /// the JSON report (`reason` says it).
    #[serde(skip)]
    pub failed: bool,
}

impl DicomdirReport {
    /// One line of what became of it (for the command line's report and the review screen's).
    #[must_use]
    pub fn line(&self) -> String {
        let left = if self.left_out > 0 {
            format!(
                ", {} of its records left out (their files are not in the output folder)",
                self.left_out
            )
        } else {
            String::new()
        };
        match (&self.output, &self.reason) {
            (Some(o), _) => format!(
                "new DICOMDIR {} for {}: {} file(s){left}",
                o.display(),
                self.input.display(),
                self.files
            ),
            // Why it was not written says it all (its records all left out, say).
            (None, reason) => format!(
                "DICOMDIR {}: {}",
                self.input.display(),
                reason.as_deref().unwrap_or("not written")
            ),
        }
    }
}

/// What the rebuild needs of the run.
pub(super) struct Run<'a> {
    pub index: &'a Index,
    pub planner: &'a Planner,
    pub out_root: &'a Path,
    /// Files of the output folder that are dams' own (earlier runs and this one), relative.
    pub owned: &'a HashSet<PathBuf>,
}

/// Keys PS3.3 Table F.5-1 to F.5-3 asks of a patient, study and series record.
const PATIENT_KEYS: [Tag; 2] = [tags::PATIENT_NAME, tags::PATIENT_ID];
const STUDY_KEYS: [Tag; 6] = [
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::ACCESSION_NUMBER,
    tags::STUDY_DESCRIPTION,
    tags::STUDY_INSTANCE_UID,
    tags::STUDY_ID,
];
const SERIES_KEYS: [Tag; 3] = [tags::MODALITY, tags::SERIES_INSTANCE_UID, tags::SERIES_NUMBER];

/// Keys of Type 1 in the records of PS3.3 F.5: never written empty (a dummy stands where the
/// written file has no value).
const TYPE_1: [Tag; 14] = [
    tags::PATIENT_ID,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::STUDY_ID,
    tags::MODALITY,
    tags::SERIES_NUMBER,
    tags::INSTANCE_NUMBER,
    tags::CONTENT_DATE,
    tags::CONTENT_TIME,
    tags::PRESENTATION_CREATION_DATE,
    tags::PRESENTATION_CREATION_TIME,
    tags::STRUCTURE_SET_LABEL,
    tags::COMPLETION_FLAG,
    tags::VERIFICATION_FLAG,
];

/// Writes a new DICOMDIR for every DICOMDIR of the input whose files were written.
pub(super) fn rebuild_all(run: &Run) -> (Vec<DicomdirReport>, Vec<crate::manifest::FileRecord>) {
    let mut reports = Vec::new();
    let mut records = Vec::new();
    // Where this run wrote one: two DICOMDIRs of a folder may be given the same name.
    let mut written = HashSet::new();
    for rel in dicomdirs(run.index) {
        let (report, record) = rebuild(run, rel, &mut written);
        reports.push(report);
        records.extend(record);
    }
    (reports, records)
}

/// The DICOMDIRs of the input, each with why it is not written (a split run, in place).
pub(super) fn not_written(index: &Index, why: &str) -> Vec<DicomdirReport> {
    dicomdirs(index)
        .map(|rel| DicomdirReport {
            input: rel.to_path_buf(),
            output: None,
            files: 0,
            left_out: 0,
            reason: Some(why.to_string()),
            failed: false,
        })
        .collect()
}

/// Where the new DICOMDIR of the input's DICOMDIR `rel` goes: its folder's output place,
/// under its own name unless that names a patient ([`output_name`]).
fn destination(planner: &Planner, rel: &Path) -> PathBuf {
    planner
        .dest_folder(rel.parent().unwrap_or(Path::new("")))
        .join(output_name(planner, rel))
}

/// Where every DICOMDIR of the input may be written: listed in the manifest as pending before
/// the run's first file, so that one written by a run that then crashed is dams' own still.
pub(super) fn destinations(index: &Index, planner: &Planner) -> Vec<PathBuf> {
    dicomdirs(index).map(|rel| destination(planner, rel)).collect()
}

/// The DICOMDIRs of the input (the scan lists them among the files it does not copy).
fn dicomdirs(index: &Index) -> impl Iterator<Item = &Path> {
    index
        .unreadable
        .iter()
        .filter(|u| u.kind == UnreadableKind::Dicomdir)
        .map(|u| u.path.as_path())
}

/// One file the new DICOMDIR lists: the keys of the records above it, and its own record.
struct Listed {
    patient: (String, Vec<Encoded>),
    study: (String, Vec<Encoded>),
    series: (String, Vec<Encoded>),
    record: Record,
}

fn rebuild(
    run: &Run,
    rel: &Path,
    written: &mut HashSet<PathBuf>,
) -> (DicomdirReport, Option<crate::manifest::FileRecord>) {
    let mut report = DicomdirReport {
        input: rel.to_path_buf(),
        output: None,
        files: 0,
        left_out: 0,
        reason: None,
        failed: false,
    };
    let parsed = match parse_file(&run.index.root.join(rel)) {
        Ok(p) => p,
        Err(e) => {
            report.reason = Some(format!("not written: it is damaged ({e})"));
            return (report, None);
        }
    };
    let in_folder = rel.parent().unwrap_or(Path::new(""));
    let out_folder = run.planner.dest_folder(in_folder);
    let mut listed = Vec::new();
    let mut not_ids = Vec::new();
    // A file named by two records is listed once.
    let mut seen = HashSet::new();
    for entry in dir::file_entries(&parsed) {
        if !seen.insert(entry.file_id.join("\\").to_uppercase()) {
            continue;
        }
        match listed_file(run, in_folder, &out_folder, &entry) {
            Ok(Some(l)) => listed.push(l),
            Ok(None) => report.left_out += 1,
            Err(name) => not_ids.push(name),
        }
    }
    report.files = listed.len();
    if let Some(first) = not_ids.first() {
        report.reason = Some(format!(
            "not written: {} of its files have output names that are not DICOM file IDs (at most 8 folders deep, \
             each name at most 8 upper-case letters, digits or _), first {}",
            not_ids.len(),
            first.display()
        ));
        return (report, None);
    }
    if listed.is_empty() {
        report.reason = Some("not written: none of the files it lists is in the output folder".into());
        return (report, None);
    }
    let out_rel = destination(run.planner, rel);
    if written.contains(&out_rel) {
        report.reason = Some(format!(
            "not written: another DICOMDIR of the input was written as {} in this run",
            out_rel.display()
        ));
        report.failed = true;
        return (report, None);
    }
    match write(run, &parsed, &out_rel, listed) {
        Ok(record) => {
            written.insert(out_rel.clone());
            report.output = Some(out_rel);
            (report, Some(record))
        }
        Err(why) => {
            report.reason = Some(format!("not written: {why}"));
            report.failed = true;
            (report, None)
        }
    }
}

/// The name of the new DICOMDIR: the input's, unless it names a patient (a DICOMDIR is known
/// by its SOP class, whatever its name), then `DICOMDIR`.
fn output_name(planner: &Planner, rel: &Path) -> PathBuf {
    rel.file_name()
        .filter(|n| !planner.names_anyone(&n.to_string_lossy()))
        .map_or_else(|| PathBuf::from("DICOMDIR"), PathBuf::from)
}

/// A file-set ID as the new DICOMDIR gives it: the input's when it is a CS of at most 16
/// characters (PS3.10 §8.5: upper-case letters, digits, space and `_`) that names no patient,
/// else empty (Type 2) — free text from a broken writer is not carried.
fn file_set_id(planner: &Planner, id: &str) -> String {
    let id = id.trim();
    let is_cs = id.len() <= 16
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'_');
    if is_cs && !planner.names_anyone(id) {
        id.to_string()
    } else {
        String::new()
    }
}

/// Whether the file at `path` is a DICOMDIR.
fn is_dicomdir(path: &Path) -> bool {
    parse_file(path).is_ok_and(|p| {
        p.top_string(tags::MEDIA_STORAGE_SOP_CLASS_UID).as_deref()
            == Some(dicom_dictionary_std::uids::MEDIA_STORAGE_DIRECTORY_STORAGE)
    })
}

/// Writes the new DICOMDIR, atomically, where dams may write (a file of that name that dams
/// did not write is not replaced).
fn write(
    run: &Run,
    parsed: &Parsed,
    out_rel: &Path,
    listed: Vec<Listed>,
) -> Result<crate::manifest::FileRecord, String> {
    let path = run.out_root.join(out_rel);
    if path.exists() && !run.owned.contains(out_rel) && !run.planner.overwrite {
        return Err(
            "a file of that name that dams did not write is in the output folder (--overwrite replaces it)".into(),
        );
    }
    if run.owned.contains(out_rel) && path.exists() && !is_dicomdir(&path) {
        return Err("a file of that name that dams wrote, and that is no DICOMDIR, is in the output folder".into());
    }
    let original = parsed
        .top_string(tags::MEDIA_STORAGE_SOP_INSTANCE_UID)
        .unwrap_or_default();
    let instance_uid = if original.is_empty() {
        crate::values::uid::from_seed(&format!("dams DICOMDIR {}", out_rel.display()))
    } else {
        run.planner.output_uid(tags::SOP_INSTANCE_UID, &original)
    };
    // The file-set ID is the input's, unless it names a patient or is no CS.
    let id = file_set_id(run.planner, &parsed.top_string(tags::FILE_SET_ID).unwrap_or_default());
    let set = dir::FileSet {
        instance_uid: &instance_uid,
        id: &id,
        implementation: (
            crate::profile::annex_e::IMPLEMENTATION_CLASS_UID,
            crate::profile::annex_e::IMPLEMENTATION_VERSION_NAME,
        ),
    };
    let bytes = dir::write(&set, &tree(listed))?;
    crate::atomic::write_file(&path, 0o644, |w| w.write_all(&bytes)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(crate::manifest::FileRecord {
        path: crate::manifest::rel_string(out_rel),
        kind: crate::manifest::FileKind::Dicom,
        size: bytes.len() as u64,
        sha256: crate::manifest::digest_bytes(&bytes),
    })
}

/// The records of one level in the order they were made, each with what is below it, and
/// where the record of each key is (a look-up, not a search: a DICOMDIR of 100 000 files,
/// each in its own series, made the search quadratic).
struct Level<T> {
    records: Vec<(Record, T)>,
    by_key: HashMap<String, usize>,
}

impl<T: Default> Level<T> {
    fn new() -> Self {
        Level {
            records: Vec::new(),
            by_key: HashMap::new(),
        }
    }

    /// What is below the record of `key`, made (with `keys`) when there is none yet, in the
    /// order the files come (the input DICOMDIR's).
    fn at(&mut self, key: String, kind: &str, keys: Vec<Encoded>) -> &mut T {
        let records = &mut self.records;
        let i = *self.by_key.entry(key).or_insert_with(|| {
            let record = Record {
                kind: kind.to_string(),
                keys,
                children: Vec::new(),
            };
            records.push((record, T::default()));
            records.len() - 1
        });
        &mut records[i].1
    }
}

impl<T: Default> Default for Level<T> {
    fn default() -> Self {
        Level::new()
    }
}

/// Patients, their studies and series, and the files' records below them.
fn tree(listed: Vec<Listed>) -> Vec<Record> {
    let mut patients: Level<Level<Level<Vec<Record>>>> = Level::new();
    for l in listed {
        patients
            .at(l.patient.0, "PATIENT", l.patient.1)
            .at(l.study.0, "STUDY", l.study.1)
            .at(l.series.0, "SERIES", l.series.1)
            .push(l.record);
    }
    let with = |mut r: Record, children: Vec<Record>| {
        r.children = children;
        r
    };
    patients
        .records
        .into_iter()
        .map(|(patient, studies)| {
            let studies = studies
                .records
                .into_iter()
                .map(|(study, series)| {
                    let series = series.records.into_iter().map(|(s, files)| with(s, files)).collect();
                    with(study, series)
                })
                .collect();
            with(patient, studies)
        })
        .collect()
}

/// Whether a name is a DICOM file ID component (PS3.10 8.5, PS3.12: at most 8 characters of
/// the upper-case letters, digits and `_`).
fn is_file_id(c: &str) -> bool {
    (1..=8).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The input file a record names, as written or in lower case (IDs are upper case on the
/// medium; copies to disk are often lowered), and whether it was lowered.
fn input_file(root: &Path, in_folder: &Path, id: &[String]) -> Option<(PathBuf, bool)> {
    if !dir::stays_below(id) {
        return None;
    }
    let written: PathBuf = in_folder.join(id.iter().collect::<PathBuf>());
    if root.join(&written).is_file() {
        return Some((written, false));
    }
    let lowered: PathBuf = in_folder.join(id.iter().map(|c| c.to_lowercase()).collect::<PathBuf>());
    root.join(&lowered).is_file().then_some((lowered, true))
}

/// The file a record names, as the new DICOMDIR lists it: `Ok(None)` when it is not in the
/// output folder, `Err` with its output path when that path is not a file ID.
fn listed_file(run: &Run, in_folder: &Path, out_folder: &Path, entry: &FileEntry) -> Result<Option<Listed>, PathBuf> {
    let Some((input, lowered)) = input_file(&run.index.root, in_folder, &entry.file_id) else {
        return Ok(None);
    };
    let dest = run.planner.dest(&input);
    if !run.owned.contains(&dest) || !run.out_root.join(&dest).is_file() {
        return Ok(None);
    }
    let Ok(inside) = dest.strip_prefix(out_folder) else {
        return Err(dest);
    };
    let mut id: Vec<String> = inside.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    if lowered {
        id = id.into_iter().map(|c| c.to_uppercase()).collect();
    }
    if id.len() > 8 || !id.iter().all(|c| is_file_id(c)) {
        return Err(dest);
    }
    let Ok(out) = parse_file(&run.out_root.join(&dest)) else {
        return Ok(None);
    };
    if !is_instance(&out) {
        return Ok(None);
    }
    Ok(Some(listed(&out, &id, entry)))
}

/// The record types PS3.3 Table F.4-1 puts below a series (the retired ones of old media
/// too). PRIVATE is not one: it needs the input's Private Record UID, which is not carried.
const LEAF_KINDS: [&str; 28] = [
    "IMAGE",
    "RT DOSE",
    "RT STRUCTURE SET",
    "RT PLAN",
    "RT TREAT RECORD",
    "PRESENTATION",
    "WAVEFORM",
    "SR DOCUMENT",
    "KEY OBJECT DOC",
    "SPECTROSCOPY",
    "RAW DATA",
    "REGISTRATION",
    "FIDUCIAL",
    "ENCAP DOC",
    "VALUE MAP",
    "STEREOMETRIC",
    "MEASUREMENT",
    "SURFACE",
    "SURFACE SCAN",
    "TRACT",
    "ASSESSMENT",
    "RADIOTHERAPY",
    "ANNOTATION",
    "OVERLAY",
    "MODALITY LUT",
    "VOI LUT",
    "CURVE",
    "STORED PRINT",
];

/// The type of the record of a listed file: the input's when it is one of [`LEAF_KINDS`],
/// else IMAGE. The input's value is never written as it is: a record type is free text to a
/// hostile or broken writer (a name, say), and one that is no leaf's (PATIENT, PRIVATE,
/// PALETTE) would break the hierarchy.
fn leaf_kind(kind: &str) -> &'static str {
    LEAF_KINDS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(kind.trim()))
        .copied()
        .unwrap_or("IMAGE")
}

/// Whether a key of the input's record is carried (with the written file's value): not the
/// file meta, directory structure, group lengths, item tags, pixel data or the icon (none is
/// a key of a record), nor the character set (set from the written file).
fn is_carried_key(t: Tag) -> bool {
    !matches!(t.0, 0x0000 | 0x0002 | 0x0004 | 0x7FE0 | 0xFFFE)
        && t.1 != 0x0000
        && t != tags::ICON_IMAGE_SEQUENCE
        && t != tags::SPECIFIC_CHARACTER_SET
}

/// Whether a written file is an instance a record can name: a DICOMDIR is not (one that
/// lists itself or another, read back on the next run, would be listed as an image), nor a
/// file without the SOP class and instance UID a record must give, or without the study and
/// series UID its study and series records must give (all Type 1).
fn is_instance(out: &Parsed) -> bool {
    let uid = |tag: Tag| out.top_string(tag).filter(|s| !s.trim().is_empty());
    let directory = dicom_dictionary_std::uids::MEDIA_STORAGE_DIRECTORY_STORAGE;
    let class = uid(tags::SOP_CLASS_UID).or_else(|| uid(tags::MEDIA_STORAGE_SOP_CLASS_UID));
    class.is_some_and(|c| c != directory)
        && uid(tags::MEDIA_STORAGE_SOP_CLASS_UID).as_deref() != Some(directory)
        && uid(tags::SOP_INSTANCE_UID).is_some()
        && uid(tags::STUDY_INSTANCE_UID).is_some()
        && uid(tags::SERIES_INSTANCE_UID).is_some()
}

/// The records of one written file (`out`), listed as `id`.
fn listed(out: &Parsed, id: &[String], entry: &FileEntry) -> Listed {
    let kids = Children::of(out);
    let charset: Vec<Encoded> = key(out, &kids, tags::SPECIFIC_CHARACTER_SET).into_iter().collect();
    let level = |wanted: &[Tag]| -> Vec<Encoded> {
        charset
            .iter()
            .cloned()
            .chain(wanted.iter().filter_map(|&t| key(out, &kids, t)))
            .collect()
    };
    let text = |tag: Tag| out.top_string(tag).unwrap_or_default().trim().to_string();
    let kind = leaf_kind(&entry.kind);
    let mut own: Vec<Tag> = entry.keys.iter().copied().filter(|&t| is_carried_key(t)).collect();
    if kind == "IMAGE" && !own.contains(&tags::INSTANCE_NUMBER) {
        own.push(tags::INSTANCE_NUMBER);
    }
    let mut keys = level(&own);
    let sop_class = out
        .top_string(tags::SOP_CLASS_UID)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| text(tags::MEDIA_STORAGE_SOP_CLASS_UID));
    keys.extend([
        Encoded::text(tags::REFERENCED_FILE_ID, VR::CS, &id.join("\\")),
        Encoded::text(tags::REFERENCED_SOP_CLASS_UID_IN_FILE, VR::UI, &sop_class),
        Encoded::text(
            tags::REFERENCED_SOP_INSTANCE_UID_IN_FILE,
            VR::UI,
            &text(tags::SOP_INSTANCE_UID),
        ),
        Encoded::text(
            tags::REFERENCED_TRANSFER_SYNTAX_UID_IN_FILE,
            VR::UI,
            &out.layout.transfer_syntax,
        ),
    ]);
    Listed {
        patient: (text(tags::PATIENT_ID), level(&PATIENT_KEYS)),
        study: (text(tags::STUDY_INSTANCE_UID), level(&STUDY_KEYS)),
        series: (text(tags::SERIES_INSTANCE_UID), level(&SERIES_KEYS)),
        record: Record {
            kind: kind.into(),
            keys,
            children: Vec::new(),
        },
    }
}

/// A key of a record with the written file's value: empty when the file holds none (a dummy
/// for a Type 1 key); `None` for a private or unknown tag the file does not hold.
fn key(out: &Parsed, kids: &Children, tag: Tag) -> Option<Encoded> {
    let found = out.top_index(tag).and_then(|i| dir::reencode(out, kids, i));
    let is_empty = out
        .top(tag)
        .is_none_or(|e| e.length == 0 || out.top_string(tag).is_some_and(|s| s.trim().is_empty()));
    if TYPE_1.contains(&tag) && is_empty {
        let vr = dict::vr_of(tag)?;
        return Some(Encoded::text(tag, vr, crate::values::dummy_text(vr)));
    }
    if tag == tags::SPECIFIC_CHARACTER_SET && is_empty {
        return None;
    }
    found.or_else(|| dir::empty(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(patient: &str, study: &str, series: &str) -> Listed {
        let level = |kind: &str, key: &str| (key.to_string(), vec![Encoded::text(tags::PATIENT_ID, VR::LO, kind)]);
        Listed {
            patient: level("P", patient),
            study: level("ST", study),
            series: level("SE", series),
            record: Record {
                kind: "IMAGE".into(),
                keys: Vec::new(),
                children: Vec::new(),
            },
        }
    }

    /// A Part 10 file of these data set elements (Explicit VR Little Endian).
    fn part10(elements: &[(Tag, &str)]) -> Parsed {
        let ts = Encoded::text(
            tags::TRANSFER_SYNTAX_UID,
            VR::UI,
            crate::dicom::ts::EXPLICIT_VR_LITTLE_ENDIAN,
        )
        .bytes;
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        bytes.extend(Encoded::ul(tags::FILE_META_INFORMATION_GROUP_LENGTH, ts.len() as u32).bytes);
        bytes.extend(ts);
        for (tag, value) in elements {
            bytes.extend(Encoded::text(*tag, VR::UI, value).bytes);
        }
        crate::dicom::parse::parse_bytes(bytes).unwrap()
    }

    #[test]
    fn a_file_without_the_uids_its_records_need_is_not_listed() {
        let all = [
            (tags::SOP_CLASS_UID, "1.2.840.10008.5.1.4.1.1.2"),
            (tags::SOP_INSTANCE_UID, "2.25.1"),
            (tags::STUDY_INSTANCE_UID, "2.25.2"),
            (tags::SERIES_INSTANCE_UID, "2.25.3"),
        ];
        assert!(is_instance(&part10(&all)));
        for i in 0..all.len() {
            let mut some = all.to_vec();
            some[i].1 = "";
            assert!(!is_instance(&part10(&some)), "{:?} empty", some[i].0);
            some.remove(i);
            assert!(!is_instance(&part10(&some)), "{:?} absent", all[i].0);
        }
    }

    #[test]
    fn files_are_grouped_in_the_order_they_come() {
        let t = tree(vec![
            file("B", "1", "x"),
            file("A", "2", "y"),
            file("B", "1", "z"),
            file("B", "1", "x"),
        ]);
        assert_eq!(t.len(), 2);
        let b = &t[0];
        assert_eq!((b.children.len(), b.children[0].children.len()), (1, 2));
        assert_eq!(b.children[0].children[0].children.len(), 2);
        assert_eq!(t[1].children[0].children[0].children.len(), 1);
    }

    /// One series per file (a DICOMDIR of radiographs): the records of a level are looked up,
    /// not searched (a search took minutes for this many).
    #[test]
    fn many_series_are_grouped_in_linear_time() {
        let n = 60_000;
        let uid = |i: usize| format!("1.2.826.0.1.3680043.8.498.{i:040}");
        let listed = (0..n).map(|i| file("P1", "S1", &uid(i))).collect();
        let started = std::time::Instant::now();
        let t = tree(listed);
        assert_eq!(t[0].children[0].children.len(), n);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_record_type_is_a_leafs_or_image() {
        assert_eq!(leaf_kind("RT STRUCTURE SET"), "RT STRUCTURE SET");
        assert_eq!(leaf_kind("sr document "), "SR DOCUMENT");
        for hostile in ["JOHN DOE SECRET", "", "PATIENT", "SERIES", "PRIVATE", "PALETTE"] {
            assert_eq!(leaf_kind(hostile), "IMAGE", "{hostile}");
        }
    }

    #[test]
    fn structure_meta_and_pixel_data_are_no_keys() {
        for t in [
            tags::TRANSFER_SYNTAX_UID,
            tags::REFERENCED_FILE_ID,
            tags::PIXEL_DATA,
            Tag(0x0008, 0x0000),
            Tag(0xFFFE, 0xE000),
            tags::ICON_IMAGE_SEQUENCE,
            tags::SPECIFIC_CHARACTER_SET,
        ] {
            assert!(!is_carried_key(t), "{t:?}");
        }
        for t in [tags::INSTANCE_NUMBER, tags::CONTENT_DATE, Tag(0x0009, 0x1001)] {
            assert!(is_carried_key(t), "{t:?}");
        }
    }
}

//! Synthetic workspaces: the `dams demo` folder (fake patients with CT series, masks with
//! broken tags, an unmatched mask, unreadable files) and the benchmark corpora. Written with
//! dicom-rs, not with our own writer, so they are independent test input as well.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

use dicom_dictionary_std::uids;

use crate::dicom::tags;
use rayon::prelude::*;

use crate::values::uid::from_seed;

/// A fake patient.
#[derive(Debug, Clone)]
pub struct FakePatient {
    pub id: String,
    pub name: String,
    pub birth_date: String,
}

/// One image to write.
#[derive(Debug, Clone)]
pub struct Slice {
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub sop_class: String,
    pub modality: String,
    pub series_description: String,
    pub series_number: i32,
    pub instance_number: i32,
    pub z: f64,
    pub frame_of_reference: String,
    pub rows: u16,
    pub cols: u16,
    pub image_type: String,
    /// (sequence tag, referenced SOP instance UID, referenced SOP class)
    pub references: Vec<(Tag, String, String)>,
    /// Mask slices hold 0/1; CT slices a phantom.
    pub mask: bool,
}

fn el(tag: (u16, u16), vr: VR, v: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
    DataElement::new(Tag(tag.0, tag.1), vr, v.into())
}

/// Writes one image as explicit VR little endian with a file meta group.
///
/// # Errors
///
/// An I/O error when the file cannot be written.
pub fn write_slice(path: &Path, p: &FakePatient, s: &Slice) -> io::Result<()> {
    let (rows, cols) = (usize::from(s.rows), usize::from(s.cols));
    let mut pixels = Vec::with_capacity(rows * cols * 2);
    let (cy, cx) = (rows as f64 / 2.0, cols as f64 / 2.0);
    let r_body = rows.min(cols) as f64 * 0.42;
    let r_organ = rows.min(cols) as f64 * (0.12 + 0.06 * (s.z / 40.0).sin().abs());
    for y in 0..rows {
        for x in 0..cols {
            let d = ((y as f64 - cy).powi(2) + (x as f64 - cx * 1.15).powi(2)).sqrt();
            let v: u16 = if s.mask {
                u16::from(d < r_organ)
            } else if d < r_organ {
                1024 + 60
            } else if d < r_body {
                1024 + 40 + ((x * 7 + y * 3) % 20) as u16
            } else {
                24
            };
            pixels.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut obj = InMemDicomObject::from_element_iter([
        el((0x0008, 0x0005), VR::CS, "ISO_IR 100"),
        el((0x0008, 0x0008), VR::CS, s.image_type.as_str()),
        el((0x0008, 0x0016), VR::UI, s.sop_class.as_str()),
        el((0x0008, 0x0018), VR::UI, s.sop_uid.as_str()),
        el((0x0008, 0x0020), VR::DA, "20240115"),
        el((0x0008, 0x0030), VR::TM, "101500"),
        el((0x0008, 0x0050), VR::SH, "ACC0001"),
        el((0x0008, 0x0060), VR::CS, s.modality.as_str()),
        el((0x0008, 0x0080), VR::LO, "Example General Hospital"),
        el((0x0008, 0x0081), VR::ST, "1 Hospital Road, Exampletown"),
        el((0x0008, 0x0090), VR::PN, "Referring^Rita"),
        el((0x0008, 0x1030), VR::LO, "CT ABDOMEN PELVIS"),
        el((0x0008, 0x103E), VR::LO, s.series_description.as_str()),
        el((0x0010, 0x0010), VR::PN, p.name.as_str()),
        el((0x0010, 0x0020), VR::LO, p.id.as_str()),
        el((0x0010, 0x0030), VR::DA, p.birth_date.as_str()),
        el((0x0010, 0x0040), VR::CS, "O"),
        el((0x0020, 0x000D), VR::UI, s.study_uid.as_str()),
        el((0x0020, 0x000E), VR::UI, s.series_uid.as_str()),
        el((0x0020, 0x0011), VR::IS, s.series_number.to_string()),
        el((0x0020, 0x0013), VR::IS, s.instance_number.to_string()),
        el((0x0020, 0x0032), VR::DS, format!("-160\\-160\\{}", s.z)),
        el((0x0020, 0x0037), VR::DS, "1\\0\\0\\0\\1\\0"),
        el((0x0020, 0x0052), VR::UI, s.frame_of_reference.as_str()),
        el((0x0028, 0x0002), VR::US, 1_u16),
        el((0x0028, 0x0004), VR::CS, "MONOCHROME2"),
        el((0x0028, 0x0010), VR::US, s.rows),
        el((0x0028, 0x0011), VR::US, s.cols),
        el((0x0028, 0x0030), VR::DS, "0.7\\0.7"),
        el((0x0028, 0x0100), VR::US, 16_u16),
        el((0x0028, 0x0101), VR::US, 16_u16),
        el((0x0028, 0x0102), VR::US, 15_u16),
        el((0x0028, 0x0103), VR::US, 0_u16),
        el((0x0028, 0x1052), VR::DS, "-1024"),
        el((0x0028, 0x1053), VR::DS, "1"),
        el((0x7FE0, 0x0010), VR::OW, pixels),
    ]);
    let mut by_seq: Vec<(Tag, Vec<InMemDicomObject>)> = Vec::new();
    for (seq, uid, class) in &s.references {
        let item = InMemDicomObject::from_element_iter([
            el((0x0008, 0x1150), VR::UI, class.as_str()),
            el((0x0008, 0x1155), VR::UI, uid.as_str()),
        ]);
        match by_seq.iter_mut().find(|(t, _)| t == seq) {
            Some((_, items)) => items.push(item),
            None => by_seq.push((*seq, vec![item])),
        }
    }
    for (seq, items) in by_seq {
        obj.put(DataElement::new(seq, VR::SQ, DataSetSequence::from(items)));
    }
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(io::Error::other)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    file.write_to_file(path).map_err(io::Error::other)
}

fn item(els: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(els)
}

fn sq(tag: (u16, u16), items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(Tag(tag.0, tag.1), VR::SQ, DataSetSequence::from(items))
}

/// A reference to a source slice (`ReferencedSOPClassUID`, `ReferencedSOPInstanceUID`).
fn source_ref(s: &Slice) -> InMemDicomObject {
    item(vec![
        el((0x0008, 0x1150), VR::UI, s.sop_class.as_str()),
        el((0x0008, 0x1155), VR::UI, s.sop_uid.as_str()),
    ])
}

/// A code sequence item (`CodeValue`, `CodingSchemeDesignator`, `CodeMeaning`).
fn code_item(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    item(vec![
        el((0x0008, 0x0100), VR::SH, value),
        el((0x0008, 0x0102), VR::SH, scheme),
        el((0x0008, 0x0104), VR::LO, meaning),
    ])
}

/// One bit per pixel, frame after frame: a disc right of centre on every slice (the "liver").
fn seg_bits(frames: usize, rows: u16, cols: u16) -> Vec<u8> {
    let frame_bits = usize::from(rows) * usize::from(cols);
    let mut bits = vec![0u8; (frame_bits * frames).div_ceil(8)];
    for f in 0..frames {
        for y in 0..usize::from(rows) {
            for x in 0..usize::from(cols) {
                let (dy, dx) = (y as f64 - f64::from(rows) / 2.0, x as f64 - f64::from(cols) * 0.57);
                if dy * dy + dx * dx < (f64::from(rows) * 0.14).powi(2) {
                    let i = f * frame_bits + y * usize::from(cols) + x;
                    bits[i / 8] |= 1 << (i % 8);
                }
            }
        }
    }
    bits
}

/// The per-frame functional groups: each frame's source slice (`DerivationImageSequence` →
/// `SourceImageSequence`), dimension index, position and segment.
fn seg_frames(source: &[Slice]) -> Vec<InMemDicomObject> {
    source
        .iter()
        .enumerate()
        .map(|(i, s)| {
            item(vec![
                sq(
                    (0x0008, 0x9124),
                    vec![item(vec![sq((0x0008, 0x2112), vec![source_ref(s)])])],
                ),
                sq(
                    (0x0020, 0x9111),
                    vec![item(vec![el(
                        (0x0020, 0x9157),
                        VR::UL,
                        dicom_core::PrimitiveValue::U32(vec![1_u32, i as u32 + 1].into()),
                    )])],
                ),
                sq(
                    (0x0020, 0x9113),
                    vec![item(vec![el((0x0020, 0x0032), VR::DS, format!("-160\\-160\\{}", s.z))])],
                ),
                sq((0x0062, 0x000A), vec![item(vec![el((0x0062, 0x000B), VR::US, 1_u16)])]),
            ])
        })
        .collect()
}

/// A binary DICOM SEG with one segment on `source` slices (one frame each), referencing
/// them per frame (`DerivationImageSequence` → `SourceImageSequence`) and by series.
///
/// # Errors
///
/// An I/O error when the file cannot be written.
pub fn write_seg(path: &Path, p: &FakePatient, source: &[Slice], seed: &str) -> io::Result<()> {
    let Some(first) = source.first() else { return Ok(()) };
    let (rows, cols) = (first.rows, first.cols);
    let sop_uid = from_seed(&format!("{seed}/sop"));
    let mut obj = InMemDicomObject::from_element_iter([
        el((0x0008, 0x0005), VR::CS, "ISO_IR 100"),
        el((0x0008, 0x0008), VR::CS, "DERIVED\\PRIMARY"),
        el((0x0008, 0x0016), VR::UI, "1.2.840.10008.5.1.4.1.1.66.4"),
        el((0x0008, 0x0018), VR::UI, sop_uid.as_str()),
        el((0x0008, 0x0020), VR::DA, "20240115"),
        el((0x0008, 0x0060), VR::CS, "SEG"),
        el((0x0008, 0x0070), VR::LO, "dams"),
        el((0x0008, 0x0080), VR::LO, "Example General Hospital"),
        el((0x0008, 0x1030), VR::LO, "CT ABDOMEN PELVIS"),
        el((0x0008, 0x103E), VR::LO, "LIVER SEG"),
        el((0x0010, 0x0010), VR::PN, p.name.as_str()),
        el((0x0010, 0x0020), VR::LO, p.id.as_str()),
        el((0x0010, 0x0030), VR::DA, p.birth_date.as_str()),
        el((0x0020, 0x000D), VR::UI, first.study_uid.as_str()),
        el((0x0020, 0x000E), VR::UI, from_seed(&format!("{seed}/series")).as_str()),
        el((0x0020, 0x0011), VR::IS, "300"),
        el((0x0020, 0x0013), VR::IS, "1"),
        el((0x0020, 0x0052), VR::UI, first.frame_of_reference.as_str()),
        el((0x0028, 0x0002), VR::US, 1_u16),
        el((0x0028, 0x0004), VR::CS, "MONOCHROME2"),
        el((0x0028, 0x0008), VR::IS, source.len().to_string()),
        el((0x0028, 0x0010), VR::US, rows),
        el((0x0028, 0x0011), VR::US, cols),
        el((0x0028, 0x0100), VR::US, 1_u16),
        el((0x0028, 0x0101), VR::US, 1_u16),
        el((0x0028, 0x0102), VR::US, 0_u16),
        el((0x0028, 0x0103), VR::US, 0_u16),
        el((0x0062, 0x0001), VR::CS, "BINARY"),
        el((0x7FE0, 0x0010), VR::OB, seg_bits(source.len(), rows, cols)),
    ]);
    obj.put(sq(
        (0x0008, 0x1115),
        vec![item(vec![
            sq((0x0008, 0x114A), source.iter().map(source_ref).collect()),
            el((0x0020, 0x000E), VR::UI, first.series_uid.as_str()),
        ])],
    ));
    obj.put(sq(
        (0x0062, 0x0002),
        vec![item(vec![
            el((0x0062, 0x0004), VR::US, 1_u16),
            el((0x0062, 0x0005), VR::LO, "Liver"),
            el((0x0062, 0x0008), VR::CS, "MANUAL"),
            sq(
                (0x0062, 0x0003),
                vec![code_item("123037004", "SCT", "Anatomical Structure")],
            ),
            sq((0x0062, 0x000F), vec![code_item("10200004", "SCT", "Liver")]),
        ])],
    ));
    obj.put(sq(
        (0x5200, 0x9229),
        vec![item(vec![
            sq(
                (0x0028, 0x9110),
                vec![item(vec![
                    el((0x0028, 0x0030), VR::DS, "0.7\\0.7"),
                    el((0x0018, 0x0050), VR::DS, "2.5"),
                ])],
            ),
            sq(
                (0x0020, 0x9116),
                vec![item(vec![el((0x0020, 0x0037), VR::DS, "1\\0\\0\\0\\1\\0")])],
            ),
        ])],
    ));
    obj.put(sq((0x5200, 0x9230), seg_frames(source)));
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(io::Error::other)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    file.write_to_file(path).map_err(io::Error::other)
}

/// A CT series of `n` slices.
#[must_use]
pub fn ct_series(seed: &str, n: usize, rows: u16, cols: u16, description: &str, number: i32) -> Vec<Slice> {
    let study = from_seed(&format!("{seed}/study"));
    let series = from_seed(&format!("{seed}/series/{description}"));
    let for_uid = from_seed(&format!("{seed}/for"));
    (0..n)
        .map(|i| Slice {
            study_uid: study.clone(),
            series_uid: series.clone(),
            sop_uid: from_seed(&format!("{seed}/{description}/{i}")),
            sop_class: uids::CT_IMAGE_STORAGE.into(),
            modality: "CT".into(),
            series_description: description.into(),
            series_number: number,
            instance_number: i as i32 + 1,
            z: i as f64 * 2.5,
            frame_of_reference: for_uid.clone(),
            rows,
            cols,
            image_type: "ORIGINAL\\PRIMARY\\AXIAL".into(),
            references: Vec::new(),
            mask: false,
        })
        .collect()
}

/// Per-slice masks drawn on `source`, with the broken tags careless tools write: the CT's
/// `SeriesInstanceUID`, `InstanceNumber` 1 everywhere, and one duplicated `SOPInstanceUID`.
#[must_use]
pub fn careless_masks(seed: &str, source: &[Slice], description: &str) -> Vec<Slice> {
    let mut masks: Vec<Slice> = source
        .iter()
        .enumerate()
        .map(|(i, s)| Slice {
            sop_uid: from_seed(&format!("{seed}/{description}/{i}")),
            modality: "CT".into(),
            series_description: description.into(),
            instance_number: 1,
            image_type: "DERIVED\\SECONDARY".into(),
            references: vec![(tags::SOURCE_IMAGE_SEQUENCE, s.sop_uid.clone(), s.sop_class.clone())],
            mask: true,
            ..s.clone()
        })
        .collect();
    if masks.len() > 2 {
        let dup = masks[1].sop_uid.clone();
        masks[2].sop_uid = dup;
    }
    masks
}

/// Makes the demo workspace under `dir` (which must not exist yet or be empty): returns the
/// input folder.
///
/// # Errors
///
/// An I/O error when a folder or a file of the workspace cannot be written.
pub fn make_workspace(dir: &Path) -> io::Result<PathBuf> {
    let input = dir.join("input");
    let alice = FakePatient {
        id: "DEMO-001".into(),
        name: "Demo^Alice^M".into(),
        birth_date: "19610423".into(),
    };
    let bob = FakePatient {
        id: "DEMO-002".into(),
        name: "Demo^Bob".into(),
        birth_date: "19550907".into(),
    };
    let ct_a = ct_series("demo/alice", 24, 64, 64, "CT ABDOMEN 3mm", 2);
    let masks_a = careless_masks("demo/alice/liver", &ct_a, "LIVER MASK");
    let ct_b = ct_series("demo/bob", 16, 64, 64, "CT CHEST 2mm", 3);
    // Masks of a series that is not in the folder: the mapping cannot resolve them.
    let absent = ct_series("demo/bob/elsewhere", 4, 64, 64, "CT CHEST (not exported)", 9);
    let mut orphan = careless_masks("demo/bob/nodule", &absent, "NODULE MASK");
    for m in &mut orphan {
        m.study_uid.clone_from(&ct_b[0].study_uid);
        m.frame_of_reference.clone_from(&ct_b[0].frame_of_reference);
    }

    let mut jobs: Vec<(PathBuf, &FakePatient, &Slice)> = Vec::new();
    for (i, s) in ct_a.iter().enumerate() {
        jobs.push((
            input.join("DEMO-001/CT_ABDOMEN").join(format!("IM{:04}.dcm", i + 1)),
            &alice,
            s,
        ));
    }
    for (i, s) in masks_a.iter().enumerate() {
        jobs.push((
            input.join("DEMO-001/LIVER_MASK").join(format!("mask_{i:03}.dcm")),
            &alice,
            s,
        ));
    }
    for (i, s) in ct_b.iter().enumerate() {
        jobs.push((
            input.join("DEMO-002/CT_CHEST").join(format!("IM{:04}.dcm", i + 1)),
            &bob,
            s,
        ));
    }
    for (i, s) in orphan.iter().enumerate() {
        jobs.push((
            input.join("DEMO-002/NODULE_MASK").join(format!("nodule_{i:02}.dcm")),
            &bob,
            s,
        ));
    }
    jobs.par_iter().try_for_each(|(path, p, s)| write_slice(path, p, s))?;

    // A DICOM SEG drawn on some of Alice's CT slices.
    write_seg(
        &input.join("DEMO-001/SEG/liver_seg.dcm"),
        &alice,
        &ct_a[8..16],
        "demo/alice/seg",
    )?;

    // XML sidecars: a tool's export naming Alice, and study notes naming both patients,
    // which dams cannot give to one patient by itself.
    fs::write(
        input.join("DEMO-001/segmentation_log.xml"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!-- written by SegTool 4.1 -->\n\
<SegmentationLog>\n\
  <Patient id=\"DEMO-001\">\n\
    <Name>Demo^Alice^M</Name>\n\
    <BirthDate>1961-04-23</BirthDate>\n\
  </Patient>\n\
  <Step time=\"09:12\">Liver drawn on CT ABDOMEN 3mm for Demo^Alice^M</Step>\n\
  <Step time=\"09:40\">Reviewed; exported 24 masks</Step>\n\
</SegmentationLog>\n",
    )?;
    fs::write(
        input.join("study_notes.xml"),
        "<?xml version=\"1.0\"?>\n<Notes>\n  <Case patient=\"DEMO-001\">liver volume pending</Case>\n  <Case patient=\"DEMO-002\">nodule follow-up</Case>\n</Notes>\n",
    )?;

    // Files that cannot be handled: a truncated copy of a slice and a note.
    let whole = fs::read(input.join("DEMO-002/CT_CHEST/IM0001.dcm"))?;
    fs::write(
        input.join("DEMO-002/CT_CHEST/IM0099.dcm"),
        &whole[..whole.len() * 2 / 3],
    )?;
    fs::write(
        input.join("notes.txt"),
        "Demo workspace made by `dams demo`. All patients are fictitious.\n",
    )?;
    Ok(input)
}

/// The benchmark corpus: `n` CT slices of `rows`×`cols` in `dir`, spread over patients of
/// 200 slices each, like an export of a small cohort.
///
/// # Errors
///
/// An I/O error when a folder or a file of the corpus cannot be written.
pub fn make_corpus(dir: &Path, n: usize, rows: u16, cols: u16) -> io::Result<()> {
    make_cohort(dir, n, 200, rows, cols)
}

/// `n` CT slices over patients of `per_patient` slices each.
///
/// # Errors
///
/// An I/O error when a folder or a file of the cohort cannot be written.
pub fn make_cohort(dir: &Path, n: usize, per_patient: usize, rows: u16, cols: u16) -> io::Result<()> {
    make_cohort_named(dir, "BENCH", n, per_patient, rows, cols)
}

/// [`make_cohort`] with `PatientIDs` `<prefix>-0000`…, so that several cohorts hold different
/// patients (the `BENCH` cohort is `make_cohort`'s).
///
/// # Errors
///
/// An I/O error when a folder or a file of the cohort cannot be written.
pub fn make_cohort_named(
    dir: &Path,
    prefix: &str,
    n: usize,
    per_patient: usize,
    rows: u16,
    cols: u16,
) -> io::Result<()> {
    let per_patient = per_patient.max(1);
    let patients = n.div_ceil(per_patient);
    let (name, seed) = if prefix == "BENCH" {
        ("Bench".to_string(), "bench".to_string())
    } else {
        (format!("Cohort{prefix}"), format!("cohort-{prefix}"))
    };
    (0..patients).into_par_iter().try_for_each(|p| {
        let patient = FakePatient {
            id: format!("{prefix}-{p:04}"),
            name: format!("{name}^Patient{p}"),
            birth_date: "19700101".into(),
        };
        let count = per_patient.min(n - p * per_patient);
        let slices = ct_series(&format!("{seed}/{p}"), count, rows, cols, "CT", 1);
        slices
            .par_iter()
            .enumerate()
            .try_for_each(|(i, s)| write_slice(&dir.join(format!("P{p:04}/CT/IM{i:05}.dcm")), &patient, s))
    })
}

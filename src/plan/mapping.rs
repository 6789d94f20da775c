//! The mapping table written into the output folder (`mapping.csv`, `mapping.json`): each
//! segmentation series and its source series as they are in the output — patient code,
//! output folders and output UIDs — so masks can be joined to their CT after export.
//! It holds no original identifier and no free text.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::link::{Links, SegmentationGroup, SegmentationKind};
use crate::plan::Planner;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRow {
    /// The patient's code (never the original ID).
    pub patient: String,
    pub kind: String,
    pub status: String,
    #[serde(serialize_with = "crate::paths::lossy")]
    pub segmentation_folder: PathBuf,
    pub segmentation_series_uid: String,
    pub segmentation_files: usize,
    #[serde(serialize_with = "crate::paths::lossy_opt")]
    pub source_folder: Option<PathBuf>,
    pub source_series_uid: Option<String>,
    pub source_slices: Option<usize>,
    /// References that resolved into the source series (all series when ambiguous).
    pub references_resolved: usize,
    /// References to instances that are not in the folder.
    pub references_missing: usize,
    /// References to localizers, derived objects or the file itself.
    pub references_ignored: usize,
    /// The mask series got new UIDs and numbers (its tags were broken).
    pub repaired: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MappingFile {
    pub format: String,
    pub version: u32,
    pub segmentations: Vec<MappingRow>,
}

/// A table file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Writes `rows` into `out` as `json_name` (the rows in `mapping.json`'s shape) and
/// `csv_name`, each atomically, and returns their records for the manifest: apply writes a
/// run's table (or a shard's part) with it, `dams tables` the table joined from the parts, so
/// the two are the same bytes for the same rows.
pub fn write_files(
    out: &Path,
    json_name: &str,
    csv_name: &str,
    rows: Vec<MappingRow>,
) -> Result<Vec<crate::manifest::FileRecord>, WriteError> {
    let file = MappingFile {
        format: "dams-mapping".into(),
        version: 1,
        segmentations: rows,
    };
    let json_path = out.join(json_name);
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError { path, source }
    };
    let mut json = serde_json::to_vec_pretty(&file).map_err(|e| err(&json_path)(io::Error::other(e)))?;
    json.push(b'\n');
    crate::atomic::write_file(&json_path, 0o644, |w| w.write_all(&json)).map_err(err(&json_path))?;
    let csv_path = out.join(csv_name);
    let mut csv = Vec::new();
    write_csv(&file.segmentations, &mut csv).map_err(err(&csv_path))?;
    crate::atomic::write_file(&csv_path, 0o644, |w| w.write_all(&csv)).map_err(err(&csv_path))?;
    let record = |name: &str, bytes: &[u8]| crate::manifest::FileRecord {
        path: name.to_string(),
        kind: crate::manifest::FileKind::Table,
        size: bytes.len() as u64,
        sha256: crate::manifest::digest_bytes(bytes),
    };
    Ok(vec![record(json_name, &json), record(csv_name, &csv)])
}

fn row(g: &SegmentationGroup, planner: &Planner) -> Option<MappingRow> {
    let patient = planner.code(&g.patient_id)?.to_string();
    let repair = g.files.first().and_then(|f| planner.repair(f));
    let segmentation_series_uid = match repair {
        Some(r) => r.series_instance_uid.clone(),
        None => planner.output_uid(crate::dicom::tags::SERIES_INSTANCE_UID, &g.claimed_series_uid),
    };
    Some(MappingRow {
        patient,
        kind: match g.kind {
            SegmentationKind::PerSliceMask => "per-slice-mask",
            SegmentationKind::Seg => "seg",
            SegmentationKind::RtStruct => "rtstruct",
        }
        .to_string(),
        status: g.status.label().to_string(),
        segmentation_folder: planner.dest_folder(&g.folder),
        segmentation_series_uid,
        segmentation_files: g.files.len(),
        source_folder: g.source.as_ref().map(|s| planner.dest_folder(&s.folder)),
        source_series_uid: g
            .source
            .as_ref()
            .map(|s| planner.output_uid(crate::dicom::tags::SERIES_INSTANCE_UID, &s.series_uid)),
        source_slices: g.source.as_ref().map(|s| s.slices),
        references_resolved: g.evidence.resolved(),
        references_missing: g.evidence.missing,
        references_ignored: g.evidence.ignored(),
        repaired: repair.is_some(),
    })
}

/// The rows for the given patients' segmentation groups.
pub fn rows(links: &Links, planner: &Planner, patients: &BTreeSet<String>) -> Vec<MappingRow> {
    links
        .groups
        .iter()
        .filter(|g| patients.contains(&g.patient_id))
        .filter_map(|g| row(g, planner))
        .collect()
}

/// Merges `new` rows into an existing table: rows of the same patients are replaced.
#[must_use]
pub fn merge(existing: Vec<MappingRow>, new: Vec<MappingRow>) -> Vec<MappingRow> {
    let replaced: BTreeSet<&str> = new.iter().map(|r| r.patient.as_str()).collect();
    let mut all: Vec<MappingRow> = existing
        .into_iter()
        .filter(|r| !replaced.contains(r.patient.as_str()))
        .collect();
    all.extend(new);
    all.sort_by(|a, b| {
        (&a.patient, &a.segmentation_folder, &a.segmentation_series_uid).cmp(&(
            &b.patient,
            &b.segmentation_folder,
            &b.segmentation_series_uid,
        ))
    });
    all
}

/// The columns of `mapping.csv`, in order.
const CSV_COLUMNS: [&str; 13] = [
    "patient",
    "kind",
    "status",
    "segmentation_folder",
    "segmentation_series_uid",
    "segmentation_files",
    "source_folder",
    "source_series_uid",
    "source_slices",
    "references_resolved",
    "references_missing",
    "references_ignored",
    "repaired",
];

/// Writes the table as CSV. Folder names come from the input tree: a cell a spreadsheet
/// would run as a formula (`=…`) is guarded with a leading `'` ([`crate::shown::spreadsheet_cell`]).
///
/// # Errors
///
/// An I/O error when `out` cannot be written.
pub fn write_csv(rows: &[MappingRow], out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for r in rows {
        let cells: [String; 13] = [
            r.patient.clone(),
            r.kind.clone(),
            r.status.clone(),
            r.segmentation_folder.to_string_lossy().into_owned(),
            r.segmentation_series_uid.clone(),
            r.segmentation_files.to_string(),
            opt(r.source_folder.as_ref().map(|f| f.to_string_lossy().into_owned())),
            opt(r.source_series_uid.clone()),
            opt(r.source_slices.map(|n| n.to_string())),
            r.references_resolved.to_string(),
            r.references_missing.to_string(),
            r.references_ignored.to_string(),
            r.repaired.to_string(),
        ];
        w.write_record(cells.iter().map(|c| crate::shown::spreadsheet_cell(c).into_owned()))?;
    }
    w.flush()
}

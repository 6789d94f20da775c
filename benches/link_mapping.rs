//! Benchmark of segmentation → source linking on one large synthetic patient (built in
//! memory, no files): 10 CT series × 300 slices and 20 mask series, the target being < 1 s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dams::scan::header::{FileIdentity, ImageFacts};
use dams::scan::{Header, Index, Instance, RefVia, Reference};

const CT_SERIES: usize = 10;
const SLICES: usize = 300;
const MASK_SERIES: usize = 20;
const RUNS: usize = 5;
const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

fn header(
    path: String,
    series: String,
    sop: String,
    image_type: &str,
    z: f64,
    refs: Vec<Reference>,
    image: &Arc<ImageFacts>,
) -> Header {
    Header {
        identity: FileIdentity {
            patient_id: "BENCH".into(),
            ..FileIdentity::default()
        },
        study_uid: "1.2.826.0.1.3680043.8.498.1".into(),
        study_date: String::new(),
        study_description: String::new(),
        series_uid: series,
        series_number: None,
        series_description: String::new(),
        modality: "CT".into(),
        media_storage_sop_class: String::new(),
        dicomdir_files: Vec::new(),
        instance: Instance {
            path: PathBuf::from(path),
            size: 0,
            modified: None,
            sop_instance_uid: sop,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            transfer_syntax: "".into(),
            frame_of_reference_uid: "1.2.826.0.1.3680043.8.498.2".into(),
            instance_number: Some(1),
            series_number: None,
            image_position: Some([-150.0, -150.0, z]),
            image_orientation: Some(std::sync::Arc::new(AXIAL)),
            image_type: image_type.split('\\').map(str::to_string).collect(),
            number_of_frames: 1,
            image: image.clone(),
            largest_value: None,
            placed_by: None,
            references: refs,
            referenced_series: Vec::new(),
        },
    }
}

fn reference(uid: &str, via: RefVia) -> Reference {
    Reference {
        sop_instance_uid: uid.to_string(),
        via,
        purpose: None,
    }
}

/// One patient: a localizer, 10 CT series sharing one frame of reference and geometry (their
/// slices reference the localizer), and 20 mask series of 300 files, two per CT. Masks of
/// CT n and CT n+5 share one hard-coded `SeriesInstanceUID` (to be split); the masks of the
/// last CT reference slices that are not there (unmatched, with geometry suggestions).
fn patient() -> Index {
    let ct = Arc::new(ImageFacts {
        modality: "CT".into(),
        rows: 512,
        columns: 512,
        samples_per_pixel: 1,
        bits_allocated: 16,
        bits_stored: 12,
        photometric: "MONOCHROME2".into(),
        ..ImageFacts::default()
    });
    // What the masks' headers say: 8-bit label pixels, a description that says mask.
    let mask = Arc::new(ImageFacts {
        bits_allocated: 8,
        bits_stored: 8,
        series_description: "liver mask".into(),
        ..(*ct).clone()
    });
    let mut headers = Vec::new();
    let loc = "1.9.0.1".to_string();
    headers.push(header(
        "P/loc/l.dcm".into(),
        "1.9.0".into(),
        loc.clone(),
        "ORIGINAL\\PRIMARY\\LOCALIZER",
        0.0,
        Vec::new(),
        &ct,
    ));
    for c in 0..CT_SERIES {
        for s in 0..SLICES {
            let refs = vec![reference(&loc, RefVia::ReferencedImage)];
            headers.push(header(
                format!("P/ct{c:02}/{s:04}.dcm"),
                format!("1.9.1.{c}"),
                format!("1.9.1.{c}.{s}"),
                "ORIGINAL\\PRIMARY\\AXIAL",
                s as f64 * 1.25,
                refs,
                &ct,
            ));
        }
    }
    for m in 0..MASK_SERIES {
        let c = m % CT_SERIES;
        let series = format!("1.9.2.{}", m % (MASK_SERIES / 2));
        for s in 0..SLICES {
            let slice = if c == CT_SERIES - 1 {
                format!("1.9.9.{s}")
            } else {
                format!("1.9.1.{c}.{s}")
            };
            let refs = vec![
                reference(&slice, RefVia::SourceImage),
                reference(&loc, RefVia::ReferencedImage),
            ];
            headers.push(header(
                format!("P/mask{m:02}/{:04}.dcm", (s * 7919) % SLICES),
                series.clone(),
                format!("1.9.2.{m}.{s}"),
                "DERIVED\\SECONDARY",
                s as f64 * 1.25,
                refs,
                &mask,
            ));
        }
    }
    let mut index = Index::new(Path::new("/bench"));
    for h in headers {
        index.add(h);
    }
    index
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("link_mapping: a benchmark; run it with `cargo bench --bench link_mapping`");
        return;
    }
    let started = Instant::now();
    let index = patient();
    let built = started.elapsed();
    let mut times: Vec<(Duration, Duration)> = Vec::new();
    let mut summary = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let links = dams::link::resolve(&index);
        let resolved = t.elapsed();
        let repairs = links.repairs(b"bench-secret", dams::link::SegmentationGroup::repairable);
        times.push((resolved, t.elapsed()));
        summary = format!(
            "{} files, {} groups ({} resolved, {} unmatched), {} repairs",
            index.file_count(),
            links.groups.len(),
            links
                .groups
                .iter()
                .filter(|g| g.status == dams::link::LinkStatus::Resolved)
                .count(),
            links
                .groups
                .iter()
                .filter(|g| g.status == dams::link::LinkStatus::Unmatched)
                .count(),
            repairs.len()
        );
    }
    times.sort();
    let (resolve_median, total_median) = times[RUNS / 2];
    let best = times.iter().map(|t| t.1).min().unwrap_or_default();
    println!("link_mapping: {summary}");
    println!(
        "link_mapping: index built in {:.1} ms (not counted)",
        built.as_secs_f64() * 1e3
    );
    println!(
        "link_mapping: resolve {:.1} ms, resolve + repairs {:.1} ms (median of {RUNS}; best {:.1} ms)",
        resolve_median.as_secs_f64() * 1e3,
        total_median.as_secs_f64() * 1e3,
        best.as_secs_f64() * 1e3
    );
    assert!(
        total_median < Duration::from_secs(1),
        "mapping took {total_median:?}, the target is < 1 s"
    );
}

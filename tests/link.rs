//! Segmentation → source links on the mapping fixtures (pydicom/highdicom/rt-utils), checked
//! against their ground truth in tests/fixtures/mapping/expected.json.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use dams::link::{
    self, FileStatus, Flag, LinkError, LinkStatus, Links, SegmentationKind, StaleReason, SuggestionReason,
};
use dams::scan::{Index, ScanOptions};
use serde_json::Value;

fn root() -> PathBuf {
    common::fixture("mapping")
}

fn scan() -> Index {
    dams::scan::scan(&root(), &ScanOptions::default(), &|_, _| {}, &AtomicBool::new(false)).expect("scan")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(root().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("json")
}

fn source_uid(folder: &str) -> String {
    expected()["sources"][folder]["series_uid"]
        .as_str()
        .expect("source")
        .to_string()
}

/// Every derived folder of the ground truth: its files resolve to the expected source, with
/// the expected status (per file where the folder is split).
#[test]
fn every_derived_folder_matches_the_ground_truth() {
    let links = link::resolve(&scan());
    let truth = expected();
    let derived = truth["derived"].as_object().expect("derived");
    let mut seen_files = 0;
    for (folder, want) in derived {
        let status = want["expected_status"].as_str().expect("status");
        let want_source = want["source_series_uid"].as_str();
        let groups: Vec<_> = links.groups.iter().filter(|g| g.folder == Path::new(folder)).collect();
        assert!(!groups.is_empty(), "{folder}: no group");
        let files = want["files"].as_object().expect("files");
        seen_files += files.len();
        let paths: BTreeSet<PathBuf> = groups.iter().flat_map(|g| g.files.iter().cloned()).collect();
        let want_paths: BTreeSet<PathBuf> = files.keys().map(|f| Path::new(folder).join(f)).collect();
        assert_eq!(paths, want_paths, "{folder}");
        match status {
            "resolved" => {
                assert_eq!(groups.len(), 1, "{folder}");
                assert_eq!(groups[0].status, LinkStatus::Resolved, "{folder}");
                assert_eq!(groups[0].source_series_uid(), want_source, "{folder}");
            }
            "unmatched" => {
                assert_eq!(groups.len(), 1, "{folder}");
                assert_eq!(groups[0].status, LinkStatus::Unmatched, "{folder}");
                assert_eq!(groups[0].source, None, "{folder}");
            }
            "ambiguous-or-split" => {
                // Not fully resolved: ambiguous, split, or some files' references missing
                // (they follow their object and say so).
                let some_missing = groups
                    .iter()
                    .any(|g| g.flags.iter().any(|f| matches!(f, Flag::ReferencesMissing { .. })));
                assert!(
                    groups.len() > 1 || groups[0].status == LinkStatus::Ambiguous || some_missing,
                    "{folder} must not look fully resolved"
                );
                for (name, detail) in want["file_details"].as_object().expect("details") {
                    let file = links.file(&Path::new(folder).join(name)).expect("derived file");
                    match detail["expected_file_status"].as_str() {
                        Some("resolved") => {
                            assert_eq!(file.status, FileStatus::Resolved, "{folder}/{name}");
                            assert_eq!(file.source_series_uid.as_deref(), want_source, "{folder}/{name}");
                        }
                        _ => assert!(
                            matches!(file.status, FileStatus::MissingReferences { .. }),
                            "{folder}/{name}: {:?}",
                            file.status
                        ),
                    }
                }
            }
            other => panic!("unknown status {other}"),
        }
    }
    // Nothing else is taken for a derived object: CT slices and the localizer are not.
    assert_eq!(links.files.len(), seen_files);
}

#[test]
fn ct_slices_referencing_the_localizer_are_sources_not_masks() {
    let index = scan();
    let links = link::resolve(&index);
    let ct_soft = Path::new("PAT1/ct_soft");
    let slices: Vec<_> = index
        .patients
        .iter()
        .flat_map(dams::scan::Patient::instances)
        .filter(|i| i.path.starts_with(ct_soft))
        .collect();
    assert_eq!(slices.len(), 8);
    assert!(
        slices.iter().all(|i| !i.references.is_empty()),
        "the fixture's CT slices reference the localizer"
    );
    assert!(slices.iter().all(|i| links.file(&i.path).is_none()));
    assert!(links.file(Path::new("PAT1/localizer/loc_001.dcm")).is_none());

    let soft = links.find_source("PAT1/ct_soft").expect("ct_soft");
    assert_eq!(soft.series_uid, source_uid("PAT1/ct_soft"));
    assert_eq!(soft.slices, 8, "mask_a shares the UID but is not a slice of ct_soft");
    let localizer = links.find_source("PAT1/localizer").expect("localizer");
    assert!(localizer.localizer);
}

#[test]
fn two_reconstructions_sharing_frame_of_reference_and_geometry_stay_apart() {
    let links = link::resolve(&scan());
    let soft = links.find_source("PAT1/ct_soft").expect("soft");
    let lung = links.find_source("PAT1/ct_lung").expect("lung");
    assert_eq!(soft.frame_of_reference_uid, lung.frame_of_reference_uid);
    let seg = links.find_group("PAT1/seg").expect("seg");
    assert_eq!(seg.kind, SegmentationKind::Seg);
    assert_eq!(
        (seg.status, seg.source_series_uid()),
        (LinkStatus::Resolved, Some(soft.series_uid.as_str()))
    );
    // Only ct_soft slices 3..6 are referenced, each through three sequences: counted once.
    assert_eq!(seg.evidence.resolved(), 4);
    assert_eq!(seg.evidence.named_series, std::slice::from_ref(&soft.series_uid));
    let rt = links.find_group("PAT1/rtstruct").expect("rtstruct");
    assert_eq!(rt.kind, SegmentationKind::RtStruct);
    assert_eq!(
        (rt.status, rt.source_series_uid()),
        (LinkStatus::Resolved, Some(lung.series_uid.as_str()))
    );
    assert_eq!(rt.evidence.resolved(), 8);
}

#[test]
fn the_mask_with_its_cts_series_uid_is_its_own_group() {
    let links = link::resolve(&scan());
    let soft = source_uid("PAT1/ct_soft");
    let a = links.find_group("PAT1/mask_a").expect("mask_a");
    assert_eq!(a.claimed_series_uid, soft);
    assert_eq!(a.files.len(), 8);
    assert!(a.files.iter().all(|f| f.starts_with("PAT1/mask_a")));
    assert_eq!(a.source_series_uid(), Some(soft.as_str()));
    assert!(a.flags.contains(&Flag::SeriesUidOfSource));
    assert!(a.flags.contains(&Flag::DuplicateSopInstanceUid { files: 2 }));
    assert!(a.flags.contains(&Flag::InstanceNumbers));
    assert!(a.needs_repair());
    // The localizer every mask_a file also references is counted as ignored, not a vote.
    assert_eq!(a.evidence.localizer, 8);
    assert_eq!(a.evidence.votes.len(), 1);
    assert_eq!(a.evidence.votes[0].references, 8);
}

#[test]
fn unrelated_masks_sharing_a_hard_coded_series_uid_are_split() {
    let links = link::resolve(&scan());
    let shared: Vec<_> = links
        .groups
        .iter()
        .filter(|g| g.claimed_series_uid == "1.2.3.4.5.6.7.8.9")
        .collect();
    assert_eq!(shared.len(), 2);
    let b = links.find_group("PAT1/mask_b").expect("mask_b");
    let c = links.find_group("PAT1/mask_c").expect("mask_c");
    assert_eq!(b.source_series_uid(), Some(source_uid("PAT1/ct_lung").as_str()));
    assert_eq!(c.source_series_uid(), Some(source_uid("PAT1/ct_soft").as_str()));
    assert_eq!(
        b.flags,
        [Flag::SplitByFolder {
            siblings: vec![c.key.clone()]
        }]
    );
    assert_eq!(
        c.flags,
        [Flag::SplitByFolder {
            siblings: vec![b.key.clone()]
        }]
    );
    assert!(matches!(
        links.find_group("1.2.3.4.5.6.7.8.9"),
        Err(LinkError::AmbiguousGroup { keys, .. }) if keys.len() == 2
    ));
}

#[test]
fn references_to_slices_missing_from_the_folder() {
    let links = link::resolve(&scan());
    // One object: the masks of the deleted slices 9 and 10 follow the rest of their stack.
    let g = links.find_group("PAT1/mask_partial").expect("one object");
    assert_eq!(g.files.len(), 5);
    assert_eq!(
        (g.status, g.source_series_uid()),
        (LinkStatus::Resolved, Some(source_uid("PAT1/ct_soft").as_str()))
    );
    assert_eq!(g.evidence.missing, 2);
    assert!(g.flags.contains(&Flag::ReferencesMissing { files: 2, instances: 2 }));
    for name in ["mask_004.dcm", "mask_005.dcm"] {
        let f = links.file(&Path::new("PAT1/mask_partial").join(name)).expect("file");
        assert_eq!(f.status, FileStatus::MissingReferences { instances: 1 }, "{name}");
        assert_eq!(f.status.describe(), "references 1 missing instance");
    }
    assert!(g.suggestions.is_empty(), "resolved: nothing to suggest");
}

#[test]
fn the_orphan_is_unmatched_with_suggestions_never_a_guess() {
    let links = link::resolve(&scan());
    let orphan = links.find_group("PAT1/mask_orphan").expect("orphan");
    assert_eq!(orphan.status, LinkStatus::Unmatched);
    assert_eq!(orphan.source, None);
    assert_eq!(orphan.evidence.missing, 4);
    let mut suggested: Vec<(&Path, &[SuggestionReason])> = orphan
        .suggestions
        .iter()
        .map(|s| (s.folder.as_path(), s.reasons.as_slice()))
        .collect();
    suggested.sort();
    let both = [SuggestionReason::SameGeometry, SuggestionReason::SameFrameOfReference];
    assert_eq!(
        suggested,
        [
            (Path::new("PAT1/ct_lung"), &both[..]),
            (Path::new("PAT1/ct_soft"), &both[..])
        ],
        "every series sharing the frame of reference, but not the localizer"
    );
    let truth = expected();
    let candidates: BTreeSet<&str> = truth["derived"]["PAT1/mask_orphan"]["geometry_candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let ours: BTreeSet<&str> = suggested.iter().filter_map(|(p, _)| p.to_str()).collect();
    assert_eq!(ours, candidates);
    for f in &orphan.files {
        assert_eq!(links.file(f).and_then(|f| f.source_series_uid.clone()), None);
    }
}

#[test]
fn manual_links_by_folder_names() {
    let mut links = link::resolve(&scan());
    let (key, uid) = links.manual_link("PAT1/mask_orphan", "PAT1/ct_soft").expect("link");
    assert_eq!(uid, source_uid("PAT1/ct_soft"));
    // A series of another patient cannot be the source.
    assert!(matches!(
        links.manual_link("PAT1/mask_orphan", "PAT2/ct"),
        Err(LinkError::UnknownSeries { .. })
    ));
    let overrides = BTreeMap::from([
        (key.clone(), uid.clone()),
        (
            links.find_group("PAT2/mask").expect("pat2").key.clone(),
            "1.2.3.gone".to_string(),
        ),
    ]);
    let stale = links.apply_overrides(&overrides);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].problem, StaleReason::NoSuchSeries);
    let orphan = links.group(&key).expect("group");
    assert_eq!(orphan.status, LinkStatus::Manual);
    assert_eq!(orphan.automatic_status, LinkStatus::Unmatched);
    assert_eq!(orphan.source_series_uid(), Some(uid.as_str()));
    assert_eq!(
        links.find_group("PAT2/mask").expect("pat2").status,
        LinkStatus::Resolved
    );
    assert_eq!(links.overrides(), BTreeMap::from([(key, uid)]));
}

#[test]
fn keys_and_results_are_stable_across_rescans() {
    let a = link::resolve(&scan());
    let b = link::resolve(&scan());
    assert_eq!(
        serde_json::to_string(&a).expect("json"),
        serde_json::to_string(&b).expect("json")
    );
    assert_eq!(a.repairs(b"secret", |_| true), b.repairs(b"secret", |_| true));
}

/// The shape `dams map --json` prints, and nothing identifying in it.
#[test]
fn json_output() {
    let links = link::resolve(&scan());
    let json: Value = serde_json::to_value(&links).expect("json");
    let files = json["files"].as_array().expect("files");
    assert_eq!(files.len(), links.files.len());
    for f in files {
        let path = f["path"].as_str().expect("path");
        let group = f["group"].as_str().expect("group");
        assert!(
            links
                .group(group)
                .is_some_and(|g| g.files.iter().any(|p| p == Path::new(path)))
        );
        assert!(f["source_series_uid"].is_string() || f["source_series_uid"].is_null());
    }
    let groups = json["groups"].as_array().expect("groups");
    let first = &groups[0];
    for field in [
        "key",
        "kind",
        "files",
        "status",
        "source",
        "evidence",
        "claimed_series_uid",
        "folder",
    ] {
        assert!(first.get(field).is_some(), "{field}");
    }
    let text = json.to_string();
    for p in expected()["patients"].as_object().expect("patients").values() {
        for field in ["patient_id", "patient_name", "birth_date"] {
            let v = p[field].as_str().expect("value");
            assert!(!text.contains(v), "{field} leaks into the JSON");
        }
    }
}

fn repairs_by_path(links: &Links) -> BTreeMap<PathBuf, dams::link::Repair> {
    links
        .repairs(b"secret", dams::link::SegmentationGroup::repairable)
        .into_iter()
        .map(|r| (r.path.clone(), r))
        .collect()
}

#[test]
fn repair_of_mask_tags() {
    let index = scan();
    let links = link::resolve(&index);
    let repairs = repairs_by_path(&links);
    // Every per-slice mask file, and no SEG or RTSTRUCT.
    let masks: Vec<_> = links
        .files
        .iter()
        .filter(|f| f.kind == SegmentationKind::PerSliceMask)
        .collect();
    assert_eq!(repairs.len(), masks.len());

    // New SOPInstanceUIDs are unique, even for mask_a's two files that share one, and none is
    // an input UID.
    let originals: BTreeSet<&str> = index
        .patients
        .iter()
        .flat_map(dams::scan::Patient::instances)
        .map(|i| i.sop_instance_uid.as_str())
        .collect();
    let new: BTreeSet<&str> = repairs.values().map(|r| r.sop_instance_uid.as_str()).collect();
    assert_eq!(new.len(), repairs.len());
    assert!(new.iter().all(|u| !originals.contains(u)));

    // One new SeriesInstanceUID per group, none an input series UID.
    let series_uids: BTreeSet<(&str, &str)> = repairs
        .values()
        .map(|r| (r.group.as_str(), r.series_instance_uid.as_str()))
        .collect();
    let per_group: BTreeSet<&str> = series_uids.iter().map(|(g, _)| *g).collect();
    assert_eq!(series_uids.len(), per_group.len());
    let input_series: BTreeSet<&str> = index
        .patients
        .iter()
        .flat_map(dams::scan::Patient::series)
        .map(|s| s.series_uid.as_str())
        .collect();
    assert!(series_uids.iter().all(|(_, u)| !input_series.contains(u)));

    // InstanceNumbers 1..n in z order of the source slices (ground truth file_details).
    let truth = expected();
    for folder in ["PAT1/mask_a", "PAT1/mask_b", "PAT1/mask_c", "PAT2/mask"] {
        let details = truth["derived"][folder]["file_details"].as_object().expect("details");
        let mut by_z: Vec<(f64, &str)> = details
            .iter()
            .map(|(name, d)| (d["z"].as_f64().expect("z"), name.as_str()))
            .collect();
        by_z.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (n, (_, name)) in by_z.iter().enumerate() {
            let r = &repairs[&Path::new(folder).join(name)];
            assert_eq!(r.instance_number, n as i64 + 1, "{folder}/{name}");
        }
    }

    // SeriesNumbers: unused by any other series of the patient, distinct between groups.
    for patient in &index.patients {
        let group_numbers: BTreeMap<&str, i64> = repairs
            .values()
            .filter(|r| {
                links
                    .group(&r.group)
                    .is_some_and(|g| g.patient_id == patient.patient_id)
            })
            .map(|r| (r.group.as_str(), r.series_number))
            .collect();
        let distinct: BTreeSet<i64> = group_numbers.values().copied().collect();
        assert_eq!(distinct.len(), group_numbers.len());
        for (key, n) in &group_numbers {
            let group = links.group(key).expect("group");
            let clash = patient
                .instances()
                .any(|i| i.series_number == Some(*n) && !group.files.contains(&i.path));
            assert!(!clash, "{key}: SeriesNumber {n} is used by another series");
        }
    }

    // Deterministic: a second scan gives the same tags.
    assert_eq!(repairs_by_path(&link::resolve(&scan())), repairs);
}

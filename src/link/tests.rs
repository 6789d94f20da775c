//! Links built from small synthetic Indexes (no files): the edge cases the fixtures do not
//! hold — empty patients, cross-patient references, self references, ties, key stability.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::scan::header::FileIdentity;
use crate::scan::{Header, Instance, Patient, RefVia, Reference};

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const SC: &str = "1.2.840.10008.5.1.4.1.1.7";
const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
const FOR: &str = "9.9.9";

/// One file; the builders below fill in what each test cares about.
fn file(patient: &str, path: &str, series: &str, sop: &str) -> Header {
    Header {
        identity: FileIdentity {
            patient_id: patient.into(),
            ..FileIdentity::default()
        },
        study_uid: format!("{patient}.study"),
        study_date: String::new(),
        study_description: String::new(),
        series_uid: series.into(),
        series_number: None,
        series_description: String::new(),
        modality: "CT".into(),
        media_storage_sop_class: String::new(),
        instance: Instance {
            path: PathBuf::from(path),
            size: 0,
            modified: None,
            sop_instance_uid: sop.into(),
            sop_class_uid: CT.into(),
            transfer_syntax: "".into(),
            frame_of_reference_uid: FOR.into(),
            instance_number: None,
            series_number: None,
            image_position: None,
            image_orientation: Some(AXIAL),
            image_type: Vec::new().into(),
            number_of_frames: 1,
            placed_by: None,
            references: Vec::new(),
            referenced_series: Vec::new(),
        },
    }
}

fn at(mut h: Header, z: f64, number: i64) -> Header {
    h.instance.image_position = Some([0.0, 0.0, z]);
    h.instance.instance_number = Some(number);
    h
}

fn typed(mut h: Header, image_type: &str) -> Header {
    h.instance.image_type = image_type.split('\\').map(str::to_string).collect();
    h
}

fn refs(mut h: Header, to: &[(&str, RefVia)]) -> Header {
    h.instance.references = to
        .iter()
        .map(|(uid, via)| Reference {
            sop_instance_uid: (*uid).into(),
            via: *via,
        })
        .collect();
    h
}

fn numbered(mut h: Header, n: i64) -> Header {
    h.series_number = Some(n);
    h.instance.series_number = Some(n);
    h
}

/// A CT slice `i` of series `series` at z = i.
fn ct(patient: &str, folder: &str, series: &str, i: i64) -> Header {
    let h = file(
        patient,
        &format!("{folder}/ct_{i:03}.dcm"),
        series,
        &format!("{series}.{i}"),
    );
    numbered(typed(at(h, i as f64, i), "ORIGINAL\\PRIMARY\\AXIAL"), 2)
}

/// A derived CT-class mask file referencing `source` through SourceImageSequence.
fn mask(patient: &str, path: &str, series: &str, sop: &str, source: &[&str]) -> Header {
    let to: Vec<(&str, RefVia)> = source.iter().map(|s| (*s, RefVia::SourceImage)).collect();
    numbered(
        refs(typed(file(patient, path, series, sop), "DERIVED\\SECONDARY"), &to),
        50,
    )
}

fn index(headers: impl IntoIterator<Item = Header>) -> Index {
    let mut index = Index::new(Path::new("/in"));
    for h in headers {
        index.add(h);
    }
    index
}

/// A patient with two CT series (A: 5 slices in `P/a`, B: 5 slices in `P/b`).
fn two_cts() -> Vec<Header> {
    (1..=5)
        .map(|i| ct("P", "P/a", "A", i))
        .chain((1..=5).map(|i| numbered(ct("P", "P/b", "B", i), 3)))
        .collect()
}

fn only_group(links: &Links) -> &SegmentationGroup {
    assert_eq!(links.groups.len(), 1, "{:#?}", links.groups);
    &links.groups[0]
}

#[test]
fn empty_index_and_empty_patient() {
    let links = resolve(&Index::default());
    assert!(links.groups.is_empty() && links.files.is_empty() && links.sources.is_empty());

    let mut index = Index::new(Path::new("/in"));
    index.patients.push(Patient::new("EMPTY"));
    let links = resolve(&index);
    assert!(links.groups.is_empty() && links.files.is_empty() && links.sources.is_empty());
    assert!(links.repairs(b"k", |_| true).is_empty());
}

#[test]
fn a_patient_without_derived_objects_has_only_sources() {
    let links = resolve(&index(two_cts()));
    assert!(links.groups.is_empty());
    let folders: Vec<&Path> = links.sources.iter().map(|s| s.folder.as_path()).collect();
    assert_eq!(folders, [Path::new("P/a"), Path::new("P/b")]);
    assert!(links.sources.iter().all(|s| s.slices == 5 && !s.localizer));
}

#[test]
fn a_reference_into_another_patient_is_unmatched() {
    let mut headers: Vec<Header> = (1..=3).map(|i| ct("P", "P/ct", "A", i)).collect();
    headers.push(mask("Q", "Q/mask/m1.dcm", "M", "M.1", &["A.1"]));
    let links = resolve(&index(headers));
    let g = only_group(&links);
    assert_eq!(g.status, LinkStatus::Unmatched);
    assert_eq!(g.source, None);
    assert_eq!(g.evidence.missing, 1);
    assert!(g.evidence.votes.is_empty());
    // Same frame of reference UID, but P's series are never offered to Q.
    assert!(g.suggestions.is_empty(), "{:?}", g.suggestions);
    assert_eq!(
        links.find_source_for(g, "P/ct"),
        Err(LinkError::UnknownSeries { name: "P/ct".into() })
    );
}

#[test]
fn a_derived_object_referencing_only_itself() {
    // A SEG is derived whatever it references; its self reference is counted, not a source.
    let mut seg = file("P", "P/seg/seg.dcm", "S", "S.1");
    seg.instance.sop_class_uid = SEGMENTATION_STORAGE.into();
    let seg = refs(seg, &[("S.1", RefVia::Derivation), ("S.1", RefVia::SourceImage)]);
    // A derived image that only names itself claims no source: not a mask.
    let image = mask("P", "P/img/i1.dcm", "I", "I.1", &["I.1"]);
    let links = resolve(&index([seg, image]));
    let g = only_group(&links);
    assert_eq!(g.kind, SegmentationKind::Seg);
    assert_eq!(g.status, LinkStatus::Unmatched);
    assert_eq!(g.evidence.itself, 1);
    assert_eq!(g.evidence.missing, 0);
    assert!(links.file(Path::new("P/img/i1.dcm")).is_none());
    assert!(links.sources.iter().any(|s| s.series_uid == "I"));
}

#[test]
fn a_file_sharing_its_sop_uid_with_its_source_still_resolves() {
    // Some tools copy the CT slice's SOPInstanceUID into the mask: the reference then names
    // the CT slice, not the mask itself.
    let mut headers = two_cts();
    headers.push(mask("P", "P/m/m1.dcm", "M", "A.2", &["A.2"]));
    let links = resolve(&index(headers));
    let g = only_group(&links);
    assert_eq!(g.status, LinkStatus::Resolved);
    assert_eq!(g.source_series_uid(), Some("A"));
    assert!(g.flags.contains(&Flag::DuplicateSopInstanceUid { files: 1 }));
}

#[test]
fn split_votes_are_ambiguous_with_counts_even_without_a_tie() {
    let mut headers = two_cts();
    headers.push(mask("P", "P/m/tie.dcm", "M", "M.1", &["A.1", "B.1"]));
    headers.push(mask(
        "P",
        "P/n/three_one.dcm",
        "N",
        "N.1",
        &["A.1", "A.2", "A.3", "B.4"],
    ));
    let links = resolve(&index(headers));
    assert_eq!(links.groups.len(), 2);
    for g in &links.groups {
        assert_eq!(g.status, LinkStatus::Ambiguous);
        assert_eq!(g.source, None);
        assert!(g.key.contains("|ambiguous-"), "{}", g.key);
    }
    let tie = links.find_group("P/m").expect("group");
    let votes: Vec<(&str, usize)> = tie
        .evidence
        .votes
        .iter()
        .map(|v| (v.series_uid.as_str(), v.references))
        .collect();
    assert_eq!(votes, [("A", 1), ("B", 1)]);
    let other = links.find_group("P/n").expect("group");
    let votes: Vec<(&str, usize)> = other
        .evidence
        .votes
        .iter()
        .map(|v| (v.series_uid.as_str(), v.references))
        .collect();
    assert_eq!(votes, [("A", 3), ("B", 1)]);
    assert_eq!(
        links
            .file(Path::new("P/m/tie.dcm"))
            .and_then(|f| f.source_series_uid.clone()),
        None
    );
}

#[test]
fn what_is_not_a_mask() {
    let mut loc = typed(file("P", "P/loc/l.dcm", "L", "L.1"), "ORIGINAL\\PRIMARY\\LOCALIZER");
    loc.instance.image_orientation = None;
    let mut headers = vec![loc];
    // ORIGINAL slices referencing the localizer.
    headers.extend((1..=3).map(|i| refs(ct("P", "P/ct", "A", i), &[("L.1", RefVia::ReferencedImage)])));
    // A DERIVED reconstruction whose localizer is not in the folder: a dangling
    // ReferencedImageSequence entry is no source claim.
    headers.push(refs(
        typed(file("P", "P/recon/r1.dcm", "R", "R.1"), "DERIVED\\PRIMARY\\AXIAL"),
        &[("GONE", RefVia::ReferencedImage)],
    ));
    // An ORIGINAL image naming an earlier version of itself.
    headers.push(refs(ct("P", "P/again", "G", 1), &[("OLD", RefVia::SourceImage)]));
    // A derived image naming an earlier (derived) version of itself in its own series.
    headers.push(mask("P", "P/v/v1.dcm", "V", "V.1", &[]));
    headers.push(mask("P", "P/v/v2.dcm", "V", "V.2", &["V.1"]));
    // A derived image referencing only the localizer.
    headers.push(refs(
        typed(file("P", "P/d/d1.dcm", "D", "D.1"), "DERIVED\\SECONDARY"),
        &[("L.1", RefVia::SourceImage)],
    ));
    let links = resolve(&index(headers));
    assert!(links.files.is_empty(), "{:#?}", links.files);
    let loc = links.sources.iter().find(|s| s.series_uid == "L").expect("localizer");
    assert!(loc.localizer);
}

#[test]
fn what_is_a_mask() {
    let mut headers = two_cts();
    // Secondary Capture, no ImageType, a ReferencedImageSequence entry whose target is gone.
    let mut sc = refs(
        file("P", "P/sc/s1.dcm", "SC", "SC.1"),
        &[("GONE", RefVia::ReferencedImage)],
    );
    sc.instance.sop_class_uid = SC.into();
    headers.push(sc);
    // A derived CT-class image referencing a present slice through ReferencedImageSequence.
    headers.push(refs(
        typed(file("P", "P/ri/r1.dcm", "RI", "RI.1"), "DERIVED\\SECONDARY"),
        &[("A.1", RefVia::ReferencedImage)],
    ));
    // A derived image whose SourceImageSequence target is gone.
    headers.push(mask("P", "P/gone/g1.dcm", "GN", "GN.1", &["GONE2"]));
    let links = resolve(&index(headers));
    let statuses: Vec<(&str, LinkStatus)> = links
        .groups
        .iter()
        .map(|g| (g.folder.to_str().unwrap_or_default(), g.status))
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert!(statuses.contains(&("P/sc", LinkStatus::Unmatched)));
    assert!(statuses.contains(&("P/ri", LinkStatus::Resolved)));
    assert!(statuses.contains(&("P/gone", LinkStatus::Unmatched)));
}

#[test]
fn a_mask_of_a_mask_is_not_resolved_through_it_but_suggested() {
    let mut headers = two_cts();
    headers.push(mask("P", "P/m1/m.dcm", "M1", "M1.1", &["A.3"]));
    headers.push(mask("P", "P/m2/m.dcm", "M2", "M2.1", &["M1.1"]));
    let links = resolve(&index(headers));
    let first = links.find_group("P/m1").expect("m1");
    let second = links.find_group("P/m2").expect("m2");
    assert_eq!(first.status, LinkStatus::Resolved);
    assert_eq!(second.status, LinkStatus::Unmatched);
    assert_eq!(second.evidence.derived, 1);
    let via: Vec<&Suggestion> = second
        .suggestions
        .iter()
        .filter(|s| {
            s.reasons.contains(&SuggestionReason::ViaDerived {
                group: first.key.clone(),
            })
        })
        .collect();
    assert_eq!(via.len(), 1);
    assert_eq!(via[0].series_uid, "A");
}

#[test]
fn keys_do_not_depend_on_the_order_files_arrive() {
    let mut headers = two_cts();
    headers.push(mask("P", "P/m/m1.dcm", "X", "M.1", &["A.1"]));
    headers.push(mask("P", "P/m/m2.dcm", "X", "M.2", &["GONE"]));
    headers.push(mask("P", "P/n/n1.dcm", "X", "N.1", &["A.2"]));
    headers.push(mask("P", "P/o/o1.dcm", "X", "O.1", &["A.3", "B.3"]));
    let forward = resolve(&index(headers.clone()));
    headers.reverse();
    let backward = resolve(&index(headers));
    let json = |l: &Links| serde_json::to_string(l).expect("json");
    assert_eq!(json(&forward), json(&backward));
    let keys: Vec<&str> = forward.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("X|")));
}

#[test]
fn same_series_uid_same_source_different_folders_split_by_folder() {
    let mut headers = two_cts();
    headers.push(mask("P", "P/liver/m1.dcm", "1.2.3", "L.1", &["A.1"]));
    headers.push(mask("P", "P/liver/m2.dcm", "1.2.3", "L.2", &["A.2"]));
    headers.push(mask("P", "P/tumour/m1.dcm", "1.2.3", "T.1", &["A.2"]));
    let links = resolve(&index(headers));
    assert_eq!(links.groups.len(), 2);
    for g in &links.groups {
        assert_eq!(g.status, LinkStatus::Resolved);
        assert!(g.key.starts_with("1.2.3|A|dir-"), "{}", g.key);
        assert!(matches!(g.flags.first(), Some(Flag::SplitByFolder { siblings }) if siblings.len() == 1));
        assert!(g.needs_repair());
    }
}

#[test]
fn one_hard_coded_uid_in_two_patients_gives_two_keys() {
    // Same claimed UID, same dangling reference: only the numbering tells them apart, in
    // patient order.
    let headers = vec![
        mask("P", "P/m/m1.dcm", "1.2.3", "P.1", &["GONE"]),
        mask("Q", "Q/m/m1.dcm", "1.2.3", "Q.1", &["GONE"]),
    ];
    let links = resolve(&index(headers));
    assert_eq!(links.groups.len(), 2);
    assert_eq!(links.groups[1].key, format!("{}|2", links.groups[0].key));
    assert_eq!(links.groups_of("Q").count(), 1);
}

#[test]
fn overrides_set_manual_and_stale_ones_are_reported() {
    let mut headers = two_cts();
    headers.push(mask("P", "P/m/m1.dcm", "M", "M.1", &["GONE"]));
    headers.push(ct("Q", "Q/ct", "QA", 1));
    let mut links = resolve(&index(headers));
    let key = only_group(&links).key.clone();
    assert_eq!(links.manual_link("P/m", "P/b"), Ok((key.clone(), "B".to_string())));

    let mut overrides = BTreeMap::new();
    overrides.insert(key.clone(), "B".to_string());
    overrides.insert("no-such|group".to_string(), "A".to_string());
    let stale = links.apply_overrides(&overrides);
    assert_eq!(
        stale,
        [StaleOverride {
            group: "no-such|group".into(),
            series_uid: "A".into(),
            problem: StaleReason::NoSuchGroup
        }]
    );
    let g = only_group(&links);
    assert_eq!(
        (g.status, g.automatic_status),
        (LinkStatus::Manual, LinkStatus::Unmatched)
    );
    assert_eq!(g.source_series_uid(), Some("B"));
    assert_eq!(
        links
            .file(Path::new("P/m/m1.dcm"))
            .and_then(|f| f.source_series_uid.as_deref()),
        Some("B")
    );
    assert_eq!(links.overrides().get(&key).map(String::as_str), Some("B"));

    // A series that is gone, or another patient's, is reported and the group stays automatic.
    for target in ["GONE-SERIES", "QA"] {
        let stale = links.apply_overrides(&BTreeMap::from([(key.clone(), target.to_string())]));
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].problem, StaleReason::NoSuchSeries);
        assert!(stale[0].to_string().contains("not among"));
        let g = only_group(&links);
        assert_eq!((g.status, g.source_series_uid()), (LinkStatus::Unmatched, None));
    }
    assert!(links.overrides().is_empty());
}

#[test]
fn naming_groups_and_series() {
    let mut headers = two_cts();
    headers.push(mask("P", "P/m/m1.dcm", "M", "M.1", &["A.1"]));
    headers.push(mask("P", "P/m/m2.dcm", "M", "M.2", &["GONE"]));
    headers.push(mask("P", "P/n/n1.dcm", "N", "N.1", &["B.1"]));
    let links = resolve(&index(headers));
    let n = links.find_group("P/n").expect("by folder");
    assert_eq!(links.find_group("./P/n/").map(|g| &g.key), Ok(&n.key));
    assert_eq!(links.find_group("P\\n").map(|g| &g.key), Ok(&n.key));
    assert_eq!(links.find_group("N").map(|g| &g.key), Ok(&n.key));
    assert_eq!(links.find_group(&n.key).map(|g| &g.key), Ok(&n.key));
    let m1 = links.find_group("P/m/m1.dcm").expect("by file");
    assert_eq!(m1.status, LinkStatus::Resolved);
    match links.find_group("P/m") {
        Err(LinkError::AmbiguousGroup { keys, .. }) => assert_eq!(keys.len(), 2),
        other => panic!("{other:?}"),
    }
    let err = links.find_group("P/zzz").expect_err("unknown");
    assert!(err.to_string().contains("no segmentation group"));
    assert_eq!(links.find_source("P/a").map(|s| s.series_uid.as_str()), Ok("A"));
    assert_eq!(links.find_source("B").map(|s| s.folder.as_path()), Ok(Path::new("P/b")));
    assert!(matches!(links.find_source("P"), Err(LinkError::UnknownSeries { .. })));
}

#[test]
fn a_folder_holding_several_series_is_ambiguous() {
    let headers: Vec<Header> = (1..=2)
        .map(|i| ct("P", "P/flat", "A", i))
        .chain((3..=4).map(|i| ct("P", "P/flat", "B", i)))
        .collect();
    let links = resolve(&index(headers));
    match links.find_source("P/flat") {
        Err(LinkError::AmbiguousSeries { uids, .. }) => assert_eq!(uids, ["A", "B"]),
        other => panic!("{other:?}"),
    }
}

fn numbers_of(repairs: &[Repair]) -> Vec<(String, i64)> {
    repairs
        .iter()
        .map(|r| (r.path.to_string_lossy().into_owned(), r.instance_number))
        .collect()
}

#[test]
fn repair_orders_by_source_slices_and_breaks_ties_the_same_way() {
    let mut headers = two_cts();
    // File names against slice order; two masks on slice 2 (tie broken by InstanceNumber).
    let mut m = vec![
        mask("P", "P/m/a.dcm", "M", "M.1", &["A.5"]),
        mask("P", "P/m/b.dcm", "M", "M.2", &["A.2"]),
        mask("P", "P/m/c.dcm", "M", "M.3", &["A.2"]),
        mask("P", "P/m/d.dcm", "M", "M.4", &["A.1"]),
    ];
    m[1].instance.instance_number = Some(9);
    m[2].instance.instance_number = Some(3);
    headers.extend(m);
    let links = resolve(&index(headers));
    let repairs = links.repairs(b"k", |_| true);
    assert_eq!(
        numbers_of(&repairs),
        [
            ("P/m/a.dcm".to_string(), 4),
            ("P/m/b.dcm".to_string(), 3),
            ("P/m/c.dcm".to_string(), 2),
            ("P/m/d.dcm".to_string(), 1)
        ]
    );
    assert!(only_group(&links).flags.contains(&Flag::InstanceNumbers));
    assert!(
        only_group(&links)
            .flags
            .contains(&Flag::SliceCoveredTwice { slices: 1 })
    );
}

#[test]
fn repair_falls_back_to_the_masks_own_position_along_the_normal() {
    // Sagittal slices: the normal is -x, so depth grows as x falls.
    let sagittal = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
    let headers: Vec<Header> = [(-10.0, "P/m/1.dcm"), (30.0, "P/m/2.dcm"), (5.0, "P/m/3.dcm")]
        .into_iter()
        .enumerate()
        .map(|(i, (x, path))| {
            let mut h = mask("P", path, "M", &format!("M.{i}"), &[&format!("GONE.{i}")]);
            h.instance.image_position = Some([x, 0.0, 0.0]);
            h.instance.image_orientation = Some(sagittal);
            h
        })
        .collect();
    let links = resolve(&index(headers));
    assert_eq!(only_group(&links).status, LinkStatus::Unmatched);
    assert_eq!(
        numbers_of(&links.repairs(b"k", |_| true)),
        [
            ("P/m/1.dcm".to_string(), 3),
            ("P/m/2.dcm".to_string(), 1),
            ("P/m/3.dcm".to_string(), 2)
        ]
    );
}

#[test]
fn repair_uids_are_unique_deterministic_and_keyed() {
    let mut headers = two_cts();
    // Two files with one SOPInstanceUID.
    headers.push(mask("P", "P/m/m1.dcm", "A", "DUP", &["A.1"]));
    headers.push(mask("P", "P/m/m2.dcm", "A", "DUP", &["A.2"]));
    let links = resolve(&index(headers.clone()));
    let g = only_group(&links);
    assert!(g.flags.contains(&Flag::SeriesUidOfSource));
    assert!(g.flags.contains(&Flag::DuplicateSopInstanceUid { files: 2 }));
    let a = links.repairs(b"k", |g| g.needs_repair());
    assert_eq!(a.len(), 2);
    assert_ne!(a[0].sop_instance_uid, a[1].sop_instance_uid);
    assert_eq!(a[0].series_instance_uid, a[1].series_instance_uid);
    assert_ne!(a[0].series_instance_uid, "A");
    assert!(a.iter().all(|r| r.sop_instance_uid.starts_with("2.25.")));
    headers.reverse();
    assert_eq!(resolve(&index(headers)).repairs(b"k", |_| true), a);
    let other_key = links.repairs(b"other", |_| true);
    assert_ne!(other_key[0].sop_instance_uid, a[0].sop_instance_uid);
    assert!(links.repairs(b"k", |_| false).is_empty());
}

#[test]
fn repair_series_numbers_are_unused_stable_and_kept_when_own() {
    let mut headers = two_cts(); // A is number 2, B is number 3
    headers.push(numbered(ct("P", "P/c", "C", 1), 1002)); // takes A's first choice
    // Two groups on A; series M carries a number of its own (50, used by nobody else).
    headers.push(mask("P", "P/m/m1.dcm", "M", "M.1", &["A.1"]));
    headers.push(numbered(mask("P", "P/x/x1.dcm", "X", "X.1", &["A.2"]), 2));
    headers.push(numbered(mask("P", "P/y/y1.dcm", "X", "Y.1", &["B.2"]), 2));
    let links = resolve(&index(headers));
    let number = |repairs: &[Repair], path: &str| {
        repairs
            .iter()
            .find(|r| r.path == Path::new(path))
            .map(|r| r.series_number)
    };
    let all = links.repairs(b"k", |_| true);
    assert_eq!(number(&all, "P/m/m1.dcm"), Some(50));
    assert_eq!(number(&all, "P/x/x1.dcm"), Some(1003), "1002 is C's");
    assert_eq!(number(&all, "P/y/y1.dcm"), Some(1004), "1003 was just given to X|A");
    // Switching one group off changes no other group's number.
    let some = links.repairs(b"k", |g| g.folder != Path::new("P/x"));
    assert_eq!(number(&some, "P/y/y1.dcm"), Some(1004));
    assert_eq!(number(&some, "P/x/x1.dcm"), None);
}

#[test]
fn instance_numbers_running_against_the_slices_are_fine() {
    let mut headers = two_cts();
    for i in 1..=3 {
        let mut m = mask(
            "P",
            &format!("P/m/m{i}.dcm"),
            "M",
            &format!("M.{i}"),
            &[&format!("A.{i}")],
        );
        m.instance.instance_number = Some(10 - i);
        headers.push(m);
    }
    let links = resolve(&index(headers));
    let g = only_group(&links);
    assert!(g.flags.is_empty(), "{:?}", g.flags);
    assert!(!g.needs_repair());
}

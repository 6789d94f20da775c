//! Links built from small synthetic Indexes (no files): the edge cases the fixtures do not
//! hold — empty patients, cross-patient references, self references, ties, key stability.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::scan::header::{FileIdentity, ImageFacts};
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
        dicomdir_files: Vec::new(),
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
            image_orientation: Some(std::sync::Arc::new(AXIAL)),
            image_type: Vec::new().into(),
            number_of_frames: 1,
            image: Arc::default(),
            largest_value: None,
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
            purpose: None,
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

/// 8-bit monochrome pixels: what a label map looks like in its header.
fn label_pixels(mut h: Header) -> Header {
    h.instance.image = Arc::new(ImageFacts {
        samples_per_pixel: 1,
        bits_allocated: 8,
        bits_stored: 8,
        photometric: "MONOCHROME2".into(),
        ..ImageFacts::default()
    });
    h
}

/// Pixel and description facts of a file.
fn facts(mut h: Header, f: impl FnOnce(&mut ImageFacts)) -> Header {
    let mut facts = (*h.instance.image).clone();
    f(&mut facts);
    h.instance.image = Arc::new(facts);
    h
}

/// A derived CT-class mask file (8-bit label pixels) referencing `source` through
/// `SourceImageSequence`.
fn mask(patient: &str, path: &str, series: &str, sop: &str, source: &[&str]) -> Header {
    let to: Vec<(&str, RefVia)> = source.iter().map(|s| (*s, RefVia::SourceImage)).collect();
    numbered(
        label_pixels(refs(typed(file(patient, path, series, sop), "DERIVED\\SECONDARY"), &to)),
        50,
    )
}

/// A reference's purpose (DCM code).
fn purpose(mut h: Header, code: u32) -> Header {
    for r in &mut h.instance.references {
        r.purpose = NonZeroU32::new(code);
    }
    h
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
    let mut sc = label_pixels(refs(
        file("P", "P/sc/s1.dcm", "SC", "SC.1"),
        &[("GONE", RefVia::ReferencedImage)],
    ));
    sc.instance.sop_class_uid = SC.into();
    headers.push(sc);
    // A derived CT-class image referencing a present slice through ReferencedImageSequence,
    // 16 bits but called a mask.
    headers.push(facts(
        refs(
            typed(file("P", "P/ri/r1.dcm", "RI", "RI.1"), "DERIVED\\SECONDARY"),
            &[("A.1", RefVia::ReferencedImage)],
        ),
        |f| f.series_description = "Liver mask".into(),
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
    let ri = links.find_group("P/ri").expect("ri");
    assert!(
        ri.classification
            .iter()
            .any(|c| matches!(c, Clue::Word { word: "MASK", .. }))
    );
    let sc = links.find_group("P/sc").expect("sc");
    assert_eq!(sc.classification, [Clue::LabelPixels { bits_stored: 8 }]);
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
    // P/m is one object (m2's reference is gone: it follows m1), P/n and P/o others.
    assert_eq!(keys.len(), 3, "{keys:?}");
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
    assert_eq!(links.find_group("P/m").map(|g| &g.key), Ok(&m1.key));
    let mut headers = two_cts();
    headers.push(mask("P", "P/m/m1.dcm", "M", "M.1", &["A.1"]));
    headers.push(mask("P", "P/m/m2.dcm", "M", "M.2", &["B.1"]));
    headers.push(mask("P", "P/m/m3.dcm", "M", "M.3", &["B.2"]));
    headers.push(at(mask("P", "P/m/m4.dcm", "M", "M.4", &["A.1"]), 1.0, 1));
    headers.push(at(mask("P", "P/m/m5.dcm", "M", "M.5", &["B.1"]), 1.0, 1));
    let links = resolve(&index(headers));
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
            h.instance.image_orientation = Some(std::sync::Arc::new(sagittal));
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
    let a = links.repairs(b"k", super::SegmentationGroup::needs_repair);
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

/// CT series A and B (5 slices each at z = 1..5) and a mask stack on them at those positions.
fn positioned_mask(path: &str, series: &str, sop: &str, source: &str, z: f64) -> Header {
    at(mask("P", path, series, sop, &[source]), z, z as i64)
}

#[test]
fn a_file_whose_references_are_all_missing_follows_its_object() {
    let mut headers = two_cts();
    for i in 1..=4 {
        // The CT slice of mask 3 was deleted after the masks were drawn.
        let source = if i == 3 { "A.gone".to_string() } else { format!("A.{i}") };
        headers.push(positioned_mask(
            &format!("P/m/m{i}.dcm"),
            "M",
            &format!("M.{i}"),
            &source,
            f64::from(i),
        ));
    }
    let links = resolve(&index(headers));
    let g = only_group(&links);
    assert_eq!((g.status, g.source_series_uid()), (LinkStatus::Resolved, Some("A")));
    assert_eq!(g.files.len(), 4);
    assert!(g.flags.contains(&Flag::ReferencesMissing { files: 1, instances: 1 }));
    let gone = links.file(Path::new("P/m/m3.dcm")).expect("file");
    assert_eq!(gone.status, FileStatus::MissingReferences { instances: 1 });
    assert_eq!(gone.status.describe(), "references 1 missing instance");
    assert_eq!(gone.source_series_uid.as_deref(), Some("A"), "it follows its object");
    assert_eq!(
        links.file(Path::new("P/m/m1.dcm")).map(|f| &f.status),
        Some(&FileStatus::Resolved)
    );
    assert!(!g.needs_repair(), "{:?}", g.flags);
}

#[test]
fn slices_that_disagree_make_one_ambiguous_object_with_a_proposal() {
    let mut headers = two_cts();
    for i in 1..=5 {
        let source = if i == 5 { format!("B.{i}") } else { format!("A.{i}") };
        headers.push(positioned_mask(
            &format!("P/m/m{i}.dcm"),
            "M",
            &format!("M.{i}"),
            &source,
            f64::from(i),
        ));
    }
    let mut links = resolve(&index(headers));
    let g = only_group(&links);
    assert_eq!(g.status, LinkStatus::Ambiguous);
    assert_eq!(g.source, None);
    assert_eq!(g.proposed.as_ref().map(|s| s.series_uid.as_str()), Some("A"));
    let votes: Vec<(&str, usize)> = g
        .evidence
        .votes
        .iter()
        .map(|v| (v.series_uid.as_str(), v.files))
        .collect();
    assert_eq!(votes, [("A", 4), ("B", 1)]);
    assert!(g.needs_decision());
    assert_eq!(links.decisions_required().count(), 1);
    assert_eq!(
        links.file(Path::new("P/m/m5.dcm")).map(|f| &f.status),
        Some(&FileStatus::Disagrees { series_uid: "B".into() })
    );
    // Deciding (for the proposal) is a manual link; then nothing is left to decide.
    let key = g.key.clone();
    links.apply_overrides(&BTreeMap::from([(key, "A".to_string())]));
    assert_eq!(links.decisions_required().count(), 0);
    assert_eq!(only_group(&links).status, LinkStatus::Manual);
}

#[test]
fn a_tie_is_ambiguous_without_a_proposal() {
    let mut headers = two_cts();
    headers.push(positioned_mask("P/m/m1.dcm", "M", "M.1", "A.1", 1.0));
    headers.push(positioned_mask("P/m/m2.dcm", "M", "M.2", "B.2", 2.0));
    let links = resolve(&index(headers));
    let g = only_group(&links);
    assert_eq!((g.status, g.proposed.as_ref()), (LinkStatus::Ambiguous, None));
    assert!(g.needs_decision());
}

#[test]
fn two_stacks_at_the_same_positions_on_two_series_are_split_and_shown() {
    let mut headers = two_cts();
    for i in 1..=3 {
        headers.push(positioned_mask(
            &format!("P/m/a{i}.dcm"),
            "1.2.3",
            &format!("MA.{i}"),
            &format!("A.{i}"),
            f64::from(i),
        ));
        headers.push(positioned_mask(
            &format!("P/m/b{i}.dcm"),
            "1.2.3",
            &format!("MB.{i}"),
            &format!("B.{i}"),
            f64::from(i),
        ));
    }
    let links = resolve(&index(headers));
    assert_eq!(links.groups.len(), 2, "{:#?}", links.groups);
    for g in &links.groups {
        assert_eq!(g.status, LinkStatus::Resolved);
        assert_eq!(g.files.len(), 3);
        assert!(
            matches!(&g.flags[..], [Flag::SplitByStack { siblings }, ..] if siblings.len() == 1),
            "{:?}",
            g.flags
        );
        assert!(g.needs_repair());
    }
    // The same positions with one source are one object that may hold two segmentations.
    let mut headers = two_cts();
    for i in 1..=3 {
        headers.push(positioned_mask(
            &format!("P/m/a{i}.dcm"),
            "1.2.3",
            &format!("MA.{i}"),
            &format!("A.{i}"),
            f64::from(i),
        ));
        headers.push(positioned_mask(
            &format!("P/m/b{i}.dcm"),
            "1.2.3",
            &format!("MB.{i}"),
            &format!("A.{i}"),
            f64::from(i),
        ));
    }
    let links = resolve(&index(headers));
    let g = only_group(&links);
    assert!(g.flags.contains(&Flag::SliceCoveredTwice { slices: 3 }));
}

#[test]
fn masks_sharing_a_uid_in_one_folder_are_split_by_their_header() {
    let mut headers = two_cts();
    for i in 1..=2 {
        headers.push(facts(
            positioned_mask(
                &format!("P/m/liver{i}.dcm"),
                "1.2.3",
                &format!("L.{i}"),
                &format!("A.{i}"),
                f64::from(i),
            ),
            |f| f.series_description = "liver".into(),
        ));
        headers.push(facts(
            positioned_mask(
                &format!("P/m/spleen{i}.dcm"),
                "1.2.3",
                &format!("S.{i}"),
                &format!("A.{i}"),
                f64::from(i),
            ),
            |f| f.series_description = "spleen".into(),
        ));
    }
    let links = resolve(&index(headers));
    assert_eq!(links.groups.len(), 2);
    for g in &links.groups {
        assert!(g.key.contains("|sig-"), "{}", g.key);
        assert!(
            g.flags.contains(&Flag::SplitBySignature {
                siblings: links
                    .groups
                    .iter()
                    .filter(|o| o.key != g.key)
                    .map(|o| o.key.clone())
                    .collect(),
                differs: vec!["SeriesDescription"],
            })
        );
    }
}

#[test]
fn a_mask_that_kept_the_cts_header_belongs_to_the_masks() {
    // CT A at z = 1..5 without its slice 3 (deleted); masks M on slices 1, 2, 4, 5; the mask
    // of slice 3 copied the CT's SeriesInstanceUID and names its slice only in
    // ReferencedImageSequence (no source claim of its own).
    let mut headers: Vec<Header> = (1..=5).filter(|&i| i != 3).map(|i| ct("P", "P/ct", "A", i)).collect();
    for i in [1, 2, 4, 5] {
        headers.push(positioned_mask(
            &format!("P/m/m{i}.dcm"),
            "M",
            &format!("M.{i}"),
            &format!("A.{i}"),
            f64::from(i),
        ));
    }
    let copied = at(
        refs(
            label_pixels(typed(file("P", "P/m/m3.dcm", "A", "M.3"), "DERIVED\\SECONDARY")),
            &[("A.3", RefVia::ReferencedImage)],
        ),
        3.0,
        3,
    );
    headers.push(numbered(copied, 50));
    let links = resolve(&index(headers));
    let g = only_group(&links);
    assert_eq!(g.files.len(), 5);
    assert_eq!((g.status, g.source_series_uid()), (LinkStatus::Resolved, Some("A")));
    assert!(g.flags.contains(&Flag::AdoptedFiles { files: 1 }));
    assert!(g.needs_repair());
    assert_eq!(
        links.file(Path::new("P/m/m3.dcm")).map(|f| &f.status),
        Some(&FileStatus::MissingReferences { instances: 1 })
    );
    let ct = links.find_source("P/ct").expect("ct");
    assert_eq!(ct.slices, 4, "the copied mask is no CT slice");
}

#[test]
fn derived_images_that_are_no_segmentation() {
    let mut headers = two_cts();
    // A lossy copy of A.1 in A's own series, naming it as its uncompressed predecessor.
    headers.push(facts(
        purpose(
            refs(
                typed(
                    file("P", "P/a_lossy/1.dcm", "A", "A.1.lossy"),
                    "DERIVED\\PRIMARY\\AXIAL",
                ),
                &[("A.1", RefVia::SourceImage)],
            ),
            121320,
        ),
        |f| {
            f.lossy = Some(true);
            f.bits_stored = 12;
        },
    ));
    // Key images naming A.2 and A.3.
    let mut kos = refs(
        file("P", "P/kos/k.dcm", "K", "K.1"),
        &[("A.2", RefVia::Other), ("A.3", RefVia::Other)],
    );
    kos.instance.sop_class_uid = dicom_dictionary_std::uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE.into();
    headers.push(kos);
    // A screen capture (colour) naming B.1.
    let mut screen = facts(
        refs(
            file("P", "P/screen/s.dcm", "S", "S.1"),
            &[("B.1", RefVia::ReferencedImage)],
        ),
        |f| {
            f.photometric = "RGB".into();
            f.samples_per_pixel = 3;
            f.bits_stored = 8;
            f.burned_in_annotation = true;
        },
    );
    screen.instance.sop_class_uid = SC.into();
    headers.push(screen);
    // A dose page: 8-bit grey like a label map, but it says what it is.
    let mut dose = facts(
        label_pixels(refs(
            file("P", "P/dose/d.dcm", "D", "D.1"),
            &[("LOC.gone", RefVia::ReferencedImage)],
        )),
        |f| f.series_description = "Dose Report".into(),
    );
    dose.instance.sop_class_uid = SC.into();
    headers.push(dose);
    let links = resolve(&index(headers));
    assert!(links.groups.is_empty(), "{:#?}", links.groups);
    assert!(links.files.is_empty());
    assert!(links.repairs(b"k", |_| true).is_empty());
    let kinds: Vec<(&str, DerivedKind, LinkStatus)> = links
        .derived_images
        .iter()
        .map(|d| (d.folder.to_str().unwrap_or_default(), d.kind, d.status))
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    for want in [
        ("P/a_lossy", DerivedKind::CompressedCopy, LinkStatus::Resolved),
        ("P/kos", DerivedKind::KeyImages, LinkStatus::Resolved),
        ("P/screen", DerivedKind::ScreenCapture, LinkStatus::Resolved),
        ("P/dose", DerivedKind::DoseReport, LinkStatus::Unmatched),
    ] {
        assert!(kinds.contains(&want), "{want:?} in {kinds:?}");
    }
    let under_a: Vec<&Path> = links
        .derived_images_from("P", "A")
        .map(|d| d.folder.as_path())
        .collect();
    assert_eq!(under_a, [Path::new("P/a_lossy"), Path::new("P/kos")]);
    let lossy = links.derived_image(Path::new("P/a_lossy/1.dcm")).expect("lossy");
    assert!(lossy.classification.contains(&Clue::Purpose {
        code: 121320,
        meaning: "Uncompressed predecessor"
    }));
    assert!(
        lossy
            .classification
            .contains(&Clue::LossyCompression { bits_stored: 12 })
    );
    // The lossy copy is an image of A (a mask may reference it), not one of A's slices.
    assert_eq!(links.find_source("P/a").map(|s| s.slices), Ok(5));
    // A derived image with a purpose for image processing and nothing that says mask is no
    // mask either.
    let mut headers = two_cts();
    headers.push(purpose(
        refs(
            typed(file("P", "P/f/1.dcm", "F", "F.1"), "DERIVED\\SECONDARY"),
            &[("A.1", RefVia::SourceImage)],
        ),
        121322,
    ));
    let links = resolve(&index(headers));
    assert!(links.groups.is_empty());
    assert_eq!(links.derived_images.len(), 1);
    assert_eq!(links.derived_images[0].kind, DerivedKind::Processed);
    assert!(links.derived_images[0].classification.contains(&Clue::NoMaskSign));
}

#[test]
fn an_original_image_that_names_its_source_and_says_mask_is_a_mask() {
    let mut headers = two_cts();
    headers.push(facts(
        refs(
            typed(file("P", "P/m/1.dcm", "M", "M.1"), "ORIGINAL\\PRIMARY\\AXIAL"),
            &[("A.1", RefVia::SourceImage)],
        ),
        |f| f.series_description = "GTV mask".into(),
    ));
    // Said in words only: a CT slice naming another is no mask.
    headers.push(refs(ct("P", "P/c", "C", 1), &[("A.2", RefVia::SourceImage)]));
    let links = resolve(&index(headers));
    let g = only_group(&links);
    assert_eq!(g.folder, Path::new("P/m"));
    assert!(g.classification.contains(&Clue::OriginalButMask));
}

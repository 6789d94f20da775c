//! Every object for what it is, on exports shaped like real tools' output
//! (tests/fixtures/objects, made with pydicom, highdicom and rt-utils from pydicom's `CT_small`):
//! CT slices deleted after the masks were drawn, a mask that kept the CT's header, two mask
//! stacks sharing a hard-coded series UID in one folder, a stack whose slices disagree on their
//! CT, a SEG and an RTSTRUCT naming deleted slices — and derived images that are no
//! segmentation (lossless and lossy copies, key images, a screen capture, a dose report page).
//! Checked against tests/fixtures/objects/expected.json.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dams::link::{self, DerivedKind, FileStatus, Flag, LinkStatus, Links, SegmentationKind};
use serde_json::Value;

fn root() -> PathBuf {
    common::fixture("objects")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(root().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("json")
}

fn links() -> Links {
    link::resolve(&common::scan_lib(&root()))
}

fn uid_of(links: &Links, folder: &str) -> String {
    links.find_source(folder).expect(folder).series_uid.clone()
}

#[test]
fn sources_count_their_own_slices_only() {
    let links = links();
    let truth = expected();
    for (folder, want) in truth["sources"].as_object().expect("sources") {
        let s = links.find_source(folder).expect(folder);
        assert_eq!(s.series_uid, want["series_uid"].as_str().expect("uid"), "{folder}");
        // Neither the mask that kept the CT's header nor the compressed copies in the CT's
        // series are CT slices.
        assert_eq!(s.slices as u64, want["slices"].as_u64().expect("slices"), "{folder}");
    }
}

#[test]
fn every_segmentation_object_matches_the_ground_truth() {
    let links = links();
    let truth = expected();
    let mut seen = 0;
    for (folder, want) in truth["objects"].as_object().expect("objects") {
        if want["class"] != "segmentation" {
            continue;
        }
        seen += 1;
        let groups: Vec<_> = links.groups.iter().filter(|g| g.folder == Path::new(folder)).collect();
        assert_eq!(
            groups.len() as u64,
            want["objects"].as_u64().expect("objects"),
            "{folder}: {:#?}",
            groups.iter().map(|g| &g.key).collect::<Vec<_>>()
        );
        let kind = match want["kind"].as_str().expect("kind") {
            "per-slice-mask" => SegmentationKind::PerSliceMask,
            "seg" => SegmentationKind::Seg,
            "rtstruct" => SegmentationKind::RtStruct,
            other => panic!("{other}"),
        };
        let files = want["files"].as_object().expect("files");
        let paths: BTreeSet<PathBuf> = groups.iter().flat_map(|g| g.files.iter().cloned()).collect();
        let want_paths: BTreeSet<PathBuf> = files.keys().map(|f| Path::new(folder).join(f)).collect();
        assert_eq!(paths, want_paths, "{folder}");
        for g in &groups {
            assert_eq!(g.kind, kind, "{folder}");
            assert!(
                !g.classification.is_empty(),
                "{folder}: a classification carries its evidence"
            );
            let status = match want["status"].as_str().expect("status") {
                "resolved" => LinkStatus::Resolved,
                "ambiguous" => LinkStatus::Ambiguous,
                other => panic!("{other}"),
            };
            assert_eq!(g.status, status, "{folder}");
        }
        if let Some(source) = want["source"].as_str() {
            for g in &groups {
                assert_eq!(g.source_series_uid(), Some(uid_of(&links, source).as_str()), "{folder}");
            }
        }
        if let Some(missing) = want["missing"].as_u64() {
            assert_eq!(groups[0].evidence.missing as u64, missing, "{folder}");
        }
        for (name, file) in files {
            let path = Path::new(folder).join(name);
            let f = links.file(&path).expect("segmentation file");
            let g = links.group(&f.group).expect("group");
            if let Some(n) = file["missing"].as_u64() {
                assert_eq!(
                    f.status,
                    FileStatus::MissingReferences { instances: n as usize },
                    "{}",
                    path.display()
                );
                assert!(
                    g.flags.iter().any(|fl| matches!(fl, Flag::ReferencesMissing { .. })),
                    "{folder}: {:?}",
                    g.flags
                );
            } else if let Some(source) = file["source"].as_str() {
                let uid = uid_of(&links, source);
                let link = g.source.as_ref().or(g.proposed.as_ref()).map(|s| s.series_uid.clone());
                let want_status = if link.as_deref() == Some(uid.as_str()) {
                    FileStatus::Resolved
                } else {
                    FileStatus::Disagrees { series_uid: uid }
                };
                assert_eq!(f.status, want_status, "{}", path.display());
            }
            if file["adopted"] == true {
                assert!(g.flags.contains(&Flag::AdoptedFiles { files: 1 }), "{:?}", g.flags);
                assert!(g.needs_repair(), "an adopted file carries another series' UID");
            }
        }
    }
    assert_eq!(seen, 6);
}

#[test]
fn a_stack_whose_slices_disagree_is_one_ambiguous_object_with_its_votes() {
    let links = links();
    let truth = expected();
    let want = &truth["objects"]["OBJ1/masks_disagree"];
    let g = links.find_group("OBJ1/masks_disagree").expect("one object");
    assert_eq!(g.status, LinkStatus::Ambiguous);
    assert_eq!(g.source, None);
    let proposed = want["proposed"].as_str().expect("proposed");
    assert_eq!(
        g.proposed.as_ref().map(|s| s.series_uid.clone()),
        Some(uid_of(&links, proposed))
    );
    let votes: BTreeMap<String, usize> = g
        .evidence
        .votes
        .iter()
        .map(|v| (v.series_uid.clone(), v.files))
        .collect();
    let want_votes: BTreeMap<String, usize> = want["votes"]
        .as_object()
        .expect("votes")
        .iter()
        .map(|(folder, n)| (uid_of(&links, folder), n.as_u64().expect("n") as usize))
        .collect();
    assert_eq!(votes, want_votes);
    assert!(g.needs_decision());
    assert_eq!(
        links.decisions_required().map(|g| g.folder.clone()).collect::<Vec<_>>(),
        [PathBuf::from("OBJ1/masks_disagree")]
    );
}

#[test]
fn two_stacks_sharing_a_hard_coded_uid_in_one_folder_are_split_by_signature() {
    let links = links();
    let truth = expected();
    let files = truth["objects"]["OBJ1/masks_shared"]["files"]
        .as_object()
        .expect("files");
    let groups: Vec<_> = links
        .groups
        .iter()
        .filter(|g| g.claimed_series_uid == "1.2.3.4.5")
        .collect();
    assert_eq!(groups.len(), 2);
    for g in &groups {
        let names: BTreeSet<&str> = g
            .files
            .iter()
            .map(|p| {
                files[p.file_name().and_then(|n| n.to_str()).expect("name")]["object"]
                    .as_str()
                    .expect("object")
            })
            .collect();
        assert_eq!(names.len(), 1, "one object per stack: {names:?}");
        let other = groups.iter().find(|o| o.key != g.key).expect("other");
        assert!(
            g.flags.contains(&Flag::SplitBySignature {
                siblings: vec![other.key.clone()],
                differs: vec!["SeriesDescription"],
            }),
            "{:?}",
            g.flags
        );
        assert!(g.needs_repair(), "a shared UID is repaired");
    }
}

#[test]
fn derived_images_are_listed_with_their_source_and_never_as_segmentations() {
    let index = common::scan_lib(&root());
    let links = link::resolve(&index);
    let truth = expected();
    let repairs: BTreeSet<PathBuf> = links
        .repairs(b"secret", dams::link::SegmentationGroup::repairable)
        .into_iter()
        .map(|r| r.path)
        .collect();
    let mut seen = 0;
    for (folder, want) in truth["objects"].as_object().expect("objects") {
        if want["class"] != "derived-image" {
            continue;
        }
        seen += 1;
        let kind = match want["kind"].as_str().expect("kind") {
            "compressed-copy" => DerivedKind::CompressedCopy,
            "key-images" => DerivedKind::KeyImages,
            "screen-capture" => DerivedKind::ScreenCapture,
            "dose-report" => DerivedKind::DoseReport,
            other => panic!("{other}"),
        };
        for name in want["files"].as_object().expect("files").keys() {
            let path = Path::new(folder).join(name);
            assert!(links.file(&path).is_none(), "{} is no segmentation", path.display());
            assert!(!repairs.contains(&path), "{} is never repaired", path.display());
            let d = links.derived_image(&path).expect("a derived image");
            assert_eq!(d.kind, kind, "{}: {:?}", path.display(), d.classification);
            assert!(!d.classification.is_empty());
            match want["source"].as_str() {
                Some(source) => {
                    assert_eq!(d.status, LinkStatus::Resolved, "{}", path.display());
                    assert_eq!(
                        d.source.as_ref().map(|s| s.series_uid.clone()),
                        Some(uid_of(&links, source))
                    );
                }
                None => assert_eq!((d.status, d.source.as_ref()), (LinkStatus::Unmatched, None)),
            }
        }
    }
    assert_eq!(seen, 5);
    // Under the CT: its copies and its key images.
    let p = &index.patients[0].patient_id;
    let under: BTreeSet<(PathBuf, DerivedKind)> = links
        .derived_images_from(p, &uid_of(&links, "OBJ1/ct"))
        .map(|d| (d.folder.clone(), d.kind))
        .collect();
    assert!(under.contains(&(PathBuf::from("OBJ1/key_images"), DerivedKind::KeyImages)));
    assert!(under.contains(&(PathBuf::from("OBJ1/ct_lossy"), DerivedKind::CompressedCopy)));
    assert!(under.contains(&(PathBuf::from("OBJ1/screen"), DerivedKind::ScreenCapture)));
}

/// `dams map` shows each classification with its evidence, the ambiguous object's proposal,
/// the files' statuses and the derived images; `--json` carries the same.
#[test]
fn dams_map_shows_classification_and_evidence() {
    let data = tempfile::tempdir().expect("tmp");
    let text = common::dams(data.path()).arg("map").arg(root()).output().expect("run");
    // The ambiguous object needs a decision: map says so with exit code 1.
    assert_eq!(text.status.code(), Some(1), "{}", String::from_utf8_lossy(&text.stderr));
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "segmentation: ",
        "a reference's purpose is 121322",
        "ambiguous: proposed link: OBJ1/ct_recon/ (most files); a decision is needed before approval",
        "references 1 missing instance",
        "derived images (no segmentation: shown with their source, never repaired)",
        "OBJ1/ct_lossy/  compressed copy, 3 files",
        "OBJ1/key_images/  key images, 1 file",
        "OBJ1/dose/  dose report, 1 file",
        "SeriesDescription says DOSE (a dose report)",
        "they belong to it",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let json = common::dams(data.path())
        .arg("map")
        .arg(root())
        .arg("--json")
        .output()
        .expect("run");
    assert_eq!(json.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&json.stdout).expect("json");
    let groups = json["groups"].as_array().expect("groups");
    assert!(
        groups
            .iter()
            .all(|g| g["classification"].as_array().is_some_and(|c| !c.is_empty()))
    );
    let ambiguous = groups.iter().find(|g| g["status"] == "ambiguous").expect("ambiguous");
    assert!(ambiguous["proposed"]["series_uid"].is_string());
    let files = json["files"].as_array().expect("files");
    assert!(
        files
            .iter()
            .any(|f| f["status"] == "missing-references" && f["instances"] == 1)
    );
    let derived = json["derived_images"].as_array().expect("derived_images");
    assert_eq!(derived.len(), 5);
    assert!(
        derived
            .iter()
            .any(|d| d["kind"] == "compressed-copy" && d["classification"][0]["clue"].is_string())
    );
}

/// An ambiguous object is written only once someone has chosen its source: apply lists its
/// files as not written with the reason; after `dams map --set` they are written.
#[test]
fn an_ambiguous_object_is_written_only_after_a_decision() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let input = tmp.path().join("in");
    for (rel, bytes) in common::tree(&root()) {
        let dest = input.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("dir");
        std::fs::write(dest, bytes).expect("write");
    }
    let apply = |out: &str| {
        let o = common::dams(&data)
            .arg("apply")
            .arg(&input)
            .arg("--out")
            .arg(tmp.path().join(out))
            .args(["--yes", "--json"])
            .output()
            .expect("run");
        let v: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code(), v)
    };
    let (code, r) = apply("out1");
    assert_eq!(code, Some(1), "files not written: {r:#}");
    let failed: Vec<&Value> = r["failed"]
        .as_array()
        .expect("failed")
        .iter()
        .filter(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("OBJ1/masks_disagree/"))
        })
        .collect();
    assert!(!failed.is_empty(), "{r:#}");
    for f in &failed {
        let why = f["reason"].as_str().expect("reason");
        assert!(why.contains("is ambiguous") && why.contains("dams map --set"), "{why}");
    }
    let out1 = common::tree(&tmp.path().join("out1"));
    assert!(
        !out1.iter().any(|(p, _)| p.to_string_lossy().contains("masks_disagree")),
        "nothing of it is written"
    );

    // The decision: the proposed source, by hand.
    let o = common::dams(&data)
        .arg("map")
        .arg(&input)
        .args(["--set", "OBJ1/masks_disagree=OBJ1/ct_recon"])
        .output()
        .expect("run");
    assert!(
        o.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (_, r) = apply("out2");
    assert!(
        !r["failed"].as_array().expect("failed").iter().any(|f| f["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("OBJ1/masks_disagree/"))),
        "{r:#}"
    );
    let written = common::tree(&tmp.path().join("out2"))
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("masks_disagree"))
        .count();
    assert_eq!(written, failed.len(), "every file of it, once decided");
}

//! An IOD validator nobody here wrote — dicom3tools' `dciodvfy` — on every file of the real
//! corpus (pydicom's test files, pydicom-data, deid-data), before and after `dams apply` with
//! each built-in profile: the output may have no error the input did not have.
//!
//! None does today; an error that must wait for a fix is listed in [`KNOWN`] with the issue
//! point that will remove it. The list is exact both ways: an error that is not in it fails the test
//! (something new broke a file), and so does an entry that no longer occurs (it was fixed:
//! delete the entry). Error texts are compared without their values (`<…>`), which differ
//! between input and output by design (new UIDs, codes, dates).
//!
//! The same run checks, with pydicom as the independent reader, that the default profile
//! changes no element outside its six (`PatientName`, `PatientID`, `PatientBirthDate`,
//! `InstitutionName`, `InstitutionAddress`, `StudyDescription` — wherever they occur — plus what the
//! plan says a `clean` rule changed and the group lengths that follow) in any file that is
//! not a segmentation: compressed copies, key images and other derived images are never
//! repaired.
//!
//! dciodvfy comes from the Debian package `dicom3tools` (`.ci/run` installs it); without it the
//! test says it skipped, unless `DAMS_REQUIRE_DCIODVFY` is set.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Errors dciodvfy reports in a written file that its input does not have.
struct Known {
    profile: &'static str,
    /// Relative to the corpus root (`pydicom/`, `pydicom-data/`, `deid-data/`).
    file: &'static str,
    /// What will fix them.
    fix: &'static str,
    /// The error lines, values replaced by `<>` (see [`normalise`]).
    errors: &'static [&'static str],
}

/// The new errors of today's output, each with what will fix it. Empty: issue 14's second
/// round (plan::conform) removed the last ones. Add none without an issue point that removes it.
const KNOWN: &[Known] = &[];

/// The built-in profiles, each written into its own output folder.
const PROFILES: &[&str] = &["seed", "basic"];

/// The elements the default profile changes (wherever they occur).
const SEED_TAGS: &[&str] = &[
    "(0010,0010)",
    "(0010,0020)",
    "(0010,0030)",
    "(0008,0080)",
    "(0008,0081)",
    "(0008,1030)",
];

/// dciodvfy on many files at once (two threads per core, it is mostly process start-up).
fn errors_of(paths: &[PathBuf]) -> Vec<BTreeSet<String>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let chunk = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| dciodvfy_errors(p)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// `dams plan --json`: each planned file (source → dest) and the paths of its `clean` edits.
fn planned(data: &Path, input: &Path, profile: &str) -> Vec<(String, String, BTreeSet<String>)> {
    let plan = dams(data)
        .arg("plan")
        .arg(input)
        .args(["--json", "--accept-burned-in", "--profile", profile])
        .output()
        .unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let mut out = Vec::new();
    for p in plan["patients"].as_array().unwrap() {
        for f in p["files"].as_array().unwrap() {
            let cleaned = f["edits"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["rule"] == "clean")
                .filter_map(|e| e["path"].as_str().map(str::to_string))
                .collect();
            out.push((
                f["source"].as_str().unwrap().to_string(),
                f["dest"].as_str().unwrap().to_string(),
                cleaned,
            ));
        }
    }
    out
}

/// The files `dams map --json` takes for segmentations (their tags may be repaired).
fn segmentation_files(data: &Path, input: &Path) -> BTreeSet<String> {
    let map = dams(data).arg("map").arg(input).arg("--json").output().unwrap();
    // 1: some segmentation has no sure source (the SEGs' CT is not in the corpus).
    assert!(
        matches!(map.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&map.stderr)
    );
    let map: serde_json::Value = serde_json::from_slice(&map.stdout).unwrap();
    map["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["files"].as_array().unwrap().iter())
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn no_new_validator_errors_and_the_default_profile_changes_only_its_own_tags() {
    if !have_dciodvfy() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let Some(python) = stage_corpus(&input) else { return };

    let mut unexpected = Vec::new();
    let mut seen_known: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut input_errors: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seed_plan = Vec::new();
    for &profile in PROFILES {
        let out = tmp.path().join(format!("out-{profile}"));
        let files = planned(&data, &input, profile);
        assert!(files.len() > 220, "{} files planned", files.len());
        let applied = dams(&data)
            .args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()])
            // Every image, those that may show identifiers in their pixels too: what is judged
            // here is the header dams writes (tests/clean_default.rs checks the gate).
            .args(["--yes", "--json", "--accept-burned-in", "--profile", profile])
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&applied.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&applied.stderr)));
        assert_eq!(report["failed"], serde_json::json!([]), "{profile}: {report:#}");

        let todo: Vec<&String> = files
            .iter()
            .map(|(s, _, _)| s)
            .filter(|s| !input_errors.contains_key(*s))
            .collect();
        let found = errors_of(&todo.iter().map(|s| input.join(s)).collect::<Vec<_>>());
        input_errors.extend(todo.into_iter().cloned().zip(found));
        let outputs = errors_of(&files.iter().map(|(_, d, _)| out.join(d)).collect::<Vec<_>>());
        for ((source, _, _), after) in files.iter().zip(outputs) {
            for e in after.difference(&input_errors[source]) {
                let known = KNOWN
                    .iter()
                    .filter(|k| k.profile == profile && k.file == source)
                    .flat_map(|k| k.errors.iter().map(move |x| (k, *x)))
                    .find(|(_, x)| x == e);
                match known {
                    Some((k, x)) => {
                        seen_known.insert((k.profile, k.file, x));
                    }
                    None => unexpected.push(format!("{profile}: {source}: {e}")),
                }
            }
        }
        if profile == "seed" {
            seed_plan = files;
        }
    }
    let fixed: Vec<String> = KNOWN
        .iter()
        .flat_map(|k| k.errors.iter().map(move |e| (k, *e)))
        .filter(|(k, e)| !seen_known.contains(&(k.profile, k.file, e)))
        .map(|(k, e)| format!("{}: {}: {e} (fixed by {})", k.profile, k.file, k.fix))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} new validator error(s) in the output:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "{} known error(s) no longer occur: delete them from KNOWN:\n{}",
        fixed.len(),
        fixed.join("\n")
    );

    // The default profile: nothing outside its six tags in a file that is not a segmentation.
    let segmentations = segmentation_files(&data, &input);
    let pairs: Vec<(&str, &str)> = seed_plan
        .iter()
        .filter(|(s, _, _)| !segmentations.contains(s))
        .map(|(s, d, _)| (s.as_str(), d.as_str()))
        .collect();
    assert!(pairs.len() > 200, "{} non-segmentation files", pairs.len());
    let mut run = Command::new(&python)
        .arg(fixtures().join("../corpus/changed_tags.py"))
        .arg(&input)
        .arg(tmp.path().join("out-seed"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(run.stdin.take().unwrap(), &pairs).unwrap();
    let done = run.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let changed: BTreeMap<String, Vec<String>> = serde_json::from_slice(&done.stdout).unwrap();
    let cleaned: BTreeMap<&str, &BTreeSet<String>> = seed_plan.iter().map(|(s, _, c)| (s.as_str(), c)).collect();
    let raw: BTreeSet<&str> = pairs
        .iter()
        .filter(|(s, _)| dams::dicom::parse::parse_file(&input.join(s)).is_ok_and(|p| !p.layout.has_meta))
        .map(|(s, _)| *s)
        .collect();
    let mut outside = Vec::new();
    for (source, paths) in &changed {
        for p in paths {
            let last = p.rsplit('/').next().unwrap_or(p);
            let allowed = SEED_TAGS.contains(&last)
                || last.ends_with(",0000)")
                || cleaned.get(source.as_str()).is_some_and(|c| c.contains(p))
                // A raw data set is written as a Part 10 file, with a file meta group.
                || (p.starts_with("meta/") && raw.contains(source.as_str()));
            if !allowed {
                outside.push(format!("{source}: {p}"));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "the default profile changed {} element(s) outside its six in files that are no segmentation:\n{}",
        outside.len(),
        outside.join("\n")
    );
}

#[test]
fn normalised_errors_keep_names_and_drop_values() {
    assert_eq!(
        normalise("Error - Missing attribute Type 1 Required Element=<OverlayData> Module=<OverlayPlane>"),
        "Error - Missing attribute Type 1 Required Element=<OverlayData> Module=<OverlayPlane>"
    );
    assert_eq!(
        normalise("Error - StudyInstanceUID has same value as FrameOfReferenceUID <2.25.1234>"),
        "Error - StudyInstanceUID has same value as FrameOfReferenceUID <>"
    );
    assert_eq!(
        normalise("Error - Value invalid for this VR - (0x0008,0x0020) DA Study Date  DA [1] = <2024> - bad"),
        "Error - Value invalid for this VR - (0x0008,0x0020) DA Study Date  DA [1] = <> - bad"
    );
    assert_eq!(
        normalise("Error - Referenced SOP Instance is not listed but have IMAGE ReferencedSOPInstanceUID 1.2.3.4.0.1"),
        "Error - Referenced SOP Instance is not listed but have IMAGE ReferencedSOPInstanceUID <>"
    );
}

//! The real corpus: every file of pydicom's own test files and of the pydicom-data and
//! deid-data packages (hundreds of files from many vendors that nobody here wrote), planned
//! and written by `dams apply`. Each file pydicom reads is written, or gets a per-file reason
//! that independent readers confirm (not DICOM, truncated, a DICOMDIR, no patient or study at
//! all); none is turned away only because its `PatientID` is empty or absent.
//!
//! The packages come from the venv named by `DAMS_PYTHON` (`.ci/run` installs them); without
//! them the test says it skipped, unless `DAMS_REQUIRE_CORPUS` is set.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;

#[derive(Debug, serde::Deserialize)]
struct Truth {
    path: String,
    pydicom: String,
    dcmdump_ok: Option<bool>,
    has: BTreeMap<String, bool>,
    #[serde(default)]
    dicomdir: bool,
}

/// Files whose damage dcmdump tolerates, with the reason they are damaged all the same.
const DAMAGED_BUT_TOLERATED: &[(&str, &str)] = &[(
    "pydicom/dicomdirtests/DICOMDIR-nooffset",
    "its last directory record declares 248 bytes and the file ends 24 bytes earlier (the offset elements were removed, the item length kept)",
)];

#[test]
fn every_real_file_is_written_or_has_a_true_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    let Some(python) = stage_corpus(&input) else { return };
    let truth = Command::new(&python)
        .arg(fixtures().join("../corpus/truth.py"))
        .arg(&input)
        .output()
        .unwrap();
    assert!(truth.status.success(), "{}", String::from_utf8_lossy(&truth.stderr));
    let truth: Vec<Truth> = serde_json::from_slice(&truth.stdout).unwrap();
    assert!(truth.len() > 250, "the corpus has {} files", truth.len());

    let plan = dams(&data).arg("plan").arg(&input).arg("--json").output().unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let applied = dams(&data)
        .args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()])
        .args(["--yes", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&applied.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&applied.stderr)));
    assert_eq!(report["failed"], serde_json::json!([]), "{report:#}");

    let mut planned: BTreeMap<String, String> = BTreeMap::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for p in plan["patients"].as_array().unwrap() {
        for f in p["files"].as_array().unwrap() {
            let (src, dest) = (f["source"].as_str().unwrap(), f["dest"].as_str().unwrap());
            planned.insert(src.into(), dest.into());
            pairs.push((
                input.join(src).to_string_lossy().into_owned(),
                out.join(dest).to_string_lossy().into_owned(),
            ));
        }
        for f in p["xml"].as_array().into_iter().flatten() {
            planned.insert(f["source"].as_str().unwrap().into(), f["dest"].as_str().unwrap().into());
        }
    }
    let listed = |key: &str| -> BTreeMap<String, (String, String)> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["path"].as_str().unwrap().to_string(),
                    (
                        u["kind"].as_str().unwrap_or("unplaced").to_string(),
                        u["reason"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect()
    };
    let unreadable = listed("unreadable");
    let unplaced = listed("unplaced");

    let mut wrong = Vec::new();
    for t in &truth {
        let written = planned.get(&t.path).is_some_and(|d| out.join(d).is_file());
        let verdict = match (written, unreadable.get(&t.path), unplaced.get(&t.path)) {
            (true, None, None) => match t.pydicom.as_str() {
                "ok" => None,
                other => Some(format!("written, but pydicom says {other}")),
            },
            (false, Some((kind, reason)), None) => {
                let confirmed = match kind.as_str() {
                    "not-dicom" => t.pydicom == "not-dicom",
                    "truncated" | "malformed" => {
                        t.pydicom == "truncated"
                            || t.dcmdump_ok == Some(false)
                            || DAMAGED_BUT_TOLERATED.iter().any(|(p, _)| *p == t.path)
                    }
                    "dicomdir" => t.dicomdir,
                    _ => false,
                };
                (!confirmed).then(|| format!("refused as {kind} ({reason}), but pydicom says {}", t.pydicom))
            }
            (false, None, Some((_, reason))) => {
                // Only a file with nothing to place it by may be left for the user.
                let anything = ["PatientID", "PatientName", "PatientBirthDate", "StudyInstanceUID"]
                    .iter()
                    .any(|k| t.has.get(*k).copied().unwrap_or(false));
                anything.then(|| format!("left without a patient ({reason}), though it has {:?}", t.has))
            }
            (w, u, p) => Some(format!("written: {w}, unreadable: {u:?}, unplaced: {p:?}")),
        };
        if let Some(v) = verdict {
            wrong.push(format!("{}: {v}", t.path));
        }
        // No file is refused only for its PatientID.
        if let Some((_, reason)) = unreadable.get(&t.path).or(unplaced.get(&t.path))
            && reason.contains("no PatientID")
            && t.has.get("StudyInstanceUID").copied().unwrap_or(false)
        {
            wrong.push(format!("{}: refused for its PatientID: {reason}", t.path));
        }
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for (kind, _) in unreadable.values() {
        *kinds.entry(kind.as_str()).or_default() += 1;
    }
    eprintln!(
        "{} files: {} written, {} without any patient or study, not written: {kinds:?}",
        truth.len(),
        report["written"],
        unplaced.len()
    );
    assert!(wrong.is_empty(), "{} file(s):\n{}", wrong.len(), wrong.join("\n"));
    let written = report["written"].as_u64().unwrap() as usize;
    assert!(written > 220, "{report:#}");
    assert_eq!(written, planned.len(), "everything planned was written");

    // Files named "Anonymized" without a birth date join no other study's files.
    let patient_of = |src: &str| {
        plan["patients"]
            .as_array()
            .unwrap()
            .iter()
            .position(|p| p["files"].as_array().unwrap().iter().any(|f| f["source"] == src))
            .unwrap_or_else(|| panic!("{src} is in no patient"))
    };
    let (big_end, pl, px, face) = (
        patient_of("pydicom/ExplVR_BigEnd.dcm"),
        patient_of("pydicom-data/color-pl.dcm"),
        patient_of("pydicom-data/color-px.dcm"),
        patient_of("pydicom-data/OT-PAL-8-face.dcm"),
    );
    assert_eq!(pl, px, "one study, one patient");
    assert!(
        big_end != pl && big_end != face && face != pl,
        "three studies, three patients"
    );

    // File and folder names: verify holds against the output exactly what apply said stays
    // in a path, and lists as kept what apply said it keeps (names too generic to be
    // replaced, such as the series folder MR1 of pydicom's DICOMDIR test set).
    let verified = dams(&data)
        .args([
            "verify".as_ref(),
            out.as_os_str(),
            "--against".as_ref(),
            input.as_os_str(),
        ])
        .arg("--json")
        .output()
        .unwrap();
    let verified: serde_json::Value = serde_json::from_slice(&verified.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&verified.stderr)));
    let names = |list: &serde_json::Value| -> std::collections::BTreeSet<String> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["keyword"] == "path")
            .map(|r| format!("{} {}", r["element"].as_str().unwrap(), r["identifier"]))
            .collect()
    };
    assert_eq!(names(&verified["residual"]), names(&report["stays"]["residual"]));
    assert_eq!(names(&verified["kept"]), names(&report["stays"]["kept"]));
    assert!(
        names(&verified["kept"]).contains("folder name pydicom/dicomdirtests/98892003/MR1 \"patient-name\""),
        "{:#?}",
        names(&verified["kept"])
    );
    assert!(
        names(&verified["residual"]).is_empty(),
        "{:#?}",
        names(&verified["residual"])
    );

    // The default profile leaves none of the patient's name, ID or birth date in any byte of
    // any written file outside pixel data, as pydicom sees it (tests/corpus/residue.py).
    let mut child = Command::new(&python)
        .arg(fixtures().join("../corpus/residue.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // What the checker leaves out, from dams' documented policy: the elements the default
    // profile's rules write, and the common words a name part alone does not count as.
    let profile = dams::profile::Profile::resolve(None, &[]).unwrap();
    let produced: Vec<String> = profile
        .rules()
        .iter()
        .filter(|r| r.action != dams::profile::Action::Keep && r.action != dams::profile::Action::Clean)
        .map(|r| format!("({:04X},{:04X})", r.tag.0, r.tag.1))
        .collect();
    let request = serde_json::json!({
        "pairs": pairs,
        "produced": produced,
        "common": dams::matcher::forms::STOP_WORDS,
    });
    serde_json::to_writer(child.stdin.take().unwrap(), &request).unwrap();
    let residue = child.wait_with_output().unwrap();
    assert!(residue.status.success(), "{}", String::from_utf8_lossy(&residue.stderr));
    let residue: Vec<serde_json::Value> = serde_json::from_slice(&residue.stdout).unwrap();
    let residue: Vec<String> = residue
        .iter()
        .map(|r| {
            let output = r["output"].as_str().unwrap();
            let rel = output.strip_prefix(out.to_str().unwrap()).unwrap_or(output);
            format!("{rel} {} {} {}: {}", r["element"], r["keyword"], r["vr"], r["kind"])
        })
        .collect();
    assert!(
        residue.is_empty(),
        "{} element(s) still hold an identifier:\n{}",
        residue.len(),
        residue.join("\n")
    );
}

/// The real files that are segmentations: the two SEGs (each in two encodings, in pydicom
/// and pydicom-data) and the RTSTRUCT. Everything else — above all the compressed copies,
/// which say they are DERIVED and name their original — is no segmentation.
const SEGMENTATIONS: &[&str] = &[
    "pydicom-data/liver.dcm",
    "pydicom-data/liver_expb.dcm",
    "pydicom/liver_1frame.dcm",
    "pydicom/liver_expb_1frame.dcm",
    "pydicom/rtstruct.dcm",
];

/// The compressed copies (lossy and lossless) of the corpus, each naming its uncompressed
/// predecessor (purpose 121320): listed as derived images, never as masks.
const COMPRESSED_COPIES: &[&str] = &[
    "pydicom-data/693_UNCI.dcm",
    "pydicom-data/JPEG-LL.dcm",
    "pydicom-data/JPEG2000_UNC.dcm",
    "pydicom-data/MR2_J2KI.dcm",
    "pydicom-data/MR2_J2KR.dcm",
    "pydicom-data/MR2_UNCI.dcm",
    "pydicom-data/RG3_J2KI.dcm",
    "pydicom-data/RG3_J2KR.dcm",
    "pydicom-data/RG3_UNCI.dcm",
    "pydicom-data/US1_J2KI.dcm",
    "pydicom-data/US1_J2KR.dcm",
    "pydicom-data/US1_UNCI.dcm",
    "pydicom/693_J2KI.dcm",
    "pydicom/JPEG-lossy.dcm",
    "pydicom/JPEG2000-embedded-sequence-delimiter.dcm",
    "pydicom/JPEG2000.dcm",
    "pydicom/JPGExtended.dcm",
    "pydicom/examples_jpeg2k.dcm",
];

#[test]
fn map_takes_no_compressed_copy_for_a_segmentation() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    if stage_corpus(&input).is_none() {
        return;
    }
    let map = dams(&data).arg("map").arg(&input).arg("--json").output().unwrap();
    // 1: some segmentation has no sure source (the SEGs' CT is not in the corpus).
    assert!(
        matches!(map.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&map.stderr)
    );
    let map: serde_json::Value = serde_json::from_slice(&map.stdout).unwrap();
    let files_of = |key: &str| -> Vec<String> {
        map[key]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["files"].as_array().unwrap().iter())
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    };
    let mut segmentations = files_of("groups");
    segmentations.sort();
    assert_eq!(segmentations, SEGMENTATIONS);
    let derived = map["derived_images"].as_array().unwrap();
    let mut copies: Vec<String> = derived
        .iter()
        .filter(|d| d["kind"] == "compressed-copy")
        .flat_map(|d| d["files"].as_array().unwrap().iter())
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    copies.sort();
    assert_eq!(copies, COMPRESSED_COPIES);
    // Each says why, and names its original where that is in the corpus.
    for d in derived {
        assert!(!d["classification"].as_array().unwrap().is_empty(), "{d:#}");
        let resolved = d["status"] == "resolved";
        assert_eq!(resolved, d["source"].is_object(), "{d:#}");
    }
}

#[test]
fn dicomdirs_are_reported_alike_and_stale_ones_are_flagged() {
    let Some((_, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    copy_tree(&dirs[0].1.join("dicomdirtests"), &input);
    let index = scan_lib(&input);
    let unreadable = unreadable_by_path(&index);
    let dicomdirs: Vec<(&String, &(String, String))> = unreadable
        .iter()
        .filter(|(p, _)| p.rsplit('/').next().unwrap().starts_with("DICOMDIR"))
        .collect();
    assert_eq!(dicomdirs.len(), 8, "{unreadable:#?}");
    for (path, (kind, reason)) in &dicomdirs {
        assert_eq!(kind, "dicomdir", "{path}: {reason}");
        assert!(!reason.contains("stale"), "{path}: {reason}");
    }
    assert!(unreadable["DICOMDIR-nooffset"].1.contains("damaged"));
    // Files deleted after the DICOMDIR was made: its records name them still.
    std::fs::remove_file(input.join("77654033/CR1/6154")).unwrap();
    std::fs::remove_file(input.join("TINY_ALPHA/PT000000/ST000000/SE000000/IM000003")).unwrap();
    let unreadable = unreadable_by_path(&scan_lib(&input));
    assert!(
        unreadable["DICOMDIR"]
            .1
            .contains("stale: 1 of its 31 file records name files that are not there"),
        "{:?}",
        unreadable["DICOMDIR"]
    );
    assert!(unreadable["DICOMDIR-bigEnd"].1.contains("stale: 1 of its 31"));
    assert!(unreadable["TINY_ALPHA/DICOMDIR"].1.contains("stale: 1 of its 50"));
    assert!(!unreadable["DICOMDIR-empty.dcm"].1.contains("stale"));
}

/// The date shift on every real file (issue 15): under `basic` with the Modified Dates option,
/// every DA and DT value of the data set that stays in a written file is its input's date moved
/// by exactly the offset the key holds for that file's patient (a value that is no date is
/// emptied, with a warning); nothing fails; verify finds no date moved otherwise.
#[test]
fn every_real_date_moves_by_its_patients_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    let Some(python) = stage_corpus(&input) else { return };
    let modified = ["--profile", "basic", "--option", "retain-longitudinal-modified-dates"];
    let plan = dams(&data)
        .arg("plan")
        .arg(&input)
        .args(modified)
        .args(["--json", "--accept-burned-in"])
        .output()
        .unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let applied = dams(&data)
        .args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()])
        .args(modified)
        .args(["--yes", "--json", "--accept-burned-in"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&applied.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&applied.stderr)));
    assert_eq!(report["failed"], serde_json::json!([]), "{report:#}");

    // The offsets the key recorded, by code.
    let csv = dams(&data).args(["key", "export", "--csv"]).output().unwrap();
    assert!(csv.status.success());
    let csv = String::from_utf8(csv.stdout).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let head = rdr.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let (code_col, offset_col) = (col("code"), col("date_offset"));
    let offsets: BTreeMap<String, i64> = rdr
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[code_col].to_string(), r[offset_col].parse().unwrap()))
        .collect();
    assert!(!offsets.is_empty());

    // pydicom judges: every DA and DT value, at every depth, input against output.
    let mut pairs = Vec::new();
    for p in plan["patients"].as_array().unwrap() {
        let offset = offsets[p["code"].as_str().unwrap()];
        for f in p["files"].as_array().unwrap() {
            let (src, dest) = (f["source"].as_str().unwrap(), f["dest"].as_str().unwrap());
            pairs.push(serde_json::json!([input.join(src), out.join(dest), offset]));
        }
    }
    let mut child = Command::new(&python)
        .arg(fixtures().join("../corpus/dates.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &serde_json::json!({ "pairs": pairs })).unwrap();
    let judged = child.wait_with_output().unwrap();
    assert!(judged.status.success(), "{}", String::from_utf8_lossy(&judged.stderr));
    let judged: serde_json::Value = serde_json::from_slice(&judged.stdout).unwrap();
    let wrong = judged["wrong"].as_array().unwrap();
    let moved = judged["moved"].as_u64().unwrap();
    eprintln!("{moved} real dates moved by their patient's offset");
    assert!(
        wrong.is_empty(),
        "{} date(s) not moved by the offset:\n{wrong:#?}",
        wrong.len()
    );
    assert!(moved > 500, "{moved}");

    let v = dams(&data)
        .arg("verify")
        .arg(&out)
        .arg("--against")
        .arg(&input)
        .arg("--json")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let offset_problems: Vec<&serde_json::Value> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["detail"].as_str().unwrap_or("").contains("date offset"))
        .collect();
    assert!(offset_problems.is_empty(), "{offset_problems:#?}");
}

/// `dams plan --json` and `dams apply` of `input` with `args`, then tests/corpus/uidmap.py on
/// the pairs: every original UID and the new UIDs it became (issue 14, point 3).
fn uid_map(
    python: &std::path::Path,
    data: &std::path::Path,
    input: &std::path::Path,
    out: &std::path::Path,
    args: &[&str],
) -> serde_json::Value {
    let plan = dams(data)
        .arg("plan")
        .arg(input)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let applied = dams(data)
        .args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()])
        .args(["--yes", "--json"])
        .args(args)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&applied.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&applied.stderr)));
    assert_eq!(report["failed"], serde_json::json!([]), "{args:?}: {report:#}");
    // Each file, and where the plan's repairs write (a repair separates files that wrongly
    // shared a UID on purpose, and says so).
    let mut files = Vec::new();
    for p in plan["patients"].as_array().unwrap() {
        for f in p["files"].as_array().unwrap() {
            let repaired: Vec<&str> = f["edits"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["rule"] == "repair")
                .filter_map(|e| e["path"].as_str())
                .collect();
            files.push(serde_json::json!([f["source"], f["dest"], repaired]));
        }
    }
    let mut child = Command::new(python)
        .arg(fixtures().join("../corpus/uidmap.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let request = serde_json::json!({ "input": input, "output": out, "files": files });
    serde_json::to_writer(child.stdin.take().unwrap(), &request).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    serde_json::from_slice(&done.stdout).unwrap()
}

/// Issue 14, point 3: over the real corpus, under the default profile and under `basic`, no
/// original UID — series, study, instance, frame of reference, in the file meta, in
/// references at any depth — is written as two different new UIDs, except where a repair
/// separates files on purpose and the plan says so (judged by pydicom, tests/corpus/uidmap.py).
/// The mapping fixtures, whose masks are repaired, show that exception taken.
#[test]
fn one_new_uid_per_original_uid() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let Some(python) = stage_corpus(&input) else { return };
    for (name, args) in [
        ("default", &[][..]),
        ("basic", &["--profile", "basic", "--accept-burned-in"][..]),
    ] {
        let (data, out) = (
            tmp.path().join(format!("data-{name}")),
            tmp.path().join(format!("out-{name}")),
        );
        let map = uid_map(&python, &data, &input, &out, args);
        eprintln!(
            "{name}: {} files, {} original UIDs, {} separated by a repair",
            map["files"],
            map["uids"],
            map["repaired"].as_array().unwrap().len()
        );
        assert!(map["files"].as_u64().unwrap() > 220, "{name}: {map:#}");
        assert!(map["uids"].as_u64().unwrap() > 300, "{name}: {map:#}");
        let splits = map["splits"].as_array().unwrap();
        assert!(
            splits.is_empty(),
            "{name}: {} original UID(s) written as more than one new UID:\n{splits:#?}",
            splits.len()
        );
    }
    // Masks that share the CT's series UID are given one of their own, by a repair the plan
    // shows: that split is the one allowed.
    let mapping = tmp.path().join("mapping");
    copy_tree(&fixtures().join("mapping"), &mapping);
    let map = uid_map(
        &python,
        &tmp.path().join("data-mapping"),
        &mapping,
        &tmp.path().join("out-mapping"),
        &[],
    );
    assert_eq!(map["splits"], serde_json::json!([]), "{map:#}");
    assert!(!map["repaired"].as_array().unwrap().is_empty(), "{map:#}");
}

//! The `dams` command driven as a user would: plan writes nothing, apply asks or refuses,
//! outputs and keys stay where they must, JSON is stable, errors name file and line.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;

struct Ws {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    input: PathBuf,
    key: PathBuf,
}

fn workspace() -> Ws {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    let input = base.join("in");
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", "PAT_CT/series1/CT_small.dcm"),
            ("pydicom/MR_small.dcm", "PAT_MR/MR_small.dcm"),
            ("pydicom/MR_truncated.dcm", "PAT_MR/MR_truncated.dcm"),
        ],
    );
    let key = base.join("state/key.db");
    Ws {
        _tmp: tmp,
        base,
        input,
        key,
    }
}

fn run(ws: &Ws, args: &[&str]) -> std::process::Output {
    let mut c = dams(&ws.base.join("data"));
    c.arg("--key").arg(&ws.key);
    c.args(args);
    c.output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn plan_writes_nothing_and_prints_json_with_relative_paths() {
    let ws = workspace();
    let before = tree(&ws.input);
    let o = run(&ws, &["plan", "--json", s(&ws.input)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(before, tree(&ws.input), "input untouched");
    // Plan sets up the key store's secret (so the UIDs it shows are the ones apply writes)
    // but adds no code.
    assert!(
        dams::key::KeyStore::open(&ws.key).unwrap().entries().is_empty(),
        "plan adds no code"
    );
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["profile"], "seed");
    let patients = plan["patients"].as_array().unwrap();
    assert_eq!(patients.len(), 2);
    let ct = patients.iter().find(|p| p["patient_id"] == "1CT1").unwrap();
    assert_eq!(ct["new_code"], true);
    let file = &ct["files"][0];
    assert_eq!(file["source"], "PAT_CT/series1/CT_small.dcm");
    assert_eq!(file["dest"], "PAT_CT/series1/CT_small.dcm");
    let edit = file["edits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["keyword"] == "PatientName")
        .unwrap();
    assert_eq!(edit["path"], "(0010,0010)");
    assert_eq!(edit["tag"], "(0010,0010)");
    assert_eq!(edit["before"], "CompressedSamples^CT1");
    assert_eq!(edit["after"], ct["code"]);
    assert_eq!(edit["rule"], "code");
    assert_eq!(plan["unreadable"][0]["path"], "PAT_MR/MR_truncated.dcm");
    assert_eq!(plan["unreadable"][0]["kind"], "truncated");
    assert_eq!(plan["new_key_entries"].as_array().unwrap().len(), 2);
}

#[test]
fn apply_refuses_without_a_terminal_unless_told_yes() {
    let ws = workspace();
    let out = ws.base.join("out");
    let o = run(&ws, &["apply", s(&ws.input), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    assert!(!out.exists() && !ws.key.exists(), "nothing written");

    let o = run(&ws, &["apply", "--yes", s(&ws.input), "--out", s(&out)]);
    // One input file is truncated: exit 1, the others written.
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("wrote 2 file(s)"), "{text}");
    assert!(text.contains("PAT_MR/MR_truncated.dcm: truncated"), "{text}");
    assert!(out.join("PAT_CT/series1/CT_small.dcm").exists());
}

#[test]
fn output_and_key_must_stay_outside() {
    let ws = workspace();
    let inside = ws.input.join("anon");
    let o = run(&ws, &["apply", "--yes", s(&ws.input), "--out", s(&inside)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("inside the input folder"));
    assert!(!inside.exists());

    let out = ws.base.join("out");
    let mut c = dams(&ws.base.join("data"));
    let o = c
        .args(["apply", "--yes", "--key"])
        .arg(out.join("key.json"))
        .arg(&ws.input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("key store"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.join("key.json").exists() && !out.join("key.db").exists());
}

#[test]
fn in_place_replaces_inputs_with_what_apply_would_write() {
    let ws = workspace();
    let out = ws.base.join("out");
    run(&ws, &["apply", "--yes", s(&ws.input), "--out", s(&out)]);
    let o = run(&ws, &["apply", "--yes", "--in-place", s(&ws.input)]);
    assert_eq!(o.status.code(), Some(1), "truncated file stays: exit 1");
    for rel in ["PAT_CT/series1/CT_small.dcm", "PAT_MR/MR_small.dcm"] {
        assert_eq!(
            std::fs::read(ws.input.join(rel)).unwrap(),
            std::fs::read(out.join(rel)).unwrap(),
            "{rel}"
        );
    }
    // The truncated file is left as it was, and no temporary file is left behind.
    assert_eq!(
        std::fs::read(ws.input.join("PAT_MR/MR_truncated.dcm")).unwrap(),
        std::fs::read(fixture("pydicom/MR_truncated.dcm")).unwrap()
    );
    assert!(
        tree(&ws.input)
            .iter()
            .all(|(p, _)| !p.to_string_lossy().contains(".dams-tmp-"))
    );
}

#[test]
fn verify_exit_codes() {
    let ws = workspace();
    let out = ws.base.join("out");
    let o = run(&ws, &["apply", "--yes", "--json", s(&ws.input), "--out", s(&out)]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Two patients, coded for the first time (committed before the write).
    assert_eq!(r["key_entries_created"], 2, "{r:#}");
    let o = run(&ws, &["apply", "--yes", "--json", s(&ws.input), "--out", s(&out)]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["key_entries_created"], 0, "{r:#}");
    // These public files hold PatientID in StudyID too; the default profile cleans it:
    // exit 0.
    let o = run(&ws, &["verify", s(&out), "--against", s(&ws.input), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["checked"], 2);
    assert_eq!(r["residual"].as_array().unwrap().len(), 0, "{r:#}");

    // With the clean pass switched off, StudyID keeps the ID: verify reports it (exit 1),
    // by element and kind, never by value.
    let profile = ws.base.join("p.toml");
    let text = dams::profile::builtin_text("seed")
        .unwrap()
        .replace("[clean]\ndicom = true", "[clean]\ndicom = false");
    assert!(text.contains("dicom = false"));
    std::fs::write(&profile, text).unwrap();
    let out2 = ws.base.join("out2");
    run(
        &ws,
        &[
            "--profile",
            s(&profile),
            "apply",
            "--yes",
            s(&ws.input),
            "--out",
            s(&out2),
        ],
    );
    let o = run(&ws, &["verify", s(&out2), "--against", s(&ws.input), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["checked"], 2);
    assert_eq!(r["problems"].as_array().unwrap().len(), 0, "{r:#}");
    let residual = r["residual"].as_array().unwrap();
    assert!(!residual.is_empty(), "{r:#}");
    assert!(
        residual
            .iter()
            .all(|x| x["element"] == "(0020,0010)" && x["identifier"] == "patient-id"),
        "{r:#}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        !stdout.contains("1CT1") && !stdout.contains("4MR1"),
        "verify never prints the identifier"
    );
}

#[test]
fn bad_profile_names_file_and_line() {
    let ws = workspace();
    let profile = ws.base.join("mine.toml");
    std::fs::write(
        &profile,
        "[profile]\nname = \"mine\"\n\n[[dicom]]\ntag = \"PatientsName\"\naction = \"code\"\n",
    )
    .unwrap();
    let o = run(&ws, &["plan", "--profile", s(&profile), s(&ws.input)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("mine.toml:5:"), "{err}");
    assert!(err.contains("did you mean PatientName"), "{err}");
}

#[test]
fn key_import_export_lookup() {
    let ws = workspace();
    let csv = ws.base.join("codes.csv");
    std::fs::write(&csv, "PatientID;Pseudonym;shift_days\n1CT1;STUDY-017;-1234\n").unwrap();
    let o = run(&ws, &["key", "import", s(&csv)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("imported 1 new entry"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // The imported code is used; the other patient gets a generated one.
    let o = run(&ws, &["plan", "--json", s(&ws.input)]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let codes: Vec<(String, String)> = plan["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["patient_id"].as_str().unwrap().into(),
                p["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![("1CT1".into(), "STUDY-017".into()), ("4MR1".into(), "P0001".into())]
    );
    let out = ws.base.join("out");
    run(&ws, &["apply", "--yes", s(&ws.input), "--out", s(&out)]);

    let o = run(&ws, &["key", "export", "--csv"]);
    let csv = String::from_utf8_lossy(&o.stdout);
    assert!(
        csv.starts_with("code,patient_id,patient_name,birth_date,date_offset,source,added,patient_key\n"),
        "{csv}"
    );
    assert!(csv.contains("P0001,4MR1,CompressedSamples^MR1,"), "{csv}");
    // An offset is a plain number (no formula guard: it is never a formula).
    assert!(csv.contains("STUDY-017,1CT1,,,-1234,imported,"), "{csv}");

    let o = run(&ws, &["key", "lookup", "P0001"]);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        shown.contains("4MR1") && shown.contains("\ndate offset:  (none recorded)\n"),
        "{shown}"
    );
    let o = run(&ws, &["key", "lookup", "study-017"]);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("\ndate offset:  -1234 days\n"), "{shown}");
    let o = run(&ws, &["key", "lookup", "P9999"]);
    assert_eq!(o.status.code(), Some(1));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let exported = ws.base.join("exported.csv");
        run(&ws, &["key", "export", "--csv", "-o", s(&exported)]);
        assert_eq!(
            std::fs::metadata(&exported).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::metadata(&ws.key).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn scan_json_is_stable() {
    let ws = workspace();
    let o = run(&ws, &["scan", "--json", s(&ws.input)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &v["patients"][0];
    assert_eq!(p["patient_id"], "1CT1");
    let series = &p["studies"][0]["series"][0];
    assert_eq!(series["modality"], "CT");
    let inst = &series["instances"][0];
    assert_eq!(inst["path"], "PAT_CT/series1/CT_small.dcm");
    assert_eq!(inst["transfer_syntax"], "1.2.840.10008.1.2.1");
    assert!(
        inst["sop_instance_uid"]
            .as_str()
            .unwrap()
            .starts_with("1.3.6.1.4.1.5962")
    );
    assert_eq!(inst["image_position"].as_array().unwrap().len(), 3);
    assert!(v["unreadable"].as_array().unwrap().len() == 1);
}

#[test]
fn the_demo_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let o = dams(&tmp.path().join("data"))
        .args(["demo", "--headless", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("DEMO-001 → P0001 (new code)"), "{text}");
    assert!(
        text.contains("checked 72 file(s)"),
        "70 files and the two mapping tables: {text}"
    );
    // The seed profile keeps accession numbers and referring physicians: verify lists them
    // as kept, and finds nothing else.
    assert!(text.contains("72 ok"), "{text}");
    assert!(text.contains("kept by the profile on purpose"), "{text}");
    assert!(
        text.contains("(0008,0050) AccessionNumber: accession number  in 68 file(s)"),
        "{text}"
    );
    assert!(text.contains("--profile basic"), "{text}");
    // Folders named after patient IDs are written under the codes.
    assert!(dir.join("output/P0001/CT_ABDOMEN").is_dir() && !dir.join("output/DEMO-001").exists());
    assert!(text.contains("wrote 70 file(s) (1 XML)"), "{text}");
    assert!(
        text.contains("XML without a patient, not written until assigned (1)"),
        "{text}"
    );
    assert!(!text.contains("cancelled"), "{text}");
    assert!(
        !tmp.path().join("data/key.db").exists(),
        "the demo never touches the real key store"
    );
}

/// `dams scan` lists masks and SEG objects as objects of their own, as the review screen
/// does, not as series of the CT whose UID they claim.
#[test]
fn scan_text_lists_objects_as_review_does() {
    let tmp = tempfile::tempdir().unwrap();
    let input = dams::demo::make_workspace(tmp.path()).unwrap();
    let mut c = dams(&tmp.path().join("data"));
    c.arg("--key").arg(tmp.path().join("key.json")).arg("scan").arg(&input);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(line("CT ABDOMEN 3mm").starts_with("CT #2 24 files"), "{text}");
    assert_eq!(line("LIVER_MASK"), "mask 24 files DEMO-001/LIVER_MASK/ (resolved)");
    assert_eq!(line("DEMO-001/SEG"), "SEG 1 files DEMO-001/SEG/ (resolved)");
    assert_eq!(line("NODULE_MASK"), "mask 4 files DEMO-002/NODULE_MASK/ (unmatched)");
}

/// `dams scan`'s first line counts damaged files and skipped ones apart, as its lists do.
#[test]
fn scan_text_counts_damaged_and_skipped_apart() {
    let ws = workspace();
    std::fs::write(ws.input.join("notes.txt"), "not DICOM").unwrap();
    let o = run(&ws, &["scan", s(&ws.input)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.ends_with("2 patient(s), 2 series, 2 file(s); 1 could not be read, 1 skipped"),
        "{text}"
    );
    assert!(
        text.contains("\ncould not be read (1):\n  PAT_MR/MR_truncated.dcm"),
        "{text}"
    );
    assert!(text.contains("notes.txt"), "{text}");
}

//! The output folder is dams' own, and verify is a proof of it (issue 19, points 6 and 9):
//! apply writes a manifest (`dams-manifest.json`: dams, profile and rules, options, key
//! fingerprint, every file with its digest — no identifier); verify reads it (no
//! `--profile`), checks every file under the folder, searches files dams did not write and
//! every file and folder name, leaves the profile's own products alone, and exits 0 clean, 1
//! residual or problem, 2 cannot verify. Apply replaces no file it did not write unless
//! `--overwrite`, and an input named like one of dams' tables is written under another name.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// `CT_small` with another patient (written by dicom-rs, not by dams).
fn ct_of(path: &Path, name: &str, id: &str, birth: &str) {
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let mut obj = dicom_object::OpenFileOptions::new()
        .open_file(fixture("pydicom/CT_small.dcm"))
        .unwrap();
    obj.put(DataElement::new(tags::PATIENT_NAME, VR::PN, name));
    obj.put(DataElement::new(tags::PATIENT_ID, VR::LO, id));
    obj.put(DataElement::new(tags::PATIENT_BIRTH_DATE, VR::DA, birth));
    // CT_small's StudyID and OtherPatientIDs are its own patient's: not this one's.
    obj.put(DataElement::new(tags::STUDY_ID, VR::SH, "S1"));
    obj.remove_element(tags::OTHER_PATIENT_I_DS_SEQUENCE);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    obj.write_to_file(path).unwrap();
}

struct Run {
    tmp: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        Run {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    fn input(&self) -> PathBuf {
        self.tmp.path().join("in")
    }
    fn out(&self) -> PathBuf {
        self.tmp.path().join("out")
    }
    fn key(&self) -> PathBuf {
        self.tmp.path().join("key.json")
    }
    fn dams(&self, args: &[&str]) -> std::process::Output {
        dams(self.tmp.path())
            .args(args)
            .arg("--key")
            .arg(self.key())
            .output()
            .unwrap()
    }
    fn apply(&self, extra: &[&str]) -> std::process::Output {
        let (i, o) = (self.input(), self.out());
        let mut args = vec!["apply", i.to_str().unwrap(), "--out", o.to_str().unwrap(), "--yes"];
        args.extend_from_slice(extra);
        self.dams(&args)
    }
    fn verify(&self, against: bool) -> (Option<i32>, serde_json::Value, String) {
        let (i, o) = (self.input(), self.out());
        let mut args = vec!["verify", o.to_str().unwrap(), "--json"];
        if against {
            args.extend_from_slice(&["--against", i.to_str().unwrap()]);
        }
        let out = self.dams(&args);
        let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (
            out.status.code(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn kinds(report: &serde_json::Value, path: &str) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["path"] == path)
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_manifest_lists_every_file_with_its_digest_and_no_identifier() {
    let r = Run::new();
    ct_of(
        &r.input().join("SMITH_JOHN/ct1.dcm"),
        "SMITH^JOHN",
        "PAT001",
        "19610423",
    );
    ct_of(
        &r.input().join("SMITH_JOHN/ct2.dcm"),
        "SMITH^JOHN",
        "PAT001",
        "19610423",
    );
    std::fs::write(
        r.input().join("SMITH_JOHN/notes.xml"),
        "<Log><Patient>SMITH^JOHN</Patient></Log>",
    )
    .unwrap();
    let o = r.apply(&["--value", "institution=Study Centre"]);
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(r.out().join("dams-manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["format"], "dams-manifest");
    assert_eq!(m["dams_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["profile"]["name"], "seed");
    assert!(
        m["profile"]["text"].as_str().unwrap().contains("[[dicom]]"),
        "the whole rule set"
    );
    assert_eq!(m["profile"]["values"][0][1], "Study Centre");
    assert_eq!(m["key_fingerprint"].as_str().unwrap().len(), 32);
    assert_eq!(m["counts"]["dicom"], 2);
    assert_eq!(m["counts"]["xml"], 1);
    assert!(m["pending"].as_array().unwrap().is_empty());
    for f in m["files"].as_array().unwrap() {
        let path = r.out().join(f["path"].as_str().unwrap());
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        use sha2::Digest;
        let sha: String = sha2::Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(f["sha256"], sha.as_str(), "{}", path.display());
        assert_eq!(f["size"], data.len() as u64);
    }
    let s = String::from_utf8(bytes).unwrap();
    for leak in ["SMITH", "JOHN", "PAT001", "19610423"] {
        assert!(!s.to_uppercase().contains(leak), "the manifest holds {leak}");
    }
}

#[test]
fn verify_needs_no_profile_and_proves_the_whole_folder() {
    let r = Run::new();
    ct_of(&r.input().join("a/ct1.dcm"), "SMITH^JOHN", "PAT001", "19610423");
    ct_of(&r.input().join("a/ct2.dcm"), "SMITH^JOHN", "PAT001", "19610423");
    let o = r.apply(&["--profile", "basic"]);
    assert!(o.status.success(), "{}", text(&o));
    for against in [false, true] {
        let (code, report, err) = r.verify(against);
        assert_eq!(code, Some(0), "against {against}: {report:#} {err}");
        assert_eq!(report["profile"], "basic");
        assert_eq!(report["against_input"], against);
        assert_eq!(report["checked"], 2);
    }
    // An untouched original, a sidecar and a report planted beside the output.
    std::fs::copy(r.input().join("a/ct1.dcm"), r.out().join("SMITH_JOHN.dcm")).unwrap();
    std::fs::write(r.out().join("notes.xml"), "<n><who id='PAT001'>x</who></n>").unwrap();
    std::fs::write(r.out().join("report.txt"), "Report for John Smith, born 23.04.1961").unwrap();
    for against in [false, true] {
        let (code, report, _) = r.verify(against);
        assert_eq!(code, Some(1), "{report:#}");
        for f in ["SMITH_JOHN.dcm", "notes.xml", "report.txt"] {
            assert!(
                kinds(&report, f).contains(&"not-written-by-dams".to_string()),
                "{f}: {report:#}"
            );
            let found: Vec<&serde_json::Value> = report["residual"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x["path"] == f)
                .collect();
            assert!(!found.is_empty(), "{f} is searched: {report:#}");
        }
        let name_hits = report["residual"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["path"] == "SMITH_JOHN.dcm" && x["element"] == "file name");
        assert!(name_hits, "file names are searched: {report:#}");
        let text = report.to_string();
        for leak in ["SMITH^JOHN", "PAT001", "19610423"] {
            assert!(!text.contains(leak), "the report holds {leak}");
        }
    }
    // A file dams wrote, changed afterwards.
    std::fs::remove_file(r.out().join("SMITH_JOHN.dcm")).unwrap();
    std::fs::remove_file(r.out().join("notes.xml")).unwrap();
    std::fs::remove_file(r.out().join("report.txt")).unwrap();
    let victim = r.out().join("a/ct1.dcm");
    let mut b = std::fs::read(&victim).unwrap();
    let n = b.len();
    b[n - 10] ^= 0x55;
    std::fs::write(&victim, b).unwrap();
    let (code, report, _) = r.verify(false);
    assert_eq!(code, Some(1));
    assert_eq!(kinds(&report, "a/ct1.dcm"), ["changed-since-written"], "{report:#}");
}

#[test]
fn what_the_profile_made_is_no_residual() {
    let r = Run::new();
    // Born on the first of January: keep-year gives the same date back.
    ct_of(&r.input().join("a/ct.dcm"), "DOE^JANE", "PAT002", "19380101");
    let o = r.apply(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let (code, report, err) = r.verify(true);
    let births: Vec<&serde_json::Value> = report["residual"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["identifier"] == "birth-date")
        .collect();
    assert!(births.is_empty(), "{report:#} {err}");
    assert_eq!(code, Some(0), "{report:#}");
}

#[test]
fn verify_cannot_verify_without_a_manifest_or_with_another_key() {
    let r = Run::new();
    ct_of(&r.input().join("a/ct.dcm"), "DOE^JANE", "PAT002", "19700203");
    std::fs::create_dir_all(r.out()).unwrap();
    assert!(r.dams(&["key", "init"]).status.success());
    let (code, _, err) = r.verify(false);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("dams-manifest.json"), "{err}");
    assert!(r.apply(&[]).status.success());
    let other = r.tmp.path().join("other.json");
    let o = dams(r.tmp.path())
        .args(["verify", r.out().to_str().unwrap(), "--key"])
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A key store created on the way would be another key: it is not created.
    assert!(!other.exists());
    let o = dams(r.tmp.path())
        .args(["key", "init", "--key"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = dams(r.tmp.path())
        .args(["verify", r.out().to_str().unwrap(), "--key"])
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("another key store"), "{}", text(&o));
}

#[test]
fn apply_replaces_only_its_own_files_unless_overwrite() {
    let r = Run::new();
    ct_of(&r.input().join("a/ct.dcm"), "DOE^JANE", "PAT002", "19700203");
    ct_of(&r.input().join("a/ct2.dcm"), "DOE^JANE", "PAT002", "19700203");
    // Someone else's file where dams would write.
    std::fs::create_dir_all(r.out().join("a")).unwrap();
    std::fs::write(r.out().join("a/ct.dcm"), b"not dams'").unwrap();
    let o = r.apply(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("was not written by dams"), "{}", text(&o));
    assert_eq!(std::fs::read(r.out().join("a/ct.dcm")).unwrap(), b"not dams'");
    assert!(r.out().join("a/ct2.dcm").exists(), "the other file is written");
    // A second run replaces dams' own file and still refuses the foreign one.
    let o = r.apply(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = r.apply(&["--overwrite"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(std::fs::read(r.out().join("a/ct.dcm")).unwrap(), b"not dams'");
    let (code, report, _) = r.verify(true);
    assert_eq!(code, Some(0), "{report:#}");
    // A run with other rules into the same folder is refused (one folder, one profile).
    let o = r.apply(&["--profile", "basic"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("other rules"), "{}", text(&o));
}

#[test]
fn an_input_named_like_a_dams_table_is_written_under_another_name() {
    let r = Run::new();
    ct_of(&r.input().join("mapping.csv"), "DOE^JANE", "PAT002", "19700203");
    ct_of(&r.input().join("dams-manifest.json"), "DOE^JANE", "PAT002", "19700203");
    let o = r.dams(&["plan", r.input().to_str().unwrap(), "--files"]);
    let plan = text(&o);
    assert!(
        plan.contains("mapping~2.csv") && plan.contains("dams' own table"),
        "{plan}"
    );
    let o = r.apply(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let parsed = dams::dicom::parse::parse_file(&r.out().join("mapping~2.csv")).unwrap();
    assert_eq!(
        parsed.top_string(dams::dicom::tags::PATIENT_ID).as_deref(),
        Some("P0001")
    );
    assert!(r.out().join("dams-manifest~2.json").exists());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.out().join("dams-manifest.json")).unwrap()).unwrap();
    assert_eq!(m["format"], "dams-manifest");
    let (code, report, _) = r.verify(true);
    assert_eq!(code, Some(0), "{report:#}");
}

/// Under the Basic Profile an image that may show identifiers in its pixels is written only
/// when approved: verify checks the folder with what its runs recorded, so an approved image
/// is compared like any other and one held back is no problem of the output.
#[test]
fn images_held_back_or_approved_under_basic_verify_clean() {
    for approve in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in");
        stage(
            &input,
            &[
                ("pydicom/JPEG2000.dcm", "a/sc.dcm"),
                ("pydicom/CT_small.dcm", "b/ct.dcm"),
            ],
        );
        let out = tmp.path().join("out");
        let data = tmp.path().join("data");
        let mut apply = dams(&data);
        apply
            .args(["--profile", "basic", "apply", "--yes"])
            .arg(&input)
            .arg("--out")
            .arg(&out);
        if approve {
            apply.arg("--accept-burned-in");
        }
        let o = apply.output().unwrap();
        let written = tree(&out)
            .iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "dcm"))
            .count();
        assert_eq!(
            written,
            if approve { 2 } else { 1 },
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v = dams(&data)
            .arg("verify")
            .arg(&out)
            .arg("--against")
            .arg(&input)
            .arg("--json")
            .output()
            .unwrap();
        let r: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
        assert_eq!(r["problems"].as_array().unwrap().len(), 0, "approve {approve}: {r:#}");
        assert_eq!(v.status.code(), Some(0), "approve {approve}: {r:#}");
    }
}

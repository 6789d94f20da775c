//! DICOMDIRs (issue 14, point 5): apply writes a new DICOMDIR for each one of the input,
//! listing the files it wrote under their output names, with the codes and UIDs of the
//! written files; records for files that are not in the output are left out; a DICOMDIR it
//! cannot write says why. Judged on pydicom's own DICOMDIR test set with pydicom's FileSet,
//! dcmdump and dciodvfy (no error the input's DICOMDIR did not have).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Opens a DICOMDIR with pydicom's FileSet and checks every record against the file it
/// names: the instance, series, study and patient it says are the file's. Returns the number
/// of files and whether any of `originals` (identifiers of the input) is in its bytes.
fn check_with_pydicom(python: &Path, dicomdir: &Path, originals: &[String]) -> (usize, bool) {
    let script = r#"
import json, sys
from pydicom import dcmread
from pydicom.fileset import FileSet
path, originals = sys.argv[1], json.loads(sys.argv[2])
fs = FileSet(dcmread(path))
n = 0
for inst in fs:
    ds = inst.load()
    series = inst.node.parent._record
    study = inst.node.parent.parent._record
    patient = inst.node.parent.parent.parent._record
    assert ds.SOPInstanceUID == inst.ReferencedSOPInstanceUIDInFile, path
    assert ds.SOPClassUID == inst.ReferencedSOPClassUIDInFile, path
    assert ds.file_meta.TransferSyntaxUID == inst.ReferencedTransferSyntaxUIDInFile, path
    assert series.SeriesInstanceUID == ds.SeriesInstanceUID, path
    assert study.StudyInstanceUID == ds.StudyInstanceUID, path
    assert patient.PatientID == ds.PatientID, (patient.PatientID, ds.PatientID)
    assert str(patient.PatientName) == str(ds.PatientName), path
    n += 1
raw = open(path, "rb").read()
print(json.dumps({"files": n, "leaks": any(o.encode() in raw for o in originals if o)}))
"#;
    let o = Command::new(python)
        .args(["-c", script])
        .arg(dicomdir)
        .arg(serde_json::to_string(originals).unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}: {}",
        dicomdir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (v["files"].as_u64().unwrap() as usize, v["leaks"].as_bool().unwrap())
}

/// The patients' IDs and names in the input's DICOMDIR (what must not be in the new one).
fn originals(python: &Path, dicomdir: &Path) -> Vec<String> {
    let script = r#"
import json, sys
from pydicom import dcmread
ds = dcmread(sys.argv[1])
out = set()
for r in ds.DirectoryRecordSequence:
    for kw in ("PatientID", "PatientName"):
        v = r.get(kw)
        if v:
            out.add(str(v))
            out.update(str(v).split("^"))
print(json.dumps(sorted(x for x in out if len(x) >= 4)))
"#;
    let o = Command::new(python)
        .args(["-c", script])
        .arg(dicomdir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn apply_json(data: &Path, input: &Path, out: &Path, profile: &str) -> serde_json::Value {
    let o = dams(data)
        .arg("apply")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(["--yes", "--json", "--profile", profile])
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(schema_errors("apply", &report), Vec::<String>::new());
    report
}

fn by_input(report: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    report["dicomdirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["input"].as_str().unwrap().to_string(), d.clone()))
        .collect()
}

#[test]
fn pydicoms_dicomdirs_are_written_anew_for_the_output_under_both_profiles() {
    let Some((python, dirs)) = corpus_dirs() else { return };
    let check_validator = have_dciodvfy();
    for profile in ["seed", "basic"] {
        let tmp = tempfile::tempdir().unwrap();
        let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
        copy_tree(&dirs[0].1.join("dicomdirtests"), &input);
        // A file deleted after the DICOMDIR was made: its record is left out.
        std::fs::remove_file(input.join("77654033/CR1/6154")).unwrap();
        let report = apply_json(&data, &input, &out, profile);
        let d = by_input(&report);
        assert_eq!(d.len(), 8, "{report:#}");
        for (name, files, left_out) in [
            ("DICOMDIR", 30, 1),
            ("DICOMDIR-bigEnd", 30, 1),
            ("DICOMDIR-implicit", 30, 1),
            ("DICOMDIR-reordered", 30, 1),
            ("DICOMDIR-nopatient", 30, 1),
            ("TINY_ALPHA/DICOMDIR", 50, 0),
        ] {
            let r = &d[name];
            assert_eq!(r["output"], serde_json::json!(name), "{profile}: {r:#}");
            assert_eq!(
                (r["files"].as_u64(), r["left_out"].as_u64()),
                (Some(files), Some(left_out)),
                "{r:#}"
            );
            let written = out.join(name);
            let (listed, leaks) = check_with_pydicom(&python, &written, &originals(&python, &input.join(name)));
            assert_eq!(listed, files as usize, "{profile}: {name}");
            assert!(!leaks, "{profile}: {name} holds an identifier of its input");
            assert_eq!(
                dcmdump_problems(&written).unwrap_or_default(),
                Vec::<String>::new(),
                "{name}"
            );
            if check_validator {
                let new: Vec<String> = dciodvfy_errors(&written)
                    .difference(&dciodvfy_errors(&input.join(name)))
                    .cloned()
                    .collect();
                assert_eq!(new, Vec::<String>::new(), "{profile}: new dciodvfy errors in {name}");
            }
        }
        // One that cannot be read whole, and one that lists nothing.
        assert!(
            d["DICOMDIR-nooffset"]["reason"].as_str().unwrap().contains("damaged"),
            "{d:#?}"
        );
        assert!(d["DICOMDIR-empty.dcm"]["output"].is_null());
        assert!(!out.join("DICOMDIR-nooffset").exists() && !out.join("DICOMDIR-empty.dcm").exists());
        // verify checks them with everything else: each is dams' own and names no patient.
        assert_verifies_clean(&data, &out, &input);
    }
}

#[test]
fn verify_finds_a_dicomdir_whose_files_are_gone() {
    let Some((_, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    copy_tree(&dirs[0].1.join("dicomdirtests/TINY_ALPHA"), &input);
    let report = apply_json(&data, &input, &out, "seed");
    assert_eq!(by_input(&report)["DICOMDIR"]["files"], 50);
    let gone = "PT000000/ST000000/SE000000/IM000001";
    std::fs::remove_file(out.join(gone)).unwrap();
    let v = dams(&data).arg("verify").arg(&out).arg("--json").output().unwrap();
    assert_eq!(v.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let about_dicomdir: Vec<&serde_json::Value> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["path"] == "DICOMDIR")
        .collect();
    assert_eq!(about_dicomdir.len(), 1, "{v:#}");
    assert_eq!(about_dicomdir[0]["kind"], "missing");
    let detail = about_dicomdir[0]["detail"].as_str().unwrap();
    assert!(detail.contains("1 of its 50") && detail.contains(gone), "{detail}");
}

/// File IDs are upper case on the medium and often lowered on disk: the new DICOMDIR names
/// the output files as the input's named the input files.
#[test]
fn lowered_names_keep_upper_case_file_ids() {
    let Some((_, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    let from = dirs[0].1.join("dicomdirtests/TINY_ALPHA");
    for e in walkdir::WalkDir::new(&from).into_iter().filter_map(Result::ok) {
        let rel = e.path().strip_prefix(&from).unwrap();
        let lowered = if rel.file_name().is_some_and(|n| n == "DICOMDIR") {
            rel.to_path_buf()
        } else {
            rel.to_string_lossy().to_lowercase().into()
        };
        if e.file_type().is_dir() {
            std::fs::create_dir_all(input.join(&lowered)).unwrap();
        } else {
            std::fs::copy(e.path(), input.join(&lowered)).unwrap();
        }
    }
    let report = apply_json(&data, &input, &out, "seed");
    assert_eq!(by_input(&report)["DICOMDIR"]["files"], 50, "{report:#}");
    let parsed = dams::dicom::parse::parse_file(&out.join("DICOMDIR")).unwrap();
    let ids: Vec<String> = dams::dicom::dir::file_entries(&parsed)
        .into_iter()
        .map(|e| e.file_id.join("/"))
        .collect();
    assert_eq!(ids.len(), 50);
    for id in &ids {
        assert!(id.starts_with("PT000000/ST000000/SE000000/IM"), "{id}");
        assert!(out.join(id.to_lowercase()).is_file(), "{id}");
    }
}

/// A code that is no file ID (`ST-0001`: a '-') cannot be a folder of a DICOMDIR: none is
/// written, and the report says why.
#[test]
fn a_code_that_is_no_file_id_is_named_as_the_reason() {
    let Some((_, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    copy_tree(&dirs[0].1.join("dicomdirtests"), &input);
    let init = dams(&data).args(["key", "init", "--prefix", "ST-"]).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let report = apply_json(&data, &input, &out, "seed");
    let d = by_input(&report);
    let reason = d["DICOMDIR"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not DICOM file IDs") && reason.contains("ST-0"),
        "{reason}"
    );
    assert!(!out.join("DICOMDIR").exists());
    // The DICOMDIR below the patients' folders has names that are file IDs still.
    assert_eq!(d["TINY_ALPHA/DICOMDIR"]["output"], "TINY_ALPHA/DICOMDIR");
}

/// Edits the records of a DICOMDIR with pydicom: `edit` is Python run with `imgs` (its IMAGE
/// records) and `ds` (the DICOMDIR) in scope; the result is saved to each of `save_as`.
fn edit_dicomdir(python: &Path, dicomdir: &Path, edit: &str, save_as: &[&Path]) {
    let script = format!(
        "import sys, warnings\nwarnings.simplefilter('ignore')\nfrom pydicom import dcmread\n\
         ds = dcmread(sys.argv[1])\n\
         imgs = [r for r in ds.DirectoryRecordSequence if r.DirectoryRecordType == 'IMAGE']\n\
         {edit}\nfor p in sys.argv[2:]:\n    ds.save_as(p, enforce_file_format=True)\n"
    );
    let o = Command::new(python)
        .args(["-c", &script])
        .arg(dicomdir)
        .args(save_as)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The file IDs of a written DICOMDIR's records, joined with `/`.
fn listed_ids(dicomdir: &Path) -> Vec<String> {
    let parsed = dams::dicom::parse::parse_file(dicomdir).unwrap();
    dams::dicom::dir::file_entries(&parsed)
        .into_iter()
        .map(|e| e.file_id.join("/"))
        .collect()
}

/// A DICOMDIR that lists itself and another DICOMDIR: on a second run into the same output
/// both are dams' own files there, and were listed as images (with a patient made up for
/// them). A DICOMDIR is never a file a record names.
#[test]
fn a_dicomdir_never_lists_a_dicomdir_even_on_a_second_run() {
    let Some((python, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    copy_tree(&dirs[0].1.join("dicomdirtests/TINY_ALPHA"), &input);
    let dicomdir = input.join("DICOMDIR");
    edit_dicomdir(
        &python,
        &dicomdir,
        "imgs[0].ReferencedFileID = ['DICOMDIR']\nimgs[1].ReferencedFileID = ['OTHER']",
        &[&dicomdir, &input.join("OTHER")],
    );
    for run in 0..2 {
        let report = apply_json(&data, &input, &out, "seed");
        let d = by_input(&report);
        for name in ["DICOMDIR", "OTHER"] {
            assert_eq!(d[name]["files"], 48, "run {run}: {report:#}");
            assert_eq!(d[name]["left_out"], 2, "run {run}: {report:#}");
            let ids = listed_ids(&out.join(name));
            assert!(ids.iter().all(|id| id.starts_with("PT000000/")), "run {run}: {ids:?}");
        }
    }
    assert_verifies_clean(&data, &out, &input);
}

/// A DICOMDIR is known by its SOP class, whatever its name: one named after its patient is
/// written as `DICOMDIR`, a second one given the same name says so, and a file-set ID that is
/// free text (no CS) is left empty.
#[test]
fn a_dicomdir_named_after_its_patient_is_written_as_dicomdir() {
    let Some((python, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    copy_tree(&dirs[0].1.join("dicomdirtests/TINY_ALPHA"), &input);
    let dicomdir = input.join("DICOMDIR");
    let (named, other) = (input.join("CITIZEN"), input.join("JAN_CITIZEN"));
    edit_dicomdir(&python, &dicomdir, "ds.FileSetID = 'Scans of Mr X'", &[&named, &other]);
    std::fs::remove_file(&dicomdir).unwrap();
    let report = apply_json(&data, &input, &out, "seed");
    let d = by_input(&report);
    assert_eq!(d["CITIZEN"]["output"], "DICOMDIR", "{report:#}");
    assert!(
        d["JAN_CITIZEN"]["reason"]
            .as_str()
            .unwrap()
            .contains("another DICOMDIR"),
        "{report:#}"
    );
    assert!(!out.join("CITIZEN").exists() && !out.join("JAN_CITIZEN").exists());
    let parsed = dams::dicom::parse::parse_file(&out.join("DICOMDIR")).unwrap();
    assert_eq!(parsed.top_string(dams::dicom::tags::FILE_SET_ID).as_deref(), Some(""));
    assert_eq!(listed_ids(&out.join("DICOMDIR")).len(), 50);
    assert_verifies_clean(&data, &out, &input);
}

/// A DICOMDIR that dams did not write, in the way of the new one, is left as it is and the run
/// needs attention (exit status 1, as for a file that failed); `--overwrite` replaces it.
#[test]
fn a_foreign_dicomdir_in_the_way_needs_attention() {
    let Some((_, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    copy_tree(&dirs[0].1.join("dicomdirtests/TINY_ALPHA"), &input);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(input.join("DICOMDIR"), out.join("DICOMDIR")).unwrap();
    let run = |extra: &[&str]| {
        dams(&data)
            .arg("apply")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .args(["--yes", "--json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let reason = by_input(&report)["DICOMDIR"]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("did not write"), "{reason}");
    assert_eq!(
        std::fs::read(out.join("DICOMDIR")).unwrap(),
        std::fs::read(input.join("DICOMDIR")).unwrap()
    );
    let o = run(&["--overwrite"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(listed_ids(&out.join("DICOMDIR")).len(), 50);
}

/// A lowered copy whose patient folder is named after the patient: dams renames that folder
/// to the (upper-case) code, the rest stays lower case, and the new DICOMDIR's upper-case IDs
/// still name its files for verify.
#[test]
fn a_lowered_copy_with_a_renamed_patient_folder_verifies() {
    let Some((python, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    let from = dirs[0].1.join("dicomdirtests/TINY_ALPHA");
    for e in walkdir::WalkDir::new(&from).into_iter().filter_map(Result::ok) {
        let rel = e.path().strip_prefix(&from).unwrap().to_string_lossy().to_string();
        let rel = if rel == "DICOMDIR" {
            rel
        } else {
            rel.to_lowercase().replace("pt000000", "citizen")
        };
        if e.file_type().is_dir() {
            std::fs::create_dir_all(input.join(&rel)).unwrap();
        } else {
            std::fs::copy(e.path(), input.join(&rel)).unwrap();
        }
    }
    let dicomdir = input.join("DICOMDIR");
    edit_dicomdir(
        &python,
        &dicomdir,
        "for r in ds.DirectoryRecordSequence:\n    if 'ReferencedFileID' in r:\n        r.ReferencedFileID = ['CITIZEN'] + list(r.ReferencedFileID)[1:]",
        &[&dicomdir],
    );
    let report = apply_json(&data, &input, &out, "seed");
    assert_eq!(by_input(&report)["DICOMDIR"]["files"], 50, "{report:#}");
    assert!(!out.join("citizen").exists());
    assert_verifies_clean(&data, &out, &input);
}

/// A DICOMDIR is known by its SOP class, not its name: verify checks the records of one the
/// input called `CDDIR` (its name is kept) as it checks `DICOMDIR`.
#[test]
fn verify_checks_a_dicomdir_whatever_its_name() {
    let Some((_, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    copy_tree(&dirs[0].1.join("dicomdirtests/TINY_ALPHA"), &input);
    std::fs::rename(input.join("DICOMDIR"), input.join("CDDIR")).unwrap();
    let report = apply_json(&data, &input, &out, "seed");
    assert_eq!(by_input(&report)["CDDIR"]["output"], "CDDIR", "{report:#}");
    std::fs::remove_file(out.join("PT000000/ST000000/SE000000/IM000001")).unwrap();
    let v = dams(&data).arg("verify").arg(&out).arg("--json").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == "CDDIR" && p["kind"] == "missing"),
        "{v:#}"
    );
}

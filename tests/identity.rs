//! Patient identity: no file ever carries another patient's code, every code written is in the
//! key first, files without a `PatientID` are placed honestly (and can be assigned by hand), and
//! dams' own output is recognised before it is coded again.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use common::*;

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn names(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect()
}

/// An XML file that names two patients, assigned by hand to one, is written with the other's
/// code too: that code is in the key before the file is written (even though only the first
/// patient is written), and a later run on another folder never gives it to someone else.
#[test]
fn every_code_written_is_in_the_key_first() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, key_path) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("key.json"),
    );
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", "a/CT_small.dcm"),
            ("pydicom/MR_small.dcm", "b/MR_small.dcm"),
        ],
    );
    std::fs::write(
        input.join("a/notes.xml"),
        "<?xml version=\"1.0\"?>\n<notes><patient id=\"1CT1\"/><text>compare prior of 4MR1</text></notes>\n",
    )
    .unwrap();
    let index = scan_lib(&input);
    let profile = dams::profile::Profile::resolve(None, &[]).unwrap();
    let mut key = dams::key::KeyStore::open(&key_path).unwrap();
    let mut ws = dams::review::Workspace::default();
    ws.xml_assignments
        .insert(PathBuf::from("a/notes.xml"), "1CT1".to_string());
    let prepared = dams::plan::prepare(&index, profile, &key, &ws);
    let mr_code = prepared.planner.code("4MR1").unwrap().to_string();
    let only = ["1CT1".to_string()].into();
    let report = dams::apply::apply(
        &index,
        &prepared.planner,
        &mut key,
        &dams::apply::Target::Folder(out.clone()),
        Some(&only),
        &|_, _| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(report.xml_written, 1, "{:?}", report.failed);
    let xml_out = tree(&out)
        .into_iter()
        .find(|(p, _)| p.extension().is_some_and(|e| e == "xml"))
        .unwrap();
    let text = String::from_utf8(xml_out.1).unwrap();
    assert!(text.contains(&format!("prior of {mr_code}")), "{text}");
    assert!(
        !names(&out).iter().any(|n| n.contains("MR_small")),
        "only 1CT1 was written"
    );
    let key = dams::key::KeyStore::open(&key_path).unwrap();
    assert_eq!(
        key.code_for("4MR1"),
        Some(mr_code.as_str()),
        "the code written is in the key"
    );

    // Another folder, another patient: a new code, never the one written for 4MR1.
    let other = tmp.path().join("other");
    stage(&other, &[("pydicom/rtplan.dcm", "rtplan.dcm")]);
    let index = scan_lib(&other);
    let profile = dams::profile::Profile::resolve(None, &[]).unwrap();
    let engine = dams::engine::Engine::new(key, profile, dams::progress::Cancel::new()).unwrap();
    let prepared = engine.prepare(&index).expect("prepare");
    let code = prepared.planner.code("id00001").unwrap();
    assert_ne!(code, mr_code);
    assert!(engine.key().entry_by_code(code).is_none(), "a fresh code");
}

/// Folder and file names are rewritten only with identifiers of the patient whose files they
/// hold, and only those specific enough: another patient's short name component (`MR1` in
/// `CompressedSamples^MR1`) never turns a folder into that patient's code, and a folder that
/// holds several patients' files keeps its name, with a warning in the plan.
#[test]
fn paths_carry_only_their_own_patients_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    stage(
        &input,
        &[
            // MR_small: PatientID 4MR1, PatientName CompressedSamples^MR1.
            ("pydicom/MR_small.dcm", "4MR1/MR_small.dcm"),
            // CT_small (1CT1) in a series folder that happens to be called MR1.
            ("pydicom/CT_small.dcm", "98892003/MR1/CT_small.dcm"),
            // Both patients in one folder named after one of them.
            ("pydicom/CT_small.dcm", "CompressedSamples/ct.dcm"),
            ("pydicom/MR_small.dcm", "CompressedSamples/mr.dcm"),
        ],
    );
    let plan = dams(&data).arg("plan").arg(&input).arg("--json").output().unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan = json_of(&plan);
    let code = |pid: &str| -> String {
        plan["patients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["patient_id"] == pid)
            .unwrap()["code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (mr, ct) = (code("4MR1"), code("1CT1"));
    let dests: Vec<(String, String)> = plan["patients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["files"].as_array().unwrap().iter())
        .map(|f| {
            (
                f["source"].as_str().unwrap().to_string(),
                f["dest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let dest = |src: &str| dests.iter().find(|(s, _)| s == src).unwrap().1.clone();
    assert_eq!(
        dest("4MR1/MR_small.dcm"),
        format!("{mr}/MR_small.dcm"),
        "its own folder"
    );
    assert_eq!(
        dest("98892003/MR1/CT_small.dcm"),
        "98892003/MR1/CT_small.dcm",
        "MR1 is not 1CT1's identifier, and too generic to be 4MR1's"
    );
    assert_eq!(dest("CompressedSamples/ct.dcm"), "CompressedSamples/ct.dcm");
    assert_eq!(dest("CompressedSamples/mr.dcm"), "CompressedSamples/mr.dcm");
    let warnings = plan.to_string();
    assert!(
        warnings.contains("holds several patients' files: its name is kept"),
        "{warnings}"
    );
    assert!(!dests.iter().any(|(s, d)| s.starts_with("98892003") && d.contains(&mr)));
    assert_ne!(mr, ct);

    let applied = dams(&data)
        .args([
            "apply".as_ref(),
            input.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--yes".as_ref(),
        ])
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let written = names(&out);
    assert!(written.contains(&format!("{mr}/MR_small.dcm")), "{written:?}");
    assert!(
        written.contains(&"98892003/MR1/CT_small.dcm".to_string()),
        "{written:?}"
    );
}

/// Files without a `PatientID` through the command line: a file nothing places is listed (not
/// written, exit 1), `dams assign` gives it to a patient (kept in the review state), and the
/// next apply writes it with that patient's code. A file with a `PatientID` of its own is not
/// reassigned.
#[test]
fn unplaced_files_are_listed_and_assigned_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    stage(
        &input,
        &[
            ("pydicom/MR_small.dcm", "mixed/MR_small.dcm"),
            ("pydicom/rtplan.dcm", "mixed/rtplan.dcm"),
            ("pydicom/priv_SQ.dcm", "mixed/priv_SQ.dcm"),
            ("identity/CT_small_doe_jane.dcm", "mixed/doe.dcm"),
        ],
    );
    let apply = |extra: &[&str]| {
        let mut c = dams(&data);
        c.args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()]);
        c.args(["--yes", "--json"]).args(extra);
        c.output().unwrap()
    };
    let first = apply(&[]);
    assert_eq!(
        first.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report = json_of(&first);
    assert_eq!(report["unplaced"][0]["path"], "mixed/priv_SQ.dcm", "{report:#}");
    assert!(!out.join("mixed/priv_SQ.dcm").exists());
    // DOE^JANE, without an ID, is written as a patient of her own.
    assert_eq!(report["written"], 3, "{report:#}");

    let listed = dams(&data).arg("assign").arg(&input).output().unwrap();
    assert!(listed.status.success());
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("patient unknown") && text.contains("mixed/priv_SQ.dcm"),
        "{text}"
    );
    assert!(
        text.contains("mixed/doe.dcm") && text.contains("(no PatientID) DOE^JANE"),
        "{text}"
    );

    let refused = dams(&data)
        .arg("assign")
        .arg(&input)
        .arg("mixed/MR_small.dcm=id00001")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("PatientID of their own"));

    let assigned = dams(&data)
        .arg("assign")
        .arg(&input)
        .arg("mixed/priv_SQ.dcm=4MR1")
        .output()
        .unwrap();
    assert!(
        assigned.status.success(),
        "{}",
        String::from_utf8_lossy(&assigned.stderr)
    );
    let second = apply(&[]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let key = dams::key::KeyStore::open(&data.join("key.json")).unwrap();
    let mr = key.code_for("4MR1").unwrap();
    let (_, obj) = read_dicom_rs(&out.join("mixed/priv_SQ.dcm"));
    let pid = obj
        .element(dicom_core::Tag(0x0010, 0x0020))
        .ok()
        .and_then(|e| e.to_str().ok().map(|s| s.trim_end_matches(['\0', ' ']).to_string()));
    // priv_SQ has no patient module: nothing to code in it, but it is written as 4MR1's.
    assert!(pid.is_none() || pid.as_deref() == Some(mr), "{pid:?}");
    let plan = json_of(&dams(&data).arg("plan").arg(&input).arg("--json").output().unwrap());
    let of_mr = plan["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["patient_id"] == "4MR1")
        .unwrap();
    assert!(of_mr["files"].to_string().contains("mixed/priv_SQ.dcm"));
    assert!(of_mr["files"].to_string().contains("assigned by hand"));
}

/// dams' own output given to dams again is recognised: the plan says so, and apply refuses to
/// give codes to codes unless told to (`--recode`).
#[test]
fn own_output_is_recognised_before_it_is_coded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, again, data) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("again"),
        tmp.path().join("data"),
    );
    stage(&input, &[("pydicom/CT_small.dcm", "ct/CT_small.dcm")]);
    let run = |args: &[&std::ffi::OsStr]| dams(&data).args(args).output().unwrap();
    let first = run(&[
        "apply".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--yes".as_ref(),
    ]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));

    let plan = run(&["plan".as_ref(), out.as_os_str()]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("looks like dams output already"), "{text}");
    assert!(text.contains("its PatientID is a code of the key store"), "{text}");
    // The default profile's output does not say it was de-identified: scan recognises it by
    // its codes, as plan does (one rule for both).
    let scan = run(&["scan".as_ref(), out.as_os_str()]);
    let text = String::from_utf8_lossy(&scan.stdout);
    assert!(
        text.contains("[looks like dams output: its PatientID is a code of the key store]"),
        "{text}"
    );
    let scan = json_of(&run(&["scan".as_ref(), out.as_os_str(), "--json".as_ref()]));
    assert_eq!(
        scan["patients"][0]["looks_pseudonymised"], "its PatientID is a code of the key store",
        "{scan:#}"
    );
    let fresh = json_of(&run(&["scan".as_ref(), input.as_os_str(), "--json".as_ref()]));
    assert_eq!(fresh["patients"][0]["looks_pseudonymised"], serde_json::Value::Null);

    let refused = run(&[
        "apply".as_ref(),
        out.as_os_str(),
        "--out".as_ref(),
        again.as_os_str(),
        "--yes".as_ref(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--recode"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(names(&again).is_empty(), "nothing written");

    let recoded = run(&[
        "apply".as_ref(),
        out.as_os_str(),
        "--out".as_ref(),
        again.as_os_str(),
        "--yes".as_ref(),
        "--recode".as_ref(),
    ]);
    assert!(recoded.status.success(), "{}", String::from_utf8_lossy(&recoded.stderr));
    assert_eq!(names(&again).len(), 1);

    // Under the Basic Profile the files say so themselves (PatientIdentityRemoved, method).
    let basic = tmp.path().join("basic");
    let made = run(&[
        "apply".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        basic.as_os_str(),
        "--yes".as_ref(),
        "--profile".as_ref(),
        "basic".as_ref(),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let fresh = tmp.path().join("fresh-data");
    let scan = dams(&fresh).arg("scan").arg(&basic).output().unwrap();
    assert!(String::from_utf8_lossy(&scan.stdout).contains("[looks like dams output"));
}

/// A run refused for coding dams' own output writes nothing to the key: the refused run
/// gives no code, so an identical second run is refused the same way (instead of finding the
/// code the first one left and giving P0001 the code P0002).
#[test]
fn a_refused_recode_writes_nothing_to_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, again, data) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("again"),
        tmp.path().join("data"),
    );
    stage(&input, &[("pydicom/CT_small.dcm", "ct/CT_small.dcm")]);
    let run = |args: &[&std::ffi::OsStr]| dams(&data).args(args).output().unwrap();
    let first = run(&[
        "apply".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--yes".as_ref(),
    ]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let entries = || {
        dams::key::KeyStore::open(&data.join("key.db"))
            .unwrap()
            .entries()
            .iter()
            .map(|e| (e.patient_id.clone(), e.code.clone(), e.date_offset))
            .collect::<Vec<_>>()
    };
    let before = entries();
    assert_eq!(before.len(), 1, "{before:?}");
    for attempt in 1..=2 {
        let refused = run(&[
            "apply".as_ref(),
            out.as_os_str(),
            "--out".as_ref(),
            again.as_os_str(),
            "--yes".as_ref(),
        ]);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "attempt {attempt}: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
        assert!(String::from_utf8_lossy(&refused.stderr).contains("--recode"));
        assert_eq!(entries(), before, "attempt {attempt}: the key is as it was");
        assert!(names(&again).is_empty(), "attempt {attempt}: nothing written");
    }
}

/// The IDs in `OtherPatientIDsSequence` (0010,1002) items are the patient's too: no code is
/// given that equals one (here `P0001`, the first code the key would give), and the `[clean]`
/// search finds them in free text.
#[test]
fn other_patient_ids_in_the_sequence_are_the_patients_identifiers() {
    let Some(python) = pydicom() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    make_dicom(
        &python,
        &input,
        &[(
            "a/1.dcm",
            serde_json::json!({
                "PatientID": "A100",
                "PatientName": "SMITH^JOHN",
                "PatientBirthDate": "19600505",
                "OtherPatientIDsSequence": [
                    {"PatientID": "P0001", "TypeOfPatientID": "TEXT"},
                    {"PatientID": "MRN-778899", "TypeOfPatientID": "TEXT"},
                ],
                "ImageComments": "prior under MRN-778899",
            }),
        )],
    );
    let plan = dams(&data).arg("plan").arg(&input).arg("--json").output().unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan = json_of(&plan);
    let p = &plan["patients"][0];
    let code = p["code"].as_str().unwrap();
    assert_ne!(code.to_ascii_lowercase(), "p0001", "{plan:#}");
    let edit = |path: &str| {
        p["files"][0]["edits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"] == path)
            .map(|e| e["after"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        edit("(0020,4000)").as_deref(),
        Some(format!("prior under {code}").as_str()),
        "{plan:#}"
    );
}

/// A file without `PatientID` placed in a patient (by its folder, or by hand) carries that
/// patient's code as `PatientID` (Type 2) and `PatientName` in the output, inserted where the
/// file had none; pydicom reads it, dciodvfy finds no error the input did not have, and
/// verify finds the inserted elements as planned.
#[test]
fn placed_files_get_the_patients_code_inserted() {
    let Some(python) = pydicom() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    stage(
        &input,
        &[
            ("pydicom/MR_small.dcm", "mr/MR_small.dcm"),
            // No patient module at all: adopted by the folder's only patient.
            ("identity/rtplan_no_patient.dcm", "mr/plan.dcm"),
            // No PatientID, a name of her own: assigned by hand.
            ("identity/CT_small_doe_jane.dcm", "other/ct.dcm"),
        ],
    );
    let assigned = dams(&data)
        .arg("assign")
        .arg(&input)
        .arg("other/ct.dcm=4MR1")
        .output()
        .unwrap();
    assert!(
        assigned.status.success(),
        "{}",
        String::from_utf8_lossy(&assigned.stderr)
    );
    let applied = dams(&data)
        .args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()])
        .arg("--yes")
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let key = dams::key::KeyStore::open(&data.join("key.db")).unwrap();
    let code = key.code_for("4MR1").unwrap().to_string();
    let script = r#"
import sys, warnings, pydicom
warnings.simplefilter("error")
for p in sys.argv[1:]:
    ds = pydicom.dcmread(p)
    for elem in ds.iterall():
        _ = elem.value
    print(ds.PatientID, ds.PatientName)
"#;
    let files = ["mr/plan.dcm", "other/ct.dcm"];
    let o = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(files.iter().map(|f| out.join(f)))
        .output()
        .unwrap();
    assert!(o.status.success(), "pydicom: {}", String::from_utf8_lossy(&o.stderr));
    let read = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        read.lines().collect::<Vec<_>>(),
        vec![format!("{code} {code}"); 2],
        "{read}"
    );
    if have_dciodvfy() {
        for f in files {
            let before = dciodvfy_errors(&input.join(f));
            let after = dciodvfy_errors(&out.join(f));
            let new: Vec<&String> = after.difference(&before).collect();
            assert!(new.is_empty(), "{f}: new dciodvfy errors {new:?}");
        }
    }
    let verify = dams(&data)
        .args([
            "verify".as_ref(),
            out.as_os_str(),
            "--against".as_ref(),
            input.as_os_str(),
        ])
        .arg("--json")
        .output()
        .unwrap();
    let report = json_of(&verify);
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
}

/// Plan, apply and verify agree on what file and folder names keep: an identifier dams
/// replaces in names (another patient's distinctive ID in the folder of someone else's
/// files) is listed by plan and apply as still in the path, and verify holds it against the
/// output; one too short to be replaced inside a longer name (`12345_CT` of patient 12345)
/// is listed as kept by all three, and verify does not fail for it.
#[test]
fn names_kept_are_the_same_in_plan_apply_and_verify() {
    let Some(python) = pydicom() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    let patient = |id: &str, name: &str| serde_json::json!({"PatientID": id, "PatientName": name});
    make_dicom(
        &python,
        &input,
        &[
            ("a/ct.dcm", patient("A12345", "SMITH^JOHN")),
            // B's file in a folder named by A's ID.
            ("A12345/x.dcm", patient("B67890", "JONES^MARY")),
            ("12345_CT/1.dcm", patient("12345", "LEE^ANN")),
        ],
    );
    let plan = dams(&data).arg("plan").arg(&input).arg("--files").output().unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("warning: folder name A12345 path still holds the patient ID"),
        "{text}"
    );
    assert!(
        text.contains("kept: folder name 12345_CT path, the patient ID"),
        "{text}"
    );

    let applied = dams(&data)
        .args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()])
        .args(["--yes", "--json"])
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let report = json_of(&applied);
    let verify = dams(&data)
        .args([
            "verify".as_ref(),
            out.as_os_str(),
            "--against".as_ref(),
            input.as_os_str(),
        ])
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let verified = json_of(&verify);
    let names = |list: &serde_json::Value| -> std::collections::BTreeSet<String> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["keyword"] == "path")
            .map(|r| format!("{} {}", r["element"].as_str().unwrap(), r["identifier"]))
            .collect()
    };
    let residual: std::collections::BTreeSet<String> = ["folder name A12345 \"patient-id\"".to_string()].into();
    let kept: std::collections::BTreeSet<String> = ["folder name 12345_CT \"patient-id\"".to_string()].into();
    assert_eq!(names(&report["stays"]["residual"]), residual, "{report:#}");
    assert_eq!(names(&verified["residual"]), residual, "{verified:#}");
    assert_eq!(names(&report["stays"]["kept"]), kept, "{report:#}");
    assert_eq!(names(&verified["kept"]), kept, "{verified:#}");
}

/// Files of one series that carry two `PatientIDs` are said to be so in `dams plan`.
#[test]
fn one_series_of_two_patients_is_warned_about_in_the_plan() {
    let Some(python) = pydicom() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let file = |id: &str| serde_json::json!({"PatientID": id, "study": "st", "series": "se"});
    make_dicom(&python, &input, &[("s/1.dcm", file("X1")), ("s/2.dcm", file("X2"))]);
    let plan = dams(&data).arg("plan").arg(&input).output().unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let text = String::from_utf8_lossy(&plan.stdout);
    let warning = "its series (SeriesInstanceUID) holds files of another patient too";
    assert_eq!(text.matches(warning).count(), 2, "{text}");
}

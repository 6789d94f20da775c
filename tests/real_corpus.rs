//! The real corpus: every file of pydicom's own test files and of the pydicom-data and
//! deid-data packages (hundreds of files from many vendors that nobody here wrote), planned
//! and written by `dams apply`. Each file pydicom reads is written, or gets a per-file reason
//! that independent readers confirm (not DICOM, truncated, a DICOMDIR, no patient or study at
//! all); none is turned away only because its PatientID is empty or absent.
//!
//! The packages come from the venv named by DAMS_PYTHON (`.ci/run` installs them); without
//! them the test says it skipped, unless DAMS_REQUIRE_CORPUS is set.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The three folders of real files, from the Python packages of DAMS_PYTHON.
fn corpus_dirs() -> Option<(PathBuf, Vec<(&'static str, PathBuf)>)> {
    let python = std::env::var_os("DAMS_PYTHON").unwrap_or_else(|| "python3".into());
    let script = "import os, pydicom, data_store, deid_data\n\
                  print(os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files'))\n\
                  print(os.path.join(os.path.dirname(data_store.__file__), 'data'))\n\
                  print(os.path.join(os.path.dirname(deid_data.__file__), 'data'))";
    let found = Command::new(&python)
        .args(["-c", script])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        })
        .filter(|dirs| dirs.len() == 3 && dirs.iter().all(|d| d.is_dir()));
    match found {
        Some(dirs) => Some((
            PathBuf::from(python),
            ["pydicom", "pydicom-data", "deid-data"].into_iter().zip(dirs).collect(),
        )),
        None => {
            assert!(
                std::env::var_os("DAMS_REQUIRE_CORPUS").is_none(),
                "the real corpus is required (DAMS_REQUIRE_CORPUS is set) but pydicom, pydicom-data and deid-data are not importable by DAMS_PYTHON"
            );
            eprintln!(
                "skipped: pydicom, pydicom-data and deid-data are not installed for DAMS_PYTHON (pip install them to run this test)"
            );
            None
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let rel = e.path().strip_prefix(from).unwrap();
        if rel.components().any(|c| c.as_os_str() == "__pycache__") {
            continue;
        }
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else if e.file_type().is_file() {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

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
    let Some((python, dirs)) = corpus_dirs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    for (name, dir) in &dirs {
        copy_tree(dir, &input.join(name));
    }
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
    for p in plan["patients"].as_array().unwrap() {
        for f in p["files"].as_array().unwrap() {
            planned.insert(f["source"].as_str().unwrap().into(), f["dest"].as_str().unwrap().into());
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
}

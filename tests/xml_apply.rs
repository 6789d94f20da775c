//! XML sidecars through scan, plan, apply and verify, beside real DICOM patients: assigned by
//! content or by folder, rewritten only where identifiers are, copied as they are otherwise,
//! and never written while they belong to no patient.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn workspace(tmp: &Path) -> PathBuf {
    let input = tmp.join("in");
    for (rel, bytes) in tree(&fixture("mapping")) {
        if rel.starts_with("PAT1/ct_soft") || rel.starts_with("PAT2/ct") {
            let dest = input.join(&rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(dest, bytes).unwrap();
        }
    }
    let xml = |name: &str, dest: &str| {
        std::fs::copy(fixture(&format!("xml/{name}")), input.join(dest)).unwrap();
    };
    xml("log_basic.xml", "PAT1/session.xml"); // names MAP001
    xml("namespaces.xml", "PAT1/ct_soft/report.xml"); // names MAP001, prefixed
    xml("no_match.xml", "PAT2/settings.xml"); // names nobody: PAT2's by folder
    xml("two_patients.xml", "comparison.xml"); // names both: unassigned
    xml("malformed.xml", "broken.xml");
    input
}

fn run(tmp: &Path, args: &[&str]) -> std::process::Output {
    dams(&tmp.join("data"))
        .args(["--key"])
        .arg(tmp.join("key.json"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn xml_is_assigned_planned_written_and_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let input = workspace(tmp.path());
    let inp = input.to_str().unwrap();

    // Assignment.
    let o = run(tmp.path(), &["xml", "--json", inp]);
    // A listing: 0, whatever it lists (the unassigned file is in the JSON).
    assert_eq!(o.status.code(), Some(0), "a listing");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = |p: &str| {
        v["xml"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == p)
            .unwrap()
            .clone()
    };
    assert_eq!(row("PAT1/session.xml")["patient_id"], "MAP001");
    assert!(
        row("PAT1/session.xml")["assigned_by"]
            .as_str()
            .unwrap()
            .contains("patient ID")
    );
    assert_eq!(row("PAT1/ct_soft/report.xml")["patient_id"], "MAP001");
    assert_eq!(row("PAT2/settings.xml")["patient_id"], "MAP002");
    assert!(
        row("PAT2/settings.xml")["assigned_by"]
            .as_str()
            .unwrap()
            .contains("folder")
    );
    assert!(row("comparison.xml")["patient_id"].is_null());
    assert!(row("comparison.xml")["reason"].as_str().unwrap().contains("2 patients"));

    // The plan shows XML edits with paths like /Log/Patient/@id.
    let o = run(tmp.path(), &["plan", "--json", inp]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p1 = plan["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["patient_id"] == "MAP001")
        .unwrap();
    let session = p1["xml"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["source"] == "PAT1/session.xml")
        .unwrap();
    let edits = session["edits"].as_array().unwrap();
    let id_edit = edits.iter().find(|e| e["path"] == "/Log/Patient/@id").unwrap();
    assert_eq!(id_edit["before"], "MAP001");
    assert_eq!(id_edit["after"], p1["code"]);
    assert!(
        edits.iter().any(|e| e["rule"] == "residual"),
        "other occurrences are replaced too"
    );
    assert_eq!(plan["unassigned_xml"][0]["path"], "comparison.xml");
    assert!(
        plan["unreadable"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["path"] == "broken.xml" && u["reason"].as_str().unwrap().contains("4:26"))
    );

    // Apply: assigned XML written, the unassigned one not (exit 1).
    let out = tmp.path().join("out");
    let o = run(
        tmp.path(),
        &["apply", "--yes", "--json", inp, "--out", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["xml_written"], 3, "{r:#}");
    assert!(!out.join("comparison.xml").exists() && !out.join("broken.xml").exists());
    let session_out = std::fs::read_to_string(out.join("PAT1/session.xml")).unwrap();
    for secret in ["MAP001", "Mapping", "Alice", "1950-03-17", "17.03.1950"] {
        assert!(!session_out.contains(secret), "{secret} left in {session_out}");
    }
    assert!(
        session_out
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Export of a segmentation session -->")
    );
    // A file naming nobody is copied byte for byte.
    assert_eq!(
        std::fs::read(out.join("PAT2/settings.xml")).unwrap(),
        std::fs::read(fixture("xml/no_match.xml")).unwrap()
    );

    // Assign the comparison by hand (by code), then it is written too.
    let code1 = p1["code"].as_str().unwrap();
    let o = run(
        tmp.path(),
        &["xml", inp, "--assign", &format!("comparison.xml={code1}")],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(tmp.path(), &["apply", "--yes", inp, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "broken.xml still unreadable");
    // Both patients' identifiers are replaced, each by that patient's own code.
    let cmp = std::fs::read_to_string(out.join("comparison.xml")).unwrap();
    let code2 = plan["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["patient_id"] == "MAP002")
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!cmp.contains("MAP001") && !cmp.contains("Mapping"), "{cmp}");
    assert!(cmp.contains(code1) && cmp.contains(&code2), "{cmp}");

    // Verify: XML outputs are what the plan makes of the inputs.
    let o = run(
        tmp.path(),
        &["verify", "--json", out.to_str().unwrap(), "--against", inp],
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let xml_problems: Vec<_> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["path"].as_str().unwrap().ends_with(".xml"))
        .collect();
    assert!(xml_problems.is_empty(), "{r:#}");
    // No patient's identifier is left in any XML output.
    let xml_residual: Vec<_> = r["residual"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["keyword"] == "XML")
        .collect();
    assert!(xml_residual.is_empty(), "{xml_residual:?}");

    // Tampering with an XML output is caught.
    std::fs::write(out.join("PAT1/session.xml"), session_out.replace("tech1", "tech2")).unwrap();
    let o = run(
        tmp.path(),
        &["verify", "--json", out.to_str().unwrap(), "--against", inp],
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == "PAT1/session.xml" && p["kind"] == "xml")
    );
}

//! dams' own words never carry what a file holds (issue 19, point 7): errors give the kind, the
//! path and the place, never element names or values; file names and values are printed
//! with their control characters escaped, so that a name with a line break cannot forge a
//! line; tables for spreadsheets never start a cell with a formula.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;

fn out_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `CT_small` with another patient (written by dicom-rs, not by dams).
fn ct_of(path: &Path, name: &str, id: &str) {
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let mut obj = dicom_object::OpenFileOptions::new()
        .open_file(fixture("pydicom/CT_small.dcm"))
        .unwrap();
    obj.put(DataElement::new(tags::PATIENT_NAME, VR::PN, name));
    obj.put(DataElement::new(tags::PATIENT_ID, VR::LO, id));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    obj.write_to_file(path).unwrap();
}

#[test]
fn errors_name_the_kind_and_place_never_the_content() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    ct_of(&input.join("a/ct.dcm"), "SMITH^JOHN", "PAT001");
    // An XML file whose element names are identifiers, with mismatched end tags.
    std::fs::write(
        input.join("a/notes.xml"),
        "<?xml version='1.0'?>\n<Log>\n  <SMITH_JOHN>x</PAT001_19610423>\n</Log>\n",
    )
    .unwrap();
    // A declaration naming an "encoding" that is an identifier.
    std::fs::write(
        input.join("a/enc.xml"),
        "<?xml version='1.0' encoding='SMITH-JOHN-1961'?><Log/>",
    )
    .unwrap();
    // A DICOM file whose transfer syntax UID carries a name.
    let mut ct = std::fs::read(fixture("pydicom/CT_small.dcm")).unwrap();
    let ts = b"1.2.840.10008.1.2.1\0";
    let at = ct.windows(ts.len()).position(|w| w == ts).unwrap();
    ct[at..at + ts.len()].copy_from_slice(b"1.2.SMITH.JOHN.0000\0");
    std::fs::write(input.join("a/odd_ts.dcm"), &ct).unwrap();

    let o = dams(tmp.path()).args(["scan", "--json"]).arg(&input).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let reasons: Vec<(String, String)> = json["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["path"].as_str().unwrap().to_string(),
                u["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |p: &str| {
        reasons
            .iter()
            .find(|(q, _)| q == p)
            .map_or_else(|| panic!("{p} should be unreadable: {reasons:?}"), |(_, r)| r.clone())
    };
    let notes = reason("a/notes.xml");
    assert!(notes.contains("3:"), "the place is given: {notes}");
    let enc = reason("a/enc.xml");
    let odd = reason("a/odd_ts.dcm");
    assert!(odd.contains("unsupported transfer syntax"), "{odd}");
    for r in [&notes, &enc, &odd] {
        for leaked in ["SMITH", "JOHN", "PAT001", "19610423"] {
            assert!(!r.contains(leaked), "{leaked} in {r}");
        }
    }
    // The text report says the same.
    let o = dams(tmp.path()).arg("scan").arg(&input).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("SMITH_JOHN") && !text.contains("PAT001_"), "{text}");
}

#[test]
fn a_damaged_key_store_is_described_by_field_not_value() {
    let tmp = tempfile::tempdir().unwrap();
    // A key.json (an earlier dams', or `key export --json`) is read when it is migrated.
    let db = tmp.path().join("made.db");
    let key = tmp.path().join("key.json");
    assert!(
        dams(tmp.path())
            .args(["key", "init", "--key"])
            .arg(&db)
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        dams(tmp.path())
            .args(["key", "export", "--json", "-o"])
            .arg(&key)
            .arg("--key")
            .arg(&db)
            .output()
            .unwrap()
            .status
            .success()
    );
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&key).unwrap()).unwrap();
    v["entries"] = serde_json::json!([{
        "patient_id": 778899123u64, "code": "P0001", "patient_name": "SMITH^JOHN",
        "birth_date": "19610423", "source": "x", "added": "now"
    }]);
    std::fs::write(&key, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let o = dams(tmp.path())
        .args(["key", "info", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let text = out_text(&o);
    assert!(text.contains("entries[0].patient_id"), "names the field: {text}");
    assert!(!text.contains("778899123") && !text.contains("SMITH"), "{text}");
}

#[cfg(unix)]
#[test]
fn file_names_and_values_cannot_forge_lines_or_reach_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let forged = "x\nwrote 999 file(s) to /elsewhere\n\x1b[2J\x07.dcm";
    ct_of(&input.join("dir").join(forged), "SMITH^JOHN\x1b]0;owned\x07", "PAT001");
    let out = tmp.path().join("out");
    for args in [
        vec!["scan".to_string()],
        vec!["plan".to_string(), "--files".to_string()],
        vec![
            "apply".to_string(),
            "--yes".to_string(),
            "--out".to_string(),
            out.to_string_lossy().into_owned(),
        ],
    ] {
        let o = dams(tmp.path()).args(&args).arg(&input).output().unwrap();
        let text = out_text(&o);
        assert!(
            !text.contains('\x1b') && !text.contains('\x07'),
            "{args:?}: raw control characters: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("wrote 999")),
            "{args:?}: a file name forged a line: {text}"
        );
        if args[0] != "apply" {
            assert!(
                text.contains("x\\nwrote 999"),
                "{args:?}: the name is shown escaped: {text}"
            );
        }
    }
}

#[test]
fn key_export_guards_formulas_and_import_reads_them_back() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key.json");
    let input = tmp.path().join("in");
    ct_of(
        &input.join("a.dcm"),
        "=HYPERLINK(\"http://evil\")^x",
        "=cmd|' /C calc'!A0",
    );
    ct_of(&input.join("b.dcm"), "@SUM(1)", "+4711");
    let o = dams(tmp.path())
        .args(["apply", "--yes", "--key"])
        .arg(&key)
        .arg(&input)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out_text(&o));
    let o = dams(tmp.path())
        .args(["key", "export", "--csv", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out_text(&o));
    let csv = String::from_utf8(o.stdout).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    for rec in rdr.records() {
        for cell in &rec.unwrap() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell starts a formula: {cell:?} in\n{csv}"
            );
        }
    }
    assert!(csv.contains("'=cmd|") && csv.contains("'+4711"), "{csv}");
    // Imported into another key, the IDs are the original ones again.
    let csv_path = tmp.path().join("key.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    let other = tmp.path().join("other.json");
    let o = dams(tmp.path())
        .args([
            "key",
            "import",
            "--id-column",
            "patient_id",
            "--code-column",
            "code",
            "--key",
        ])
        .arg(&other)
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out_text(&o));
    let store = dams::key::KeyStore::open(&other).unwrap();
    let mut ids: Vec<&str> = store.entries().iter().map(|e| e.patient_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["+4711", "=cmd|' /C calc'!A0"]);
}

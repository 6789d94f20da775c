//! In-place mode: files are replaced where they are (never written under a new name beside
//! an original that keeps its identifiers), and the key store may not live in the folder
//! being replaced.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// `CT_small`'s `PatientID` is "1CT1": a folder of that name would be renamed to the code in an
/// output folder; in place, the file inside it is replaced and the name is kept, with a
/// warning that says so.
#[test]
fn in_place_replaces_files_where_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    stage(&input, &[("pydicom/CT_small.dcm", "1CT1/ct.dcm")]);
    let key = tmp.path().join("keys/key.json");

    // What an output folder gets: the folder renamed.
    let o = dams(&tmp.path().join("data"))
        .args(["apply", "--yes", "--json", "--key"])
        .arg(&key)
        .arg(&input)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tmp.path().join("out/P0001/ct.dcm").exists());

    let o = dams(&tmp.path().join("data"))
        .args(["apply", "--yes", "--in-place", "--key"])
        .arg(&key)
        .arg(&input)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("replaced 1 file(s) in place"), "{text}");
    assert!(
        text.contains("1 file(s) have a file or folder name that holds a patient identifier"),
        "{text}"
    );
    let files: Vec<_> = tree(&input).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        files,
        vec![std::path::PathBuf::from("1CT1/ct.dcm")],
        "nothing beside it"
    );
    let p = dams::dicom::parse::parse_file(&input.join("1CT1/ct.dcm")).unwrap();
    assert_eq!(p.top_string(dams::dicom::tags::PATIENT_ID).as_deref(), Some("P0001"));
}

/// The key holds the original identifiers: in place, the folder being replaced is what will
/// be shared, so a key inside it is refused before anything happens.
#[test]
fn key_inside_the_folder_replaced_in_place_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    stage(&input, &[("pydicom/CT_small.dcm", "a/ct.dcm")]);
    let before = tree(&input);
    let o = dams(&tmp.path().join("data"))
        .args(["apply", "--yes", "--in-place", "--key"])
        .arg(input.join("keys/key.json"))
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("is inside the folder being replaced in place"),
        "{stderr}"
    );
    assert_eq!(tree(&input), before, "nothing written, no key made");
}

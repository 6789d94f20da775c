//! Identifiers in every spelling (issue 13), end to end: a DICOM file and an XML file holding
//! each spelling of a patient's name, ID and birth date, planned and applied. Under the
//! default profile every spelling is replaced in the DICOM (its `[clean]` pass over free
//! text) and in the XML; with the pass switched off, verify finds each that is left.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;

const LATIN: (&str, &str, &str) = ("Müller^Hans", "778899123", "19610423");
const CJK: (&str, &str, &str) = ("Yamada^Tarou=山田^太郎=やまだ^たろう", "JP0042", "19700102");

/// (patient, text holding one spelling, whether the patient's code replaces it).
const SPELLINGS: &[(usize, &str, bool)] = &[
    (0, "CT THORAX pre-op MÜLLER", true),
    (0, "seen by Dr. X for Mu\u{308}ller", true),
    (0, "MUELLER HANS follow-up", true),
    (0, "Hans Muller", true),
    (0, "Müller, Hans", true),
    (0, "MRN778899123", true),
    (0, "ref 0778899123", true),
    (0, "born 23 APR 1961", false),
    (0, "DOB April 23, 1961", false),
    (0, "geb. 23.4.1961", false),
    (0, "dob 610423", false),
    (1, "山田 follow-up", true),
    (1, "患者山田太郎様", true),
    (1, "TAROU YAMADA", true),
];

/// The part of each text that must be gone.
fn spelled(text: &str) -> &str {
    for lead in [
        "CT THORAX pre-op ",
        "seen by Dr. X for ",
        "born ",
        "DOB ",
        "geb. ",
        "dob ",
        "ref ",
    ] {
        if let Some(rest) = text.strip_prefix(lead) {
            return rest;
        }
    }
    text.trim_end_matches(" follow-up")
        .trim_end_matches("様")
        .trim_start_matches("患者")
        .trim_start_matches("MRN")
}

fn ct(path: &Path, (name, id, birth): (&str, &str, &str), comment: &str) {
    let mut obj = dicom_object::OpenFileOptions::new()
        .open_file(fixture("pydicom/CT_small.dcm"))
        .unwrap();
    obj.put(DataElement::new(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    obj.put(DataElement::new(tags::PATIENT_NAME, VR::PN, name));
    obj.put(DataElement::new(tags::PATIENT_ID, VR::LO, id));
    obj.put(DataElement::new(tags::PATIENT_BIRTH_DATE, VR::DA, birth));
    obj.put(DataElement::new(tags::STUDY_ID, VR::SH, "S1"));
    obj.put(DataElement::new(tags::IMAGE_COMMENTS, VR::LT, comment));
    let sop = format!(
        "1.2.826.0.1.3680043.8.498.{}",
        path.to_string_lossy().len() * 7919 + comment.len()
    );
    obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str()));
    obj.remove_element(tags::OTHER_PATIENT_I_DS_SEQUENCE);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    obj.write_to_file(path).unwrap();
}

fn input(dir: &Path) {
    for (k, (who, text, _)) in SPELLINGS.iter().enumerate() {
        let patient = [LATIN, CJK][*who];
        let folder = dir.join(format!("patient{who}"));
        ct(&folder.join(format!("IM{k:02}.dcm")), patient, text);
        std::fs::write(
            folder.join(format!("note{k:02}.xml")),
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<note><text>{text}</text></note>\n"),
        )
        .unwrap();
    }
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

fn text_of(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

#[test]
fn every_spelling_is_replaced_in_dicom_and_xml() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, out) = (tmp.path().join("in"), tmp.path().join("out"));
    input(&inp);
    let report = apply_lib(&inp, &out, &tmp.path().join("key.db"), None);
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    let written = files(&out, "dcm");
    assert_eq!(written.len(), SPELLINGS.len());
    let mut comments = Vec::new();
    for f in &written {
        let (_, obj) = read_dicom_rs(f);
        let code = text_of(&obj, tags::PATIENT_ID);
        let comment = text_of(&obj, tags::IMAGE_COMMENTS);
        comments.push((code, comment));
    }
    for (_, text, _) in SPELLINGS {
        let gone = spelled(text);
        assert!(
            comments.iter().all(|(_, c)| !c.contains(gone)),
            "{gone:?} is left: {comments:?}"
        );
    }
    // The codes stand where the spellings were, each patient's own.
    let coded = comments.iter().filter(|(code, c)| c.contains(code.as_str())).count();
    assert_eq!(coded, SPELLINGS.iter().filter(|s| s.2).count(), "{comments:?}");
    assert!(comments.iter().any(|(_, c)| c == "born 01 Jan 1961"), "{comments:?}");
    for expected in [
        "dob 610101",
        "geb. 1.1.1961",
        "MRNP0001",
        "ref P0001",
        "患者P0002様",
        "P0001 follow-up",
    ] {
        assert!(comments.iter().any(|(_, c)| c == expected), "{expected}: {comments:?}");
    }

    let xml = files(&out, "xml");
    assert_eq!(xml.len(), SPELLINGS.len());
    let all: String = xml.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    for (_, text, _) in SPELLINGS {
        assert!(
            !all.contains(spelled(text)),
            "{:?} is left in the XML:\n{all}",
            spelled(text)
        );
    }
}

#[test]
fn verify_finds_every_spelling_left() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, out) = (tmp.path().join("in"), tmp.path().join("out"));
    input(&inp);
    let key = tmp.path().join("key.db");
    let profile = tmp.path().join("no-clean.toml");
    let text = dams::profile::builtin_text("seed")
        .unwrap()
        .replace("[clean]\ndicom = true", "[clean]\ndicom = false");
    std::fs::write(&profile, text).unwrap();
    apply_lib(&inp, &out, &key, Some(profile.to_str().unwrap()));
    // Without the clean pass ImageComments is kept: every file still holds its spelling there.
    let o = dams(tmp.path())
        .args([
            "verify",
            out.to_str().unwrap(),
            "--against",
            inp.to_str().unwrap(),
            "--json",
            "--key",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut found: Vec<String> = r["residual"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["element"] == "(0020,4000)")
        .map(|x| x["path"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    found.dedup();
    assert_eq!(found.len(), SPELLINGS.len(), "{r:#}");
    // And nothing of it is printed.
    let stdout = String::from_utf8_lossy(&o.stdout);
    for (_, text, _) in SPELLINGS {
        assert!(!stdout.contains(spelled(text)));
    }
}

//! Inputs the fuzzers found (tests/fixtures/fuzz/), run through the same steps as the fuzz
//! targets in fuzz/: they must give an error or a result, never a panic, and what is
//! rewritten must read again. Also the fixtures themselves, so the steps stay in step with
//! the targets.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use dams::dicom::parse::parse_bytes;
use dams::dicom::rewrite;
use dams::matcher::Identifiers;
use dams::plan::Planner;
use dams::profile::Profile;
use dams::scan::Identity;
use dams::xml::{self, XmlContext};

/// `fuzz/fuzz_targets/header.rs` and rewrite.rs.
fn dicom_steps(data: &[u8]) {
    let Ok(parsed) = parse_bytes(data.to_vec()) else { return };
    let rel = Path::new("f.dcm");
    let header = dams::scan::header::from_parsed(&parsed, rel, data.len() as u64, None);
    let mut index = dams::scan::Index::new(Path::new("/fuzz"));
    index.add(header);
    index.finish();
    serde_json::to_vec(&index).unwrap();
    let Some(patient) = index.patients.first() else { return };
    let key = dams::key::KeyStore::open(Path::new("/nonexistent/dams-fuzz/key.json")).unwrap();
    for name in ["seed", "basic"] {
        let planner = dams::plan::prepare(
            &index,
            Profile::resolve(Some(name), &[]).unwrap(),
            &key,
            &dams::review::Workspace::default(),
        )
        .planner;
        let Ok(fp) = planner.plan_parsed(&parsed, rel, &patient.patient_id) else {
            continue;
        };
        serde_json::to_vec(&fp).unwrap();
        let changes = Planner::changes(&fp);
        let Ok(rendered) = rewrite::render_with(
            &parsed,
            &changes,
            Planner::inserts(&fp),
            fp.clear_preamble,
            Planner::file_meta(&fp),
        ) else {
            continue;
        };
        let mut out = Vec::new();
        rewrite::write_pieces(&parsed, &rendered.pieces, &mut out).unwrap();
        if !parsed.layout.deflated {
            parse_bytes(out).unwrap_or_else(|e| panic!("{name}: the rewritten file does not parse: {e}"));
        }
    }
}

/// `fuzz/fuzz_targets/xml.rs`.
fn xml_steps(data: &[u8]) {
    let mut who = Identity::default();
    who.ids.insert("MAP001".into());
    who.names.insert("Mapping^Alice^Q".into());
    who.birth_dates.insert("19500317".into());
    who.other_ids.insert("MAP002".into());
    who.other_names.insert("Mapping^Bob".into());
    let rules = Profile::resolve(None, &[]).unwrap().xml;
    let ctx = XmlContext::new("P0001", &who);
    let ids = Identifiers::new(&who);
    let _ = xml::residual(data, &ids);
    let Ok(plan) = xml::plan(data, &rules, &ctx) else {
        return;
    };
    serde_json::to_vec(&plan).unwrap();
    let out = xml::rewrite_to_vec(data, &plan).unwrap();
    xml::check(&out).unwrap_or_else(|e| panic!("the rewritten file is not well-formed: {e}"));
    let _ = xml::residual(&out, &ids);
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect();
    v.sort();
    v
}

#[test]
fn fuzz_findings_do_not_panic() {
    let dir = common::fixture("fuzz");
    for f in files_in(&dir) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&f).unwrap();
        if name.ends_with(".md") {
            continue;
        }
        eprintln!("{name}");
        if name.ends_with(".xml") {
            xml_steps(&data);
        } else {
            dicom_steps(&data);
        }
    }
}

#[test]
fn fixtures_go_through_the_fuzz_steps() {
    for f in files_in(&common::fixtures()) {
        let data = std::fs::read(&f).unwrap();
        match f.extension().and_then(|e| e.to_str()) {
            Some("dcm") => dicom_steps(&data),
            Some("xml") => xml_steps(&data),
            _ => {}
        }
    }
}

/// A deflated file read into memory inflates like one read from disk (the fuzzers only
/// reach the inflate step this way).
#[test]
fn deflated_bytes_parse_in_memory() {
    let path = common::fixture("pydicom/image_dfl.dcm");
    let from_file = dams::dicom::parse::parse_file(&path).unwrap();
    let from_bytes = parse_bytes(std::fs::read(&path).unwrap()).unwrap();
    assert!(from_bytes.layout.deflated);
    assert_eq!(from_bytes.elements.len(), from_file.elements.len());
}

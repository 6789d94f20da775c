//! Longitudinal research (issue 15): under `--option retain-longitudinal-modified-dates` every
//! date of a patient moves by one offset — in the DICOM and in the XML beside it — so every
//! interval stays; the offset comes from the key (the same on every run and every machine
//! sharing it), is recorded there, can be looked up and imported; verify checks it.
//!
//! The input is `tests/fixtures/longitudinal/`: one patient with three studies on different
//! days, made with pydicom from pydicom's own `CT_small.dcm` and `MR_small.dcm` (see the fixtures'
//! README), and an XML file with dates in several written forms.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use dicom_core::Tag;
use dicom_dictionary_std::tags;

const MODIFIED: &str = "retain-longitudinal-modified-dates";

/// The fixture's files (relative) with their dates, as pydicom wrote them.
const FILES: [&str; 3] = ["baseline/IM0001.dcm", "followup1/IM0001.dcm", "followup2/IM0001.dcm"];

fn day_number(da: &str) -> i64 {
    let (y, m, d) = (&da[..4], &da[4..6], &da[6..8]);
    dams::values::shift::days_from_civil(y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap())
}

fn value(path: &Path, tag: Tag) -> String {
    let (_, obj) = read_dicom_rs(path);
    obj.element(tag)
        .map(|e| e.to_str().unwrap().trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

/// Every date of a file that the shift must move: study, series, acquisition, content, birth,
/// and the date of `AcquisitionDateTime`.
fn dates_of(path: &Path) -> Vec<(Tag, String)> {
    [
        tags::STUDY_DATE,
        tags::SERIES_DATE,
        tags::ACQUISITION_DATE,
        tags::CONTENT_DATE,
        tags::PATIENT_BIRTH_DATE,
        tags::ACQUISITION_DATE_TIME,
    ]
    .into_iter()
    .map(|t| (t, value(path, t)))
    .collect()
}

/// The ISO dates (YYYY-MM-DD) of a text, in order, as day numbers.
fn iso_days(text: &str) -> Vec<i64> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for i in 0..b.len().saturating_sub(9) {
        let s = &text[i..i + 10];
        let ok = s.bytes().enumerate().all(|(k, c)| match k {
            4 | 7 => c == b'-',
            _ => c.is_ascii_digit(),
        });
        if ok && (i == 0 || !b[i - 1].is_ascii_digit()) {
            out.push(day_number(&s.replace('-', "")));
        }
    }
    out
}

/// `dams apply INPUT --out OUT ARGS… --yes`, which must succeed.
fn run_apply(data: &Path, input: &Path, out: &Path, args: &[&str]) {
    let o = dams(data)
        .arg("apply")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(args)
        .arg("--yes")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A profile file: `basic` with `[dates]` lines of its own.
fn basic_with(dir: &Path, dates: &str) -> PathBuf {
    let profile = dir.join(format!("basic-{}.toml", dates.len()));
    let basic = dams::profile::builtin_text("basic").unwrap();
    std::fs::write(&profile, format!("{basic}\n[dates]\n{dates}\n")).unwrap();
    profile
}

/// The fixture written with the Modified Dates option under this profile file.
fn apply_modified(data: &Path, out: &Path, profile: &Path) {
    let args = [
        "--profile",
        profile.to_str().unwrap(),
        "--option",
        MODIFIED,
        "--accept-burned-in",
    ];
    run_apply(data, &fixture("longitudinal"), out, &args);
}

/// The fixture written under `basic`, with `extra` arguments.
fn apply(data: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec!["--profile", "basic", "--accept-burned-in"];
    args.extend(extra);
    run_apply(data, &fixture("longitudinal"), out, &args);
}

fn lookup_offset(data: &Path, code: &str) -> Option<i64> {
    let o = dams(data).args(["key", "lookup", code]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("date offset:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The offset every date of the output moved by, checked to be one for all of them.
fn the_one_offset(out: &Path) -> i64 {
    let input = fixture("longitudinal");
    let mut offsets = std::collections::BTreeSet::new();
    for f in FILES {
        for ((tag, before), (_, after)) in dates_of(&input.join(f)).into_iter().zip(dates_of(&out.join(f))) {
            assert!(
                !before.is_empty() && !after.is_empty(),
                "{f} {tag}: {before:?} → {after:?}"
            );
            offsets.insert(day_number(&after) - day_number(&before));
            if tag == tags::ACQUISITION_DATE_TIME {
                assert_eq!(&after[8..], &before[8..], "{f}: time, fraction and UTC offset stay");
            }
        }
        assert_eq!(
            value(&out.join(f), tags::STUDY_TIME),
            value(&input.join(f), tags::STUDY_TIME),
            "times stay"
        );
        assert_eq!(
            value(&out.join(f), tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED),
            "MODIFIED"
        );
    }
    assert_eq!(offsets.len(), 1, "one offset for every date: {offsets:?}");
    *offsets.iter().next().unwrap()
}

#[test]
fn every_interval_survives_in_dicom_and_xml_and_the_key_holds_the_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    apply(&data, &out, &["--option", MODIFIED]);
    let days = the_one_offset(&out);
    assert!((-3650..=-365).contains(&days), "the default range: {days}");
    assert_eq!(
        lookup_offset(&data, "P0001"),
        Some(days),
        "key lookup gives the offset back"
    );

    // Intervals between every pair of dates, over the three studies and the birth date.
    let input = fixture("longitudinal");
    let all = |root: &Path| -> Vec<i64> {
        FILES
            .iter()
            .flat_map(|f| dates_of(&root.join(f)))
            .map(|(_, d)| day_number(&d))
            .collect()
    };
    let (before, after) = (all(&input), all(&out));
    for i in 0..before.len() {
        for j in 0..before.len() {
            assert_eq!(after[i] - after[j], before[i] - before[j]);
        }
    }

    // The XML: the same offset for every date, in every form; a UID holding digits that look
    // like a date is left alone; no original date survives.
    let xml_in = std::fs::read_to_string(input.join("clinical.xml")).unwrap();
    let xml_out = std::fs::read_to_string(out.join("clinical.xml")).unwrap();
    let (a, b) = (iso_days(&xml_in), iso_days(&xml_out));
    assert_eq!(a.len(), 4, "{xml_in}");
    assert_eq!(b.len(), a.len(), "{xml_out}");
    assert!(a.iter().zip(&b).all(|(x, y)| y - x == days), "{xml_out}");
    for original in [
        "2004-01-19",
        "20040119 ",
        "30.12.2003",
        "2 Mar 2004",
        "February 28, 2005",
        "LONG001",
        "Lange",
    ] {
        assert!(!xml_out.contains(original), "{original} left in {xml_out}");
    }
    assert!(xml_out.contains("1.2.826.0.1.3680043.20040119.1"), "{xml_out}");
    let shifted = |da: &str| {
        let (y, m, d) = dams::values::shift::civil_from_days(day_number(da) + days);
        (y, m, d)
    };
    let (y, m, d) = shifted("20031230");
    assert!(xml_out.contains(&format!("first seen {d:02}.{m:02}.{y}")), "{xml_out}");
    let (y, m, d) = shifted("20040119");
    assert!(
        xml_out.contains(&format!("baseline CT on {y}{m:02}{d:02}")),
        "{xml_out}"
    );

    // verify agrees: every shifted element moved by the patient's offset.
    assert_verifies_clean(&data, &out, &input);
}

#[test]
fn two_runs_and_two_machines_sharing_the_key_give_the_same_dates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    apply(&data, &one, &["--option", MODIFIED]);
    apply(&data, &two, &["--option", MODIFIED]);
    assert_eq!(tree(&one), tree(&two), "a second run writes the same bytes");

    // Another machine: the key moved as its JSON export into a new store elsewhere.
    let export = tmp.path().join("key.json");
    let o = dams(&data)
        .args(["key", "export", "--json", "-o"])
        .arg(&export)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let other = tmp.path().join("other-machine");
    let o = dams(&other).args(["key", "import"]).arg(&export).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let three = tmp.path().join("three");
    apply(&other, &three, &["--option", MODIFIED]);
    assert_eq!(
        tree(&one),
        tree(&three),
        "the same key on another machine writes the same bytes"
    );

    // A recorded offset stays the patient's, whatever range a later profile sets.
    let days = the_one_offset(&one);
    let profile = basic_with(tmp.path(), r"shift-days = [-10, -10]");
    let four = tmp.path().join("four");
    apply_modified(&data, &four, &profile);
    assert_eq!(the_one_offset(&four), days);
}

#[test]
fn the_profiles_range_and_an_imported_offset_are_used() {
    let tmp = tempfile::tempdir().unwrap();
    // A range of one day: the offset is that day.
    let data = tmp.path().join("data");
    let profile = basic_with(tmp.path(), r"shift-days = [-10, -10]");
    let out = tmp.path().join("out");
    apply_modified(&data, &out, &profile);
    assert_eq!(the_one_offset(&out), -10);
    assert_eq!(lookup_offset(&data, "P0001"), Some(-10));

    // An offset imported with the code is the one used.
    let data = tmp.path().join("imported");
    let table = tmp.path().join("codes.csv");
    std::fs::write(&table, "PatientID;code;shift\nLONG001;STUDY-017;-4242\n").unwrap();
    let o = dams(&data)
        .args(["key", "import"])
        .arg(&table)
        .args(["--offset-column", "shift"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = tmp.path().join("out-imported");
    apply(&data, &out, &["--option", MODIFIED]);
    assert_eq!(the_one_offset(&out), -4242);
    assert_eq!(value(&out.join(FILES[0]), tags::PATIENT_ID), "STUDY-017");
}

#[test]
fn without_the_option_basic_removes_the_xmls_dates_and_the_default_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("basic");
    apply(&data, &out, &[]);
    let xml = std::fs::read_to_string(out.join("clinical.xml")).unwrap();
    assert!(iso_days(&xml).is_empty(), "{xml}");
    for gone in ["30.12.2003", "20040119 ", "2 Mar 2004", "February 28, 2005", "T10:15"] {
        assert!(!xml.contains(gone), "{gone} left in {xml}");
    }
    assert!(xml.contains("1.2.826.0.1.3680043.20040119.1"), "{xml}");
    assert_eq!(lookup_offset(&data, "P0001"), None, "nothing shifted, nothing recorded");

    // The default profile keeps study dates (and the XML's); with the option, only the birth
    // date (its keep-year line) moves.
    let seed = tmp.path().join("seed");
    run_apply(&data, &fixture("longitudinal"), &seed, &["--option", MODIFIED]);
    let input = fixture("longitudinal");
    let f: PathBuf = FILES[0].into();
    assert_eq!(
        value(&seed.join(&f), tags::STUDY_DATE),
        value(&input.join(&f), tags::STUDY_DATE)
    );
    let days = lookup_offset(&data, "P0001").expect("recorded");
    let birth = value(&seed.join(&f), tags::PATIENT_BIRTH_DATE);
    assert_eq!(day_number(&birth) - day_number("19610423"), days);
    assert!(
        std::fs::read_to_string(seed.join("clinical.xml"))
            .unwrap()
            .contains("2004-01-19")
    );

    // An option the profile cannot take is refused before anything is done.
    let o = dams(&data)
        .arg("plan")
        .arg(&input)
        .args(["--option", "retain-uids"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("retain-uids"));
    let o = dams(&data)
        .arg("plan")
        .arg(&input)
        .args(["--option", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// A copy of a fixture file as another patient, or with other comments.
fn variant(from: &Path, to: &Path, edit: impl FnOnce(&mut dicom_object::DefaultDicomObject)) {
    use dicom_core::{DataElement, VR};
    let mut obj = dicom_object::OpenFileOptions::new().open_file(from).unwrap();
    edit(&mut obj);
    let sop = obj
        .element(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let sop = format!("{}.9", sop.trim_end_matches('\0'));
    obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str()));
    obj.meta_mut().media_storage_sop_instance_uid = sop;
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    obj.write_to_file(to).unwrap();
}

/// Two patients born on the same day and scanned on the same day: each file's text moves by
/// its own patient's offset, never by the other's; a folder named by a study date moves with
/// it; `[dates] birth-date = "keep-year"` keeps only the birth date's year.
#[test]
fn shared_dates_move_by_the_owners_offset_and_folders_move_too() {
    use dicom_core::{DataElement, VR};
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    copy_tree(&fixture("longitudinal"), &input);
    let note = "DOB 19610423, seen 20040119";
    let base = fixture("longitudinal").join(FILES[0]);
    variant(&base, &input.join("baseline/IM0002.dcm"), |o| {
        o.put(DataElement::new(tags::IMAGE_COMMENTS, VR::LT, note));
    });
    variant(&base, &input.join("20040119_CT/IM0001.dcm"), |o| {
        o.put(DataElement::new(tags::PATIENT_ID, VR::LO, "LONG002"));
        o.put(DataElement::new(tags::PATIENT_NAME, VR::PN, "Other^Olga"));
        o.put(DataElement::new(tags::IMAGE_COMMENTS, VR::LT, note));
        o.put(DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.8.498.42",
        ));
    });

    // The default profile with the option: birth dates move, study dates stay.
    let data = tmp.path().join("data");
    let out = tmp.path().join("seed");
    run_apply(&data, &input, &out, &["--option", MODIFIED]);
    let moved = |da: &str, days: i64| {
        let (y, m, d) = dams::values::shift::civil_from_days(day_number(da) + days);
        format!("{y:04}{m:02}{d:02}")
    };
    let (one, two) = (
        lookup_offset(&data, "P0001").unwrap(),
        lookup_offset(&data, "P0002").unwrap(),
    );
    assert_ne!(one, two);
    let comment = |f: &str| value(&out.join(f), tags::IMAGE_COMMENTS);
    assert_eq!(
        comment("baseline/IM0002.dcm"),
        format!("DOB {}, seen 20040119", moved("19610423", one))
    );
    assert_eq!(
        comment("20040119_CT/IM0001.dcm"),
        format!("DOB {}, seen 20040119", moved("19610423", two))
    );

    // Basic with the option: study dates move too, in text and in the folder's name.
    let out = tmp.path().join("basic");
    run_apply(
        &data,
        &input,
        &out,
        &["--profile", "basic", "--option", MODIFIED, "--accept-burned-in"],
    );
    let folder = format!("{}_CT", moved("20040119", two));
    assert!(
        out.join(&folder).join("IM0001.dcm").is_file(),
        "{:?}",
        std::fs::read_dir(&out).unwrap().collect::<Vec<_>>()
    );
    assert!(!out.join("20040119_CT").exists());

    // [dates] birth-date = "keep-year": the birth date keeps its year, the rest moves.
    let profile = basic_with(tmp.path(), r#"birth-date = "keep-year""#);
    let out = tmp.path().join("keep");
    apply_modified(&data, &out, &profile);
    assert_eq!(value(&out.join(FILES[0]), tags::PATIENT_BIRTH_DATE), "19610101");
    assert_eq!(value(&out.join(FILES[0]), tags::STUDY_DATE), moved("20040119", one));
}

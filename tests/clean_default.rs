//! The default profile leaves no patient identifier in DICOM (issue 19, point 1): besides its
//! six tags, every free-text value that holds a patient's name, ID or birth date — private,
//! nested, `OtherPatientIDs` — gets the patient's code in its place; another patient named in a
//! file gets *their* code, with a warning; `AccessionNumber` and `ReferringPhysicianName` are kept
//! and reported as kept; dates, codes and numbers are never rewritten by the search; and
//! verify finds the output clean.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

const GARCIA: (&str, &str, &str) = ("GARCIA^MARY^A", "778899123", "19610423");
const DOE: (&str, &str, &str) = ("DOE^JANE", "PAT445566", "19700102");

/// `OtherPatientIDs`: retired, and still in many exports.
#[allow(deprecated)]
const OTHER_PATIENT_IDS: Tag = tags::OTHER_PATIENT_I_DS;
const PRIVATE_CREATOR: Tag = Tag(0x0033, 0x0010);
const PRIVATE_NAME: Tag = Tag(0x0033, 0x1010);
const PRIVATE_NUMBER: Tag = Tag(0x0033, 0x1011);

fn ct(path: &Path, (name, id, birth): (&str, &str, &str), uid: u32, extra: impl FnOnce(&mut InMemDicomObject)) {
    let mut obj = dicom_object::OpenFileOptions::new()
        .open_file(fixture("pydicom/CT_small.dcm"))
        .unwrap();
    obj.put(DataElement::new(tags::PATIENT_NAME, VR::PN, name));
    obj.put(DataElement::new(tags::PATIENT_ID, VR::LO, id));
    obj.put(DataElement::new(tags::PATIENT_BIRTH_DATE, VR::DA, birth));
    obj.put(DataElement::new(tags::STUDY_ID, VR::SH, "S1"));
    obj.remove_element(tags::OTHER_PATIENT_I_DS_SEQUENCE);
    let study = format!("1.2.826.0.1.3680043.8.498.7{uid}");
    obj.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, study.as_str()));
    let sop = format!("1.2.826.0.1.3680043.8.498.8{uid}");
    obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str()));
    obj.meta_mut().media_storage_sop_instance_uid = sop;
    extra(&mut obj);
    // The file meta names the SOP class the data set has (a test may change it).
    let class = obj
        .element(tags::SOP_CLASS_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string();
    obj.meta_mut().media_storage_sop_class_uid = class;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    obj.write_to_file(path).unwrap();
}

fn input(dir: &Path) {
    ct(&dir.join("garcia/ct.dcm"), GARCIA, 1, |o| {
        o.put(DataElement::new(PRIVATE_CREATOR, VR::LO, "ACME 1.0"));
        o.put(DataElement::new(PRIVATE_NAME, VR::LO, "GARCIA^MARY^A"));
        // A number that happens to be a short ID-like value: never rewritten.
        o.put(DataElement::new(PRIVATE_NUMBER, VR::IS, "778899123"));
        o.put(DataElement::new(OTHER_PATIENT_IDS, VR::LO, "MRN778899123"));
        o.put(DataElement::new(tags::ACCESSION_NUMBER, VR::SH, "ACC998877"));
        o.put(DataElement::new(
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            "HOUSE^GREGORY",
        ));
        o.put(DataElement::new(
            tags::IMAGE_COMMENTS,
            VR::LT,
            "compare prior of DOE JANE",
        ));
        // DOE's birth date as this study's date: a date, not free text, is never rewritten.
        o.put(DataElement::new(tags::STUDY_DATE, VR::DA, "19700102"));
        let item =
            InMemDicomObject::from_element_iter([DataElement::new(tags::REQUESTED_PROCEDURE_ID, VR::SH, "778899123")]);
        o.put(DataElement::new(
            tags::REQUEST_ATTRIBUTES_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![item]),
        ));
    });
    ct(&dir.join("doe/ct.dcm"), DOE, 2, |_| {});
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

/// `dams plan IN --json` and what it printed (it must succeed).
fn plan_json(data: &Path, inp: &Path, extra: &[&str]) -> serde_json::Value {
    let plan = dams(data)
        .arg("plan")
        .arg(inp)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    serde_json::from_slice(&plan.stdout).unwrap()
}

#[test]
fn the_default_profile_cleans_every_free_text_value_and_keeps_what_it_says() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    input(&inp);

    let plan = plan_json(&data, &inp, &[]);
    // The plan shows each cleaned value as a `clean` edit, and warns about the other patient
    // (by code) and about what stays (by kind).
    let garcia = plan["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["files"][0]["source"] == "garcia/ct.dcm")
        .unwrap();
    let file = &garcia["files"][0];
    let cleaned: Vec<&str> = file["edits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["rule"] == "clean")
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for path in [
        "(0010,1000)",
        "(0020,4000)",
        "(0033,1010)",
        "(0040,0275)[0]/(0040,1001)",
    ] {
        assert!(cleaned.contains(&path), "{path} is cleaned: {cleaned:?}");
    }
    assert_eq!(cleaned.len(), 4, "nothing else: {cleaned:?}");
    let warnings = file["warnings"].to_string();
    assert!(warnings.contains("names another patient"), "{warnings}");
    let residual: Vec<(&str, &str)> = file["residual"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["element"].as_str().unwrap(), r["identifier"].as_str().unwrap()))
        .collect();
    assert!(residual.contains(&("(0008,0050)", "accession-number")), "{residual:?}");
    assert!(
        residual.contains(&("(0008,0090)", "referring-physician")),
        "{residual:?}"
    );
    assert!(residual.contains(&("(0033,1011)", "patient-id")), "{residual:?}");
    let applied = dams(&data)
        .arg("apply")
        .arg(&inp)
        .arg("--out")
        .arg(&out)
        .args(["--yes", "--json"])
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    // The report says what stays, as the prompt and the review screen do.
    let report: serde_json::Value = serde_json::from_slice(&applied.stdout).unwrap();
    let stays = &report["stays"];
    let listed = |key: &str| -> Vec<String> {
        stays[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                format!(
                    "{} {} {}",
                    x["element"].as_str().unwrap(),
                    x["identifier"].as_str().unwrap(),
                    x["files"]
                )
            })
            .collect()
    };
    assert_eq!(
        listed("kept"),
        ["(0008,0050) accession-number 1", "(0008,0090) referring-physician 1"],
        "{stays:#}"
    );
    assert_eq!(listed("residual"), ["(0033,1011) patient-id 1"], "{stays:#}");
    assert!(
        stays["warnings"].to_string().contains("names another patient"),
        "{stays:#}"
    );

    let key = dams::key::KeyStore::open(&data.join("key.db")).unwrap();
    let (garcia_code, doe_code) = (
        key.code_for(GARCIA.1).unwrap().to_string(),
        key.code_for(DOE.1).unwrap().to_string(),
    );
    let (_, o) = read_dicom_rs(&out.join(format!("{garcia_code}/ct.dcm")));
    assert_eq!(text(&o, PRIVATE_NAME), garcia_code);
    // OtherPatientIDs is one of the patient's IDs itself: all of it is the code.
    assert_eq!(text(&o, OTHER_PATIENT_IDS), garcia_code);
    assert_eq!(text(&o, tags::IMAGE_COMMENTS), format!("compare prior of {doe_code}"));
    let seq = o.element(tags::REQUEST_ATTRIBUTES_SEQUENCE).unwrap();
    let item = &seq.items().unwrap()[0];
    assert_eq!(text(item, tags::REQUESTED_PROCEDURE_ID), garcia_code);
    // Kept, as the profile says.
    assert_eq!(text(&o, tags::ACCESSION_NUMBER), "ACC998877");
    assert_eq!(text(&o, tags::REFERRING_PHYSICIAN_NAME), "HOUSE^GREGORY");
    assert_eq!(text(&o, tags::STUDY_DATE), "19700102");
    assert_eq!(text(&o, PRIVATE_NUMBER), "778899123");
    assert_eq!(text(&o, PRIVATE_CREATOR), "ACME 1.0");

    // verify: the kept values are listed as kept, the number as residual (it is one).
    let v = dams(&data)
        .arg("verify")
        .arg(&out)
        .arg("--against")
        .arg(&inp)
        .arg("--json")
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let kinds = |key: &str| -> Vec<String> {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                format!(
                    "{} {}",
                    x["element"].as_str().unwrap(),
                    x["identifier"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        kinds("kept"),
        ["(0008,0050) accession-number", "(0008,0090) referring-physician"],
        "{r:#}"
    );
    assert_eq!(kinds("residual"), ["(0033,1011) patient-id"], "{r:#}");
    assert_eq!(v.status.code(), Some(1), "the number is a real residual");
}

/// With the number gone too, the same output verifies clean: exit 0, the kept values listed.
#[test]
fn an_output_with_only_kept_values_verifies_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    ct(&inp.join("garcia/ct.dcm"), GARCIA, 1, |o| {
        o.put(DataElement::new(tags::ACCESSION_NUMBER, VR::SH, "ACC998877"));
        o.put(DataElement::new(tags::IMAGE_COMMENTS, VR::LT, "GARCIA MARY follow-up"));
    });
    let applied = dams(&data)
        .arg("apply")
        .arg(&inp)
        .arg("--out")
        .arg(&out)
        .args(["--yes", "--json"])
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let v = dams(&data)
        .arg("verify")
        .arg(&out)
        .arg("--against")
        .arg(&inp)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("kept by the profile on purpose"), "{stdout}");
    assert!(stdout.contains("AccessionNumber"), "{stdout}");
    assert!(!stdout.contains("ACC998877") && !stdout.contains("GARCIA"), "{stdout}");
}

/// `dams apply` without `--yes`, in a terminal: before it asks, it says what stays — the
/// same lines as the report — and answering no writes nothing.
#[test]
fn the_prompt_says_what_stays_before_it_asks() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::Read;
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let (inp, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    input(&inp);
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_dams"));
    cmd.args(["apply".as_ref(), inp.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    cmd.env("DAMS_DATA_DIR", &data);
    cmd.env_remove("DAMS_KEY");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let shown = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    let started = Instant::now();
    while !text().contains("Write 2 files?") {
        assert!(started.elapsed() < Duration::from_mins(1), "never asked: {}", text());
        std::thread::sleep(Duration::from_millis(10));
    }
    let asked = text();
    for line in [
        "warning:   kept: (0008,0050) AccessionNumber, the accession number, in 1 file",
        "warning:   (0033,1011) Private still holds the patient ID in 1 file",
        "names another patient of this batch; replaced by their code",
    ] {
        assert!(asked.contains(line), "{line}: {asked}");
    }
    for leak in ["ACC998877", "HOUSE", "GARCIA", "778899123"] {
        assert!(!asked.contains(leak), "the prompt shows no value: {leak}");
    }
    let mut writer = pty.master.take_writer().unwrap();
    std::io::Write::write_all(&mut writer, b"n\r").unwrap();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_mins(1), "did not finish");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.exit_code(), 1, "{}", text());
    // The reader may not have read the last words yet when the process is gone.
    let ended = Instant::now();
    while !text().contains("Nothing was written.") && ended.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(text().contains("Nothing was written."), "{}", text());
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}

/// The preamble (128 bytes any application may fill) is zeroed under the default profile
/// too, and the plan says so; the header of a DICOM file that is also a TIFF file stays.
#[test]
fn the_preamble_is_zeroed_unless_it_is_a_tiff_header() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, out, data) = (tmp.path().join("in"), tmp.path().join("out"), tmp.path().join("data"));
    ct(&inp.join("a/ct.dcm"), GARCIA, 1, |_| {});
    ct(&inp.join("b/ct.dcm"), DOE, 2, |_| {});
    let with_preamble = |path: &Path, preamble: &[u8]| {
        let mut bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[128..132], b"DICM");
        bytes[..preamble.len()].copy_from_slice(preamble);
        std::fs::write(path, bytes).unwrap();
    };
    with_preamble(&inp.join("a/ct.dcm"), b"exported for GARCIA^MARY^A 778899123");
    with_preamble(&inp.join("b/ct.dcm"), b"II*\0\x08\0\0\0");
    let plan = plan_json(&data, &inp, &[]);
    let edits: Vec<String> = plan["patients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["files"].as_array().unwrap().iter())
        .flat_map(|f| {
            let src = f["source"].as_str().unwrap().to_string();
            f["edits"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["path"] == "preamble")
                .map(move |_| src.clone())
        })
        .collect();
    assert_eq!(edits, ["a/ct.dcm"], "{plan:#}");
    let o = dams(&data)
        .arg("apply")
        .arg(&inp)
        .arg("--out")
        .arg(&out)
        .args(["--yes", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let key = dams::key::KeyStore::open(&data.join("key.db")).unwrap();
    let written = |id: &str, dir: &str| {
        let code = key.code_for(id).unwrap();
        let p = out.join(format!("{code}/ct.dcm"));
        let p = if p.exists() {
            p
        } else {
            out.join(format!("{dir}/ct.dcm"))
        };
        std::fs::read(p).unwrap()
    };
    let a = written(GARCIA.1, "a");
    assert!(a[..128].iter().all(|&b| b == 0), "zeroed");
    assert_eq!(&a[128..132], b"DICM");
    let b = written(DOE.1, "b");
    assert_eq!(&b[..8], b"II*\0\x08\0\0\0", "a TIFF header stays");
}

/// Images that may show identifiers in their pixels — `BurnedInAnnotation` YES, or a secondary
/// capture that does not say NO — are listed under every profile, and the Basic Profile
/// writes them only with `--accept-burned-in` (or approved in review); an explicit NO is
/// believed.
#[test]
fn images_that_may_show_identifiers_are_listed_and_gated_under_basic() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let sc = dicom_dictionary_std::uids::SECONDARY_CAPTURE_IMAGE_STORAGE;
    ct(&inp.join("p/burned.dcm"), GARCIA, 1, |o| {
        o.put(DataElement::new(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"));
    });
    ct(&inp.join("p/capture.dcm"), GARCIA, 2, |o| {
        o.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, sc));
    });
    ct(&inp.join("p/capture_no.dcm"), GARCIA, 3, |o| {
        o.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, sc));
        o.put(DataElement::new(tags::BURNED_IN_ANNOTATION, VR::CS, "NO"));
    });
    ct(&inp.join("p/plain.dcm"), GARCIA, 4, |_| {});
    let apply = |out: &str, args: &[&str]| -> serde_json::Value {
        let o = dams(&data)
            .arg("apply")
            .arg(&inp)
            .arg("--out")
            .arg(tmp.path().join(out))
            .args(["--yes", "--json"])
            .args(args)
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)))
    };
    let listed = |r: &serde_json::Value| -> Vec<(String, u64)> {
        r["stays"]["burned_in"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["first"].as_str().unwrap().to_string(), b["files"].as_u64().unwrap()))
            .collect()
    };
    let failed = |r: &serde_json::Value| -> Vec<String> {
        r["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    // The default profile writes them all, and says which may show identifiers.
    let seed = apply("out-seed", &[]);
    assert_eq!(seed["written"], 4, "{seed:#}");
    let mut seen = listed(&seed);
    seen.sort();
    assert_eq!(
        seen,
        [("p/burned.dcm".to_string(), 1), ("p/capture.dcm".to_string(), 1)]
    );
    // The Basic Profile does not write them, with the reason, unless accepted.
    let basic = apply("out-basic", &["--profile", "basic"]);
    assert_eq!(basic["written"], 2, "{basic:#}");
    assert_eq!(failed(&basic), ["p/burned.dcm", "p/capture.dcm"], "{basic:#}");
    assert!(
        basic["failed"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("--accept-burned-in"),
        "{basic:#}"
    );
    let accepted = apply("out-accepted", &["--profile", "basic", "--accept-burned-in"]);
    assert_eq!(accepted["written"], 4, "{accepted:#}");
    assert!(failed(&accepted).is_empty());
    // The manifest records that they were accepted.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out-accepted/dams-manifest.json")).unwrap()).unwrap();
    assert_eq!(m["options"]["accept_burned_in"], true, "{m:#}");
}

/// A comment segment inside a compressed frame is searched (offsets only, nothing decoded):
/// a real JPEG file of pydicom's, given a COM segment holding its `PatientID`, is reported by
/// the plan at its `PixelData`.
#[test]
fn a_comment_in_a_compressed_frame_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let source = fixture("pydicom/SC_rgb_jpeg_dcmtk.dcm");
    let parsed = dams::dicom::parse::parse_file(&source).unwrap();
    let pid = parsed.top_string(tags::PATIENT_ID).unwrap().trim().to_string();
    assert!(pid.len() >= 3, "{pid}");
    let px = parsed.top(tags::PIXEL_DATA).unwrap();
    let mut bytes = std::fs::read(&source).unwrap();
    // Items: the offset table, then the first frame.
    let table = px.value_start as usize;
    let table_len = u32::from_le_bytes(bytes[table + 4..table + 8].try_into().unwrap()) as usize;
    let frame = table + 8 + table_len;
    assert_eq!(&bytes[frame + 8..frame + 10], &[0xFF, 0xD8], "a JPEG frame");
    let mut comment = format!("scanned for {pid}").into_bytes();
    if comment.len() % 2 == 1 {
        comment.push(b' ');
    }
    let mut segment = vec![0xFF, 0xFE];
    segment.extend_from_slice(&((comment.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&comment);
    let frame_len = u32::from_le_bytes(bytes[frame + 4..frame + 8].try_into().unwrap());
    bytes[frame + 4..frame + 8].copy_from_slice(&(frame_len + segment.len() as u32).to_le_bytes());
    bytes.splice(frame + 10..frame + 10, segment);
    std::fs::create_dir_all(inp.join("p")).unwrap();
    std::fs::write(inp.join("p/sc.dcm"), &bytes).unwrap();

    let plan = plan_json(&data, &inp, &[]);
    let residual = plan["patients"][0]["files"][0]["residual"].to_string();
    assert!(
        residual.contains("(7FE0,0010)") && residual.contains("patient-id") && residual.contains("compressed frame"),
        "{residual}"
    );
    // The unchanged file has no such finding.
    std::fs::copy(&source, inp.join("p/sc.dcm")).unwrap();
    let plan = plan_json(&data, &inp, &[]);
    assert!(
        !plan["patients"][0]["files"][0]["residual"]
            .to_string()
            .contains("(7FE0,0010)")
    );
}

/// Values too large to be loaded are searched as they are read, in overlapping chunks: a
/// patient ID in a 9 MiB private OB value, once in the middle of a chunk and once across the
/// 4 MiB boundary between two, is found.
#[test]
fn large_values_are_searched_in_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, data) = (tmp.path().join("in"), tmp.path().join("data"));
    for (name, at) in [("middle", 1_500_000usize), ("boundary", (4 << 20) - 5)] {
        let mut blob = vec![0x5Au8; 9 << 20];
        blob[at..at + 11].copy_from_slice(b" 778899123 ");
        let blob_copy = blob.clone();
        ct(&inp.join(format!("{name}/ct.dcm")), GARCIA, at as u32, move |o| {
            o.put(DataElement::new(PRIVATE_CREATOR, VR::LO, "ACME 1.0"));
            o.put(DataElement::new(
                Tag(0x0033, 0x1012),
                VR::OB,
                dicom_core::PrimitiveValue::from(blob_copy),
            ));
        });
        drop(blob);
    }
    let plan = plan_json(&data, &inp, &["--files"]);
    let files = plan["patients"][0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for f in files {
        let residual = f["residual"].to_string();
        assert!(
            residual.contains("(0033,1012)") && residual.contains("patient-id"),
            "{}: {residual}",
            f["source"]
        );
    }
}

/// An encapsulated PDF's compressed text is searched after inflating its streams; one whose
/// text streams dams cannot read is flagged in the plan.
#[test]
fn an_encapsulated_pdf_is_searched_inside_its_streams() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let (inp, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let pdf = |filter: &str, body: Vec<u8>| -> Vec<u8> {
        let mut pdf = format!(
            "%PDF-1.4\n1 0 obj\n<< /Length {} /Filter /{filter} >>\nstream\n",
            body.len()
        )
        .into_bytes();
        pdf.extend_from_slice(&body);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        if pdf.len() % 2 == 1 {
            pdf.push(b'\n');
        }
        pdf
    };
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(b"BT (Report: GARCIA MARY, seen today) Tj ET").unwrap();
    let flate = pdf("FlateDecode", z.finish().unwrap());
    let lzw = pdf("LZWDecode", b"\x80\x0b\x60\x50".to_vec());
    for (name, doc, uid) in [("flate", flate, 1), ("lzw", lzw, 2)] {
        ct(&inp.join(format!("p/{name}.dcm")), GARCIA, uid, move |o| {
            o.put(DataElement::new(
                tags::MIME_TYPE_OF_ENCAPSULATED_DOCUMENT,
                VR::LO,
                "application/pdf",
            ));
            o.put(DataElement::new(
                tags::ENCAPSULATED_DOCUMENT,
                VR::OB,
                dicom_core::PrimitiveValue::from(doc),
            ));
        });
    }
    let plan = plan_json(&data, &inp, &["--files"]);
    let files = plan["patients"][0]["files"].as_array().unwrap();
    let of = |name: &str| files.iter().find(|f| f["source"] == name).unwrap();
    let flate = of("p/flate.dcm");
    assert!(
        flate["residual"].to_string().contains("compressed text of the PDF"),
        "{flate:#}"
    );
    assert!(flate["residual"].to_string().contains("patient-name"), "{flate:#}");
    let lzw = of("p/lzw.dcm");
    assert!(
        lzw["warnings"].to_string().contains("1 stream(s) dams cannot read"),
        "{lzw:#}"
    );
}

/// Under `basic` the patient's XML says no more than the DICOM beside it: the study's UID
/// becomes the new UID the images get (one mapping, so they still match), accession numbers
/// and the referring physician are removed. The default profile keeps them in both.
#[test]
fn xml_under_basic_gets_the_dicoms_uids_and_loses_what_it_loses() {
    let tmp = tempfile::tempdir().unwrap();
    let (inp, data) = (tmp.path().join("in"), tmp.path().join("data"));
    ct(&inp.join("p/ct.dcm"), GARCIA, 1, |o| {
        o.put(DataElement::new(tags::ACCESSION_NUMBER, VR::SH, "ACC998877"));
        o.put(DataElement::new(
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            "HOUSE^GREGORY",
        ));
        o.put(DataElement::new(
            tags::INSTITUTION_NAME,
            VR::LO,
            "Example General Hospital",
        ));
        o.put(DataElement::new(tags::STATION_NAME, VR::SH, "CTROOM07"));
        o.put(DataElement::new(tags::OPERATORS_NAME, VR::PN, "CUDDY^LISA"));
    });
    let study = "1.2.826.0.1.3680043.8.498.71";
    std::fs::write(
        inp.join("p/report.xml"),
        format!(
            "<Report><PatientID>778899123</PatientID><Study uid=\"{study}\"/><Acc>ACC998877</Acc>\
             <Note>ordered by Gregory House for study {study}.</Note><Where>Example General Hospital, CTROOM07, Lisa Cuddy</Where></Report>"
        ),
    )
    .unwrap();
    let apply = |out: &str, profile: &str| {
        let o = dams(&data)
            .arg("apply")
            .arg(&inp)
            .arg("--out")
            .arg(tmp.path().join(out))
            .args(["--yes", "--json", "--profile", profile])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let key = dams::key::KeyStore::open(&data.join("key.db")).unwrap();
        let code = key.code_for(GARCIA.1).unwrap().to_string();
        let dir = tmp.path().join(out).join(&code);
        let dir = if dir.exists() {
            dir
        } else {
            tmp.path().join(out).join("p")
        };
        let (_, obj) = read_dicom_rs(&dir.join("ct.dcm"));
        (
            text(&obj, tags::STUDY_INSTANCE_UID),
            std::fs::read_to_string(dir.join("report.xml")).unwrap(),
        )
    };
    let (new_study, xml) = apply("out-basic", "basic");
    assert_ne!(new_study, study);
    assert!(xml.contains(&format!("uid=\"{new_study}\"")), "{xml}");
    assert!(xml.contains(&format!("for study {new_study}.")), "{xml}");
    assert!(
        !xml.contains(study) && !xml.contains("ACC998877") && !xml.contains("House"),
        "{xml}"
    );
    assert!(
        !xml.contains("General Hospital") && !xml.contains("CTROOM07") && !xml.contains("Cuddy"),
        "{xml}"
    );
    // The default profile replaces the institution (its rule) and keeps the rest.
    let (kept_study, xml) = apply("out-seed", "seed");
    assert_eq!(kept_study, study);
    assert!(xml.contains(study) && xml.contains("ACC998877"), "{xml}");
    assert!(xml.contains("<Where>ANONYMIZED, CTROOM07, Lisa Cuddy</Where>"), "{xml}");
}

//! The form of what apply writes, on real files (issue 14, point 4): group lengths are the
//! length of their group as written and go with an emptied group; raw data sets become
//! Part 10 files; an element repeated byte for byte is written once. Independent readers
//! (pydicom, dcmdump, dciodvfy) judge where they are installed.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use dams::dicom::parse::{TOP, parse_file};
use dams::dicom::{Parsed, Tag};

/// `bytes` with `insert` put before the top-level element `before` of the parsed file.
fn with_inserted(path: &Path, before: Tag, insert: &[u8]) -> Vec<u8> {
    let parsed = parse_file(path).unwrap();
    let at = parsed.top(before).unwrap().start as usize;
    let mut bytes = std::fs::read(path).unwrap();
    bytes.splice(at..at, insert.iter().copied());
    bytes
}

/// An explicit VR little endian UL element.
fn ul(tag: Tag, value: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&tag.0.to_le_bytes());
    v.extend_from_slice(&tag.1.to_le_bytes());
    v.extend_from_slice(b"UL");
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&value.to_le_bytes());
    v
}

/// What is wrong with the group lengths of a parsed file: one that is not the length of the
/// rest of its group, or one whose group has nothing else.
fn group_length_faults(p: &Parsed) -> Vec<String> {
    let mut faults = Vec::new();
    for (i, g) in p.elements.iter().enumerate().filter(|(_, e)| e.tag.1 == 0) {
        let group: Vec<u64> = p
            .elements
            .iter()
            .enumerate()
            .filter(|(j, e)| *j != i && e.parent == g.parent && e.tag.0 == g.tag.0)
            .map(|(_, e)| e.end - e.start)
            .collect();
        let value = p.value(g).map(|v| g.enc.u32(v)).unwrap();
        let at = if g.parent == TOP { "top" } else { "item" };
        if group.is_empty() {
            faults.push(format!("{} ({at}) has no group left", p.path(i)));
        } else if u64::from(value) != group.iter().sum::<u64>() {
            faults.push(format!(
                "{} ({at}) says {value}, its group takes {}",
                p.path(i),
                group.iter().sum::<u64>()
            ));
        }
    }
    faults
}

/// dciodvfy's warnings about group lengths; `None` when it is not installed (and not required).
fn dciodvfy_group_warnings(path: &Path) -> Option<Vec<String>> {
    let Ok(o) = Command::new("dciodvfy").arg(path).output() else {
        assert!(
            std::env::var_os("DAMS_REQUIRE_DCIODVFY").is_none(),
            "dciodvfy is required (DAMS_REQUIRE_DCIODVFY is set) but not installed"
        );
        return None;
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Some(
        text.lines()
            .filter(|l| l.contains("Bad group length"))
            .map(str::to_string)
            .collect(),
    )
}

/// The input of the group length tests: CT_small with a group length too short for its
/// group (shifting it by a change wrapped it past 4 GiB) and one for a private group the
/// Basic Profile removes; and, from the real corpus where it is installed, two files whose
/// group lengths were wrong when they were made and whose (0040,0000) group the Basic
/// Profile empties.
fn group_length_input(input: &Path) -> Vec<String> {
    let ct = fixture("pydicom/CT_small.dcm");
    std::fs::create_dir_all(input.join("short")).unwrap();
    std::fs::create_dir_all(input.join("private")).unwrap();
    let short = with_inserted(&ct, Tag(0x0010, 0x0010), &ul(Tag(0x0010, 0x0000), 4));
    std::fs::write(input.join("short/ct.dcm"), short).unwrap();
    // The private group of CT_small, measured.
    let parsed = parse_file(&ct).unwrap();
    let private: u64 = parsed
        .elements
        .iter()
        .filter(|e| e.parent == TOP && e.tag.0 == 0x0009)
        .map(|e| e.end - e.start)
        .sum();
    let private = with_inserted(&ct, Tag(0x0009, 0x0010), &ul(Tag(0x0009, 0x0000), private as u32));
    std::fs::write(input.join("private/ct.dcm"), private).unwrap();
    let mut files = vec!["short/ct.dcm".to_string(), "private/ct.dcm".to_string()];
    if let Some((_, dirs)) = corpus_dirs() {
        for (package, file) in [("pydicom", "693_J2KI.dcm"), ("pydicom-data", "693_UNCI.dcm")] {
            let dir = &dirs.iter().find(|(n, _)| *n == package).unwrap().1;
            std::fs::create_dir_all(input.join(package)).unwrap();
            std::fs::copy(dir.join(file), input.join(package).join(file)).unwrap();
            files.push(format!("{package}/{file}"));
        }
    }
    files
}

/// `dams apply` with a profile, then `dams verify --against` as JSON.
fn apply_and_verify(data: &Path, input: &Path, out: &Path, profile: &str) -> serde_json::Value {
    let applied = dams(data)
        .args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()])
        .args(["--yes", "--json", "--profile", profile])
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let v = dams(data)
        .arg("verify")
        .arg(out)
        .arg("--against")
        .arg(input)
        .arg("--json")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert!(v.status.success(), "{profile}: {report:#}");
    report
}

#[test]
fn group_lengths_are_their_groups_length_and_go_with_an_emptied_group() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let files = group_length_input(&input);
    for profile in ["seed", "basic"] {
        let out = tmp.path().join(format!("out-{profile}"));
        let report = apply_and_verify(&data, &input, &out, profile);
        let written: Vec<PathBuf> = walkdir::WalkDir::new(&out)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "dcm"))
            .map(|e| e.into_path())
            .collect();
        assert_eq!(written.len(), files.len(), "{profile}");
        for path in &written {
            let faults = group_length_faults(&parse_file(path).unwrap());
            assert!(faults.is_empty(), "{profile}: {}: {faults:#?}", path.display());
            if let Some(w) = dciodvfy_group_warnings(path) {
                assert!(w.is_empty(), "{profile}: {}: {w:#?}", path.display());
            }
            if let Some(p) = dcmdump_problems(path) {
                assert!(p.is_empty(), "{profile}: {}: {p:#?}", path.display());
            }
        }
        // What the input had wrong is the input's problem, and said so.
        let input_problems: Vec<(String, String)> = report["input_problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["path"].as_str().unwrap().to_string(),
                    p["detail"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(
            input_problems
                .iter()
                .any(|(p, d)| p == "short/ct.dcm" && d.starts_with("(0010,0000)")),
            "{input_problems:#?}"
        );
        if files.len() > 2 {
            assert!(
                input_problems
                    .iter()
                    .any(|(p, d)| p == "pydicom/693_J2KI.dcm" && d.starts_with("(0008,0000)")),
                "{input_problems:#?}"
            );
        }
    }
    // Under basic the private group goes, its group length with it, and so does the (0040)
    // group of the 693 files (ScheduledProcedureStepID removed).
    for (file, group) in [
        ("private/ct.dcm", 0x0009),
        ("pydicom/693_J2KI.dcm", 0x0040),
        ("pydicom-data/693_UNCI.dcm", 0x0040),
    ] {
        let path = tmp.path().join("out-basic").join(file);
        if !path.exists() && files.len() == 2 {
            continue;
        }
        let parsed = parse_file(&path).unwrap();
        assert!(
            parsed.top(Tag(group, 0x0000)).is_none(),
            "{file}: ({group:04X},0000) is gone"
        );
        // In the input it is there.
        assert!(
            parse_file(&input.join(file)).unwrap().top(Tag(group, 0x0000)).is_some(),
            "{file}"
        );
    }
}

/// A Python that imports pydicom (`DAMS_PYTHON`); `None` when there is none and none is
/// required.
fn pydicom() -> Option<String> {
    let python = std::env::var("DAMS_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import pydicom"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("DAMS_REQUIRE_PYDICOM").is_none(),
            "pydicom required (DAMS_REQUIRE_PYDICOM) but {python} cannot import it"
        );
        eprintln!("pydicom not available at {python}: skipping its checks (set DAMS_PYTHON)");
    }
    ok.then_some(python)
}

/// dciodvfy's errors for a file, values left out; `None` when it is not installed.
fn dciodvfy_errors(path: &Path) -> Option<Vec<String>> {
    let o = Command::new("dciodvfy").arg(path).output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Some(
        text.lines()
            .filter(|l| l.starts_with("Error"))
            .map(|l| l.split(" <").next().unwrap_or(l).to_string())
            .collect(),
    )
}

/// The raw data sets (no preamble, no file meta) of pydicom's test files, one per encoding
/// (explicit little and big endian, implicit), and the palette image of pydicom-data where
/// the corpus is installed.
fn raw_input(input: &Path) -> Vec<String> {
    let mut files = vec![
        "pydicom/ExplVR_LitEndNoMeta.dcm".to_string(),
        "pydicom/ExplVR_BigEndNoMeta.dcm".to_string(),
        "pydicom/rtstruct.dcm".to_string(),
    ];
    let staged: Vec<(&str, String)> = files.iter().map(|f| (f.as_str(), format!("raw/{f}"))).collect();
    stage(input, &staged.iter().map(|(a, b)| (*a, b.as_str())).collect::<Vec<_>>());
    if let Some((_, dirs)) = corpus_dirs() {
        let dir = &dirs.iter().find(|(n, _)| *n == "pydicom-data").unwrap().1;
        std::fs::create_dir_all(input.join("raw/pydicom-data")).unwrap();
        std::fs::copy(
            dir.join("OT-PAL-8-face.dcm"),
            input.join("raw/pydicom-data/OT-PAL-8-face.dcm"),
        )
        .unwrap();
        files.push("pydicom-data/OT-PAL-8-face.dcm".into());
    }
    files.iter().map(|f| format!("raw/{f}")).collect()
}

/// The plan's edits of each file, by source path.
fn planned_edits(
    data: &Path,
    input: &Path,
    profile: &str,
) -> std::collections::BTreeMap<String, Vec<serde_json::Value>> {
    let plan = dams(data)
        .arg("plan")
        .arg(input)
        .args(["--json", "--accept-burned-in", "--profile", profile])
        .output()
        .unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    plan["patients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["files"].as_array().unwrap().iter())
        .map(|f| {
            (
                f["source"].as_str().unwrap().to_string(),
                f["edits"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

#[test]
fn raw_data_sets_are_written_as_part10_files_with_their_transfer_syntax() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let files = raw_input(&input);
    let python = pydicom();
    for profile in ["seed", "basic"] {
        let out = tmp.path().join(format!("out-{profile}"));
        let edits = planned_edits(&data, &input, profile);
        let applied = dams(&data)
            .args(["apply".as_ref(), input.as_os_str(), "--out".as_ref(), out.as_os_str()])
            .args(["--yes", "--json", "--accept-burned-in", "--profile", profile])
            .output()
            .unwrap();
        assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
        for file in &files {
            let (inp, outp) = (input.join(file), out.join(file));
            let before = parse_file(&inp).unwrap();
            assert!(!before.layout.has_meta && !before.layout.preamble, "{file} is raw");
            let ts = before.layout.transfer_syntax.clone();
            // The plan says so.
            let shown = edits[file.as_str()]
                .iter()
                .find(|e| e["path"] == "file meta")
                .unwrap_or_else(|| panic!("{profile}: {file}: no file meta edit"));
            assert_eq!(shown["rule"], "format");
            let name = dams::dicom::parse::transfer_syntax_name(&ts);
            assert_eq!(
                shown["after"].as_str().unwrap(),
                format!("written as a Part 10 file with file meta (transfer syntax {name})")
            );
            // A zero preamble, DICM, and the file meta of the data set as written.
            let bytes = std::fs::read(&outp).unwrap();
            assert!(
                bytes[..128].iter().all(|&b| b == 0) && &bytes[128..132] == b"DICM",
                "{file}"
            );
            let after = parse_file(&outp).unwrap();
            assert!(after.layout.has_meta && after.layout.ts_declared, "{file}");
            assert_eq!(after.layout.transfer_syntax, ts, "{file}: transfer syntax kept");
            let top = |p: &Parsed, t: Tag| p.top_string(t).unwrap();
            use dams::dicom::tags;
            assert_eq!(
                top(&after, tags::MEDIA_STORAGE_SOP_INSTANCE_UID),
                top(&after, tags::SOP_INSTANCE_UID),
                "{file}: the instance UID as written"
            );
            assert_eq!(
                top(&after, tags::MEDIA_STORAGE_SOP_CLASS_UID),
                top(&before, tags::SOP_CLASS_UID)
            );
            assert_eq!(
                top(&after, tags::IMPLEMENTATION_CLASS_UID),
                dams::profile::annex_e::IMPLEMENTATION_CLASS_UID
            );
            if profile == "basic" {
                assert_ne!(
                    top(&after, tags::SOP_INSTANCE_UID),
                    top(&before, tags::SOP_INSTANCE_UID),
                    "{file}: remapped"
                );
            }
            // The pixel data, where there is any, byte for byte.
            if let (Some(a), Some(b)) = (before.top(tags::PIXEL_DATA), after.top(tags::PIXEL_DATA)) {
                let read = |p: &Parsed, e: &dams::dicom::Element| {
                    let mut buf = vec![0u8; (e.end - e.value_start) as usize];
                    p.read_at(e.value_start, &mut buf).unwrap();
                    buf
                };
                assert!(read(&before, a) == read(&after, b), "{file}: pixel data");
            } else {
                assert!(before.top(tags::PIXEL_DATA).is_none(), "{file}: pixel data kept");
            }
            if let Some(p) = dcmdump_problems(&outp) {
                assert!(p.is_empty(), "{profile}: {file}: {p:#?}");
            }
            if let (Some(was), Some(now)) = (dciodvfy_errors(&inp), dciodvfy_errors(&outp)) {
                let new: Vec<&String> = now.iter().filter(|e| !was.contains(e)).collect();
                assert!(new.is_empty(), "{profile}: {file}: dciodvfy: {new:#?}");
            }
        }
        // pydicom reads each without `force`, and finds the file meta it expects.
        if let Some(python) = &python {
            let script = r#"
import sys, pydicom
for p in sys.argv[1:]:
    ds = pydicom.dcmread(p)
    m = ds.file_meta
    assert m.MediaStorageSOPInstanceUID == ds.SOPInstanceUID, p
    assert m.MediaStorageSOPClassUID == ds.SOPClassUID, p
    assert m.TransferSyntaxUID, p
    for elem in ds.iterall():
        _ = elem.value
print("ok")
"#;
            let o = Command::new(python)
                .arg("-c")
                .arg(script)
                .args(files.iter().map(|f| out.join(f)))
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{profile}: pydicom: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    // verify accepts it (seed: verify does not know --accept-burned-in, and basic would
    // not have written the secondary capture without it).
    let v = dams(&data)
        .arg("verify")
        .arg(tmp.path().join("out-seed"))
        .arg("--against")
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

/// pydicom's CT_small with the bytes of each top-level element `tags` names written twice.
fn ct_small_doubled(tags: &[Tag]) -> Vec<u8> {
    let ct = fixture("pydicom/CT_small.dcm");
    let parsed = parse_file(&ct).unwrap();
    let bytes = std::fs::read(&ct).unwrap();
    let mut ranges: Vec<(usize, usize)> = tags
        .iter()
        .map(|&t| {
            let e = parsed.top(t).unwrap();
            (e.start as usize, e.end as usize)
        })
        .collect();
    ranges.sort_unstable();
    let mut out = Vec::new();
    let mut pos = 0;
    for (start, end) in ranges {
        out.extend_from_slice(&bytes[pos..end]);
        out.extend_from_slice(&bytes[start..end]);
        pos = end;
    }
    out.extend_from_slice(&bytes[pos..]);
    out
}

#[test]
fn an_element_repeated_byte_for_byte_is_written_once_with_a_warning() {
    use dams::dicom::tags;
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    std::fs::create_dir_all(input.join("dup")).unwrap();
    // PatientID (a rule changes it), InstitutionName (seed replaces it), a sequence of
    // explicit length and the file meta's transfer syntax, each written twice by its writer.
    let doubled = [
        tags::TRANSFER_SYNTAX_UID,
        tags::INSTITUTION_NAME,
        tags::PATIENT_ID,
        tags::OTHER_PATIENT_I_DS_SEQUENCE,
    ];
    std::fs::write(input.join("dup/ct.dcm"), ct_small_doubled(&doubled)).unwrap();
    // dcmdump says the input has elements twice; the output must not.
    let twice = |p: &Path| {
        Command::new("dcmdump").arg("+M").arg(p).output().ok().map(|o| {
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            all.lines().filter(|l| l.contains("found twice")).count()
        })
    };
    if let Some(n) = twice(&input.join("dup/ct.dcm")) {
        assert_eq!(n, doubled.len(), "dcmdump sees the copies in the input");
    }
    let python = pydicom();
    for profile in ["seed", "basic"] {
        let out = tmp.path().join(format!("out-{profile}"));
        let plan = dams(&data)
            .arg("plan")
            .arg(&input)
            .args(["--json", "--profile", profile])
            .output()
            .unwrap();
        assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
        let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
        let file = &plan["patients"][0]["files"][0];
        let warned: Vec<&str> = file["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|w| w.as_str())
            .filter(|w| w.contains("appears twice in its data set, byte for byte the same"))
            .collect();
        let named: Vec<String> = doubled.iter().map(|&t| dams::dicom::tag_string(t)).collect();
        assert_eq!(warned.len(), doubled.len(), "{profile}: {warned:#?}");
        for (w, tag) in warned.iter().zip(&named) {
            assert!(w.starts_with(tag.as_str()), "{w}");
        }
        let report = apply_and_verify(&data, &input, &out, profile);
        assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
        let dest = out.join(file["dest"].as_str().unwrap());
        let written = parse_file(&dest).unwrap();
        assert!(written.copies().is_empty(), "{profile}: no copy is written");
        for &t in &doubled {
            let n = written
                .elements
                .iter()
                .filter(|e| e.parent == TOP && e.tag == t)
                .count();
            // Once, or (under basic, which removes some of them) not at all.
            assert!(n == 1 || (profile == "basic" && n == 0), "{profile}: {t} {n} times");
        }
        assert!(group_length_faults(&written).is_empty());
        if let Some(p) = dcmdump_problems(&dest) {
            assert!(p.is_empty(), "{profile}: {p:#?}");
        }
        assert!(twice(&dest).is_none_or(|n| n == 0), "{profile}: dcmdump finds a copy");
        if let Some(python) = &python {
            let script = "import sys, pydicom\nds = pydicom.dcmread(sys.argv[1])\nprint(ds.PatientID)";
            let o = Command::new(python).arg("-c").arg(script).arg(&dest).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
            assert_eq!(id, plan["patients"][0]["code"].as_str().unwrap(), "{profile}");
        }
    }
}

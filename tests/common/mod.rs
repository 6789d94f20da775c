//! Shared helpers for the integration tests: fixtures, a workspace in a temp folder, the
//! dams library pipeline, and an independent reader (dicom-rs) to compare files with.
#![allow(dead_code)]

pub mod pg;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

/// Where `value` does not match the JSON Schema `assets/schemas/{name}.schema.json` (the first
/// ten places; empty when it matches).
pub fn schema_errors(name: &str, value: &serde_json::Value) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("assets/schemas/{name}.schema.json"));
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("schema file")).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .take(10)
        .collect()
}

/// Copies fixtures into `dir`, each under the given relative destination.
pub fn stage(dir: &Path, files: &[(&str, &str)]) {
    for (src, dest) in files {
        let d = dir.join(dest);
        std::fs::create_dir_all(d.parent().expect("has parent")).expect("mkdir");
        std::fs::copy(fixture(src), &d).unwrap_or_else(|e| panic!("copy {src}: {e}"));
    }
}

/// An engine over the key store at `key` with a profile, made the way the CLI makes one.
pub fn engine(key: &Path, profile: Option<&str>) -> dams::engine::Engine {
    let profile = dams::profile::Profile::resolve(profile, &[]).expect("profile");
    dams::engine::Engine::open(key, profile, dams::progress::Cancel::new()).expect("engine")
}

/// Runs scan → prepare → apply through the engine, like `dams apply --yes`.
pub fn apply_lib(input: &Path, out: &Path, key: &Path, profile: Option<&str>) -> dams::apply::ApplyReport {
    let mut engine = engine(key, profile);
    let index = engine.scan(input, Vec::new(), &dams::progress::quiet).expect("scan");
    let prepared = engine.prepare(&index).expect("prepare");
    engine
        .apply(
            &index,
            &prepared,
            &dams::apply::Target::Folder(out.to_path_buf()),
            None,
            &dams::progress::quiet,
        )
        .expect("apply")
}

/// Reads a file with dicom-rs, raw data sets (no file meta) included.
pub fn read_dicom_rs(path: &Path) -> (String, InMemDicomObject) {
    if let Ok(obj) = OpenFileOptions::new().open_file(path) {
        let ts = obj.meta().transfer_syntax().trim_end_matches('\0').to_string();
        return (ts, obj.into_inner());
    }
    // A raw data set: dams names the encoding it found; read it with that.
    let parsed = dams::dicom::parse::parse_file(path).expect("dams parses it");
    let ts = parsed.layout.transfer_syntax.clone();
    let syntax = TransferSyntaxRegistry.get(&ts).expect("known ts");
    let bytes = std::fs::read(path).expect("read");
    let obj = InMemDicomObject::read_dataset_with_ts(&bytes[..], syntax).expect("dicom-rs reads raw data set");
    (ts, obj)
}

/// Compares two data sets element by element, recursing into sequences. `special` decides
/// the tags a rule changes: it gets (tag, input value as text, output value as text) and
/// must return true when the pair is what the rule should have made. Every other element
/// must be identical. Returns the differences found.
pub fn compare(
    a: &InMemDicomObject,
    b: &InMemDicomObject,
    path: &str,
    special: &dyn Fn(Tag, Option<String>, Option<String>) -> Option<bool>,
) -> Vec<String> {
    let mut diffs = Vec::new();
    let tags_a: Vec<Tag> = a.tags().collect();
    let tags_b: Vec<Tag> = b.tags().collect();
    let text = |o: &InMemDicomObject, t: Tag| {
        o.get(t).map(|e| {
            e.value()
                .to_str()
                .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
                .unwrap_or_default()
        })
    };
    for t in tags_a.iter().chain(tags_b.iter().filter(|t| !tags_a.contains(t))) {
        let here = format!("{path}{t}");
        if let Some(ok) = special(*t, text(a, *t), text(b, *t)) {
            if !ok {
                diffs.push(format!(
                    "{here}: rule result wrong: {:?} -> {:?}",
                    text(a, *t),
                    text(b, *t)
                ));
            }
            continue;
        }
        match (a.get(*t), b.get(*t)) {
            (Some(x), Some(y)) => {
                if x.vr() != y.vr() && !(x.vr() == VR::UN || y.vr() == VR::UN) {
                    diffs.push(format!("{here}: VR {:?} -> {:?}", x.vr(), y.vr()));
                }
                match (x.value(), y.value()) {
                    (Value::Sequence(sa), Value::Sequence(sb)) => {
                        if sa.items().len() != sb.items().len() {
                            diffs.push(format!("{here}: item count differs"));
                            continue;
                        }
                        for (i, (ia, ib)) in sa.items().iter().zip(sb.items()).enumerate() {
                            diffs.extend(compare(ia, ib, &format!("{here}[{i}]/"), special));
                        }
                    }
                    (Value::PixelSequence(pa), Value::PixelSequence(pb)) => {
                        if pa.fragments() != pb.fragments() || pa.offset_table() != pb.offset_table() {
                            diffs.push(format!("{here}: encapsulated pixel data differs"));
                        }
                    }
                    (Value::Primitive(pa), Value::Primitive(pb)) => {
                        if pa.to_bytes() != pb.to_bytes() {
                            diffs.push(format!("{here}: value differs"));
                        }
                    }
                    _ => diffs.push(format!("{here}: kind of value differs")),
                }
            }
            (Some(_), None) => diffs.push(format!("{here}: missing in output")),
            (None, Some(_)) => diffs.push(format!("{here}: added in output")),
            (None, None) => {}
        }
    }
    diffs
}

/// Runs dcmdump on a file; `None` when dcmdump is not installed (and the run does not
/// require it), else the warnings/errors it printed (empty = clean).
pub fn dcmdump_problems(path: &Path) -> Option<Vec<String>> {
    if let Ok(o) = Command::new("dcmdump").arg("-q").arg(path).output() {
        let mut lines: Vec<String> = String::from_utf8_lossy(&o.stderr).lines().map(str::to_string).collect();
        if !o.status.success() {
            lines.push(format!("dcmdump exited with {}", o.status));
        }
        Some(lines)
    } else {
        assert!(
            std::env::var_os("DAMS_REQUIRE_DCMTK").is_none(),
            "dcmdump is required (DAMS_REQUIRE_DCMTK is set) but not installed"
        );
        eprintln!("dcmdump not installed: skipping the dcmtk check (install dcmtk to run it)");
        None
    }
}

/// The dams binary with a private data folder, so tests never touch a user's key store.
pub fn dams(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dams"));
    c.env("DAMS_DATA_DIR", data_dir).env_remove("DAMS_KEY");
    c
}

/// All files below `dir`, relative, sorted, with their bytes. The manifest apply writes at the
/// top (`dams-manifest.json`) is left out: it records when each run happened, so two runs
/// never write the same one (`tests/manifest_verify.rs` checks it).
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let manifest = dir.join("dams-manifest.json");
    let mut out: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path() != manifest)
        .map(|e| {
            (
                e.path().strip_prefix(dir).expect("below dir").to_path_buf(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Scans `input` with the default options (the library, no progress, no cancel).
pub fn scan_lib(input: &Path) -> dams::scan::Index {
    dams::scan::scan(
        input,
        &dams::scan::ScanOptions::default(),
        &|_, _| {},
        &AtomicBool::new(false),
    )
    .expect("scan")
}

/// The files the scan could not read: path → (kind, reason).
pub fn unreadable_by_path(index: &dams::scan::Index) -> std::collections::BTreeMap<String, (String, String)> {
    index
        .unreadable
        .iter()
        .map(|u| {
            (
                u.path.to_string_lossy().into_owned(),
                (u.kind.to_string(), u.reason.clone()),
            )
        })
        .collect()
}

/// The real corpus — pydicom's own test files, pydicom-data and deid-data — from the Python
/// packages of `DAMS_PYTHON`: (the python, [(name, folder)]). `None` (with a message) when they
/// are not installed, unless `DAMS_REQUIRE_CORPUS` says they must be.
pub fn corpus_dirs() -> Option<(PathBuf, Vec<(&'static str, PathBuf)>)> {
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
    if let Some(dirs) = found {
        Some((
            PathBuf::from(python),
            ["pydicom", "pydicom-data", "deid-data"].into_iter().zip(dirs).collect(),
        ))
    } else {
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

/// Copies a folder tree (without `__pycache__`).
pub fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let rel = e.path().strip_prefix(from).expect("below from");
        if rel.components().any(|c| c.as_os_str() == "__pycache__") {
            continue;
        }
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else if e.file_type().is_file() {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// The real corpus copied into `input` (one folder per package); the python that has it.
pub fn stage_corpus(input: &Path) -> Option<PathBuf> {
    let (python, dirs) = corpus_dirs()?;
    for (name, dir) in &dirs {
        copy_tree(dir, &input.join(name));
    }
    Some(python)
}

/// `procs` concurrent `dams apply --yes` on disjoint input folders (`patients` patients of
/// two files each, all different), sharing the key store `key` (a file or a URL): every run
/// succeeds, the codes are unique (case-insensitively), and every code in every output
/// file is the key's code for that file's original patient.
pub fn concurrent_applies(base: &Path, key: &std::ffi::OsStr, procs: usize, patients: usize) {
    let data = base.join("data");
    let mut children = Vec::new();
    for k in 0..procs {
        let input = base.join(format!("in{k}"));
        dams::demo::make_cohort_named(&input, &format!("C{k}"), patients * 2, 2, 8, 8).expect("cohort");
        let child = dams(&data)
            .args(["apply", "--yes", "--json", "--key"])
            .arg(key)
            .arg(&input)
            .arg("--out")
            .arg(base.join(format!("out{k}")))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn dams");
        children.push(child);
    }
    for (k, child) in children.into_iter().enumerate() {
        let o = child.wait_with_output().expect("dams");
        assert!(o.status.success(), "apply {k}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let keystore = dams::key::KeyStore::open(Path::new(key)).expect("key store");
    let entries = keystore.entries();
    assert_eq!(entries.len(), procs * patients, "one code per patient");
    let mut folds = std::collections::HashSet::new();
    for e in entries {
        assert!(folds.insert(e.code.to_ascii_lowercase()), "code {} given twice", e.code);
    }
    let cancel = AtomicBool::new(false);
    for k in 0..procs {
        let out = base.join(format!("out{k}"));
        let index =
            dams::scan::scan(&out, &dams::scan::ScanOptions::default(), &|_, _| {}, &cancel).expect("scan output");
        assert_eq!(index.patients.len(), patients, "out{k}");
        for p in &index.patients {
            let entry = keystore
                .entry_by_code(&p.patient_id)
                .unwrap_or_else(|| panic!("out{k}: code {} is not in the key", p.patient_id));
            assert!(
                entry.patient_id.starts_with(&format!("C{k}-")),
                "out{k}: code {} belongs to {}",
                p.patient_id,
                entry.patient_id
            );
            assert_eq!(p.file_count(), 2);
        }
    }
}

/// `dams verify OUT --against INPUT` finds nothing (exit 0).
pub fn assert_verifies_clean(data: &Path, out: &Path, input: &Path) {
    let v = dams(data)
        .arg("verify")
        .arg(out)
        .arg("--against")
        .arg(input)
        .output()
        .expect("run dams verify");
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

/// [`tree`] without dams' own tables and manifests, which a shard of a split run writes as
/// parts of its own (`dams-manifest.K-of-N.json`, `mapping.K-of-N.csv`).
pub fn tree_without_tables(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .filter(|(p, _)| {
            let n = p.to_string_lossy();
            !(n.starts_with("dams-manifest") || n.starts_with("mapping."))
        })
        .collect()
}

/// The python that has pydicom (`DAMS_PYTHON`, else `python3`), or `None` (with a message:
/// the test skips) unless `DAMS_REQUIRE_PYDICOM` says it must be there.
pub fn pydicom() -> Option<PathBuf> {
    let python = PathBuf::from(std::env::var_os("DAMS_PYTHON").unwrap_or_else(|| "python3".into()));
    let has = Command::new(&python)
        .args(["-c", "import pydicom"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has {
        return Some(python);
    }
    assert!(
        std::env::var_os("DAMS_REQUIRE_PYDICOM").is_none(),
        "pydicom is required (DAMS_REQUIRE_PYDICOM is set) but {} cannot import it",
        python.display()
    );
    eprintln!("skipped: pydicom is not installed for DAMS_PYTHON (pip install pydicom to run this test)");
    None
}

/// Makes small CT files with pydicom (never with dams), one for each `(path below dir,
/// attributes)`: `attributes` is a JSON object of pydicom keywords and values (a list of
/// objects makes a sequence of items). `PatientID`, `PatientName` and `PatientBirthDate` are
/// absent unless given; `StudyInstanceUID` and `SeriesInstanceUID` are new unless given (the
/// same text in two files gives the same UID: `"study": "s1"` is turned into a UID).
pub fn make_dicom(python: &Path, dir: &Path, files: &[(&str, serde_json::Value)]) {
    let script = r#"
import json, os, sys
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid, ExplicitVRLittleEndian
CT = "1.2.840.10008.5.1.4.1.1.2"
def value(v):
    if isinstance(v, list) and v and isinstance(v[0], dict):
        return Sequence([item(x) for x in v])
    return v
def item(attrs):
    ds = Dataset()
    for k, v in attrs.items():
        setattr(ds, k, value(v))
    return ds
root = sys.argv[1]
for rel, attrs in json.loads(sys.stdin.read()):
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT
    inst = generate_uid()
    meta.MediaStorageSOPInstanceUID = inst
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = inst
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[attrs.pop("study", inst)])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[attrs.pop("series", inst)])
    ds.Modality = "CT"
    ds.StudyDate = "20200102"
    ds.Rows = 2; ds.Columns = 2; ds.BitsAllocated = 16; ds.BitsStored = 12; ds.HighBit = 11
    ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"; ds.PixelRepresentation = 0
    ds.PixelData = b"\0" * 8
    for k, v in attrs.items():
        setattr(ds, k, value(v))
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
"#;
    let list: Vec<serde_json::Value> = files
        .iter()
        .map(|(rel, attrs)| serde_json::json!([rel, attrs]))
        .collect();
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(serde_json::to_string(&list).expect("json").as_bytes())
            .expect("write to python");
    }
    let o = child.wait_with_output().expect("python");
    assert!(o.status.success(), "pydicom: {}", String::from_utf8_lossy(&o.stderr));
}

/// Whether dciodvfy can be run; when it cannot, the test skips unless it is required.
pub fn have_dciodvfy() -> bool {
    let found = Command::new("dciodvfy").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("DAMS_REQUIRE_DCIODVFY").is_none(),
            "dciodvfy is required (DAMS_REQUIRE_DCIODVFY is set) but not installed (Debian package dicom3tools)"
        );
        eprintln!("skipped: dciodvfy is not installed (apt-get install dicom3tools to run this test)");
    }
    found
}

/// An error line without its values: `<…>` after anything but `=` (an attribute or module
/// name, as in `Element=<PatientName>`) holds a value, which input and output differ in by
/// design.
pub fn normalise(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line.trim();
    while let Some(open) = rest.find('<') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        let Some(close) = after.find('>') else {
            out.push_str(after);
            return out;
        };
        if before.ends_with('=') {
            out.push_str(&after[..=close]);
        } else {
            out.push_str("<>");
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    // A UID written bare after its name (`ReferencedSOPInstanceUID 1.2.3.4`) is a value too.
    let words: Vec<&str> = out.split(' ').collect();
    (0..words.len())
        .map(|i| {
            let w = words[i];
            let uid = i > 0
                && words[i - 1].ends_with("UID")
                && !w.is_empty()
                && w.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if uid { "<>" } else { w }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The errors dciodvfy reports for a file (normalised), or what went wrong running it.
pub fn dciodvfy_errors(path: &Path) -> std::collections::BTreeSet<String> {
    let o = Command::new("dciodvfy").arg(path).output().expect("run dciodvfy");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    text.lines()
        .filter(|l| l.trim_start().starts_with("Error"))
        .map(normalise)
        .collect()
}

//! Shared helpers for the integration tests: fixtures, a workspace in a temp folder, the
//! dams library pipeline, and an independent reader (dicom-rs) to compare files with.
#![allow(dead_code)]

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

/// Copies fixtures into `dir`, each under the given relative destination.
pub fn stage(dir: &Path, files: &[(&str, &str)]) {
    for (src, dest) in files {
        let d = dir.join(dest);
        std::fs::create_dir_all(d.parent().expect("has parent")).expect("mkdir");
        std::fs::copy(fixture(src), &d).unwrap_or_else(|e| panic!("copy {src}: {e}"));
    }
}

/// Runs scan → plan → apply with the library, like `dams apply --yes`.
pub fn apply_lib(input: &Path, out: &Path, key: &Path, profile: Option<&str>) -> dams::apply::ApplyReport {
    let cancel = AtomicBool::new(false);
    let index = dams::scan::scan(input, &dams::scan::ScanOptions::default(), &|_, _| {}, &cancel).expect("scan");
    let profile = dams::profile::Profile::resolve(profile, &[]).expect("profile");
    let mut keystore = dams::key::KeyStore::open(key).expect("key");
    let planner = dams::plan::Planner::new(&index, profile, &keystore);
    dams::apply::apply(
        &index,
        &planner,
        &mut keystore,
        &dams::apply::Target::Folder(out.to_path_buf()),
        None,
        &|_, _| {},
        &cancel,
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
    match Command::new("dcmdump").arg("-q").arg(path).output() {
        Ok(o) => {
            let mut lines: Vec<String> = String::from_utf8_lossy(&o.stderr).lines().map(str::to_string).collect();
            if !o.status.success() {
                lines.push(format!("dcmdump exited with {}", o.status));
            }
            Some(lines)
        }
        Err(_) => {
            assert!(
                std::env::var_os("DAMS_REQUIRE_DCMTK").is_none(),
                "dcmdump is required (DAMS_REQUIRE_DCMTK is set) but not installed"
            );
            eprintln!("dcmdump not installed: skipping the dcmtk check (install dcmtk to run it)");
            None
        }
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
/// never write the same one (tests/manifest_verify.rs checks it).
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
    dams::scan::scan(input, &Default::default(), &|_, _| {}, &AtomicBool::new(false)).expect("scan")
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

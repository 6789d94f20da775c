//! Bad input is reported with its path and a plain reason, the rest of the batch is written,
//! and nothing panics: empty, text, truncated, absurd lengths, unreadable files.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `CT_small` with the length of its `PixelData` header set to almost 4 GiB.
fn absurd_length_file(dest: &Path) {
    let src = fixture("pydicom/CT_small.dcm");
    let p = dams::dicom::parse::parse_file(&src).unwrap();
    let e = p.top(dams::dicom::tags::PIXEL_DATA).unwrap();
    let (at, width) = e.length_field();
    assert_eq!(width, 4);
    let mut bytes = std::fs::read(&src).unwrap();
    bytes[at as usize..at as usize + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    std::fs::write(dest, bytes).unwrap();
}

#[cfg(unix)]
#[test]
fn bad_files_are_reported_and_the_batch_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let input = base.join("in");
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", "good/CT_small.dcm"),
            ("pydicom/MR_small.dcm", "good/MR_small.dcm"),
            ("pydicom/MR_truncated.dcm", "bad/truncated.dcm"),
        ],
    );
    std::fs::write(input.join("bad/empty.dcm"), b"").unwrap();
    std::fs::write(
        input.join("bad/notes.txt"),
        b"Dear colleague,\nplease find the images attached.\n",
    )
    .unwrap();
    absurd_length_file(&input.join("bad/absurd_length.dcm"));
    std::fs::copy(fixture("pydicom/CT_small.dcm"), input.join("bad/no_permission.dcm")).unwrap();
    chmod(&input.join("bad/no_permission.dcm"), 0o000);

    // Root reads anything; run as nobody so that permission-denied is real.
    let as_root = is_root();
    let data = base.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for d in [base, &input, &input.join("good"), &input.join("bad")] {
        chmod(d, 0o777);
    }
    // The key's folder: writable by the user dams runs as, but (sticky, like /tmp) no one can
    // replace another's files in it; a plainly world-writable one is refused.
    chmod(&data, 0o1777);
    for f in [
        "good/CT_small.dcm",
        "good/MR_small.dcm",
        "bad/truncated.dcm",
        "bad/empty.dcm",
        "bad/notes.txt",
        "bad/absurd_length.dcm",
    ] {
        chmod(&input.join(f), 0o644);
    }
    let mut cmd = if as_root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_dams"),
        ]);
        c.env("DAMS_DATA_DIR", &data).env_remove("DAMS_KEY");
        c
    } else {
        dams(&data)
    };
    let out = base.join("out");
    let o = cmd
        .args(["apply", "--yes", "--json", "--key"])
        .arg(data.join("key.json"))
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        o.status.code(),
        Some(1),
        "some files were not written: exit 1\n{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json report");
    assert_eq!(report["written"], 2, "{report:#}");
    let reasons: Vec<(String, String, String)> = report["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["path"].as_str().unwrap().to_string(),
                u["kind"].as_str().unwrap().to_string(),
                u["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let find = |name: &str| {
        reasons
            .iter()
            .find(|(p, _, _)| p.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not reported: {reasons:?}"))
    };
    assert_eq!(find("empty.dcm").1, "empty");
    assert_eq!(find("notes.txt").1, "not-dicom");
    assert_eq!(find("truncated.dcm").1, "truncated");
    assert!(
        find("truncated.dcm").2.contains("(7FE0,0010)"),
        "{:?}",
        find("truncated.dcm")
    );
    assert_eq!(find("absurd_length.dcm").1, "truncated");
    assert!(
        find("absurd_length.dcm").2.contains("4294967280"),
        "{:?}",
        find("absurd_length.dcm")
    );
    assert_eq!(find("no_permission.dcm").1, "io");
    assert!(
        find("no_permission.dcm").2.to_lowercase().contains("permission denied"),
        "{:?}",
        find("no_permission.dcm")
    );
    assert_eq!(reasons.len(), 5);

    // The good files were written, the bad ones not copied (they may hold identifiers).
    assert!(out.join("good/CT_small.dcm").exists() && out.join("good/MR_small.dcm").exists());
    assert!(!out.join("bad").exists(), "no bad file copied");
}

/// Each reason reads well on its own, with the path in front, in the text output.
#[test]
fn scan_lists_unreadable_files_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    stage(&input, &[("pydicom/rtplan_truncated.dcm", "rtplan_truncated.dcm")]);
    std::fs::write(input.join("empty.dcm"), b"").unwrap();
    let o = dams(tmp.path()).arg("scan").arg(&input).output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    // A damaged file is a failure; an empty one is merely skipped (listed apart).
    assert!(text.contains("could not be read (1)"), "{text}");
    assert!(
        text.contains("skipped (not DICOM or XML, DICOMDIRs, links not followed) (1)"),
        "{text}"
    );
    assert!(text.contains("  empty.dcm: empty file (0 bytes)"), "{text}");
    assert!(
        text.contains("  rtplan_truncated.dcm: truncated: sequence (300A,00B0)"),
        "{text}"
    );
}

/// A file that changes between scan and apply is not written from stale knowledge.
#[test]
fn file_changed_after_scan_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", "a/CT_small.dcm"),
            ("pydicom/MR_small.dcm", "b/MR_small.dcm"),
        ],
    );
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let index = dams::scan::scan(&input, &dams::scan::ScanOptions::default(), &|_, _| {}, &cancel).unwrap();
    // Change one file after the scan.
    let mut bytes = std::fs::read(input.join("a/CT_small.dcm")).unwrap();
    bytes.extend_from_slice(&[0, 0]);
    std::fs::write(input.join("a/CT_small.dcm"), bytes).unwrap();
    let mut engine = common::engine(&tmp.path().join("key.json"), None);
    let prepared = engine.prepare(&index).expect("prepare");
    let out = tmp.path().join("out");
    let report = engine
        .apply(
            &index,
            &prepared,
            &dams::apply::Target::Folder(out.clone()),
            None,
            &dams::progress::quiet,
        )
        .unwrap();
    assert_eq!(report.written, 1);
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].reason.contains("changed since it was scanned"),
        "{:?}",
        report.failed
    );
    assert!(!out.join("a/CT_small.dcm").exists());
}

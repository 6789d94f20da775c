//! Paths: symbolic links are followed only inside the scanned folder (and loops end), no
//! destination can leave the output folder, names that are not UTF-8 go through scan, plan,
//! apply, verify and their JSON, and folders that cannot be read or written are reported
//! before any work is lost.

#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// dams as an unprivileged user when the test runs as root (root ignores permission bits),
/// `None` when that is not possible.
fn dams_unprivileged(data: &Path) -> Option<Command> {
    if !is_root() {
        return Some(dams(data));
    }
    let ok = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("setpriv is not available: skipping the permission checks (they need a non-root user)");
        return None;
    }
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        env!("CARGO_BIN_EXE_dams"),
    ]);
    c.env("DAMS_DATA_DIR", data).env_remove("DAMS_KEY");
    Some(c)
}

#[test]
fn symlinks_inside_are_followed_outside_and_loops_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let outside = tmp.path().join("elsewhere");
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", "real/ct.dcm"),
            ("pydicom/MR_small.dcm", "real/mr.dcm"),
        ],
    );
    stage(&outside, &[("pydicom/MR_small.dcm", "secret/mr.dcm")]);
    let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, input.join(at)).unwrap();
    link(Path::new("real/ct.dcm"), "ct_link.dcm"); // a file inside: followed
    link(&input.join("real"), "real_again"); // a folder inside: followed
    link(&outside.join("secret/mr.dcm"), "outside_file.dcm");
    link(&outside.join("secret"), "outside_dir");
    link(Path::new("/etc/passwd"), "passwd.dcm");
    link(Path::new("does/not/exist.dcm"), "broken.dcm");
    std::fs::create_dir_all(input.join("loop")).unwrap();
    link(&input, "loop/back_to_root");
    // A FIFO would block a reader forever.
    let fifo = std::ffi::CString::new(input.join("pipe.dcm").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);

    let index = scan_lib(&input);
    let got = unreadable_by_path(&index);
    let kind = |p: &str| got.get(p).map(|(k, r)| (k.as_str(), r.as_str()));
    for p in ["outside_file.dcm", "outside_dir", "passwd.dcm"] {
        let (k, r) = kind(p).unwrap_or_else(|| panic!("{p} not refused: {got:#?}"));
        assert_eq!(k, "symlink");
        assert!(r.contains("outside the scanned folder"), "{p}: {r}");
    }
    assert!(
        kind("broken.dcm").unwrap().1.contains("broken symbolic link"),
        "{got:#?}"
    );
    assert!(kind("loop/back_to_root").unwrap().1.contains("loop"), "{got:#?}");
    assert!(kind("pipe.dcm").unwrap().1.contains("not a regular file"), "{got:#?}");
    // Links to what the scan reaches anyway: each file is read (and written) once, under its
    // own path, whatever the links' names.
    assert_eq!(
        kind("ct_link.dcm"),
        Some(("symlink", "leads to a file already scanned: real/ct.dcm"))
    );
    assert_eq!(
        kind("real_again"),
        Some(("symlink", "leads to a folder already scanned: real"))
    );
    assert_eq!(got.len(), 8, "{got:#?}");
    let mut paths: Vec<String> = index
        .patients
        .iter()
        .flat_map(|p| p.instances().map(|i| i.path.to_string_lossy().into_owned()))
        .collect();
    paths.sort();
    assert_eq!(paths, ["real/ct.dcm", "real/mr.dcm"]);

    // The output holds each file once; nothing from outside.
    let out = tmp.path().join("out");
    let report = apply_lib(&input, &out, &tmp.path().join("key.json"), None);
    assert_eq!(report.written, 2, "{:?}", report.failed);
    let written: Vec<PathBuf> = tree(&out).into_iter().map(|(p, _)| p).collect();
    assert!(!written.iter().any(|p| p.starts_with("outside_dir")
        || p.starts_with("loop")
        || p.starts_with("real_again")
        || p.starts_with("ct_link.dcm")));
}

/// A chain of folders, each holding two links to the next, has 2^n paths through it; the
/// scan reaches each folder once and lists every other way in. A link whose name sorts
/// before its target (`alias -> sub`) does not make the file appear twice either.
#[test]
fn symlinks_to_what_was_already_scanned_are_listed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    const LEVELS: usize = 12;
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", &format!("L{LEVELS:02}/ct.dcm")),
            ("pydicom/MR_small.dcm", "sub/mr.dcm"),
        ],
    );
    for i in 0..LEVELS {
        let dir = input.join(format!("L{i:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for l in ["a", "b"] {
            std::os::unix::fs::symlink(format!("../L{:02}", i + 1), dir.join(l)).unwrap();
        }
    }
    std::os::unix::fs::symlink("sub", input.join("alias")).unwrap();

    let started = std::time::Instant::now();
    let (files, problems) = dams::scan::discover(&input, &dams::scan::ScanOptions::default()).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(
        files,
        [
            PathBuf::from(format!("L{LEVELS:02}/ct.dcm")),
            PathBuf::from("sub/mr.dcm")
        ]
    );
    let mut expected = Vec::new();
    for i in 0..LEVELS {
        for l in ["a", "b"] {
            expected.push((
                format!("L{i:02}/{l}"),
                format!("leads to a folder already scanned: L{:02}", i + 1),
            ));
        }
    }
    expected.push((
        "alias".to_string(),
        "leads to a folder already scanned: sub".to_string(),
    ));
    let got: Vec<(String, String)> = problems
        .iter()
        .map(|u| {
            assert_eq!(u.kind, dams::scan::UnreadableKind::Symlink, "{u:?}");
            (u.path.to_string_lossy().into_owned(), u.reason.clone())
        })
        .collect();
    assert_eq!(got, expected);

    // The same result from the whole scan, every time.
    let index = scan_lib(&input);
    assert_eq!(index.file_count(), 2);
    assert_eq!(index.unreadable.len(), 1 + 2 * LEVELS);
}

/// However an Index names a file, apply never reads outside the input or writes outside
/// the output: `..`, absolute paths and a symbolic link planted in the output are refused.
#[test]
fn destinations_never_leave_the_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", "a/ct.dcm"),
            ("pydicom/CT_small.dcm", "b/ct.dcm"),
            ("pydicom/CT_small.dcm", "c/ct.dcm"),
            // One folder below the planted link: creating it would happen through the link.
            ("pydicom/CT_small.dcm", "linked/sub/ct.dcm"),
        ],
    );
    // A file beside the input that an escaping path would overwrite.
    stage(tmp.path(), &[("pydicom/MR_small.dcm", "victim.dcm")]);
    let victim = std::fs::read(tmp.path().join("victim.dcm")).unwrap();
    let mut index = scan_lib(&input);
    let escape = [
        PathBuf::from("../victim.dcm"),
        tmp.path().join("victim.dcm"),
        PathBuf::from("c/../../victim.dcm"),
    ];
    {
        let instances: Vec<&mut dams::scan::Instance> = index
            .patients
            .iter_mut()
            .flat_map(|p| p.studies.iter_mut())
            .flat_map(|s| s.series.iter_mut())
            .flat_map(|s| s.instances.iter_mut())
            .filter(|i| !i.path.starts_with("linked"))
            .collect();
        assert_eq!(instances.len(), 3);
        for (inst, bad) in instances.into_iter().zip(&escape) {
            inst.path = bad.clone();
        }
    }
    // The output already holds a link that leads out of it.
    let out = tmp.path().join("out");
    let trap = tmp.path().join("trap");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&trap).unwrap();
    std::os::unix::fs::symlink(&trap, out.join("linked")).unwrap();

    let mut engine = common::engine(&tmp.path().join("key.json"), None);
    let prepared = engine.prepare(&index).expect("prepare");
    let report = engine
        .apply(
            &index,
            &prepared,
            &dams::apply::Target::Folder(out.clone()),
            None,
            &dams::progress::quiet,
        )
        .unwrap();
    assert_eq!(report.written, 0);
    assert_eq!(report.failed.len(), 4, "{:?}", report.failed);
    for f in &report.failed {
        assert!(f.reason.contains("refused"), "{f:?}");
    }
    assert_eq!(std::fs::read(tmp.path().join("victim.dcm")).unwrap(), victim);
    assert_eq!(
        std::fs::read_dir(&trap).unwrap().count(),
        0,
        "nothing written, and no folder made, through the link"
    );

    // The guard itself, for any destination a plan could name.
    let root = Path::new("/out");
    assert_eq!(
        dams::apply::destination(root, Path::new("P1/ct.dcm")).unwrap(),
        PathBuf::from("/out/P1/ct.dcm")
    );
    for bad in ["../x", "/etc/x", "a/../../x", "", ".", "a/./b/.."] {
        assert!(dams::apply::destination(root, Path::new(bad)).is_err(), "{bad}");
    }
}

/// A folder and a file whose names are not UTF-8 (Latin-1 bytes, as old Windows shares
/// write them) go through every command; JSON shows them with U+FFFD.
#[test]
fn names_that_are_not_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let dir = OsStr::from_bytes(b"M\xFCller");
    let file = OsStr::from_bytes(b"sch\xE4del.dcm");
    std::fs::create_dir_all(input.join(dir)).unwrap();
    std::fs::copy(fixture("pydicom/CT_small.dcm"), input.join(dir).join(file)).unwrap();
    stage(&input, &[("pydicom/MR_small.dcm", "plain/mr.dcm")]);
    let data = tmp.path().join("data");
    let out = tmp.path().join("out");
    let run = |args: &[&OsStr], code: i32| {
        let o = dams(&data).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(o.status.code(), Some(code), "{args:?}: {stderr}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        v
    };
    let (i, o) = (input.as_os_str(), out.as_os_str());
    let scan = run(&["scan".as_ref(), i, "--json".as_ref()], 0);
    let text = scan.to_string();
    assert!(text.contains("M\u{FFFD}ller/sch\u{FFFD}del.dcm"), "{text}");
    run(&["plan".as_ref(), i, "--json".as_ref()], 0);
    let applied = run(
        &[
            "apply".as_ref(),
            i,
            "--out".as_ref(),
            o,
            "--yes".as_ref(),
            "--json".as_ref(),
        ],
        0,
    );
    assert_eq!(applied["written"], 2, "{applied:#}");
    assert!(out.join(dir).join(file).exists(), "written under its exact byte name");
    // Clean: the fixtures' StudyID held the PatientID, and the seed's clean pass replaced it.
    let verified = run(&["verify".as_ref(), o, "--against".as_ref(), i, "--json".as_ref()], 0);
    assert_eq!(verified["checked"], 2, "{verified:#}");
    assert_eq!(verified["problems"], serde_json::json!([]), "{verified:#}");
    // An original copied into the output under a Latin-1 name: verify names it by path.
    let planted = OsStr::from_bytes(b"kopie_sch\xE4del.dcm");
    std::fs::copy(input.join(dir).join(file), out.join(dir).join(planted)).unwrap();
    let verified = run(&["verify".as_ref(), o, "--json".as_ref()], 1);
    assert!(
        verified["residual"]
            .to_string()
            .contains("M\u{FFFD}ller/kopie_sch\u{FFFD}del.dcm"),
        "{verified:#}"
    );
    // And in the text output.
    let o = dams(&data).arg("scan").arg(&input).output().unwrap();
    assert!(o.status.success());
}

/// A folder or file name that is not UTF-8 and holds the patient's ID is renamed like any
/// other: the ID must not survive in the output path because the rest of the name is Latin-1.
#[test]
fn identifier_in_a_name_that_is_not_utf8_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    // CT_small's PatientID is 1CT1.
    let dir = OsStr::from_bytes(b"1CT1_M\xFCller");
    let file = OsStr::from_bytes(b"1CT1_sch\xE4del.dcm");
    std::fs::create_dir_all(input.join(dir)).unwrap();
    std::fs::copy(fixture("pydicom/CT_small.dcm"), input.join(dir).join(file)).unwrap();
    let out = tmp.path().join("out");
    let report = apply_lib(&input, &out, &tmp.path().join("key.json"), None);
    assert_eq!(report.written, 1, "{:?}", report.failed);
    let written: Vec<PathBuf> = tree(&out)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let bytes = written[0].as_os_str().as_bytes();
    assert!(
        !bytes.windows(4).any(|w| w == b"1CT1"),
        "the PatientID is still in the output path: {}",
        written[0].display()
    );
    let key = dams::key::KeyStore::open(&tmp.path().join("key.json")).unwrap();
    let code = key.code_for("1CT1").unwrap();
    assert_eq!(
        written[0],
        PathBuf::from(format!("{code}_M\u{FFFD}ller/{code}_sch\u{FFFD}del.dcm"))
    );
}

/// Folders and files that cannot be read are rows with a reason; an output folder that
/// cannot be written stops the run before anything is done, the key store untouched.
#[test]
fn unreadable_input_and_unwritable_output() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let input = base.join("in");
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", "ok/ct.dcm"),
            ("pydicom/MR_small.dcm", "locked/mr.dcm"),
        ],
    );
    let data = base.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let Some(_) = dams_unprivileged(&data) else { return };
    for d in [base, &input, &input.join("ok")] {
        chmod(d, 0o777);
    }
    // Sticky, like /tmp: a key folder others could write to without it is refused.
    chmod(&data, 0o1777);
    chmod(&input.join("ok/ct.dcm"), 0o644);
    chmod(&input.join("locked"), 0o000);
    let key = data.join("key.db");

    // An output folder that exists but is read-only for this user.
    let ro = base.join("readonly");
    std::fs::create_dir_all(&ro).unwrap();
    chmod(&ro, 0o555);
    // And one that does not exist yet, under a read-only parent.
    let ro_child = ro.join("new/out");
    for out in [&ro, &ro_child] {
        let o = dams_unprivileged(&data)
            .unwrap()
            .args(["apply", "--yes", "--key"])
            .arg(&key)
            .arg(&input)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("cannot be written"), "{stderr}");
        assert!(stderr.to_lowercase().contains("permission denied"), "{stderr}");
        assert!(!key.exists(), "nothing done, not even the key store: {stderr}");
        assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
    }

    // A writable output: the locked folder is a row with its reason, the rest is written.
    let out = base.join("out");
    let o = dams_unprivileged(&data)
        .unwrap()
        .args(["apply", "--yes", "--json", "--key"])
        .arg(&key)
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["written"], 1, "{report:#}");
    let u = &report["unreadable"][0];
    assert_eq!(u["path"], "locked", "{report:#}");
    assert!(
        u["reason"].as_str().unwrap().contains("cannot list folder"),
        "{report:#}"
    );
    chmod(&input.join("locked"), 0o755);
}

/// In place, with the folder given as a relative path through a symbolic link: every file is
/// still inside the folder it is written to.
#[test]
fn in_place_through_a_relative_linked_path() {
    let tmp = tempfile::tempdir().unwrap();
    stage(
        &tmp.path().join("real"),
        &[
            ("pydicom/CT_small.dcm", "a/ct.dcm"),
            ("pydicom/MR_small.dcm", "b/mr.dcm"),
        ],
    );
    std::os::unix::fs::symlink("real", tmp.path().join("via_link")).unwrap();
    let o = dams(&tmp.path().join("data"))
        .current_dir(tmp.path())
        .args(["apply", "--yes", "--in-place", "--json", "via_link"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(report["written"], 2, "{report:#}");
    let p = dams::dicom::parse::parse_file(&tmp.path().join("real/a/ct.dcm")).unwrap();
    assert_eq!(p.top_string(dams::dicom::tags::PATIENT_ID).as_deref(), Some("P0001"));
}

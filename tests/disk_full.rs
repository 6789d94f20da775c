//! Disk full and write errors during apply: the run stops (or skips the file) with a clear
//! reason, no partial file appears under a final name, the key store and the review state
//! stay intact, and a rerun once there is room gives exactly the uninterrupted output.
//!
//! The full disk is a 2 MiB tmpfs mounted by the test, which needs root (CI runs as root;
//! elsewhere the test says it skipped, and `DAMS_REQUIRE_TMPFS=1` makes that a failure). The
//! file size limit (EFBIG) needs no privilege.

#![allow(clippy::unwrap_used)]
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn apply_cmd(data: &Path, input: &Path, out: &Path) -> Command {
    let mut c = dams(data);
    c.args(["apply", "--yes", "--json", "--key"])
        .arg(data.join("key.json"))
        .arg(input)
        .arg("--out")
        .arg(out);
    c
}

fn report(o: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}"))
}

fn temps(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".dams-tmp-"))
        .collect()
}

/// Every file under a final name is exactly the reference's.
fn assert_no_torn_files(out: &Path, expected: &BTreeMap<PathBuf, Vec<u8>>) {
    assert!(temps(out).is_empty(), "temporary files left: {:?}", temps(out));
    for (rel, bytes) in tree(out) {
        assert!(expected.get(&rel) == Some(&bytes), "{} is torn or wrong", rel.display());
    }
}

/// The output of an uninterrupted run, with a key store of its own.
fn reference(base: &Path, input: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let out = base.join("reference");
    let o = apply_cmd(&base.join("data-ref"), input, &out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    tree(&out).into_iter().collect()
}

/// A tmpfs that is unmounted when the test ends, however it ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn disk_full_stops_cleanly_and_a_rerun_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let input = base.join("in");
    // ~4 MiB of CT slices (3 patients) for a 2 MiB file system, and an XML sidecar.
    dams::demo::make_cohort(&input, 120, 40, 128, 128).unwrap();
    std::fs::write(
        input.join("P0000/notes.xml"),
        "<?xml version=\"1.0\"?>\n<Log><PatientID>BENCH-0000</PatientID></Log>\n",
    )
    .unwrap();
    let inputs_before = tree(&input);
    let expected = reference(base, &input);

    let Some(small) = Tmpfs::mount(&base.join("small"), "2m") else {
        assert!(
            std::env::var_os("DAMS_REQUIRE_TMPFS").is_none(),
            "DAMS_REQUIRE_TMPFS is set but a tmpfs cannot be mounted here"
        );
        eprintln!("cannot mount a tmpfs (needs root): skipping the disk-full test");
        return;
    };
    let data = base.join("data");
    let key = data.join("key.json");
    // Review decisions made before the run must survive it.
    let keystore = dams::key::KeyStore::open_or_create(&key).unwrap();
    let mut review = dams::review::ReviewState::open(&keystore).unwrap();
    review.know(["BENCH-0001"]);
    review
        .update(&input, |w| w.set_status("BENCH-0001", dams::review::Status::Approved))
        .unwrap();
    let review_before = review.workspace(&input).unwrap();

    let out = small.0.join("out");
    let o = apply_cmd(&data, &input, &out).output().unwrap();
    let r = report(&o);
    assert_eq!(o.status.code(), Some(1), "{r:#}");
    let failed = r["failed"].as_array().unwrap();
    assert!(!failed.is_empty(), "{r:#}");
    let reasons: Vec<&str> = failed.iter().map(|f| f["reason"].as_str().unwrap()).collect();
    assert!(
        reasons.iter().any(|m| m.contains("No space left on device")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .all(|m| m.contains("No space left on device") || m.contains("file system is full")),
        "{reasons:?}"
    );
    let stopped = reasons.iter().filter(|m| m.contains("file system is full")).count();
    eprintln!(
        "disk full: {} written, {} failed ({stopped} not tried once the disk was full)",
        r["written"],
        failed.len()
    );
    assert!(
        stopped > 0,
        "the run must stop writing once the disk is full: {reasons:?}"
    );
    assert_eq!(
        r["written"].as_u64().unwrap() as usize + failed.len(),
        121,
        "every file accounted for: {r:#}"
    );
    assert_no_torn_files(&out, &expected);
    assert!(tree(&input) == inputs_before, "inputs changed");
    let k = dams::key::KeyStore::open(&key).unwrap();
    assert_eq!(k.entries().len(), 3, "codes were written before any file");
    assert_eq!(review.workspace(&input).unwrap(), review_before);

    // Room again: the rerun completes, identical to the uninterrupted run.
    small.resize("64m");
    let o = apply_cmd(&data, &input, &out).output().unwrap();
    let r = report(&o);
    assert_eq!(o.status.code(), Some(0), "{r:#}");
    let got: BTreeMap<PathBuf, Vec<u8>> = tree(&out).into_iter().collect();
    assert!(got == expected, "rerun output differs from the uninterrupted run");
    assert_eq!(dams::key::KeyStore::open(&key).unwrap().entries(), k.entries());
}

/// A file size limit (`ulimit -f`): dams ignores SIGXFSZ, so the write fails with EFBIG,
/// that file is reported and the smaller ones are written.
#[test]
fn file_size_limit_skips_the_file_and_goes_on() {
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let input = base.join("in");
    stage(
        &input,
        &[
            ("pydicom/examples_overlay.dcm", "big/a.dcm"), // 322 KB
            ("pydicom/examples_overlay.dcm", "big/b.dcm"),
            ("pydicom/CT_small.dcm", "small/a.dcm"), // 39 KB
            ("pydicom/MR_small.dcm", "small/b.dcm"), // 10 KB
        ],
    );
    let expected = reference(base, &input);
    let data = base.join("data");
    let out = base.join("out");
    let mut cmd = apply_cmd(&data, &input, &out);
    // SAFETY: setrlimit is async-signal-safe and touches only this child's limits.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                // Above the key store's database (and its log and backup), below the big files.
                rlim_cur: 200_000,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.code().is_some(),
        "dams was killed ({:?}); SIGXFSZ must be ignored",
        o.status
    );
    let r = report(&o);
    assert_eq!(o.status.code(), Some(1), "{r:#}");
    assert_eq!(r["written"], 2, "{r:#}");
    for f in r["failed"].as_array().unwrap() {
        assert!(f["path"].as_str().unwrap().starts_with("big/"), "{r:#}");
        assert!(f["reason"].as_str().unwrap().contains("File too large"), "{r:#}");
    }
    assert_no_torn_files(&out, &expected);
    assert!(dams::key::KeyStore::open(&data.join("key.json")).is_ok());

    let o = apply_cmd(&data, &input, &out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{:#}", report(&o));
    let got: BTreeMap<PathBuf, Vec<u8>> = tree(&out).into_iter().collect();
    assert!(got == expected, "rerun output differs from the uninterrupted run");
}

//! The key store through the CLI, as two users' processes would meet it: a lock that makes
//! one process wait, concurrent writers that never interleave (both changes kept, or a clear
//! "changed by another process"), a damaged file refused and never overwritten, the previous
//! version kept, owner-only permissions and a warning when others can read it.

#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;

fn key_cmd(data: &Path, args: &[&str]) -> Command {
    let mut c = dams(data);
    c.arg("key").args(args).arg("--key").arg(data.join("key.json"));
    c
}

fn codes(path: &Path) -> BTreeMap<String, String> {
    dams::key::KeyStore::open(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .entries()
        .iter()
        .map(|e| (e.patient_id.clone(), e.code.clone()))
        .collect()
}

fn write_csv(path: &Path, rows: &[(String, String)]) {
    let mut s = String::from("PatientID,code\n");
    for (id, code) in rows {
        s.push_str(&format!("{id},{code}\n"));
    }
    std::fs::write(path, s).unwrap();
}

fn finished(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

/// While another process holds the lock, `dams key import` waits; once it is released the
/// import goes through.
#[test]
fn a_second_writer_waits_for_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(key_cmd(data, &["init"]).output().unwrap().status.success());
    let csv = data.join("a.csv");
    write_csv(&csv, &[("A1".into(), "X-001".into())]);

    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(data.join("key.json.lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut child = key_cmd(data, &["import"])
        .arg(&csv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the import must wait while the lock is held"
    );
    assert!(codes(&data.join("key.json")).is_empty(), "nothing written yet");
    lock.unlock().unwrap();
    let o = finished(child);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        codes(&data.join("key.json")).get("A1").map(String::as_str),
        Some("X-001")
    );
}

/// Two real processes import at the same moment, many times over: the key file is always
/// valid, and holds exactly the changes of the processes that reported success; one that
/// lost the race says so clearly.
#[test]
fn concurrent_writers_never_interleave() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let key = data.join("key.json");
    assert!(key_cmd(data, &["init"]).output().unwrap().status.success());
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let (mut both, mut one) = (0, 0);
    for round in 0..12 {
        let mut children = Vec::new();
        let mut rows_of = Vec::new();
        for who in ["A", "B"] {
            let rows: Vec<(String, String)> = (0..20)
                .map(|i| (format!("{who}{round}-{i}"), format!("{who}-{round:02}-{i:03}")))
                .collect();
            let csv = data.join(format!("{who}{round}.csv"));
            write_csv(&csv, &rows);
            rows_of.push(rows);
            children.push(
                key_cmd(data, &["import"])
                    .arg(&csv)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        let mut ok = 0;
        for (child, rows) in children.into_iter().zip(rows_of) {
            let o = finished(child);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(!stderr.contains("panicked"), "{stderr}");
            if o.status.success() {
                ok += 1;
                expected.extend(rows);
            } else {
                assert_eq!(o.status.code(), Some(2), "{stderr}");
                assert!(
                    stderr.contains("changed by another dams process"),
                    "a clear reason: {stderr}"
                );
            }
        }
        assert!(ok >= 1, "round {round}: at least one import goes through");
        if ok == 2 {
            both += 1;
        } else {
            one += 1;
        }
        assert_eq!(
            codes(&key),
            expected,
            "round {round}: the key holds exactly the successful imports"
        );
    }
    eprintln!("{both} rounds with both imports through, {one} with one refused");
}

/// A damaged or truncated key store is refused by every command that would use it, and
/// never overwritten; nothing is written to the output either.
#[test]
fn damaged_key_is_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("in");
    stage(&input, &[("pydicom/CT_small.dcm", "ct.dcm")]);
    let key = data.join("key.json");
    let csv = tmp.path().join("k.csv");
    write_csv(&csv, &[("A1".into(), "X-001".into()), ("A2".into(), "X-002".into())]);
    assert!(key_cmd(&data, &["import"]).arg(&csv).output().unwrap().status.success());
    let good = std::fs::read(&key).unwrap();
    let truncated = good[..good.len() / 2].to_vec();
    let edited = String::from_utf8(good.clone())
        .unwrap()
        .replace("X-002", "X-009")
        .into_bytes();
    for damaged in [truncated, edited, Vec::new()] {
        std::fs::write(&key, &damaged).unwrap();
        let out = tmp.path().join("out");
        let runs: Vec<Output> = vec![
            dams(&data)
                .args(["apply", "--yes", "--key"])
                .arg(&key)
                .arg(&input)
                .arg("--out")
                .arg(&out)
                .output()
                .unwrap(),
            key_cmd(&data, &["import"]).arg(&csv).output().unwrap(),
            key_cmd(&data, &["init"]).output().unwrap(),
            dams(&data)
                .args(["plan", "--key"])
                .arg(&key)
                .arg(&input)
                .output()
                .unwrap(),
        ];
        for o in runs {
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("is damaged") && stderr.contains("key.json.bak"),
                "{stderr}"
            );
        }
        assert_eq!(
            std::fs::read(&key).unwrap(),
            damaged,
            "the damaged file is kept as it was"
        );
        assert!(!out.exists(), "nothing written with a damaged key");
    }
}

/// Created owner-only, the previous version kept beside it, and a warning once others can
/// read it.
#[test]
fn owner_only_backup_and_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let key = data.join("key.json");
    let o = key_cmd(data, &["init"]).output().unwrap();
    assert!(o.status.success());
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    let csv = data.join("a.csv");
    write_csv(&csv, &[("A1".into(), "X-001".into())]);
    assert!(key_cmd(data, &["import"]).arg(&csv).output().unwrap().status.success());
    write_csv(&csv, &[("A2".into(), "X-002".into())]);
    assert!(key_cmd(data, &["import"]).arg(&csv).output().unwrap().status.success());
    assert_eq!(codes(&key).len(), 2);
    let bak = data.join("key.json.bak");
    assert_eq!(codes(&bak).len(), 1, "the previous version is kept");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = key_cmd(data, &["info"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("can be read by other users") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

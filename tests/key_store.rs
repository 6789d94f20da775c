//! The embedded key store (`SQLite`) through the CLI, as users' processes meet it: a writer
//! waits for another's transaction, concurrent writers never lose each other's rows, a
//! process killed inside a transaction leaves nothing of it, a damaged database is refused
//! and never overwritten, owner-only files with a backup after each change, a symbolic link
//! followed to the real file, a folder others can write to refused, the code rules, and the
//! migration of a `key.json` made by the earlier release.

#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn key_cmd(data: &Path, args: &[&str]) -> Command {
    let mut c = dams(data);
    c.arg("key").args(args).arg("--key").arg(data.join("key.db"));
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

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// While another process holds a write transaction, `dams key import` waits; once it ends
/// the import goes through.
#[test]
fn a_second_writer_waits_for_the_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(key_cmd(data, &["init"]).output().unwrap().status.success());
    let csv = data.join("a.csv");
    write_csv(&csv, &[("A1".into(), "X-001".into())]);

    let holder = rusqlite::Connection::open(data.join("key.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut child = key_cmd(data, &["import"])
        .arg(&csv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the import must wait while another transaction is open"
    );
    assert!(codes(&data.join("key.db")).is_empty(), "nothing written yet");
    holder.execute_batch("ROLLBACK").unwrap();
    let o = finished(child);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(codes(&data.join("key.db")).get("A1").map(String::as_str), Some("X-001"));
}

/// Two real processes import at the same moment, many times over: both go through (their
/// rows do not conflict), nothing is lost; when they claim the same code, exactly one wins
/// and the other names the line.
#[test]
fn concurrent_writers_never_lose_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let key = data.join("key.db");
    assert!(key_cmd(data, &["init"]).output().unwrap().status.success());
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..8 {
        let mut children = Vec::new();
        let mut rows_of = Vec::new();
        for who in ["A", "B"] {
            let mut rows: Vec<(String, String)> = (0..20)
                .map(|i| (format!("{who}{round}-{i}"), format!("{who}-{round:02}-{i:03}")))
                .collect();
            // Both claim one code, in different case: only one may have it.
            let shared = if who == "A" { "SHARED-" } else { "shared-" };
            rows.push((format!("{who}{round}-x"), format!("{shared}{round}")));
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
                    stderr.contains("line 22") && stderr.contains("nothing imported"),
                    "a clear reason: {stderr}"
                );
            }
        }
        assert_eq!(ok, 1, "round {round}: exactly one import gets the shared code");
        assert_eq!(
            codes(&key),
            expected,
            "round {round}: the key holds exactly the successful imports"
        );
    }
}

/// A process killed inside its write transaction leaves nothing of it: the database opens,
/// passes its check, and holds what it held before.
#[test]
fn sigkill_inside_a_transaction_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let key = data.join("key.db");
    let csv = data.join("a.csv");
    write_csv(&csv, &[("A1".into(), "X-001".into())]);
    assert!(key_cmd(data, &["import"]).arg(&csv).output().unwrap().status.success());
    let rows: Vec<(String, String)> = (0..5000).map(|i| (format!("B{i}"), format!("Y-{i:05}"))).collect();
    write_csv(&csv, &rows);
    let marker = data.join("in-transaction");
    let mut child = key_cmd(data, &["import"])
        .arg(&csv)
        .env("DAMS_FAILPOINT", format!("key-commit:{}", marker.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !marker.exists() {
        assert!(start.elapsed() < Duration::from_mins(1), "never reached the commit");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before its commit"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL, with 5,000 rows written and not committed
    child.wait().unwrap();
    std::fs::remove_file(&marker).unwrap();
    assert_eq!(codes(&key).len(), 1, "no partial import");
    let o = key_cmd(data, &["import"]).arg(&csv).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(codes(&key).len(), 5001);
}

/// A damaged database (truncated, overwritten in the middle, not a database, empty) is
/// refused by every command that would use it, and never written to; nothing is written
/// to the output either.
#[test]
fn damaged_key_is_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let input = tmp.path().join("in");
    stage(&input, &[("pydicom/CT_small.dcm", "ct.dcm")]);
    let key = data.join("key.db");
    let csv = tmp.path().join("k.csv");
    let rows: Vec<(String, String)> = (0..400).map(|i| (format!("A{i}"), format!("X-{i:04}"))).collect();
    write_csv(&csv, &rows);
    assert!(key_cmd(&data, &["import"]).arg(&csv).output().unwrap().status.success());
    let good = std::fs::read(&key).unwrap();
    assert!(good.len() > 16 * 1024, "a database of several pages");
    let truncated = good[..good.len() / 2].to_vec();
    let mut scribbled = good.clone();
    for b in &mut scribbled[4096..good.len() - 4096] {
        *b = 0x5A;
    }
    let not_a_database = b"{\"format\": \"dams-key\"}\n".to_vec();
    for damaged in [truncated, scribbled, not_a_database, Vec::new()] {
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
            assert!(stderr.contains("is damaged") && stderr.contains("key.bak"), "{stderr}");
        }
        assert_eq!(
            std::fs::read(&key).unwrap(),
            damaged,
            "the damaged file is kept as it was"
        );
        assert!(!out.exists(), "nothing written with a damaged key");
    }
    // The backup made after the last change is a working key store.
    std::fs::copy(data.join("key.bak"), &key).unwrap();
    assert_eq!(codes(&key).len(), 400);
}

/// Owner-only database, log and backup; the backup holds the state after each change; a
/// warning once others can read the database.
#[test]
fn owner_only_backup_and_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let key = data.join("key.db");
    let o = key_cmd(data, &["init"]).output().unwrap();
    assert!(o.status.success());
    assert_eq!(mode(&key), 0o600);

    let csv = data.join("a.csv");
    write_csv(&csv, &[("A1".into(), "X-001".into())]);
    assert!(key_cmd(data, &["import"]).arg(&csv).output().unwrap().status.success());
    // While a reader holds the database open, its log files are there: owner-only too.
    let reader = rusqlite::Connection::open(&key).unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM dams_entries", [], |r| r.get(0))
        .unwrap();
    write_csv(&csv, &[("A2".into(), "X-002".into())]);
    assert!(key_cmd(data, &["import"]).arg(&csv).output().unwrap().status.success());
    for side in ["key.db-wal", "key.db-shm"] {
        assert_eq!(mode(&data.join(side)), 0o600, "{side}");
    }
    drop(reader);
    assert_eq!(codes(&key).len(), 2);
    let bak = data.join("key.bak");
    assert_eq!(codes(&bak).len(), 2, "the backup is made after each change");
    assert_eq!(mode(&bak), 0o600);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = key_cmd(data, &["info"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("can be read by other users") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

/// A key path that is a symbolic link: the real database is used and changed in place; the
/// link stays a link (it was once replaced by a file of its own, and the real key never
/// learned the new patients).
#[test]
fn a_linked_key_is_followed_to_the_real_file() {
    let tmp = tempfile::tempdir().unwrap();
    let real_dir = tmp.path().join("vault");
    std::fs::create_dir(&real_dir).unwrap();
    std::fs::set_permissions(&real_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let real = real_dir.join("study.db");
    let link = tmp.path().join("key.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let csv = tmp.path().join("a.csv");
    write_csv(&csv, &[("A1".into(), "X-001".into())]);
    for (id, code) in [("A1", "X-001"), ("A2", "X-002")] {
        write_csv(&csv, &[(id.into(), code.into())]);
        let o = dams(tmp.path())
            .args(["key", "import", "--key"])
            .arg(&link)
            .arg(&csv)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains(&real.display().to_string()));
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(codes(&real).len(), 2, "the real file holds both");
    assert!(real_dir.join("study.bak").exists(), "the backup beside the real file");
}

/// A key folder others can write to is refused with the fix; a sticky one (like /tmp) is not.
#[test]
fn a_folder_others_can_write_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    for m in [0o777, 0o770] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
        let o = dams(tmp.path())
            .args(["key", "init", "--key"])
            .arg(dir.join("key.db"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{m:o}: {stderr}");
        assert!(
            stderr.contains("can be written by other users")
                && stderr.contains(&format!("chmod 700 {}", dir.display())),
            "{stderr}"
        );
        assert!(!dir.join("key.db").exists());
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let o = dams(tmp.path())
        .args(["key", "init", "--key"])
        .arg(dir.join("key.db"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Import refuses what could be mistaken: a code equal to a `PatientID` (of any row, in any
/// case), codes that differ only in case, and a code equal to a real ID the key has seen.
#[test]
fn import_refuses_codes_that_can_be_mistaken() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let key = data.join("key.db");
    let csv = data.join("k.csv");
    let refused = |text: &str, wanted: &[&str]| {
        std::fs::write(&csv, text).unwrap();
        let o = key_cmd(data, &["import"]).arg(&csv).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text}: {stderr}");
        for w in wanted {
            assert!(stderr.contains(w), "{text}: {w} not in {stderr}");
        }
    };
    // PAT001 → PAT002 where PAT002 is a real ID of someone else.
    refused(
        "PatientID,code\nPAT001,PAT002\nPAT002,R-2\n",
        &[
            "line 2",
            "equals, ignoring case, the PatientID of line 3",
            "nothing imported",
        ],
    );
    refused(
        "PatientID,code\nabc,r-1\nDEF,R-1\n",
        &["line 3", "differs only in case"],
    );
    refused("PatientID,code\nP0003,p0003\n", &["line 2", "PatientID of line 2"]);
    assert!(codes(&key).is_empty(), "nothing imported");
    std::fs::write(&csv, "PatientID,code\nREAL-7,C-1\n").unwrap();
    assert!(key_cmd(data, &["import"]).arg(&csv).output().unwrap().status.success());
    // Across runs: the key remembers REAL-7 and C-1.
    refused(
        "PatientID,code\nX,real-7\n",
        &["line 2", "real PatientID the key store has seen"],
    );
    refused(
        "PatientID,code\nY,c-1\n",
        &["line 2", "already belongs to another patient"],
    );
    refused("PatientID,code\nc-1,Z-9\n", &["line 2", "the code of another patient"]);
    assert_eq!(codes(&key).len(), 1);
}

/// A code imported before the input was seen can equal a `PatientID` of that input: the key
/// could not know it. Plan and apply refuse it (exit 2), naming the two patients by label and
/// printing no other identifier, and nothing is written to the output or the key.
#[test]
fn an_imported_code_equal_to_an_input_id_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let (input, out) = (data.join("in"), data.join("out"));
    stage(
        &input,
        &[
            ("pydicom/CT_small.dcm", "ct/CT_small.dcm"),
            ("pydicom/MR_small.dcm", "mr/MR_small.dcm"),
        ],
    );
    let csv = data.join("k.csv");
    // 1CT1's code is 4MR1 (in another case): the PatientID of the MR's patient.
    std::fs::write(&csv, "PatientID,code\n1CT1,4mr1\n").unwrap();
    let o = key_cmd(data, &["import"]).arg(&csv).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = codes(&data.join("key.db"));
    let with_key = |c: &mut Command| {
        c.arg("--key").arg(data.join("key.db"));
    };
    let mut plan = dams(data);
    plan.arg("plan").arg(&input);
    with_key(&mut plan);
    let plan = plan.output().unwrap();
    let mut apply = dams(data);
    apply.arg("apply").arg(&input).arg("--out").arg(&out).arg("--yes");
    with_key(&mut apply);
    let apply = apply.output().unwrap();
    for (what, o) in [("plan", &plan), ("apply", &apply)] {
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains("patient 1CT1") && stderr.contains("PatientID of patient 4MR1"),
            "{what}: {stderr}"
        );
        // The other patient's name, birth date and the code itself are not printed.
        assert!(
            !stderr.contains("4mr1") && !stderr.contains("CompressedSamples"),
            "{what}: {stderr}"
        );
    }
    assert!(!out.join("ct").exists() && !out.join("mr").exists(), "nothing written");
    assert_eq!(codes(&data.join("key.db")), before, "nothing added to the key");
}

/// A refused import lists its problems one per line (real line breaks, not `\n`), and
/// `key export -o -` writes to stdout like no `-o` at all.
#[test]
fn import_problems_are_lines_and_export_dash_is_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let csv = data.join("k.csv");
    std::fs::write(&csv, "PatientID,code\nPAT001,PAT002\nPAT002,R-2\nabc,r-1\nDEF,R-1\n").unwrap();
    let o = key_cmd(data, &["import"]).arg(&csv).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].ends_with("nothing imported:"), "{stderr}");
    assert!(
        lines[1].starts_with("  line 2: ") && lines[2].starts_with("  line 5: "),
        "{stderr}"
    );
    assert!(!stderr.contains("\\n"), "{stderr}");

    std::fs::write(&csv, "PatientID,code\nA1,X-1\n").unwrap();
    assert!(key_cmd(data, &["import"]).arg(&csv).output().unwrap().status.success());
    let plain = key_cmd(data, &["export"]).output().unwrap();
    let dash = key_cmd(data, &["export", "-o", "-"]).output().unwrap();
    assert!(dash.status.success(), "{}", String::from_utf8_lossy(&dash.stderr));
    assert!(String::from_utf8_lossy(&dash.stdout).contains("X-1,A1"), "{dash:?}");
    assert_eq!(dash.stdout, plain.stdout);
    assert!(!data.join("-").exists(), "no file named -");
}

/// Generated codes never equal a real ID of the input or of the key (case-insensitively):
/// a patient whose ID is `P0002` does not keep `P0002`, and nobody gets `p0001` when
/// that is someone's ID.
#[test]
fn generated_codes_skip_real_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key.db");
    let mut k = dams::key::KeyStore::open_or_create(&key).unwrap();
    let cand = |id: &str| dams::key::Candidate {
        key: id.into(),
        ids: vec![format!("{id}-ALT")],
        ..Default::default()
    };
    let p = k.propose(&[
        cand("p0001"),
        cand("P0002"),
        cand("\\N\\P0003^X\\19700101"),
        cand("p0004-alt"),
    ]);
    let got: Vec<(&str, &str)> = p.iter().map(|e| (e.patient_id.as_str(), e.code.as_str())).collect();
    // p0001, P0002 are real IDs; P0003 only appears inside a synthetic key, which is no ID;
    // P0004-ALT is an OtherPatientID, but not a code's spelling.
    assert_eq!(
        got,
        vec![
            ("P0002", "P0003"),
            ("\\N\\P0003^X\\19700101", "P0004"),
            ("p0001", "P0005"),
            ("p0004-alt", "P0006")
        ]
    );
    k.commit(&p).unwrap();
    // Across runs: the IDs were recorded; a new patient never gets one of them.
    let k = dams::key::KeyStore::open(&key).unwrap();
    let p = k.propose(&[cand("NEW")]);
    assert_eq!(p[0].code, "P0007");
}

/// Migration of a `key.json` made by the earlier release (`tests/fixtures/key_v1`): checked,
/// imported whole, said once, kept read-only; the codes and the secret carry over, and the
/// next code continues after them.
#[test]
fn key_json_of_the_earlier_release_is_migrated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for f in ["key.json", "key.review.json"] {
        std::fs::copy(fixture(&format!("key_v1/{f}")), dir.join(f)).unwrap();
    }
    let json = dir.join("key.json");
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let info = |key: &Path| {
        dams(tmp.path())
            .args(["key", "info", "--key"])
            .arg(key)
            .output()
            .unwrap()
    };
    let o = info(&json);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("migrated the key store") && stderr.contains("read-only"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("entries: 2"));
    assert_eq!(mode(&json), 0o400);
    // Once: the next run (by the old path or the new one) says nothing.
    for key in [&json, &dir.join("key.db")] {
        let o = info(key);
        assert!(o.status.success());
        assert!(!String::from_utf8_lossy(&o.stderr).contains("migrated"), "{key:?}");
    }
    let k = dams::key::KeyStore::open(&dir.join("key.db")).unwrap();
    assert_eq!(k.code_for("MAP001"), Some("STUDY-001"));
    assert_eq!(k.code_for("EXT-42"), Some("EXT-0042"));
    let secret: String = k.secret().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(secret, original["secret"].as_str().unwrap());
    let p = k.propose(&[dams::key::Candidate {
        key: "MAP002".into(),
        ..Default::default()
    }]);
    assert_eq!(p[0].code, "STUDY-002", "numbering goes on where the JSON left it");

    // A damaged JSON is refused and left alone, and no database appears.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o700)).unwrap();
    let text = std::fs::read_to_string(fixture("key_v1/key.json"))
        .unwrap()
        .replace("STUDY-001", "STUDY-009");
    std::fs::write(other.join("key.json"), &text).unwrap();
    let o = info(&other.join("key.json"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is damaged") && stderr.contains("checksum"), "{stderr}");
    assert!(!other.join("key.db").exists());
    assert_eq!(std::fs::read_to_string(other.join("key.json")).unwrap(), text);
}

/// `key export --json` and `key import` move a whole key (secret, settings, codes, IDs seen)
/// into a new store; the CSV export shows patients without a `PatientID` readably and
/// imports back.
#[test]
fn export_and_import_move_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    for d in [&a, &b] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let mut k = dams::key::KeyStore::open_or_create(&a.join("key.db")).unwrap();
    let p = k.propose(&[
        dams::key::Candidate {
            key: "ID-1".into(),
            name: "DOE^JOHN".into(),
            ids: vec!["OLD-1".into()],
            ..Default::default()
        },
        dams::key::Candidate {
            key: "\\N\\DOE^JANE\\19700101".into(),
            name: "DOE^JANE".into(),
            birth_date: "19700101".into(),
            ..Default::default()
        },
    ]);
    k.commit(&p).unwrap();
    let exported = tmp.path().join("key-export.json");
    let o = dams(tmp.path())
        .args(["key", "export", "--json", "-o"])
        .arg(&exported)
        .arg("--key")
        .arg(a.join("key.db"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = dams(tmp.path())
        .args(["key", "import", "--key"])
        .arg(b.join("key.db"))
        .arg(&exported)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let kb = dams::key::KeyStore::open(&b.join("key.db")).unwrap();
    assert_eq!(kb.secret(), k.secret(), "the same secret: the same UIDs");
    assert_eq!(kb.entries().len(), 2);
    // The IDs seen came along: OLD-1 is never a code.
    let csv = tmp.path().join("x.csv");
    std::fs::write(&csv, "PatientID,code\nZ,old-1\n").unwrap();
    let o = dams(tmp.path())
        .args(["key", "import", "--key"])
        .arg(b.join("key.db"))
        .arg(&csv)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));

    let o = dams(tmp.path())
        .args(["key", "export", "--key"])
        .arg(a.join("key.db"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("P0002,,DOE^JANE,19700101,,generated,"), "{text}");
    assert!(text.contains(",\\N\\DOE^JANE\\19700101\n"), "{text}");
    let o = dams(tmp.path())
        .args(["key", "lookup", "p0002", "--key"])
        .arg(a.join("key.db"))
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        shown.contains("(none: no PatientID: name and birth date)") && shown.contains("DOE^JANE"),
        "{shown}"
    );
    // The CSV imports back into a fresh store with the same keys.
    let c = tmp.path().join("c");
    std::fs::create_dir(&c).unwrap();
    std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o700)).unwrap();
    let csv = tmp.path().join("export.csv");
    std::fs::write(&csv, &text).unwrap();
    let o = dams(tmp.path())
        .args(["key", "import", "--key"])
        .arg(c.join("key.db"))
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(codes(&c.join("key.db")), codes(&a.join("key.db")));
}

/// Eight `dams apply` processes on disjoint folders share one database: unique codes, every
/// code written is in the key.
#[test]
fn concurrent_applies_share_one_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key: PathBuf = tmp.path().join("key.db");
    concurrent_applies(tmp.path(), key.as_os_str(), 8, 3);
}

/// `dams key allocate` over the parts of a cohort gives the codes one run over the whole
/// cohort gives; the applies of the parts then add none.
#[test]
fn allocate_gives_the_codes_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cohort = tmp.path().join("cohort");
    dams::demo::make_cohort_named(&cohort.join("part-b"), "B", 6, 2, 8, 8).unwrap();
    dams::demo::make_cohort_named(&cohort.join("part-a"), "A", 6, 2, 8, 8).unwrap();
    let one = tmp.path().join("one.db");
    let o = dams(tmp.path())
        .args(["apply", "--yes", "--key"])
        .arg(&one)
        .arg(&cohort)
        .arg("--out")
        .arg(tmp.path().join("out-one"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let parts = tmp.path().join("parts.db");
    let o = dams(tmp.path())
        .args(["key", "allocate", "--key"])
        .arg(&parts)
        .arg(cohort.join("part-b"))
        .arg(cohort.join("part-a"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("6 patient(s) found; 6 new code(s)"), "{stdout}");
    assert_eq!(codes(&parts), codes(&one));
    let o = dams(tmp.path())
        .args(["apply", "--yes", "--key"])
        .arg(&parts)
        .arg(cohort.join("part-a"))
        .arg("--out")
        .arg(tmp.path().join("out-a"))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stdout).contains("added"), "no new code");
    assert_eq!(codes(&parts), codes(&one));
}

/// `dams key import --offset-column` records the patients' date offsets (into entries that
/// have none, beside new codes), refuses a bad one by its line without showing the ID, and
/// `dams key lookup` shows them.
#[test]
fn date_offsets_are_imported_and_looked_up() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let key = data.join("key.db");
    let mut k = dams::key::KeyStore::open_or_create(&key).unwrap();
    let mut p = k.propose(&[
        dams::key::Candidate {
            key: "ID-1".into(),
            ..Default::default()
        },
        dams::key::Candidate {
            key: "ID-2".into(),
            ..Default::default()
        },
    ]);
    p[0].date_offset = Some(-1234);
    k.commit(&p).unwrap();
    let lookup = |code: &str| {
        let o = key_cmd(data, &["lookup", code]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(lookup("P0001").contains("\ndate offset:  -1234 days\n"));
    assert!(lookup("P0002").contains("\ndate offset:  (none recorded)\n"));

    let csv = data.join("offsets.csv");
    std::fs::write(
        &csv,
        "PatientID,code,Verschiebung\nID-2,P0002,+400\nID-3,X-3,\nID-1,P0001,-1234\n",
    )
    .unwrap();
    let o = key_cmd(data, &["import", "--offset-column", "verschiebung"])
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("imported 1 new entry") && stdout.contains("(1 date offset recorded)"),
        "{stdout}"
    );
    assert!(lookup("P0002").contains("\ndate offset:  400 days\n"));
    assert!(lookup("X-3").contains("\ndate offset:  (none recorded)\n"));

    std::fs::write(&csv, "PatientID,code,Verschiebung\nID-4,X-4,5\nSECRET-5,X-5,0\n").unwrap();
    let o = key_cmd(data, &["import", "--offset-column", "Verschiebung"])
        .arg(&csv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 3") && stderr.contains("date offset"), "{stderr}");
    assert!(!stderr.contains("SECRET"), "{stderr}");
    assert!(!codes(&key).contains_key("ID-4"), "nothing imported");

    let o = dams(data).args(["key", "import", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("--offset-column"));
}

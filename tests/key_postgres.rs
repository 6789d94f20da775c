//! The team key store on a real `PostgreSQL` server, started by each test (see common/pg.rs):
//! concurrent `dams apply` processes sharing one database, a process killed inside its
//! transaction, the server stopped in the middle of a run, TLS as the URL asks, and a key of
//! the earlier release moved in. Skipped (with a message) where `PostgreSQL` is not installed,
//! unless `DAMS_REQUIRE_POSTGRES=1`.

#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::pg::Pg;
use common::*;

fn wait_for(marker: &Path, child: &mut Child) {
    let start = Instant::now();
    while !marker.exists() {
        assert!(start.elapsed() < Duration::from_mins(2), "never reached the commit");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("dams ended ({status:?}) before its commit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn apply(data: &Path, key: &str, input: &Path, out: &Path) -> std::process::Command {
    let mut c = dams(data);
    c.args(["apply", "--yes", "--json", "--key", key])
        .arg(input)
        .arg("--out")
        .arg(out);
    c
}

/// The store, its secret and the review state live in the database; a second process sees
/// them; a URL's password is never shown.
#[test]
fn the_key_and_its_secret_live_in_the_database() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.database("basic");
    let mut k = dams::key::KeyStore::open_or_create(Path::new(&url)).unwrap();
    assert!(k.created());
    let p = k.propose(&[dams::key::Candidate {
        key: "A-1".into(),
        ids: vec!["a-2".into()],
        ..Default::default()
    }]);
    k.commit(&p).unwrap();
    let secret = k.secret();
    let again = dams::key::KeyStore::open(Path::new(&url)).unwrap();
    assert_eq!(again.secret(), secret, "the UID secret is held by the database");
    assert_eq!(again.code_for("A-1"), Some("P0001"));
    assert!(again.describe().starts_with("PostgreSQL"), "{}", again.describe());
    // The IDs seen are in the database too: no code equal to A-2 from another process.
    let p = again.propose(&[dams::key::Candidate {
        key: "B".into(),
        ..Default::default()
    }]);
    assert_eq!(p[0].code, "P0002");

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("in");
    std::fs::create_dir(&root).unwrap();
    let mut review = dams::review::ReviewState::open(&k).unwrap();
    review.know(["A-1"]);
    review
        .update(&root, |w| w.set_status("A-1", dams::review::Status::Approved))
        .unwrap();
    let other = dams::review::ReviewState::open(&again).unwrap();
    assert_eq!(
        other.workspace(&root).unwrap().status("A-1"),
        dams::review::Status::Approved
    );

    let with_password = url.replace("dams@", "dams:hunter2@");
    let o = dams(tmp.path())
        .args(["key", "info", "--key", &with_password])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    assert!(!text.contains("hunter2") && text.contains("dams:***@"), "{text}");
}

/// Eight `dams apply` processes on disjoint folders, one database: unique codes, every code
/// written is in the key.
#[test]
fn concurrent_applies_share_one_database() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.database("team");
    let tmp = tempfile::tempdir().unwrap();
    concurrent_applies(tmp.path(), std::ffi::OsStr::new(&url), 8, 3);
}

/// SIGKILL while the codes' transaction is open: no partial entry, nothing written; the
/// rerun completes.
#[test]
fn sigkill_inside_the_transaction_leaves_no_entry() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.database("killed");
    let tmp = tempfile::tempdir().unwrap();
    let (data, input, out) = (tmp.path().join("data"), tmp.path().join("in"), tmp.path().join("out"));
    dams::demo::make_cohort_named(&input, "K", 20, 2, 8, 8).unwrap();
    let marker = tmp.path().join("in-transaction");
    let mut child = apply(&data, &url, &input, &out)
        .env("DAMS_FAILPOINT", format!("key-commit:{}", marker.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&marker, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&marker).unwrap();
    let k = dams::key::KeyStore::open(Path::new(&url)).unwrap();
    assert!(k.exists(), "the store itself was created before");
    assert_eq!(k.entries().len(), 0, "no partial entry");
    assert_eq!(count_files(&out), 0, "nothing written");
    let o = apply(&data, &url, &input, &out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(dams::key::KeyStore::open(Path::new(&url)).unwrap().entries().len(), 10);
}

fn count_files(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .count()
}

/// The server is stopped while a run's codes are being committed: apply stops with a clear
/// message, nothing is written, the key holds none of that run's codes; once the server is
/// back, the rerun writes everything with codes the key holds.
#[test]
fn server_stopped_mid_run_stops_apply_cleanly() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.database("stopped");
    let tmp = tempfile::tempdir().unwrap();
    let (data, input, out) = (tmp.path().join("data"), tmp.path().join("in"), tmp.path().join("out"));
    dams::demo::make_cohort_named(&input, "S", 12, 2, 8, 8).unwrap();
    let marker = tmp.path().join("in-transaction");
    let mut child = apply(&data, &url, &input, &out)
        .env("DAMS_FAILPOINT", format!("key-commit:{}", marker.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&marker, &mut child);
    pg.stop();
    std::fs::remove_file(&marker).unwrap();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the database server went away") && stderr.contains("nothing of this change was saved"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(count_files(&out), 0, "no file carries a code the key does not hold");

    // While it is down: a clear message at once.
    let o = apply(&data, &url, &input, &out).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot connect to the database server"), "{stderr}");

    pg.start_server();
    let k = dams::key::KeyStore::open(Path::new(&url)).unwrap();
    assert_eq!(k.entries().len(), 0, "the aborted run left no code");
    let o = apply(&data, &url, &input, &out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let k = dams::key::KeyStore::open(Path::new(&url)).unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let index = dams::scan::scan(&out, &dams::scan::ScanOptions::default(), &|_, _| {}, &cancel).unwrap();
    assert_eq!(index.patients.len(), 6);
    for p in &index.patients {
        assert!(
            k.entry_by_code(&p.patient_id).is_some(),
            "{} not in the key",
            p.patient_id
        );
    }
}

/// TLS as the URL asks (libpq's sslmode): encrypted with `require`, verified with
/// `verify-full` and the server's certificate as `sslrootcert`, refused with `verify-full`
/// against the system's roots (the test server's certificate is self-signed).
#[test]
fn tls_as_the_url_asks() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.database("tls");
    dams::key::KeyStore::open_or_create(Path::new(&url)).unwrap();
    let base = format!("postgres://dams@localhost:{}/tls", pg.port);
    let cert = pg.cert().display().to_string();
    let info = |url: &str| {
        let tmp = tempfile::tempdir().unwrap();
        let o = dams(tmp.path()).args(["key", "info", "--key", url]).output().unwrap();
        (
            o.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let (code, text) = info(&format!("{base}?sslmode=require"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("connection encrypted (TLS"), "{text}");
    let (code, text) = info(&format!("{base}?sslmode=verify-full&sslrootcert={cert}"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("connection encrypted (TLS"), "{text}");
    let (code, text) = info(&format!("{base}?sslmode=verify-full"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("cannot connect to the database server"), "{text}");
    let (code, text) = info(&format!("{base}?sslmode=disable"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("connection not encrypted"), "{text}");
}

/// A key of the earlier release (`tests/fixtures/key_v1`) moves into a team store with
/// `dams key import key.json`: codes, settings and secret.
#[test]
fn a_key_json_moves_into_the_team_store() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.database("moved");
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("old.json");
    std::fs::copy(fixture("key_v1/key.json"), &json).unwrap();
    let o = dams(tmp.path())
        .args(["key", "import", "--key", &url])
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let k = dams::key::KeyStore::open(Path::new(&url)).unwrap();
    assert_eq!(k.code_for("MAP001"), Some("STUDY-001"));
    assert_eq!(k.prefix(), "STUDY-");
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let secret: String = k.secret().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(secret, original["secret"].as_str().unwrap());
}

/// The schema of every team store made before date offsets (version 2), as the release
/// before them created it.
const SCHEMA_V2: &str = "
CREATE TABLE dams_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE dams_entries (
    seq BIGSERIAL PRIMARY KEY,
    patient_key TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    code_fold TEXT NOT NULL UNIQUE,
    patient_name TEXT NOT NULL DEFAULT '',
    birth_date TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    added TEXT NOT NULL
);
CREATE TABLE dams_seen_ids (seq BIGSERIAL PRIMARY KEY, fold TEXT NOT NULL UNIQUE);
CREATE TABLE dams_workspaces (folder TEXT PRIMARY KEY, doc TEXT NOT NULL, updated TEXT NOT NULL);
";

/// A team store of schema 2 is read as it is (no offsets) and upgraded by its first write;
/// offsets are then recorded once, committed with new codes, and another process's other
/// offset is refused as a change with nothing written.
#[test]
fn date_offsets_in_the_team_store_and_its_upgrade() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.database("offsets");
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute(SCHEMA_V2).unwrap();
    db.batch_execute(&format!(
        "INSERT INTO dams_meta (k, v) VALUES ('format', 'dams-key'), ('schema', '2'), ('prefix', 'P'), \
         ('digits', '4'), ('next', '2'), ('secret', '{}'), ('created', '2024-01-01T00:00:00Z'); \
         INSERT INTO dams_entries (patient_key, code, code_fold, source, added) \
         VALUES ('A', 'P0001', 'p0001', 'generated', '2024-01-01T00:00:00Z')",
        "cd".repeat(32)
    ))
    .unwrap();
    let schema = |db: &mut postgres::Client| -> String {
        db.query_one("SELECT v FROM dams_meta WHERE k = 'schema'", &[])
            .unwrap()
            .get(0)
    };
    let mut k = dams::key::KeyStore::open(Path::new(&url)).unwrap();
    assert_eq!((k.code_for("A"), k.date_offset("A")), (Some("P0001"), None));
    assert_eq!(schema(&mut db), "2", "reading does not upgrade");

    let mut p = k.propose(&[
        dams::key::Candidate {
            key: "A".into(),
            ..Default::default()
        },
        dams::key::Candidate {
            key: "B".into(),
            ..Default::default()
        },
    ]);
    assert_eq!(p.len(), 1, "A has a code");
    p[0].date_offset = Some(-250);
    k.commit(&p).unwrap();
    assert_eq!(schema(&mut db), "3");
    let mut stale = dams::key::KeyStore::open(Path::new(&url)).unwrap();
    k.record_offsets(&[("A".into(), 9)]).unwrap();
    k.record_offsets(&[("A".into(), 9), ("B".into(), -250)]).unwrap();
    let err = stale.record_offsets(&[("A".into(), 10)]).unwrap_err();
    assert!(err.is_changed(), "{err}");
    assert_eq!(stale.date_offset("A"), Some(9), "the snapshot holds the recorded one");
    let err = k.record_offsets(&[("NOBODY".into(), 3)]).unwrap_err();
    assert!(matches!(err, dams::key::KeyError::Conflict(_)), "{err}");
    let again = dams::key::KeyStore::open(Path::new(&url)).unwrap();
    assert_eq!(again.date_offset("A"), Some(9));
    assert_eq!(
        (again.code_for("B"), again.date_offset("B")),
        (Some("P0002"), Some(-250))
    );
}

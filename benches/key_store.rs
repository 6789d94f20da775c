//! The key store at scale, on the embedded (`SQLite`) backend in a temporary folder on disk:
//! importing a 100,000-row CSV table (it was quadratic: 38 s), giving codes to 1,000,000 new
//! patients in one transaction (propose + commit), opening that store (integrity check and
//! the snapshot read), and looking up 1,000,000 patients' codes.
//!
//! Run with `cargo bench --bench key_store`. Each step once (they change the store), in
//! seconds of wall clock and of CPU (user + system), with `synchronous=FULL` as dams runs it. With `DAMS_BENCH_KEY` set
//! to a `postgres://` URL of an empty database, the same steps run against that server.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dams::key::{Candidate, KeyStore};

const IMPORT_ROWS: usize = 100_000;
const PATIENTS: usize = 1_000_000;

/// CPU time of this process so far (user + system), in seconds.
fn cpu() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Wall clock and CPU time: on a shared machine the CPU time says what the work costs.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (t, c) = (Instant::now(), cpu());
    let r = f();
    let (s, cs) = (t.elapsed().as_secs_f64(), cpu() - c);
    println!("{what:<52} {s:>8.3} s wall {cs:>8.3} s CPU");
    r
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("key_store: a benchmark; run it with `cargo bench --bench key_store`");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (import_key, big_key): (PathBuf, PathBuf) = match std::env::var("DAMS_BENCH_KEY") {
        Ok(url) => (PathBuf::from(&url), PathBuf::from(&url)),
        Err(_) => (dir.path().join("import.db"), dir.path().join("big.db")),
    };
    let csv = dir.path().join("codes.csv");
    let mut text = String::from("PatientID,code\n");
    for i in 0..IMPORT_ROWS {
        text.push_str(&format!("ID{i:07},R-{i:07}\n"));
    }
    std::fs::write(&csv, text).expect("write csv");
    let mut k = KeyStore::open_or_create(&import_key).expect("key store");
    let n = timed(&format!("import {IMPORT_ROWS} CSV rows"), || {
        k.import_csv(&csv, None, None, None).expect("import")
    });
    assert_eq!(n, IMPORT_ROWS);
    drop(k);
    if import_key == big_key {
        // One server database: the allocation below goes on after the imported rows.
        println!("(against {})", KeyStore::open(&big_key).expect("open").location());
    }

    let patients: Vec<Candidate> = (0..PATIENTS)
        .map(|i| Candidate {
            key: format!("PAT{i:08}"),
            name: format!("Bench^Patient{i}"),
            birth_date: "19700101".into(),
            ids: vec![format!("OTHER{i:08}")],
        })
        .collect();
    let mut k = KeyStore::open_or_create(&big_key).expect("key store");
    k.set_format("S", 8).ok();
    k.save().expect("save");
    let proposed = timed(&format!("propose codes for {PATIENTS} new patients"), || {
        k.propose(&patients)
    });
    assert_eq!(proposed.len(), PATIENTS);
    timed(&format!("commit {PATIENTS} new codes (one transaction)"), || {
        k.commit(&proposed).expect("commit");
    });
    drop(k);
    let k = timed(
        &format!(
            "open the store of {} entries",
            PATIENTS + IMPORT_ROWS * usize::from(import_key == big_key)
        ),
        || KeyStore::open(&big_key).expect("open"),
    );
    let found = timed(&format!("look up {PATIENTS} patients' codes"), || {
        patients
            .iter()
            .filter(|p| black_box(k.code_for(&p.key)).is_some())
            .count()
    });
    assert_eq!(found, PATIENTS);
    let again = timed(&format!("propose for the same {PATIENTS} (all known)"), || {
        k.propose(&patients)
    });
    assert!(again.is_empty());
    if let Some(f) = k.file() {
        println!("{:<58} {:>8.1} MB", "database size", size(f) as f64 / 1e6);
    }
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

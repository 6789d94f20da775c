//! Crash safety at scale: `dams apply` is killed with SIGKILL at random moments (a seeded
//! generator, so a run can be repeated) over a batch of CT slices, segmentation masks with a
//! manual link in the review state, an XML sidecar and the mapping tables. After each kill:
//! inputs unchanged (checksums), every file under a final name identical to the
//! uninterrupted run's, key store and review state readable and consistent with what was
//! written, and a rerun that ends with exactly the uninterrupted output.
//!
//! Under `cargo test` a few kills over a small batch (seconds). The full harness:
//! `DAMS_CRASH_RUNS=20 DAMS_CRASH_FILES=1000 cargo test --release --test crash -- --nocapture`;
//! `DAMS_CRASH_SEED` repeats a given sequence of kills.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// splitmix64: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn is_temp(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".dams-tmp-"))
}

fn count_final_files(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !is_temp(e.path()) && e.file_name() != "dams-manifest.json")
        .count()
}

fn checksums(dir: &Path) -> BTreeMap<PathBuf, [u8; 32]> {
    tree(dir)
        .into_iter()
        .map(|(p, b)| (p, Sha256::digest(&b).into()))
        .collect()
}

fn apply_cmd(data: &Path, input: &Path, out: &Path, key: &Path) -> Command {
    let mut c = dams(data);
    c.args(["apply", "--yes", "--key"])
        .arg(key)
        .arg(input)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The batch: `files` CT slices over patients of 100, the mapping fixtures (masks to link
/// and repair, a SEG, an RTSTRUCT) and an XML log of one of their patients.
fn make_input(input: &Path, files: usize) {
    dams::demo::make_cohort(input, files, 100, 64, 64).unwrap();
    for e in walkdir::WalkDir::new(fixture("mapping"))
        .into_iter()
        .filter_map(Result::ok)
    {
        let rel = e.path().strip_prefix(fixture("mapping")).unwrap();
        let is_dicom = e.path().extension().is_some_and(|x| x == "dcm");
        if e.file_type().is_file() && is_dicom {
            // Not "mapping": that is a part of PAT1's name, and a folder named after the patient
            // is written under the patient's code.
            let dest = input.join("derived").join(rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
    std::fs::copy(fixture("xml/log_basic.xml"), input.join("derived/PAT1/log.xml")).unwrap();
}

#[test]
fn sigkill_during_apply_loses_nothing() {
    let runs = env_or("DAMS_CRASH_RUNS", 3) as usize;
    let files = env_or("DAMS_CRASH_FILES", 120) as usize;
    let seed = env_or("DAMS_CRASH_SEED", 0x00DA_D5C0_FFEE);
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let data = base.join("data");
    let input = base.join("in");
    make_input(&input, files);
    let inputs_before = checksums(&input);

    // One key secret for every run (repaired masks get UIDs derived from it), with no codes
    // yet, and a review state holding a manual link that changes the output.
    let template = base.join("template/key.db");
    let o = dams(&data)
        .args(["key", "init", "--key"])
        .arg(&template)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = dams(&data)
        .args(["map", "--key"])
        .arg(&template)
        .arg(&input)
        .args(["--set", "derived/PAT1/mask_orphan=derived/PAT1/ct_soft"])
        .output()
        .unwrap();
    // Saved (the folder's other masks stay unmatched: exit 1, "needs attention").
    assert!(
        o.status.code() != Some(2) && String::from_utf8_lossy(&o.stderr).contains("saved in"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The review state lives in the key store: a copy of the database carries it.
    let fresh_key = |name: &str| -> PathBuf {
        let dir = base.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.db");
        std::fs::copy(&template, &key).unwrap();
        key
    };
    let review_of = |key: &Path| {
        let k = dams::key::KeyStore::open(key).unwrap_or_else(|e| panic!("key store: {e}"));
        let review = dams::review::ReviewState::open(&k).unwrap_or_else(|e| panic!("review state: {e}"));
        review.workspace(&input).unwrap_or_else(|e| panic!("review state: {e}"))
    };

    // The uninterrupted run.
    let reference = base.join("reference");
    let ref_key = fresh_key("key-ref");
    let started = Instant::now();
    let status = apply_cmd(&data, &input, &reference, &ref_key).status().unwrap();
    let ref_time = started.elapsed();
    // Exit 1: a few mapping fixtures are left out on purpose (unassigned files); the
    // reference is whatever a complete run writes.
    let ref_code = status.code();
    assert!(ref_code.is_some_and(|c| c <= 1), "{status:?}");
    let expected: BTreeMap<PathBuf, Vec<u8>> = tree(&reference).into_iter().collect();
    let total = expected.len();
    for must in ["mapping.json", "mapping.csv", "derived/PAT1/log.xml"] {
        assert!(expected.contains_key(Path::new(must)), "{must} is part of the batch");
    }
    let patients = dams::key::KeyStore::open(&ref_key).unwrap().entries().len();
    eprintln!("crash harness: seed {seed:#x}, {runs} kills, {total} output files, uninterrupted apply {ref_time:.2?}");

    let (mut before_any, mut partial, mut after_all) = (0, 0, 0);
    for run in 0..runs {
        let out = base.join(format!("out{run}"));
        let key = fresh_key(&format!("key{run}"));
        let review_before = review_of(&key);
        assert!(!review_before.links.is_empty(), "the manual link is in the copy");
        let mut child = apply_cmd(&data, &input, &out, &key).spawn().unwrap();
        // Half the kills at a random time (any phase: scan, key commit, writing, mapping),
        // half once a random share of the files is there (the writing phase).
        let by_time = run % 2 == 0;
        let deadline = Instant::now() + ref_time.mul_f64(rng.unit() * 1.1);
        let target = 1 + (rng.unit() * total as f64) as usize;
        let give_up = Instant::now() + Duration::from_mins(2);
        loop {
            if child.try_wait().unwrap().is_some() || Instant::now() > give_up {
                break;
            }
            if by_time && Instant::now() >= deadline {
                break;
            }
            if !by_time && count_final_files(&out) >= target {
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let written = count_final_files(&out);
        match written {
            0 => before_any += 1,
            n if n >= total => after_all += 1,
            _ => partial += 1,
        }

        assert!(checksums(&input) == inputs_before, "run {run}: inputs changed");
        for (rel, bytes) in tree(&out) {
            if is_temp(&rel) {
                continue;
            }
            assert!(
                expected.get(&rel) == Some(&bytes),
                "run {run}: {} is torn or wrong",
                rel.display()
            );
        }
        // The key: the template, or the template plus every code (one atomic write), and
        // every code before any file carrying it.
        let k = dams::key::KeyStore::open(&key).unwrap_or_else(|e| panic!("run {run}: key store: {e}"));
        let n = k.entries().len();
        assert!(
            n == 0 || n == patients,
            "run {run}: key store holds {n} of {patients} codes"
        );
        assert!(
            written == 0 || n == patients,
            "run {run}: output written before its codes"
        );
        assert_eq!(review_of(&key), review_before, "run {run}: review state");

        let status = apply_cmd(&data, &input, &out, &key).status().unwrap();
        assert_eq!(
            status.code(),
            ref_code,
            "run {run}: the rerun ends as the uninterrupted run did"
        );
        let got: BTreeMap<PathBuf, Vec<u8>> = tree(&out).into_iter().collect();
        assert!(
            got == expected,
            "run {run}: rerun output differs from the uninterrupted run"
        );
    }
    eprintln!(
        "crash harness: {partial} kills mid-write, {before_any} before the first file, {after_all} after the last"
    );
    if runs >= 3 {
        assert!(
            partial > 0,
            "no kill landed while files were written; the test proved nothing"
        );
    }
}

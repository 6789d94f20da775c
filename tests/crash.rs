//! Killing `dams apply` with SIGKILL part-way leaves inputs unchanged, no partial file under
//! a final name, a readable key store, and a rerun that yields the uninterrupted output.
//! `DAMS_CRASH_RUNS` sets how many kills are tried (default 3; the full harness uses 20+).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const FILES: usize = 600;

fn count_final_files(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with(".dams-tmp-"))
        .count()
}

fn apply_cmd(data: &Path, input: &Path, out: &Path, key: &Path) -> std::process::Command {
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

#[test]
fn sigkill_during_apply_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let input = base.join("in");
    dams::demo::make_corpus(&input, FILES, 64, 64).unwrap();
    let inputs_before = tree(&input);
    assert_eq!(inputs_before.len(), FILES);

    // The output of an uninterrupted run, for comparison.
    let reference = base.join("reference");
    let status = apply_cmd(&base.join("data"), &input, &reference, &base.join("key-ref.json"))
        .status()
        .unwrap();
    assert!(status.success());
    let expected: BTreeMap<PathBuf, Vec<u8>> = tree(&reference).into_iter().collect();
    assert_eq!(expected.len(), FILES);

    let runs: usize = std::env::var("DAMS_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut mid_run_kills = 0;
    for run in 0..runs {
        let out = base.join(format!("out{run}"));
        let key = base.join(format!("key{run}.json"));
        let mut child = apply_cmd(&base.join("data"), &input, &out, &key).spawn().unwrap();
        // Kill after a varying number of files has appeared.
        let target = 1 + (run * 97 + 13) % (FILES / 2);
        let start = Instant::now();
        while count_final_files(&out) < target && start.elapsed() < Duration::from_secs(60) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let written = count_final_files(&out);
        if written > 0 && written < FILES {
            mid_run_kills += 1;
        }

        // Inputs unchanged.
        assert!(tree(&input) == inputs_before, "run {run}: inputs changed");
        // Every file under a final name is complete and correct.
        for (rel, bytes) in tree(&out) {
            if rel.file_name().unwrap().to_string_lossy().starts_with(".dams-tmp-") {
                continue;
            }
            assert!(
                expected.get(&rel) == Some(&bytes),
                "run {run}: {} is torn or wrong",
                rel.display()
            );
        }
        // The key store is readable (old or new state, never half).
        if key.exists() {
            dams::key::KeyStore::open(&key).unwrap_or_else(|e| panic!("run {run}: key store: {e}"));
        }
        // A rerun completes and gives exactly the uninterrupted output, temp files gone.
        let status = apply_cmd(&base.join("data"), &input, &out, &key).status().unwrap();
        assert!(status.success(), "run {run}: rerun failed");
        let got: BTreeMap<PathBuf, Vec<u8>> = tree(&out).into_iter().collect();
        assert!(
            got == expected,
            "run {run}: rerun output differs from the uninterrupted run"
        );
    }
    assert!(
        mid_run_kills > 0,
        "no kill landed in the middle of a run; the test proved nothing"
    );
    eprintln!("{mid_run_kills} of {runs} kills landed mid-run");
}

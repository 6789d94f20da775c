//! Sharded runs (issue 17, point 2): `dams key allocate` gives every patient its code first;
//! `dams apply --shard K/N` (or `--shard slurm` inside an array job) writes only the patients
//! whose code falls to shard K, with a manifest and mapping table of its own; the shards
//! together write exactly what one run writes, and `dams verify` reads every part.
//!
//! The Slurm example script (`examples/slurm/pseudonymise.sbatch`) is run here as Slurm
//! would run it, once per array task, with the array variables Slurm sets.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const SHARDS: usize = 4;

/// Ten patients of three CT slices each, and the mapping fixture's two patients with their
/// masks (for the mapping table).
fn cohort(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    dams::demo::make_cohort_named(&input, "SHARD", 30, 3, 16, 16).unwrap();
    copy_tree(&fixture("mapping"), &input.join("segmented"));
    input
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm/pseudonymise.sbatch")
}

/// Runs the example script as array task `task` of `count` (IDs from 1, as `--array=1-N`).
fn array_task(data: &Path, input: &Path, out: &Path, task: usize, count: usize) -> std::process::Output {
    Command::new("bash")
        .arg(script())
        .env("DAMS", env!("CARGO_BIN_EXE_dams"))
        .env("DAMS_DATA_DIR", data)
        .env_remove("DAMS_KEY")
        .env("IN", input)
        .env("OUT", out)
        .env("SLURM_ARRAY_TASK_ID", (task + 1).to_string())
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", count.to_string())
        .output()
        .unwrap()
}

/// The rows of every mapping table part in `out` (header left out), sorted.
fn mapping_rows(out: &Path) -> Vec<String> {
    let mut rows: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("mapping.") && n.ends_with(".csv")
        })
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn shards_together_write_what_one_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = cohort(tmp.path());
    let data = tmp.path().join("data");
    let out = tmp.path().join("sharded");

    // Without codes for everyone first, a shard refuses and writes nothing.
    let o = array_task(&data, &input, &out, 0, SHARDS);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("dams key allocate"));
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());

    let o = dams(&data).args(["key", "allocate"]).arg(&input).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut patients = 0;
    for task in 0..SHARDS {
        let o = array_task(&data, &input, &out, task, SHARDS);
        assert!(
            o.status.success(),
            "task {task}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["failed"], serde_json::json!([]));
        let manifest = out.join(format!("dams-manifest.{task}-of-{SHARDS}.json"));
        assert_eq!(report["manifest"].as_str().unwrap(), manifest.to_str().unwrap());
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        patients += m["patients"].as_array().unwrap().len();
    }
    assert!(!out.join("dams-manifest.json").exists());

    let single = tmp.path().join("single");
    let o = dams(&data)
        .arg("apply")
        .arg(&input)
        .arg("--out")
        .arg(&single)
        .arg("--yes")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(single.join("dams-manifest.json")).unwrap()).unwrap();
    assert_eq!(
        patients,
        m["patients"].as_array().unwrap().len(),
        "each patient in one shard"
    );
    assert!(patients >= 10, "{patients}");

    assert_eq!(
        tree_without_tables(&out),
        tree_without_tables(&single),
        "the shards wrote what one run writes"
    );
    assert!(!mapping_rows(&single).is_empty());
    assert_eq!(
        mapping_rows(&out),
        mapping_rows(&single),
        "the mapping parts hold one run's rows"
    );

    // verify reads every shard's manifest: clean, and a planted file is found.
    assert_verifies_clean(&data, &out, &input);
    std::fs::write(out.join("planted.txt"), b"x").unwrap();
    let v = dams(&data).arg("verify").arg(&out).output().unwrap();
    assert_eq!(v.status.code(), Some(1));

    // A shard run again writes the same (its own files, its own manifest part).
    std::fs::remove_file(out.join("planted.txt")).unwrap();
    let o = array_task(&data, &input, &out, 1, SHARDS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(tree_without_tables(&out), tree_without_tables(&single));
}

#[test]
fn shard_arguments_are_checked() {
    use dams::manifest::Shard;
    assert_eq!(Shard::parse("2/8"), Ok(Shard { k: 2, n: 8 }));
    for bad in ["8/8", "1/0", "x/2", "3", "-1/2"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
    // Every code falls to exactly one shard, and the same one every time.
    for i in 0..200 {
        let code = format!("P{i:04}");
        let owners: Vec<usize> = (0..5).filter(|&k| Shard { k, n: 5 }.holds(&code)).collect();
        assert_eq!(owners.len(), 1, "{code}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = dams(tmp.path())
        .arg("apply")
        .arg(tmp.path())
        .args(["--out", "/tmp/x", "--shard", "5/4", "--yes"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shard"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = dams(tmp.path())
        .arg("apply")
        .arg(tmp.path())
        .args(["--out", "/tmp/x", "--shard", "slurm", "--yes"])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SLURM_ARRAY_TASK_ID"));
}

/// `dams apply … --shard K/N` for every K, after `dams key allocate`.
fn apply_shards(data: &Path, input: &Path, out: &Path) {
    let o = dams(data).args(["key", "allocate"]).arg(input).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for k in 0..SHARDS {
        let o = dams(data)
            .arg("apply")
            .arg(input)
            .arg("--out")
            .arg(out)
            .args(["--yes", "--shard", &format!("{k}/{SHARDS}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "shard {k}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

fn tables(data: &Path, out: &Path) -> std::process::Output {
    dams(data).arg("tables").arg(out).output().unwrap()
}

/// `dams tables OUT` joins the parts into the mapping.csv and mapping.json one run writes,
/// byte for byte; the parts stay, and verify stays clean.
#[test]
fn tables_joins_the_parts_into_one_runs_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let input = cohort(tmp.path());
    let data = tmp.path().join("data");
    let out = tmp.path().join("sharded");
    apply_shards(&data, &input, &out);
    let single = tmp.path().join("single");
    let o = dams(&data)
        .arg("apply")
        .arg(&input)
        .arg("--out")
        .arg(&single)
        .arg("--yes")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A part missing: exit 2, the missing part named, nothing written.
    let partial = tmp.path().join("partial");
    copy_tree(&out, &partial);
    std::fs::remove_file(partial.join("dams-manifest.2-of-4.json")).unwrap();
    let before = tree(&partial);
    let o = tables(&data, &partial);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("dams-manifest.2-of-4.json"), "{err}");
    assert_eq!(tree(&partial), before, "nothing written");
    assert!(!partial.join("dams-manifest.json").exists());

    // A mapping.csv dams did not write is not replaced.
    let foreign = tmp.path().join("foreign");
    copy_tree(&out, &foreign);
    std::fs::write(foreign.join("mapping.csv"), b"mine\n").unwrap();
    let before = tree(&foreign);
    let o = tables(&data, &foreign);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("mapping.csv"));
    assert_eq!(tree(&foreign), before, "nothing written");
    assert!(!foreign.join("dams-manifest.json").exists());

    // Joined: one run's tables, byte for byte; the parts stay; verify is clean (twice: a
    // second join gives the same).
    let parts = tree_without_tables(&out).len();
    let part_tables: Vec<PathBuf> = tree(&out)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| dams::manifest::Shard::of_part(&p.to_string_lossy(), "mapping.csv").is_some())
        .collect();
    assert!(!part_tables.is_empty());
    for _ in 0..2 {
        let o = tables(&data, &out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for t in ["mapping.csv", "mapping.json"] {
            assert_eq!(
                std::fs::read(out.join(t)).unwrap(),
                std::fs::read(single.join(t)).unwrap(),
                "{t} as one run writes it"
            );
        }
        assert!(part_tables.iter().all(|p| out.join(p).is_file()), "the parts stay");
        assert_eq!(tree_without_tables(&out).len(), parts);
        assert_verifies_clean(&data, &out, &input);
    }
    let v = dams(&data).arg("verify").arg(&out).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));

    // A joined table changed afterwards is found by verify; a shard run again still joins.
    std::fs::write(out.join("mapping.csv"), b"changed\n").unwrap();
    let v = dams(&data).arg("verify").arg(&out).output().unwrap();
    assert_eq!(v.status.code(), Some(1));
    let o = tables(&data, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(out.join("mapping.csv")).unwrap(),
        std::fs::read(single.join("mapping.csv")).unwrap()
    );

    // A folder without shards: nothing to join.
    let o = tables(&data, &single);
    assert_eq!(o.status.code(), Some(2));
}

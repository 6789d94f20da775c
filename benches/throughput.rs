//! Throughput against the physical limit: `dams apply` vs `cp -r` of the same tree, and
//! `dams scan` vs reading every byte (`cat`), on deterministic corpora, side by side.
//!
//!     cargo bench --bench throughput                 # the CT corpus (1,000 × 512×512)
//!     cargo bench --bench throughput -- ct small     # and 20,000 × 64×64 files
//!     DAMS_BENCH_RUNS=7 DAMS_BENCH_DIR=/data/bench cargo bench --bench throughput
//!     cargo bench --bench throughput -- ct --profile basic
//!     DAMS_BENCH_RUNS=1 cargo bench --bench throughput -- many   # 100,000 files of 16×16
//!     DAMS_BENCH_RUNS=1 cargo bench --bench throughput -- patients   # 10,000 patients × 10 files
//!     DAMS_BENCH_RUNS=1 cargo bench --bench throughput -- million    # 1,000,000 files, 16 a patient
//!
//! Each timed command starts after `sync`, right after the input was read once (warm page
//! cache), with an empty output folder; the tools take turns going first. Reported:
//! median, min and max wall time, the ratio of medians and the min/max of per-run ratios,
//! and peak memory (via GNU time, when installed). On the memory corpora (`patients`,
//! `million`) `dams plan --json` and `dams verify` are measured too (time and peak memory).
//! Apply is compared with a plain `cp -r`
//! and with `cp -r && sync`: dams makes every file durable before it gets its name, `cp` does not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Corpus {
    name: &'static str,
    files: usize,
    size: u16,
    /// Files of each patient (the corpus has `files / per_patient` patients).
    per_patient: usize,
    /// Plan and verify measured too: a corpus for peak memory against patients and files.
    memory: bool,
}

const CORPORA: &[Corpus] = &[
    Corpus {
        name: "ct",
        files: 1000,
        size: 512,
        per_patient: 200,
        memory: false,
    },
    Corpus {
        name: "small",
        files: 20_000,
        size: 64,
        per_patient: 200,
        memory: false,
    },
    // For peak memory against the number of files (run it with DAMS_BENCH_RUNS=1).
    Corpus {
        name: "many",
        files: 100_000,
        size: 16,
        per_patient: 200,
        memory: false,
    },
    // Peak memory against the number of patients (issue 17: 10,000 patients × 10 files).
    Corpus {
        name: "patients",
        files: 100_000,
        size: 16,
        per_patient: 10,
        memory: true,
    },
    // And against the number of files: 1,000,000 files, 62,500 patients of 16.
    Corpus {
        name: "million",
        files: 1_000_000,
        size: 16,
        per_patient: 16,
        memory: true,
    },
];

fn sh(cmd: &str) {
    let _ = Command::new("sh").arg("-c").arg(cmd).status();
}

/// Runs a command, returns (seconds, peak RSS in KiB if known).
fn timed(args: &[&str]) -> (f64, Option<u64>) {
    let gnu_time = Path::new("/usr/bin/time").exists();
    let rss_file = std::env::temp_dir().join(format!("dams-bench-rss-{}", std::process::id()));
    let mut c = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).args(args);
        c
    } else {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    };
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let status = c.status().expect("run benchmark command");
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success() || args[0].ends_with("dams"), "{args:?} failed");
    let rss = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    let _ = std::fs::remove_file(&rss_file);
    (secs, rss)
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn report(label: &str, ours: &[f64], baseline: &[f64], base_label: &str, rss: Option<u64>) {
    let (om, omin, omax) = stats(ours);
    let (bm, bmin, bmax) = stats(baseline);
    let ratios: Vec<f64> = ours.iter().zip(baseline).map(|(a, b)| a / b).collect();
    let (_, rmin, rmax) = stats(&ratios);
    println!("  {label:<12} median {om:7.3}s (min {omin:.3}, max {omax:.3})");
    println!("  {base_label:<12} median {bm:7.3}s (min {bmin:.3}, max {bmax:.3})");
    println!(
        "  ratio        {:.2}× of medians (per run: min {rmin:.2}×, max {rmax:.2}×){}",
        om / bm,
        rss.map(|r| format!("; dams peak memory {:.1} MiB", r as f64 / 1024.0))
            .unwrap_or_default()
    );
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: a benchmark; run it with `cargo bench --bench throughput`");
        return;
    }
    let (profile, names) = options();
    let runs: usize = std::env::var("DAMS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let base = PathBuf::from(std::env::var("DAMS_BENCH_DIR").unwrap_or_else(|_| "/tmp/dams-bench".into()));

    for name in names {
        let Some(c) = CORPORA.iter().find(|c| c.name == name) else {
            eprintln!("unknown corpus {name} (known: ct, small, many, patients, million)");
            continue;
        };
        let input = corpus(&base, c);
        remove_leftovers(&base);
        let key = base.join("state/key.json");
        let data = base.join("state");
        // SAFETY of the environment: the benchmark uses its own key store and data folder.
        // SAFETY: single-threaded at this point; only child processes read the variable.
        unsafe { std::env::set_var("DAMS_DATA_DIR", &data) };
        let input_s = input.to_str().expect("utf-8 path");
        let t = measure(&base, input_s, &key, &profile, runs);
        println!(
            "\ncorpus {}: {} files of {}×{} 16-bit, {runs} runs, profile {profile}",
            c.name, c.files, c.size, c.size
        );
        report(
            "dams apply",
            &t.apply,
            &t.cp,
            "cp -r",
            (t.apply_rss > 0).then_some(t.apply_rss),
        );
        // dams makes every file durable before it gets its name; a copy is only comparable once
        // its bytes are on disk too.
        report("dams apply", &t.apply, &t.cp_sync, "cp -r + sync", None);
        report(
            "dams scan",
            &t.scan,
            &t.cat,
            "cat",
            (t.scan_rss > 0).then_some(t.scan_rss),
        );
        if c.memory {
            measure_memory(c, &base, &key, &profile, input_s, runs);
        }
        for run in 0..runs {
            for tool in ["cp", "cps", "dams"] {
                let _ = std::fs::remove_dir_all(out(&base, tool, run));
            }
        }
    }
}

/// The profile (`--profile NAME`, default seed) and the corpora named (default ct).
fn options() -> (String, Vec<String>) {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mut profile = "seed".to_string();
    let mut names: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--profile" {
            profile = it.next().cloned().unwrap_or(profile);
        } else {
            names.push(a.clone());
        }
    }
    if names.is_empty() {
        names.push("ct".into());
    }
    (profile, names)
}

/// Plan and verify on a memory corpus: time and peak memory, against its patients.
fn measure_memory(c: &Corpus, base: &Path, key: &Path, profile: &str, input_s: &str, runs: usize) {
    let dams = env!("CARGO_BIN_EXE_dams");
    let key_s = key.to_str().expect("utf-8");
    let last = out(base, "dams", runs - 1);
    let plan = timed(&[dams, "plan", "--json", "--profile", profile, "--key", key_s, input_s]);
    let verify = timed(&[dams, "verify", "--key", key_s, last.to_str().expect("utf-8")]);
    let patients = c.files.div_ceil(c.per_patient);
    for (label, (t, rss)) in [("dams plan", plan), ("dams verify", verify)] {
        println!(
            "  {label:<12} {t:7.3}s{} ({patients} patients)",
            rss.map(|r| format!("; peak memory {:.1} MiB", r as f64 / 1024.0))
                .unwrap_or_default()
        );
    }
}

/// The corpus folder under `base`, generated the first time.
fn corpus(base: &Path, c: &Corpus) -> PathBuf {
    let input = base.join(format!("{}-{}x{}", c.name, c.files, c.size));
    if !input.join(".complete").exists() {
        eprintln!(
            "generating {} ({} files of {}×{})…",
            input.display(),
            c.files,
            c.size,
            c.size
        );
        let _ = std::fs::remove_dir_all(&input);
        dams::demo::make_cohort(&input, c.files, c.per_patient, c.size, c.size).expect("generate corpus");
        std::fs::write(input.join(".complete"), b"").expect("marker");
    }
    input
}

/// The output folder of `tool` in run `run`. Every run writes into folders of its own, all
/// removed at the end: ext4 allocates inodes slowly for a while after many were freed
/// (`recently_deleted`), so removing 20,000 files before a timed write made that write up
/// to 6× slower, whichever tool came after the removal.
fn out(base: &Path, tool: &str, run: usize) -> PathBuf {
    base.join(format!("out-{tool}-{run}"))
}

/// Removes the outputs an interrupted earlier run left, and waits for ext4 to be fast again.
fn remove_leftovers(base: &Path) {
    let leftovers: Vec<PathBuf> = std::fs::read_dir(base)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("out-")))
                .collect()
        })
        .unwrap_or_default();
    if !leftovers.is_empty() {
        for o in &leftovers {
            let _ = std::fs::remove_dir_all(o);
        }
        sh("sync");
        eprintln!("waiting 35 s after removing earlier outputs (see above)…");
        std::thread::sleep(std::time::Duration::from_secs(35));
    }
}

/// The times of every run of each tool, and dams' peak memory.
struct Times {
    cp: Vec<f64>,
    cp_sync: Vec<f64>,
    apply: Vec<f64>,
    cat: Vec<f64>,
    scan: Vec<f64>,
    apply_rss: u64,
    scan_rss: u64,
}

/// Times `runs` runs of each tool on `input_s`.
fn measure(base: &Path, input_s: &str, key: &Path, profile: &str, runs: usize) -> Times {
    let dams = env!("CARGO_BIN_EXE_dams");
    let cat = format!("find '{input_s}' -type f -print0 | xargs -0 cat > /dev/null");
    // This machine pages out page cache that has not been used for a few seconds (DAMON
    // reclaim), so "warm cache" holds only if the tree is read again right before each
    // timed command; and the tools take turns going first, since each one's write-back
    // can still slow down whichever comes next.
    let warm = || sh(&format!("{cat}; sync"));
    let mut t = Times {
        cp: vec![],
        cp_sync: vec![],
        apply: vec![],
        cat: vec![],
        scan: vec![],
        apply_rss: 0,
        scan_rss: 0,
    };
    for run in 0..runs {
        let (out_cp, out_cps, out_dams) = (out(base, "cp", run), out(base, "cps", run), out(base, "dams", run));
        for turn in 0..3 {
            warm();
            match (run + turn) % 3 {
                0 => {
                    t.cp.push(timed(&["cp", "-r", input_s, out_cp.to_str().expect("utf-8")]).0)
                }
                1 => {
                    let durable = format!("cp -r '{input_s}' '{}' && sync", out_cps.display());
                    t.cp_sync.push(timed(&["sh", "-c", &durable]).0);
                }
                _ => {
                    let (secs, rss) = timed(&[
                        dams,
                        "apply",
                        "--yes",
                        "--profile",
                        profile,
                        "--key",
                        key.to_str().expect("utf-8"),
                        input_s,
                        "--out",
                        out_dams.to_str().expect("utf-8"),
                    ]);
                    t.apply.push(secs);
                    t.apply_rss = t.apply_rss.max(rss.unwrap_or(0));
                }
            }
        }
        warm();
        t.cat.push(timed(&["sh", "-c", &cat]).0);
        warm();
        let (secs, rss) = timed(&[dams, "scan", "--json", input_s]);
        t.scan.push(secs);
        t.scan_rss = t.scan_rss.max(rss.unwrap_or(0));
    }
    t
}

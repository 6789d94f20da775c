//! How quickly the review screen comes up and answers keys on a large folder while the scan
//! is still running: the real binary in a pseudo-terminal, timings from dams' own log.
//!
//!     cargo bench --bench tui_latency                      # 50 patients × 2,000 files
//!     DAMS_BENCH_DIR=/data/bench cargo bench --bench tui_latency
//!
//! Reported: time to the first frame, and key press → frame latency (median, max) for keys
//! pressed while the scan runs, as logged by dams (`first frame drawn`, `key press to frame`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const PATIENTS: usize = 50;
const PER_PATIENT: usize = 2000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("tui_latency: a benchmark; run it with `cargo bench --bench tui_latency`");
        return;
    }
    let base = PathBuf::from(std::env::var("DAMS_BENCH_DIR").unwrap_or_else(|_| "/tmp/dams-bench".into()));
    let input = base.join(format!("cohort-{PATIENTS}x{PER_PATIENT}"));
    if !input.join(".complete").exists() {
        eprintln!(
            "generating {} ({PATIENTS} patients × {PER_PATIENT} files of 32×32)…",
            input.display()
        );
        let _ = std::fs::remove_dir_all(&input);
        dams::demo::make_cohort(&input, PATIENTS * PER_PATIENT, PER_PATIENT, 32, 32).expect("generate");
        std::fs::write(input.join(".complete"), b"").expect("marker");
    }
    // Warm the page cache the way a second look at a folder would find it.
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find '{}' -type f -print0 | xargs -0 cat > /dev/null",
            input.display()
        ))
        .status();

    let state = base.join("tui-state");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).expect("state dir");
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("pty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_dams"));
    cmd.arg("--key");
    cmd.arg(state.join("key.json"));
    cmd.arg("--out");
    cmd.arg(base.join("tui-out"));
    cmd.arg(&input);
    cmd.env("DAMS_DATA_DIR", &state);
    cmd.env("TERM", "xterm-256color");
    let started = Instant::now();
    let mut child = pair.slave.spawn_command(cmd).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut w = pair.master.take_writer().expect("writer");
    // Keys while the scan runs: move, open, close, switch panes.
    std::thread::sleep(Duration::from_millis(300));
    for k in [
        "j", "j", "k", "l", "h", "\t", "\t", "\t", "j", "k", "j", "j", "k", "k", "l", "h",
    ] {
        w.write_all(k.as_bytes()).expect("key");
        w.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(120));
    }
    // Let the scan finish, then quit.
    std::thread::sleep(Duration::from_secs(8));
    w.write_all(b"q").expect("quit");
    w.flush().expect("flush");
    let _ = child.wait();
    let total = started.elapsed();

    let log = std::fs::read_to_string(state.join("dams.log")).unwrap_or_default();
    println!(
        "\n{PATIENTS} patients × {PER_PATIENT} files ({} files), warm cache",
        PATIENTS * PER_PATIENT
    );
    for line in log.lines() {
        for what in ["first frame drawn", "scan finished", "key press to frame"] {
            if line.contains(what) {
                println!("  {}", line.split_once("INFO ").map_or(line, |(_, r)| r));
            }
        }
    }
    println!("  (session {:.1}s)", total.as_secs_f64());
}

//! The real `dams` binary in a pseudo-terminal, driven by key presses, its screen read back
//! through a terminal emulator (vt100): nothing is written before confirmation, the patient
//! is written after it, identical to what `dams apply` writes with the same decisions.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Screen {
    fn start(args: &[&str], data: &Path, cols: u16, rows: u16) -> Screen {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_dams"));
        cmd.args(args);
        cmd.env("DAMS_DATA_DIR", data);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("DAMS_KEY");
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(rows).unwrap(),
            std::num::NonZeroU16::new(cols).unwrap(),
            0,
        )));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let p = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().unwrap();
        // Keep the master open for the child's lifetime.
        std::mem::forget(pair.master);
        Screen { parser, writer, child }
    }

    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let t = self.text();
            if t.contains(what) {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what:?}; screen:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits for the process to end (at most `secs`), and says how it ended.
    fn exit(&mut self, secs: u64) -> portable_pty::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "dams did not quit; screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn review_in_a_real_terminal_writes_only_after_yes() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let input = dams::demo::make_workspace(base).unwrap();
    let (out, key, data) = (base.join("out"), base.join("state/key.json"), base.join("data"));
    let args = [
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    let mut s = Screen::start(&args, &data, 100, 30);
    // The scan completes and codes are assigned.
    s.wait_for("DEMO-002 → P0002");
    s.wait_for("Same in all 49 files");
    // Browse: open the patient and its study.
    s.press("l");
    s.press("j");
    s.wait_for("2024-01-15 CT ABDOMEN PELVIS");
    s.press("g");
    assert!(!out.exists(), "nothing is written by looking");
    // Approve: the dialog says what will happen; still nothing written.
    s.press("a");
    // Nobody marked DEMO-001 reviewed: the screen asks first; yes goes on.
    s.wait_for("DEMO-001 has not been marked reviewed");
    assert!(!out.exists(), "nothing is written by the question");
    s.press("y");
    s.wait_for("Write patient DEMO-001 → P0001");
    s.wait_for("49 DICOM file(s), 1 XML");
    assert!(!out.exists(), "nothing is written before yes");
    s.press("y");
    s.wait_for("Written: 50 files");
    assert_eq!(
        common::tree(&out).len(),
        52,
        "49 DICOM + 1 XML + mapping.csv + mapping.json"
    );
    s.press("\r");
    s.wait_for("written");
    s.press("q");
    let start = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "dams exited with {status:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "dams did not quit");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The same decision through the headless command gives the same bytes.
    let out2 = base.join("out2");
    let o = common::dams(&data)
        .args(["apply", "--yes", "--key"])
        .arg(&key)
        .arg(&input)
        .arg("--out")
        .arg(&out2)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "the demo has unreadable files: exit 1");
    let tui: Vec<_> = common::tree(&out);
    let cli: std::collections::BTreeMap<_, _> = common::tree(&out2).into_iter().collect();
    for (rel, bytes) in &tui {
        if rel.to_string_lossy().starts_with("mapping.") {
            continue; // the TUI's table holds the one patient written so far
        }
        if cli.get(rel) != Some(bytes) {
            let a = dams::dicom::parse::parse_bytes(bytes.clone()).unwrap();
            let b = dams::dicom::parse::parse_bytes(cli[rel].clone()).unwrap();
            let diffs: Vec<String> = (0..a.elements.len())
                .filter(|&i| a.value(&a.elements[i]) != b.elements.get(i).and_then(|e| b.value(e)))
                .map(|i| a.path(i))
                .collect();
            panic!("{} differs from dams apply in {diffs:?}", rel.display());
        }
    }
    // The mask series was repaired in both, and the TUI's mapping table has its rows.
    let table = std::fs::read_to_string(out.join("mapping.csv")).unwrap();
    assert!(
        table.contains("P0001,per-slice-mask,resolved,P0001/LIVER_MASK"),
        "{table}"
    );
    assert!(!table.contains("P0002"), "{table}");
    // The review state says DEMO-001 is written.
    let keystore = dams::key::KeyStore::open(&key).unwrap();
    let review = dams::review::ReviewState::open(&keystore).unwrap();
    assert_eq!(
        review.workspace(&input).unwrap().status("DEMO-001"),
        dams::review::Status::Written
    );
}

#[test]
fn too_small_terminal_says_so_and_quits() {
    let tmp = tempfile::tempdir().unwrap();
    let input = dams::demo::make_workspace(tmp.path()).unwrap();
    let key = tmp.path().join("key.json");
    let args = ["--key", key.to_str().unwrap(), input.to_str().unwrap()];
    let mut s = Screen::start(&args, &tmp.path().join("data"), 50, 12);
    s.wait_for("too small");
    s.press("q");
    let start = Instant::now();
    while s.child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "dams did not quit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `q` while a write runs: the write is cancelled (every file written is whole, no temporary
/// file is left), dams quits once it has stopped, and the patient says "partly written".
#[test]
fn q_during_a_write_cancels_it_and_quits() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let input = base.join("input");
    // Enough files that the write is still running when q arrives.
    const FILES: usize = 1500;
    dams::demo::make_cohort(&input, FILES, FILES, 64, 64).unwrap();
    let (out, key, data) = (base.join("out"), base.join("state/key.json"), base.join("data"));
    let args = [
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    let mut s = Screen::start(&args, &data, 100, 30);
    s.wait_for("BENCH-0000 → P0001");
    s.wait_for("Same in all 1500 files");
    s.press("r");
    s.press("a");
    s.wait_for("Yes, write (y)");
    s.wait_for("1500 DICOM file(s)");
    s.writer.write_all(b"y").unwrap();
    s.writer.flush().unwrap();
    let screen = s.wait_for("Writing BENCH-0000");
    assert!(!screen.contains("0/0 files"), "{screen}");
    std::thread::sleep(Duration::from_millis(300));
    s.press("q");
    let status = s.exit(30);
    assert!(status.success(), "dams exited with {status:?}");

    let files = common::tree(&out);
    let dicom: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    assert!(dicom.len() < FILES, "the write was cancelled: {} files", dicom.len());
    eprintln!("cancelled after {} of {FILES} files", dicom.len());
    for (rel, bytes) in &dicom {
        dams::dicom::parse::parse_bytes(bytes.clone())
            .unwrap_or_else(|e| panic!("{} is not whole: {e}", rel.display()));
    }
    for (rel, _) in &files {
        let name = rel.file_name().unwrap().to_string_lossy();
        assert!(!name.ends_with(".tmp"), "a temporary file is left: {}", rel.display());
    }
    let keystore = dams::key::KeyStore::open(&key).unwrap();
    let mut review = dams::review::ReviewState::open(&keystore).unwrap();
    review.know(["BENCH-0000"]);
    let expected = if dicom.is_empty() {
        dams::review::Status::Reviewed
    } else {
        dams::review::Status::PartlyWritten
    };
    assert_eq!(review.workspace(&input).unwrap().status("BENCH-0000"), expected);

    // Reopened, the patient says so.
    if !dicom.is_empty() {
        let mut again = Screen::start(&args, &data, 100, 30);
        again.wait_for("partly written");
        again.press("q");
        assert!(again.exit(10).success());
    }
}

/// The demo in a real terminal: quitting says how to reopen it, and reopening continues
/// where the review was left.
#[test]
fn the_demo_says_how_to_reopen_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let data = tmp.path().join("data");
    let mut s = Screen::start(&["demo", "--dir", dir.to_str().unwrap()], &data, 100, 30);
    s.wait_for("DEMO-002 → P0002");
    s.wait_for("Same in all 49 files");
    s.press("r");
    s.wait_for("49 reviewed");
    s.press("q");
    assert!(s.exit(10).success());
    let screen = s.wait_for("Reopen it with: dams ");
    let line = screen
        .lines()
        .find(|l| l.contains("Reopen it with: dams "))
        .unwrap()
        .trim()
        .to_string();
    let args: Vec<String> = line
        .trim_start_matches("Reopen it with: dams ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(args.iter().any(|a| a.ends_with("demo/input")), "{line}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut again = Screen::start(&args, &data, 100, 30);
    again.wait_for("49 reviewed");
    again.press("q");
    assert!(again.exit(10).success());
}

//! XML in bounded memory (issue 19 point 8), as a user runs it: a 40 MB tool log, larger
//! than the memory dams may use for it, with a 12 MB attribute (three of the search's
//! windows) and 241,011 identifiers (more changes than a plan holds, so the rewrite makes
//! them again while it copies). `dams plan` lists 10,000 and counts the rest; `dams apply`
//! writes every replacement and stays under 64 MiB; the output holds no identifier.
//!
//! Peak memory is the child's own (`wait4`'s `ru_maxrss`), so tests running beside this one
//! do not count.
#![allow(clippy::unwrap_used)]
// The child is waited for with wait4, which std's Child does not offer.
#![allow(clippy::zombie_processes)]

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const LIMIT_KIB: i64 = 64 * 1024;

/// The log: a long attribute naming the patient's ID every 900 bytes, then entries that
/// name the patient.
fn write_log(path: &Path) -> usize {
    let mut f = std::io::BufWriter::new(fs::File::create(path).expect("create the log"));
    let mut len = 0;
    let mut put = |f: &mut std::io::BufWriter<fs::File>, s: &str| {
        f.write_all(s.as_bytes()).expect("write the log");
        len += s.len();
        len
    };
    put(&mut f, "<?xml version='1.0'?>\n<Log>\n  <Note text='");
    let words = " lorem ipsum dolor sit amet contour threshold".repeat(20);
    let mut ids = 0;
    while put(&mut f, &words) < 12_500_000 {
        put(&mut f, " MAP001");
        ids += 1;
    }
    put(&mut f, "'/>\n");
    let mut i = 0;
    while put(&mut f, "") < 40_000_000 {
        // Numbers in hex, at most five digits: six would be read as the birth date written
        // DDMMYY (`170350`) and rightly replaced.
        let entry = format!(
            "  <e n='{i:x}'>saved by Mapping^Alice^Q, slice {i:x} of the series; contour threshold window level smoothing export</e>\n"
        );
        put(&mut f, &entry);
        i += 1;
        ids += 1;
    }
    put(&mut f, "</Log>\n");
    f.flush().expect("write the log");
    ids
}

/// Runs dams to its end; its exit code, output, and peak resident memory in KiB.
fn run(args: &[&str], data: &Path) -> (i32, String, i64) {
    let child = Command::new(env!("CARGO_BIN_EXE_dams"))
        .args(args)
        .env("DAMS_DATA_DIR", data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("dams starts");
    let pid = i32::try_from(child.id()).unwrap();
    let mut out = child.stdout.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the child is ours and not yet waited for; both pointers are valid.
    let waited = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!(waited, pid);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, reader.join().unwrap(), usage.ru_maxrss)
}

#[test]
fn a_log_larger_than_the_memory_bound_is_planned_and_written_within_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let patient = input.join("PAT1");
    fs::create_dir_all(&patient).unwrap();
    let fixture = walkdir::WalkDir::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mapping/PAT1"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "dcm"))
        .expect("a DICOM file of MAP001");
    fs::copy(fixture.path(), patient.join("image.dcm")).unwrap();
    let log = patient.join("log.xml");
    let ids = write_log(&log);
    let size = fs::metadata(&log).unwrap().len();
    assert!(size > 40_000_000 && i64::try_from(size / 1024).unwrap() > LIMIT_KIB / 2);
    let data = tmp.path().join("data");
    let input_s = input.to_str().unwrap();

    let (code, plan, _) = run(&["plan", "--json", input_s], &data);
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let xml = &plan["patients"][0]["xml"][0];
    assert_eq!(xml["edits"].as_array().unwrap().len(), 10_000);
    assert_eq!(xml["unlisted_edits"].as_u64().unwrap(), (ids - 10_000) as u64);

    let out = tmp.path().join("out");
    let (code, _, rss) = run(&["apply", input_s, "--out", out.to_str().unwrap(), "--yes"], &data);
    assert_eq!(code, 0);
    assert!(rss < LIMIT_KIB, "apply peaked at {rss} KiB for a {size}-byte XML file");

    let written = fs::read_to_string(out.join("PAT1/log.xml")).unwrap();
    assert!(!written.contains("MAP001") && !written.contains("Mapping^Alice"));
    assert_eq!(written.matches("P0001").count(), ids);
    // Nothing else changed: every line is as it was but for the code.
    let original = fs::read_to_string(&log).unwrap();
    assert_eq!(
        written.replace("P0001", "ID"),
        original.replace("Mapping^Alice^Q", "ID").replace("MAP001", "ID")
    );
}

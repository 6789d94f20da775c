//! Hostile DICOM input, built byte by byte in the test: lengths beyond the file, items that
//! never end, nesting deep enough to exhaust a stack, gigantic declared values, duplicate
//! tags, wrong and invalid VRs, odd lengths, an empty `PixelData`, a DICOMDIR, and files that
//! change or vanish between scan and apply. Each one gets a clear per-file reason or is
//! written correctly; the rest of the batch is always written and nothing panics.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use dams::dicom::parse::{ElementKind, parse_bytes, parse_file};
use dams::dicom::tags;

const CT_STORAGE: &[u8] = b"1.2.840.10008.5.1.4.1.1.2\0";
const DICOMDIR_CLASS: &[u8] = b"1.2.840.10008.1.3.10\0";
const LONG_VRS: [&[u8; 2]; 7] = [b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"];

/// One explicit VR little endian element (long header for the VRs that have one).
fn el(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    el_len(tag, vr, value, value.len() as u32)
}

/// An element whose declared length is `len`, whatever `value` holds.
fn el_len(tag: (u16, u16), vr: &[u8; 2], value: &[u8], len: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&tag.0.to_le_bytes());
    v.extend_from_slice(&tag.1.to_le_bytes());
    v.extend_from_slice(vr);
    if LONG_VRS.contains(&vr) {
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&len.to_le_bytes());
    } else {
        v.extend_from_slice(&(len as u16).to_le_bytes());
    }
    v.extend_from_slice(value);
    v
}

fn item_start(len: u32) -> Vec<u8> {
    let mut v = vec![0xFE, 0xFF, 0x00, 0xE0];
    v.extend_from_slice(&len.to_le_bytes());
    v
}

/// Preamble, DICM and a file meta group (explicit VR LE) for `class` / `sop`.
fn meta(class: &[u8], sop: &[u8], ts: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(el((0x0002, 0x0001), b"OB", &[0, 1]));
    m.extend(el((0x0002, 0x0002), b"UI", class));
    m.extend(el((0x0002, 0x0003), b"UI", sop));
    m.extend(el((0x0002, 0x0010), b"UI", ts));
    let mut f = vec![0u8; 128];
    f.extend_from_slice(b"DICM");
    f.extend(el((0x0002, 0x0000), b"UL", &(m.len() as u32).to_le_bytes()));
    f.extend(m);
    f
}

/// A small CT file of patient `pid`: `extra` elements (already encoded, in tag order) go
/// between the patient module and the study UIDs; `pixel` is the `PixelData` element.
fn ct(n: u32, pid: &str, patient_elements: &[u8], extra: &[u8], pixel: &[u8]) -> Vec<u8> {
    let sop = format!("1.2.826.0.1.3680043.99.{n}\0");
    let sop = if sop.len() % 2 == 1 { format!("{sop}\0") } else { sop };
    let mut f = meta(CT_STORAGE, sop.as_bytes(), b"1.2.840.10008.1.2.1\0");
    f.extend(el((0x0008, 0x0016), b"UI", CT_STORAGE));
    f.extend(el((0x0008, 0x0018), b"UI", sop.as_bytes()));
    f.extend(el((0x0008, 0x0060), b"CS", b"CT"));
    f.extend(el((0x0008, 0x0080), b"LO", b"HOSPITAL"));
    f.extend(el((0x0008, 0x1030), b"LO", b"HEAD"));
    if patient_elements.is_empty() {
        f.extend(el((0x0010, 0x0010), b"PN", b"Hostile^Hank"));
        let mut id = pid.as_bytes().to_vec();
        if id.len() % 2 == 1 {
            id.push(b' ');
        }
        f.extend(el((0x0010, 0x0020), b"LO", &id));
    } else {
        f.extend_from_slice(patient_elements);
    }
    f.extend_from_slice(extra);
    f.extend(el((0x0020, 0x000D), b"UI", b"1.2.826.0.1.3680043.99.1000\0"));
    f.extend(el((0x0020, 0x000E), b"UI", b"1.2.826.0.1.3680043.99.2000\0"));
    f.extend(el((0x0020, 0x0013), b"IS", format!("{n} ").as_bytes()));
    f.extend_from_slice(pixel);
    f
}

fn pixels() -> Vec<u8> {
    el((0x7FE0, 0x0010), b"OW", &[7u8; 32])
}

fn good(n: u32) -> Vec<u8> {
    ct(n, "HOST01", &[], &[], &pixels())
}

fn apply(input: &Path, index: &dams::scan::Index, out: &Path, key: &Path) -> dams::apply::ApplyReport {
    let _ = input;
    let mut engine = common::engine(key, None);
    let prepared = engine.prepare(index).expect("prepare");
    engine
        .apply(
            index,
            &prepared,
            &dams::apply::Target::Folder(out.to_path_buf()),
            None,
            &dams::progress::quiet,
        )
        .unwrap()
}

/// The files that must be refused at scan time, each with its kind and a word of its reason.
fn refused_at_scan() -> Vec<(&'static str, Vec<u8>, &'static str, &'static str)> {
    let mut v = Vec::new();

    // A PatientName declaring 0x7000 bytes in a file of a few hundred.
    let long_name = el_len((0x0010, 0x0010), b"PN", b"Hostile^Hank", 0x7000);
    v.push((
        "length_past_end.dcm",
        ct(2, "HOST01", &long_name, &[], &pixels()),
        "truncated",
        "(0010,0010)",
    ));

    // A sequence of undefined length whose item never ends: the file stops inside it.
    let mut never = el_len((0x0008, 0x1140), b"SQ", &[], u32::MAX);
    never.extend(item_start(u32::MAX));
    never.extend(el((0x0008, 0x1155), b"UI", b"1.2.3.4\0"));
    let mut f = good(3);
    f.extend(el((0x7FE1, 0x0010), b"LO", b"TRAILER "));
    f.extend(never);
    v.push(("item_never_ends.dcm", f, "truncated", "delimiter"));

    // 10,000 nested sequences: refused long before the stack could be at risk.
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep.extend(el_len((0x0008, 0x1140), b"SQ", &[], u32::MAX));
        deep.extend(item_start(u32::MAX));
    }
    v.push((
        "deep.dcm",
        ct(4, "HOST01", &[], &deep, &pixels()),
        "malformed",
        "nested",
    ));

    // 3.9 GB declared on a text element (UT) in a small file.
    let giant = el_len((0x0010, 0x4000), b"UT", b"comment ", 3_900_000_000);
    v.push((
        "giant_declared.dcm",
        ct(5, "HOST01", &[], &giant, &[]),
        "truncated",
        "3900000000",
    ));

    // The same PatientID twice, with two values: readers disagree on which one counts.
    let mut dup = el((0x0010, 0x0010), b"PN", b"Hostile^Hank");
    dup.extend(el((0x0010, 0x0020), b"LO", b"HOST01"));
    dup.extend(el((0x0010, 0x0020), b"LO", b"OTHER9"));
    v.push((
        "duplicate_tag.dcm",
        ct(6, "HOST01", &dup, &[], &pixels()),
        "malformed",
        "appears twice",
    ));

    // Duplicates out of order (a set is needed to see them).
    let extra = [
        el((0x0018, 0x0050), b"DS", b"2.5 "),
        el((0x0010, 0x0040), b"CS", b"O "),
        el((0x0018, 0x0050), b"DS", b"3.0 "),
    ]
    .concat();
    v.push((
        "duplicate_unordered.dcm",
        ct(7, "HOST01", &[], &extra, &pixels()),
        "malformed",
        "(0018,0050) appears twice",
    ));

    // Two transfer syntaxes in the file meta group: one reader takes the first, another the
    // second, and they read the data set differently.
    let good_file = good(9);
    let ts = el((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2.1\0");
    let at = good_file.windows(ts.len()).position(|w| w == ts.as_slice()).unwrap() + ts.len();
    let mut two_ts = good_file[..at].to_vec();
    two_ts.extend(el((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2\0"));
    two_ts.extend_from_slice(&good_file[at..]);
    v.push((
        "duplicate_meta_tag.dcm",
        two_ts,
        "malformed",
        "(0002,0010) appears twice",
    ));

    // A file meta element inside the data set (found by the rewrite fuzzer: removing the
    // element before it would have turned it into file meta).
    let ts_in_dataset = el((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2.1\0");
    v.push((
        "meta_in_dataset.dcm",
        ct(9, "HOST01", &ts_in_dataset, &[], &pixels()),
        "malformed",
        "file meta element (0002,0010) inside the data set",
    ));

    // Bytes that are no VR at all, in the middle of the data set.
    let bad_vr = el((0x0018, 0x0050), b"Q!", b"2.5 ");
    v.push((
        "invalid_vr.dcm",
        ct(8, "HOST01", &[], &bad_vr, &pixels()),
        "malformed",
        "invalid VR",
    ));

    // A DICOMDIR lists patients by name: not copied.
    let mut d = meta(DICOMDIR_CLASS, b"1.2.3.4.5\0", b"1.2.840.10008.1.2.1\0");
    d.extend(el((0x0004, 0x1130), b"CS", b"HOSTILE "));
    d.extend(el((0x0008, 0x0016), b"UI", DICOMDIR_CLASS));
    d.extend(el((0x0010, 0x0010), b"PN", b"Hostile^Hank"));
    v.push(("DICOMDIR", d, "dicomdir", "DICOMDIR"));
    v
}

#[test]
fn hostile_files_get_a_reason_and_the_batch_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(input.join("hostile")).unwrap();
    std::fs::create_dir_all(input.join("good")).unwrap();
    for n in 0..2 {
        std::fs::write(input.join(format!("good/ct{n}.dcm")), good(100 + n)).unwrap();
    }
    let refused = refused_at_scan();
    for (name, bytes, _, _) in &refused {
        std::fs::write(input.join("hostile").join(name), bytes).unwrap();
    }

    let started = Instant::now();
    let index = scan_lib(&input);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "hostile files must be refused quickly"
    );
    let found = unreadable_by_path(&index);
    for (name, _, kind, word) in &refused {
        let (k, reason) = found
            .get(&format!("hostile/{name}"))
            .unwrap_or_else(|| panic!("{name} not refused: {found:#?}"));
        assert_eq!(k, kind, "{name}: {reason}");
        assert!(reason.contains(word), "{name}: {reason}");
        assert!(!reason.contains("Hostile"), "{name}: a reason names no value: {reason}");
    }
    assert_eq!(found.len(), refused.len(), "{found:#?}");

    // The CLI too: exit 1 (some files not written), the good files written, no panic.
    let out = tmp.path().join("out");
    let o = dams(&tmp.path().join("data"))
        .args(["apply", "--yes", "--json"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["written"], 2, "{report:#}");
    assert_eq!(report["unreadable"].as_array().unwrap().len(), refused.len());
    assert!(out.join("good/ct0.dcm").exists() && out.join("good/ct1.dcm").exists());
    assert!(!out.join("hostile").exists(), "nothing hostile copied");
}

/// Files that are odd but valid are written, and written right.
#[test]
fn odd_lengths_empty_pixel_data_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    // Odd lengths: the name that is replaced, and a value that is copied as it is.
    let mut odd = el((0x0010, 0x0010), b"PN", b"ODD^JON");
    odd.extend(el((0x0010, 0x0020), b"LO", b"HOST1"));
    let odd_study_id = el((0x0020, 0x0010), b"SH", b"ABC");
    // (Not "odd.dcm": a file named after the patient is written under the code.)
    std::fs::write(
        input.join("uneven.dcm"),
        ct(1, "HOST1", &odd, &[], &[odd_study_id, pixels()].concat()),
    )
    .unwrap();
    // An empty PixelData (length 0).
    std::fs::write(
        input.join("empty_pixels.dcm"),
        ct(2, "HOST1", &odd, &[], &el((0x7FE0, 0x0010), b"OW", &[])),
    )
    .unwrap();
    let index = scan_lib(&input);
    assert!(index.unreadable.is_empty(), "{:?}", index.unreadable);
    let out = tmp.path().join("out");
    let report = apply(&input, &index, &out, &tmp.path().join("key.json"));
    assert_eq!(report.written, 2, "{:?}", report.failed);
    for name in ["uneven.dcm", "empty_pixels.dcm"] {
        let p = parse_file(&out.join(name)).unwrap();
        let pn = p.top(tags::PATIENT_NAME).unwrap();
        assert_eq!(pn.length % 2, 0, "{name}: a new value is padded to even length");
        assert_eq!(p.top_string(tags::PATIENT_NAME).as_deref(), Some("P0001"));
        assert_eq!(p.top_string(tags::PATIENT_ID).as_deref(), Some("P0001"));
        if let Some(d) = dcmdump_problems(&out.join(name)) {
            // dcmdump warns about the odd length it was given; nothing else.
            assert!(d.iter().all(|l| l.contains("odd")), "{name}: {d:?}");
        }
    }
    let p = parse_file(&out.join("uneven.dcm")).unwrap();
    let sid = p.top(dams::dicom::Tag(0x0020, 0x0010)).unwrap();
    assert_eq!(
        p.value(sid),
        Some(&b"ABC"[..]),
        "an odd value no rule touches is copied"
    );
    let p = parse_file(&out.join("empty_pixels.dcm")).unwrap();
    assert_eq!(p.top(tags::PIXEL_DATA).unwrap().length, 0);
}

/// A valid VR that contradicts the dictionary: read as written; a rule that must write text
/// into it refuses the file with the reason, and the rest is written.
#[test]
fn wrong_vr_is_a_per_file_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    // PatientName written as US (two numbers), PatientID as it should be.
    let mut wrong = el((0x0010, 0x0010), b"US", &[1, 0, 2, 0]);
    wrong.extend(el((0x0010, 0x0020), b"LO", b"HOST01"));
    std::fs::write(input.join("wrong_vr.dcm"), ct(1, "HOST01", &wrong, &[], &pixels())).unwrap();
    std::fs::write(input.join("good.dcm"), good(2)).unwrap();
    let index = scan_lib(&input);
    assert!(index.unreadable.is_empty(), "{:?}", index.unreadable);
    let out = tmp.path().join("out");
    let report = apply(&input, &index, &out, &tmp.path().join("key.json"));
    assert_eq!(report.written, 1);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].path, PathBuf::from("wrong_vr.dcm"));
    assert!(
        report.failed[0].reason.contains("(0010,0010)") && report.failed[0].reason.contains("US"),
        "{:?}",
        report.failed
    );
    assert!(!out.join("wrong_vr.dcm").exists());
}

/// 3.9 GB declared on a text element of a file that really is that long (sparse): the value
/// is located, never loaded; memory stays small and the file gets a clear reason, because
/// a rule would have to write text into it.
#[cfg(unix)]
#[test]
fn gigantic_value_is_never_loaded() {
    use std::io::{Seek, SeekFrom, Write};
    const GIANT: u32 = 3_900_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("good.dcm"), good(1)).unwrap();
    // PatientName as UT (a text VR with a 32-bit length), last in the file. The file is
    // sparse, so it costs no disk.
    let mut head = ct(2, "HOST01", &el((0x0010, 0x0020), b"LO", b"HOST01"), &[], &[]);
    head.extend(el_len((0x0010, 0x0010), b"UT", &[], GIANT));
    let path = input.join("giant.dcm");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&head).unwrap();
    f.seek(SeekFrom::Start(head.len() as u64 + u64::from(GIANT) - 1))
        .unwrap();
    f.write_all(b" ").unwrap();
    drop(f);

    let started = Instant::now();
    let p = parse_file(&path).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "parse must not read 3.9 GB");
    let e = p.top(tags::PATIENT_NAME).unwrap();
    assert_eq!(e.kind, ElementKind::Bulk, "located, not loaded");
    assert!(p.value(e).is_none());

    // The whole run as a separate process: its peak memory is what it read, not 3.9 GB.
    let out = tmp.path().join("out");
    let o = dams(&tmp.path().join("data"))
        .args(["apply", "--yes", "--json"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let peak_kib = children_peak_rss_kib();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        peak_kib < 512 * 1024,
        "dams used {peak_kib} KiB for a file with a 3.9 GB value"
    );
    assert_eq!(report["written"], 1, "{report:#}");
    let reason = report["failed"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("(0010,0010)") && reason.contains("3900000000 bytes"),
        "{reason}"
    );
    assert!(!out.join("giant.dcm").exists());
}

/// Peak resident memory of the largest child process waited for so far.
#[cfg(unix)]
fn children_peak_rss_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &raw mut u) };
    assert_eq!(rc, 0);
    u.ru_maxrss
}

#[test]
fn deep_nesting_in_memory_is_refused_without_overflow() {
    // Run on a small stack: the depth limit, not luck, keeps the parser off the guard page.
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let mut deep = Vec::new();
            for _ in 0..100_000 {
                deep.extend(el_len((0x0008, 0x1140), b"SQ", &[], u32::MAX));
                deep.extend(item_start(u32::MAX));
            }
            parse_bytes(ct(1, "HOST01", &[], &deep, &[]))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .unwrap();
    let r = handle.join().unwrap();
    assert!(r.unwrap_err().contains("nested"));
}

/// Between scan and apply a file changes (same size, new content and time), another one
/// vanishes, a third is replaced by another patient's file of the same size with the old
/// time put back: each is refused with its reason, the others are written.
#[test]
fn files_that_change_or_vanish_after_the_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for n in 0..5 {
        std::fs::write(input.join(format!("ct{n}.dcm")), good(n)).unwrap();
    }
    let index = scan_lib(&input);
    assert_eq!(index.file_count(), 5);
    // Same size, other bytes, later modification time.
    let changed = input.join("ct1.dcm");
    let mut bytes = std::fs::read(&changed).unwrap();
    let at = bytes.len() - 1;
    bytes[at] ^= 0xFF;
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&changed, &bytes).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&changed)
        .unwrap()
        .set_modified(later)
        .unwrap();
    std::fs::remove_file(input.join("ct2.dcm")).unwrap();
    // Another patient's file in its place, same size, the old modification time put back.
    let swapped = input.join("ct4.dcm");
    let old_time = std::fs::metadata(&swapped).unwrap().modified().unwrap();
    std::fs::write(&swapped, ct(4, "HOST02", &[], &[], &pixels())).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&swapped)
        .unwrap()
        .set_modified(old_time)
        .unwrap();

    let out = tmp.path().join("out");
    let report = apply(&input, &index, &out, &tmp.path().join("key.json"));
    assert_eq!(report.written, 2, "{:?}", report.failed);
    let reasons: BTreeMap<_, _> = report
        .failed
        .iter()
        .map(|f| (f.path.to_string_lossy().into_owned(), f.reason.clone()))
        .collect();
    assert!(
        reasons["ct1.dcm"].contains("changed since it was scanned"),
        "{reasons:?}"
    );
    assert!(reasons["ct2.dcm"].contains("No such file"), "{reasons:?}");
    assert!(
        reasons["ct4.dcm"].contains("changed since it was scanned"),
        "{reasons:?}"
    );
    assert!(out.join("ct0.dcm").exists() && out.join("ct3.dcm").exists());
    assert!(!out.join("ct1.dcm").exists() && !out.join("ct2.dcm").exists());
}

/// A `PatientName` of 4 MiB (VR UT, so a long length is legal to write): identifying values
/// are searched for with automata built from them, which must not grow with 256 entries per
/// byte of a hostile value. Scan and plan finish (the minute is a hang guard, not a speed
/// target: they take well under a second) and stay small.
#[cfg(unix)]
#[test]
fn huge_identifying_value_stays_cheap() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let name: Vec<u8> = (0..4u32 << 20).map(|i| b'A' + (i % 23) as u8).collect();
    let mut patient = el((0x0010, 0x0010), b"UT", &name);
    patient.extend(el((0x0010, 0x0020), b"LO", b"HOST01"));
    std::fs::write(input.join("huge_name.dcm"), ct(1, "HOST01", &patient, &[], &pixels())).unwrap();
    std::fs::write(input.join("good.dcm"), good(2)).unwrap();
    for cmd in ["scan", "plan"] {
        let started = Instant::now();
        let mut child = dams(&tmp.path().join("data"))
            .arg(cmd)
            .arg(&input)
            .arg("--json")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_mins(1) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        assert!(finished, "dams {cmd} took more than a minute");
        assert!(status.success(), "dams {cmd}: {status:?}");
    }
    let peak_kib = children_peak_rss_kib();
    assert!(peak_kib < 1024 * 1024, "peak memory {peak_kib} KiB");
}

//! The review TUI as rendered buffers: each pane, every dialog, help, the too-small screen,
//! and scripted reviews, as insta snapshots on ratatui's `TestBackend` (at 80×24 and 120×35
//! besides the older 100×30 ones).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use dams::review::Status;
use dams::tui::dialogs::Dialog;
use dams::tui::panes::diff::DiffRow;
use dams::tui::testing::Harness;
use ratatui::crossterm::event::KeyCode;

struct Demo {
    _tmp: tempfile::TempDir,
    base: std::path::PathBuf,
}

fn demo() -> Demo {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    dams::demo::make_workspace(&base).unwrap();
    Demo { _tmp: tmp, base }
}

fn harness_to(d: &Demo, out: &str, w: u16, h: u16) -> Harness {
    let opts = dams::tui::Options {
        root: d.base.join("input"),
        out: d.base.join(out),
        key_path: d.base.join("state/key.json"),
        profile: dams::profile::Profile::resolve(None, &[]).unwrap(),
        config: None,
    };
    Harness::new(opts, w, h)
}

fn harness(d: &Demo, w: u16, h: u16) -> Harness {
    harness_to(d, "output", w, h)
}

/// Snapshots must not depend on the temporary folder's name.
fn snap(name: &str, base: &Path, screen: String) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&base.display().to_string()), "[TMP]");
    // Folders shortened from the front on narrow screens.
    settings.add_filter(r"…\S*/(input|output)", "…[TMP]/$1");
    // New UIDs come from each test's own random key secret.
    settings.add_filter(r"2\.25\.[0-9]+…?", "[NEW-UID]");
    settings.add_filter(r"\.?[0-9]{3,}…", "[UID…]");
    // …and the last digits of one a dialog leaves showing beside it.
    settings.add_filter(r"│[0-9]{1,2}…  ×", "│[UID…]  ×");
    settings.add_filter(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z", "[TIME]");
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!(name, screen));
}

/// The same screen at 120×35 and at 80×24; at 80×24 the footer keeps what must stay.
fn snap_sizes(name: &str, d: &Demo, h: &mut Harness) {
    h.resize(120, 35);
    snap(&format!("{name}_120x35"), &d.base, h.render());
    h.resize(80, 24);
    let screen = h.render();
    let footer = screen.lines().last().unwrap_or_default().to_string();
    if h.app.dialog.is_none() && !h.app.browser.filtering {
        assert!(footer.contains("? help") && footer.contains("q quit"), "{footer}");
    }
    snap(&format!("{name}_80x24"), &d.base, screen);
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn footer(h: &mut Harness) -> String {
    h.render().lines().last().unwrap_or_default().to_string()
}

#[test]
fn browser_and_diff_for_a_patient() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    snap("main_screen", &d.base, h.render());
    snap_sizes("main_screen", &d, &mut h);
}

#[test]
fn browser_expanded_with_series_diff() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("lj"); // open the patient, go to the study
    h.type_keys("lj"); // open the study, go to the series
    let screen = h.render();
    // The output folder of the series.
    assert!(screen.contains("→ out: P0001/CT_ABDOMEN/"), "{screen}");
    snap("series_diff", &d.base, screen);
    snap_sizes("series_diff", &d, &mut h);
}

#[test]
fn file_diff_shows_the_path() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("ljljlj"); // patient → study → series → first file
    let screen = h.render();
    assert!(screen.contains("file DEMO-001/CT_ABDOMEN/IM0001.dcm"), "{screen}");
    // Where it is written: the patient's folder is named after the code.
    assert!(screen.contains("→ out: P0001/CT_ABDOMEN/IM0001.dcm"), "{screen}");
    snap("file_diff", &d.base, screen);
    snap_sizes("file_diff", &d, &mut h);
}

#[test]
fn unreadable_files_with_reasons() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("Gk"); // the "could not be read" group, above "skipped"
    h.type_keys("lj");
    let screen = h.render();
    assert!(screen.contains("Could not be read: truncated"), "{screen}");
    // The row keeps the file's name; the reason is wrapped in the changes pane, whole.
    assert!(screen.contains("IM0099.dcm truncated"), "{screen}");
    assert!(screen.contains("the file ends at"), "{screen}");
    snap("unreadable", &d.base, screen);
    snap_sizes("unreadable", &d, &mut h);
    // A file that is not DICOM or XML is skipped, not a failure (as the command line says).
    h.resize(100, 30);
    h.type_keys("G");
    h.type_keys("lj");
    let screen = h.render();
    assert!(screen.contains("not DICOM or XML (1)"), "{screen}");
    assert!(
        screen.contains("Skipped:") && screen.contains("not copied to the output"),
        "{screen}"
    );
}

#[test]
fn filter_narrows_the_browser() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("/demo-002");
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(
        screen.contains("DEMO-002") && !screen.contains("DEMO-001 →"),
        "{screen}"
    );
    assert!(
        !screen.contains("XML without a patient"),
        "shown only where it matches: {screen}"
    );
    snap("filtered", &d.base, screen);
}

/// `/nodule`: the match is selected and its patient opened; Esc clears the filter.
#[test]
fn filter_selects_the_first_match_and_esc_clears_it() {
    let d = demo();
    let mut h = harness(&d, 120, 35);
    h.type_keys("/nodule");
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(screen.contains("▾ DEMO-002"), "the patient is opened: {screen}");
    assert!(!screen.contains("XML without a patient"), "{screen}");
    assert!(!screen.contains("could not be read"), "{screen}");
    let row = h.app.browser.selected_row().unwrap();
    assert!(row.label.contains("NODULE_MASK"), "{:?}", row.label);
    assert!(
        screen.contains("Changes: per-slice mask DEMO-002/NODULE_MASK/"),
        "{screen}"
    );
    snap_sizes("filtered_nodule", &d, &mut h);
    h.key(KeyCode::Esc);
    let screen = h.render();
    assert!(h.app.browser.filter.is_empty());
    assert!(
        screen.contains("DEMO-001 →") && screen.contains("filter cleared"),
        "{screen}"
    );
    // The selection stays where it was.
    assert!(h.app.browser.selected_row().unwrap().label.contains("NODULE_MASK"));
}

#[test]
fn help_screen() {
    let d = demo();
    let mut h = harness(&d, 100, 32);
    h.type_keys("?");
    snap("help", &d.base, h.render());
    // At 80×24 the help scrolls to its end.
    h.resize(80, 24);
    for _ in 0..3 {
        h.key(KeyCode::PageDown);
    }
    assert!(h.render().contains("closes this help"), "{}", h.render());
    h.key(KeyCode::Esc);
    assert!(h.app.dialog.is_none());
    // Every dialog's keys are in it, from the same table as the footer.
    h.type_keys("?");
    snap_sizes("help", &d, &mut h);
    h.key(KeyCode::End);
    let screen = h.render();
    assert!(
        screen.contains("after a write: send the patients just written"),
        "{screen}"
    );
    h.type_keys("q");
    assert!(h.app.dialog.is_none(), "q closes help, as help says");
}

#[test]
fn too_small_terminal() {
    let d = demo();
    let mut h = harness(&d, 60, 15);
    let screen = h.render();
    assert!(screen.contains("too small (60×15)"), "{screen}");
    snap("too_small", &d.base, screen);
    h.resize(80, 24);
    assert!(h.render().contains("Patients"));
}

#[test]
fn usable_at_80_by_24() {
    let d = demo();
    let mut h = harness(&d, 80, 24);
    let screen = h.render();
    // The after-values are whole; the footer keeps help and quit.
    assert!(
        screen.contains("→ ANONYMIZED") && screen.contains("→ P0001"),
        "{screen}"
    );
    assert!(footer(&mut h).contains("? help  q quit"), "{screen}");
    snap("main_80x24", &d.base, screen);
    // Every pane keeps its keys and help and quit.
    for _ in 0..3 {
        h.key(KeyCode::Tab);
        let f = footer(&mut h);
        assert!(f.contains("? help") && f.contains("q quit"), "{f}");
    }
}

/// The changes pane: a cursor that stays in range (no dead zone after End or many j), and
/// Enter or v shows a row whole.
#[test]
fn changes_pane_scrolls_in_range_and_shows_details() {
    let d = demo();
    let mut h = harness(&d, 80, 24);
    h.key(KeyCode::Tab);
    let rows = h.app.diff.rows.len();
    assert!(rows > 15, "{rows}");
    h.key(KeyCode::End);
    assert_eq!(h.app.diff.cursor, rows - 1);
    let bottom = h.app.diff.scroll;
    for _ in 0..40 {
        h.type_keys("j");
    }
    assert_eq!((h.app.diff.cursor, h.app.diff.scroll), (rows - 1, bottom));
    h.type_keys("k");
    assert_eq!(h.app.diff.cursor, rows - 2, "k moves at once after End");
    h.key(KeyCode::PageUp);
    assert!(h.app.diff.scroll < bottom, "PgUp scrolls back");
    h.key(KeyCode::Home);
    assert_eq!((h.app.diff.cursor, h.app.diff.scroll), (0, 0));
    snap_sizes("diff_focused", &d, &mut h);

    // The InstitutionName row, in full.
    let institution =
        |h: &Harness| matches!(h.app.diff.selected(), Some(DiffRow::Edit(e)) if e.note == "InstitutionName");
    while !institution(&h) {
        assert!(h.app.diff.cursor + 1 < rows, "no InstitutionName row");
        h.type_keys("j");
    }
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(screen.contains("(0008,0080) InstitutionName"), "{screen}");
    assert!(
        screen.contains("Example General Hospital") && screen.contains("ANONYMIZED"),
        "{screen}"
    );
    assert!(screen.contains("Rule"), "{screen}");
    assert!(
        footer(&mut h).contains("Esc close"),
        "the footer shows the dialog's keys"
    );
    snap_sizes("detail", &d, &mut h);
    h.type_keys("v");
    assert!(h.app.dialog.is_none());
    // A warning, whole.
    h.key(KeyCode::End);
    h.type_keys("v");
    let screen = h.render();
    assert!(screen.contains("the profile leaves it in place"), "{screen}");
    snap_sizes("detail_note", &d, &mut h);
}

#[test]
fn confirm_dialog_says_what_will_be_written() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("j"); // DEMO-002, whose folder holds the truncated file
    h.type_keys("a");
    // Nobody marked DEMO-002 reviewed: the screen asks first.
    let screen = h.render();
    assert!(screen.contains("DEMO-002 has not been marked reviewed"), "{screen}");
    assert!(matches!(h.app.dialog, Some(Dialog::Ask(_))));
    snap_sizes("ask", &d, &mut h);
    h.resize(100, 30);
    h.type_keys("y");
    let screen = h.render();
    assert!(screen.contains("Write patient DEMO-002 → P0002"), "{screen}");
    assert!(screen.contains("20 DICOM file(s)"), "{screen}");
    assert!(screen.contains("1 new code(s): P0002"), "{screen}");
    assert!(screen.contains("could not be read and will not be written"), "{screen}");
    // The output folder of the patient.
    assert!(screen.contains("DEMO-002 → P0002/"), "{screen}");
    // Wrapped warnings once pushed the buttons off the bottom of the dialog.
    assert!(screen.contains("Yes, write (y)"), "{screen}");
    snap("confirm", &d.base, screen);
    snap_sizes("confirm", &d, &mut h);
    // On a short screen the warnings are cut, never the buttons.
    h.resize(72, 20);
    let short = h.render();
    assert!(
        short.contains("Yes, write (y)") && short.contains("No (n/Esc)"),
        "{short}"
    );
    // No: nothing written.
    h.type_keys("n");
    assert!(!d.base.join("output").exists());
    assert!(h.render().contains("nothing was written"));
}

/// The scripted review: select a patient, look at its diff, mark it reviewed, approve,
/// confirm, written; then approve all reviewed patients at once.
#[test]
fn scripted_review_writes_only_after_yes() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("lj"); // inspect the study of DEMO-001
    assert!(h.render().contains("Same in all 49 files"));
    h.type_keys("g");
    h.type_keys("r");
    assert!(h.render().contains("reviewed"));
    assert!(footer(&mut h).contains("DEMO-001 marked reviewed"), "feedback after r");
    assert!(!d.base.join("output").exists(), "reviewing writes nothing");
    h.type_keys("a");
    assert!(!d.base.join("output").exists(), "the dialog alone writes nothing");
    h.key(KeyCode::Enter); // Enter on the default button is "No"
    assert!(!d.base.join("output").exists());
    h.type_keys("a");
    h.key(KeyCode::Right); // move to "Yes"
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(screen.contains("Written: 50 files"), "{screen}");
    snap("written", &d.base, screen);
    snap_sizes("result", &d, &mut h);
    h.resize(100, 30);
    assert_eq!(
        common::tree(&d.base.join("output")).len(),
        52,
        "49 DICOM + 1 XML + mapping.csv + mapping.json"
    );
    h.key(KeyCode::Enter);
    // The next pending patient is selected.
    assert!(h.render().contains("Changes: patient DEMO-002"));
    // The status survives a restart.
    let mut again = harness(&d, 100, 30);
    assert!(again.render().contains("49 written"), "{}", again.render());
    // Written is kept per output folder: another one shows the review, not "written".
    let mut elsewhere = harness_to(&d, "other-output", 100, 30);
    let screen = elsewhere.render();
    assert!(!screen.contains("49 written"), "{screen}");
    assert!(screen.contains("49 reviewed"), "{screen}");
    assert!(screen.contains("to another output folder"), "{screen}");

    // DEMO-002's nodule mask has no source in the folder: the dialog warns.
    h.type_keys("a");
    h.type_keys("y"); // it was not marked reviewed: yes, go on
    let screen = h.render();
    assert!(screen.contains("NODULE_MASK/ (unmatched) has no source CT"), "{screen}");
    h.type_keys("n");
    assert_eq!(h.app.ws.status("DEMO-002"), Status::Reviewed);
    // Fix it in the masks pane: choose CT_CHEST by hand.
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.key(KeyCode::Enter);
    assert!(h.render().contains("Source of DEMO-002/NODULE_MASK/"));
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(screen.contains("CT_CHEST/ 16") && screen.contains("manual"), "{screen}");
    // Its plan changed after review: back to pending, and the footer says so.
    assert_eq!(h.app.ws.status("DEMO-002"), Status::Pending);
    assert!(screen.contains("back to pending"), "{screen}");
    h.key(KeyCode::Tab); // back to the browser

    // `A`: nothing reviewed yet → a message; review DEMO-002, then approve all.
    h.type_keys("A");
    assert!(h.render().contains("no reviewed patients"));
    h.type_keys("rA");
    let screen = h.render();
    assert!(screen.contains("Approve all reviewed patients"), "{screen}");
    assert!(
        screen.contains("1 manual") && !screen.contains("has no source CT"),
        "{screen}"
    );
    assert!(screen.contains("Write patient DEMO-002 → P0002"), "{screen}");
    h.type_keys("y");
    assert!(h.render().contains("Written: 20 files"));
    // 69 DICOM and 1 XML, plus mapping.csv and mapping.json.
    assert_eq!(common::tree(&d.base.join("output")).len(), 72);
    let table = std::fs::read_to_string(d.base.join("output/mapping.csv")).unwrap();
    assert!(
        table.contains("P0002,per-slice-mask,manual,P0002/NODULE_MASK"),
        "{table}"
    );
}

#[test]
fn mapping_pane_and_picker() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("ljl"); // DEMO-001, its study
    let screen = h.render();
    assert!(
        screen.contains("mask LIVER_MASK") && screen.contains("24 resolved"),
        "{screen}"
    );
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    snap("mapping_resolved", &d.base, h.render());
    snap_sizes("mapping_resolved", &d, &mut h);
    h.resize(100, 30);
    // Switch the repair of the mask series off and on again.
    h.type_keys("t");
    assert!(h.render().contains("repair: off"), "{}", h.render());
    assert!(
        footer(&mut h).contains("repair of LIVER_MASK/ switched off"),
        "feedback after t"
    );
    h.type_keys("t");
    assert!(h.render().contains("repair: on"));
    // DEMO-002's unmatched mask, and the picker with its suggestion.
    h.key(KeyCode::Tab);
    h.type_keys("G");
    h.type_keys("kkk"); // above "skipped", "could not be read" and "XML without a patient"
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    snap("mapping_unmatched", &d.base, h.render());
    snap_sizes("mapping_unmatched", &d, &mut h);
    h.resize(100, 30);
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(
        screen.contains("Choose the CT series this mask series was drawn on"),
        "{screen}"
    );
    assert!(
        footer(&mut h).contains("Enter link"),
        "the footer shows the picker's keys"
    );
    snap("picker", &d.base, screen);
    snap_sizes("source_picker", &d, &mut h);
    h.key(KeyCode::Esc);
    assert!(h.render().contains("unmatched"), "Esc changes nothing");
}

/// The XML picker speaks of patients, not series; after assigning, the cursor stays on the
/// file (now under its patient), and the patient's plan changed: back to pending.
#[test]
fn xml_picker_assigns_and_keeps_the_cursor() {
    let d = demo();
    let mut h = harness(&d, 120, 35);
    h.type_keys("j"); // DEMO-002
    h.type_keys("r");
    assert_eq!(h.app.ws.status("DEMO-002"), Status::Reviewed);
    h.type_keys("jlj"); // XML without a patient → study_notes.xml
    assert!(h.render().contains("XML without a patient: "), "{}", h.render());
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(
        screen.contains("Choose the patient this XML file belongs to"),
        "{screen}"
    );
    assert!(!screen.contains("drawn on"), "{screen}");
    assert!(footer(&mut h).contains("Enter assign"), "{screen}");
    snap_sizes("xml_picker", &d, &mut h);
    h.resize(120, 35);
    h.type_keys("j"); // DEMO-002
    h.key(KeyCode::Enter);
    let screen = h.render();
    let row = h.app.browser.selected_row().unwrap();
    assert_eq!(row.label, "XML study_notes.xml", "{screen}");
    assert!(screen.contains("study_notes.xml assigned to DEMO-002"), "{screen}");
    assert!(screen.contains("DEMO-002 back to pending"), "{screen}");
    assert_eq!(h.app.ws.status("DEMO-002"), Status::Pending);
    assert!(screen.contains("Changes: XML study_notes.xml"), "{screen}");
    assert!(!screen.contains("XML without a patient ("), "{screen}");
}

/// A DICOM file without a `PatientID` that no patient could be found for: its own picker.
#[test]
fn file_picker_for_a_file_without_patient_id() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    common::stage(
        &input,
        &[
            ("pydicom/MR_small.dcm", "mixed/MR_small.dcm"),
            ("pydicom/rtplan.dcm", "mixed/rtplan.dcm"),
            ("pydicom/priv_SQ.dcm", "mixed/priv_SQ.dcm"),
            ("identity/CT_small_doe_jane.dcm", "mixed/doe.dcm"),
        ],
    );
    let opts = dams::tui::Options {
        root: input.clone(),
        out: tmp.path().join("out"),
        key_path: tmp.path().join("state/key.json"),
        profile: dams::profile::Profile::resolve(None, &[]).unwrap(),
        config: None,
    };
    let d = Demo {
        base: tmp.path().to_path_buf(),
        _tmp: tmp,
    };
    let mut h = Harness::new(opts, 120, 35);
    h.type_keys("G"); // patient unknown ▸
    let screen = h.render();
    assert!(screen.contains("patient unknown (1)"), "{screen}");
    h.type_keys("lj");
    let screen = h.render();
    assert!(screen.contains("Patient unknown: no PatientID"), "{screen}");
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(
        screen.contains("This file has no PatientID: choose the patient"),
        "{screen}"
    );
    assert!(screen.contains("Patient of mixed/priv_SQ.dcm"), "{screen}");
    snap_sizes("file_picker", &d, &mut h);
    h.resize(120, 35);
    h.type_keys("g"); // the first patient
    let first = h.app.index.patients[0].patient_id.clone();
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(!screen.contains("patient unknown"), "{screen}");
    assert!(screen.contains("priv_SQ.dcm assigned to"), "{screen}");
    let row = h.app.browser.selected_row().unwrap();
    assert_eq!(row.label, "priv_SQ.dcm", "the cursor follows the file: {screen}");
    assert_eq!(row.node.patient(), Some(first.as_str()));
}

/// While writing: "preparing…" until the total is known (never 0/0), the gauge, the keys in
/// the footer; q cancels the write and quits once it has stopped.
#[test]
fn q_during_a_write_cancels_and_quits() {
    let d = demo();
    let mut h = harness(&d, 120, 35);
    h.hold_writes = true;
    h.type_keys("ra");
    h.type_keys("y");
    let screen = h.render();
    assert!(screen.contains("preparing…") && !screen.contains("0/0"), "{screen}");
    assert!(footer(&mut h).contains("q cancel and quit"), "{screen}");
    snap_sizes("writing_preparing", &d, &mut h);
    h.progress(0, 49);
    h.progress(12, 49);
    assert!(h.render().contains("12/49 files"));
    snap_sizes("writing", &d, &mut h);
    h.type_keys("q");
    assert!(h.cancel_asked, "q cancels the write");
    assert!(!h.quit, "… and quits only when the cancel has landed");
    assert!(h.render().contains("Cancelling, then quitting"));
    h.finish_write(None);
    assert!(h.quit);
    // Cancelled before the first file: nothing written, the review holds.
    assert_eq!(h.app.ws.status("DEMO-001"), Status::Reviewed);
    let written: Vec<_> = common::tree(&d.base.join("output"))
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    assert!(written.is_empty(), "{written:?}");
}

/// A write cancelled part way: the files written are whole, the patient shows "partly
/// written", and writing again finishes it.
#[test]
fn a_cancelled_write_leaves_the_patient_partly_written() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.hold_writes = true;
    h.type_keys("ra");
    h.type_keys("y");
    h.finish_write(Some(10));
    let screen = h.render();
    assert!(
        screen.contains("Cancelled: ") || screen.contains("the cancel came after"),
        "{screen}"
    );
    h.key(KeyCode::Enter);
    let screen = h.render();
    // Files staged before the cancel landed may all have been named (a loaded machine):
    // the status says what is on disk, 49 DICOM files and the XML of DEMO-001.
    let on_disk = common::tree(&d.base.join("output"))
        .iter()
        .filter(|(rel, _)| rel.starts_with("P0001"))
        .count();
    if on_disk < 50 {
        assert!(screen.contains("partly written"), "{on_disk}: {screen}");
        assert_eq!(h.app.ws.status("DEMO-001"), Status::PartlyWritten);
    } else {
        assert_eq!(h.app.ws.status("DEMO-001"), Status::Written, "all {on_disk} were named");
    }
    for (rel, bytes) in common::tree(&d.base.join("output")) {
        if rel.extension().is_some_and(|e| e == "dcm") {
            assert!(
                dams::dicom::parse::parse_bytes(bytes).is_ok(),
                "{} is whole",
                rel.display()
            );
        }
        assert!(!rel.to_string_lossy().contains(".tmp"), "{}", rel.display());
    }
    // Again, to the end.
    h.type_keys("g");
    h.type_keys("a");
    let screen = h.render();
    assert!(screen.contains("was already written here"), "{screen}");
    h.type_keys("y");
    h.finish_write(None);
    assert!(h.render().contains("Written: 50 files"), "{}", h.render());
    assert_eq!(h.app.ws.status("DEMO-001"), Status::Written);
}

/// Approving several patients with `A` shows what the write leaves, in the words each
/// patient's own dialog and the CLI use (it used to say "No warnings.").
#[test]
fn approving_several_patients_lists_what_stays() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("r");
    let first = h.render();
    h.type_keys("jr");
    let second = h.render();
    assert_eq!(h.app.ws.status("DEMO-001"), Status::Reviewed, "{first}");
    assert_eq!(h.app.ws.status("DEMO-002"), Status::Reviewed, "{second}");
    h.type_keys("A");
    let screen = h.render();
    assert!(screen.contains("Approve all reviewed patients"), "{screen}");
    assert!(screen.contains("Write 2 reviewed patients"), "{screen}");
    assert!(!screen.contains("No warnings."), "{screen}");
    assert!(
        screen.contains("kept: (0008,0050) AccessionNumber, the accession number, in 68 files"),
        "{screen}"
    );
    h.type_keys("n");
    assert!(!d.base.join("output").exists(), "nothing is written");
}

/// Under `basic`, an image that says text is burned into its pixels is written only when its
/// patient is approved alone (the dialog lists it, yes approves it), never by approving all
/// reviewed patients at once.
#[test]
fn burned_in_images_are_approved_one_patient_at_a_time() {
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let burned = |d: &Demo| {
        let dir = d.base.join("input/DEMO-001/CT_ABDOMEN");
        let mut obj = dicom_object::open_file(dir.join("IM0001.dcm")).unwrap();
        obj.put(DataElement::new(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"));
        let uid = "1.2.826.0.1.3680043.8.498.424242";
        obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, uid));
        obj.meta_mut().media_storage_sop_instance_uid = uid.to_string();
        obj.write_to_file(dir.join("BURNED.dcm")).unwrap();
    };
    let harness_basic = |d: &Demo| {
        let opts = dams::tui::Options {
            root: d.base.join("input"),
            out: d.base.join("output"),
            key_path: d.base.join("state/key.json"),
            profile: dams::profile::Profile::resolve(Some("basic"), &[]).unwrap(),
            config: None,
        };
        Harness::new(opts, 100, 30)
    };
    let written = |d: &Demo| {
        common::tree(&d.base.join("output"))
            .iter()
            .any(|(p, _)| p.ends_with("BURNED.dcm"))
    };

    // Alone: listed, and yes writes it.
    let d = demo();
    burned(&d);
    let mut h = harness_basic(&d);
    h.type_keys("ra");
    let screen = h.render();
    assert!(screen.contains("Write patient DEMO-001"), "{screen}");
    assert!(screen.contains("says text is burned into its pixels"), "{screen}");
    h.type_keys("y");
    assert!(h.render().contains("Written: 51 files"), "{}", h.render());
    assert!(written(&d));

    // With every reviewed patient at once: listed as not written, and not written.
    let d = demo();
    burned(&d);
    let mut h = harness_basic(&d);
    h.type_keys("rjr");
    h.type_keys("A");
    let screen = h.render();
    assert!(screen.contains("Write 2 reviewed patients"), "{screen}");
    assert!(screen.contains("burned into its pixels"), "{screen}");
    h.type_keys("y");
    let _ = h.render();
    assert!(
        common::tree(&d.base.join("output")).len() > 60,
        "the others are written"
    );
    assert!(!written(&d), "approving all at once does not approve it");
}

/// Sending from the review screen, to nodes that do not answer (a real node is in
/// `tests/send.rs`): `s` after a write, the node picker, the send's progress and a result that
/// says why nothing went; `s` on a patient not written says what to do first.
#[test]
fn send_dialogs() {
    use std::os::unix::fs::PermissionsExt;
    let d = demo();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = d.base.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[nodes.research]\ndicom = \"RESEARCH@127.0.0.1:{port}\"\ntimeout = \"2s\"\nretries = 0\n\n\
             [nodes.archive]\nstow = \"http://127.0.0.1:{port}/dicom-web\"\nretries = 0\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let opts = dams::tui::Options {
        root: d.base.join("input"),
        out: d.base.join("output"),
        key_path: d.base.join("state/key.json"),
        profile: dams::profile::Profile::resolve(None, &[]).unwrap(),
        config: Some(config),
    };
    let mut h = Harness::new(opts, 100, 30);
    let unport = |s: String| s.replace(&port.to_string(), "[PORT]");

    h.type_keys("s");
    assert!(footer(&mut h).contains("not written"), "{}", footer(&mut h));
    h.type_keys("ray");
    let screen = h.render();
    assert!(
        screen.contains("Written: 50 files") && screen.contains("s send them"),
        "{screen}"
    );
    h.type_keys("s");
    assert!(h.render().contains("Choose the node"));
    h.resize(120, 35);
    snap("node_picker_120x35", &d.base, unport(h.render()));
    h.resize(80, 24);
    snap("node_picker_80x24", &d.base, unport(h.render()));

    h.hold_sends = true;
    h.key(KeyCode::Down); // research
    h.key(KeyCode::Enter);
    h.send(dams::tui::messages::Msg::SendProgress {
        stage: dams::tui::messages::SendStage::Verifying,
        done: 12,
        total: 49,
    });
    assert!(h.render().contains("verifying 12/49 files"));
    h.send(dams::tui::messages::Msg::SendProgress {
        stage: dams::tui::messages::SendStage::Sending,
        done: 7,
        total: 49,
    });
    snap_sizes("sending", &d, &mut h);
    assert!(h.render().contains("sent 7/49 instances"));

    h.finish_send();
    let screen = unport(h.render());
    assert!(screen.contains("Stopped: 0 instance(s) sent to research"), "{screen}");
    assert!(screen.contains("not sent: send again"), "{screen}");
    h.resize(120, 35);
    snap("send_result_120x35", &d.base, unport(h.render()));
    h.resize(80, 24);
    snap("send_result_80x24", &d.base, unport(h.render()));
    assert!(
        !d.base.join("output").join(dams::send::LOG_NAME).exists()
            || std::fs::read_to_string(d.base.join("output").join(dams::send::LOG_NAME))
                .unwrap()
                .is_empty(),
        "nothing reached a node"
    );
}

/// Approving many patients at once: the dialog names the first few patients' folders and
/// counts the rest, so that its warnings and its Yes/No stay in view at 80×24.
#[test]
fn approving_forty_patients_keeps_the_answer_in_view() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    dams::demo::make_cohort_named(&input, "MANY", 80, 2, 8, 8).unwrap();
    let opts = dams::tui::Options {
        root: input,
        out: tmp.path().join("output"),
        key_path: tmp.path().join("state/key.json"),
        profile: dams::profile::Profile::resolve(None, &[]).unwrap(),
        config: None,
    };
    let mut h = Harness::new(opts, 80, 24);
    for _ in 0..40 {
        h.type_keys("rj");
    }
    h.type_keys("A");
    let screen = h.render();
    assert!(screen.contains("Approve all reviewed patients"), "{screen}");
    assert!(screen.contains("… and 36 more patients"), "{screen}");
    assert!(
        screen.contains("40 new code(s): P0001, P0002, P0003, P0004, … (36 more)"),
        "{screen}"
    );
    assert!(
        screen.contains("Profile") && screen.contains("Yes, write (y)"),
        "{screen}"
    );
    h.type_keys("n");
    assert!(!tmp.path().join("output").exists());
}

/// Derived images that are no segmentation (compressed copies, key images, a screen capture,
/// a dose page) are shown as the series they are, with what they came from; the masks pane
/// says why a segmentation is one.
#[test]
fn derived_images_are_named_with_their_source() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = dams::tui::Options {
        root: common::fixture("objects"),
        out: tmp.path().join("output"),
        key_path: tmp.path().join("state/key.json"),
        profile: dams::profile::Profile::resolve(None, &[]).unwrap(),
        config: None,
    };
    let mut h = Harness::new(opts, 120, 35);
    h.type_keys("/lossy");
    h.key(KeyCode::Enter);
    let screen = h.render();
    // The copies kept their original's series UID: the series says how many are copies, and
    // each file says what it is.
    assert!(screen.contains("(6 files: compressed…"), "{screen}");
    assert!(
        h.app
            .browser
            .rows
            .iter()
            .any(|r| r.label == "CT #2 chest 3mm (6 files: compressed copy of ct/)"),
        "{screen}"
    );
    assert!(screen.contains("ct_001.dcm             compressed copy"), "{screen}");
    h.key(KeyCode::Esc);
    h.type_keys("/masks_disagree");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.type_keys("v");
    let screen = h.render();
    assert!(screen.contains("a segmentation: "), "{screen}");
}

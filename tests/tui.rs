//! The review TUI as rendered buffers: each pane, the dialogs, help, the too-small screen,
//! and a scripted review, as insta snapshots on ratatui's TestBackend.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

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

fn harness(d: &Demo, w: u16, h: u16) -> Harness {
    let opts = dams::tui::Options {
        root: d.base.join("input"),
        out: d.base.join("output"),
        key_path: d.base.join("state/key.json"),
        profile: dams::config::Profile::resolve(None, &[]).unwrap(),
    };
    Harness::new(opts, w, h)
}

/// Snapshots must not depend on the temporary folder's name.
fn snap(name: &str, base: &Path, screen: String) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&base.display().to_string()), "[TMP]");
    // New UIDs come from each test's own random key secret.
    settings.add_filter(r"2\.25\.[0-9]+…?", "[NEW-UID]");
    settings.add_filter(r"\.?[0-9]{6,}…", "[UID…]");
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!(name, screen));
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

#[test]
fn browser_and_diff_for_a_patient() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    snap("main_screen", &d.base, h.render());
}

#[test]
fn browser_expanded_with_series_diff() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("lj"); // open the patient, go to the study
    h.type_keys("lj"); // open the study, go to the series
    snap("series_diff", &d.base, h.render());
}

#[test]
fn file_diff_shows_the_path() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("ljljlj"); // patient → study → series → first file
    let screen = h.render();
    assert!(screen.contains("file DEMO-001/CT_ABDOMEN/IM0001.dcm"), "{screen}");
    snap("file_diff", &d.base, screen);
}

#[test]
fn unreadable_files_with_reasons() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("G"); // the "could not be read" group
    h.type_keys("lj");
    let screen = h.render();
    assert!(screen.contains("Could not be read: truncated"), "{screen}");
    snap("unreadable", &d.base, screen);
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
    snap("filtered", &d.base, screen);
}

#[test]
fn help_screen() {
    let d = demo();
    let mut h = harness(&d, 100, 32);
    h.type_keys("?");
    snap("help", &d.base, h.render());
    // At 80×24 the help scrolls to its end.
    h.resize(80, 24);
    h.key(KeyCode::PageDown);
    h.key(KeyCode::PageDown);
    assert!(h.render().contains("closes this help"), "{}", h.render());
    h.key(KeyCode::Esc);
    assert!(h.app.dialog.is_none());
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
    snap("main_80x24", &d.base, h.render());
}

#[test]
fn confirm_dialog_says_what_will_be_written() {
    let d = demo();
    let mut h = harness(&d, 100, 30);
    h.type_keys("j"); // DEMO-002, whose folder holds the truncated file
    h.type_keys("a");
    let screen = h.render();
    assert!(screen.contains("Write patient DEMO-002 → P0002"), "{screen}");
    assert!(screen.contains("20 DICOM file(s)"), "{screen}");
    assert!(screen.contains("1 new code(s): P0002"), "{screen}");
    assert!(screen.contains("could not be read and will not be written"), "{screen}");
    // Wrapped warnings once pushed the buttons off the bottom of the dialog.
    assert!(screen.contains("Yes, write (y)"), "{screen}");
    snap("confirm", &d.base, screen);
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

    // DEMO-002's nodule mask has no source in the folder: the dialog warns.
    h.type_keys("a");
    let screen = h.render();
    assert!(screen.contains("NODULE_MASK/ (unmatched) has no source CT"), "{screen}");
    h.type_keys("n");
    // Fix it in the masks pane: choose CT_CHEST by hand.
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.key(KeyCode::Enter);
    assert!(h.render().contains("Source of DEMO-002/NODULE_MASK/"));
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(screen.contains("CT_CHEST/ 16") && screen.contains("manual"), "{screen}");
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
    // Switch the repair of the mask series off and on again.
    h.type_keys("t");
    assert!(h.render().contains("repair: off"), "{}", h.render());
    h.type_keys("t");
    assert!(h.render().contains("repair: on"));
    // DEMO-002's unmatched mask, and the picker with its suggestion.
    h.key(KeyCode::Tab);
    h.type_keys("G");
    h.type_keys("kk"); // above "could not be read" and "XML without a patient"
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    snap("mapping_unmatched", &d.base, h.render());
    h.key(KeyCode::Enter);
    snap("picker", &d.base, h.render());
    h.key(KeyCode::Esc);
    assert!(h.render().contains("unmatched"), "Esc changes nothing");
}

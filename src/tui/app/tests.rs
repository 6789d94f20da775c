//! `update` without a terminal and without files: an Index made of headers in memory, plans
//! made in memory, and a rig that answers the effects as the runtime would (a diff with
//! invented edits, saves into a workspace, writes that end when the test says).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::App;
use crate::apply::ApplyReport;
use crate::key::KeyStore;
use crate::plan::Planner;
use crate::plan::summary::{EditCount, Summary};
use crate::profile::Profile;
use crate::review::{Status, Workspace};
use crate::scan::header::{FileIdentity, Header, Instance};
use crate::scan::{Index, Outcome};
use crate::tui::decision::{Change, apply_all};
use crate::tui::dialogs::Dialog;
use crate::tui::dialogs::picker::{PickFor, PickOption, Picker};
use crate::tui::effects::Init;
use crate::tui::keys::Context;
use crate::tui::messages::{Effect, Msg, NodeChoice, Nodes, Prepared, SendJob, SendStage, Sent, Step, WriteJob};
use crate::tui::panes::diff::DiffData;
use crate::tui::rows::Node;
use crate::tui::theme::Theme;

fn header(pid: &str, path: &str, series: (&str, &str)) -> Header {
    Header {
        identity: FileIdentity {
            patient_id: pid.into(),
            patient_name: format!("{pid}^TEST"),
            ..FileIdentity::default()
        },
        study_uid: format!("1.2.{}", pid.len()),
        study_date: "20240115".into(),
        study_description: "STUDY".into(),
        series_uid: format!("1.2.3.{}", series.1.len()),
        series_number: Some(1),
        series_description: series.1.into(),
        modality: series.0.into(),
        media_storage_sop_class: String::new(),
        dicomdir_files: Vec::new(),
        instance: Instance {
            path: PathBuf::from(path),
            size: 0,
            modified: None,
            sop_instance_uid: format!("1.2.3.4.{}", path.len()),
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            transfer_syntax: "".into(),
            frame_of_reference_uid: "".into(),
            instance_number: None,
            series_number: Some(1),
            image_position: None,
            image_orientation: None,
            image_type: Vec::new().into(),
            number_of_frames: 1,
            image: std::sync::Arc::default(),
            largest_value: None,
            placed_by: None,
            references: Vec::new(),
            referenced_series: Vec::new(),
        },
    }
}

/// Answers effects in memory, as the runtime would with real files.
struct Rig {
    app: App,
    headers: Vec<Header>,
    key: KeyStore,
    saved: Workspace,
    /// Edits each diff answer shows.
    edits: usize,
    write: Option<WriteJob>,
    /// What reading the config file's nodes gives.
    nodes: Result<Nodes, String>,
    send: Option<SendJob>,
    effects: Vec<Effect>,
    cancelled: bool,
    quit: bool,
}

const OUT: &str = "/out/here";

impl Rig {
    fn new(ws: Workspace) -> Rig {
        let init = Init {
            root: PathBuf::from("/in"),
            out: PathBuf::from(OUT),
            profile: "seed".into(),
            ws: ws.clone(),
            notices: Vec::new(),
        };
        let (app, first) = App::init(init, Theme::plain());
        assert!(matches!(first.as_slice(), [Effect::Scan]), "{first:?}");
        let mut rig = Rig {
            app,
            headers: vec![
                header("P1", "P1/ct/1.dcm", ("CT", "CT LIVER")),
                header("P1", "P1/ct/2.dcm", ("CT", "CT LIVER")),
                header("P2", "P2/mr/1.dcm", ("MR", "MR BRAIN")),
            ],
            // A key store that was never saved: in memory only.
            key: KeyStore::open(Path::new("/nonexistent/dams-unit-test/key.json")).expect("key"),
            saved: ws,
            edits: 40,
            write: None,
            nodes: Ok(Nodes {
                file: "/etc/dams.toml".into(),
                nodes: vec![
                    NodeChoice {
                        name: "archive".into(),
                        describe: "archive: stow-rs https://archive.example/dicom-web".into(),
                    },
                    NodeChoice {
                        name: "research".into(),
                        describe: "research: RESEARCH@pacs.example:104, C-STORE".into(),
                    },
                ],
            }),
            send: None,
            effects: Vec::new(),
            cancelled: false,
            quit: false,
        };
        rig.send(Msg::Resize(80, 24));
        rig.run(first);
        rig
    }

    fn run(&mut self, effects: Vec<Effect>) {
        let mut queue: VecDeque<Msg> = VecDeque::new();
        self.answer(effects, &mut queue);
        while let Some(m) = queue.pop_front() {
            let e = self.app.update(m);
            self.answer(e, &mut queue);
        }
    }

    fn send(&mut self, msg: Msg) {
        let e = self.app.update(msg);
        self.run(e);
    }

    fn key(&mut self, code: KeyCode) {
        self.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    fn keys(&mut self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    fn answer(&mut self, effects: Vec<Effect>, queue: &mut VecDeque<Msg>) {
        for e in effects {
            match e {
                Effect::Scan => {
                    queue.push_back(Msg::ScanTotal(self.headers.len()));
                    let batch = self
                        .headers
                        .iter()
                        .cloned()
                        .map(|h| Outcome::Dicom(Box::new(h)))
                        .collect();
                    queue.push_back(Msg::ScanBatch(batch));
                    queue.push_back(Msg::ScanDone);
                }
                Effect::Prepare(job) => queue.push_back(self.prepare(job)),
                Effect::Diff {
                    generation, request, ..
                } => queue.push_back(Msg::Diff {
                    generation,
                    data: self.diff(request.instances.len()),
                }),
                Effect::Save(changes) => {
                    apply_all(&changes, &mut self.saved);
                    queue.push_back(Msg::Saved(Ok(self.saved.clone())));
                    self.effects.push(Effect::Save(changes));
                }
                Effect::Write(job) => self.write = Some(job),
                Effect::CancelWrite => self.cancelled = true,
                Effect::Quit => self.quit = true,
                Effect::ListNodes(patients) => queue.push_back(Msg::Nodes {
                    patients,
                    result: self.nodes.clone(),
                }),
                Effect::Send(job) => self.send = Some(job),
            }
        }
    }

    fn prepare(&self, job: crate::tui::messages::PrepareJob) -> Msg {
        let profile = Profile::resolve(None, &[]).expect("seed profile");
        let mut completed = None;
        let index: &Index = if job.step >= Step::Place {
            let mut index = (*job.index).clone();
            index.finish();
            index.place_orphans(&job.ws.file_assignments);
            crate::xml::assign_all(&mut index);
            completed.insert(std::sync::Arc::new(index))
        } else {
            &job.index
        };
        let planner = if job.step == Step::Codes {
            Planner::new(index, profile, &self.key)
        } else {
            crate::plan::prepare(index, profile, &self.key, &job.ws).planner
        };
        Msg::Prepared(Box::new(Prepared {
            generation: job.generation,
            index: completed,
            planner: std::sync::Arc::new(planner),
            notices: Vec::new(),
        }))
    }

    fn diff(&self, files: usize) -> DiffData {
        let edits = (0..self.edits)
            .map(|i| EditCount {
                path: format!("(0009,{i:04X})"),
                tag: format!("(0009,{i:04X})"),
                keyword: format!("Element{i}"),
                before: Some(format!("before {i}")),
                after: Some(format!("after {i}")),
                rule: crate::profile::RuleKind::Replace,
                files,
            })
            .collect();
        DiffData {
            summary: Summary {
                files,
                edits,
                ..Summary::default()
            },
            failed: Vec::new(),
            xml: Vec::new(),
            stays: None,
        }
    }

    /// Ends the write: its first `written` files (in patient order) were written.
    fn finish_write(&mut self, written: usize, cancelled: bool) {
        let job = self.write.take().expect("a write was asked for");
        let written_paths = job
            .index
            .patients
            .iter()
            .filter(|p| job.patients.contains(&p.patient_id))
            .flat_map(|p| p.instances())
            .take(written)
            .map(|i| job.planner.dest(&i.path))
            .collect();
        let report = ApplyReport {
            written,
            cancelled,
            written_paths,
            ..ApplyReport::default()
        };
        self.send(Msg::WriteDone {
            result: Ok(report),
            at: "2026-01-01T00:00:00Z".into(),
        });
    }

    fn selected_label(&self) -> String {
        self.app
            .browser
            .selected_row()
            .map(|r| r.label.clone())
            .unwrap_or_default()
    }
}

#[test]
fn the_work_is_asked_for_not_done() {
    let init = Init {
        root: PathBuf::from("/in"),
        out: PathBuf::from(OUT),
        profile: "seed".into(),
        ws: Workspace::default(),
        notices: vec!["the key store can be read by others".into()],
    };
    let (mut app, first) = App::init(init, Theme::plain());
    assert!(matches!(first.as_slice(), [Effect::Scan]));
    assert!(app.message.as_ref().is_some_and(|m| m.text.contains("read by others")));
    let batch = vec![Outcome::Dicom(Box::new(header("P1", "P1/1.dcm", ("CT", "CT"))))];
    let effects = app.update(Msg::ScanBatch(batch));
    // The diff of the first patient needs codes: a plan is asked for (not made here).
    assert!(
        matches!(effects.as_slice(), [Effect::Prepare(j)] if j.step == Step::Codes),
        "{effects:?}"
    );
    // Files arriving while it is made wait, so the Index is not copied under it.
    let more = vec![Outcome::Dicom(Box::new(header("P2", "P2/1.dcm", ("CT", "CT"))))];
    assert!(app.update(Msg::ScanBatch(more)).is_empty());
    assert_eq!(app.index.patients.len(), 1);
    assert!(
        app.update(Msg::ScanDone).is_empty(),
        "finished after the plan in the making"
    );
    assert!(!app.scan.finished);
}

#[test]
fn the_scan_ends_in_a_finished_index_and_a_plan() {
    let rig = Rig::new(Workspace::default());
    assert!(rig.app.scan.finished);
    assert!(rig.app.plan.is_some());
    let labels: Vec<String> = rig.app.browser.rows.iter().map(|r| r.label.clone()).collect();
    assert_eq!(labels, ["P1 → P0001", "P2 → P0002"]);
    assert_eq!(rig.app.diff.target.as_ref().map(|t| t.patient.as_str()), Some("P1"));
}

#[test]
fn scroll_positions_are_clamped_in_update() {
    let mut rig = Rig::new(Workspace::default());
    rig.key(KeyCode::Tab);
    assert_eq!(rig.app.context(), Context::Diff);
    let rows = rig.app.diff.rows.len();
    assert!(rows > 40, "{rows}");
    rig.key(KeyCode::End);
    let bottom = (rig.app.diff.cursor, rig.app.diff.scroll);
    assert_eq!(bottom.0, rows - 1);
    for _ in 0..30 {
        rig.keys("j");
    }
    assert_eq!((rig.app.diff.cursor, rig.app.diff.scroll), bottom, "no dead zone");
    rig.keys("k");
    assert_eq!(rig.app.diff.cursor, rows - 2);
    // A taller screen shows more rows: the scroll follows at once.
    rig.send(Msg::Resize(80, 60));
    assert!(rig.app.diff.scroll < bottom.1, "{} < {}", rig.app.diff.scroll, bottom.1);
    // The browser's offset too.
    rig.key(KeyCode::BackTab);
    rig.key(KeyCode::End);
    rig.send(Msg::Resize(80, 20));
    let b = &rig.app.browser;
    assert!(b.selected >= b.offset && b.offset < b.rows.len());
}

#[test]
fn the_filter_selects_the_first_match_opens_it_and_esc_clears_it() {
    let mut rig = Rig::new(Workspace::default());
    rig.keys("/brain");
    assert_eq!(rig.app.context(), Context::Filter);
    assert_eq!(rig.selected_label(), "MR #1 MR BRAIN");
    let labels: Vec<&str> = rig.app.browser.rows.iter().map(|r| r.label.as_str()).collect();
    assert!(
        labels.contains(&"P2 → P0002") && !labels.iter().any(|l| l.starts_with("P1")),
        "{labels:?}"
    );
    assert!(rig.app.browser.rows[0].expanded, "its patient is opened");
    rig.key(KeyCode::Enter);
    assert_eq!(rig.app.context(), Context::Browser);
    rig.key(KeyCode::Esc);
    assert!(rig.app.browser.filter.is_empty());
    assert_eq!(rig.app.browser.rows.iter().filter(|r| r.depth == 0).count(), 2);
    assert_eq!(rig.selected_label(), "MR #1 MR BRAIN", "the selection stays");
    // A filter nothing matches, then backspace.
    rig.keys("/zzz");
    assert!(rig.app.browser.rows.is_empty());
    for _ in 0..3 {
        rig.key(KeyCode::Backspace);
    }
    assert_eq!(rig.app.browser.rows.iter().filter(|r| r.depth == 0).count(), 2);
    rig.key(KeyCode::Esc);
    assert_eq!(rig.app.context(), Context::Browser);
}

#[test]
fn approving_a_pending_patient_asks_first() {
    let mut rig = Rig::new(Workspace::default());
    rig.keys("a");
    assert!(matches!(rig.app.dialog, Some(Dialog::Ask(_))));
    assert_eq!(rig.app.context(), Context::Ask);
    rig.keys("r"); // not a key of the question
    assert_eq!(rig.app.ws.status("P1"), Status::Pending);
    rig.keys("n");
    assert!(rig.app.dialog.is_none() && rig.write.is_none());
    assert!(
        rig.app
            .message
            .as_ref()
            .is_some_and(|m| m.text == "nothing was written")
    );
    // Yes marks the patient reviewed and goes on to the confirmation.
    rig.keys("ay");
    assert_eq!(rig.app.ws.status("P1"), Status::Reviewed);
    assert!(matches!(&rig.app.dialog, Some(Dialog::Confirm(c)) if c.facts.is_some()));
    rig.keys("n");
    // Reviewed: straight to the confirmation.
    rig.keys("a");
    assert!(matches!(rig.app.dialog, Some(Dialog::Confirm(_))));
}

#[test]
fn feedback_follows_every_action() {
    let mut rig = Rig::new(Workspace::default());
    rig.keys("r");
    assert!(
        rig.app
            .message
            .as_ref()
            .is_some_and(|m| m.text.starts_with("P1 marked reviewed"))
    );
    rig.keys("r");
    assert!(rig.app.message.as_ref().is_some_and(|m| m.text == "P1 back to pending"));
    rig.key(KeyCode::Tab);
    rig.key(KeyCode::Tab);
    rig.keys("t");
    assert!(
        rig.app
            .message
            .as_ref()
            .is_some_and(|m| m.text.contains("no mask series"))
    );
    rig.key(KeyCode::Enter);
    assert!(rig.app.message.as_ref().is_some_and(|m| m.text.contains("no masks")));
}

#[test]
fn an_assignment_sends_its_patients_back_to_pending() {
    let mut rig = Rig::new(Workspace::default());
    rig.keys("r");
    assert_eq!(rig.app.ws.status("P1"), Status::Reviewed);
    rig.effects.clear();
    let path = PathBuf::from("P2/mr/1.dcm");
    rig.app.dialog = Some(Dialog::Picker(Picker {
        target: PickFor::Xml(path.clone()),
        title: "Patient of".into(),
        options: vec![PickOption {
            value: Some("P1".into()),
            label: "P1".into(),
            note: String::new(),
        }],
        selected: 0,
    }));
    assert_eq!(rig.app.context(), Context::PatientPicker);
    rig.key(KeyCode::Enter);
    let saved: Vec<&Change> = rig
        .effects
        .iter()
        .flat_map(|e| match e {
            Effect::Save(c) => c.iter().collect(),
            _ => Vec::new(),
        })
        .collect();
    assert!(
        saved
            .iter()
            .any(|c| matches!(c, Change::AssignXml { patient: Some(p), .. } if p == "P1"))
    );
    assert!(
        saved
            .iter()
            .any(|c| matches!(c, Change::Status { patient, status: Status::Pending } if patient == "P1"))
    );
    assert_eq!(rig.app.ws.status("P1"), Status::Pending);
    let m = rig.app.message.as_ref().map(|m| m.text.clone()).unwrap_or_default();
    assert!(m.contains("assigned to P1") && m.contains("back to pending"), "{m}");
}

#[test]
fn q_while_writing_cancels_and_quits_when_the_write_has_stopped() {
    let mut rig = Rig::new(Workspace::default());
    rig.keys("ray");
    assert!(rig.write.is_some());
    assert_eq!(rig.app.context(), Context::Writing);
    let Some(Dialog::Writing(w)) = &rig.app.dialog else {
        panic!("writing")
    };
    assert_eq!(w.label(), "preparing…");
    rig.send(Msg::WriteProgress { done: 0, total: 0 });
    let Some(Dialog::Writing(w)) = &rig.app.dialog else {
        panic!("writing")
    };
    assert_eq!(w.label(), "preparing…", "never 0/0");
    rig.send(Msg::WriteProgress { done: 1, total: 2 });
    let Some(Dialog::Writing(w)) = &rig.app.dialog else {
        panic!("writing")
    };
    assert_eq!(w.label(), "1/2 files");
    rig.keys("r"); // a pane key does nothing while writing
    assert_eq!(rig.app.ws.status("P1"), Status::Approved);
    rig.keys("q");
    assert!(rig.cancelled && !rig.quit);
    rig.finish_write(1, true);
    assert!(rig.quit, "quits once the cancel has landed");
    assert_eq!(rig.saved.status("P1"), Status::PartlyWritten, "saved before quitting");
    assert_eq!(rig.saved.patients["P1"].written_to.as_deref(), Some(Path::new(OUT)));
}

#[test]
fn a_write_ends_in_written_here_and_the_next_pending_patient() {
    let mut rig = Rig::new(Workspace::default());
    rig.keys("ray");
    rig.finish_write(2, false);
    assert!(matches!(&rig.app.dialog, Some(Dialog::Result(r)) if r.headline().starts_with("Written: 2 files")));
    assert_eq!(rig.app.ws.status("P1"), Status::Written);
    assert_eq!(rig.selected_label(), "P2 → P0002");
    rig.key(KeyCode::Enter);
    assert!(rig.app.dialog.is_none());
    // Reviewed and approving P1 again warns that it was written here.
    rig.key(KeyCode::Home);
    rig.keys("a");
    let Some(Dialog::Confirm(c)) = &rig.app.dialog else {
        panic!("confirm")
    };
    assert_eq!(c.facts.as_ref().map(|f| f.already_written.len()), Some(1));
}

#[test]
fn the_result_of_a_write_says_what_became_of_each_dicomdir() {
    use crate::apply::dicomdir::DicomdirReport;
    let mut rig = Rig::new(Workspace::default());
    rig.keys("ray");
    let job = rig.write.take().expect("a write was asked for");
    let written_paths = job.index.patients[0]
        .instances()
        .map(|i| job.planner.dest(&i.path))
        .collect();
    let dicomdir = |input: &str, output: Option<&str>, left_out, reason: Option<&str>| DicomdirReport {
        input: input.into(),
        output: output.map(Into::into),
        files: 2,
        left_out,
        reason: reason.map(Into::into),
        failed: false,
    };
    let report = ApplyReport {
        written: 2,
        written_paths,
        dicomdirs: vec![
            dicomdir("CD/DICOMDIR", None, 0, Some("not written: it is damaged (truncated)")),
            dicomdir(
                "A/DICOMDIR",
                None,
                0,
                Some("not written: none of the files it lists is in the output folder"),
            ),
            dicomdir(
                "B/DICOMDIR",
                None,
                0,
                Some("not written: none of the files it lists is in the output folder"),
            ),
            dicomdir(
                "C/DICOMDIR",
                None,
                0,
                Some("not written: none of the files it lists is in the output folder"),
            ),
            dicomdir("P1/DICOMDIR", Some("P0001/DICOMDIR"), 3, None),
        ],
        ..ApplyReport::default()
    };
    rig.send(Msg::WriteDone {
        result: Ok(report),
        at: "2026-01-01T00:00:00Z".into(),
    });
    let Some(Dialog::Result(r)) = &rig.app.dialog else {
        panic!("the result")
    };
    let text: Vec<&str> = r.text.lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        text.contains(
            &"new DICOMDIR P0001/DICOMDIR for P1/DICOMDIR: 2 file(s), 3 of its records left out (their files are not in the output folder)"
        ),
        "{text:?}"
    );
    assert!(
        text.contains(&"DICOMDIR CD/DICOMDIR: not written: it is damaged (truncated)"),
        "{text:?}"
    );
    // The one written comes first; four are listed and the fifth counted.
    let first = text.iter().position(|l| l.contains("DICOMDIR")).unwrap();
    assert!(text[first].starts_with("new DICOMDIR P0001/DICOMDIR"), "{text:?}");
    assert!(
        text.contains(&"… and 1 more DICOMDIR(s) (dams apply --json lists them all)"),
        "{text:?}"
    );
}

#[test]
fn written_elsewhere_is_not_written_here() {
    let mut ws = Workspace::default();
    Change::Written {
        patient: "P1".into(),
        status: Status::Written,
        at: "2026-01-01T00:00:00Z".into(),
        to: "/out/elsewhere".into(),
    }
    .apply(&mut ws);
    let rig = Rig::new(ws);
    let p1 = rig
        .app
        .browser
        .rows
        .iter()
        .find(|r| r.node == Node::Patient("P1".into()));
    assert_eq!(p1.and_then(|r| r.status), Some(Status::Reviewed));
    let said = rig
        .app
        .diff
        .rows
        .iter()
        .any(|r| format!("{r:?}").contains("another output folder"));
    assert!(said, "{:?}", rig.app.diff.rows);
}

#[test]
fn dialogs_and_help_answer_only_their_own_keys() {
    let mut rig = Rig::new(Workspace::default());
    rig.keys("?");
    assert_eq!(rig.app.context(), Context::Help);
    rig.keys("r");
    assert_eq!(rig.app.ws.status("P1"), Status::Pending, "r does nothing in help");
    rig.key(KeyCode::End);
    rig.keys("q");
    assert!(rig.app.dialog.is_none() && !rig.quit, "q closes help, and only help");
    rig.key(KeyCode::Tab);
    rig.keys("v");
    assert_eq!(rig.app.context(), Context::Diff, "a heading has no details");
    rig.keys("jjv");
    assert_eq!(rig.app.context(), Context::Detail);
    rig.key(KeyCode::Esc);
    assert_eq!(rig.app.context(), Context::Diff);
    rig.keys("q");
    assert!(rig.quit);
}

#[test]
fn ctrl_c_quits_from_a_dialog_or_the_filter_but_cancels_a_write_first() {
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    let mut rig = Rig::new(Workspace::default());
    rig.keys("/x");
    let e = rig.app.update(ctrl_c);
    assert!(matches!(e.as_slice(), [Effect::Quit]), "{e:?}");
    let mut rig = Rig::new(Workspace::default());
    rig.keys("?");
    let e = rig
        .app
        .update(Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert!(matches!(e.as_slice(), [Effect::Quit]), "{e:?}");
    let mut rig = Rig::new(Workspace::default());
    rig.keys("ray");
    let e = rig
        .app
        .update(Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert!(matches!(e.as_slice(), [Effect::CancelWrite]), "{e:?}");
}

fn sent(total: usize, sent: usize, failed: usize) -> Msg {
    let failure = |i: usize| crate::send::InstanceStatus {
        path: PathBuf::from(format!("P0001/ct/{i}.dcm")),
        sop_instance_uid: format!("2.25.{i}"),
        code: Some("A700".into()),
        reason: "out of resources".into(),
    };
    Msg::SendDone(Ok(Box::new(Sent {
        report: crate::send::SendReport {
            node: "research".into(),
            to: "dicom:RESEARCH@pacs.example:104".into(),
            via: "c-store",
            total,
            sent,
            already_sent: 0,
            warnings: Vec::new(),
            failed: (0..failed).map(failure).collect(),
            not_sent: total - sent - failed,
            stopped: None,
            cancelled: false,
            log: PathBuf::from("/out/here/dams-send.jsonl"),
            log_warnings: Vec::new(),
        },
        refused: Vec::new(),
    })))
}

#[test]
fn a_patient_is_sent_only_once_written_and_to_a_node_chosen_by_hand() {
    let mut rig = Rig::new(Workspace::default());
    rig.keys("s");
    assert!(rig.send.is_none() && rig.app.dialog.is_none());
    let m = rig.app.message.as_ref().map(|m| m.text.clone()).unwrap_or_default();
    assert!(m.contains("not written") && m.contains("(a)"), "{m}");

    // Written: the result offers to send on; s there asks for the node.
    rig.keys("ray");
    rig.finish_write(2, false);
    assert_eq!(rig.app.context(), Context::Written);
    rig.keys("s");
    let Some(Dialog::Picker(p)) = &rig.app.dialog else {
        panic!("the node picker: {:?}", rig.app.dialog)
    };
    assert_eq!(p.target, PickFor::Node(vec!["P1".into()]));
    assert_eq!(rig.app.context(), Context::NodePicker);
    let names: Vec<_> = p.options.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(names, ["archive", "research"]);
    assert!(rig.send.is_none(), "nothing is sent before a node is chosen");
    rig.key(KeyCode::Down);
    rig.key(KeyCode::Enter);
    let job = rig.send.take().expect("a send was asked for");
    assert_eq!(job.node, "research");
    assert_eq!(job.patients.iter().collect::<Vec<_>>(), ["P1"]);
    assert_eq!(rig.app.context(), Context::Sending);

    // No second write or send while it runs; its gauge follows the stages.
    rig.keys("a");
    assert!(rig.write.is_none());
    rig.send(Msg::SendProgress {
        stage: SendStage::Verifying,
        done: 1,
        total: 2,
    });
    let Some(Dialog::Sending(s)) = &rig.app.dialog else {
        panic!("sending")
    };
    assert_eq!(s.label(), "verifying 1/2 files");
    rig.send(Msg::SendProgress {
        stage: SendStage::Sending,
        done: 0,
        total: 0,
    });
    let Some(Dialog::Sending(s)) = &rig.app.dialog else {
        panic!("sending")
    };
    assert_eq!(s.label(), "connecting…", "never 0/0");
    rig.send(sent(2, 1, 1));
    let Some(Dialog::Result(r)) = &rig.app.dialog else {
        panic!("the result")
    };
    assert!(r.headline().contains("not everything is there"), "{}", r.headline());
    let text: Vec<&str> = r.text.lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(text.iter().any(|l| l.contains("A700 out of resources")), "{text:?}");
    assert!(text.iter().any(|l| l.contains("dams-send.jsonl")), "{text:?}");
    assert_eq!(rig.app.context(), Context::Result, "a send's result sends nothing on");
    assert!(!rig.app.sending);
}

#[test]
fn a_send_can_be_stopped_and_quit_and_no_node_is_a_clear_message() {
    let mut ws = Workspace::default();
    apply_all(
        &[Change::Written {
            patient: "P1".into(),
            status: Status::Written,
            at: "2026-01-01T00:00:00Z".into(),
            to: PathBuf::from(OUT),
        }],
        &mut ws,
    );
    let mut rig = Rig::new(ws);
    rig.nodes = Ok(Nodes {
        file: "/home/u/.config/dams/config.toml (which does not exist)".into(),
        nodes: Vec::new(),
    });
    rig.keys("s");
    let m = rig.app.message.as_ref().map(|m| m.text.clone()).unwrap_or_default();
    assert!(
        m.contains("no node") && m.contains("config.toml") && m.contains("[nodes."),
        "{m}"
    );
    assert!(rig.app.dialog.is_none());

    rig.nodes = Err("config.toml: others can write to it".into());
    rig.keys("S");
    let m = rig.app.message.as_ref().map(|m| m.text.clone()).unwrap_or_default();
    assert!(m.contains("others can write"), "{m}");

    rig.nodes = Ok(Nodes {
        file: "x".into(),
        nodes: vec![NodeChoice {
            name: "research".into(),
            describe: "d".into(),
        }],
    });
    rig.keys("S");
    rig.key(KeyCode::Enter);
    assert!(rig.send.take().is_some());
    rig.key(KeyCode::Esc);
    assert!(rig.cancelled && !rig.quit, "Esc stops the send");
    rig.keys("q");
    assert!(!rig.quit, "quits only once the send has stopped");
    rig.send(sent(3, 1, 0));
    assert!(rig.quit);
}

#[test]
fn a_cancelled_write_of_several_patients_says_what_each_got() {
    let mut rig = Rig::new(Workspace::default());
    // Both patients reviewed, then approved together.
    rig.keys("r");
    rig.key(KeyCode::Down);
    rig.keys("r");
    rig.keys("A");
    rig.keys("y");
    let job = rig.write.as_ref().expect("a write");
    assert_eq!(job.patients.len(), 2);
    // P1's two files were written, then the write was cancelled before P2's.
    rig.finish_write(2, true);
    assert_eq!(rig.app.ws.status("P1"), Status::Written, "whole before the cancel");
    assert_eq!(rig.app.ws.status("P2"), Status::Reviewed, "nothing of it written");
}

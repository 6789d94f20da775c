//! Approving and writing: the question for unreviewed patients, the confirmation, the write
//! and what its end means for each patient (written here, partly written, failed).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::App;
use crate::apply::ApplyReport;
use crate::review::Status;
use crate::scan::index::label;
use crate::tui::decision::{Change, shown_status};
use crate::tui::dialogs::Dialog;
use crate::tui::dialogs::ask::Ask;
use crate::tui::dialogs::confirm::Confirm;
use crate::tui::dialogs::result::Report;
use crate::tui::dialogs::writing::Writing;
use crate::tui::messages::{Effect, Step, WriteJob};
use crate::tui::rows::Node;
use crate::tui::theme::Tone;

impl App {
    pub(super) fn approve_selected(&mut self) -> Vec<Effect> {
        let Some(p) = self.selected_patient() else {
            self.note("select a patient to approve");
            return vec![];
        };
        if shown_status(&self.ws, &p, &self.out) == Status::Pending {
            if !self.can_write() {
                return vec![];
            }
            self.dialog = Some(Dialog::Ask(Ask {
                unreviewed: vec![label(&p)],
                patients: vec![p],
            }));
            return vec![];
        }
        self.open_confirm(vec![p], false)
    }

    pub(super) fn approve_all(&mut self) -> Vec<Effect> {
        let reviewed: Vec<String> = self
            .index
            .patients
            .iter()
            .filter(|p| shown_status(&self.ws, &p.patient_id, &self.out) == Status::Reviewed)
            .map(|p| p.patient_id.clone())
            .collect();
        if reviewed.is_empty() {
            self.note("no reviewed patients: mark patients as reviewed with r first");
            return vec![];
        }
        self.open_confirm(reviewed, true)
    }

    /// Yes to the question: the patients are marked reviewed, then the write is confirmed.
    pub(super) fn approve_unreviewed(&mut self, patients: Vec<String>) -> Vec<Effect> {
        let changes = patients
            .iter()
            .map(|p| Change::Status {
                patient: p.clone(),
                status: Status::Reviewed,
            })
            .collect();
        let mut effects = self.decide(changes);
        effects.extend(self.open_confirm(patients, false));
        effects
    }

    /// No write or send is running, and the scan is done.
    pub(super) fn can_write(&mut self) -> bool {
        if !self.scan.finished {
            self.note("wait for the scan to finish first");
            false
        } else if self.writing {
            self.note("a write is running");
            false
        } else if self.sending {
            self.note("a send is running");
            false
        } else {
            true
        }
    }

    fn open_confirm(&mut self, patients: Vec<String>, all_reviewed: bool) -> Vec<Effect> {
        if !self.can_write() {
            return vec![];
        }
        let who = match patients.as_slice() {
            [one] => {
                let plan = self.plan.as_deref();
                let code = plan.and_then(|p| p.code(one)).unwrap_or("…");
                let new = if plan.is_some_and(|p| p.is_new(one)) {
                    " (new)"
                } else {
                    ""
                };
                format!("patient {} → {code}{new}", label(one))
            }
            many => format!("{} reviewed patients", many.len()),
        };
        self.dialog = Some(Dialog::Confirm(Box::new(Confirm {
            patients,
            who,
            all_reviewed,
            out: self.out.clone(),
            profile: self.profile.clone(),
            generation: 0,
            facts: None,
            yes: false,
        })));
        self.confirm_request()
    }

    pub(super) fn start_write(&mut self, patients: Vec<String>, recode: bool, accept_burned_in: bool) -> Vec<Effect> {
        let Some(mut planner) = self.plan.clone() else {
            return vec![];
        };
        let approved = patients
            .iter()
            .map(|p| Change::Status {
                patient: p.clone(),
                status: Status::Approved,
            })
            .collect();
        let mut effects = self.decide(approved);
        self.writing = true;
        self.dialog = Some(Dialog::Writing(Writing::new(
            patients.iter().map(|p| label(p)).collect(),
            self.out.clone(),
        )));
        // The confirmation said which patients look like dams output already: yes codes them.
        if recode {
            Arc::make_mut(&mut planner).recode = true;
        }
        // One patient's dialog showed the images that may show identifiers in their pixels.
        if accept_burned_in {
            Arc::make_mut(&mut planner).accept_burned_in = true;
        }
        effects.push(Effect::Write(WriteJob {
            index: self.index.clone(),
            planner,
            patients: patients.into_iter().collect::<BTreeSet<String>>(),
        }));
        effects
    }

    /// The patients of the running write (all approved ones, if the dialog was lost).
    fn written_patients(&self) -> Vec<String> {
        self.index
            .patients
            .iter()
            .filter(|p| self.ws.status(&p.patient_id) == Status::Approved)
            .map(|p| p.patient_id.clone())
            .collect()
    }

    pub(super) fn on_written(&mut self, result: Result<ApplyReport, String>, at: &str) -> Vec<Effect> {
        self.writing = false;
        let quitting = matches!(&self.dialog, Some(Dialog::Writing(w)) if w.quitting);
        let patients = self.written_patients();
        let (changes, report) = match result {
            Err(e) => (
                patients
                    .iter()
                    .map(|p| Change::Status {
                        patient: p.clone(),
                        status: Status::Failed,
                    })
                    .collect(),
                Report::new("Nothing was written".into(), vec![(Tone::Error, e)]),
            ),
            Ok(r) => self.outcome(&patients, &r, at),
        };
        let mut effects = self.decide(changes);
        if quitting {
            effects.push(Effect::Quit);
            return effects;
        }
        // New codes are in the key store now: plan again (they are no longer "new").
        effects.extend(self.request_plan(Step::Plan, true));
        self.dialog = Some(Dialog::Result(report));
        // "cancelling the write…" is over: the result says how it ended.
        self.message = None;
        self.select_next_pending();
        effects
    }

    /// What a finished write means for each patient, and the report to show.
    fn outcome(&self, patients: &[String], r: &ApplyReport, at: &str) -> (Vec<Change>, Report) {
        let mut lines = Vec::new();
        let mut changes = Vec::new();
        for p in patients {
            let Some(patient) = self.index.patient(p) else { continue };
            let failed: Vec<_> = r
                .failed
                .iter()
                .filter(|f| patient.instances().any(|i| i.path == f.path))
                .collect();
            // What this run wrote of the patient's files (a cancelled run of several patients
            // may have written some whole, some in part and some not at all).
            let (mine, total) = self.plan.as_deref().map_or((0, 0), |plan| {
                let xml = self
                    .index
                    .xml
                    .iter()
                    .filter(|x| plan.xml_owner(&x.path).is_some_and(|(o, _)| o == p.as_str()))
                    .map(|x| x.path.as_path());
                let files: Vec<&std::path::Path> = patient.instances().map(|i| i.path.as_path()).chain(xml).collect();
                let mine = files.iter().filter(|f| r.written_paths.contains(&plan.dest(f))).count();
                (mine, files.len())
            });
            let status = match (r.cancelled, failed.is_empty()) {
                (true, true) if mine == total && total > 0 => Status::Written,
                (true, _) if mine == 0 => Status::Reviewed,
                (true, _) => Status::PartlyWritten,
                (false, true) => Status::Written,
                (false, false) => Status::Failed,
            };
            for f in failed {
                lines.push((Tone::Error, format!("{}: {}", f.path.display(), f.reason)));
            }
            changes.push(match status {
                Status::Written | Status::PartlyWritten => Change::Written {
                    patient: p.clone(),
                    status,
                    at: at.to_string(),
                    to: self.out.clone(),
                },
                _ => Change::Status {
                    patient: p.clone(),
                    status,
                },
            });
        }
        let out: PathBuf = self.out.clone();
        let whole = changes.iter().all(|c| {
            matches!(
                c,
                Change::Written {
                    status: Status::Written,
                    ..
                }
            )
        });
        let headline = if r.cancelled && whole && !changes.is_empty() {
            format!(
                "Written: {} files to {} (the cancel came after the last one)",
                r.written,
                out.display()
            )
        } else if r.cancelled && r.written == 0 {
            "Cancelled: nothing was written".to_string()
        } else if r.cancelled {
            format!(
                "Cancelled: {} files were written, the rest not (partly written; write again to finish)",
                r.written
            )
        } else if r.failed.is_empty() {
            format!("Written: {} files to {}", r.written, out.display())
        } else {
            format!("{} files written, {} failed", r.written, r.failed.len())
        };
        if r.key_entries_created > 0 {
            lines.insert(
                0,
                (
                    Tone::Plain,
                    format!("{} new code(s) added to the key store", r.key_entries_created),
                ),
            );
        }
        lines.extend(dicomdir_lines(&r.dicomdirs));
        // The patients written whole can be sent on from the result.
        let written: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Written {
                    patient,
                    status: Status::Written,
                    ..
                } => Some(patient.clone()),
                _ => None,
            })
            .collect();
        if !written.is_empty() {
            lines.push((Tone::Plain, String::new()));
            lines.push((
                Tone::Dim,
                "s sends them to a DICOM node (verified first), now or later.".into(),
            ));
        }
        (changes, Report::new(headline, lines).sendable(written))
    }

    fn select_next_pending(&mut self) {
        let next = self.browser.rows.iter().position(|r| {
            matches!(&r.node, Node::Patient(p)
                if matches!(shown_status(&self.ws, p, &self.out), Status::Pending | Status::Reviewed))
        });
        if let Some(i) = next {
            self.browser.selected = i;
            let page = self.browser_page();
            self.browser.clamp(page);
        }
    }
}

/// What became of the DICOMDIRs of the input, for the result of a write: the first few (a
/// folder of many, as test sets have, does not push the rest out of view).
fn dicomdir_lines(dicomdirs: &[crate::apply::dicomdir::DicomdirReport]) -> Vec<(Tone, String)> {
    const LISTED: usize = 4;
    // Those written first: the ones not written are mostly of other patients' folders.
    let mut shown: Vec<&crate::apply::dicomdir::DicomdirReport> = dicomdirs.iter().collect();
    shown.sort_by_key(|d| d.output.is_none());
    let mut lines: Vec<(Tone, String)> = shown
        .into_iter()
        .take(LISTED)
        .map(|d| (if d.output.is_some() { Tone::Plain } else { Tone::Dim }, d.line()))
        .collect();
    if dicomdirs.len() > LISTED {
        lines.push((
            Tone::Dim,
            format!(
                "… and {} more DICOMDIR(s) (dams apply --json lists them all)",
                dicomdirs.len() - LISTED
            ),
        ));
    }
    lines
}

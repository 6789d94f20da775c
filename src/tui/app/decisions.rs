//! Review decisions made on the screen: reviewed or not, links and repairs of mask series,
//! the patients of XML files and of files without a `PatientID`. Each one is a `Change`; one
//! that alters a patient's plan sends that patient back to pending.

use std::path::Path;

use super::App;
use crate::review::{Status, Workspace};
use crate::tui::decision::{Change, back_to_pending, shown_status, toggle_reviewed};
use crate::tui::dialogs::Dialog;
use crate::tui::dialogs::picker::{PickFor, Picker};
use crate::tui::messages::{Effect, Step};
use crate::tui::panes::mapping::short;
use crate::tui::rows::Node;
use crate::tui::theme::Notice;

impl App {
    /// Decisions: applied here at once, saved by the runtime; a changed plan is asked for.
    pub(super) fn decide(&mut self, changes: Vec<Change>) -> Vec<Effect> {
        if changes.is_empty() {
            return vec![];
        }
        crate::tui::decision::apply_all(&changes, &mut self.ws);
        self.unsaved += 1;
        let step = if changes.iter().any(|c| matches!(c, Change::AssignFile { .. })) {
            Step::Place
        } else {
            Step::Plan
        };
        let replan = changes.iter().any(Change::changes_plan);
        let mut effects = vec![Effect::Save(changes)];
        self.rebuild();
        if replan {
            effects.extend(self.request_plan(step, false));
        }
        effects
    }

    pub(super) fn on_saved(&mut self, result: Result<Workspace, String>) -> Vec<Effect> {
        self.unsaved = self.unsaved.saturating_sub(1);
        match result {
            // Decisions made since are not in it yet: the next answer brings them.
            Ok(ws) if self.unsaved == 0 => {
                self.ws = ws;
                self.rebuild();
            }
            Ok(_) => {}
            Err(e) => self.message = Some(Notice::error(format!("the decision was not saved: {e}"))),
        }
        vec![]
    }

    pub(super) fn selected_patient(&self) -> Option<String> {
        self.browser.selected_node().and_then(Node::patient).map(str::to_string)
    }

    /// `Change`s for the decision, plus sending `touched` patients back to pending; the
    /// footer says what happened.
    fn decide_for(&mut self, change: Change, touched: &[&str], said: String) -> Vec<Effect> {
        let back = back_to_pending(&self.ws, touched.iter().copied());
        let names: Vec<String> = back
            .iter()
            .filter_map(|c| match c {
                Change::Status { patient, .. } => Some(crate::scan::index::label(patient)),
                _ => None,
            })
            .collect();
        let mut changes = vec![change];
        changes.extend(back);
        let effects = self.decide(changes);
        let said = if names.is_empty() {
            said
        } else {
            format!("{said}; {} back to pending (the plan changed)", names.join(", "))
        };
        // Said again, without "planning…", when the new plan is in.
        self.note(format!("{said}; planning…"));
        self.plan_note = Some(said);
        effects
    }

    pub(super) fn toggle_reviewed(&mut self) -> Vec<Effect> {
        let Some(p) = self.selected_patient() else {
            self.note("select a patient first");
            return vec![];
        };
        let label = crate::scan::index::label(&p);
        match toggle_reviewed(shown_status(&self.ws, &p, &self.out)) {
            Err(why) => {
                self.note(format!("{label} {why}"));
                vec![]
            }
            Ok(status) => {
                let effects = self.decide(vec![Change::Status { patient: p, status }]);
                self.note(match status {
                    Status::Reviewed => format!("{label} marked reviewed (a approves it)"),
                    _ => format!("{label} back to pending"),
                });
                effects
            }
        }
    }

    pub(super) fn toggle_repair(&mut self) -> Vec<Effect> {
        let Some(g) = self.selected_group() else {
            self.note("this patient has no mask series");
            return vec![];
        };
        if !g.repairable() {
            let kind = g.kind.label();
            self.note(format!(
                "{kind} objects are not repaired (one object, not a series of slices)"
            ));
            return vec![];
        }
        if !self.plan_is_current() {
            self.note("the plan is being updated; try again in a moment");
            return vec![];
        }
        let (key, patient, folder) = (g.key.clone(), g.patient_id.clone(), short(&g.folder));
        let on = self.ws.no_repair.contains(&key);
        let said = format!("repair of {folder}/ switched {}", if on { "on" } else { "off" });
        self.decide_for(Change::Repair { group: key, on }, &[&patient], said)
    }

    pub(super) fn open_source_picker(&mut self) -> Vec<Effect> {
        let Some(g) = self.selected_group() else {
            self.note("this patient has no masks, SEG or RTSTRUCT");
            return vec![];
        };
        let Some(links) = self.plan.as_deref().and_then(|p| p.links.as_deref()) else {
            self.note("wait for the scan to finish");
            return vec![];
        };
        match Picker::source(g, links, &self.index, &self.ws) {
            Ok(p) => self.dialog = Some(Dialog::Picker(p)),
            Err(why) => self.message = Some(Notice::error(why)),
        }
        vec![]
    }

    fn picker_ready(&mut self) -> bool {
        if !self.scan.finished {
            self.note("wait for the scan to finish");
            false
        } else if !self.plan_is_current() {
            self.note("the plan is being updated; try again in a moment");
            false
        } else {
            true
        }
    }

    pub(super) fn open_xml_picker(&mut self, path: &Path) -> Vec<Effect> {
        if self.picker_ready()
            && let Some(plan) = self.plan.as_deref()
        {
            self.dialog = Some(Dialog::Picker(Picker::xml(path, &self.index, plan, &self.ws)));
        }
        vec![]
    }

    pub(super) fn open_file_picker(&mut self, path: &Path) -> Vec<Effect> {
        if self.picker_ready()
            && let Some(plan) = self.plan.as_deref()
        {
            self.dialog = Some(Dialog::Picker(Picker::file(path, &self.index, plan, &self.ws)));
        }
        vec![]
    }

    /// The patient a file (DICOM or XML) belongs to now.
    fn owner_of(&self, path: &Path) -> Option<String> {
        self.index
            .patients
            .iter()
            .find(|p| p.instances().any(|i| i.path == path))
            .map(|p| p.patient_id.clone())
            .or_else(|| {
                self.plan
                    .as_deref()
                    .and_then(|p| p.xml_owner(path))
                    .map(|(pid, _)| pid.to_string())
            })
    }

    pub(super) fn on_pick(&mut self, target: PickFor, choice: Option<String>) -> Vec<Effect> {
        match target {
            PickFor::Group(group) => {
                let Some(links) = self.plan.as_deref().and_then(|p| p.links.as_deref()) else {
                    return vec![];
                };
                let Some(g) = links.group(&group) else { return vec![] };
                let (patient, folder) = (g.patient_id.clone(), short(&g.folder));
                let said = match &choice {
                    Some(_) => format!("{folder}/ linked by hand"),
                    None => format!("{folder}/ back to the automatic link"),
                };
                let change = Change::Link { group, series: choice };
                self.decide_for(change, &[&patient], said)
            }
            PickFor::Node(patients) => match choice {
                Some(node) => self.start_send(patients, node),
                None => vec![],
            },
            PickFor::Xml(path) | PickFor::File(path) => {
                let before = self.owner_of(&path);
                let name = crate::present::file_name(&path);
                let said = match &choice {
                    Some(p) => format!("{name} assigned to {}", crate::scan::index::label(p)),
                    None => format!("{name} back to automatic"),
                };
                let touched: Vec<String> = choice.iter().chain(before.iter()).cloned().collect();
                let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
                let change = if self.index.orphans().any(|h| h.instance.path == path) {
                    Change::AssignFile {
                        path: path.clone(),
                        patient: choice,
                    }
                } else {
                    Change::AssignXml {
                        path: path.clone(),
                        patient: choice,
                    }
                };
                // The cursor stays on the file wherever it goes.
                self.follow = Some(path);
                self.decide_for(change, &touched, said)
            }
        }
    }
}

//! Sending written patients to a node of the config file: which patients can go, the node
//! picker, the send (verify first, then C-STORE or STOW-RS, in the runtime) and its result.

use std::collections::BTreeSet;

use super::App;
use crate::review::Status;
use crate::scan::index::label;
use crate::send::SendReport;
use crate::tui::decision::shown_status;
use crate::tui::dialogs::Dialog;
use crate::tui::dialogs::picker::Picker;
use crate::tui::dialogs::result::Report;
use crate::tui::dialogs::sending::Sending;
use crate::tui::messages::{Effect, Nodes, SendJob, SendStage, Sent};
use crate::tui::theme::Tone;

impl App {
    /// `s`: the selected patient, once written to this output folder.
    pub(super) fn send_selected(&mut self) -> Vec<Effect> {
        let Some(p) = self.selected_patient() else {
            self.note("select a written patient to send");
            return vec![];
        };
        if shown_status(&self.ws, &p, &self.out) != Status::Written {
            self.note(format!(
                "{} is not written to {} yet: approve and write it first (a), then send it",
                label(&p),
                self.out.display()
            ));
            return vec![];
        }
        self.ask_for_node(vec![p])
    }

    /// `S`: every patient written to this output folder.
    pub(super) fn send_all(&mut self) -> Vec<Effect> {
        let written: Vec<String> = self
            .index
            .patients
            .iter()
            .filter(|p| shown_status(&self.ws, &p.patient_id, &self.out) == Status::Written)
            .map(|p| p.patient_id.clone())
            .collect();
        if written.is_empty() {
            self.note("no patient is written to this output folder yet: approve and write first (a)");
            return vec![];
        }
        self.ask_for_node(written)
    }

    /// The config file's nodes are read (by the runtime) before the picker opens.
    pub(super) fn ask_for_node(&mut self, patients: Vec<String>) -> Vec<Effect> {
        if !self.can_write() {
            return vec![];
        }
        // (Verify compares each file with what this plan makes of its input: a file written
        // with other codes or rules is held back, never sent.)
        if self.plan.is_none() {
            self.note("the plan is not made yet: send in a moment");
            return vec![];
        }
        vec![Effect::ListNodes(patients)]
    }

    pub(super) fn on_nodes(&mut self, patients: Vec<String>, result: Result<Nodes, String>) -> Vec<Effect> {
        match result {
            Err(e) => self.message = Some(crate::tui::theme::Notice::error(format!("cannot send: {e}"))),
            Ok(n) if n.nodes.is_empty() => {
                self.message = Some(crate::tui::theme::Notice::error(format!(
                    "no node to send to: add one to {} ([nodes.NAME] with dicom = \"AE@host:port\" or stow = \"https://…\"; see the README)",
                    n.file
                )))
            }
            Ok(n) => {
                let who = self.who(&patients);
                let mut d = Dialog::Picker(Picker::nodes(patients, &who, &n.nodes));
                d.clamp(self.screen());
                self.dialog = Some(d);
            }
        }
        vec![]
    }

    /// "patient DOE^JOHN → P0001", or "3 patients".
    fn who(&self, patients: &[String]) -> String {
        match patients {
            [one] => {
                let code = self.plan.as_deref().and_then(|p| p.code(one)).unwrap_or("…");
                format!("patient {} → {code}", label(one))
            }
            many => format!("{} patients", many.len()),
        }
    }

    pub(super) fn start_send(&mut self, patients: Vec<String>, node: String) -> Vec<Effect> {
        let Some(planner) = self.plan.clone() else {
            return vec![];
        };
        if !self.can_write() {
            return vec![];
        }
        self.sending = true;
        self.dialog = Some(Dialog::Sending(Sending::new(
            patients.iter().map(|p| label(p)).collect(),
            node.clone(),
        )));
        vec![Effect::Send(SendJob {
            index: self.index.clone(),
            planner,
            patients: patients.into_iter().collect::<BTreeSet<String>>(),
            node,
        })]
    }

    pub(super) fn on_send_progress(&mut self, stage: SendStage, done: usize, total: usize) {
        if let Some(Dialog::Sending(s)) = &mut self.dialog {
            s.progress(stage, done, total);
        }
    }

    pub(super) fn on_sent(&mut self, result: Result<Box<Sent>, String>) -> Vec<Effect> {
        self.sending = false;
        if matches!(&self.dialog, Some(Dialog::Sending(s)) if s.quitting) {
            return vec![Effect::Quit];
        }
        let report = match result {
            Err(e) => Report::new("Nothing was sent".into(), vec![(Tone::Error, e)]),
            Ok(s) => {
                self.note(short_result(&s.report, s.refused.len()));
                sent_report(&s)
            }
        };
        self.dialog = Some(Dialog::Result(report));
        vec![]
    }
}

/// One line for the footer.
fn short_result(r: &SendReport, refused: usize) -> String {
    let mut s = format!("sent {} of {} instance(s) to {}", r.sent, r.total, r.node);
    if r.already_sent > 0 {
        s.push_str(&format!(", {} already there", r.already_sent));
    }
    if !r.failed.is_empty() {
        s.push_str(&format!(", {} failed", r.failed.len()));
    }
    if refused > 0 {
        s.push_str(&format!(", {refused} held back by verify"));
    }
    s
}

/// What the result dialog says of a send.
fn sent_report(s: &Sent) -> Report {
    let r = &s.report;
    let headline = if r.cancelled {
        format!("Cancelled: {} instance(s) sent to {}, the rest not", r.sent, r.node)
    } else if r.stopped.is_some() {
        format!("Stopped: {} instance(s) sent to {}", r.sent, r.node)
    } else if r.complete() && s.refused.is_empty() {
        format!(
            "Sent: every instance is on {} ({} now, {} before)",
            r.node, r.sent, r.already_sent
        )
    } else {
        format!("{} instance(s) sent to {}; not everything is there", r.sent, r.node)
    };
    let mut lines = vec![(Tone::Plain, format!("{} ({}): {} instance(s)", r.to, r.via, r.total))];
    if r.already_sent > 0 {
        lines.push((
            Tone::Plain,
            format!(
                "{} already on the node (the send log says so): not sent again",
                r.already_sent
            ),
        ));
    }
    if let Some(why) = &r.stopped {
        lines.push((Tone::Error, format!("stopped: {why}")));
    }
    if r.not_sent > 0 {
        lines.push((
            Tone::Warn,
            format!("{} not sent: send again to go on where it stopped", r.not_sent),
        ));
    }
    for f in &r.failed {
        let code = f.code.as_deref().map(|c| format!("{c} ")).unwrap_or_default();
        lines.push((Tone::Error, format!("{}: failed: {code}{}", f.path.display(), f.reason)));
    }
    for w in &r.warnings {
        let code = w.code.as_deref().map(|c| format!("{c} ")).unwrap_or_default();
        lines.push((Tone::Warn, format!("{}: {code}{}", w.path.display(), w.reason)));
    }
    if !s.refused.is_empty() {
        lines.push((
            Tone::Warn,
            format!("{} file(s) held back: they did not verify clean", s.refused.len()),
        ));
        for (path, why) in &s.refused {
            lines.push((Tone::Error, format!("{}: {why}", path.display())));
        }
    }
    for w in &r.log_warnings {
        lines.push((Tone::Warn, format!("send log: {w}")));
    }
    lines.push((Tone::Dim, format!("send log: {}", r.log.display())));
    Report::new(headline, lines)
}

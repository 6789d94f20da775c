//! A send in progress: the patients' output files verified, then sent instance by instance to
//! a node, with a gauge for each stage; Esc stops after the instance in flight, q stops and
//! quits. What reached the node is in the send log either way.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{Outcome, keys_line, progress_box, ratio, stop};
use crate::tui::keys::{Action, Context};
use crate::tui::messages::SendStage;
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sending {
    /// The patients being sent (labels).
    pub patients: Vec<String>,
    /// The node's name.
    pub node: String,
    pub stage: SendStage,
    pub done: usize,
    pub total: Option<usize>,
    pub cancelling: bool,
    /// Quit once the send has stopped.
    pub quitting: bool,
}

impl Sending {
    #[must_use]
    pub fn new(patients: Vec<String>, node: String) -> Sending {
        Sending {
            patients,
            node,
            stage: SendStage::Verifying,
            done: 0,
            total: None,
            cancelling: false,
            quitting: false,
        }
    }

    pub fn progress(&mut self, stage: SendStage, done: usize, total: usize) {
        if stage != self.stage {
            self.stage = stage;
            self.total = None;
        }
        self.done = done;
        if total > 0 {
            self.total = Some(total);
        }
    }

    pub fn on_action(&mut self, action: Action) -> Outcome {
        stop(action, &mut self.cancelling, &mut self.quitting)
    }

    #[must_use]
    pub fn label(&self) -> String {
        match (self.stage, self.total) {
            (SendStage::Verifying, Some(t)) => format!("verifying {}/{t} files", self.done),
            (SendStage::Verifying, None) => "verifying…".into(),
            (SendStage::Sending, Some(t)) => format!("sent {}/{t} instances", self.done),
            (SendStage::Sending, None) => "connecting…".into(),
        }
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let who = match self.patients.as_slice() {
            [one] => one.clone(),
            many => format!("{} patients", many.len()),
        };
        let hint = if self.quitting {
            Line::styled("Stopping after the instance in flight, then quitting…", t.warn())
        } else if self.cancelling {
            Line::styled("Stopping after the instance in flight…", t.warn())
        } else {
            keys_line(t, Context::Sending)
        };
        progress_box(
            f,
            screen,
            t,
            "Sending",
            &format!("Sending {who} to {}", self.node),
            (ratio(self.done, self.total), self.label()),
            hint,
        );
    }
}

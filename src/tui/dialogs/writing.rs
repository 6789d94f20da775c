//! The write in progress: a gauge of files written (or "preparing…" until the total is
//! known), Esc to cancel, q to cancel and quit. Nothing partial is left either way.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{Outcome, keys_line, progress_box, ratio, stop};
use crate::present::fit_path;
use crate::tui::keys::{Action, Context};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writing {
    /// The patients being written (labels).
    pub patients: Vec<String>,
    pub out: PathBuf,
    pub done: usize,
    /// Known once the writer has checked the output folder and recorded the codes.
    pub total: Option<usize>,
    pub cancelling: bool,
    /// Quit once the cancelled write has stopped.
    pub quitting: bool,
}

impl Writing {
    #[must_use]
    pub fn new(patients: Vec<String>, out: PathBuf) -> Writing {
        Writing {
            patients,
            out,
            done: 0,
            total: None,
            cancelling: false,
            quitting: false,
        }
    }

    pub fn progress(&mut self, done: usize, total: usize) {
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
        match self.total {
            Some(t) => format!("{}/{t} files", self.done),
            None => "preparing…".into(),
        }
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let who = match self.patients.as_slice() {
            [one] => one.clone(),
            many => format!("{} patients", many.len()),
        };
        // The box is 66 wide: two of border.
        let head = format!("Writing {who} to ");
        let to = fit_path(&self.out, 64usize.saturating_sub(head.chars().count()));
        let hint_line = if self.quitting {
            Line::styled("Cancelling, then quitting: finishing the files in progress…", t.warn())
        } else if self.cancelling {
            Line::styled("Cancelling: finishing the files in progress…", t.warn())
        } else {
            keys_line(t, Context::Writing)
        };
        progress_box(
            f,
            screen,
            t,
            "Writing",
            &format!("{head}{to}"),
            (ratio(self.done, self.total), self.label()),
            hint_line,
        );
    }
}

//! The write in progress: a gauge of files written (or "preparing…" until the total is
//! known), Esc to cancel, q to cancel and quit. Nothing partial is left either way.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Gauge, Paragraph};

use super::{Intent, Outcome, centered, frame, keys_line};
use crate::present::{fit, fit_path};
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
        match action {
            Action::CancelWrite if !self.cancelling => {
                self.cancelling = true;
                Outcome::Also(Intent::CancelWrite)
            }
            Action::CancelAndQuit if !self.quitting => {
                self.cancelling = true;
                self.quitting = true;
                Outcome::Also(Intent::CancelAndQuit)
            }
            _ => Outcome::Keep,
        }
    }

    #[must_use]
    pub fn label(&self) -> String {
        match self.total {
            Some(t) => format!("{}/{t} files", self.done),
            None => "preparing…".into(),
        }
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let r = centered(screen, 66, 8);
        f.render_widget(Clear, r);
        let block = frame(t, "Writing");
        let inner = block.inner(r);
        f.render_widget(block, r);
        let [text, gauge, _, hint] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let who = match self.patients.as_slice() {
            [one] => one.clone(),
            many => format!("{} patients", many.len()),
        };
        let w = usize::from(inner.width);
        let head = format!("Writing {who} to ");
        let to = fit_path(&self.out, w.saturating_sub(head.chars().count()));
        f.render_widget(Paragraph::new(fit(&format!("{head}{to}"), w)), text);
        let ratio = match self.total {
            Some(total) if total > 0 => (self.done as f64 / total as f64).min(1.0),
            _ => 0.0,
        };
        f.render_widget(
            Gauge::default().ratio(ratio).label(self.label()).gauge_style(t.key()),
            gauge,
        );
        let hint_line = if self.quitting {
            Line::styled("Cancelling, then quitting: finishing the files in progress…", t.warn())
        } else if self.cancelling {
            Line::styled("Cancelling: finishing the files in progress…", t.warn())
        } else {
            keys_line(t, Context::Writing)
        };
        f.render_widget(Paragraph::new(hint_line), hint);
    }
}

//! The question before approving patients nobody marked reviewed: the write dialog opens only
//! after a yes (pending → reviewed → approved, as help says).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{Intent, Outcome, keys_line, with_keys};
use crate::tui::keys::{Action, Context};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The patients to approve, as labels for the question.
    pub patients: Vec<String>,
    /// Those of them not marked reviewed.
    pub unreviewed: Vec<String>,
}

impl Ask {
    pub fn on_action(&mut self, action: Action) -> Outcome {
        match action {
            Action::Yes => Outcome::Do(Intent::ApproveUnreviewed(self.patients.clone())),
            Action::No => Outcome::Do(Intent::Declined),
            _ => Outcome::Keep,
        }
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let who = match self.unreviewed.as_slice() {
            [one] => format!("{one} has not been marked reviewed."),
            many => format!("{} patients have not been marked reviewed.", many.len()),
        };
        let body = vec![
            Line::styled(who, t.title()),
            Line::raw(""),
            Line::raw("Patients go pending → reviewed (r) → approved. Look at the changes first,"),
            Line::raw("or answer yes to mark them reviewed now and see what would be written."),
            Line::raw(""),
            Line::raw("Mark reviewed and go on?"),
        ];
        with_keys(f, t, "Not reviewed yet", body, keys_line(t, Context::Ask), 78, screen);
    }
}

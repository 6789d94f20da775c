//! The result of a write or a send: what was done where, new codes, and every file that
//! failed or was held back, with its reason; it scrolls when the list is long. A write's
//! result can send the patients it wrote on (`s`).

use ratatui::layout::Rect;

use super::{Intent, Outcome, Scroll, TextBox};
use crate::tui::keys::{Action, Context};
use crate::tui::theme::Tone;

#[derive(Debug, Clone)]
pub struct Report {
    pub text: TextBox,
    /// The patients written, which `s` sends on (empty: nothing to send from here).
    pub send: Vec<String>,
}

impl Report {
    #[must_use]
    pub fn new(headline: String, lines: Vec<(Tone, String)>) -> Report {
        let mut all = vec![(Tone::Title, headline), (Tone::Plain, String::new())];
        all.extend(lines);
        Report {
            text: TextBox {
                title: "Result".into(),
                lines: all,
                scroll: Scroll::default(),
                context: Context::Result,
            },
            send: Vec::new(),
        }
    }

    /// The same result, offering to send these written patients.
    #[must_use]
    pub fn sendable(mut self, patients: Vec<String>) -> Report {
        if !patients.is_empty() {
            self.text.context = Context::Written;
            self.send = patients;
        }
        self
    }

    pub fn on_action(&mut self, action: Action, screen: Rect) -> Outcome {
        if action == Action::Send && !self.send.is_empty() {
            return Outcome::Do(Intent::Send(self.send.clone()));
        }
        self.text.on_action(action, screen)
    }

    #[must_use]
    pub fn headline(&self) -> &str {
        self.text.lines.first().map(|(_, l)| l.as_str()).unwrap_or_default()
    }
}

//! The result of a write: what was written where, new codes, and every file that failed, with
//! its reason; it scrolls when the list is long.

use super::{Scroll, TextBox};
use crate::tui::keys::Context;
use crate::tui::theme::Tone;

#[derive(Debug, Clone)]
pub struct Report {
    pub text: TextBox,
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
        }
    }

    #[must_use]
    pub fn headline(&self) -> &str {
        self.text.lines.first().map(|(_, l)| l.as_str()).unwrap_or_default()
    }
}

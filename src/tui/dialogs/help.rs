//! The help screen: every binding of every mode and how writing works, written from the
//! key table (the footer shows the same keys); it scrolls on short terminals.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Outcome, Scroll, centered, frame};
use crate::tui::keys::{Action, HelpLine, help_lines};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, Default)]
pub struct Help {
    pub scroll: Scroll,
}

const WIDTH: u16 = 80;

fn layout(screen: Rect) -> (Rect, usize, usize) {
    let total = help_lines().len();
    let h = u16::try_from(total + 2).unwrap_or(u16::MAX);
    let r = centered(screen, WIDTH, h);
    (r, usize::from(r.height.saturating_sub(2)), total)
}

impl Help {
    pub fn on_action(&mut self, action: Action, screen: Rect) -> Outcome {
        if action == Action::Close {
            return Outcome::Close;
        }
        let (_, visible, total) = layout(screen);
        self.scroll.move_by(action, visible, total);
        Outcome::Keep
    }

    pub fn clamp(&mut self, screen: Rect) {
        let (_, visible, total) = layout(screen);
        self.scroll.clamp(visible, total);
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let (r, visible, total) = layout(screen);
        let lines: Vec<Line> = help_lines()
            .into_iter()
            .map(|l| match l {
                HelpLine::Heading(h) => Line::styled(h, t.title()),
                HelpLine::Key { keys, help } => {
                    Line::from(vec![Span::styled(format!("  {keys:<8} "), t.key()), Span::raw(help)])
                }
                HelpLine::Text(s) => Line::raw(format!("  {s}")),
                HelpLine::Blank => Line::raw(""),
            })
            .collect();
        let title = if total > visible {
            "Help (↑↓ scroll)"
        } else {
            "Help"
        };
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines)
                .block(frame(t, title))
                .scroll((u16::try_from(self.scroll.offset).unwrap_or(u16::MAX), 0)),
            r,
        );
    }
}

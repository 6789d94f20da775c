//! The help screen: every binding of every mode and how writing works, written from the
//! key table (the footer shows the same keys), wrapped to the screen; it scrolls on short
//! terminals.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Outcome, Scroll, centered, frame};
use crate::tui::keys::{Action, HelpLine, help_lines};
use crate::tui::text::wrap;
use crate::tui::theme::Theme;

#[derive(Debug, Clone, Default)]
pub struct Help {
    pub scroll: Scroll,
}

const WIDTH: u16 = 80;
/// `  keys     ` before the text of a binding.
const KEYS: usize = 11;

/// One line of the help screen as drawn: the keys (if it starts a binding), the text, and
/// whether it is a heading.
type HelpRow = (Option<&'static str>, String, bool);

/// The help lines wrapped to `width`.
fn rows(width: usize) -> Vec<HelpRow> {
    let mut out = Vec::new();
    for l in help_lines() {
        match l {
            HelpLine::Heading(h) => out.push((None, h.to_string(), true)),
            HelpLine::Key { keys, help } => {
                for (i, part) in wrap(help, width.saturating_sub(KEYS)).into_iter().enumerate() {
                    out.push(((i == 0).then_some(keys), part, false));
                }
            }
            HelpLine::Text(s) => {
                out.extend(
                    wrap(s, width.saturating_sub(2))
                        .into_iter()
                        .map(|p| (None, format!("  {p}"), false)),
                );
            }
            HelpLine::Blank => out.push((None, String::new(), false)),
        }
    }
    out
}

/// The box, its rows, and how many show.
fn layout(screen: Rect) -> (Rect, Vec<HelpRow>, usize) {
    let inner_w = usize::from(WIDTH.min(screen.width.saturating_sub(2)).saturating_sub(2));
    let rows = rows(inner_w);
    let h = u16::try_from(rows.len() + 2).unwrap_or(u16::MAX);
    let r = centered(screen, WIDTH, h);
    let visible = usize::from(r.height.saturating_sub(2));
    (r, rows, visible)
}

impl Help {
    pub fn on_action(&mut self, action: Action, screen: Rect) -> Outcome {
        if action == Action::Close {
            return Outcome::Close;
        }
        let (_, rows, visible) = layout(screen);
        self.scroll.move_by(action, visible, rows.len());
        Outcome::Keep
    }

    pub fn clamp(&mut self, screen: Rect) {
        let (_, rows, visible) = layout(screen);
        self.scroll.clamp(visible, rows.len());
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let (r, rows, visible) = layout(screen);
        let title = if rows.len() > visible {
            "Help (↑↓ scroll)"
        } else {
            "Help"
        };
        let lines: Vec<Line> = rows
            .into_iter()
            .skip(self.scroll.offset)
            .take(visible)
            .map(|(keys, text, heading)| match (keys, heading) {
                (_, true) => Line::styled(text, t.title()),
                (Some(k), _) => Line::from(vec![Span::styled(format!("  {k:<8} "), t.key()), Span::raw(text)]),
                (None, _) if text.starts_with("  ") || text.is_empty() => Line::raw(text),
                (None, _) => Line::raw(format!("{:KEYS$}{text}", "")),
            })
            .collect();
        f.render_widget(Clear, r);
        f.render_widget(Paragraph::new(lines).block(frame(t, title)), r);
    }
}

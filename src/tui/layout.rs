//! Where everything goes for a terminal size: title bar, the three panes, the footer. Pure
//! geometry, shared by drawing and by `update` (which needs page sizes to keep scrolling in
//! range).

use ratatui::layout::{Constraint, Layout, Rect};

pub const MIN_WIDTH: u16 = 70;
pub const MIN_HEIGHT: u16 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub title: Rect,
    pub browser: Rect,
    pub diff: Rect,
    pub mapping: Rect,
    pub footer: Rect,
}

/// The layout for a terminal of this size; `None` when it is too small.
#[must_use]
pub fn areas((w, h): (u16, u16)) -> Option<Areas> {
    if w < MIN_WIDTH || h < MIN_HEIGHT {
        return None;
    }
    let full = Rect::new(0, 0, w, h);
    let [title, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1)]).areas(full);
    // The browser gets two fifths, at least 30 columns; more room goes to the diff.
    let left = (w * 2 / 5).clamp(30, 60);
    let [browser, right] = Layout::horizontal([Constraint::Length(left), Constraint::Min(1)]).areas(body);
    let [diff, mapping] = Layout::vertical([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(right);
    Some(Areas {
        title,
        browser,
        diff,
        mapping,
        footer,
    })
}

/// Rows inside a bordered pane.
#[must_use]
pub fn inner_height(r: Rect) -> usize {
    usize::from(r.height.saturating_sub(2))
}

/// Columns inside a bordered pane.
#[must_use]
pub fn inner_width(r: Rect) -> usize {
    usize::from(r.width.saturating_sub(2))
}

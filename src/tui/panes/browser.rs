//! The patients pane: patients (with code and review status) → studies → series → files,
//! then what is not written as things stand. Its state (rows, selection, what is open, the
//! filter) and its drawing from a small view.

use std::collections::BTreeSet;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::present::fit;
use crate::review::Status;
use crate::tui::keys::Action;
use crate::tui::rows::{Node, Row, RowTone};
use crate::tui::theme::Theme;

#[derive(Debug, Default)]
pub struct Browser {
    pub rows: Vec<Row>,
    pub selected: usize,
    pub offset: usize,
    pub expanded: BTreeSet<Node>,
    pub filter: String,
    /// Typing into the filter.
    pub filtering: bool,
    /// The user has moved the selection: rows arriving from the scan no longer move it.
    pub moved: bool,
}

impl Browser {
    #[must_use]
    pub fn selected_node(&self) -> Option<&Node> {
        self.rows.get(self.selected).map(|r| &r.node)
    }

    #[must_use]
    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    /// New rows: the selection stays on its node where it still exists.
    pub fn set_rows(&mut self, rows: Vec<Row>, page: usize) {
        // Until the user moves, the selection stays on the first row: rows arriving from the
        // scan (in the order files were read) are sorted once it ends.
        let keep = self.moved.then(|| self.selected_node().cloned()).flatten();
        self.rows = rows;
        if !self.moved {
            self.selected = 0;
        }
        if let Some(k) = keep
            && let Some(i) = self.rows.iter().position(|r| r.node == k)
        {
            self.selected = i;
        }
        self.clamp(page);
    }

    /// Puts the selection on the first row the filter matches (or the first row).
    pub fn select_first_hit(&mut self, page: usize) {
        self.selected = self.rows.iter().position(|r| r.hit).unwrap_or(0);
        self.offset = 0;
        self.clamp(page);
    }

    pub fn select(&mut self, node: &Node, page: usize) -> bool {
        match self.rows.iter().position(|r| &r.node == node) {
            Some(i) => {
                self.selected = i;
                self.clamp(page);
                true
            }
            None => false,
        }
    }

    /// Moves the selection; whether it moved.
    pub fn move_by(&mut self, action: Action, page: usize) -> bool {
        let n = self.rows.len();
        if n == 0 {
            return false;
        }
        let s = self.selected;
        self.selected = match action {
            Action::Up => s.saturating_sub(1),
            Action::Down => (s + 1).min(n - 1),
            Action::PageUp => s.saturating_sub(page),
            Action::PageDown => (s + page).min(n - 1),
            Action::Top => 0,
            Action::Bottom => n - 1,
            _ => s,
        };
        self.clamp(page);
        self.selected != s
    }

    /// Keeps the selection inside the rows and on screen, and the rows filling the pane.
    pub fn clamp(&mut self, page: usize) {
        let page = page.max(1);
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(page));
    }

    /// The row to go to for `Collapse` when the selected row is closed: its parent.
    #[must_use]
    pub fn parent(&self) -> Option<usize> {
        let row = self.rows.get(self.selected)?;
        self.rows[..self.selected].iter().rposition(|r| r.depth < row.depth)
    }

    /// The rows that lead to the selected one.
    #[must_use]
    pub fn ancestors(&self) -> Vec<Node> {
        let mut out = Vec::new();
        let Some(mut depth) = self.selected_row().map(|r| r.depth) else {
            return out;
        };
        for r in self.rows[..self.selected].iter().rev() {
            if r.depth < depth {
                out.push(r.node.clone());
                depth = r.depth;
            }
        }
        out
    }

    #[must_use]
    pub fn title(&self) -> String {
        if self.filtering {
            format!(" Patients  /{}▏ ", self.filter)
        } else if !self.filter.is_empty() {
            format!(" Patients  /{} (Esc clears) ", self.filter)
        } else {
            " Patients ".to_string()
        }
    }
}

/// What the pane draws.
pub struct BrowserView<'a> {
    pub theme: &'a Theme,
    pub title: String,
    pub rows: &'a [Row],
    pub selected: usize,
    pub offset: usize,
    pub focused: bool,
    /// What to say when there are no rows.
    pub empty: &'static str,
}

pub fn draw(f: &mut Frame, area: Rect, v: &BrowserView) {
    let t = v.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(v.focused))
        .title(Span::styled(
            fit(&v.title, usize::from(area.width.saturating_sub(2))),
            t.title(),
        ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if v.rows.is_empty() {
        f.render_widget(Paragraph::new(v.empty).style(t.dim()), inner);
        return;
    }
    let width = usize::from(inner.width);
    let lines: Vec<Line> = v
        .rows
        .iter()
        .enumerate()
        .skip(v.offset)
        .take(usize::from(inner.height))
        .map(|(i, r)| row_line(t, r, width, i == v.selected, v.focused))
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn row_line(t: &Theme, r: &Row, width: usize, selected: bool, focused: bool) -> Line<'static> {
    let indent = "  ".repeat(usize::from(r.depth));
    let marker = match (r.expandable, r.expanded) {
        (false, _) => "  ",
        (true, true) => "▾ ",
        (true, false) => "▸ ",
    };
    let badge = r.status.map(|s| format!(" {}", s.label())).unwrap_or_default();
    let detail = if r.detail.is_empty() {
        String::new()
    } else {
        format!(" {}", r.detail)
    };
    let fixed = indent.chars().count() + 2 + badge.chars().count();
    // The label keeps at least 12 columns; the detail gives way first.
    let detail = fit(&detail, width.saturating_sub(fixed + 12));
    let room = width.saturating_sub(fixed + detail.chars().count()).max(4);
    let label = if r.path_label {
        crate::present::fit_path(std::path::Path::new(&r.label), room)
    } else {
        fit(&r.label, room)
    };
    let pad = width.saturating_sub(fixed + detail.chars().count() + label.chars().count());
    let label_style = match r.tone {
        RowTone::Warn => t.warn(),
        RowTone::Patient => t.title(),
        RowTone::Plain => Style::new(),
    };
    let row_style = if selected { t.selected(focused) } else { Style::new() };
    Line::from(vec![
        Span::raw(indent),
        Span::raw(marker),
        Span::styled(label, label_style),
        Span::raw(" ".repeat(pad)),
        Span::styled(detail, t.dim()),
        Span::styled(badge, r.status.map(|s| status_style(t, s)).unwrap_or_default()),
    ])
    .style(row_style)
}

#[must_use]
pub fn status_style(t: &Theme, s: Status) -> Style {
    match s {
        Status::Pending => t.dim(),
        Status::Reviewed => t.key(),
        Status::Approved | Status::PartlyWritten => t.warn(),
        Status::Written => t.ok(),
        Status::Failed => t.error(),
    }
}

//! The folder browser pane: patients (with code and review status) → studies → series →
//! files, and the files that could not be read, with their reason.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, Node};
use super::view::fit;
use crate::review::Status;

pub fn draw(f: &mut Frame, app: &App, area: Rect, focused: bool) {
    let t = &app.theme;
    let b = &app.browser;
    let title = if b.filtering || !b.filter.is_empty() {
        format!(" Patients  /{}{} ", b.filter, if b.filtering { "▏" } else { "" })
    } else {
        " Patients ".to_string()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(Span::styled(title, t.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);

    if b.rows.is_empty() {
        let text = if app.scan.finished {
            if b.filter.is_empty() {
                "No DICOM files found."
            } else {
                "Nothing matches the filter."
            }
        } else {
            "Scanning…"
        };
        f.render_widget(Paragraph::new(text).style(t.dim()), inner);
        return;
    }

    let lines: Vec<Line> = b
        .rows
        .iter()
        .enumerate()
        .skip(b.offset)
        .take(height)
        .map(|(i, r)| {
            let indent = "  ".repeat(usize::from(r.depth));
            let marker = if !r.expandable {
                "  "
            } else if r.expanded {
                "▾ "
            } else {
                "▸ "
            };
            let (badge, badge_style) = match r.status {
                Some(s) => (format!(" {}", s.label()), status_style(app, s)),
                None => (String::new(), Style::new()),
            };
            let detail = if r.detail.is_empty() {
                String::new()
            } else {
                format!(" {}", r.detail)
            };
            let fixed = indent.chars().count() + 2 + badge.chars().count() + detail.chars().count();
            let label = fit(&r.label, width.saturating_sub(fixed).max(4));
            let pad = width.saturating_sub(fixed + label.chars().count());
            let row_style = if i == b.selected {
                t.selected(focused)
            } else {
                Style::new()
            };
            let label_style = match &r.node {
                Node::Unreadable
                | Node::UnreadableFile(_)
                | Node::Unplaced
                | Node::UnplacedFile(_)
                | Node::UnassignedXml
                | Node::Xml(None, _) => t.warn(),
                Node::Patient(_) => t.title(),
                _ => Style::new(),
            };
            Line::from(vec![
                Span::raw(indent),
                Span::raw(marker),
                Span::styled(label, label_style),
                Span::raw(" ".repeat(pad)),
                Span::styled(fit(&detail, width), t.dim()),
                Span::styled(badge, badge_style),
            ])
            .style(row_style)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn status_style(app: &App, s: Status) -> Style {
    let t = &app.theme;
    match s {
        Status::Pending => t.dim(),
        Status::Reviewed => t.key(),
        Status::Approved => t.warn(),
        Status::Written => t.ok(),
        Status::Failed => t.error(),
    }
}

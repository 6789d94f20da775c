//! The screen's layout and frame: title bar with scan progress, the three panes, the footer
//! of keys, dialogs on top, and a plain message when the terminal is too small.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Wrap};

use super::app::{App, Pane};
use super::{browser, dialog, diff, keys, mapping};

pub const MIN_WIDTH: u16 = 70;
pub const MIN_HEIGHT: u16 = 20;

#[derive(Debug, Clone, Copy)]
pub struct Areas {
    pub title: Rect,
    pub browser: Rect,
    pub diff: Rect,
    pub mapping: Rect,
    pub footer: Rect,
}

/// Where everything goes for a terminal of this size; `None` when it is too small.
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

pub fn draw(f: &mut Frame, app: &App) {
    let size = f.area();
    let Some(a) = areas((size.width, size.height)) else {
        let msg = format!(
            "The terminal is too small ({}×{}).\ndams needs at least {MIN_WIDTH}×{MIN_HEIGHT}.\nEnlarge the window, or press q to quit.",
            size.width, size.height
        );
        let y = size.height.saturating_sub(3) / 2;
        let area = Rect::new(0, y, size.width, size.height.saturating_sub(y).min(3));
        f.render_widget(
            Paragraph::new(msg)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    };
    draw_title(f, app, a.title);
    browser::draw(f, app, a.browser, app.focus == Pane::Browser);
    diff::draw(f, app, a.diff, app.focus == Pane::Diff);
    mapping::draw(f, app, a.mapping, app.focus == Pane::Mapping);
    draw_footer(f, app, a.footer);
    if let Some(d) = &app.dialog {
        dialog::draw(f, app, d, size);
    }
}

fn draw_title(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let idx = &app.index;
    let text = Line::from(vec![
        Span::styled(" dams ", t.title()),
        Span::raw(format!(
            " {} · {} patients · {} files · out: {}",
            app.opts.root.display(),
            idx.patients.len(),
            idx.file_count(),
            app.opts.out.display()
        )),
    ]);
    if app.scan.finished {
        f.render_widget(Paragraph::new(text), area);
        return;
    }
    let gauge_w = 28.min(area.width / 3);
    let [left, right] = Layout::horizontal([Constraint::Min(1), Constraint::Length(gauge_w)]).areas(area);
    f.render_widget(Paragraph::new(text), left);
    let (done, total) = (app.scan.done, app.scan.total.unwrap_or(0));
    let ratio = if total == 0 {
        0.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let label = match app.scan.total {
        Some(t) => format!("scan {done}/{t}"),
        None => "finding files…".into(),
    };
    f.render_widget(Gauge::default().ratio(ratio).label(label).gauge_style(t.key()), right);
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut spans = Vec::new();
    if let Some((m, err)) = &app.message {
        spans.push(Span::styled(format!(" {m} "), if *err { t.error() } else { t.warn() }));
        spans.push(Span::raw(" "));
    }
    if app.browser.filtering {
        spans.push(Span::styled(" Enter", t.key()));
        spans.push(Span::raw(" keep filter "));
        spans.push(Span::styled(" Esc", t.key()));
        spans.push(Span::raw(" clear "));
    } else {
        let ctx = match app.focus {
            Pane::Browser => keys::Context::Browser,
            Pane::Diff => keys::Context::Diff,
            Pane::Mapping => keys::Context::Mapping,
        };
        for (k, label) in keys::footer(ctx) {
            spans.push(Span::styled(format!(" {k}"), t.key()));
            spans.push(Span::raw(format!(" {label} ")));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Shortens text to `n` characters with an ellipsis.
pub fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else if n == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

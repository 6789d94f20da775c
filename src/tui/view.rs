//! The frame: title bar with scan progress, the three panes (each given only what it draws),
//! the footer of keys and feedback, the open dialog on top, and a plain message when the
//! terminal is too small.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Wrap};

use super::app::{App, Pane};
use super::keys;
use super::layout::{MIN_HEIGHT, MIN_WIDTH, areas};
use super::panes::browser::{self, BrowserView};
use super::panes::diff::{self, DiffView};
use super::panes::mapping::{self, MappingView, RepairState};
use super::theme::Theme;
use super::theme::Tone;
use crate::present::{fit, fit_path};

pub fn draw(f: &mut Frame, app: &App) {
    let size = f.area();
    let Some(a) = areas((size.width, size.height)) else {
        too_small(f, size);
        return;
    };
    draw_title(f, app, a.title);
    browser::draw(f, a.browser, &browser_view(app));
    diff::draw(f, a.diff, &diff_view(app));
    mapping::draw(f, a.mapping, &mapping_view(app));
    draw_footer(f, app, a.footer);
    if let Some(d) = &app.dialog {
        d.draw(f, size, &app.theme);
    }
}

fn too_small(f: &mut Frame, size: Rect) {
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
}

fn browser_view(app: &App) -> BrowserView<'_> {
    let b = &app.browser;
    BrowserView {
        theme: &app.theme,
        title: b.title(),
        rows: &b.rows,
        selected: b.selected,
        offset: b.offset,
        focused: app.focus == Pane::Browser && app.dialog.is_none(),
        empty: match (app.scan.read, b.filter.is_empty()) {
            (false, _) => "Scanning…",
            (true, true) => "No DICOM files found.",
            (true, false) => "Nothing matches the filter (Esc clears it).",
        },
    }
}

fn diff_view(app: &App) -> DiffView<'_> {
    DiffView {
        theme: &app.theme,
        title: match &app.diff.target {
            Some(t) => format!(" Changes: {} ", t.label),
            None => " Changes ".into(),
        },
        rows: &app.diff.rows,
        cursor: app.diff.cursor,
        scroll: app.diff.scroll,
        focused: app.focus == Pane::Diff && app.dialog.is_none(),
    }
}

fn mapping_view(app: &App) -> MappingView<'_> {
    let focused = app.focus == Pane::Mapping && app.dialog.is_none();
    let mut v = MappingView {
        theme: &app.theme,
        placeholder: None,
        groups: Vec::new(),
        details: Vec::new(),
        selected: app.mapping.selected,
        focused,
    };
    let plan = app.plan.as_deref();
    if plan.and_then(|p| p.links.as_deref()).is_none() {
        v.placeholder = Some("Available when the scan has finished.");
        return v;
    }
    let groups = app.patient_groups();
    if groups.is_empty() {
        v.placeholder = Some("No masks, SEG or RTSTRUCT for the selected patient.");
        return v;
    }
    v.groups = groups.iter().map(|g| mapping::group_line(g)).collect();
    v.details = selected_group_details(app, focused).map(|(_, d)| d).unwrap_or_default();
    v
}

/// The highlighted segmentation group of the selected patient and the lines about it (the
/// masks pane shows what fits; `v` shows them all).
pub(crate) fn selected_group_details(app: &App, focused: bool) -> Option<(String, Vec<(Tone, String)>)> {
    let plan = app.plan.as_deref()?;
    let links = plan.links.as_deref()?;
    let groups = app.patient_groups();
    let g = *groups.get(app.mapping.selected.min(groups.len().checked_sub(1)?))?;
    let repair = if !g.repairable() {
        RepairState::NotApplicable
    } else if let Some(r) = g.files.first().and_then(|f| plan.repair(f)) {
        RepairState::On(r.series_number)
    } else if app.ws.no_repair.contains(&g.key) {
        RepairState::Off
    } else {
        RepairState::NotNeeded
    };
    let name = format!("{}/ ({})", mapping::short(&g.folder), g.kind.label());
    Some((name, mapping::details(g, links, repair, focused)))
}

/// Widths for two texts sharing `room`: each whole if it can be, else the shorter whole.
fn share(a: usize, b: usize, room: usize) -> (usize, usize) {
    let half = room / 2;
    if a + b <= room {
        (a, b)
    } else if a <= half {
        (a, room - a)
    } else if b <= room - half {
        (room - b, b)
    } else {
        (half, room - half)
    }
}

fn draw_title(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let idx = &app.index;
    let counts = format!(
        " · {} patients · {} files · out: ",
        idx.patients.len(),
        idx.file_count()
    );
    // Both folders are shortened from the front when the bar is narrow: their ends say most.
    let gauge_w = if app.scan.finished { 0 } else { 28.min(area.width / 3) };
    let room = usize::from(area.width.saturating_sub(gauge_w)).saturating_sub(7 + counts.chars().count());
    let len = |p: &std::path::Path| p.display().to_string().chars().count();
    let (root_w, out_w) = share(len(&app.root), len(&app.out), room);
    let text = Line::from(vec![
        Span::styled(" dams ", t.title()),
        Span::raw(format!(
            " {}{counts}{}",
            fit_path(&app.root, root_w),
            fit_path(&app.out, out_w)
        )),
    ]);
    if app.scan.finished {
        f.render_widget(Paragraph::new(text), area);
        return;
    }
    let [left, right] = Layout::horizontal([Constraint::Min(1), Constraint::Length(gauge_w)]).areas(area);
    f.render_widget(Paragraph::new(text), left);
    let (done, total) = (app.scan.done, app.scan.total.unwrap_or(0));
    let ratio = if total == 0 {
        0.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let label = match app.scan.total {
        _ if app.scan.read => "finishing…".to_string(),
        Some(t) => format!("scan {done}/{t}"),
        None => "finding files…".into(),
    };
    f.render_widget(Gauge::default().ratio(ratio).label(label).gauge_style(t.key()), right);
}

/// Feedback on the left, then the keys of the current mode; on a narrow terminal the keys
/// that must stay (help, quit, a dialog's answer) are kept and the feedback is shortened.
fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let spans = footer_spans(&app.theme, app.message.as_ref(), app.context(), usize::from(area.width));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

#[must_use]
pub fn footer_spans(
    t: &Theme,
    message: Option<&super::theme::Notice>,
    context: keys::Context,
    width: usize,
) -> Vec<Span<'static>> {
    let hints = keys::footer(context);
    let len = |h: &keys::Hint| h.keys.chars().count() + h.label.chars().count() + 3;
    let must: usize = hints.iter().filter(|h| h.always).map(len).sum();
    let mut room = width.saturating_sub(must);
    let mut spans = Vec::new();
    if let Some(m) = message {
        let text = fit(&m.text, room.saturating_sub(3));
        room = room.saturating_sub(text.chars().count() + 3);
        spans.push(Span::styled(format!(" {text} "), t.tone(m.tone)));
        spans.push(Span::raw(" "));
    }
    // Keys that must stay, then the others as room allows, the less needed last; shown in
    // the table's order.
    let mut keep: Vec<bool> = hints.iter().map(|h| h.always).collect();
    for low in [false, true] {
        for (i, h) in hints.iter().enumerate() {
            if !h.always && h.low == low && len(h) <= room {
                room -= len(h);
                keep[i] = true;
            }
        }
    }
    for (h, _) in hints.iter().zip(&keep).filter(|(_, k)| **k) {
        spans.push(Span::styled(format!(" {}", h.keys), t.key()));
        spans.push(Span::raw(format!(" {} ", h.label)));
    }
    spans
}

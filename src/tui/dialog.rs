//! Dialogs drawn over the panes: help, the confirmation that says exactly what will be
//! written, the writing progress (cancellable), and the result.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Wrap};

use super::app::{App, Confirm, Dialog, Picker};
use super::keys::{BINDINGS, Context};
use super::view::fit;

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    let [r] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::vertical([Constraint::Length(h)]).flex(Flex::Center).areas(r);
    r
}

/// A dialog: `body` wrapped to the width, then a blank row and `keys`. The height follows
/// the wrapped body, and when the screen is too short the body is cut, never the keys (a
/// confirmation whose buttons are off-screen cannot be answered with confidence).
fn dialog_with_keys(f: &mut Frame, app: &App, title: &str, body: Vec<Line>, keys: Line, width: u16, area: Rect) {
    let body = Paragraph::new(body).wrap(Wrap { trim: false });
    let inner_width = width.min(area.width.saturating_sub(2)).saturating_sub(2);
    let rows = body.line_count(inner_width.max(1)) as u16;
    let r = centered(area, width, rows.saturating_add(4));
    f.render_widget(Clear, r);
    let block = frame(app, title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [text, _, hint] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    f.render_widget(body, text);
    f.render_widget(Paragraph::new(keys), hint);
}

fn frame<'a>(app: &App, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border(true))
        .title(Span::styled(format!(" {title} "), app.theme.title()))
}

pub fn draw(f: &mut Frame, app: &App, d: &Dialog, area: Rect) {
    match d {
        Dialog::Help(scroll) => help(f, app, *scroll, area),
        Dialog::Confirm(c) => confirm(f, app, c, area),
        Dialog::Writing {
            patients,
            done,
            total,
            cancelling,
            asking_quit,
        } => writing(f, app, patients, *done, *total, *cancelling, *asking_quit, area),
        Dialog::Result { title, lines } => result(f, app, title, lines, area),
        Dialog::Picker(p) => picker(f, app, p, area),
    }
}

fn help(f: &mut Frame, app: &App, scroll: usize, area: Rect) {
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    for (ctx, heading) in [
        (Context::Everywhere, "Everywhere"),
        (Context::Browser, "Patients pane"),
        (Context::Mapping, "Masks pane"),
    ] {
        lines.push(Line::styled(heading, t.title()));
        for b in BINDINGS.iter().filter(|b| b.context == ctx) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<8}", b.shown), t.key()),
                Span::raw(b.help),
            ]));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("How writing works", t.title()));
    for l in [
        "Nothing is written until you approve a patient (a) and answer yes.",
        "Patients go pending → reviewed (r) → approved → written (or failed).",
        "Each file is written to a temporary file, flushed, then renamed;",
        "inputs are never changed. The key store is updated first.",
        "Mouse: click a pane or a row; the wheel scrolls.",
    ] {
        lines.push(Line::raw(format!("  {l}")));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "  Esc, Enter or ? closes this help; ↑↓ PgUp PgDn scroll it.",
        t.dim(),
    ));
    let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
    let r = centered(area, 78, h);
    let visible = usize::from(h.saturating_sub(2));
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    let title = if lines.len() > visible {
        "Help (↑↓ scroll)"
    } else {
        "Help"
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(frame(app, title))
            .scroll((scroll as u16, 0)),
        r,
    );
}

fn confirm(f: &mut Frame, app: &App, c: &Confirm, area: Rect) {
    let t = &app.theme;
    let who = if c.patients.len() == 1 {
        let code = app.code_of(&c.patients[0]).unwrap_or_default();
        format!("patient {} → {code}", crate::scan::index::label(&c.patients[0]))
    } else {
        format!("{} reviewed patients", c.patients.len())
    };
    let mut lines = vec![Line::styled(format!("Write {who}?"), t.title()), Line::raw("")];
    let row = |k: &str, v: String| Line::from(vec![Span::styled(format!("{k:<16}"), t.dim()), Span::raw(v)]);
    match &c.facts {
        None => lines.push(Line::styled("Checking the files…", t.dim())),
        Some(facts) => {
            lines.push(row(
                "Files",
                if facts.xml > 0 {
                    format!("{} DICOM file(s), {} XML", facts.files - facts.failed, facts.xml)
                } else {
                    format!("{} DICOM file(s)", facts.files - facts.failed)
                },
            ));
            lines.push(row("Output folder", app.opts.out.display().to_string()));
            lines.push(row(
                "Key store",
                match (facts.new_codes.is_empty(), facts.other_new_codes) {
                    (true, 0) => "no new code (all patients have one)".into(),
                    (false, 0) => format!("{} new code(s): {}", facts.new_codes.len(), facts.new_codes.join(", ")),
                    // Every code any output may carry is recorded before the first file.
                    (_, n) => format!(
                        "{} new code(s){}{}, and {n} for the folder's other patients",
                        facts.new_codes.len(),
                        if facts.new_codes.is_empty() { "" } else { ": " },
                        facts.new_codes.join(", ")
                    ),
                },
            ));
            lines.push(row("Profile", app.opts.profile.name.clone()));
            lines.push(row(
                "Masks",
                if facts.mapping.is_empty() {
                    "none".into()
                } else {
                    facts
                        .mapping
                        .iter()
                        .map(|(s, n)| format!("{n} {s}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ));
            let mut warnings: Vec<String> = Vec::new();
            for (p, why) in &facts.pseudonymised {
                warnings.push(format!(
                    "{p} looks like dams output already ({why}); yes gives it a new code anyway"
                ));
            }
            for (p, when) in &facts.already_written {
                warnings.push(format!("{p} was already written {when}; it will be written again"));
            }
            if facts.unassigned_xml > 0 {
                warnings.push(format!(
                    "{} XML file(s) in the folder belong to no patient and are not written",
                    facts.unassigned_xml
                ));
            }
            for u in &facts.unlinked {
                warnings.push(format!(
                    "mask series {u} has no source CT; link it in the masks pane first"
                ));
            }
            if facts.failed > 0 {
                warnings.push(format!(
                    "{} file(s) cannot be written (see the diff pane)",
                    facts.failed
                ));
            }
            if facts.unreadable_nearby > 0 {
                warnings.push(format!(
                    "{} file(s) in these folders could not be read and will not be written",
                    facts.unreadable_nearby
                ));
            }
            for r in &facts.summary.residual {
                warnings.push(format!(
                    "{} {} still holds the {} in {} file(s)",
                    r.element,
                    r.keyword,
                    r.identifier.label(),
                    r.files
                ));
            }
            lines.push(Line::raw(""));
            if warnings.is_empty() {
                lines.push(Line::styled("No warnings.", t.ok()));
            } else {
                lines.push(Line::styled("Warnings", t.warn()));
                for w in warnings {
                    lines.push(Line::from(vec![Span::styled("⚠ ", t.warn()), Span::raw(w)]));
                }
            }
        }
    }
    let (yes, no) = if c.yes {
        (t.selected(true), t.dim())
    } else {
        (t.dim(), t.selected(true))
    };
    let keys = Line::from(vec![
        Span::raw("   "),
        Span::styled(" Yes, write (y) ", yes),
        Span::raw("   "),
        Span::styled(" No (n/Esc) ", no),
    ]);
    let title = if c.all_reviewed {
        "Approve all reviewed patients"
    } else {
        "Confirm write"
    };
    dialog_with_keys(f, app, title, lines, keys, 76, area);
}

#[allow(clippy::too_many_arguments)]
fn writing(
    f: &mut Frame,
    app: &App,
    patients: &[String],
    done: usize,
    total: usize,
    cancelling: bool,
    asking_quit: bool,
    area: Rect,
) {
    let t = &app.theme;
    let r = centered(area, 64, 8);
    f.render_widget(Clear, r);
    let block = frame(app, "Writing");
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [text, gauge, hint] =
        Layout::vertical([Constraint::Length(2), Constraint::Length(1), Constraint::Length(2)]).areas(inner);
    let who = if patients.len() == 1 {
        patients[0].clone()
    } else {
        format!("{} patients", patients.len())
    };
    f.render_widget(
        Paragraph::new(fit(
            &format!("Writing {who} to {}", app.opts.out.display()),
            usize::from(inner.width),
        )),
        text,
    );
    let ratio = if total == 0 { 0.0 } else { done as f64 / total as f64 };
    f.render_widget(
        Gauge::default()
            .ratio(ratio.min(1.0))
            .label(format!("{done}/{total} files"))
            .gauge_style(t.key()),
        gauge,
    );
    let hint_text = if asking_quit {
        Line::styled("A write is running. Cancel it and quit? y / n", t.warn())
    } else if cancelling {
        Line::styled("Cancelling: finishing the files in progress…", t.warn())
    } else {
        Line::from(vec![
            Span::styled("Esc", t.key()),
            Span::raw(" cancel (no partial files are left)"),
        ])
    };
    f.render_widget(Paragraph::new(hint_text), hint);
}

fn result(f: &mut Frame, app: &App, title: &str, lines: &[(String, bool)], area: Rect) {
    let t = &app.theme;
    let mut text = vec![Line::styled(title.to_string(), t.title()), Line::raw("")];
    for (l, err) in lines.iter().take(12) {
        text.push(Line::styled(
            l.clone(),
            if *err { t.error() } else { ratatui::style::Style::new() },
        ));
    }
    if lines.len() > 12 {
        text.push(Line::styled(format!("… and {} more", lines.len() - 12), t.dim()));
    }
    let keys = Line::from(vec![Span::styled("Enter", t.key()), Span::raw(" close")]);
    dialog_with_keys(f, app, "Result", text, keys, 76, area);
}

fn picker(f: &mut Frame, app: &App, p: &Picker, area: Rect) {
    let t = &app.theme;
    let mut lines = vec![
        Line::raw("Choose the series this was drawn on."),
        Line::styled("A suggestion is never a link until you choose it.", t.dim()),
        Line::raw(""),
    ];
    for (i, o) in p.options.iter().enumerate() {
        let style = if i == p.selected {
            t.selected(true)
        } else {
            ratatui::style::Style::new()
        };
        lines.push(Line::styled(format!(" {} ", fit(&o.label, 70)), style));
        if !o.note.is_empty() {
            lines.push(Line::styled(format!("     {}", fit(&o.note, 68)), t.dim()));
        }
    }
    let keys = Line::from(vec![
        Span::styled("↑↓", t.key()),
        Span::raw(" choose  "),
        Span::styled("Enter", t.key()),
        Span::raw(" link  "),
        Span::styled("Esc", t.key()),
        Span::raw(" cancel"),
    ]);
    dialog_with_keys(f, app, &p.title, lines, keys, 78, area);
}

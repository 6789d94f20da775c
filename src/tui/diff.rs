//! The tag-diff pane: for the selected patient, study, series or file, every planned edit
//! (tag │ keyword │ before │ after), the ones shared by all files once with a count, the
//! differing ones listed, and warnings for identifying values the profile leaves in place.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState};

use super::app::{App, Node};
use super::view::fit;
use crate::plan::summary::EditCount;

/// The lines of the pane for its current content (also used to clamp scrolling).
pub fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut out: Vec<Line> = Vec::new();
    if let Some(Node::UnreadableFile(path)) = app.browser.selected_node() {
        if let Some(u) = app.index.unreadable.iter().find(|u| &u.path == path) {
            out.push(Line::from(Span::styled(format!("{}", u.path.display()), t.title())));
            out.push(Line::from(Span::styled(
                format!("Could not be read: {}", u.reason),
                t.warn(),
            )));
            out.push(Line::from(
                "It will not be written: a file dams cannot read may still hold identifiers.",
            ));
        }
        return out;
    }
    if let Some(Node::UnplacedFile(path)) = app.browser.selected_node() {
        if let Some(u) = app.index.unplaced.iter().find(|u| &u.path == path) {
            out.push(Line::styled(format!("{}", u.path.display()), t.title()));
            out.push(Line::styled(format!("Patient unknown: {}", u.reason), t.warn()));
            out.push(Line::from("It is not written until it belongs to a patient."));
            out.push(Line::styled("Enter: choose its patient", t.key()));
        }
        return out;
    }
    if let Some(Node::Xml(None, path)) = app.browser.selected_node() {
        let reason = app.unassigned_reason(path).unwrap_or_default();
        out.push(Line::styled(format!("{}", path.display()), t.title()));
        out.push(Line::styled(format!("XML without a patient: {reason}"), t.warn()));
        out.push(Line::from("It is not written until it belongs to a patient."));
        out.push(Line::styled("Enter: choose its patient", t.key()));
        return out;
    }
    let Some(target) = &app.diff.target else {
        out.push(Line::styled(
            "Select a patient, study, series or file to see its changes.",
            t.dim(),
        ));
        return out;
    };
    if let Some(file) = &target.file {
        out.push(Line::from(vec![
            Span::styled("file ", t.dim()),
            Span::raw(file.display().to_string()),
        ]));
    }
    let Some(data) = &app.diff.data else {
        out.push(Line::styled(
            format!("planning {} files…", target.instances.len()),
            t.dim(),
        ));
        return out;
    };
    let s = &data.summary;
    let code = app.code_of(&target.patient).unwrap_or_default();
    out.push(Line::from(vec![
        Span::styled(
            match (s.files, data.xml.len()) {
                (0, x) => format!("{x} XML file{}", if x == 1 { "" } else { "s" }),
                (n, 0) => format!("{n} file{}", if n == 1 { "" } else { "s" }),
                (n, x) => format!("{n} file{} + {x} XML", if n == 1 { "" } else { "s" }),
            },
            t.title(),
        ),
        Span::raw(format!(" · patient {} → {code}", target.patient)),
        if app.scan.finished {
            Span::raw("")
        } else {
            Span::styled("  (codes are final when the scan ends)", t.dim())
        },
    ]));

    // Columns: tag/path, keyword, before → after, count.
    let path_w = s
        .edits
        .iter()
        .map(|e| e.path.chars().count())
        .max()
        .unwrap_or(11)
        .clamp(11, 28);
    let kw_w = (width / 4).clamp(10, 24);
    let rest = width.saturating_sub(path_w + kw_w + 5);
    let val_w = (rest / 2).max(6);
    let edit_line = |e: &EditCount, count: bool| -> Line<'static> {
        let before = e.before.as_deref().map(show).unwrap_or_else(|| "(absent)".into());
        let after = match e.after.as_deref() {
            None => "(removed)".to_string(),
            Some(a) => show(a),
        };
        let mut spans = vec![
            Span::raw(format!("{:<path_w$} ", fit(&e.path, path_w))),
            Span::styled(format!("{:<kw_w$} ", fit(&e.keyword, kw_w)), t.dim()),
            Span::styled(format!("{:<val_w$}", fit(&before, val_w)), t.before()),
            Span::raw(" → "),
            Span::styled(fit(&after, val_w), t.after()),
        ];
        if count {
            spans.push(Span::styled(format!("  ×{}", e.files), t.dim()));
        }
        Line::from(spans)
    };

    if s.files == 0 {
        // Only XML below.
    } else if s.edits.is_empty() {
        out.push(Line::styled(
            "No changes: the profile has nothing to do in these files.",
            t.dim(),
        ));
    } else if s.files == 1 {
        out.push(Line::styled("Changes", t.title()));
        out.extend(s.edits.iter().map(|e| edit_line(e, false)));
    } else {
        use crate::plan::summary::EditGroup;
        let groups = s.grouped(3);
        let same: Vec<&EditCount> = groups
            .iter()
            .filter_map(|g| if let EditGroup::Same(e) = g { Some(*e) } else { None })
            .collect();
        if !same.is_empty() {
            out.push(Line::styled(format!("Same in all {} files", s.files), t.title()));
            out.extend(same.into_iter().map(|e| edit_line(e, false)));
        }
        if groups.iter().any(|g| !matches!(g, EditGroup::Same(_))) {
            out.push(Line::styled("Different between files", t.title()));
        }
        for g in &groups {
            match g {
                EditGroup::Same(_) => {}
                EditGroup::Variants(v) => out.extend(v.iter().map(|e| edit_line(e, true))),
                EditGroup::Many { first, values, files } => out.push(Line::from(vec![
                    Span::raw(format!("{:<path_w$} ", fit(&first.path, path_w))),
                    Span::styled(format!("{:<kw_w$} ", fit(&first.keyword, kw_w)), t.dim()),
                    Span::styled(format!("{values} different values"), t.before()),
                    Span::raw(" → "),
                    Span::styled(format!("new per file [{}]", first.rule), t.after()),
                    Span::styled(format!("  ×{files}"), t.dim()),
                ])),
            }
        }
    }

    for x in &data.xml {
        out.push(Line::from(vec![
            Span::styled(format!("XML {}", x.source.display()), t.title()),
            Span::styled(
                format!("  (patient by {}; {})", x.assigned_by, x.plan.encoding),
                t.dim(),
            ),
        ]));
        if x.plan.edits.is_empty() {
            out.push(Line::styled("no change: copied as it is", t.dim()));
        }
        // XML paths are long: they get more room, the rule less.
        let locs: Vec<String> = x.plan.edits.iter().map(|e| format!("{}:{}", e.line, e.path)).collect();
        let loc_w = locs
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(10)
            .clamp(10, width * 2 / 5);
        let rule_w = 9;
        let xval_w = (width.saturating_sub(loc_w + rule_w + 5) / 2).max(6);
        for (e, loc) in x.plan.edits.iter().zip(&locs) {
            let after = match e.after.as_deref() {
                None => "(removed)".to_string(),
                Some(a) => show(a),
            };
            out.push(Line::from(vec![
                Span::raw(format!("{:<loc_w$} ", fit(loc, loc_w))),
                Span::styled(format!("{:<rule_w$} ", fit(&e.rule, rule_w)), t.dim()),
                Span::styled(format!("{:<xval_w$}", fit(&show(&e.before), xval_w)), t.before()),
                Span::raw(" → "),
                Span::styled(fit(&after, xval_w), t.after()),
            ]));
        }
        for w in &x.plan.warnings {
            out.push(Line::from(vec![Span::styled("⚠ ", t.warn()), Span::raw(w.clone())]));
        }
    }

    if !s.residual.is_empty() || !s.warnings.is_empty() || !data.failed.is_empty() {
        out.push(Line::styled("Warnings", t.warn()));
    }
    for r in &s.residual {
        let files = if s.files > 1 {
            format!(" ({} files)", r.files)
        } else {
            String::new()
        };
        out.push(Line::from(vec![
            Span::styled("⚠ ", t.warn()),
            Span::raw(format!(
                "{} {} still holds the {}{files}: the profile leaves it in place",
                r.element,
                r.keyword,
                r.identifier.label()
            )),
        ]));
    }
    for (file, w) in &s.warnings {
        out.push(Line::from(vec![
            Span::styled("⚠ ", t.warn()),
            Span::raw(format!("{file}: {w}")),
        ]));
    }
    for e in &data.failed {
        out.push(Line::from(vec![
            Span::styled("✗ ", t.error()),
            Span::raw(format!("{}: {}", e.path.display(), e.reason)),
        ]));
    }
    out
}

fn show(v: &str) -> String {
    if v.is_empty() {
        "(empty)".into()
    } else {
        v.replace(['\r', '\n'], " ")
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, focused: bool) {
    let t = &app.theme;
    let title = match &app.diff.target {
        Some(target) => format!(" Changes: {} ", target.label),
        None => " Changes ".into(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(Span::styled(
            fit(&title, usize::from(area.width.saturating_sub(4))),
            t.title(),
        ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let all = lines(app, usize::from(inner.width));
    let height = usize::from(inner.height);
    let max_scroll = all.len().saturating_sub(height);
    let scroll = app.diff.scroll.min(max_scroll);
    let shown: Vec<Line> = all.iter().skip(scroll).take(height).cloned().collect();
    f.render_widget(Paragraph::new(shown).style(Style::new()), inner);
    if all.len() > height {
        let mut state = ScrollbarState::new(max_scroll).position(scroll);
        f.render_stateful_widget(Scrollbar::new(ScrollbarOrientation::VerticalRight), area, &mut state);
    }
}

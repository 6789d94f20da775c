//! The mapping pane: each segmentation series of the selected patient and the CT series it
//! was resolved to, with how sure that is; details and suggestions for the highlighted one.

use std::path::Path;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, Pane};
use super::view::fit;
use crate::link::LinkStatus;

fn short(folder: &Path) -> String {
    folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| folder.display().to_string())
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, focused: bool) {
    let t = &app.theme;
    let groups = app.patient_groups();
    let title = if groups.is_empty() {
        " Masks → source CT ".to_string()
    } else {
        format!(" Masks → source CT ({}) ", groups.len())
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(Span::styled(title, t.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);

    if app.links().is_none() {
        f.render_widget(
            Paragraph::new("Available when the scan has finished.").style(t.dim()),
            inner,
        );
        return;
    }
    if groups.is_empty() {
        f.render_widget(
            Paragraph::new("No masks, SEG or RTSTRUCT for the selected patient.").style(t.dim()),
            inner,
        );
        return;
    }
    let selected = app.mapping_selected.min(groups.len() - 1);
    let status_style = |s: LinkStatus| match s {
        LinkStatus::Resolved => t.ok(),
        LinkStatus::Manual => t.key(),
        LinkStatus::Ambiguous | LinkStatus::Unmatched => t.warn(),
    };
    let mut lines: Vec<Line> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let source = match &g.source {
            Some(s) => format!("{}/ {}", short(&s.folder), s.slices),
            None => "no source".into(),
        };
        let name = format!("{}/ {} {}", short(&g.folder), g.kind.label(), g.files.len());
        let status = format!(" {} ", g.status.label());
        let name_w = (width / 2).saturating_sub(2).max(10);
        let src_w = width.saturating_sub(name_w + 3 + status.chars().count()).max(6);
        let row_style = if i == selected && focused {
            t.selected(true)
        } else if i == selected {
            t.selected(false)
        } else {
            Style::new()
        };
        lines.push(
            Line::from(vec![
                Span::raw(format!("{:<name_w$}", fit(&name, name_w))),
                Span::raw(" → "),
                Span::raw(format!("{:<src_w$}", fit(&source, src_w))),
                Span::styled(status, status_style(g.status)),
            ])
            .style(row_style),
        );
    }

    // Details of the highlighted group.
    let g = groups[selected];
    lines.push(Line::styled("─".repeat(width), t.dim()));
    let ev = &g.evidence;
    let links = app.links();
    let votes: Vec<String> = ev
        .votes
        .iter()
        .map(|v| {
            let name = links
                .and_then(|l| l.sources.iter().find(|s| s.series_uid == v.series_uid))
                .map(|s| short(&s.folder))
                .unwrap_or_else(|| "?".into());
            format!("{} refs → {name}", v.references)
        })
        .collect();
    lines.push(Line::raw(fit(
        &format!(
            "{}; {} missing; {} ignored",
            if votes.is_empty() {
                "no reference resolves".into()
            } else {
                votes.join(", ")
            },
            ev.missing,
            ev.ignored()
        ),
        width,
    )));
    if g.status == LinkStatus::Manual {
        lines.push(Line::styled(
            fit(
                &format!("linked by hand (the references say: {})", g.automatic_status.label()),
                width,
            ),
            t.key(),
        ));
    }
    for s in &g.suggestions {
        lines.push(Line::styled(
            fit(&format!("suggestion, not a link: {}/", short(&s.folder)), width),
            t.dim(),
        ));
    }
    for fl in &g.flags {
        lines.push(Line::from(vec![
            Span::styled("⚠ ", t.warn()),
            Span::raw(fit(&fl.describe(), width.saturating_sub(2))),
        ]));
    }
    if g.repairable() {
        let planned = g.files.first().and_then(|f| app.planned_repair(f));
        let text = match planned {
            Some(n) => format!(
                "repair: on (new UIDs, InstanceNumber 1..{}, SeriesNumber {n})",
                g.files.len()
            ),
            None if app.ws.no_repair.contains(&g.key) => "repair: off (switched off in review)".into(),
            None => "repair: not needed".into(),
        };
        lines.push(Line::styled(fit(&text, width), t.dim()));
    }
    if app.focus == Pane::Mapping && g.status != LinkStatus::Resolved {
        lines.push(Line::styled("Enter: choose its source series", t.key()));
    }
    // Keep the highlighted row visible in short panes.
    let height = usize::from(inner.height);
    let skip = if selected + 1 > height.saturating_sub(4) {
        selected + 5 - height.max(5)
    } else {
        0
    };
    f.render_widget(Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()), inner);
}

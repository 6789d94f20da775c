//! The masks pane: each segmentation series of the selected patient and the CT series it was
//! resolved to, with how sure that is; evidence, suggestions and the repair of the
//! highlighted one. Its state is the highlighted row; it draws from a small view.

use std::path::Path;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::link::{LinkStatus, Links, SegmentationGroup, SegmentationKind};
use crate::present::{fit, wrap};
use crate::tui::keys::Action;
use crate::tui::theme::{Theme, Tone};

#[derive(Debug, Default)]
pub struct Mapping {
    pub selected: usize,
}

impl Mapping {
    pub fn move_by(&mut self, action: Action, rows: usize) {
        let last = rows.saturating_sub(1);
        let s = self.selected.min(last);
        self.selected = match action {
            Action::Up => s.saturating_sub(1),
            Action::Down => (s + 1).min(last),
            Action::PageUp | Action::Top => 0,
            Action::PageDown | Action::Bottom => last,
            _ => s,
        };
    }

    pub fn clamp(&mut self, rows: usize) {
        self.selected = self.selected.min(rows.saturating_sub(1));
    }
}

/// The tag repair of a group, as planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairState {
    /// Repaired: the new `SeriesNumber`.
    On(i64),
    /// Switched off in review.
    Off,
    NotNeeded,
    /// One object (SEG, RTSTRUCT): nothing to repair.
    NotApplicable,
}

/// One group as a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLine {
    pub name: String,
    pub source: String,
    pub status: LinkStatus,
}

#[must_use]
pub fn short(folder: &Path) -> String {
    folder
        .file_name()
        .map_or_else(|| folder.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn kind_short(k: SegmentationKind) -> &'static str {
    match k {
        SegmentationKind::PerSliceMask => "mask",
        SegmentationKind::Seg => "SEG",
        SegmentationKind::RtStruct => "RTSTRUCT",
    }
}

#[must_use]
pub fn group_line(g: &SegmentationGroup) -> GroupLine {
    GroupLine {
        name: format!("{}/ {} {}", short(&g.folder), kind_short(g.kind), g.files.len()),
        source: match &g.source {
            Some(s) => format!("{}/ {}", short(&s.folder), s.slices),
            None => "no source".into(),
        },
        status: g.status,
    }
}

/// The lines about the highlighted group: votes, manual link, suggestions, flags, repair.
pub fn details(g: &SegmentationGroup, links: &Links, repair: RepairState, focused: bool) -> Vec<(Tone, String)> {
    let mut out = vec![(Tone::Plain, g.evidence.line(links, short))];
    if g.status == LinkStatus::Manual {
        out.push((
            Tone::Key,
            format!("linked by hand (the references say: {})", g.automatic_status.label()),
        ));
    }
    let files = g.files.len();
    match repair {
        RepairState::On(n) => out.push((
            Tone::Dim,
            format!("repair: on (new UIDs, InstanceNumber 1..{files}, SeriesNumber {n})"),
        )),
        RepairState::Off => out.push((Tone::Dim, "repair: off (switched off in review)".into())),
        RepairState::NotNeeded => out.push((Tone::Dim, "repair: not needed".into())),
        RepairState::NotApplicable => {}
    }
    if focused && g.status != LinkStatus::Resolved {
        out.push((Tone::Key, "Enter: choose its source series".into()));
    }
    for s in &g.suggestions {
        out.push((Tone::Dim, format!("suggestion, not a link: {}/", short(&s.folder))));
    }
    for fl in &g.flags {
        out.push((Tone::Warn, format!("⚠ {}", fl.describe())));
    }
    // Why it is taken for a segmentation (and not a copy or a screen capture), last.
    if !g.classification.is_empty() {
        let why: Vec<String> = g.classification.iter().map(crate::link::Clue::describe).collect();
        out.push((Tone::Dim, format!("a segmentation: {}", why.join("; "))));
    }
    out
}

/// What the pane draws.
pub struct MappingView<'a> {
    pub theme: &'a Theme,
    /// Said instead of rows (no links yet, no groups).
    pub placeholder: Option<&'static str>,
    pub groups: Vec<GroupLine>,
    pub details: Vec<(Tone, String)>,
    pub selected: usize,
    pub focused: bool,
}

fn status_tone(s: LinkStatus) -> Tone {
    match s {
        LinkStatus::Resolved => Tone::Ok,
        LinkStatus::Manual => Tone::Key,
        LinkStatus::Ambiguous | LinkStatus::Unmatched => Tone::Warn,
    }
}

pub fn draw(f: &mut Frame, area: Rect, v: &MappingView) {
    let t = v.theme;
    let title = if v.groups.is_empty() {
        " Masks → source CT ".to_string()
    } else {
        format!(" Masks → source CT ({}) ", v.groups.len())
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(v.focused))
        .title(Span::styled(title, t.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if let Some(p) = v.placeholder {
        f.render_widget(
            Paragraph::new(p)
                .style(t.dim())
                .wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    let selected = v.selected.min(v.groups.len().saturating_sub(1));
    // Group rows, scrolled so the highlighted one shows with at least two lines of detail.
    let list_h = v.groups.len().min(height.saturating_sub(3).max(1));
    let skip = (selected + 1).saturating_sub(list_h);
    let status_w = v.groups.iter().map(|g| g.status.label().len() + 2).max().unwrap_or(0);
    let room = width.saturating_sub(3 + status_w);
    let widest = v.groups.iter().map(|g| g.name.chars().count()).max().unwrap_or(0);
    let name_w = widest.min(room * 2 / 3);
    let mut lines: Vec<Line> = v
        .groups
        .iter()
        .enumerate()
        .skip(skip)
        .take(list_h)
        .map(|(i, g)| {
            let style = if i == selected {
                t.selected(v.focused)
            } else {
                Style::new()
            };
            group_row(t, g, (name_w, room.saturating_sub(name_w), status_w)).style(style)
        })
        .collect();
    lines.push(Line::styled("─".repeat(width), t.dim()));
    let mut detail: Vec<Line> = Vec::new();
    for (tone, text) in &v.details {
        for l in wrap(text, width) {
            detail.push(Line::styled(l, t.tone(*tone)));
        }
    }
    // What does not fit is said, not dropped: `v` shows it all.
    let room = height.saturating_sub(lines.len());
    if detail.len() > room && room > 0 {
        let more = detail.len() - (room - 1);
        detail.truncate(room - 1);
        detail.push(Line::styled(
            fit(&format!("… {more} more line(s): v shows all"), width),
            t.tone(Tone::Key),
        ));
    }
    lines.extend(detail);
    lines.truncate(height);
    f.render_widget(Paragraph::new(lines), inner);
}

/// `name → source  status`: the status is never cut, the name before the source.
fn group_row(t: &Theme, g: &GroupLine, (name_w, src_w, status_w): (usize, usize, usize)) -> Line<'static> {
    let status = format!("{:>status_w$}", format!(" {} ", g.status.label()));
    Line::from(vec![
        Span::raw(format!("{:<name_w$}", fit(&g.name, name_w))),
        Span::raw(" → "),
        Span::raw(format!("{:<src_w$}", fit(&g.source, src_w))),
        Span::styled(status, t.tone(status_tone(g.status))),
    ])
}

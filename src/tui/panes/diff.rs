//! The changes pane: for the selected patient, study, series or file, every planned edit
//! (element │ keyword │ before → after), those shared by all files once, the differing ones
//! listed or counted, XML edits, and warnings. Its rows are data (built when a plan arrives),
//! so that the cursor and scrolling are kept in range by `update`, not by drawing.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState};

use crate::plan::summary::{EditCount, EditGroup, Summary};
use crate::plan::{FileError, XmlFilePlan};
use crate::present::{count, fit, one_line, wrap};
use crate::profile::RuleKind;
use crate::scan::{Instance, XmlFile};
use crate::tui::keys::Action;
use crate::tui::theme::{Theme, Tone};

/// The files a diff is about.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffTarget {
    pub patient: String,
    pub label: String,
    /// The one file, when a file is selected.
    pub file: Option<PathBuf>,
    /// The folder of a series or mask group (when its files share one).
    pub folder: Option<PathBuf>,
    pub instances: Vec<Instance>,
    pub xml: Vec<XmlFile>,
}

/// What planning the target's files gave.
#[derive(Debug, Clone)]
pub struct DiffData {
    pub summary: Summary,
    pub failed: Vec<FileError>,
    pub xml: Vec<XmlFilePlan>,
    /// For a confirmation of several patients: what the write leaves, counted as the files
    /// were planned (their plans are not kept).
    pub stays: Option<crate::plan::stays::Stays>,
}

/// The facts around the target the plan knows: its code, where it is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heading {
    /// `P0001`, or `P0001 (new)`.
    pub code: String,
    /// Where the file or folder goes, relative to the output folder.
    pub dest: Option<PathBuf>,
    /// Codes may still change (the scan runs).
    pub provisional: bool,
    /// Written before to another output folder: where, when.
    pub elsewhere: Option<(PathBuf, String)>,
}

/// One edit as a row: a DICOM element or an XML node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditRow {
    /// Tag path `(0010,0010)`, or `line:path` in an XML file.
    pub element: String,
    /// Keyword (DICOM) or rule (XML).
    pub note: String,
    pub before: String,
    pub after: String,
    pub rule: RuleKind,
    /// How many files have exactly this edit, when not all of them.
    pub files: Option<usize>,
    /// Of how many files (the target's).
    pub of: usize,
    /// Many values, one per file (new UIDs): `before` counts them.
    pub many: bool,
    /// The XML file it is in.
    pub xml: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffRow {
    /// One line, cut to the width.
    Line {
        text: String,
        tone: Tone,
    },
    /// Wrapped to the width, with a mark (⚠, ✗) before it.
    Note {
        mark: &'static str,
        text: String,
        tone: Tone,
    },
    Edit(EditRow),
}

impl DiffRow {
    pub fn line(text: impl Into<String>, tone: Tone) -> DiffRow {
        DiffRow::Line {
            text: text.into(),
            tone,
        }
    }

    pub fn note(mark: &'static str, text: impl Into<String>, tone: Tone) -> DiffRow {
        DiffRow::Note {
            mark,
            text: text.into(),
            tone,
        }
    }

    /// Screen lines the row takes at this width.
    #[must_use]
    pub fn height(&self, width: usize) -> usize {
        match self {
            DiffRow::Note { mark, text, .. } => wrap(text, width.saturating_sub(mark.chars().count())).len(),
            _ => 1,
        }
    }
}

#[derive(Debug, Default)]
pub struct DiffPane {
    pub target: Option<DiffTarget>,
    /// The newest request: results of older ones are dropped.
    pub generation: u64,
    pub data: Option<DiffData>,
    pub rows: Vec<DiffRow>,
    pub cursor: usize,
    pub scroll: usize,
}

impl DiffPane {
    #[must_use]
    pub fn selected(&self) -> Option<&DiffRow> {
        self.rows.get(self.cursor)
    }

    /// New content: from the top.
    pub fn show(&mut self, rows: Vec<DiffRow>) {
        if rows != self.rows {
            self.rows = rows;
            self.cursor = 0;
            self.scroll = 0;
        }
    }

    pub fn move_by(&mut self, action: Action, (width, height): (usize, usize)) {
        let last = self.rows.len().saturating_sub(1);
        let page = height.max(1);
        self.cursor = match action {
            Action::Up => self.cursor.saturating_sub(1),
            Action::Down => (self.cursor + 1).min(last),
            Action::PageUp => self.cursor.saturating_sub(page),
            Action::PageDown => (self.cursor + page).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            _ => self.cursor,
        };
        self.clamp((width, height));
    }

    /// Keeps the cursor on a row and on screen, and no empty space below the last row.
    pub fn clamp(&mut self, (width, height): (usize, usize)) {
        let heights: Vec<usize> = self.rows.iter().map(|r| r.height(width)).collect();
        self.cursor = self.cursor.min(heights.len().saturating_sub(1));
        self.scroll = self.scroll.min(self.cursor);
        while self.scroll < self.cursor && heights[self.scroll..=self.cursor].iter().sum::<usize>() > height {
            self.scroll += 1;
        }
        // The last rows fill the pane: scrolling further shows nothing new.
        let mut fits = heights.len();
        let mut used = 0;
        while fits > 0 && used + heights[fits - 1] <= height {
            fits -= 1;
            used += heights[fits];
        }
        self.scroll = self.scroll.min(fits);
    }
}

/// The rows for a target and what planning it gave (`None`: still planning).
#[must_use]
pub fn content(target: &DiffTarget, data: Option<&DiffData>, h: &Heading) -> Vec<DiffRow> {
    let mut out = Vec::new();
    if let Some(file) = &target.file {
        out.push(DiffRow::note("", format!("file {}", file.display()), Tone::Plain));
    } else if let Some(folder) = &target.folder {
        out.push(DiffRow::note("", format!("folder {}/", folder.display()), Tone::Plain));
    }
    if let Some(dest) = &h.dest {
        let slash = if target.file.is_some() { "" } else { "/" };
        out.push(DiffRow::note(
            "",
            format!("  → out: {}{slash}", dest.display()),
            Tone::Dim,
        ));
    }
    if let Some((to, at)) = &h.elsewhere {
        out.push(DiffRow::note(
            "",
            format!("written {at} to another output folder: {}", to.display()),
            Tone::Dim,
        ));
    }
    let Some(data) = data else {
        out.push(DiffRow::line(
            format!("planning {}…", count(target.instances.len(), "file", "files")),
            Tone::Dim,
        ));
        return out;
    };
    let s = &data.summary;
    let what = match (s.files, data.xml.len()) {
        (0, x) => count(x, "XML file", "XML files"),
        (n, 0) => count(n, "file", "files"),
        (n, x) => format!("{} + {x} XML", count(n, "file", "files")),
    };
    out.push(DiffRow::note(
        "",
        format!("{what} · patient {} → {}", target.patient, h.code),
        Tone::Title,
    ));
    if h.provisional {
        out.push(DiffRow::line("(codes are final when the scan ends)", Tone::Dim));
    }
    dicom_rows(s, &mut out);
    for x in &data.xml {
        xml_rows(x, &mut out);
    }
    warning_rows(data, &mut out);
    out
}

fn edit_row(e: &EditCount, files: Option<usize>, of: usize) -> EditRow {
    EditRow {
        element: e.path.clone(),
        note: e.keyword.clone(),
        before: e.before.as_deref().map_or_else(|| "(absent)".into(), one_line),
        after: e.after.as_deref().map_or_else(|| "(removed)".into(), one_line),
        rule: e.rule,
        files,
        of,
        many: false,
        xml: None,
    }
}

fn dicom_rows(s: &Summary, out: &mut Vec<DiffRow>) {
    if s.files == 0 {
        return; // only XML
    }
    if s.edits.is_empty() {
        out.push(DiffRow::line(
            "No changes: the profile has nothing to do in these files.",
            Tone::Dim,
        ));
        return;
    }
    if s.files == 1 {
        out.push(DiffRow::line("Changes", Tone::Title));
        out.extend(s.edits.iter().map(|e| DiffRow::Edit(edit_row(e, None, 1))));
        return;
    }
    let groups = s.grouped(3);
    let same: Vec<&EditCount> = groups
        .iter()
        .filter_map(|g| if let EditGroup::Same(e) = g { Some(*e) } else { None })
        .collect();
    if !same.is_empty() {
        out.push(DiffRow::line(format!("Same in all {} files", s.files), Tone::Title));
        out.extend(same.into_iter().map(|e| DiffRow::Edit(edit_row(e, None, s.files))));
    }
    if groups.iter().any(|g| !matches!(g, EditGroup::Same(_))) {
        out.push(DiffRow::line("Different between files", Tone::Title));
    }
    for g in &groups {
        match g {
            EditGroup::Same(_) => {}
            EditGroup::Variants(v) => out.extend(v.iter().map(|e| DiffRow::Edit(edit_row(e, Some(e.files), s.files)))),
            EditGroup::Many { first, values, files } => {
                let mut row = edit_row(first, Some(*files), s.files);
                row.before = format!("{values} different values");
                row.after = "new per file".into();
                row.many = true;
                out.push(DiffRow::Edit(row));
            }
        }
    }
}

fn xml_rows(x: &XmlFilePlan, out: &mut Vec<DiffRow>) {
    out.push(DiffRow::note(
        "",
        format!(
            "XML {}  (patient: {}; {})",
            x.source.display(),
            x.assigned_by,
            x.plan.encoding
        ),
        Tone::Title,
    ));
    if x.plan.edits.is_empty() {
        out.push(DiffRow::line("no change: copied as it is", Tone::Dim));
    }
    for e in &x.plan.edits {
        out.push(DiffRow::Edit(EditRow {
            element: format!("{}:{}", e.line, e.path),
            note: e.rule.to_string(),
            before: one_line(&e.before),
            after: e.after.as_deref().map_or_else(|| "(removed)".into(), one_line),
            rule: e.rule,
            files: None,
            of: 1,
            many: false,
            xml: Some(x.source.clone()),
        }));
    }
    for w in &x.plan.warnings {
        out.push(DiffRow::note("⚠ ", w.clone(), Tone::Warn));
    }
}

fn warning_rows(data: &DiffData, out: &mut Vec<DiffRow>) {
    let s = &data.summary;
    if !s.residual.is_empty() || !s.kept.is_empty() || !s.warnings.is_empty() || !data.failed.is_empty() {
        out.push(DiffRow::line("Warnings", Tone::Warn));
    }
    for r in &s.residual {
        let files = if s.files > 1 {
            format!(" ({} files)", r.files)
        } else {
            String::new()
        };
        out.push(DiffRow::note(
            "⚠ ",
            format!(
                "{} {} still holds the {}{files}: the profile leaves it in place",
                r.element,
                r.keyword,
                r.identifier.label()
            ),
            Tone::Plain,
        ));
    }
    for r in &s.kept {
        let files = if s.files > 1 {
            format!(" ({} files)", r.files)
        } else {
            String::new()
        };
        out.push(DiffRow::note(
            "· ",
            format!(
                "kept: {} {}, the {}{files}: too short or generic to be replaced inside a name",
                r.element,
                r.keyword,
                r.identifier.label()
            ),
            Tone::Plain,
        ));
    }
    for (file, w) in &s.warnings {
        out.push(DiffRow::note("⚠ ", format!("{file}: {w}"), Tone::Plain));
    }
    for e in &data.failed {
        out.push(DiffRow::note(
            "✗ ",
            format!("{}: {}", e.path.display(), e.reason),
            Tone::Plain,
        ));
    }
}

/// Column widths for edit rows. The naming columns narrow first (the tag goes where the
/// keyword says the same; in XML the rule goes), then before and after share what is left,
/// the after-value taking at least half: it is never cut while the before-value is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    pub element: usize,
    pub note: usize,
    pub before: usize,
    pub after: usize,
    pub count: usize,
}

const ARROW: usize = 3;
const MIN_NOTE: usize = 10;
const NOTE: usize = 18;
/// Room the values need before a naming column is shown whole.
const VALUES: usize = 32;

pub fn columns<'a>(rows: impl Iterator<Item = &'a EditRow> + Clone, width: usize, xml: bool) -> Columns {
    let len = |s: &str| s.chars().count();
    let widest = |f: &dyn Fn(&EditRow) -> usize| rows.clone().map(f).max().unwrap_or(0);
    let count = widest(&|r| r.files.map_or(0, |n| len(&format!("  ×{n}"))));
    let want_el = widest(&|r| len(&r.element));
    let want_note = widest(&|r| len(&r.note));
    let want_before = widest(&|r| len(&r.before));
    let want_after = widest(&|r| len(&r.after));
    let avail = width.saturating_sub(count + ARROW);
    let fits = |names: usize, values: usize| avail >= names + values;
    let (element, note) = if xml {
        // The location names an XML edit; the rule is shown when there is room.
        let el = want_el.min(28.max(avail * 2 / 5));
        let rule = want_note.min(9);
        if want_note > 0 && fits(el + rule + 2, VALUES) {
            (el, rule)
        } else {
            (el.min(avail.saturating_sub(VALUES / 2 + 1)), 0)
        }
    } else {
        let (el, kw) = (want_el.min(28), want_note.min(NOTE));
        if want_note == 0 {
            (el, 0)
        } else if fits(el + kw + 2, VALUES) {
            (el, kw)
        } else if fits(kw + 1, 24) {
            (0, kw)
        } else {
            (0, want_note.min(MIN_NOTE))
        }
    };
    let seps = usize::from(element > 0) + usize::from(note > 0);
    let values = avail.saturating_sub(element + note + seps);
    // Short after-values (codes, placeholders, dates) are whole as long as the before-value
    // keeps a few columns; long ones (UIDs) share the room half and half.
    let typical = widest(&|r| Some(len(&r.after)).filter(|l| *l <= 16).unwrap_or(0));
    let after = want_after
        .min((values - values / 2).max(values.saturating_sub(want_before)))
        .max(typical.min(values.saturating_sub(8)));
    let before = want_before.min(values - after);
    Columns {
        element,
        note,
        before,
        after,
        count,
    }
}

/// What the pane draws.
pub struct DiffView<'a> {
    pub theme: &'a Theme,
    pub title: String,
    pub rows: &'a [DiffRow],
    pub cursor: usize,
    pub scroll: usize,
    pub focused: bool,
}

pub fn draw(f: &mut Frame, area: Rect, v: &DiffView) {
    let t = v.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(v.focused))
        .title(Span::styled(
            fit(&v.title, usize::from(area.width.saturating_sub(4))),
            t.title(),
        ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let (width, height) = (usize::from(inner.width), usize::from(inner.height));
    let edits = || {
        v.rows
            .iter()
            .filter_map(|r| if let DiffRow::Edit(e) = r { Some(e) } else { None })
    };
    let dicom = columns(edits().filter(|e| e.xml.is_none()), width, false);
    let xml = columns(edits().filter(|e| e.xml.is_some()), width, true);
    let mut lines: Vec<Line> = Vec::new();
    for (i, row) in v.rows.iter().enumerate().skip(v.scroll) {
        if lines.len() >= height {
            break;
        }
        let style = if i == v.cursor && v.focused {
            t.selected(true)
        } else {
            Style::new()
        };
        match row {
            DiffRow::Line { text, tone } => lines.push(Line::styled(fit(text, width), t.tone(*tone)).style(style)),
            DiffRow::Note { mark, text, tone } => {
                let mark_w = mark.chars().count();
                for (k, l) in wrap(text, width.saturating_sub(mark_w)).into_iter().enumerate() {
                    let lead = if k == 0 {
                        (*mark).to_string()
                    } else {
                        " ".repeat(mark_w)
                    };
                    lines.push(
                        Line::from(vec![Span::styled(lead, t.warn()), Span::styled(l, t.tone(*tone))]).style(style),
                    );
                }
            }
            DiffRow::Edit(e) => {
                let c = if e.xml.is_some() { xml } else { dicom };
                lines.push(edit_line(t, e, c).style(style));
            }
        }
    }
    lines.truncate(height);
    f.render_widget(Paragraph::new(lines), inner);
    let total: usize = v.rows.iter().map(|r| r.height(width)).sum();
    if total > height {
        let mut state = ScrollbarState::new(v.rows.len().saturating_sub(1)).position(v.cursor);
        f.render_stateful_widget(Scrollbar::new(ScrollbarOrientation::VerticalRight), area, &mut state);
    }
}

fn edit_line(t: &Theme, e: &EditRow, c: Columns) -> Line<'static> {
    let len = |s: &str| s.chars().count();
    let mut spans = Vec::new();
    if c.element > 0 {
        spans.push(Span::raw(format!("{:<w$} ", fit(&e.element, c.element), w = c.element)));
    }
    if c.note > 0 {
        // Without the tag column, an element without a keyword is named by its tag.
        let note = if e.note.is_empty() && c.element == 0 {
            &e.element
        } else {
            &e.note
        };
        spans.push(Span::styled(format!("{:<w$} ", fit(note, c.note), w = c.note), t.dim()));
    }
    // A value that would be cut takes the room the other one leaves; rows that fit stay
    // aligned.
    let (b, a) = (len(&e.before), len(&e.after));
    let (mut before_w, mut after_w) = (b.min(c.before), a.min(c.after));
    if a > c.after {
        after_w += (c.before - before_w).min(a - c.after);
    } else if b > c.before {
        before_w += (c.after - after_w).min(b - c.before);
    } else {
        before_w = c.before;
    }
    let pad = (c.before + c.after).saturating_sub(before_w + after_w);
    let before_style = if e.many { t.dim() } else { t.before() };
    spans.push(Span::styled(
        format!("{:<before_w$}", fit(&e.before, before_w)),
        before_style,
    ));
    spans.push(Span::raw(" → "));
    spans.push(Span::styled(fit(&e.after, after_w), t.after()));
    if let Some(n) = e.files {
        spans.push(Span::styled(format!("{}  ×{n}", " ".repeat(pad)), t.dim()));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(element: &str, note: &str, before: &str, after: &str, files: Option<usize>) -> EditRow {
        EditRow {
            element: element.into(),
            note: note.into(),
            before: before.into(),
            after: after.into(),
            rule: RuleKind::Replace,
            files,
            of: 24,
            many: false,
            xml: None,
        }
    }

    fn rows() -> Vec<EditRow> {
        vec![
            edit(
                "(0008,0080)",
                "InstitutionName",
                "Example General Hospital",
                "ANONYMIZED",
                None,
            ),
            edit("(0010,0010)", "PatientName", "Demo^Alice^M", "P0001", None),
            edit(
                "(0020,000E)",
                "SeriesInstanceUID",
                "2.25.271640585879123456789012345678901234",
                "2.25.144435578125123456789012345678901234",
                Some(24),
            ),
        ]
    }

    #[test]
    fn the_after_value_is_cut_last() {
        let rows = rows();
        for width in [38, 46, 58, 70, 98, 160] {
            let c = columns(rows.iter(), width, false);
            let used = c.element
                + c.note
                + c.before
                + c.after
                + c.count
                + ARROW
                + usize::from(c.element > 0)
                + usize::from(c.note > 0);
            assert!(used <= width, "{width}: {c:?}");
            // Short after-values are never cut; the after-value has at least the before's room.
            assert!(c.after >= "ANONYMIZED".len(), "{width}: {c:?}");
            assert!(c.after >= c.before, "{width}: {c:?}");
            assert!(c.note > 0 || c.element > 0, "{width}: the element is named");
        }
        // Narrow: the tag column goes, the keyword stays.
        let narrow = columns(rows.iter(), 46, false);
        assert_eq!(narrow.element, 0, "{narrow:?}");
        assert!(narrow.note >= MIN_NOTE, "{narrow:?}");
        // Wide: everything whole.
        let wide = columns(rows.iter(), 160, false);
        assert_eq!(wide.after, rows[2].after.len(), "{wide:?}");
        assert_eq!(wide.before, rows[2].before.len(), "{wide:?}");
        assert_eq!(wide.element, 11, "{wide:?}");
    }

    #[test]
    fn scrolling_stays_in_range() {
        let mut p = DiffPane::default();
        p.show(
            (0..30)
                .map(|i| DiffRow::line(format!("row {i}"), Tone::Plain))
                .collect(),
        );
        p.move_by(Action::Bottom, (40, 10));
        assert_eq!((p.cursor, p.scroll), (29, 20));
        for _ in 0..50 {
            p.move_by(Action::Down, (40, 10));
        }
        assert_eq!((p.cursor, p.scroll), (29, 20), "no dead zone past the end");
        p.move_by(Action::Up, (40, 10));
        assert_eq!(p.cursor, 28);
        p.move_by(Action::PageUp, (40, 10));
        assert_eq!(p.cursor, 18);
        assert!(p.scroll <= 18);
        p.move_by(Action::Top, (40, 10));
        assert_eq!((p.cursor, p.scroll), (0, 0));
        // A taller pane shows everything: no scrolling at all.
        p.move_by(Action::Bottom, (40, 50));
        assert_eq!(p.scroll, 0);
    }

    #[test]
    fn wrapped_notes_count_their_lines() {
        let long = DiffRow::note("⚠ ", "word ".repeat(20), Tone::Plain);
        assert!(long.height(22) > 3);
        let mut p = DiffPane::default();
        p.show(vec![DiffRow::line("a", Tone::Plain), long]);
        p.move_by(Action::Bottom, (22, 3));
        assert_eq!(p.cursor, 1);
        assert_eq!(p.scroll, 1, "the note shown from its first line");
    }
}

//! Dialogs drawn over the panes, one file each: each has its own state, answers actions from
//! the key table with an `Outcome` (and never touches the rest of the screen: what should
//! happen next is an `Intent` the app carries out), and draws itself.

pub mod ask;
pub mod confirm;
pub mod detail;
pub mod help;
pub mod picker;
pub mod result;
pub mod sending;
pub mod writing;

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::keys::{self, Action, Context};
use super::theme::{Notice, Theme};

#[derive(Debug, Clone)]
pub enum Dialog {
    Help(help::Help),
    Confirm(Box<confirm::Confirm>),
    Ask(ask::Ask),
    Writing(writing::Writing),
    Sending(sending::Sending),
    Picker(picker::Picker),
    Detail(detail::Detail),
    Result(result::Report),
}

/// What a dialog says after an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stay open.
    Keep,
    /// Stay open, and say this in the footer.
    Notice(Notice),
    Close,
    /// Close, and the app does this.
    Do(Intent),
    /// Stay open, and the app does this.
    Also(Intent),
}

/// What the user decided in a dialog, for the app to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Yes in the write confirmation.
    Write {
        patients: Vec<String>,
        recode: bool,
        /// One patient's dialog listed images that may show identifiers in their pixels:
        /// yes approves them (a dialog of several patients never does).
        accept_burned_in: bool,
    },
    /// No in the write confirmation.
    Declined,
    /// Yes to approving patients nobody marked reviewed: mark them, then confirm the write.
    ApproveUnreviewed(Vec<String>),
    /// A choice in a picker (`None`: back to automatic).
    Pick {
        target: picker::PickFor,
        choice: Option<String>,
    },
    CancelWrite,
    CancelAndQuit,
    /// Send these written patients: choose the node first.
    Send(Vec<String>),
}

impl Dialog {
    /// The key table's context for this dialog.
    #[must_use]
    pub fn context(&self) -> Context {
        match self {
            Dialog::Help(_) => Context::Help,
            Dialog::Confirm(_) => Context::Confirm,
            Dialog::Ask(_) => Context::Ask,
            Dialog::Writing(_) => Context::Writing,
            Dialog::Sending(_) => Context::Sending,
            Dialog::Picker(p) => p.context(),
            Dialog::Detail(_) => Context::Detail,
            Dialog::Result(d) => d.text.context,
        }
    }

    pub fn on_action(&mut self, action: Action, screen: Rect) -> Outcome {
        match self {
            Dialog::Help(d) => d.on_action(action, screen),
            Dialog::Confirm(d) => d.on_action(action),
            Dialog::Ask(d) => d.on_action(action),
            Dialog::Writing(d) => d.on_action(action),
            Dialog::Sending(d) => d.on_action(action),
            Dialog::Picker(d) => d.on_action(action),
            Dialog::Detail(d) => d.text.on_action(action, screen),
            Dialog::Result(d) => d.on_action(action, screen),
        }
    }

    /// Keeps scroll positions in range for this screen.
    pub fn clamp(&mut self, screen: Rect) {
        match self {
            Dialog::Help(d) => d.clamp(screen),
            Dialog::Detail(d) => d.text.clamp(screen),
            Dialog::Result(d) => d.text.clamp(screen),
            Dialog::Picker(d) => d.clamp(),
            Dialog::Confirm(_) | Dialog::Ask(_) | Dialog::Writing(_) | Dialog::Sending(_) => {}
        }
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        match self {
            Dialog::Help(d) => d.draw(f, screen, t),
            Dialog::Confirm(d) => d.draw(f, screen, t),
            Dialog::Ask(d) => d.draw(f, screen, t),
            Dialog::Writing(d) => d.draw(f, screen, t),
            Dialog::Sending(d) => d.draw(f, screen, t),
            Dialog::Picker(d) => d.draw(f, screen, t),
            Dialog::Detail(d) => d.text.draw(f, screen, t),
            Dialog::Result(d) => d.text.draw(f, screen, t),
        }
    }
}

#[must_use]
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    let [r] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::vertical([Constraint::Length(h)]).flex(Flex::Center).areas(r);
    r
}

#[must_use]
pub fn frame<'a>(t: &Theme, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(true))
        .title(Span::styled(format!(" {title} "), t.title()))
}

/// The keys of a context as one line, from the key table (the footer shows the same).
#[must_use]
pub fn keys_line(t: &Theme, context: Context) -> Line<'static> {
    let mut spans = Vec::new();
    for h in keys::footer(context) {
        spans.push(Span::styled(h.keys, t.key()));
        spans.push(Span::raw(format!(" {}  ", h.label)));
    }
    Line::from(spans)
}

/// A dialog: `body` wrapped to the width, then a blank row and `keys`. The height follows
/// the wrapped body, and when the screen is too short the body is cut, never the keys (a
/// confirmation whose buttons are off-screen cannot be answered with confidence).
pub fn with_keys(f: &mut Frame, t: &Theme, title: &str, body: Vec<Line>, keys: Line, width: u16, area: Rect) {
    let body = Paragraph::new(body).wrap(Wrap { trim: false });
    let inner_width = width.min(area.width.saturating_sub(2)).saturating_sub(2);
    let rows = body.line_count(inner_width.max(1)) as u16;
    let r = centered(area, width, rows.saturating_add(4));
    f.render_widget(Clear, r);
    let block = frame(t, title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [text, _, hint] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    f.render_widget(body, text);
    f.render_widget(Paragraph::new(keys), hint);
}

/// Work in progress (the write, the send): what is done to what, a gauge, and the keys or,
/// once they were used, what is happening instead.
pub fn progress_box(f: &mut Frame, screen: Rect, t: &Theme, title: &str, head: &str, gauge: (f64, String), hint: Line) {
    let r = centered(screen, 66, 8);
    f.render_widget(Clear, r);
    let block = frame(t, title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [text, bar, _, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    f.render_widget(
        Paragraph::new(crate::present::fit(head, usize::from(inner.width))),
        text,
    );
    let (ratio, label) = gauge;
    f.render_widget(
        ratatui::widgets::Gauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label)
            .gauge_style(t.key()),
        bar,
    );
    f.render_widget(Paragraph::new(hint), keys);
}

/// Esc and q while work runs (the write, the send): stop it, or stop it and quit once it has
/// stopped; each asked for once.
pub fn stop(action: Action, cancelling: &mut bool, quitting: &mut bool) -> Outcome {
    match action {
        Action::CancelWrite if !*cancelling => {
            *cancelling = true;
            Outcome::Also(Intent::CancelWrite)
        }
        Action::CancelAndQuit if !*quitting => {
            *cancelling = true;
            *quitting = true;
            Outcome::Also(Intent::CancelAndQuit)
        }
        _ => Outcome::Keep,
    }
}

/// How far along `done` of `total` is (0 while the total is not known).
#[must_use]
pub fn ratio(done: usize, total: Option<usize>) -> f64 {
    match total {
        Some(total) if total > 0 => (done as f64 / total as f64).min(1.0),
        _ => 0.0,
    }
}

/// A scrolled list of lines (help, details, results): the offset kept in range by `clamp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scroll {
    pub offset: usize,
}

impl Scroll {
    pub fn move_by(&mut self, action: Action, visible: usize, total: usize) {
        let page = visible.max(1);
        self.offset = match action {
            Action::Up => self.offset.saturating_sub(1),
            Action::Down => self.offset + 1,
            Action::PageUp => self.offset.saturating_sub(page),
            Action::PageDown => self.offset + page,
            Action::Top => 0,
            Action::Bottom => total,
            _ => self.offset,
        };
        self.clamp(visible, total);
    }

    pub fn clamp(&mut self, visible: usize, total: usize) {
        self.offset = self.offset.min(total.saturating_sub(visible));
    }
}

/// A titled box of wrapped text that scrolls: the detail view and the result of a write.
#[derive(Debug, Clone)]
pub struct TextBox {
    pub title: String,
    pub lines: Vec<(super::theme::Tone, String)>,
    pub scroll: Scroll,
    pub context: Context,
}

const TEXT_WIDTH: u16 = 78;

impl TextBox {
    /// The box, and its lines wrapped to its width.
    fn layout(&self, screen: Rect) -> (Rect, Vec<(super::theme::Tone, String)>) {
        let inner_w = usize::from(TEXT_WIDTH.min(screen.width.saturating_sub(2)).saturating_sub(2));
        let wrapped: Vec<(super::theme::Tone, String)> = self
            .lines
            .iter()
            .flat_map(|(tone, l)| crate::present::wrap(l, inner_w).into_iter().map(move |w| (*tone, w)))
            .collect();
        // Two rows of border, a blank row and the keys.
        let h = u16::try_from(wrapped.len() + 4).unwrap_or(u16::MAX);
        (centered(screen, TEXT_WIDTH, h), wrapped)
    }

    fn visible(&self, screen: Rect) -> (usize, usize) {
        let (r, wrapped) = self.layout(screen);
        (usize::from(r.height.saturating_sub(4)), wrapped.len())
    }

    pub fn on_action(&mut self, action: Action, screen: Rect) -> Outcome {
        if action == Action::Close {
            return Outcome::Close;
        }
        let (visible, total) = self.visible(screen);
        self.scroll.move_by(action, visible, total);
        Outcome::Keep
    }

    pub fn clamp(&mut self, screen: Rect) {
        let (visible, total) = self.visible(screen);
        self.scroll.clamp(visible, total);
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let (r, wrapped) = self.layout(screen);
        let visible = usize::from(r.height.saturating_sub(4));
        let more = wrapped.len() > visible;
        let title = if more {
            format!("{} (↑↓ scroll)", self.title)
        } else {
            self.title.clone()
        };
        f.render_widget(Clear, r);
        let block = frame(t, &title);
        let inner = block.inner(r);
        f.render_widget(block, r);
        let [text, _, hint] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(1), Constraint::Length(1)]).areas(inner);
        let lines: Vec<Line> = wrapped
            .into_iter()
            .skip(self.scroll.offset)
            .take(visible)
            .map(|(tone, l)| Line::styled(l, t.tone(tone)))
            .collect();
        f.render_widget(Paragraph::new(lines), text);
        f.render_widget(Paragraph::new(keys_line(t, self.context)), hint);
    }
}

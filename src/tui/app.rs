//! The review screen's state and its `update`: one message in, new state and the effects to
//! run out (scans, plans, saves, writes — the runtime does them). Nothing here reads or
//! writes a file; drawing reads this state and never changes it.

mod decisions;
mod plans;
mod sends;
#[cfg(test)]
mod tests;
mod writes;

use std::path::PathBuf;
use std::sync::Arc;

use ratatui::crossterm::event::{KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::dialogs::detail::Detail;
use super::dialogs::help::Help;
use super::dialogs::{Dialog, Intent, Outcome};
use super::effects::Init;
use super::keys::{self, Action, Context};
use super::layout::{self, inner_height, inner_width};
use super::messages::{Effect, Msg};
use super::panes::browser::Browser;
use super::panes::diff::DiffPane;
use super::panes::mapping::Mapping;
use super::theme::{Notice, Theme};
use crate::plan::Planner;
use crate::review::Workspace;
use crate::scan::{Index, Outcome as ScanOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Browser,
    Diff,
    Mapping,
}

impl Pane {
    fn context(self) -> Context {
        match self {
            Pane::Browser => Context::Browser,
            Pane::Diff => Context::Diff,
            Pane::Mapping => Context::Mapping,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanState {
    pub done: usize,
    pub total: Option<usize>,
    /// Every file is read.
    pub read: bool,
    /// The Index is complete (XML assigned, files without a `PatientID` placed).
    pub finished: bool,
}

pub struct App {
    pub root: PathBuf,
    pub out: PathBuf,
    pub profile: String,
    pub theme: Theme,
    pub index: Arc<Index>,
    /// The plan in force (codes, links, repairs, XML owners, output paths).
    pub plan: Option<Arc<Planner>>,
    pub ws: Workspace,
    pub scan: ScanState,
    pub focus: Pane,
    pub browser: Browser,
    pub diff: DiffPane,
    pub mapping: Mapping,
    pub dialog: Option<Dialog>,
    pub message: Option<Notice>,
    pub size: (u16, u16),
    pub writing: bool,
    /// A send is running (verifying, then sending).
    pub sending: bool,
    generation: u64,
    /// The newest plan requested, and whether it is still being made.
    plan_generation: u64,
    planning: bool,
    /// Scan results that arrived while a plan was being made from the Index.
    held: Vec<ScanOutcome>,
    /// Decisions sent to be saved and not confirmed yet.
    unsaved: usize,
    /// After the next plan, put the selection on this file (an assignment moved it).
    follow: Option<PathBuf>,
    /// What the footer says about the decision the next plan follows.
    plan_note: Option<String>,
}

impl App {
    /// The screen at the start, and the first effect: the scan.
    #[must_use]
    pub fn init(init: Init, theme: Theme) -> (App, Vec<Effect>) {
        let mut app = App {
            index: Arc::new(Index::new(&init.root)),
            root: init.root,
            out: init.out,
            profile: init.profile,
            theme,
            plan: None,
            ws: init.ws,
            scan: ScanState::default(),
            focus: Pane::Browser,
            browser: Browser::default(),
            diff: DiffPane::default(),
            mapping: Mapping::default(),
            dialog: None,
            message: init.notices.first().map(|n| Notice::error(n.clone())),
            size: (80, 24),
            writing: false,
            sending: false,
            generation: 0,
            plan_generation: 0,
            planning: false,
            held: Vec::new(),
            unsaved: 0,
            follow: None,
            plan_note: None,
        };
        app.rebuild();
        (app, vec![Effect::Scan])
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.clamp_all();
                vec![]
            }
            Msg::ScanTotal(t) => {
                self.scan.total = Some(t);
                vec![]
            }
            Msg::ScanBatch(outcomes) => self.on_scanned(outcomes),
            Msg::ScanDone => self.on_scan_done(),
            Msg::ScanFailed(e) => {
                self.scan.read = true;
                self.scan.finished = true;
                self.message = Some(Notice::error(e));
                self.rebuild();
                vec![]
            }
            Msg::Prepared(p) => self.on_prepared(*p),
            Msg::Diff { generation, data } => self.on_diff(generation, data),
            Msg::Saved(result) => self.on_saved(result),
            Msg::WriteProgress { done, total } => {
                if let Some(Dialog::Writing(w)) = &mut self.dialog {
                    w.progress(done, total);
                }
                vec![]
            }
            Msg::WriteDone { result, at } => self.on_written(result, &at),
            Msg::Nodes { patients, result } => self.on_nodes(patients, result),
            Msg::SendProgress { stage, done, total } => {
                self.on_send_progress(stage, done, total);
                vec![]
            }
            Msg::SendDone(result) => self.on_sent(result),
        }
    }

    /// The key table's context: the open dialog's, the filter's, or the focused pane's.
    #[must_use]
    pub fn context(&self) -> Context {
        match &self.dialog {
            Some(d) => d.context(),
            None if self.browser.filtering => Context::Filter,
            None => self.focus.context(),
        }
    }

    #[must_use]
    pub fn screen(&self) -> Rect {
        Rect::new(0, 0, self.size.0, self.size.1)
    }

    fn browser_page(&self) -> usize {
        layout::areas(self.size).map_or(10, |a| inner_height(a.browser)).max(1)
    }

    /// The changes pane's inside (width, height).
    fn diff_size(&self) -> (usize, usize) {
        layout::areas(self.size).map_or((60, 10), |a| (inner_width(a.diff), inner_height(a.diff)))
    }

    fn clamp_all(&mut self) {
        let page = self.browser_page();
        self.browser.clamp(page);
        let size = self.diff_size();
        self.diff.clamp(size);
        let screen = self.screen();
        if let Some(d) = &mut self.dialog {
            d.clamp(screen);
        }
    }

    fn note(&mut self, text: impl Into<String>) {
        self.message = Some(Notice::info(text));
    }

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.kind == KeyEventKind::Release {
            return vec![];
        }
        let context = self.context();
        if self.dialog.is_some() || self.browser.filtering {
            // Ctrl-C quits from anywhere the table says (not from the write's dialog).
            if keys::action_for(&k, context) == Some(Action::Quit) {
                return vec![Effect::Quit];
            }
        }
        if self.dialog.is_some() {
            let Some(action) = keys::action_for(&k, context) else {
                return vec![];
            };
            let screen = self.screen();
            let outcome = match &mut self.dialog {
                Some(d) => d.on_action(action, screen),
                None => Outcome::Keep,
            };
            return self.on_outcome(outcome);
        }
        if self.browser.filtering {
            return self.on_filter_key(k);
        }
        self.message = None;
        let Some(action) = keys::action_for(&k, context) else {
            return vec![];
        };
        self.browser.moved = true;
        self.on_action(action)
    }

    fn on_outcome(&mut self, outcome: Outcome) -> Vec<Effect> {
        match outcome {
            Outcome::Keep => vec![],
            Outcome::Notice(n) => {
                self.message = Some(n);
                vec![]
            }
            Outcome::Close => {
                self.dialog = None;
                vec![]
            }
            Outcome::Do(intent) => {
                self.dialog = None;
                self.on_intent(intent)
            }
            Outcome::Also(intent) => self.on_intent(intent),
        }
    }

    fn on_intent(&mut self, intent: Intent) -> Vec<Effect> {
        match intent {
            Intent::Write {
                patients,
                recode,
                accept_burned_in,
            } => self.start_write(patients, recode, accept_burned_in),
            Intent::Declined => {
                self.note("nothing was written");
                vec![]
            }
            Intent::ApproveUnreviewed(patients) => self.approve_unreviewed(patients),
            Intent::Pick { target, choice } => self.on_pick(target, choice),
            Intent::CancelWrite => {
                self.note(if self.sending {
                    "stopping the send…"
                } else {
                    "cancelling the write…"
                });
                vec![Effect::CancelWrite]
            }
            Intent::CancelAndQuit => {
                self.note(if self.sending {
                    "stopping the send, then quitting…"
                } else {
                    "cancelling the write, then quitting…"
                });
                vec![Effect::CancelWrite]
            }
            Intent::Send(patients) => self.ask_for_node(patients),
        }
    }

    fn on_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => vec![Effect::Quit],
            Action::Help => {
                self.dialog = Some(Dialog::Help(Help::default()));
                vec![]
            }
            Action::NextPane | Action::PrevPane => {
                let order = [Pane::Browser, Pane::Diff, Pane::Mapping];
                let i = order.iter().position(|p| *p == self.focus).unwrap_or(0);
                let step = if action == Action::NextPane { 1 } else { order.len() - 1 };
                self.focus = order[(i + step) % order.len()];
                vec![]
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top | Action::Bottom => {
                self.move_in_focus(action)
            }
            Action::Expand => self.expand(),
            Action::Collapse => self.collapse(),
            Action::Open => self.open_row(),
            Action::Filter => {
                self.browser.filtering = true;
                vec![]
            }
            Action::ClearFilter => self.clear_filter(),
            Action::Details if self.focus == Pane::Mapping => {
                self.open_group_detail();
                vec![]
            }
            Action::Details => {
                self.open_detail();
                vec![]
            }
            Action::Link => self.open_source_picker(),
            Action::ToggleRepair => self.toggle_repair(),
            Action::Review => self.toggle_reviewed(),
            Action::Approve => self.approve_selected(),
            Action::ApproveAll => self.approve_all(),
            Action::Send => self.send_selected(),
            Action::SendAll => self.send_all(),
            _ => vec![],
        }
    }

    fn move_in_focus(&mut self, action: Action) -> Vec<Effect> {
        match self.focus {
            Pane::Browser => {
                if self.browser.move_by(action, self.browser_page()) {
                    self.refresh_diff()
                } else {
                    vec![]
                }
            }
            Pane::Diff => {
                let size = self.diff_size();
                self.diff.move_by(action, size);
                vec![]
            }
            Pane::Mapping => {
                let n = self.patient_groups().len();
                self.mapping.move_by(action, n);
                vec![]
            }
        }
    }

    fn expand(&mut self) -> Vec<Effect> {
        let Some(row) = self.browser.selected_row().cloned() else {
            return vec![];
        };
        if row.expandable && !row.expanded {
            self.browser.expanded.insert(row.node);
            self.rebuild();
            vec![]
        } else if row.expanded && self.browser.selected + 1 < self.browser.rows.len() {
            self.browser.move_by(Action::Down, self.browser_page());
            self.refresh_diff()
        } else {
            vec![]
        }
    }

    fn collapse(&mut self) -> Vec<Effect> {
        let Some(row) = self.browser.selected_row().cloned() else {
            return vec![];
        };
        if row.expanded && self.browser.expanded.remove(&row.node) {
            self.rebuild();
            return vec![];
        }
        match self.browser.parent() {
            Some(p) => {
                self.browser.selected = p;
                self.browser.clamp(self.browser_page());
                self.refresh_diff()
            }
            None => vec![],
        }
    }

    fn open_row(&mut self) -> Vec<Effect> {
        use super::rows::Node;
        match self.browser.selected_node().cloned() {
            Some(Node::Xml(_, path)) => self.open_xml_picker(&path),
            Some(Node::UnplacedFile(path)) => self.open_file_picker(&path),
            Some(Node::File(_, path)) if self.index.orphans().any(|h| h.instance.path == path) => {
                self.open_file_picker(&path)
            }
            Some(_) => {
                let expanded = self.browser.selected_row().is_some_and(|r| r.expanded);
                if expanded { self.collapse() } else { self.expand() }
            }
            None => vec![],
        }
    }

    fn on_filter_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        use ratatui::crossterm::event::KeyCode;
        match keys::action_for(&k, Context::Filter) {
            Some(Action::KeepFilter) => {
                self.browser.filtering = false;
                let n = self.browser.rows.iter().filter(|r| r.hit).count();
                self.note(match n {
                    0 => "nothing matches the filter (Esc clears it)".to_string(),
                    1 => "1 matching row (Esc clears the filter)".to_string(),
                    n => format!("{n} matching rows (Esc clears the filter)"),
                });
                return vec![];
            }
            Some(Action::ClearFilter) => {
                self.browser.filtering = false;
                return self.clear_filter();
            }
            Some(Action::DeleteChar) => {
                self.browser.filter.pop();
            }
            _ => match k.code {
                KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => self.browser.filter.push(c),
                _ => return vec![],
            },
        }
        self.rebuild();
        self.browser.select_first_hit(self.browser_page());
        self.refresh_diff()
    }

    fn clear_filter(&mut self) -> Vec<Effect> {
        if self.browser.filter.is_empty() {
            return vec![];
        }
        // What the filter opened stays open around the selection, so that it stays put.
        let ancestors = self.browser.ancestors();
        self.browser.expanded.extend(ancestors);
        self.browser.filter.clear();
        self.rebuild();
        self.note("filter cleared");
        self.refresh_diff()
    }

    fn open_detail(&mut self) {
        let patient = self.diff.target.as_ref().map(|t| t.patient.clone()).unwrap_or_default();
        match self.diff.selected().and_then(|row| Detail::of(row, &patient)) {
            Some(d) => {
                let mut d = Dialog::Detail(d);
                d.clamp(self.screen());
                self.dialog = Some(d);
            }
            None => self.note("nothing more to show for this row"),
        }
    }

    fn open_group_detail(&mut self) {
        match super::view::selected_group_details(self, false) {
            Some((name, lines)) => {
                let mut d = Dialog::Detail(Detail::lines(name, lines));
                d.clamp(self.screen());
                self.dialog = Some(d);
            }
            None => self.note("no mask series selected"),
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        let Some(a) = layout::areas(self.size) else {
            return vec![];
        };
        if self.dialog.is_some() {
            return vec![];
        }
        let inside = |r: Rect| m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height;
        let pane = if inside(a.browser) {
            Pane::Browser
        } else if inside(a.diff) {
            Pane::Diff
        } else if inside(a.mapping) {
            Pane::Mapping
        } else {
            return vec![];
        };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                if pane == Pane::Browser && m.row > a.browser.y {
                    let i = self.browser.offset + usize::from(m.row - a.browser.y - 1);
                    if i < self.browser.rows.len() && i != self.browser.selected {
                        self.browser.selected = i;
                        self.browser.moved = true;
                        return self.refresh_diff();
                    }
                }
                vec![]
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                self.focus = pane;
                let up = m.kind == MouseEventKind::ScrollUp;
                self.move_in_focus(if up { Action::Up } else { Action::Down })
            }
            _ => vec![],
        }
    }
}

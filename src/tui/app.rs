//! The TUI's model: what is on screen and what the user decided, changed only by `update`
//! (which returns the effects to run: scans, plans, writes). Drawing reads it, never changes it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::keys::{self, Action, Context};
use super::theme::Theme;
use super::view;
use crate::apply::ApplyReport;
use crate::config::Profile;
use crate::key::KeyStore;
use crate::plan::summary::{Summary, summarise};
use crate::plan::{FileError, Planner};
use crate::review::{ReviewState, Status, Workspace};
use crate::scan::{Index, Instance, Outcome};

/// What the TUI works on.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub out: PathBuf,
    pub key_path: PathBuf,
    pub profile: Profile,
}

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

/// A row of the folder browser.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    Patient(String),
    Study(String, String),
    Series(String, String, String),
    File(String, PathBuf),
    /// A segmentation group (masks, SEG, RTSTRUCT), by its key.
    Group(String, String),
    /// An XML sidecar: of a patient, or (None) of none yet.
    Xml(Option<String>, PathBuf),
    /// The XML files that belong to no patient.
    UnassignedXml,
    Unreadable,
    UnreadableFile(PathBuf),
}

impl Node {
    pub fn patient(&self) -> Option<&str> {
        match self {
            Node::Patient(p) | Node::Study(p, _) | Node::Series(p, _, _) | Node::File(p, _) | Node::Group(p, _) => {
                Some(p)
            }
            Node::Xml(p, _) => p.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub node: Node,
    pub depth: u8,
    pub expandable: bool,
    pub expanded: bool,
    pub label: String,
    pub detail: String,
    pub status: Option<Status>,
}

#[derive(Debug, Default)]
pub struct Browser {
    pub rows: Vec<Row>,
    pub selected: usize,
    pub offset: usize,
    pub expanded: BTreeSet<Node>,
    pub filter: String,
    pub filtering: bool,
}

impl Browser {
    pub fn selected_node(&self) -> Option<&Node> {
        self.rows.get(self.selected).map(|r| &r.node)
    }
}

/// The files a diff is about.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffTarget {
    pub patient: String,
    pub label: String,
    /// The one file, when a file is selected (its path is shown).
    pub file: Option<PathBuf>,
    pub instances: Vec<Instance>,
    pub xml: Vec<crate::scan::XmlFile>,
}

#[derive(Debug, Clone)]
pub struct DiffData {
    pub summary: Summary,
    pub failed: Vec<FileError>,
    pub xml: Vec<crate::plan::XmlFilePlan>,
}

#[derive(Debug, Default)]
pub struct DiffView {
    pub target: Option<DiffTarget>,
    pub generation: u64,
    pub data: Option<DiffData>,
    pub scroll: usize,
}

/// What the confirmation dialog says will happen.
#[derive(Debug, Clone)]
pub struct ConfirmFacts {
    pub files: usize,
    pub new_codes: Vec<String>,
    pub summary: Summary,
    pub failed: usize,
    pub unreadable_nearby: usize,
    pub already_written: Vec<(String, String)>,
    /// Segmentation groups of these patients by link status, e.g. ("resolved", 3).
    pub mapping: Vec<(&'static str, usize)>,
    /// Groups without a source (unmatched or ambiguous): their folders.
    pub unlinked: Vec<String>,
    /// XML files of these patients that will be written.
    pub xml: usize,
    /// XML files of no patient (in the whole folder): not written.
    pub unassigned_xml: usize,
}

#[derive(Debug, Clone)]
pub struct Confirm {
    pub patients: Vec<String>,
    pub all_reviewed: bool,
    pub generation: u64,
    pub facts: Option<ConfirmFacts>,
    pub yes: bool,
}

#[derive(Debug, Clone)]
pub enum Dialog {
    /// The help screen, scrolled by this many lines.
    Help(usize),
    Confirm(Confirm),
    Writing {
        patients: Vec<String>,
        done: usize,
        total: usize,
        cancelling: bool,
        /// `q` was pressed: ask whether to cancel and quit.
        asking_quit: bool,
    },
    Result {
        title: String,
        lines: Vec<(String, bool)>,
    },
    /// Choosing the source series of a segmentation group.
    Picker(Picker),
}

/// One choice in the source picker.
#[derive(Debug, Clone)]
pub struct PickOption {
    /// `None`: go back to the automatic link.
    pub series_uid: Option<String>,
    pub label: String,
    pub note: String,
}

/// What a picker decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickFor {
    /// The source series of a segmentation group (by key).
    Group(String),
    /// The patient of an XML file.
    Xml(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Picker {
    pub target: PickFor,
    pub title: String,
    pub options: Vec<PickOption>,
    pub selected: usize,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ScanState {
    pub done: usize,
    pub total: Option<usize>,
    pub finished: bool,
}

/// Something that happened.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    ScanTotal(usize),
    ScanBatch(Vec<Outcome>),
    ScanDone,
    ScanFailed(String),
    Diff { generation: u64, data: DiffData },
    WriteProgress { done: usize, total: usize },
    WriteDone(Result<ApplyReport, String>),
}

/// Work for the runtime.
#[derive(Debug)]
pub enum Effect {
    Quit,
    Diff {
        generation: u64,
        /// The confirmation dialog's check, not the diff pane's.
        for_confirm: bool,
        request: DiffRequest,
    },
    Write {
        index: Arc<Index>,
        planner: Arc<Planner>,
        patients: BTreeSet<String>,
    },
    CancelWrite,
}

/// Plan these files of one patient (done off the UI thread).
#[derive(Debug, Clone)]
pub struct DiffRequest {
    pub root: PathBuf,
    pub planner: Arc<Planner>,
    pub patient: String,
    pub instances: Vec<Instance>,
    pub xml: Vec<crate::scan::XmlFile>,
}

/// Plans the requested files and summarises them (library calls only).
pub fn compute_diff(req: &DiffRequest) -> DiffData {
    use rayon::prelude::*;
    let results: Vec<_> = req
        .instances
        .par_iter()
        .map(|i| req.planner.plan_file(&req.root, i, &req.patient).map(|(_, fp)| fp))
        .collect();
    let mut plans = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(p) => plans.push(p),
            Err(e) => failed.push(e),
        }
    }
    let mut xml = Vec::new();
    for x in &req.xml {
        match req.planner.plan_xml(&req.root, x) {
            Ok((_, fp)) => xml.push(fp),
            Err(e) => failed.push(e),
        }
    }
    DiffData {
        summary: summarise(&plans),
        failed,
        xml,
    }
}

pub struct App {
    pub opts: Options,
    pub theme: Theme,
    pub index: Arc<Index>,
    pub scan: ScanState,
    pub key: KeyStore,
    pub review: ReviewState,
    pub ws: Workspace,
    planner: Option<Arc<Planner>>,
    pub focus: Pane,
    pub browser: Browser,
    pub diff: DiffView,
    /// The highlighted group in the mapping pane.
    pub mapping_selected: usize,
    pub dialog: Option<Dialog>,
    pub writing: bool,
    pub message: Option<(String, bool)>,
    pub size: (u16, u16),
    generation: u64,
    /// The user has moved the selection: rows arriving from the scan no longer move it.
    moved: bool,
}

impl App {
    pub fn new(opts: Options, key: KeyStore, review: ReviewState, theme: Theme) -> App {
        let (ws, failed) = match review.workspace(&opts.root) {
            Ok(ws) => (ws, None),
            Err(e) => (Workspace::default(), Some(e.to_string())),
        };
        let index = Arc::new(Index::new(&opts.root));
        let mut app = App {
            opts,
            theme,
            index,
            scan: ScanState::default(),
            key,
            review,
            ws,
            planner: None,
            focus: Pane::Browser,
            browser: Browser::default(),
            diff: DiffView::default(),
            mapping_selected: 0,
            dialog: None,
            writing: false,
            message: None,
            size: (80, 24),
            generation: 0,
            moved: false,
        };
        if let Some(w) = failed.as_ref().or(app.key.warnings.first()) {
            app.message = Some((w.clone(), true));
        }
        app.rebuild_rows();
        app
    }

    /// The planner for the current index, key store and review decisions (rebuilt when one
    /// of them changed), made by the same `plan::prepare` the CLI uses.
    pub fn planner(&mut self) -> Arc<Planner> {
        if let Some(p) = &self.planner {
            return p.clone();
        }
        // While the scan runs the Index grows batch by batch: codes and edits are enough for
        // the diff pane; links and XML assignments need every file, so they wait for the end.
        if !self.scan.finished {
            let p = Arc::new(Planner::new(&self.index, self.opts.profile.clone(), &self.key));
            self.planner = Some(p.clone());
            return p;
        }
        let prepared = crate::plan::prepare(&self.index, self.opts.profile.clone(), &self.key, &self.ws);
        if let Some(s) = prepared.stale.first() {
            self.message = Some((s.to_string(), true));
        }
        let p = Arc::new(prepared.planner);
        self.planner = Some(p.clone());
        p
    }

    /// The SeriesNumber a planned repair gives a file, if it is repaired.
    pub fn planned_repair(&self, rel: &Path) -> Option<i64> {
        self.planner.as_ref()?.repair(rel).map(|r| r.series_number)
    }

    /// Why an XML file belongs to no patient.
    pub fn unassigned_reason(&self, path: &Path) -> Option<String> {
        self.planner
            .as_ref()?
            .unassigned_xml
            .iter()
            .find(|u| u.path == path)
            .map(|u| u.reason.clone())
    }

    /// The segmentation links in force (from the current planner).
    pub fn links(&self) -> Option<&crate::link::Links> {
        self.planner.as_ref().and_then(|p| p.links.as_deref())
    }

    pub fn code_of(&self, patient: &str) -> Option<String> {
        self.key.code_for(patient).map(str::to_string).or_else(|| {
            self.planner
                .as_ref()
                .and_then(|p| p.code(patient).map(|c| format!("{c} (new)")))
        })
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.keep_visible();
                vec![]
            }
            Msg::ScanTotal(t) => {
                self.scan.total = Some(t);
                vec![]
            }
            Msg::ScanBatch(outcomes) => {
                let index = Arc::make_mut(&mut self.index);
                for o in outcomes {
                    self.scan.done += 1;
                    index.add_outcome(o);
                }
                self.planner = None;
                self.rebuild_rows();
                if !self.moved {
                    self.browser.selected = 0;
                }
                // Only a change of the selected patient asks for a new diff (cheap to compare).
                let selected = self.browser.selected_node().and_then(Node::patient);
                let shown = self.diff.target.as_ref().map(|t| t.patient.as_str());
                if !self.moved && selected != shown {
                    self.refresh_diff()
                } else {
                    vec![]
                }
            }
            Msg::ScanDone => {
                Arc::make_mut(&mut self.index).finish();
                self.scan.finished = true;
                // The review state names patients by keyed hash: read it again now that every
                // patient of the folder is known.
                self.review
                    .know(self.index.patients.iter().map(|p| p.patient_id.as_str()));
                match self.review.workspace(&self.opts.root) {
                    Ok(ws) => self.ws = ws,
                    Err(e) => self.message = Some((e.to_string(), true)),
                }
                self.planner = None;
                self.planner();
                self.rebuild_rows();
                self.refresh_diff()
            }
            Msg::ScanFailed(e) => {
                self.scan.finished = true;
                self.message = Some((e, true));
                vec![]
            }
            Msg::Diff { generation, data } => {
                let for_confirm = matches!(&self.dialog, Some(Dialog::Confirm(c)) if c.generation == generation);
                if for_confirm {
                    let planner = self.planner();
                    let (index, ws) = (&self.index, &self.ws);
                    if let Some(Dialog::Confirm(c)) = &mut self.dialog {
                        c.facts = Some(confirm_facts(index, ws, &planner, &c.patients, data));
                    }
                    return vec![];
                }
                if generation == self.diff.generation {
                    self.diff.data = Some(data);
                }
                vec![]
            }
            Msg::WriteProgress { done, total } => {
                if let Some(Dialog::Writing { done: d, total: t, .. }) = &mut self.dialog {
                    *d = done;
                    *t = total;
                }
                vec![]
            }
            Msg::WriteDone(result) => self.on_written(result),
        }
    }

    fn context(&self) -> Context {
        self.focus.context()
    }

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.kind == ratatui::crossterm::event::KeyEventKind::Release {
            return vec![];
        }
        if self.dialog.is_some() {
            return self.on_dialog_key(k);
        }
        if self.browser.filtering {
            return self.on_filter_key(k);
        }
        self.message = None;
        let Some(action) = keys::action_for(&k, self.context()) else {
            return vec![];
        };
        self.moved = true;
        self.on_action(action)
    }

    fn on_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => {
                // While writing, the writing dialog is open and handles `q` itself.
                vec![Effect::Quit]
            }
            Action::Help => {
                self.dialog = Some(Dialog::Help(0));
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
            Action::Filter => {
                self.browser.filtering = true;
                vec![]
            }
            Action::Open if self.focus == Pane::Mapping => {
                self.open_picker();
                vec![]
            }
            Action::Open if self.focus == Pane::Browser => match self.browser.selected_node().cloned() {
                Some(Node::Xml(_, path)) => {
                    if self.scan.finished {
                        self.open_xml_picker(path);
                    } else {
                        self.message = Some(("wait for the scan to finish".into(), false));
                    }
                    vec![]
                }
                Some(_) => {
                    let expanded = self.browser.rows.get(self.browser.selected).is_some_and(|r| r.expanded);
                    if expanded { self.collapse() } else { self.expand() }
                }
                None => vec![],
            },
            Action::Open => vec![],
            Action::ToggleRepair => self.toggle_repair(),
            Action::Review => {
                self.toggle_reviewed();
                vec![]
            }
            Action::Approve => self.approve_selected(),
            Action::ApproveAll => self.approve_all(),
        }
    }

    fn page(&self) -> usize {
        view::areas(self.size)
            .map(|a| usize::from(a.browser.height.saturating_sub(2)))
            .unwrap_or(10)
            .max(1)
    }

    fn move_in_focus(&mut self, action: Action) -> Vec<Effect> {
        let page = self.page();
        match self.focus {
            Pane::Browser => {
                let n = self.browser.rows.len();
                if n == 0 {
                    return vec![];
                }
                let s = self.browser.selected;
                self.browser.selected = match action {
                    Action::Up => s.saturating_sub(1),
                    Action::Down => (s + 1).min(n - 1),
                    Action::PageUp => s.saturating_sub(page),
                    Action::PageDown => (s + page).min(n - 1),
                    Action::Top => 0,
                    _ => n - 1,
                };
                self.keep_visible();
                if self.browser.selected != s {
                    self.refresh_diff()
                } else {
                    vec![]
                }
            }
            Pane::Mapping => {
                let n = self.patient_groups().len();
                if n > 0 {
                    let s = self.mapping_selected.min(n - 1);
                    self.mapping_selected = match action {
                        Action::Up => s.saturating_sub(1),
                        Action::Down => (s + 1).min(n - 1),
                        Action::PageUp | Action::Top => 0,
                        _ => n - 1,
                    };
                }
                vec![]
            }
            Pane::Diff => {
                let s = self.diff.scroll;
                self.diff.scroll = match action {
                    Action::Up => s.saturating_sub(1),
                    Action::Down => s + 1,
                    Action::PageUp => s.saturating_sub(page),
                    Action::PageDown => s + page,
                    Action::Top => 0,
                    _ => usize::MAX / 2,
                };
                vec![]
            }
        }
    }

    fn keep_visible(&mut self) {
        let h = self.page();
        let b = &mut self.browser;
        if b.selected < b.offset {
            b.offset = b.selected;
        } else if b.selected >= b.offset + h {
            b.offset = b.selected + 1 - h;
        }
    }

    fn expand(&mut self) -> Vec<Effect> {
        let Some(row) = self.browser.rows.get(self.browser.selected).cloned() else {
            return vec![];
        };
        if row.expandable && !row.expanded {
            self.browser.expanded.insert(row.node);
            self.rebuild_rows();
            vec![]
        } else if row.expanded && self.browser.selected + 1 < self.browser.rows.len() {
            self.browser.selected += 1;
            self.keep_visible();
            self.refresh_diff()
        } else {
            vec![]
        }
    }

    fn collapse(&mut self) -> Vec<Effect> {
        let Some(row) = self.browser.rows.get(self.browser.selected).cloned() else {
            return vec![];
        };
        if row.expanded {
            self.browser.expanded.remove(&row.node);
            self.rebuild_rows();
            return vec![];
        }
        // Go to the parent row.
        let parent = self.browser.rows[..self.browser.selected]
            .iter()
            .rposition(|r| r.depth < row.depth);
        if let Some(p) = parent {
            self.browser.selected = p;
            self.keep_visible();
            return self.refresh_diff();
        }
        vec![]
    }

    fn on_filter_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        match k.code {
            KeyCode::Esc => {
                self.browser.filtering = false;
                self.browser.filter.clear();
            }
            KeyCode::Enter => self.browser.filtering = false,
            KeyCode::Backspace => {
                self.browser.filter.pop();
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => self.browser.filter.push(c),
            _ => return vec![],
        }
        let before = self.browser.selected_node().cloned();
        self.rebuild_rows();
        if self.browser.selected_node() != before.as_ref() {
            self.refresh_diff()
        } else {
            vec![]
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        if self.dialog.is_some() {
            return vec![];
        }
        let Some(a) = view::areas(self.size) else { return vec![] };
        let inside = |r: ratatui::layout::Rect| {
            m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height
        };
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
                        return self.refresh_diff();
                    }
                }
                vec![]
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                self.focus = pane;
                let a = if m.kind == MouseEventKind::ScrollUp {
                    Action::Up
                } else {
                    Action::Down
                };
                self.move_in_focus(a)
            }
            _ => vec![],
        }
    }

    // ----- segmentation mapping -----

    /// The selected patient's segmentation groups, in the mapping pane's order.
    pub fn patient_groups(&self) -> Vec<&crate::link::SegmentationGroup> {
        let (Some(links), Some(pid)) = (self.links(), self.selected_patient()) else {
            return Vec::new();
        };
        let mut groups: Vec<_> = links.groups.iter().filter(|g| g.patient_id == pid).collect();
        groups.sort_by(|a, b| (&a.folder, &a.key).cmp(&(&b.folder, &b.key)));
        groups
    }

    fn open_picker(&mut self) {
        let groups = self.patient_groups();
        let Some(g) = groups.get(self.mapping_selected.min(groups.len().saturating_sub(1))) else {
            self.message = Some(("this patient has no masks, SEG or RTSTRUCT".into(), false));
            return;
        };
        let Some(links) = self.links() else { return };
        let suggested = |uid: &str| g.suggestions.iter().find(|s| s.series_uid == uid);
        let for_uid = g.files.first().and_then(|f| {
            self.index
                .patient(&g.patient_id)?
                .instances()
                .find(|i| &i.path == f)
                .map(|i| i.frame_of_reference_uid.clone())
        });
        let mut options: Vec<PickOption> = links
            .sources
            .iter()
            .filter(|s| s.patient_id == g.patient_id && !s.localizer)
            .map(|s| {
                let mut notes = Vec::new();
                if g.source_series_uid() == Some(s.series_uid.as_str()) {
                    notes.push("current".to_string());
                }
                if for_uid
                    .as_deref()
                    .is_some_and(|f| !f.is_empty() && f == s.frame_of_reference_uid)
                {
                    notes.push("same frame of reference".to_string());
                }
                if let Some(sg) = suggested(&s.series_uid) {
                    let why: Vec<String> = sg
                        .reasons
                        .iter()
                        .map(|r| {
                            serde_json::to_value(r)
                                .ok()
                                .and_then(|v| v["reason"].as_str().map(|x| x.replace('-', " ")))
                                .unwrap_or_default()
                        })
                        .collect();
                    notes.push(format!("suggested: {}", why.join(", ")));
                }
                PickOption {
                    series_uid: Some(s.series_uid.clone()),
                    label: format!(
                        "{}/  {} {} · {} slices",
                        s.folder.display(),
                        s.modality,
                        s.description,
                        s.slices
                    ),
                    note: notes.join("; "),
                }
            })
            .collect();
        if self.ws.links.contains_key(&g.key) {
            options.insert(
                0,
                PickOption {
                    series_uid: None,
                    label: "automatic: what the references say".into(),
                    note: format!("now: {}", g.automatic_status.label()),
                },
            );
        }
        let selected = options
            .iter()
            .position(|o| o.series_uid.as_deref() == g.source_series_uid())
            .unwrap_or(0);
        let title = format!("Source of {}/ ({})", g.folder.display(), g.kind.label());
        let group = g.key.clone();
        if options.is_empty() {
            self.message = Some(("this patient has no series a mask could be drawn on".into(), true));
            return;
        }
        self.dialog = Some(Dialog::Picker(Picker {
            target: PickFor::Group(group),
            title,
            options,
            selected,
        }));
    }

    /// The patient picker for an XML file.
    fn open_xml_picker(&mut self, path: PathBuf) {
        let current = self
            .planner
            .as_ref()
            .and_then(|p| p.xml_owner(&path).map(|(pid, _)| pid.to_string()));
        let mut options: Vec<PickOption> = self
            .index
            .patients
            .iter()
            .map(|p| PickOption {
                series_uid: Some(p.patient_id.clone()),
                label: format!(
                    "{} → {}",
                    p.patient_id,
                    self.planner
                        .as_ref()
                        .and_then(|pl| pl.code(&p.patient_id))
                        .unwrap_or("…")
                ),
                note: if current.as_deref() == Some(p.patient_id.as_str()) {
                    "current".into()
                } else {
                    String::new()
                },
            })
            .collect();
        if self.ws.xml_assignments.contains_key(&path) {
            options.insert(
                0,
                PickOption {
                    series_uid: None,
                    label: "automatic: by its content or folder".into(),
                    note: String::new(),
                },
            );
        }
        let selected = options.iter().position(|o| o.series_uid == current).unwrap_or(0);
        self.dialog = Some(Dialog::Picker(Picker {
            title: format!("Patient of {}", path.display()),
            target: PickFor::Xml(path),
            options,
            selected,
        }));
    }

    fn on_picker_key(&mut self, mut p: Picker, k: KeyEvent) -> Vec<Effect> {
        match keys::action_for(&k, Context::Everywhere) {
            Some(Action::Up) => p.selected = p.selected.saturating_sub(1),
            Some(Action::Down) => p.selected = (p.selected + 1).min(p.options.len().saturating_sub(1)),
            _ => match k.code {
                KeyCode::Esc => {
                    self.dialog = None;
                    return vec![];
                }
                KeyCode::Enter => {
                    self.dialog = None;
                    let choice = p.options.get(p.selected).and_then(|o| o.series_uid.clone());
                    match p.target.clone() {
                        PickFor::Group(group) => {
                            self.save_review(|w| match &choice {
                                Some(uid) => {
                                    w.links.insert(group.clone(), uid.clone());
                                }
                                None => {
                                    w.links.remove(&group);
                                }
                            });
                            self.message = Some((
                                match choice {
                                    Some(_) => "linked by hand; the plan follows".into(),
                                    None => "back to the automatic link".into(),
                                },
                                false,
                            ));
                        }
                        PickFor::Xml(path) => {
                            self.save_review(|w| match &choice {
                                Some(pid) => {
                                    w.xml_assignments.insert(path.clone(), pid.clone());
                                }
                                None => {
                                    w.xml_assignments.remove(&path);
                                }
                            });
                            self.message = Some(("XML assigned; the plan follows".into(), false));
                        }
                    }
                    return self.replan();
                }
                _ => {}
            },
        }
        self.dialog = Some(Dialog::Picker(p));
        vec![]
    }

    fn toggle_repair(&mut self) -> Vec<Effect> {
        if self.focus != Pane::Mapping {
            return vec![];
        }
        let groups = self.patient_groups();
        let Some(g) = groups.get(self.mapping_selected.min(groups.len().saturating_sub(1))) else {
            return vec![];
        };
        if !g.repairable() {
            self.message = Some((
                format!(
                    "{} objects are not repaired (one object, not a series of slices)",
                    g.kind.label()
                ),
                false,
            ));
            return vec![];
        }
        let key = g.key.clone();
        let off = self.ws.no_repair.contains(&key);
        self.save_review(|w| {
            if off {
                w.no_repair.remove(&key);
            } else {
                w.no_repair.insert(key.clone());
            }
        });
        self.replan()
    }

    /// The plan changed (a link, a repair switch): rebuild and show it again.
    fn replan(&mut self) -> Vec<Effect> {
        self.planner = None;
        self.planner();
        self.rebuild_rows();
        self.diff.data = None;
        self.diff.target = None;
        self.refresh_diff()
    }

    // ----- review decisions -----

    fn selected_patient(&self) -> Option<String> {
        self.browser.selected_node().and_then(Node::patient).map(str::to_string)
    }

    fn save_review(&mut self, change: impl FnOnce(&mut Workspace)) {
        match self.review.update(&self.opts.root, change) {
            Ok(ws) => self.ws = ws,
            Err(e) => self.message = Some((e.to_string(), true)),
        }
    }

    fn toggle_reviewed(&mut self) {
        let Some(p) = self.selected_patient() else {
            self.message = Some(("select a patient first".into(), false));
            return;
        };
        let next = match self.ws.status(&p) {
            Status::Pending | Status::Failed => Status::Reviewed,
            Status::Reviewed => Status::Pending,
            s @ (Status::Approved | Status::Written) => {
                self.message = Some((format!("{p} is already {}", s.label()), false));
                return;
            }
        };
        self.save_review(|w| w.set_status(&p, next));
        self.rebuild_rows();
    }

    fn approve_selected(&mut self) -> Vec<Effect> {
        let Some(p) = self.selected_patient() else {
            self.message = Some(("select a patient to approve".into(), false));
            return vec![];
        };
        self.open_confirm(vec![p], false)
    }

    fn approve_all(&mut self) -> Vec<Effect> {
        let reviewed: Vec<String> = self
            .index
            .patients
            .iter()
            .filter(|p| self.ws.status(&p.patient_id) == Status::Reviewed)
            .map(|p| p.patient_id.clone())
            .collect();
        if reviewed.is_empty() {
            self.message = Some((
                "no reviewed patients: mark patients as reviewed with r first".into(),
                false,
            ));
            return vec![];
        }
        self.open_confirm(reviewed, true)
    }

    fn open_confirm(&mut self, patients: Vec<String>, all_reviewed: bool) -> Vec<Effect> {
        if !self.scan.finished {
            self.message = Some(("wait for the scan to finish before writing".into(), false));
            return vec![];
        }
        if self.writing {
            self.message = Some(("a write is already running".into(), false));
            return vec![];
        }
        self.generation += 1;
        let generation = self.generation;
        let instances: Vec<(String, Instance)> = patients
            .iter()
            .filter_map(|p| self.index.patient(p))
            .flat_map(|p| p.instances().map(move |i| (p.patient_id.clone(), i.clone())))
            .collect();
        self.dialog = Some(Dialog::Confirm(Confirm {
            patients: patients.clone(),
            all_reviewed,
            generation,
            facts: None,
            yes: false,
        }));
        let planner = self.planner();
        // One request per patient would need a merge; a confirmation covers the patients'
        // files in one summary, planned under each file's own patient.
        let mut effects = Vec::new();
        let root = self.opts.root.clone();
        if patients.len() == 1 {
            effects.push(Effect::Diff {
                generation,
                for_confirm: true,
                request: DiffRequest {
                    root,
                    xml: self
                        .index
                        .xml
                        .iter()
                        .filter(|x| planner.xml_owner(&x.path).map(|o| o.0) == Some(patients[0].as_str()))
                        .cloned()
                        .collect(),
                    planner,
                    patient: patients[0].clone(),
                    instances: instances.into_iter().map(|(_, i)| i).collect(),
                },
            });
        } else {
            // Several patients: the facts that matter (counts, codes) need no plan.
            let data = DiffData {
                summary: Summary {
                    files: instances.len(),
                    ..Summary::default()
                },
                failed: Vec::new(),
                xml: Vec::new(),
            };
            let planner = self.planner();
            let (index, ws) = (&self.index, &self.ws);
            if let Some(Dialog::Confirm(c)) = &mut self.dialog {
                c.facts = Some(confirm_facts(index, ws, &planner, &patients, data));
            }
        }
        effects
    }

    fn on_dialog_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(dialog) = self.dialog.clone() else {
            return vec![];
        };
        match dialog {
            Dialog::Help(scroll) => {
                let next = match keys::action_for(&k, Context::Everywhere) {
                    Some(Action::Up) => scroll.saturating_sub(1),
                    Some(Action::Down) => scroll + 1,
                    Some(Action::PageUp) => scroll.saturating_sub(10),
                    Some(Action::PageDown) => scroll + 10,
                    Some(Action::Top) => 0,
                    _ => {
                        if matches!(
                            k.code,
                            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?')
                        ) {
                            self.dialog = None;
                        }
                        return vec![];
                    }
                };
                self.dialog = Some(Dialog::Help(next));
                vec![]
            }
            Dialog::Result { .. } => {
                if matches!(
                    k.code,
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char(' ')
                ) {
                    self.dialog = None;
                }
                vec![]
            }
            Dialog::Writing { asking_quit: true, .. } => match k.code {
                KeyCode::Char('y') => vec![Effect::CancelWrite, Effect::Quit],
                KeyCode::Char('n') | KeyCode::Esc => {
                    if let Some(Dialog::Writing { asking_quit, .. }) = &mut self.dialog {
                        *asking_quit = false;
                    }
                    vec![]
                }
                _ => vec![],
            },
            Dialog::Writing { .. } => {
                if matches!(k.code, KeyCode::Esc | KeyCode::Char('c')) {
                    if let Some(Dialog::Writing { cancelling, .. }) = &mut self.dialog {
                        *cancelling = true;
                    }
                    return vec![Effect::CancelWrite];
                }
                if matches!(k.code, KeyCode::Char('q'))
                    && let Some(Dialog::Writing { asking_quit, .. }) = &mut self.dialog
                {
                    *asking_quit = true;
                }
                vec![]
            }
            Dialog::Picker(p) => self.on_picker_key(p, k),
            Dialog::Confirm(mut c) => match k.code {
                KeyCode::Esc | KeyCode::Char('n') => {
                    self.dialog = None;
                    self.message = Some(("nothing was written".into(), false));
                    vec![]
                }
                KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::Char('h') | KeyCode::Char('l') => {
                    c.yes = !c.yes;
                    self.dialog = Some(Dialog::Confirm(c));
                    vec![]
                }
                KeyCode::Char('y') => self.start_write(c),
                KeyCode::Enter if c.yes => self.start_write(c),
                KeyCode::Enter => {
                    self.dialog = None;
                    self.message = Some(("nothing was written".into(), false));
                    vec![]
                }
                _ => vec![],
            },
        }
    }

    fn start_write(&mut self, c: Confirm) -> Vec<Effect> {
        if c.facts.is_none() {
            self.message = Some(("still checking the files; answer again in a moment".into(), false));
            self.dialog = Some(Dialog::Confirm(c));
            return vec![];
        }
        let patients: BTreeSet<String> = c.patients.iter().cloned().collect();
        let list = c.patients.clone();
        self.save_review(|w| {
            for p in &list {
                w.set_status(p, Status::Approved);
            }
        });
        self.writing = true;
        self.dialog = Some(Dialog::Writing {
            patients: c.patients,
            done: 0,
            total: 0,
            cancelling: false,
            asking_quit: false,
        });
        self.rebuild_rows();
        let planner = self.planner();
        vec![Effect::Write {
            index: self.index.clone(),
            planner,
            patients,
        }]
    }

    fn on_written(&mut self, result: Result<ApplyReport, String>) -> Vec<Effect> {
        self.writing = false;
        let patients = match &self.dialog {
            Some(Dialog::Writing { patients, .. }) => patients.clone(),
            _ => self
                .index
                .patients
                .iter()
                .filter(|p| self.ws.status(&p.patient_id) == Status::Approved)
                .map(|p| p.patient_id.clone())
                .collect(),
        };
        let out = self.opts.out.clone();
        let (title, lines) = match result {
            Err(e) => {
                self.save_review(|w| {
                    for p in &patients {
                        w.set_status(p, Status::Failed);
                    }
                });
                ("Nothing was written".to_string(), vec![(e, true)])
            }
            Ok(report) => {
                let failed_of = |pid: &str| -> Vec<&FileError> {
                    let Some(p) = self.index.patient(pid) else {
                        return vec![];
                    };
                    report
                        .failed
                        .iter()
                        .filter(|f| p.instances().any(|i| i.path == f.path))
                        .collect()
                };
                let mut lines = Vec::new();
                let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
                let mut statuses = Vec::new();
                for p in &patients {
                    let failed = failed_of(p);
                    let status = if report.cancelled {
                        Status::Reviewed
                    } else if failed.is_empty() {
                        Status::Written
                    } else {
                        Status::Failed
                    };
                    statuses.push((p.clone(), status));
                    for f in failed {
                        lines.push((format!("{}: {}", f.path.display(), f.reason), true));
                    }
                }
                self.save_review(|w| {
                    for (p, s) in &statuses {
                        w.set_status(p, *s);
                        if *s == Status::Written {
                            let e = w.patients.entry(p.clone()).or_default();
                            e.written_at = Some(now.clone());
                            e.written_to = Some(out.clone());
                        }
                    }
                });
                let title = if report.cancelled {
                    format!(
                        "Cancelled: {} files were written, the rest not (write again to finish)",
                        report.written
                    )
                } else if report.failed.is_empty() {
                    format!("Written: {} files to {}", report.written, out.display())
                } else {
                    format!("{} files written, {} failed", report.written, report.failed.len())
                };
                if report.key_entries_created > 0 {
                    lines.insert(
                        0,
                        (
                            format!("{} new code(s) added to the key store", report.key_entries_created),
                            false,
                        ),
                    );
                }
                (title, lines)
            }
        };
        // The key store changed on disk (new codes): read it again.
        match KeyStore::open(&self.opts.key_path) {
            Ok(k) => self.key = k,
            Err(e) => self.message = Some((e.to_string(), true)),
        }
        self.planner = None;
        self.planner();
        self.dialog = Some(Dialog::Result { title, lines });
        self.rebuild_rows();
        self.select_next_pending()
    }

    fn select_next_pending(&mut self) -> Vec<Effect> {
        let next = self.browser.rows.iter().position(
            |r| matches!(&r.node, Node::Patient(p) if matches!(self.ws.status(p), Status::Pending | Status::Reviewed)),
        );
        if let Some(i) = next {
            self.browser.selected = i;
            self.keep_visible();
            return self.refresh_diff();
        }
        vec![]
    }

    // ----- browser rows and diff targets -----

    pub fn rebuild_rows(&mut self) {
        let keep = self.browser.selected_node().cloned();
        let filter = self.browser.filter.to_lowercase();
        let hit = |s: &str| filter.is_empty() || s.to_lowercase().contains(&filter);
        let mut rows = Vec::new();
        let ex = &self.browser.expanded;
        for p in &self.index.patients {
            let code = self
                .key
                .code_for(&p.patient_id)
                .or_else(|| self.planner.as_ref().and_then(|pl| pl.code(&p.patient_id)))
                .unwrap_or("…")
                .to_string();
            let patient_hit = hit(&p.patient_id) || hit(&code);
            let series_hit = |s: &crate::scan::Series| {
                hit(&s.description) || hit(&s.modality) || s.instances.iter().any(|i| hit(&i.path.to_string_lossy()))
            };
            if !patient_hit && !p.series().any(series_hit) {
                continue;
            }
            let node = Node::Patient(p.patient_id.clone());
            let open = ex.contains(&node);
            rows.push(Row {
                node,
                depth: 0,
                expandable: true,
                expanded: open,
                label: format!("{} → {}", p.patient_id, code),
                detail: p.file_count().to_string(),
                status: Some(self.ws.status(&p.patient_id)),
            });
            if !open {
                continue;
            }
            for st in &p.studies {
                if !patient_hit && !st.series.iter().any(series_hit) {
                    continue;
                }
                let node = Node::Study(p.patient_id.clone(), st.study_uid.clone());
                let open = ex.contains(&node);
                rows.push(Row {
                    node,
                    depth: 1,
                    expandable: true,
                    expanded: open,
                    label: format!("{} {}", fmt_date(&st.date), st.description).trim().to_string(),
                    detail: String::new(),
                    status: None,
                });
                if !open {
                    continue;
                }
                let links = self.planner.as_ref().and_then(|p| p.links.as_deref());
                let derived = |path: &Path| links.is_some_and(|l| l.file(path).is_some());
                for s in &st.series {
                    if !patient_hit && !series_hit(s) {
                        continue;
                    }
                    // Masks that claim a CT's series are listed as their own group below.
                    let own: Vec<&Instance> = s.instances.iter().filter(|i| !derived(&i.path)).collect();
                    if own.is_empty() {
                        continue;
                    }
                    let node = Node::Series(p.patient_id.clone(), st.study_uid.clone(), s.series_uid.clone());
                    let open = ex.contains(&node);
                    let number = s.number.map(|n| format!("#{n} ")).unwrap_or_default();
                    rows.push(Row {
                        node,
                        depth: 2,
                        expandable: true,
                        expanded: open,
                        label: format!("{} {number}{}", s.modality, s.description),
                        detail: format!("{}", own.len()),
                        status: None,
                    });
                    if open {
                        for i in own {
                            rows.push(file_row(&p.patient_id, &i.path));
                        }
                    }
                }
                let study_files: std::collections::HashSet<&Path> = st
                    .series
                    .iter()
                    .flat_map(|s| s.instances.iter().map(|i| i.path.as_path()))
                    .collect();
                let mut groups: Vec<&crate::link::SegmentationGroup> = links
                    .map(|l| {
                        l.groups
                            .iter()
                            .filter(|g| g.patient_id == p.patient_id)
                            .filter(|g| g.files.first().is_some_and(|f| study_files.contains(f.as_path())))
                            .collect()
                    })
                    .unwrap_or_default();
                groups.sort_by(|a, b| (&a.folder, &a.key).cmp(&(&b.folder, &b.key)));
                for g in groups {
                    if !patient_hit && !hit(&g.folder.to_string_lossy()) {
                        continue;
                    }
                    let node = Node::Group(p.patient_id.clone(), g.key.clone());
                    let open = ex.contains(&node);
                    let folder = g
                        .folder
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    rows.push(Row {
                        node,
                        depth: 2,
                        expandable: true,
                        expanded: open,
                        label: format!(
                            "{} {folder}",
                            match g.kind {
                                crate::link::SegmentationKind::PerSliceMask => "mask",
                                crate::link::SegmentationKind::Seg => "SEG",
                                crate::link::SegmentationKind::RtStruct => "RTSTRUCT",
                            }
                        ),
                        detail: format!("{} {}", g.files.len(), g.status.label()),
                        status: None,
                    });
                    if open {
                        for f in &g.files {
                            rows.push(file_row(&p.patient_id, f));
                        }
                    }
                }
            }
            for x in &self.index.xml {
                let owner = self.planner.as_ref().and_then(|pl| pl.xml_owner(&x.path));
                if owner.map(|o| o.0) != Some(p.patient_id.as_str()) {
                    continue;
                }
                if !patient_hit && !hit(&x.path.to_string_lossy()) {
                    continue;
                }
                rows.push(Row {
                    node: Node::Xml(Some(p.patient_id.clone()), x.path.clone()),
                    depth: 1,
                    expandable: false,
                    expanded: false,
                    label: format!(
                        "XML {}",
                        x.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
                    ),
                    detail: String::new(),
                    status: None,
                });
            }
        }
        let unassigned: Vec<(PathBuf, String)> = self
            .planner
            .as_ref()
            .map(|pl| {
                pl.unassigned_xml
                    .iter()
                    .map(|u| (u.path.clone(), u.reason.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if !unassigned.is_empty() {
            let open = ex.contains(&Node::UnassignedXml);
            rows.push(Row {
                node: Node::UnassignedXml,
                depth: 0,
                expandable: true,
                expanded: open,
                label: format!("XML without a patient ({})", unassigned.len()),
                detail: String::new(),
                status: None,
            });
            if open {
                for (path, reason) in unassigned {
                    rows.push(Row {
                        node: Node::Xml(None, path.clone()),
                        depth: 1,
                        expandable: false,
                        expanded: false,
                        label: path.display().to_string(),
                        detail: reason,
                        status: None,
                    });
                }
            }
        }
        let unreadable: Vec<_> = self
            .index
            .unreadable
            .iter()
            .filter(|u| hit(&u.path.to_string_lossy()) || hit(&u.reason))
            .collect();
        if !unreadable.is_empty() {
            let open = ex.contains(&Node::Unreadable);
            rows.push(Row {
                node: Node::Unreadable,
                depth: 0,
                expandable: true,
                expanded: open,
                label: format!("could not be read ({})", unreadable.len()),
                detail: String::new(),
                status: None,
            });
            if open {
                for u in unreadable {
                    rows.push(Row {
                        node: Node::UnreadableFile(u.path.clone()),
                        depth: 1,
                        expandable: false,
                        expanded: false,
                        label: u.path.display().to_string(),
                        detail: u.reason.clone(),
                        status: None,
                    });
                }
            }
        }
        self.browser.rows = rows;
        if let Some(k) = keep
            && let Some(i) = self.browser.rows.iter().position(|r| r.node == k)
        {
            self.browser.selected = i;
        }
        self.browser.selected = self.browser.selected.min(self.browser.rows.len().saturating_sub(1));
        self.keep_visible();
    }

    /// The diff target of the selected row.
    fn target(&self) -> Option<DiffTarget> {
        let node = self.browser.selected_node()?;
        let pid = node.patient()?;
        let p = self.index.patient(pid)?;
        let own_xml = |only: Option<&PathBuf>| -> Vec<crate::scan::XmlFile> {
            self.index
                .xml
                .iter()
                .filter(|x| only.is_none_or(|o| &x.path == o))
                .filter(|x| self.planner.as_ref().and_then(|pl| pl.xml_owner(&x.path)).map(|o| o.0) == Some(pid))
                .cloned()
                .collect()
        };
        let mut xml = Vec::new();
        let (label, file, instances): (String, Option<PathBuf>, Vec<Instance>) = match node {
            Node::Patient(_) => {
                xml = own_xml(None);
                (format!("patient {pid}"), None, p.instances().cloned().collect())
            }
            Node::Xml(_, path) => {
                xml = own_xml(Some(path));
                (format!("XML {}", path.display()), Some(path.clone()), Vec::new())
            }
            Node::Study(_, st) => {
                let s = p.studies.iter().find(|s| &s.study_uid == st)?;
                let inst = s.series.iter().flat_map(|x| x.instances.iter().cloned()).collect();
                (format!("study {} {}", fmt_date(&s.date), s.description), None, inst)
            }
            Node::Series(_, _, se) => {
                // The series' own files: masks claiming its UID are their own group.
                let s = p.series().find(|s| &s.series_uid == se)?;
                let derived = |i: &Instance| self.links().is_some_and(|l| l.file(&i.path).is_some());
                let own = s.instances.iter().filter(|i| !derived(i)).cloned().collect();
                (format!("series {} {}", s.modality, s.description), None, own)
            }
            Node::Group(_, key) => {
                let g = self.links()?.group(key)?;
                let files: std::collections::HashSet<&PathBuf> = g.files.iter().collect();
                let inst = p.instances().filter(|i| files.contains(&i.path)).cloned().collect();
                (format!("{} {}/", g.kind.label(), g.folder.display()), None, inst)
            }
            Node::File(_, path) => {
                let i = p.instances().find(|i| &i.path == path)?;
                (format!("file {}", path.display()), Some(path.clone()), vec![i.clone()])
            }
            _ => return None,
        };
        Some(DiffTarget {
            patient: pid.to_string(),
            label,
            file,
            instances,
            xml,
        })
    }

    /// Asks for the diff of the selected row (the newest request wins).
    pub fn refresh_diff(&mut self) -> Vec<Effect> {
        let target = self.target();
        // The mapping pane follows the browser: the same group, or the new patient's first.
        let old_patient = self.diff.target.as_ref().map(|t| t.patient.clone());
        if target.as_ref().map(|t| &t.patient) != old_patient.as_ref() {
            self.mapping_selected = 0;
        }
        if let Some(Node::Group(_, key)) = self.browser.selected_node()
            && let Some(i) = self.patient_groups().iter().position(|g| &g.key == key)
        {
            self.mapping_selected = i;
        }
        if target == self.diff.target && self.diff.data.is_some() {
            return vec![];
        }
        self.generation += 1;
        self.diff.generation = self.generation;
        self.diff.scroll = 0;
        self.diff.data = None;
        self.diff.target = target.clone();
        let Some(t) = target else { return vec![] };
        let planner = self.planner();
        vec![Effect::Diff {
            generation: self.generation,
            for_confirm: false,
            request: DiffRequest {
                root: self.opts.root.clone(),
                planner,
                patient: t.patient,
                instances: t.instances,
                xml: t.xml,
            },
        }]
    }
}

fn confirm_facts(
    index: &Index,
    ws: &Workspace,
    planner: &Planner,
    patients: &[String],
    data: DiffData,
) -> ConfirmFacts {
    let new_codes: Vec<String> = planner
        .new_entries
        .iter()
        .filter(|e| patients.contains(&e.patient_id))
        .map(|e| e.code.clone())
        .collect();
    let dirs: Vec<PathBuf> = patients
        .iter()
        .filter_map(|p| index.patient(p))
        .flat_map(|p| p.instances().filter_map(|i| i.path.parent().map(Path::to_path_buf)))
        .collect();
    let unreadable_nearby = index
        .unreadable
        .iter()
        .filter(|u| u.path.parent().is_some_and(|d| dirs.iter().any(|x| x == d)))
        .count();
    let already_written = patients
        .iter()
        .filter_map(|p| {
            let r = ws.patients.get(p)?;
            (r.status == Status::Written).then(|| (p.clone(), r.written_at.clone().unwrap_or_default()))
        })
        .collect();
    let mut mapping: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut unlinked = Vec::new();
    if let Some(links) = planner.links.as_deref() {
        for g in links.groups.iter().filter(|g| patients.contains(&g.patient_id)) {
            *mapping.entry(g.status.label()).or_default() += 1;
            if g.source.is_none() || g.status == crate::link::LinkStatus::Ambiguous {
                unlinked.push(format!("{}/ ({})", g.folder.display(), g.status.label()));
            }
        }
    }
    let xml = index
        .xml
        .iter()
        .filter(|x| {
            planner
                .xml_owner(&x.path)
                .is_some_and(|(p, _)| patients.iter().any(|q| q == p))
        })
        .count();
    ConfirmFacts {
        xml,
        unassigned_xml: planner.unassigned_xml.len(),
        mapping: mapping.into_iter().collect(),
        unlinked,
        files: data.summary.files + data.failed.len(),
        new_codes,
        failed: data.failed.len(),
        summary: data.summary,
        unreadable_nearby,
        already_written,
    }
}

fn file_row(patient: &str, path: &Path) -> Row {
    Row {
        node: Node::File(patient.to_string(), path.to_path_buf()),
        depth: 3,
        expandable: false,
        expanded: false,
        label: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        detail: String::new(),
        status: None,
    }
}

pub fn fmt_date(da: &str) -> String {
    if da.len() == 8 && da.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &da[..4], &da[4..6], &da[6..])
    } else {
        da.to_string()
    }
}

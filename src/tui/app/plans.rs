//! The screen's side of planning: scan results into the Index, asking for plans and diffs,
//! taking their answers, and what the panes show for the selected row.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::App;
use crate::link::SegmentationGroup;
use crate::present::fmt_date;
use crate::scan::{Instance, Outcome as ScanOutcome, XmlFile};
use crate::tui::dialogs::Dialog;
use crate::tui::dialogs::confirm;
use crate::tui::messages::{DiffRequest, Effect, PrepareJob, Prepared, Step};
use crate::tui::panes::diff::{self, DiffData, DiffRow, DiffTarget, Heading};
use crate::tui::rows::{self, Node};
use crate::tui::theme::{Notice, Tone};

impl App {
    pub(super) fn on_scanned(&mut self, outcomes: Vec<ScanOutcome>) -> Vec<Effect> {
        self.scan.done += outcomes.len();
        if self.planning {
            // A plan is being made from the Index: changing it now would copy all of it.
            self.held.extend(outcomes);
            return vec![];
        }
        let index = Arc::make_mut(&mut self.index);
        for o in outcomes {
            index.add_outcome(o);
        }
        self.rebuild();
        if !self.browser.moved {
            self.browser.selected = 0;
        }
        // Only a change of the selected patient asks for a new diff.
        let selected = self.browser.selected_node().and_then(Node::patient);
        let shown = self.diff.target.as_ref().map(|t| t.patient.as_str());
        if selected != shown { self.refresh_diff() } else { vec![] }
    }

    pub(super) fn on_scan_done(&mut self) -> Vec<Effect> {
        self.scan.read = true;
        if self.planning {
            return vec![]; // finished when the plan in the making arrives
        }
        self.request_plan(Step::Finish, false)
    }

    /// Asks for a plan of the current Index and decisions.
    pub(super) fn request_plan(&mut self, step: Step, reload_key: bool) -> Vec<Effect> {
        self.generation += 1;
        self.plan_generation = self.generation;
        self.planning = true;
        vec![Effect::Prepare(PrepareJob {
            generation: self.generation,
            index: self.index.clone(),
            ws: self.ws.clone(),
            step,
            reload_key,
        })]
    }

    pub(super) fn on_prepared(&mut self, p: Prepared) -> Vec<Effect> {
        if p.generation != self.plan_generation {
            return vec![]; // a newer one is on its way
        }
        self.planning = false;
        if let Some(index) = p.index {
            self.index = index;
            // Decisions read before the scan name its patients by hash: by key from now on.
            self.ws
                .resolve(self.index.patients.iter().map(|pt| pt.patient_id.as_str()));
            if self.scan.read {
                self.scan.finished = true;
            }
        }
        self.plan = Some(p.planner);
        if let Some(said) = self.plan_note.take()
            && self.message.as_ref().is_some_and(|m| m.text.ends_with("planning…"))
        {
            self.note(format!("{said}; the plan is updated"));
        }
        if let Some(n) = p.notices.first() {
            self.message = Some(Notice::error(n.clone()));
        }
        let mut effects = Vec::new();
        if !self.held.is_empty() {
            let index = Arc::make_mut(&mut self.index);
            for o in std::mem::take(&mut self.held) {
                index.add_outcome(o);
            }
        }
        if self.scan.read && !self.scan.finished {
            // The scan ended while this plan was being made: complete the Index now.
            return self.request_plan(Step::Finish, false);
        }
        self.rebuild();
        if let Some(path) = self.follow.take() {
            self.reveal(&path);
        }
        self.diff.target = None;
        effects.extend(self.refresh_diff());
        effects.extend(self.confirm_request());
        effects
    }

    /// Whether the plan in force is the newest (no decision is waiting for its plan).
    pub(super) fn plan_is_current(&self) -> bool {
        self.plan.is_some() && !self.planning
    }

    /// Rebuilds the patients pane from the Index, the plan and the decisions.
    pub(super) fn rebuild(&mut self) {
        let rows = rows::rows(&rows::Source {
            index: &self.index,
            plan: self.plan.as_deref(),
            ws: &self.ws,
            out: &self.out,
            expanded: &self.browser.expanded,
            filter: &self.browser.filter,
        });
        let page = self.browser_page();
        self.browser.set_rows(rows, page);
    }

    /// Opens what leads to a file and selects it (after an assignment moved it).
    pub(super) fn reveal(&mut self, path: &Path) {
        let found = self.index.patients.iter().find_map(|p| {
            p.studies.iter().find_map(|st| {
                st.series.iter().find_map(|s| {
                    s.instances
                        .iter()
                        .any(|i| i.path == path)
                        .then(|| (p.patient_id.clone(), st.study_uid.clone(), s.series_uid.clone()))
                })
            })
        });
        let page = self.browser_page();
        let node = match found {
            Some((pid, study, series)) => {
                self.browser.expanded.insert(Node::Patient(pid.clone()));
                self.browser.expanded.insert(Node::Study(pid.clone(), study.clone()));
                self.browser.expanded.insert(Node::Series(pid.clone(), study, series));
                Node::File(pid, path.to_path_buf())
            }
            None => {
                if let Some((pid, _)) = self.plan.as_deref().and_then(|p| p.xml_owner(path)) {
                    self.browser.expanded.insert(Node::Patient(pid.to_string()));
                    Node::Xml(Some(pid.to_string()), path.to_path_buf())
                } else {
                    self.browser.expanded.insert(Node::UnassignedXml);
                    self.browser.expanded.insert(Node::Unplaced);
                    Node::Xml(None, path.to_path_buf())
                }
            }
        };
        self.rebuild();
        if !self.browser.select(&node, page) {
            self.browser.select(&Node::UnplacedFile(path.to_path_buf()), page);
        }
    }

    /// The selected patient's segmentation groups, in the masks pane's order.
    pub fn patient_groups(&self) -> Vec<&SegmentationGroup> {
        let (Some(links), Some(pid)) = (
            self.plan.as_deref().and_then(|p| p.links.as_deref()),
            self.browser.selected_node().and_then(Node::patient),
        ) else {
            return Vec::new();
        };
        let mut groups: Vec<_> = links.groups_of(pid).collect();
        groups.sort_by(|a, b| (&a.folder, &a.key).cmp(&(&b.folder, &b.key)));
        groups
    }

    /// The group highlighted in the masks pane.
    pub(super) fn selected_group(&self) -> Option<&SegmentationGroup> {
        let groups = self.patient_groups();
        groups
            .get(self.mapping.selected.min(groups.len().saturating_sub(1)))
            .copied()
    }

    fn derived(&self, path: &Path) -> bool {
        self.plan
            .as_deref()
            .and_then(|p| p.links.as_deref())
            .is_some_and(|l| l.file(path).is_some())
    }

    fn own_xml(&self, pid: &str, only: Option<&Path>) -> Vec<XmlFile> {
        let Some(plan) = self.plan.as_deref() else {
            return Vec::new();
        };
        self.index
            .xml
            .iter()
            .filter(|x| only.is_none_or(|o| x.path == o))
            .filter(|x| plan.xml_owner(&x.path).map(|o| o.0) == Some(pid))
            .cloned()
            .collect()
    }

    /// The diff target of the selected row.
    pub(super) fn target(&self) -> Option<DiffTarget> {
        let node = self.browser.selected_node()?;
        let pid = node.patient()?;
        let p = self.index.patient(pid)?;
        let mut t = DiffTarget {
            patient: pid.to_string(),
            label: String::new(),
            file: None,
            folder: None,
            instances: Vec::new(),
            xml: Vec::new(),
        };
        match node {
            Node::Patient(_) => {
                t.label = format!("patient {pid}");
                t.instances = p.instances().cloned().collect();
                t.xml = self.own_xml(pid, None);
            }
            Node::Xml(_, path) => {
                t.label = format!("XML {}", path.display());
                t.file = Some(path.clone());
                t.xml = self.own_xml(pid, Some(path));
            }
            Node::Study(_, st) => {
                let s = p.studies.iter().find(|s| &s.study_uid == st)?;
                t.label = format!("study {} {}", fmt_date(&s.date), s.description);
                t.instances = s.series.iter().flat_map(|x| x.instances.iter().cloned()).collect();
            }
            Node::Series(_, _, se) => {
                // The series' own files: masks claiming its UID are their own group.
                let s = p.series().find(|s| &s.series_uid == se)?;
                t.label = format!("series {} {}", s.modality, s.description);
                t.instances = s.instances.iter().filter(|i| !self.derived(&i.path)).cloned().collect();
                t.folder = common_folder(&t.instances);
            }
            Node::Group(_, key) => {
                let g = self.plan.as_deref()?.links.as_deref()?.group(key)?;
                let files: HashSet<&PathBuf> = g.files.iter().collect();
                t.label = format!("{} {}/", g.kind.label(), g.folder.display());
                t.instances = p.instances().filter(|i| files.contains(&i.path)).cloned().collect();
                t.folder = Some(g.folder.clone());
            }
            Node::File(_, path) => {
                t.label = format!("file {}", path.display());
                t.file = Some(path.clone());
                t.instances = vec![p.instances().find(|i| &i.path == path)?.clone()];
            }
            _ => return None,
        }
        Some(t)
    }

    /// What the plan says around the target: code, output path, writes elsewhere.
    fn heading(&self, t: &DiffTarget) -> Heading {
        let plan = self.plan.as_deref();
        let code = plan.and_then(|p| p.code(&t.patient)).map(|c| {
            if plan.is_some_and(|p| p.is_new(&t.patient)) {
                format!("{c} (new)")
            } else {
                c.to_string()
            }
        });
        let dest = match (plan, &t.file, &t.folder) {
            (Some(p), Some(f), _) => Some(p.dest(f)),
            (Some(p), None, Some(d)) => Some(p.dest_folder(d)),
            _ => None,
        };
        Heading {
            code: code.unwrap_or_else(|| "…".into()),
            dest: dest.filter(|_| self.scan.finished),
            provisional: !self.scan.finished,
            elsewhere: crate::tui::decision::written_elsewhere(&self.ws, &t.patient, &self.out),
        }
    }

    /// What the changes pane says for rows that are not planned (files not written).
    fn unplanned_rows(&self, node: &Node) -> Option<Vec<DiffRow>> {
        let (path, what, why, then) = match node {
            Node::UnreadableFile(path) => {
                let u = self.index.unreadable.iter().find(|u| &u.path == path)?;
                let what = if u.kind.is_skipped() {
                    "Skipped"
                } else {
                    "Could not be read"
                };
                (path, what, u.reason.clone(), None)
            }
            Node::UnplacedFile(path) => {
                let u = self.index.unplaced.iter().find(|u| &u.path == path)?;
                (
                    path,
                    "Patient unknown",
                    u.reason.clone(),
                    Some("Enter: choose its patient"),
                )
            }
            Node::Xml(None, path) => {
                let reason = self
                    .plan
                    .as_deref()
                    .and_then(|p| p.unassigned_xml.iter().find(|u| &u.path == path))
                    .map(|u| u.reason.clone())
                    .unwrap_or_default();
                (path, "XML without a patient", reason, Some("Enter: choose its patient"))
            }
            _ => return None,
        };
        let mut out = vec![
            DiffRow::note("", path.display().to_string(), Tone::Title),
            DiffRow::note("", format!("{what}: {why}"), Tone::Warn),
        ];
        out.push(DiffRow::note(
            "",
            if what == "Skipped" {
                "It is not copied to the output: dams writes DICOM and XML files only."
            } else if matches!(node, Node::UnreadableFile(_)) {
                "It will not be written: a file dams cannot read may still hold identifiers."
            } else {
                "It is not written until it belongs to a patient."
            },
            Tone::Plain,
        ));
        if let Some(then) = then {
            out.push(DiffRow::line(then, Tone::Key));
        }
        Some(out)
    }

    /// Shows the selected row's changes, asking for its plan when it is not known yet.
    pub(super) fn refresh_diff(&mut self) -> Vec<Effect> {
        let size = self.diff_size();
        let node = self.browser.selected_node().cloned();
        if let Some(rows) = node.as_ref().and_then(|n| self.unplanned_rows(n)) {
            self.diff.target = None;
            self.diff.data = None;
            self.diff.show(rows);
            self.diff.clamp(size);
            return vec![];
        }
        let target = self.target();
        self.follow_mapping(target.as_ref());
        if target.is_some() && target == self.diff.target && self.diff.data.is_some() {
            return vec![];
        }
        self.diff.data = None;
        self.diff.target.clone_from(&target);
        let Some(t) = target else {
            self.diff.show(vec![DiffRow::line(
                "Select a patient, study, series or file to see its changes.",
                Tone::Dim,
            )]);
            return vec![];
        };
        self.diff.show(diff::content(&t, None, &self.heading(&t)));
        self.diff.clamp(size);
        self.generation += 1;
        self.diff.generation = self.generation;
        // While the scan runs, a plan made earlier may not know this patient yet.
        let known = self.plan.as_deref().is_some_and(|p| p.code(&t.patient).is_some());
        match self.plan.clone() {
            Some(planner) if known && !self.planning => vec![Effect::Diff {
                generation: self.generation,
                for_confirm: false,
                request: request(planner, &t),
            }],
            _ if self.planning => vec![], // asked again when the plan arrives
            _ => self.request_plan(Step::Codes, false),
        }
    }

    /// The masks pane follows the browser: the same group, or the new patient's first.
    fn follow_mapping(&mut self, target: Option<&DiffTarget>) {
        if target.map(|t| &t.patient) != self.diff.target.as_ref().map(|t| &t.patient) {
            self.mapping.selected = 0;
        }
        if let Some(Node::Group(_, key)) = self.browser.selected_node()
            && let Some(i) = self.patient_groups().iter().position(|g| &g.key == key)
        {
            self.mapping.selected = i;
        }
    }

    pub(super) fn on_diff(&mut self, generation: u64, data: DiffData) -> Vec<Effect> {
        let for_confirm = matches!(&self.dialog, Some(Dialog::Confirm(c)) if c.generation == generation);
        if for_confirm {
            if let (Some(plan), Some(Dialog::Confirm(c))) = (self.plan.as_deref(), &mut self.dialog) {
                c.facts = Some(confirm::facts(
                    &self.index,
                    &self.ws,
                    plan,
                    &c.patients,
                    data,
                    &self.out,
                ));
            }
            return vec![];
        }
        if generation == self.diff.generation
            && let Some(t) = self.diff.target.clone()
        {
            self.diff.show(diff::content(&t, Some(&data), &self.heading(&t)));
            self.diff.data = Some(data);
            let size = self.diff_size();
            self.diff.clamp(size);
        }
        vec![]
    }

    /// Asks for the open confirmation's facts (once the plan is current).
    pub(super) fn confirm_request(&mut self) -> Vec<Effect> {
        if !self.plan_is_current() {
            return vec![];
        }
        let Some(Dialog::Confirm(c)) = &self.dialog else {
            return vec![];
        };
        if c.facts.is_some() {
            return vec![];
        }
        let Some(plan) = self.plan.clone() else { return vec![] };
        let patients = c.patients.clone();
        self.generation += 1;
        let generation = self.generation;
        let instances: Vec<Instance> = patients
            .iter()
            .filter_map(|p| self.index.patient(p))
            .flat_map(|p| p.instances().cloned())
            .collect();
        if let [one] = patients.as_slice() {
            // One patient's dialog is where images that may show identifiers in their pixels
            // are approved: planned as written once approved, and listed.
            let mut plan = plan;
            if plan.profile.annex_e.is_some() && !plan.accept_burned_in {
                Arc::make_mut(&mut plan).accept_burned_in = true;
            }
            let t = DiffTarget {
                patient: one.clone(),
                label: String::new(),
                file: None,
                folder: None,
                instances,
                xml: self.own_xml(one, None),
            };
            if let Some(Dialog::Confirm(c)) = &mut self.dialog {
                c.generation = generation;
            }
            return vec![Effect::Diff {
                generation,
                for_confirm: true,
                request: request(plan, &t),
            }];
        }
        // Several patients: every file is planned and only counted, for what stays.
        if let Some(Dialog::Confirm(c)) = &mut self.dialog {
            c.generation = generation;
        }
        vec![Effect::Diff {
            generation,
            for_confirm: true,
            request: DiffRequest {
                planner: plan,
                patient: String::new(),
                instances,
                xml: Vec::new(),
                batch: Some((self.index.clone(), patients.into_iter().collect())),
            },
        }]
    }
}

fn request(planner: Arc<crate::plan::Planner>, t: &DiffTarget) -> DiffRequest {
    DiffRequest {
        planner,
        patient: t.patient.clone(),
        instances: t.instances.clone(),
        xml: t.xml.clone(),
        batch: None,
    }
}

/// The folder the files share, if they share one.
fn common_folder(instances: &[Instance]) -> Option<PathBuf> {
    let mut dirs = instances.iter().map(|i| i.path.parent().unwrap_or(Path::new("")));
    let first = dirs.next()?;
    (dirs.all(|d| d == first) && !first.as_os_str().is_empty()).then(|| first.to_path_buf())
}

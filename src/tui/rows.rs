//! The rows of the patients pane, from the Index, the current plan and the review decisions:
//! patients → studies → series, masks/SEG/RTSTRUCT and XML files, then the files that belong
//! to nobody or could not be read. A filter shows what matches and opens its parents.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use crate::link::{SegmentationGroup, SegmentationKind};
use crate::plan::Planner;
use crate::review::{Status, Workspace};
use crate::scan::{Index, Instance, Patient, Series, Study};

use super::decision::shown_status;
use crate::present::{file_name, fmt_date};

/// A row of the patients pane.
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
    /// The DICOM files without a `PatientID` no patient was found for.
    Unplaced,
    UnplacedFile(PathBuf),
    /// Damaged files (truncated, malformed…): they may hold images, so they are a failure.
    Unreadable,
    /// Files dams does not handle (not DICOM or XML, DICOMDIRs, links it does not follow).
    Skipped,
    /// A file of either group.
    UnreadableFile(PathBuf),
}

impl Node {
    #[must_use]
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

/// How a row's label is emphasised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowTone {
    Plain,
    Patient,
    /// Files that are not written as things stand.
    Warn,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub node: Node,
    pub depth: u8,
    pub expandable: bool,
    pub expanded: bool,
    pub label: String,
    /// The label is a path: shortened from the front, so the file name stays.
    pub path_label: bool,
    pub detail: String,
    pub status: Option<Status>,
    pub tone: RowTone,
    /// The row itself matches the filter (not only something inside it).
    pub hit: bool,
}

impl Row {
    fn new(node: Node, depth: u8, label: String) -> Row {
        Row {
            node,
            depth,
            expandable: false,
            expanded: false,
            label,
            path_label: false,
            detail: String::new(),
            status: None,
            tone: RowTone::Plain,
            hit: false,
        }
    }
}

/// What the rows are made of.
pub struct Source<'a> {
    pub index: &'a Index,
    pub plan: Option<&'a Planner>,
    pub ws: &'a Workspace,
    pub out: &'a Path,
    pub expanded: &'a BTreeSet<Node>,
    pub filter: &'a str,
}

struct Ctx<'a> {
    src: &'a Source<'a>,
    filter: String,
}

impl Ctx<'_> {
    fn filtering(&self) -> bool {
        !self.filter.is_empty()
    }

    fn hit(&self, s: &str) -> bool {
        self.filter.is_empty() || s.to_lowercase().contains(&self.filter)
    }

    fn hit_path(&self, p: &Path) -> bool {
        self.hit(&p.to_string_lossy())
    }

    /// Whether a row is open: by the user, or because the filter found something inside.
    fn open(&self, node: &Node, forced: bool) -> bool {
        forced || self.src.expanded.contains(node)
    }

    fn derived(&self, path: &Path) -> bool {
        self.src
            .plan
            .and_then(|p| p.links.as_deref())
            .is_some_and(|l| l.file(path).is_some())
    }

    fn derived_image(&self, path: &Path) -> Option<&crate::link::DerivedImageGroup> {
        self.src.plan.and_then(|p| p.links.as_deref())?.derived_image(path)
    }

    fn code(&self, pid: &str) -> String {
        self.src.plan.and_then(|p| p.code(pid)).unwrap_or("…").to_string()
    }
}

#[must_use]
pub fn rows(src: &Source) -> Vec<Row> {
    let cx = Ctx {
        src,
        filter: src.filter.to_lowercase(),
    };
    let mut out = Vec::new();
    for p in &src.index.patients {
        patient_rows(&cx, p, &mut out);
    }
    unassigned_rows(&cx, &mut out);
    unplaced_rows(&cx, &mut out);
    unreadable_rows(&cx, &mut out);
    out
}

fn patient_rows(cx: &Ctx, p: &Patient, out: &mut Vec<Row>) {
    let pid = p.patient_id.as_str();
    let code = cx.code(pid);
    let self_hit = cx.filtering() && (cx.hit(&p.label()) || cx.hit(&code));
    // With a filter, only what matches is listed (all of it when the patient itself does).
    let all = !cx.filtering() || self_hit;
    let studies: Vec<&Study> = p.studies.iter().filter(|st| all || study_hits(cx, p, st)).collect();
    let xml = patient_xml(cx, pid, all);
    if !all && studies.is_empty() && xml.is_empty() {
        return;
    }
    let node = Node::Patient(pid.to_string());
    let open = cx.open(&node, !all);
    let mut row = Row::new(node, 0, format!("{} → {code}", p.label()));
    row.expandable = true;
    row.expanded = open;
    row.detail = p.file_count().to_string();
    row.status = Some(shown_status(cx.src.ws, pid, cx.src.out));
    row.tone = RowTone::Patient;
    row.hit = self_hit;
    out.push(row);
    if !open {
        return;
    }
    for st in studies {
        study_rows(cx, p, st, all, out);
    }
    for x in xml {
        let mut row = Row::new(
            Node::Xml(Some(pid.to_string()), x.clone()),
            1,
            format!("XML {}", file_name(&x)),
        );
        row.hit = cx.filtering() && cx.hit_path(&x);
        out.push(row);
    }
}

/// The XML files of a patient (those the filter matches, unless `all`).
fn patient_xml(cx: &Ctx, pid: &str, all: bool) -> Vec<PathBuf> {
    let Some(plan) = cx.src.plan else { return Vec::new() };
    cx.src
        .index
        .xml
        .iter()
        .filter(|x| plan.xml_owner(&x.path).map(|o| o.0) == Some(pid))
        .filter(|x| all || cx.hit_path(&x.path))
        .map(|x| x.path.clone())
        .collect()
}

/// Masks that claim a CT's series are not the series' own files.
fn series_hits(cx: &Ctx, s: &Series) -> bool {
    cx.hit(&s.description)
        || cx.hit(&s.modality)
        || s.instances.iter().any(|i| !cx.derived(&i.path) && cx.hit_path(&i.path))
}

fn group_hits(cx: &Ctx, g: &SegmentationGroup) -> bool {
    cx.hit_path(&g.folder) || cx.hit(kind_label(g.kind)) || g.files.iter().any(|f| cx.hit_path(f))
}

fn study_hits(cx: &Ctx, p: &Patient, st: &Study) -> bool {
    cx.hit(&st.description)
        || st.series.iter().any(|s| series_hits(cx, s))
        || study_groups(cx, p, st).iter().any(|g| group_hits(cx, g))
}

/// The segmentation groups whose files are in this study, in the masks pane's order.
fn study_groups<'a>(cx: &Ctx<'a>, p: &'a Patient, st: &Study) -> Vec<&'a SegmentationGroup> {
    let Some(links) = cx.src.plan.and_then(|p| p.links.as_deref()) else {
        return Vec::new();
    };
    let files: HashSet<&Path> = st
        .series
        .iter()
        .flat_map(|s| s.instances.iter().map(|i| i.path.as_path()))
        .collect();
    let mut groups: Vec<&SegmentationGroup> = links
        .groups_of(&p.patient_id)
        .filter(|g| g.files.first().is_some_and(|f| files.contains(f.as_path())))
        .collect();
    groups.sort_by(|a, b| (&a.folder, &a.key).cmp(&(&b.folder, &b.key)));
    groups
}

fn kind_label(k: SegmentationKind) -> &'static str {
    k.short_label()
}

/// A study and what is in it. `all`: the patient matched (or there is no filter).
fn study_rows(cx: &Ctx, p: &Patient, st: &Study, all: bool, out: &mut Vec<Row>) {
    let pid = &p.patient_id;
    let self_hit = cx.filtering() && cx.hit(&st.description);
    let all = all || self_hit;
    let node = Node::Study(pid.clone(), st.study_uid.clone());
    let open = cx.open(&node, !all);
    let mut row = Row::new(
        node,
        1,
        format!("{} {}", fmt_date(&st.date), st.description).trim().to_string(),
    );
    row.expandable = true;
    row.expanded = open;
    row.hit = self_hit;
    out.push(row);
    if !open {
        return;
    }
    for s in &st.series {
        series_rows(cx, pid, st, s, all, out);
    }
    for g in study_groups(cx, p, st) {
        if all || group_hits(cx, g) {
            group_rows(cx, pid, g, all, out);
        }
    }
}

fn series_rows(cx: &Ctx, pid: &str, st: &Study, s: &Series, all: bool, out: &mut Vec<Row>) {
    if !all && !series_hits(cx, s) {
        return;
    }
    // Masks that claim a CT's series are listed as their own group.
    let own: Vec<&Instance> = s.instances.iter().filter(|i| !cx.derived(&i.path)).collect();
    if own.is_empty() {
        return;
    }
    let self_hit = cx.filtering() && (cx.hit(&s.description) || cx.hit(&s.modality));
    let all = all || self_hit;
    let node = Node::Series(pid.to_string(), st.study_uid.clone(), s.series_uid.clone());
    let open = cx.open(&node, !all);
    let number = s.number.map(|n| format!("#{n} ")).unwrap_or_default();
    // A compressed copy, key images, a screen capture…: said with what it came from (never a
    // mask, never repaired).
    let derived = derived_note(cx, &own);
    let mut row = Row::new(node, 2, format!("{} {number}{}{derived}", s.modality, s.description));
    row.expandable = true;
    row.expanded = open;
    row.detail = own.len().to_string();
    row.hit = self_hit;
    out.push(row);
    if open {
        for i in own.into_iter().filter(|i| all || cx.hit_path(&i.path)) {
            out.push(file_row(cx, pid, &i.path));
        }
    }
}

fn group_rows(cx: &Ctx, pid: &str, g: &SegmentationGroup, all: bool, out: &mut Vec<Row>) {
    let self_hit = cx.filtering() && (cx.hit_path(&g.folder) || cx.hit(kind_label(g.kind)));
    let all = all || self_hit;
    let node = Node::Group(pid.to_string(), g.key.clone());
    let open = cx.open(&node, !all);
    let mut row = Row::new(node, 2, format!("{} {}", kind_label(g.kind), file_name(&g.folder)));
    row.expandable = true;
    row.expanded = open;
    row.detail = format!("{} {}", g.files.len(), g.status.label());
    row.hit = self_hit;
    out.push(row);
    if open {
        for f in g.files.iter().filter(|f| all || cx.hit_path(f)) {
            out.push(file_row(cx, pid, f));
        }
    }
}

fn file_row(cx: &Ctx, pid: &str, path: &Path) -> Row {
    let mut row = Row::new(Node::File(pid.to_string(), path.to_path_buf()), 3, file_name(path));
    row.hit = cx.filtering() && cx.hit_path(path);
    if let Some(d) = cx.derived_image(path) {
        row.detail = d.kind.label().to_string();
    }
    row
}

/// What a series row says of the derived images among its files (a compressed copy that kept
/// its original's series UID, key images…): what they are and what they came from.
fn derived_note(cx: &Ctx, files: &[&Instance]) -> String {
    let derived: Vec<&crate::link::DerivedImageGroup> =
        files.iter().filter_map(|i| cx.derived_image(&i.path)).collect();
    let Some(first) = derived.first() else {
        return String::new();
    };
    let from = match &first.source {
        Some(src) => format!(" of {}/", file_name(&src.folder)),
        None => String::new(),
    };
    if derived.len() == files.len() {
        format!(" ({}{from})", first.kind.label())
    } else {
        format!(" ({} files: {}{from})", derived.len(), first.kind.label())
    }
}

/// A group of files that are not written as things stand, with a row per file.
fn problem_rows(cx: &Ctx, (node, label): (Node, &str), files: Vec<(Node, &Path, String, String)>, out: &mut Vec<Row>) {
    if files.is_empty() {
        return;
    }
    let self_hit = cx.filtering() && cx.hit(label);
    let shown: Vec<_> = files
        .into_iter()
        .filter(|(_, path, _, reason)| !cx.filtering() || self_hit || cx.hit_path(path) || cx.hit(reason))
        .collect();
    if shown.is_empty() {
        return;
    }
    let open = cx.open(&node, cx.filtering() && !self_hit);
    let mut row = Row::new(node, 0, format!("{label} ({})", shown.len()));
    row.expandable = true;
    row.expanded = open;
    row.tone = RowTone::Warn;
    row.hit = self_hit;
    out.push(row);
    if !open {
        return;
    }
    for (node, path, short, reason) in shown {
        let mut row = Row::new(node, 1, path.display().to_string());
        row.path_label = true;
        row.detail = short;
        row.tone = RowTone::Warn;
        row.hit = cx.filtering() && (cx.hit_path(path) || cx.hit(&reason));
        out.push(row);
    }
}

fn unassigned_rows(cx: &Ctx, out: &mut Vec<Row>) {
    let Some(plan) = cx.src.plan else { return };
    let files = plan
        .unassigned_xml
        .iter()
        .map(|u| {
            (
                Node::Xml(None, u.path.clone()),
                u.path.as_path(),
                String::new(),
                u.reason.clone(),
            )
        })
        .collect();
    problem_rows(cx, (Node::UnassignedXml, "XML without a patient"), files, out);
}

fn unplaced_rows(cx: &Ctx, out: &mut Vec<Row>) {
    let files = cx
        .src
        .index
        .unplaced
        .iter()
        .map(|u| {
            (
                Node::UnplacedFile(u.path.clone()),
                u.path.as_path(),
                String::new(),
                u.reason.clone(),
            )
        })
        .collect();
    problem_rows(cx, (Node::Unplaced, "patient unknown"), files, out);
}

fn unreadable_rows(cx: &Ctx, out: &mut Vec<Row>) {
    for (skipped, node, label) in [
        (false, Node::Unreadable, "could not be read"),
        (true, Node::Skipped, "not DICOM or XML"),
    ] {
        let files = cx
            .src
            .index
            .unreadable
            .iter()
            .filter(|u| u.kind.is_skipped() == skipped)
            .map(|u| {
                (
                    Node::UnreadableFile(u.path.clone()),
                    u.path.as_path(),
                    u.kind.name().replace('-', " "),
                    u.reason.clone(),
                )
            })
            .collect();
        problem_rows(cx, (node, label), files, out);
    }
}

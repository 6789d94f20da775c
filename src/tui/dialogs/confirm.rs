//! The write confirmation: exactly what will be written (files, the output folder of each
//! patient, new codes, masks, warnings), answered with an explicit yes. The facts are worked
//! out here from the plan, by pure functions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{Intent, Outcome, with_keys};
use crate::link::LinkStatus;
use crate::plan::Planner;
use crate::plan::stays::Stays;
use crate::plan::summary::Summary;
use crate::review::Workspace;
use crate::scan::Index;
use crate::tui::decision::written_here;
use crate::tui::keys::Action;
use crate::tui::panes::diff::DiffData;
use crate::tui::theme::{Notice, Theme};

/// What the confirmation says will happen.
#[derive(Debug, Clone)]
pub struct Facts {
    pub files: usize,
    pub new_codes: Vec<String>,
    pub summary: Summary,
    pub failed: usize,
    pub unreadable_nearby: usize,
    /// Patients written to this output folder before, and when.
    pub already_written: Vec<(String, String)>,
    /// Segmentation groups of these patients by link status, e.g. ("resolved", 3).
    pub mapping: Vec<(&'static str, usize)>,
    /// Groups without a source (unmatched or ambiguous): their folders.
    pub unlinked: Vec<String>,
    /// XML files of these patients that will be written.
    pub xml: usize,
    /// XML files of no patient (in the whole folder): not written.
    pub unassigned_xml: usize,
    /// Patients of the write whose input looks like dams output already, and why.
    pub pseudonymised: Vec<(String, String)>,
    /// New codes of other patients of the folder, recorded in the key by this write too.
    pub other_new_codes: usize,
    /// Each patient and the folder(s) its files go to, inside the output folder.
    pub outputs: Vec<(String, Vec<PathBuf>)>,
    /// What the write leaves: the same list the CLI prints ([`crate::plan::stays`]).
    pub stays: Stays,
}

#[derive(Debug, Clone)]
pub struct Confirm {
    pub patients: Vec<String>,
    /// `patient DEMO-002 → P0002`, or `2 reviewed patients`.
    pub who: String,
    pub all_reviewed: bool,
    pub out: PathBuf,
    pub profile: String,
    /// The plan request whose answer fills `facts`.
    pub generation: u64,
    pub facts: Option<Facts>,
    /// The highlighted button.
    pub yes: bool,
}

impl Confirm {
    pub fn on_action(&mut self, action: Action) -> Outcome {
        match action {
            Action::Yes => self.yes(),
            Action::Answer if self.yes => self.yes(),
            Action::No | Action::Answer => Outcome::Do(Intent::Declined),
            Action::Switch => {
                self.yes = !self.yes;
                Outcome::Keep
            }
            _ => Outcome::Keep,
        }
    }

    fn yes(&self) -> Outcome {
        match &self.facts {
            None => Outcome::Notice(Notice::info("still checking the files; answer again in a moment")),
            // The dialog said which patients look like dams output already: yes codes them.
            Some(f) => Outcome::Do(Intent::Write {
                patients: self.patients.clone(),
                recode: !f.pseudonymised.is_empty(),
                accept_burned_in: self.patients.len() == 1 && !f.stays.burned_in.is_empty(),
            }),
        }
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let mut lines = vec![Line::styled(format!("Write {}?", self.who), t.title()), Line::raw("")];
        match &self.facts {
            None => lines.push(Line::styled("Checking the files…", t.dim())),
            Some(facts) => lines.extend(self.fact_lines(t, facts)),
        }
        let (yes, no) = if self.yes {
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
        let title = if self.all_reviewed {
            "Approve all reviewed patients"
        } else {
            "Confirm write"
        };
        with_keys(f, t, title, lines, keys, 78, screen);
    }

    fn fact_lines(&self, t: &Theme, facts: &Facts) -> Vec<Line<'static>> {
        let row = |k: &str, v: String| Line::from(vec![Span::styled(format!("{k:<16}"), t.dim()), Span::raw(v)]);
        let dicom = facts.files - facts.failed;
        let mut lines = vec![row(
            "Files",
            if facts.xml > 0 {
                format!("{dicom} DICOM file(s), {} XML", facts.xml)
            } else {
                format!("{dicom} DICOM file(s)")
            },
        )];
        lines.push(row("Output folder", self.out.display().to_string()));
        // Many patients: the first few, and a count (the dialog does not scroll, and its
        // warnings must stay in view).
        for (p, dirs) in facts.outputs.iter().take(LISTED) {
            let shown: Vec<String> = dirs.iter().map(|d| format!("{}/", d.display())).collect();
            lines.push(row("", format!("{p} → {}", shown.join(", "))));
        }
        if facts.outputs.len() > LISTED {
            lines.push(row(
                "",
                format!(
                    "… and {} more patients (each row of the patients pane shows where it goes)",
                    facts.outputs.len() - LISTED
                ),
            ));
        }
        lines.push(row("Key store", key_line(facts)));
        lines.push(row("Profile", self.profile.clone()));
        lines.push(row(
            "Masks",
            if facts.mapping.is_empty() {
                "none".into()
            } else {
                let m: Vec<String> = facts.mapping.iter().map(|(s, n)| format!("{n} {s}")).collect();
                m.join(", ")
            },
        ));
        lines.push(Line::raw(""));
        let warnings = warnings(facts);
        if warnings.is_empty() {
            lines.push(Line::styled("No warnings.", t.ok()));
        } else {
            lines.push(Line::styled("Warnings", t.warn()));
            for w in warnings {
                lines.push(Line::from(vec![Span::styled("⚠ ", t.warn()), Span::raw(w)]));
            }
        }
        lines
    }
}

/// How many patients, codes or warnings of one kind the dialog names before it counts.
const LISTED: usize = 4;

/// `items` joined, the first few of many and how many more.
fn some_of(items: &[String]) -> String {
    if items.len() <= LISTED + 1 {
        items.join(", ")
    } else {
        format!("{}, … ({} more)", items[..LISTED].join(", "), items.len() - LISTED)
    }
}

fn key_line(facts: &Facts) -> String {
    let codes = some_of(&facts.new_codes);
    match (facts.new_codes.is_empty(), facts.other_new_codes) {
        (true, 0) => "no new code (all patients have one)".into(),
        (false, 0) => format!("{} new code(s): {codes}", facts.new_codes.len()),
        // Every code any output may carry is recorded before the first file.
        (_, n) => format!(
            "{} new code(s){}{codes}, and {n} for the folder's other patients",
            facts.new_codes.len(),
            if facts.new_codes.is_empty() { "" } else { ": " },
        ),
    }
}

fn warnings(facts: &Facts) -> Vec<String> {
    let mut w: Vec<String> = Vec::new();
    if facts.pseudonymised.len() > 2 {
        let who: Vec<String> = facts.pseudonymised.iter().map(|(p, _)| p.clone()).collect();
        w.push(format!(
            "{} patients look like dams output already ({}); yes gives them new codes anyway",
            who.len(),
            some_of(&who)
        ));
    } else {
        for (p, why) in &facts.pseudonymised {
            w.push(format!(
                "{p} looks like dams output already ({why}); yes gives it a new code anyway"
            ));
        }
    }
    if facts.already_written.len() > 2 {
        let who: Vec<String> = facts.already_written.iter().map(|(p, _)| p.clone()).collect();
        w.push(format!(
            "{} patients were already written here ({}); they will be written again",
            who.len(),
            some_of(&who)
        ));
    } else {
        for (p, when) in &facts.already_written {
            w.push(format!("{p} was already written here {when}; it will be written again"));
        }
    }
    if facts.unassigned_xml > 0 {
        w.push(format!(
            "{} XML file(s) in the folder belong to no patient and are not written",
            facts.unassigned_xml
        ));
    }
    if facts.unlinked.len() > 2 {
        w.push(format!(
            "{} mask series have no source CT ({}); link them in the masks pane first",
            facts.unlinked.len(),
            some_of(&facts.unlinked)
        ));
    } else {
        for u in &facts.unlinked {
            w.push(format!(
                "mask series {u} has no source CT; link it in the masks pane first"
            ));
        }
    }
    if facts.unreadable_nearby > 0 {
        w.push(format!(
            "{} file(s) in these folders could not be read and will not be written",
            facts.unreadable_nearby
        ));
    }
    w.extend(facts.stays.lines());
    w
}

/// Where a patient's files go in the output: their common folder, or the distinct top
/// folders when they share none.
pub fn output_folders(index: &Index, plan: &Planner, patient: &str) -> Vec<PathBuf> {
    let Some(p) = index.patient(patient) else {
        return Vec::new();
    };
    let dirs: Vec<PathBuf> = p
        .instances()
        .map(|i| plan.dest(&i.path).parent().map(Path::to_path_buf).unwrap_or_default())
        .collect();
    let mut common: Option<PathBuf> = None;
    for d in &dirs {
        common = Some(match common {
            None => d.clone(),
            Some(c) => c
                .components()
                .zip(d.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    match common {
        Some(c) if !c.as_os_str().is_empty() => vec![c],
        _ => {
            let mut tops: Vec<PathBuf> = dirs
                .iter()
                .filter_map(|d| d.components().next().map(|c| PathBuf::from(c.as_os_str())))
                .collect();
            tops.sort();
            tops.dedup();
            if tops.is_empty() {
                tops.push(PathBuf::from("."));
            }
            tops
        }
    }
}

/// The facts of a confirmation, from the plan and what planning the patients' files gave.
pub fn facts(index: &Index, ws: &Workspace, plan: &Planner, patients: &[String], data: DiffData, out: &Path) -> Facts {
    let new_codes: Vec<String> = plan
        .new_entries
        .iter()
        .filter(|e| patients.contains(&e.patient_id))
        .map(|e| e.code.clone())
        .collect();
    let other_new_codes = plan.new_entries.len() - new_codes.len();
    let label = crate::scan::index::label;
    let pseudonymised = patients
        .iter()
        .filter_map(|p| plan.looks_pseudonymised(p).map(|why| (label(p), why.to_string())))
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
        .filter_map(|p| written_here(ws, p, out).map(|when| (label(p), when)))
        .collect();
    let mut mapping: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut unlinked = Vec::new();
    if let Some(links) = plan.links.as_deref() {
        for g in links.groups.iter().filter(|g| patients.contains(&g.patient_id)) {
            *mapping.entry(g.status.label()).or_default() += 1;
            if g.needs_decision() {
                unlinked.push(format!(
                    "{}/ (ambiguous: not written until you choose its source)",
                    g.folder.display()
                ));
            } else if g.source.is_none() || g.status == LinkStatus::Ambiguous {
                unlinked.push(format!("{}/ ({})", g.folder.display(), g.status.label()));
            }
        }
    }
    let xml = index
        .xml
        .iter()
        .filter(|x| {
            plan.xml_owner(&x.path)
                .is_some_and(|(p, _)| patients.iter().any(|q| q == p))
        })
        .count();
    let outputs = patients
        .iter()
        .map(|p| (label(p), output_folders(index, plan, p)))
        .collect();
    let stays = data.stays.clone().unwrap_or_else(|| {
        let kept = crate::residual::kept_on_purpose(&plan.profile);
        let only: std::collections::BTreeSet<String> = patients.iter().cloned().collect();
        Stays::from_summary(&data.summary, &kept, data.failed.len()).with_index(index, plan, Some(&only))
    });
    Facts {
        stays,
        xml,
        unassigned_xml: plan.unassigned_xml.len(),
        pseudonymised,
        other_new_codes,
        mapping: mapping.into_iter().collect(),
        unlinked,
        files: data.summary.files + data.failed.len(),
        new_codes,
        failed: data.failed.len(),
        summary: data.summary,
        unreadable_nearby,
        already_written,
        outputs,
    }
}

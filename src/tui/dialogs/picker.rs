//! The pickers: the CT series a mask series was drawn on (suggestions marked as such, never
//! taken as a link), the patient of an XML file, the patient of a DICOM file without a
//! `PatientID`. Each says what it decides in its own words; choosing is an `Intent`.

use std::path::{Path, PathBuf};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{Intent, Outcome, keys_line, with_keys};
use crate::link::{Links, SegmentationGroup, SuggestionReason};
use crate::plan::Planner;
use crate::present::fit;
use crate::review::Workspace;
use crate::scan::Index;
use crate::tui::keys::{Action, Context};
use crate::tui::messages::NodeChoice;
use crate::tui::theme::Theme;

/// What a picker decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickFor {
    /// The source series of a segmentation group (by key).
    Group(String),
    /// The patient of an XML file.
    Xml(PathBuf),
    /// The patient of a DICOM file without a `PatientID`.
    File(PathBuf),
    /// The node to send these written patients to.
    Node(Vec<String>),
}

/// One choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickOption {
    /// A series UID or a patient; `None`: back to automatic.
    pub value: Option<String>,
    pub label: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    pub target: PickFor,
    pub title: String,
    pub options: Vec<PickOption>,
    pub selected: usize,
}

const WIDTH: u16 = 80;

fn reason_label(r: &SuggestionReason) -> &'static str {
    match r {
        SuggestionReason::SameGeometry => "same geometry",
        SuggestionReason::SameFrameOfReference => "same frame of reference",
        SuggestionReason::NamedSeries => "named in its references",
        SuggestionReason::SameSeriesUid { .. } => "files with its SeriesInstanceUID resolve to it",
        SuggestionReason::ViaDerived { .. } => "the objects it references resolve to it",
    }
}

impl Picker {
    /// The source picker for a segmentation group: the patient's series, the current one and
    /// suggestions marked; "automatic" first when the link is by hand.
    ///
    /// # Errors
    ///
    /// Why, when the patient has no series a mask could be drawn on.
    pub fn source(g: &SegmentationGroup, links: &Links, index: &Index, ws: &Workspace) -> Result<Picker, &'static str> {
        let for_uid = g.files.first().and_then(|f| {
            index
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
                if let Some(sg) = g.suggestions.iter().find(|x| x.series_uid == s.series_uid) {
                    let why: Vec<&str> = sg.reasons.iter().map(reason_label).collect();
                    notes.push(format!("suggested: {}", why.join(", ")));
                }
                PickOption {
                    value: Some(s.series_uid.clone()),
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
        if options.is_empty() {
            return Err("this patient has no series a mask could be drawn on");
        }
        if ws.links.contains_key(&g.key) {
            options.insert(
                0,
                PickOption {
                    value: None,
                    label: "automatic: what the references say".into(),
                    note: format!("now: {}", g.automatic_status.label()),
                },
            );
        }
        let selected = options
            .iter()
            .position(|o| o.value.as_deref() == g.source_series_uid())
            .unwrap_or(0);
        Ok(Picker {
            target: PickFor::Group(g.key.clone()),
            title: format!("Source of {}/ ({})", g.folder.display(), g.kind.label()),
            options,
            selected,
        })
    }

    /// The patient picker for an XML file (`current`: its patient now, if any).
    pub fn xml(path: &Path, index: &Index, plan: &Planner, ws: &Workspace) -> Picker {
        let current = plan.xml_owner(path).map(|(pid, _)| pid.to_string());
        let manual = ws.xml_assignments.contains_key(path);
        let automatic = "automatic: by its content or folder";
        Picker::patients(
            PickFor::Xml(path.to_path_buf()),
            index,
            plan,
            current,
            manual.then_some(automatic),
        )
    }

    /// The patient picker for a DICOM file without a `PatientID`.
    pub fn file(path: &Path, index: &Index, plan: &Planner, ws: &Workspace) -> Picker {
        let current = index
            .patients
            .iter()
            .find(|p| p.instances().any(|i| i.path == path))
            .map(|p| p.patient_id.clone());
        let manual = ws.file_assignments.contains_key(path);
        let automatic = "automatic: by its study, folder, or name and birth date";
        Picker::patients(
            PickFor::File(path.to_path_buf()),
            index,
            plan,
            current,
            manual.then_some(automatic),
        )
    }

    fn patients(
        target: PickFor,
        index: &Index,
        plan: &Planner,
        current: Option<String>,
        automatic: Option<&str>,
    ) -> Picker {
        let mut options: Vec<PickOption> = index
            .patients
            .iter()
            .map(|p| PickOption {
                value: Some(p.patient_id.clone()),
                label: format!("{} → {}", p.label(), plan.code(&p.patient_id).unwrap_or("…")),
                note: if current.as_deref() == Some(p.patient_id.as_str()) {
                    "current".into()
                } else {
                    String::new()
                },
            })
            .collect();
        if let Some(a) = automatic {
            options.insert(
                0,
                PickOption {
                    value: None,
                    label: a.into(),
                    note: String::new(),
                },
            );
        }
        let selected = options.iter().position(|o| o.value == current).unwrap_or(0);
        let title = match &target {
            PickFor::Xml(p) => format!("Patient of {}", p.display()),
            PickFor::File(p) => format!("Patient of {} (it has no PatientID)", p.display()),
            PickFor::Group(g) => format!("Patient of {g}"),
            PickFor::Node(p) => format!("Send {} patient(s)", p.len()),
        };
        Picker {
            target,
            title,
            options,
            selected,
        }
    }

    /// The node picker for sending `patients` (`who`: how the title names them).
    #[must_use]
    pub fn nodes(patients: Vec<String>, who: &str, nodes: &[NodeChoice]) -> Picker {
        Picker {
            target: PickFor::Node(patients),
            title: format!("Send {who}"),
            options: nodes
                .iter()
                .map(|n| PickOption {
                    value: Some(n.name.clone()),
                    label: n.name.clone(),
                    note: n.describe.clone(),
                })
                .collect(),
            selected: 0,
        }
    }

    #[must_use]
    pub fn context(&self) -> Context {
        match self.target {
            PickFor::Group(_) => Context::SourcePicker,
            PickFor::Xml(_) | PickFor::File(_) => Context::PatientPicker,
            PickFor::Node(_) => Context::NodePicker,
        }
    }

    pub fn on_action(&mut self, action: Action) -> Outcome {
        let last = self.options.len().saturating_sub(1);
        match action {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::PageUp | Action::Top => self.selected = 0,
            Action::PageDown | Action::Bottom => self.selected = last,
            Action::Close => return Outcome::Close,
            Action::Choose => {
                return Outcome::Do(Intent::Pick {
                    target: self.target.clone(),
                    choice: self.options.get(self.selected).and_then(|o| o.value.clone()),
                });
            }
            _ => {}
        }
        Outcome::Keep
    }

    pub fn clamp(&mut self) {
        self.selected = self.selected.min(self.options.len().saturating_sub(1));
    }

    /// What the picker decides, in its own words.
    fn intro(&self) -> [&'static str; 2] {
        match self.target {
            PickFor::Group(_) => [
                "Choose the CT series this mask series was drawn on.",
                "A suggestion is never a link until you choose it.",
            ],
            PickFor::Xml(_) => [
                "Choose the patient this XML file belongs to.",
                "It is written with that patient's files, their identifiers replaced by the code.",
            ],
            PickFor::File(_) => [
                "This file has no PatientID: choose the patient it belongs to.",
                "It is written under that patient's code, with the patient's other files.",
            ],
            PickFor::Node(_) => [
                "Choose the node to send to (the config file's [nodes]).",
                "The output files are verified first; only those found clean are sent.",
            ],
        }
    }

    pub fn draw(&self, f: &mut Frame, screen: Rect, t: &Theme) {
        let [what, note] = self.intro();
        let mut lines = vec![Line::raw(what), Line::styled(note, t.dim()), Line::raw("")];
        let inner = usize::from(WIDTH.min(screen.width.saturating_sub(2)).saturating_sub(2));
        // Options that fit: the dialog has borders, three intro rows and two of keys.
        let room = usize::from(screen.height.saturating_sub(2 + 2 + 3 + 2)).max(2);
        let height = |o: &PickOption| if o.note.is_empty() { 1 } else { 2 };
        let mut first = 0;
        while first < self.selected && self.options[first..=self.selected].iter().map(height).sum::<usize>() > room {
            first += 1;
        }
        for (i, o) in self.options.iter().enumerate().skip(first) {
            let style = if i == self.selected {
                t.selected(true)
            } else {
                ratatui::style::Style::new()
            };
            lines.push(Line::styled(
                format!(" {} ", fit(&o.label, inner.saturating_sub(2))),
                style,
            ));
            if !o.note.is_empty() {
                lines.push(Line::styled(
                    format!("     {}", fit(&o.note, inner.saturating_sub(5))),
                    t.dim(),
                ));
            }
        }
        with_keys(f, t, &self.title, lines, keys_line(t, self.context()), WIDTH, screen);
    }
}

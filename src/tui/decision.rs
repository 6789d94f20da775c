//! Review decisions as data: what the user decided (a status, a link, a repair switch, an
//! assignment, a write), applied to the `Workspace` here by one pure function. The screen
//! applies a change at once; the runtime saves the same change (see `effects`).

use std::path::{Path, PathBuf};

use crate::review::{Status, Workspace};

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Status {
        patient: String,
        status: Status,
    },
    /// A write ended: the patient is written (or partly) to `to`, at `at` (RFC 3339).
    Written {
        patient: String,
        status: Status,
        at: String,
        to: PathBuf,
    },
    /// A segmentation group's source series by hand (`None`: back to automatic).
    Link {
        group: String,
        series: Option<String>,
    },
    Repair {
        group: String,
        on: bool,
    },
    /// An XML file's patient by hand (`None`: back to automatic).
    AssignXml {
        path: PathBuf,
        patient: Option<String>,
    },
    /// A DICOM file without a `PatientID` given to a patient by hand (`None`: automatic).
    AssignFile {
        path: PathBuf,
        patient: Option<String>,
    },
}

impl Change {
    pub fn apply(&self, ws: &mut Workspace) {
        match self {
            Change::Status { patient, status } => ws.set_status(patient, *status),
            Change::Written {
                patient,
                status,
                at,
                to,
            } => {
                let e = ws.patient_mut(patient);
                e.status = *status;
                e.written_at = Some(at.clone());
                e.written_to = Some(to.clone());
            }
            Change::Link { group, series } => set(&mut ws.links, group.clone(), series.clone()),
            Change::Repair { group, on: true } => {
                ws.no_repair.remove(group);
            }
            Change::Repair { group, on: false } => {
                ws.no_repair.insert(group.clone());
            }
            Change::AssignXml { path, patient } => set(&mut ws.xml_assignments, path.clone(), patient.clone()),
            Change::AssignFile { path, patient } => set(&mut ws.file_assignments, path.clone(), patient.clone()),
        }
    }

    /// Whether the change alters what is planned (and so needs a new plan).
    #[must_use]
    pub fn changes_plan(&self) -> bool {
        matches!(
            self,
            Change::Link { .. } | Change::Repair { .. } | Change::AssignXml { .. } | Change::AssignFile { .. }
        )
    }
}

fn set<K: Ord, V>(map: &mut std::collections::BTreeMap<K, V>, key: K, value: Option<V>) {
    match value {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

pub fn apply_all(changes: &[Change], ws: &mut Workspace) {
    for c in changes {
        c.apply(ws);
    }
}

/// A patient's status as this screen shows it: "written" (or "partly written") only for
/// the output folder it was written to; written elsewhere, the review still holds.
#[must_use]
pub fn shown_status(ws: &Workspace, patient: &str, out: &Path) -> Status {
    let Some(r) = ws.patient(patient) else {
        return Status::Pending;
    };
    match r.status {
        Status::Written | Status::PartlyWritten if r.written_to.as_deref() != Some(out) => Status::Reviewed,
        s => s,
    }
}

/// When the patient was written to `out` (all or part of it), if it was.
#[must_use]
pub fn written_here(ws: &Workspace, patient: &str, out: &Path) -> Option<String> {
    let r = ws.patient(patient)?;
    (r.written_to.as_deref() == Some(out)).then(|| r.written_at.clone().unwrap_or_default())
}

/// Where else the patient was written, and when, if not to `out`.
#[must_use]
pub fn written_elsewhere(ws: &Workspace, patient: &str, out: &Path) -> Option<(PathBuf, String)> {
    let r = ws.patient(patient)?;
    let to = r.written_to.as_ref().filter(|t| t.as_path() != out)?;
    Some((to.clone(), r.written_at.clone().unwrap_or_default()))
}

/// The plan of these patients changed after they were looked at: back to pending, so that
/// nothing is approved that nobody saw.
pub fn back_to_pending<'a>(ws: &Workspace, patients: impl IntoIterator<Item = &'a str>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for p in patients {
        let already = out
            .iter()
            .any(|c| matches!(c, Change::Status { patient, .. } if patient == p));
        if ws.status(p) != Status::Pending && !already {
            out.push(Change::Status {
                patient: p.to_string(),
                status: Status::Pending,
            });
        }
    }
    out
}

/// What `r` does to a patient: the new status, or why nothing.
///
/// # Errors
///
/// Why, when the patient is being written or is written already (wholly or in part).
pub fn toggle_reviewed(shown: Status) -> Result<Status, &'static str> {
    match shown {
        Status::Pending | Status::Failed => Ok(Status::Reviewed),
        Status::Reviewed => Ok(Status::Pending),
        Status::Approved => Err("is being written"),
        Status::Written => Err("is written already; a writes it again"),
        Status::PartlyWritten => Err("is partly written; a writes the rest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_to_the_workspace() {
        let mut ws = Workspace::default();
        apply_all(
            &[
                Change::Link {
                    group: "G".into(),
                    series: Some("1.2".into()),
                },
                Change::Repair {
                    group: "G".into(),
                    on: false,
                },
                Change::AssignXml {
                    path: "a.xml".into(),
                    patient: Some("P1".into()),
                },
                Change::Status {
                    patient: "P1".into(),
                    status: Status::Reviewed,
                },
            ],
            &mut ws,
        );
        assert_eq!(ws.links["G"], "1.2");
        assert!(ws.no_repair.contains("G"));
        assert_eq!(ws.xml_assignments[Path::new("a.xml")], "P1");
        assert_eq!(ws.status("P1"), Status::Reviewed);
        Change::Link {
            group: "G".into(),
            series: None,
        }
        .apply(&mut ws);
        assert!(ws.links.is_empty());
    }

    #[test]
    fn written_counts_only_for_its_output_folder() {
        let mut ws = Workspace::default();
        Change::Written {
            patient: "P1".into(),
            status: Status::Written,
            at: "2026-01-01T00:00:00Z".into(),
            to: "/out/a".into(),
        }
        .apply(&mut ws);
        assert_eq!(shown_status(&ws, "P1", Path::new("/out/a")), Status::Written);
        assert_eq!(shown_status(&ws, "P1", Path::new("/out/b")), Status::Reviewed);
        assert!(written_here(&ws, "P1", Path::new("/out/a")).is_some());
        assert!(written_here(&ws, "P1", Path::new("/out/b")).is_none());
        assert_eq!(
            written_elsewhere(&ws, "P1", Path::new("/out/b")).map(|w| w.0),
            Some(PathBuf::from("/out/a"))
        );
        assert_eq!(shown_status(&ws, "P2", Path::new("/out/a")), Status::Pending);
    }

    #[test]
    fn a_changed_plan_sends_patients_back_to_pending() {
        let mut ws = Workspace::default();
        ws.set_status("P1", Status::Reviewed);
        ws.set_status("P2", Status::Written);
        let back = back_to_pending(&ws, ["P1", "P2", "P3", "P1"]);
        assert_eq!(back.len(), 2, "{back:?}");
        apply_all(&back, &mut ws);
        assert_eq!(ws.status("P1"), Status::Pending);
        assert_eq!(ws.status("P2"), Status::Pending);
        assert_eq!(toggle_reviewed(Status::Pending), Ok(Status::Reviewed));
        assert_eq!(toggle_reviewed(Status::Reviewed), Ok(Status::Pending));
        assert!(toggle_reviewed(Status::Written).is_err());
    }
}

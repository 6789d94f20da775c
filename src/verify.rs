//! Verify: re-read what was written and check it against the plan and the input — every
//! planned edit present, every other element and the pixel data unchanged, the output
//! readable by an independent reader (dicom-rs) — and search it for residual identifiers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::dicom::parse::{ElementKind, Parsed, parse_file};
use crate::dicom::{dict, text};
use crate::plan::{FilePlan, Planner};
use crate::progress::Progress;
use crate::residual::{Identifiers, Residual, residual_in};
use crate::scan::{Index, Instance};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Relative to the output folder.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    /// `missing`, `unreadable`, `edit`, `changed`, `pixel-data`, `transfer-syntax`, `dicom-rs`.
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    pub ok: usize,
    pub problems: Vec<Problem>,
    pub residual: Vec<Residual>,
    /// The check was interrupted: what is not listed was not checked (never a clean bill).
    pub cancelled: bool,
}

impl VerifyReport {
    /// Nothing wrong was found, and everything was checked.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.residual.is_empty() && !self.cancelled
    }
}

/// Verifies the output folder `out` against the input `index` and the plan `planner` makes.
pub fn verify(out: &Path, index: &Index, planner: &Planner, progress: Progress, cancel: &AtomicBool) -> VerifyReport {
    let jobs: Vec<(&str, &Instance, Identifiers)> = index
        .patients
        .iter()
        .flat_map(|p| {
            let ids = Identifiers::new(&p.identity);
            p.instances().map(move |i| (p.patient_id.as_str(), i, ids.clone()))
        })
        .collect();
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    let results: Vec<(Vec<Problem>, Vec<Residual>)> = jobs
        .par_iter()
        .filter_map(|(pid, inst, ids)| {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            let r = verify_one(&index.root, out, planner, pid, inst, ids);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            Some(r)
        })
        .collect();
    let mut report = VerifyReport {
        checked: results.len(),
        cancelled: cancel.load(Ordering::Relaxed),
        ..VerifyReport::default()
    };
    // XML files may name several patients: look for everyone's identifiers.
    let mut everyone = crate::identity::Identity::default();
    for p in &index.patients {
        let i = &p.identity;
        everyone.ids.extend(i.ids.iter().cloned());
        everyone.names.extend(i.names.iter().cloned());
        everyone.birth_dates.extend(i.birth_dates.iter().cloned());
    }
    let everyone = Identifiers::new(&everyone);
    let xml_results: Vec<(Vec<Problem>, Vec<Residual>)> = index
        .xml
        .par_iter()
        .filter(|x| !cancel.load(Ordering::Relaxed) && planner.xml_owner(&x.path).is_some())
        .map(|x| verify_xml(&index.root, out, planner, x, &everyone))
        .collect();
    report.checked += xml_results.len();
    for (problems, residual) in results.into_iter().chain(xml_results) {
        if problems.is_empty() && residual.is_empty() {
            report.ok += 1;
        }
        report.problems.extend(problems);
        report.residual.extend(residual);
    }
    report
}

/// An XML output must be exactly what the plan makes of its input, and hold no identifier.
fn verify_xml(
    root: &Path,
    out: &Path,
    planner: &Planner,
    x: &crate::scan::XmlFile,
    ids: &Identifiers,
) -> (Vec<Problem>, Vec<Residual>) {
    let problem = |path: &Path, kind: &str, detail: String| Problem {
        path: path.to_path_buf(),
        kind: kind.into(),
        detail,
    };
    let (bytes, fp) = match planner.plan_xml(root, x) {
        Ok(v) => v,
        Err(e) => {
            return (
                vec![problem(&x.path, "unreadable", format!("input: {}", e.reason))],
                Vec::new(),
            );
        }
    };
    let Ok(written) = std::fs::read(out.join(&fp.dest)) else {
        return (vec![problem(&fp.dest, "missing", "no output file".into())], Vec::new());
    };
    let mut problems = Vec::new();
    match crate::xml::rewrite_to_vec(&bytes, &fp.plan) {
        Ok(expected) if expected == written => {}
        Ok(_) => problems.push(problem(
            &fp.dest,
            "xml",
            "differs from what the plan makes of the input".into(),
        )),
        Err(e) => problems.push(problem(&fp.dest, "xml", format!("the plan cannot be applied: {e}"))),
    }
    let residual = match crate::xml::residual(&written, ids) {
        Ok(hits) => hits
            .into_iter()
            .map(|h| Residual {
                path: fp.dest.clone(),
                element: format!("{} (line {})", h.path, h.line),
                keyword: "XML".into(),
                identifier: h.kind,
            })
            .collect(),
        Err(e) => {
            problems.push(problem(&fp.dest, "unreadable", format!("XML: {e}")));
            Vec::new()
        }
    };
    (problems, residual)
}

fn verify_one(
    root: &Path,
    out: &Path,
    planner: &Planner,
    patient_id: &str,
    inst: &Instance,
    ids: &Identifiers,
) -> (Vec<Problem>, Vec<Residual>) {
    let mut problems = Vec::new();
    let problem = |path: &Path, kind: &str, detail: String| Problem {
        path: path.to_path_buf(),
        kind: kind.into(),
        detail,
    };
    let (input, plan) = match planner.plan_file(root, inst, patient_id) {
        Ok(x) => x,
        Err(e) => {
            problems.push(problem(&inst.path, "unreadable", format!("input: {}", e.reason)));
            return (problems, Vec::new());
        }
    };
    let out_path = out.join(&plan.dest);
    if !out_path.exists() {
        problems.push(problem(&plan.dest, "missing", "no output file".into()));
        return (problems, Vec::new());
    }
    let output = match parse_file(&out_path) {
        Ok(p) => p,
        Err(e) => {
            problems.push(problem(&plan.dest, "unreadable", e.to_string()));
            return (problems, Vec::new());
        }
    };
    compare(&input, &output, &plan, &mut problems);
    if plan.clear_preamble {
        let mut pre = [0u8; 128];
        if output.read_at(0, &mut pre).is_err() || pre.iter().any(|&b| b != 0) {
            problems.push(problem(
                &plan.dest,
                "changed",
                "the file preamble should be zeroed".into(),
            ));
        }
    }
    independent_read(&root.join(&inst.path), &out_path, &plan.dest, &mut problems);
    let residual = residual_in(&output, &plan.dest, ids, &[]);
    (problems, residual)
}

/// Checks the output against the input and the plan, element by element.
fn compare(input: &Parsed, output: &Parsed, plan: &FilePlan, problems: &mut Vec<Problem>) {
    let dest = &plan.dest;
    let mut push = |kind: &str, detail: String| {
        problems.push(Problem {
            path: dest.clone(),
            kind: kind.into(),
            detail,
        })
    };
    if input.layout.transfer_syntax != output.layout.transfer_syntax {
        push(
            "transfer-syntax",
            format!(
                "transfer syntax changed from {} to {}",
                crate::dicom::parse::transfer_syntax_name(&input.layout.transfer_syntax),
                crate::dicom::parse::transfer_syntax_name(&output.layout.transfer_syntax)
            ),
        );
    }
    let out_paths: HashMap<String, usize> = (0..output.elements.len()).map(|i| (output.path(i), i)).collect();
    let edits: HashMap<&str, &crate::plan::Edit> = plan.edits.iter().map(|e| (e.path.as_str(), e)).collect();
    let paths: Vec<String> = (0..input.elements.len()).map(|i| input.path(i)).collect();
    // What lies inside a removed element or an emptied sequence is gone with it.
    let replaced: Vec<bool> = paths
        .iter()
        .zip(&input.elements)
        .map(|(p, e)| {
            edits
                .get(p.as_str())
                .is_some_and(|ed| ed.after.is_none() || e.kind == ElementKind::Sequence)
        })
        .collect();

    let mut seen = vec![false; output.elements.len()];
    for (i, (e, path)) in input.elements.iter().zip(paths).enumerate() {
        if input.within(i, &replaced) {
            continue;
        }
        let found = out_paths.get(&path).copied();
        if let Some(o) = found {
            seen[o] = true;
        }
        if let Some(edit) = edits.get(path.as_str()) {
            match (&edit.after, found) {
                (None, Some(_)) => push("edit", format!("{path} ({}) should have been removed", edit.keyword)),
                (Some(_), None) => push("edit", format!("{path} ({}) is missing", edit.keyword)),
                (Some(after), Some(o)) => {
                    let oe = &output.elements[o];
                    let got = output
                        .value(oe)
                        .map(|v| text::decode(v, oe.value_vr(), &output.charset, oe.enc))
                        .unwrap_or_default();
                    if got != *after {
                        push(
                            "edit",
                            format!("{path} ({}) does not hold the planned value", edit.keyword),
                        );
                    }
                }
                (None, None) => {}
            }
            continue;
        }
        let Some(o) = found else {
            push(
                "changed",
                format!("{path} ({}) is missing from the output", dict::display_name(e.tag)),
            );
            continue;
        };
        let oe = &output.elements[o];
        // A group length follows its group: it must equal the group's length as written.
        if e.tag.1 == 0x0000 && oe.length == 4 {
            if let Some(v) = output.value(oe)
                && u64::from(oe.enc.u32(v)) != group_length(output, o)
            {
                push(
                    "changed",
                    format!("{path} ({}) does not match its group", dict::display_name(e.tag)),
                );
            }
            continue;
        }
        let same = match e.kind {
            ElementKind::Sequence => oe.kind == ElementKind::Sequence,
            ElementKind::Value => input.value(e) == output.value(oe),
            ElementKind::Bulk | ElementKind::Encapsulated => same_bytes(
                input,
                e.value_start,
                output,
                oe.value_start,
                e.value_len(),
                oe.value_len(),
            ),
        };
        if !same {
            let kind = if e.tag == crate::dicom::tags::PIXEL_DATA {
                "pixel-data"
            } else {
                "changed"
            };
            push(
                kind,
                format!("{path} ({}) differs from the input", dict::display_name(e.tag)),
            );
        }
    }
    // Elements the plan adds (a repaired mask lacking InstanceNumber, say).
    for edit in plan.edits.iter().filter(|e| e.element == crate::plan::INSERTED) {
        match out_paths.get(edit.path.as_str()) {
            Some(&o) => {
                seen[o] = true;
                let oe = &output.elements[o];
                if oe.kind == ElementKind::Sequence {
                    // An added sequence (the de-identification method codes): its content is
                    // what the plan made; it has no counterpart in the input.
                    let prefix = format!("{}[", edit.path);
                    for (p, &j) in &out_paths {
                        if p.starts_with(&prefix) {
                            seen[j] = true;
                        }
                    }
                    continue;
                }
                let got = output
                    .value(oe)
                    .map(|v| text::decode(v, oe.value_vr(), &output.charset, oe.enc));
                if got.as_deref() != edit.after.as_deref() {
                    push(
                        "edit",
                        format!("{} ({}) does not hold the planned value", edit.path, edit.keyword),
                    );
                }
            }
            None => push(
                "edit",
                format!("{} ({}) should have been added", edit.path, edit.keyword),
            ),
        }
    }
    for (o, was_seen) in seen.iter().enumerate() {
        if !was_seen {
            let oe = &output.elements[o];
            push(
                "changed",
                format!(
                    "{} ({}) is in the output but not in the input",
                    output.path(o),
                    dict::display_name(oe.tag)
                ),
            );
        }
    }
}

/// The bytes taken by the elements of a group length element's group (itself excluded).
fn group_length(p: &Parsed, gl: usize) -> u64 {
    let g = &p.elements[gl];
    p.elements
        .iter()
        .enumerate()
        .filter(|(i, e)| *i != gl && e.parent == g.parent && e.tag.0 == g.tag.0)
        .map(|(_, e)| e.end - e.start)
        .sum()
}

/// Compares two byte ranges (pixel data) without loading them whole.
fn same_bytes(a: &Parsed, a_start: u64, b: &Parsed, b_start: u64, a_len: u64, b_len: u64) -> bool {
    if a_len != b_len {
        return false;
    }
    let mut buf_a = vec![0u8; 1 << 20];
    let mut buf_b = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < a_len {
        let n = ((a_len - off) as usize).min(buf_a.len());
        if a.read_at(a_start + off, &mut buf_a[..n]).is_err() || b.read_at(b_start + off, &mut buf_b[..n]).is_err() {
            return false;
        }
        if buf_a[..n] != buf_b[..n] {
            return false;
        }
        off += n as u64;
    }
    true
}

/// What kind of failure a dicom-rs read error is, in dams' words.
fn dicom_rs_kind(e: &dicom_object::ReadError) -> &'static str {
    use dicom_object::ReadError as E;
    match e {
        E::OpenFile { .. } | E::ReadFile { .. } => "the file cannot be opened or read",
        E::ReadPreambleBytes { .. } => "the preamble cannot be read",
        E::ParseMetaDataSet { .. } => "the file meta group cannot be parsed",
        E::PrematureEnd { .. } => "it ends too early",
        E::ParseSopAttribute { .. } => "a SOP attribute cannot be parsed",
        E::ReadUnrecognizedTransferSyntax { .. }
        | E::ReadUnsupportedTransferSyntax { .. }
        | E::ReadUnsupportedTransferSyntaxWithSuggestion { .. } => "its transfer syntax is not supported",
        E::CreateParser { .. } | E::ReadToken { .. } | E::UnexpectedToken { .. } | E::MissingElementValue { .. } => {
            "the data set cannot be parsed"
        }
        _ => "the data set cannot be read",
    }
}

/// An independent reader must be able to read the output if it could read the input.
fn independent_read(input: &Path, output: &Path, dest: &Path, problems: &mut Vec<Problem>) {
    let open = |p: &Path| {
        dicom_object::OpenFileOptions::new()
            .read_until(crate::dicom::tags::PIXEL_DATA)
            .open_file(p)
            .map(|_| ())
    };
    if open(input).is_ok()
        && let Err(e) = open(output)
    {
        problems.push(Problem {
            path: dest.to_path_buf(),
            kind: "dicom-rs".into(),
            // dicom-rs's own message may quote what it read (a tag's value, a VR, a UID): its
            // kind is enough to say what went wrong.
            detail: format!("dicom-rs cannot read the output ({})", dicom_rs_kind(&e)),
        });
    }
}

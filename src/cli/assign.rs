//! `dams assign PATH [WHAT=PATIENT …]`: the DICOM files without a `PatientID`, the patient each
//! was given and why, and assignments by hand (a file, a folder of such files, or a
//! `StudyInstanceUID`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use dams::key::KeyStore;
use dams::scan::Index;

use super::{Ctx, Exit, KeyArg, ProfileArgs, output};

#[allow(clippy::doc_markdown)] // clap prints these doc comments as the help text, where backticks would show
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder whose files to list or assign.
    pub path: PathBuf,
    /// Print JSON (the shape is in the README and assets/schemas/assign.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Give files without a PatientID to a patient: WHAT=PATIENT, where WHAT is a file, a
    /// folder (every such file below it) or a StudyInstanceUID, and PATIENT a PatientID or a
    /// code. The decision is kept with the review state.
    #[arg(value_name = "WHAT=PATIENT")]
    pub assign: Vec<String>,
    /// Remove an assignment made by hand.
    #[arg(long = "clear", value_name = "WHAT")]
    pub clear: Vec<String>,
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// The patient a user names by `PatientID` or by code (a patient of this folder).
pub fn patient(index: &Index, key: &KeyStore, who: &str) -> Result<String> {
    let who = who.trim();
    index
        .patients
        .iter()
        .find(|p| p.patient_id == who || key.code_for(&p.patient_id) == Some(who))
        .map(|p| p.patient_id.clone())
        .with_context(|| format!("{who}: no such patient (give the PatientID or the code)"))
}

/// What a FILE, FOLDER or STUDY names: files without a `PatientID` of their own. A file or a
/// folder is kept as it is (files placed in that folder later follow it).
fn targets(index: &Index, root: &Path, what: &str) -> Result<Vec<PathBuf>> {
    let what = what.trim();
    let rel = Path::new(what);
    let rel = rel.strip_prefix(root).unwrap_or(rel);
    if !rel.as_os_str().is_empty() && index.orphans().any(|h| h.instance.path.starts_with(rel)) {
        return Ok(vec![rel.to_path_buf()]);
    }
    let by_study: Vec<PathBuf> = index
        .orphans()
        .filter(|h| h.study_uid == what)
        .map(|h| h.instance.path.clone())
        .collect();
    if !by_study.is_empty() {
        return Ok(by_study);
    }
    if index
        .patients
        .iter()
        .flat_map(dams::scan::Patient::instances)
        .any(|i| i.path.starts_with(rel))
    {
        bail!("{what}: its files have a PatientID of their own; dams assigns only files without one");
    }
    bail!(
        "{what}: no file without a PatientID there (give a file or folder inside {}, or a StudyInstanceUID)",
        root.display()
    )
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    let path = super::input_folder(&a.path)?;
    // Nothing is created before the files and patients given are found.
    let mut engine = super::open_engine_unmade(&a.key, &a.profile, ctx)?;
    let mut index = super::scan_input(&mut engine, &path, a.json, vec![])?;
    if !a.assign.is_empty() || !a.clear.is_empty() {
        let mut set = Vec::new();
        for x in &a.assign {
            let (what, who) = x.rsplit_once('=').context("WHAT=PATIENT expected")?;
            let pid = patient(&index, engine.key(), who)?;
            for t in targets(&index, &path, what)? {
                set.push((t, pid.clone()));
            }
        }
        let ws = engine.workspace(&path)?;
        let mut cleared = Vec::new();
        for c in &a.clear {
            let rel = Path::new(c.trim());
            let rel = rel.strip_prefix(&path).unwrap_or(rel).to_path_buf();
            if !ws.file_assignments.contains_key(&rel) {
                bail!("{}: not assigned by hand", rel.display());
            }
            cleared.push(rel);
        }
        super::make_key_store(&mut engine)?;
        let ws = engine.update_workspace(&path, |w| {
            for (f, p) in &set {
                w.file_assignments.insert(f.clone(), p.clone());
            }
            for f in &cleared {
                w.file_assignments.remove(f);
            }
        })?;
        engine.replace_files(&mut index, &ws)?;
        if !a.json {
            say_err!("saved in {}", engine.review().location());
        }
    }
    super::make_key_store(&mut engine)?;
    let prepared = engine.prepare(&index)?;
    super::print_text(|out| output::assign_report(out, &index, &prepared.planner, a.json))?;
    Ok(Exit::Done)
}

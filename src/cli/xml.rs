//! `dams xml PATH`: the XML files, whose they are, and assignments by hand.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Ctx, Exit, KeyArg, ProfileArgs};

#[allow(clippy::doc_markdown)] // clap prints these doc comments as the help text, where backticks would show
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder whose XML files to list.
    pub path: PathBuf,
    /// Print JSON (the shape is in the README and assets/schemas/xml.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Assign an XML file to a patient: FILE=PATIENT (PatientID or code).
    #[arg(long = "assign", value_name = "FILE=PATIENT")]
    pub assign: Vec<String>,
    /// Remove an assignment made by hand.
    #[arg(long = "clear", value_name = "FILE")]
    pub clear: Vec<String>,
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    let path = super::input_folder(&a.path)?;
    // Nothing is created before the files and patients given are found.
    let mut engine = super::open_engine_unmade(&a.key, &a.profile, ctx)?;
    let index = super::scan_input(&mut engine, &path, a.json, vec![])?;
    if !a.assign.is_empty() || !a.clear.is_empty() {
        let find_file = |name: &str| -> Result<PathBuf> {
            let rel = Path::new(name.trim());
            let rel = rel.strip_prefix(&path).unwrap_or(rel);
            index
                .xml
                .iter()
                .find(|x| x.path == rel)
                .map(|x| x.path.clone())
                .with_context(|| format!("{name}: no such XML file in {}", path.display()))
        };
        let mut set = Vec::new();
        for x in &a.assign {
            let (file, who) = x.split_once('=').context("--assign takes FILE=PATIENT")?;
            set.push((find_file(file)?, super::assign::patient(&index, engine.key(), who)?));
        }
        let cleared = a.clear.iter().map(|c| find_file(c)).collect::<Result<Vec<_>>>()?;
        super::make_key_store(&mut engine)?;
        engine.update_workspace(&path, |w| {
            for (f, p) in &set {
                w.xml_assignments.insert(f.clone(), p.clone());
            }
            for f in &cleared {
                w.xml_assignments.remove(f);
            }
        })?;
        if !a.json {
            say_err!("saved in {}", engine.review().location());
        }
    }
    super::make_key_store(&mut engine)?;
    let prepared = super::prepare(&engine, &index)?;
    let planner = &prepared.planner;
    let rows: Vec<serde_json::Value> = index
        .xml
        .iter()
        .map(|x| match planner.xml_owner(&x.path) {
            Some((pid, by)) => serde_json::json!({
                "path": x.path.to_string_lossy(), "patient_id": dams::identity::real_id(pid),
                "patient_key": pid, "code": planner.code(pid), "assigned_by": by, "reason": null,
            }),
            None => serde_json::json!({
                "path": x.path.to_string_lossy(), "patient_id": null, "patient_key": null, "code": null,
                "assigned_by": null,
                "reason": planner.unassigned_xml.iter().find(|u| u.path == x.path).map(|u| u.reason.clone()),
            }),
        })
        .collect();
    if a.json {
        super::print_json(&serde_json::json!({ "xml": rows }))?;
    } else {
        super::print_text(|out| super::output::xml_text(out, &path, &rows))?;
    }
    // A listing: whatever it lists, it is done (apply says what it could not write).
    Ok(Exit::Done)
}

//! `dams scan PATH`: what is there.

use std::path::PathBuf;

use anyhow::Result;

use super::{Ctx, Exit, KeyArg, output};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder to scan.
    pub path: PathBuf,
    /// Print JSON (the shape is in the README and assets/schemas/scan.schema.json).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub key: KeyArg,
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    let path = super::input_folder(&a.path)?;
    // Scanning uses the key store only for the decisions made in review (files assigned by
    // hand); it creates nothing.
    let key = dams::key::KeyStore::open_lean(&super::key_path(&a.key)?)?;
    let mut engine = dams::engine::Engine::new(key, dams::profile::Profile::resolve(None, &[])?, ctx.cancel.clone())?;
    let index = match super::scan_input(&mut engine, &path, a.json, Vec::new()) {
        Ok(index) => index,
        // Stopped: with --json, a whole document that says so (what is not listed was not read).
        Err(_) if a.json && ctx.cancel.is_cancelled() => {
            let mut json = serde_json::to_value(dams::scan::Index::new(&path))?;
            json["cancelled"] = serde_json::json!(true);
            super::print_json(&json)?;
            return Ok(Exit::Cancelled);
        }
        Err(e) => return Err(e),
    };
    // Input that is dams output already, by the rule plan and review use (its codes).
    let pseudonymised: Vec<Option<String>> = index
        .patients
        .iter()
        .map(|p| p.looks_pseudonymised(engine.key()))
        .collect();
    if a.json {
        let mut json = serde_json::to_value(&index)?;
        json["cancelled"] = serde_json::json!(false);
        if let Some(patients) = json["patients"].as_array_mut() {
            for (p, why) in patients.iter_mut().zip(&pseudonymised) {
                p["looks_pseudonymised"] = serde_json::json!(why);
            }
        }
        super::print_json(&json)?;
    } else {
        let links = engine.links(&index);
        super::print_text(|out| output::scan_text(out, &index, &links, &pseudonymised))?;
    }
    Ok(Exit::Done)
}

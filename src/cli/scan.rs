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
    let key = dams::key::KeyStore::open(&super::key_path(&a.key)?)?;
    let engine = dams::engine::Engine::new(key, dams::profile::Profile::resolve(None, &[])?, ctx.cancel.clone())?;
    let index = super::scan_input(&engine, &path, a.json, Vec::new())?;
    if a.json {
        super::print_json(&index)?;
    } else {
        let links = engine.links(&index);
        super::print_text(|out| output::scan_text(out, &index, &links))?;
    }
    Ok(Exit::Done)
}

//! `dams verify OUT --against PATH`: the output checked against the input and its plan.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::{Ctx, Exit, KeyArg, ProfileArgs, Progress, output};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The output folder to check (what `dams apply` wrote).
    pub out: PathBuf,
    /// The input folder OUT was made from.
    #[arg(long, value_name = "PATH")]
    pub against: PathBuf,
    /// Print the report as JSON (the shape is in the README and assets/schemas/verify.json).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    let against = super::input_folder(&a.against)?;
    super::input_folder(&a.out)?;
    let engine = super::open_engine(&a.key, &a.profile, ctx)?;
    let index = super::scan_input(&engine, &against, a.json, vec![a.out.clone()])?;
    let prepared = super::prepare(&engine, &index)?;
    if !prepared.planner.new_entries.is_empty() {
        bail!(
            "{} patient(s) of {} have no code in the key store {}: was this output made with another key?",
            prepared.planner.new_entries.len(),
            against.display(),
            engine.key().location()
        );
    }
    let progress = Progress::new("verify", a.json);
    let report = engine.verify(&a.out, &index, &prepared, &|d, t| progress.update(d, t));
    progress.finish();
    if a.json {
        super::print_json(&report)?;
    } else {
        super::print_text(|out| output::verify_text(out, &report))?;
    }
    Ok(if report.cancelled {
        Exit::Cancelled
    } else {
        Exit::unless(!report.is_clean())
    })
}

//! `dams verify OUT [--against PATH]`: the output folder checked against the manifest apply
//! wrote into it (every file, its digest, its names and values searched for identifiers) and,
//! with `--against`, against the input and its plan. The profile is the one the manifest
//! records: no `--profile` is needed.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use dams::engine::Engine;
use dams::verify::VerifyReport;

use super::{Ctx, Exit, KeyArg, ProfileArgs, Progress, output};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The output folder to check (what `dams apply` wrote).
    pub out: PathBuf,
    /// The input folder OUT was made from: each output is compared with its input and the
    /// plan as well.
    #[arg(long, value_name = "PATH")]
    pub against: Option<PathBuf>,
    /// Print the report as JSON (the shape is in the README and assets/schemas/verify.schema.json).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub key: KeyArg,
    /// Not needed: the manifest in OUT names the profile (given, it must be the same).
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    super::input_folder(&a.out)?;
    let against = a.against.as_deref().map(super::input_folder).transpose()?;
    let key_path = super::key_path(&a.key)?;
    // verify reads the key the output was made with; it never makes one.
    if !super::key_exists(&key_path) {
        bail!(
            "no key store at {}: verify needs the key the output was made with (--key FILE)",
            key_path.display()
        );
    }
    let key = dams::key::KeyStore::open(&key_path)?;
    let (_, profile) = dams::verify::open(&a.out, &key)?;
    if a.profile.profile.is_some() || !a.profile.values.is_empty() || !a.profile.options.is_empty() {
        let given = a.profile.resolve()?;
        if dams::manifest::profile_fingerprint(&given) != dams::manifest::profile_fingerprint(&profile) {
            bail!(
                "{} was written with profile {} (its manifest records the rules); --profile, --value or --option name other rules. Leave them out: verify uses the manifest's",
                a.out.display(),
                profile.name
            );
        }
    }
    let mut engine = dams::engine::Engine::new(key, profile, ctx.cancel.clone())?;
    let report = check(&a, &mut engine, against.as_deref(), ctx)?;
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

/// The check, after a scan of the input when there is one. Stopped in that scan, it is a
/// report of nothing checked that says it was cancelled.
fn check(a: &Args, engine: &mut Engine, against: Option<&Path>, ctx: &Ctx) -> Result<VerifyReport> {
    let Some(input) = against else {
        let progress = Progress::new("verify", a.json);
        let report = engine.verify(&a.out, None, &|d, t| progress.update(d, t))?;
        progress.finish();
        return Ok(report);
    };
    let index = match super::scan_input(engine, input, a.json, vec![a.out.clone()]) {
        Ok(index) => index,
        Err(_) if ctx.cancel.is_cancelled() => {
            return Ok(VerifyReport {
                profile: engine.profile().name.clone(),
                against_input: true,
                cancelled: true,
                ..VerifyReport::default()
            });
        }
        Err(e) => return Err(e),
    };
    let prepared = super::prepare(engine, &index)?;
    if !prepared.planner.new_entries.is_empty() {
        bail!(
            "{} patient(s) of {} have no code in the key store {}: was this output made from it, with this key?",
            prepared.planner.new_entries.len(),
            input.display(),
            engine.key().location()
        );
    }
    // The bar of the check, made when the check starts (not `0/0` during the scan).
    let progress = Progress::new("verify", a.json);
    let report = engine.verify(&a.out, Some((&index, &prepared)), &|d, t| progress.update(d, t))?;
    progress.finish();
    Ok(report)
}

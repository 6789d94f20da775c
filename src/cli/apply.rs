//! `dams apply PATH --out OUT`: write the pseudonymised copy (or, with `--in-place`, replace
//! the inputs). Without `--yes` it shows what will be written and asks.

use std::collections::BTreeSet;
use std::io::{self, IsTerminal};
use std::path::PathBuf;

use anyhow::{Result, bail};

use dams::apply::{ApplyReport, Target};

use super::{Ctx, Exit, KeyArg, ProfileArgs, Progress, output};

#[allow(clippy::doc_markdown)] // clap prints these doc comments as the help text, where backticks would show
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder to pseudonymise.
    pub path: PathBuf,
    /// The output folder (required unless --in-place; created if needed; must be outside
    /// PATH).
    #[arg(
        long,
        value_name = "OUT",
        required_unless_present = "in_place",
        conflicts_with = "in_place"
    )]
    pub out: Option<PathBuf>,
    /// Replace the input files themselves (each atomically). Only with this flag.
    #[arg(long)]
    pub in_place: bool,
    /// Do not ask for confirmation (needed when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Give new codes even to input that looks like dams output already (PatientIDs that are
    /// codes of the key store, or files marked de-identified by dams).
    #[arg(long)]
    pub recode: bool,
    /// Under the Basic Profile, write images that may show identifiers in their pixels too
    /// (BurnedInAnnotation YES; secondary captures and ultrasound that do not say NO). No
    /// profile changes pixels: look at them first.
    #[arg(long)]
    pub accept_burned_in: bool,
    /// Replace files in OUT that dams did not write (its manifest does not list them), and
    /// take over an OUT written with other rules (the manifest starts afresh).
    #[arg(long)]
    pub overwrite: bool,
    /// Write only shard K of N (0-based) of the patients, by code: `--shard 2/8`, or `--shard
    /// slurm` inside a Slurm array job. Every patient needs a code first (`dams key
    /// allocate PATH`), unless the key is a shared database. Each shard writes a manifest and
    /// mapping table of its own (`dams-manifest.K-of-N.json`); `dams verify OUT` reads them all.
    #[arg(long, value_name = "K/N|slurm", conflicts_with = "in_place")]
    pub shard: Option<String>,
    /// Print the report as JSON (the shape is in the README and assets/schemas/apply.schema.json).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    let path = super::input_folder(&a.path)?;
    let shard = match a.shard.as_deref().map(dams::manifest::Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => bail!("{e}"),
    };
    let target = match &a.out {
        Some(out) if !a.in_place => Target::Folder(out.clone()),
        _ => Target::InPlace,
    };
    // Refuse before anything is created.
    if !a.yes && !io::stdin().is_terminal() {
        bail!("refusing to write without confirmation: not on a terminal; pass --yes to apply without asking");
    }
    a.profile.resolve()?;
    dams::apply::check_target(
        &path,
        &target,
        &dams::key::Location::from_arg(&super::key_path(&a.key)?),
    )?;
    // The key store is made (if new) with the first code, once every refusal is past.
    let mut engine = super::open_engine_unmade(&a.key, &a.profile, ctx)?;
    let exclude = match &target {
        Target::Folder(o) => vec![o.clone()],
        Target::InPlace => vec![],
    };
    let index = match super::scan_input(&mut engine, &path, a.json, exclude) {
        Ok(index) => index,
        // Stopped in the scan: nothing was written, and the report says why.
        Err(_) if ctx.cancel.is_cancelled() => return stopped_before_writing(&a),
        Err(e) => return Err(e),
    };
    let mut prepared = super::prepare(&engine, &index)?;
    set_flags(&a, &mut prepared.planner, shard);
    // Shards on several machines must not give codes of their own: with a key file, every
    // code comes first, from one `key allocate` (a database hands them out in transactions).
    let shared_key = matches!(engine.key().location(), dams::key::Location::Postgres { .. });
    let new_codes = prepared.planner.new_entries.len();
    if shard.is_some() && new_codes > 0 && !shared_key {
        bail!(
            "--shard: {new_codes} patient(s) have no code yet, and shards must not give codes of their own with a key file; give every patient its code first: dams key allocate {}",
            super::shell_word(&path)
        );
    }
    dams::apply::check_output(&prepared.planner, engine.key(), &target)?;
    if !a.yes && !ask(&index, &mut prepared, &target, &engine)? {
        if ctx.cancel.is_cancelled() {
            return stopped_before_writing(&a);
        }
        say_err!("Nothing was written.");
        return Ok(Exit::Attention);
    }
    dams::apply::check_recoding(
        &index,
        &prepared.planner,
        shard_patients(&index, &prepared, shard).as_ref(),
    )?;
    // The codes first, in one transaction; when another process sharing the key gave out
    // some of the proposed codes meanwhile, this plans again with the codes the key holds.
    let existed = engine.key().exists();
    let committed = engine.commit_codes(&index, &mut prepared)?;
    if !existed {
        super::said_created(&engine);
    }
    set_flags(&a, &mut prepared.planner, shard);
    let only = shard_patients(&index, &prepared, shard);
    let progress = Progress::new("apply", a.json);
    let mut report = engine.apply(&index, &prepared, &target, only.as_ref(), &|d, t| progress.update(d, t))?;
    report.key_entries_created += committed;
    progress.finish();
    tracing::info!(written = report.written, failed = report.failed.len(), "applied");
    print_report(&report, a.json)?;
    Ok(exit(&report))
}

/// What the command line asks of the planner (set again when the codes were planned anew).
fn set_flags(a: &Args, planner: &mut dams::plan::Planner, shard: Option<dams::manifest::Shard>) {
    planner.recode |= a.recode;
    planner.overwrite = a.overwrite;
    planner.accept_burned_in = a.accept_burned_in;
    planner.shard = shard;
}

/// The shard's patients, by their codes (known to every shard alike once committed).
fn shard_patients(
    index: &dams::scan::Index,
    prepared: &dams::plan::Prepared,
    shard: Option<dams::manifest::Shard>,
) -> Option<BTreeSet<String>> {
    shard.map(|s| {
        index
            .patients
            .iter()
            .filter(|p| prepared.planner.code(&p.patient_id).is_some_and(|c| s.holds(c)))
            .map(|p| p.patient_id.clone())
            .collect()
    })
}

/// Ctrl-C before the write (in the scan, or the check before the question): the report of a
/// run that wrote nothing, `cancelled` (exit 130).
fn stopped_before_writing(a: &Args) -> Result<Exit> {
    let report = ApplyReport {
        out: a.out.clone().filter(|_| !a.in_place),
        cancelled: true,
        ..ApplyReport::default()
    };
    print_report(&report, a.json)?;
    Ok(exit(&report))
}

fn print_report(report: &ApplyReport, json: bool) -> Result<()> {
    if json {
        super::print_json(report)
    } else {
        super::print_text(|out| output::apply_text(out, report))
    }
}

/// Shows what will be written and asks (and, for input that looks like dams output, asks
/// whether to code it again).
fn ask(
    index: &dams::scan::Index,
    prepared: &mut dams::plan::Prepared,
    target: &Target,
    engine: &dams::engine::Engine,
) -> Result<bool> {
    // On stderr, which may be closed: what cannot be shown does not stop the question.
    let _ = output::apply_summary(
        &mut io::stderr().lock(),
        index,
        &prepared.planner,
        target,
        engine.key().location(),
    );
    // What the write would leave, from the same check the review screen and the report use.
    let progress = Progress::new("check", false);
    let stays = engine.check(index, prepared, None, &|d, t| progress.update(d, t));
    progress.finish();
    let stays = match stays {
        Ok(s) => s,
        Err(dams::engine::EngineError::Cancelled) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let _ = output::stays_text(&mut io::stderr().lock(), &stays, "  warning:   ");
    let planner = &mut prepared.planner;
    let recoded = planner.pseudonymised_patients().count();
    if recoded > 0 && !planner.recode {
        planner.recode = super::confirm(
            &format!("{recoded} patient(s) look like dams output already. Give them new codes anyway?"),
            engine.cancel(),
        )?;
        if !planner.recode {
            return Ok(false);
        }
    }
    let n = index.file_count();
    super::confirm(
        &format!("Write {n} file{}?", if n == 1 { "" } else { "s" }),
        engine.cancel(),
    )
}

/// 0 when every file that could be written was; skipped files (not DICOM or XML, DICOMDIRs,
/// links not followed) do not count; a DICOMDIR that could not be written where it goes does.
pub fn exit(r: &ApplyReport) -> Exit {
    if r.cancelled {
        return Exit::Cancelled;
    }
    let damaged = r.unreadable.iter().any(|u| !u.kind.is_skipped());
    let dicomdir_failed = r.dicomdirs.iter().any(|d| d.failed);
    Exit::unless(
        !r.failed.is_empty() || damaged || dicomdir_failed || !r.unplaced.is_empty() || !r.unassigned_xml.is_empty(),
    )
}

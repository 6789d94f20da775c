//! `dams map PATH`: which CT series each mask, SEG and RTSTRUCT was drawn on, and how sure
//! that is; manual links and repairs switched on or off.

use std::path::PathBuf;

use anyhow::{Context, Result};

use dams::link::LinkStatus;

use super::{Ctx, Exit, KeyArg, ProfileArgs, output};

#[allow(clippy::doc_markdown)] // clap prints these doc comments as the help text, where backticks would show
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder whose segmentations to map.
    pub path: PathBuf,
    /// Print JSON (the shape is in the README and assets/schemas/map.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Link a segmentation series to its source by hand: GROUP=SERIES, each named by folder
    /// (e.g. PAT1/mask_orphan=PAT1/ct_soft), group key or SeriesInstanceUID.
    #[arg(long = "set", value_name = "GROUP=SERIES")]
    pub set: Vec<String>,
    /// Remove a manual link (back to what the references say).
    #[arg(long = "clear", value_name = "GROUP")]
    pub clear: Vec<String>,
    /// Leave a mask series' tags as they are.
    #[arg(long = "no-repair", value_name = "GROUP")]
    pub no_repair: Vec<String>,
    /// Repair a mask series' tags again (undo --no-repair).
    #[arg(long = "repair", value_name = "GROUP")]
    pub repair: Vec<String>,
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    let path = super::input_folder(&a.path)?;
    // Nothing is created before the names given are found.
    let mut engine = super::open_engine_unmade(&a.key, &a.profile, ctx)?;
    let index = super::scan_input(&mut engine, &path, a.json, vec![])?;
    let changes = !(a.set.is_empty() && a.clear.is_empty() && a.no_repair.is_empty() && a.repair.is_empty());
    if changes {
        // Names are resolved against the automatic links, then saved by key and UID.
        let links = dams::link::resolve(&index);
        let mut set = Vec::new();
        for s in &a.set {
            let (g, series) = s.split_once('=').context("--set takes GROUP=SERIES")?;
            set.push(links.manual_link(g.trim(), series.trim())?);
        }
        let key_of = |name: &String| -> Result<String> { Ok(links.find_group(name)?.key.clone()) };
        let clear = a.clear.iter().map(key_of).collect::<Result<Vec<_>>>()?;
        let no_repair = a.no_repair.iter().map(key_of).collect::<Result<Vec<_>>>()?;
        let repair = a.repair.iter().map(key_of).collect::<Result<Vec<_>>>()?;
        super::make_key_store(&mut engine)?;
        engine.update_workspace(&path, |w| {
            for (g, s) in &set {
                w.links.insert(g.clone(), s.clone());
            }
            for g in &clear {
                w.links.remove(g);
            }
            for g in &no_repair {
                w.no_repair.insert(g.clone());
            }
            for g in &repair {
                w.no_repair.remove(g);
            }
        })?;
        if !a.json {
            say_err!("saved in {}", engine.review().location());
        }
    }
    super::make_key_store(&mut engine)?;
    let prepared = super::prepare(&engine, &index)?;
    if a.json {
        super::print_json(&prepared.links)?;
    } else {
        super::print_text(|out| output::map_text(out, &index, &prepared))?;
    }
    // A mask without a sure source needs a decision before it is written.
    let unsure = prepared
        .links
        .groups
        .iter()
        .any(|g| matches!(g.status, LinkStatus::Unmatched | LinkStatus::Ambiguous));
    Ok(Exit::unless(unsure))
}

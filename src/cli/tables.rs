//! `dams tables OUT`: joins the mapping table parts the shards of a split run wrote
//! (`mapping.K-of-N.csv`, `.json`) into the `mapping.csv` and `mapping.json` one run writes.
//! It reads only the output folder (no key store, no input); the report is a line of counts
//! (like `dams key allocate`, no `--json`: there is nothing in it a script needs to parse).

use std::path::PathBuf;

use anyhow::Result;

use super::{Ctx, Exit};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The output folder the shards wrote into (`dams apply … --out OUT --shard K/N`).
    pub out: PathBuf,
}

pub fn run(a: Args, _: &Ctx) -> Result<Exit> {
    let out = super::input_folder(&a.out)?;
    let report = dams::tables::join(&out)?;
    if report.written.is_empty() {
        say_out!(
            "no shard of {} found a segmentation: no mapping table to join (one run writes none either)",
            report.shards
        );
    } else {
        say_out!(
            "joined the mapping tables of {} shard(s): {} row(s) in {}",
            report.shards,
            report.rows,
            report
                .written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        );
    }
    Ok(Exit::Done)
}

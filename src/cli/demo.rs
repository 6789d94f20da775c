//! `dams demo`: a synthetic workspace in a temporary folder, opened in the review screen, or
//! planned, written and verified with the headless commands.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use anyhow::{Result, bail};

use super::{Ctx, Exit, KeyArg, ProfileArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Make the workspace here instead of a temporary folder (it must be empty or new).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Plan, write and verify it with the headless commands instead of opening the review
    /// screen (also what happens without a terminal).
    #[arg(long)]
    pub headless: bool,
    /// The config file naming the DICOM nodes the review screen can send to (default:
    /// $DAMS_CONFIG, else config.toml in dams' config folder).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// The demo in the review screen, and how to open it again.
#[cfg(feature = "tui")]
fn review(
    a: &Args,
    profile: dams::profile::Profile,
    base: &std::path::Path,
    (input, out, key_path): (&PathBuf, &PathBuf, &PathBuf),
) -> Result<Exit> {
    let opts = dams::tui::Options {
        root: input.clone(),
        out: out.clone(),
        key_path: key_path.clone(),
        profile,
        config: a.config.clone(),
    };
    dams::tui::run(opts)?;
    say_out!(
        "Demo workspace: {} (input, output, and its own key store in state/)",
        base.display()
    );
    // The review state is kept in the demo's key store: this continues where it was left.
    let config = a
        .config
        .as_deref()
        .map(|c| format!(" --config {}", super::shell_word(c)))
        .unwrap_or_default();
    say_out!(
        "Reopen it with: dams {} --out {} --key {}{config}",
        super::shell_word(input),
        super::shell_word(out),
        super::shell_word(key_path)
    );
    Ok(Exit::Done)
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    let base = match &a.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("dams-demo-{}", std::process::id())),
    };
    if base.exists() && std::fs::read_dir(&base)?.next().is_some() {
        bail!("{} is not empty; choose another --dir", base.display());
    }
    let profile = a.profile.resolve()?;
    let input = dams::demo::make_workspace(&base)?;
    let key_path = base.join("state").join("key.db");
    let out = base.join("output");
    let key = KeyArg {
        key: Some(key_path.clone()),
    };
    #[cfg(feature = "tui")]
    if !a.headless && io::stdout().is_terminal() && io::stdin().is_terminal() {
        return review(&a, profile, &base, (&input, &out, &key_path));
    }
    say_out!("Demo workspace: {}", base.display());
    say_out!("  input:  {}", input.display());
    say_out!("  output: {}", out.display());
    say_out!("  key:    {}\n", key_path.display());
    super::plan::run(
        super::plan::Args {
            path: input.clone(),
            json: false,
            files: false,
            accept_burned_in: false,
            key: key.clone(),
            profile: a.profile.clone(),
        },
        ctx,
    )?;
    say_out!("\n--- dams apply {} --out {} --yes", input.display(), out.display());
    let applied = super::apply::run(
        super::apply::Args {
            shard: None,
            path: input.clone(),
            out: Some(out.clone()),
            in_place: false,
            yes: true,
            recode: false,
            accept_burned_in: false,
            overwrite: false,
            json: false,
            key: key.clone(),
            profile: a.profile.clone(),
        },
        ctx,
    )?;
    if applied == Exit::Cancelled {
        return Ok(applied);
    }
    say_out!("\n--- dams verify {} --against {}", out.display(), input.display());
    let verified = super::verify::run(
        super::verify::Args {
            out: out.clone(),
            against: Some(input.clone()),
            json: false,
            key: key.clone(),
            profile: a.profile.clone(),
        },
        ctx,
    )?;
    if verified == Exit::Cancelled {
        return Ok(verified);
    }
    if a.profile.profile.is_none() {
        say_out!("\nThe seed profile changes what the original script did and cleans the patients' names, IDs and");
        say_out!(
            "birth dates from all other text; it keeps accession numbers and referring physicians (verify lists them)."
        );
        say_out!(
            "The DICOM Basic Profile removes those too: dams plan {} --profile basic",
            input.display()
        );
    }
    say_out!(
        "\nTry: dams plan {} --key {} --files",
        input.display(),
        key_path.display()
    );
    Ok(Exit::Done)
}

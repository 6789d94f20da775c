//! `dams [PATH]`: the review screen.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

#[cfg(feature = "tui")]
use anyhow::Context;
use anyhow::{Result, bail};

use super::{Ctx, Exit, KeyArg, ProfileArgs};

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// The folder to review (default: the current folder).
    pub path: Option<PathBuf>,
    /// Where approved patients are written (default: a folder beside PATH named
    /// PATH-pseudonymised).
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// The config file naming the DICOM nodes written patients can be sent to with s
    /// (default: $DAMS_CONFIG, else config.toml in dams' config folder).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

impl Args {
    /// What only the review screen takes, given with a command (it would be ignored).
    pub fn misplaced_for_command(&self) -> Option<&'static str> {
        if self.path.is_some() {
            Some("a folder before the command")
        } else if self.out.is_some() {
            Some("--out before the command")
        } else if self.config.is_some() {
            Some("--config before the command (give it after the command: `dams send … --config FILE`)")
        } else {
            None
        }
    }
}

/// The default output folder: beside the input, named `<input>-pseudonymised`.
#[cfg(feature = "tui")]
fn default_out(root: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let name = abs
        .file_name()
        .map_or_else(|| "dams".into(), |n| n.to_string_lossy().into_owned());
    abs.with_file_name(format!("{name}-pseudonymised"))
}

pub fn run(a: Args, _: &Ctx) -> Result<Exit> {
    let path = super::input_folder(a.path.as_deref().unwrap_or(Path::new(".")))?;
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        bail!("the review screen needs a terminal; for scripts use `dams plan` and `dams apply`");
    }
    let profile = a.profile.resolve()?;
    let key_path = super::key_path(&a.key)?;
    #[cfg(not(feature = "tui"))]
    {
        let _ = (profile, key_path, a.out, a.config, path);
        bail!("this dams was built without the review screen (cargo feature `tui`); use `dams plan` and `dams apply`")
    }
    #[cfg(feature = "tui")]
    {
        dams::key::KeyStore::open_or_create(&key_path)?;
        let opts = dams::tui::Options {
            out: a.out.unwrap_or_else(|| default_out(&path)),
            root: std::fs::canonicalize(&path).with_context(|| format!("{}", path.display()))?,
            key_path,
            profile,
            config: a.config,
        };
        dams::tui::run(opts)?;
        Ok(Exit::Done)
    }
}

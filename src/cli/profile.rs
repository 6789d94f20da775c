//! `dams profile list | show NAME`: the built-in profiles.

use anyhow::{Result, bail};

use dams::profile::Profile;

use super::Exit;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List the built-in profiles.
    List,
    /// Print a built-in profile's TOML (a starting point for your own).
    Show {
        /// A built-in profile's name (see `dams profile list`).
        name: String,
    },
}

pub fn run(c: Command) -> Result<Exit> {
    match c {
        Command::List => {
            super::print_text(|out| {
                for name in dams::profile::builtin_names() {
                    match Profile::resolve(Some(name), &[]) {
                        Ok(p) => say!(out, "{name:10} {}", p.description)?,
                        Err(e) => say!(out, "{name:10} (cannot be read: {e})")?,
                    }
                }
                Ok(())
            })?;
            Ok(Exit::Done)
        }
        Command::Show { name } => match dams::profile::builtin_text(&name) {
            Some(t) => {
                super::print_text(|out| out.write_all(t.as_bytes()))?;
                Ok(Exit::Done)
            }
            None => bail!(
                "no built-in profile '{name}' (built-in: {})",
                dams::profile::builtin_names().join(", ")
            ),
        },
    }
}

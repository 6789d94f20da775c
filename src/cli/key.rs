//! `dams key …`: the key store — where it is, how codes look, codes imported from a table,
//! the key exported as a table, and re-identification of a code.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use dams::key::KeyStore;

use super::{Exit, KeyArg};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Show where the key store is and what it holds.
    Info(KeyArg),
    /// Create the key store, choosing how generated codes look (e.g. --prefix STUDY- --digits 4).
    Init {
        /// What every generated code starts with (letters, digits, '-', '_', '.').
        #[arg(long, default_value = dams::key::DEFAULT_PREFIX)]
        prefix: String,
        /// How many digits the number of a generated code has (zero-padded).
        #[arg(long, default_value_t = dams::key::DEFAULT_DIGITS)]
        digits: usize,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Import codes from a CSV table with a header row (PatientID and code columns).
    Import {
        /// The table (`,`, `;` or tab separated, UTF-8).
        file: PathBuf,
        /// Header of the PatientID column (default: PatientID, patient_id, ID, PID).
        #[arg(long)]
        id_column: Option<String>,
        /// Header of the code column (default: code, pseudonym, subject, SubjectID, study_id).
        #[arg(long)]
        code_column: Option<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Export the key as CSV, to stdout or to a file written owner-only.
    Export {
        /// CSV is the export format (the flag is accepted for clarity).
        #[arg(long)]
        csv: bool,
        /// Write the table to this file (owner-only) instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists.
        #[arg(long, requires = "output")]
        force: bool,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Show the original identifiers behind a code (re-identification).
    Lookup {
        /// A code of the key store.
        code: String,
        #[command(flatten)]
        key: KeyArg,
    },
}

impl Command {
    pub fn key_arg(&mut self) -> &mut KeyArg {
        match self {
            Command::Info(key)
            | Command::Init { key, .. }
            | Command::Import { key, .. }
            | Command::Export { key, .. }
            | Command::Lookup { key, .. } => key,
        }
    }
}

/// The key store for reading and managing it (not created if missing).
fn open(key: &KeyArg) -> Result<KeyStore> {
    let store = KeyStore::open(&super::key_path(key)?)?;
    for w in &store.warnings {
        say_err!("dams: warning: {w}");
    }
    Ok(store)
}

pub fn run(c: Command) -> Result<Exit> {
    match c {
        Command::Info(key) => info(&key),
        Command::Init { prefix, digits, key } => init(&key, &prefix, digits),
        Command::Import {
            file,
            id_column,
            code_column,
            key,
        } => {
            let mut store = open(&key)?;
            let added = store.import_csv(&file, id_column.as_deref(), code_column.as_deref())?;
            say_out!(
                "imported {added} new entr{} into {}",
                if added == 1 { "y" } else { "ies" },
                store.path().display()
            );
            Ok(Exit::Done)
        }
        Command::Export {
            csv: _,
            output,
            force,
            key,
        } => export(&key, output, force),
        Command::Lookup { code, key } => lookup(&key, &code),
    }
}

fn info(key: &KeyArg) -> Result<Exit> {
    let store = open(key)?;
    let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for e in store.entries() {
        *by_source.entry(e.source.as_str()).or_default() += 1;
    }
    super::print_text(|out| {
        say!(out, "key store: {}", store.path().display())?;
        if !store.exists() {
            return say!(
                out,
                "not created yet (it is created when the first code is written, or by `dams key init`)"
            );
        }
        say!(
            out,
            "codes look like: {}{}",
            store.prefix(),
            "0".repeat(store.digits().saturating_sub(1)) + "1"
        )?;
        say!(out, "entries: {}", store.entries().len())?;
        for (source, n) in by_source {
            say!(out, "  {source}: {n}")?;
        }
        Ok(())
    })?;
    Ok(Exit::Done)
}

fn init(key: &KeyArg, prefix: &str, digits: usize) -> Result<Exit> {
    let mut store = open(key)?;
    if store.exists() && (store.prefix() != prefix || store.digits() != digits) && !store.entries().is_empty() {
        bail!(
            "the key store {} already exists with codes like {}…; it is left as it is",
            store.path().display(),
            store.prefix()
        );
    }
    store.set_format(prefix, digits)?;
    store.save()?;
    say_out!(
        "key store {} ready; new codes will look like {prefix}{:0digits$}",
        store.path().display(),
        1
    );
    Ok(Exit::Done)
}

fn export(key: &KeyArg, output: Option<PathBuf>, force: bool) -> Result<Exit> {
    let store = open(key)?;
    match output {
        Some(path) => {
            if path.exists() && !force {
                bail!("{} exists; pass --force to replace it", path.display());
            }
            dams::atomic::write_file(&path, 0o600, |w| store.export_csv(w))
                .with_context(|| format!("cannot write {}", path.display()))?;
            say_err!(
                "wrote {} entries to {} (readable by you only)",
                store.entries().len(),
                path.display()
            );
        }
        None => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            store.export_csv(&mut out)?;
            out.flush()?;
        }
    }
    Ok(Exit::Done)
}

fn lookup(key: &KeyArg, code: &str) -> Result<Exit> {
    let store = open(key)?;
    match store.entry_by_code(code) {
        Some(e) => {
            super::print_text(|out| {
                say!(out, "code:         {}", e.code)?;
                say!(out, "patient ID:   {}", e.patient_id)?;
                say!(out, "patient name: {}", e.patient_name)?;
                say!(out, "birth date:   {}", e.birth_date)?;
                say!(out, "added:        {} ({})", e.added, e.source)
            })?;
            Ok(Exit::Done)
        }
        None => {
            say_err!("dams: no entry with code {code} in {}", store.path().display());
            Ok(Exit::Attention)
        }
    }
}

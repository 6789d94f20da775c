//! `dams key …`: the key store — where it is, how codes look, codes imported from a table or
//! another store, the key exported as a table or whole, re-identification of a code, and codes
//! given to the patients of folders ahead of writing them.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use dams::key::KeyStore;

use super::{Ctx, Exit, KeyArg};

#[allow(clippy::doc_markdown)] // clap prints these doc comments as the help text, where backticks would show
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
    /// Import codes from a CSV table with a header row (PatientID and code columns, and
    /// optionally the patients' date offsets), or a key file from `dams key export --json` or
    /// an earlier dams' key.json.
    Import {
        /// The table (`,`, `;` or tab separated, UTF-8), or a dams key file (JSON).
        file: PathBuf,
        /// Header of the PatientID column (default: PatientID, patient_id, ID, PID).
        #[arg(long)]
        id_column: Option<String>,
        /// Header of the code column (default: code, pseudonym, subject, SubjectID, study_id).
        #[arg(long)]
        code_column: Option<String>,
        /// Header of the column of each patient's date offset, in whole days (-36500 to
        /// 36500, not 0; an empty cell for none). Default: date_offset, offset, offset_days,
        /// shift_days or date_shift, if the table has one.
        #[arg(long)]
        offset_column: Option<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Export the key as CSV, to stdout or to a file written owner-only; or whole as JSON.
    Export {
        /// CSV, the default: a table for spreadsheets (codes and identifiers).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// The whole key as one checksummed JSON file (settings, secret, codes, the real IDs
        /// seen), for moving it to another key store with `dams key import`.
        #[arg(long)]
        json: bool,
        /// Write the table to this file (owner-only) instead of stdout (`-` is stdout).
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
    /// Give codes to every patient found in the folders now, in one transaction (the codes
    /// one run over all of them would give), without writing anything else.
    Allocate {
        /// The input folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
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
            | Command::Lookup { key, .. }
            | Command::Allocate { key, .. } => key,
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

pub fn run(c: Command, ctx: &Ctx) -> Result<Exit> {
    match c {
        Command::Info(key) => info(&key),
        Command::Init { prefix, digits, key } => init(&key, &prefix, digits),
        Command::Import {
            file,
            id_column,
            code_column,
            offset_column,
            key,
        } => {
            let mut store = open(&key)?;
            let offsets = |s: &KeyStore| s.entries().iter().filter(|e| e.date_offset.is_some()).count();
            let before = offsets(&store);
            let added = store.import_file(
                &file,
                id_column.as_deref(),
                code_column.as_deref(),
                offset_column.as_deref(),
            )?;
            let recorded = offsets(&store).saturating_sub(before);
            say_out!(
                "imported {added} new entr{} into {}{}",
                if added == 1 { "y" } else { "ies" },
                store.location(),
                match recorded {
                    0 => String::new(),
                    1 => " (1 date offset recorded)".into(),
                    n => format!(" ({n} date offsets recorded)"),
                }
            );
            Ok(Exit::Done)
        }
        Command::Export {
            csv: _,
            json,
            output,
            force,
            key,
        } => export(&key, output, force, json),
        Command::Lookup { code, key } => lookup(&key, &code),
        Command::Allocate { paths, key } => allocate(&key, &paths, ctx),
    }
}

fn info(key: &KeyArg) -> Result<Exit> {
    let store = open(key)?;
    let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for e in store.entries() {
        *by_source.entry(e.source.as_str()).or_default() += 1;
    }
    super::print_text(|out| {
        say!(out, "key store: {}", store.location())?;
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
        say!(out, "kept in: {}", store.describe())?;
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
            store.location(),
            store.prefix()
        );
    }
    store.set_format(prefix, digits)?;
    store.save()?;
    say_out!(
        "key store {} ready; new codes will look like {prefix}{:0digits$}",
        store.location(),
        1
    );
    Ok(Exit::Done)
}

fn export(key: &KeyArg, output: Option<PathBuf>, force: bool, json: bool) -> Result<Exit> {
    let store = open(key)?;
    let export = |w: &mut dyn Write| {
        if json {
            store.export_json(w)
        } else {
            store.export_csv(w)
        }
    };
    // `-o -` is stdout, as for most tools (a file named `-` is `-o ./-`).
    if let Some(path) = output.filter(|p| p.as_os_str() != "-") {
        if path.exists() && !force {
            bail!("{} exists; pass --force to replace it", path.display());
        }
        dams::atomic::write_file(&path, 0o600, export).with_context(|| format!("cannot write {}", path.display()))?;
        say_err!(
            "wrote {} entries to {} (readable by you only)",
            store.entries().len(),
            path.display()
        );
    } else {
        let mut out = io::BufWriter::new(io::stdout().lock());
        export(&mut out)?;
        out.flush()?;
    }
    Ok(Exit::Done)
}

fn lookup(key: &KeyArg, code: &str) -> Result<Exit> {
    // One indexed look-up, not a read of the whole key.
    let mut store = KeyStore::open_lean(&super::key_path(key)?)?;
    for w in &store.warnings {
        say_err!("dams: warning: {w}");
    }
    store.fetch(&[], &[code])?;
    match store.entry_by_code(code) {
        Some(e) => {
            super::print_text(|out| {
                say!(out, "code:         {}", e.code)?;
                if let Some(id) = e.real_patient_id() {
                    say!(out, "patient ID:   {id}")?
                } else {
                    say!(out, "patient ID:   (none: {})", e.kind())?;
                    say!(out, "patient key:  {}", e.patient_id)?;
                }
                say!(out, "patient name: {}", e.patient_name)?;
                say!(out, "birth date:   {}", e.birth_date)?;
                match e.date_offset {
                    Some(days) => say!(out, "date offset:  {days} days")?,
                    None => say!(out, "date offset:  (none recorded)")?,
                }
                say!(out, "added:        {} ({})", e.added, e.source)
            })?;
            Ok(Exit::Done)
        }
        None => {
            say_err!("dams: no entry with code {code} in {}", store.location());
            Ok(Exit::Attention)
        }
    }
}

/// `dams key allocate PATH…`: codes for every patient found in the folders, in one
/// transaction, in patient-key order over all of them: the codes one run over all of them
/// would give, fixed before any of them is written (e.g. by several machines at once).
fn allocate(key: &KeyArg, paths: &[PathBuf], ctx: &Ctx) -> Result<Exit> {
    let folders: Vec<PathBuf> = paths.iter().map(|p| super::input_folder(p)).collect::<Result<_>>()?;
    let mut engine = super::open_engine(key, &super::ProfileArgs::default(), ctx)?;
    let mut all = Vec::new();
    for path in &folders {
        let index = super::scan_input(&mut engine, path, false, vec![])?;
        all.extend(dams::plan::candidates(&index));
    }
    let new = engine.allocate(&all)?;
    let known: std::collections::BTreeSet<&str> = all.iter().map(|c| c.key.as_str()).collect();
    say_out!(
        "{} patient(s) found; {} new code(s) added to {}, {} had one already",
        known.len(),
        new,
        engine.key().location(),
        known.len() - new
    );
    Ok(Exit::Done)
}

//! The headless commands, one file each: its arguments (`Args`) and `run`, which calls the
//! engine and prints the result, as text for people or JSON for scripts. Progress and
//! messages go to stderr, results to stdout. This file holds what they share: the command
//! table, the options several commands take, and how an engine is opened.

/// A line of text output (`writeln!` with the same arguments) in which every control
/// character the arguments bring — file names, values, reasons that quote them — is escaped
/// (see [`dams::shown`]): a file name holding a line break cannot forge a line. Line breaks at
/// the start or end of the format string itself are dams' own and stay; a format string holds
/// no other line break (write two lines instead).
macro_rules! say {
    ($out:expr) => { ::std::writeln!($out) };
    ($out:expr, $fmt:literal $($args:tt)*) => {
        $crate::cli::say_line(&mut *$out, $fmt, ::std::format_args!($fmt $($args)*))
    };
}

/// [`say!`] to stderr (for messages beside the results). A failed write is ignored: stderr may
/// be closed (`dams plan 2>&1 | head`), and a message is not worth a panic (`eprintln!`) or an
/// error. Everything dams writes to stderr goes through this or [`err_line`].
macro_rules! say_err {
    ($fmt:literal $($args:tt)*) => {{
        let _ = $crate::cli::say_line(&mut ::std::io::stderr().lock(), $fmt, ::std::format_args!($fmt $($args)*));
    }};
}

/// [`say!`] to stdout.
macro_rules! say_out {
    ($fmt:literal $($args:tt)*) => {{
        let _ = $crate::cli::say_line(&mut ::std::io::stdout().lock(), $fmt, ::std::format_args!($fmt $($args)*));
    }};
}

mod apply;
mod assign;
#[cfg(feature = "demo")]
mod demo;
mod exit;
mod key;
mod map;
mod output;
mod plan;
mod profile;
mod progress;
mod review;
mod scan;
pub mod send;
mod tables;
mod verify;
mod xml;

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};

use dams::engine::Engine;
use dams::key::KeyStore;
use dams::profile::Profile;
use dams::progress::Cancel;

pub use exit::Exit;
pub use progress::Progress;

#[derive(Parser)]
#[command(
    name = "dams",
    version,
    about = "Pseudonymise folders of DICOM images with codes from a mapping key, and see every change before it is written.",
    after_help = "Without a command, dams opens the review screen on PATH (default: the current folder).\nExit status: 0 done, 1 done but something needs attention, 2 usage error or nothing could be done, 130 stopped by Ctrl-C."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    review: review::Args,
}

#[allow(clippy::doc_markdown)] // clap prints these doc comments as the help text, where backticks would show
#[derive(Subcommand)]
enum Command {
    /// List patients, studies and series found below PATH, and the files that were skipped or
    /// could not be read.
    Scan(scan::Args),
    /// Show every change that would be made to PATH. Writes nothing.
    Plan(plan::Args),
    /// Write the pseudonymised copy of PATH into OUT (or, with --in-place, replace the inputs).
    Apply(apply::Args),
    /// Check OUT against the input: planned edits present, everything else and the pixel data
    /// unchanged, no original identifier left.
    Verify(verify::Args),
    /// Join the mapping tables of a run split into shards (`apply --shard K/N`) into the
    /// mapping.csv and mapping.json one run writes.
    Tables(tables::Args),
    /// Show which CT series each mask, SEG and RTSTRUCT was drawn on; fix links by hand.
    Map(map::Args),
    /// List the XML files and the patient each belongs to; assign them by hand.
    Xml(xml::Args),
    /// List the DICOM files without a PatientID and the patient each was given; assign them by
    /// hand.
    Assign(assign::Args),
    /// Manage the key store (original identifiers ↔ codes).
    #[command(subcommand)]
    Key(key::Command),
    /// List or show the built-in profiles.
    #[command(subcommand)]
    Profile(profile::Command),
    /// Make a small synthetic workspace in a temporary folder and open dams on it.
    #[cfg(feature = "demo")]
    Demo(demo::Args),
    /// Send OUT to a DICOM node (C-STORE or DICOMweb STOW-RS), after verify found it clean.
    Send(send::SendArgs),
    /// Check that a DICOM node answers (C-ECHO, or a DICOMweb query).
    Echo(send::EchoArgs),
    /// Fetch a study, or a patient's studies, from a DICOMweb node into a folder to review.
    Fetch(send::FetchArgs),
}

impl Command {
    /// `--key` and `--profile`/`--value`/`--option` given before the command name (`dams
    /// --key K plan X`) count for the command, where it takes them; where it does not, they
    /// are refused (they would mean nothing).
    fn inherit(&mut self, key: &KeyArg, profile: &ProfileArgs) -> Result<()> {
        let (k, p) = match self {
            Command::Scan(a) => (Some(&mut a.key), None),
            Command::Plan(a) => (Some(&mut a.key), Some(&mut a.profile)),
            Command::Apply(a) => (Some(&mut a.key), Some(&mut a.profile)),
            Command::Verify(a) => (Some(&mut a.key), Some(&mut a.profile)),
            Command::Map(a) => (Some(&mut a.key), Some(&mut a.profile)),
            Command::Xml(a) => (Some(&mut a.key), Some(&mut a.profile)),
            Command::Assign(a) => (Some(&mut a.key), Some(&mut a.profile)),
            Command::Key(c) => (Some(c.key_arg()), None),
            #[cfg(feature = "demo")]
            Command::Demo(a) => (None, Some(&mut a.profile)),
            // send verifies with the rules the output's manifest records.
            Command::Send(a) => (Some(&mut a.key), None),
            Command::Profile(_) | Command::Echo(_) | Command::Fetch(_) | Command::Tables(_) => (None, None),
        };
        if let Some(k) = k
            && k.key.is_none()
        {
            k.key.clone_from(&key.key);
        }
        let given = profile.profile.is_some() || !profile.values.is_empty() || !profile.options.is_empty();
        match p {
            Some(p) => {
                if p.profile.is_none() {
                    p.profile.clone_from(&profile.profile);
                }
                p.values.extend(profile.values.iter().cloned());
                p.options.extend(profile.options.iter().cloned());
            }
            None if given => bail!("--profile, --value and --option mean nothing for this command"),
            None => {}
        }
        Ok(())
    }
}

/// Where the key store is.
#[derive(Args, Debug, Clone, Default)]
pub struct KeyArg {
    /// The key store: a database file (default: key.db in dams' data folder,
    /// ~/.local/share/dams on Linux; an earlier dams' key.json is migrated), or a
    /// postgres:// URL for a team store.
    #[arg(long, env = "DAMS_KEY", hide_env_values = true, value_name = "FILE|URL")]
    pub key: Option<PathBuf>,
}

/// Which profile, with which values.
#[derive(Args, Debug, Clone, Default)]
pub struct ProfileArgs {
    /// A built-in profile (seed, basic; see `dams profile list`) or a profile file (default:
    /// seed).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Set a value the profile uses, e.g. --value institution="Study Centre" (repeatable).
    #[arg(long = "value", value_name = "NAME=TEXT", value_parser = parse_value)]
    pub values: Vec<(String, String)>,
    /// Add an option of PS3.15 E.3 to the profile (repeatable), e.g. --option
    /// retain-longitudinal-modified-dates: every date of a patient moves by the patient's
    /// offset, kept in the key store, so intervals stay. See `dams profile show basic`.
    #[arg(long = "option", value_name = "NAME")]
    pub options: Vec<String>,
}

impl ProfileArgs {
    pub fn resolve(&self) -> Result<Profile> {
        Ok(Profile::resolve(self.profile.as_deref(), &self.values)?.with_options(&self.options)?)
    }
}

fn parse_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| "expected NAME=TEXT".to_string())
}

/// A path as one word for a POSIX shell (quoted when it needs to be).
pub(crate) fn shell_word(p: &std::path::Path) -> String {
    let s = p.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What every command gets from `main`: the one cancellation of the run (set by Ctrl-C).
pub struct Ctx {
    pub cancel: Cancel,
}

/// Runs the command the arguments name.
pub fn run(cli: Cli, ctx: &Ctx) -> Result<Exit> {
    match cli.command {
        None => review::run(cli.review, ctx),
        Some(mut c) => {
            if let Some(what) = cli.review.misplaced_for_command() {
                bail!("{what} is for the review screen; with a command, give folders after it");
            }
            c.inherit(&cli.review.key, &cli.review.profile)?;
            match c {
                Command::Scan(a) => scan::run(a, ctx),
                Command::Plan(a) => plan::run(a, ctx),
                Command::Apply(a) => apply::run(a, ctx),
                Command::Verify(a) => verify::run(a, ctx),
                Command::Tables(a) => tables::run(a, ctx),
                Command::Map(a) => map::run(a, ctx),
                Command::Xml(a) => xml::run(a, ctx),
                Command::Assign(a) => assign::run(a, ctx),
                Command::Key(c) => key::run(c, ctx),
                Command::Profile(c) => profile::run(c),
                #[cfg(feature = "demo")]
                Command::Demo(a) => demo::run(a, ctx),
                Command::Send(a) => send::send(&a, ctx),
                Command::Echo(a) => send::echo(&a),
                Command::Fetch(a) => send::fetch(&a, ctx),
            }
        }
    }
}

/// Tracing goes to a log file in the data folder, never to the terminal. Messages carry
/// paths and counts, never identifying values.
/// Nothing is created for it: until the data folder exists (made with the key store), there
/// is no log.
pub fn init_logging() {
    let Some(dir) = dams::key::data_dir().filter(|d| d.is_dir()) else {
        return;
    };
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("dams.log"))
    else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .try_init();
}

/// An error and its causes, each said once: a cause whose words the message already holds
/// (many errors show their source in their own text) is not repeated.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// The error as shown on stderr: escaped as file text is ([`dams::shown::text`]: a name may
/// hold anything), except the line breaks dams puts between the problems of a refused import
/// ([`dams::key::KeyError::shown`]).
pub fn shown_error(e: &anyhow::Error) -> String {
    let text = error_text(e);
    match e.downcast_ref::<dams::key::KeyError>() {
        Some(k @ dams::key::KeyError::Refused { .. }) if k.to_string() == text => k.shown(),
        _ => dams::shown::text(&text).into_owned(),
    }
}

/// The output went to a reader that stopped reading (`dams plan | head`): not an error. A
/// JSON writer's error holds the I/O error without showing it as its source, so it is asked
/// for its kind too.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>().map(io::Error::kind).or_else(|| {
            c.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
        }) == Some(io::ErrorKind::BrokenPipe)
    })
}

/// The key store's path: `--key`, `DAMS_KEY`, or the default in dams' data folder.
pub fn key_path(key: &KeyArg) -> Result<PathBuf> {
    Ok(match &key.key {
        Some(p) => p.clone(),
        None => KeyStore::default_path()?,
    })
}

/// Whether a key store is there (its database, or a `key.json` of an earlier dams to migrate;
/// a database server is taken to be there): commands that only read a key never make one.
pub fn key_exists(key: &Path) -> bool {
    match dams::key::Location::from_arg(key) {
        dams::key::Location::File { db, legacy } => db.exists() || legacy.is_some_and(|l| l.exists()),
        dams::key::Location::Postgres { .. } => true,
    }
}

/// An input folder named on the command line: it must exist (checked before anything is
/// created). A name that is no folder but close to a command is probably a mistyped command.
pub fn input_folder(path: &Path) -> Result<PathBuf> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(path.to_path_buf()),
        Ok(_) => bail!("{}: not a folder", path.display()),
        Err(e) => {
            if let Some(cmd) = close_command(path) {
                bail!(
                    "{}: no such folder. Did you mean `dams {cmd}`? (dams --help lists the commands)",
                    path.display()
                );
            }
            Err(e).with_context(|| format!("{}", path.display()))
        }
    }
}

/// The arguments of the command line, or the exit status when they make none. A mistyped
/// command followed by something else (`dams plna big`) is not taken for a folder, as a word
/// alone is (see [`input_folder`]), but gets clap's "unexpected argument 'big'", which does
/// not say what is wrong: then the first free word is checked against the command names.
///
/// # Errors
///
/// The exit status, after clap's message (help and version: 0) or dams' suggestion (2).
pub fn parse() -> std::result::Result<Cli, std::process::ExitCode> {
    let e = match Cli::try_parse() {
        Ok(cli) => return Ok(cli),
        Err(e) => e,
    };
    if e.kind() == clap::error::ErrorKind::UnknownArgument
        && let Some(word) = first_free_word(std::env::args_os().skip(1))
        && let Some(cmd) = close_command(Path::new(&word))
    {
        err_line(&format!(
            "dams: {}: no such command. Did you mean `dams {cmd}`? (dams --help lists the commands)",
            dams::shown::text(&word.to_string_lossy())
        ));
        return Err(Exit::Error.into());
    }
    let _ = e.print();
    Err(std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)))
}

/// The first word of the command line that is neither an option nor the value of one given
/// before the command (`--key FILE`), unless it is a command's name.
fn first_free_word(args: impl Iterator<Item = std::ffi::OsString>) -> Option<std::ffi::OsString> {
    let cli = Cli::command();
    let takes_value = |long: &str| {
        cli.get_arguments()
            .any(|a| a.get_long() == Some(long) && a.get_action().takes_values())
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if let Some(long) = text.strip_prefix("--") {
            if !long.contains('=') && takes_value(long) {
                args.next();
            }
            continue;
        }
        if text.starts_with('-') {
            continue;
        }
        let command = cli.get_subcommands().any(|c| c.get_name() == text);
        return (!command).then_some(arg);
    }
    None
}

/// The command whose name is closest to `path`, when it is close enough to be a typo.
fn close_command(path: &Path) -> Option<String> {
    let word = path.to_str().filter(|w| !w.contains(['/', '\\', '.']))?;
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .map(|n| (strsim::damerau_levenshtein(word, &n), n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min()
        .map(|(_, n)| n)
}

/// An engine for the commands that plan: the profile is checked first, then the key store
/// is opened (created with its secret, and no code, if it is new: the UIDs a plan shows must
/// be those written later).
pub fn open_engine(key: &KeyArg, profile: &ProfileArgs, ctx: &Ctx) -> Result<Engine> {
    let mut engine = open_engine_unmade(key, profile, ctx)?;
    make_key_store(&mut engine)?;
    Ok(engine)
}

/// [`open_engine`] without creating a key store that is not there yet: for the commands that
/// check their arguments against the scan first (apply, map, xml, assign), so that a command
/// that fails on them creates nothing. Its secret is the one [`make_key_store`] (or apply's
/// first code) records.
pub fn open_engine_unmade(key: &KeyArg, profile: &ProfileArgs, ctx: &Ctx) -> Result<Engine> {
    let profile = profile.resolve()?;
    let path = key_path(key)?;
    let engine = Engine::new(KeyStore::open_lean(&path)?, profile, ctx.cancel.clone())?;
    for w in &engine.key().warnings {
        say_err!("dams: warning: {w}");
    }
    Ok(engine)
}

/// Creates the key store of an engine of [`open_engine_unmade`] when it is not there yet, and
/// says so.
pub fn make_key_store(engine: &mut Engine) -> Result<()> {
    let existed = engine.key().exists();
    engine.create_key_store()?;
    if !existed {
        said_created(engine);
    }
    Ok(())
}

/// After a key store was created: the log (in the data folder made with it) and a word to
/// the user.
pub fn said_created(engine: &Engine) {
    init_logging();
    if engine.key().created() {
        say_err!(
            "dams: created the key store {} (owner-only; keep it safe)",
            engine.key().location()
        );
    }
}

/// Scans an input folder with the engine, with progress on stderr unless `quiet`.
pub fn scan_input(engine: &mut Engine, path: &Path, quiet: bool, exclude: Vec<PathBuf>) -> Result<dams::scan::Index> {
    let progress = Progress::new("scan", quiet);
    let index = engine.scan(path, exclude, &|d, t| progress.update(d, t))?;
    progress.finish();
    tracing::info!(
        files = index.file_count(),
        unreadable = index.unreadable.len(),
        "scanned"
    );
    Ok(index)
}

/// Prepares the plan of an Index and says which manual decisions no longer fit.
pub fn prepare(engine: &Engine, index: &dams::scan::Index) -> Result<dams::plan::Prepared> {
    let p = engine.prepare(index)?;
    for s in &p.stale {
        say_err!("dams: warning: {s}");
    }
    for s in &p.stale_xml {
        say_err!("dams: warning: {s}");
    }
    Ok(p)
}

/// Writes a line of text (escaped by the caller) to stderr, ignoring a failed write (see
/// [`say_err!`]).
pub fn err_line(text: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Asks a yes/no question on the terminal (default no). Ctrl-C while it waits is a no (the
/// caller sees `cancel` set): the line is read on a thread of its own, since the Ctrl-C
/// handler keeps the read from being interrupted.
pub fn confirm(question: &str, cancel: &Cancel) -> Result<bool> {
    let mut err = io::stderr().lock();
    let _ = write!(err, "{} [y/N] ", dams::shown::text(question));
    let _ = err.flush();
    drop(err);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = io::stdin().lock().read_line(&mut answer).map(|_| answer);
        let _ = tx.send(read);
    });
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(answer) => return Ok(matches!(answer?.trim().to_lowercase().as_str(), "y" | "yes")),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !cancel.is_cancelled() => {}
            Err(_) => {
                err_line("");
                return Ok(false);
            }
        }
    }
}

/// Writes one line for [`say!`]: the formatted text with its control characters escaped,
/// except the line breaks that open or close the format string `fmt` itself.
pub fn say_line(out: &mut dyn Write, fmt: &str, args: std::fmt::Arguments) -> io::Result<()> {
    let text = args.to_string();
    let lead = fmt.bytes().take_while(|&b| b == b'\n').count().min(text.len());
    let trail = fmt
        .bytes()
        .rev()
        .take_while(|&b| b == b'\n')
        .count()
        .min(text.len() - lead);
    let body = &text[lead..text.len() - trail];
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(&text[..lead]);
    line.push_str(&dams::shown::text(body));
    line.push_str(&text[text.len() - trail..]);
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// Writes JSON to stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let out = &mut io::BufWriter::new(io::stdout().lock());
    write_json(out, value)?;
    out.flush()?;
    Ok(())
}

/// Writes JSON and a line break to `out`; a failed write is the `io::Error` it was (a closed
/// pipe stays one), not a JSON error.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    say!(out)
}

/// Writes text to stdout through `f`.
pub fn print_text(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let out = &mut io::BufWriter::new(io::stdout().lock());
    f(out)?;
    out.flush()?;
    Ok(())
}

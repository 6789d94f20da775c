//! The `dams` command: argument parsing and dispatch only. The commands live in `cli/`,
//! the work in the library.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dams",
    version,
    about = "Pseudonymise folders of DICOM images with codes from a mapping key, and see every change before it is written."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Folder to review (default: the current folder).
    path: Option<PathBuf>,
    /// Where approved patients are written (default: a folder beside PATH named
    /// PATH-pseudonymised).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    common: cli::Common,
}

#[derive(Subcommand)]
enum Command {
    /// List patients, studies and series found below PATH, and the files that could not be read.
    Scan {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show every change that would be made to PATH. Writes nothing.
    Plan {
        path: PathBuf,
        #[arg(long)]
        json: bool,
        /// List every file instead of summarising each folder.
        #[arg(long)]
        files: bool,
    },
    /// Write the pseudonymised copy of PATH into OUT.
    Apply {
        path: PathBuf,
        /// Output folder (created if needed; must be outside PATH).
        #[arg(long, required_unless_present = "in_place", conflicts_with = "in_place")]
        out: Option<PathBuf>,
        /// Replace the input files themselves (each atomically). Only with this flag.
        #[arg(long)]
        in_place: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check OUT against the input: planned edits present, everything else and the pixel
    /// data unchanged, no original identifier left.
    Verify {
        out: PathBuf,
        /// The input folder OUT was made from.
        #[arg(long)]
        against: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show which CT series each mask, SEG and RTSTRUCT was drawn on; fix links by hand.
    Map {
        path: PathBuf,
        #[arg(long)]
        json: bool,
        /// Link a segmentation series to its source by hand: GROUP=SERIES, each named by
        /// folder (e.g. PAT1/mask_orphan=PAT1/ct_soft), group key or SeriesInstanceUID.
        #[arg(long = "set", value_name = "GROUP=SERIES")]
        set: Vec<String>,
        /// Remove a manual link (back to what the references say).
        #[arg(long = "clear", value_name = "GROUP")]
        clear: Vec<String>,
        /// Leave a mask series' tags as they are.
        #[arg(long = "no-repair", value_name = "GROUP")]
        no_repair: Vec<String>,
        /// Repair a mask series' tags again (undo --no-repair).
        #[arg(long = "repair", value_name = "GROUP")]
        repair: Vec<String>,
    },
    /// List the XML files and the patient each belongs to; assign them by hand.
    Xml {
        path: PathBuf,
        #[arg(long)]
        json: bool,
        /// Assign an XML file to a patient: FILE=PATIENT (PatientID or code).
        #[arg(long = "assign", value_name = "FILE=PATIENT")]
        assign: Vec<String>,
        /// Remove an assignment made by hand.
        #[arg(long = "clear", value_name = "FILE")]
        clear: Vec<String>,
    },
    /// Manage the key store (original identifiers ↔ codes).
    #[command(subcommand)]
    Key(KeyCommand),
    /// List or show the built-in profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Make a small synthetic workspace in a temporary folder and open dams on it.
    Demo(DemoArgs),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Show where the key store is and what it holds.
    Info,
    /// Create the key store, choosing how generated codes look (e.g. --prefix STUDY- --digits 4).
    Init {
        #[arg(long, default_value = dams::key::DEFAULT_PREFIX)]
        prefix: String,
        #[arg(long, default_value_t = dams::key::DEFAULT_DIGITS)]
        digits: usize,
    },
    /// Import codes from a CSV table with a header row (PatientID and code columns), or a
    /// key file from `dams key export --json` or an earlier dams' key.json.
    Import {
        file: PathBuf,
        /// Header of the PatientID column (default: PatientID, patient_id, ID, PID).
        #[arg(long)]
        id_column: Option<String>,
        /// Header of the code column (default: code, pseudonym, subject, SubjectID, study_id).
        #[arg(long)]
        code_column: Option<String>,
    },
    /// Export the key as CSV (to stdout, or to a file written owner-only), or whole as JSON.
    Export {
        /// CSV, the default: a table for spreadsheets (codes and identifiers).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// The whole key as one checksummed JSON file (settings, secret, codes, the real IDs
        /// seen), for moving it to another key store with `dams key import`.
        #[arg(long)]
        json: bool,
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Show the original identifiers behind a code (re-identification).
    Lookup { code: String },
    /// Give codes to every patient found in the folders now, in one transaction (the codes
    /// one run over all of them would give), without writing anything else.
    Allocate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// List the built-in profiles.
    List,
    /// Print a profile's TOML (a starting point for your own).
    Show { name: String },
}

#[derive(Args)]
struct DemoArgs {
    /// Make the workspace here instead of a temporary folder.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Plan, write and verify it with the headless commands instead of opening the review
    /// screen (also what happens without a terminal).
    #[arg(long)]
    headless: bool,
}

/// A file size limit (`ulimit -f`) would kill dams with SIGXFSZ in the middle of a write.
/// Ignored, the write fails with EFBIG instead, and the file is reported like any other
/// write error while the rest of the batch goes on.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_IGN installs no
    // handler code.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn main() -> ExitCode {
    ignore_file_size_signal();
    let args = Cli::parse();
    cli::init_logging();
    let common = &args.common;
    let result = match args.command {
        None => cli::review(args.path.unwrap_or_else(|| PathBuf::from(".")), args.out, common),
        Some(Command::Scan { path, json }) => cli::scan(&path, json),
        Some(Command::Plan { path, json, files }) => cli::plan(&path, common, json, files),
        Some(Command::Apply {
            path,
            out,
            in_place,
            yes,
            json,
        }) => cli::apply(&path, out, in_place, yes, json, common),
        Some(Command::Verify { out, against, json }) => cli::verify(&out, &against, common, json),
        Some(Command::Xml {
            path,
            json,
            assign,
            clear,
        }) => cli::xml(&path, common, json, &assign, &clear),
        Some(Command::Map {
            path,
            json,
            set,
            clear,
            no_repair,
            repair,
        }) => cli::map(
            &path,
            common,
            json,
            &cli::MapChanges {
                set,
                clear,
                no_repair,
                repair,
            },
        ),
        Some(Command::Key(k)) => match k {
            KeyCommand::Info => cli::key_info(common),
            KeyCommand::Init { prefix, digits } => cli::key_init(common, &prefix, digits),
            KeyCommand::Import {
                file,
                id_column,
                code_column,
            } => cli::key_import(common, &file, id_column.as_deref(), code_column.as_deref()),
            KeyCommand::Export { csv: _, json, output } => cli::key_export(common, output.as_deref(), json),
            KeyCommand::Lookup { code } => cli::key_lookup(common, &code),
            KeyCommand::Allocate { paths } => cli::key_allocate(&paths, common),
        },
        Some(Command::Profile(p)) => match p {
            ProfileCommand::List => cli::profile_list(),
            ProfileCommand::Show { name } => cli::profile_show(&name),
        },
        Some(Command::Demo(d)) => cli::demo(d.dir, d.headless, common),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dams: {e:#}");
            ExitCode::from(2)
        }
    }
}

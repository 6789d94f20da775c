//! The headless commands: each one calls the library and prints its result, as text for
//! people or JSON for scripts. Progress goes to stderr, results to stdout.

mod output;

use std::collections::BTreeMap;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use dams::apply::{self, Target};
use dams::config::Profile;
use dams::key::KeyStore;
use dams::plan::{self, Planner};
use dams::scan::{self, Index, ScanOptions};
use dams::verify;

/// Options shared by the commands that plan.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The key store: a database file (default: key.db in dams' data folder; an earlier
    /// dams' key.json is migrated), or a postgres:// URL for a team store.
    #[arg(long, global = true, env = "DAMS_KEY", value_name = "FILE|URL")]
    pub key: Option<PathBuf>,
    /// A built-in profile name or a profile file (default: seed).
    #[arg(long, global = true, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Override a profile value, e.g. --value institution="Study Centre".
    #[arg(long = "value", global = true, value_name = "NAME=TEXT", value_parser = parse_value)]
    pub values: Vec<(String, String)>,
}

fn parse_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| "expected NAME=TEXT".to_string())
}

/// Tracing goes to a log file in the data folder, never to the terminal. Messages carry
/// paths and counts, never identifying values.
pub fn init_logging() {
    let Some(dir) = dams::key::data_dir() else { return };
    if dams::key::create_private_dir(&dir).is_err() {
        return;
    }
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

/// Ctrl-C cancels the running job; work in flight finishes, nothing partial is left.
fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || {
        f.store(true, Ordering::Relaxed);
    });
    flag
}

/// A progress reporter: a bar on a terminal, plain lines (every 10%) otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    last_decile: std::sync::atomic::AtomicUsize,
    started: std::time::Instant,
}

impl Progress {
    fn new(label: &'static str, quiet: bool) -> Progress {
        let bar = (!quiet && io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(0);
            if let Ok(style) =
                ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} files {elapsed_precise}")
            {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(label);
            b
        });
        Progress {
            bar,
            label,
            last_decile: std::sync::atomic::AtomicUsize::new(usize::MAX),
            started: std::time::Instant::now(),
        }
    }

    fn update(&self, done: usize, total: usize) {
        match &self.bar {
            Some(b) => {
                b.set_length(total as u64);
                b.set_position(done as u64);
            }
            None => {
                // Only jobs that take a while get progress lines.
                if self.started.elapsed() < std::time::Duration::from_secs(1) {
                    return;
                }
                let decile = done * 10 / total.max(1);
                if self.last_decile.swap(decile, Ordering::Relaxed) != decile {
                    eprintln!("{}: {done}/{total} files", self.label);
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn key_path(common: &Common) -> Result<PathBuf> {
    Ok(match &common.key {
        Some(p) => p.clone(),
        None => KeyStore::default_path()?,
    })
}

/// The key store for reading and managing it (not created if missing).
fn open_key(common: &Common) -> Result<KeyStore> {
    let key = KeyStore::open(&key_path(common)?)?;
    for w in &key.warnings {
        eprintln!("dams: warning: {w}");
    }
    Ok(key)
}

/// The key store for planning: created (secret only, no codes) if missing.
fn open_key_for_planning(common: &Common) -> Result<KeyStore> {
    let key = KeyStore::open_or_create(&key_path(common)?)?;
    if key.created() {
        eprintln!(
            "dams: created the key store {} (owner-only; keep it safe)",
            key.location()
        );
    }
    for w in &key.warnings {
        eprintln!("dams: warning: {w}");
    }
    Ok(key)
}

/// The planner for `root`, with the mapping and the review decisions made for it.
fn prepared(root: &Path, index: &Index, profile: Profile, key: &KeyStore) -> Result<Planner> {
    let mut review = dams::review::ReviewState::open(key)?;
    review.know(index.patients.iter().map(|p| p.patient_id.as_str()));
    let p = dams::plan::prepare(index, profile, key, &review.workspace(root)?);
    tracing::info!(stale = p.stale.len() + p.stale_xml.len(), "prepared the plan");
    for s in &p.stale {
        eprintln!("dams: warning: {s}");
    }
    for s in &p.stale_xml {
        eprintln!("dams: warning: {s}");
    }
    Ok(p.planner)
}

fn do_scan(path: &Path, quiet: bool, exclude: Vec<PathBuf>) -> Result<Index> {
    let progress = Progress::new("scan", quiet);
    let cancel = cancel_flag();
    let index = scan::scan(path, &ScanOptions { exclude }, &|d, t| progress.update(d, t), &cancel)?;
    progress.finish();
    tracing::info!(
        files = index.file_count(),
        unreadable = index.unreadable.len(),
        "scanned"
    );
    Ok(index)
}

pub fn scan(path: &Path, json: bool) -> Result<ExitCode> {
    let index = do_scan(path, json, Vec::new())?;
    let out = &mut io::BufWriter::new(io::stdout().lock());
    if json {
        output::scan_json(out, &index)?;
    } else {
        output::scan_text(out, &index)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn plan(path: &Path, common: &Common, json: bool, files: bool) -> Result<ExitCode> {
    let profile = Profile::resolve(common.profile.as_deref(), &common.values)?;
    let key = open_key_for_planning(common)?;
    let index = do_scan(path, json, vec![])?;
    let planner = prepared(path, &index, profile, &key)?;
    let progress = Progress::new("plan", json);
    let cancel = cancel_flag();
    let Some(plan) = plan::build(&index, &planner, &|d, t| progress.update(d, t), &cancel) else {
        bail!("cancelled");
    };
    progress.finish();
    let out = &mut io::BufWriter::new(io::stdout().lock());
    if json {
        serde_json::to_writer_pretty(&mut *out, &plan)?;
        writeln!(out)?;
    } else {
        output::plan_text(out, &plan, &planner, key.location(), files)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    io::stderr().flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

pub fn apply(
    path: &Path,
    out: Option<PathBuf>,
    in_place: bool,
    yes: bool,
    json: bool,
    common: &Common,
) -> Result<ExitCode> {
    let target = if in_place {
        Target::InPlace
    } else {
        Target::Folder(out.context("--out is required")?)
    };
    let profile = Profile::resolve(common.profile.as_deref(), &common.values)?;
    // Refuse before anything is created.
    if !yes && !io::stdin().is_terminal() {
        bail!("refusing to write without confirmation: not on a terminal; pass --yes to apply without asking");
    }
    apply::check_target(path, &target, &dams::key::Location::from_arg(&key_path(common)?))?;
    let mut key = open_key_for_planning(common)?;
    let exclude = match &target {
        Target::Folder(o) => vec![o.clone()],
        Target::InPlace => vec![],
    };
    let index = do_scan(path, json, exclude)?;
    let mut planner = prepared(path, &index, profile.clone(), &key)?;
    if !yes {
        output::apply_summary(&mut io::stderr().lock(), &index, &planner, &target, key.location())?;
        let n = index.file_count();
        if !confirm(&format!("Write {n} file{}?", if n == 1 { "" } else { "s" }))? {
            eprintln!("Nothing was written.");
            return Ok(ExitCode::from(1));
        }
    }
    // The codes first, in one transaction. When another dams process sharing the key gave
    // out some of the proposed codes meanwhile, plan again with what the key holds now.
    let mut attempt = 1;
    while let Err(e) = key.commit(&planner.new_entries) {
        if !e.is_changed() || attempt == 20 {
            return Err(e.into());
        }
        attempt += 1;
        key.refresh()?;
        planner = prepared(path, &index, profile.clone(), &key)?;
    }
    let progress = Progress::new("apply", json);
    let cancel = cancel_flag();
    let report = apply::apply(
        &index,
        &planner,
        &mut key,
        &target,
        None,
        &|d, t| progress.update(d, t),
        &cancel,
    )?;
    progress.finish();
    tracing::info!(written = report.written, failed = report.failed.len(), "applied");
    let out = &mut io::BufWriter::new(io::stdout().lock());
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        output::apply_text(out, &report)?;
    }
    let all_written = report.failed.is_empty()
        && report.unreadable.is_empty()
        && report.unassigned_xml.is_empty()
        && !report.cancelled;
    out.flush()?;
    Ok(if all_written {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn verify(out_dir: &Path, against: &Path, common: &Common, json: bool) -> Result<ExitCode> {
    let profile = Profile::resolve(common.profile.as_deref(), &common.values)?;
    let key = open_key_for_planning(common)?;
    let index = do_scan(against, json, vec![out_dir.to_path_buf()])?;
    let planner = prepared(against, &index, profile, &key)?;
    if !planner.new_entries.is_empty() {
        bail!(
            "{} patient(s) of {} have no code in the key store {}: was this output made with another key?",
            planner.new_entries.len(),
            against.display(),
            key.location()
        );
    }
    let progress = Progress::new("verify", json);
    let cancel = cancel_flag();
    let report = verify::verify(out_dir, &index, &planner, &|d, t| progress.update(d, t), &cancel);
    progress.finish();
    let out = &mut io::BufWriter::new(io::stdout().lock());
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        output::verify_text(out, &report)?;
    }
    out.flush()?;
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn key_info(common: &Common) -> Result<ExitCode> {
    let key = open_key(common)?;
    let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for e in key.entries() {
        *by_source.entry(e.source.as_str()).or_default() += 1;
    }
    println!("key store: {}", key.location());
    if !key.exists() {
        println!("not created yet (it is created when the first code is written, or by `dams key init`)");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "codes look like: {}{}",
        key.prefix(),
        "0".repeat(key.digits().saturating_sub(1)) + "1"
    );
    println!("kept in: {}", key.describe());
    println!("entries: {}", key.entries().len());
    for (source, n) in by_source {
        println!("  {source}: {n}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn key_init(common: &Common, prefix: &str, digits: usize) -> Result<ExitCode> {
    let mut key = open_key(common)?;
    if key.exists() && (key.prefix() != prefix || key.digits() != digits) && !key.entries().is_empty() {
        bail!(
            "the key store {} already exists with codes like {}…; it is left as it is",
            key.location(),
            key.prefix()
        );
    }
    key.set_format(prefix, digits)?;
    key.save()?;
    println!(
        "key store {} ready; new codes will look like {prefix}{:0digits$}",
        key.location(),
        1
    );
    Ok(ExitCode::SUCCESS)
}

pub fn key_import(common: &Common, file: &Path, id_col: Option<&str>, code_col: Option<&str>) -> Result<ExitCode> {
    let mut key = open_key(common)?;
    let added = key.import_file(file, id_col, code_col)?;
    println!(
        "imported {added} new entr{} into {}",
        if added == 1 { "y" } else { "ies" },
        key.location()
    );
    Ok(ExitCode::SUCCESS)
}

/// `dams key allocate PATH…`: codes for every patient found in the folders, in one
/// transaction, in patient-key order over all of them: the codes one run over all of them
/// would give, fixed before any of them is written (e.g. by several machines at once).
pub fn key_allocate(paths: &[PathBuf], common: &Common) -> Result<ExitCode> {
    let mut key = open_key_for_planning(common)?;
    let mut all = Vec::new();
    for path in paths {
        let index = do_scan(path, false, vec![])?;
        all.extend(dams::plan::candidates(&index));
    }
    let mut attempt = 1;
    let new = loop {
        let new = key.propose(&all);
        match key.commit(&new) {
            Ok(()) => break new,
            Err(e) if e.is_changed() && attempt < 20 => {
                attempt += 1;
                key.refresh()?;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let known: std::collections::BTreeSet<&str> = all.iter().map(|c| c.key.as_str()).collect();
    println!(
        "{} patient(s) found; {} new code(s) added to {}, {} had one already",
        known.len(),
        new.len(),
        key.location(),
        known.len() - new.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn key_export(common: &Common, output: Option<&Path>, json: bool) -> Result<ExitCode> {
    let key = open_key(common)?;
    let export = |w: &mut dyn Write| if json { key.export_json(w) } else { key.export_csv(w) };
    match output {
        Some(path) => {
            dams::atomic::write_file(path, 0o600, export)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} entries to {} (readable by you only)",
                key.entries().len(),
                path.display()
            );
        }
        None => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            export(&mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn key_lookup(common: &Common, code: &str) -> Result<ExitCode> {
    let key = open_key(common)?;
    match key.entry_by_code(code) {
        Some(e) => {
            println!("code:         {}", e.code);
            match e.real_patient_id() {
                Some(id) => println!("patient ID:   {id}"),
                None => {
                    println!("patient ID:   (none: {})", e.kind());
                    println!("patient key:  {}", e.patient_id);
                }
            }
            println!("patient name: {}", e.patient_name);
            println!("birth date:   {}", e.birth_date);
            println!("added:        {} ({})", e.added, e.source);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("dams: no entry with code {code} in {}", key.location());
            Ok(ExitCode::from(1))
        }
    }
}

pub fn profile_list() -> Result<ExitCode> {
    for name in dams::config::builtin_names() {
        let p = Profile::resolve(Some(name), &[])?;
        println!("{name:10} {}", p.description);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn profile_show(name: &str) -> Result<ExitCode> {
    match dams::config::builtin_text(name) {
        Some(t) => {
            print!("{t}");
            Ok(ExitCode::SUCCESS)
        }
        None => bail!(
            "no built-in profile '{name}' (built-in: {})",
            dams::config::builtin_names().join(", ")
        ),
    }
}

/// The default output folder: beside the input, named `<input>-pseudonymised`.
fn default_out(root: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dams".into());
    abs.with_file_name(format!("{name}-pseudonymised"))
}

/// Opens the review TUI on `path`.
pub fn review(path: PathBuf, out: Option<PathBuf>, common: &Common) -> Result<ExitCode> {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        bail!("the review screen needs a terminal; for scripts use `dams plan` and `dams apply`");
    }
    let key_path = key_path(common)?;
    KeyStore::open_or_create(&key_path)?;
    let opts = dams::tui::Options {
        out: out.unwrap_or_else(|| default_out(&path)),
        root: std::fs::canonicalize(&path).with_context(|| format!("{}", path.display()))?,
        key_path,
        profile: Profile::resolve(common.profile.as_deref(), &common.values)?,
    };
    dams::tui::run(opts)?;
    Ok(ExitCode::SUCCESS)
}

/// Makes the demo workspace and shows what dams would do with it, then writes and verifies
/// it into the workspace's own output folder, with a key store of its own.
pub fn demo(dir: Option<PathBuf>, headless: bool, common: &Common) -> Result<ExitCode> {
    let base = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("dams-demo-{}", std::process::id())),
    };
    if base.exists() && std::fs::read_dir(&base)?.next().is_some() {
        bail!("{} is not empty; choose another --dir", base.display());
    }
    let input = dams::demo::make_workspace(&base)?;
    let key_path = base.join("state").join("key.db");
    let out = base.join("output");
    let demo_common = Common {
        key: Some(key_path.clone()),
        ..common.clone()
    };
    if !headless && io::stdout().is_terminal() && io::stdin().is_terminal() {
        let opts = dams::tui::Options {
            root: input.clone(),
            out: out.clone(),
            key_path: key_path.clone(),
            profile: Profile::resolve(common.profile.as_deref(), &common.values)?,
        };
        dams::tui::run(opts)?;
        println!(
            "Demo workspace: {} (input, output, and its own key store in state/)",
            base.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("Demo workspace: {}", base.display());
    println!("  input:  {}", input.display());
    println!("  output: {}", out.display());
    println!("  key:    {}\n", key_path.display());
    plan(&input, &demo_common, false, false)?;
    println!("\n--- dams apply {} --out {} --yes", input.display(), out.display());
    apply(&input, Some(out.clone()), false, true, false, &demo_common)?;
    println!("\n--- dams verify {} --against {}", out.display(), input.display());
    if verify(&out, &input, &demo_common, false)? != ExitCode::SUCCESS && demo_common.profile.is_none() {
        println!(
            "\nThe seed profile changes only what the original script did; verify names what it leaves.\n\
             The DICOM Basic Profile removes those too: dams plan {} --profile basic",
            input.display()
        );
    }
    println!(
        "\nTry: dams plan {} --key {} --files",
        input.display(),
        key_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Changes to the mapping asked for on the command line.
pub struct MapChanges {
    pub set: Vec<String>,
    pub clear: Vec<String>,
    pub no_repair: Vec<String>,
    pub repair: Vec<String>,
}

pub fn map(path: &Path, common: &Common, json: bool, changes: &MapChanges) -> Result<ExitCode> {
    let profile = Profile::resolve(common.profile.as_deref(), &common.values)?;
    let key = open_key_for_planning(common)?;
    let index = do_scan(path, json, vec![])?;
    let mut review = dams::review::ReviewState::open(&key)?;
    review.know(index.patients.iter().map(|p| p.patient_id.as_str()));
    let mut ws = review.workspace(path)?;
    let has_changes = !(changes.set.is_empty()
        && changes.clear.is_empty()
        && changes.no_repair.is_empty()
        && changes.repair.is_empty());
    if has_changes {
        // Names are resolved against the automatic links, then saved by key and UID.
        let links = dams::link::resolve(&index);
        let mut set = Vec::new();
        for s in &changes.set {
            let (g, series) = s.split_once('=').context("--set takes GROUP=SERIES")?;
            set.push(links.manual_link(g.trim(), series.trim())?);
        }
        let key_of = |name: &str| -> Result<String> { Ok(links.find_group(name)?.key.clone()) };
        let clear = changes.clear.iter().map(|g| key_of(g)).collect::<Result<Vec<_>>>()?;
        let no_repair = changes
            .no_repair
            .iter()
            .map(|g| key_of(g))
            .collect::<Result<Vec<_>>>()?;
        let repair = changes.repair.iter().map(|g| key_of(g)).collect::<Result<Vec<_>>>()?;
        ws = review.update(path, |w| {
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
        if !json {
            eprintln!("saved in {}", review.location());
        }
    }
    let prepared = dams::plan::prepare(&index, profile, &key, &ws);
    for s in &prepared.stale {
        eprintln!("dams: warning: {s}");
    }
    let out = &mut io::BufWriter::new(io::stdout().lock());
    if json {
        serde_json::to_writer_pretty(&mut *out, &prepared.links)?;
        writeln!(out)?;
    } else {
        output::map_text(out, &index, &prepared)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `dams xml`: the XML files, whose they are, and assignments by hand.
pub fn xml(path: &Path, common: &Common, json: bool, assign: &[String], clear: &[String]) -> Result<ExitCode> {
    let profile = Profile::resolve(common.profile.as_deref(), &common.values)?;
    let key = open_key_for_planning(common)?;
    let index = do_scan(path, json, vec![])?;
    let mut review = dams::review::ReviewState::open(&key)?;
    review.know(index.patients.iter().map(|p| p.patient_id.as_str()));
    let mut ws = review.workspace(path)?;
    if !assign.is_empty() || !clear.is_empty() {
        let find_file = |name: &str| -> Result<PathBuf> {
            let rel = Path::new(name.trim());
            let rel = rel.strip_prefix(path).unwrap_or(rel);
            index
                .xml
                .iter()
                .find(|x| x.path == rel)
                .map(|x| x.path.clone())
                .with_context(|| format!("{name}: no such XML file in {}", path.display()))
        };
        let mut set = Vec::new();
        for a in assign {
            let (file, who) = a.split_once('=').context("--assign takes FILE=PATIENT")?;
            let file = find_file(file)?;
            // A patient by original PatientID or by code.
            let who = who.trim();
            let pid = index
                .patients
                .iter()
                .find(|p| p.patient_id == who || key.code_for(&p.patient_id) == Some(who))
                .map(|p| p.patient_id.clone())
                .with_context(|| format!("{who}: no such patient (give the PatientID or the code)"))?;
            set.push((file, pid));
        }
        let cleared = clear.iter().map(|c| find_file(c)).collect::<Result<Vec<_>>>()?;
        ws = review.update(path, |w| {
            for (f, p) in &set {
                w.xml_assignments.insert(f.clone(), p.clone());
            }
            for f in &cleared {
                w.xml_assignments.remove(f);
            }
        })?;
        if !json {
            eprintln!("saved in {}", review.location());
        }
    }
    let prepared = dams::plan::prepare(&index, profile, &key, &ws);
    let rows: Vec<serde_json::Value> = index
        .xml
        .iter()
        .map(|x| match prepared.planner.xml_owner(&x.path) {
            Some((pid, by)) => serde_json::json!({
                "path": x.path.to_string_lossy(), "patient_id": pid, "code": prepared.planner.code(pid), "assigned_by": by,
            }),
            None => serde_json::json!({
                "path": x.path.to_string_lossy(), "patient_id": null, "code": null,
                "reason": prepared.planner.unassigned_xml.iter().find(|u| u.path == x.path).map(|u| u.reason.clone()),
            }),
        })
        .collect();
    let out = &mut io::BufWriter::new(io::stdout().lock());
    if json {
        serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "xml": rows }))?;
        writeln!(out)?;
    } else if rows.is_empty() {
        writeln!(out, "no XML files in {}", path.display())?;
    } else {
        for r in &rows {
            match r["patient_id"].as_str() {
                Some(pid) => writeln!(
                    out,
                    "{}  →  {pid} ({})  [{}]",
                    r["path"].as_str().unwrap_or_default(),
                    r["code"].as_str().unwrap_or_default(),
                    r["assigned_by"].as_str().unwrap_or_default()
                )?,
                None => writeln!(
                    out,
                    "{}  →  no patient: {}  (dams xml PATH --assign FILE=PATIENT)",
                    r["path"].as_str().unwrap_or_default(),
                    r["reason"].as_str().unwrap_or_default()
                )?,
            }
        }
    }
    out.flush()?;
    Ok(if prepared.planner.unassigned_xml.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

//! Apply: executes a plan. Each file is rewritten into a file without a name in its
//! destination folder (pixel data copied as raw bytes, never decoded), made durable, then
//! given its name, so an interruption leaves either no file or the complete one. Files are
//! written in parallel.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;

pub mod dicomdir;

use crate::atomic::TEMP_PREFIX;
use crate::dicom::parse::Parsed;
use crate::dicom::rewrite::{self, Rendered};
use crate::key::{KeyError, KeyStore};
use crate::plan::stays::Tally;
use crate::plan::stream::PlannedXml;
use crate::plan::{FileError, Mode, PlanSink, PlannedFile, Planner};
use crate::progress::Progress;
use crate::scan::{Index, Instance, Patient, Unreadable};

/// Where the output goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A separate output folder mirroring the input tree.
    Folder(PathBuf),
    /// Replace the input files themselves (explicit `--in-place` only).
    InPlace,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Target(#[from] Refusal),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    /// The output folder (absent in in-place mode).
    #[serde(serialize_with = "crate::paths::lossy_opt")]
    pub out: Option<PathBuf>,
    pub written: usize,
    /// XML sidecars written (part of `written` too).
    pub xml_written: usize,
    pub failed: Vec<FileError>,
    /// XML files that belong to no patient yet: not written.
    pub unassigned_xml: Vec<crate::plan::UnassignedXml>,
    /// Files not written because they could not be read (they may hold identifiers).
    pub unreadable: Vec<Unreadable>,
    /// Files without a `PatientID` that no patient was found for: not written until assigned.
    pub unplaced: Vec<crate::scan::Unplaced>,
    pub key_entries_created: usize,
    pub cancelled: bool,
    /// In place: files whose file or folder name holds an identifier, kept as they are
    /// (in-place mode replaces files, it does not rename them).
    pub identifying_names_kept: usize,
    /// The manifest written into the output folder (absent in place).
    #[serde(serialize_with = "crate::paths::lossy_opt")]
    pub manifest: Option<PathBuf>,
    /// What the written files still hold and what was not written ([`crate::plan::stays`]).
    pub stays: crate::plan::stays::Stays,
    /// The files this run wrote, relative to the output folder (for the review screen: which
    /// patients a cancelled run wrote whole, in part or not at all). Not in the JSON report.
    #[serde(skip)]
    pub written_paths: BTreeSet<PathBuf>,
    /// The DICOMDIRs of the input, each written anew for the output or with why it was not.
    pub dicomdirs: Vec<dicomdir::DicomdirReport>,
}

/// In place, the files (and XML files) of the run whose path the plan would rename because
/// a file or folder name holds an identifier: in-place mode keeps every path.
pub fn names_kept_in_place(index: &Index, planner: &Planner, only: Option<&BTreeSet<String>>) -> usize {
    let in_run = |pid: &str| only.is_none_or(|o| o.contains(pid));
    let dicom = index
        .patients
        .iter()
        .filter(|p| in_run(&p.patient_id))
        .flat_map(crate::scan::Patient::instances)
        .filter(|i| planner.dest(&i.path) != i.path)
        .count();
    let xml = index
        .xml
        .iter()
        .filter(|x| planner.xml_owner(&x.path).is_some_and(|(p, _)| in_run(p)))
        .filter(|x| planner.dest(&x.path) != x.path)
        .count();
    dicom + xml
}

fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The canonical form of a path that may not exist yet (its nearest existing ancestor is
/// resolved, the rest appended).
fn canonical_future(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut out = canonical(existing);
    for part in rest.iter().rev() {
        out.push(part);
    }
    out
}

/// The destination of a file, refused unless it stays inside `out_root`: a relative path of
/// plain names only (no `..`, no root, no prefix), so that no input name and no future
/// naming rule can make apply write outside the output folder.
///
/// # Errors
///
/// The reason, when `rel` is absolute, has a root or prefix, or holds `..`.
pub fn destination(out_root: &Path, rel: &Path) -> Result<PathBuf, String> {
    if !plain_relative(rel) {
        return Err(format!(
            "refused: its destination {} is not a plain path inside the output folder",
            rel.display()
        ));
    }
    Ok(out_root.join(rel))
}

use crate::paths::plain_relative;

/// Checks that a folder apply is about to write into really is inside the output folder
/// (canonical `out_root`): a symbolic link already in the output must not lead elsewhere.
fn folder_inside(out_root: &Path, dir: &Path) -> Result<(), String> {
    let real = fs::canonicalize(dir).map_err(|e| format!("cannot use output folder: {e}"))?;
    if real.starts_with(out_root) {
        Ok(())
    } else {
        Err(format!(
            "refused: the output folder {} leads outside the output folder (symbolic link)",
            dir.strip_prefix(out_root).unwrap_or(dir).display()
        ))
    }
}

/// Why an output folder could not be made.
enum DirError {
    Io(io::Error),
    Refused(String),
}

impl DirError {
    fn reason(&self) -> String {
        match self {
            DirError::Io(e) => format!("cannot create output folder: {e}"),
            DirError::Refused(r) => r.clone(),
        }
    }
}

/// Makes `dir` (inside `out_root`) one folder at a time: an existing part that is a symbolic
/// link must lead inside the output folder *before* anything is created through it. The
/// parent of each new folder is added to `changed`: its entry must be made durable before
/// the run reports success (a file named in a folder whose own entry is lost in a crash is
/// lost with it). Apply does that once at the end, not folder by folder: each folder sync is
/// a wait for the disk, and made by a writer it stalled the writing.
fn make_out_dir(out_root: &Path, dir: &Path, changed: &Mutex<BTreeSet<PathBuf>>) -> Result<(), DirError> {
    let rel = dir
        .strip_prefix(out_root)
        .map_err(|_| DirError::Refused("refused: the destination is not inside the output folder".into()))?;
    let mut cur = out_root.to_path_buf();
    for part in rel.components() {
        let parent = cur.clone();
        cur.push(part);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => folder_inside(out_root, &cur).map_err(DirError::Refused)?,
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(DirError::Refused(format!(
                    "cannot create output folder: {} exists and is not a folder",
                    cur.strip_prefix(out_root).unwrap_or(&cur).display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&cur) {
                // Another writer may have made it a moment ago; its entry is recorded either way.
                Ok(()) | Err(_) if cur.is_dir() && !cur.is_symlink() => {
                    if let Ok(mut c) = changed.lock() {
                        c.insert(parent);
                    }
                }
                Ok(()) => {}
                Err(e) => return Err(DirError::Io(e)),
            },
            Err(e) => return Err(DirError::Io(e)),
        }
    }
    folder_inside(out_root, dir).map_err(DirError::Refused)
}

/// Why apply will not write where it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the key store {0} is inside the folder being replaced in place; it holds the original identifiers and must stay out of what is shared"
    )]
    KeyInsideInPlace(String),
    #[error("the output folder is the input folder; to replace the inputs, use --in-place")]
    OutIsInput,
    #[error("the output folder {} is inside the input folder; choose a folder outside it", .0.display())]
    OutInsideInput(PathBuf),
    #[error("the input folder is inside the output folder {}; choose another output folder", .0.display())]
    InputInsideOut(PathBuf),
    #[error(
        "the key store {0} is inside the output folder; it holds the original identifiers and must stay out of what is shared"
    )]
    KeyInsideOut(String),
    #[error("the output folder {} cannot be written: {reason}", .path.display())]
    NotWritable { path: PathBuf, reason: String },
    #[error(
        "{0} patient(s) look like dams output already (see `dams plan`): giving them new codes would code a code; pass --recode if that is what you want"
    )]
    Recoding(usize),
    #[error(
        "{0}: written, such a code would make one patient's files pass for another's, so nothing is written. The key took these codes before it knew these IDs (from an import): make a key store without them (dams key export, correct the codes, dams key import into a new --key)"
    )]
    CodeConflicts(String),
    /// The manifest in the output folder cannot be used.
    #[error("{0}")]
    Manifest(String),
    #[error(
        "{} was written with another key store (its manifest names key {fingerprint}); write into another output folder",
        .out.display()
    )]
    OtherKey { out: PathBuf, fingerprint: String },
    #[error(
        "{} was written with other rules (profile {profile}{}); one output folder holds one profile's output: write into another folder, or pass --overwrite to take this one over",
        .out.display(),
        if *.same_name { " with other values" } else { "" }
    )]
    OtherRules {
        out: PathBuf,
        profile: String,
        same_name: bool,
    },
}

/// Checks that the output folder and the key store are where they may be.
///
/// # Errors
///
/// An `ApplyError` refusal when the output folder is the input, is inside it or holds it, the key
/// store is inside the folder that is written or shared, or the output folder cannot be written.
pub fn check_target(root: &Path, target: &Target, key: &crate::key::Location) -> Result<(), ApplyError> {
    // A key store on a database server is in no folder.
    let key_in = |dir: &Path| key.file().is_some_and(|k| canonical_future(k).starts_with(dir));
    let Target::Folder(out) = target else {
        // In place, the input folder is what will be shared: the key must not be in it.
        if key_in(&canonical(root)) {
            return Err(Refusal::KeyInsideInPlace(key.to_string()).into());
        }
        return Ok(());
    };
    let root_c = canonical(root);
    let out_c = canonical_future(out);
    if out_c == root_c {
        return Err(Refusal::OutIsInput.into());
    }
    if out_c.starts_with(&root_c) {
        return Err(Refusal::OutInsideInput(out.clone()).into());
    }
    if root_c.starts_with(&out_c) {
        return Err(Refusal::InputInsideOut(out.clone()).into());
    }
    if key_in(&out_c) {
        return Err(Refusal::KeyInsideOut(key.to_string()).into());
    }
    check_writable(out)
}

/// Refuses an output folder that cannot be written before any work is done (or any code is
/// added to the key store): an existing folder is probed with a temporary file, a new one
/// needs its nearest existing parent to be writable.
fn check_writable(out: &Path) -> Result<(), ApplyError> {
    let refused = |reason: String| {
        ApplyError::from(Refusal::NotWritable {
            path: out.to_path_buf(),
            reason,
        })
    };
    match fs::metadata(out) {
        Ok(m) if !m.is_dir() => Err(refused("it exists and is not a folder".into())),
        Ok(_) => {
            let probe = tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .suffix(".tmp")
                .tempfile_in(out)
                .map_err(|e| refused(e.to_string()))?;
            probe.close().map_err(|e| refused(e.to_string()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let abs = std::env::current_dir().unwrap_or_default().join(out);
            let Some(parent) = abs.ancestors().skip(1).find(|a| a.exists()) else {
                return Ok(());
            };
            if !parent.is_dir() {
                return Err(refused(format!("{} is not a folder", parent.display())));
            }
            // A folder made and removed where OUT's first missing folder goes: permissions
            // alone do not say it (root may write anywhere, yet not into /proc or a read-only
            // file system).
            let failed = |e: io::Error| refused(format!("{}: {e}", parent.display()));
            let probe = parent.join(format!("{TEMP_PREFIX}probe-{}", std::process::id()));
            match fs::create_dir(&probe) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(failed(e)),
            }
            fs::remove_dir(&probe).map_err(failed)
        }
        Err(e) => Err(refused(e.to_string())),
    }
}

/// Removes temporary files left by an interrupted earlier run.
///
/// # Errors
///
/// An I/O error when `dir` cannot be listed or a temporary file there cannot be removed.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    if !dir.is_dir() {
        return Ok(0);
    }
    for entry in walkdir::WalkDir::new(dir).into_iter().filter_map(Result::ok) {
        let is_temp = entry.file_type().is_file()
            && entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(".tmp"));
        if is_temp {
            fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Writes the plan for every patient in `index` (or only those in `only`): the plans come
/// from the planner's stream ([`crate::plan::stream`]), the writer only writes them.
///
/// # Errors
///
/// An `ApplyError` when the target is refused, a new code cannot be recorded in the key store, or
/// the output folder or its manifest cannot be written; a file that fails is a row of the report
/// instead.
pub fn apply(
    index: &Index,
    planner: &Planner,
    key: &mut KeyStore,
    target: &Target,
    only: Option<&BTreeSet<String>>,
    progress: Progress,
    cancel: &AtomicBool,
) -> Result<ApplyReport, ApplyError> {
    check_target(&index.root, target, key.location())?;
    let patients: Vec<&Patient> = index
        .patients
        .iter()
        .filter(|p| only.is_none_or(|o| o.contains(&p.patient_id)))
        .collect();
    refuse_code_conflicts(planner)?;
    refuse_recoding(planner, &patients)?;
    let in_place = matches!(target, Target::InPlace);
    // Before anything is made: an output folder of another key cannot take this run.
    let manifest_name = manifest_name(planner);
    let earlier = match target {
        Target::Folder(out) => earlier_manifest(out, planner, key, &manifest_name)?,
        Target::InPlace => None,
    };
    let out_root = output_root(index, target)?;
    let created = record_codes(planner, key)?;
    let total = patients.iter().map(|p| p.file_count()).sum();
    let mut writer = Writer::open(&index.root, &out_root, in_place, total, progress, cancel)?;
    // The manifest says which files are dams' own before the first one is written, so that
    // a run stopped by a crash can be finished (its files are dams', not someone else's).
    let mut manifest = match target {
        Target::Folder(_) => {
            let (mut owned, this_run, mut m) = begin_manifest(earlier, planner, key, &patients, index, only);
            if planner.shard.is_some()
                && let Some(all) = crate::manifest::Manifest::read_all(&out_root).map_err(manifest_err)?
            {
                owned.extend(all.owned());
            }
            writer.owned = owned;
            m.write_named(&out_root, &manifest_name).map_err(manifest_err)?;
            Some((m, this_run))
        }
        Target::InPlace => None,
    };
    writer.overwrite = planner.overwrite;
    // Planned as for review: what the written files still hold is part of the report.
    let (committed, mut failed, xml_written, tally) = writer.run(|sink| {
        crate::plan::stream(
            index,
            planner,
            only,
            Mode::Review,
            &crate::progress::quiet,
            cancel,
            sink,
        );
    });
    // The mapping of masks to their CT, as written, for the patients of this run.
    let stopped = writer.is_full() || cancel.load(Ordering::Relaxed);
    let mut tables = Vec::new();
    if let (Target::Folder(_), Some(links), false) = (target, &planner.links, stopped) {
        let ids: BTreeSet<String> = patients.iter().map(|p| p.patient_id.clone()).collect();
        tables = write_mapping(&out_root, links, planner, &ids)?;
    }
    writer.make_folders_durable()?;
    failed.sort_by(|a, b| a.path.cmp(&b.path));
    let written_paths = writer.written_paths();
    // The writer is done: its sets are taken, not copied (a path each, issue 17).
    let mut owned = std::mem::take(&mut writer.owned);
    owned.extend(written_paths.iter().cloned());
    let (dicomdirs, records) = write_dicomdirs(index, planner, &out_root, &owned, (stopped, in_place));
    tables.extend(records);
    let manifest_path = match &mut manifest {
        Some((m, this_run)) => {
            let written = writer
                .written
                .lock()
                .map(|mut w| std::mem::take(&mut *w))
                .unwrap_or_default();
            let counts = (committed + xml_written, failed.len(), cancel.load(Ordering::Relaxed));
            finish_manifest(m, *this_run, written, tables, counts);
            m.write_named(&out_root, &manifest_name).map_err(manifest_err)?;
            Some(out_root.join(&manifest_name))
        }
        None => None,
    };
    let mut stays = tally.finish(index, planner, only);
    stays.not_written.failed = failed.len();
    Ok(ApplyReport {
        stays,
        manifest: manifest_path,
        identifying_names_kept: if in_place {
            names_kept_in_place(index, planner, only)
        } else {
            0
        },
        out: matches!(target, Target::Folder(_)).then_some(out_root),
        key_entries_created: created,
        unreadable: index.unreadable.clone(),
        unplaced: index.unplaced.clone(),
        unassigned_xml: planner.unassigned_xml.clone(),
        written: committed + xml_written,
        written_paths,
        dicomdirs,
        xml_written,
        failed,
        // Writers drop the files left when the run is cancelled: say it did not finish.
        cancelled: cancel.load(Ordering::Relaxed),
    })
}

/// The DICOMDIRs of the input written anew for the output, once its files are there
/// ([`dicomdir`]); `owned`: the output's files that are dams' own.
fn write_dicomdirs(
    index: &Index,
    planner: &Planner,
    out_root: &Path,
    owned: &std::collections::HashSet<PathBuf>,
    (stopped, in_place): (bool, bool),
) -> (Vec<dicomdir::DicomdirReport>, Vec<crate::manifest::FileRecord>) {
    let not = |why: &str| (dicomdir::not_written(index, why), Vec::new());
    if stopped {
        not("not written: the run stopped before its end")
    } else if in_place {
        not("left as it is: in place, dams rewrites files, and this one still names the patients it lists")
    } else if planner.shard.is_some() {
        not("not written by a split run (--shard)")
    } else {
        dicomdir::rebuild_all(&dicomdir::Run {
            index,
            planner,
            out_root,
            owned,
        })
    }
}

fn manifest_err(e: crate::manifest::ManifestError) -> ApplyError {
    match e {
        crate::manifest::ManifestError::Io { path, source } => ApplyError::Io { path, source },
        other @ crate::manifest::ManifestError::Unreadable { .. } => Refusal::Manifest(other.to_string()).into(),
    }
}

/// The manifest this run writes: a shard keeps a manifest of its own (shards never write the
/// same file).
fn manifest_name(planner: &Planner) -> String {
    planner.shard.map_or_else(
        || crate::manifest::MANIFEST.to_string(),
        |s| s.part(crate::manifest::MANIFEST),
    )
}

/// Refuses, as [`apply`] does, input that looks like dams output (of the patients in `only`)
/// unless the planner may give it new codes: checked by the command line before a code is
/// recorded or a key store created, so that a run that will be refused makes nothing.
///
/// # Errors
///
/// The `ApplyError` refusal [`apply`] would give.
pub fn check_recoding(index: &Index, planner: &Planner, only: Option<&BTreeSet<String>>) -> Result<(), ApplyError> {
    let patients: Vec<&Patient> = index
        .patients
        .iter()
        .filter(|p| only.is_none_or(|o| o.contains(&p.patient_id)))
        .collect();
    // A code equal to a real ID first: such a patient looks like dams output too, and
    // --recode would not make it safe.
    refuse_code_conflicts(planner)?;
    refuse_recoding(planner, &patients)
}

/// Refuses, as [`apply`] does, an output folder whose manifest records another key (a key
/// store not created yet has a secret no output was made with) or other rules (unless
/// `overwrite`): checked by the command line before anything is made.
///
/// # Errors
///
/// The `ApplyError` refusal, or the manifest cannot be read.
pub fn check_output(planner: &Planner, key: &KeyStore, target: &Target) -> Result<(), ApplyError> {
    match target {
        Target::Folder(out) => earlier_manifest(out, planner, key, &manifest_name(planner)).map(|_| ()),
        Target::InPlace => Ok(()),
    }
}

/// The manifest of an earlier apply into `out`, checked against this run: the same key (the
/// codes and UIDs of both runs must come from one key), and the same profile unless the user
/// takes the folder over (`--overwrite`: the new manifest starts afresh).
fn earlier_manifest(
    out: &Path,
    planner: &Planner,
    key: &KeyStore,
    name: &str,
) -> Result<Option<crate::manifest::Manifest>, ApplyError> {
    use crate::manifest::{Manifest, key_fingerprint, profile_fingerprint};
    let Some(m) = Manifest::read_named(out, name).map_err(manifest_err)? else {
        return Ok(None);
    };
    if m.key_fingerprint != key_fingerprint(&key.secret()) {
        return Err(Refusal::OtherKey {
            out: out.to_path_buf(),
            fingerprint: m.key_fingerprint,
        }
        .into());
    }
    if m.profile.fingerprint != profile_fingerprint(&planner.profile) {
        if planner.overwrite {
            return Ok(None);
        }
        return Err(Refusal::OtherRules {
            out: out.to_path_buf(),
            same_name: m.profile.name == planner.profile.name,
            profile: m.profile.name,
        }
        .into());
    }
    Ok(Some(m))
}

/// The manifest of this run before its first file: the earlier one (or a new one), with every
/// file this run sets out to write listed as pending. Returns the paths that were dams' own
/// before the run (files it may replace without `--overwrite`), where this run's pending
/// entries start, and the manifest.
fn begin_manifest(
    earlier: Option<crate::manifest::Manifest>,
    planner: &Planner,
    key: &KeyStore,
    patients: &[&Patient],
    index: &Index,
    only: Option<&BTreeSet<String>>,
) -> (std::collections::HashSet<PathBuf>, usize, crate::manifest::Manifest) {
    use crate::manifest::{Manifest, key_fingerprint, rel_string};
    let mut m = earlier.unwrap_or_else(|| Manifest::new(&planner.profile, key_fingerprint(&key.secret())));
    let owned: std::collections::HashSet<PathBuf> = m.owned().into_iter().collect();
    let before = m.pending.len();
    m.dams_version = env!("CARGO_PKG_VERSION").into();
    m.options.recode |= planner.recode;
    m.options.accept_burned_in |= planner.accept_burned_in;
    for p in patients {
        if let Some(code) = planner.code(&p.patient_id) {
            m.patients.insert(code.to_string());
        }
        m.pending
            .extend(p.instances().map(|i| rel_string(&planner.dest(&i.path))));
    }
    let in_run = |pid: &str| only.is_none_or(|o| o.contains(pid));
    if planner.shard.is_none() {
        m.pending
            .extend(dicomdir::destinations(index, planner).iter().map(|d| rel_string(d)));
    }
    m.pending.extend(
        index
            .xml
            .iter()
            .filter(|x| planner.xml_owner(&x.path).is_some_and(|(p, _)| in_run(p)))
            .map(|x| rel_string(&planner.dest(&x.path))),
    );
    // A path an earlier run left pending is listed once: this run's entries are those from
    // `before` on (instead of a set of copies of them, issue 17).
    let fresh: Vec<bool> = {
        let mut seen: std::collections::HashSet<&str> = m.pending[..before].iter().map(String::as_str).collect();
        m.pending[before..].iter().map(|p| seen.insert(p.as_str())).collect()
    };
    let mut keep = std::iter::repeat_n(true, before).chain(fresh);
    m.pending.retain(|_| keep.next().unwrap_or(true));
    (owned, before, m)
}

/// The manifest after the run: the files it wrote with their digests; what it set out to
/// write and did not (failed, refused, cancelled) is no longer pending (nothing of it is in
/// the folder: every file appears whole or not at all).
fn finish_manifest(
    m: &mut crate::manifest::Manifest,
    this_run: usize,
    written: Vec<crate::manifest::FileRecord>,
    tables: Vec<crate::manifest::FileRecord>,
    (n_written, n_failed, cancelled): (usize, usize, bool),
) {
    // Pending entries of an earlier run that stopped stay (their files may be there); this
    // run's, from `this_run` on, go (its files are recorded, or not in the folder).
    m.pending.truncate(this_run);
    // One vector, handed over whole (a chain of two was collected into a copy of it).
    let mut written = written;
    written.extend(tables);
    m.record_all(written);
    m.runs.push(crate::manifest::Run {
        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        dams_version: env!("CARGO_PKG_VERSION").into(),
        written: n_written,
        failed: n_failed,
        cancelled,
    });
}

/// A second pass over dams' own output would give codes to codes: only when asked for.
/// Called before any code is recorded (by [`crate::engine::Engine::commit_codes`] too): a
/// refused run must leave nothing in the key, or the next identical run would find the codes
/// it left and take the codes for patients of their own.
pub(crate) fn refuse_recoding(planner: &Planner, patients: &[&Patient]) -> Result<(), ApplyError> {
    let recoded = patients
        .iter()
        .filter(|p| planner.looks_pseudonymised(&p.patient_id).is_some())
        .count();
    if recoded > 0 && !planner.recode {
        return Err(Refusal::Recoding(recoded).into());
    }
    Ok(())
}

/// A code of the key that equals a real ID of the input ([`crate::plan::CodeConflict`]) is
/// never written: refused before anything is, for every patient of the input (the codes of
/// a run may be written into any of its files).
///
/// # Errors
///
/// The refusal, naming each patient whose code conflicts by label.
pub fn refuse_code_conflicts(planner: &Planner) -> Result<(), ApplyError> {
    if planner.code_conflicts.is_empty() {
        return Ok(());
    }
    let each: Vec<String> = planner.code_conflicts.iter().map(ToString::to_string).collect();
    Err(Refusal::CodeConflicts(each.join("; ")).into())
}

/// The output folder, made if needed (canonical, as the checks that each folder written
/// into lies inside it compare canonical paths), with temporary files of an interrupted
/// earlier run removed.
fn output_root(index: &Index, target: &Target) -> Result<PathBuf, ApplyError> {
    let out_root = match target {
        Target::Folder(out) => {
            crate::atomic::create_dir_all_durable(out).map_err(|source| ApplyError::Io {
                path: out.clone(),
                source,
            })?;
            canonical(out)
        }
        Target::InPlace => canonical(&index.root),
    };
    remove_stale_temps(&out_root).map_err(|source| ApplyError::Io {
        path: out_root.clone(),
        source,
    })?;
    Ok(out_root)
}

/// Records in the key store, before the first file is written, every new code of the plan:
/// output carrying a code the key does not hold would be unlinkable, and a code not recorded
/// could be given to someone else by a later run. Any patient's code may be written, not only
/// those of the patients of this run (an XML file, or a `clean`ed text, naming another patient
/// gets that patient's code), so the codes of every patient of the plan are recorded, and
/// the date offsets the plan uses that the key does not hold yet.
fn record_codes(planner: &Planner, key: &mut KeyStore) -> Result<usize, ApplyError> {
    let new: Vec<_> = planner
        .new_entries
        .iter()
        .filter(|e| key.code_for(&e.patient_id).is_none())
        .cloned()
        .collect();
    if !new.is_empty() {
        key.commit(&new)?;
    }
    key.record_offsets(&planner.new_offsets())?;
    Ok(new.len())
}

/// Writes planned files: rayon workers rewrite each into a file without a name (CPU work),
/// a committer thread waits for a batch to reach the disk and names its files (I/O waits).
/// Each file is still durable before it gets its name; the waiting just no longer idles a
/// core. The bounded channel keeps the number of open files within the limit.
struct Writer<'a> {
    root: &'a Path,
    out_root: &'a Path,
    in_place: bool,
    total: usize,
    progress: Progress<'a>,
    cancel: &'a AtomicBool,
    done: AtomicUsize,
    /// Folders whose entries changed (files named, folders made): made durable at the end.
    dirs: Mutex<BTreeSet<PathBuf>>,
    made_dirs: Mutex<HashMap<PathBuf, bool>>,
    root_dev: Option<u64>,
    unnamed: bool,
    /// Staged files stay open until they are named: the queue and the batches fit in the
    /// process's limit of open files (raised to the hard limit where that is allowed).
    queue: usize,
    /// Opened before any file is written: `syncfs` on it reports every write-back error on
    /// the output's file system since (see `sync_all_staged`). Linux only: elsewhere each
    /// file and folder is synced on its own (and Windows cannot open a folder as a file).
    sync_handle: Option<fs::File>,
    /// Set when the output file system is full: every later file would fail the same way,
    /// so the run stops writing and says why, instead of trying each one.
    full: AtomicBool,
    /// Paths in the output folder that dams wrote before (its manifest): only these may be
    /// replaced, unless `overwrite`.
    owned: std::collections::HashSet<PathBuf>,
    overwrite: bool,
    /// Every file named in this run, with its digest (for the manifest).
    written: Mutex<Vec<crate::manifest::FileRecord>>,
}

impl<'a> Writer<'a> {
    /// The paths of the files written so far, relative to the output.
    fn written_paths(&self) -> BTreeSet<PathBuf> {
        self.written
            .lock()
            .map(|w| {
                w.iter()
                    .map(|r| crate::paths::from_exact(&r.path).unwrap_or_else(|_| PathBuf::from(&r.path)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn open(
        root: &'a Path,
        out_root: &'a Path,
        in_place: bool,
        total: usize,
        progress: Progress<'a>,
        cancel: &'a AtomicBool,
    ) -> Result<Writer<'a>, ApplyError> {
        let sync_handle = if cfg!(target_os = "linux") {
            Some(fs::File::open(out_root).map_err(|source| ApplyError::Io {
                path: out_root.to_path_buf(),
                source,
            })?)
        } else {
            None
        };
        Ok(Writer {
            root,
            out_root,
            in_place,
            total,
            progress,
            cancel,
            done: AtomicUsize::new(0),
            dirs: Mutex::new(BTreeSet::new()),
            made_dirs: Mutex::new(HashMap::new()),
            root_dev: device(out_root),
            unnamed: crate::atomic::unnamed_supported(),
            queue: (open_file_budget() / 2).clamp(8, COMMIT_QUEUE),
            sync_handle,
            full: AtomicBool::new(false),
            owned: std::collections::HashSet::new(),
            overwrite: false,
            written: Mutex::new(Vec::new()),
        })
    }

    /// Whether the file at `dest` (`rel` in the output folder) may be replaced: nothing is
    /// there, dams wrote it (the manifest says so), or the user said `--overwrite`.
    fn may_replace(&self, rel: &Path, dest: &Path) -> Result<(), String> {
        if self.overwrite || self.owned.contains(rel) {
            return Ok(());
        }
        match fs::symlink_metadata(dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            _ => Err(format!(
                "refused: {} is already in the output folder and was not written by dams (its manifest does not list it); pass --overwrite to replace it",
                crate::shown::path(rel)
            )),
        }
    }

    fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    fn tick(&self, n: usize) {
        (self.progress)(self.done.fetch_add(n, Ordering::Relaxed) + n, self.total);
    }

    /// Runs `feed` (which hands planned files to the sink it gets) with the committer running
    /// beside it. Returns the DICOM files named, the failures and the XML files written.
    fn run(&self, feed: impl FnOnce(&dyn PlanSink)) -> (usize, Vec<FileError>, usize, Tally) {
        (self.progress)(0, self.total);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Staged>(self.queue);
        std::thread::scope(|scope| {
            let committer = scope.spawn(move || self.commit_all(rx));
            let sink = WriterSink {
                writer: self,
                tx,
                failed: Mutex::new(Vec::new()),
                xml_written: AtomicUsize::new(0),
                tally: Mutex::new(Tally::default()),
            };
            feed(&sink);
            let WriterSink {
                tx,
                failed,
                xml_written,
                tally,
                ..
            } = sink;
            let tally = tally.into_inner().unwrap_or_default();
            drop(tx);
            let mut failed = failed.into_inner().unwrap_or_default();
            let committed = if let Ok((ok, errors)) = committer.join() {
                failed.extend(errors);
                ok
            } else {
                failed.push(FileError {
                    path: PathBuf::new(),
                    reason: "internal: the writer thread failed".into(),
                });
                0
            };
            (committed, failed, xml_written.into_inner(), tally)
        })
    }

    /// The committer: takes every staged file that is waiting, makes them all durable at
    /// once, then names each: one journal commit per batch instead of one per file.
    fn commit_all(&self, rx: std::sync::mpsc::Receiver<Staged>) -> (usize, Vec<FileError>) {
        let (mut ok, mut errors) = (0usize, Vec::new());
        // After a failed sync nothing more is named: which files the failed write-back
        // belonged to is not known.
        let mut failed: Option<io::Error> = None;
        let mut behind = false;
        while let Ok(first) = rx.recv() {
            // Let more arrive first: each syncfs is a journal commit, and a committer that is
            // faster than the writers would otherwise sync every file or two. Sleeping rather
            // than waiting on the channel also spares the writers a wake-up call per file. No
            // pause when files were left over last time.
            if !behind {
                std::thread::sleep(COMMIT_WAIT);
            }
            let mut bytes = first.size;
            let mut batch = vec![first];
            while batch.len() < self.queue && bytes < COMMIT_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(s) => {
                        bytes += s.size;
                        batch.push(s);
                    }
                    Err(_) => break,
                }
            }
            behind = batch.len() >= self.queue || bytes >= COMMIT_BATCH_BYTES;
            let n = batch.len();
            ok += commit_batch(
                batch,
                &self.written,
                self.sync_handle.as_ref(),
                &mut failed,
                &mut errors,
                &self.dirs,
                &self.full,
                self.cancel,
            );
            self.tick(n);
        }
        (ok, errors)
    }

    /// Every folder whose entries changed (files named, folders made) is made durable. One
    /// `syncfs` covers all those on the output's file system at once; the others are synced
    /// one by one.
    fn make_folders_durable(&self) -> Result<(), ApplyError> {
        let mut changed = self.dirs.lock().map(|d| d.clone()).unwrap_or_default();
        if let Some(handle) = self.sync_handle.as_ref().filter(|_| !changed.is_empty()) {
            sync_all_staged(handle).map_err(|source| ApplyError::Io {
                path: self.out_root.to_path_buf(),
                source,
            })?;
            changed.retain(|d| self.root_dev.is_none() || device(d) != self.root_dev);
        }
        for dir in changed {
            crate::atomic::sync_dir(&dir).map_err(|source| ApplyError::Io { path: dir, source })?;
        }
        Ok(())
    }

    fn folders(&self) -> Folders<'_> {
        Folders {
            made: &self.made_dirs,
            changed: &self.dirs,
            root_dev: self.root_dev,
            unnamed: self.unnamed,
        }
    }
}

/// The writer as the plan stream's sink: each planned file is staged and handed to the
/// committer, each planned XML file written.
struct WriterSink<'w, 'a> {
    writer: &'w Writer<'a>,
    tx: std::sync::mpsc::SyncSender<Staged>,
    failed: Mutex<Vec<FileError>>,
    xml_written: AtomicUsize,
    /// What the planned files still hold.
    tally: Mutex<Tally>,
}

impl WriterSink<'_, '_> {
    fn fail(&self, e: FileError) {
        if let Ok(mut f) = self.failed.lock() {
            f.push(e);
        }
    }
}

impl PlanSink for WriterSink<'_, '_> {
    fn file(&self, _: &Patient, inst: &Instance, planned: Result<PlannedFile, FileError>) {
        let w = self.writer;
        if w.cancel.load(Ordering::Relaxed) {
            return;
        }
        if w.is_full() {
            w.tick(1);
            return self.fail(not_written_full(&inst.path));
        }
        if let (Ok(p), Ok(mut t)) = (&planned, self.tally.lock()) {
            t.add(&p.plan);
        }
        let staged = planned.and_then(|p| stage_one(w, inst, p, &w.folders()));
        match staged {
            // Handed to the committer, which reports it; if it died, say so here.
            Ok(staged) => {
                if self.tx.send(staged).is_err() {
                    self.fail(FileError {
                        path: inst.path.clone(),
                        reason: "internal: the writer thread stopped".into(),
                    });
                }
            }
            Err(e) => {
                w.tick(1);
                self.fail(e);
            }
        }
    }

    fn xml(&self, _: &Patient, x: &crate::scan::XmlFile, planned: Result<PlannedXml, FileError>) {
        let w = self.writer;
        if w.is_full() {
            return self.fail(not_written_full(&x.path));
        }
        if let (Ok(p), Ok(mut t)) = (&planned, self.tally.lock()) {
            t.add_xml(&p.plan);
        }
        match planned.and_then(|p| write_xml(w, x, &p)) {
            Ok((dir, record)) => {
                self.xml_written.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut r) = w.written.lock() {
                    r.push(record);
                }
                if let Ok(mut d) = w.dirs.lock() {
                    d.insert(dir);
                }
            }
            Err(e) => self.fail(e),
        }
    }
}

/// Rewrites one planned XML file into place; returns the folder it was written to.
fn write_xml(
    w: &Writer,
    x: &crate::scan::XmlFile,
    planned: &PlannedXml,
) -> Result<(PathBuf, crate::manifest::FileRecord), FileError> {
    let (root, out_root, in_place, changed) = (w.root, w.out_root, w.in_place, &w.dirs);
    let fail = |reason: String| FileError {
        path: x.path.clone(),
        reason,
    };
    let meta = fs::metadata(root.join(&x.path)).map_err(|e| fail(format!("cannot read: {e}")))?;
    // In place the file is replaced where it is (renaming would leave the original behind).
    let dest = destination(out_root, if in_place { &x.path } else { &planned.plan.dest }).map_err(fail)?;
    if !in_place {
        w.may_replace(&planned.plan.dest, &dest).map_err(fail)?;
    }
    let dir = dest.parent().unwrap_or(out_root).to_path_buf();
    make_out_dir(out_root, &dir, changed).map_err(|e| fail(e.reason()))?;
    // Rewritten straight into the new file, its digest taken on the way: a file as large as
    // the input is never held a second time in memory.
    let mut xml_error = None;
    let mut written = (String::new(), 0);
    crate::atomic::write_file(&dest, file_mode(&meta), |w| {
        let mut digest = Digesting {
            inner: w,
            hash: sha2::Sha256::default(),
            len: 0,
        };
        crate::xml::rewrite_source(&planned.bytes, &planned.plan.plan, &mut digest).map_err(|e| {
            let io = io::Error::other("the XML plan does not fit the file");
            xml_error = Some(e);
            io
        })?;
        written = (digest.finish_hex(), digest.len);
        Ok(())
    })
    .map_err(|e| match xml_error.take() {
        Some(x) => fail(format!("XML: {x}")),
        None => fail(format!("cannot write output: {e}")),
    })?;
    let record = crate::manifest::FileRecord {
        path: crate::manifest::rel_string(&planned.plan.dest),
        kind: crate::manifest::FileKind::Xml,
        size: written.1,
        sha256: written.0,
    };
    Ok((dir, record))
}

/// A writer that passes bytes on and takes their SHA-256 and count (for the manifest).
struct Digesting<'w> {
    inner: &'w mut dyn Write,
    hash: sha2::Sha256,
    len: u64,
}

impl Digesting<'_> {
    fn finish_hex(&mut self) -> String {
        use sha2::Digest;
        crate::manifest::hex_digest(&std::mem::take(&mut self.hash).finalize())
    }
}

impl Write for Digesting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `mapping.json` and `mapping.csv` into the output folder, keeping the rows of
/// patients written by earlier runs.
fn write_mapping(
    out_root: &Path,
    links: &crate::link::Links,
    planner: &Planner,
    patients: &BTreeSet<String>,
) -> Result<Vec<crate::manifest::FileRecord>, ApplyError> {
    use crate::plan::mapping as table;
    // A shard writes its part of each table (`mapping.K-of-N.csv`).
    let name = |n: &str| planner.shard.map_or_else(|| n.to_string(), |s| s.part(n));
    let (json_name, csv_name) = (name(MAPPING_JSON), name(MAPPING_CSV));
    let existing = match fs::read(out_root.join(&json_name)) {
        Ok(b) => serde_json::from_slice::<table::MappingFile>(&b)
            .map(|f| f.segmentations)
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let new = table::rows(links, planner, patients);
    if new.is_empty() && existing.is_empty() {
        return Ok(Vec::new());
    }
    table::write_files(out_root, &json_name, &csv_name, table::merge(existing, new)).map_err(|e| ApplyError::Io {
        path: e.path,
        source: e.source,
    })
}

/// The mapping files apply writes into the output folder.
pub const MAPPING_JSON: &str = "mapping.json";
pub const MAPPING_CSV: &str = "mapping.csv";

/// Rewritten files waiting to be made durable and named: a long queue lets writers go on
/// while a batch is being synced. Each holds an open file, so it is also kept within the
/// limit of open files (see `open_file_budget`).
const COMMIT_QUEUE: usize = 1024;
/// A batch made durable together holds at most as many files as the queue, or this many
/// bytes (a sync holds up the naming of everything in its batch).
const COMMIT_BATCH_BYTES: u64 = 128 << 20;
/// Files from this size on are handed to write-back as soon as they are written.
const WRITEBACK_EARLY_FROM: u64 = 256 << 10;
/// How long the committer lets a batch fill before it syncs what it has.
const COMMIT_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// A rewritten file without its final name yet, waiting to be made durable and named.
struct Staged {
    tmp: crate::atomic::Pending,
    /// What the manifest records once it is named.
    record: crate::manifest::FileRecord,
    dest: PathBuf,
    source: PathBuf,
    /// Size of the input (about what was written).
    size: u64,
}

/// The output folders known to exist (made or checked), shared by the writers. Each maps
/// to whether it is on another file system than the output root (then its files are
/// synced one by one: the batch's `syncfs` covers only the root's file system).
struct Folders<'a> {
    made: &'a Mutex<HashMap<PathBuf, bool>>,
    /// Folders whose entries changed, made durable at the end of the run.
    changed: &'a Mutex<BTreeSet<PathBuf>>,
    root_dev: Option<u64>,
    /// Write unnamed files (see `atomic::pending_beside`).
    unnamed: bool,
}

/// How many more files this process may open, after raising its soft limit to the hard one
/// (as Go programs do at start); a margin is left for everything else.
#[cfg(unix)]
fn open_file_budget() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct passed; no other effect.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                lim = raised;
            }
        }
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX).saturating_sub(256)
}

#[cfg(not(unix))]
fn open_file_budget() -> usize {
    512
}

#[cfg(unix)]
fn device(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).ok().map(|m| m.dev())
}

#[cfg(not(unix))]
fn device(_: &Path) -> Option<u64> {
    None
}

/// Rewrites one planned file into a file without a name (or a temporary file) in its
/// destination folder.
fn stage_one(w: &Writer, inst: &Instance, planned: PlannedFile, folders: &Folders) -> Result<Staged, FileError> {
    let (out_root, in_place, full) = (w.out_root, w.in_place, &w.full);
    let fail = |reason: String| FileError {
        path: inst.path.clone(),
        reason,
    };
    let fail_write = |e: io::Error| {
        if out_of_space(&e) {
            full.store(true, Ordering::Relaxed);
        }
        fail(format!("cannot write output: {e}"))
    };
    if !plain_relative(&inst.path) {
        return Err(fail("refused: not a plain path inside the input folder".into()));
    }
    let PlannedFile { parsed, meta, plan: fp } = planned;
    let rendered = rewrite::render_with(
        &parsed,
        &Planner::changes(&fp),
        Planner::inserts(&fp),
        fp.clear_preamble,
        Planner::file_meta(&fp),
    )
    .map_err(|e| fail(e.to_string()))?;
    // In place the file is replaced where it is: writing it under a new name would leave
    // the original, identifiers and all, beside it.
    let dest = destination(out_root, if in_place { &inst.path } else { &fp.dest }).map_err(fail)?;
    if !in_place {
        w.may_replace(&fp.dest, &dest).map_err(fail)?;
    }
    let dir = dest.parent().unwrap_or(out_root).to_path_buf();
    let known = folders.made.lock().ok().and_then(|d| d.get(&dir).copied());
    let elsewhere = if let Some(elsewhere) = known {
        elsewhere
    } else {
        make_out_dir(out_root, &dir, folders.changed).map_err(|e| {
            if let DirError::Io(e) = &e
                && out_of_space(e)
            {
                full.store(true, Ordering::Relaxed);
            }
            fail(e.reason())
        })?;
        let elsewhere = device(&dir) != folders.root_dev || folders.root_dev.is_none();
        if let Ok(mut d) = folders.made.lock() {
            d.insert(dir, elsewhere);
        }
        elsewhere
    };
    // In place the destination always exists: an unnamed file would need a temporary name
    // as well before it could replace it.
    let tmp =
        crate::atomic::pending_beside(&dest, file_mode(&meta), folders.unnamed && !in_place).map_err(fail_write)?;
    write_rendered(&parsed, &rendered, tmp.file()).map_err(fail_write)?;
    // The digest of what was written, read back from the page cache (pixel data went
    // through the kernel without passing through dams).
    let (sha256, written_size) = digest_open(tmp.file()).map_err(fail_write)?;
    // Early write-back pays for large files (the sync finds the work under way); for small
    // ones it only moves the block allocation onto the writer threads.
    if inst.size >= WRITEBACK_EARLY_FROM {
        start_writeback(tmp.file());
    }
    if elsewhere || !cfg!(target_os = "linux") {
        tmp.file().sync_data().map_err(fail_write)?;
    }
    Ok(Staged {
        tmp,
        record: crate::manifest::FileRecord {
            path: crate::manifest::rel_string(&fp.dest),
            kind: crate::manifest::FileKind::Dicom,
            size: written_size,
            sha256,
        },
        dest,
        source: inst.path.clone(),
        size: inst.size,
    })
}

/// The SHA-256 and size of an open file, read from its start.
fn digest_open(f: &fs::File) -> io::Result<(String, u64)> {
    use std::os::unix::fs::FileExt;
    struct At<'a>(&'a fs::File, u64);
    impl io::Read for At<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read_at(buf, self.1)?;
            self.1 += n as u64;
            Ok(n)
        }
    }
    crate::manifest::digest_reader(At(f, 0))
}

/// No space left (or the user's quota used up): nothing more can be written there. A file
/// too large for a size limit (EFBIG) is not this: smaller files may still fit.
fn out_of_space(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
}

/// The reason given for the files not tried once the output file system was full.
fn not_written_full(path: &Path) -> FileError {
    FileError {
        path: path.to_path_buf(),
        reason: "not written: the output file system is full; free some space and run apply again".into(),
    }
}

/// Asks the kernel to start writing the file to disk now, without waiting, so that the
/// sync before it is named finds most of the work done.
#[cfg(target_os = "linux")]
fn start_writeback(f: &fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; the call only schedules writeback and has no
    // effect on memory. Failure is harmless (the fsync still does the job).
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &fs::File) {}

/// Makes a batch of staged files durable, then gives each its final name. On Linux one
/// `syncfs` flushes the whole batch (files on other file systems were synced by their
/// writer); elsewhere each file was synced by its writer. A file whose data may not be on
/// disk is never named: dropped, an unnamed file vanishes and a temporary file is removed.
/// Returns how many were named; the others are added to `errors`.
#[allow(clippy::too_many_arguments)]
fn commit_batch(
    batch: Vec<Staged>,
    written: &Mutex<Vec<crate::manifest::FileRecord>>,
    sync_handle: Option<&fs::File>,
    failed: &mut Option<io::Error>,
    errors: &mut Vec<FileError>,
    dirs: &Mutex<BTreeSet<PathBuf>>,
    full: &AtomicBool,
    cancel: &AtomicBool,
) -> usize {
    // Cancelled: nothing more gets a name. The staged files vanish when dropped (unnamed
    // files have no name to remove; temporary ones are removed), so the run stops at once
    // instead of finishing everything the writers had staged.
    if cancel.load(Ordering::Relaxed) {
        return 0;
    }
    if failed.is_none()
        && let Some(handle) = sync_handle
        && let Err(e) = sync_all_staged(handle)
    {
        if out_of_space(&e) {
            full.store(true, Ordering::Relaxed);
        }
        *failed = Some(e);
    }
    let mut named = 0;
    for Staged {
        tmp,
        dest,
        source,
        record,
        ..
    } in batch
    {
        if cancel.load(Ordering::Relaxed) {
            continue;
        }
        let named_now = match failed.as_ref() {
            Some(e) => Err(e.to_string()),
            None => tmp.persist(&dest).map_err(|e| e.to_string()),
        };
        match named_now {
            Ok(()) => {
                named += 1;
                if let Ok(mut w) = written.lock() {
                    w.push(record);
                }
                if let (Some(dir), Ok(mut d)) = (dest.parent(), dirs.lock())
                    && !d.contains(dir)
                {
                    d.insert(dir.to_path_buf());
                }
            }
            Err(e) => errors.push(FileError {
                path: source,
                reason: format!("cannot write output: {e}"),
            }),
        }
    }
    named
}

/// Flushes every file written so far on the output's file system in one journal commit.
/// `syncfs` reports every write-back error on that file system since `handle` was opened
/// (before the first temporary file) and not yet reported through it; an error that hit a
/// file of a later batch early is reported here, which is why the caller names nothing
/// after a failed sync.
#[cfg(target_os = "linux")]
fn sync_all_staged(handle: &fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; syncfs only flushes.
    let rc = unsafe { libc::syncfs(handle.as_raw_fd()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn sync_all_staged(_: &fs::File) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn file_mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    (meta.permissions().mode() & 0o777) | 0o600
}

#[cfg(not(unix))]
fn file_mode(_: &fs::Metadata) -> u32 {
    0o644
}

/// Writes a rendered file; a deflated data set is compressed again after the file meta.
///
/// # Errors
///
/// An I/O error when the source cannot be read or `file` cannot be written.
pub fn write_rendered(parsed: &Parsed, rendered: &Rendered, file: &fs::File) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(64 << 10, file);
    if parsed.layout.deflated {
        let mut whole = Vec::new();
        rewrite::write_pieces(parsed, &rendered.pieces, &mut whole)?;
        let split = (rendered.dataset_start as usize).min(whole.len());
        w.write_all(&whole[..split])?;
        let mut enc = flate2::write::DeflateEncoder::new(&mut w, flate2::Compression::default());
        enc.write_all(&whole[split..])?;
        enc.finish()?;
    } else {
        rewrite::write_pieces(parsed, &rendered.pieces, &mut w)?;
    }
    w.flush()
}

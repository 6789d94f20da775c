//! Apply: executes a plan. Each file is rewritten into a temporary file beside its
//! destination (pixel data copied as raw bytes, never decoded), fsynced and renamed, so an
//! interruption leaves either no file or the complete one. Files are written in parallel.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::dicom::parse::{Parsed, parse_file};
use crate::dicom::rewrite::{self, Rendered};
use crate::key::{KeyError, KeyStore};
use crate::plan::{FileError, Planner};
use crate::scan::{Index, Instance, Progress, TEMP_PREFIX, Unreadable};

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
    #[error("{0}")]
    Target(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    /// The output folder (absent in in-place mode).
    pub out: Option<PathBuf>,
    pub written: usize,
    pub failed: Vec<FileError>,
    /// Files not written because they could not be read (they may hold identifiers).
    pub unreadable: Vec<Unreadable>,
    pub key_entries_created: usize,
    pub cancelled: bool,
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

/// Checks that the output folder and the key store are where they may be.
pub fn check_target(root: &Path, target: &Target, key_path: &Path) -> Result<(), ApplyError> {
    let Target::Folder(out) = target else {
        return Ok(());
    };
    let root_c = canonical(root);
    let out_c = canonical_future(out);
    let key_c = canonical_future(key_path);
    if out_c == root_c {
        return Err(ApplyError::Target(
            "the output folder is the input folder; to replace the inputs, use --in-place".into(),
        ));
    }
    if out_c.starts_with(&root_c) {
        return Err(ApplyError::Target(format!(
            "the output folder {} is inside the input folder; choose a folder outside it",
            out.display()
        )));
    }
    if root_c.starts_with(&out_c) {
        return Err(ApplyError::Target(format!(
            "the input folder is inside the output folder {}; choose another output folder",
            out.display()
        )));
    }
    if key_c.starts_with(&out_c) {
        return Err(ApplyError::Target(format!(
            "the key store {} is inside the output folder; it holds the original identifiers and must stay out of what is shared",
            key_path.display()
        )));
    }
    Ok(())
}

/// Removes temporary files left by an interrupted earlier run.
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

/// Writes the plan for every patient in `index` (or only those in `only`).
pub fn apply(
    index: &Index,
    planner: &Planner,
    key: &mut KeyStore,
    target: &Target,
    only: Option<&BTreeSet<String>>,
    progress: Progress,
    cancel: &AtomicBool,
) -> Result<ApplyReport, ApplyError> {
    check_target(&index.root, target, key.path())?;
    let out_root = match target {
        Target::Folder(out) => {
            fs::create_dir_all(out).map_err(|source| ApplyError::Io {
                path: out.clone(),
                source,
            })?;
            canonical(out)
        }
        Target::InPlace => index.root.clone(),
    };
    remove_stale_temps(&out_root).map_err(|source| ApplyError::Io {
        path: out_root.clone(),
        source,
    })?;

    let patients: Vec<_> = index
        .patients
        .iter()
        .filter(|p| only.is_none_or(|o| o.contains(&p.patient_id)))
        .collect();
    // The key first: output carrying a code the key does not hold would be unlinkable.
    let new: Vec<_> = planner
        .new_entries
        .iter()
        .filter(|e| patients.iter().any(|p| p.patient_id == e.patient_id))
        .cloned()
        .collect();
    if !new.is_empty() {
        key.commit(&new)?;
    }

    let jobs: Vec<(&str, &Instance)> = patients
        .iter()
        .flat_map(|p| p.instances().map(move |i| (p.patient_id.as_str(), i)))
        .collect();
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    let dirs = Mutex::new(BTreeSet::new());
    progress(0, total);
    let results: Vec<Option<Result<(), FileError>>> = jobs
        .par_iter()
        .map(|(pid, inst)| {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            let r = write_one(&index.root, &out_root, planner, pid, inst).map(|dir| {
                if let Ok(mut d) = dirs.lock() {
                    d.insert(dir);
                }
            });
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            Some(r)
        })
        .collect();

    for dir in dirs.into_inner().unwrap_or_default() {
        crate::atomic::sync_dir(&dir).map_err(|source| ApplyError::Io { path: dir, source })?;
    }

    let mut report = ApplyReport {
        out: matches!(target, Target::Folder(_)).then_some(out_root),
        key_entries_created: new.len(),
        unreadable: index.unreadable.clone(),
        ..ApplyReport::default()
    };
    for r in results {
        match r {
            None => report.cancelled = true,
            Some(Ok(())) => report.written += 1,
            Some(Err(e)) => report.failed.push(e),
        }
    }
    report.failed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// Rewrites one file into place; returns the folder it was written to.
fn write_one(
    root: &Path,
    out_root: &Path,
    planner: &Planner,
    patient_id: &str,
    inst: &Instance,
) -> Result<PathBuf, FileError> {
    let fail = |reason: String| FileError {
        path: inst.path.clone(),
        reason,
    };
    let src = root.join(&inst.path);
    let meta = fs::metadata(&src).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.len() != inst.size || (inst.modified.is_some() && meta.modified().ok() != inst.modified) {
        return Err(fail("the file changed since it was scanned; scan again".into()));
    }
    let parsed = parse_file(&src).map_err(|e| fail(e.to_string()))?;
    let fp = planner.plan_parsed(&parsed, &inst.path, patient_id)?;
    let rendered = rewrite::render(&parsed, &Planner::changes(&fp), &[]).map_err(|e| fail(e.to_string()))?;
    let dest = out_root.join(&fp.dest);
    let dir = dest.parent().unwrap_or(out_root).to_path_buf();
    fs::create_dir_all(&dir).map_err(|e| fail(format!("cannot create output folder: {e}")))?;
    let mode = file_mode(&meta);
    let tmp = crate::atomic::temp_beside(&dest, mode).map_err(|e| fail(format!("cannot write output: {e}")))?;
    write_rendered(&parsed, &rendered, tmp.as_file()).map_err(|e| fail(format!("cannot write output: {e}")))?;
    crate::atomic::commit(tmp, &dest).map_err(|e| fail(format!("cannot write output: {e}")))?;
    Ok(dir)
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

//! `dams tables OUT`: the mapping table of a run split into shards (`dams apply --shard K/N`),
//! joined from the shards' parts (`mapping.K-of-N.json`) into the `mapping.csv` and
//! `mapping.json` one unsharded run writes, byte for byte, after checking that the parts are
//! those of one run: one profile, options and key, one N, every shard there and finished.
//!
//! The parts stay (each is its shard's record; a shard run again rewrites its own, and a
//! second join gives the table anew). The joined tables are recorded, with their digests, in
//! the folder's own manifest (`dams-manifest.json`, made if the shards left none), which
//! verify reads with the parts: the folder then verifies as before, tables included.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::manifest::{FileKind, MANIFEST, MAPPING_CSV, MAPPING_JSON, Manifest, ManifestError, Shard};
use crate::plan::mapping::{self, MappingFile, MappingRow};

/// Why the tables were not joined (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "{0} holds no shard manifest (dams-manifest.K-of-N.json): nothing to join (an apply without --shard writes mapping.csv itself)"
    )]
    NoParts(PathBuf),
    /// The parts are not those of one split run.
    #[error("{0}")]
    Mismatch(String),
    /// A shard's part is missing, unfinished or not as the shard wrote it.
    #[error("{0}; run that shard (dams apply … --shard K/N) again, then join")]
    Part(String),
    /// A table in the folder that dams did not write.
    #[error(
        "{0} is already in the output folder and was not written by dams (its manifest does not list it); move it away first"
    )]
    NotOwn(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// What the join did.
#[derive(Debug)]
pub struct TablesReport {
    /// N of the split.
    pub shards: usize,
    /// The rows of the joined table (0: no shard found a segmentation, and, like one run,
    /// the join writes no table).
    pub rows: usize,
    /// The files written (`mapping.json`, `mapping.csv`), in the output folder.
    pub written: Vec<PathBuf>,
}

/// One shard's manifest part, with its shard.
struct Part {
    shard: Shard,
    name: String,
    manifest: Manifest,
}

/// Joins the mapping table parts in `out` into `mapping.json` and `mapping.csv`.
pub fn join(out: &Path) -> Result<TablesReport, TablesError> {
    let parts = read_parts(out)?;
    let n = check_parts(&parts)?;
    let own = Manifest::read(out)?;
    if let Some(m) = &own {
        let first = &parts[0].manifest;
        if m.profile.fingerprint != first.profile.fingerprint || m.key_fingerprint != first.key_fingerprint {
            return Err(TablesError::Mismatch(format!(
                "{MANIFEST} was written with another profile or key than the shards' parts"
            )));
        }
    }
    let owned = own.as_ref().map(Manifest::owned).unwrap_or_default();
    for name in [MAPPING_JSON, MAPPING_CSV] {
        let rel = PathBuf::from(name);
        if !owned.contains(&rel) && std::fs::symlink_metadata(out.join(name)).is_ok() {
            return Err(TablesError::NotOwn(rel));
        }
    }

    let mut rows = Vec::new();
    let mut shard_patients: BTreeSet<&str> = BTreeSet::new();
    for p in &parts {
        rows.extend(part_rows(out, p)?);
        shard_patients.extend(p.manifest.patients.iter().map(String::as_str));
    }
    // Rows of patients no shard wrote (an earlier apply without --shard into this folder)
    // stay, as a later run keeps them; those of the shards' patients are the parts' alone.
    let earlier: Vec<MappingRow> = if owned.contains(Path::new(MAPPING_JSON)) {
        read_table(&out.join(MAPPING_JSON))?
            .into_iter()
            .filter(|r| !shard_patients.contains(r.patient.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    let rows = mapping::merge(earlier, rows);
    let mut report = TablesReport {
        shards: n,
        rows: rows.len(),
        written: Vec::new(),
    };
    let had_tables = [MAPPING_JSON, MAPPING_CSV].iter().any(|n| owned.contains(Path::new(n)));
    if rows.is_empty() && !had_tables {
        return Ok(report);
    }

    // The folder's manifest names the tables before they are written, so that a join stopped
    // by a crash leaves files that are dams' own (pending), to be written again.
    let mut m = own.unwrap_or_else(|| empty_like(&parts[0].manifest));
    m.pending.extend([MAPPING_JSON.to_string(), MAPPING_CSV.to_string()]);
    m.write(out)?;
    let records = mapping::write_files(out, MAPPING_JSON, MAPPING_CSV, rows).map_err(|e| TablesError::Io {
        path: e.path,
        source: e.source,
    })?;
    m.record_all(records);
    m.write(out)?;
    report.written = vec![out.join(MAPPING_JSON), out.join(MAPPING_CSV)];
    Ok(report)
}

/// Every shard's manifest part in `out`, by shard.
fn read_parts(out: &Path) -> Result<Vec<Part>, TablesError> {
    let dir = std::fs::read_dir(out).map_err(|source| TablesError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut parts = Vec::new();
    for entry in dir {
        let entry = entry.map_err(|source| TablesError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !crate::manifest::is_part_of(&name, MANIFEST) {
            continue;
        }
        let shard = Shard::of_part(&name, MANIFEST).ok_or_else(|| {
            TablesError::Mismatch(format!("{name}: not the manifest of a shard K of N (K from 0 to N-1)"))
        })?;
        if let Some(manifest) = Manifest::read_named(out, &name)? {
            parts.push(Part { shard, name, manifest });
        }
    }
    if parts.is_empty() {
        return Err(TablesError::NoParts(out.to_path_buf()));
    }
    parts.sort_by_key(|p| (p.shard.n, p.shard.k));
    Ok(parts)
}

/// The parts are those of one split run into N shards, all there and finished: returns N.
fn check_parts(parts: &[Part]) -> Result<usize, TablesError> {
    let first = &parts[0];
    let n = first.shard.n;
    if let Some(other) = parts.iter().find(|p| p.shard.n != n) {
        return Err(TablesError::Mismatch(format!(
            "{} and {} are parts of runs split in {n} and in {} shards; remove the parts of the other run",
            first.name, other.name, other.shard.n
        )));
    }
    for p in &parts[1..] {
        let (a, b) = (&first.manifest, &p.manifest);
        let what = if a.profile.fingerprint != b.profile.fingerprint {
            Some("profile")
        } else if a.options != b.options {
            Some("options (--recode, --accept-burned-in)")
        } else if a.key_fingerprint != b.key_fingerprint {
            Some("key")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(TablesError::Mismatch(format!(
                "{} and {} were written with another {what}: they are not parts of one run",
                first.name, p.name
            )));
        }
    }
    let have: BTreeSet<usize> = parts.iter().map(|p| p.shard.k).collect();
    let missing: Vec<String> = (0..n)
        .filter(|k| !have.contains(k))
        .map(|k| Shard { k, n }.part(MANIFEST))
        .collect();
    if !missing.is_empty() {
        return Err(TablesError::Part(format!(
            "{} of {n} shard(s) missing: no {}",
            missing.len(),
            missing.join(", ")
        )));
    }
    for p in parts {
        let stopped = p.manifest.runs.last().is_some_and(|r| r.cancelled);
        if stopped || !p.manifest.pending.is_empty() {
            return Err(TablesError::Part(format!(
                "shard {} of {n} did not finish ({} lists files it set out to write and did not)",
                p.shard.k, p.name
            )));
        }
    }
    Ok(n)
}

/// The rows of a shard's part of the table: none when its manifest lists no part (the shard
/// found no segmentation), else the part, which must be as the shard wrote it.
fn part_rows(out: &Path, p: &Part) -> Result<Vec<MappingRow>, TablesError> {
    let name = p.shard.part(MAPPING_JSON);
    let Some(rec) = p
        .manifest
        .files
        .iter()
        .find(|f| f.kind == FileKind::Table && f.path == name)
    else {
        return Ok(Vec::new());
    };
    let path = out.join(&name);
    let bytes = std::fs::read(&path)
        .map_err(|e| TablesError::Part(format!("{name}: cannot be read ({e}), though {} lists it", p.name)))?;
    if crate::manifest::digest_bytes(&bytes) != rec.sha256 {
        return Err(TablesError::Part(format!(
            "{name} differs from what shard {} wrote (its SHA-256 is not the one {} lists)",
            p.shard.k, p.name
        )));
    }
    parse_table(&path, &bytes)
}

fn read_table(path: &Path) -> Result<Vec<MappingRow>, TablesError> {
    let bytes = std::fs::read(path).map_err(|source| TablesError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_table(path, &bytes)
}

/// A mapping table's rows; damage is named by place, never by value.
fn parse_table(path: &Path, bytes: &[u8]) -> Result<Vec<MappingRow>, TablesError> {
    serde_json::from_slice::<MappingFile>(bytes)
        .map(|f| f.segmentations)
        .map_err(|e| {
            TablesError::Part(format!(
                "{}: not a mapping table dams can read (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })
}

/// A manifest for the folder itself, holding only the joined tables: the parts' profile,
/// options and key, no file, no patient and no run of its own.
fn empty_like(part: &Manifest) -> Manifest {
    Manifest {
        patients: BTreeSet::new(),
        runs: Vec::new(),
        files: Vec::new(),
        pending: Vec::new(),
        ..part.clone()
    }
}

//! The manifest apply writes into the output folder (`dams-manifest.json`): which dams, which
//! profile (its full text and values), which options and which key (by fingerprint) made the
//! folder, and every file dams wrote there with its SHA-256. It holds no identifier: output
//! paths and codes only. Verify reads it (no `--profile` needed) and checks every file
//! against it; apply reads it to know which files in the folder are its own.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::profile::Profile;

/// The manifest's file name, at the top of the output folder.
pub const MANIFEST: &str = "dams-manifest.json";
const FORMAT: &str = "dams-manifest";
const VERSION: u32 = 1;

/// The files at the top of an output folder that dams writes itself (an input file of the
/// same name is written under another one).
pub const OWN_FILES: &[&str] = &[MANIFEST, MAPPING_CSV, MAPPING_JSON, SEND_LOG];
/// The tables apply writes and the log send keeps (their writers hold the same names).
pub const MAPPING_CSV: &str = "mapping.csv";
pub const MAPPING_JSON: &str = "mapping.json";
pub const SEND_LOG: &str = "dams-send.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Damaged or not a manifest: named by field and place, never by value.
    #[error("{path}: not a dams manifest that this dams can read ({reason})")]
    Unreadable { path: PathBuf, reason: String },
}

/// What made the output folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileRecord {
    pub name: String,
    /// `builtin:seed`, or the file it was read from.
    pub source: String,
    /// The profile's TOML text, whole: verify plans with exactly these rules.
    pub text: String,
    /// `--value NAME=TEXT` given on top of the text.
    pub values: Vec<(String, String)>,
    /// `--option NAME` given on top of the text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// SHA-256 of the text and the values: two runs with the same rules have the same one.
    pub fingerprint: String,
}

impl ProfileRecord {
    #[must_use]
    pub fn of(p: &Profile) -> ProfileRecord {
        ProfileRecord {
            name: p.name.clone(),
            source: p.source.clone(),
            text: p.text.clone(),
            values: p.overrides.clone(),
            options: p.options.clone(),
            fingerprint: profile_fingerprint(p),
        }
    }

    /// The profile again, as apply used it.
    ///
    /// # Errors
    ///
    /// `ProfileError` when the recorded profile no longer parses.
    pub fn profile(&self) -> Result<Profile, crate::profile::ProfileError> {
        Profile::parse(&self.text, &self.source, &self.values)?.with_options(&self.options)
    }
}

/// SHA-256 (hex) of a profile's text and its values.
#[must_use]
pub fn profile_fingerprint(p: &Profile) -> String {
    let mut h = Sha256::new();
    h.update(p.text.as_bytes());
    for (k, v) in &p.overrides {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
    }
    // Options only when given: a profile without any keeps the fingerprint it always had.
    for o in &p.options {
        h.update([1]);
        h.update(o.as_bytes());
    }
    hex(&h.finalize())
}

/// A key's fingerprint: it names the key (its secret, from which every new UID is derived)
/// without revealing the secret.
#[must_use]
pub fn key_fingerprint(secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"dams key fingerprint\0");
    h.update(secret);
    hex(&h.finalize()[..16])
}

/// Options of the runs that wrote the folder (those that change what is written).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Options {
    /// Codes given to input that looked like dams output already.
    pub recode: bool,
    /// Images that may show identifiers in their pixels were written without being approved
    /// one by one.
    pub accept_burned_in: bool,
}

/// What kind of file dams wrote.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    Dicom,
    Xml,
    /// mapping.csv, mapping.json.
    Table,
}

/// One file dams wrote, as it wrote it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    /// Relative to the output folder.
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
    pub sha256: String,
}

/// How many files of each kind the manifest lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub files: usize,
    pub dicom: usize,
    pub xml: usize,
    pub tables: usize,
}

/// One apply into the folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Run {
    pub at: String,
    pub dams_version: String,
    pub written: usize,
    pub failed: usize,
    pub cancelled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The dams that last wrote into the folder.
    pub dams_version: String,
    pub profile: ProfileRecord,
    pub options: Options,
    pub key_fingerprint: String,
    /// The codes of the patients whose files are in the folder.
    pub patients: BTreeSet<String>,
    pub counts: Counts,
    pub runs: Vec<Run>,
    /// Every file dams wrote, by path.
    pub files: Vec<FileRecord>,
    /// Files a run set out to write and had not finished when it stopped (a crash): dams'
    /// own, to be written again; verify reports them as unfinished.
    pub pending: Vec<String>,
}

/// One part of a run split over several processes or machines (`dams apply --shard K/N`):
/// shard `k` of `n` (0-based) writes the patients whose code falls to it, with a manifest and
/// a mapping table of its own, so that shards never write the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// `K/N` (K from 0 to N-1), or `slurm`: the array task of a Slurm array job
    /// (`SLURM_ARRAY_TASK_ID` minus `SLURM_ARRAY_TASK_MIN`, of `SLURM_ARRAY_TASK_COUNT`).
    ///
    /// # Errors
    ///
    /// Why, when `arg` is not `K/N` of a valid shard, or `slurm` outside a Slurm array task.
    pub fn parse(arg: &str) -> Result<Shard, String> {
        if arg == "slurm" {
            let var = |n: &str| -> Result<usize, String> {
                std::env::var(n)
                    .map_err(|_| format!("--shard slurm: {n} is not set (not inside a Slurm array job?)"))?
                    .trim()
                    .parse()
                    .map_err(|_| format!("--shard slurm: {n} is not a number"))
            };
            let (id, count) = (var("SLURM_ARRAY_TASK_ID")?, var("SLURM_ARRAY_TASK_COUNT")?);
            let min = if std::env::var_os("SLURM_ARRAY_TASK_MIN").is_some() {
                var("SLURM_ARRAY_TASK_MIN")?
            } else {
                0
            };
            return Shard::new(
                id.checked_sub(min)
                    .ok_or("--shard slurm: task ID below the array's minimum")?,
                count,
            );
        }
        let (k, n) = arg
            .split_once('/')
            .ok_or_else(|| format!("--shard {arg}: expected K/N (e.g. 0/4) or slurm"))?;
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("--shard {arg}: expected K/N"))
        };
        Shard::new(num(k)?, num(n)?)
    }

    /// Shard `k` of `n`.
    ///
    /// # Errors
    ///
    /// Why, when `k` is not below `n` or `n` is not from 1 to 100,000.
    pub fn new(k: usize, n: usize) -> Result<Shard, String> {
        if n == 0 || k >= n || n > 100_000 {
            return Err(format!("shard {k}/{n}: K must be from 0 to N-1, N from 1 to 100000"));
        }
        Ok(Shard { k, n })
    }

    /// Whether the patient with this code is written by this shard: by SHA-256 of the code, so
    /// the same code always falls to the same shard of N, whatever else is in the folder.
    #[must_use]
    pub fn holds(&self, code: &str) -> bool {
        let d = Sha256::digest(code.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        (u64::from_be_bytes(b) % self.n as u64) as usize == self.k
    }

    /// `name.ext` as this shard's part: `name.K-of-N.ext`.
    #[must_use]
    pub fn part(&self, name: &str) -> String {
        match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{}-of-{}.{ext}", self.k, self.n),
            None => format!("{name}.{}-of-{}", self.k, self.n),
        }
    }

    /// The shard whose part of `own` the top-level file `name` is (`dams-manifest.2-of-4.json`
    /// of `dams-manifest.json`: shard 2 of 4); `None` for any other name, or K and N that
    /// name no shard.
    pub fn of_part(name: &str, own: &str) -> Option<Shard> {
        let (stem, ext) = own.rsplit_once('.')?;
        let mid = name
            .strip_prefix(stem)?
            .strip_prefix('.')?
            .strip_suffix(ext)?
            .strip_suffix('.')?;
        let (k, n) = mid.split_once("-of-")?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(k) && digits(n)) {
            return None;
        }
        let shard = Shard::new(k.parse().ok()?, n.parse().ok()?).ok()?;
        (shard.part(own) == name).then_some(shard)
    }
}

/// Whether a top-level file name is one of dams' own files or a shard's part of one.
#[must_use]
pub fn is_own_file(name: &str) -> bool {
    OWN_FILES.iter().any(|own| name == *own || is_part_of(name, own))
}

/// Whether a top-level file name is a shard's part of one of dams' own files
/// (`dams-manifest.2-of-4.json`, `mapping.0-of-4.csv`).
#[must_use]
pub fn is_part_of(name: &str, own: &str) -> bool {
    let (Some((stem, ext)), Some((n_stem, n_ext))) = (own.rsplit_once('.'), name.rsplit_once('.')) else {
        return false;
    };
    if ext != n_ext {
        return false;
    }
    let Some(mid) = n_stem.strip_prefix(stem).and_then(|m| m.strip_prefix('.')) else {
        return false;
    };
    mid.split_once("-of-")
        .is_some_and(|(k, n)| !k.is_empty() && !n.is_empty() && k.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit()))
}

impl Manifest {
    #[must_use]
    pub fn new(profile: &Profile, key_fingerprint: String) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            dams_version: env!("CARGO_PKG_VERSION").into(),
            profile: ProfileRecord::of(profile),
            options: Options::default(),
            key_fingerprint,
            patients: BTreeSet::new(),
            counts: Counts::default(),
            runs: Vec::new(),
            files: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The manifest in `out`, if there is one.
    ///
    /// # Errors
    ///
    /// `ManifestError` when the manifest cannot be read or parsed.
    pub fn read(out: &Path) -> Result<Option<Manifest>, ManifestError> {
        Manifest::read_named(out, MANIFEST)
    }

    /// Every manifest in `out` — the folder's own and those of the shards that wrote into it
    /// (`dams-manifest.K-of-N.json`) — as one: their files, patients, runs and pending files
    /// together. Parts made with another profile or key than the others are refused.
    ///
    /// # Errors
    ///
    /// `ManifestError` when a manifest cannot be read or parsed, or the parts do not belong
    /// together.
    pub fn read_all(out: &Path) -> Result<Option<Manifest>, ManifestError> {
        let mut names = vec![MANIFEST.to_string()];
        if let Ok(dir) = std::fs::read_dir(out) {
            let mut parts: Vec<String> = dir
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| is_part_of(n, MANIFEST))
                .collect();
            parts.sort();
            names.extend(parts);
        }
        let mut all: Option<Manifest> = None;
        for name in names {
            let Some(m) = Manifest::read_named(out, &name)? else {
                continue;
            };
            match &mut all {
                None => all = Some(m),
                Some(a) => {
                    if a.profile.fingerprint != m.profile.fingerprint || a.key_fingerprint != m.key_fingerprint {
                        return Err(ManifestError::Unreadable {
                            path: out.join(&name),
                            reason: "this shard's part was written with another profile or key than the others".into(),
                        });
                    }
                    a.patients.extend(m.patients);
                    a.runs.extend(m.runs);
                    a.pending.extend(m.pending);
                    a.record_all(m.files);
                    a.options.recode |= m.options.recode;
                    a.options.accept_burned_in |= m.options.accept_burned_in;
                }
            }
        }
        Ok(all)
    }

    /// The manifest file `name` in `out`, if there is one.
    ///
    /// # Errors
    ///
    /// `ManifestError` when the manifest cannot be read or parsed.
    pub fn read_named(out: &Path, name: &str) -> Result<Option<Manifest>, ManifestError> {
        let path = out.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ManifestError::Io { path, source }),
        };
        let m: Manifest =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&bytes)).map_err(|e| {
                ManifestError::Unreadable {
                    path: path.clone(),
                    reason: format!("field {}, line {}", e.path(), e.inner().line()),
                }
            })?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(ManifestError::Unreadable {
                path,
                reason: "another format or version".into(),
            });
        }
        Ok(Some(m))
    }

    /// Writes the manifest into `out` atomically.
    ///
    /// # Errors
    ///
    /// `ManifestError` when the manifest cannot be written.
    pub fn write(&mut self, out: &Path) -> Result<(), ManifestError> {
        self.write_named(out, MANIFEST)
    }

    /// Writes the manifest into `out` as `name` (a shard's part), atomically.
    ///
    /// # Errors
    ///
    /// `ManifestError` when the manifest cannot be written.
    pub fn write_named(&mut self, out: &Path, name: &str) -> Result<(), ManifestError> {
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        self.files.dedup_by(|a, b| a.path == b.path);
        self.pending.sort();
        self.pending.dedup();
        self.counts = Counts {
            files: self.files.len(),
            dicom: self.files.iter().filter(|f| f.kind == FileKind::Dicom).count(),
            xml: self.files.iter().filter(|f| f.kind == FileKind::Xml).count(),
            tables: self.files.iter().filter(|f| f.kind == FileKind::Table).count(),
        };
        let path = out.join(name);
        let io_err = |source| ManifestError::Io {
            path: path.clone(),
            source,
        };
        // Written as it is serialised: the whole text first took some 330 bytes a file.
        crate::atomic::write_file(&path, 0o644, |w| {
            serde_json::to_writer_pretty(&mut *w, self).map_err(io::Error::other)?;
            w.write_all(b"\n")
        })
        .map_err(io_err)
    }

    /// The paths dams wrote or set out to write (its own files in the folder).
    pub fn owned(&self) -> BTreeSet<PathBuf> {
        self.files
            .iter()
            .map(|f| f.path.as_str())
            .chain(self.pending.iter().map(String::as_str))
            .filter_map(|p| crate::paths::from_exact(p).ok())
            .collect()
    }

    /// The record of each file, by path.
    #[must_use]
    pub fn by_path(&self) -> BTreeMap<&str, &FileRecord> {
        self.files.iter().map(|f| (f.path.as_str(), f)).collect()
    }

    /// Records a file written (replacing an earlier record of it).
    pub fn record(&mut self, rec: FileRecord) {
        self.record_all(std::iter::once(rec));
    }

    /// Records files written (each replacing an earlier record of it, the last of a path
    /// winning), in one pass over the records already there: a run of 100,000 files must not
    /// compare each with all. Found by binary search in the new records sorted by path, not
    /// through maps of copied paths (three copies of every path were apply's peak, issue 17).
    pub fn record_all(&mut self, recs: impl IntoIterator<Item = FileRecord>) {
        let recs: Vec<FileRecord> = recs.into_iter().collect();
        let mut order: Vec<usize> = (0..recs.len()).collect();
        // By path, the latest of each path first, then only that one kept.
        order.sort_unstable_by(|&a, &b| recs[a].path.cmp(&recs[b].path).then(b.cmp(&a)));
        order.dedup_by(|later, kept| recs[*later].path == recs[*kept].path);
        let find = |path: &str| {
            order
                .binary_search_by(|&i| recs[i].path.as_str().cmp(path))
                .ok()
                .map(|k| order[k])
        };
        let replaced: Vec<(usize, usize)> = self
            .files
            .iter()
            .enumerate()
            .filter_map(|(at, f)| find(&f.path).map(|i| (at, i)))
            .collect();
        self.pending.retain(|p| find(p).is_none());
        let mut new = vec![false; recs.len()];
        for &i in &order {
            new[i] = true;
        }
        for &(_, i) in &replaced {
            new[i] = false;
        }
        drop(order);
        // Moved, never copied: a first run's records become the list as they are.
        let mut recs = recs;
        for (at, i) in replaced {
            std::mem::swap(&mut self.files[at], &mut recs[i]);
        }
        let mut new = new.into_iter();
        recs.retain(|_| new.next().unwrap_or(false));
        if self.files.is_empty() {
            self.files = recs;
        } else {
            self.files.append(&mut recs);
        }
    }
}

/// The SHA-256 (hex) and size of a file.
///
/// # Errors
///
/// An I/O error when the file cannot be read.
pub fn digest_file(path: &Path) -> io::Result<(String, u64)> {
    let f = std::fs::File::open(path)?;
    digest_reader(f)
}

/// The SHA-256 (hex) and length of everything `r` gives.
///
/// # Errors
///
/// An I/O error when `r` fails.
pub fn digest_reader(mut r: impl Read) -> io::Result<(String, u64)> {
    thread_local! {
        // One buffer per thread: a fresh 1 MiB per file was zeroed 20,000 times for a run of
        // 20,000 small files (a third of apply's own CPU time).
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 1 << 20]);
    }
    BUF.with(|cell| {
        let mut own;
        let mut borrowed = cell.try_borrow_mut();
        let buf: &mut Vec<u8> = if let Ok(b) = &mut borrowed {
            b
        } else {
            own = vec![0u8; 1 << 16];
            &mut own
        };
        let mut h = Sha256::new();
        let mut n = 0u64;
        loop {
            let k = r.read(buf)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        Ok((hex(&h.finalize()), n))
    })
}

/// The SHA-256 (hex) of bytes.
#[must_use]
pub fn digest_bytes(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

/// A SHA-256 digest as the manifest writes it (lower-case hex).
#[must_use]
pub fn hex_digest(d: &[u8]) -> String {
    hex(d)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A path relative to the output folder as the manifest writes it: exactly (a name that is not
/// UTF-8 as the hex of its bytes, see [`crate::paths::to_exact`]), so that it names the file.
#[must_use]
pub fn rel_string(p: &Path) -> String {
    crate::paths::to_exact(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_files_are_the_names_apply_and_send_write() {
        assert_eq!(SEND_LOG, crate::send::log::LOG_NAME);
        assert_eq!(MAPPING_CSV, crate::apply::MAPPING_CSV);
        assert_eq!(MAPPING_JSON, crate::apply::MAPPING_JSON);
        for name in [
            crate::apply::MAPPING_CSV,
            crate::apply::MAPPING_JSON,
            crate::send::log::LOG_NAME,
        ] {
            assert!(OWN_FILES.contains(&name), "{name}");
        }
    }

    /// dams' own files and shards' parts of them are known by name (send leaves them out);
    /// other names are not.
    #[test]
    fn own_files_and_their_parts_are_known() {
        for name in [
            MANIFEST,
            "dams-manifest.1-of-4.json",
            MAPPING_CSV,
            "mapping.0-of-2.json",
            SEND_LOG,
        ] {
            assert!(is_own_file(name), "{name}");
        }
        for name in [
            "IM0001.dcm",
            "dams-manifest.json.bak",
            "mapping.x-of-2.csv",
            "notes.txt",
        ] {
            assert!(!is_own_file(name), "{name}");
        }
    }

    /// A part's name gives its shard back; other names, and K or N out of range, none.
    #[test]
    fn parts_name_their_shard() {
        let s = Shard { k: 2, n: 4 };
        assert_eq!(Shard::of_part(&s.part(MANIFEST), MANIFEST), Some(s));
        assert_eq!(
            Shard::of_part("mapping.0-of-1.csv", MAPPING_CSV),
            Some(Shard { k: 0, n: 1 })
        );
        for other in [
            "dams-manifest.json",
            "dams-manifest.4-of-4.json",
            "dams-manifest.02-of-4.json",
            "dams-manifest.x-of-4.json",
            "dams-manifest.2-of-4.csv",
            "mapping.2-of-4.json",
        ] {
            assert_eq!(Shard::of_part(other, MANIFEST), None, "{other}");
        }
    }

    #[test]
    fn round_trips_and_records_replace() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let profile =
            Profile::resolve(Some("seed"), &[("institution".into(), "X".into())]).unwrap_or_else(|e| panic!("{e}"));
        let mut m = Manifest::new(&profile, key_fingerprint(b"secret"));
        m.pending.push("a/1.dcm".into());
        m.record(FileRecord {
            path: "a/1.dcm".into(),
            kind: FileKind::Dicom,
            size: 3,
            sha256: digest_bytes(b"abc"),
        });
        m.write(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let back = Manifest::read(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("written"));
        assert_eq!(back, m);
        assert!(back.pending.is_empty());
        assert_eq!(back.counts.dicom, 1);
        let again = back.profile.profile().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(profile_fingerprint(&again), back.profile.fingerprint);
        assert_eq!(
            digest_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Recording many files at once: each replaces its earlier record, new ones follow in
    /// order, and every recorded path is no longer pending (others stay).
    #[test]
    fn record_all_replaces_appends_and_clears_pending() {
        let profile = Profile::resolve(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        let mut m = Manifest::new(&profile, key_fingerprint(b"secret"));
        let rec = |path: &str, size: u64| FileRecord {
            path: path.into(),
            kind: FileKind::Dicom,
            size,
            sha256: digest_bytes(path.as_bytes()),
        };
        m.record(rec("a", 1));
        m.pending = vec!["a".into(), "b".into(), "c".into(), "d".into()];
        m.record_all([rec("b", 2), rec("a", 3), rec("c", 4)]);
        let got: Vec<(&str, u64)> = m.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
        assert_eq!(got, [("a", 3), ("b", 2), ("c", 4)]);
        assert_eq!(m.pending, ["d"]);
        // A path named twice in one call is recorded once, as its last record says; new ones
        // keep the order they came in, not the order of their paths.
        m.record_all([rec("z", 5), rec("e", 6), rec("y", 7), rec("e", 8), rec("a", 9)]);
        let got: Vec<(&str, u64)> = m.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
        assert_eq!(got, [("a", 9), ("b", 2), ("c", 4), ("z", 5), ("y", 7), ("e", 8)]);
        let (d1, n) = digest_reader(&b"abc"[..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((d1.as_str(), n), (digest_bytes(b"abc").as_str(), 3));
    }
}

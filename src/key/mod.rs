//! The key store: original patient identifiers ↔ codes, the only place where original
//! identifiers are kept. Two backends behind one trait: an `SQLite` file (the default) and a
//! `PostgreSQL` database for teams; the rules for codes live here, once, for both.
//!
//! A `KeyStore` is a snapshot of the store, read at open and brought up to date after each of
//! its own writes: plans are made against it without touching the database, and every write
//! is one transaction that checks the plan against the store as it is now.

mod legacy;
mod location;
mod postgres;
mod rules;
mod sqlite;
pub(crate) mod store;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use location::Location;
pub use rules::{MAX_DATE_OFFSET, fold_code, fold_id, is_synthetic, valid_code, valid_date_offset};
use store::{Backend, Cursor, Loaded, Meta, Shared, Tx};

pub const DEFAULT_PREFIX: &str = "P";
pub const DEFAULT_DIGITS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The patient's key: the original `PatientID` (0010,0020), or for a patient without one
    /// a key made by dams that starts with `\` (see [`is_synthetic`]). Opaque here.
    pub patient_id: String,
    pub code: String,
    /// For re-identification by those allowed to hold the key.
    #[serde(default)]
    pub patient_name: String,
    #[serde(default)]
    pub birth_date: String,
    /// `generated` or `imported`.
    pub source: String,
    /// When the entry was added (RFC 3339, UTC).
    pub added: String,
    /// The days every date of the patient is moved by (the profile's date shift), kept so
    /// that it stays the same for the patient, survives a change of the profile's range and
    /// can be looked up for re-identification. `None`: none recorded (yet). Once recorded it
    /// never changes. Absent from key files of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_offset: Option<i32>,
}

impl KeyEntry {
    /// The original `PatientID`, if the patient had one.
    #[must_use]
    pub fn real_patient_id(&self) -> Option<&str> {
        (!is_synthetic(&self.patient_id)).then_some(self.patient_id.as_str())
    }

    /// How the patient is identified, for people: by `PatientID`, or how dams grouped files
    /// without one.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        key_kind(&self.patient_id)
    }
}

fn key_kind(key: &str) -> &'static str {
    if !is_synthetic(key) {
        "PatientID"
    } else if key.starts_with("\\N\\") {
        "no PatientID: name and birth date"
    } else if key.starts_with("\\NS\\") {
        "no PatientID: name and study"
    } else if key.starts_with("\\S\\") {
        "no PatientID: study"
    } else {
        "no PatientID"
    }
}

/// A patient of the input, as `propose` needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidate {
    /// The patient key (`PatientID`, or a synthetic key starting with `\`).
    pub key: String,
    pub name: String,
    pub birth_date: String,
    /// Every real identifier the patient's files carry: `PatientIDs` and `OtherPatientIDs`.
    pub ids: Vec<String>,
}

impl Candidate {
    /// The real IDs: `ids`, and the key when it is a `PatientID`; never a synthetic key.
    fn real_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str())
            .chain(self.ids.iter().map(String::as_str))
            .filter(|i| !i.is_empty() && !is_synthetic(i))
    }
}

/// A new code proposed for a patient (part of a plan; written only on apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewEntry {
    pub patient_id: String,
    pub code: String,
    #[serde(skip)]
    pub patient_name: String,
    #[serde(skip)]
    pub birth_date: String,
    /// The patient's real IDs, recorded with the code so that no later code equals them.
    #[serde(skip)]
    pub ids: Vec<String>,
    /// The patient's date offset in days, recorded with the code (`propose` leaves it `None`;
    /// the planner sets it).
    #[serde(skip)]
    pub date_offset: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{}", damaged_text(.location, .reason, .backup))]
    Damaged {
        location: String,
        reason: String,
        /// Where its backup is (empty for a database server).
        backup: PathBuf,
    },
    #[error(
        "key store {location} was changed by another dams process since it was read (it gave out codes meanwhile); run the command again"
    )]
    Changed { location: String },
    #[error(
        "key store {location} is busy: another dams process has held it for two minutes; try again when that one is done"
    )]
    Busy { location: String },
    #[error("key store {location}: {reason}")]
    Db { location: String, reason: String },
    #[error(
        "key store {location}: the database server went away ({reason}); nothing of this change was saved and nothing was written with it. Run the command again when the server is back"
    )]
    Gone { location: String, reason: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unsafe(String),
    #[error("{file}: {message}")]
    Import { file: PathBuf, message: String },
    /// An import refused row by row: nothing imported. Each problem is one line of its own
    /// (see [`KeyError::shown`]); `more` were found beyond those listed.
    #[error("{}: nothing imported:\n  {}{}", .file.display(), .problems.join("\n  "), more_problems(*.more))]
    Refused {
        file: PathBuf,
        problems: Vec<String>,
        more: usize,
    },
    #[error("no data folder for the key store on this system; pass --key FILE")]
    NoDataDir,
}

/// The line that says how many problems an import had beyond those listed.
fn more_problems(more: usize) -> String {
    if more > 0 {
        format!("\n  … and {more} more")
    } else {
        String::new()
    }
}

fn damaged_text(location: &str, reason: &str, backup: &Path) -> String {
    let restore = if backup.as_os_str().is_empty() {
        "Restore it from your backup".to_string()
    } else {
        format!("Restore it from {} or your backup", backup.display())
    };
    format!("key store {location} is damaged ({reason}); dams will not use or overwrite it. {restore}")
}

impl KeyError {
    /// The error as shown to people: file text (names, cells) escaped as
    /// [`crate::shown::text`] does, while the line breaks of a refused import's list of
    /// problems are dams' own and stay line breaks.
    #[must_use]
    pub fn shown(&self) -> String {
        match self {
            KeyError::Refused { file, problems, more } => {
                let lines: Vec<String> = problems.iter().map(|p| crate::shown::text(p).into_owned()).collect();
                format!(
                    "{}: nothing imported:\n  {}{}",
                    crate::shown::path(file),
                    lines.join("\n  "),
                    more_problems(*more)
                )
            }
            other => crate::shown::text(&other.to_string()).into_owned(),
        }
    }

    /// Another process changed the store so that a plan no longer holds: plan again.
    #[must_use]
    pub fn is_changed(&self) -> bool {
        matches!(self, KeyError::Changed { .. })
    }
}

/// The folder for dams' own state (key store, logs): `DAMS_DATA_DIR` if set, else the
/// platform's data folder (e.g. `~/.local/share/dams`).
#[must_use]
pub fn data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DAMS_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "dams").map(|d| d.data_dir().to_path_buf())
}

/// Creates the folder (and parents) for dams' state, owner-only where it is new.
///
/// # Errors
///
/// An I/O error when a folder cannot be created or its permissions set.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // The folders created here, so that each one's entry in its parent is made durable too.
    let new: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .map(Path::to_path_buf)
        .collect();
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    for d in new.iter().rev() {
        if let Some(parent) = d.parent() {
            crate::atomic::sync_dir(parent)?;
        }
    }
    Ok(())
}

/// A key folder that other users can write to (group- or world-writable without the sticky
/// bit) lets them replace or remove the key: refused, with the fix.
fn check_folder(dir: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir)
            .map_err(|source| KeyError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(KeyError::Unsafe(format!(
                "the folder {} of the key store can be written by other users (mode {:03o}): they could replace or remove the key. Run: chmod 700 {}",
                dir.display(),
                mode & 0o777,
                dir.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn new_secret() -> Result<String, KeyError> {
    let mut b = [0u8; 32];
    // Without system randomness there is no safe secret; a fixed one would make the new UIDs
    // guessable, so refuse instead.
    getrandom::fill(&mut b).map_err(|e| KeyError::Conflict(format!("no system randomness for the key secret: {e}")))?;
    Ok(legacy::hex(&b))
}

fn fresh_meta() -> Result<Meta, KeyError> {
    Ok(Meta {
        schema: store::SCHEMA_VERSION,
        prefix: DEFAULT_PREFIX.into(),
        digits: DEFAULT_DIGITS,
        next: 1,
        secret: new_secret()?,
        created: now(),
        legacy_json: None,
        review_migrated: false,
    })
}

/// What a process knows of the store: settings, entries, indexes for lookups.
#[derive(Debug)]
struct Snapshot {
    meta: Meta,
    entries: Vec<KeyEntry>,
    by_key: HashMap<String, usize>,
    by_fold: HashMap<String, usize>,
    seen: HashSet<String>,
    cursor: Cursor,
    /// `None`: every entry up to `cursor` was read. `Some`: only those looked up
    /// ([`KeyStore::open_lean`]), and every one added after `cursor`.
    lean: Option<Looked>,
}

/// What a lean snapshot looked up in the store, found or not.
#[derive(Debug, Default)]
struct Looked {
    keys: HashSet<String>,
    /// Code folds: the entries with one are in `by_fold`, the real IDs seen in `seen`.
    folds: HashSet<String>,
}

impl Snapshot {
    fn new(meta: Meta, lean: bool) -> Snapshot {
        Snapshot {
            meta,
            entries: Vec::new(),
            by_key: HashMap::new(),
            by_fold: HashMap::new(),
            seen: HashSet::new(),
            cursor: Cursor::default(),
            lean: lean.then(Looked::default),
        }
    }

    fn merge(&mut self, l: Loaded) {
        self.meta = l.meta;
        self.cursor = l.cursor;
        self.entries.reserve(l.entries.len());
        self.by_key.reserve(l.entries.len());
        self.by_fold.reserve(l.entries.len());
        self.seen.reserve(l.seen.len());
        for e in l.entries {
            self.add(e);
        }
        self.seen.extend(l.seen);
    }

    /// An entry read from the store; one a lean snapshot looked up already is read again
    /// (a later read of the same row), not added twice.
    fn add(&mut self, e: KeyEntry) {
        if let Some(&i) = self.by_key.get(&e.patient_id) {
            self.entries[i] = e;
            return;
        }
        let i = self.entries.len();
        self.by_key.insert(e.patient_id.clone(), i);
        self.by_fold.insert(fold_code(&e.code), i);
        self.entries.push(e);
    }

    /// Whether the snapshot can say if this patient key has an entry.
    fn knows_key(&self, key: &str) -> bool {
        self.lean.as_ref().is_none_or(|l| l.keys.contains(key)) || self.by_key.contains_key(key)
    }

    /// Whether the snapshot can say if this fold is a code's or a real ID's seen.
    fn knows_fold(&self, fold: &str) -> bool {
        self.lean.as_ref().is_none_or(|l| l.folds.contains(fold))
            || self.by_fold.contains_key(fold)
            || self.seen.contains(fold)
    }

    /// An offset this process recorded or read inside a transaction: a reader's cursor only
    /// sees new rows, and an offset is recorded into a row that may be older.
    fn set_offset(&mut self, key: &str, days: i32) {
        if let Some(&i) = self.by_key.get(key) {
            self.entries[i].date_offset = Some(days);
        }
    }

    fn offset(&self, key: &str) -> Option<i32> {
        self.by_key.get(key).and_then(|&i| self.entries[i].date_offset)
    }
}

pub struct KeyStore {
    location: Location,
    store: Shared,
    snap: Snapshot,
    exists: bool,
    created: bool,
    /// Things the user should know (permissions too open, a migration done).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("location", &self.location.to_string())
            .field("entries", &self.snap.entries.len())
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// `key.db` in dams' data folder.
    ///
    /// # Errors
    ///
    /// `KeyError` when the system gives no data folder for dams.
    pub fn default_path() -> Result<PathBuf, KeyError> {
        data_dir().map(|d| d.join("key.db")).ok_or(KeyError::NoDataDir)
    }

    /// Opens the key store named by `path` (a file, or a `postgres://` URL; see
    /// [`Location::from_arg`]). A store that does not exist yet gives an empty one, created
    /// on the first write; a `key.json` of an earlier dams is migrated into a new database.
    /// A damaged store is an error.
    ///
    /// # Errors
    ///
    /// `KeyError` when the store cannot be read or is damaged.
    pub fn open(path: &Path) -> Result<KeyStore, KeyError> {
        KeyStore::open_as(path, false)
    }

    /// [`KeyStore::open`] without reading its entries: the settings only, and then the entries
    /// looked up with [`fetch`](Self::fetch) (which [`crate::engine::Engine::scan`] does for
    /// the patients it finds) and every one added after the open. For commands that need a
    /// few entries of a large key (a look-up, the codes of one folder's patients): a key of a
    /// million patients takes seconds and hundreds of MB to read whole. Lookups by patient
    /// key or code ([`code_for`](Self::code_for), [`entry_by_code`](Self::entry_by_code))
    /// answer for what was fetched; [`entries`](Self::entries) holds only that; proposals and
    /// every write check the database itself.
    ///
    /// # Errors
    ///
    /// `KeyError` when the store cannot be read or is damaged.
    pub fn open_lean(path: &Path) -> Result<KeyStore, KeyError> {
        KeyStore::open_as(path, true)
    }

    fn open_as(path: &Path, lean: bool) -> Result<KeyStore, KeyError> {
        let location = Location::from_arg(path);
        let mut warnings = Vec::new();
        let backend: Box<dyn Backend> = match &location {
            Location::File { .. } => Box::new(sqlite::SqliteStore::open(&location, &mut warnings)?),
            Location::Postgres { url } => Box::new(postgres::PgStore::connect(&location, url)?),
        };
        let exists = backend.exists();
        let mut key = KeyStore {
            location,
            store: Arc::new(Mutex::new(backend)),
            // A store not there yet is read whole: there is nothing in it.
            snap: Snapshot::new(fresh_meta()?, lean && exists),
            exists,
            created: false,
            warnings,
        };
        if exists && lean {
            key.read_head()?;
            key.check_legacy_beside()?;
        } else if exists {
            key.refresh()?;
            key.check_legacy_beside()?;
        } else if let Location::File { legacy: Some(json), .. } = &key.location
            && json.exists()
        {
            let json = json.clone();
            key.migrate(&json)?;
        }
        Ok(key)
    }

    /// Opens the key store, creating it (with its secret, no codes) if there is none yet.
    /// Anything that plans needs this: UIDs derived from the secret must be the same in the
    /// plan that is shown and in what is written later, by this process or another.
    ///
    /// # Errors
    ///
    /// `KeyError` when the store cannot be read or created, or is damaged.
    pub fn open_or_create(path: &Path) -> Result<KeyStore, KeyError> {
        let mut key = KeyStore::open(path)?;
        if !key.exists {
            let meta = key.snap.meta.clone();
            let created = key.backend()?.create(&meta, &mut |_| Ok(()))?;
            key.created = created;
            key.exists = true;
            key.snap = Snapshot::new(meta, key.is_lean());
            key.refresh()?;
        }
        Ok(key)
    }

    fn backend(&self) -> Result<std::sync::MutexGuard<'_, Box<dyn Backend>>, KeyError> {
        self.store
            .lock()
            .map_err(|_| KeyError::Conflict("the key store connection was lost by a failed thread".into()))
    }

    /// Whether the store was opened with [`KeyStore::open_lean`].
    #[must_use]
    pub fn is_lean(&self) -> bool {
        self.snap.lean.is_some()
    }

    /// A lean snapshot's start: the settings and where the store ends, no entry.
    fn read_head(&mut self) -> Result<(), KeyError> {
        let mut head = None;
        self.backend()?.read(&mut |tx| {
            head = Some((tx.meta()?, tx.cursor()?));
            Ok(())
        })?;
        if let Some((meta, cursor)) = head {
            self.snap.meta = meta;
            self.snap.cursor = cursor;
        }
        Ok(())
    }

    /// Reads every entry (a lean snapshot becomes a whole one).
    fn read_all(&mut self) -> Result<(), KeyError> {
        if self.is_lean() && self.exists {
            self.snap = Snapshot::new(self.snap.meta.clone(), false);
            self.refresh()?;
        }
        Ok(())
    }

    /// Looks up, in one read of the store, the entries of these patient keys and of these
    /// codes (compared case-insensitively), and which of the codes are real IDs the key has
    /// seen: what a lean snapshot answers about afterwards. Nothing to do for a whole one.
    ///
    /// # Errors
    ///
    /// `KeyError` when the store cannot be read.
    pub fn fetch(&mut self, keys: &[&str], codes: &[&str]) -> Result<(), KeyError> {
        let Some(looked) = &self.snap.lean else { return Ok(()) };
        if !self.exists {
            return Ok(());
        }
        let mut keys: Vec<&str> = keys.iter().copied().filter(|k| !looked.keys.contains(*k)).collect();
        let mut folds: Vec<String> = codes
            .iter()
            .map(|c| fold_code(c))
            .filter(|f| !looked.folds.contains(f))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        folds.sort_unstable();
        folds.dedup();
        if keys.is_empty() && folds.is_empty() {
            return Ok(());
        }
        let fr: Vec<&str> = folds.iter().map(String::as_str).collect();
        let offsets = self.snap.meta.schema >= 3;
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        self.backend()?.read(&mut |tx| {
            found = tx.entries_by(store::By::Key, &keys, offsets)?;
            found.extend(tx.entries_by(store::By::CodeFold, &fr, offsets)?);
            seen = tx.seen(&fr)?;
            Ok(())
        })?;
        for e in found {
            self.snap.add(e);
        }
        self.snap.seen.extend(seen);
        if let Some(looked) = &mut self.snap.lean {
            looked.keys.extend(keys.iter().map(|k| (*k).to_string()));
            looked.folds.extend(folds);
        }
        Ok(())
    }

    /// [`fetch`](Self::fetch) for these patients, and enough of the codes after the store's
    /// next number that [`propose`](Self::propose) finds free ones for those without a code
    /// without asking the store again. Nothing to do for a whole snapshot.
    ///
    /// # Errors
    ///
    /// `KeyError` when the store cannot be read.
    pub fn fetch_patients(&mut self, patients: &[Candidate]) -> Result<(), KeyError> {
        if !self.is_lean() || !self.exists {
            return Ok(());
        }
        let keys: Vec<&str> = patients.iter().map(|p| p.key.as_str()).collect();
        let ids: Vec<&str> = patients.iter().flat_map(Candidate::real_ids).collect();
        self.fetch(&keys, &ids)?;
        let without: HashSet<&str> = keys.iter().copied().filter(|k| self.code_for(k).is_none()).collect();
        let input: HashSet<String> = ids.iter().map(|i| fold_id(i)).collect();
        let mut wanted = without.len() as u64;
        let mut n = self.snap.meta.next;
        // Batches of the codes still wanted (and a few over): taken codes are skipped.
        while wanted > 0 {
            let batch: Vec<String> = (0..wanted + 16)
                .map_while(|i| n.checked_add(i))
                .map(|k| self.format_code(k))
                .collect();
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            self.fetch(&[], &refs)?;
            let free = batch
                .iter()
                .map(|c| fold_code(c))
                .filter(|f| !input.contains(f) && !self.taken(f))
                .count() as u64;
            wanted = wanted.saturating_sub(free);
            match n.checked_add(batch.len() as u64) {
                Some(next) if !batch.is_empty() => n = next,
                _ => break,
            }
        }
        Ok(())
    }

    /// Whether a patient key has a code. A lean snapshot asks the store about a key it did
    /// not fetch (an error counts as having one: no second code is proposed).
    fn has_code(&self, key: &str) -> bool {
        if self.snap.knows_key(key) {
            return self.snap.by_key.contains_key(key);
        }
        let mut has = true;
        let asked = self.backend().and_then(|mut b| {
            b.read(&mut |tx| {
                has = !tx.codes_of(&[key])?.is_empty();
                Ok(())
            })
        });
        if let Err(e) = asked {
            tracing::warn!(error = %e, "a patient could not be looked up in the key store; no code is proposed");
        }
        has
    }

    /// Whether a code's fold is taken: the code of an entry, or a real ID the key has seen.
    /// A lean snapshot asks the store about what it did not fetch (an error counts as taken:
    /// no code is given that might be another's).
    fn taken(&self, fold: &str) -> bool {
        if self.snap.knows_fold(fold) {
            return self.snap.by_fold.contains_key(fold) || self.snap.seen.contains(fold);
        }
        let mut taken = true;
        let asked = self.backend().and_then(|mut b| {
            b.read(&mut |tx| {
                let owner = tx.code_folds(&[fold])?;
                taken = !owner.is_empty() || !tx.seen(&[fold])?.is_empty();
                Ok(())
            })
        });
        if let Err(e) = asked {
            tracing::warn!(error = %e, "a code could not be checked in the key store; it is not given");
        }
        taken
    }

    /// The backend, for the review state kept in the same store.
    pub(crate) fn shared(&self) -> Shared {
        self.store.clone()
    }

    /// Where the store is, for messages (a URL without its password).
    #[must_use]
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The database file of the embedded store (`None` for a database server).
    #[must_use]
    pub fn file(&self) -> Option<&Path> {
        self.location.file()
    }

    /// The engine and how it is reached (for `dams key info`).
    #[must_use]
    pub fn describe(&self) -> String {
        self.backend().map(|mut b| b.describe()).unwrap_or_default()
    }

    #[must_use]
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// Whether this process created the store (for a message saying so).
    #[must_use]
    pub fn created(&self) -> bool {
        self.created
    }

    /// The review state file of an earlier dams to migrate into the store, if there is one
    /// and it was not migrated yet.
    pub(crate) fn legacy_review(&self) -> Option<PathBuf> {
        if self.snap.meta.review_migrated {
            return None;
        }
        let Location::File { db, legacy } = &self.location else {
            return None;
        };
        let path = legacy::review_beside(legacy.as_deref().unwrap_or(db));
        path.exists().then_some(path)
    }

    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.snap.meta.prefix
    }

    #[must_use]
    pub fn digits(&self) -> usize {
        self.snap.meta.digits
    }

    /// Sets how new codes look (saved by [`save`](Self::save)). Only allowed while no code
    /// has been generated.
    ///
    /// # Errors
    ///
    /// `KeyError::Conflict` when a code has been generated already or `prefix` and `digits` are not
    /// a valid format.
    pub fn set_format(&mut self, prefix: &str, digits: usize) -> Result<(), KeyError> {
        self.read_all()?;
        if self.snap.entries.iter().any(|e| e.source == "generated") {
            return Err(KeyError::Conflict(
                "the key store already has generated codes; their prefix cannot change".into(),
            ));
        }
        rules::check_format(prefix, digits).map_err(KeyError::Conflict)?;
        self.snap.meta.prefix = prefix.to_string();
        self.snap.meta.digits = digits;
        Ok(())
    }

    /// Every entry, in the order they were added (of a lean snapshot, those fetched and
    /// added since it was opened).
    #[must_use]
    pub fn entries(&self) -> &[KeyEntry] {
        &self.snap.entries
    }

    /// The code of a patient key. A lean snapshot answers for what was fetched (and added
    /// since it was opened) only.
    #[must_use]
    pub fn code_for(&self, patient_id: &str) -> Option<&str> {
        debug_assert!(
            self.snap.knows_key(patient_id),
            "a key not fetched into a lean snapshot"
        );
        self.snap
            .by_key
            .get(patient_id)
            .map(|&i| self.snap.entries[i].code.as_str())
    }

    /// The entry of a code, compared case-insensitively (codes are unique that way).
    #[must_use]
    pub fn entry_by_code(&self, code: &str) -> Option<&KeyEntry> {
        debug_assert!(
            self.snap.knows_fold(&fold_code(code)),
            "a code not fetched into a lean snapshot"
        );
        self.snap.by_fold.get(&fold_code(code)).map(|&i| &self.snap.entries[i])
    }

    /// The date offset recorded for this patient key, in days (`None`: no entry, or none
    /// recorded). From the snapshot: an offset another process recorded for an entry this
    /// snapshot already held is seen once this process tries to record one for it
    /// ([`record_offsets`](Self::record_offsets)), or by a new `open`.
    #[must_use]
    pub fn date_offset(&self, patient_key: &str) -> Option<i32> {
        self.snap.offset(patient_key)
    }

    /// The secret behind deterministic UIDs (32 bytes).
    #[must_use]
    pub fn secret(&self) -> Vec<u8> {
        // Byte pairs, not string slices: a secret is checked to be hex when it is read, and
        // slicing a str at a byte offset would panic on anything else.
        self.snap
            .meta
            .secret
            .as_bytes()
            .chunks_exact(2)
            .filter_map(|pair| std::str::from_utf8(pair).ok())
            .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
            .collect()
    }

    fn format_code(&self, n: u64) -> String {
        format!("{}{:0width$}", self.snap.meta.prefix, n, width = self.snap.meta.digits)
    }

    /// Codes for the patients the store does not know yet, in a fixed order (sorted by
    /// patient key), so the same input always gets the same codes. Pass every patient of the
    /// input, known ones too: no code is given that equals, case-insensitively, a code in the
    /// key, a real ID the key has seen, or any real ID of these patients. Writes nothing.
    pub fn propose(&self, patients: &[Candidate]) -> Vec<NewEntry> {
        let mut unknown: Vec<&Candidate> = patients.iter().filter(|p| !self.has_code(&p.key)).collect();
        if unknown.is_empty() {
            return Vec::new();
        }
        let input: HashSet<String> = patients.iter().flat_map(Candidate::real_ids).map(fold_id).collect();
        unknown.sort_by(|a, b| a.key.cmp(&b.key));
        unknown.dedup_by(|a, b| a.key == b.key);
        let mut n = self.snap.meta.next;
        let mut out = Vec::new();
        for p in unknown {
            let code = loop {
                let code = self.format_code(n);
                let f = fold_code(&code);
                if !input.contains(&f) && !self.taken(&f) {
                    break code;
                }
                // The end of the number range: no more codes to give (the patients left over
                // are reported by the plan).
                let Some(next) = n.checked_add(1) else { return out };
                n = next;
            };
            let mut ids: Vec<String> = p.real_ids().map(str::to_string).collect();
            ids.sort();
            ids.dedup();
            out.push(NewEntry {
                patient_id: p.key.clone(),
                code,
                patient_name: p.name.clone(),
                birth_date: p.birth_date.clone(),
                ids,
                date_offset: None,
            });
            let Some(next) = n.checked_add(1) else { return out };
            n = next;
        }
        out
    }

    /// Reads what other processes added since this snapshot was taken.
    ///
    /// # Errors
    ///
    /// `KeyError` when the store cannot be read.
    pub fn refresh(&mut self) -> Result<(), KeyError> {
        if !self.exists {
            return Ok(());
        }
        let cursor = self.snap.cursor;
        let loaded = self.backend()?.load(cursor)?;
        self.snap.merge(loaded);
        Ok(())
    }

    /// Creates the store on its first write (or when a command has checked its arguments and
    /// goes on: [`KeyStore::open`] makes nothing), with the settings of this snapshot, so with
    /// the secret the plans were made with.
    ///
    /// # Errors
    ///
    /// `KeyError::Changed` when another process created it meanwhile (its secret is not the
    /// one this process planned with; the snapshot is now the store's), or another `KeyError`
    /// when it cannot be created.
    pub fn ensure_created(&mut self) -> Result<(), KeyError> {
        if self.exists {
            return Ok(());
        }
        let meta = self.snap.meta.clone();
        let created = self.backend()?.create(&meta, &mut |_| Ok(()))?;
        self.exists = true;
        self.created = created;
        if !created {
            self.snap = Snapshot::new(meta, self.is_lean());
            self.refresh()?;
            return Err(KeyError::Changed {
                location: self.location.to_string(),
            });
        }
        self.refresh()
    }

    /// One write transaction on the key, then its backup and a refresh of the snapshot.
    fn write_key(&mut self, f: &mut store::TxFn<'_>) -> Result<(), KeyError> {
        self.ensure_created()?;
        write_store(&self.store, f)?;
        self.refresh()
    }

    /// Adds the proposed entries, in one transaction. Refused, with nothing written, if the
    /// store no longer fits the proposal (another process gave a proposed code, or coded one
    /// of these patients differently, meanwhile): then plan again. Entries already in the
    /// store as proposed are skipped, so committing twice is harmless. Each entry's
    /// `date_offset` is recorded with it; one already in the store as proposed gets it by the
    /// rule of [`record_offsets`](Self::record_offsets) (another offset there: `Changed`).
    ///
    /// # Errors
    ///
    /// `KeyError::Changed` when the store no longer fits the proposal, `KeyError::Conflict` when
    /// the proposal is not valid, another `KeyError` when the store cannot be written.
    pub fn commit(&mut self, new: &[NewEntry]) -> Result<(), KeyError> {
        if new.is_empty() {
            return Ok(());
        }
        let mut offsets: HashMap<&str, i32> = HashMap::new();
        for e in new {
            if !valid_code(&e.code) {
                return Err(KeyError::Conflict(format!("{} is not a valid code", e.code)));
            }
            if let Some(days) = e.date_offset {
                check_offset(&mut offsets, &e.patient_id, days)?;
            }
        }
        let planned = self.snap.meta.clone();
        let location = self.location.to_string();
        let changed = || KeyError::Changed {
            location: location.clone(),
        };
        let added = now();
        self.ensure_created()?;
        let snap = &self.snap;
        // Offsets recorded into entries that were already there (a reader's cursor does not
        // see those).
        let mut recorded: Vec<(String, i32)> = Vec::new();
        write_store(&self.store, &mut |tx| {
            let mut meta = tx.meta()?;
            if meta.secret != planned.secret || meta.prefix != planned.prefix || meta.digits != planned.digits {
                return Err(changed());
            }
            let mut look = Lookup::new(snap, tx)?;
            let ToAdd { rows, known } = rows_to_add(&mut look, new, &changed)?;
            recorded = record_known_offsets(&mut *look.tx, &known, &changed)?;
            if rows.is_empty() {
                return Ok(());
            }
            let ids = check_new_codes(&mut look, &rows, &changed)?;
            insert_new(look.tx, &rows, &ids, &mut meta, &added)
        })?;
        for (key, days) in &recorded {
            self.snap.set_offset(key, *days);
        }
        self.refresh()
    }

    /// Records date offsets, `(patient key, days)`, of patients that have an entry, in one
    /// write transaction: an entry without an offset gets it, one with the same offset keeps
    /// it. Refused with nothing written when a patient key has no entry, an offset breaks the
    /// rule of [`valid_date_offset`] or one patient is given two (all `Conflict`), and when an
    /// entry holds another offset (`Changed`: another process recorded it meanwhile; this
    /// snapshot then holds the recorded offsets of these patients, so plan again). Nothing to
    /// record (an empty slice, or offsets the snapshot holds already): no transaction.
    ///
    /// # Errors
    ///
    /// `KeyError` when an offset is refused (see above) or the store cannot be written.
    pub fn record_offsets(&mut self, offsets: &[(String, i32)]) -> Result<(), KeyError> {
        let location = self.location.to_string();
        let changed = || KeyError::Changed {
            location: location.clone(),
        };
        let no_entry = || {
            KeyError::Conflict("an offset for a patient without a code in the key store; nothing was recorded".into())
        };
        let mut given: HashMap<&str, i32> = HashMap::new();
        let mut wanted: Vec<(&str, i32)> = Vec::new();
        for (key, days) in offsets {
            if !check_offset(&mut given, key, *days)? {
                continue;
            }
            match self.snap.offset(key) {
                // Recorded offsets never change: the snapshot's is the store's.
                Some(d) if d == *days => {}
                Some(_) => return Err(changed()),
                None => wanted.push((key, *days)),
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        if !self.exists {
            return Err(no_entry());
        }
        // What the store holds whether or not this transaction commits, and what it adds.
        let mut held: Vec<(String, i32)> = Vec::new();
        let mut set: Vec<(String, i32)> = Vec::new();
        let result = write_store(&self.store, &mut |tx| {
            held.clear();
            set.clear();
            let fits = fit_offsets(tx, &wanted)?;
            if fits.contains(&OffsetFit::NoEntry) {
                return Err(no_entry());
            }
            for (&(key, days), fit) in wanted.iter().zip(&fits) {
                match fit {
                    OffsetFit::Set => set.push((key.to_string(), days)),
                    OffsetFit::Same => held.push((key.to_string(), days)),
                    OffsetFit::Other(d) => held.push((key.to_string(), *d)),
                    OffsetFit::NoEntry => {}
                }
            }
            if fits.iter().any(|f| matches!(f, OffsetFit::Other(_))) {
                return Err(changed());
            }
            let rows: Vec<(&str, i32)> = set.iter().map(|(k, d)| (k.as_str(), *d)).collect();
            tx.set_offsets(&rows)
        });
        for (key, days) in &held {
            self.snap.set_offset(key, *days);
        }
        result?;
        for (key, days) in &set {
            self.snap.set_offset(key, *days);
        }
        self.refresh()
    }

    /// Saves the settings as they are (e.g. after `key init`), creating the store if needed.
    ///
    /// # Errors
    ///
    /// `KeyError` when the store cannot be created or written.
    pub fn save(&mut self) -> Result<(), KeyError> {
        let wanted = self.snap.meta.clone();
        let location = self.location.to_string();
        if !self.exists {
            return self.ensure_created();
        }
        self.write_key(&mut |tx| {
            let mut meta = tx.meta()?;
            if meta.secret != wanted.secret || meta.next != wanted.next {
                return Err(KeyError::Changed {
                    location: location.clone(),
                });
            }
            meta.prefix.clone_from(&wanted.prefix);
            meta.digits = wanted.digits;
            tx.set_meta(&meta)
        })
    }

    /// Imports codes from a table: a dams key file (JSON, from `dams key export --json` or
    /// an earlier dams' `key.json`) or a CSV table with a header row; see
    /// [`import_csv`](Self::import_csv). Returns how many entries were added.
    ///
    /// # Errors
    ///
    /// `KeyError::Import` when the file cannot be read or a row is refused (nothing is added then),
    /// another `KeyError` when the store cannot be written.
    pub fn import_file(
        &mut self,
        file: &Path,
        id_column: Option<&str>,
        code_column: Option<&str>,
        offset_column: Option<&str>,
    ) -> Result<usize, KeyError> {
        let bytes = fs::read(file).map_err(|e| KeyError::Import {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            self.import_json(file, &bytes)
        } else {
            self.import_csv(file, id_column, code_column, offset_column)
        }
    }

    /// Imports codes from a CSV table with a header row. `id_column`/`code_column` name the
    /// columns; when not given, common names are recognised (and a `patient_key` column, as
    /// `dams key export` writes it, is used for patients without a `PatientID`). Every row is
    /// checked before anything is added, against the file and the store: a conflict anywhere
    /// imports nothing and names the line. Linear in the number of rows.
    ///
    /// Date offsets come from `offset_column`, or else from a column named `date_offset`,
    /// `offset`, `offset_days`, `shift_days` or `date_shift` if there is one: whole days with
    /// an optional sign ([`valid_date_offset`]), an empty cell for none. An offset for a
    /// patient already in the store is recorded if the entry has none, and must equal the
    /// one it has otherwise.
    ///
    /// # Errors
    ///
    /// `KeyError::Import` when the table cannot be read or a row is refused (nothing is added
    /// then), another `KeyError` when the store cannot be written.
    pub fn import_csv(
        &mut self,
        file: &Path,
        id_column: Option<&str>,
        code_column: Option<&str>,
        offset_column: Option<&str>,
    ) -> Result<usize, KeyError> {
        let err = |message: String| KeyError::Import {
            file: file.to_path_buf(),
            message,
        };
        let text = fs::read(file).map_err(|e| err(e.to_string()))?;
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
        let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let delimiter = [b';', b'\t', b',']
            .into_iter()
            .max_by_key(|d| first_line.iter().filter(|b| *b == d).count())
            .unwrap_or(b',');
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(false)
            .from_reader(text);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| err(e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let norm = |s: &str| s.to_lowercase().replace([' ', '_', '-'], "");
        let position = |names: &[String]| headers.iter().position(|h| names.contains(&norm(h)));
        let find = |given: Option<&str>, defaults: &[&str], what: &str| -> Result<usize, KeyError> {
            let wanted: Vec<String> = match given {
                Some(g) => vec![norm(g)],
                None => defaults.iter().map(|d| norm(d)).collect(),
            };
            position(&wanted).ok_or_else(|| {
                err(format!(
                    "no {what} column (header has: {}); name it with --{}-column",
                    headers.join(", "),
                    match what {
                        "PatientID" => "id",
                        "code" => "code",
                        _ => "offset",
                    }
                ))
            })
        };
        let key_col = if id_column.is_none() {
            position(&[norm("patient_key")])
        } else {
            None
        };
        let id_col = match key_col {
            Some(k) => find(id_column, &["PatientID", "patient_id", "ID", "PID"], "PatientID").unwrap_or(k),
            None => find(id_column, &["PatientID", "patient_id", "ID", "PID"], "PatientID")?,
        };
        let code_col = find(
            code_column,
            &["code", "pseudonym", "subject", "SubjectID", "study_id"],
            "code",
        )?;
        let offset_col = match offset_column {
            Some(_) => Some(find(offset_column, &[], "date offset")?),
            None => position(&["date_offset", "offset", "offset_days", "shift_days", "date_shift"].map(norm)),
        };
        let col = |n: &str| position(&[norm(n)]);
        let (name_col, birth_col) = (col("patient_name"), col("birth_date"));

        let mut rows = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| err(format!("line {line}: {e}")))?;
            // A table dams exported (or a spreadsheet saved) guards formula-like cells with a
            // leading `'`: it is not part of the value.
            let get = |c: Option<usize>| {
                crate::shown::from_spreadsheet(c.and_then(|c| rec.get(c)).unwrap_or("").trim()).to_string()
            };
            let key = match get(key_col) {
                k if !k.is_empty() => k,
                _ => get(Some(id_col)),
            };
            let code = get(Some(code_col));
            if key.is_empty() && code.is_empty() {
                continue;
            }
            if key.is_empty() || code.is_empty() {
                return Err(err(format!("line {line}: PatientID or code is empty")));
            }
            if !valid_code(&code) {
                return Err(err(format!("line {line}: {}", rules::CODE_RULE)));
            }
            let date_offset =
                rules::parse_date_offset(&get(offset_col)).map_err(|rule| err(format!("line {line}: {rule}")))?;
            rows.push(ImportRow {
                where_: format!("line {line}"),
                entry: KeyEntry {
                    patient_id: key,
                    code,
                    patient_name: get(name_col),
                    birth_date: get(birth_col),
                    source: "imported".into(),
                    added: String::new(),
                    date_offset,
                },
            });
        }
        self.import_rows(file, rows, &[])
    }

    fn import_json(&mut self, file: &Path, bytes: &[u8]) -> Result<usize, KeyError> {
        let err = |message: String| KeyError::Import {
            file: file.to_path_buf(),
            message,
        };
        let kf = legacy::parse(bytes).map_err(|e| err(format!("not a usable dams key file: {e}")))?;
        if self.snap.entries.is_empty() && self.snap.cursor.entries == 0 {
            // An empty store takes the file's settings: the same secret gives the same UIDs.
            if self.exists {
                let location = self.location.to_string();
                let (secret, prefix, digits, next) = (kf.secret.clone(), kf.prefix.clone(), kf.digits, kf.next);
                self.write_key(&mut |tx| {
                    let mut meta = tx.meta()?;
                    if meta.next != 1 {
                        return Err(KeyError::Changed {
                            location: location.clone(),
                        });
                    }
                    meta.secret.clone_from(&secret);
                    meta.prefix.clone_from(&prefix);
                    meta.digits = digits;
                    meta.next = next;
                    tx.set_meta(&meta)
                })?;
            } else {
                self.snap.meta.secret.clone_from(&kf.secret);
                self.snap.meta.prefix.clone_from(&kf.prefix);
                self.snap.meta.digits = kf.digits;
                self.snap.meta.next = kf.next;
            }
        } else if kf.secret != self.snap.meta.secret {
            return Err(err(
                "this key file has another secret than the key store, so the UIDs it made would differ; import it into a new key store, or its codes as CSV (dams key export)".into(),
            ));
        }
        let rows = kf
            .entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| ImportRow {
                where_: format!("entry {}", i + 1),
                entry,
            })
            .collect();
        self.import_rows(file, rows, &kf.seen_ids)
    }

    fn import_rows(&mut self, file: &Path, rows: Vec<ImportRow>, seen_ids: &[String]) -> Result<usize, KeyError> {
        // Within the file, by hash: linear.
        let (fresh, offsets) = check_import(&rows).map_err(|p| p.refusal(file))?;
        // Against the store, in the transaction that adds them.
        let added_at = now();
        let seen_extra: Vec<&str> = seen_ids.iter().map(String::as_str).collect();
        let mut added = 0;
        let count = &mut added;
        // Offsets recorded into entries that were already there.
        let mut recorded: Vec<(String, i32)> = Vec::new();
        self.ensure_created()?;
        let snap = &self.snap;
        write_store(&self.store, &mut |tx| {
            let mut problems = Problems::default();
            let mut look = Lookup::new(snap, tx)?;
            let (todo, known) = import_todo(&mut look, &fresh, &offsets, &mut problems)?;
            let id_folds = check_import_codes(&mut look, &todo, &mut problems)?;
            let tx = look.tx;
            recorded = import_offsets(&mut *tx, &known, &mut problems)?;
            if !problems.is_empty() {
                return Err(problems.refusal(file));
            }
            let entries: Vec<KeyEntry> = todo
                .iter()
                .map(|r| KeyEntry {
                    added: if r.entry.added.is_empty() {
                        added_at.clone()
                    } else {
                        r.entry.added.clone()
                    },
                    date_offset: offsets.get(r.entry.patient_id.as_str()).map(|&(days, _)| days),
                    ..r.entry.clone()
                })
                .collect();
            tx.insert_entries(&entries)?;
            let set: Vec<(&str, i32)> = recorded.iter().map(|(k, d)| (k.as_str(), *d)).collect();
            tx.set_offsets(&set)?;
            let mut seen_new: Vec<&str> = id_folds.iter().map(String::as_str).collect();
            seen_new.extend(seen_extra.iter().copied());
            seen_new.sort_unstable();
            seen_new.dedup();
            tx.insert_seen(&seen_new)?;
            let mut meta = tx.meta()?;
            let next = advance(&meta, entries.iter().map(|e| e.code.as_str()));
            if next != meta.next {
                meta.next = next;
                tx.set_meta(&meta)?;
            }
            *count = entries.len();
            Ok(())
        })?;
        for (key, days) in &recorded {
            self.snap.set_offset(key, *days);
        }
        self.refresh()?;
        Ok(added)
    }

    /// Writes the key as CSV (a table that opens in any spreadsheet), sorted by code.
    /// `patient_id` is empty for a patient without one; `patient_key` is the key dams uses;
    /// `date_offset` is empty where none is recorded.
    ///
    /// # Errors
    ///
    /// An I/O error when `out` cannot be written.
    pub fn export_csv(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record([
            "code",
            "patient_id",
            "patient_name",
            "birth_date",
            "date_offset",
            "source",
            "added",
            "patient_key",
        ])?;
        // Cells a spreadsheet would run as a formula are guarded (`key import` takes the
        // guard off again).
        for e in self.sorted() {
            let offset = e.date_offset.map(|d| d.to_string()).unwrap_or_default();
            let cells = [
                e.code.as_str(),
                e.real_patient_id().unwrap_or(""),
                &e.patient_name,
                &e.birth_date,
                &offset,
                &e.source,
                &e.added,
                &e.patient_id,
            ];
            // The offset is a number dams wrote (`-1234`), never a formula: a spreadsheet
            // reads it as a number only when it is not guarded.
            const OFFSET: usize = 4;
            let cells: Vec<std::borrow::Cow<str>> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == OFFSET {
                        std::borrow::Cow::Borrowed(*c)
                    } else {
                        crate::shown::spreadsheet_cell(c)
                    }
                })
                .collect();
            w.write_record(cells.iter().map(|c| c.as_bytes()))?;
        }
        w.flush()
    }

    /// Writes the whole key as one checksummed JSON file (`dams-key` version 2, or 3 when an
    /// entry has a date offset): entries, settings, secret and the real IDs seen. For moving a
    /// key to another store.
    ///
    /// # Errors
    ///
    /// An I/O error when `out` cannot be written.
    pub fn export_json(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut seen: Vec<String> = self.snap.seen.iter().cloned().collect();
        seen.sort();
        // A dams that knows no offsets refuses the file by its version, not by a field.
        let offsets = self.snap.entries.iter().any(|e| e.date_offset.is_some());
        let mut file = legacy::KeyFile {
            format: legacy::FORMAT.into(),
            version: if offsets { 3 } else { 2 },
            prefix: self.snap.meta.prefix.clone(),
            digits: self.snap.meta.digits,
            next: self.snap.meta.next,
            secret: self.snap.meta.secret.clone(),
            entries: self.sorted().into_iter().cloned().collect(),
            seen_ids: seen,
            checksum: String::new(),
        };
        file.checksum = file.digest();
        serde_json::to_writer_pretty(&mut *out, &file).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }

    fn sorted(&self) -> Vec<&KeyEntry> {
        let mut v: Vec<&KeyEntry> = self.snap.entries.iter().collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }

    /// Moves an earlier dams' `key.json` into a new database, in one transaction; the JSON
    /// is then kept, read-only, until the user deletes it.
    fn migrate(&mut self, json: &Path) -> Result<(), KeyError> {
        let bytes = fs::read(json).map_err(|source| KeyError::Io {
            path: json.to_path_buf(),
            source,
        })?;
        let kf = legacy::parse(&bytes).map_err(|reason| KeyError::Damaged {
            location: json.display().to_string(),
            reason,
            backup: sqlite::suffixed(json, ".bak"),
        })?;
        // Earlier versions allowed codes that differ only in case.
        let mut folds: HashMap<String, &str> = HashMap::new();
        for e in &kf.entries {
            if let Some(other) = folds.insert(fold_code(&e.code), &e.code) {
                return Err(KeyError::Conflict(format!(
                    "{} holds the codes {other} and {}, which differ only in case and collide on case-insensitive file shares; dams cannot migrate it as it is. Export it with the dams that made it (dams key export), give one of them another code, and import the table into a new key store",
                    json.display(),
                    e.code
                )));
            }
        }
        let meta = Meta {
            schema: store::SCHEMA_VERSION,
            prefix: kf.prefix.clone(),
            digits: kf.digits,
            next: kf.next,
            secret: kf.secret.clone(),
            created: now(),
            legacy_json: Some(format!("{} sha256:{}", json.display(), file_digest(&bytes))),
            review_migrated: false,
        };
        let mut seen: Vec<String> = kf
            .entries
            .iter()
            .filter_map(KeyEntry::real_patient_id)
            .map(fold_id)
            .chain(kf.seen_ids.iter().cloned())
            .collect();
        seen.sort();
        seen.dedup();
        let created = self.backend()?.create(&meta, &mut |tx: &mut dyn Tx| {
            tx.insert_entries(&kf.entries)?;
            let s: Vec<&str> = seen.iter().map(String::as_str).collect();
            tx.insert_seen(&s)
        })?;
        self.exists = true;
        self.snap = Snapshot::new(meta, self.is_lean());
        self.refresh()?;
        if created {
            let mut note = format!(
                "migrated the key store {} into {} ({} entries, checked by its checksum, in one transaction); the JSON file is kept, read-only, until you delete it",
                json.display(),
                self.location,
                kf.entries.len()
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Err(e) = fs::set_permissions(json, fs::Permissions::from_mode(0o400)) {
                    note.push_str(&format!(" (it could not be made read-only: {e})"));
                }
            }
            self.warnings.push(note);
        }
        Ok(())
    }

    /// A `key.json` beside the database that is not the one migrated into it (or changed
    /// since, e.g. by an earlier dams): its codes are not in the store; say so.
    fn check_legacy_beside(&mut self) -> Result<(), KeyError> {
        let Location::File { legacy: Some(json), .. } = &self.location else {
            return Ok(());
        };
        let Ok(bytes) = fs::read(json) else { return Ok(()) };
        let migrated = self.snap.meta.legacy_json.as_deref().unwrap_or("");
        if !migrated.ends_with(&format!("sha256:{}", file_digest(&bytes))) {
            self.warnings.push(format!(
                "{} is not the key file that was migrated into {} (or it changed since): codes in it are not in the key store. To add them: dams key import {}",
                json.display(),
                self.location,
                json.display()
            ));
        }
        Ok(())
    }
}

/// One write transaction, then the backup.
fn write_store(store: &Shared, f: &mut store::TxFn<'_>) -> Result<(), KeyError> {
    let mut b = store
        .lock()
        .map_err(|_| KeyError::Conflict("the key store connection was lost by a failed thread".into()))?;
    b.write(f)?;
    b.after_change()
}

/// Where a transaction's checks look: the snapshot when nothing was added to the store since
/// it was read (checked inside the transaction, which holds the write lock; lookups in memory
/// then), else the database.
struct Lookup<'a, 'b> {
    snap: Option<&'a Snapshot>,
    tx: &'a mut (dyn Tx + 'b),
}

impl<'a, 'b> Lookup<'a, 'b> {
    fn new(snap: &'a Snapshot, tx: &'a mut (dyn Tx + 'b)) -> Result<Lookup<'a, 'b>, KeyError> {
        // A lean snapshot holds only what it looked up: the database answers.
        let current = snap.lean.is_none() && tx.cursor()? == snap.cursor;
        Ok(Lookup {
            snap: current.then_some(snap),
            tx,
        })
    }

    fn codes_of(&mut self, keys: &[&str]) -> Result<HashMap<String, String>, KeyError> {
        match self.snap {
            Some(s) => Ok(keys
                .iter()
                .filter_map(|k| s.by_key.get(*k).map(|&i| (k.to_string(), s.entries[i].code.clone())))
                .collect()),
            None => self.tx.codes_of(keys),
        }
    }

    fn code_folds(&mut self, folds: &[&str]) -> Result<HashMap<String, String>, KeyError> {
        match self.snap {
            Some(s) => Ok(folds
                .iter()
                .filter_map(|f| {
                    s.by_fold
                        .get(*f)
                        .map(|&i| (f.to_string(), s.entries[i].patient_id.clone()))
                })
                .collect()),
            None => self.tx.code_folds(folds),
        }
    }

    fn seen(&mut self, folds: &[&str]) -> Result<HashSet<String>, KeyError> {
        match self.snap {
            Some(s) => Ok(folds
                .iter()
                .filter(|f| s.seen.contains(**f))
                .map(std::string::ToString::to_string)
                .collect()),
            None => self.tx.seen(folds),
        }
    }
}

/// What of a proposal the store does not have yet ([`rows_to_add`]).
struct ToAdd<'n> {
    /// The entries to add, each patient once.
    rows: Vec<&'n NewEntry>,
    /// The offsets given for patients the store has with the same code already.
    known: Vec<(&'n str, i32)>,
}

/// The proposed entries to add and the offsets of patients known already
/// ([`KeyStore::commit`]). A patient the store has with another code is `changed`; two
/// codes proposed for one patient, a conflict.
fn rows_to_add<'n>(
    look: &mut Lookup,
    new: &'n [NewEntry],
    changed: &dyn Fn() -> KeyError,
) -> Result<ToAdd<'n>, KeyError> {
    let keys: Vec<&str> = new.iter().map(|e| e.patient_id.as_str()).collect();
    let have = look.codes_of(&keys)?;
    let mut rows: Vec<&NewEntry> = Vec::new();
    let mut batch: HashMap<&str, &str> = HashMap::new();
    let mut known: Vec<(&str, i32)> = Vec::new();
    for e in new {
        match have.get(&e.patient_id) {
            Some(c) if *c == e.code => {
                if let Some(days) = e.date_offset {
                    known.push((&e.patient_id, days));
                }
                continue;
            }
            Some(_) => return Err(changed()),
            None => {}
        }
        match batch.insert(&e.patient_id, &e.code) {
            Some(c) if c == e.code => {}
            Some(c) => {
                return Err(KeyError::Conflict(format!(
                    "two codes proposed for one patient ({c} and {})",
                    e.code
                )));
            }
            None => rows.push(e),
        }
    }
    Ok(ToAdd { rows, known })
}

/// Records the offsets of patients already in the store (`known`) into their entries, where
/// they have none; another offset there is `changed`. Returns those recorded.
fn record_known_offsets(
    tx: &mut dyn Tx,
    known: &[(&str, i32)],
    changed: &dyn Fn() -> KeyError,
) -> Result<Vec<(String, i32)>, KeyError> {
    if known.is_empty() {
        return Ok(Vec::new());
    }
    let fits = fit_offsets(&mut *tx, known)?;
    if fits.iter().any(|f| !matches!(f, OffsetFit::Set | OffsetFit::Same)) {
        return Err(changed());
    }
    let set: Vec<(&str, i32)> = known
        .iter()
        .zip(&fits)
        .filter(|(_, f)| **f == OffsetFit::Set)
        .map(|(w, _)| *w)
        .collect();
    tx.set_offsets(&set)?;
    Ok(set.iter().map(|(k, d)| (k.to_string(), *d)).collect())
}

/// Checks the codes of new entries: each once, none equal to a patient's ID (ignoring
/// case), none in the store or seen as a real ID meanwhile (`changed`). Returns the folded
/// real IDs of the new patients.
fn check_new_codes(
    look: &mut Lookup,
    rows: &[&NewEntry],
    changed: &dyn Fn() -> KeyError,
) -> Result<HashSet<String>, KeyError> {
    let folds: Vec<String> = rows.iter().map(|e| fold_code(&e.code)).collect();
    let ids: HashSet<String> = rows.iter().flat_map(|e| e.ids.iter()).map(|i| fold_id(i)).collect();
    let mut unique = HashSet::new();
    for (e, f) in rows.iter().zip(&folds) {
        if !unique.insert(f.as_str()) || ids.contains(f) {
            return Err(KeyError::Conflict(format!(
                "code {} was proposed twice or equals a patient's ID",
                e.code
            )));
        }
    }
    let fr: Vec<&str> = folds.iter().map(String::as_str).collect();
    if !look.code_folds(&fr)?.is_empty() || !look.seen(&fr)?.is_empty() {
        return Err(changed());
    }
    Ok(ids)
}

/// Inserts new entries (added at `added`) and their patients' folded real IDs, and moves
/// the next number past their codes.
fn insert_new(
    tx: &mut dyn Tx,
    rows: &[&NewEntry],
    ids: &HashSet<String>,
    meta: &mut Meta,
    added: &str,
) -> Result<(), KeyError> {
    let entries: Vec<KeyEntry> = rows
        .iter()
        .map(|e| KeyEntry {
            patient_id: e.patient_id.clone(),
            code: e.code.clone(),
            patient_name: e.patient_name.clone(),
            birth_date: e.birth_date.clone(),
            source: "generated".into(),
            added: added.to_string(),
            date_offset: e.date_offset,
        })
        .collect();
    tx.insert_entries(&entries)?;
    // In index order: a million random inserts into the index cost far more.
    let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    tx.insert_seen(&ids)?;
    let next = advance(meta, entries.iter().map(|e| e.code.as_str()));
    if next != meta.next {
        meta.next = next;
        tx.set_meta(meta)?;
    }
    Ok(())
}

/// Each imported patient's offset, and where in the file it was given.
type ImportOffsets<'r> = HashMap<&'r str, (i32, &'r str)>;

/// The offsets given for imported patients the store has with the same code already:
/// patient key, days, where in the file.
type KnownOffsets<'r> = Vec<(&'r str, i32, &'r str)>;

/// Checks the rows of an imported file among themselves ([`KeyStore::import_rows`]): one
/// code and one offset per patient, one patient per code (ignoring case), no code equal to
/// a `PatientID`. Returns the rows to add (each patient once) and the offsets given.
fn check_import(rows: &[ImportRow]) -> Result<(Vec<&ImportRow>, ImportOffsets<'_>), Problems> {
    let mut problems = Problems::default();
    let mut by_key: HashMap<&str, (&str, &str)> = HashMap::new();
    let mut by_fold: HashMap<String, (&str, &str, &str)> = HashMap::new();
    let mut id_folds: HashMap<String, &str> = HashMap::new();
    for r in rows {
        if let Some(id) = r.entry.real_patient_id() {
            id_folds.entry(fold_id(id)).or_insert(&r.where_);
        }
    }
    let mut offsets: ImportOffsets = HashMap::new();
    let mut fresh: Vec<&ImportRow> = Vec::new();
    for r in rows {
        let (key, code, at) = (r.entry.patient_id.as_str(), r.entry.code.as_str(), r.where_.as_str());
        if let Some(days) = r.entry.date_offset {
            match offsets.get(key) {
                _ if !valid_date_offset(days) => problems.push(format!("{at}: {}", rules::DATE_OFFSET_RULE)),
                Some((d, other)) if *d != days => {
                    problems.push(format!("{at}: same PatientID as {other} with another date offset"));
                }
                Some(_) => {}
                None => {
                    offsets.insert(key, (days, at));
                }
            }
        }
        let fold = fold_code(code);
        match by_key.get(key) {
            Some((c, _)) if *c == code => continue,
            Some((_, other)) => {
                problems.push(format!("{at}: same PatientID as {other} with another code"));
                continue;
            }
            None => {}
        }
        by_key.insert(key, (code, at));
        match by_fold.get(&fold) {
            Some((k, c, other)) if *k != key => {
                let how = if *c == code {
                    "same code"
                } else {
                    "a code that differs only in case"
                };
                problems.push(format!("{at}: {how} as {other} ({c}) for another patient"));
            }
            _ => {
                by_fold.insert(fold.clone(), (key, code, at));
            }
        }
        if let Some(other) = id_folds.get(&fold) {
            problems.push(format!(
                "{at}: code {code} equals, ignoring case, the PatientID of {other}; a code must never be mistaken for a real ID"
            ));
        }
        fresh.push(r);
    }
    if problems.is_empty() {
        Ok((fresh, offsets))
    } else {
        Err(problems)
    }
}

/// The imported rows the store does not have yet, and the offsets given for patients it
/// has with the same code (with where each was given). A patient it has with another code
/// is a problem.
fn import_todo<'r>(
    look: &mut Lookup,
    fresh: &[&'r ImportRow],
    offsets: &ImportOffsets<'r>,
    problems: &mut Problems,
) -> Result<(Vec<&'r ImportRow>, KnownOffsets<'r>), KeyError> {
    let keys: Vec<&str> = fresh.iter().map(|r| r.entry.patient_id.as_str()).collect();
    let have = look.codes_of(&keys)?;
    let mut known = Vec::new();
    let todo = fresh
        .iter()
        .copied()
        .filter(|r| match have.get(&r.entry.patient_id) {
            Some(c) if *c == r.entry.code => {
                if let Some(&(days, at)) = offsets.get(r.entry.patient_id.as_str()) {
                    known.push((r.entry.patient_id.as_str(), days, at));
                }
                false
            }
            Some(c) => {
                problems.push(format!(
                    "{}: this PatientID already has code {c} in the key store",
                    r.where_
                ));
                false
            }
            None => true,
        })
        .collect();
    Ok((todo, known))
}

/// Checks the imported codes against the store: none another patient's (ignoring case),
/// none a real `PatientID` it has seen, no `PatientID` another patient's code. Returns the
/// folded real `PatientIDs` of the rows.
fn check_import_codes(
    look: &mut Lookup,
    todo: &[&ImportRow],
    problems: &mut Problems,
) -> Result<Vec<String>, KeyError> {
    let folds: Vec<String> = todo.iter().map(|r| fold_code(&r.entry.code)).collect();
    let fr: Vec<&str> = folds.iter().map(String::as_str).collect();
    let owners = look.code_folds(&fr)?;
    let seen = look.seen(&fr)?;
    for (r, f) in todo.iter().zip(&folds) {
        if owners.contains_key(f) {
            problems.push(format!(
                "{}: code {} (or one differing only in case) already belongs to another patient",
                r.where_, r.entry.code
            ));
        } else if seen.contains(f) {
            problems.push(format!(
                "{}: code {} equals, ignoring case, a real PatientID the key store has seen",
                r.where_, r.entry.code
            ));
        }
    }
    let ids: Vec<(String, &ImportRow)> = todo
        .iter()
        .filter_map(|r| r.entry.real_patient_id().map(|id| (fold_id(id), *r)))
        .collect();
    let idr: Vec<&str> = ids.iter().map(|(f, _)| f.as_str()).collect();
    let id_owners = look.code_folds(&idr)?;
    for (f, r) in &ids {
        if id_owners.get(f).is_some_and(|k| *k != r.entry.patient_id) {
            problems.push(format!(
                "{}: PatientID equals, ignoring case, the code of another patient in the key store",
                r.where_
            ));
        }
    }
    Ok(ids.into_iter().map(|(f, _)| f).collect())
}

/// The offsets of patients in the store (`known`: patient key, days, where given) to record
/// into their entries, those with none yet; another offset there is a problem.
fn import_offsets(
    tx: &mut dyn Tx,
    known: &[(&str, i32, &str)],
    problems: &mut Problems,
) -> Result<Vec<(String, i32)>, KeyError> {
    let wanted: Vec<(&str, i32)> = known.iter().map(|&(key, days, _)| (key, days)).collect();
    let fits = fit_offsets(tx, &wanted)?;
    let mut recorded = Vec::new();
    for (&(key, days, at), fit) in known.iter().zip(&fits) {
        match fit {
            OffsetFit::Set => recorded.push((key.to_string(), days)),
            OffsetFit::Same | OffsetFit::NoEntry => {}
            OffsetFit::Other(_) => {
                problems.push(format!(
                    "{at}: this patient already has another date offset in the key store"
                ));
            }
        }
    }
    Ok(recorded)
}

/// How an offset to record fits the entry of its patient in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OffsetFit {
    /// No entry has this patient key.
    NoEntry,
    /// The entry has no offset yet: it gets this one.
    Set,
    /// The entry has this offset already.
    Same,
    /// The entry has this other offset.
    Other(i32),
}

/// The rule for recording a date offset into an entry, checked inside the write transaction
/// against the database (never a snapshot: a reader's cursor does not see an offset recorded
/// into an older row). A recorded offset never changes.
fn fit_offsets(tx: &mut dyn Tx, wanted: &[(&str, i32)]) -> Result<Vec<OffsetFit>, KeyError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = wanted.iter().map(|(k, _)| *k).collect();
    let stored = tx.offsets_of(&keys)?;
    Ok(wanted
        .iter()
        .map(|(key, days)| match stored.get(*key) {
            None => OffsetFit::NoEntry,
            Some(None) => OffsetFit::Set,
            Some(Some(d)) if d == days => OffsetFit::Same,
            Some(Some(d)) => OffsetFit::Other(*d),
        })
        .collect())
}

/// An offset given for a patient: valid, and the only one given for that patient. Whether it
/// is new (`false`: the same was given before).
fn check_offset<'k>(given: &mut HashMap<&'k str, i32>, key: &'k str, days: i32) -> Result<bool, KeyError> {
    if !valid_date_offset(days) {
        return Err(KeyError::Conflict(format!("refused: {}", rules::DATE_OFFSET_RULE)));
    }
    match given.insert(key, days) {
        Some(d) if d != days => Err(KeyError::Conflict(
            "two different date offsets were given for one patient".into(),
        )),
        Some(_) => Ok(false),
        None => Ok(true),
    }
}

fn file_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    legacy::hex(&sha2::Sha256::digest(bytes))
}

/// The counter after these codes were added: past every code of the form prefix + number.
fn advance<'a>(meta: &Meta, codes: impl Iterator<Item = &'a str>) -> u64 {
    codes
        .filter_map(|c| c.strip_prefix(&meta.prefix).and_then(|d| d.parse::<u64>().ok()))
        .fold(meta.next, |next, num| next.max(num.saturating_add(1)))
}

struct ImportRow {
    /// "line 3" or "entry 3", for messages.
    where_: String,
    entry: KeyEntry,
}

/// Problems found in an import, listed up to a readable number.
#[derive(Default)]
struct Problems(Vec<String>, usize);

impl Problems {
    const SHOWN: usize = 50;

    fn push(&mut self, p: String) {
        if self.0.len() < Self::SHOWN {
            self.0.push(p);
        }
        self.1 += 1;
    }

    fn is_empty(&self) -> bool {
        self.1 == 0
    }

    /// The refusal of an import of `file` with these problems.
    fn refusal(self, file: &Path) -> KeyError {
        KeyError::Refused {
            file: file.to_path_buf(),
            more: self.1 - self.0.len(),
            problems: self.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patients(ids: &[&str]) -> Vec<Candidate> {
        ids.iter()
            .map(|i| Candidate {
                key: i.to_string(),
                name: format!("NAME^{i}"),
                birth_date: "19700101".into(),
                ids: vec![],
            })
            .collect()
    }

    #[test]
    fn codes_are_deterministic_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        let mut k = KeyStore::open(&path).unwrap();
        let p = k.propose(&patients(&["B", "A", "C", "A"]));
        let codes: Vec<_> = p.iter().map(|e| (e.patient_id.as_str(), e.code.as_str())).collect();
        assert_eq!(codes, vec![("A", "P0001"), ("B", "P0002"), ("C", "P0003")]);
        k.commit(&p).unwrap();
        // Committing the same proposal again changes nothing.
        k.commit(&p).unwrap();
        let k = KeyStore::open(&path).unwrap();
        assert_eq!(k.code_for("B"), Some("P0002"));
        assert_eq!(k.entries().len(), 3);
        assert_eq!(k.entry_by_code("p0002").map(|e| e.patient_id.as_str()), Some("B"));
        // A later run adds new patients after the existing ones, old codes unchanged.
        let p = k.propose(&patients(&["0", "B"]));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, "P0004");
    }

    /// A lean snapshot reads only what it is asked about, and plans as a whole one does:
    /// the same lookups, the same proposals past codes and real IDs the store holds, the
    /// same refusal of a commit another process made stale.
    #[test]
    fn lean_store_answers_and_plans_as_a_whole_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        let csv = dir.path().join("k.csv");
        // The next number is 3 (past the imported P0002); P0009 is a real ID the key has seen.
        fs::write(&csv, "PatientID,code\nA,P0002\nP0009,Q-4\nC,Z-9\n").unwrap();
        let mut k = KeyStore::open(&path).unwrap();
        k.import_csv(&csv, None, None, None).unwrap();
        let mut lean = KeyStore::open_lean(&path).unwrap();
        assert!(lean.is_lean() && lean.entries().is_empty());
        lean.fetch(&[], &["z-9"]).unwrap();
        assert_eq!(lean.entry_by_code("Z-9").map(|e| e.patient_id.as_str()), Some("C"));
        assert_eq!(lean.entries().len(), 1, "only what was fetched");
        let input = patients(&["A", "B", "D", "E", "G", "H", "I", "J", "K"]);
        lean.fetch_patients(&input).unwrap();
        let whole = KeyStore::open(&path).unwrap();
        assert_eq!(lean.code_for("A"), Some("P0002"));
        assert_eq!(lean.code_for("B"), None);
        assert_eq!(lean.propose(&input), whole.propose(&input));
        let codes: Vec<String> = lean.propose(&input).into_iter().map(|e| e.code).collect();
        assert_eq!(codes[5..], ["P0008", "P0010", "P0011"]);
        // Not fetched: the store is asked (codes past those fetched).
        let many: Vec<String> = (0..40).map(|i| format!("N{i:02}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let many = patients(&many);
        assert_eq!(lean.propose(&many), whole.propose(&many));
        // Another process gives a proposed code meanwhile: the lean commit is refused, and
        // after a refresh it plans past that code.
        let p = lean.propose(&input);
        let mut other = KeyStore::open(&path).unwrap();
        other.commit(&other.propose(&patients(&["X"]))).unwrap();
        assert!(lean.commit(&p).unwrap_err().is_changed());
        lean.refresh().unwrap();
        let p = lean.propose(&input);
        assert_eq!(p[0].code, "P0004");
        lean.commit(&p).unwrap();
        assert_eq!(lean.code_for("K"), Some("P0012"));
        assert_eq!(KeyStore::open(&path).unwrap().code_for("K"), Some("P0012"));
        // A lean store's format check reads every entry.
        assert!(lean.set_format("Q", 3).is_err());
    }

    /// Two processes plan against the same snapshot: the second commit is refused with
    /// nothing written, and after a refresh its new proposal goes through.
    #[test]
    fn concurrent_change_is_detected_and_planning_again_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        let mut a = KeyStore::open_or_create(&path).unwrap();
        let mut b = KeyStore::open(&path).unwrap();
        let pa = a.propose(&patients(&["A"]));
        let pb = b.propose(&patients(&["B"]));
        assert_eq!(pa[0].code, pb[0].code);
        a.commit(&pa).unwrap();
        let err = b.commit(&pb).unwrap_err();
        assert!(err.is_changed(), "{err}");
        assert_eq!(KeyStore::open(&path).unwrap().entries().len(), 1);
        b.refresh().unwrap();
        let pb = b.propose(&patients(&["B"]));
        assert_eq!(pb[0].code, "P0002");
        b.commit(&pb).unwrap();
        // The same patient coded differently by another process meanwhile: refused, not
        // given a second code.
        let mut c = KeyStore::open(&path).unwrap();
        let pc = c.propose(&patients(&["C"]));
        assert_eq!(pc[0].code, "P0003");
        a.refresh().unwrap();
        let pa = a.propose(&patients(&["BB", "C"]));
        a.commit(&pa).unwrap();
        assert_eq!(a.code_for("C"), Some("P0004"));
        assert!(c.commit(&pc).unwrap_err().is_changed());
        c.refresh().unwrap();
        assert_eq!(c.code_for("C"), Some("P0004"));
        assert!(c.propose(&patients(&["C"])).is_empty());
    }

    #[test]
    fn import_checks_everything_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        let csv = dir.path().join("k.csv");
        fs::write(&csv, "Patient ID;Pseudonym\nA;R-001\nB;R-002\n").unwrap();
        let mut k = KeyStore::open(&path).unwrap();
        assert_eq!(k.import_csv(&csv, None, None, None).unwrap(), 2);
        assert_eq!(k.code_for("B"), Some("R-002"));
        fs::write(&csv, "PatientID,code\nC,R-003\nA,R-999\n").unwrap();
        let err = k.import_csv(&csv, None, None, None).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("nothing imported"), "{err}");
        assert_eq!(k.code_for("C"), None);
        fs::write(&csv, "who,what\nC,R-003\n").unwrap();
        let err = k.import_csv(&csv, None, None, None).unwrap_err().to_string();
        assert!(err.contains("no PatientID column"), "{err}");
        assert_eq!(k.import_csv(&csv, Some("who"), Some("what"), None).unwrap(), 1);
        // Importing the same rows again adds nothing and is no conflict.
        assert_eq!(k.import_csv(&csv, Some("who"), Some("what"), None).unwrap(), 0);
    }

    /// An imported code at the end of the number range: no more codes, and no panic.
    #[test]
    fn the_counter_does_not_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("k.csv");
        fs::write(&csv, format!("PatientID,code\nA,P{}\n", u64::MAX)).unwrap();
        let mut k = KeyStore::open(&dir.path().join("key.db")).unwrap();
        assert_eq!(k.import_csv(&csv, None, None, None).unwrap(), 1);
        assert_eq!(k.snap.meta.next, u64::MAX);
        assert!(k.propose(&patients(&["B", "C"])).is_empty());
    }

    #[test]
    fn format_is_fixed_once_codes_are_generated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        let mut k = KeyStore::open(&path).unwrap();
        k.set_format("STUDY-", 3).unwrap();
        k.save().unwrap();
        let k2 = KeyStore::open(&path).unwrap();
        assert_eq!((k2.prefix(), k2.digits()), ("STUDY-", 3));
        let p = k.propose(&patients(&["A"]));
        assert_eq!(p[0].code, "STUDY-001");
        k.commit(&p).unwrap();
        assert!(k.set_format("X", 4).is_err());
        for (prefix, digits) in [("../", 4), ("", 4), (".P", 4), ("P", 0), ("P", 13)] {
            assert!(rules::check_format(prefix, digits).is_err(), "{prefix} {digits}");
        }
    }

    fn offsets(k: &KeyStore) -> Vec<(String, Option<i32>)> {
        let k = KeyStore::open(k.file().unwrap()).unwrap();
        let mut v: Vec<_> = k
            .entries()
            .iter()
            .map(|e| (e.patient_id.clone(), e.date_offset))
            .collect();
        v.sort();
        v
    }

    fn pairs(p: &[(&str, i32)]) -> Vec<(String, i32)> {
        p.iter().map(|(k, d)| (k.to_string(), *d)).collect()
    }

    /// An offset is recorded once: set where there is none, the same again is no change,
    /// another is refused as a change by another process with nothing written, and a
    /// patient without a code is refused.
    #[test]
    fn record_offsets_sets_once_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        let mut k = KeyStore::open(&path).unwrap();
        // Nothing to record: no transaction, no store created.
        k.record_offsets(&[]).unwrap();
        assert!(!path.exists());
        let err = k.record_offsets(&pairs(&[("A", 5)])).unwrap_err();
        assert!(matches!(err, KeyError::Conflict(_)), "{err}");
        let mut p = k.propose(&patients(&["A", "B", "C"]));
        p[0].date_offset = Some(-1234);
        k.commit(&p).unwrap();
        assert_eq!(k.date_offset("A"), Some(-1234));
        assert_eq!(k.date_offset("B"), None);
        assert_eq!(k.date_offset("nobody"), None);

        k.record_offsets(&pairs(&[("B", 30), ("A", -1234), ("B", 30)])).unwrap();
        assert_eq!(k.date_offset("B"), Some(30));
        let stored = offsets(&k);
        assert_eq!(
            stored,
            vec![("A".into(), Some(-1234)), ("B".into(), Some(30)), ("C".into(), None)]
        );

        // Another offset for B, with one for C in the same call: nothing written.
        let err = k.record_offsets(&pairs(&[("C", 7), ("B", 31)])).unwrap_err();
        assert!(err.is_changed(), "{err}");
        assert_eq!(offsets(&k), stored);
        // A patient without a code, with one that would be fine: nothing written, and the
        // message names no patient.
        let err = k.record_offsets(&pairs(&[("C", 7), ("SECRET-ID", 7)])).unwrap_err();
        assert!(matches!(&err, KeyError::Conflict(m) if !m.contains("SECRET")), "{err}");
        assert_eq!(offsets(&k), stored);
        // Offsets that break the rule, or two for one patient.
        for bad in [pairs(&[("C", 0)]), pairs(&[("C", 36501)]), pairs(&[("C", 1), ("C", 2)])] {
            assert!(matches!(k.record_offsets(&bad), Err(KeyError::Conflict(_))), "{bad:?}");
        }
        assert_eq!(offsets(&k), stored);
        // Committing a proposal again with another offset for a patient coded meanwhile is
        // refused too.
        let mut again = p.clone();
        again[0].date_offset = Some(99);
        assert!(k.commit(&again).unwrap_err().is_changed());
        assert_eq!(offsets(&k), stored);
        again[0].date_offset = Some(-1234);
        again[2].date_offset = Some(12);
        k.commit(&again).unwrap();
        assert_eq!(k.date_offset("C"), Some(12));
    }

    /// Two processes with one snapshot: the first records an offset; the second, planning
    /// another, is refused as changed, and its snapshot then holds the recorded one.
    #[test]
    fn an_offset_recorded_by_another_process_is_seen_on_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        let mut a = KeyStore::open(&path).unwrap();
        let p = a.propose(&patients(&["A", "B"]));
        a.commit(&p).unwrap();
        let mut b = KeyStore::open(&path).unwrap();
        a.record_offsets(&pairs(&[("A", 10)])).unwrap();
        assert_eq!(b.date_offset("A"), None, "a snapshot");
        let err = b.record_offsets(&pairs(&[("A", 20), ("B", 3)])).unwrap_err();
        assert!(err.is_changed(), "{err}");
        assert_eq!(b.date_offset("A"), Some(10));
        assert_eq!(b.date_offset("B"), None, "nothing written");
        b.record_offsets(&pairs(&[("A", 10), ("B", 3)])).unwrap();
        assert_eq!(a.date_offset("B"), None);
        a.record_offsets(&pairs(&[("B", 3)])).unwrap();
        assert_eq!(a.date_offset("B"), Some(3));
    }

    /// The schema of every store made before date offsets (version 2), as the commit before
    /// them created it.
    const SCHEMA_V2: &str = "
        CREATE TABLE dams_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
        CREATE TABLE dams_entries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_key TEXT NOT NULL UNIQUE,
            code TEXT NOT NULL,
            code_fold TEXT NOT NULL UNIQUE,
            patient_name TEXT NOT NULL DEFAULT '',
            birth_date TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            added TEXT NOT NULL
        );
        CREATE TABLE dams_seen_ids (seq INTEGER PRIMARY KEY AUTOINCREMENT, fold TEXT NOT NULL UNIQUE);
        CREATE TABLE dams_workspaces (folder TEXT PRIMARY KEY, doc TEXT NOT NULL, updated TEXT NOT NULL);
    ";

    fn make_v2(path: &Path) {
        let c = rusqlite::Connection::open(path).unwrap();
        c.execute_batch(SCHEMA_V2).unwrap();
        let _: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
        let meta = [
            ("format", "dams-key"),
            ("schema", "2"),
            ("prefix", "P"),
            ("digits", "4"),
            ("next", "2"),
            ("secret", &"ab".repeat(32)),
            ("created", "2024-01-01T00:00:00Z"),
        ];
        for (k, v) in meta {
            c.execute("INSERT INTO dams_meta (k, v) VALUES (?1, ?2)", [k, v])
                .unwrap();
        }
        c.execute(
            "INSERT INTO dams_entries (patient_key, code, code_fold, patient_name, birth_date, source, added) VALUES ('A', 'P0001', 'p0001', 'NAME^A', '19700101', 'generated', '2024-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
        c.execute("INSERT INTO dams_seen_ids (fold) VALUES ('a')", []).unwrap();
    }

    /// (schema version, whether `dams_entries` has `date_offset`), read directly.
    fn schema_of(path: &Path) -> (String, bool) {
        let c = rusqlite::Connection::open(path).unwrap();
        let v = c
            .query_row("SELECT v FROM dams_meta WHERE k = 'schema'", [], |r| r.get(0))
            .unwrap();
        let cols: Vec<String> = c
            .prepare("SELECT name FROM pragma_table_info('dams_entries')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (v, cols.iter().any(|c| c == "date_offset"))
    }

    /// A store of schema 2 is read as it is (no offsets; reading changes nothing), and its
    /// first write adds the column and sets schema 3 in the write's transaction: a write that
    /// fails leaves it at 2.
    #[test]
    fn a_version_2_store_is_upgraded_by_its_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        make_v2(&path);
        let mut k = KeyStore::open(&path).unwrap();
        assert_eq!(k.code_for("A"), Some("P0001"));
        assert_eq!(k.date_offset("A"), None);
        assert_eq!(k.entry_by_code("P0001").unwrap().date_offset, None);
        let mut csv = Vec::new();
        k.export_csv(&mut csv).unwrap();
        assert_eq!(schema_of(&path), ("2".into(), false), "reading does not upgrade");
        // A write that is refused inside its transaction: not upgraded either.
        assert!(k.record_offsets(&pairs(&[("B", 4)])).is_err());
        assert_eq!(schema_of(&path), ("2".into(), false));

        let mut p = k.propose(&patients(&["A", "B"]));
        assert_eq!(p.len(), 1);
        p[0].date_offset = Some(-40);
        k.commit(&p).unwrap();
        assert_eq!(schema_of(&path), ("3".into(), true));
        k.record_offsets(&pairs(&[("A", 77)])).unwrap();
        let k = KeyStore::open(&path).unwrap();
        assert_eq!((k.code_for("B"), k.date_offset("B")), (Some("P0002"), Some(-40)));
        assert_eq!((k.code_for("A"), k.date_offset("A")), (Some("P0001"), Some(77)));
        assert_eq!(k.entry_by_code("P0001").unwrap().patient_name, "NAME^A");
        // The backup is of the upgraded store.
        assert_eq!(schema_of(&dir.path().join("key.bak")), ("3".into(), true));
        // A later schema is refused, not guessed at.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("UPDATE dams_meta SET v = '4' WHERE k = 'schema'", [])
            .unwrap();
        drop(c);
        let err = KeyStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 4 is not supported"), "{err}");
    }

    /// Offsets from a table: the column found by its usual names or named, empty cells for
    /// none, bad values refused naming the line (never the ID), and against the store: set
    /// where none, equal is fine, another refuses the whole import.
    #[test]
    fn csv_import_takes_date_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.db");
        let csv = dir.path().join("k.csv");
        let mut k = KeyStore::open(&path).unwrap();
        fs::write(
            &csv,
            "PatientID;code;Date Offset\nA;R-001;-1234\nB;R-002;\nC;R-003;+15\n",
        )
        .unwrap();
        assert_eq!(k.import_csv(&csv, None, None, None).unwrap(), 3);
        assert_eq!(
            (k.date_offset("A"), k.date_offset("B"), k.date_offset("C")),
            (Some(-1234), None, Some(15))
        );
        for header in ["offset", "OFFSET_DAYS", "shift-days", "date_shift"] {
            let d = tempfile::tempdir().unwrap();
            let mut k = KeyStore::open(&d.path().join("key.db")).unwrap();
            fs::write(&csv, format!("PatientID,code,{header}\nA,R-001,9\n")).unwrap();
            assert_eq!(k.import_csv(&csv, None, None, None).unwrap(), 1);
            assert_eq!(k.date_offset("A"), Some(9), "{header}");
        }
        // Without such a column: no offsets. A named column must be there.
        fs::write(&csv, "PatientID,code,days\nD,R-004,8\n").unwrap();
        let err = k.import_csv(&csv, None, None, Some("shift")).unwrap_err().to_string();
        assert!(
            err.contains("no date offset column") && err.contains("--offset-column"),
            "{err}"
        );
        assert_eq!(k.import_csv(&csv, None, None, None).unwrap(), 1);
        assert_eq!(k.date_offset("D"), None);

        // Bad values: the whole import refused, by line, the ID never quoted.
        for bad in ["0", "36501", "-36501", "1.5", "ten", "--2"] {
            fs::write(
                &csv,
                format!("PatientID,code,days\nSECRET-E,R-005,3\nSECRET-F,R-006,{bad}\n"),
            )
            .unwrap();
            let err = k.import_csv(&csv, None, None, Some("days")).unwrap_err().to_string();
            assert!(err.contains("line 3") && !err.contains("SECRET"), "{bad}: {err}");
            assert_eq!(k.code_for("SECRET-E"), None);
        }
        // Against the store: D has none (set), A the same (fine), with a new patient.
        fs::write(&csv, "PatientID,code,days\nD,R-004,8\nA,R-001,-1234\nG,R-007,2\n").unwrap();
        assert_eq!(k.import_csv(&csv, None, None, Some("days")).unwrap(), 1);
        assert_eq!((k.date_offset("D"), k.date_offset("G")), (Some(8), Some(2)));
        assert_eq!(KeyStore::open(&path).unwrap().date_offset("D"), Some(8));
        // Another offset for A: nothing imported, not even the new patient or C's offset.
        fs::write(
            &csv,
            "PatientID,code,days\nH,R-008,2\nB,R-002,5\nSECRET-A,R-009,1\nA,R-001,-1233\n",
        )
        .unwrap();
        let err = k.import_csv(&csv, None, None, Some("days")).unwrap_err().to_string();
        assert!(err.contains("line 5") && err.contains("another date offset"), "{err}");
        assert!(!err.contains("SECRET") && !err.contains("1233"), "{err}");
        let again = KeyStore::open(&path).unwrap();
        assert_eq!((again.code_for("H"), again.date_offset("B")), (None, None));
        // Two offsets for one patient in the file.
        fs::write(&csv, "PatientID,code,days\nB,R-002,5\nB,R-002,6\n").unwrap();
        let err = k.import_csv(&csv, None, None, Some("days")).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("another date offset"), "{err}");
        // An empty cell beside a given one is no conflict.
        fs::write(&csv, "PatientID,code,days\nB,R-002,\nB,R-002,5\n").unwrap();
        assert_eq!(k.import_csv(&csv, None, None, Some("days")).unwrap(), 0);
        assert_eq!(k.date_offset("B"), Some(5));
    }

    /// The CSV export carries offsets (plain numbers, unguarded) and imports back
    /// into a new store; the JSON export too, as version 3.
    #[test]
    fn exports_carry_offsets_and_import_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = KeyStore::open(&dir.path().join("key.db")).unwrap();
        let mut p = k.propose(&patients(&["A", "B", "C"]));
        p[0].date_offset = Some(-1234);
        p[1].date_offset = Some(365);
        k.commit(&p).unwrap();
        let mut csv = Vec::new();
        k.export_csv(&mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("code,patient_id,patient_name,birth_date,date_offset,source,added,patient_key")
        );
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("P0001,A,NAME^A,19700101,-1234,generated,"),
            "{text}"
        );
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("P0002,B,NAME^B,19700101,365,generated,"),
            "{text}"
        );
        assert!(
            lines.next().unwrap().starts_with("P0003,C,NAME^C,19700101,,generated,"),
            "{text}"
        );
        let file = dir.path().join("export.csv");
        fs::write(&file, &text).unwrap();
        let mut back = KeyStore::open(&dir.path().join("back.db")).unwrap();
        assert_eq!(back.import_file(&file, None, None, None).unwrap(), 3);
        let view = |k: &KeyStore| -> Vec<(String, String, Option<i32>)> {
            let mut v: Vec<_> = k
                .entries()
                .iter()
                .map(|e| (e.patient_id.clone(), e.code.clone(), e.date_offset))
                .collect();
            v.sort();
            v
        };
        assert_eq!(view(&back), view(&k));

        let mut json = Vec::new();
        k.export_json(&mut json).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["version"], 3);
        assert_eq!(value["entries"][0]["date_offset"], -1234);
        assert!(value["entries"][2].get("date_offset").is_none());
        let file = dir.path().join("export.json");
        fs::write(&file, &json).unwrap();
        let mut moved = KeyStore::open(&dir.path().join("moved.db")).unwrap();
        assert_eq!(moved.import_file(&file, None, None, None).unwrap(), 3);
        assert_eq!(view(&moved), view(&k));
        // Into a store that has the patients without offsets: they are recorded.
        let mut bare = KeyStore::open(&dir.path().join("bare.db")).unwrap();
        let mut p = p.clone();
        for e in &mut p {
            e.date_offset = None;
        }
        // The same secret, so the key file is accepted.
        bare.snap.meta.secret = k.snap.meta.secret.clone();
        bare.commit(&p).unwrap();
        assert_eq!(bare.import_file(&file, None, None, None).unwrap(), 0);
        assert_eq!(view(&bare), view(&k));
        // A key without offsets still exports as version 2, for earlier dams.
        let mut json = Vec::new();
        KeyStore::open(&dir.path().join("none.db"))
            .unwrap()
            .export_json(&mut json)
            .unwrap();
        assert!(String::from_utf8(json).unwrap().contains("\"version\": 2"));
    }
}

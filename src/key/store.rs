//! The backend trait: what the key store needs from a database. The rules (which code a
//! patient gets, what a code must never equal) live in `mod.rs`, once, over this trait; a
//! backend only stores, reads and keeps transactions.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::{KeyEntry, KeyError};

/// Tables, the same in every backend:
///
/// ```sql
/// dams_meta       (k TEXT PRIMARY KEY, v TEXT NOT NULL)
///                 -- format, schema, prefix, digits, next, secret, created, legacy_json, review_migrated
/// dams_entries    (seq INTEGER PRIMARY KEY, patient_key TEXT NOT NULL UNIQUE, code TEXT NOT NULL,
///                  code_fold TEXT NOT NULL UNIQUE, patient_name TEXT, birth_date TEXT, source TEXT, added TEXT,
///                  date_offset INTEGER)   -- days every date of the patient is moved by; NULL: none recorded
/// dams_seen_ids   (seq INTEGER PRIMARY KEY, fold TEXT NOT NULL UNIQUE)   -- real IDs the key has seen, folded
/// dams_workspaces (folder TEXT PRIMARY KEY, doc TEXT NOT NULL, updated TEXT NOT NULL)
///                 -- review state: folder = keyed hash of the input folder, doc = JSON
/// ```
///
/// Schema versions: 2, every store made before date offsets; 3 adds `dams_entries.date_offset`.
/// A version-2 store is read as it is (every offset `None`) and brought to version 3 by its
/// first write, inside that write's transaction ([`upgrade`]): a user who may only read the
/// store can still look codes up in it.
pub const SCHEMA_VERSION: u32 = 3;
/// The oldest schema this dams reads (and upgrades on its first write).
pub const OLDEST_SCHEMA: u32 = 2;
pub const FORMAT: &str = "dams-key";

/// Version 2 → 3, the same statement in both backends.
const ADD_DATE_OFFSET: &str = "ALTER TABLE dams_entries ADD COLUMN date_offset INTEGER";

/// Brings the store to [`SCHEMA_VERSION`] inside the write transaction `tx`, before anything
/// else is written in it: all or nothing, with the write. Every backend's `write` calls it
/// until a write has committed on this connection.
pub fn upgrade(tx: &mut dyn Tx) -> Result<(), KeyError> {
    let mut meta = tx.meta()?;
    if meta.schema >= SCHEMA_VERSION {
        return Ok(());
    }
    if meta.schema < 3 {
        tx.alter(ADD_DATE_OFFSET)?;
    }
    meta.schema = SCHEMA_VERSION;
    tx.set_meta(&meta)
}

/// The store's settings (the `dams_meta` rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The schema version of the store (see [`SCHEMA_VERSION`]); a new store has the current one.
    pub schema: u32,
    pub prefix: String,
    pub digits: usize,
    /// The next number a generated code gets; never goes back, so codes are never reused.
    pub next: u64,
    /// Hex secret for deterministic UIDs and the review state's keyed hashes.
    pub secret: String,
    pub created: String,
    /// Set once a `key.json` was migrated: its path and checksum.
    pub legacy_json: Option<String>,
    pub review_migrated: bool,
}

impl Meta {
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![
            ("format", FORMAT.to_string()),
            ("schema", self.schema.to_string()),
            ("prefix", self.prefix.clone()),
            ("digits", self.digits.to_string()),
            ("next", self.next.to_string()),
            ("secret", self.secret.clone()),
            ("created", self.created.clone()),
        ];
        if let Some(l) = &self.legacy_json {
            rows.push(("legacy_json", l.clone()));
        }
        if self.review_migrated {
            rows.push(("review_migrated", "1".into()));
        }
        rows
    }

    /// Reads the rows back, checking each: a store edited by hand is refused, not guessed at.
    pub fn from_rows(rows: &HashMap<String, String>) -> Result<Meta, String> {
        let get = |k: &str| {
            rows.get(k)
                .map(String::as_str)
                .ok_or(format!("its setting '{k}' is missing"))
        };
        if get("format")? != FORMAT {
            return Err("not a dams key store".into());
        }
        let schema: u32 = get("schema")?
            .parse()
            .map_err(|_| "its schema version is not a number")?;
        if !(OLDEST_SCHEMA..=SCHEMA_VERSION).contains(&schema) {
            return Err(format!("schema version {schema} is not supported by this dams"));
        }
        let digits = get("digits")?.parse().map_err(|_| "its digits are not a number")?;
        let next: u64 = get("next")?
            .parse()
            .map_err(|_| "its next code number is not a number")?;
        let prefix = get("prefix")?.to_string();
        super::rules::check_format(&prefix, digits).map_err(|e| format!("its code format is refused: {e}"))?;
        if next == 0 {
            return Err("its next code number is 0; codes start at 1".into());
        }
        let secret = get("secret")?.to_string();
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("its secret is not 64 hexadecimal digits".into());
        }
        Ok(Meta {
            schema,
            prefix,
            digits,
            next,
            secret,
            created: rows.get("created").cloned().unwrap_or_default(),
            legacy_json: rows.get("legacy_json").cloned(),
            review_migrated: rows.get("review_migrated").is_some_and(|v| v == "1"),
        })
    }
}

/// How far a reader has read: the last `seq` of each growing table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub entries: i64,
    pub seen: i64,
}

/// What a read returns: the settings, and the rows added after a cursor.
pub struct Loaded {
    pub meta: Meta,
    pub entries: Vec<KeyEntry>,
    pub seen: Vec<String>,
    pub cursor: Cursor,
}

/// Which column [`Tx::entries_by`] looks values up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// `patient_key`.
    Key,
    /// `code_fold`: the folded code ([`super::fold_code`]).
    CodeFold,
}

/// One transaction. Batch methods: a remote database answers a whole batch in one round trip.
pub trait Tx {
    /// The last `seq` of each growing table: equal to a snapshot's cursor when nothing was
    /// added since it was read.
    fn cursor(&mut self) -> Result<Cursor, KeyError>;
    fn meta(&mut self) -> Result<Meta, KeyError>;
    fn set_meta(&mut self, meta: &Meta) -> Result<(), KeyError>;
    /// The codes of those of `keys` that have one.
    fn codes_of(&mut self, keys: &[&str]) -> Result<HashMap<String, String>, KeyError>;
    /// Of these folds, the ones that are the fold of a code, with that code's patient key.
    fn code_folds(&mut self, folds: &[&str]) -> Result<HashMap<String, String>, KeyError>;
    /// The entries whose `by` column holds one of `values` (indexed look-ups, not a read of
    /// every entry). `offsets`: the store has the `date_offset` column (schema 3); without it
    /// every offset is `None`.
    fn entries_by(&mut self, by: By, values: &[&str], offsets: bool) -> Result<Vec<KeyEntry>, KeyError>;
    /// Of these folds, the ones of real IDs the key has seen.
    fn seen(&mut self, folds: &[&str]) -> Result<HashSet<String>, KeyError>;
    /// Inserts entries, their date offsets with them.
    fn insert_entries(&mut self, rows: &[KeyEntry]) -> Result<(), KeyError>;
    /// The date offsets of those of `keys` that have an entry (`None`: none recorded yet).
    /// Always read from the database: an offset recorded later for an entry is not seen by a
    /// reader's cursor.
    fn offsets_of(&mut self, keys: &[&str]) -> Result<HashMap<String, Option<i32>>, KeyError>;
    /// Records each offset for its patient key where the entry has none yet (an entry that
    /// has one keeps it; the rules are checked before, with `offsets_of`).
    fn set_offsets(&mut self, rows: &[(&str, i32)]) -> Result<(), KeyError>;
    /// Runs one schema change of [`upgrade`].
    fn alter(&mut self, sql: &str) -> Result<(), KeyError>;
    /// Adds folds of real IDs (those already there are skipped).
    fn insert_seen(&mut self, folds: &[&str]) -> Result<(), KeyError>;
    /// A review document, locked until the end of the transaction.
    fn workspace(&mut self, folder: &str) -> Result<Option<String>, KeyError>;
    fn put_workspace(&mut self, folder: &str, doc: &str) -> Result<(), KeyError>;
}

pub type TxFn<'a> = dyn FnMut(&mut dyn Tx) -> Result<(), KeyError> + 'a;

pub trait Backend: Send {
    /// For `dams key info`: the engine, its version, and how it is reached.
    fn describe(&mut self) -> String;
    fn exists(&self) -> bool;
    /// Creates the store with `meta` and fills it with `fill`, all or nothing, unless another
    /// process created it first. Returns whether this call created it.
    fn create(&mut self, meta: &Meta, fill: &mut TxFn<'_>) -> Result<bool, KeyError>;
    /// The settings and what was added after `since`, read in one consistent snapshot.
    fn load(&mut self, since: Cursor) -> Result<Loaded, KeyError>;
    /// Runs `f` in one read transaction (one consistent snapshot; `f` only reads). Never
    /// upgrades the schema: a user who may only read the store can look codes up in it.
    fn read(&mut self, f: &mut TxFn<'_>) -> Result<(), KeyError>;
    /// Runs `f` in one write transaction (serialised with every other writer); nothing of it
    /// stays if it fails. A store of an older schema is upgraded first, in the same
    /// transaction ([`upgrade`]).
    fn write(&mut self, f: &mut TxFn<'_>) -> Result<(), KeyError>;
    /// A review document, read outside any transaction.
    fn read_workspace(&mut self, folder: &str) -> Result<Option<String>, KeyError>;
    /// After the key changed (not for review updates): e.g. the embedded store's backup.
    fn after_change(&mut self) -> Result<(), KeyError>;
}

/// One backend, shared by the key store and the review state made from it.
pub type Shared = Arc<Mutex<Box<dyn Backend>>>;

/// Test hook: with `DAMS_FAILPOINT=NAME:FILE`, the process creates FILE at the point named and
/// waits there while FILE exists (at most two minutes), so a test can kill it or stop its
/// database server at exactly that moment. `key-commit`: inside a write transaction, after
/// its rows are written and before it commits.
pub fn failpoint(name: &str) {
    let Some(spec) = std::env::var_os("DAMS_FAILPOINT") else {
        return;
    };
    let spec = spec.to_string_lossy();
    let Some((n, file)) = spec.split_once(':') else { return };
    if n != name {
        return;
    }
    let file = std::path::Path::new(file);
    if std::fs::write(file, b"").is_err() {
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_mins(2);
    while file.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

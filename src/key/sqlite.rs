//! The embedded key store: one `SQLite` database file, owner-only, in WAL mode (readers never
//! wait for a writer), every change one transaction, checked on open (a damaged file is
//! refused and never written to), and copied to `<name>.bak` with `SQLite`'s online backup after
//! each change of the key.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::store::{Backend, By, Cursor, Loaded, Meta, Tx, TxFn, failpoint, upgrade};
use super::{KeyEntry, KeyError, Location};

const SCHEMA: &str = "
CREATE TABLE dams_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE dams_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_key TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    code_fold TEXT NOT NULL UNIQUE,
    patient_name TEXT NOT NULL DEFAULT '',
    birth_date TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    added TEXT NOT NULL,
    date_offset INTEGER
);
CREATE TABLE dams_seen_ids (seq INTEGER PRIMARY KEY AUTOINCREMENT, fold TEXT NOT NULL UNIQUE);
CREATE TABLE dams_workspaces (folder TEXT PRIMARY KEY, doc TEXT NOT NULL, updated TEXT NOT NULL);
";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_WAIT: Duration = Duration::from_mins(2);

pub struct SqliteStore {
    location: Location,
    db: PathBuf,
    conn: Option<Connection>,
    /// Whether a write of this connection committed: the store has the current schema.
    upgraded: bool,
}

impl SqliteStore {
    /// Opens the database at `location` if it is there (checked), or prepares to create it.
    pub fn open(location: &Location, warnings: &mut Vec<String>) -> Result<SqliteStore, KeyError> {
        let Some(db) = location.file() else {
            return Err(KeyError::Conflict("not a file location".into()));
        };
        let db = db.to_path_buf();
        if let Some(dir) = parent(&db)
            && dir.exists()
        {
            super::check_folder(dir)?;
        }
        let conn = match fs::symlink_metadata(&db) {
            Ok(m) if m.is_file() => {
                warn_if_readable(&db, warnings);
                for side in ["-wal", "-shm"] {
                    let p = suffixed(&db, side);
                    if p.exists() {
                        warn_if_readable(&p, warnings);
                    }
                }
                Some(open_checked(location, &db)?)
            }
            Ok(_) => {
                return Err(KeyError::Damaged {
                    location: db.display().to_string(),
                    reason: "it is not a regular file".into(),
                    backup: backup_path(&db),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(KeyError::Io { path: db, source }),
        };
        Ok(SqliteStore {
            location: location.clone(),
            db,
            conn,
            upgraded: false,
        })
    }

    fn conn(&self) -> Result<&Connection, KeyError> {
        self.conn
            .as_ref()
            .ok_or_else(|| KeyError::Conflict("the key store has not been created yet".into()))
    }
}

fn parent(p: &Path) -> Option<&Path> {
    p.parent().filter(|d| !d.as_os_str().is_empty())
}

pub fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// `key.db` → `key.bak`.
pub fn backup_path(db: &Path) -> PathBuf {
    if db.extension().is_some_and(|e| e == "db") {
        db.with_extension("bak")
    } else {
        suffixed(db, ".bak")
    }
}

fn warn_if_readable(path: &Path, warnings: &mut Vec<String>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::metadata(path) {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warnings.push(format!(
                    "the key store {} can be read by other users (mode {mode:03o}); run: chmod 600 {}",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, warnings);
}

fn map_err(location: &Location, e: rusqlite::Error) -> KeyError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return KeyError::Busy {
                    location: location.to_string(),
                };
            }
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return KeyError::Damaged {
                    location: location.to_string(),
                    reason: e.to_string(),
                    backup: location.file().map(backup_path).unwrap_or_default(),
                };
            }
            ErrorCode::ConstraintViolation => {
                return KeyError::Changed {
                    location: location.to_string(),
                };
            }
            _ => {}
        }
    }
    KeyError::Db {
        location: location.to_string(),
        reason: e.to_string(),
    }
}

fn connect(location: &Location, db: &Path, create: bool) -> Result<Connection, KeyError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(db, flags).map_err(|e| map_err(location, e))?;
    conn.busy_timeout(BUSY_WAIT).map_err(|e| map_err(location, e))?;
    // A key of a million patients has indexes of some hundred MB: a page cache of 64 MiB
    // (instead of 2) keeps large imports and allocations from reading the same pages again.
    conn.pragma_update(None, "cache_size", -65536)
        .map_err(|e| map_err(location, e))?;
    Ok(conn)
}

/// Opens an existing database: checked before anything could write to it (setting WAL mode
/// writes its header), so a damaged file stays exactly as it was.
fn open_checked(location: &Location, db: &Path) -> Result<Connection, KeyError> {
    let damaged = |reason: String| KeyError::Damaged {
        location: db.display().to_string(),
        reason,
        backup: backup_path(db),
    };
    let conn = connect(location, db, false)?;
    let check: Result<Vec<String>, rusqlite::Error> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect());
    match check {
        Ok(rows) if rows == ["ok"] => {}
        Ok(rows) => return Err(damaged(format!("integrity check: {}", rows.join("; ")))),
        Err(e) => return Err(damaged(e.to_string())),
    }
    let rows = read_meta(&conn).map_err(|e| damaged(format!("not a dams key store ({e})")))?;
    Meta::from_rows(&rows).map_err(damaged)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| map_err(location, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(KeyError::Db {
            location: location.to_string(),
            reason: format!(
                "the database cannot use WAL mode here (mode {mode}): is it on a network file system? Use a postgres:// key store to share a key between machines"
            ),
        });
    }
    // Every commit reaches the disk before dams goes on to write files carrying its codes.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| map_err(location, e))?;
    Ok(conn)
}

fn read_meta(conn: &Connection) -> Result<HashMap<String, String>, rusqlite::Error> {
    let mut s = conn.prepare_cached("SELECT k, v FROM dams_meta")?;
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

fn create_file_private(path: &Path) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn temp_name(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    path.with_file_name(format!(".{name}.{what}-{}-{nanos}", std::process::id()))
}

impl Backend for SqliteStore {
    fn describe(&mut self) -> String {
        format!("SQLite {} (embedded, WAL)", rusqlite::version())
    }

    fn exists(&self) -> bool {
        self.conn.is_some()
    }

    fn create(&mut self, meta: &Meta, fill: &mut TxFn<'_>) -> Result<bool, KeyError> {
        if self.conn.is_some() {
            return Ok(false);
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        let dir = parent(&self.db).map(Path::to_path_buf);
        if let Some(dir) = &dir {
            super::create_private_dir(dir).map_err(io(dir))?;
            super::check_folder(dir)?;
        }
        // Made complete under a temporary name, then linked in place: a store is there whole or
        // not at all, and two processes creating it at once cannot replace each other's.
        let tmp = temp_name(&self.db, "new");
        create_file_private(&tmp).map_err(io(&tmp))?;
        let built = (|| -> Result<(), KeyError> {
            let conn = connect(&self.location, &tmp, false)?;
            let le = |e| map_err(&self.location, e);
            conn.execute_batch(SCHEMA).map_err(le)?;
            let tx = conn.unchecked_transaction().map_err(le)?;
            {
                let mut t = SqliteTx {
                    conn: &tx,
                    location: &self.location,
                };
                t.set_meta(meta)?;
                fill(&mut t)?;
            }
            tx.commit().map_err(le)?;
            drop(conn);
            fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))
        })();
        let linked = built.and_then(|()| match fs::hard_link(&tmp, &self.db) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(KeyError::Io {
                path: self.db.clone(),
                source,
            }),
        });
        let _ = fs::remove_file(&tmp);
        let _ = fs::remove_file(suffixed(&tmp, "-journal"));
        let created = linked?;
        if let Some(dir) = &dir {
            crate::atomic::sync_dir(dir).map_err(io(dir))?;
        }
        self.conn = Some(open_checked(&self.location, &self.db)?);
        if created {
            self.after_change()?;
        }
        Ok(created)
    }

    fn load(&mut self, since: Cursor) -> Result<Loaded, KeyError> {
        let location = self.location.clone();
        let le = |e| map_err(&location, e);
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction().map_err(le)?;
        let meta = Meta::from_rows(&read_meta(&tx).map_err(le)?).map_err(|reason| KeyError::Damaged {
            location: location.to_string(),
            reason,
            backup: backup_path(&self.db),
        })?;
        let mut cursor = since;
        let mut entries = Vec::new();
        {
            // A store of schema 2 has no offsets yet (and is not changed by reading it).
            let offset = if meta.schema >= 3 { "date_offset" } else { "NULL" };
            let mut s = tx
                .prepare_cached(&format!(
                    "SELECT seq, patient_key, code, patient_name, birth_date, source, added, {offset} FROM dams_entries WHERE seq > ?1 ORDER BY seq"
                ))
                .map_err(le)?;
            let mut rows = s.query([since.entries]).map_err(le)?;
            while let Some(r) = rows.next().map_err(le)? {
                cursor.entries = r.get(0).map_err(le)?;
                entries.push(KeyEntry {
                    patient_id: r.get(1).map_err(le)?,
                    code: r.get(2).map_err(le)?,
                    patient_name: r.get(3).map_err(le)?,
                    birth_date: r.get(4).map_err(le)?,
                    source: r.get(5).map_err(le)?,
                    added: r.get(6).map_err(le)?,
                    date_offset: r.get(7).map_err(le)?,
                });
            }
        }
        let mut seen = Vec::new();
        {
            let mut s = tx
                .prepare_cached("SELECT seq, fold FROM dams_seen_ids WHERE seq > ?1 ORDER BY seq")
                .map_err(le)?;
            let mut rows = s.query([since.seen]).map_err(le)?;
            while let Some(r) = rows.next().map_err(le)? {
                cursor.seen = r.get(0).map_err(le)?;
                seen.push(r.get(1).map_err(le)?);
            }
        }
        tx.finish().map_err(le)?;
        Ok(Loaded {
            meta,
            entries,
            seen,
            cursor,
        })
    }

    fn read(&mut self, f: &mut TxFn<'_>) -> Result<(), KeyError> {
        let location = &self.location;
        let le = |e| map_err(location, e);
        let conn = self
            .conn
            .as_ref()
            .ok_or_else(|| KeyError::Conflict("the key store has not been created yet".into()))?;
        // Deferred: a read lock on the first statement, one snapshot for the whole of `f`.
        let tx = conn.unchecked_transaction().map_err(le)?;
        f(&mut SqliteTx { conn: &tx, location })?;
        tx.finish().map_err(le)
    }

    fn write(&mut self, f: &mut TxFn<'_>) -> Result<(), KeyError> {
        let location = &self.location;
        let le = |e| map_err(location, e);
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| KeyError::Conflict("the key store has not been created yet".into()))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(le)?;
        let mut t = SqliteTx { conn: &tx, location };
        if !self.upgraded {
            upgrade(&mut t)?;
        }
        f(&mut t)?;
        failpoint("key-commit");
        tx.commit().map_err(le)?;
        self.upgraded = true;
        Ok(())
    }

    fn read_workspace(&mut self, folder: &str) -> Result<Option<String>, KeyError> {
        let location = self.location.clone();
        let conn = self.conn()?;
        conn.query_row("SELECT doc FROM dams_workspaces WHERE folder = ?1", [folder], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| map_err(&location, e))
    }

    fn after_change(&mut self) -> Result<(), KeyError> {
        let bak = backup_path(&self.db);
        let tmp = temp_name(&bak, "tmp");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        create_file_private(&tmp).map_err(io(&tmp))?;
        let result = (|| {
            let conn = self.conn()?;
            let le = |e| map_err(&self.location, e);
            let mut dst = Connection::open(&tmp).map_err(le)?;
            {
                let b = rusqlite::backup::Backup::new(conn, &mut dst).map_err(le)?;
                // All pages in one step: the source is read in one go, without pauses.
                if b.step(-1).map_err(le)? != rusqlite::backup::StepResult::Done {
                    return Err(KeyError::Db {
                        location: self.location.to_string(),
                        reason: "its backup could not be completed (database busy)".into(),
                    });
                }
            }
            drop(dst);
            fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
            fs::rename(&tmp, &bak).map_err(io(&bak))?;
            if let Some(dir) = parent(&bak) {
                crate::atomic::sync_dir(dir).map_err(io(dir))?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    location: &'a Location,
}

impl SqliteTx<'_> {
    fn err(&self, e: rusqlite::Error) -> KeyError {
        map_err(self.location, e)
    }
}

impl Tx for SqliteTx<'_> {
    fn cursor(&mut self) -> Result<Cursor, KeyError> {
        self.conn
            .query_row(
                "SELECT (SELECT coalesce(max(seq), 0) FROM dams_entries), (SELECT coalesce(max(seq), 0) FROM dams_seen_ids)",
                [],
                |r| {
                    Ok(Cursor {
                        entries: r.get(0)?,
                        seen: r.get(1)?,
                    })
                },
            )
            .map_err(|e| self.err(e))
    }

    fn meta(&mut self) -> Result<Meta, KeyError> {
        let rows = read_meta(self.conn).map_err(|e| self.err(e))?;
        Meta::from_rows(&rows).map_err(|reason| KeyError::Damaged {
            location: self.location.to_string(),
            reason,
            backup: self.location.file().map(backup_path).unwrap_or_default(),
        })
    }

    fn set_meta(&mut self, meta: &Meta) -> Result<(), KeyError> {
        let mut s = self
            .conn
            .prepare_cached("INSERT INTO dams_meta (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v")
            .map_err(|e| self.err(e))?;
        for (k, v) in meta.rows() {
            s.execute(params![k, v]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn codes_of(&mut self, keys: &[&str]) -> Result<HashMap<String, String>, KeyError> {
        let mut s = self
            .conn
            .prepare_cached("SELECT code FROM dams_entries WHERE patient_key = ?1")
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for k in keys {
            if let Some(c) = s
                .query_row([k], |r| r.get::<_, String>(0))
                .optional()
                .map_err(|e| self.err(e))?
            {
                out.insert(k.to_string(), c);
            }
        }
        Ok(out)
    }

    fn code_folds(&mut self, folds: &[&str]) -> Result<HashMap<String, String>, KeyError> {
        let mut s = self
            .conn
            .prepare_cached("SELECT patient_key FROM dams_entries WHERE code_fold = ?1")
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for f in folds {
            if let Some(k) = s
                .query_row([f], |r| r.get::<_, String>(0))
                .optional()
                .map_err(|e| self.err(e))?
            {
                out.insert(f.to_string(), k);
            }
        }
        Ok(out)
    }

    fn entries_by(&mut self, by: By, values: &[&str], offsets: bool) -> Result<Vec<KeyEntry>, KeyError> {
        let column = match by {
            By::Key => "patient_key",
            By::CodeFold => "code_fold",
        };
        let offset = if offsets { "date_offset" } else { "NULL" };
        let mut s = self
            .conn
            .prepare_cached(&format!(
                "SELECT patient_key, code, patient_name, birth_date, source, added, {offset} FROM dams_entries WHERE {column} = ?1"
            ))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for v in values {
            let found = s
                .query_row([v], |r| {
                    Ok(KeyEntry {
                        patient_id: r.get(0)?,
                        code: r.get(1)?,
                        patient_name: r.get(2)?,
                        birth_date: r.get(3)?,
                        source: r.get(4)?,
                        added: r.get(5)?,
                        date_offset: r.get(6)?,
                    })
                })
                .optional()
                .map_err(|e| self.err(e))?;
            out.extend(found);
        }
        Ok(out)
    }

    fn seen(&mut self, folds: &[&str]) -> Result<HashSet<String>, KeyError> {
        let mut s = self
            .conn
            .prepare_cached("SELECT 1 FROM dams_seen_ids WHERE fold = ?1")
            .map_err(|e| self.err(e))?;
        let mut out = HashSet::new();
        for f in folds {
            if s.exists([f]).map_err(|e| self.err(e))? {
                out.insert(f.to_string());
            }
        }
        Ok(out)
    }

    fn insert_entries(&mut self, rows: &[KeyEntry]) -> Result<(), KeyError> {
        let mut s = self
            .conn
            .prepare_cached(
                "INSERT INTO dams_entries (patient_key, code, code_fold, patient_name, birth_date, source, added, date_offset) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(|e| self.err(e))?;
        for e in rows {
            s.execute(params![
                e.patient_id,
                e.code,
                super::rules::fold_code(&e.code),
                e.patient_name,
                e.birth_date,
                e.source,
                e.added,
                e.date_offset
            ])
            .map_err(|err| self.err(err))?;
        }
        Ok(())
    }

    fn offsets_of(&mut self, keys: &[&str]) -> Result<HashMap<String, Option<i32>>, KeyError> {
        let mut s = self
            .conn
            .prepare_cached("SELECT date_offset FROM dams_entries WHERE patient_key = ?1")
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for k in keys {
            if let Some(d) = s
                .query_row([k], |r| r.get::<_, Option<i32>>(0))
                .optional()
                .map_err(|e| self.err(e))?
            {
                out.insert(k.to_string(), d);
            }
        }
        Ok(out)
    }

    fn set_offsets(&mut self, rows: &[(&str, i32)]) -> Result<(), KeyError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut s = self
            .conn
            .prepare_cached("UPDATE dams_entries SET date_offset = ?2 WHERE patient_key = ?1 AND date_offset IS NULL")
            .map_err(|e| self.err(e))?;
        for (k, d) in rows {
            s.execute(params![k, d]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn alter(&mut self, sql: &str) -> Result<(), KeyError> {
        self.conn.execute_batch(sql).map_err(|e| self.err(e))
    }

    fn insert_seen(&mut self, folds: &[&str]) -> Result<(), KeyError> {
        let mut s = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO dams_seen_ids (fold) VALUES (?1)")
            .map_err(|e| self.err(e))?;
        for f in folds {
            s.execute([f]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn workspace(&mut self, folder: &str) -> Result<Option<String>, KeyError> {
        self.conn
            .query_row("SELECT doc FROM dams_workspaces WHERE folder = ?1", [folder], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    fn put_workspace(&mut self, folder: &str, doc: &str) -> Result<(), KeyError> {
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        self.conn
            .execute(
                "INSERT INTO dams_workspaces (folder, doc, updated) VALUES (?1, ?2, ?3) ON CONFLICT (folder) DO UPDATE SET doc = excluded.doc, updated = excluded.updated",
                params![folder, doc, now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

//! The key store: original patient identifiers ↔ codes. The only place where original
//! identifiers are kept; written atomically, owner-only, checksummed, with a backup, under
//! a lock, and never silently replaced when damaged.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const FORMAT: &str = "dams-key";
const VERSION: u32 = 1;
pub const DEFAULT_PREFIX: &str = "P";
pub const DEFAULT_DIGITS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The original PatientID (0010,0020).
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    version: u32,
    prefix: String,
    digits: usize,
    /// The next number a generated code gets; never goes back, so codes are never reused.
    next: u64,
    /// Hex secret for deterministic UIDs; whoever shares the key gets the same UIDs.
    secret: String,
    entries: Vec<KeyEntry>,
    /// SHA-256 over the rest of the file: a damaged or hand-mangled key is refused.
    #[serde(default)]
    checksum: String,
}

impl KeyFile {
    fn digest(&self) -> String {
        let mut copy = self.clone();
        copy.checksum.clear();
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        hex(&Sha256::digest(&bytes))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "key store {path} is damaged ({reason}); dams will not use or overwrite it. Restore it from {path}.bak or your backup"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error("key store {path} was changed by another dams process since it was read; run the command again")]
    Changed { path: PathBuf },
    #[error("{0}")]
    Conflict(String),
    #[error("{file}: {message}")]
    Import { file: PathBuf, message: String },
    #[error("no data folder for the key store on this system; pass --key FILE")]
    NoDataDir,
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
}

#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    file: KeyFile,
    /// Checksum of the version read from disk (`None`: no file yet).
    loaded: Option<String>,
    /// Things the user should know (e.g. permissions too open).
    pub warnings: Vec<String>,
}

/// The folder for dams' own state (key store, review state, logs): `DAMS_DATA_DIR` if set,
/// else the platform's data folder (e.g. `~/.local/share/dams`).
pub fn data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DAMS_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "dams").map(|d| d.data_dir().to_path_buf())
}

impl KeyStore {
    pub fn default_path() -> Result<PathBuf, KeyError> {
        data_dir().map(|d| d.join("key.json")).ok_or(KeyError::NoDataDir)
    }

    /// Opens the key store at `path`; a missing file gives an empty store (written on first
    /// use). A damaged file is an error.
    pub fn open(path: &Path) -> Result<KeyStore, KeyError> {
        let io_err = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        match fs::read(path) {
            Ok(bytes) => {
                #[cfg_attr(not(unix), allow(unused_mut))]
                let mut warnings = Vec::new();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = fs::metadata(path).map_err(io_err)?.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        warnings.push(format!(
                            "the key store {} can be read by other users (mode {mode:03o}); run: chmod 600 {}",
                            path.display(),
                            path.display()
                        ));
                    }
                }
                let file = parse(path, &bytes)?;
                Ok(KeyStore {
                    path: path.to_path_buf(),
                    loaded: Some(file.checksum.clone()),
                    file,
                    warnings,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(KeyStore {
                path: path.to_path_buf(),
                file: KeyFile {
                    format: FORMAT.into(),
                    version: VERSION,
                    prefix: DEFAULT_PREFIX.into(),
                    digits: DEFAULT_DIGITS,
                    next: 1,
                    secret: new_secret().map_err(io_err)?,
                    entries: Vec::new(),
                    checksum: String::new(),
                },
                loaded: None,
                warnings: Vec::new(),
            }),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Opens the key store, creating it (with its secret, no codes) if there is none yet.
    /// Anything that plans needs this: UIDs derived from the secret must be the same in the
    /// plan that is shown and in what is written later, by this process or another.
    pub fn open_or_create(path: &Path) -> Result<KeyStore, KeyError> {
        let mut key = KeyStore::open(path)?;
        if !key.exists() {
            key.save()?;
        }
        Ok(key)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.loaded.is_some()
    }

    pub fn prefix(&self) -> &str {
        &self.file.prefix
    }

    pub fn digits(&self) -> usize {
        self.file.digits
    }

    /// Sets how new codes look. Only allowed while no code has been generated.
    pub fn set_format(&mut self, prefix: &str, digits: usize) -> Result<(), KeyError> {
        if self.file.entries.iter().any(|e| e.source == "generated") {
            return Err(KeyError::Conflict(
                "the key store already has generated codes; their prefix cannot change".into(),
            ));
        }
        check_format(prefix, digits).map_err(KeyError::Conflict)?;
        self.file.prefix = prefix.to_string();
        self.file.digits = digits;
        Ok(())
    }

    pub fn entries(&self) -> &[KeyEntry] {
        &self.file.entries
    }

    pub fn code_for(&self, patient_id: &str) -> Option<&str> {
        self.file
            .entries
            .iter()
            .find(|e| e.patient_id == patient_id)
            .map(|e| e.code.as_str())
    }

    pub fn entry_by_code(&self, code: &str) -> Option<&KeyEntry> {
        self.file.entries.iter().find(|e| e.code == code)
    }

    /// The secret behind deterministic UIDs (32 bytes).
    pub fn secret(&self) -> Vec<u8> {
        // Byte pairs, not string slices: a secret is checked to be hex when the file is read,
        // and slicing a str at a byte offset would panic on anything else.
        self.file
            .secret
            .as_bytes()
            .chunks_exact(2)
            .filter_map(|pair| std::str::from_utf8(pair).ok())
            .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
            .collect()
    }

    fn format_code(&self, n: u64) -> String {
        format!("{}{:0width$}", self.file.prefix, n, width = self.file.digits)
    }

    /// Codes for patients the store does not know yet, in a fixed order (sorted by
    /// PatientID), so the same input always gets the same codes. Writes nothing.
    pub fn propose(&self, patients: &[(String, String, String)]) -> Vec<NewEntry> {
        let mut unknown: Vec<&(String, String, String)> = patients
            .iter()
            .filter(|(id, _, _)| self.code_for(id).is_none())
            .collect();
        unknown.sort_by(|a, b| a.0.cmp(&b.0));
        unknown.dedup_by(|a, b| a.0 == b.0);
        let mut n = self.file.next;
        let mut out = Vec::new();
        for (id, name, birth) in unknown {
            let mut code = self.format_code(n);
            while self.entry_by_code(&code).is_some() {
                // An imported code can push the counter to the end of its range; then there
                // are no more codes to give (the patients left over are reported by the plan).
                let Some(next) = n.checked_add(1) else { return out };
                n = next;
                code = self.format_code(n);
            }
            out.push(NewEntry {
                patient_id: id.clone(),
                code,
                patient_name: name.clone(),
                birth_date: birth.clone(),
            });
            let Some(next) = n.checked_add(1) else { return out };
            n = next;
        }
        out
    }

    /// Adds proposed entries and saves, under the lock. Refuses if the file changed on disk
    /// since it was read (another dams run), because the proposal may no longer hold.
    pub fn commit(&mut self, new: &[NewEntry]) -> Result<(), KeyError> {
        let _lock = self.lock()?;
        self.check_unchanged()?;
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        for e in new {
            if self.code_for(&e.patient_id).is_some() {
                continue;
            }
            if self.entry_by_code(&e.code).is_some() {
                return Err(KeyError::Conflict(format!("code {} is already in use", e.code)));
            }
            self.file.entries.push(KeyEntry {
                patient_id: e.patient_id.clone(),
                code: e.code.clone(),
                patient_name: e.patient_name.clone(),
                birth_date: e.birth_date.clone(),
                source: "generated".into(),
                added: now.clone(),
            });
            if let Some(num) = e
                .code
                .strip_prefix(&self.file.prefix)
                .and_then(|d| d.parse::<u64>().ok())
            {
                self.file.next = self.file.next.max(num.saturating_add(1));
            }
        }
        self.save_locked()
    }

    /// Saves the store as it is (e.g. after `key init`).
    pub fn save(&mut self) -> Result<(), KeyError> {
        let _lock = self.lock()?;
        self.check_unchanged()?;
        self.save_locked()
    }

    fn check_unchanged(&self) -> Result<(), KeyError> {
        let on_disk = match fs::read(&self.path) {
            Ok(bytes) => Some(parse(&self.path, &bytes)?.checksum),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(KeyError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        if on_disk != self.loaded {
            return Err(KeyError::Changed {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn lock(&self) -> Result<File, KeyError> {
        let io_err = |source| KeyError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(io_err)?;
        }
        let lock_path = with_suffix(&self.path, ".lock");
        let mut opts = fs::OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts.open(&lock_path).map_err(io_err)?;
        f.lock().map_err(io_err)?;
        Ok(f)
    }

    fn save_locked(&mut self) -> Result<(), KeyError> {
        let io_err = |source| KeyError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.entries.sort_by(|a, b| a.code.cmp(&b.code));
        self.file.checksum = self.file.digest();
        let mut json = serde_json::to_vec_pretty(&self.file).map_err(|e| io_err(io::Error::other(e)))?;
        json.push(b'\n');
        // Keep the previous version: a hard link survives the rename below.
        if self.loaded.is_some() {
            let bak = with_suffix(&self.path, ".bak");
            let tmp_bak = with_suffix(&self.path, ".bak.tmp");
            let _ = fs::remove_file(&tmp_bak);
            fs::hard_link(&self.path, &tmp_bak)
                .or_else(|_| fs::copy(&self.path, &tmp_bak).map(|_| ()))
                .map_err(io_err)?;
            fs::rename(&tmp_bak, &bak).map_err(io_err)?;
        }
        crate::atomic::write_file(&self.path, 0o600, |w| w.write_all(&json)).map_err(io_err)?;
        self.loaded = Some(self.file.checksum.clone());
        Ok(())
    }

    /// Imports codes from a CSV table with a header row. `id_column`/`code_column` name the
    /// columns; when not given, common names are recognised. All rows are checked before
    /// anything is added: a conflict anywhere imports nothing.
    pub fn import_csv(
        &mut self,
        file: &Path,
        id_column: Option<&str>,
        code_column: Option<&str>,
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
        let find = |given: Option<&str>, defaults: &[&str], what: &str| -> Result<usize, KeyError> {
            let norm = |s: &str| s.to_lowercase().replace([' ', '_', '-'], "");
            let wanted: Vec<String> = match given {
                Some(g) => vec![norm(g)],
                None => defaults.iter().map(|d| norm(d)).collect(),
            };
            headers.iter().position(|h| wanted.contains(&norm(h))).ok_or_else(|| {
                err(format!(
                    "no {what} column (header has: {}); name it with --{}-column",
                    headers.join(", "),
                    if what == "PatientID" { "id" } else { "code" }
                ))
            })
        };
        let id_col = find(id_column, &["PatientID", "patient_id", "ID", "PID"], "PatientID")?;
        let code_col = find(
            code_column,
            &["code", "pseudonym", "subject", "SubjectID", "study_id"],
            "code",
        )?;

        let mut rows: Vec<(String, String, usize)> = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| err(format!("line {line}: {e}")))?;
            // A table dams exported (or a spreadsheet saved) guards formula-like cells with
            // a leading `'`: it is not part of the value.
            let cell = |c: usize| crate::shown::from_spreadsheet(rec.get(c).unwrap_or("").trim()).to_string();
            let (id, code) = (cell(id_col), cell(code_col));
            if id.is_empty() && code.is_empty() {
                continue;
            }
            if id.is_empty() || code.is_empty() {
                return Err(err(format!("line {line}: PatientID or code is empty")));
            }
            if !valid_code(&code) {
                return Err(err(format!(
                    "line {line}: a code may hold only letters, digits, '-', '_' and '.', at most 64, and not start with '.' (it becomes PatientID, PatientName and a folder name)"
                )));
            }
            rows.push((id, code, line));
        }
        let mut problems = Vec::new();
        for (a, (id, code, line)) in rows.iter().enumerate() {
            if let Some(existing) = self.code_for(id)
                && existing != code
            {
                problems.push(format!(
                    "line {line}: this PatientID already has code {existing} in the key store"
                ));
            }
            if let Some(e) = self.entry_by_code(code)
                && e.patient_id != *id
            {
                problems.push(format!("line {line}: code {code} already belongs to another patient"));
            }
            for (id2, code2, line2) in &rows[..a] {
                if id2 == id && code2 != code {
                    problems.push(format!("line {line}: same PatientID as line {line2} with another code"));
                }
                if code2 == code && id2 != id {
                    problems.push(format!("line {line}: same code as line {line2} for another PatientID"));
                }
            }
        }
        if !problems.is_empty() {
            return Err(err(format!("nothing imported:\n  {}", problems.join("\n  "))));
        }
        let _lock = self.lock()?;
        self.check_unchanged()?;
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let mut added = 0;
        for (id, code, _) in rows {
            if self.code_for(&id).is_some() {
                continue;
            }
            if let Some(num) = code.strip_prefix(&self.file.prefix).and_then(|d| d.parse::<u64>().ok()) {
                self.file.next = self.file.next.max(num.saturating_add(1));
            }
            self.file.entries.push(KeyEntry {
                patient_id: id,
                code,
                patient_name: String::new(),
                birth_date: String::new(),
                source: "imported".into(),
                added: now.clone(),
            });
            added += 1;
        }
        self.save_locked()?;
        Ok(added)
    }

    /// Writes the key as CSV (a table that opens in any spreadsheet).
    pub fn export_csv(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["code", "patient_id", "patient_name", "birth_date", "source", "added"])?;
        // Cells a spreadsheet would run as a formula are guarded (`key import` takes the
        // guard off again).
        for e in &self.file.entries {
            let cells = [
                &e.code,
                &e.patient_id,
                &e.patient_name,
                &e.birth_date,
                &e.source,
                &e.added,
            ];
            w.write_record(
                cells
                    .map(|c| crate::shown::spreadsheet_cell(c))
                    .iter()
                    .map(|c| c.as_bytes()),
            )?;
        }
        w.flush()
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<KeyFile, KeyError> {
    let damaged = |reason: String| KeyError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let file: KeyFile = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
        .map_err(|e| damaged(format!("not readable: {}", unreadable_reason(&e))))?;
    if file.format != FORMAT {
        return Err(damaged(
            "not a dams key file (its format field says something else)".into(),
        ));
    }
    if file.version != VERSION {
        return Err(damaged(format!(
            "version {} is not supported by this dams",
            file.version
        )));
    }
    if file.checksum != file.digest() {
        return Err(damaged("checksum does not match its content".into()));
    }
    if file.secret.len() != 64 || !file.secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(damaged("its secret is not 64 hexadecimal digits".into()));
    }
    // Edited by hand and given a matching checksum: a huge `digits` would make every code
    // allocate without bound, a prefix with '/' would put codes into paths.
    check_format(&file.prefix, file.digits).map_err(|e| damaged(format!("its code format is refused: {e}")))?;
    if file.next == 0 {
        return Err(damaged("its next code number is 0; codes start at 1".into()));
    }
    Ok(file)
}

/// Why a key file could not be read, naming the field and the place, never the value: the
/// file holds original identifiers, and serde's own messages quote what they found
/// (`invalid type: integer 778899123`).
fn unreadable_reason(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = e.inner();
    let field = e.path().to_string();
    let at = format!("line {} column {}", inner.line(), inner.column());
    let what = match inner.classify() {
        Category::Io => "it cannot be read",
        Category::Syntax => "it is not valid JSON",
        Category::Eof => "it ends too early",
        Category::Data => "a field is missing or holds a value of the wrong kind",
    };
    if field.is_empty() || field == "." {
        format!("{what} ({at})")
    } else {
        format!("{what} (field {field}, {at})")
    }
}

/// The limits on how codes look, for `set_format` and for a file being read.
/// A code that is safe as PatientID (LO), PatientName (PN: no '^' or '='), and as a file or
/// folder name (no separator, not `.` or `..`, nothing hidden).
fn valid_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && !code.starts_with('.')
        && code.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn check_format(prefix: &str, digits: usize) -> Result<(), String> {
    if !(1..=12).contains(&digits) {
        return Err("digits must be between 1 and 12".into());
    }
    // The codes made from it must be valid codes (as PatientID, PatientName and folder name),
    // up to the largest number a code can have (20 digits).
    if prefix.is_empty() || !valid_code(&format!("{prefix}{}", "0".repeat(digits.max(20)))) {
        return Err(
            "a code prefix is made of letters, digits, '-', '_' or '.', does not start with '.', and fits in 64 characters with a code's number"
                .into(),
        );
    }
    Ok(())
}

fn new_secret() -> io::Result<String> {
    let mut b = [0u8; 32];
    // Without system randomness there is no safe secret; a fixed one would make the new UIDs
    // guessable, so refuse instead.
    getrandom::fill(&mut b).map_err(|e| io::Error::other(format!("no system randomness for the key secret: {e}")))?;
    Ok(hex(&b))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Creates the folder (and parents) for dams' state, owner-only where it is new.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // The folders created here, so that each one's entry in its parent is made durable too:
    // the key store's own fsync of its folder does not cover a folder that is new.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_codes_must_be_safe_names() {
        for ok in ["P0001", "STUDY-12_a.b", "7"] {
            assert!(valid_code(ok), "{ok}");
        }
        for bad in [
            "../x",
            "a/b",
            "..",
            ".hidden",
            "A^B",
            "A=B",
            "a b",
            "",
            &"x".repeat(65),
            "Müller",
        ] {
            assert!(!valid_code(bad), "{bad}");
        }
    }

    fn patients(ids: &[&str]) -> Vec<(String, String, String)> {
        ids.iter()
            .map(|i| (i.to_string(), format!("NAME^{i}"), "19700101".into()))
            .collect()
    }

    #[test]
    fn codes_are_deterministic_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let mut k = KeyStore::open(&path).unwrap();
        let p = k.propose(&patients(&["B", "A", "C", "A"]));
        let codes: Vec<_> = p.iter().map(|e| (e.patient_id.as_str(), e.code.as_str())).collect();
        assert_eq!(codes, vec![("A", "P0001"), ("B", "P0002"), ("C", "P0003")]);
        k.commit(&p).unwrap();
        let k = KeyStore::open(&path).unwrap();
        assert_eq!(k.code_for("B"), Some("P0002"));
        // A later run adds new patients after the existing ones, old codes unchanged.
        let p = k.propose(&patients(&["0", "B"]));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, "P0004");
    }

    #[cfg(unix)]
    #[test]
    fn written_owner_only_with_backup() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("key.json");
        let mut k = KeyStore::open(&path).unwrap();
        let p = k.propose(&patients(&["A"]));
        k.commit(&p).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let p = k.propose(&patients(&["B"]));
        k.commit(&p).unwrap();
        let bak = KeyStore::open(&with_suffix(&path, ".bak")).unwrap();
        assert_eq!(bak.entries().len(), 1);
        assert_eq!(KeyStore::open(&path).unwrap().entries().len(), 2);
    }

    #[test]
    fn damaged_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let mut k = KeyStore::open(&path).unwrap();
        let p = k.propose(&patients(&["A", "B"]));
        k.commit(&p).unwrap();
        let good = fs::read(&path).unwrap();
        fs::write(&path, &good[..good.len() / 2]).unwrap();
        let err = KeyStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert_eq!(
            fs::read(&path).unwrap(),
            &good[..good.len() / 2],
            "damaged file untouched"
        );
        // An edited entry (valid JSON, wrong checksum) is refused too.
        let edited = String::from_utf8(good).unwrap().replace("P0002", "P0009");
        fs::write(&path, edited).unwrap();
        assert!(KeyStore::open(&path).unwrap_err().to_string().contains("checksum"));
    }

    /// A file edited by hand and given a matching checksum is still checked: a secret that is
    /// not hex is refused (it once made `secret()` slice a string mid-character), and a code
    /// at the end of the number range does not overflow the counter.
    #[test]
    fn edited_but_checksummed_file_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let mut k = KeyStore::open(&path).unwrap();
        k.save().unwrap();
        let mut file = parse(&path, &fs::read(&path).unwrap()).unwrap();
        file.secret = "é".repeat(32);
        file.checksum = file.digest();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let err = KeyStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("secret"), "{err}");

        let path = dir.path().join("k2.json");
        let csv = dir.path().join("k.csv");
        fs::write(&csv, format!("PatientID,code\nA,P{}\n", u64::MAX)).unwrap();
        let mut k = KeyStore::open(&path).unwrap();
        assert_eq!(k.import_csv(&csv, None, None).unwrap(), 1);
        assert_eq!(k.file.next, u64::MAX);
        let p = k.propose(&patients(&["B", "C"]));
        assert_eq!(p.len(), 0, "no code left to give, and no panic");
    }

    /// The code format of a hand-edited file with a matching checksum is held to the limits of
    /// `set_format`: a huge `digits` once made every new code allocate without bound.
    #[test]
    fn edited_code_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let mut k = KeyStore::open(&path).unwrap();
        k.save().unwrap();
        let good = parse(&path, &fs::read(&path).unwrap()).unwrap();
        type Edit = fn(&mut KeyFile);
        let edits: [(&str, Edit); 7] = [
            ("digits", |f| f.digits = usize::MAX),
            ("digits", |f| f.digits = 0),
            ("prefix", |f| f.prefix = "../".into()),
            ("prefix", |f| f.prefix = String::new()),
            // Codes that would be hidden folder names, or too long for a PatientID.
            ("prefix", |f| f.prefix = ".P".into()),
            ("prefix", |f| f.prefix = "P".repeat(50)),
            ("next", |f| f.next = 0),
        ];
        for (what, edit) in edits {
            let mut file = good.clone();
            edit(&mut file);
            file.checksum = file.digest();
            let bytes = serde_json::to_vec(&file).unwrap();
            fs::write(&path, &bytes).unwrap();
            let err = KeyStore::open(&path).unwrap_err().to_string();
            assert!(err.contains("damaged") && err.contains(what), "{what}: {err}");
            assert_eq!(fs::read(&path).unwrap(), bytes, "a refused key file is never rewritten");
        }
        // The limits themselves are accepted.
        let mut file = good.clone();
        file.digits = 12;
        file.prefix = "Study-1_a.".into();
        file.next = u64::MAX;
        file.checksum = file.digest();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let k = KeyStore::open(&path).unwrap();
        assert_eq!(k.digits(), 12);
    }

    #[test]
    fn concurrent_change_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let mut a = KeyStore::open(&path).unwrap();
        let mut b = KeyStore::open(&path).unwrap();
        let pa = a.propose(&patients(&["A"]));
        a.commit(&pa).unwrap();
        let pb = b.propose(&patients(&["B"]));
        assert!(matches!(b.commit(&pb), Err(KeyError::Changed { .. })));
    }

    #[test]
    fn import_checks_everything_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let csv = dir.path().join("k.csv");
        fs::write(&csv, "Patient ID;Pseudonym\nA;R-001\nB;R-002\n").unwrap();
        let mut k = KeyStore::open(&path).unwrap();
        assert_eq!(k.import_csv(&csv, None, None).unwrap(), 2);
        assert_eq!(k.code_for("B"), Some("R-002"));
        fs::write(&csv, "PatientID,code\nC,R-003\nA,R-999\n").unwrap();
        let err = k.import_csv(&csv, None, None).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("nothing imported"), "{err}");
        assert_eq!(k.code_for("C"), None);
        fs::write(&csv, "who,what\nC,R-003\n").unwrap();
        let err = k.import_csv(&csv, None, None).unwrap_err().to_string();
        assert!(err.contains("no PatientID column"), "{err}");
        assert_eq!(k.import_csv(&csv, Some("who"), Some("what")).unwrap(), 1);
    }
}

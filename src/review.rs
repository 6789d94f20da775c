//! Review state: the decisions made while reviewing a folder — approvals, manual links of
//! masks to CT series, XML and file assignments, which patients were written — kept in the
//! key store's own table (never in the input tree), so that closing and reopening continues
//! where one left off, on every machine that shares the store.
//!
//! It holds no original identifier: a folder is stored under a keyed hash (HMAC-SHA256 with a
//! key derived from the store's secret) of its canonical path, and every patient a decision
//! names under a keyed hash of the patient's key. In memory, [`Workspace`] speaks patient
//! keys as callers know them; hashes are resolved against the patients the caller made known
//! ([`ReviewState::know`]). Each folder's decisions are one JSON document: a field added to
//! `Workspace` is stored without a schema change (hash it in `hash_refs`/`resolve_refs` if
//! it names patients).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::key::store::{Meta, Shared, Tx};
use crate::key::{KeyError, KeyStore};

/// Where a patient stands in review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    #[default]
    Pending,
    Reviewed,
    Approved,
    Written,
    Failed,
    /// A write was cancelled after some of the patient's files were written: the output
    /// holds part of them (each one complete); writing again finishes it.
    PartlyWritten,
}

impl Status {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Reviewed => "reviewed",
            Status::Approved => "approved",
            Status::Written => "written",
            Status::Failed => "failed",
            Status::PartlyWritten => "partly written",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientReview {
    pub status: Status,
    /// When the patient was last written, and where (RFC 3339; output folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::paths::exact_opt")]
    pub written_to: Option<PathBuf>,
}

/// A patient named only by its keyed hash: the patient was not among those made known
/// (e.g. no longer in the folder). Starts with `\`, so it is never a real `PatientID`, and
/// `H` is not a kind of key dams makes.
const UNRESOLVED: &str = "\\H\\";

/// The decisions for one input folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Manual links: segmentation group key → source series UID (input UIDs).
    #[serde(default)]
    pub links: BTreeMap<String, String>,
    /// Segmentation groups whose tag repair the user switched off.
    #[serde(default)]
    pub no_repair: BTreeSet<String>,
    /// XML files (relative to the input folder) assigned by hand → patient key.
    #[serde(default, with = "crate::paths::exact_keys")]
    pub xml_assignments: BTreeMap<PathBuf, String>,
    /// DICOM files without a `PatientID`, or folders of them (relative to the input folder),
    /// assigned by hand → patient key (see [`crate::scan::Index::place_orphans`]).
    #[serde(default, with = "crate::paths::exact_keys")]
    pub file_assignments: BTreeMap<PathBuf, String>,
    /// Review status by patient key.
    #[serde(default)]
    pub patients: BTreeMap<String, PatientReview>,
    #[serde(skip)]
    hasher: Hasher,
}

impl Workspace {
    #[must_use]
    pub fn status(&self, patient_id: &str) -> Status {
        self.patient(patient_id).map(|p| p.status).unwrap_or_default()
    }

    pub fn set_status(&mut self, patient_id: &str, status: Status) {
        self.patient_mut(patient_id).status = status;
    }

    /// The review record of a patient, also when it is still named by its hash.
    #[must_use]
    pub fn patient(&self, patient_id: &str) -> Option<&PatientReview> {
        self.patients
            .get(patient_id)
            .or_else(|| self.patients.get(&self.hasher.unresolved(patient_id)?))
    }

    /// The review record of a patient, made if there is none.
    pub fn patient_mut(&mut self, patient_id: &str) -> &mut PatientReview {
        // A record kept under the patient's hash (made known after it was read) is theirs.
        if !self.patients.contains_key(patient_id)
            && let Some(h) = self.hasher.unresolved(patient_id)
            && let Some(r) = self.patients.remove(&h)
        {
            self.patients.insert(patient_id.to_string(), r);
        }
        self.patients.entry(patient_id.to_string()).or_default()
    }

    /// Whether some patient is named only by its keyed hash (not made known when read).
    #[must_use]
    pub fn has_unresolved(&self) -> bool {
        let open = |v: &String| v.starts_with(UNRESOLVED);
        self.patients.keys().any(open)
            || self.xml_assignments.values().any(open)
            || self.file_assignments.values().any(open)
    }

    /// Names the patients among `keys` by their keys where only their hash was known (e.g.
    /// once a scan found them). Cheap when nothing is unresolved.
    pub fn resolve<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        if self.hasher.0.is_none() || !self.has_unresolved() {
            return;
        }
        let known: HashMap<String, String> = keys
            .into_iter()
            .map(|k| (self.hasher.reference(k), k.to_string()))
            .collect();
        let back = |v: &str| {
            v.strip_prefix(UNRESOLVED)
                .and_then(|h| known.get(h).cloned())
                .unwrap_or_else(|| v.to_string())
        };
        let mut patients = BTreeMap::new();
        for (k, v) in std::mem::take(&mut self.patients) {
            let k = back(&k);
            // A record under the key itself wins over one found under its hash.
            patients.entry(k).or_insert(v);
        }
        self.patients = patients;
        for m in [&mut self.xml_assignments, &mut self.file_assignments] {
            for v in m.values_mut() {
                *v = back(v);
            }
        }
    }

    /// Stored form: every patient key replaced by its keyed hash.
    fn hash_refs(&self) -> Workspace {
        let r = |k: &str| self.hasher.reference(k);
        let mut w = self.clone();
        w.patients = self
            .patients
            .iter()
            .filter(|(_, v)| **v != PatientReview::default())
            .map(|(k, v)| (r(k), v.clone()))
            .collect();
        for m in [&mut w.xml_assignments, &mut w.file_assignments] {
            for v in m.values_mut() {
                *v = r(v);
            }
        }
        w
    }

    /// In-memory form: hashes of known patients back to their keys; the others marked.
    fn resolve_refs(&mut self, known: &HashMap<String, String>) {
        let back = |h: &str| known.get(h).cloned().unwrap_or_else(|| format!("{UNRESOLVED}{h}"));
        self.patients = std::mem::take(&mut self.patients)
            .into_iter()
            .map(|(k, v)| (back(&k), v))
            .collect();
        for m in [&mut self.xml_assignments, &mut self.file_assignments] {
            for v in m.values_mut() {
                *v = back(v);
            }
        }
    }
}

/// Keyed hashes for the review state, with a key derived from the store's secret (not the
/// secret itself, which also derives UIDs).
#[derive(Clone, Default)]
struct Hasher(Option<Arc<[u8; 32]>>);

impl PartialEq for Hasher {
    fn eq(&self, _: &Hasher) -> bool {
        true
    }
}

impl Eq for Hasher {}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this cannot happen.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&[0u8; 32]).expect("HMAC key")
    });
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hasher {
    fn new(secret: &[u8]) -> Hasher {
        Hasher(Some(Arc::new(hmac(secret, &[b"dams-review-v1"]))))
    }

    fn hash(&self, domain: &str, data: &[u8]) -> String {
        let key = self.0.as_deref().map(|k| &k[..]).unwrap_or(&[]);
        hex(&hmac(key, &[domain.as_bytes(), b"\0", data]))
    }

    /// The stored reference of a patient key (one already unresolved stays as it is).
    fn reference(&self, key: &str) -> String {
        match key.strip_prefix(UNRESOLVED) {
            Some(h) => h.to_string(),
            None => self.hash("patient", key.as_bytes()),
        }
    }

    fn unresolved(&self, key: &str) -> Option<String> {
        self.0.as_ref()?;
        Some(format!("{UNRESOLVED}{}", self.reference(key)))
    }

    fn folder(&self, root: &Path) -> String {
        #[cfg(unix)]
        let bytes = {
            use std::os::unix::ffi::OsStrExt;
            root.as_os_str().as_bytes().to_vec()
        };
        #[cfg(not(unix))]
        let bytes = root.to_string_lossy().as_bytes().to_vec();
        self.hash("folder", &bytes)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("review state in {0}")]
    Key(#[from] KeyError),
    #[error(
        "review state of {folder} in {location} is damaged ({reason}); dams will not overwrite it. Clear it with the database's tools to start the review afresh"
    )]
    Damaged {
        location: String,
        folder: PathBuf,
        reason: String,
    },
    #[error("review state: the key store {0} has not been created yet")]
    NoStore(String),
    #[error("review state {path} of an earlier dams is damaged ({reason}); move it away to start the review afresh")]
    Legacy { path: PathBuf, reason: String },
}

pub struct ReviewState {
    store: Shared,
    /// Whether the key store exists: before it does, there are no decisions, and none can be
    /// saved.
    exists: bool,
    location: String,
    hasher: Hasher,
    /// Patient reference → patient key, for the patients made known.
    known: HashMap<String, String>,
}

impl std::fmt::Debug for ReviewState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewState")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl ReviewState {
    /// The review state in `key`'s store. A `key.review.json` of an earlier dams beside the
    /// key is moved in (hashed) the first time, in one transaction, and kept read-only. A
    /// store not created yet has no decisions (and saving them is refused).
    ///
    /// # Errors
    ///
    /// `ReviewError` when the store or the earlier review file cannot be read, or the move cannot
    /// be written.
    pub fn open(key: &KeyStore) -> Result<ReviewState, ReviewError> {
        let mut state = ReviewState {
            store: key.shared(),
            exists: key.exists(),
            location: key.location().to_string(),
            hasher: Hasher::new(&key.secret()),
            known: HashMap::new(),
        };
        if !state.exists {
            return Ok(state);
        }
        if let Some(path) = key.legacy_review() {
            state.migrate(&path)?;
        }
        Ok(state)
    }

    /// Where the state is kept (for "saved in" messages).
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Makes patients known, so that their records read back under their keys.
    pub fn know<'a>(&mut self, patients: impl IntoIterator<Item = &'a str>) {
        for p in patients {
            self.known.insert(self.hasher.reference(p), p.to_string());
        }
    }

    fn decode(&self, root: &Path, doc: Option<&str>) -> Result<Workspace, ReviewError> {
        let mut ws: Workspace = match doc {
            Some(d) => serde_json::from_str(d).map_err(|e| ReviewError::Damaged {
                location: self.location.clone(),
                folder: root.to_path_buf(),
                reason: e.to_string(),
            })?,
            None => Workspace::default(),
        };
        ws.resolve_refs(&self.known);
        ws.hasher = self.hasher.clone();
        Ok(ws)
    }

    /// The decisions for an input folder (empty if none were made).
    ///
    /// # Errors
    ///
    /// `ReviewError` when the decisions cannot be read.
    pub fn workspace(&self, root: &Path) -> Result<Workspace, ReviewError> {
        if !self.exists {
            return self.decode(root, None);
        }
        let folder = self.hasher.folder(&canonical(root));
        let doc = self
            .store
            .lock()
            .map_err(|_| KeyError::Conflict("the key store connection was lost by a failed thread".into()))?
            .read_workspace(&folder)?;
        self.decode(root, doc.as_deref())
    }

    /// Changes the decisions for `root` and saves them, in one transaction that reads them
    /// first, so that two dams windows (or machines) do not undo each other.
    ///
    /// # Errors
    ///
    /// `ReviewError` when the decisions cannot be read or saved (also for a store not created yet).
    pub fn update(&mut self, root: &Path, change: impl FnOnce(&mut Workspace)) -> Result<Workspace, ReviewError> {
        if !self.exists {
            return Err(ReviewError::NoStore(self.location.clone()));
        }
        let folder = self.hasher.folder(&canonical(root));
        let mut change = Some(change);
        let mut result = None;
        let mut failure = None;
        let this = &*self;
        let mut store = self
            .store
            .lock()
            .map_err(|_| KeyError::Conflict("the key store connection was lost by a failed thread".into()))?;
        store
            .write(&mut |tx: &mut dyn Tx| {
                let doc = tx.workspace(&folder)?;
                let mut ws = match this.decode(root, doc.as_deref()) {
                    Ok(ws) => ws,
                    Err(e) => {
                        failure = Some(e);
                        return Err(KeyError::Conflict("review state damaged".into()));
                    }
                };
                if let Some(c) = change.take() {
                    c(&mut ws);
                }
                let text = serde_json::to_string(&ws.hash_refs()).map_err(|e| KeyError::Conflict(e.to_string()))?;
                tx.put_workspace(&folder, &text)?;
                result = Some(ws);
                Ok(())
            })
            .map_err(|e| failure.take().unwrap_or(ReviewError::Key(e)))?;
        result.ok_or_else(|| ReviewError::Key(KeyError::Conflict("review update did not run".into())))
    }

    /// Moves an earlier dams' review file into the store.
    fn migrate(&mut self, path: &Path) -> Result<(), ReviewError> {
        let legacy = |reason: String| ReviewError::Legacy {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| legacy(e.to_string()))?;
        let file: LegacyFile = serde_json::from_slice(&bytes).map_err(|e| legacy(e.to_string()))?;
        if file.format != "dams-review" || file.version != 1 {
            return Err(legacy(format!(
                "not a dams review file (format {} v{})",
                file.format, file.version
            )));
        }
        let docs: Vec<(String, String)> = file
            .workspaces
            .iter()
            .map(|(root, ws)| {
                let mut ws = ws.clone();
                ws.hasher = self.hasher.clone();
                let text = serde_json::to_string(&ws.hash_refs()).map_err(|e| legacy(e.to_string()))?;
                Ok((self.hasher.folder(root), text))
            })
            .collect::<Result<_, ReviewError>>()?;
        self.store
            .lock()
            .map_err(|_| KeyError::Conflict("the key store connection was lost by a failed thread".into()))?
            .write(&mut |tx: &mut dyn Tx| {
                let mut meta: Meta = tx.meta()?;
                if meta.review_migrated {
                    return Ok(());
                }
                for (folder, doc) in &docs {
                    if tx.workspace(folder)?.is_none() {
                        tx.put_workspace(folder, doc)?;
                    }
                }
                meta.review_migrated = true;
                tx.set_meta(&meta)
            })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400));
        }
        Ok(())
    }
}

/// The review file of dams before the review state moved into the key store.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyFile {
    format: String,
    version: u32,
    #[serde(with = "crate::paths::exact_keys")]
    workspaces: BTreeMap<PathBuf, Workspace>,
}

fn canonical(root: &Path) -> PathBuf {
    std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> KeyStore {
        KeyStore::open_or_create(&dir.join("state/key.db")).unwrap()
    }

    #[test]
    fn decisions_persist_per_folder() {
        let dir = tempfile::tempdir().unwrap();
        let key = store(dir.path());
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let mut one = ReviewState::open(&key).unwrap();
        let mut two = ReviewState::open(&store(dir.path())).unwrap();
        one.update(&a, |w| {
            w.links.insert("G1".into(), "1.2.3".into());
            w.set_status("P1", Status::Approved);
        })
        .unwrap();
        // A second window, opened earlier, must not undo the first one's change.
        two.update(&b, |w| w.set_status("P2", Status::Reviewed)).unwrap();
        let again = ReviewState::open(&store(dir.path())).unwrap();
        let wa = again.workspace(&a).unwrap();
        assert_eq!(wa.links.get("G1").map(String::as_str), Some("1.2.3"));
        // Not made known: still found by its hash.
        assert_eq!(wa.status("P1"), Status::Approved);
        assert_eq!(again.workspace(&b).unwrap().status("P2"), Status::Reviewed);
        assert_eq!(again.workspace(&b).unwrap().status("P9"), Status::Pending);
    }

    /// No original identifier is stored: not the folder, not a patient key.
    #[test]
    fn stored_state_holds_no_identifier() {
        let dir = tempfile::tempdir().unwrap();
        let key = store(dir.path());
        let root = dir.path().join("DOE_JANE_1970");
        std::fs::create_dir_all(&root).unwrap();
        let mut state = ReviewState::open(&key).unwrap();
        state.know(["DOE-123", "\\N\\DOE^JANE\\19700101"]);
        state
            .update(&root, |w| {
                w.set_status("DOE-123", Status::Written);
                w.xml_assignments.insert("report.xml".into(), "DOE-123".into());
                w.file_assignments
                    .insert("loose/IM1".into(), "\\N\\DOE^JANE\\19700101".into());
            })
            .unwrap();
        drop(state);
        drop(key);
        let conn = rusqlite::Connection::open(dir.path().join("state/key.db")).unwrap();
        let (folder, doc): (String, String) = conn
            .query_row("SELECT folder, doc FROM dams_workspaces", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        for leak in ["DOE", "JANE", "1970"] {
            assert!(
                !folder.contains(leak) && !doc.contains(leak),
                "{leak} in {folder} {doc}"
            );
        }
        let key = store(dir.path());
        let mut state = ReviewState::open(&key).unwrap();
        state.know(["DOE-123", "\\N\\DOE^JANE\\19700101"]);
        let ws = state.workspace(&root).unwrap();
        assert_eq!(ws.status("DOE-123"), Status::Written);
        assert_eq!(ws.xml_assignments[Path::new("report.xml")], "DOE-123");
        assert_eq!(ws.file_assignments[Path::new("loose/IM1")], "\\N\\DOE^JANE\\19700101");
        // A patient no longer known stays, under its hash, and is never taken for another.
        let state = ReviewState::open(&key).unwrap();
        let ws = state.workspace(&root).unwrap();
        assert!(ws.xml_assignments[Path::new("report.xml")].starts_with(UNRESOLVED));
        assert_eq!(ws.status("DOE-123"), Status::Written);
    }

    /// A folder whose name is not UTF-8, and files and output folders in it.
    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_round_trip() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let key = store(dir.path());
        let root = dir.path().join(std::ffi::OsStr::from_bytes(b"M\xFCller"));
        std::fs::create_dir_all(&root).unwrap();
        let xml = PathBuf::from(std::ffi::OsStr::from_bytes(b"sch\xE4del/report.xml"));
        let out = dir.path().join(std::ffi::OsStr::from_bytes(b"out\xFF"));
        let mut state = ReviewState::open(&key).unwrap();
        state.know(["P1", "P2"]);
        let written = state
            .update(&root, |w| {
                w.xml_assignments.insert(xml.clone(), "P1".into());
                w.xml_assignments.insert(PathBuf::from("plain.xml"), "P2".into());
                w.set_status("P1", Status::Written);
                w.patients.get_mut("P1").unwrap().written_to = Some(out.clone());
            })
            .unwrap();
        let again = state.workspace(&root).unwrap();
        assert_eq!(again, written);
        assert_eq!(again.xml_assignments.get(&xml).map(String::as_str), Some("P1"));
        assert_eq!(again.patients["P1"].written_to.as_ref(), Some(&out));
        state.update(&root, |w| w.set_status("P2", Status::Approved)).unwrap();
        let ws = state.workspace(&root).unwrap();
        assert_eq!(ws.xml_assignments.len(), 2);
        assert_eq!(ws.status("P1"), Status::Written);
        assert_eq!(ws.status("P2"), Status::Approved);
    }

    /// Decisions read before the patients were known (the review screen reads them before
    /// its scan) name them by hash; `resolve` names them by key once a scan found them.
    #[test]
    fn late_known_patients_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let key = store(dir.path());
        let mut state = ReviewState::open(&key).unwrap();
        state.know(["\\N\\DOE^JANE\\19700101", "P2"]);
        state
            .update(dir.path(), |w| {
                w.file_assignments
                    .insert("loose/IM1".into(), "\\N\\DOE^JANE\\19700101".into());
                w.xml_assignments.insert("a.xml".into(), "P2".into());
                w.set_status("P2", Status::PartlyWritten);
            })
            .unwrap();
        let fresh = ReviewState::open(&key).unwrap();
        let mut ws = fresh.workspace(dir.path()).unwrap();
        assert!(ws.has_unresolved());
        assert!(ws.file_assignments[Path::new("loose/IM1")].starts_with(UNRESOLVED));
        // Found by key even before: the status of a patient, its record.
        assert_eq!(ws.status("P2"), Status::PartlyWritten);
        assert!(ws.patient("P2").is_some());
        ws.resolve(["P2", "P3", "\\N\\DOE^JANE\\19700101"]);
        assert!(!ws.has_unresolved());
        assert_eq!(ws.file_assignments[Path::new("loose/IM1")], "\\N\\DOE^JANE\\19700101");
        assert_eq!(ws.xml_assignments[Path::new("a.xml")], "P2");
        assert_eq!(ws.patients.keys().collect::<Vec<_>>(), ["P2"]);
        // Only the patients named: another stays under its hash.
        let mut ws = fresh.workspace(dir.path()).unwrap();
        ws.resolve(["P2"]);
        assert!(ws.file_assignments[Path::new("loose/IM1")].starts_with(UNRESOLVED));
    }

    /// A write cancelled part way is remembered as such.
    #[test]
    fn partly_written_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let key = store(dir.path());
        let mut state = ReviewState::open(&key).unwrap();
        state.know(["P1"]);
        state
            .update(dir.path(), |w| w.set_status("P1", Status::PartlyWritten))
            .unwrap();
        drop(state);
        let conn = rusqlite::Connection::open(dir.path().join("state/key.db")).unwrap();
        let doc: String = conn
            .query_row("SELECT doc FROM dams_workspaces", [], |r| r.get(0))
            .unwrap();
        assert!(doc.contains("\"partly-written\""), "{doc}");
        let mut again = ReviewState::open(&store(dir.path())).unwrap();
        again.know(["P1"]);
        assert_eq!(again.workspace(dir.path()).unwrap().status("P1"), Status::PartlyWritten);
        assert_eq!(Status::PartlyWritten.label(), "partly written");
    }

    /// The review file of the earlier release moves into the store, hashed, once.
    #[test]
    fn earlier_review_file_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/key_v1");
        for f in ["key.json", "key.review.json"] {
            std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
        }
        let key = KeyStore::open(&dir.path().join("key.json")).unwrap();
        let mut state = ReviewState::open(&key).unwrap();
        state.know(["MAP001", "MAP002"]);
        // The folder as the earlier dams wrote it (it need not exist here).
        let ws = state.workspace(Path::new("/tmp/dams-key-fixture/in")).unwrap();
        assert_eq!(ws.status("MAP001"), Status::Written);
        assert_eq!(ws.status("MAP002"), Status::Reviewed);
        assert_eq!(ws.xml_assignments[Path::new("PAT2/report.xml")], "MAP001");
        assert_eq!(ws.links.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("key.review.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o400);
        }
        // Not again: a change made since survives the next open.
        state
            .update(Path::new("/tmp/dams-key-fixture/in"), |w| {
                w.set_status("MAP002", Status::Approved);
            })
            .unwrap();
        let key = KeyStore::open(&dir.path().join("key.json")).unwrap();
        let mut state = ReviewState::open(&key).unwrap();
        state.know(["MAP002"]);
        let ws = state.workspace(Path::new("/tmp/dams-key-fixture/in")).unwrap();
        assert_eq!(ws.status("MAP002"), Status::Approved);
    }
}

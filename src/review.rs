//! Review state: the decisions made while reviewing a folder — approvals, manual links of
//! masks to CT series, XML assignments, which patients were written — kept beside the key
//! store (never in the input tree) so that closing and reopening continues where one left off.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FORMAT: &str = "dams-review";
const VERSION: u32 = 1;

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

/// The decisions for one input folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workspace {
    /// Manual links: segmentation group key → source series UID (input UIDs).
    #[serde(default)]
    pub links: BTreeMap<String, String>,
    /// Segmentation groups whose tag repair the user switched off.
    #[serde(default)]
    pub no_repair: BTreeSet<String>,
    /// XML files (relative to the input folder) assigned by hand → original PatientID.
    #[serde(default, with = "crate::paths::exact_keys")]
    pub xml_assignments: BTreeMap<PathBuf, String>,
    /// DICOM files without a PatientID, or folders of them (relative to the input folder),
    /// assigned by hand → patient key (see [`crate::scan::Index::place_orphans`]).
    #[serde(default, with = "crate::paths::exact_keys")]
    pub file_assignments: BTreeMap<PathBuf, String>,
    /// Review status by original PatientID.
    #[serde(default)]
    pub patients: BTreeMap<String, PatientReview>,
}

impl Workspace {
    pub fn status(&self, patient_id: &str) -> Status {
        self.patients.get(patient_id).map(|p| p.status).unwrap_or_default()
    }

    pub fn set_status(&mut self, patient_id: &str, status: Status) {
        self.patients.entry(patient_id.to_string()).or_default().status = status;
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewFile {
    format: String,
    version: u32,
    /// By canonical input folder. Paths that are not UTF-8 are stored as hex (see
    /// [`crate::paths::to_exact`]); the others as they are, as dams always wrote them.
    #[serde(with = "crate::paths::exact_keys")]
    workspaces: BTreeMap<PathBuf, Workspace>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("review state {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "review state {path} is damaged ({reason}); dams will not overwrite it. Move it away to start the review afresh"
    )]
    Damaged { path: PathBuf, reason: String },
}

/// The review state file beside a key store: `key.json` → `key.review.json`.
pub fn path_beside(key_path: &Path) -> PathBuf {
    let stem = key_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into());
    key_path.with_file_name(format!("{stem}.review.json"))
}

#[derive(Debug)]
pub struct ReviewState {
    path: PathBuf,
    file: ReviewFile,
}

impl ReviewState {
    /// Opens the review state beside `key_path` (empty if there is none yet).
    pub fn open_beside(key_path: &Path) -> Result<ReviewState, ReviewError> {
        let path = path_beside(key_path);
        let file = read(&path)?;
        Ok(ReviewState { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decisions for an input folder (empty if none were made).
    pub fn workspace(&self, root: &Path) -> Workspace {
        self.file.workspaces.get(&canonical(root)).cloned().unwrap_or_default()
    }

    /// Changes the decisions for `root` and saves: under a lock, re-reading the file first so
    /// that two dams windows on different folders do not undo each other.
    pub fn update(&mut self, root: &Path, change: impl FnOnce(&mut Workspace)) -> Result<Workspace, ReviewError> {
        let io_err = |source| ReviewError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::key::create_private_dir(dir).map_err(io_err)?;
        }
        let lock_path = self.path.with_extension("json.lock");
        let mut opts = fs::OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let lock: File = opts.open(&lock_path).map_err(io_err)?;
        lock.lock().map_err(io_err)?;
        self.file = read(&self.path)?;
        let key = canonical(root);
        let ws = self.file.workspaces.entry(key).or_default();
        change(ws);
        let result = ws.clone();
        let mut json = serde_json::to_vec_pretty(&self.file).map_err(|e| io_err(io::Error::other(e)))?;
        json.push(b'\n');
        crate::atomic::write_file(&self.path, 0o600, |w| w.write_all(&json)).map_err(io_err)?;
        Ok(result)
    }
}

fn canonical(root: &Path) -> PathBuf {
    fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())
}

fn read(path: &Path) -> Result<ReviewFile, ReviewError> {
    match fs::read(path) {
        Ok(bytes) => {
            let damaged = |reason: String| ReviewError::Damaged {
                path: path.to_path_buf(),
                reason,
            };
            let f: ReviewFile = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
            if f.format != FORMAT || f.version != VERSION {
                return Err(damaged(format!(
                    "not a dams review file (format {} v{})",
                    f.format, f.version
                )));
            }
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ReviewFile {
            format: FORMAT.into(),
            version: VERSION,
            workspaces: BTreeMap::new(),
        }),
        Err(source) => Err(ReviewError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_persist_per_folder() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("state/key.json");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        let mut one = ReviewState::open_beside(&key).unwrap();
        let mut two = ReviewState::open_beside(&key).unwrap();
        one.update(&a, |w| {
            w.links.insert("G1".into(), "1.2.3".into());
            w.set_status("P1", Status::Approved);
        })
        .unwrap();
        // A second window, opened earlier, must not undo the first one's change.
        two.update(&b, |w| w.set_status("P2", Status::Reviewed)).unwrap();
        let again = ReviewState::open_beside(&key).unwrap();
        assert_eq!(again.path(), dir.path().join("state/key.review.json"));
        assert_eq!(again.workspace(&a).links.get("G1").map(String::as_str), Some("1.2.3"));
        assert_eq!(again.workspace(&a).status("P1"), Status::Approved);
        assert_eq!(again.workspace(&b).status("P2"), Status::Reviewed);
        assert_eq!(again.workspace(&b).status("P9"), Status::Pending);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(again.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    /// A folder (and the files and output folder in it) whose names are not UTF-8: serde_json
    /// cannot write such a PathBuf as a map key, and every update failed.
    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_round_trip() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        let root = dir.path().join(std::ffi::OsStr::from_bytes(b"M\xFCller"));
        fs::create_dir_all(&root).unwrap();
        let xml = PathBuf::from(std::ffi::OsStr::from_bytes(b"sch\xE4del/report.xml"));
        let out = dir.path().join(std::ffi::OsStr::from_bytes(b"out\xFF"));
        let mut state = ReviewState::open_beside(&key).unwrap();
        let written = state
            .update(&root, |w| {
                w.xml_assignments.insert(xml.clone(), "P1".into());
                w.xml_assignments.insert(PathBuf::from("plain.xml"), "P2".into());
                w.set_status("P1", Status::Written);
                w.patients.get_mut("P1").unwrap().written_to = Some(out.clone());
            })
            .unwrap();
        let again = ReviewState::open_beside(&key).unwrap();
        assert_eq!(again.workspace(&root), written);
        assert_eq!(
            again.workspace(&root).xml_assignments.get(&xml).map(String::as_str),
            Some("P1")
        );
        assert_eq!(again.workspace(&root).patients["P1"].written_to.as_ref(), Some(&out));
        // UTF-8 paths are stored as they are.
        let text = fs::read_to_string(again.path()).unwrap();
        assert!(text.contains("\"plain.xml\": \"P2\""), "{text}");
        // A second update keeps all of it.
        let mut state = ReviewState::open_beside(&key).unwrap();
        state.update(&root, |w| w.set_status("P2", Status::Approved)).unwrap();
        let ws = ReviewState::open_beside(&key).unwrap().workspace(&root);
        assert_eq!(ws.xml_assignments.len(), 2);
        assert_eq!(ws.status("P1"), Status::Written);
        assert_eq!(ws.status("P2"), Status::Approved);
    }

    /// A review file written before paths were escaped reads as it did.
    #[test]
    fn existing_files_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        let root = dir.path().join("input");
        fs::create_dir_all(&root).unwrap();
        let root_c = fs::canonicalize(&root).unwrap();
        let old = serde_json::json!({
            "format": "dams-review",
            "version": 1,
            "workspaces": {
                root_c.to_str().unwrap(): {
                    "links": { "G1": "1.2.3" },
                    "no_repair": [],
                    "xml_assignments": { "a/report.xml": "P1" },
                    "patients": {
                        "P1": { "status": "written", "written_at": "2026-01-01T00:00:00Z", "written_to": "/out" }
                    }
                }
            }
        });
        fs::write(path_beside(&key), serde_json::to_vec_pretty(&old).unwrap()).unwrap();
        let ws = ReviewState::open_beside(&key).unwrap().workspace(&root);
        assert_eq!(ws.links.get("G1").map(String::as_str), Some("1.2.3"));
        assert_eq!(
            ws.xml_assignments.get(Path::new("a/report.xml")).map(String::as_str),
            Some("P1")
        );
        assert_eq!(ws.status("P1"), Status::Written);
        assert_eq!(ws.patients["P1"].written_to.as_deref(), Some(Path::new("/out")));
    }

    /// A write cancelled part way is remembered as such.
    #[test]
    fn partly_written_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        let mut state = ReviewState::open_beside(&key).unwrap();
        state
            .update(dir.path(), |w| w.set_status("P1", Status::PartlyWritten))
            .unwrap();
        let text = fs::read_to_string(path_beside(&key)).unwrap();
        assert!(text.contains("\"partly-written\""), "{text}");
        let again = ReviewState::open_beside(&key).unwrap();
        assert_eq!(again.workspace(dir.path()).status("P1"), Status::PartlyWritten);
        assert_eq!(Status::PartlyWritten.label(), "partly written");
    }

    #[test]
    fn damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        fs::write(path_beside(&key), b"{ not json").unwrap();
        assert!(matches!(
            ReviewState::open_beside(&key),
            Err(ReviewError::Damaged { .. })
        ));
    }
}

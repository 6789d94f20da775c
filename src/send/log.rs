//! The send log: one JSON line per instance a node accepted, appended to `dams-send.jsonl`
//! in the output folder and made durable before the next instance goes, so that a rerun
//! knows what is already there. It names instances by SOP Instance UID and file digest only.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The log's file name, in the output folder.
pub const LOG_NAME: &str = "dams-send.jsonl";

#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub struct LogError {
    pub path: PathBuf,
    pub error: io::Error,
}

/// One delivered instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When the node confirmed it (RFC 3339, UTC).
    pub time: String,
    /// The node's name in the config file at the time.
    pub node: String,
    /// Where it went (`dicom:AE@host:port` or `stow:URL`): what a rerun compares.
    pub to: String,
    /// The output file, relative to the output folder.
    pub path: String,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    /// SHA-256 of the file as it was sent.
    pub sha256: String,
    /// The transfer syntax it travelled in.
    pub transfer_syntax: String,
    /// `success` or `warning`.
    pub status: String,
    /// The node's status code (DIMSE, hexadecimal) or HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What a warning means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The log of one output folder: what it says was delivered, and the file to add to.
#[derive(Debug)]
pub struct SendLog {
    path: PathBuf,
    file: Option<File>,
    /// (to, SOP Instance UID) → the last record for it.
    delivered: HashMap<(String, String), Record>,
    /// The last line was cut short (a crash while it was written): the next record starts
    /// on a line of its own.
    torn_tail: bool,
    /// Lines that could not be read (kept in the file, ignored here).
    pub warnings: Vec<String>,
}

impl SendLog {
    /// Reads the log in `dir` (an empty log when there is none yet). Nothing is created.
    ///
    /// # Errors
    ///
    /// `LogError` when the log cannot be read or a line of it is damaged.
    pub fn open(dir: &Path) -> Result<SendLog, LogError> {
        let path = dir.join(LOG_NAME);
        let mut log = SendLog {
            path: path.clone(),
            file: None,
            delivered: HashMap::new(),
            torn_tail: false,
            warnings: Vec::new(),
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(log),
            Err(source) => return Err(LogError { path, error: source }),
        };
        let ends_with_newline = bytes.last() == Some(&b'\n');
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        let last = lines.len().saturating_sub(1);
        for (i, line) in lines.iter().enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(line) {
                Ok(r) => {
                    log.delivered.insert((r.to.clone(), r.sop_instance_uid.clone()), r);
                }
                // A record cut short by a crash: that instance was not logged as delivered,
                // and is sent again.
                Err(_) if i == last && !ends_with_newline => log.torn_tail = true,
                Err(e) => log.warnings.push(format!(
                    "{} line {}: not a send record ({e}); ignored",
                    path.display(),
                    i + 1
                )),
            }
        }
        Ok(log)
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record that says this exact file (same digest) already reached `to`.
    #[must_use]
    pub fn delivered(&self, to: &str, sop_instance_uid: &str, sha256: &str) -> Option<&Record> {
        self.delivered
            .get(&(to.to_string(), sop_instance_uid.to_string()))
            .filter(|r| r.sha256 == sha256)
    }

    /// How many instances the log says reached `to`.
    #[must_use]
    pub fn count_for(&self, to: &str) -> usize {
        self.delivered.keys().filter(|(t, _)| t == to).count()
    }

    /// Opens the log for appending (creating it): done before the first instance is sent,
    /// so that a log that cannot be written stops the run before anything is delivered.
    ///
    /// # Errors
    ///
    /// `LogError` when the log cannot be created or opened for appending.
    pub fn prepare(&mut self) -> Result<(), LogError> {
        let err = |error: io::Error| LogError {
            path: self.path.clone(),
            error,
        };
        if self.file.is_none() {
            let existed = self.path.exists();
            let mut o = OpenOptions::new();
            o.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                // The log is ours: a symbolic link put in its place is not followed.
                o.custom_flags(libc::O_NOFOLLOW);
            }
            let f = o.open(&self.path).map_err(err)?;
            if !existed && let Some(dir) = self.path.parent() {
                f.sync_all().map_err(err)?;
                crate::atomic::sync_dir(dir).map_err(err)?;
            }
            self.file = Some(f);
        }
        Ok(())
    }

    /// Appends a record and makes it durable (one write, then fsync) before returning.
    ///
    /// # Errors
    ///
    /// `LogError` when the record cannot be written or synced.
    pub fn append(&mut self, record: Record) -> Result<(), LogError> {
        let mut line = serde_json::to_vec(&record).map_err(|e| LogError {
            path: self.path.clone(),
            error: io::Error::other(e),
        })?;
        line.push(b'\n');
        if self.torn_tail {
            line.insert(0, b'\n');
        }
        self.prepare()?;
        if let Some(f) = self.file.as_mut() {
            f.write_all(&line).map_err(|error| LogError {
                path: self.path.clone(),
                error,
            })?;
            f.sync_data().map_err(|error| LogError {
                path: self.path.clone(),
                error,
            })?;
        }
        self.torn_tail = false;
        self.delivered
            .insert((record.to.clone(), record.sop_instance_uid.clone()), record);
        Ok(())
    }
}

/// Now, as the log writes times.
#[must_use]
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uid: &str, sha: &str) -> Record {
        Record {
            time: now(),
            node: "research".into(),
            to: "dicom:R@h:104".into(),
            path: format!("P1/{uid}.dcm"),
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sop_instance_uid: uid.into(),
            sha256: sha.into(),
            transfer_syntax: "1.2.840.10008.1.2.1".into(),
            status: "success".into(),
            code: None,
            detail: None,
        }
    }

    #[test]
    fn records_survive_a_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut log = SendLog::open(dir.path()).expect("open");
        assert!(!dir.path().join(LOG_NAME).exists(), "nothing is created by reading");
        log.append(record("1.2.3", "aa")).expect("append");
        log.append(record("1.2.4", "bb")).expect("append");
        // A crash in the middle of a third record.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG_NAME))
            .expect("open");
        f.write_all(b"{\"time\":\"2026").expect("write");
        drop(f);

        let mut log = SendLog::open(dir.path()).expect("reopen");
        assert!(log.warnings.is_empty(), "{:?}", log.warnings);
        assert!(log.delivered("dicom:R@h:104", "1.2.3", "aa").is_some());
        assert!(log.delivered("dicom:R@h:104", "1.2.3", "changed").is_none());
        assert!(log.delivered("stow:https://h", "1.2.3", "aa").is_none());
        assert_eq!(log.count_for("dicom:R@h:104"), 2);
        log.append(record("1.2.5", "cc")).expect("append after a torn line");

        let log = SendLog::open(dir.path()).expect("reopen");
        assert_eq!(log.count_for("dicom:R@h:104"), 3);
        assert_eq!(
            log.warnings.len(),
            1,
            "the torn line is now in the middle: {:?}",
            log.warnings
        );
    }
}

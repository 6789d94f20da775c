//! Send: deliver written output to a DICOM node (C-STORE over the DICOM Upper Layer, or
//! `DICOMweb` STOW-RS), instance by instance, with per-instance status, retries with back-off
//! for transient failures, and a resumable log in the output folder.
//!
//! The API is what the CLI and the review screen call, from any thread:
//! [`collect`] finds the instances below an output folder, [`preview`] says what a send would
//! do (dry run), [`send`] delivers them with a progress callback and a cancel flag, and
//! [`echo`] checks that a node answers.

pub mod dimse;
pub mod fetch;
pub mod log;
pub mod node;
pub mod stow;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use log::{LOG_NAME, Record, SendLog};
pub use node::{Auth, Config, Node, NodeError, NodeKind, Secret};

use crate::progress::Progress;
use crate::scan::{self, ScanOptions, Unreadable};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The log could not be written after an instance was delivered.
    #[error("send log {0} (a rerun sends again what the log does not list)")]
    Log(log::LogError),
    /// The log could not be read or opened: nothing was sent.
    #[error("cannot use the send log {0}: it records what reached the node, so nothing was sent")]
    LogNotWritable(log::LogError),
    #[error(transparent)]
    Scan(#[from] scan::ScanError),
    /// The node could not be used at all (e.g. a CA file that cannot be read).
    #[error("node '{node}': {message}")]
    Setup { node: String, message: String },
}

/// Why talking to a node failed as a whole (not one instance): a refused or lost
/// association, a connection that cannot be made, an HTTP error for the whole request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LinkError {
    pub message: String,
    /// Worth trying again after a while (connection reset, timeout, congestion, HTTP 5xx/429).
    pub transient: bool,
}

impl From<log::LogError> for SendError {
    fn from(e: log::LogError) -> SendError {
        SendError::Log(e)
    }
}

impl LinkError {
    pub(crate) fn transient(message: impl Into<String>) -> LinkError {
        LinkError {
            message: message.into(),
            transient: true,
        }
    }
    pub(crate) fn permanent(message: impl Into<String>) -> LinkError {
        LinkError {
            message: message.into(),
            transient: false,
        }
    }
}

/// One instance to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendFile {
    /// Relative to the output folder.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax: String,
}

/// What [`collect`] found below an output folder.
#[derive(Debug, Default, Serialize)]
pub struct Outgoing {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub root: PathBuf,
    pub files: Vec<SendFile>,
    /// XML files: they are not DICOM and are never sent.
    pub xml: usize,
    /// Files that are not readable DICOM (dams' own manifest, tables and log are left out).
    pub unreadable: Vec<Unreadable>,
}

/// The DICOM instances below `root` (an output folder), in path order.
///
/// # Errors
///
/// `SendError` when `root` cannot be listed, a file cannot be read, or the walk is cancelled.
pub fn collect(root: &Path, progress: Progress, cancel: &AtomicBool) -> Result<Outgoing, SendError> {
    let index = scan::scan(root, &ScanOptions::default(), progress, cancel)?;
    let mut files: Vec<SendFile> = index
        .patients
        .iter()
        .flat_map(crate::scan::Patient::instances)
        .map(|i| SendFile {
            path: i.path.clone(),
            sop_class_uid: i.sop_class_uid.to_string(),
            sop_instance_uid: i.sop_instance_uid.clone(),
            transfer_syntax: i.transfer_syntax.to_string(),
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let unreadable = index
        .unreadable
        .into_iter()
        // dams' own files beside the images (manifest, tables, log, and shards' parts of them).
        .filter(|u| {
            !(u.path.parent() == Some(Path::new("")) && u.path.to_str().is_some_and(crate::manifest::is_own_file))
        })
        .collect();
    Ok(Outgoing {
        root: index.root,
        files,
        xml: index.xml.len(),
        unreadable,
    })
}

/// The given files below `root` (e.g. the output files of one patient), from their headers
/// alone: what the review screen sends after writing a patient.
#[must_use]
pub fn files_at(root: &Path, paths: &[PathBuf]) -> Outgoing {
    let mut out = Outgoing {
        root: root.to_path_buf(),
        ..Outgoing::default()
    };
    for rel in paths {
        match crate::scan::header::read(root, rel) {
            Ok(h) => out.files.push(SendFile {
                path: rel.clone(),
                sop_class_uid: h.instance.sop_class_uid.to_string(),
                sop_instance_uid: h.instance.sop_instance_uid,
                transfer_syntax: h.instance.transfer_syntax.to_string(),
            }),
            Err(e) => out.unreadable.push(Unreadable {
                path: rel.clone(),
                kind: scan::UnreadableKind::of(&e),
                reason: e.to_string(),
            }),
        }
    }
    out
}

/// How to send.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// Send files the log says the node already has.
    pub again: bool,
    /// Allow re-encoding uncompressed data into Explicit or Implicit VR Little Endian when
    /// the node refuses the file's own transfer syntax (C-STORE only). Compressed data is
    /// never decoded.
    pub convert: bool,
}

/// One instance's result, when it is not a plain success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub sop_instance_uid: String,
    /// The node's status: DIMSE status in hexadecimal (`A700`), or `HTTP 409`.
    pub code: Option<String>,
    /// What it means, in words.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    /// The node's name.
    pub node: String,
    /// Where it is (as in the log).
    pub to: String,
    /// `c-store` or `stow-rs`.
    pub via: &'static str,
    /// Instances asked to send.
    pub total: usize,
    /// Accepted by the node in this run (warnings included).
    pub sent: usize,
    /// Left out: the log says the node already has this exact file.
    pub already_sent: usize,
    /// Accepted with a warning (counted in `sent` too).
    pub warnings: Vec<InstanceStatus>,
    pub failed: Vec<InstanceStatus>,
    /// Not tried: the run stopped (see `stopped`) or was cancelled first.
    pub not_sent: usize,
    /// Why the run stopped before the end (the node could not be reached, refused the
    /// association, or stopped answering).
    pub stopped: Option<String>,
    pub cancelled: bool,
    /// The send log.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub log: PathBuf,
    /// Lines of the log that could not be read.
    pub log_warnings: Vec<String>,
}

impl SendReport {
    /// Every instance asked for is on the node (sent now, or before).
    #[must_use]
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.not_sent == 0 && !self.cancelled && self.stopped.is_none()
    }
}

/// The result of one try at one instance.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub outcome: Outcome,
    /// The transfer syntax it was sent in.
    pub transfer_syntax: String,
    pub code: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Warning,
    Failure,
    /// A failure worth another try (the node is out of resources, say).
    Transient,
}

/// A way of talking to a node: C-STORE over an association, or STOW-RS requests.
pub(crate) trait Transport {
    /// Instances per store call.
    fn batch_size(&self) -> usize;
    /// Sorts the files into the order that needs the fewest new connections.
    fn order(&self, _files: &mut [(&SendFile, String)]) {}
    /// Stores the files; one attempt per file, in order. `Err`: nothing is known about any of
    /// them (the connection failed).
    fn store(&mut self, root: &Path, files: &[&SendFile]) -> Result<Vec<Attempt>, LinkError>;
    /// Ends the conversation politely.
    fn close(&mut self);
}

/// SHA-256 of a file, in hexadecimal.
///
/// # Errors
///
/// An I/O error when the file cannot be read.
pub fn digest(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// What a send would do with one file.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    #[serde(flatten)]
    pub file: SendFile,
    /// `send`, `already-sent` or `unreadable`.
    pub action: &'static str,
    /// When the log says it was sent (for `already-sent`), or why it cannot be read.
    pub detail: Option<String>,
}

/// The dry run: what [`send`] would do with `files`, from the log alone (the node is not
/// contacted).
///
/// # Errors
///
/// `SendError` when the log cannot be read.
pub fn preview(root: &Path, files: &[SendFile], node: &Node, opts: &SendOptions) -> Result<Vec<Planned>, SendError> {
    let log = SendLog::open(root).map_err(SendError::LogNotWritable)?;
    let to = node.destination();
    Ok(files
        .iter()
        .map(|f| match digest(&root.join(&f.path)) {
            Err(e) => Planned {
                file: f.clone(),
                action: "unreadable",
                detail: Some(e.to_string()),
            },
            Ok(sha) => match log.delivered(&to, &f.sop_instance_uid, &sha) {
                Some(r) if !opts.again => Planned {
                    file: f.clone(),
                    action: "already-sent",
                    detail: Some(r.time.clone()),
                },
                _ => Planned {
                    file: f.clone(),
                    action: "send",
                    detail: None,
                },
            },
        })
        .collect())
}

/// Sends `files` (relative to `root`, the output folder that holds the log) to `node`.
/// Files the log says the node has are left out unless `opts.again`. Every accepted
/// instance is logged (durably) before the next one goes. Transient failures are tried
/// again after a growing pause; a connection that still cannot be made stops the run, and
/// the report says what was not sent. `progress(done, total)` is called after each file;
/// `cancel` is looked at between files (and during pauses).
///
/// # Errors
///
/// `SendError` when the log cannot be read or written, or the node cannot be reached after the
/// retries.
pub fn send(
    root: &Path,
    files: &[SendFile],
    node: &Node,
    opts: &SendOptions,
    progress: Progress,
    cancel: &AtomicBool,
) -> Result<SendReport, SendError> {
    let wanted: Vec<&SendFile> = files.iter().collect();
    // Made before anything is read, but connected only when there is something to send.
    let mut transport: Box<dyn Transport + '_> = match &node.kind {
        NodeKind::Dimse(d) => Box::new(dimse::Session::new(node, d, &wanted, opts.convert)),
        NodeKind::Stow(s) => Box::new(stow::Session::new(node, s).map_err(|message| SendError::Setup {
            node: node.name.clone(),
            message,
        })?),
    };
    let report = run(root, files, node, opts, transport.as_mut(), progress, cancel);
    transport.close();
    report
}

/// [`send`] over a given transport.
fn run(
    root: &Path,
    files: &[SendFile],
    node: &Node,
    opts: &SendOptions,
    transport: &mut dyn Transport,
    progress: Progress,
    cancel: &AtomicBool,
) -> Result<SendReport, SendError> {
    let mut log = SendLog::open(root).map_err(SendError::LogNotWritable)?;
    let to = node.destination();
    let mut report = SendReport {
        node: node.name.clone(),
        to: to.clone(),
        via: match node.kind {
            NodeKind::Dimse(_) => "c-store",
            NodeKind::Stow(_) => "stow-rs",
        },
        total: files.len(),
        sent: 0,
        already_sent: 0,
        warnings: Vec::new(),
        failed: Vec::new(),
        not_sent: 0,
        stopped: None,
        cancelled: false,
        log: log.path().to_path_buf(),
        log_warnings: std::mem::take(&mut log.warnings),
    };
    let total = files.len();
    progress(0, total);
    let (mut pending, mut done) = pending(root, files, opts, &log, &to, &mut report, cancel);
    progress(done, total);
    if cancel.load(Ordering::Relaxed) {
        report.cancelled = true;
        report.not_sent = total - done;
        return Ok(report);
    }
    if pending.is_empty() {
        return Ok(report);
    }
    log.prepare().map_err(SendError::LogNotWritable)?;

    transport.order(&mut pending);
    let batch = transport.batch_size().max(1);

    let mut next = 0;
    'run: while next < pending.len() {
        if cancel.load(Ordering::Relaxed) {
            report.cancelled = true;
            break;
        }
        let end = (next + batch).min(pending.len());
        let mut todo: Vec<&(&SendFile, String)> = pending[next..end].iter().collect();
        let mut tries = 0u32;
        while !todo.is_empty() {
            let files: Vec<&SendFile> = todo.iter().map(|(f, _)| *f).collect();
            let mut again: Vec<&(&SendFile, String)> = Vec::new();
            match transport.store(root, &files) {
                Ok(attempts) => {
                    for (pair, a) in todo.iter().zip(attempts) {
                        if a.outcome == Outcome::Transient && tries < node.retries {
                            again.push(pair);
                            continue;
                        }
                        record(&mut report, &mut log, node, &to, pair, a)?;
                        done += 1;
                    }
                    progress(done, total);
                }
                Err(e) if e.transient && tries < node.retries => {
                    tracing::warn!(node = %node.name, try_ = tries + 1, "{}", e.message);
                    again.clone_from(&todo);
                }
                Err(e) => {
                    tracing::warn!(node = %node.name, "send stopped: {}", e.message);
                    let tried = if tries == 0 {
                        String::new()
                    } else {
                        format!(" (tried {} times)", tries + 1)
                    };
                    report.stopped = Some(format!("{}{tried}", e.message));
                    break 'run;
                }
            }
            todo = again;
            if !todo.is_empty() {
                tries += 1;
                if !pause(node.backoff(tries), cancel) {
                    report.cancelled = true;
                    break 'run;
                }
            }
        }
        next = end;
    }
    // Every file that got a result is done; the rest was never tried.
    report.not_sent = total - done;
    progress(done, total);
    Ok(report)
}

/// The files still to send, with their digests, and how many are done already: what the log
/// holds as delivered is left out, and files that cannot be stored (no UIDs, a UID twice,
/// unreadable) are failures in `report`.
fn pending<'f>(
    root: &Path,
    files: &'f [SendFile],
    opts: &SendOptions,
    log: &SendLog,
    to: &str,
    report: &mut SendReport,
    cancel: &AtomicBool,
) -> (Vec<(&'f SendFile, String)>, usize) {
    let mut pending = Vec::new();
    let mut done = 0usize;
    let mut seen: std::collections::HashMap<&str, &Path> = std::collections::HashMap::new();
    for f in files {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let failed = |reason: String| InstanceStatus {
            path: f.path.clone(),
            sop_instance_uid: f.sop_instance_uid.clone(),
            code: None,
            reason,
        };
        let missing = |what: &str| failed(format!("no {what} in the file: it cannot be stored"));
        if f.sop_instance_uid.is_empty() {
            report.failed.push(missing("SOP Instance UID"));
            done += 1;
            continue;
        }
        if f.sop_class_uid.is_empty() {
            report.failed.push(missing("SOP Class UID"));
            done += 1;
            continue;
        }
        // A node keeps one instance per UID: a second file with the same UID would replace
        // the first there, or be dropped.
        if let Some(first) = seen.insert(f.sop_instance_uid.as_str(), f.path.as_path()) {
            report.failed.push(failed(format!(
                "the same SOP Instance UID as {}: the node would keep only one of them",
                first.display()
            )));
            seen.insert(f.sop_instance_uid.as_str(), first);
            done += 1;
            continue;
        }
        match digest(&root.join(&f.path)) {
            Err(e) => {
                report.failed.push(failed(format!("cannot read the file: {e}")));
                done += 1;
            }
            Ok(sha) if !opts.again && log.delivered(to, &f.sop_instance_uid, &sha).is_some() => {
                report.already_sent += 1;
                done += 1;
            }
            Ok(sha) => pending.push((f, sha)),
        }
    }
    (pending, done)
}

/// The final answer of the node for one file: a failure in the report, or a delivery in the
/// log (with its warning in the report).
fn record(
    report: &mut SendReport,
    log: &mut SendLog,
    node: &Node,
    to: &str,
    (f, sha): &(&SendFile, String),
    a: Attempt,
) -> Result<(), SendError> {
    let status = |code, reason| InstanceStatus {
        path: f.path.clone(),
        sop_instance_uid: f.sop_instance_uid.clone(),
        code,
        reason,
    };
    match a.outcome {
        Outcome::Failure | Outcome::Transient => report.failed.push(status(a.code, a.detail)),
        Outcome::Success | Outcome::Warning => {
            let warning = a.outcome == Outcome::Warning;
            log.append(Record {
                time: log::now(),
                node: node.name.clone(),
                to: to.to_string(),
                path: f.path.to_string_lossy().into_owned(),
                sop_class_uid: f.sop_class_uid.clone(),
                sop_instance_uid: f.sop_instance_uid.clone(),
                sha256: sha.clone(),
                transfer_syntax: a.transfer_syntax.clone(),
                status: if warning { "warning" } else { "success" }.into(),
                code: a.code.clone(),
                detail: warning.then(|| a.detail.clone()),
            })?;
            if warning {
                report.warnings.push(status(a.code, a.detail));
            }
            report.sent += 1;
        }
    }
    Ok(())
}

/// Waits `d`, looking at `cancel` every 50 ms; false when cancelled.
fn pause(d: Duration, cancel: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    !cancel.load(Ordering::Relaxed)
}

/// Asks a node whether it answers: C-ECHO for a DICOM node, a QIDO-RS query for a STOW-RS
/// service. Returns what answered.
///
/// # Errors
///
/// `LinkError` when the node cannot be reached or does not answer.
pub fn echo(node: &Node) -> Result<String, LinkError> {
    match &node.kind {
        NodeKind::Dimse(d) => dimse::echo(node, d),
        NodeKind::Stow(s) => stow::probe(node, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicUsize;

    /// A transport that answers from a script and records what it was asked.
    struct Scripted {
        answers: VecDeque<Result<Vec<Outcome>, LinkError>>,
        asked: Vec<Vec<String>>,
        batch: usize,
    }

    impl Transport for Scripted {
        fn batch_size(&self) -> usize {
            self.batch
        }
        fn store(&mut self, _: &Path, files: &[&SendFile]) -> Result<Vec<Attempt>, LinkError> {
            self.asked
                .push(files.iter().map(|f| f.sop_instance_uid.clone()).collect());
            let answer = self
                .answers
                .pop_front()
                .unwrap_or_else(|| Ok(vec![Outcome::Success; files.len()]));
            answer.map(|outcomes| {
                outcomes
                    .into_iter()
                    .map(|o| Attempt {
                        outcome: o,
                        transfer_syntax: "1.2.840.10008.1.2.1".into(),
                        code: Some("0000".into()),
                        detail: format!("{o:?}"),
                    })
                    .collect()
            })
        }
        fn close(&mut self) {}
    }

    fn scripted(answers: Vec<Result<Vec<Outcome>, LinkError>>) -> Scripted {
        Scripted {
            answers: answers.into(),
            asked: Vec::new(),
            batch: 1,
        }
    }

    fn setup(n: usize) -> (tempfile::TempDir, Vec<SendFile>, Node) {
        let dir = tempfile::tempdir().expect("tmp");
        let files = (0..n)
            .map(|i| {
                let path = PathBuf::from(format!("f{i}.dcm"));
                std::fs::write(dir.path().join(&path), format!("content {i}")).expect("write");
                SendFile {
                    path,
                    sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
                    sop_instance_uid: format!("1.2.{i}"),
                    transfer_syntax: "1.2.840.10008.1.2.1".into(),
                }
            })
            .collect();
        let mut node = Node::from_address("A@127.0.0.1:104").expect("node");
        node.retry_delay = Duration::from_millis(1);
        node.retries = 2;
        (dir, files, node)
    }

    fn go(dir: &Path, files: &[SendFile], node: &Node, t: &mut Scripted, opts: &SendOptions) -> SendReport {
        run(dir, files, node, opts, t, &|_, _| {}, &AtomicBool::new(false)).expect("run")
    }

    #[test]
    fn transient_failures_are_tried_again() {
        let (dir, files, node) = setup(3);
        let mut t = scripted(vec![
            Err(LinkError::transient("reset")),
            Ok(vec![Outcome::Success]),
            Ok(vec![Outcome::Transient]),
            Ok(vec![Outcome::Warning]),
        ]);
        let r = go(dir.path(), &files, &node, &mut t, &SendOptions::default());
        assert!(r.complete(), "{r:#?}");
        assert_eq!(r.sent, 3);
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(t.asked.len(), 5, "f0 twice, f1 twice, f2 once: {:?}", t.asked);
        assert_eq!(
            SendLog::open(dir.path()).expect("log").count_for(&node.destination()),
            3
        );
    }

    #[test]
    fn a_node_that_stays_away_stops_the_run() {
        let (dir, files, node) = setup(4);
        let down = || Err(LinkError::transient("cannot connect to 127.0.0.1:104: refused"));
        let mut t = scripted(vec![Ok(vec![Outcome::Success]), down(), down(), down()]);
        let r = go(dir.path(), &files, &node, &mut t, &SendOptions::default());
        assert_eq!((r.sent, r.not_sent, r.failed.len()), (1, 3, 0), "{r:#?}");
        assert_eq!(
            r.stopped.as_deref(),
            Some("cannot connect to 127.0.0.1:104: refused (tried 3 times)")
        );
        assert!(!r.complete());

        // A permanent refusal is not tried again.
        let (dir, files, node) = setup(2);
        let mut t = scripted(vec![Err(LinkError::permanent("association rejected"))]);
        let r = go(dir.path(), &files, &node, &mut t, &SendOptions::default());
        assert_eq!(t.asked.len(), 1);
        assert_eq!(r.stopped.as_deref(), Some("association rejected"));
        assert_eq!(r.not_sent, 2);
    }

    #[test]
    fn failures_stay_per_file_and_the_batch_goes_on() {
        let (dir, files, node) = setup(3);
        let mut t = scripted(vec![Ok(vec![Outcome::Success]), Ok(vec![Outcome::Failure])]);
        let r = go(dir.path(), &files, &node, &mut t, &SendOptions::default());
        assert_eq!((r.sent, r.failed.len(), r.not_sent), (2, 1, 0));
        assert_eq!(r.failed[0].path, PathBuf::from("f1.dcm"));
        assert_eq!(t.asked.len(), 3, "a failure is not retried");
    }

    #[test]
    fn a_rerun_sends_only_what_is_missing_or_changed() {
        let (dir, files, node) = setup(3);
        let mut t = scripted(vec![]);
        go(dir.path(), &files, &node, &mut t, &SendOptions::default());
        std::fs::write(dir.path().join("f2.dcm"), "changed").expect("write");
        let mut t = scripted(vec![]);
        let r = go(dir.path(), &files, &node, &mut t, &SendOptions::default());
        assert_eq!((r.sent, r.already_sent), (1, 2));
        assert_eq!(t.asked, vec![vec!["1.2.2".to_string()]]);
        // Another node is another destination.
        let other = Node::from_address("B@127.0.0.1:104").expect("node");
        let r = go(
            dir.path(),
            &files,
            &other,
            &mut scripted(vec![]),
            &SendOptions::default(),
        );
        assert_eq!(r.sent, 3);
        let again = SendOptions {
            again: true,
            ..SendOptions::default()
        };
        let r = go(dir.path(), &files, &node, &mut scripted(vec![]), &again);
        assert_eq!((r.sent, r.already_sent), (3, 0));
        let planned = preview(dir.path(), &files, &node, &SendOptions::default()).expect("preview");
        assert!(planned.iter().all(|p| p.action == "already-sent"), "{planned:?}");
    }

    #[test]
    fn cancel_stops_between_files() {
        let (dir, files, node) = setup(5);
        let cancel = AtomicBool::new(false);
        let calls = AtomicUsize::new(0);
        let mut t = scripted(vec![]);
        let r = run(
            dir.path(),
            &files,
            &node,
            &SendOptions::default(),
            &mut t,
            &|done, _| {
                calls.fetch_add(1, Ordering::Relaxed);
                if done == 2 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        )
        .expect("run");
        assert!(r.cancelled);
        assert_eq!((r.sent, r.not_sent), (2, 3), "{r:#?}");
        assert_eq!(
            SendLog::open(dir.path()).expect("log").count_for(&node.destination()),
            2
        );
    }

    #[test]
    fn files_a_node_cannot_take_are_failures_of_their_own() {
        let (dir, mut files, node) = setup(4);
        files[1].sop_instance_uid = files[0].sop_instance_uid.clone();
        files[2].sop_class_uid.clear();
        files[3].path = "missing.dcm".into();
        let mut t = scripted(vec![]);
        let r = go(dir.path(), &files, &node, &mut t, &SendOptions::default());
        assert_eq!(r.sent, 1);
        let reasons: Vec<&str> = r.failed.iter().map(|f| f.reason.as_str()).collect();
        assert!(reasons[0].contains("same SOP Instance UID as f0.dcm"), "{reasons:?}");
        assert!(reasons[1].contains("no SOP Class UID"), "{reasons:?}");
        assert!(reasons[2].contains("cannot read the file"), "{reasons:?}");
    }

    #[test]
    fn batches_go_together() {
        let (dir, files, node) = setup(5);
        let mut t = scripted(vec![]);
        t.batch = 2;
        let r = go(dir.path(), &files, &node, &mut t, &SendOptions::default());
        assert_eq!(r.sent, 5);
        assert_eq!(t.asked.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
    }
}

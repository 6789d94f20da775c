//! Scanning: walk a folder, read every file's header (never its pixel data) in parallel, and
//! build the Index. Unreadable files become rows with a reason; the batch always goes on.

pub mod header;
pub mod index;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dicom_dictionary_std::uids;
use rayon::prelude::*;

use crate::atomic::TEMP_PREFIX;
use crate::progress::Progress;

pub use header::{Header, Instance, Placement, RefVia, Reference};
pub use index::{
    Formed, Identity, Index, Patient, Series, Study, Unplaced, Unreadable, UnreadableKind, XmlAssignment, XmlFile,
};

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {reason}")]
    Root { path: PathBuf, reason: String },
    #[error("scan cancelled")]
    Cancelled,
}

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Folders (absolute or relative to the current directory) not to descend into.
    pub exclude: Vec<PathBuf>,
}

/// The result of reading one file.
#[derive(Debug, Clone)]
pub enum Outcome {
    Dicom(Box<Header>),
    Xml(XmlFile),
    Unreadable(Unreadable),
}

impl Index {
    /// Adds what reading one file found.
    pub fn add_outcome(&mut self, o: Outcome) {
        match o {
            Outcome::Dicom(h) => self.add(*h),
            Outcome::Xml(x) => self.add_xml(x),
            Outcome::Unreadable(u) => self.add_unreadable(u),
        }
    }
}

fn is_xml_name(rel: &Path) -> bool {
    rel.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml"))
}

/// An XML declaration at the start (after a byte order mark): an XML file under another name.
fn starts_like_xml(path: &Path) -> bool {
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let h = &head[..n];
    let h = h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h);
    let h = &h[h.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(h.len())..];
    h.starts_with(b"<?xml") || h.starts_with(b"\xFF\xFE<\0?\0x\0m\0l") || h.starts_with(b"\xFE\xFF\0<\0?\0x\0m\0l")
}

fn xml_file(root: &Path, rel: &Path) -> Outcome {
    let meta = std::fs::metadata(root.join(rel));
    match meta {
        Ok(m) => Outcome::Xml(XmlFile {
            path: rel.to_path_buf(),
            size: m.len(),
            modified: m.modified().ok(),
            assignment: XmlAssignment::Pending,
        }),
        Err(e) => Outcome::Unreadable(Unreadable {
            path: rel.to_path_buf(),
            kind: UnreadableKind::Io,
            reason: format!("cannot read file: {e}"),
        }),
    }
}

/// Lists the files below `root` (sorted, relative paths). Folders that cannot be listed,
/// special files and refused symbolic links become [`Unreadable`] rows.
///
/// Symbolic links are followed when their target is inside `root` and not reached any other
/// way; a link that leads out of `root`, a broken link, a link loop and a link to a file or
/// folder already scanned are refused with the reason, so a scan never reads files the user
/// did not point it at, never lists one file twice (in place, two jobs would write it), and
/// always ends. The real tree is walked first, then the links in path order: a file's own
/// path always wins over a link to it.
///
/// # Errors
///
/// `ScanError` when `root` itself cannot be read.
pub fn discover(root: &Path, opts: &ScanOptions) -> Result<(Vec<PathBuf>, Vec<Unreadable>), ScanError> {
    let meta = std::fs::metadata(root).map_err(|e| ScanError::Root {
        path: root.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(ScanError::Root {
            path: root.to_path_buf(),
            reason: "not a folder".into(),
        });
    }
    let root_c = std::fs::canonicalize(root).map_err(|e| ScanError::Root {
        path: root.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut d = Discovery {
        root,
        root_c,
        excluded: opts
            .exclude
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect(),
        visited: std::collections::HashMap::new(),
        links: std::collections::BTreeSet::new(),
        files: Vec::new(),
        problems: Vec::new(),
    };
    if let Some(k) = file_key(&meta) {
        d.visited.insert(k, PathBuf::new());
    }
    d.walk(root, false);
    while let Some(link) = d.links.pop_first() {
        d.follow(link);
    }
    let Discovery {
        mut files,
        mut problems,
        ..
    } = d;
    files.sort();
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, problems))
}

/// (device, inode): the identity of a file or folder, whatever path reaches it.
#[cfg(unix)]
fn file_key(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_key(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The inode number a folder listing gives for an entry (no `stat` needed).
#[cfg(unix)]
fn entry_ino(e: &walkdir::DirEntry) -> Option<u64> {
    use walkdir::DirEntryExt;
    Some(e.ino())
}

#[cfg(not(unix))]
fn entry_ino(_: &walkdir::DirEntry) -> Option<u64> {
    None
}

fn is_temp(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX))
}

/// A relative path for a reason ("." for the scanned folder itself).
fn shown(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        ".".into()
    } else {
        rel.display().to_string()
    }
}

/// The state of [`discover`]: what was reached, by which path first, and the links left.
struct Discovery<'a> {
    root: &'a Path,
    root_c: PathBuf,
    excluded: Vec<PathBuf>,
    /// Every folder and file reached → the relative path that reached it first.
    visited: std::collections::HashMap<(u64, u64), PathBuf>,
    /// Symbolic links not followed yet, taken in path order.
    links: std::collections::BTreeSet<PathBuf>,
    files: Vec<PathBuf>,
    problems: Vec<Unreadable>,
}

impl Discovery<'_> {
    fn rel_of(&self, p: &Path) -> PathBuf {
        p.strip_prefix(self.root).unwrap_or(p).to_path_buf()
    }

    fn refuse(&mut self, path: PathBuf, kind: UnreadableKind, reason: String) {
        self.problems.push(Unreadable { path, kind, reason });
    }

    /// Walks `start` without following links (they are queued). `via_link`: `start` is a
    /// followed link, whose own identity [`Discovery::follow`] has recorded.
    fn walk(&mut self, start: &Path, via_link: bool) {
        let mut it = walkdir::WalkDir::new(start).sort_by_file_name().into_iter();
        // The device of the folder being listed at each depth: a file's identity is its
        // folder's device and the inode number its folder entry already gives, which saves a
        // `stat` per file (a tenth of the scan's time on small files).
        let mut devices: Vec<Option<u64>> =
            vec![std::fs::metadata(start).ok().as_ref().and_then(file_key).map(|k| k.0)];
        while let Some(entry) = it.next() {
            let e = match entry {
                Ok(e) => e,
                Err(err) => {
                    let path = err.path().map(|p| self.rel_of(p)).unwrap_or_default();
                    let reason = err
                        .io_error()
                        .map_or_else(|| err.to_string(), |e| format!("cannot list folder: {e}"));
                    self.refuse(path, UnreadableKind::Io, reason);
                    continue;
                }
            };
            if e.depth() == 0 {
                continue;
            }
            let rel = self.rel_of(e.path());
            let ft = e.file_type();
            if ft.is_symlink() {
                self.links.insert(rel);
                continue;
            }
            if ft.is_dir() && self.is_excluded(e.path()) {
                it.skip_current_dir();
                continue;
            }
            if ft.is_file() && is_temp(e.file_name()) {
                continue;
            }
            if !ft.is_dir() && !ft.is_file() {
                // Reading a FIFO would block the scan forever, a device could be endless.
                self.refuse(
                    rel,
                    UnreadableKind::Special,
                    "not a regular file (FIFO, socket or device): not read".into(),
                );
                continue;
            }
            let key = if ft.is_dir() {
                let k = e.metadata().ok().as_ref().and_then(file_key);
                devices.truncate(e.depth());
                devices.push(k.map(|k| k.0));
                k
            } else {
                devices.get(e.depth() - 1).copied().flatten().zip(entry_ino(&e))
            };
            if let Some(k) = key {
                match self.visited.get(&k) {
                    // A second path to the same thing: below a followed link, or a folder
                    // mounted twice. (Hard-linked files in the tree itself are distinct paths
                    // the user made, and each is written.)
                    Some(first) if via_link || ft.is_dir() => {
                        let what = if ft.is_dir() { "folder" } else { "file" };
                        let reason = format!("leads to a {what} already scanned: {}", shown(first));
                        self.refuse(
                            rel,
                            if via_link {
                                UnreadableKind::Symlink
                            } else {
                                UnreadableKind::Io
                            },
                            reason,
                        );
                        if ft.is_dir() {
                            it.skip_current_dir();
                        }
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        self.visited.insert(k, rel.clone());
                    }
                }
            }
            if ft.is_file() {
                self.files.push(rel);
            }
        }
    }

    fn is_excluded(&self, path: &Path) -> bool {
        !self.excluded.is_empty()
            && std::fs::canonicalize(path).is_ok_and(|c| self.excluded.iter().any(|x| c.starts_with(x)))
    }

    /// Follows one symbolic link: a file is listed, a folder walked, unless it leads outside
    /// the root, nowhere, or to something already reached.
    fn follow(&mut self, rel: PathBuf) {
        let path = self.root.join(&rel);
        let refuse = |d: &mut Self, reason: String| d.refuse(rel.clone(), UnreadableKind::Symlink, reason);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return refuse(self, "broken symbolic link (its target does not exist)".into());
            }
            Err(e) if is_loop(&e) => {
                return refuse(
                    self,
                    "symbolic link loop (links that lead to each other): not followed".into(),
                );
            }
            Err(e) => return refuse(self, format!("cannot follow symbolic link: {e}")),
        };
        let target = match std::fs::canonicalize(&path) {
            Ok(t) if t.starts_with(&self.root_c) => t,
            _ => {
                return refuse(
                    self,
                    "symbolic link to a target outside the scanned folder: not followed".into(),
                );
            }
        };
        if self.excluded.iter().any(|x| target.starts_with(x)) {
            return;
        }
        if let Some(k) = file_key(&meta) {
            if let Some(first) = self.visited.get(&k) {
                let above = meta.is_dir()
                    && path
                        .parent()
                        .and_then(|p| std::fs::canonicalize(p).ok())
                        .is_some_and(|p| p.starts_with(&target));
                let reason = if above {
                    "symbolic link loop (it leads back to a folder above it): not followed".to_string()
                } else {
                    let what = if meta.is_dir() { "folder" } else { "file" };
                    format!("leads to a {what} already scanned: {}", shown(first))
                };
                return refuse(self, reason);
            }
            self.visited.insert(k, rel.clone());
        }
        if meta.is_dir() {
            self.walk(&path, true);
        } else if meta.is_file() {
            if !rel.file_name().is_some_and(is_temp) {
                self.files.push(rel);
            }
        } else {
            self.refuse(
                rel,
                UnreadableKind::Special,
                "not a regular file (FIFO, socket or device): not read".into(),
            );
        }
    }
}

#[cfg(unix)]
fn is_loop(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_loop(_: &std::io::Error) -> bool {
    false
}

/// Reads one file's header into an [`Outcome`].
#[must_use]
pub fn read_one(root: &Path, rel: &Path) -> Outcome {
    if is_xml_name(rel) {
        return xml_file(root, rel);
    }
    match header::read(root, rel) {
        Ok(h) => classify(root, h),
        Err(crate::dicom::ParseError::NotDicom) if starts_like_xml(&root.join(rel)) => xml_file(root, rel),
        // A damaged DICOMDIR is still a DICOMDIR: reported like the others, with the damage.
        Err(e) if header::meta_sop_class(&root.join(rel)).as_deref() == Some(uids::MEDIA_STORAGE_DIRECTORY_STORAGE) => {
            Outcome::Unreadable(Unreadable {
                path: rel.to_path_buf(),
                kind: UnreadableKind::Dicomdir,
                reason: format!("{DICOMDIR_REASON}; it is damaged too ({e})"),
            })
        }
        Err(e) => Outcome::Unreadable(Unreadable {
            path: rel.to_path_buf(),
            kind: UnreadableKind::of(&e),
            reason: e.to_string(),
        }),
    }
}

/// Whether a DICOMDIR file ID names a file below `folder`: as written, or in lower case (IDs
/// are upper case on the medium; copies to disk are often lowered).
fn names_a_file(folder: &Path, id: &Path) -> bool {
    folder.join(id).is_file() || folder.join(id.to_string_lossy().to_lowercase()).is_file()
}

/// What every DICOMDIR is told, whatever else is said about it.
const DICOMDIR_REASON: &str =
    "DICOMDIR (media directory): not copied, it lists patients by name; apply writes a new one for the files it writes";

fn classify(root: &Path, h: Header) -> Outcome {
    if &*h.instance.sop_class_uid == uids::MEDIA_STORAGE_DIRECTORY_STORAGE
        || h.media_storage_sop_class == uids::MEDIA_STORAGE_DIRECTORY_STORAGE
    {
        // Records for files that are not there: the DICOMDIR was not updated when files were
        // deleted or moved (the paths themselves are not shown: file IDs can name patients).
        let folder = root.join(h.instance.path.parent().unwrap_or(Path::new("")));
        let missing = h.dicomdir_files.iter().filter(|f| !names_a_file(&folder, f)).count();
        let reason = if missing > 0 {
            format!(
                "{DICOMDIR_REASON}; stale: {missing} of its {} file records name files that are not there (the new one leaves them out)",
                h.dicomdir_files.len()
            )
        } else {
            DICOMDIR_REASON.to_string()
        };
        return Outcome::Unreadable(Unreadable {
            path: h.instance.path,
            kind: UnreadableKind::Dicomdir,
            reason,
        });
    }
    Outcome::Dicom(Box::new(h))
}

/// Scans `root` into an Index, reading headers in parallel.
///
/// # Errors
///
/// `ScanError` when `root` itself cannot be read; a file that cannot be read is a row of the Index.
pub fn scan(root: &Path, opts: &ScanOptions, progress: Progress, cancel: &AtomicBool) -> Result<Index, ScanError> {
    let (files, problems) = discover(root, opts)?;
    let total = files.len();
    let done = AtomicUsize::new(0);
    progress(0, total);
    let mut index = Index::new(root);
    for p in problems {
        index.add_unreadable(p);
    }
    // Workers read headers in parallel and add them in small batches as they go, so the full
    // headers of all files never sit in memory at once (64 files per lock: no contention).
    let shared = std::sync::Mutex::new(index);
    files.par_chunks(64).for_each(|chunk| {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let batch: Vec<Outcome> = chunk.iter().map(|rel| read_one(root, rel)).collect();
        let n = done.fetch_add(batch.len(), Ordering::Relaxed) + batch.len();
        progress(n, total);
        if let Ok(mut index) = shared.lock() {
            for o in batch {
                index.add_outcome(o);
            }
        }
    });
    let mut index = shared.into_inner().map_err(|_| ScanError::Root {
        path: root.to_path_buf(),
        reason: "internal: a scan worker failed".into(),
    })?;
    if cancel.load(Ordering::Relaxed) {
        return Err(ScanError::Cancelled);
    }
    index.finish();
    Ok(index)
}

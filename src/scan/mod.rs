//! Scanning: walk a folder, read every file's header (never its pixel data) in parallel, and
//! build the Index. Unreadable files become rows with a reason; the batch always goes on.

pub mod header;
pub mod index;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;

pub use header::{Header, Instance, RefVia, Reference};
pub use index::{Identity, Index, Patient, Series, Study, Unreadable, XmlAssignment, XmlFile};

/// SOP class of a DICOMDIR (Media Storage Directory Storage).
const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";
/// Prefix of the temporary files dams writes before renaming them into place.
pub const TEMP_PREFIX: &str = ".dams-tmp-";

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
            kind: "io".into(),
            reason: format!("cannot read file: {e}"),
        }),
    }
}

/// Lists the files below `root` (sorted, relative paths). Folders that cannot be listed,
/// special files and refused symbolic links become [`Unreadable`] rows.
///
/// Symbolic links are followed when their target is inside `root` (the output then holds a
/// copy where the link was); a link that leads out of `root`, a broken link and a link loop
/// are refused with the reason, so a scan never reads files the user did not point it at and
/// always ends.
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
    let excluded: Vec<PathBuf> = opts
        .exclude
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let rel_of = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_path_buf();
    let refused = std::cell::RefCell::new(Vec::new());
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    let it = walker.filter_entry(|e| {
        if e.depth() == 0 {
            return true;
        }
        if e.path_is_symlink() {
            let inside = std::fs::canonicalize(e.path()).is_ok_and(|t| t.starts_with(&root_c));
            if !inside {
                refused.borrow_mut().push(Unreadable {
                    path: rel_of(e.path()),
                    kind: "symlink".into(),
                    reason: "symbolic link to a target outside the scanned folder: not followed".into(),
                });
                return false;
            }
        }
        if !e.file_type().is_dir() {
            return true;
        }
        match std::fs::canonicalize(e.path()) {
            Ok(c) => !excluded.contains(&c),
            Err(_) => true,
        }
    });
    for entry in it {
        match entry {
            Ok(e) => {
                let rel = rel_of(e.path());
                let ft = e.file_type();
                if ft.is_file() {
                    let temp = e.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
                    if !temp {
                        files.push(rel);
                    }
                } else if !ft.is_dir() {
                    // Reading a FIFO would block the scan forever, a device could be endless.
                    problems.push(Unreadable {
                        path: rel,
                        kind: "io".into(),
                        reason: "not a regular file (FIFO, socket or device): not read".into(),
                    });
                }
            }
            Err(err) => {
                let path = err.path().map(rel_of).unwrap_or_default();
                let is_link = err
                    .path()
                    .and_then(|p| std::fs::symlink_metadata(p).ok())
                    .is_some_and(|m| m.file_type().is_symlink());
                let (kind, reason) = if err.loop_ancestor().is_some() {
                    (
                        "symlink",
                        "symbolic link loop (it leads back to a folder above it): not followed".to_string(),
                    )
                } else if is_link && err.io_error().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
                    (
                        "symlink",
                        "broken symbolic link (its target does not exist)".to_string(),
                    )
                } else {
                    let reason = err
                        .io_error()
                        .map(|e| format!("cannot list folder: {e}"))
                        .unwrap_or_else(|| err.to_string());
                    ("io", reason)
                };
                problems.push(Unreadable {
                    path,
                    kind: kind.into(),
                    reason,
                });
            }
        }
    }
    problems.extend(refused.into_inner());
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, problems))
}

/// Reads one file's header into an [`Outcome`].
pub fn read_one(root: &Path, rel: &Path) -> Outcome {
    if is_xml_name(rel) {
        return xml_file(root, rel);
    }
    match header::read(root, rel) {
        Ok(h) => classify(h),
        Err(crate::dicom::ParseError::NotDicom) if starts_like_xml(&root.join(rel)) => xml_file(root, rel),
        Err(e) => Outcome::Unreadable(Unreadable {
            path: rel.to_path_buf(),
            kind: e.kind().into(),
            reason: e.to_string(),
        }),
    }
}

fn classify(h: Header) -> Outcome {
    if h.instance.sop_class_uid == MEDIA_STORAGE_DIRECTORY {
        return Outcome::Unreadable(Unreadable {
            path: h.instance.path,
            kind: "dicomdir".into(),
            reason: "DICOMDIR (media directory): not copied, it lists patients by name; rebuild it from the output"
                .into(),
        });
    }
    Outcome::Dicom(Box::new(h))
}

/// Progress of a long operation: `done` of `total` items.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Scans `root` into an Index, reading headers in parallel.
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

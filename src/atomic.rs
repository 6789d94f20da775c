//! Writing files so that a crash leaves either the old file or the complete new one:
//! a temporary file in the destination folder, fsync, rename, fsync of the folder. Apply's
//! hot path uses [`Pending`]: on Linux an unnamed file (`O_TMPFILE`) in the destination
//! folder, made durable, then linked under its name.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Prefix of the temporary files dams writes before renaming them into place (the scan
/// skips them).
pub const TEMP_PREFIX: &str = ".dams-tmp-";

/// The folder `dest` is in ("." for a bare file name).
fn folder_of(dest: &Path) -> &Path {
    dest.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Creates a temporary file beside `dest` (same folder, so the rename is atomic).
///
/// # Errors
///
/// An I/O error when the file cannot be created in the folder of `dest`.
pub fn temp_beside(dest: &Path, mode: u32) -> io::Result<tempfile::NamedTempFile> {
    let dir = folder_of(dest);
    let mut b = tempfile::Builder::new();
    b.prefix(TEMP_PREFIX).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    b.tempfile_in(dir)
}

/// Fsyncs the temporary file and renames it to `dest`.
///
/// # Errors
///
/// An I/O error when the file cannot be synced or renamed.
pub fn commit(tmp: tempfile::NamedTempFile, dest: &Path) -> io::Result<()> {
    tmp.as_file().sync_data()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

/// Writes a whole file atomically with the given Unix mode (e.g. 0o600).
///
/// # Errors
///
/// An I/O error when the file cannot be created, written (including an error of `write`), synced or
/// renamed.
pub fn write_file(dest: &Path, mode: u32, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let tmp = temp_beside(dest, mode)?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w)?;
        w.flush()?;
    }
    commit(tmp, dest)?;
    if let Some(dir) = dest.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Creates `dir` and any missing parents, making each new folder's entry in its parent
/// durable (`create_dir_all` alone leaves that to the next journal commit).
///
/// # Errors
///
/// An I/O error when a folder cannot be created or synced.
pub fn create_dir_all_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let new: Vec<&Path> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .collect();
    std::fs::create_dir_all(dir)?;
    for d in new.iter().rev() {
        if let Some(parent) = d.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Makes a rename in `dir` durable.
///
/// # Errors
///
/// An I/O error when `dir` cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A file being written that has no final name yet: an unnamed file (Linux `O_TMPFILE`,
/// which a crash leaves nowhere to be seen) or a named temporary file beside the
/// destination. Its data must be made durable before [`Pending::persist`].
pub enum Pending {
    /// Unnamed, in the destination's folder; named by `linkat` (see `link_fd`).
    Unnamed(File),
    Named(tempfile::NamedTempFile),
}

impl Pending {
    #[must_use]
    pub fn file(&self) -> &File {
        match self {
            Pending::Unnamed(f) => f,
            Pending::Named(t) => t.as_file(),
        }
    }

    /// Gives the file its final name `dest`, replacing a file there.
    ///
    /// # Errors
    ///
    /// An I/O error when the file cannot be synced, linked or renamed to `dest`.
    pub fn persist(self, dest: &Path) -> io::Result<()> {
        match self {
            Pending::Named(t) => t.persist(dest).map(drop).map_err(|e| e.error),
            Pending::Unnamed(f) => link_unnamed(&f, dest),
        }
    }
}

/// Whether unnamed files can be named afterwards here: kernels before 6.10 need
/// `/proc/self/fd` for that, and without /proc named temporary files are used throughout.
#[cfg(target_os = "linux")]
#[must_use]
pub fn unnamed_supported() -> bool {
    Path::new("/proc/self/fd").is_dir()
}

#[cfg(not(target_os = "linux"))]
pub fn unnamed_supported() -> bool {
    false
}

/// Opens a file to be written and named `dest` later: unnamed when `unnamed` is set and
/// the file system allows it, else a named temporary file beside `dest`. Creating an
/// unnamed file and linking it costs one folder entry where a temporary name costs
/// three folder operations (create, and a rename that removes one name and adds another).
///
/// # Errors
///
/// An I/O error when no file can be created in the folder of `dest`.
pub fn pending_beside(dest: &Path, mode: u32, unnamed: bool) -> io::Result<Pending> {
    #[cfg(target_os = "linux")]
    if unnamed {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = folder_of(dest);
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(mode)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
        {
            Ok(f) => return Ok(Pending::Unnamed(f)),
            // File systems without O_TMPFILE say so in several ways; use a named file there.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)) => {}
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = unnamed;
    temp_beside(dest, mode).map(Pending::Named)
}

#[cfg(target_os = "linux")]
fn link_unnamed(f: &File, dest: &Path) -> io::Result<()> {
    match link_fd(f, dest) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        r => return r,
    }
    // Something is already there (a file from an earlier run, or a folder): link under a
    // temporary name and rename over it, as a named temporary file would have been.
    let dir = folder_of(dest);
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!("{TEMP_PREFIX}{}-{n}.tmp", std::process::id()));
        match link_fd(f, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        return std::fs::rename(&tmp, dest).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        });
    }
}

/// How unnamed files are linked here, once known (see [`link_fd`]).
#[cfg(target_os = "linux")]
mod link_way {
    use std::sync::atomic::AtomicU8;
    pub const UNKNOWN: u8 = 0;
    pub const DIRECT: u8 = 1;
    pub const PROC: u8 = 2;
    pub static WAY: AtomicU8 = AtomicU8::new(UNKNOWN);
}

/// Gives the open file `f` the name `to`. Linux 6.10 and later let the process that opened
/// a file link it directly (`AT_EMPTY_PATH`); older kernels need `CAP_DAC_READ_SEARCH` for
/// that, so there the link goes through `/proc/self/fd`, which costs a path look-up more.
/// Which of the two works is found out once.
#[cfg(target_os = "linux")]
fn link_fd(f: &File, to: &Path) -> io::Result<()> {
    use link_way::{DIRECT, PROC, UNKNOWN, WAY};
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::Ordering;

    let to = CString::new(to.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let linkat = |fd: libc::c_int, from: &std::ffi::CStr, flags: libc::c_int| {
        // SAFETY: valid NUL-terminated strings that outlive the call; `fd` is open or
        // AT_FDCWD.
        let rc = unsafe { libc::linkat(fd, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), flags) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let way = WAY.load(Ordering::Relaxed);
    if way != PROC {
        match linkat(f.as_raw_fd(), c"", libc::AT_EMPTY_PATH) {
            Ok(()) => {
                WAY.store(DIRECT, Ordering::Relaxed);
                return Ok(());
            }
            // Refused for want of the capability (ENOENT, or EPERM): try /proc below.
            Err(e) if way == UNKNOWN && matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EPERM)) => {}
            Err(e) => return Err(e),
        }
    }
    let proc_path = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd())).map_err(io::Error::other)?;
    linkat(libc::AT_FDCWD, &proc_path, libc::AT_SYMLINK_FOLLOW)?;
    WAY.store(PROC, Ordering::Relaxed);
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn link_unnamed(_: &File, _: &Path) -> io::Result<()> {
    Err(io::Error::other("unnamed files are only used on Linux"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn pending_file_appears_only_when_persisted_and_replaces_an_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.dcm");
        for (round, unnamed) in [(1, true), (2, true), (3, false)] {
            let p = pending_beside(&dest, 0o640, unnamed).unwrap();
            if unnamed && unnamed_supported() {
                assert!(
                    matches!(p, Pending::Unnamed(_)),
                    "O_TMPFILE is supported on this file system"
                );
                // Nothing to be seen while it is written.
                assert_eq!(
                    names(dir.path()),
                    if round == 1 { vec![] } else { vec!["a.dcm".to_string()] }
                );
            }
            let body = format!("round {round}");
            p.file().write_all(body.as_bytes()).unwrap();
            p.file().sync_data().unwrap();
            p.persist(&dest).unwrap();
            assert_eq!(fs::read_to_string(&dest).unwrap(), body);
            // No temporary name is left behind, also when an old file was replaced.
            assert_eq!(names(dir.path()), vec!["a.dcm".to_string()]);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & !0o640, 0, "mode {mode:o} wider than asked");
            assert_eq!(
                mode & 0o600,
                0o600,
                "mode {mode:o}: the owner must be able to read and write"
            );
        }
    }

    /// The way older kernels need (through /proc) works too.
    #[cfg(target_os = "linux")]
    #[test]
    fn unnamed_file_linked_through_proc() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("c.dcm");
        let p = pending_beside(&dest, 0o644, true).unwrap();
        p.file().write_all(b"via proc").unwrap();
        let before = link_way::WAY.swap(link_way::PROC, Ordering::Relaxed);
        let r = p.persist(&dest);
        link_way::WAY.store(before, Ordering::Relaxed);
        r.unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "via proc");
        assert_eq!(names(dir.path()), vec!["c.dcm".to_string()]);
    }

    #[test]
    fn pending_file_dropped_unpersisted_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for unnamed in [true, false] {
            let p = pending_beside(&dir.path().join("b.dcm"), 0o600, unnamed).unwrap();
            p.file().write_all(b"partial").unwrap();
            drop(p);
            assert!(names(dir.path()).is_empty());
        }
    }
}

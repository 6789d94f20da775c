//! An XML file's bytes in bounded memory: small files are read, larger ones are mapped, and
//! the pages of a mapping that the walk has passed are given back as it goes, so the
//! resident memory of one file stays near [`WINDOW`] whatever its size.
//!
//! Giving pages back (`MADV_DONTNEED` on a read-only file mapping) never changes what is
//! read: a page touched again is read again from the file (the page cache). A mapping does
//! assume the file is not cut short by another program while dams reads it; plan and apply
//! check size and modification time first, as for every input.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Files up to this size are read into memory (a mapping costs more than it saves).
pub const MAP_FROM: u64 = 8 << 20;
/// How far behind the position the walk reads that pages are kept.
pub const WINDOW: usize = 4 << 20;

enum Bytes {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

/// The bytes of one file (or of its text decoded to UTF-8).
pub struct Source {
    bytes: Bytes,
    /// Up to where pages were given back.
    released: AtomicUsize,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("len", &self.len())
            .field("mapped", &matches!(self.bytes, Bytes::Mapped(_)))
            .finish()
    }
}

impl Source {
    /// Reads a small file, maps a large one.
    pub fn open(path: &Path) -> io::Result<Source> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < MAP_FROM {
            let mut v = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            io::Read::read_to_end(&mut &file, &mut v)?;
            return Ok(Source::from_vec(v));
        }
        Source::map(&file)
    }

    /// Maps an open file read-only.
    pub fn map(file: &File) -> io::Result<Source> {
        // SAFETY: the mapping is read-only (shared: memmap2 maps files MAP_SHARED) and dams
        // never writes through it. It assumes no other program changes the file while dams
        // reads it: one cut short would fault, one rewritten in place could show bytes other
        // than those checked as UTF-8. Plan and apply check the file's size and time against
        // the scan first (see the module comment and the README).
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Source {
            bytes: Bytes::Mapped(map),
            released: AtomicUsize::new(0),
        })
    }

    pub fn from_vec(v: Vec<u8>) -> Source {
        Source {
            bytes: Bytes::Owned(v),
            released: AtomicUsize::new(0),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back the mapped pages before `offset` less [`WINDOW`] (nothing for read files).
    /// Later reads there still see the file's bytes; they only cost a page fault.
    pub fn release_before(&self, offset: usize) {
        let Bytes::Mapped(map) = &self.bytes else { return };
        let page = page_size();
        // Never past the mapping: advice there would reach other memory of the process.
        let upto = offset.saturating_sub(WINDOW).min(map.len()) / page * page;
        let from = self.released.load(Ordering::Relaxed);
        if upto <= from || upto - from < WINDOW / 4 {
            return;
        }
        // SAFETY: the mapping is read-only and never written, so dropping its pages loses
        // nothing: a later read fills them from the file again.
        let done = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, upto - from) };
        if done.is_ok() {
            self.released.store(upto, Ordering::Relaxed);
        }
    }

    /// Starts giving pages back from the start again (a new pass reads them again).
    pub fn rewind(&self) {
        self.released.store(0, Ordering::Relaxed);
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_pages_read_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.xml");
        let len = (MAP_FROM as usize) + 3 * WINDOW + 123;
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &body).unwrap();
        let s = Source::open(&path).unwrap();
        assert!(matches!(s.bytes, Bytes::Mapped(_)));
        s.release_before(len);
        assert!(s.released.load(Ordering::Relaxed) > 0);
        // Far past the end: only the mapping's own pages.
        s.release_before(usize::MAX / 2);
        assert!(s.released.load(Ordering::Relaxed) <= len);
        assert_eq!(s.bytes(), &body[..]);
        // A new pass gives pages back from the start again.
        s.rewind();
        assert_eq!(s.released.load(Ordering::Relaxed), 0);
        s.release_before(2 * WINDOW);
        assert!(s.released.load(Ordering::Relaxed) > 0);
        assert_eq!(s.bytes()[len - 1], body[len - 1]);
        let small = dir.path().join("small.xml");
        std::fs::write(&small, b"<a/>").unwrap();
        let s = Source::open(&small).unwrap();
        assert!(matches!(s.bytes, Bytes::Owned(_)));
        s.release_before(10);
        assert_eq!(s.bytes(), b"<a/>");
    }
}

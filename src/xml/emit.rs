//! Where the planner's changes go as the walk passes them: into the plan (held when there
//! are few enough, always digested) or straight into the new file, copied around them.
//!
//! The walk makes the changes of a value when the value ends, so they do not come in
//! document order; the planner passes a change on once nothing still open can come before
//! it ([`super::Planner`]'s low-water mark). A plan too large to hold is made again while the
//! file is copied, and the digest of the changes made then must equal the plan's.

use std::io::Write;
use std::ops::Range;

use sha2::{Digest, Sha256};

use super::XmlError;
use super::source::Source;

/// Changes a plan holds for the rewrite; a plan with more is made again as the file is copied
/// (each held change costs its bytes and about 60 more).
pub(crate) const MAX_HELD: usize = 100_000;

/// A change on the original bytes, with the new bytes in the file's encoding.
#[derive(Debug, Clone)]
pub(crate) struct RawPatch {
    pub range: Range<usize>,
    pub bytes: Vec<u8>,
    /// Hash of the bytes it replaces, so a plan is never applied to another file.
    pub check: u64,
    /// The listed edit it belongs to (`usize::MAX`: an edit beyond the listed ones).
    pub edit: usize,
}

/// Receives the changes in document order, on the original bytes.
pub(crate) trait PatchOut {
    fn put(&mut self, range: Range<usize>, old: &[u8], new: Vec<u8>, edit: usize) -> Result<(), XmlError>;
}

/// The digest of a sequence of changes: where, what was there, what comes instead.
#[derive(Clone, Default)]
pub(crate) struct ChangeDigest {
    hash: Sha256,
    pub count: usize,
}

impl ChangeDigest {
    fn add(&mut self, range: &Range<usize>, old: &[u8], new: &[u8]) {
        self.count += 1;
        self.hash.update((range.start as u64).to_le_bytes());
        self.hash.update((range.end as u64).to_le_bytes());
        self.hash.update(old);
        self.hash.update((new.len() as u64).to_le_bytes());
        self.hash.update(new);
    }

    pub fn finish(self) -> [u8; 32] {
        self.hash.finalize().into()
    }
}

pub(crate) fn hash(bytes: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// Planning: every change digested, and held while there are at most [`MAX_HELD`].
pub(crate) struct PlanOut {
    pub held: Option<Vec<RawPatch>>,
    pub digest: ChangeDigest,
    max: usize,
}

impl PlanOut {
    /// Holds at most `max` changes (else none).
    pub fn new(max: usize) -> PlanOut {
        PlanOut {
            held: Some(Vec::new()),
            digest: ChangeDigest::default(),
            max,
        }
    }
}

impl PatchOut for PlanOut {
    fn put(&mut self, range: Range<usize>, old: &[u8], new: Vec<u8>, edit: usize) -> Result<(), XmlError> {
        self.digest.add(&range, old, &new);
        if self.held.as_ref().is_some_and(|h| h.len() >= self.max) {
            self.held = None;
        }
        if let Some(h) = &mut self.held {
            h.push(RawPatch {
                check: hash(old),
                range,
                bytes: new,
                edit,
            });
        }
        Ok(())
    }
}

/// Rewriting: the original bytes copied around each change as it comes.
pub(crate) struct WriteOut<'w, W: Write + ?Sized> {
    pub bytes: &'w [u8],
    pub src: Option<&'w Source>,
    pub out: &'w mut W,
    pub copied: usize,
    pub digest: ChangeDigest,
}

impl<W: Write + ?Sized> WriteOut<'_, W> {
    /// Copies what follows the last change.
    pub fn finish(&mut self) -> Result<(), XmlError> {
        copy_out(self.out, self.bytes, self.copied..self.bytes.len(), self.src)?;
        self.copied = self.bytes.len();
        Ok(())
    }
}

impl<W: Write + ?Sized> PatchOut for WriteOut<'_, W> {
    fn put(&mut self, range: Range<usize>, old: &[u8], new: Vec<u8>, _edit: usize) -> Result<(), XmlError> {
        self.digest.add(&range, old, &new);
        copy_out(self.out, self.bytes, self.copied..range.start, self.src)?;
        self.out.write_all(&new)?;
        self.copied = range.end;
        Ok(())
    }
}

/// Copies `bytes[range]` a megabyte at a time, giving the pages behind back as it goes (a
/// stretch without changes may be most of a large file).
pub(crate) fn copy_out<W: Write + ?Sized>(
    out: &mut W,
    bytes: &[u8],
    range: Range<usize>,
    src: Option<&Source>,
) -> std::io::Result<()> {
    let mut at = range.start;
    while at < range.end {
        let end = (at + (1 << 20)).min(range.end);
        out.write_all(&bytes[at..end])?;
        if let Some(s) = src {
            s.release_before(end);
        }
        at = end;
    }
    Ok(())
}

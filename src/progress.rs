//! How long work reports how far it is and learns that it should stop: a progress callback
//! and one cancellation token for a whole run (made once, e.g. in `main` with one Ctrl-C
//! handler, and passed to every stage).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Progress of a long operation: `done` of `total` items.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Progress nobody watches.
pub fn quiet(_: usize, _: usize) {}

/// A cancellation shared by everything a run does. Stages check it between files: work in
/// flight finishes, nothing partial is left, and their reports say they were cancelled.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    #[must_use]
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag the stages read.
    #[must_use]
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

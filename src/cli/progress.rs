//! Progress for people: a bar on a terminal, plain lines (every 10 %) otherwise, and only for
//! work that takes longer than a second.

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    last_decile: AtomicUsize,
    started: std::time::Instant,
}

impl Progress {
    /// `quiet`: no bar and no lines (JSON output, say).
    pub fn new(label: &'static str, quiet: bool) -> Progress {
        let bar = (!quiet && io::stderr().is_terminal()).then(|| {
            // Drawn from the first update on: a bar of nothing (`0/0 files`) says nothing.
            let b = ProgressBar::hidden();
            if let Ok(style) =
                ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} files {elapsed_precise}")
            {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(label);
            b
        });
        Progress {
            bar,
            label,
            last_decile: AtomicUsize::new(usize::MAX),
            started: std::time::Instant::now(),
        }
    }

    pub fn update(&self, done: usize, total: usize) {
        if let Some(b) = &self.bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
            if b.is_hidden() {
                b.set_draw_target(ProgressDrawTarget::stderr());
            }
        } else {
            if self.started.elapsed() < std::time::Duration::from_secs(1) {
                return;
            }
            let decile = done * 10 / total.max(1);
            if self.last_decile.swap(decile, Ordering::Relaxed) != decile {
                // stderr may be closed (`dams plan 2>&1 | head`): a message is never worth
                // a panic.
                say_err!("{}: {done}/{total} files", self.label);
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

//! Progress for people: a bar on a terminal, plain lines (every 10 %) otherwise, and only for
//! work that takes longer than a second.

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
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
            quiet,
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
        } else if let Some(line) = self.line(done, total) {
            // stderr may be closed (`dams plan 2>&1 | head`): a message is never worth a
            // panic.
            say_err!("{line}");
        }
    }

    /// The plain line to print for this count, when one is due: never when quiet (JSON
    /// output printed them all the same), after the first second, once per tenth.
    fn line(&self, done: usize, total: usize) -> Option<String> {
        if self.quiet || self.started.elapsed() < std::time::Duration::from_secs(1) {
            return None;
        }
        let decile = done * 10 / total.max(1);
        (self.last_decile.swap(decile, Ordering::Relaxed) != decile)
            .then(|| format!("{}: {done}/{total} files", self.label))
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started_long_ago(quiet: bool) -> Progress {
        Progress {
            bar: None,
            quiet,
            label: "scan",
            last_decile: AtomicUsize::new(usize::MAX),
            started: std::time::Instant::now() - std::time::Duration::from_secs(5),
        }
    }

    /// Plain lines once per tenth of the work, and none at all when quiet (`--json`).
    #[test]
    fn lines_once_per_tenth_and_never_when_quiet() {
        let p = started_long_ago(false);
        assert_eq!(p.line(5, 100).as_deref(), Some("scan: 5/100 files"));
        assert_eq!(p.line(9, 100), None);
        assert_eq!(p.line(10, 100).as_deref(), Some("scan: 10/100 files"));
        let q = started_long_ago(true);
        assert_eq!(q.line(5, 100), None);
        assert_eq!(q.line(50, 100), None);
    }
}

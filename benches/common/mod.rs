//! What the micro benchmarks share (each bench is its own binary and includes this module).

use std::time::{Duration, Instant};

/// How often a micro benchmark repeats its measurement; the best time counts.
pub const ROUNDS: usize = 5;

/// The shortest of [`ROUNDS`] runs of `f`: the run least disturbed by the rest of the machine.
pub fn best(mut f: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

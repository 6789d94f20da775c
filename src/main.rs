//! The `dams` command: argument parsing, the one Ctrl-C handler, and how errors and exit
//! codes reach the shell. The commands live in `cli/`, the work in the library.

// No function over 100 lines outside tests (issue 20): CI denies warnings, so a long one
// fails it. Split it into named steps rather than allowing it.
#![warn(clippy::too_many_lines)]

mod cli;

use std::process::ExitCode;

/// A file size limit (`ulimit -f`) would kill dams with SIGXFSZ in the middle of a write.
/// Ignored, the write fails with EFBIG instead, and the file is reported like any other
/// write error while the rest of the batch goes on.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_IGN installs no
    // handler code.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// glibc's allocator as dams' memory use needs it (issue 17). By default it raises the size
/// from which a block gets pages of its own each time such a block is freed, so the large
/// vectors a search is built from (tens of MB, dropped once it is built) end up inside the
/// heap, whose holes are never handed back: at 10,000 patients `dams plan` peaked 15 % higher.
/// A fixed threshold keeps them out, and each is returned whole when freed. Fewer arenas: a
/// block freed in one thread's arena is not reused by another's.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first thing in main, before any thread exists or allocates; mallopt only
    // sets glibc's parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// glibc's arenas ([`tune_allocator`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

fn main() -> ExitCode {
    tune_allocator();
    ignore_file_size_signal();
    let args = match cli::parse() {
        Ok(args) => args,
        Err(code) => return code,
    };
    cli::init_logging();
    // One cancellation for the whole run, set by Ctrl-C: every stage stops between files,
    // leaves nothing partial, and says it was cancelled.
    let ctx = cli::Ctx {
        cancel: dams::progress::Cancel::new(),
    };
    let cancel = ctx.cancel.clone();
    if ctrlc::set_handler(move || cancel.cancel()).is_err() {
        cli::err_line("dams: warning: Ctrl-C cannot be caught here; it will stop dams without cleaning up");
    }
    match cli::run(args, &ctx) {
        Ok(exit) => exit.into(),
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if ctx.cancel.is_cancelled() => {
            cli::err_line(&format!("dams: cancelled: {}", cli::shown_error(&e)));
            cli::Exit::Cancelled.into()
        }
        Err(e) => {
            cli::err_line(&format!("dams: {}", cli::shown_error(&e)));
            cli::Exit::Error.into()
        }
    }
}

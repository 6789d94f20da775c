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

fn main() -> ExitCode {
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

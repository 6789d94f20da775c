//! dams' exit status, one table for every command (the README has the same table), so that
//! scripts can rely on it.

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; nothing needs attention. Listing commands (scan, plan, xml, assign, key info,
    /// profile) end so whenever they could list.
    Done,
    /// Done, but something needs attention: a file was not written (failed, damaged, no
    /// patient, XML without a patient), verify found a problem or an identifier left, a mask
    /// has no source CT (map), a code was not found (key lookup), the user said no.
    Attention,
    /// A usage error, or nothing could be done (no such folder, a damaged key store, a bad
    /// profile, a refused output folder).
    Error,
    /// Stopped by Ctrl-C: what was done is complete, the rest was not done (128 + SIGINT).
    Cancelled,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Attention => 1,
            Exit::Error => 2,
            Exit::Cancelled => 130,
        }
    }

    /// `Done` when nothing needs attention, else `Attention`.
    pub fn unless(attention: bool) -> Exit {
        if attention { Exit::Attention } else { Exit::Done }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

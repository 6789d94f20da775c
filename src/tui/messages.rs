//! The screen's contract with its runtime: `Msg` is what happened (keys, and the results of
//! work done elsewhere), `Effect` is work for the runtime (scanning, planning, saving,
//! writing). `update` turns one message into new state and effects; it never does the work.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use super::decision::Change;
use super::panes::diff::DiffData;
use crate::apply::ApplyReport;
use crate::plan::Planner;
use crate::review::Workspace;
use crate::scan::{Index, Instance, Outcome, XmlFile};
use crate::send::SendReport;

/// Something that happened.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The scan found this many files (and will read them).
    ScanTotal(usize),
    ScanBatch(Vec<Outcome>),
    ScanDone,
    ScanFailed(String),
    /// A plan is ready (see [`Effect::Prepare`]).
    Prepared(Box<Prepared>),
    /// The plan of a diff or confirmation request.
    Diff {
        generation: u64,
        data: DiffData,
    },
    /// Review decisions were saved: the decisions as stored (other windows' included), or why
    /// they could not be.
    Saved(Result<Workspace, String>),
    WriteProgress {
        done: usize,
        total: usize,
    },
    /// The write ended (`at`: when, RFC 3339), or why nothing was written.
    WriteDone {
        result: Result<ApplyReport, String>,
        at: String,
    },
    /// The nodes of the config file, for sending these patients (see [`Effect::ListNodes`]).
    Nodes {
        patients: Vec<String>,
        result: Result<Nodes, String>,
    },
    /// How far a send is: verifying the patients' output files, then sending.
    SendProgress {
        stage: SendStage,
        done: usize,
        total: usize,
    },
    /// The send ended, or why nothing was sent.
    SendDone(Result<Box<Sent>, String>),
}

/// The nodes of the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes {
    /// Where they are configured (for the message when there are none).
    pub file: String,
    pub nodes: Vec<NodeChoice>,
}

/// A node of the config file, as the picker lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeChoice {
    pub name: String,
    /// Where it is and how ("RESEARCH@pacs:104, C-STORE").
    pub describe: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStage {
    Verifying,
    Sending,
}

/// What a send did: the node's report, and the files verify held back (with why).
#[derive(Debug, Clone)]
pub struct Sent {
    pub report: SendReport,
    pub refused: Vec<(PathBuf, String)>,
}

/// Work for the runtime.
#[derive(Debug)]
pub enum Effect {
    /// Scan the input folder (once, at the start).
    Scan,
    Prepare(PrepareJob),
    Diff {
        generation: u64,
        /// The confirmation's check, not the changes pane's.
        for_confirm: bool,
        request: DiffRequest,
    },
    /// Save these decisions, in order.
    Save(Vec<Change>),
    Write(WriteJob),
    /// Stop the running write or send (files in progress are finished; nothing partial is
    /// left; a send stops between instances).
    CancelWrite,
    /// Read the config file's nodes, to send these patients.
    ListNodes(Vec<String>),
    Send(SendJob),
    /// Quit (after the decisions asked to be saved are saved).
    Quit,
}

/// How much preparing there is to do, least first; two requests merge into the larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// While the scan runs: codes and edits only (links and XML owners need every file).
    Codes,
    /// Links, repairs, XML owners, codes: what review decisions change.
    Plan,
    /// Place the files without a `PatientID` again (an assignment by hand changed), then plan.
    Place,
    /// The scan is done: complete the Index (XML assignment, placing), then plan.
    Finish,
}

/// Make a planner for this Index and these decisions.
#[derive(Debug)]
pub struct PrepareJob {
    pub generation: u64,
    pub index: Arc<Index>,
    pub ws: Workspace,
    pub step: Step,
    /// The key store changed on disk (a write added codes): read it again first.
    pub reload_key: bool,
}

impl PrepareJob {
    /// One job doing what both asked for, on the newer state.
    #[must_use]
    pub fn merge(older: PrepareJob, newer: PrepareJob) -> PrepareJob {
        PrepareJob {
            step: older.step.max(newer.step),
            reload_key: older.reload_key || newer.reload_key,
            ..newer
        }
    }
}

#[derive(Debug)]
pub struct Prepared {
    pub generation: u64,
    /// The completed Index (for `Finish` and `Place`).
    pub index: Option<Arc<Index>>,
    pub planner: Arc<Planner>,
    /// What to tell the user (stale manual links, key store warnings, errors).
    pub notices: Vec<String>,
}

/// Plan these files of one patient (for the changes pane or a confirmation).
#[derive(Debug, Clone)]
pub struct DiffRequest {
    pub planner: Arc<Planner>,
    pub patient: String,
    pub instances: Vec<Instance>,
    pub xml: Vec<XmlFile>,
    /// Instead of the files above: every file of these patients, only counted
    /// ([`crate::plan::stays::check`]), for the confirmation of several patients.
    pub batch: Option<(Arc<Index>, BTreeSet<String>)>,
}

/// Verify the output files of these patients, then send the clean ones to `node`.
#[derive(Debug)]
pub struct SendJob {
    pub index: Arc<Index>,
    pub planner: Arc<Planner>,
    pub patients: BTreeSet<String>,
    /// A node's name in the config file.
    pub node: String,
}

/// Write these patients as planned.
#[derive(Debug)]
pub struct WriteJob {
    pub index: Arc<Index>,
    pub planner: Arc<Planner>,
    pub patients: BTreeSet<String>,
}

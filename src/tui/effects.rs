//! The one place the review screen calls the library: opening the key store and the review
//! state, scanning, preparing the plan (links, repairs, XML owners, placing files without a
//! `PatientID`), planning diffs, saving decisions and writing. The runtime runs these off the
//! UI thread; the test harness runs them in line. Nothing here knows about terminals.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rayon::prelude::*;

use super::decision::{Change, apply_all};
use super::messages::{
    DiffRequest, Msg, NodeChoice, Nodes, PrepareJob, Prepared, SendJob, SendStage, Sent, Step, WriteJob,
};
use super::panes::diff::DiffData;
use crate::apply::{self, ApplyError, Target};
use crate::key::{KeyError, KeyStore};
use crate::plan::Planner;
use crate::plan::summary::summarise;
use crate::profile::Profile;
use crate::review::{ReviewError, ReviewState, Workspace};
use crate::scan::{self, Index, Outcome, ScanOptions};
use crate::{send, verify};

/// What the review screen works on.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub out: PathBuf,
    pub key_path: PathBuf,
    pub profile: Profile,
    /// The config file naming the nodes to send to (`None`: `$DAMS_CONFIG`, else dams'
    /// config folder). Read when the user sends, not before.
    pub config: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Target(#[from] ApplyError),
    #[error("terminal: {0}")]
    Io(#[from] io::Error),
}

/// What the screen starts with.
#[derive(Debug, Clone)]
pub struct Init {
    pub root: PathBuf,
    pub out: PathBuf,
    pub profile: String,
    pub ws: Workspace,
    pub notices: Vec<String>,
}

/// Everything opened for a session, split by the worker that uses it.
pub struct Opened {
    pub init: Init,
    pub planning: Planning,
    pub saving: Saving,
    pub writer: Writer,
    pub scanner: Scanner,
    pub sender: SendWorker,
}

/// The output folder as it is compared with the review state's `written_to`: absolute, and
/// canonical where it exists (so that `out`, `./out` and a link to it are one folder).
fn normal_out(out: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(out) {
        return c;
    }
    match (out.parent(), out.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
        .map_or_else(|_| out.to_path_buf(), |p| p.join(name)),
        _ => out.to_path_buf(),
    }
}

/// Opens everything that can refuse to start (before the terminal is taken over).
///
/// # Errors
///
/// `TuiError` when the key store, the review state or the profile cannot be opened.
pub fn open(opts: &Options) -> Result<Opened, TuiError> {
    let key = KeyStore::open_or_create(&opts.key_path)?;
    let review = ReviewState::open(&key)?;
    apply::check_target(&opts.root, &Target::Folder(opts.out.clone()), key.location())?;
    if !opts.root.is_dir() {
        return Err(TuiError::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a folder", opts.root.display()),
        )));
    }
    let out = normal_out(&opts.out);
    let init = Init {
        root: opts.root.clone(),
        out: out.clone(),
        profile: opts.profile.name.clone(),
        // Patients are named by keyed hashes until the scan has found them (`resolve`).
        ws: review.workspace(&opts.root)?,
        notices: key.warnings.clone(),
    };
    Ok(Opened {
        init,
        planning: Planning {
            profile: opts.profile.clone(),
            key,
            key_path: opts.key_path.clone(),
        },
        saving: Saving {
            root: opts.root.clone(),
            review,
        },
        writer: Writer {
            key_path: opts.key_path.clone(),
            out,
        },
        sender: SendWorker {
            key_path: opts.key_path.clone(),
            out: normal_out(&opts.out),
            config: opts.config.clone(),
        },
        scanner: Scanner {
            root: opts.root.clone(),
            exclude: vec![opts.out.clone()],
        },
    })
}

/// Scans the input folder.
pub struct Scanner {
    root: PathBuf,
    exclude: Vec<PathBuf>,
}

impl Scanner {
    /// Sends what it finds as it goes: the total, batches of files read, the end.
    pub fn run(&self, send: &(dyn Fn(Msg) + Sync), pool: Option<&rayon::ThreadPool>) {
        let started = std::time::Instant::now();
        let (files, problems) = match scan::discover(
            &self.root,
            &ScanOptions {
                exclude: self.exclude.clone(),
            },
        ) {
            Ok(found) => found,
            Err(e) => return send(Msg::ScanFailed(e.to_string())),
        };
        send(Msg::ScanTotal(files.len() + problems.len()));
        if !problems.is_empty() {
            send(Msg::ScanBatch(problems.into_iter().map(Outcome::Unreadable).collect()));
        }
        let root = &self.root;
        let work = || {
            files.par_chunks(64).for_each(|chunk| {
                send(Msg::ScanBatch(
                    chunk.iter().map(|rel| scan::read_one(root, rel)).collect(),
                ));
            });
        };
        match pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
        tracing::info!(
            files = files.len(),
            ms = started.elapsed().as_millis() as u64,
            "scan finished"
        );
        send(Msg::ScanDone);
    }
}

/// Prepares plans: holds the key store (read again after a write added codes).
pub struct Planning {
    profile: Profile,
    key: KeyStore,
    key_path: PathBuf,
}

impl Planning {
    pub fn run(&mut self, mut job: PrepareJob) -> Msg {
        let mut notices = Vec::new();
        if job.reload_key {
            match KeyStore::open(&self.key_path) {
                Ok(k) => self.key = k,
                Err(e) => notices.push(e.to_string()),
            }
        }
        let mut completed = None;
        let index: &Index = match job.step {
            Step::Codes | Step::Plan => &job.index,
            Step::Place | Step::Finish => {
                let mut index = Arc::unwrap_or_clone(job.index.clone());
                if job.step == Step::Finish {
                    index.finish();
                }
                // The patients files may be assigned to are those the automatic placement
                // found; the review state names them by hash until then.
                job.ws.resolve(index.patients.iter().map(|p| p.patient_id.as_str()));
                if job.step == Step::Place || !job.ws.file_assignments.is_empty() {
                    index.place_orphans(&job.ws.file_assignments);
                }
                // XML files go to their patients once every file has its patient.
                crate::xml::assign_all(&mut index);
                completed.insert(Arc::new(index))
            }
        };
        let planner = if job.step == Step::Codes {
            Planner::new(index, self.profile.clone(), &self.key)
        } else {
            let prepared = crate::plan::prepare(index, self.profile.clone(), &self.key, &job.ws);
            notices.extend(prepared.stale.iter().map(ToString::to_string));
            notices.extend(prepared.stale_xml);
            prepared.planner
        };
        drop(job.index);
        Msg::Prepared(Box::new(Prepared {
            generation: job.generation,
            index: completed,
            planner: Arc::new(planner),
            notices,
        }))
    }
}

/// Plans the requested files and summarises them.
#[must_use]
pub fn diff(root: &Path, req: &DiffRequest) -> DiffData {
    if let Some((index, patients)) = &req.batch {
        let never = std::sync::atomic::AtomicBool::new(false);
        let stays = crate::plan::stays::check(index, &req.planner, Some(patients), &crate::progress::quiet, &never);
        return DiffData {
            summary: crate::plan::summary::Summary {
                files: req.instances.len(),
                ..Default::default()
            },
            failed: Vec::new(),
            xml: Vec::new(),
            stays,
        };
    }
    let results: Vec<_> = req
        .instances
        .par_iter()
        .map(|i| req.planner.plan_file(root, i, &req.patient).map(|(_, fp)| fp))
        .collect();
    let mut plans = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(p) => plans.push(p),
            Err(e) => failed.push(e),
        }
    }
    let mut xml = Vec::new();
    for x in &req.xml {
        match req.planner.plan_xml(root, x) {
            Ok((_, fp)) => xml.push(fp),
            Err(e) => failed.push(e),
        }
    }
    DiffData {
        summary: summarise(&plans),
        failed,
        xml,
        stays: None,
    }
}

/// Saves review decisions in the key store.
pub struct Saving {
    root: PathBuf,
    review: ReviewState,
}

impl Saving {
    pub fn run(&mut self, changes: &[Change]) -> Msg {
        Msg::Saved(
            self.review
                .update(&self.root, |ws| apply_all(changes, ws))
                .map_err(|e| e.to_string()),
        )
    }
}

/// Writes approved patients into the output folder.
pub struct Writer {
    key_path: PathBuf,
    out: PathBuf,
}

impl Writer {
    pub fn run(&self, job: &WriteJob, progress: &(dyn Fn(usize, usize) + Sync), cancel: &AtomicBool) -> Msg {
        let result = KeyStore::open(&self.key_path)
            .map_err(|e| e.to_string())
            .and_then(|mut key| {
                apply::apply(
                    &job.index,
                    &job.planner,
                    &mut key,
                    &Target::Folder(self.out.clone()),
                    Some(&job.patients),
                    progress,
                    cancel,
                )
                .map_err(|e| match e {
                    // Another dams process sharing the key gave out a code of this plan:
                    // nothing was written; the screen plans again with the key as it is.
                    ApplyError::Key(KeyError::Changed { location }) => format!(
                        "another dams process sharing the key store {location} gave out codes of this plan meanwhile. Nothing was written; the plan is made again with the codes the key holds now: write again to use them"
                    ),
                    e => e.to_string(),
                })
            });
        if let Ok(r) = &result {
            tracing::info!(
                written = r.written,
                failed = r.failed.len(),
                cancelled = r.cancelled,
                "tui write"
            );
        }
        Msg::WriteDone {
            result,
            at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }
}

/// Sends written patients to a node of the config file: their output files are verified
/// first (against the input and the plan, and the manifest), and only clean ones are sent.
pub struct SendWorker {
    key_path: PathBuf,
    out: PathBuf,
    config: Option<PathBuf>,
}

impl SendWorker {
    /// The config file's nodes (none when there is no config file), or why it cannot be used.
    pub fn nodes(&self, patients: Vec<String>) -> Msg {
        let result = send::Config::load(self.config.as_deref())
            .map(|c| Nodes {
                file: c.file(),
                nodes: c
                    .list()
                    .into_iter()
                    .map(|(name, describe)| NodeChoice { name, describe })
                    .collect(),
            })
            .map_err(|e| e.to_string());
        Msg::Nodes { patients, result }
    }

    /// Verifies, then sends. `progress(stage, done, total)`; `cancel` is looked at between
    /// files.
    pub fn run(&self, job: &SendJob, progress: &(dyn Fn(SendStage, usize, usize) + Sync), cancel: &AtomicBool) -> Msg {
        let result = self.verify_and_send(job, progress, cancel);
        if let Ok(s) = &result {
            tracing::info!(
                sent = s.report.sent,
                failed = s.report.failed.len(),
                refused = s.refused.len(),
                cancelled = s.report.cancelled,
                "tui send"
            );
        }
        Msg::SendDone(result.map(Box::new))
    }

    fn verify_and_send(
        &self,
        job: &SendJob,
        progress: &(dyn Fn(SendStage, usize, usize) + Sync),
        cancel: &AtomicBool,
    ) -> Result<Sent, String> {
        let node = send::Config::load(self.config.as_deref())
            .and_then(|c| c.node(&job.node))
            .map_err(|e| e.to_string())?;
        let key = KeyStore::open(&self.key_path).map_err(|e| e.to_string())?;
        let verified = verify::verify_patients(
            &self.out,
            &job.index,
            &job.planner,
            &key,
            &job.patients,
            &|d, t| progress(SendStage::Verifying, d, t),
            cancel,
        )
        .map_err(|e| e.to_string())?;
        if verified.report.cancelled {
            return Err("cancelled while verifying: nothing was sent".into());
        }
        let (clean, mut refused) = sendable(&verified, &job.patients, &job.index, &job.planner);
        let mut outgoing = send::files_at(&self.out, &clean);
        refused.extend(
            outgoing
                .unreadable
                .drain(..)
                .map(|u| (u.path, format!("cannot be read: {}", u.reason))),
        );
        let report = send::send(
            &self.out,
            &outgoing.files,
            &node,
            &send::SendOptions::default(),
            &|d, t| progress(SendStage::Sending, d, t),
            cancel,
        )
        .map_err(|e| e.to_string())?;
        Ok(Sent { report, refused })
    }
}

/// The patients' DICOM output files verify found clean (XML is never sent), and those it did
/// not, each with its first finding.
fn sendable(
    verified: &verify::PatientsVerified,
    patients: &std::collections::BTreeSet<String>,
    index: &Index,
    planner: &Planner,
) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let why = verified.report.first_findings();
    let clean: std::collections::HashSet<&PathBuf> = verified.clean.iter().collect();
    let mut out = Vec::new();
    let mut ok = Vec::new();
    for p in index.patients.iter().filter(|p| patients.contains(&p.patient_id)) {
        for i in p.instances() {
            let dest = planner.dest(&i.path);
            if clean.contains(&dest) {
                ok.push(dest);
                continue;
            }
            let reason = why
                .get(&dest)
                .or_else(|| why.get(&i.path))
                .cloned()
                .unwrap_or_else(|| "verify did not find it clean".into());
            out.push((dest, reason));
        }
    }
    ok.sort();
    (ok, out)
}

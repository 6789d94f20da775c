//! The Engine: the one way into dams for its faces (the command line, the review screen) and
//! for programs that embed it. It holds what a run needs — the profile, the key store, the
//! review decisions and one cancellation token — and offers the pipeline's stages:
//!
//! ```text
//! scan → prepare (links, repairs, XML owners, codes) → plan (a stream of per-file plans)
//!      → apply (writes exactly those plans) → verify
//! ```
//!
//! Nothing here knows about terminals; nothing above it decides what gets written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::apply::{ApplyError, ApplyReport, Target};
use crate::key::{KeyError, KeyStore};
use crate::plan::{Plan, PlanSink, Prepared};
use crate::profile::Profile;
use crate::progress::{Cancel, Progress};
use crate::review::{ReviewError, ReviewState, Workspace};
use crate::scan::{Index, ScanError, ScanOptions};
use crate::verify::VerifyReport;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),
    #[error("cancelled")]
    Cancelled,
}

/// The profile, key store, review state and cancellation of one run.
#[derive(Debug)]
pub struct Engine {
    profile: Profile,
    key: KeyStore,
    review: ReviewState,
    cancel: Cancel,
}

impl Engine {
    /// An engine over a key store (opened by the caller: it decides whether a missing store
    /// may be created) and the review state kept in it.
    ///
    /// # Errors
    ///
    /// An `EngineError` when the review state in the key store cannot be read.
    pub fn new(key: KeyStore, profile: Profile, cancel: Cancel) -> Result<Engine, EngineError> {
        let review = ReviewState::open(&key)?;
        Ok(Engine {
            profile,
            key,
            review,
            cancel,
        })
    }

    /// Opens (creating it, with its secret and no code, if missing) the key store at
    /// `key_path`: anything that plans needs it, so that the UIDs a plan shows are the ones
    /// written later.
    ///
    /// # Errors
    ///
    /// An `EngineError` when the key store cannot be opened or created, or its review state cannot
    /// be read.
    pub fn open(key_path: &Path, profile: Profile, cancel: Cancel) -> Result<Engine, EngineError> {
        Engine::new(KeyStore::open_or_create(key_path)?, profile, cancel)
    }

    /// Creates the key store if it is not there yet (an engine made by [`Engine::new`] over
    /// [`KeyStore::open`] makes nothing until then), with the secret it was opened with; the
    /// review state is kept in it from then on.
    ///
    /// # Errors
    ///
    /// An `EngineError` when the store cannot be created (or another process created it
    /// meanwhile, with another secret).
    pub fn create_key_store(&mut self) -> Result<(), EngineError> {
        if !self.key.exists() {
            self.key.ensure_created()?;
            self.review = ReviewState::open(&self.key)?;
        }
        Ok(())
    }

    #[must_use]
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    #[must_use]
    pub fn key(&self) -> &KeyStore {
        &self.key
    }

    #[must_use]
    pub fn review(&self) -> &ReviewState {
        &self.review
    }

    #[must_use]
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// The decisions made in review for an input folder. Patients are named in the store by
    /// keyed hashes: those of `index` (when given) are named by their keys again.
    ///
    /// # Errors
    ///
    /// An `EngineError` when the review state cannot be read from the key store.
    pub fn workspace(&self, root: &Path) -> Result<Workspace, EngineError> {
        Ok(self.review.workspace(root)?)
    }

    /// Changes and saves the decisions for an input folder.
    ///
    /// # Errors
    ///
    /// An `EngineError` when the review state cannot be read or saved.
    pub fn update_workspace(
        &mut self,
        root: &Path,
        change: impl FnOnce(&mut Workspace),
    ) -> Result<Workspace, EngineError> {
        Ok(self.review.update(root, change)?)
    }

    /// Reads every header below `root` (never pixel data) into an Index: files without a
    /// `PatientID` placed (with the assignments made by hand for this folder), XML files given
    /// to their patients. `exclude`: folders not to descend into (an output folder inside
    /// the tree, say).
    ///
    /// # Errors
    ///
    /// An `EngineError` when `root` or the review state cannot be read; files that cannot be read
    /// are rows of the Index. A lean key store ([`KeyStore::open_lean`]) fetches the entries
    /// of its patients ([`KeyStore::fetch_patients`]).
    pub fn scan(&mut self, root: &Path, exclude: Vec<PathBuf>, progress: Progress) -> Result<Index, EngineError> {
        let mut index = crate::scan::scan(root, &ScanOptions { exclude }, progress, self.cancel.flag())?;
        let mut ws = self.workspace(root)?;
        if !ws.file_assignments.is_empty() {
            // The patients files may be assigned to are those of the automatic placement.
            ws.resolve(index.patients.iter().map(|p| p.patient_id.as_str()));
            index.place_orphans(&ws.file_assignments);
        }
        crate::xml::assign_all(&mut index);
        self.key.fetch_patients(&crate::plan::candidates(&index))?;
        Ok(index)
    }

    /// Places files by hand again after the assignments changed (review screen, `dams
    /// assign`), and the XML files with them (and fetches the entries of patients formed so).
    ///
    /// # Errors
    ///
    /// An `EngineError` when a lean key store cannot be read.
    pub fn replace_files(&mut self, index: &mut Index, ws: &Workspace) -> Result<(), EngineError> {
        index.place_orphans(&ws.file_assignments);
        crate::xml::assign_all(index);
        self.key.fetch_patients(&crate::plan::candidates(index))?;
        Ok(())
    }

    /// Which CT series each segmentation object of the Index was drawn on (automatic links
    /// only: what `dams scan` shows).
    #[must_use]
    pub fn links(&self, index: &Index) -> crate::link::Links {
        crate::link::resolve(index)
    }

    /// Everything planning needs for this Index: codes (existing or proposed), links with
    /// the manual ones in force, repairs, XML owners, with the review decisions of its folder.
    ///
    /// # Errors
    ///
    /// An `EngineError` when the review state of the folder cannot be read.
    pub fn prepare(&self, index: &Index) -> Result<Prepared, EngineError> {
        Ok(self.prepare_with(index, &self.workspace(&index.root)?))
    }

    /// Records the new codes of `prepared` in the key store, in one transaction (then the date
    /// offsets it uses that the key does not hold yet), before
    /// anything is written. When another process sharing the key gave out some of the
    /// proposed codes meanwhile, the plan is made again with the codes the key holds now
    /// (up to 20 times), so `prepared` afterwards carries the codes that will be written.
    /// Returns how many codes were added. A code of the key that is a real ID of the input, and
    /// input that looks like dams output already (unless `prepared.planner.recode`), are
    /// refused first: nothing is recorded then.
    ///
    /// # Errors
    ///
    /// An `EngineError` when a code of the key is a real ID of the input
    /// ([`crate::plan::CodeConflict`]), the input looks like dams output and recoding was not
    /// asked for, or the key store refuses or cannot write the new codes or offsets.
    pub fn commit_codes(&mut self, index: &Index, prepared: &mut Prepared) -> Result<usize, EngineError> {
        let recode = prepared.planner.recode;
        // Refused before anything is recorded: a code that is another patient's ID would be
        // written, and a code given to dams' own output would make the next identical run
        // take that output for a patient of its own.
        crate::apply::refuse_code_conflicts(&prepared.planner)?;
        let all: Vec<&crate::scan::Patient> = index.patients.iter().collect();
        crate::apply::refuse_recoding(&prepared.planner, &all)?;
        let mut attempt = 1;
        let existed = self.key.exists();
        loop {
            let new: Vec<_> = prepared
                .planner
                .new_entries
                .iter()
                .filter(|e| self.key.code_for(&e.patient_id).is_none())
                .cloned()
                .collect();
            let offsets = prepared.planner.new_offsets();
            // A store opened without creating it is made here, even with no code to record:
            // the manifest names the secret the plan was made with.
            let committed = self
                .key
                .ensure_created()
                .and_then(|()| self.key.commit(&new))
                .and_then(|()| self.key.record_offsets(&offsets));
            match committed {
                Ok(()) => {
                    if !existed {
                        self.review = ReviewState::open(&self.key)?;
                    }
                    return Ok(new.len());
                }
                Err(e) if e.is_changed() && attempt < 20 => {
                    attempt += 1;
                    tracing::info!(attempt, "the key store changed meanwhile; planning again");
                    self.key.refresh()?;
                    *prepared = self.prepare(index)?;
                    prepared.planner.recode = recode;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// [`Engine::prepare`] with decisions that are not saved (yet).
    #[must_use]
    pub fn prepare_with(&self, index: &Index, ws: &Workspace) -> Prepared {
        crate::plan::prepare(index, self.profile.clone(), &self.key, ws)
    }

    /// Plans every file of the patients (all, or those in `only`), handing each file's plan
    /// to `sink` as it is made. The same stream feeds `dams plan`, apply and verify.
    ///
    /// # Errors
    ///
    /// An `EngineError` when planning is cancelled; a file that cannot be planned goes to `sink` as
    /// a failure.
    pub fn plan_each(
        &self,
        index: &Index,
        prepared: &Prepared,
        only: Option<&BTreeSet<String>>,
        progress: Progress,
        sink: &dyn PlanSink,
    ) -> Result<(), EngineError> {
        let mode = crate::plan::Mode::Review;
        if crate::plan::stream(index, &prepared.planner, only, mode, progress, self.cancel.flag(), sink) {
            Ok(())
        } else {
            Err(EngineError::Cancelled)
        }
    }

    /// What a write of these patients (all, or those in `only`) would leave: every file
    /// planned as for review, nothing written ([`crate::plan::stays::check`]).
    ///
    /// # Errors
    ///
    /// An `EngineError` when the check is cancelled.
    pub fn check(
        &self,
        index: &Index,
        prepared: &Prepared,
        only: Option<&BTreeSet<String>>,
        progress: Progress,
    ) -> Result<crate::plan::stays::Stays, EngineError> {
        crate::plan::stays::check(index, &prepared.planner, only, progress, self.cancel.flag())
            .ok_or(EngineError::Cancelled)
    }

    /// The whole plan as one value (for the review screen's dialogs and for tests; `dams
    /// plan` streams instead).
    ///
    /// # Errors
    ///
    /// An `EngineError` when planning is cancelled.
    pub fn plan(&self, index: &Index, prepared: &Prepared, progress: Progress) -> Result<Plan, EngineError> {
        crate::plan::build(index, &prepared.planner, progress, self.cancel.flag()).ok_or(EngineError::Cancelled)
    }

    /// Gives codes to these patients (those the key does not know yet), in one transaction,
    /// proposing again when another process gave out codes meanwhile. Returns how many were
    /// added.
    ///
    /// # Errors
    ///
    /// An `EngineError` when the key store refuses or cannot write the codes.
    pub fn allocate(&mut self, patients: &[crate::key::Candidate]) -> Result<usize, EngineError> {
        self.key.fetch_patients(patients)?;
        let mut attempt = 1;
        loop {
            let new = self.key.propose(patients);
            match self.key.commit(&new) {
                Ok(()) => return Ok(new.len()),
                Err(e) if e.is_changed() && attempt < 20 => {
                    attempt += 1;
                    self.key.refresh()?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes the plan of every patient (or of those in `only`) to `target`. Every code the
    /// output may carry is recorded in the key store before the first file is written (call
    /// [`Engine::commit_codes`] first to plan again instead of failing when another process
    /// took a proposed code meanwhile).
    ///
    /// # Errors
    ///
    /// An `EngineError` when apply refuses the target or cannot record the codes or write the
    /// output folder.
    pub fn apply(
        &mut self,
        index: &Index,
        prepared: &Prepared,
        target: &Target,
        only: Option<&BTreeSet<String>>,
        progress: Progress,
    ) -> Result<ApplyReport, EngineError> {
        Ok(crate::apply::apply(
            index,
            &prepared.planner,
            &mut self.key,
            target,
            only,
            progress,
            self.cancel.flag(),
        )?)
    }

    /// Checks the output folder `out` against its manifest (every file, its digest, its names
    /// and values searched for identifiers) and, when given, against the input `index` and
    /// its plan. The engine's profile must be the one the manifest records.
    ///
    /// # Errors
    ///
    /// An `EngineError` when the manifest cannot be read, records another profile or key, or the
    /// check is cancelled.
    pub fn verify(
        &self,
        out: &Path,
        against: Option<(&Index, &Prepared)>,
        progress: Progress,
    ) -> Result<VerifyReport, EngineError> {
        let against = against.map(|(i, p)| (i, &p.planner));
        Ok(crate::verify::verify(
            out,
            against,
            &self.key,
            progress,
            self.cancel.flag(),
        )?)
    }
}

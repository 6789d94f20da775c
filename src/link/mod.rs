//! Segmentation → source links: for every mask series, SEG and RTSTRUCT, the series it was
//! drawn on, with the evidence, a status, the user's manual links and the repair of mask tags;
//! and every other derived image (compressed copies, key images, screen captures, dose
//! reports) with the series it came from — shown, never repaired.
//!
//! # How it works
//!
//! [`resolve`] reads an [`Index`] (headers only, nothing is reread) and, patient by patient:
//!
//! 1. classifies every file by the evidence of its own header (the rule is spelled out in
//!    `classify.rs`): a segmentation, a derived image that is no segmentation, a localizer,
//!    or a possible source — each classification with its [`Clue`]s;
//! 2. groups the files into **objects**: the same claimed `SeriesInstanceUID` and SOP class,
//!    the same header signature (folder, `ImageType`, rows and columns, bits, photometric
//!    interpretation, `SeriesDescription`, manufacturer and software) — an object's files take
//!    the role most of them claim; a file that carries another series' UID (a source's, copied
//!    from the CT) or none, but the signature of a mask object beside it and a slice position
//!    it lacks, joins that object ([`Flag::AdoptedFiles`]); and per-slice masks form one slice
//!    stack per object: one orientation, one file per position, split only where positions
//!    repeat and the sources tell the stacks apart ([`Flag::SplitByStack`]);
//! 3. resolves each file's references — every SOP Instance UID it references through the
//!    sequences that name sources for its kind — among the *same patient's* files: a vote for
//!    a source series, a missing slice, an ignored localizer, a reference to a segmentation (never
//!    a source) or to itself; and sums them per object: **resolved** (one series),
//!    **ambiguous** (several: the votes, the majority as the proposed link, a decision
//!    required) or **unmatched** (none: [`Suggestion`]s by frame of reference or geometry,
//!    never taken as the answer). A file whose references are all missing follows its object
//!    ([`FileStatus::MissingReferences`]);
//! 4. flags what a reviewer should know (shared or copied UIDs, and how objects sharing one
//!    were told apart; duplicate SOP UIDs; instance numbers; missing references).
//!
//! [`Links::apply_overrides`] then puts the user's manual links in force, and
//! [`Links::repairs`] computes new tags for per-slice mask objects. Derived images are not
//! segmentations ([`Links::derived_images`]): they have no repair and no manual link, and
//! their UIDs are treated like any image's.
//!
//! # Group keys
//!
//! `<claimed SeriesInstanceUID>|<disambiguator>[|dir-<hash of folder>][|sig-<hash of the
//! header signature>][|stack-<n>][|<n>]`, where the disambiguator is the source series UID
//! (resolved), `ambiguous-<hash of the voted series>` or `unmatched-<hash of the referenced
//! UIDs>`, and the parts in brackets appear only where objects would otherwise share a key.
//! Everything in a key comes from file contents and relative paths, sorted, so a rescan of
//! the same folder gives the same keys whatever the order files were read in. Keys never
//! hold a `PatientID`, and folder names only hashed.

mod classify;
mod geometry;
mod repair;
mod resolve;

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::scan::Index;

pub use classify::{Clue, DerivedKind, RT_STRUCTURE_SET_STORAGE, SEGMENTATION_STORAGE, Says, Weight, is_localizer};
pub use repair::Repair;

/// What sort of derived object a group holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SegmentationKind {
    /// One image per source slice (Secondary Capture, CT/MR-like copies, …).
    #[serde(rename = "per-slice-mask")]
    PerSliceMask,
    /// DICOM Segmentation (one multi-frame object).
    #[serde(rename = "seg")]
    Seg,
    /// RT Structure Set (contours).
    #[serde(rename = "rtstruct")]
    RtStruct,
}

impl SegmentationKind {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            SegmentationKind::PerSliceMask => "per-slice mask",
            SegmentationKind::Seg => "SEG",
            SegmentationKind::RtStruct => "RTSTRUCT",
        }
    }

    /// The word for it in a list of series: `mask`, `SEG`, `RTSTRUCT`.
    #[must_use]
    pub fn short_label(self) -> &'static str {
        match self {
            SegmentationKind::PerSliceMask => "mask",
            SegmentationKind::Seg => "SEG",
            SegmentationKind::RtStruct => "RTSTRUCT",
        }
    }
}

/// How sure the link of a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkStatus {
    /// Every reference that resolves points into one source series.
    Resolved,
    /// References resolve into more than one series (the votes say how many each).
    Ambiguous,
    /// No reference resolves (the source is not in the folder); suggestions only.
    Unmatched,
    /// Set by the user through an override.
    Manual,
}

impl LinkStatus {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            LinkStatus::Resolved => "resolved",
            LinkStatus::Ambiguous => "ambiguous",
            LinkStatus::Unmatched => "unmatched",
            LinkStatus::Manual => "manual",
        }
    }
}

/// References that resolved into one source series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vote {
    pub series_uid: String,
    /// Distinct referenced instances of that series (summed over files).
    pub references: usize,
    /// Files with at least one such reference.
    pub files: usize,
}

/// What the references of a file, or of all files of a group, resolved to. Each file's
/// references are counted once per distinct SOP Instance UID, whichever sequences name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Per source series, most references first.
    pub votes: Vec<Vote>,
    /// References to instances not among the patient's files (missing slices).
    pub missing: usize,
    /// References to localizers/scouts: present, ignored.
    pub localizer: usize,
    /// References to segmentations (and key object selections): present, never a source.
    pub derived: usize,
    /// References to the file's own SOP Instance UID.
    pub itself: usize,
    /// Series UIDs named in `ReferencedSeriesSequence` / `RTReferencedSeriesSequence`.
    pub named_series: Vec<String>,
}

impl Evidence {
    /// References that were present but could not count as a source.
    #[must_use]
    pub fn ignored(&self) -> usize {
        self.localizer + self.derived + self.itself
    }

    /// References that resolved to a source slice.
    #[must_use]
    pub fn resolved(&self) -> usize {
        self.votes.iter().map(|v| v.references).sum()
    }

    /// The evidence in one line, as the command line and the review screen say it:
    /// `24 refs → CT/, 2 refs → CT2/; 1 missing; 0 ignored`. `name` says how a source
    /// series is named (its folder, shortened or whole); an unknown one by its UID.
    pub fn line(&self, links: &Links, name: impl Fn(&Path) -> String) -> String {
        let votes: Vec<String> = self
            .votes
            .iter()
            .map(|v| {
                let source = links
                    .sources
                    .iter()
                    .find(|s| s.series_uid == v.series_uid)
                    .map_or_else(|| v.series_uid.clone(), |s| name(&s.folder));
                format!("{} refs → {source}", v.references)
            })
            .collect();
        format!(
            "{}; {} missing; {} ignored",
            if votes.is_empty() {
                "no reference resolves".into()
            } else {
                votes.join(", ")
            },
            self.missing,
            self.ignored()
        )
    }
}

/// How one file of an object stands to the object's link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum FileStatus {
    /// Its references resolve into the object's source (or, when the object is ambiguous,
    /// into the proposed one).
    Resolved,
    /// Its references resolve into another series than the object's.
    Disagrees { series_uid: String },
    /// None of its references resolve: the instances it names are not in the folder (deleted
    /// slices). It follows its object.
    MissingReferences { instances: usize },
    /// It references nothing that could be a source (only localizers, segmentations or
    /// itself). It follows its object.
    NoSourceReference,
}

impl FileStatus {
    /// A phrase for people.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            FileStatus::Resolved => "resolved".into(),
            FileStatus::Disagrees { series_uid } => format!("references another series ({series_uid})"),
            FileStatus::MissingReferences { instances } => {
                format!(
                    "references {instances} missing instance{}",
                    if *instances == 1 { "" } else { "s" }
                )
            }
            FileStatus::NoSourceReference => "references no possible source".into(),
        }
    }
}

/// A series that may be the source of a segmentation (every series of a patient with an
/// image that is no segmentation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSeries {
    pub series_uid: String,
    /// The patient it belongs to (kept out of JSON: it identifies).
    #[serde(skip)]
    pub patient_id: String,
    pub modality: String,
    pub description: String,
    pub number: Option<i64>,
    /// The folder holding its files (their common folder), relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub folder: PathBuf,
    /// Its image files that are no segmentation (a mask copying its UID is not counted) and
    /// no copy of another image (compressed copies and the like are counted only in a series
    /// that has nothing else).
    pub slices: usize,
    pub frame_of_reference_uid: String,
    /// Every file of the series is a localizer.
    pub localizer: bool,
}

/// Why a series is offered for a group that did not resolve. Never taken as the link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum SuggestionReason {
    /// The files' positions and orientation lie on this series' slices (same frame of
    /// reference). Several reconstructions of one scan share their geometry.
    SameGeometry,
    /// Same `FrameOfReferenceUID`: the same patient position, any series of the scan.
    SameFrameOfReference,
    /// Named in `ReferencedSeriesSequence`, but none of the referenced instances are present.
    NamedSeries,
    /// Other files claiming the same `SeriesInstanceUID` (group `group`) resolve to it.
    SameSeriesUid { group: String },
    /// The files reference derived objects (group `group`) that resolve to it.
    ViaDerived { group: String },
}

/// A candidate source for a group that did not resolve, with every reason it came up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub series_uid: String,
    #[serde(serialize_with = "crate::paths::lossy")]
    pub folder: PathBuf,
    pub description: String,
    pub reasons: Vec<SuggestionReason>,
}

/// Something a reviewer should know about a group's tags or about how it was formed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "flag", rename_all = "kebab-case")]
pub enum Flag {
    /// Other objects claim this group's `SeriesInstanceUID` in other folders (`siblings`).
    SplitByFolder { siblings: Vec<String> },
    /// Other objects in this folder claim this `SeriesInstanceUID` with another header
    /// (`differs` names what differs: `SeriesDescription`, `SOPClassUID`, …).
    SplitBySignature {
        siblings: Vec<String>,
        differs: Vec<&'static str>,
    },
    /// Other objects in this folder claim this `SeriesInstanceUID` with the same header, but
    /// form separate slice stacks (another orientation, or the same positions drawn on
    /// another series).
    SplitByStack { siblings: Vec<String> },
    /// The claimed `SeriesInstanceUID` is that of a source series (copied from the CT).
    SeriesUidOfSource,
    /// The files carry no `SeriesInstanceUID`.
    NoSeriesUid,
    /// `files` files carry another series' `SeriesInstanceUID` (or none) but this object's
    /// header, and lie at slice positions it lacks: they belong to it.
    AdoptedFiles { files: usize },
    /// `files` files share their `SOPInstanceUID` with another file of the patient.
    DuplicateSopInstanceUid { files: usize },
    /// `InstanceNumbers` are missing, repeated, or do not follow the slice positions.
    InstanceNumbers,
    /// `slices` source slices are referenced by more than one file of a per-slice mask group:
    /// it may hold several segmentations.
    SliceCoveredTwice { slices: usize },
    /// `files` files reference only instances that are not in the folder (`instances` in
    /// all; deleted slices): they follow their object.
    ReferencesMissing { files: usize, instances: usize },
}

impl Flag {
    /// A sentence for people.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Flag::SplitByFolder { siblings } => format!(
                "files with this SeriesInstanceUID lie in other folders too; each folder is its own object ({} other)",
                siblings.len()
            ),
            Flag::SplitBySignature { siblings, differs } => format!(
                "other files in this folder carry this SeriesInstanceUID with another {}; they are {} other object(s)",
                differs.join(", "),
                siblings.len()
            ),
            Flag::SplitByStack { siblings } => format!(
                "other files with this SeriesInstanceUID and header form separate slice stacks; split into {} other object(s)",
                siblings.len()
            ),
            Flag::SeriesUidOfSource => "its SeriesInstanceUID is the one of a source series; kept apart from it".into(),
            Flag::NoSeriesUid => "the files have no SeriesInstanceUID".into(),
            Flag::AdoptedFiles { files } => format!(
                "{files} file(s) carry another series' SeriesInstanceUID but this object's header and a slice position of their own: they belong to it"
            ),
            Flag::DuplicateSopInstanceUid { files } => {
                format!("{files} file(s) share their SOPInstanceUID with another file")
            }
            Flag::InstanceNumbers => "InstanceNumbers are missing, repeated or not in slice order".into(),
            Flag::SliceCoveredTwice { slices } => {
                format!(
                    "{slices} source slice(s) have more than one mask file: the group may hold several segmentations"
                )
            }
            Flag::ReferencesMissing { files, instances } => format!(
                "{files} file(s) reference only instances that are not in the folder ({instances} in all; deleted slices?): they follow the object"
            ),
        }
    }

    /// The flag means the output would be wrong without [`Links::repairs`] (shared or copied
    /// series UIDs, duplicate SOP UIDs, unusable instance numbers).
    #[must_use]
    pub fn calls_for_repair(&self) -> bool {
        !matches!(self, Flag::SliceCoveredTwice { .. } | Flag::ReferencesMissing { .. })
    }
}

/// Derived files that belong together: one segmentation series as far as the evidence goes.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentationGroup {
    /// Stable across rescans; the key of manual overrides.
    pub key: String,
    #[serde(skip)]
    pub patient_id: String,
    /// The `SeriesInstanceUID` its files carry (may be shared, copied or empty).
    pub claimed_series_uid: String,
    pub kind: SegmentationKind,
    /// The folder holding its files, relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub folder: PathBuf,
    /// Relative to the scanned root, sorted.
    #[serde(serialize_with = "crate::paths::lossy_vec")]
    pub files: Vec<PathBuf>,
    pub status: LinkStatus,
    /// The source in force: the resolved one, or the manual one.
    pub source: Option<SourceSeries>,
    /// What the evidence alone says (differs from `status` when a manual link is in force).
    pub automatic_status: LinkStatus,
    /// For an ambiguous group: the series most of its files resolve to, proposed as the link.
    /// A reviewer decides (a manual link, to it or to another) before the group is approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed: Option<SourceSeries>,
    pub evidence: Evidence,
    /// Why its files are taken for a segmentation (the SOP class, or the header's clues).
    pub classification: Vec<Clue>,
    /// Candidates for a group that did not resolve; never a link by themselves.
    pub suggestions: Vec<Suggestion>,
    pub flags: Vec<Flag>,
    /// Index into `Links::sources` of the resolved source.
    #[serde(skip)]
    automatic_source: Option<usize>,
    /// Index into `Links::sources` of the source in force.
    #[serde(skip)]
    source_index: Option<usize>,
    /// Indexes into `Links::files`.
    #[serde(skip)]
    members: Vec<usize>,
}

impl SegmentationGroup {
    /// Only per-slice mask series get their tags repaired (SEG and RTSTRUCT are one object).
    #[must_use]
    pub fn repairable(&self) -> bool {
        self.kind == SegmentationKind::PerSliceMask
    }

    /// A repairable group whose tags would be wrong in the output as they are.
    pub fn needs_repair(&self) -> bool {
        self.repairable() && self.flags.iter().any(Flag::calls_for_repair)
    }

    /// The UID of the source in force, if any.
    #[must_use]
    pub fn source_series_uid(&self) -> Option<&str> {
        self.source.as_ref().map(|s| s.series_uid.as_str())
    }

    /// Its files resolve into several series and nobody has decided yet: it may not be
    /// approved until a manual link (to the proposed series or another) is in force.
    #[must_use]
    pub fn needs_decision(&self) -> bool {
        self.automatic_status == LinkStatus::Ambiguous && self.status != LinkStatus::Manual
    }
}

/// Derived images of one object that are no segmentation: compressed copies, key images,
/// screen captures, dose reports, processed images. Shown with the series they came from;
/// never repaired, never linked by hand.
#[derive(Debug, Clone, Serialize)]
pub struct DerivedImageGroup {
    /// Stable across rescans.
    pub key: String,
    #[serde(skip)]
    pub patient_id: String,
    pub claimed_series_uid: String,
    pub kind: DerivedKind,
    #[serde(serialize_with = "crate::paths::lossy")]
    pub folder: PathBuf,
    #[serde(serialize_with = "crate::paths::lossy_vec")]
    pub files: Vec<PathBuf>,
    /// Resolved (one series), ambiguous (several) or unmatched (none present).
    pub status: LinkStatus,
    /// The series it came from (the majority when ambiguous), if present.
    pub source: Option<SourceSeries>,
    pub evidence: Evidence,
    /// Why it is taken for this kind of derived image and not for a segmentation.
    pub classification: Vec<Clue>,
}

/// One derived file: the `files` array of `dams map --json`.
#[derive(Debug, Clone, Serialize)]
pub struct DerivedFile {
    /// Relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    /// The key of its group.
    pub group: String,
    /// The original UID of the source series in force for its group, or null.
    pub source_series_uid: Option<String>,
    pub kind: SegmentationKind,
    /// How the file stands to its group's link.
    #[serde(flatten)]
    pub status: FileStatus,
    pub evidence: Evidence,
}

/// Per-file facts kept for repairs, so that they need no Index.
#[derive(Debug, Clone)]
struct FileDetail {
    sop_instance_uid: String,
    instance_number: Option<i64>,
    position: Option<[f64; 3]>,
    orientation: Option<[f64; 6]>,
    /// The source slices it references.
    slices: Vec<SourceSlice>,
}

/// Where a referenced source slice lies, to order masks by their source's slices.
#[derive(Debug, Clone)]
struct SourceSlice {
    /// Index into `Links::sources`.
    source: usize,
    position: Option<[f64; 3]>,
    orientation: Option<[f64; 6]>,
}

/// A `SeriesNumber` carried by files of a patient, and by whom.
#[derive(Debug, Clone)]
struct NumberUse {
    patient_id: String,
    number: i64,
    /// Groups (indexes into `Links::groups`) with files carrying it.
    groups: Vec<usize>,
    /// Files that are not derived objects carry it too.
    others: bool,
}

/// All links of an Index: what `dams map` shows and the plan consumes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Links {
    /// Patient by patient (in Index order), by key.
    pub groups: Vec<SegmentationGroup>,
    /// Every derived file, sorted by path.
    pub files: Vec<DerivedFile>,
    /// Every series that may be a source, patient by patient, by folder.
    pub sources: Vec<SourceSeries>,
    /// Derived images that are no segmentation, patient by patient, by key.
    pub derived_images: Vec<DerivedImageGroup>,
    /// (path, index into `derived_images`), sorted by path.
    #[serde(skip)]
    derived_by_path: Vec<(PathBuf, usize)>,
    /// Each group's index in `groups`, by key (the plan looks a file's group up per file).
    #[serde(skip)]
    group_by_key: HashMap<String, usize>,
    #[serde(skip)]
    details: Vec<FileDetail>,
    #[serde(skip)]
    numbers: Vec<NumberUse>,
}

/// A manual link that could not be put in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleOverride {
    pub group: String,
    pub series_uid: String,
    pub problem: StaleReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaleReason {
    /// No group has that key any more (the files changed, or the group now resolves
    /// differently).
    NoSuchGroup,
    /// The series is not among the sources of the group's patient (deleted, or another
    /// patient's).
    NoSuchSeries,
}

impl std::fmt::Display for StaleOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problem {
            StaleReason::NoSuchGroup => write!(f, "manual link of {}: no such segmentation group any more", self.group),
            StaleReason::NoSuchSeries => write!(
                f,
                "manual link of {} to {}: that series is not among the patient's source series any more",
                self.group, self.series_uid
            ),
        }
    }
}

/// A name given by a user that does not pick exactly one group or series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "no segmentation group matches {name:?} (give a group key, a file or folder of its files, or its SeriesInstanceUID)"
    )]
    UnknownGroup { name: String },
    #[error("{name:?} matches {} segmentation groups; give one of these keys: {}", keys.len(), keys.join(", "))]
    AmbiguousGroup { name: String, keys: Vec<String> },
    #[error("no source series matches {name:?} (give its SeriesInstanceUID or the folder holding its files)")]
    UnknownSeries { name: String },
    #[error("{name:?} matches {} source series; give one of these SeriesInstanceUIDs: {}", uids.len(), uids.join(", "))]
    AmbiguousSeries { name: String, uids: Vec<String> },
}

/// Resolves every derived object of the Index to its source series (see the module docs).
/// Deterministic: the same Index gives the same Links, whatever order files were read in.
#[must_use]
pub fn resolve(index: &Index) -> Links {
    resolve::links(index)
}

/// `name` as path components, so that `./PAT1/ct/`, `PAT1/ct` and `PAT1\ct` all match.
fn normalise(name: &str) -> PathBuf {
    let unified = name.replace('\\', "/");
    Path::new(&unified)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

impl Links {
    /// The group with this exact key.
    #[must_use]
    pub fn group(&self, key: &str) -> Option<&SegmentationGroup> {
        match self.group_by_key.get(key) {
            Some(&i) => self.groups.get(i).filter(|g| g.key == key),
            None if self.group_by_key.is_empty() => self.groups.iter().find(|g| g.key == key),
            None => None,
        }
    }

    /// The derived file at this path (relative to the scanned root).
    #[must_use]
    pub fn file(&self, path: &Path) -> Option<&DerivedFile> {
        self.files
            .binary_search_by(|f| f.path.as_path().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// The groups of one patient.
    pub fn groups_of<'a>(&'a self, patient_id: &'a str) -> impl Iterator<Item = &'a SegmentationGroup> + 'a {
        self.groups.iter().filter(move |g| g.patient_id == patient_id)
    }

    /// The groups that need a reviewer's decision before they can be approved (ambiguous,
    /// no manual link yet).
    pub fn decisions_required(&self) -> impl Iterator<Item = &SegmentationGroup> {
        self.groups.iter().filter(|g| g.needs_decision())
    }

    /// The derived-image group holding this file (relative to the scanned root), if any.
    #[must_use]
    pub fn derived_image(&self, path: &Path) -> Option<&DerivedImageGroup> {
        self.derived_by_path
            .binary_search_by(|(p, _)| p.as_path().cmp(path))
            .ok()
            .and_then(|i| self.derived_images.get(self.derived_by_path[i].1))
    }

    /// The derived images of one patient.
    pub fn derived_images_of<'a>(&'a self, patient_id: &'a str) -> impl Iterator<Item = &'a DerivedImageGroup> + 'a {
        self.derived_images.iter().filter(move |d| d.patient_id == patient_id)
    }

    /// The derived images made from one of a patient's series: what the browser shows under
    /// that series.
    pub fn derived_images_from<'a>(
        &'a self,
        patient_id: &'a str,
        series_uid: &'a str,
    ) -> impl Iterator<Item = &'a DerivedImageGroup> + 'a {
        self.derived_images_of(patient_id)
            .filter(move |d| d.source.as_ref().is_some_and(|s| s.series_uid == series_uid))
    }

    /// The group a user named: by key, by one of its files, by the folder holding its files
    /// (`PAT1/mask_orphan`), or by its claimed `SeriesInstanceUID`. A name that matches several
    /// groups (a folder whose files were split) is an error listing their keys.
    ///
    /// # Errors
    ///
    /// `LinkError` when no group has that name, or several do.
    pub fn find_group(&self, name: &str) -> Result<&SegmentationGroup, LinkError> {
        if let Some(g) = self.group(name) {
            return Ok(g);
        }
        let path = normalise(name);
        if let Some(g) = self.file(&path).and_then(|f| self.group(&f.group)) {
            return Ok(g);
        }
        let by_folder: Vec<&SegmentationGroup> = self.groups.iter().filter(|g| g.folder == path).collect();
        let found = if by_folder.is_empty() {
            self.groups.iter().filter(|g| g.claimed_series_uid == name).collect()
        } else {
            by_folder
        };
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(LinkError::UnknownGroup { name: name.into() }),
            many => Err(LinkError::AmbiguousGroup {
                name: name.into(),
                keys: many.iter().map(|g| g.key.clone()).collect(),
            }),
        }
    }

    /// The source series a user named, by `SeriesInstanceUID` or by the folder holding its
    /// files (`PAT1/ct_soft`), among all patients.
    ///
    /// # Errors
    ///
    /// `LinkError` when no source series has that name, or several do.
    pub fn find_source(&self, name: &str) -> Result<&SourceSeries, LinkError> {
        self.pick_source(name, |_| true)
    }

    /// Like [`Links::find_source`], among the sources of the group's patient only: a mask is
    /// never linked across patients.
    ///
    /// # Errors
    ///
    /// `LinkError` when no source series of the patient has that name, or several do.
    pub fn find_source_for(&self, group: &SegmentationGroup, name: &str) -> Result<&SourceSeries, LinkError> {
        self.pick_source(name, |s| s.patient_id == group.patient_id)
    }

    fn pick_source(&self, name: &str, keep: impl Fn(&SourceSeries) -> bool) -> Result<&SourceSeries, LinkError> {
        let by_uid: Vec<&SourceSeries> = self
            .sources
            .iter()
            .filter(|s| keep(s) && s.series_uid == name)
            .collect();
        let found = if by_uid.is_empty() {
            let path = normalise(name);
            self.sources.iter().filter(|s| keep(s) && s.folder == path).collect()
        } else {
            by_uid
        };
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(LinkError::UnknownSeries { name: name.into() }),
            many => Err(LinkError::AmbiguousSeries {
                name: name.into(),
                uids: many.iter().map(|s| s.series_uid.clone()).collect(),
            }),
        }
    }

    /// Turns a user's "this group is drawn on that series" (each named as in
    /// [`Links::find_group`] / [`Links::find_source`]) into the (group key, series UID) pair
    /// to store among the overrides.
    ///
    /// # Errors
    ///
    /// `LinkError` when the group, or the series among those of the group's patient, cannot be
    /// found or is named ambiguously.
    pub fn manual_link(&self, group: &str, series: &str) -> Result<(String, String), LinkError> {
        let g = self.find_group(group)?;
        let s = self.find_source_for(g, series)?;
        Ok((g.key.clone(), s.series_uid.clone()))
    }

    /// Puts exactly these manual links (group key → source `SeriesInstanceUID`) in force,
    /// replacing any applied before. Links whose group or series no longer exists are
    /// returned and not applied.
    pub fn apply_overrides(&mut self, overrides: &BTreeMap<String, String>) -> Vec<StaleOverride> {
        for g in &mut self.groups {
            g.status = g.automatic_status;
            g.source_index = g.automatic_source;
        }
        let groups: HashMap<&str, usize> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.key.as_str(), i))
            .collect();
        let sources: HashMap<(&str, &str), usize> = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.patient_id.as_str(), s.series_uid.as_str()), i))
            .collect();
        let mut manual = Vec::new();
        let mut stale = Vec::new();
        for (key, uid) in overrides {
            let target = groups
                .get(key.as_str())
                .ok_or(StaleReason::NoSuchGroup)
                .and_then(|&gi| {
                    let patient = self.groups[gi].patient_id.as_str();
                    let si = sources.get(&(patient, uid.as_str())).ok_or(StaleReason::NoSuchSeries)?;
                    Ok((gi, *si))
                });
            match target {
                Ok(link) => manual.push(link),
                Err(problem) => stale.push(StaleOverride {
                    group: key.clone(),
                    series_uid: uid.clone(),
                    problem,
                }),
            }
        }
        for (gi, si) in manual {
            self.groups[gi].status = LinkStatus::Manual;
            self.groups[gi].source_index = Some(si);
        }
        self.refresh_sources();
        stale
    }

    /// The manual links in force (to persist as review state).
    #[must_use]
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.groups
            .iter()
            .filter(|g| g.status == LinkStatus::Manual)
            .filter_map(|g| Some((g.key.clone(), g.source_series_uid()?.to_string())))
            .collect()
    }

    /// Recomputes the copies of the source in force (group `source`, file
    /// `source_series_uid`) from `source_index`.
    fn refresh_sources(&mut self) {
        for g in &mut self.groups {
            g.source = g.source_index.and_then(|i| self.sources.get(i)).cloned();
            for &m in &g.members {
                if let Some(f) = self.files.get_mut(m) {
                    f.source_series_uid = g.source.as_ref().map(|s| s.series_uid.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

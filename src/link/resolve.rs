//! Building the Links of an Index, one patient at a time: classify each file from its header,
//! group the files into objects (claimed series UID, header signature, slice stack), resolve
//! each object's references, and attach evidence, flags and suggestions.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::scan::{Index, Instance, Patient, Series};

use super::classify::{self, ByClass, Clue, DerivedKind};
use super::geometry::{self, SliceStack};
use super::repair;
use super::{
    DerivedFile, DerivedImageGroup, Evidence, FileDetail, FileStatus, Flag, LinkStatus, Links, NumberUse,
    SegmentationGroup, SegmentationKind, SourceSeries, SourceSlice, Suggestion, SuggestionReason, Vote,
};

/// One file of the patient being resolved, with the per-file facts the rule needs.
struct Item<'a> {
    inst: &'a Instance,
    series: &'a Series,
    looks_derived: bool,
    localizer: bool,
}

/// A patient's files, looked up by SOP Instance UID in O(1).
struct View<'a> {
    items: Vec<Item<'a>>,
    by_sop: HashMap<&'a str, Vec<usize>>,
}

impl<'a> View<'a> {
    fn new(patient: &'a Patient) -> View<'a> {
        let items: Vec<Item> = patient
            .series()
            .flat_map(|s| s.instances.iter().map(move |i| (s, i)))
            .map(|(series, inst)| Item {
                inst,
                series,
                looks_derived: classify::looks_derived(inst),
                localizer: classify::is_localizer(inst),
            })
            .collect();
        let mut by_sop: HashMap<&str, Vec<usize>> = HashMap::with_capacity(items.len());
        for (k, it) in items.iter().enumerate() {
            if !it.inst.sop_instance_uid.is_empty() {
                by_sop.entry(it.inst.sop_instance_uid.as_str()).or_default().push(k);
            }
        }
        View { items, by_sop }
    }

    /// The files other than `from` carrying this SOP Instance UID (usually one; several when
    /// a tool duplicated UIDs).
    fn targets(&self, uid: &str, from: usize) -> impl Iterator<Item = usize> + '_ {
        self.by_sop
            .get(uid)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(move |&t| t != from)
    }

    /// Point 4 of the rule in `classify.rs`: the file claims a source. `made_from_only`
    /// counts only present targets named through a "made from" sequence (for ORIGINAL files).
    fn claims_source(&self, k: usize, made_from_only: bool) -> bool {
        let it = &self.items[k];
        let secondary_capture = classify::is_secondary_capture(&it.inst.sop_class_uid);
        it.inst
            .references
            .iter()
            .filter(|r| classify::counts(SegmentationKind::PerSliceMask, r.via))
            .filter(|r| !made_from_only || classify::means_made_from(r.via))
            .any(|r| {
                let mut targets = self.targets(&r.sop_instance_uid, k).peekable();
                if targets.peek().is_none() {
                    return !made_from_only
                        && r.sop_instance_uid != it.inst.sop_instance_uid
                        && (classify::means_made_from(r.via) || secondary_capture);
                }
                targets.any(|t| {
                    let o = &self.items[t];
                    let earlier_version = o.looks_derived && o.series.series_uid == it.series.series_uid;
                    !o.localizer && !earlier_version
                })
            })
    }

    /// The rule of `classify.rs` for one file, with the clues it found. Files with the same
    /// header facts get the same verdict: `cache` keeps it (and one copy of its clues).
    fn classify(&self, k: usize, cache: &mut ClueCache) -> (Role, Arc<[Clue]>) {
        let it = &self.items[k];
        if let Some((by, name)) = classify::by_class(&it.inst.sop_class_uid) {
            let clues: Arc<[Clue]> = Arc::new([Clue::SopClass { name }]);
            return match by {
                ByClass::Segmentation(kind) => (Role::Segmentation(kind), clues),
                ByClass::Document(kind) => (Role::Derived { kind, image: false }, clues),
            };
        }
        if it.localizer {
            return (Role::Localizer, cache.none.clone());
        }
        if !it.looks_derived {
            // Tools that copy the CT header keep its ORIGINAL: they still name the slice and
            // say mask in words or codes, which no acquisition does.
            if !it.inst.references.is_empty() && self.claims_source(k, true) {
                let mut clues = classify::header_clues(it.inst);
                let says_mask = clues.iter().any(|c| {
                    matches!(
                        c,
                        Clue::Word {
                            says: classify::Says::Mask,
                            ..
                        } | Clue::DerivationCode { code: 113076, .. }
                    )
                });
                let against = clues.iter().any(|c| matches!(c.weight(), classify::Weight::NotMask(_)));
                if says_mask && !against {
                    clues.push(Clue::OriginalButMask);
                    return (Role::Segmentation(SegmentationKind::PerSliceMask), clues.into());
                }
            }
            return (Role::Source, cache.none.clone());
        }
        if !self.claims_source(k, false) {
            return (Role::Source, cache.none.clone());
        }
        let inst = it.inst;
        let mut purposes = inst
            .references
            .iter()
            .filter_map(|r| r.purpose.map(std::num::NonZero::get));
        let first = purposes.next().unwrap_or(0);
        let other = purposes.find(|&p| p != first).unwrap_or(0);
        let key = (
            Arc::as_ptr(&inst.image) as usize,
            inst.image_type.as_ptr() as usize,
            inst.image_type.len(),
            inst.largest_value,
            first,
            other,
        );
        if other == 0
            && let Some(hit) = cache.verdicts.get(&key)
        {
            return hit.clone();
        }
        let mut clues = classify::header_clues(inst);
        let verdict = match classify::weigh(&mut clues) {
            None => (Role::Segmentation(SegmentationKind::PerSliceMask), clues.into()),
            Some(kind) => (Role::Derived { kind, image: true }, clues.into()),
        };
        if other == 0 {
            cache.verdicts.insert(key, (verdict.0, Arc::clone(&verdict.1)));
        }
        verdict
    }
}

/// Verdicts of the rule for files whose header facts, `ImageType`, `LargestImagePixelValue` and
/// reference purposes are the same (the files of one series, nearly always): the facts are
/// held once by the Index, so their addresses identify them.
struct ClueCache {
    none: Arc<[Clue]>,
    #[allow(clippy::type_complexity)]
    verdicts: HashMap<(usize, usize, usize, Option<i32>, u32, u32), (Role, Arc<[Clue]>)>,
}

/// What a file is to the linking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// May be the source of a segmentation.
    Source,
    /// A planning image: present, but never a source.
    Localizer,
    /// A segmentation to be linked to its source.
    Segmentation(SegmentationKind),
    /// A derived object that is no segmentation; an image may be a source itself.
    Derived { kind: DerivedKind, image: bool },
}

impl Role {
    /// Files of these roles are counted among their series' slices and may be voted for.
    fn is_source_image(self) -> bool {
        matches!(self, Role::Source | Role::Derived { image: true, .. })
    }
}

/// The header signature of a file: what the files of one object share besides their series
/// UID and SOP class (both part of the object key too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Signature<'a> {
    /// The folder, as the bytes of the path before its last separator (cheaper to compare
    /// than path components, and the same for every file of one folder).
    folder: &'a [u8],
    image_type: &'a [String],
    rows: u16,
    columns: u16,
    samples: u16,
    bits_allocated: u16,
    bits_stored: u16,
    photometric: &'a str,
    description: &'a str,
    equipment: &'a str,
}

impl<'a> Signature<'a> {
    fn of(inst: &'a Instance) -> Signature<'a> {
        let f = &*inst.image;
        Signature {
            folder: folder_bytes(&inst.path),
            image_type: &inst.image_type,
            rows: f.rows,
            columns: f.columns,
            samples: f.samples_per_pixel,
            bits_allocated: f.bits_allocated,
            bits_stored: f.bits_stored,
            photometric: &f.photometric,
            description: &f.series_description,
            equipment: &f.equipment,
        }
    }

    /// The names of what differs between two signatures (for the split flags).
    fn differences(&self, other: &Signature) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.image_type != other.image_type {
            out.push("ImageType");
        }
        if (self.rows, self.columns) != (other.rows, other.columns) {
            out.push("Rows/Columns");
        }
        if (self.bits_allocated, self.bits_stored) != (other.bits_allocated, other.bits_stored) {
            out.push("BitsAllocated/BitsStored");
        }
        if (self.samples, self.photometric) != (other.samples, other.photometric) {
            out.push("PhotometricInterpretation");
        }
        if self.description != other.description {
            out.push("SeriesDescription");
        }
        if self.equipment != other.equipment {
            out.push("Manufacturer/SoftwareVersions");
        }
        out
    }
}

/// The bytes of a relative path's folder (empty for a file at the top).
fn folder_bytes(p: &Path) -> &[u8] {
    let bytes = p.as_os_str().as_encoded_bytes();
    let sep = std::path::MAIN_SEPARATOR as u8;
    bytes.iter().rposition(|&b| b == sep).map_or(&[][..], |i| &bytes[..i])
}

/// Files that claim one series UID and SOP class and share a header signature.
struct Part<'a> {
    series_uid: &'a str,
    sop_class: &'a str,
    signature: Signature<'a>,
    members: Vec<usize>,
    /// The role the part's files take (the claimers' majority).
    role: Role,
    /// Files taken in from another part by their signature (they carry a borrowed UID).
    adopted: Vec<usize>,
}

/// What one derived file's references resolved to.
#[derive(Default)]
struct FileLinks<'a> {
    /// Source index → the referenced files of that source (one per referenced UID).
    votes: BTreeMap<usize, Vec<usize>>,
    missing: usize,
    localizer: usize,
    /// Referenced files that are segmentations or documents themselves.
    derived: Vec<usize>,
    itself: usize,
    /// Referenced UIDs that could name a source (everything but itself and localizers).
    claims: Vec<&'a str>,
}

impl FileLinks<'_> {
    /// The one source all its resolved references point into, if there is exactly one.
    fn single_source(&self) -> Option<usize> {
        let mut sources = self.votes.keys().copied();
        match (sources.next(), sources.next()) {
            (Some(s), None) => Some(s),
            _ => None,
        }
    }
}

/// What each file's references resolved to, by item index (segmentations and derived
/// objects only).
struct Resolutions<'a>(Vec<Option<FileLinks<'a>>>);

impl<'a> Resolutions<'a> {
    fn get(&self, k: &usize) -> Option<&FileLinks<'a>> {
        self.0.get(*k).and_then(Option::as_ref)
    }
}

/// What an object resolved to: the automatic link and the key's disambiguator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Resolution {
    Resolved(usize),
    Ambiguous(Vec<usize>),
    Unmatched,
}

impl Resolution {
    fn status(&self) -> LinkStatus {
        match self {
            Resolution::Resolved(_) => LinkStatus::Resolved,
            Resolution::Ambiguous(_) => LinkStatus::Ambiguous,
            Resolution::Unmatched => LinkStatus::Unmatched,
        }
    }

    fn source(&self) -> Option<usize> {
        match self {
            Resolution::Resolved(s) => Some(*s),
            _ => None,
        }
    }
}

/// Everything known about one patient while its groups are built.
struct Context<'a> {
    patient: &'a Patient,
    /// This patient's part of `Links::sources` and of `Links::groups`: nothing is ever
    /// looked up across patients, and nothing here grows with the number of patients.
    sources: Range<usize>,
    groups: Range<usize>,
    view: View<'a>,
    /// The non-localizer image files of each source, for geometry.
    slices_of: HashMap<usize, Vec<usize>>,
    resolutions: Resolutions<'a>,
    clues: Vec<Arc<[Clue]>>,
    drafts: Vec<Draft<'a>>,
    /// Group index (in `Links::groups`) of each segmentation file.
    group_of: HashMap<usize, usize>,
    /// Indexes into `drafts` by claimed `SeriesInstanceUID`.
    by_claimed: HashMap<String, Vec<usize>>,
}

/// A segmentation object before its evidence is gathered.
struct Draft<'a> {
    key: String,
    claimed: String,
    kind: SegmentationKind,
    resolution: Resolution,
    folder: PathBuf,
    sop_class: &'a str,
    signature: Signature<'a>,
    /// Item indexes, by path.
    members: Vec<usize>,
    adopted: usize,
}

pub(super) fn links(index: &Index) -> Links {
    let mut links = Links::default();
    let mut used_keys = HashSet::new();
    for patient in &index.patients {
        resolve_patient(patient, &mut links, &mut used_keys);
    }
    sort_files(&mut links);
    links
}

/// Orders `files` by path, keeping the groups' member indexes right; indexes the derived
/// images' files and the groups by key.
fn sort_files(links: &mut Links) {
    let mut order: Vec<usize> = (0..links.files.len()).collect();
    order.sort_by(|&a, &b| links.files[a].path.cmp(&links.files[b].path));
    let mut new_place = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_place[old] = new;
    }
    let mut files: Vec<Option<DerivedFile>> = std::mem::take(&mut links.files).into_iter().map(Some).collect();
    let mut details: Vec<Option<FileDetail>> = std::mem::take(&mut links.details).into_iter().map(Some).collect();
    for &old in &order {
        if let (Some(f), Some(d)) = (files[old].take(), details[old].take()) {
            links.files.push(f);
            links.details.push(d);
        }
    }
    for g in &mut links.groups {
        for m in &mut g.members {
            *m = new_place[*m];
        }
        g.members.sort_unstable();
    }
    links.derived_by_path = links
        .derived_images
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.files.iter().map(move |f| (f.clone(), i)))
        .collect();
    links.derived_by_path.sort();
    links.group_by_key = links
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.key.clone(), i))
        .collect();
}

/// A short, stable digest of a set of strings (sorted first, so order never matters).
fn short_hash<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = values.collect();
    v.sort_unstable();
    v.dedup();
    let mut h = Sha256::new();
    for s in v {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A relative path as text with `/` separators, the same on every platform.
fn path_text(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The deepest folder holding all of `paths`' files.
fn common_folder<'a>(mut paths: impl Iterator<Item = &'a Path>) -> PathBuf {
    let Some(first) = paths.next() else {
        return PathBuf::new();
    };
    let mut common = parent(first);
    for p in paths {
        while !p.starts_with(&common) {
            if !common.pop() {
                break;
            }
        }
    }
    common
}

fn resolve_patient(patient: &Patient, links: &mut Links, used_keys: &mut HashSet<String>) {
    let view = View::new(patient);
    let mut cache = ClueCache {
        none: Arc::new([]),
        verdicts: HashMap::new(),
    };
    let (mut roles, clues): (Vec<Role>, Vec<Arc<[Clue]>>) =
        (0..view.items.len()).map(|k| view.classify(k, &mut cache)).unzip();
    let mut parts = form_parts(&view, &roles);
    adopt_borrowed(&view, &mut parts);
    for part in &parts {
        for &k in &part.members {
            roles[k] = follow(part.role, roles[k]);
        }
    }
    let first_source = links.sources.len();
    let source_of = add_sources(patient, &view, &roles, links);
    let mut slices_of: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, s) in source_of.iter().enumerate() {
        if let Some(s) = s.filter(|_| roles[k].is_source_image()) {
            slices_of.entry(s).or_default().push(k);
        }
    }
    let resolutions = Resolutions(
        roles
            .iter()
            .enumerate()
            .map(|(k, role)| {
                let counts = |via| match role {
                    Role::Segmentation(kind) => classify::counts(*kind, via),
                    Role::Derived { image, .. } => classify::counts_for_derived(!image, via),
                    _ => false,
                };
                matches!(role, Role::Segmentation(_) | Role::Derived { .. })
                    .then(|| resolve_file(&view, &roles, &source_of, k, counts))
            })
            .collect(),
    );
    let drafts = draft_groups(&view, &parts, &roles, &resolutions, links, used_keys);
    let patient_sources = first_source..links.sources.len();
    add_derived_images(patient, patient_sources, &view, &parts, &clues, &resolutions, links);
    let first_group = links.groups.len();
    let group_of: HashMap<usize, usize> = drafts
        .iter()
        .enumerate()
        .flat_map(|(gi, d)| d.members.iter().map(move |&k| (k, first_group + gi)))
        .collect();
    let mut by_claimed: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, d) in drafts.iter().enumerate() {
        by_claimed.entry(d.claimed.clone()).or_default().push(i);
    }
    let cx = Context {
        by_claimed,
        patient,
        sources: first_source..links.sources.len(),
        groups: first_group..first_group + drafts.len(),
        view,
        slices_of,
        resolutions,
        clues,
        drafts,
        group_of,
    };
    for draft in &cx.drafts {
        let group = build_group(&cx, draft, links);
        links.groups.push(group);
    }
    for (gi, draft) in cx.groups.clone().zip(&cx.drafts) {
        let suggestions = suggest(&cx, gi, draft, links);
        if let Some(g) = links.groups.get_mut(gi) {
            g.suggestions = suggestions;
        }
    }
    record_series_numbers(&cx, links);
}

/// A file's role once its part has one: files follow their object, except localizers.
fn follow(part: Role, own: Role) -> Role {
    match (part, own) {
        (_, Role::Localizer) | (Role::Source | Role::Localizer, _) => own,
        (part, _) => part,
    }
}

/// Groups the patient's files by (series UID, SOP class, header signature) and gives each
/// part the role of the majority of its files that claim something.
fn form_parts<'a>(view: &View<'a>, roles: &[Role]) -> Vec<Part<'a>> {
    let mut parts: Vec<Part<'a>> = Vec::new();
    // The parts of the series being read (files come series by series), by key, and the
    // part the previous file went to: the next one nearly always goes there too.
    let mut current: HashMap<(&str, Signature), usize> = HashMap::new();
    let mut series: Option<&Series> = None;
    let mut last: Option<(usize, &Instance)> = None;
    for (k, it) in view.items.iter().enumerate() {
        if !series.is_some_and(|s| std::ptr::eq(s, it.series)) {
            series = Some(it.series);
            current.clear();
            last = None;
        }
        let inst = it.inst;
        if let Some((pi, prev)) = last
            && Arc::ptr_eq(&prev.image, &inst.image)
            && Arc::ptr_eq(&prev.image_type, &inst.image_type)
            && Arc::ptr_eq(&prev.sop_class_uid, &inst.sop_class_uid)
            && folder_bytes(&prev.path) == folder_bytes(&inst.path)
        {
            parts[pi].members.push(k);
            continue;
        }
        let signature = Signature::of(inst);
        let pi = *current.entry((&*inst.sop_class_uid, signature)).or_insert_with(|| {
            parts.push(Part {
                series_uid: it.series.series_uid.as_str(),
                sop_class: &inst.sop_class_uid,
                signature,
                members: Vec::new(),
                role: Role::Source,
                adopted: Vec::new(),
            });
            parts.len() - 1
        });
        parts[pi].members.push(k);
        last = Some((pi, inst));
    }
    for p in &mut parts {
        p.role = part_role(p.members.iter().map(|&k| roles[k]));
    }
    parts
}

/// The role of a part: what the SOP class fixes, else the majority of its files that claim
/// a source (masks against derived images; a tie is a derived image: never repaired), else
/// a source.
fn part_role(roles: impl Iterator<Item = Role>) -> Role {
    let mut masks = 0usize;
    let mut derived: BTreeMap<DerivedKind, usize> = BTreeMap::new();
    for r in roles {
        match r {
            Role::Segmentation(SegmentationKind::PerSliceMask) => masks += 1,
            Role::Segmentation(_) | Role::Derived { image: false, .. } => return r,
            Role::Derived { kind, image: true } => *derived.entry(kind).or_default() += 1,
            Role::Source | Role::Localizer => {}
        }
    }
    let derived_total: usize = derived.values().sum();
    if masks > derived_total {
        Role::Segmentation(SegmentationKind::PerSliceMask)
    } else if derived_total > 0 {
        let kind = derived
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map_or(DerivedKind::Processed, |(k, _)| k);
        Role::Derived { kind, image: true }
    } else {
        Role::Source
    }
}

/// A file that claims another series' UID (a source's, copied from the CT's header) or none,
/// but has the header signature of a mask object beside it, belongs to that object — when it
/// is the only such object in the folder, is smaller, and fills slice positions the object
/// does not have (a file at a position it has would be a second stack).
fn adopt_borrowed(view: &View, parts: &mut [Part]) {
    let mask = Role::Segmentation(SegmentationKind::PerSliceMask);
    // Looked up once: the signatures each UID is claimed with, the mask parts by signature.
    let mut signatures: HashMap<&str, HashSet<Signature>> = HashMap::new();
    let mut masks: HashMap<Signature, Vec<usize>> = HashMap::new();
    for (pi, p) in parts.iter().enumerate() {
        signatures.entry(p.series_uid).or_default().insert(p.signature);
        if p.role == mask {
            masks.entry(p.signature).or_default().push(pi);
        }
    }
    let mut moves: Vec<(usize, usize)> = Vec::new();
    for (pi, p) in parts.iter().enumerate() {
        let fixed = matches!(
            p.role,
            Role::Segmentation(SegmentationKind::Seg | SegmentationKind::RtStruct) | Role::Derived { image: false, .. }
        );
        let borrowed = p.series_uid.is_empty() || signatures.get(p.series_uid).is_some_and(|s| s.len() > 1);
        if fixed || !borrowed {
            continue;
        }
        let hosts: Vec<usize> = masks
            .get(&p.signature)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&si| si != pi && parts[si].series_uid != p.series_uid)
            .collect();
        let [host] = hosts[..] else { continue };
        let h = &parts[host];
        if p.members.len() >= h.members.len() {
            continue;
        }
        let stack = SliceStack::new(h.members.iter().map(|&k| {
            let inst = view.items[k].inst;
            (inst.image_position, inst.orientation())
        }));
        let collides = p.members.iter().any(|&k| {
            let inst = view.items[k].inst;
            inst.image_position
                .is_some_and(|pos| stack.has_slice_at(&pos, inst.orientation().as_ref()))
        });
        if !collides {
            moves.push((pi, host));
        }
    }
    // A part that takes others in keeps its own files (no chains).
    let hosts: HashSet<usize> = moves.iter().map(|&(_, to)| to).collect();
    for (from, to) in moves {
        if hosts.contains(&from) {
            continue;
        }
        let members = std::mem::take(&mut parts[from].members);
        parts[to].adopted.extend(members.iter().copied());
        parts[to].members.extend(members);
        parts[to]
            .members
            .sort_by(|&a, &b| view.items[a].inst.path.cmp(&view.items[b].inst.path));
    }
}

/// Adds the patient's possible sources (and localizers) to `links.sources`, by folder, and
/// returns each file's source index (None for segmentations and documents).
fn add_sources(patient: &Patient, view: &View, roles: &[Role], links: &mut Links) -> Vec<Option<usize>> {
    let mut by_uid: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, role) in roles.iter().enumerate() {
        if role.is_source_image() || *role == Role::Localizer {
            by_uid
                .entry(view.items[k].series.series_uid.as_str())
                .or_default()
                .push(k);
        }
    }
    let mut found: Vec<(SourceSeries, Vec<usize>)> = by_uid
        .into_iter()
        .map(|(uid, members)| {
            let first = &view.items[members[0]];
            // Copies (compressed, processed) count as slices only of a series that has
            // nothing else: they are listed with the derived images.
            let originals = members
                .iter()
                .filter(|&&k| !matches!(roles[k], Role::Derived { .. }))
                .count();
            let series = SourceSeries {
                series_uid: uid.to_string(),
                patient_id: patient.patient_id.clone(),
                modality: first.series.modality.clone(),
                description: first.series.description.clone(),
                number: members.iter().find_map(|&k| view.items[k].inst.series_number),
                folder: common_folder(
                    members
                        .iter()
                        .filter(|&&k| originals == 0 || !matches!(roles[k], Role::Derived { .. }))
                        .map(|&k| view.items[k].inst.path.as_path()),
                ),
                slices: if originals > 0 { originals } else { members.len() },
                frame_of_reference_uid: members
                    .iter()
                    .map(|&k| view.items[k].inst.frame_of_reference_uid.as_ref())
                    .find(|f| !f.is_empty())
                    .unwrap_or_default()
                    .to_string(),
                localizer: members.iter().all(|&k| roles[k] == Role::Localizer),
            };
            (series, members)
        })
        .collect();
    found.sort_by(|a, b| (&a.0.folder, &a.0.series_uid).cmp(&(&b.0.folder, &b.0.series_uid)));
    let mut source_of = vec![None; view.items.len()];
    for (series, members) in found {
        let si = links.sources.len();
        for k in members {
            source_of[k] = Some(si);
        }
        links.sources.push(series);
    }
    source_of
}

fn resolve_file<'a>(
    view: &View<'a>,
    roles: &[Role],
    source_of: &[Option<usize>],
    k: usize,
    counts: impl Fn(crate::scan::RefVia) -> bool,
) -> FileLinks<'a> {
    let inst = view.items[k].inst;
    // Counted once per referenced instance, whichever sequences name it (a SEG names each
    // source frame three times).
    let mut uids: Vec<&str> = inst
        .references
        .iter()
        .filter(|r| counts(r.via))
        .map(|r| r.sop_instance_uid.as_str())
        .collect();
    uids.sort_unstable();
    uids.dedup();
    let mut out = FileLinks::default();
    for uid in uids {
        let targets: Vec<usize> = view.targets(uid, k).collect();
        if targets.is_empty() {
            if uid == inst.sop_instance_uid {
                out.itself += 1;
            } else {
                out.missing += 1;
                out.claims.push(uid);
            }
            continue;
        }
        let mut voted = false;
        for &t in &targets {
            if let (true, Some(s)) = (roles[t].is_source_image(), source_of[t]) {
                let slices = out.votes.entry(s).or_default();
                // One vote per referenced UID, even if a series holds it twice.
                if slices
                    .last()
                    .is_none_or(|&last| view.items[last].inst.sop_instance_uid != uid)
                {
                    slices.push(t);
                }
                voted = true;
            }
        }
        if voted {
            out.claims.push(uid);
        } else if targets.iter().any(|&t| roles[t] == Role::Localizer) {
            out.localizer += 1;
        } else {
            out.derived.extend(targets);
            out.claims.push(uid);
        }
    }
    out
}

/// What the references of these files resolve to, taken together.
fn resolution<'a>(files: impl Iterator<Item = &'a FileLinks<'a>>) -> Resolution {
    let sources: BTreeSet<usize> = files.flat_map(|fl| fl.votes.keys().copied()).collect();
    let mut it = sources.iter().copied();
    match (it.next(), it.next()) {
        (None, _) => Resolution::Unmatched,
        (Some(s), None) => Resolution::Resolved(s),
        _ => Resolution::Ambiguous(sources.into_iter().collect()),
    }
}

/// The slice stacks of a per-slice mask part: one per orientation, and — where one position
/// holds several files — one per source series when that separates them. Files without a
/// position stay with the largest stack.
fn stacks(view: &View, members: &[usize], resolutions: &Resolutions) -> Vec<Vec<usize>> {
    let mut by_orientation: Vec<([f64; 6], Vec<usize>)> = Vec::new();
    let mut unplaced = Vec::new();
    for &k in members {
        let inst = view.items[k].inst;
        match (inst.image_position, inst.orientation()) {
            (Some(_), Some(o)) => match by_orientation
                .iter_mut()
                .find(|(x, _)| geometry::same_orientation(x, &o))
            {
                Some((_, v)) => v.push(k),
                None => by_orientation.push((o, vec![k])),
            },
            _ => unplaced.push(k),
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (_, files) in by_orientation {
        out.extend(split_repeated_positions(view, files, resolutions));
    }
    match out.iter_mut().max_by_key(|s| s.len()) {
        Some(largest) => largest.extend(unplaced),
        None => out.push(unplaced),
    }
    for s in &mut out {
        // Byte order, as the Index keeps paths (cheaper than comparing components).
        s.sort_by(|&a, &b| {
            view.items[a]
                .inst
                .path
                .as_os_str()
                .cmp(view.items[b].inst.path.as_os_str())
        });
    }
    out.sort_by(|a, b| {
        view.items[a[0]]
            .inst
            .path
            .as_os_str()
            .cmp(view.items[b[0]].inst.path.as_os_str())
    });
    out
}

/// Whether two files of one orientation lie at the same slice position.
fn repeats(view: &View, files: &[usize]) -> bool {
    SliceStack::new(files.iter().map(|&k| {
        let inst = view.items[k].inst;
        (inst.image_position, inst.orientation())
    }))
    .has_repeats()
}

/// One orientation's files: one stack, unless positions repeat and the files' sources tell
/// the stacks apart (the same folder and header drawn on two series).
fn split_repeated_positions(view: &View, files: Vec<usize>, resolutions: &Resolutions) -> Vec<Vec<usize>> {
    if !repeats(view, &files) {
        return vec![files];
    }
    let mut by_source: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut rest = Vec::new();
    for &k in &files {
        match resolutions.get(&k).and_then(FileLinks::single_source) {
            Some(s) => by_source.entry(s).or_default().push(k),
            None => rest.push(k),
        }
    }
    if by_source.len() < 2 || by_source.values().any(|v| repeats(view, v)) {
        return vec![files];
    }
    let mut stacks: Vec<Vec<usize>> = by_source.into_values().collect();
    stacks.sort_by_key(|s| std::cmp::Reverse(s.len()));
    // The rest goes to the first stack that has nothing at its position.
    let taken: Vec<SliceStack> = stacks
        .iter()
        .map(|s| {
            SliceStack::new(s.iter().map(|&k| {
                let inst = view.items[k].inst;
                (inst.image_position, inst.orientation())
            }))
        })
        .collect();
    let mut added: Vec<Vec<[f64; 3]>> = vec![Vec::new(); stacks.len()];
    for k in rest {
        let inst = view.items[k].inst;
        let free = |i: usize| {
            inst.image_position.is_none_or(|p| {
                !taken[i].has_slice_at(&p, inst.orientation().as_ref())
                    && !added[i].iter().any(|q| geometry::same_position(&p, q))
            })
        };
        let i = (0..stacks.len()).find(|&i| free(i)).unwrap_or(0);
        stacks[i].push(k);
        added[i].extend(inst.image_position);
    }
    stacks
}

/// Forms the segmentation objects (per-slice mask parts split into their stacks, SEG and
/// RTSTRUCT parts as they are) and gives each its key; sorted by key.
fn draft_groups<'a>(
    view: &View<'a>,
    parts: &[Part<'a>],
    roles: &[Role],
    resolutions: &Resolutions,
    links: &Links,
    used_keys: &mut HashSet<String>,
) -> Vec<Draft<'a>> {
    let objects = segmentation_objects(view, parts, roles, resolutions);
    // Keys: claimed UID | what it resolved to, then whatever tells apart objects that share
    // both: the folder, the header signature, the stack.
    let bases: Vec<String> = objects
        .iter()
        .map(|o| {
            let claimed = if o.part.series_uid.is_empty() {
                "no-series-uid"
            } else {
                o.part.series_uid
            };
            format!("{claimed}|{}", disambiguator(o, view, resolutions, links))
        })
        .collect();
    let mut by_base: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, b) in bases.iter().enumerate() {
        by_base.entry(b.as_str()).or_default().push(i);
    }
    let mut drafts = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let same = by_base.get(bases[i].as_str()).map(Vec::as_slice).unwrap_or_default();
        let key = object_key(view, &objects, o, &bases[i], same, used_keys);
        let adopted = o.members.iter().filter(|k| o.part.adopted.contains(k)).count();
        drafts.push(Draft {
            key,
            claimed: o.part.series_uid.to_string(),
            kind: o.kind,
            resolution: o.resolution.clone(),
            // The files of an object share their folder (it is part of their signature).
            folder: parent(&view.items[o.members[0]].inst.path),
            sop_class: o.part.sop_class,
            signature: o.part.signature,
            members: o.members.clone(),
            adopted,
        });
    }
    drafts.sort_by(|a, b| a.key.cmp(&b.key));
    drafts
}

/// One segmentation object being formed: a part, or one stack of a per-slice mask part.
struct Object<'p, 'a> {
    part: &'p Part<'a>,
    kind: SegmentationKind,
    members: Vec<usize>,
    resolution: Resolution,
    stack: usize,
}

/// The segmentation objects of the parts: per-slice mask parts split into their stacks,
/// SEG and RTSTRUCT parts as they are; each with the resolution of its files.
fn segmentation_objects<'p, 'a>(
    view: &View<'a>,
    parts: &'p [Part<'a>],
    roles: &[Role],
    resolutions: &Resolutions,
) -> Vec<Object<'p, 'a>> {
    let mut objects = Vec::new();
    for part in parts {
        let Role::Segmentation(kind) = part.role else { continue };
        let members: Vec<usize> = part
            .members
            .iter()
            .copied()
            .filter(|&k| matches!(roles[k], Role::Segmentation(_)))
            .collect();
        if members.is_empty() {
            continue;
        }
        let split = if kind == SegmentationKind::PerSliceMask {
            stacks(view, &members, resolutions)
        } else {
            vec![members]
        };
        for (stack, members) in split.into_iter().enumerate() {
            let resolution = resolution(members.iter().filter_map(|k| resolutions.get(k)));
            objects.push(Object {
                part,
                kind,
                members,
                resolution,
                stack,
            });
        }
    }
    objects
}

/// What an object's key says after its claimed UID: the series it resolved to, a hash of
/// its candidates when ambiguous, of its claims (or else its paths) when unmatched.
fn disambiguator(o: &Object, view: &View, resolutions: &Resolutions, links: &Links) -> String {
    match &o.resolution {
        Resolution::Resolved(s) => links.sources[*s].series_uid.clone(),
        Resolution::Ambiguous(v) => format!(
            "ambiguous-{}",
            short_hash(v.iter().map(|&s| links.sources[s].series_uid.as_str()))
        ),
        Resolution::Unmatched => {
            let claims: Vec<&str> = o
                .members
                .iter()
                .flat_map(|k| resolutions.get(k).map(|fl| fl.claims.as_slice()).unwrap_or_default())
                .copied()
                .collect();
            let hash = if claims.is_empty() {
                let paths: Vec<String> = o.members.iter().map(|&k| path_text(&view.items[k].inst.path)).collect();
                short_hash(paths.iter().map(String::as_str))
            } else {
                short_hash(claims.into_iter())
            };
            format!("unmatched-{hash}")
        }
    }
}

/// The key of object `o` (whose key starts with `base`, shared by the objects `same`):
/// the folder, the header signature and the stack added where they tell it apart from
/// those, and a number where the key was used already; recorded in `used_keys`.
fn object_key(
    view: &View,
    objects: &[Object],
    o: &Object,
    base: &str,
    same: &[usize],
    used_keys: &mut HashSet<String>,
) -> String {
    let folder = o.part.signature.folder;
    let mut key = base.to_string();
    if same.iter().any(|&j| objects[j].part.signature.folder != folder) {
        let path = parent(&view.items[o.members[0]].inst.path);
        key.push_str(&format!(
            "|dir-{}",
            short_hash(std::iter::once(path_text(&path).as_str()))
        ));
    }
    let here: Vec<usize> = same
        .iter()
        .copied()
        .filter(|&j| objects[j].part.signature.folder == folder)
        .collect();
    if here.iter().any(|&j| !std::ptr::eq(objects[j].part, o.part)) {
        let sig = format!("{}\n{:?}", o.part.sop_class, o.part.signature);
        key.push_str(&format!("|sig-{}", short_hash(std::iter::once(sig.as_str()))));
    }
    if here
        .iter()
        .any(|&j| std::ptr::eq(objects[j].part, o.part) && objects[j].stack != o.stack)
    {
        key.push_str(&format!("|stack-{}", o.stack + 1));
    }
    // Only hard-coded UIDs shared across patients get here; patients come in Index
    // order, so the numbering is stable.
    if used_keys.contains(&key) {
        let base_key = key.clone();
        let mut n = 2;
        while used_keys.contains(&key) {
            key = format!("{base_key}|{n}");
            n += 1;
        }
    }
    used_keys.insert(key.clone());
    key
}

/// The derived images that are no segmentation, one group per part.
fn add_derived_images(
    patient: &Patient,
    sources: Range<usize>,
    view: &View,
    parts: &[Part],
    clues: &[Arc<[Clue]>],
    resolutions: &Resolutions,
    links: &mut Links,
) {
    let mut found = Vec::new();
    for part in parts {
        let Role::Derived { kind, .. } = part.role else {
            continue;
        };
        let members: Vec<(&FileLinks, &Instance)> = part
            .members
            .iter()
            .filter_map(|k| resolutions.get(k).map(|fl| (fl, view.items[*k].inst)))
            .collect();
        if members.is_empty() {
            continue;
        }
        let evidence = evidence(members.iter().copied(), links);
        let why = union(part.members.iter().map(|&k| &clues[k]));
        let status = match evidence.votes.len() {
            0 => LinkStatus::Unmatched,
            1 => LinkStatus::Resolved,
            _ => LinkStatus::Ambiguous,
        };
        let source = majority(&evidence.votes)
            .or(evidence.votes.first())
            .and_then(|v| source_index(links, &sources, &v.series_uid))
            .map(|s| links.sources[s].clone());
        let claimed = if part.series_uid.is_empty() {
            "no-series-uid"
        } else {
            part.series_uid
        };
        let sig = format!("{}\n{:?}", part.sop_class, part.signature);
        found.push(DerivedImageGroup {
            key: format!("{claimed}|{}", short_hash(std::iter::once(sig.as_str()))),
            patient_id: patient.patient_id.clone(),
            claimed_series_uid: part.series_uid.to_string(),
            kind,
            folder: parent(&members[0].1.path),
            files: members.iter().map(|(_, i)| i.path.clone()).collect(),
            status,
            source,
            evidence,
            classification: why.into_iter().collect(),
        });
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    links.derived_images.extend(found);
}

/// The clues of several files, once each (files of one object share their clue lists).
fn union<'a>(lists: impl Iterator<Item = &'a Arc<[Clue]>>) -> BTreeSet<Clue> {
    let mut seen: HashSet<*const [Clue]> = HashSet::new();
    let mut out = BTreeSet::new();
    for list in lists {
        if seen.insert(Arc::as_ptr(list)) {
            out.extend(list.iter().cloned());
        }
    }
    out
}

/// The index of the patient's source with this UID (`range`: the patient's sources).
fn source_index(links: &Links, range: &Range<usize>, uid: &str) -> Option<usize> {
    let sources = links.sources.get(range.clone()).unwrap_or_default();
    sources
        .iter()
        .position(|s| s.series_uid == uid)
        .map(|i| range.start + i)
}

/// The vote that beats every other on files, then references; none on a tie.
pub(super) fn majority(votes: &[Vote]) -> Option<&Vote> {
    let mut sorted: Vec<&Vote> = votes.iter().collect();
    sorted.sort_by_key(|v| std::cmp::Reverse((v.files, v.references)));
    match sorted.as_slice() {
        [one] => Some(one),
        [first, second, ..] if (first.files, first.references) > (second.files, second.references) => Some(first),
        _ => None,
    }
}

/// Sums file evidence into group evidence.
fn evidence<'a>(files: impl Iterator<Item = (&'a FileLinks<'a>, &'a Instance)>, links: &Links) -> Evidence {
    let mut votes: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut e = Evidence::default();
    let mut named = BTreeSet::new();
    for (fl, inst) in files {
        for (&s, targets) in &fl.votes {
            let v = votes.entry(s).or_default();
            v.0 += targets.len();
            v.1 += 1;
        }
        e.missing += fl.missing;
        e.localizer += fl.localizer;
        e.derived += fl.derived.len();
        e.itself += fl.itself;
        named.extend(inst.referenced_series.iter().cloned());
    }
    e.votes = votes
        .into_iter()
        .map(|(s, (references, files))| Vote {
            series_uid: links.sources[s].series_uid.clone(),
            references,
            files,
        })
        .collect();
    e.votes.sort_by(|a, b| {
        b.references
            .cmp(&a.references)
            .then_with(|| a.series_uid.cmp(&b.series_uid))
    });
    e.named_series = named.into_iter().collect();
    e
}

/// How one file of an object stands to the object's link (its source, or the proposed one).
fn file_status(fl: &FileLinks, link: Option<usize>, links: &Links) -> FileStatus {
    if let Some(s) = link
        && fl.votes.contains_key(&s)
    {
        return FileStatus::Resolved;
    }
    let top = fl
        .votes
        .iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(a.0)))
        .map(|(&s, _)| s);
    match top {
        Some(s) if link.is_some() => FileStatus::Disagrees {
            series_uid: links.sources[s].series_uid.clone(),
        },
        Some(_) => FileStatus::Resolved,
        None if fl.missing > 0 => FileStatus::MissingReferences { instances: fl.missing },
        None => FileStatus::NoSourceReference,
    }
}

fn build_group(cx: &Context, draft: &Draft, links: &mut Links) -> SegmentationGroup {
    let member_links: Vec<(&FileLinks, &Instance)> = draft
        .members
        .iter()
        .filter_map(|k| cx.resolutions.get(k).map(|fl| (fl, cx.view.items[*k].inst)))
        .collect();
    let group_evidence = evidence(member_links.iter().copied(), links);
    let automatic_source = draft.resolution.source();
    let proposed = match draft.resolution {
        Resolution::Ambiguous(_) => {
            majority(&group_evidence.votes).and_then(|v| source_index(links, &cx.sources, &v.series_uid))
        }
        _ => None,
    };
    let link = automatic_source.or(proposed);
    let mut file_indexes = Vec::with_capacity(member_links.len());
    for &(fl, inst) in &member_links {
        file_indexes.push(links.files.len());
        let status = file_status(fl, link, links);
        links.files.push(DerivedFile {
            path: inst.path.clone(),
            group: draft.key.clone(),
            source_series_uid: automatic_source.map(|s| links.sources[s].series_uid.clone()),
            kind: draft.kind,
            status,
            evidence: evidence(std::iter::once((fl, inst)), links),
        });
        links.details.push(FileDetail {
            sop_instance_uid: inst.sop_instance_uid.clone(),
            instance_number: inst.instance_number,
            position: inst.image_position,
            orientation: inst.orientation(),
            slices: fl
                .votes
                .iter()
                .flat_map(|(&s, targets)| {
                    targets.iter().map(move |&t| {
                        let target = cx.view.items[t].inst;
                        SourceSlice {
                            source: s,
                            position: target.image_position,
                            orientation: target.orientation(),
                        }
                    })
                })
                .collect(),
        });
    }
    let flags = flags(cx, draft, &member_links, &file_indexes, links);
    let why = union(draft.members.iter().map(|&k| &cx.clues[k]));
    SegmentationGroup {
        key: draft.key.clone(),
        patient_id: cx.patient.patient_id.clone(),
        claimed_series_uid: draft.claimed.clone(),
        kind: draft.kind,
        folder: draft.folder.clone(),
        files: member_links.iter().map(|(_, inst)| inst.path.clone()).collect(),
        status: draft.resolution.status(),
        source: automatic_source.map(|s| links.sources[s].clone()),
        automatic_status: draft.resolution.status(),
        proposed: proposed.map(|s| links.sources[s].clone()),
        evidence: group_evidence,
        classification: why.into_iter().collect(),
        suggestions: Vec::new(),
        flags,
        automatic_source,
        source_index: automatic_source,
        members: file_indexes,
    }
}

fn flags(
    cx: &Context,
    draft: &Draft,
    member_links: &[(&FileLinks, &Instance)],
    file_indexes: &[usize],
    links: &Links,
) -> Vec<Flag> {
    let mut flags = Vec::new();
    if draft.claimed.is_empty() {
        flags.push(Flag::NoSeriesUid);
    } else {
        // Other objects that claim the same UID, by what tells them apart first.
        let mut by_folder = Vec::new();
        let mut by_signature = Vec::new();
        let mut differs: BTreeSet<&'static str> = BTreeSet::new();
        let mut by_stack = Vec::new();
        let siblings = cx
            .by_claimed
            .get(draft.claimed.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        for d in siblings.iter().map(|&i| &cx.drafts[i]).filter(|d| d.key != draft.key) {
            if d.signature.folder != draft.signature.folder {
                by_folder.push(d.key.clone());
            } else if d.signature != draft.signature || d.sop_class != draft.sop_class {
                by_signature.push(d.key.clone());
                if d.sop_class != draft.sop_class {
                    differs.insert("SOPClassUID");
                }
                differs.extend(d.signature.differences(&draft.signature));
            } else {
                by_stack.push(d.key.clone());
            }
        }
        if !by_folder.is_empty() {
            flags.push(Flag::SplitByFolder { siblings: by_folder });
        }
        if !by_signature.is_empty() {
            flags.push(Flag::SplitBySignature {
                siblings: by_signature,
                differs: differs.into_iter().collect(),
            });
        }
        if !by_stack.is_empty() {
            flags.push(Flag::SplitByStack { siblings: by_stack });
        }
        let sources = links.sources.get(cx.sources.clone()).unwrap_or_default();
        if sources.iter().any(|s| s.series_uid == draft.claimed) {
            flags.push(Flag::SeriesUidOfSource);
        }
    }
    if draft.adopted > 0 {
        flags.push(Flag::AdoptedFiles { files: draft.adopted });
    }
    let duplicates = member_links
        .iter()
        .filter(|(_, inst)| {
            inst.sop_instance_uid.is_empty()
                || cx
                    .view
                    .by_sop
                    .get(inst.sop_instance_uid.as_str())
                    .is_some_and(|v| v.len() > 1)
        })
        .count();
    if duplicates > 0 {
        flags.push(Flag::DuplicateSopInstanceUid { files: duplicates });
    }
    let only_missing: Vec<usize> = member_links
        .iter()
        .filter(|(fl, _)| fl.votes.is_empty() && fl.missing > 0)
        .map(|(fl, _)| fl.missing)
        .collect();
    if !only_missing.is_empty() && draft.resolution != Resolution::Unmatched {
        flags.push(Flag::ReferencesMissing {
            files: only_missing.len(),
            instances: only_missing.iter().sum(),
        });
    }
    if draft.kind == SegmentationKind::PerSliceMask {
        let details: Vec<&FileDetail> = file_indexes.iter().filter_map(|&i| links.details.get(i)).collect();
        let paths: Vec<&Path> = member_links.iter().map(|(_, inst)| inst.path.as_path()).collect();
        if !instance_numbers_follow_slices(&details, &paths, draft.resolution.source()) {
            flags.push(Flag::InstanceNumbers);
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (fl, _) in member_links {
            for uid in &fl.claims {
                *seen.entry(uid).or_default() += 1;
            }
        }
        let twice = seen.values().filter(|&&n| n > 1).count();
        if twice > 0 {
            flags.push(Flag::SliceCoveredTwice { slices: twice });
        }
    }
    flags
}

/// `InstanceNumbers` are all present, distinct, and run with the slice order (either way).
fn instance_numbers_follow_slices(details: &[&FileDetail], paths: &[&Path], source: Option<usize>) -> bool {
    let order = repair::slice_order(details, paths, source);
    let numbers: Option<Vec<i64>> = order.iter().map(|&i| details[i].instance_number).collect();
    let Some(numbers) = numbers else { return false };
    let rising = numbers.windows(2).all(|w| w[0] < w[1]);
    let falling = numbers.windows(2).all(|w| w[0] > w[1]);
    rising || falling
}

/// Candidates for a group that did not resolve, each with all its reasons.
fn suggest(cx: &Context, gi: usize, draft: &Draft, links: &Links) -> Vec<Suggestion> {
    let Some(group) = links.groups.get(gi) else {
        return Vec::new();
    };
    if !matches!(group.automatic_status, LinkStatus::Unmatched | LinkStatus::Ambiguous) {
        return Vec::new();
    }
    let patient_sources = || {
        let sources = links.sources.get(cx.sources.clone()).unwrap_or_default();
        (cx.sources.start..).zip(sources).filter(|(_, s)| !s.localizer)
    };
    let mut found: BTreeMap<usize, BTreeSet<SuggestionReason>> = BTreeMap::new();
    let members: Vec<&Instance> = draft.members.iter().map(|&k| cx.view.items[k].inst).collect();

    let frames: BTreeSet<&str> = members
        .iter()
        .map(|i| &*i.frame_of_reference_uid)
        .filter(|f| !f.is_empty())
        .collect();
    let positioned: Vec<&Instance> = members.iter().copied().filter(|i| i.image_position.is_some()).collect();
    for (si, s) in patient_sources() {
        if !frames.contains(s.frame_of_reference_uid.as_str()) {
            continue;
        }
        let reasons = found.entry(si).or_default();
        reasons.insert(SuggestionReason::SameFrameOfReference);
        if positioned.is_empty() {
            continue;
        }
        let slices = cx.slices_of.get(&si).map(Vec::as_slice).unwrap_or_default();
        let stack = SliceStack::new(slices.iter().map(|&k| {
            let inst = cx.view.items[k].inst;
            (inst.image_position, inst.orientation())
        }));
        let on_slices = positioned.iter().all(|i| {
            i.image_position
                .is_some_and(|p| stack.has_slice_at(&p, i.orientation().as_ref()))
        });
        if !stack.is_empty() && on_slices {
            reasons.insert(SuggestionReason::SameGeometry);
        }
    }
    for (si, s) in patient_sources() {
        if group.evidence.named_series.contains(&s.series_uid) {
            found.entry(si).or_default().insert(SuggestionReason::NamedSeries);
        }
    }
    if !group.claimed_series_uid.is_empty() {
        let patient_groups = links.groups.get(cx.groups.clone()).unwrap_or_default();
        let siblings = patient_groups
            .iter()
            .filter(|o| o.key != group.key && o.claimed_series_uid == group.claimed_series_uid);
        for other in siblings {
            if let Some(s) = other.automatic_source {
                found.entry(s).or_default().insert(SuggestionReason::SameSeriesUid {
                    group: other.key.clone(),
                });
            }
        }
    }
    for k in &draft.members {
        let Some(fl) = cx.resolutions.get(k) else { continue };
        for t in &fl.derived {
            let Some(&tg) = cx.group_of.get(t) else { continue };
            let Some(target) = links.groups.get(tg).filter(|_| tg != gi) else {
                continue;
            };
            if let Some(s) = target.automatic_source {
                found.entry(s).or_default().insert(SuggestionReason::ViaDerived {
                    group: target.key.clone(),
                });
            }
        }
    }
    let mut out: Vec<Suggestion> = found
        .into_iter()
        .filter_map(|(si, reasons)| {
            let s = links.sources.get(si)?;
            Some(Suggestion {
                series_uid: s.series_uid.clone(),
                folder: s.folder.clone(),
                description: s.description.clone(),
                reasons: reasons.into_iter().collect(),
            })
        })
        .collect();
    // Most reasons first, then the strongest reason, then by folder: a stable order to show.
    out.sort_by(|a, b| {
        b.reasons
            .len()
            .cmp(&a.reasons.len())
            .then_with(|| a.reasons.cmp(&b.reasons))
            .then_with(|| (&a.folder, &a.series_uid).cmp(&(&b.folder, &b.series_uid)))
    });
    out
}

/// Notes which `SeriesNumbers` the patient's files carry, and whether only segmentation
/// groups carry them (so that a repaired group may keep a number of its own).
fn record_series_numbers(cx: &Context, links: &mut Links) {
    let mut uses: BTreeMap<i64, (BTreeSet<usize>, bool)> = BTreeMap::new();
    for (k, it) in cx.view.items.iter().enumerate() {
        let Some(number) = it.inst.series_number else { continue };
        let entry = uses.entry(number).or_default();
        match cx.group_of.get(&k) {
            Some(&g) => {
                entry.0.insert(g);
            }
            None => entry.1 = true,
        }
    }
    for (number, (groups, others)) in uses {
        links.numbers.push(NumberUse {
            patient_id: cx.patient.patient_id.clone(),
            number,
            groups: groups.into_iter().collect(),
            others,
        });
    }
}

//! Building the Links of an Index, one patient at a time: classify the files, resolve each
//! derived file's references, group the files, and attach evidence, flags and suggestions.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::scan::{Index, Instance, Patient, Series};

use super::classify::{self, Role};
use super::geometry::SliceStack;
use super::repair;
use super::{
    DerivedFile, Evidence, FileDetail, Flag, LinkStatus, Links, NumberUse, SegmentationGroup, SegmentationKind,
    SourceSeries, SourceSlice, Suggestion, SuggestionReason, Vote,
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

    /// The rule of `classify.rs`.
    fn role(&self, k: usize) -> Role {
        let it = &self.items[k];
        if let Some(kind) = classify::kind_of_class(&it.inst.sop_class_uid) {
            return Role::Derived(kind);
        }
        if it.localizer {
            return Role::Localizer;
        }
        if !it.looks_derived {
            return Role::Source;
        }
        let secondary_capture = classify::is_secondary_capture(&it.inst.sop_class_uid);
        let claims_source = it
            .inst
            .references
            .iter()
            .filter(|r| classify::counts(SegmentationKind::PerSliceMask, r.via))
            .any(|r| {
                let mut targets = self.targets(&r.sop_instance_uid, k).peekable();
                if targets.peek().is_none() {
                    return r.sop_instance_uid != it.inst.sop_instance_uid
                        && (classify::means_made_from(r.via) || secondary_capture);
                }
                targets.any(|t| {
                    let o = &self.items[t];
                    let earlier_version = o.looks_derived && o.series.series_uid == it.series.series_uid;
                    !o.localizer && !earlier_version
                })
            });
        if claims_source {
            Role::Derived(SegmentationKind::PerSliceMask)
        } else {
            Role::Source
        }
    }
}

/// What one derived file's references resolved to.
#[derive(Default)]
struct FileLinks<'a> {
    /// Source index → the referenced files of that source (one per referenced UID).
    votes: BTreeMap<usize, Vec<usize>>,
    missing: usize,
    localizer: usize,
    /// Referenced files that are derived objects themselves.
    derived: Vec<usize>,
    itself: usize,
    /// Referenced UIDs that could name a source (everything but itself and localizers).
    claims: Vec<&'a str>,
}

impl FileLinks<'_> {
    fn signature(&self) -> Signature {
        let mut sources = self.votes.keys().copied();
        match (sources.next(), sources.next()) {
            (None, _) => Signature::Unmatched,
            (Some(s), None) => Signature::Resolved(s),
            _ => Signature::Ambiguous(self.votes.keys().copied().collect()),
        }
    }
}

/// What a file resolved to, as a grouping criterion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Signature {
    Resolved(usize),
    Ambiguous(Vec<usize>),
    Unmatched,
}

impl Signature {
    fn status(&self) -> LinkStatus {
        match self {
            Signature::Resolved(_) => LinkStatus::Resolved,
            Signature::Ambiguous(_) => LinkStatus::Ambiguous,
            Signature::Unmatched => LinkStatus::Unmatched,
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
    /// The non-localizer files of each source, for geometry.
    slices_of: HashMap<usize, Vec<usize>>,
    resolutions: BTreeMap<usize, (SegmentationKind, FileLinks<'a>)>,
    drafts: Vec<Draft>,
    /// Group index (in `Links::groups`) of each derived file.
    group_of: HashMap<usize, usize>,
}

/// A group before its evidence is gathered.
struct Draft {
    key: String,
    claimed: String,
    kind: SegmentationKind,
    signature: Signature,
    folder: PathBuf,
    /// Item indexes, by path.
    members: Vec<usize>,
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

/// Orders `files` by path, keeping the groups' member indexes right.
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
    let roles: Vec<Role> = (0..view.items.len()).map(|k| view.role(k)).collect();
    let first_source = links.sources.len();
    let source_of = add_sources(patient, &view, &roles, links);
    let mut slices_of: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, s) in source_of.iter().enumerate() {
        if let (Some(s), Role::Source) = (s, roles[k]) {
            slices_of.entry(*s).or_default().push(k);
        }
    }
    let resolutions: BTreeMap<usize, (SegmentationKind, FileLinks)> = roles
        .iter()
        .enumerate()
        .filter_map(|(k, role)| match role {
            Role::Derived(kind) => Some((k, (*kind, resolve_file(&view, &roles, &source_of, k, *kind)))),
            _ => None,
        })
        .collect();
    let drafts = draft_groups(&view, &resolutions, links, used_keys);
    let first_group = links.groups.len();
    let group_of: HashMap<usize, usize> = drafts
        .iter()
        .enumerate()
        .flat_map(|(gi, d)| d.members.iter().map(move |&k| (k, first_group + gi)))
        .collect();
    let cx = Context {
        patient,
        sources: first_source..links.sources.len(),
        groups: first_group..first_group + drafts.len(),
        view,
        slices_of,
        resolutions,
        drafts,
        group_of,
    };
    for draft in &cx.drafts {
        let group = build_group(&cx, draft, links);
        links.groups.push(group);
    }
    // Suggestions read other groups' automatic sources, so they come once all groups exist.
    for (gi, draft) in (first_group..).zip(&cx.drafts) {
        let suggestions = suggest(&cx, gi, draft, links);
        if let Some(g) = links.groups.get_mut(gi) {
            g.suggestions = suggestions;
        }
    }
    record_series_numbers(&cx, links);
}

/// Adds the patient's possible sources (and localizers) to `links.sources`, by folder, and
/// returns each file's source index (None for derived files).
fn add_sources(patient: &Patient, view: &View, roles: &[Role], links: &mut Links) -> Vec<Option<usize>> {
    let mut by_uid: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, role) in roles.iter().enumerate() {
        if matches!(role, Role::Source | Role::Localizer) {
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
            let series = SourceSeries {
                series_uid: uid.to_string(),
                patient_id: patient.patient_id.clone(),
                modality: first.series.modality.clone(),
                description: first.series.description.clone(),
                number: members.iter().find_map(|&k| view.items[k].inst.series_number),
                folder: common_folder(members.iter().map(|&k| view.items[k].inst.path.as_path())),
                slices: members.len(),
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
    kind: SegmentationKind,
) -> FileLinks<'a> {
    let inst = view.items[k].inst;
    // Counted once per referenced instance, whichever sequences name it (a SEG names each
    // source frame three times).
    let mut uids: Vec<&str> = inst
        .references
        .iter()
        .filter(|r| classify::counts(kind, r.via))
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
            if let (Role::Source, Some(s)) = (roles[t], source_of[t]) {
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

/// Groups the derived files by (claimed SeriesInstanceUID, kind, what they resolved to,
/// folder) and gives each group its key; sorted by key.
fn draft_groups(
    view: &View,
    resolutions: &BTreeMap<usize, (SegmentationKind, FileLinks)>,
    links: &Links,
    used_keys: &mut HashSet<String>,
) -> Vec<Draft> {
    type Bucket = BTreeMap<PathBuf, Vec<usize>>;
    let mut buckets: BTreeMap<(&str, SegmentationKind, Signature), Bucket> = BTreeMap::new();
    for (&k, (kind, fl)) in resolutions {
        let it = &view.items[k];
        buckets
            .entry((it.series.series_uid.as_str(), *kind, fl.signature()))
            .or_default()
            .entry(parent(&it.inst.path))
            .or_default()
            .push(k);
    }
    let mut drafts = Vec::new();
    for ((claimed, kind, signature), folders) in buckets {
        let base = if claimed.is_empty() { "no-series-uid" } else { claimed };
        let disambiguator = match &signature {
            Signature::Resolved(s) => links.sources[*s].series_uid.clone(),
            Signature::Ambiguous(v) => format!(
                "ambiguous-{}",
                short_hash(v.iter().map(|&s| links.sources[s].series_uid.as_str()))
            ),
            Signature::Unmatched => {
                let members = || folders.values().flatten();
                let claims: Vec<&str> = members()
                    .flat_map(|k| {
                        resolutions
                            .get(k)
                            .map(|(_, fl)| fl.claims.as_slice())
                            .unwrap_or_default()
                    })
                    .copied()
                    .collect();
                let hash = if claims.is_empty() {
                    let paths: Vec<String> = members().map(|&k| path_text(&view.items[k].inst.path)).collect();
                    short_hash(paths.iter().map(String::as_str))
                } else {
                    short_hash(claims.into_iter())
                };
                format!("unmatched-{hash}")
            }
        };
        let split = folders.len() > 1;
        for (folder, mut members) in folders {
            members.sort_by(|&a, &b| view.items[a].inst.path.cmp(&view.items[b].inst.path));
            let mut key = format!("{base}|{disambiguator}");
            if split {
                key.push_str(&format!(
                    "|dir-{}",
                    short_hash(std::iter::once(path_text(&folder).as_str()))
                ));
            }
            // Only hard-coded UIDs shared across patients (or kinds) get here; patients come
            // in Index order, so the numbering is stable.
            if used_keys.contains(&key) {
                let base_key = key.clone();
                let mut n = 2;
                while used_keys.contains(&key) {
                    key = format!("{base_key}|{n}");
                    n += 1;
                }
            }
            used_keys.insert(key.clone());
            drafts.push(Draft {
                key,
                claimed: claimed.to_string(),
                kind,
                signature: signature.clone(),
                folder,
                members,
            });
        }
    }
    drafts.sort_by(|a, b| a.key.cmp(&b.key));
    drafts
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

fn build_group(cx: &Context, draft: &Draft, links: &mut Links) -> SegmentationGroup {
    let member_links: Vec<(&FileLinks, &Instance)> = draft
        .members
        .iter()
        .filter_map(|k| cx.resolutions.get(k).map(|(_, fl)| (fl, cx.view.items[*k].inst)))
        .collect();
    let group_evidence = evidence(member_links.iter().copied(), links);
    let automatic_source = match draft.signature {
        Signature::Resolved(s) => Some(s),
        _ => None,
    };
    let mut file_indexes = Vec::with_capacity(member_links.len());
    for &(fl, inst) in &member_links {
        file_indexes.push(links.files.len());
        links.files.push(DerivedFile {
            path: inst.path.clone(),
            group: draft.key.clone(),
            source_series_uid: automatic_source.map(|s| links.sources[s].series_uid.clone()),
            kind: draft.kind,
            evidence: evidence(std::iter::once((fl, inst)), links),
        });
        links.details.push(FileDetail {
            sop_instance_uid: inst.sop_instance_uid.clone(),
            instance_number: inst.instance_number,
            position: inst.image_position,
            orientation: inst.image_orientation,
            slices: fl
                .votes
                .iter()
                .flat_map(|(&s, targets)| {
                    targets.iter().map(move |&t| {
                        let target = cx.view.items[t].inst;
                        SourceSlice {
                            source: s,
                            position: target.image_position,
                            orientation: target.image_orientation,
                        }
                    })
                })
                .collect(),
        });
    }
    let flags = flags(cx, draft, &member_links, &file_indexes, links);
    SegmentationGroup {
        key: draft.key.clone(),
        patient_id: cx.patient.patient_id.clone(),
        claimed_series_uid: draft.claimed.clone(),
        kind: draft.kind,
        folder: draft.folder.clone(),
        files: member_links.iter().map(|(_, inst)| inst.path.clone()).collect(),
        status: draft.signature.status(),
        source: automatic_source.map(|s| links.sources[s].clone()),
        automatic_status: draft.signature.status(),
        evidence: group_evidence,
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
    let siblings = |same_resolution: bool| -> Vec<String> {
        cx.drafts
            .iter()
            .filter(|d| d.key != draft.key && d.claimed == draft.claimed)
            .filter(|d| (d.kind == draft.kind && d.signature == draft.signature) == same_resolution)
            .map(|d| d.key.clone())
            .collect()
    };
    if draft.claimed.is_empty() {
        flags.push(Flag::NoSeriesUid);
    } else {
        let by_source = siblings(false);
        if !by_source.is_empty() {
            flags.push(Flag::SplitBySource { siblings: by_source });
        }
        let by_folder = siblings(true);
        if !by_folder.is_empty() {
            flags.push(Flag::SplitByFolder { siblings: by_folder });
        }
        let sources = links.sources.get(cx.sources.clone()).unwrap_or_default();
        if sources.iter().any(|s| s.series_uid == draft.claimed) {
            flags.push(Flag::SeriesUidOfSource);
        }
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
    if draft.kind == SegmentationKind::PerSliceMask {
        let details: Vec<&FileDetail> = file_indexes.iter().filter_map(|&i| links.details.get(i)).collect();
        let paths: Vec<&Path> = member_links.iter().map(|(_, inst)| inst.path.as_path()).collect();
        let automatic_source = match draft.signature {
            Signature::Resolved(s) => Some(s),
            _ => None,
        };
        if !instance_numbers_follow_slices(&details, &paths, automatic_source) {
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

/// InstanceNumbers are all present, distinct, and run with the slice order (either way).
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
            (inst.image_position, inst.image_orientation)
        }));
        let on_slices = positioned.iter().all(|i| {
            i.image_position
                .is_some_and(|p| stack.has_slice_at(&p, i.image_orientation.as_ref()))
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
        let Some((_, fl)) = cx.resolutions.get(k) else { continue };
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

/// Notes which SeriesNumbers the patient's files carry, and whether only derived groups
/// carry them (so that a repaired group may keep a number of its own).
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

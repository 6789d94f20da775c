//! Repair of per-slice mask series: a `SeriesInstanceUID` of their own, unique `SOPInstanceUIDs`,
//! `InstanceNumbers` in slice order and an unused `SeriesNumber`, all deterministic under the key.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::values::uid;

use super::geometry::{depth, normal};
use super::{FileDetail, Links, NumberUse, SegmentationGroup};

/// Prefixes that keep repair UIDs apart from UIDs derived from an original UID alone.
const SERIES_UID_DOMAIN: &str = "dams-link-series";
const SOP_UID_DOMAIN: &str = "dams-link-sop";

/// The new tags of one mask file. The UIDs are final output values (already derived under
/// the key's secret): the plan writes them as they are, instead of pseudonymising the
/// originals. Sources are never renamed here, so masks' references to them stay valid;
/// references *to* a repaired mask from other files are not rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// Relative to the scanned root.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    /// The key of its group.
    pub group: String,
    /// `SeriesInstanceUID` (0020,000E), one per group.
    pub series_instance_uid: String,
    /// `SOPInstanceUID` (0008,0018), and `MediaStorageSOPInstanceUID` (0002,0003) with it.
    pub sop_instance_uid: String,
    /// `InstanceNumber` (0020,0013): 1..n along the slice normal.
    pub instance_number: i64,
    /// `SeriesNumber` (0020,0011): one no other series of the patient uses.
    pub series_number: i64,
}

fn text(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Known values first, in `cmp` order; missing ones after.
fn missing_last<T>(a: Option<T>, b: Option<T>, cmp: impl Fn(&T, &T) -> Ordering) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => cmp(&x, &y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The order of the files along the slice normal: by the depth of the source slice each
/// references in `source` (the mask's own position when it references none), then by the
/// original `InstanceNumber`, then by path, so that ties always break the same way. One
/// normal for the whole group (from the first source slice with an orientation, else the
/// first mask with one, else z) keeps depths comparable.
pub(super) fn slice_order(details: &[&FileDetail], paths: &[&Path], source: Option<usize>) -> Vec<usize> {
    let in_source = |d: &&FileDetail| {
        d.slices
            .iter()
            .filter(|s| Some(s.source) == source)
            .map(|s| (s.position, s.orientation))
            .collect::<Vec<_>>()
    };
    let n = details
        .iter()
        .flat_map(|d| in_source(d).into_iter().filter_map(|(_, o)| o))
        .chain(details.iter().filter_map(|d| d.orientation))
        .find_map(|o| normal(&o))
        .unwrap_or([0.0, 0.0, 1.0]);
    let depths: Vec<Option<f64>> = details
        .iter()
        .map(|d| {
            in_source(d)
                .into_iter()
                .filter_map(|(p, _)| p.map(|p| depth(&p, &n)))
                .min_by(f64::total_cmp)
                .or_else(|| d.position.map(|p| depth(&p, &n)))
        })
        .collect();
    let mut order: Vec<usize> = (0..details.len()).collect();
    order.sort_by(|&a, &b| {
        missing_last(depths[a], depths[b], f64::total_cmp)
            .then_with(|| missing_last(details[a].instance_number, details[b].instance_number, i64::cmp))
            .then_with(|| paths.get(a).cmp(&paths.get(b)))
    });
    order
}

impl Links {
    /// The `SeriesNumber` each repairable group gets, by group index. Every repairable group
    /// gets one in key order, whether or not it is repaired, so that switching one group's
    /// repair never changes another's number. A number is free when no other series of the
    /// patient uses it (a series holding only this group's files does not count).
    fn series_numbers(&self) -> Vec<Option<i64>> {
        let mut by_patient: BTreeMap<&str, Vec<&NumberUse>> = BTreeMap::new();
        for u in &self.numbers {
            by_patient.entry(u.patient_id.as_str()).or_default().push(u);
        }
        let mut assigned: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
        let mut out = vec![None; self.groups.len()];
        for (gi, g) in self.groups.iter().enumerate() {
            if !g.repairable() {
                continue;
            }
            let numbers = by_patient
                .get(g.patient_id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let taken = assigned.entry(g.patient_id.as_str()).or_default();
            let used: BTreeSet<i64> = numbers
                .iter()
                .filter(|u| u.others || u.groups.as_slice() != [gi])
                .map(|u| u.number)
                .chain(taken.iter().copied())
                .collect();
            // A number only this group's files carry already is kept (fewer changes, and a
            // rerun over repaired output changes nothing); else the source's + 1000, else
            // past the highest in use.
            let own = numbers
                .iter()
                .filter(|u| !u.others && u.groups.as_slice() == [gi])
                .map(|u| u.number)
                .min();
            let start = own
                .or_else(|| g.source.as_ref().and_then(|s| s.number).map(|n| n.saturating_add(1000)))
                .unwrap_or_else(|| used.last().map_or(1, |m| m.saturating_add(1)));
            let mut n = start;
            while used.contains(&n) {
                n = n.saturating_add(1);
            }
            taken.insert(n);
            out[gi] = Some(n);
        }
        out
    }

    /// New tags for every file of the per-slice mask groups `enabled` picks (for instance
    /// [`SegmentationGroup::needs_repair`]), sorted by path. The same Links and secret
    /// always give the same result; the source in force (manual links included) orders the
    /// slices and picks the `SeriesNumber`.
    pub fn repairs(&self, secret: &[u8], enabled: impl Fn(&SegmentationGroup) -> bool) -> Vec<Repair> {
        let numbers = self.series_numbers();
        let mut out = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            let Some(series_number) = numbers.get(gi).copied().flatten() else {
                continue;
            };
            if !g.repairable() || !enabled(g) {
                continue;
            }
            let series_uid = uid::derive(secret, &format!("{SERIES_UID_DOMAIN}\0{}", g.key));
            let members: Vec<usize> = g
                .members
                .iter()
                .copied()
                .filter(|&m| m < self.files.len() && m < self.details.len())
                .collect();
            let details: Vec<&FileDetail> = members.iter().map(|&m| &self.details[m]).collect();
            let paths: Vec<&Path> = members.iter().map(|&m| self.files[m].path.as_path()).collect();
            for (rank, &i) in slice_order(&details, &paths, g.source_index).iter().enumerate() {
                let path = paths[i];
                // The path makes files that share an original SOPInstanceUID distinct.
                let identity = format!("{SOP_UID_DOMAIN}\0{}\0{}", details[i].sop_instance_uid, text(path));
                out.push(Repair {
                    path: path.to_path_buf(),
                    group: g.key.clone(),
                    series_instance_uid: series_uid.clone(),
                    sop_instance_uid: uid::derive(secret, &identity),
                    instance_number: i64::try_from(rank + 1).unwrap_or(i64::MAX),
                    series_number,
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

//! Slice geometry from headers: the slice normal, a position's depth along it, and whether a
//! set of positions lies on the slices of a series (for suggestions and mask ordering).

/// Positions closer than this (mm, per axis) are the same slice position. Tools copy
/// `ImagePositionPatient` as text, so real matches are exact; this only absorbs rounding.
const POSITION_TOLERANCE: f64 = 0.05;
/// Direction cosines closer than this are the same orientation.
const ORIENTATION_TOLERANCE: f64 = 1e-3;

/// The unit normal of a slice from `ImageOrientationPatient` (row × column), if the cosines
/// are usable.
pub(super) fn normal(o: &[f64; 6]) -> Option<[f64; 3]> {
    let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    let n = [
        r[1] * c[2] - r[2] * c[1],
        r[2] * c[0] - r[0] * c[2],
        r[0] * c[1] - r[1] * c[0],
    ];
    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    (len.is_finite() && len > 1e-6).then(|| [n[0] / len, n[1] / len, n[2] / len])
}

/// Depth of a position along a normal.
pub(super) fn depth(p: &[f64; 3], n: &[f64; 3]) -> f64 {
    p[0] * n[0] + p[1] * n[1] + p[2] * n[2]
}

/// Two positions are one slice position (within the tolerance on every axis).
pub(super) fn same_position(p: &[f64; 3], q: &[f64; 3]) -> bool {
    p.iter().zip(q).all(|(a, b)| (a - b).abs() <= POSITION_TOLERANCE)
}

pub(super) fn same_orientation(a: &[f64; 6], b: &[f64; 6]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= ORIENTATION_TOLERANCE)
}

/// The slice positions of one series, sorted by depth so that a position can be looked up in
/// O(log n).
#[derive(Debug, Clone)]
pub(super) struct SliceStack {
    orientation: Option<[f64; 6]>,
    normal: [f64; 3],
    by_depth: Vec<(f64, [f64; 3])>,
}

impl SliceStack {
    /// From (position, orientation) of each slice; slices without a position are left out.
    pub(super) fn new<'a>(slices: impl Iterator<Item = (Option<[f64; 3]>, Option<[f64; 6]>)> + 'a) -> SliceStack {
        let mut orientation = None;
        let mut positions = Vec::new();
        for (p, o) in slices {
            if orientation.is_none() {
                orientation = o;
            }
            if let Some(p) = p {
                positions.push(p);
            }
        }
        let normal = orientation.as_ref().and_then(normal).unwrap_or([0.0, 0.0, 1.0]);
        let mut by_depth: Vec<(f64, [f64; 3])> = positions.into_iter().map(|p| (depth(&p, &normal), p)).collect();
        by_depth.sort_by(|a, b| a.0.total_cmp(&b.0));
        SliceStack {
            orientation,
            normal,
            by_depth,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_depth.is_empty()
    }

    /// True when two of its slices lie at the same position: it is more than one stack.
    pub(super) fn has_repeats(&self) -> bool {
        let reach = POSITION_TOLERANCE * 1.75;
        self.by_depth.iter().enumerate().any(|(i, (d, p))| {
            self.by_depth[i + 1..]
                .iter()
                .take_while(|(x, _)| *x <= d + reach)
                .any(|(_, q)| same_position(p, q))
        })
    }

    /// True when a slice of the stack lies at `p` with orientation `o` (when both are known).
    pub(super) fn has_slice_at(&self, p: &[f64; 3], o: Option<&[f64; 6]>) -> bool {
        if let (Some(a), Some(b)) = (o, self.orientation.as_ref())
            && !same_orientation(a, b)
        {
            return false;
        }
        let d = depth(p, &self.normal);
        // Depth differs by at most √3·tolerance when every axis is within tolerance.
        let reach = POSITION_TOLERANCE * 1.75;
        let start = self.by_depth.partition_point(|(x, _)| *x < d - reach);
        self.by_depth[start..]
            .iter()
            .take_while(|(x, _)| *x <= d + reach)
            .any(|(_, q)| same_position(p, q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

    #[test]
    fn axial_normal_is_z() {
        assert_eq!(normal(&AXIAL), Some([0.0, 0.0, 1.0]));
        assert_eq!(normal(&[0.0; 6]), None);
    }

    #[test]
    fn stack_lookup() {
        let stack = SliceStack::new((0..10).map(|i| (Some([1.0, 2.0, f64::from(i) * 2.5]), Some(AXIAL))));
        assert!(stack.has_slice_at(&[1.0, 2.0, 5.0], Some(&AXIAL)));
        assert!(stack.has_slice_at(&[1.01, 2.0, 5.01], None));
        assert!(!stack.has_slice_at(&[1.0, 2.0, 6.0], Some(&AXIAL)));
        assert!(!stack.has_slice_at(&[9.0, 2.0, 5.0], Some(&AXIAL)));
        let sagittal = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
        assert!(!stack.has_slice_at(&[1.0, 2.0, 5.0], Some(&sagittal)));
        assert!(!stack.has_repeats());
        let twice = SliceStack::new((0..6).map(|i| (Some([1.0, 2.0, f64::from(i % 3) * 2.5]), Some(AXIAL))));
        assert!(twice.has_repeats());
    }
}

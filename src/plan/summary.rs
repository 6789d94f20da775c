//! A series' (or patient's) plan at a glance: edits that are the same in every file shown
//! once with a count, differing ones listed, warnings and residual identifiers counted.
//! Shared by `dams plan` and the TUI's diff pane.

use std::collections::BTreeMap;

use serde::Serialize;

use super::FilePlan;
use crate::matcher::IdentifierKind;
use crate::profile::RuleKind;

/// One distinct edit (same element, before, after and rule) and how many files have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EditCount {
    pub path: String,
    pub tag: String,
    pub keyword: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub rule: RuleKind,
    pub files: usize,
}

/// An element that still holds an identifier, and in how many files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResidualCount {
    pub element: String,
    pub keyword: String,
    pub identifier: IdentifierKind,
    pub files: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub files: usize,
    /// In element order; within an element, the most common first.
    pub edits: Vec<EditCount>,
    pub residual: Vec<ResidualCount>,
    /// Identifiers file and folder names keep on purpose (too short or generic to be
    /// replaced inside a name).
    pub kept: Vec<ResidualCount>,
    /// (file, warning) pairs.
    pub warnings: Vec<(String, String)>,
}

/// The edits of one element under one rule: identical in every file, a few variants, or
/// many different values (new UIDs per file, say), which are shown as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditGroup<'a> {
    Same(&'a EditCount),
    Variants(Vec<&'a EditCount>),
    Many {
        first: &'a EditCount,
        values: usize,
        files: usize,
    },
}

impl Summary {
    /// Edits grouped by element and rule, for display: at most `variants` distinct values of
    /// one element are listed, more are counted.
    #[must_use]
    pub fn grouped(&self, variants: usize) -> Vec<EditGroup<'_>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.edits.len() {
            let e = &self.edits[i];
            let mut j = i + 1;
            while j < self.edits.len() && self.edits[j].path == e.path && self.edits[j].rule == e.rule {
                j += 1;
            }
            let run: Vec<&EditCount> = self.edits[i..j].iter().collect();
            out.push(if run.len() == 1 && e.files == self.files {
                EditGroup::Same(e)
            } else if run.len() <= variants {
                EditGroup::Variants(run)
            } else {
                EditGroup::Many {
                    first: e,
                    values: run.len(),
                    files: run.iter().map(|x| x.files).sum(),
                }
            });
            i = j;
        }
        out
    }

    /// Edits every file has.
    pub fn common(&self) -> impl Iterator<Item = &EditCount> {
        self.edits.iter().filter(move |e| e.files == self.files)
    }

    /// Edits only some files have (values that differ between files).
    pub fn differing(&self) -> impl Iterator<Item = &EditCount> {
        self.edits.iter().filter(move |e| e.files != self.files)
    }
}

/// What makes two edits the same: element path, before, after, rule.
type EditKey = (String, Option<String>, Option<String>, RuleKind);

pub fn summarise<'a>(plans: impl IntoIterator<Item = &'a FilePlan>) -> Summary {
    // key → (first seen, tag, keyword, files)
    let mut edits: BTreeMap<EditKey, (usize, String, String, usize)> = BTreeMap::new();
    let mut residual: BTreeMap<(String, IdentifierKind), (String, usize)> = BTreeMap::new();
    let mut kept: BTreeMap<(String, IdentifierKind), (String, usize)> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut files = 0;
    let mut order = 0usize;
    for fp in plans {
        files += 1;
        for e in &fp.edits {
            let key = (e.path.clone(), e.before.clone(), e.after.clone(), e.rule);
            let entry = edits.entry(key).or_insert_with(|| {
                order += 1;
                (order, e.tag.clone(), e.keyword.clone(), 0)
            });
            entry.3 += 1;
        }
        count(&mut residual, &fp.residual);
        count(&mut kept, &fp.kept);
        for w in &fp.warnings {
            warnings.push((fp.source.display().to_string(), w.clone()));
        }
    }
    let mut edits: Vec<EditCount> = edits
        .into_iter()
        .map(|((path, before, after, rule), (_, tag, keyword, n))| EditCount {
            path,
            tag,
            keyword,
            before,
            after,
            rule,
            files: n,
        })
        .collect();
    // Element order (tag path), then most common first.
    edits.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then(b.files.cmp(&a.files))
            .then(a.before.cmp(&b.before))
    });
    Summary {
        files,
        edits,
        residual: counts(residual),
        kept: counts(kept),
        warnings,
    }
}

/// Counts one file's findings by element and kind.
pub(crate) fn count(
    into: &mut BTreeMap<(String, IdentifierKind), (String, usize)>,
    found: &[crate::residual::Residual],
) {
    for r in found {
        into.entry((r.element.clone(), r.identifier))
            .or_insert_with(|| (r.keyword.clone(), 0))
            .1 += 1;
    }
}

/// Findings by element and kind, with the number of files each is in.
pub(crate) fn counts(found: BTreeMap<(String, IdentifierKind), (String, usize)>) -> Vec<ResidualCount> {
    found
        .into_iter()
        .map(|((element, identifier), (keyword, n))| ResidualCount {
            element,
            keyword,
            identifier,
            files: n,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Edit;
    use crate::residual::Residual;
    use std::path::PathBuf;

    fn edit(path: &str, before: &str, after: &str) -> Edit {
        Edit {
            path: path.into(),
            tag: path.into(),
            keyword: "K".into(),
            before: Some(before.into()),
            after: Some(after.into()),
            rule: RuleKind::Code,
            element: 0,
            change: crate::dicom::rewrite::Change::Remove,
        }
    }

    fn plan(name: &str, edits: Vec<Edit>) -> FilePlan {
        FilePlan {
            source: PathBuf::from(name),
            dest: PathBuf::from(name),
            edits,
            warnings: vec![],
            residual: vec![Residual {
                path: PathBuf::from(name),
                element: "(0020,0010)".into(),
                keyword: "StudyID".into(),
                identifier: IdentifierKind::PatientId,
            }],
            kept: vec![],
            inserts: vec![],
            clear_preamble: false,
            file_meta: Vec::new(),
        }
    }

    #[test]
    fn same_edits_once_with_count_and_differing_listed() {
        let plans = [
            plan("a", vec![edit("(0010,0010)", "X", "P1"), edit("(0020,0013)", "1", "1")]),
            plan("b", vec![edit("(0010,0010)", "X", "P1"), edit("(0020,0013)", "2", "1")]),
        ];
        let s = summarise(&plans);
        assert_eq!(s.files, 2);
        let common: Vec<_> = s.common().map(|e| e.path.as_str()).collect();
        assert_eq!(common, vec!["(0010,0010)"]);
        assert_eq!(s.differing().count(), 2);
        assert_eq!(s.residual[0].files, 2);
    }
}

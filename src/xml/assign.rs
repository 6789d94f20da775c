//! Which patient an XML file belongs to: the one it names (original ID or name, in text or
//! attribute values), or else the one whose files fill the nearest folder above it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::walk::{Item, Walker, attr_segs};
use super::{PathCache, Suffix, XmlError, charset, name_forms};
use crate::matcher::{Finder, IdentifierKind, Reach};
use crate::scan::Index;
use crate::xml::value::{Seg, Value};

/// The patient an XML file was given to, or why none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Assignment {
    Assigned {
        /// The original `PatientID` (as in the Index).
        patient_id: String,
        evidence: Evidence,
    },
    Unassigned {
        reason: Unassigned,
    },
}

/// Why a file was given to its patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Evidence {
    /// The file names the patient: the first place, and whether by ID or by name.
    Content { kind: IdentifierKind, path: String },
    /// The file names no patient; the nearest folder above it with patient files holds
    /// only this patient's (relative to the scanned root; empty = the root itself).
    Folder { folder: PathBuf },
}

/// Why a file could not be given to a patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Unassigned {
    /// It names no patient, and its folder is not one patient's.
    NoMatch,
    /// It names more than one patient (their original `PatientIDs`, sorted).
    SeveralPatients { patient_ids: Vec<String> },
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evidence::Content { kind, path } => write!(f, "its {} at {path}", kind.label()),
            Evidence::Folder { folder } if folder.as_os_str().is_empty() => {
                f.write_str("its folder (the scanned folder)")
            }
            Evidence::Folder { folder } => write!(f, "its folder {}", folder.display()),
        }
    }
}

impl std::fmt::Display for Unassigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unassigned::NoMatch => {
                f.write_str("names no patient, and its folder does not hold the files of exactly one patient")
            }
            Unassigned::SeveralPatients { patient_ids } => write!(f, "names {} patients", patient_ids.len()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    One(usize),
    Several,
}

/// Assigns XML files to the patients of one Index. Build it once per scan: it indexes the
/// folders and compiles one search over every patient's identifying values.
#[derive(Debug)]
pub struct Assigner<'i> {
    index: &'i Index,
    folders: HashMap<PathBuf, Owner>,
    /// Every patient's identifying values (folded), each with the patients it belongs to and
    /// what it is; found as words (the matcher's rules).
    search: Option<Finder<Vec<(usize, IdentifierKind)>>>,
    /// Values too short to search inside text; they count only as a whole value.
    short: HashMap<String, Vec<(usize, IdentifierKind)>>,
}

impl<'i> Assigner<'i> {
    #[must_use]
    pub fn new(index: &'i Index) -> Assigner<'i> {
        let mut folders: HashMap<PathBuf, Owner> = HashMap::new();
        let mut by_value: BTreeMap<String, Vec<(usize, IdentifierKind)>> = BTreeMap::new();
        for (pi, p) in index.patients.iter().enumerate() {
            for inst in p.instances() {
                for dir in inst.path.ancestors().skip(1) {
                    let owner = folders.entry(dir.to_path_buf()).or_insert(Owner::One(pi));
                    if *owner != Owner::One(pi) {
                        *owner = Owner::Several;
                    }
                }
            }
            let id = &p.identity;
            // identity.ids holds the PatientID (a formed patient has none: its key is no ID).
            let ids = id.ids.iter().chain(&id.other_ids);
            let mut values: Vec<(String, IdentifierKind)> =
                ids.map(|v| (v.trim().to_string(), IdentifierKind::PatientId)).collect();
            for name in id.names.iter().chain(&id.other_names) {
                values.extend(name_forms(name).into_iter().map(|f| (f, IdentifierKind::PatientName)));
            }
            for (v, kind) in values {
                if v.is_empty() {
                    continue;
                }
                let owners = by_value.entry(crate::matcher::fold::fold(&v)).or_default();
                if !owners.iter().any(|(q, _)| *q == pi) {
                    owners.push((pi, kind));
                }
            }
        }
        let mut patterns = Vec::new();
        let mut short = HashMap::new();
        for (v, o) in by_value {
            if v.len() > crate::matcher::MAX_PATTERN {
                // Not a real identifier (see matcher::MAX_PATTERN): assigns nothing.
                continue;
            } else if crate::matcher::forms::long_enough(&v) {
                patterns.push((v, Reach::Word, o));
            } else {
                short.insert(v, o);
            }
        }
        let search = (!patterns.is_empty()).then(|| Finder::new(patterns));
        Assigner {
            index,
            folders,
            search,
            short,
        }
    }

    /// Decides the patient of the XML file at `rel_path` (relative to the Index root) whose
    /// bytes are `bytes`. Fails only when the file is not well-formed XML.
    ///
    /// # Errors
    ///
    /// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back.
    pub fn assign(&self, rel_path: &Path, bytes: &[u8]) -> Result<Assignment, XmlError> {
        self.assign_in(rel_path, bytes, None)
    }

    /// [`Assigner::assign`] of a file's bytes, giving its pages back as the walk passes them.
    ///
    /// # Errors
    ///
    /// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back.
    pub fn assign_source(&self, rel_path: &Path, src: &super::Source) -> Result<Assignment, XmlError> {
        self.assign_in(rel_path, src.bytes(), Some(src))
    }

    fn assign_in(&self, rel_path: &Path, bytes: &[u8], src: Option<&super::Source>) -> Result<Assignment, XmlError> {
        let doc = charset::decode_in(bytes, src)?;
        let buf: &str = &doc.text;
        let mut w = Walker::new(buf);
        // First place each patient is named: (kind, element, suffix).
        let mut named: BTreeMap<usize, (IdentifierKind, Option<u32>, Suffix)> = BTreeMap::new();
        let mut run: Vec<Seg> = Vec::new();
        let mut segs: Vec<Seg> = Vec::new();
        let mut part: Vec<Seg> = Vec::new();
        let mut released = 0;
        loop {
            let item = w.next()?;
            if w.pos() > released + super::FLUSH_EVERY {
                released = w.pos();
                doc.release_before(src, run.first().map_or(released, |s| s.raw.start));
            }
            if !matches!(item, Item::Seg(_)) && !run.is_empty() {
                self.names_in(&mut w, buf, &run, Suffix::Text, &mut named);
                run.clear();
            }
            match item {
                Item::Seg(s) => {
                    run.push(s);
                    // A long text is searched in parts that overlap (a patient named twice
                    // is still named once); only the rest is kept.
                    if super::split_long_run(buf, &mut run, &mut part) {
                        self.names_in(&mut w, buf, &part, Suffix::Text, &mut named);
                    }
                }
                Item::Start { .. } => {
                    let attrs = w.take_attrs();
                    for a in attrs.iter().filter(|a| !a.xmlns) {
                        attr_segs(buf, a.value.clone(), &mut segs);
                        self.names_in(&mut w, buf, &segs, Suffix::Attr(a.name.clone()), &mut named);
                    }
                    w.return_attrs(attrs);
                }
                Item::Eof => break,
                _ => {}
            }
        }
        let patients = &self.index.patients;
        match named.len() {
            0 => {}
            1 => {
                if let Some((pi, (kind, node, suffix))) = named.into_iter().next() {
                    let path = PathCache::default().get(&w, node, &suffix, buf);
                    return Ok(Assignment::Assigned {
                        patient_id: patients[pi].patient_id.clone(),
                        evidence: Evidence::Content { kind, path },
                    });
                }
            }
            _ => {
                return Ok(Assignment::Unassigned {
                    reason: Unassigned::SeveralPatients {
                        patient_ids: named.keys().map(|&pi| patients[pi].patient_id.clone()).collect(),
                    },
                });
            }
        }
        let mut dir = rel_path.parent();
        while let Some(d) = dir {
            match self.folders.get(d) {
                None => dir = d.parent(),
                Some(Owner::One(pi)) => {
                    return Ok(Assignment::Assigned {
                        patient_id: patients[*pi].patient_id.clone(),
                        evidence: Evidence::Folder {
                            folder: d.to_path_buf(),
                        },
                    });
                }
                Some(Owner::Several) => break,
            }
        }
        Ok(Assignment::Unassigned {
            reason: Unassigned::NoMatch,
        })
    }

    /// Records the patients one value names: a whole identifying value, or one standing as
    /// a word of its own (not inside a longer word or number).
    fn names_in(
        &self,
        w: &mut Walker,
        buf: &str,
        segs: &[Seg],
        suffix: Suffix,
        named: &mut BTreeMap<usize, (IdentifierKind, Option<u32>, Suffix)>,
    ) {
        // A long value is read a window at a time (a name in it is a word in a window).
        super::each_window(buf, segs, |window| {
            self.names_in_window(w, buf, window, suffix.clone(), named);
        });
    }

    fn names_in_window(
        &self,
        w: &mut Walker,
        buf: &str,
        segs: &[Seg],
        suffix: Suffix,
        named: &mut BTreeMap<usize, (IdentifierKind, Option<u32>, Suffix)>,
    ) {
        let value = Value::new(buf, segs);
        let text = value.text.as_ref();
        let mut hits: Vec<(usize, IdentifierKind)> = Vec::new();
        let trimmed = text.trim();
        if !self.short.is_empty()
            && !crate::matcher::forms::long_enough(trimmed)
            && let Some(o) = self.short.get(&crate::matcher::fold::fold(trimmed))
        {
            hits.extend(o);
        }
        if let Some(search) = &self.search {
            for owners in search.find(text) {
                hits.extend(owners);
            }
        }
        if hits.is_empty() {
            return;
        }
        // Only the first place each patient is named is kept (and needs its element).
        for (pi, kind) in hits {
            if let std::collections::btree_map::Entry::Vacant(e) = named.entry(pi) {
                e.insert((kind, w.capture(), suffix.clone()));
            }
        }
    }
}

/// [`Assigner::assign`] for a single file (builds the Assigner; reuse one for many files).
///
/// # Errors
///
/// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back.
pub fn assign(index: &Index, rel_path: &Path, bytes: &[u8]) -> Result<Assignment, XmlError> {
    Assigner::new(index).assign(rel_path, bytes)
}

/// Assigns every XML file of a finished Index (its files without a `PatientID` placed) to its
/// patient, reading each file once; files that are not well-formed XML become unreadable rows.
pub fn assign_all(index: &mut Index) {
    use crate::scan::{Unreadable, UnreadableKind, XmlAssignment};
    use rayon::prelude::*;
    if index.xml.is_empty() {
        return;
    }
    let results: Vec<Result<XmlAssignment, Unreadable>> = {
        let assigner = Assigner::new(index);
        let root = &index.root;
        index
            .xml
            .par_iter()
            .map(|x| {
                let fail = |kind: UnreadableKind, reason: String| Unreadable {
                    path: x.path.clone(),
                    kind,
                    reason,
                };
                let src = super::Source::open(&root.join(&x.path))
                    .map_err(|e| fail(UnreadableKind::Io, format!("cannot read file: {e}")))?;
                match assigner.assign_source(&x.path, &src) {
                    Ok(Assignment::Assigned { patient_id, evidence }) => Ok(XmlAssignment::Assigned {
                        patient_id,
                        by: evidence.to_string(),
                    }),
                    Ok(Assignment::Unassigned { reason }) => Ok(XmlAssignment::Unassigned {
                        reason: reason.to_string(),
                    }),
                    Err(e) => Err(fail(UnreadableKind::MalformedXml, format!("XML: {e}"))),
                }
            })
            .collect()
    };
    let mut kept = Vec::new();
    for (mut x, r) in std::mem::take(&mut index.xml).into_iter().zip(results) {
        match r {
            Ok(a) => {
                x.assignment = a;
                kept.push(x);
            }
            Err(u) => index.add_unreadable(u),
        }
    }
    index.xml = kept;
}

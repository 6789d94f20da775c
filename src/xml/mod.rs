//! XML sidecars (tool logs, exports, reports): which patient a file belongs to, the edits the
//! profile's XML rules and the residual-identifier search make, and a byte-faithful rewrite.
//!
//! The document is walked once with quick-xml, never built as a tree and never re-serialised:
//! a plan is a list of byte-range patches on the original file, and the rewrite copies every
//! other byte as it was (declaration, BOM, comments, quoting, line endings, escapes). Entity
//! references other than the five predefined ones are never expanded and nothing is fetched.
//!
//! How rules read a document:
//! - An element rule applies to the element's own text: its character data, CDATA and
//!   references, not its child elements (they are handled on their own). Whitespace around
//!   the value stays; an empty or blank value is left alone.
//! - `under`: for an element, an ancestor has that local name; for an attribute, its element
//!   or an ancestor. `namespace`: the element's namespace URI; for an attribute its prefix's,
//!   or, unprefixed, its element's (so `namespace` is useful for attributes at all). Namespace
//!   declarations (`xmlns`, `xmlns:p`) are never changed.
//! - `keep` leaves the value as it is, and it is not searched for identifiers either;
//!   `remove` deletes an attribute, or an element with its content and its indentation (not
//!   the root element); `keep-year` on something that is not a date empties it, with a warning.
//!
//! Residual identifiers (the patient's IDs and other IDs, names and other names in several
//! written forms and their parts of 3+ characters, birth dates in the forms of
//! [`crate::values::dates::date_forms`]) are replaced wherever else they occur: text, attribute
//! values, comments, processing instructions (after the target), the DOCTYPE. IDs and names
//! become the code, a birth date the masked date in the same form. Matching is on unescaped
//! text and ASCII case-insensitive; a match that would cut through an unexpanded entity
//! reference is skipped (verify then reports it).
//!
//! Encodings: UTF-8 with or without BOM, UTF-16 (with BOM, or detected from `<?`), ISO-8859-1
//! proper, and the stateless encodings `encoding_rs` knows (windows-125x, ISO-8859-x, `Shift_JIS`,
//! …) when they re-encode byte for byte. New text that the encoding cannot hold is written as a
//! character reference; inside comments and the DOCTYPE it is refused.

mod assign;
mod charset;
mod emit;
mod source;
mod value;
mod walk;

use std::io::Write;
use std::ops::Range;

use serde::Serialize;

use crate::identity::Identity;
use crate::matcher::{IdentifierKind, Identifiers, name_forms};
use crate::profile::{Action, RuleKind, XmlRule, XmlTarget};
use crate::values::dates::keep_year;

pub use assign::{Assigner, Assignment, Evidence, Unassigned, assign, assign_all};
use charset::{Charset, line_col};
use emit::{PatchOut, PlanOut, RawPatch, WriteOut, hash};
pub use source::Source;
use value::{Context, Patch, Seg, SegKind, Value, breaks_markup};
use walk::{Item, Walker, attr_segs, split_qname};

/// `before` of a removed element is its text, cut to this many bytes for the review.
const REMOVED_TEXT_SHOWN: usize = 200;
/// Distinct `under` names a rule list may use (they are tracked as bits).
const MAX_UNDER: usize = 64;
/// Edits (and warnings) listed per file; the ones beyond are made and counted
/// ([`XmlPlan::unlisted_edits`]), so that a plan's size does not follow the file's.
pub const MAX_LISTED: usize = 10_000;
/// `before` of a value longer than this is shown cut (the change covers all of it).
const BEFORE_SHOWN: usize = 1024;
/// Changes planned behind the walk are passed on when this many wait, or when the walk has
/// gone this far since the last time.
const FLUSH_COUNT: usize = 256;
const FLUSH_EVERY: usize = 1 << 20;
/// How far before the earliest place still open a change may start (the indentation that
/// goes with a removed element): changes are passed on only before that.
const BACKTRACK: usize = 4096;
/// Values longer than this are searched in windows of this size that overlap by
/// [`OVERLAP`] (memory stays at a window whatever the value's size).
const CHUNK: usize = 1 << 20;
const OVERLAP: usize = 4 * crate::matcher::MAX_PATTERN;
/// What a window includes before its first byte, so a match there sees what precedes it.
const CONTEXT: usize = 64;

/// The bounds above, in one value so that tests can make them small.
#[derive(Debug, Clone, Copy)]
struct Limits {
    listed: usize,
    held: usize,
    chunk: usize,
}

const LIMITS: Limits = Limits {
    listed: MAX_LISTED,
    held: emit::MAX_HELD,
    chunk: CHUNK,
};

#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// The file is not well-formed XML (or not valid in its encoding). Never names values.
    #[error("{line}:{column}: {reason}")]
    Syntax { line: usize, column: usize, reason: String },
    /// The file's encoding is unknown, unsupported, or contradicts its declaration.
    #[error("{0}")]
    Encoding(String),
    /// A new value cannot be written where it must go (e.g. a character the file's encoding
    /// cannot hold inside a comment).
    #[error("{line}:{column}: {reason}")]
    Unwritable { line: usize, column: usize, reason: String },
    /// The rules cannot be used as they are.
    #[error("{0}")]
    Rules(String),
    /// The plan was made for other bytes than the ones given to [`rewrite`].
    #[error("the file changed since it was planned; plan it again")]
    PlanMismatch,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

/// One planned change in an XML file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XmlEdit {
    /// Where: `/Log/Patient/Name`, `/Log/Entry[2]/Patient/@id`, `/Log/comment()`,
    /// `/processing-instruction()`, `/!DOCTYPE`. Names as written (with prefix); `[n]` only
    /// where siblings share the name.
    pub path: String,
    /// Line (1-based) where the changed value starts.
    pub line: usize,
    /// The value now (unescaped; for a removed element its text, shortened).
    pub before: String,
    /// The new value; `None` when the attribute or element is removed.
    pub after: Option<String>,
    /// The profile action (`code`, `keep-year`, `replace`, `empty`, `remove`) or `residual`
    /// for another occurrence of the patient's name, ID or birth date.
    pub rule: RuleKind,
}

/// Everything that will change in one XML file. Pure data: building it writes nothing.
/// Its size does not follow the file's: at most [`MAX_LISTED`] edits are listed, and a plan
/// with more changes than it holds is made again while the file is copied (its digest must
/// come out the same, or the rewrite refuses).
#[derive(Debug, Clone, Serialize)]
pub struct XmlPlan {
    /// The file's encoding, which the rewrite keeps (`UTF-8`, `ISO-8859-1`, `UTF-16LE`, …).
    pub encoding: String,
    pub edits: Vec<XmlEdit>,
    /// Changes made beyond the listed edits (0 for nearly every file).
    pub unlisted_edits: usize,
    /// Things a reviewer should see (a date that could not be masked, …). Never values.
    pub warnings: Vec<String>,
    #[serde(skip)]
    patches: Option<Vec<RawPatch>>,
    #[serde(skip)]
    digest: [u8; 32],
    #[serde(skip)]
    patch_count: usize,
    #[serde(skip)]
    source_len: usize,
    /// What the plan was made with, for a plan that does not hold its changes.
    #[serde(skip)]
    again: Option<std::sync::Arc<(Vec<XmlRule>, XmlContext, Limits)>>,
}

impl XmlPlan {
    /// True when the rewrite would give back the input unchanged.
    #[must_use]
    pub fn is_unchanged(&self) -> bool {
        self.patch_count == 0
    }

    /// Drops the edits a reviewer rejected (and their changes); the others stay as planned.
    /// Rejecting a removal keeps the element exactly as it was: nothing inside a removed
    /// element was planned. A plan too large to hold its changes keeps them all and says
    /// so (`false`); changes of unlisted edits always stay.
    pub fn retain_edits(&mut self, mut keep: impl FnMut(&XmlEdit) -> bool) -> bool {
        let Some(patches) = &mut self.patches else { return false };
        let kept: Vec<bool> = self.edits.iter().map(&mut keep).collect();
        let mut renumber = Vec::with_capacity(kept.len());
        let mut n = 0;
        for k in &kept {
            renumber.push(n);
            n += usize::from(*k);
        }
        patches.retain(|p| p.edit == usize::MAX || kept.get(p.edit).copied().unwrap_or(false));
        for p in patches.iter_mut().filter(|p| p.edit != usize::MAX) {
            p.edit = renumber[p.edit];
        }
        self.patch_count = patches.len();
        let mut i = 0;
        self.edits.retain(|_| {
            i += 1;
            kept[i - 1]
        });
        true
    }
}

/// Where an identifier was found by [`residual`] (never the value itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XmlResidual {
    pub path: String,
    pub line: usize,
    pub kind: IdentifierKind,
}

/// One patient as the XML planner needs them: the code, and the identifying strings with
/// what replaces each (IDs and names: the code; birth dates: the masked date, same form).
#[derive(Debug, Clone)]
pub struct XmlContext {
    code: String,
    replacer: crate::matcher::Replacer,
    /// What happens to every date in the text ([`crate::values::shift::map_dates_in_text`]):
    /// what the profile does to the DICOM's `StudyDate`.
    dates: Option<XmlDates>,
    /// The owner's offset, for `shift` rules, and the owner's own dates that move by it in
    /// every written form ([`crate::matcher::own_date_patterns`]).
    offset: Option<i32>,
    own: Option<crate::matcher::Replacer>,
    /// What the profile removes from the DICOM besides the patients' identifiers (see
    /// [`XmlContext::for_patients_and`]): first, so a UID is replaced whole.
    extra: Option<crate::matcher::Replacer>,
}

/// What the dates of a patient's XML become, as the profile has the DICOM's study dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlDates {
    /// Moved by the owner's offset.
    Shift(i32),
    /// Month and day become 01 01.
    KeepYear,
    /// Removed (the Basic Profile removes every date).
    Remove,
}

impl XmlDates {
    /// What a profile does to the XML's dates, given the owner's offset.
    pub fn of(profile: &crate::profile::Profile, offset: Option<i32>) -> Option<XmlDates> {
        match profile.action_for(crate::dicom::tags::STUDY_DATE)? {
            Action::Shift => offset.map(XmlDates::Shift),
            Action::KeepYear => Some(XmlDates::KeepYear),
            Action::Keep | Action::Clean => None,
            _ => Some(XmlDates::Remove),
        }
    }
}

impl XmlContext {
    /// The patient's code and their identity as the scan found it (IDs and other IDs, names
    /// and other names with their parts, birth dates in the forms of
    /// [`crate::values::dates::date_forms`]).
    #[must_use]
    pub fn new(code: &str, identity: &Identity) -> XmlContext {
        XmlContext::for_patients(code, [(code, identity)])
    }

    /// One search over the identifiers of several patients, each replaced by that
    /// patient's own code (a file may name another patient than its own); `code` is the
    /// owner's, used by `code` rules. Identifiers shared by two patients go to the first.
    pub fn for_patients<'a>(code: &str, patients: impl IntoIterator<Item = (&'a str, &'a Identity)>) -> XmlContext {
        XmlContext {
            code: code.to_string(),
            replacer: crate::matcher::Replacer::for_short_values(crate::matcher::replacement_patterns(patients)),
            dates: None,
            offset: None,
            own: None,
            extra: None,
        }
    }

    /// [`XmlContext::for_patients`], and `extra` strings replaced as well (what the profile
    /// removes from the DICOM: under `basic` the study's UIDs, accession numbers, physicians),
    /// with each patient's dates moved by their offset when they have one.
    pub fn for_patients_and<'a>(
        code: &str,
        patients: impl IntoIterator<Item = (&'a str, &'a Identity, Option<crate::matcher::Shifted>)>,
        extra: Vec<crate::matcher::Replacement>,
    ) -> XmlContext {
        let shared =
            crate::matcher::Replacer::for_short_values(crate::matcher::replacement_patterns_shifting(patients));
        XmlContext::sharing(code, &shared, extra)
    }

    /// [`XmlContext::for_patients_and`] with the patients' search already made (the one the
    /// planner cleans DICOM text with: one cohort-wide search, not two).
    #[must_use]
    pub fn sharing(
        code: &str,
        shared: &crate::matcher::Replacer,
        extra: Vec<crate::matcher::Replacement>,
    ) -> XmlContext {
        XmlContext {
            code: code.to_string(),
            replacer: shared.clone(),
            dates: None,
            offset: None,
            own: None,
            extra: (!extra.is_empty()).then(|| crate::matcher::Replacer::for_short_values(extra)),
        }
    }

    /// The same search with another owner's code (cheap: the search is shared).
    #[must_use]
    pub fn with_code(&self, code: &str) -> XmlContext {
        XmlContext {
            code: code.to_string(),
            replacer: self.replacer.clone(),
            dates: None,
            offset: None,
            own: None,
            extra: self.extra.clone(),
        }
    }

    /// The same, with every date of the text changed as `dates` says.
    #[must_use]
    pub fn with_dates(mut self, dates: Option<XmlDates>) -> XmlContext {
        self.dates = dates;
        self
    }

    /// The same, with the owner's date offset (for `shift` rules) and their own dates.
    #[must_use]
    pub fn with_offset(mut self, offset: Option<i32>, own: Vec<crate::matcher::Replacement>) -> XmlContext {
        self.offset = offset;
        self.own = (!own.is_empty()).then(|| crate::matcher::Replacer::for_short_values(own));
        self
    }

    fn shift(&self) -> Option<i32> {
        self.offset
    }

    /// Where identifying strings and (when the profile changes dates) dates stand in `text`,
    /// with what replaces each, in order and not overlapping. A code wins over a date it
    /// overlaps (an ID `19850612` is an ID), a date found in the text over the matcher's forms
    /// of dates, the owner's dates over other patients'.
    fn matches<'a>(&'a self, text: &str) -> Vec<(Range<usize>, std::borrow::Cow<'a, str>)> {
        use crate::values::shift::{add, map_dates_in_text};
        use std::borrow::Cow;
        let dates = match self.dates {
            None => Vec::new(),
            Some(XmlDates::Shift(days)) => map_dates_in_text(text, &|y, m, d| add(y, m, d, days)),
            Some(XmlDates::KeepYear) => map_dates_in_text(text, &|y, _, _| Some((y, 1, 1))),
            // A removed date takes its time of day with it (`2004-01-19T10:15:00`, `20040119101500`).
            Some(XmlDates::Remove) => map_dates_in_text(text, &|y, m, d| Some((y, m, d)))
                .into_iter()
                .map(|(r, _)| {
                    let rest = &text[r.end..];
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    let tail = crate::values::shift::iso_time_len(rest).max(digits);
                    (r.start..r.end + tail, String::new())
                })
                .collect(),
        };
        let dates: Vec<_> = dates.into_iter().map(|(r, by)| (r, Cow::Owned(by))).collect();
        let hits = crate::matcher::owner_first(&self.replacer, self.own.as_ref(), text, dates);
        match &self.extra {
            None => hits,
            Some(extra) => {
                let first = extra
                    .matches(text)
                    .into_iter()
                    .map(|(r, by)| (r, Cow::Borrowed(by)))
                    .collect();
                crate::matcher::layered(vec![first, hits])
            }
        }
    }

    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }
}

/// Checks that `bytes` is a well-formed document in an encoding dams can write back.
///
/// # Errors
///
/// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back.
pub fn check(bytes: &[u8]) -> Result<(), XmlError> {
    check_in(bytes, None)
}

/// [`check`] of a file's bytes, giving its pages back as the walk passes them.
///
/// # Errors
///
/// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back.
pub fn check_source(src: &Source) -> Result<(), XmlError> {
    check_in(src.bytes(), Some(src))
}

fn check_in(bytes: &[u8], src: Option<&Source>) -> Result<(), XmlError> {
    let doc = charset::decode_in(bytes, src)?;
    let mut w = Walker::new(&doc.text);
    let mut released = 0;
    while w.next()? != Item::Eof {
        if w.pos() > released + FLUSH_EVERY {
            released = w.pos();
            doc.release_before(src, released);
        }
    }
    Ok(())
}

/// Plans the changes to one XML file: the first matching rule for each element's text and
/// each attribute value, then every other occurrence of the patient's identifying strings.
/// Fails on malformed XML (with line:column), on an encoding dams cannot write back, and
/// when a new value cannot be written where it must go.
///
/// # Errors
///
/// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back, or a new value cannot be written where it must go.
pub fn plan(bytes: &[u8], rules: &[XmlRule], ctx: &XmlContext) -> Result<XmlPlan, XmlError> {
    plan_in(bytes, None, rules, ctx, LIMITS)
}

/// [`plan`] of a file's bytes, giving its pages back as the walk passes them: memory stays
/// bounded whatever the file's size.
///
/// # Errors
///
/// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back, or a new value cannot be written where it must go.
pub fn plan_source(src: &Source, rules: &[XmlRule], ctx: &XmlContext) -> Result<XmlPlan, XmlError> {
    plan_in(src.bytes(), Some(src), rules, ctx, LIMITS)
}

fn plan_in(
    bytes: &[u8],
    src: Option<&Source>,
    rules: &[XmlRule],
    ctx: &XmlContext,
    limits: Limits,
) -> Result<XmlPlan, XmlError> {
    let mut out = PlanOut::new(limits.held);
    let walked = walk(bytes, src, rules, ctx, limits, &mut out)?;
    let mut patches = out.held;
    if let Some(p) = &mut patches {
        for patch in p.iter_mut().filter(|p| p.edit != usize::MAX) {
            patch.edit = walked.renumber.get(patch.edit).copied().unwrap_or(usize::MAX);
        }
    }
    let again = patches
        .is_none()
        .then(|| std::sync::Arc::new((rules.to_vec(), ctx.clone(), limits)));
    let patch_count = out.digest.count;
    Ok(XmlPlan {
        encoding: walked.encoding,
        edits: walked.edits,
        unlisted_edits: walked.unlisted,
        warnings: walked.warnings,
        patches,
        digest: out.digest.finish(),
        patch_count,
        source_len: bytes.len(),
        again,
    })
}

/// What a walk found besides its changes.
struct Walked {
    encoding: String,
    edits: Vec<XmlEdit>,
    unlisted: usize,
    warnings: Vec<String>,
    /// The place of each listed edit (by the order they were made) in document order.
    renumber: Vec<usize>,
}

/// One walk of the planner over the document; its changes go to `out` in document order.
fn walk(
    bytes: &[u8],
    src: Option<&Source>,
    rules: &[XmlRule],
    ctx: &XmlContext,
    limits: Limits,
    out: &mut dyn PatchOut,
) -> Result<Walked, XmlError> {
    let doc = charset::decode_in(bytes, src)?;
    let rules = RuleSet::new(rules)?;
    let mut p = Planner {
        w: Walker::new(&doc.text),
        rules: &rules,
        ctx,
        charset: doc.charset,
        counts: vec![0; rules.under.len()],
        frames: Vec::new(),
        run: Vec::new(),
        run_from: 0,
        removing: None,
        edits: Vec::new(),
        unlisted: 0,
        patches: Vec::new(),
        warnings: Vec::new(),
        segs: Vec::new(),
        spare: (String::new(), Vec::new()),
        emit: Emit {
            out,
            bytes,
            wpos: 0,
            opos: doc.bom,
            last_end: 0,
        },
        last_flush: 0,
        flush_at: FLUSH_COUNT,
        pages: (&doc, src),
        limits,
    };
    p.walk()?;
    p.finish()
}

/// Writes the planned file: the original bytes, with each planned range replaced. Nothing
/// else is touched. Refuses bytes that are not the ones the plan was made from.
///
/// # Errors
///
/// `XmlError::PlanMismatch` when the bytes are not the ones the plan was made from; `XmlError::Io` when `out` fails.
pub fn rewrite<W: Write + ?Sized>(bytes: &[u8], plan: &XmlPlan, out: &mut W) -> Result<(), XmlError> {
    rewrite_in(bytes, None, plan, out)
}

/// [`rewrite`] of a file's bytes, giving its pages back as they are copied.
///
/// # Errors
///
/// `XmlError::PlanMismatch` when the bytes are not the ones the plan was made from; `XmlError::Io` when `out` fails.
pub fn rewrite_source<W: Write + ?Sized>(src: &Source, plan: &XmlPlan, out: &mut W) -> Result<(), XmlError> {
    rewrite_in(src.bytes(), Some(src), plan, out)
}

fn rewrite_in<W: Write + ?Sized>(
    bytes: &[u8],
    src: Option<&Source>,
    plan: &XmlPlan,
    out: &mut W,
) -> Result<(), XmlError> {
    if bytes.len() != plan.source_len {
        return Err(XmlError::PlanMismatch);
    }
    let Some(patches) = &plan.patches else {
        // Too many changes to hold: made again while copying, and they must be the same.
        let Some(again) = &plan.again else {
            return Err(XmlError::Internal("a plan without its changes or its rules".into()));
        };
        let mut w = WriteOut {
            bytes,
            src,
            out,
            copied: 0,
            digest: emit::ChangeDigest::default(),
        };
        walk(bytes, src, &again.0, &again.1, again.2, &mut w).map_err(|e| match e {
            XmlError::Syntax { .. } | XmlError::Encoding(_) => XmlError::PlanMismatch,
            e => e,
        })?;
        w.finish()?;
        if w.digest.count != plan.patch_count || w.digest.finish() != plan.digest {
            return Err(XmlError::PlanMismatch);
        }
        return Ok(());
    };
    for p in patches {
        if bytes.get(p.range.clone()).map(hash) != Some(p.check) {
            return Err(XmlError::PlanMismatch);
        }
    }
    let mut pos = 0;
    for p in patches {
        emit::copy_out(out, bytes, pos..p.range.start, src)?;
        out.write_all(&p.bytes)?;
        pos = p.range.end;
    }
    emit::copy_out(out, bytes, pos..bytes.len(), src)?;
    Ok(())
}

/// [`rewrite`] into memory.
///
/// # Errors
///
/// as [`rewrite`].
pub fn rewrite_to_vec(bytes: &[u8], plan: &XmlPlan) -> Result<Vec<u8>, XmlError> {
    let mut out = Vec::with_capacity(bytes.len());
    rewrite(bytes, plan, &mut out)?;
    Ok(out)
}

/// Where the patient's identifiers still occur (text, attribute values, comments, processing
/// instructions, the DOCTYPE), for verify: paths and kinds, never the values.
///
/// # Errors
///
/// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back.
pub fn residual(bytes: &[u8], ids: &Identifiers) -> Result<Vec<XmlResidual>, XmlError> {
    residual_in(bytes, None, ids)
}

/// [`residual`] of a file's bytes, giving its pages back as the walk passes them.
///
/// # Errors
///
/// `XmlError` when the document is not well-formed XML or not in an encoding dams can write back.
pub fn residual_source(src: &Source, ids: &Identifiers) -> Result<Vec<XmlResidual>, XmlError> {
    residual_in(src.bytes(), Some(src), ids)
}

/// Calls `f` with the whole value, or, when it is longer than [`CHUNK`], with windows of
/// it that overlap by [`OVERLAP`] (so every identifier lies whole in one of them).
fn each_window(buf: &str, segs: &[Seg], mut f: impl FnMut(&[Seg])) {
    let (Some(first), Some(last)) = (segs.first(), segs.last()) else {
        return;
    };
    if last.raw.end - first.raw.start <= CHUNK {
        f(segs);
        return;
    }
    let mut window = Vec::new();
    let mut from = first.raw.start;
    while from < last.raw.end {
        let end = floor_char(buf, (from + CHUNK + OVERLAP).min(last.raw.end)).max(from + 1);
        cut_segs(segs, from..end, &mut window);
        f(&window);
        from = if end >= last.raw.end {
            end
        } else {
            floor_char(buf, end - OVERLAP)
        };
    }
}

/// When a run of text has grown past two windows: its part that can be searched now (all
/// but its last [`OVERLAP`] bytes) in `part`, and the run cut to what a later search still
/// needs (a match across the cut lies whole in what is kept).
fn split_long_run(buf: &str, run: &mut Vec<Seg>, part: &mut Vec<Seg>) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return false;
    };
    if last.raw.end - first.raw.start <= 2 * CHUNK {
        return false;
    }
    let upto = floor_char(buf, last.raw.end - OVERLAP);
    cut_segs(run, first.raw.start..upto, part);
    let keep_from = floor_char(buf, upto - OVERLAP);
    run.retain(|s| s.raw.end > keep_from);
    if let Some(s) = run.first_mut()
        && matches!(s.kind, SegKind::Literal | SegKind::CData)
        && s.raw.start < keep_from
    {
        s.raw.start = keep_from;
    }
    true
}

/// The kinds of identifier in a value, searched a window at a time when it is long.
fn kinds_in(buf: &str, segs: &[Seg], ids: &Identifiers) -> Vec<IdentifierKind> {
    let mut kinds = Vec::new();
    each_window(buf, segs, |w| {
        kinds.extend(ids.find(Value::new(buf, w).text.as_bytes()))
    });
    kinds.sort();
    kinds.dedup();
    kinds
}

fn residual_in(bytes: &[u8], src: Option<&Source>, ids: &Identifiers) -> Result<Vec<XmlResidual>, XmlError> {
    let doc = charset::decode_in(bytes, src)?;
    let buf: &str = &doc.text;
    let mut w = Walker::new(buf);
    let mut found: Vec<(Option<u32>, Suffix, usize, IdentifierKind)> = Vec::new();
    let mut run: Vec<Seg> = Vec::new();
    let mut segs: Vec<Seg> = Vec::new();
    let mut released = 0;
    let mut part: Vec<Seg> = Vec::new();
    // The kinds found in the current run so far: a long run is searched in parts that
    // overlap, and a kind is reported once per run.
    let mut run_kinds: Vec<IdentifierKind> = Vec::new();
    let search = |w: &mut Walker, found: &mut Vec<_>, segs: &[Seg], suffix: Suffix, seen: &mut Vec<IdentifierKind>| {
        let kinds: Vec<_> = kinds_in(buf, segs, ids)
            .into_iter()
            .filter(|k| !seen.contains(k))
            .collect();
        // At most [`MAX_LISTED`] places a file (each is an element handle kept to the end).
        if !kinds.is_empty() && found.len() < MAX_LISTED {
            let node = w.capture();
            let at = segs.first().map_or(0, |s| s.raw.start);
            for k in kinds {
                seen.push(k);
                found.push((node, suffix.clone(), at, k));
            }
        }
    };
    loop {
        let item = w.next()?;
        if w.pos() > released + FLUSH_EVERY {
            released = w.pos();
            doc.release_before(src, run.first().map_or(released, |s| s.raw.start));
        }
        if !matches!(item, Item::Seg(_) | Item::Comment(_)) && !run.is_empty() {
            search(&mut w, &mut found, &run, Suffix::Text, &mut run_kinds);
            run.clear();
            run_kinds.clear();
        }
        match item {
            Item::Seg(s) => {
                run.push(s);
                if split_long_run(buf, &mut run, &mut part) {
                    search(&mut w, &mut found, &part, Suffix::Text, &mut run_kinds);
                }
            }
            Item::Start { .. } => {
                // Names too: the element's, its attributes' (and namespace prefixes).
                let name = w.top().map(|t| t.start + 1..t.start + 1 + t.qname.len());
                let attrs = w.take_attrs();
                let names = name.into_iter().chain(attrs.iter().map(|a| a.name.clone()));
                for n in names {
                    let seg = [Seg {
                        raw: n,
                        kind: SegKind::Literal,
                    }];
                    search(&mut w, &mut found, &seg, Suffix::Name, &mut Vec::new());
                }
                for a in &attrs {
                    attr_segs(buf, a.value.clone(), &mut segs);
                    search(&mut w, &mut found, &segs, Suffix::Attr(a.name.clone()), &mut Vec::new());
                }
                w.return_attrs(attrs);
            }
            Item::Comment(ref r) | Item::Pi(ref r) | Item::Doctype(ref r) => {
                let r = r.clone();
                let suffix = match item {
                    Item::Comment(_) => Suffix::Comment,
                    Item::Pi(_) => Suffix::Pi,
                    _ => Suffix::Doctype,
                };
                let seg = [Seg {
                    raw: r,
                    kind: SegKind::Literal,
                }];
                search(&mut w, &mut found, &seg, suffix, &mut Vec::new());
            }
            Item::End { .. } => {}
            Item::Eof => break,
        }
    }
    let mut lines = Lines::new(buf);
    let mut paths = PathCache::default();
    found.sort_by_key(|f| f.2);
    Ok(found
        .into_iter()
        .map(|(node, suffix, at, kind)| {
            let mut path = paths.get(&w, node, &suffix, buf);
            // A path is made of names: one that holds an identifier is not shown.
            if !ids.find(path.as_bytes()).is_empty() {
                path = "(a path whose names hold an identifier)".to_string();
            }
            XmlResidual {
                path,
                line: lines.line_at(at),
                kind,
            }
        })
        .collect())
}

/// What a path ends with, after the element's own path.
#[derive(Debug, Clone)]
enum Suffix {
    Text,
    /// The element's or attribute's name itself.
    Name,
    Attr(Range<usize>),
    Comment,
    Pi,
    Doctype,
}

/// Paths of captured elements, built once each.
#[derive(Default)]
struct PathCache {
    /// By element handle.
    done: Vec<Option<String>>,
    /// The document level (comments and PIs outside the root).
    doc: Option<String>,
}

impl PathCache {
    fn get(&mut self, w: &Walker, node: Option<u32>, suffix: &Suffix, buf: &str) -> String {
        let slot = match node {
            Some(n) => {
                let n = n as usize;
                if n >= self.done.len() {
                    self.done.resize(n + 1, None);
                }
                &mut self.done[n]
            }
            None => &mut self.doc,
        };
        let base = slot.get_or_insert_with(|| w.path(node));
        match suffix {
            Suffix::Text if base.is_empty() => "/".to_string(),
            Suffix::Text => base.clone(),
            Suffix::Name => format!("{base}/name()"),
            Suffix::Attr(name) => format!("{base}/@{}", &buf[name.clone()]),
            Suffix::Comment => format!("{base}/comment()"),
            Suffix::Pi => format!("{base}/processing-instruction()"),
            Suffix::Doctype => "/!DOCTYPE".to_string(),
        }
    }
}

/// Line numbers of increasing offsets, counted incrementally.
struct Lines<'a> {
    buf: &'a str,
    at: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(buf: &'a str) -> Lines<'a> {
        Lines { buf, at: 0, line: 1 }
    }

    fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.buf.len());
        if offset < self.at {
            self.at = 0;
            self.line = 1;
        }
        self.line += memchr::memchr_iter(b'\n', &self.buf.as_bytes()[self.at..offset]).count();
        self.at = offset;
        self.line
    }
}

/// The rules, prepared for matching while streaming: each distinct `under` name is a bit, and
/// a count per bit says how many open elements carry that name.
struct RuleSet<'r> {
    rules: &'r [XmlRule],
    /// Rule indices for element text and for attributes, in profile order.
    element_rules: Vec<usize>,
    attr_rules: Vec<usize>,
    under: Vec<(&'r str, bool)>,
    under_of: Vec<Option<usize>>,
    uses_ns: bool,
}

impl<'r> RuleSet<'r> {
    fn new(rules: &'r [XmlRule]) -> Result<RuleSet<'r>, XmlError> {
        let mut under: Vec<(&str, bool)> = Vec::new();
        let mut under_of = Vec::new();
        for r in rules {
            under_of.push(r.under.as_deref().map(|u| {
                let key = (u, r.ignore_case);
                under.iter().position(|k| *k == key).unwrap_or_else(|| {
                    under.push(key);
                    under.len() - 1
                })
            }));
        }
        if under.len() > MAX_UNDER {
            return Err(XmlError::Rules(format!(
                "the XML rules use {} different `under` names; at most {MAX_UNDER} are supported",
                under.len()
            )));
        }
        let of_kind = |element: bool| {
            (0..rules.len())
                .filter(|&i| matches!(rules[i].target, XmlTarget::Element(_)) == element)
                .collect()
        };
        Ok(RuleSet {
            rules,
            element_rules: of_kind(true),
            attr_rules: of_kind(false),
            under,
            under_of,
            uses_ns: rules.iter().any(|r| r.namespace.is_some()),
        })
    }

    /// Bits of the `under` names an element with this local name carries.
    fn mask(&self, local: &str) -> u64 {
        let mut m = 0;
        for (i, (name, ic)) in self.under.iter().enumerate() {
            if if *ic {
                name.eq_ignore_ascii_case(local)
            } else {
                *name == local
            } {
                m |= 1 << i;
            }
        }
        m
    }

    /// The first rule for this target whose name, namespace and `under` fit.
    fn find(&self, element: bool, local: &str, ns: Option<&str>, counts: &[u32]) -> Option<usize> {
        let candidates = if element { &self.element_rules } else { &self.attr_rules };
        candidates.iter().copied().find(|&i| {
            let r = &self.rules[i];
            let (XmlTarget::Element(name) | XmlTarget::Attribute(name)) = &r.target;
            name.len() == local.len()
                && r.name_matches(name, local)
                && r.namespace.as_deref().is_none_or(|want| ns == Some(want))
                && self.under_of[i].is_none_or(|k| counts[k] > 0)
        })
    }
}

/// Per open element: its `under` bits and what its rule asks for its text.
struct PFrame {
    mask: u64,
    rule: Option<usize>,
    keep: bool,
    value: Vec<Seg>,
    /// The element's new name and its edit, when its name held an identifier (the end tag
    /// gets it too), and whether it had an end tag at all.
    renamed: Option<(String, usize)>,
    empty: bool,
}

/// An element being removed: nothing inside it is planned.
struct Removal {
    depth: usize,
    start: usize,
    offset: usize,
    node: Option<u32>,
    text: String,
}

struct Pending {
    node: Option<u32>,
    suffix: Suffix,
    offset: usize,
    before: String,
    after: Option<String>,
    rule: RuleKind,
}

/// Where the planner's changes go, and how far they have gone.
struct Emit<'o> {
    out: &'o mut dyn PatchOut,
    bytes: &'o [u8],
    /// Where the last change passed on ends: in the decoded text, in the original bytes.
    wpos: usize,
    opos: usize,
    last_end: usize,
}

impl Emit<'_> {
    /// Passes on one change (in document order), moved to the original bytes.
    fn put(&mut self, p: Patch, buf: &str, charset: Charset) -> Result<(), XmlError> {
        if p.range.start < self.last_end || p.range.start < self.wpos {
            return Err(XmlError::Internal("two planned changes overlap".into()));
        }
        self.opos += charset.encoded_len(&buf[self.wpos..p.range.start]);
        let start = self.opos;
        self.opos += charset.encoded_len(&buf[p.range.clone()]);
        self.wpos = p.range.end;
        self.last_end = p.range.end;
        let range = start..self.opos;
        let Some(old) = self.bytes.get(range.clone()) else {
            return Err(XmlError::Internal("a change lies outside the file".into()));
        };
        self.out.put(range, old, charset.encode(p.text), p.edit)
    }

    /// Moves the place of the last change on to `to` (no change can start before it any
    /// more), so that later changes measure their offset from there and not across the
    /// whole text between.
    fn advance(&mut self, to: usize, buf: &str, charset: Charset) {
        let to = floor_char(buf, to);
        if to > self.wpos {
            self.opos += charset.encoded_len(&buf[self.wpos..to]);
            self.wpos = to;
        }
    }
}

struct Planner<'a, 'r, 'o> {
    w: Walker<'a>,
    rules: &'r RuleSet<'r>,
    ctx: &'r XmlContext,
    charset: Charset,
    counts: Vec<u32>,
    frames: Vec<PFrame>,
    /// Character data since the last markup, searched for identifiers when it ends.
    run: Vec<Seg>,
    /// Where the search of a long run has got to (its changes before this are made).
    run_from: usize,
    removing: Option<Removal>,
    /// The listed edits, as they were made; [`MAX_LISTED`] at most.
    edits: Vec<Pending>,
    unlisted: usize,
    /// Changes not passed on yet: some place still open may come before them.
    patches: Vec<Patch>,
    warnings: Vec<(Option<u32>, Suffix, &'static str)>,
    segs: Vec<Seg>,
    spare: (String, Vec<usize>),
    emit: Emit<'o>,
    last_flush: usize,
    /// Waiting changes that make the walk pass them on (see [`Planner::pass_on`]).
    flush_at: usize,
    /// The decoded document and the file, whose pages are given back behind the walk.
    pages: (&'a charset::Decoded<'a>, Option<&'o Source>),
    limits: Limits,
}

impl Planner<'_, '_, '_> {
    fn walk(&mut self) -> Result<(), XmlError> {
        loop {
            if self.patches.len() >= self.flush_at || self.w.pos() >= self.last_flush + FLUSH_EVERY {
                self.last_flush = self.w.pos();
                self.pass_on(usize::MAX)?;
            }
            let item = self.w.next()?;
            // A comment inside text does not end it: `SMI<!-- -->TH` is searched as `SMITH`
            // (the comment stays, the name goes).
            if !matches!(item, Item::Seg(_) | Item::Comment(_)) {
                self.flush_run()?;
            }
            match item {
                Item::Eof => return Ok(()),
                Item::Seg(seg) => {
                    self.seg(seg);
                    self.search_long_run()?;
                }
                Item::Start { empty } => self.start(empty)?,
                Item::End { end } => self.end(end)?,
                Item::Comment(r) => self.markup(r, Context::Comment, Suffix::Comment)?,
                Item::Pi(r) => {
                    // The target names the instruction; only what follows it is text.
                    let b = self.w.buf().as_bytes();
                    let body = r.start + b[r.clone()].iter().position(u8::is_ascii_whitespace).unwrap_or(r.len());
                    self.markup(body..r.end, Context::Pi, Suffix::Pi)?;
                }
                Item::Doctype(r) => self.markup(r, Context::Doctype, Suffix::Doctype)?,
            }
        }
    }

    /// The earliest place a change still to come may start: the first piece of a value
    /// still open (the current run, an element whose rule waits for its end, an element
    /// being removed) or the walk's position, less [`BACKTRACK`].
    fn low_water(&self) -> usize {
        let mut low = self.w.pos();
        let firsts = self.frames.iter().filter_map(|f| f.value.first());
        for s in self.run.first().into_iter().chain(firsts) {
            low = low.min(s.raw.start);
        }
        if let Some(r) = &self.removing {
            low = low.min(r.start);
        }
        low.saturating_sub(BACKTRACK)
    }

    /// Passes on the changes nothing still to come can precede (nor any before `done`), and
    /// gives back the pages behind them.
    fn pass_on(&mut self, done: usize) -> Result<(), XmlError> {
        let low = self.low_water().min(done);
        self.flush(low)?;
        // Waiting changes all start at `low` or later: nothing is held before it.
        let wait_from = self.patches.iter().map(|p| p.range.start).min().unwrap_or(usize::MAX);
        self.emit.advance(low.min(wait_from), self.w.buf(), self.charset);
        let (doc, src) = self.pages;
        doc.release_before(src, low);
        if let Some(s) = src {
            s.release_before(self.emit.opos);
        }
        // Changes that must wait (inside an element whose rule needs its end) are sorted
        // again only once twice as many are waiting: never once per item.
        self.flush_at = FLUSH_COUNT.max(2 * self.patches.len());
        Ok(())
    }

    /// Passes on, in document order, the changes that start before `low`.
    fn flush(&mut self, low: usize) -> Result<(), XmlError> {
        if self.patches.is_empty() {
            return Ok(());
        }
        self.patches.sort_by_key(|p| p.range.start);
        let n = self.patches.partition_point(|p| p.range.start < low);
        let buf = self.w.buf();
        for p in self.patches.drain(..n) {
            self.emit.put(p, buf, self.charset)?;
        }
        Ok(())
    }

    /// Whether the next edit is listed (the first [`MAX_LISTED`] are); the id it gets.
    fn next_id(&self) -> Option<usize> {
        (self.edits.len() < self.limits.listed).then_some(self.edits.len())
    }

    /// Lists an edit, or counts it once [`MAX_LISTED`] are listed.
    fn record(&mut self, pending: impl FnOnce(&mut Self) -> Pending) {
        if self.next_id().is_some() {
            let p = pending(self);
            self.edits.push(p);
        } else {
            self.unlisted += 1;
        }
    }

    fn seg(&mut self, seg: Seg) {
        if let Some(rem) = &mut self.removing {
            if rem.text.len() < REMOVED_TEXT_SHOWN {
                match seg.kind {
                    SegKind::Char(c) => rem.text.push(c),
                    _ => rem.text.push_str(&self.w.buf()[seg.raw]),
                }
            }
            return;
        }
        match self.frames.last_mut() {
            Some(f) if f.keep => {}
            Some(f) if f.rule.is_some() => f.value.push(seg),
            _ => self.run.push(seg),
        }
    }

    /// Searches a run that has grown long up to near its end, and drops what is done, so
    /// that a text of any length is held a window at a time.
    fn search_long_run(&mut self) -> Result<(), XmlError> {
        let (Some(first), Some(last)) = (self.run.first(), self.run.last()) else {
            return Ok(());
        };
        if last.raw.end - first.raw.start.max(self.run_from) <= 2 * self.limits.chunk {
            return Ok(());
        }
        let upto = floor_char(self.w.buf(), last.raw.end.saturating_sub(OVERLAP));
        if upto <= self.run_from.max(first.raw.start) {
            return Ok(());
        }
        let run = std::mem::take(&mut self.run);
        let done = self.residual_range(&run, Context::Text, Suffix::Text, None, self.run_from..upto);
        self.run = run;
        self.run_from = upto.max(done?);
        // Keep only what a later match may still need to see before it.
        let keep_from = floor_char(self.w.buf(), self.run_from.saturating_sub(CONTEXT));
        self.run.retain(|s| s.raw.end > keep_from);
        if let Some(s) = self.run.first_mut()
            && matches!(s.kind, SegKind::Literal | SegKind::CData)
            && s.raw.start < keep_from
        {
            s.raw.start = keep_from;
        }
        Ok(())
    }

    fn start(&mut self, empty: bool) -> Result<(), XmlError> {
        if self.removing.is_some() {
            return Ok(());
        }
        let Some(top) = self.w.top() else {
            return Err(XmlError::Internal("start without element".into()));
        };
        let (local, prefix, tag_start, qname) = (top.local, top.prefix, top.start, top.qname);
        let ns: Option<String> = if self.rules.uses_ns {
            self.w.resolve(prefix).map(str::to_string)
        } else {
            None
        };
        let rule = self.rules.find(true, local, ns.as_deref(), &self.counts);
        let mask = self.rules.mask(local);
        self.add_mask(mask, true);
        let action = rule.map(|i| &self.rules.rules[i].action);
        if action == Some(&Action::Remove) {
            if self.w.depth() == 1 {
                return Err(self.unwritable(
                    tag_start,
                    "a rule removes the root element; the file would be empty".into(),
                ));
            }
            let buf = self.w.buf();
            // A parent whose text is being replaced owns the whitespace before the element.
            let parent_value = self.frames.last().is_some_and(|f| f.rule.is_some());
            self.removing = Some(Removal {
                depth: self.w.depth(),
                start: if parent_value {
                    tag_start
                } else {
                    line_start_of(buf, tag_start, BACKTRACK / 2)
                },
                offset: tag_start,
                node: if self.next_id().is_some() {
                    self.w.capture()
                } else {
                    None
                },
                text: String::new(),
            });
            self.frames.push(PFrame {
                mask,
                rule: None,
                keep: false,
                value: Vec::new(),
                renamed: None,
                empty,
            });
            return Ok(());
        }
        let renamed = self.rename(tag_start + 1..tag_start + 1 + qname.len())?;
        self.frames.push(PFrame {
            mask,
            rule: rule.filter(|_| action != Some(&Action::Keep)),
            keep: action == Some(&Action::Keep),
            value: Vec::new(),
            renamed,
            empty,
        });
        self.attributes(ns.as_deref())
    }

    /// The rules and the identifier search on the attributes of the start tag just read
    /// (`ns`: its element's namespace, when rules use namespaces).
    fn attributes(&mut self, ns: Option<&str>) -> Result<(), XmlError> {
        let attrs = self.w.take_attrs();
        let mut segs = std::mem::take(&mut self.segs);
        // A namespace URI is a value like any other (`xmlns:p="urn:…:SMITH"`).
        for a in attrs.iter().filter(|a| a.xmlns) {
            self.rename(a.name.clone())?;
            attr_segs(self.w.buf(), a.value.clone(), &mut segs);
            self.residual(&segs, Context::Attr(a.quote), Suffix::Attr(a.name.clone()), None)?;
        }
        for a in attrs.iter().filter(|a| !a.xmlns) {
            let buf = self.w.buf();
            let name = &buf[a.name.clone()];
            let (aprefix, alocal) = split_qname(name);
            // Unprefixed attributes count as being in their element's namespace.
            let ans = match (self.rules.uses_ns, aprefix) {
                (false, _) => None,
                (true, "") => ns.map(str::to_string),
                (true, p) => self.w.resolve(p).map(str::to_string),
            };
            attr_segs(buf, a.value.clone(), &mut segs);
            let suffix = Suffix::Attr(a.name.clone());
            match self.rules.find(false, alocal, ans.as_deref(), &self.counts) {
                Some(i) if self.rules.rules[i].action == Action::Remove => {
                    self.patches.push(Patch {
                        range: a.full.clone(),
                        text: String::new(),
                        edit: self.next_id().unwrap_or(usize::MAX),
                    });
                    let offset = a.name.start;
                    self.record(|p| Pending {
                        node: p.w.capture(),
                        suffix,
                        offset,
                        before: shown(&Value::new(buf, &segs).text),
                        after: None,
                        rule: RuleKind::Remove,
                    });
                }
                Some(i) if self.rules.rules[i].action == Action::Keep => {
                    self.rename(a.name.clone())?;
                }
                Some(i) => {
                    self.rename(a.name.clone())?;
                    self.apply_rule(i, &segs, Context::Attr(a.quote), suffix)?;
                }
                None => {
                    self.rename(a.name.clone())?;
                    self.residual(&segs, Context::Attr(a.quote), suffix, None)?;
                }
            }
        }
        self.segs = segs;
        self.w.return_attrs(attrs);
        Ok(())
    }

    fn end(&mut self, end: usize) -> Result<(), XmlError> {
        if let Some(rem) = &self.removing {
            if self.w.depth() != rem.depth {
                return Ok(());
            }
            let Some(rem) = self.removing.take() else { return Ok(()) };
            self.patches.push(Patch {
                range: rem.start..end,
                text: String::new(),
                edit: self.next_id().unwrap_or(usize::MAX),
            });
            self.record(|_| Pending {
                node: rem.node,
                suffix: Suffix::Text,
                offset: rem.offset,
                before: cut(rem.text.trim(), REMOVED_TEXT_SHOWN),
                after: None,
                rule: RuleKind::Remove,
            });
        }
        let Some(frame) = self.frames.pop() else {
            return Err(XmlError::Internal("end without element".into()));
        };
        self.add_mask(frame.mask, false);
        if let (Some((new, edit)), false) = (&frame.renamed, frame.empty) {
            // `</name ws? >`: the name starts after the last `</` before `end`.
            let buf = self.w.buf();
            let open = buf[..end].rfind("</").map(|i| i + 2);
            let name_end = open.map(|o| {
                o + buf[o..end]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(end - o)
            });
            if let (Some(o), Some(e)) = (open, name_end) {
                self.patches.push(Patch {
                    range: o..e,
                    text: new.clone(),
                    edit: *edit,
                });
            }
        }
        if let Some(i) = frame.rule {
            self.apply_rule(i, &frame.value, Context::Text, Suffix::Text)?;
        }
        Ok(())
    }

    fn add_mask(&mut self, mask: u64, add: bool) {
        let mut m = mask;
        while m != 0 {
            let k = m.trailing_zeros() as usize;
            m &= m - 1;
            if add {
                self.counts[k] += 1;
            } else {
                self.counts[k] = self.counts[k].saturating_sub(1);
            }
        }
    }

    fn flush_run(&mut self) -> Result<(), XmlError> {
        if self.run.is_empty() {
            return Ok(());
        }
        let run = std::mem::take(&mut self.run);
        let done = self.residual_range(&run, Context::Text, Suffix::Text, None, self.run_from..usize::MAX);
        self.run = run;
        self.run.clear();
        self.run_from = 0;
        done.map(|_| ())
    }

    fn markup(&mut self, content: Range<usize>, ctx: Context, suffix: Suffix) -> Result<(), XmlError> {
        if self.removing.is_some() || content.is_empty() {
            return Ok(());
        }
        let seg = [Seg {
            raw: content.clone(),
            kind: SegKind::Literal,
        }];
        self.residual(&seg, ctx, suffix, Some(content))
    }

    /// Replaces the identifiers in the element or attribute name at `range`, when the new
    /// name is still an XML name; returns it. The same name always gets the same new name,
    /// so a start tag and its end tag, and a prefix and its declaration, stay together.
    fn rename(&mut self, range: Range<usize>) -> Result<Option<(String, usize)>, XmlError> {
        let buf = self.w.buf();
        let name = &buf[range.clone()];
        let Some(new) = self.ctx.replacer.replace(name) else {
            return Ok(None);
        };
        if new == name {
            return Ok(None);
        }
        if !walk::is_name(&new) {
            return Err(self.unwritable(
                range.start,
                "a name holds an identifier, and its replacement would not be an XML name".into(),
            ));
        }
        let id = self.next_id().unwrap_or(usize::MAX);
        self.patches.push(Patch {
            range: range.clone(),
            text: new.clone(),
            edit: id,
        });
        self.record(|p| Pending {
            node: p.w.capture(),
            suffix: Suffix::Name,
            offset: range.start,
            before: shown(name),
            after: Some(new.clone()),
            rule: RuleKind::Residual,
        });
        Ok(Some((new, id)))
    }

    fn unwritable(&self, at: usize, reason: String) -> XmlError {
        let (line, column) = line_col(self.w.buf(), at);
        XmlError::Unwritable { line, column, reason }
    }

    /// Replaces every identifying string in one value.
    fn residual(
        &mut self,
        segs: &[Seg],
        ctx: Context,
        suffix: Suffix,
        markup: Option<Range<usize>>,
    ) -> Result<(), XmlError> {
        self.residual_range(segs, ctx, suffix, markup, 0..usize::MAX)
            .map(|_| ())
    }

    /// Replaces the identifying strings of one value that start in `accept` (offsets in the
    /// document), a window at a time when the value is long; returns where the last one
    /// replaced ends (at least `accept.start`).
    fn residual_range(
        &mut self,
        segs: &[Seg],
        ctx: Context,
        suffix: Suffix,
        markup: Option<Range<usize>>,
        accept: Range<usize>,
    ) -> Result<usize, XmlError> {
        let (Some(first), Some(last)) = (segs.first(), segs.last()) else {
            return Ok(accept.start);
        };
        let (all, whole) = (first.raw.start..last.raw.end, last.raw.end - first.raw.start);
        let chunk = self.limits.chunk;
        if whole <= chunk {
            return self.residual_window(segs, ctx, &suffix, markup.as_ref(), accept);
        }
        let buf = self.w.buf();
        let end = all.end.min(accept.end);
        let mut from = all.start.max(accept.start);
        let mut done = accept.start;
        let mut window = Vec::new();
        while from < end {
            let mut main_end = floor_char(buf, (from + chunk).min(end));
            if main_end <= from {
                main_end = end;
            }
            let win_end = floor_char(buf, (main_end + OVERLAP).min(all.end));
            let before = floor_char(buf, from.saturating_sub(CONTEXT).max(all.start));
            cut_segs(segs, before..win_end.max(main_end), &mut window);
            let d = self.residual_window(&window, ctx, &suffix, markup.as_ref(), done.max(from)..main_end)?;
            done = done.max(d);
            from = main_end;
            // A long value's changes before `done` are final (later ones start after it):
            // they are passed on as the windows go, so they never pile up.
            if self.patches.len() >= self.flush_at {
                self.pass_on(done)?;
            }
        }
        Ok(done)
    }

    fn residual_window(
        &mut self,
        segs: &[Seg],
        ctx: Context,
        suffix: &Suffix,
        markup: Option<&Range<usize>>,
        accept: Range<usize>,
    ) -> Result<usize, XmlError> {
        let ctx_ = self.ctx;
        let buf = self.w.buf();
        let value = Value::reuse(buf, segs, std::mem::take(&mut self.spare));
        let mut node = None;
        let mut done = accept.start;
        for (range, after) in ctx_.matches(&value.text) {
            let after = after.as_ref();
            let before = &value.text[range.clone()];
            if before == after {
                continue;
            }
            let at = value.raw_offset(segs, range.start);
            if !accept.contains(&at) {
                continue;
            }
            let end = value.raw_offset(segs, range.end);
            let id = self.next_id().unwrap_or(usize::MAX);
            let Some(patches) = value
                .replace(segs, range, after, ctx, self.charset, id)
                .map_err(|r| self.unwritable(at, r))?
            else {
                continue;
            };
            if let Some(content) = markup
                && patches
                    .iter()
                    .any(|p| breaks_markup(buf, content, &p.range, &p.text, ctx))
            {
                return Err(self.unwritable(at, "the new value would end the comment or instruction early".into()));
            }
            done = done.max(end);
            self.patches.extend(patches);
            if self.next_id().is_none() {
                self.unlisted += 1;
                continue;
            }
            if node.is_none() {
                node = Some(self.w.capture());
            }
            self.edits.push(Pending {
                node: node.flatten(),
                suffix: suffix.clone(),
                offset: at,
                before: shown(before),
                after: Some(after.to_string()),
                rule: RuleKind::Residual,
            });
        }
        self.spare = value.recycle();
        Ok(done)
    }

    /// Applies a value rule (code, keep-year, replace, empty) to an element's text or an
    /// attribute's value. Whitespace around the value stays; an empty value stays empty.
    fn apply_rule(&mut self, i: usize, segs: &[Seg], ctx: Context, suffix: Suffix) -> Result<(), XmlError> {
        let buf = self.w.buf();
        let value = Value::new(buf, segs);
        let text = value.text.as_ref();
        let lead = text.len() - text.trim_start().len();
        let trail = text.trim_end().len();
        if lead >= trail {
            return Ok(());
        }
        let rules = self.rules;
        let action = &rules.rules[i].action;
        let (range, after) = match action {
            Action::Code => (lead..trail, self.ctx.code.clone()),
            Action::Replace(s) => (lead..trail, s.clone()),
            Action::Empty => (0..text.len(), String::new()),
            Action::Shift => match self
                .ctx
                .shift()
                .and_then(|d| crate::values::shift::shift(&text[lead..trail], d))
            {
                Some(moved) => (lead..trail, moved),
                None if self.ctx.shift().is_none() => return Ok(()),
                None => {
                    self.warn(&suffix, "not a date; emptied instead of shifted");
                    (0..text.len(), String::new())
                }
            },
            Action::KeepYear => match keep_year(&text[lead..trail]) {
                Some(masked) => (lead..trail, masked),
                None => {
                    self.warn(&suffix, "not a date; emptied instead of keeping its year");
                    (0..text.len(), String::new())
                }
            },
            Action::Dummy => (lead..trail, crate::values::dummy_text(crate::dicom::VR::LO).to_string()),
            // Clean: the identifier search that follows replaces what identifies.
            Action::Keep | Action::Remove | Action::Clean | Action::Uid => return Ok(()),
        };
        if text[range.clone()] == after {
            return Ok(());
        }
        let id = self.next_id().unwrap_or(usize::MAX);
        let at = value.raw_offset(segs, range.start);
        let whole = 0..text.len();
        let patches = match value
            .replace(segs, range.clone(), &after, ctx, self.charset, id)
            .map_err(|r| self.unwritable(at, r))?
        {
            Some(p) => p,
            None => value
                .replace(segs, whole.clone(), &after, ctx, self.charset, id)
                .map_err(|r| self.unwritable(at, r))?
                .unwrap_or_default(),
        };
        self.patches.extend(patches);
        let rule = action.rule();
        let before = shown(&text[range]);
        self.record(|p| Pending {
            node: p.w.capture(),
            suffix,
            offset: at,
            before,
            after: Some(after),
            rule,
        });
        Ok(())
    }

    /// A warning on the current element (the first [`MAX_LISTED`] of a file).
    fn warn(&mut self, suffix: &Suffix, message: &'static str) {
        if self.warnings.len() < self.limits.listed {
            let node = self.w.capture();
            self.warnings.push((node, suffix.clone(), message));
        }
    }

    /// The last changes passed on; paths, lines and document order of the listed edits.
    fn finish(mut self) -> Result<Walked, XmlError> {
        self.flush(usize::MAX)?;
        let buf = self.w.buf();
        let mut order: Vec<usize> = (0..self.edits.len()).collect();
        order.sort_by_key(|&i| self.edits[i].offset);
        let mut renumber = vec![0; order.len()];
        for (k, &i) in order.iter().enumerate() {
            renumber[i] = k;
        }
        let mut lines = Lines::new(buf);
        let mut paths = PathCache::default();
        let mut pending: Vec<Option<Pending>> = std::mem::take(&mut self.edits).into_iter().map(Some).collect();
        let mut edits = Vec::with_capacity(pending.len());
        for &i in &order {
            let Some(p) = pending[i].take() else { continue };
            edits.push(XmlEdit {
                path: paths.get(&self.w, p.node, &p.suffix, buf),
                line: lines.line_at(p.offset),
                before: p.before,
                after: p.after,
                rule: p.rule,
            });
        }
        let warnings = self
            .warnings
            .iter()
            .map(|(node, suffix, msg)| format!("{}: {msg}", paths.get(&self.w, *node, suffix, buf)))
            .collect();
        Ok(Walked {
            encoding: self.charset.name().to_string(),
            edits,
            unlisted: self.unlisted,
            warnings,
            renumber,
        })
    }
}

/// `text`, cut to [`BEFORE_SHOWN`] bytes (on a character boundary) with `…` when longer.
fn shown(text: &str) -> String {
    cut(text, BEFORE_SHOWN)
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut out = text[..floor_char(text, max)].to_string();
    out.push('…');
    out
}

/// The character boundary at or before `at`.
fn floor_char(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The pieces of `segs` inside `window`: text pieces cut to it, references whole.
fn cut_segs(segs: &[Seg], window: Range<usize>, out: &mut Vec<Seg>) {
    out.clear();
    let from = segs.partition_point(|s| s.raw.end <= window.start);
    for s in &segs[from..] {
        if s.raw.start >= window.end {
            break;
        }
        let raw = match s.kind {
            SegKind::Literal | SegKind::CData => s.raw.start.max(window.start)..s.raw.end.min(window.end),
            SegKind::Char(_) | SegKind::Entity => s.raw.clone(),
        };
        if !raw.is_empty() {
            out.push(Seg { raw, kind: s.kind });
        }
    }
}

/// Where removing the element that starts at `tag_start` should start: at the line break
/// before it when only indentation stands between, so no blank line is left behind.
fn line_start_of(buf: &str, tag_start: usize, max: usize) -> usize {
    let b = buf.as_bytes();
    let floor = tag_start.saturating_sub(max);
    let mut i = tag_start;
    while i > floor && matches!(b[i - 1], b' ' | b'\t') {
        i -= 1;
    }
    if i > floor && b[i - 1] == b'\n' {
        i -= 1;
        if i > 0 && b[i - 1] == b'\r' {
            i -= 1;
        }
        return i;
    }
    tag_start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    fn alice() -> Identity {
        let mut i = Identity::default();
        i.ids.insert("MAP001".into());
        i.names.insert("Mapping^Alice^Q".into());
        i.birth_dates.insert("19500317".into());
        i
    }

    fn seed_rules() -> Vec<XmlRule> {
        Profile::resolve(None, &[]).expect("seed").xml
    }

    fn run(doc: &str) -> (String, XmlPlan) {
        let ctx = XmlContext::new("P0001", &alice());
        let plan = plan(doc.as_bytes(), &seed_rules(), &ctx).expect("plans");
        let out = rewrite_to_vec(doc.as_bytes(), &plan).expect("rewrites");
        (String::from_utf8(out).expect("utf-8"), plan)
    }

    /// A document with something for every kind of change: rules on elements and
    /// attributes, removals, renamed names, identifiers in long text, a long attribute, a
    /// comment, references and CDATA cut by windows.
    fn busy_document(entries: usize) -> String {
        let mut doc = String::from("<?xml version='1.0'?>\n<!-- by Mapping^Alice^Q -->\n<Log>\n");
        for n in 0..entries {
            doc.push_str(&format!(
                "  <Patient id='MAP001' n='{n}'>\n    <PatientName>Mapping^Alice^Q</PatientName>\n    <BirthDate>1950-03-17</BirthDate>\n  </Patient>\n  <Entry>seen MAP001 &amp; Alice Mapping on 17.03.1950 <![CDATA[MAP001]]> n{n}</Entry>\n  <MAP001_x/>\n"
            ));
        }
        doc.push_str("  <Long text='");
        for n in 0..400 {
            doc.push_str(&format!("word{n} MAP001 &lt; "));
        }
        doc.push_str("'/>\n  <Text>");
        for n in 0..600 {
            doc.push_str(&format!("line {n} by Mapping, Alice &#x41;\n"));
        }
        doc.push_str("</Text>\n</Log>\n");
        doc
    }

    /// With bounds small enough to be crossed (few listed edits, few held changes, small
    /// windows), the file written is byte for byte the one the unbounded plan writes; the
    /// plan lists what it may and counts the rest; the changes are made again while copying
    /// and the digest holds them to the plan.
    #[test]
    fn bounded_plans_write_the_same_file() {
        let ctx = XmlContext::new("P0001", &alice());
        let rules = seed_rules();
        for entries in [1, 12] {
            let doc = busy_document(entries);
            let full = plan(doc.as_bytes(), &rules, &ctx).expect("plans");
            assert!(full.patches.is_some() && full.unlisted_edits == 0);
            let want = rewrite_to_vec(doc.as_bytes(), &full).expect("rewrites");
            assert!(!String::from_utf8_lossy(&want).contains("MAP001"));
            for chunk in [64, 9000] {
                let small = Limits {
                    listed: 5,
                    held: 7,
                    chunk,
                };
                let bounded = plan_in(doc.as_bytes(), None, &rules, &ctx, small).expect("plans");
                assert_eq!(bounded.edits.len(), 5);
                assert_eq!(
                    bounded.edits.len() + bounded.unlisted_edits,
                    full.edits.len(),
                    "chunk {chunk}"
                );
                assert!(bounded.patches.is_none() && bounded.patch_count == full.patch_count);
                let got = rewrite_to_vec(doc.as_bytes(), &bounded).expect("rewrites");
                assert!(got == want, "chunk {chunk}, {entries} entries");
                // An identifier less (a byte of it changed): other changes, refused.
                let mut other = doc.clone().into_bytes();
                let at = doc.rfind("MAP001").expect("an ID") + 5;
                other[at] = b'x';
                assert!(matches!(rewrite_to_vec(&other, &bounded), Err(XmlError::PlanMismatch)));
                // A source that is the document: the same bytes out, pages or not.
                let src = Source::from_vec(doc.clone().into_bytes());
                let mut out = Vec::new();
                rewrite_source(&src, &bounded, &mut out).expect("rewrites");
                assert!(out == want);
            }
        }
    }

    /// A value far longer than a window: every identifier is found once, also across the
    /// windows' edges, and none is replaced twice.
    #[test]
    fn long_values_are_searched_in_windows() {
        let ctx = XmlContext::new("P0001", &alice());
        let rules = seed_rules();
        let filler = "x".repeat(57);
        let mut body = String::new();
        for n in 0..300 {
            body.push_str(&format!("{filler} MAP001 {n} Mapping^Alice^Q "));
        }
        for doc in [
            format!("<a v='{body}'/>"),
            format!("<a>{body}</a>"),
            format!("<a><!--{body}--></a>"),
        ] {
            let full = plan(doc.as_bytes(), &rules, &ctx).expect("plans");
            let want = String::from_utf8(rewrite_to_vec(doc.as_bytes(), &full).expect("rewrites")).expect("utf-8");
            assert_eq!(want.matches("P0001").count(), 600, "{}", &want[..200]);
            for chunk in [50, 64, 333, 4096] {
                let small = Limits {
                    listed: 10_000,
                    held: 10_000,
                    chunk,
                };
                let p = plan_in(doc.as_bytes(), None, &rules, &ctx, small).expect("plans");
                assert_eq!(p.edits.len(), 600, "chunk {chunk}");
                let got = String::from_utf8(rewrite_to_vec(doc.as_bytes(), &p).expect("rewrites")).expect("utf-8");
                assert_eq!(got, want, "chunk {chunk}");
            }
        }
    }

    /// A text node longer than two search windows, full of references: verify's search finds
    /// each kind once, also where the run was cut (its parts overlap).
    #[test]
    fn long_text_runs_are_searched_in_parts() {
        let mut doc = String::from("<a>");
        let filler = "lorem &amp; ipsum ".repeat(1000);
        while doc.len() < 2 * CHUNK + OVERLAP {
            doc.push_str(&filler);
        }
        // The name just before the first cut, the ID far after it.
        doc.push_str("Mapping^Alice^Q");
        while doc.len() < 3 * CHUNK {
            doc.push_str(&filler);
        }
        doc.push_str(" MAP001 </a>");
        let found = residual(doc.as_bytes(), &Identifiers::new(&alice())).expect("searches");
        let mut kinds: Vec<_> = found.iter().map(|f| f.kind).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![IdentifierKind::PatientName, IdentifierKind::PatientId],
            "{found:?}"
        );
    }

    /// Names hold identifiers too: an element named after the patient is renamed in its
    /// start and end tag alike, an attribute name and a namespace prefix with its declaration
    /// together, a namespace URI like a value; the output is well-formed, and verify's search
    /// finds them in the input without showing them in a path.
    #[test]
    fn element_and_attribute_names_and_namespaces_are_cleaned() {
        let doc = "<Log xmlns:mapping='urn:site:MAP001'>\n  <MAP001_19500317 n='1'>x</MAP001_19500317>\n  <Entry Mapping_Alice='y'/>\n  <mapping:Note>z</mapping:Note>\n  <MAP001_19500317/>\n</Log>\n";
        let (out, plan) = run(doc);
        assert_eq!(
            out,
            "<Log xmlns:P0001='urn:site:P0001'>\n  <P0001_19500101 n='1'>x</P0001_19500101>\n  <Entry P0001='y'/>\n  <P0001:Note>z</P0001:Note>\n  <P0001_19500101/>\n</Log>\n"
        );
        check(out.as_bytes()).expect("well-formed");
        assert!(
            plan.edits.iter().any(|e| e.path.ends_with("/name()")),
            "{:?}",
            plan.edits
        );
        let found = residual(doc.as_bytes(), &Identifiers::new(&alice())).expect("searches");
        assert!(found.len() >= 5, "{found:?}");
        for f in &found {
            assert!(
                !f.path.contains("MAP001") && !f.path.to_lowercase().contains("mapping"),
                "{f:?}"
            );
        }
        assert!(
            residual(out.as_bytes(), &Identifiers::new(&alice()))
                .expect("searches")
                .is_empty()
        );
    }

    /// A comment inside text does not hide a name: `Map<!-- -->ping` is found and replaced,
    /// the comment stays.
    #[test]
    fn a_comment_does_not_split_a_name() {
        let doc = "<Log><Entry>seen Alice Map<!-- x -->ping today</Entry></Log>";
        let (out, _) = run(doc);
        assert_eq!(out, "<Log><Entry>seen P0001<!-- x --> today</Entry></Log>");
        let found = residual(doc.as_bytes(), &Identifiers::new(&alice())).expect("searches");
        assert!(found.iter().any(|f| f.kind == IdentifierKind::PatientName), "{found:?}");
    }

    /// NUL and the other characters XML forbids make a file malformed, with the position.
    #[test]
    fn forbidden_characters_make_a_file_malformed() {
        let ctx = XmlContext::new("P0001", &alice());
        for doc in [
            &b"<Log><t>a\0b</t></Log>"[..],
            b"<Log>\n<t a='\x01'/></Log>",
            "<Log>\u{FFFE}</Log>".as_bytes(),
        ] {
            let err = plan(doc, &seed_rules(), &ctx).expect_err("malformed");
            assert!(matches!(err, XmlError::Syntax { .. }), "{err:?}");
            assert!(err.to_string().contains("does not allow"), "{err}");
            assert!(check(doc).is_err());
        }
        assert!(check(b"<Log>\t\r\n</Log>").is_ok(), "tab and line breaks are fine");
    }

    /// A name whose replacement would not be an XML name is refused with its position, never
    /// written broken.
    #[test]
    fn a_name_that_cannot_be_renamed_is_refused() {
        let ctx = XmlContext::new("1234", &alice());
        let err = plan(b"<Log><MAP001/></Log>", &seed_rules(), &ctx).expect_err("refused");
        assert!(err.to_string().contains("not be an XML name"), "{err}");
        assert!(!err.to_string().contains("MAP001"), "{err}");
    }

    #[test]
    fn rules_and_residuals_change_only_their_values() {
        let doc = "<?xml version='1.0'?>\n<Log>\n  <Patient id='MAP001'>\n    <Name> Mapping^Alice^Q </Name>\n    <BirthDate>17.03.1950</BirthDate>\n  </Patient>\n  <Entry>seen alice on 1950-03-17</Entry>\n</Log>\n";
        let (out, plan) = run(doc);
        assert_eq!(
            out,
            "<?xml version='1.0'?>\n<Log>\n  <Patient id='P0001'>\n    <Name> P0001 </Name>\n    <BirthDate>01.01.1950</BirthDate>\n  </Patient>\n  <Entry>seen P0001 on 1950-01-01</Entry>\n</Log>\n"
        );
        let got: Vec<(&str, usize, &str)> = plan
            .edits
            .iter()
            .map(|e| (e.path.as_str(), e.line, e.rule.name()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/Log/Patient/@id", 3, "code"),
                ("/Log/Patient/Name", 4, "code"),
                ("/Log/Patient/BirthDate", 5, "keep-year"),
                ("/Log/Entry", 7, "residual"),
                ("/Log/Entry", 7, "residual"),
            ]
        );
        assert_eq!(plan.edits[3].before, "alice");
    }

    #[test]
    fn no_match_round_trips() {
        let doc = "<a b=\"c\">\r\n<!-- x --><![CDATA[y]]>&amp;&#x41;</a>";
        let (out, plan) = run(doc);
        assert!(plan.is_unchanged());
        assert_eq!(out, doc);
    }

    #[test]
    fn remove_and_under() {
        let rules = vec![
            XmlRule {
                target: XmlTarget::Element("Secret".into()),
                under: None,
                namespace: None,
                ignore_case: false,
                action: Action::Remove,
            },
            XmlRule {
                target: XmlTarget::Attribute("ref".into()),
                under: Some("Patient".into()),
                namespace: None,
                ignore_case: false,
                action: Action::Remove,
            },
        ];
        let doc = "<r>\n  <Secret a='MAP001'>x<b>MAP001</b></Secret>\n  <Patient><c ref='1' k='2'/></Patient><c ref='3'/>\n</r>";
        let ctx = XmlContext::new("P0001", &alice());
        let p = plan(doc.as_bytes(), &rules, &ctx).unwrap();
        let out = String::from_utf8(rewrite_to_vec(doc.as_bytes(), &p).unwrap()).unwrap();
        assert_eq!(out, "<r>\n  <Patient><c k='2'/></Patient><c ref='3'/>\n</r>");
        assert_eq!(p.edits.len(), 2, "{:?}", p.edits);
        assert_eq!(p.edits[0].after, None);
        assert_eq!(p.edits[0].before, "xMAP001");
    }

    #[test]
    fn keep_year_on_a_non_date_empties_with_a_warning() {
        let (out, plan) = run("<r><BirthDate>unknown</BirthDate></r>");
        assert_eq!(out, "<r><BirthDate></BirthDate></r>");
        assert_eq!(
            plan.warnings,
            vec!["/r/BirthDate: not a date; emptied instead of keeping its year"]
        );
    }

    #[test]
    fn rejected_edits_are_not_written() {
        let doc = "<r><PatientID>MAP001</PatientID><n>Alice</n></r>";
        let (_, mut plan) = run(doc);
        plan.retain_edits(|e| e.rule != RuleKind::Residual);
        let out = rewrite_to_vec(doc.as_bytes(), &plan).unwrap();
        assert_eq!(out, b"<r><PatientID>P0001</PatientID><n>Alice</n></r>");
    }

    #[test]
    fn plan_refuses_other_bytes() {
        let (_, plan) = run("<r><PatientID>MAP001</PatientID></r>");
        let e = rewrite_to_vec(b"<r><PatientID>MAP002</PatientID></r>", &plan).unwrap_err();
        assert!(matches!(e, XmlError::PlanMismatch));
    }

    fn rule(target: XmlTarget, action: Action) -> XmlRule {
        XmlRule {
            target,
            under: None,
            namespace: None,
            ignore_case: false,
            action,
        }
    }

    /// Under a shift: a `shift` rule moves its value by the owner's offset even where the
    /// profile keeps study dates (the text's other dates stay); with every date moving, an ID
    /// that looks like a date is still the ID (its code wins), and the owner's own dates move
    /// in the matcher's other forms too.
    #[test]
    fn shifted_dates_in_xml() {
        use crate::matcher::{Shifted, own_date_patterns};
        let mut who = alice();
        who.ids.insert("19850612".into());
        who.study_values
            .entry(crate::dicom::tags::STUDY_DATE)
            .insert("20040119".into());
        let shifted = Shifted {
            days: -10,
            birth_date: true,
            study_dates: true,
        };
        let rules = [rule(XmlTarget::Element("BirthDate".into()), Action::Shift)];
        let doc = "<r><BirthDate>1950-03-17</BirthDate><n>seen 2004-01-19, id 19850612</n></r>";
        // Only the birth date's rule shifts (a profile keeping study dates).
        let ctx = XmlContext::for_patients("P0001", [("P0001", &who)]).with_offset(Some(-10), Vec::new());
        let p = plan(doc.as_bytes(), &rules, &ctx).expect("plans");
        let out = String::from_utf8(rewrite_to_vec(doc.as_bytes(), &p).expect("rewrites")).expect("utf-8");
        assert_eq!(
            out,
            "<r><BirthDate>1950-03-07</BirthDate><n>seen 2004-01-19, id P0001</n></r>"
        );
        // Every date moves; the ID stays an ID; a two-digit-year form of the birth date moves.
        let ctx = XmlContext::for_patients_and("P0001", [("P0001", &who, Some(shifted))], Vec::new())
            .with_code("P0001")
            .with_dates(Some(XmlDates::Shift(-10)))
            .with_offset(Some(-10), own_date_patterns(&who, shifted));
        let doc = "<r><n>seen 2004-01-19, id 19850612, born 170350</n></r>";
        let p = plan(doc.as_bytes(), &[], &ctx).expect("plans");
        let out = String::from_utf8(rewrite_to_vec(doc.as_bytes(), &p).expect("rewrites")).expect("utf-8");
        assert_eq!(out, "<r><n>seen 2004-01-09, id P0001, born 070350</n></r>");
    }

    #[test]
    fn the_root_element_cannot_be_removed() {
        let rules = [rule(XmlTarget::Element("r".into()), Action::Remove)];
        let e = plan(b"<r>x</r>", &rules, &XmlContext::new("P0001", &alice())).unwrap_err();
        assert!(matches!(e, XmlError::Unwritable { line: 1, column: 1, .. }), "{e}");
    }

    #[test]
    fn utf16_without_bom_and_shift_jis_round_trip() {
        let doc = "<?xml version='1.0' encoding='UTF-16BE'?><r><PatientID>MAP001</PatientID><n>Alice ☂</n></r>";
        let be: Vec<u8> = doc.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let ctx = XmlContext::new("P0001", &alice());
        let p = plan(&be, &seed_rules(), &ctx).unwrap();
        assert_eq!(p.encoding, "UTF-16BE");
        let out = rewrite_to_vec(&be, &p).unwrap();
        let want = doc.replace(">MAP001<", ">P0001<").replace("Alice", "P0001");
        assert_eq!(out, want.encode_utf16().flat_map(u16::to_be_bytes).collect::<Vec<u8>>());

        let doc = "<?xml version='1.0' encoding='Shift_JIS'?><r><n>山田 Alice</n><c>日本</c></r>";
        let (sjis, _, bad) = encoding_rs::SHIFT_JIS.encode(doc);
        assert!(!bad);
        let p = plan(&sjis, &seed_rules(), &ctx).unwrap();
        let out = rewrite_to_vec(&sjis, &p).unwrap();
        let replaced = doc.replace("Alice", "P0001");
        let (want, _, _) = encoding_rs::SHIFT_JIS.encode(&replaced);
        assert_eq!(out, want.as_ref());
    }

    #[test]
    fn unwritable_replacements_are_refused_with_a_position() {
        // A Latin-1 comment cannot hold the euro sign, and comments have no references.
        let mut who = alice();
        who.ids.insert("X-42".into());
        let ctx = XmlContext::new("P€1", &who);
        let doc = b"<?xml version='1.0' encoding='ISO-8859-1'?>\n<r><!-- X-42 --></r>";
        let e = plan(doc, &seed_rules(), &ctx).unwrap_err();
        assert!(matches!(e, XmlError::Unwritable { line: 2, column: 9, .. }), "{e}");
        // In text the same code becomes a character reference.
        let doc = b"<?xml version='1.0' encoding='ISO-8859-1'?><r>X-42</r>";
        let p = plan(doc, &seed_rules(), &ctx).unwrap();
        assert!(rewrite_to_vec(doc, &p).unwrap().ends_with(b"<r>P&#x20AC;1</r>"));
        // A code that would close the comment early.
        let ctx = XmlContext::new("P--1", &who);
        assert!(plan(b"<r><!-- X-42 --></r>", &seed_rules(), &ctx).is_err());
    }

    #[test]
    fn many_attributes_and_duplicates() {
        let mut doc = String::from("<r");
        for i in 0..40 {
            doc.push_str(&format!(" a{i}='MAP001'"));
        }
        let ok = format!("{doc}/>");
        let ctx = XmlContext::new("P0001", &alice());
        let p = plan(ok.as_bytes(), &seed_rules(), &ctx).unwrap();
        assert_eq!(p.edits.len(), 40);
        assert_eq!(p.edits[39].path, "/r/@a39");
        let dup = format!("{doc} a7='x'/>");
        assert!(
            plan(dup.as_bytes(), &seed_rules(), &ctx)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn name_forms_cover_free_text() {
        let f = name_forms("Mapping^Alice^Q");
        assert!(f.contains(&"Alice Mapping".to_string()) && f.contains(&"Mapping, Alice".to_string()));
        assert!(f.contains(&"Mapping Alice Q".to_string()));
    }
}

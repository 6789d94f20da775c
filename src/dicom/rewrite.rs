//! Turns a parsed file plus a few element changes into the bytes of the new file, as a list
//! of pieces: new bytes where something changed, ranges of the original everywhere else.
//! Lengths of enclosing items and sequences of defined length follow the change; group
//! lengths (gggg,0000) are written as the length of their group as written, and go when their
//! group is left without elements.

use std::collections::HashMap;
use std::io::{self, Seek, SeekFrom, Write};

use super::parse::{ElementKind, Parsed, TOP, UNDEFINED};
use super::{Encoding, Tag, VR};

/// What happens to one element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New value bytes, already encoded and padded to even length.
    Set(Vec<u8>),
    /// The element disappears.
    Remove,
}

/// A new top-level element (used by profiles that add attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub tag: Tag,
    pub vr: VR,
    pub value: Vec<u8>,
}

/// One piece of the output: new bytes, or a range of the source copied as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Bytes(Vec<u8>),
    Copy { start: u64, len: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("{tag} ({vr:?}) cannot hold a value of {len} bytes")]
    TooLong { tag: String, vr: VR, len: usize },
    #[error("{0} is a sequence; it can only be removed or emptied")]
    Sequence(String),
    #[error("internal: overlapping changes at offset {0}")]
    Overlap(u64),
}

/// The new file, as pieces, and where its data set starts (for deflated output).
#[derive(Debug)]
pub struct Rendered {
    pub pieces: Vec<Piece>,
    pub dataset_start: u64,
}

struct Patch {
    start: u64,
    end: u64,
    bytes: Vec<u8>,
}

pub(crate) fn header_bytes(tag: Tag, vr: VR, len: usize, enc: Encoding) -> Vec<u8> {
    let mut h = Vec::with_capacity(12);
    h.extend_from_slice(&enc.u16_bytes(tag.0));
    h.extend_from_slice(&enc.u16_bytes(tag.1));
    if enc.explicit_vr {
        h.extend_from_slice(vr.to_string().as_bytes());
        if super::parse::is_long_vr(vr) {
            h.extend_from_slice(&[0, 0]);
            h.extend_from_slice(&enc.u32_bytes(len as u32));
        } else {
            h.extend_from_slice(&enc.u16_bytes(len as u16));
        }
    } else {
        h.extend_from_slice(&enc.u32_bytes(len as u32));
    }
    h
}

/// Encodes the items of a sequence (each a list of elements, in tag order) with defined
/// lengths, in the data set's encoding: the value of an inserted SQ element.
#[must_use]
pub fn encode_items(items: &[Vec<(Tag, VR, Vec<u8>)>], enc: Encoding) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        let mut body = Vec::new();
        for (tag, vr, value) in item {
            body.extend(header_bytes(*tag, *vr, value.len(), enc));
            body.extend_from_slice(value);
        }
        out.extend_from_slice(&enc.u16_bytes(0xFFFE));
        out.extend_from_slice(&enc.u16_bytes(0xE000));
        out.extend_from_slice(&enc.u32_bytes(body.len() as u32));
        out.extend(body);
    }
    out
}

/// Computes the output of `changes` (by element index) and `inserts` applied to `parsed`;
/// with `clear_preamble` a non-zero 128-byte preamble is written as zeros (what PS3.10 asks
/// of a preamble that is not used; it may hold another application's data). With
/// `file_meta`, a file without a file meta group (a raw data set) is written as a PS3.10
/// file: a zero preamble, `DICM` and these elements as its file meta group (with its group
/// length), in place of whatever came before the data set.
///
/// # Errors
///
/// A `RewriteError` when a value is too long for its element's length field, a sequence is given a
/// value, or two changes overlap.
pub fn render_with(
    parsed: &Parsed,
    changes: &[(usize, Change)],
    inserts: &[Insert],
    clear_preamble: bool,
    file_meta: &[Insert],
) -> Result<Rendered, RewriteError> {
    let mut patches = Patches::new(parsed, changes);
    for (idx, change) in changes {
        patches.change(*idx, change)?;
    }
    patches.drop_copies();
    patches.insert(inserts);
    patches.group_lengths();
    patches.lengths();
    let head = (!file_meta.is_empty() && !parsed.layout.has_meta).then(|| part10_head(file_meta));
    if clear_preamble && head.is_none() {
        patches.clear_preamble();
    }
    pieces(parsed, patches.list, head)
}

/// A zero preamble, `DICM`, and a file meta group of `elements` (explicit VR little endian,
/// in tag order, after their group length).
fn part10_head(elements: &[Insert]) -> Vec<u8> {
    let enc = Encoding::EXPLICIT_LE;
    let mut sorted: Vec<&Insert> = elements.iter().filter(|e| e.tag.1 != 0x0000).collect();
    sorted.sort_by_key(|e| e.tag);
    let mut group = Vec::new();
    for e in sorted {
        group.extend(header_bytes(e.tag, e.vr, e.value.len(), enc));
        group.extend_from_slice(&e.value);
    }
    let mut head = vec![0u8; 128];
    head.extend_from_slice(b"DICM");
    head.extend(header_bytes(
        super::tags::FILE_META_INFORMATION_GROUP_LENGTH,
        VR::UL,
        4,
        enc,
    ));
    head.extend_from_slice(&enc.u32_bytes(group.len() as u32));
    head.extend(group);
    head
}

/// The patches of one render, and by how much each changed element and each enclosing item
/// and sequence grows with them.
struct Patches<'a> {
    parsed: &'a Parsed,
    /// Elements whose whole value is replaced (removed, or a sequence emptied): what is
    /// inside needs no change of its own, it is not written at all.
    replaced: Vec<bool>,
    list: Vec<Patch>,
    /// By how much each changed element grows (a removed one: minus its whole size).
    elem_delta: HashMap<usize, i64>,
    item_delta: HashMap<u32, i64>,
    seq_delta: HashMap<usize, i64>,
    /// Bytes inserted at the top level, by group.
    inserted: HashMap<u16, u64>,
}

impl<'a> Patches<'a> {
    fn new(parsed: &'a Parsed, changes: &[(usize, Change)]) -> Patches<'a> {
        let els = &parsed.elements;
        let mut replaced = vec![false; els.len()];
        for (i, c) in changes {
            if let Some(r) = replaced.get_mut(*i) {
                *r = *c == Change::Remove || els[*i].kind == ElementKind::Sequence;
            }
        }
        // A copy of an earlier element is not written, nor anything in it.
        for &i in parsed.copies() {
            replaced[i] = true;
        }
        Patches {
            parsed,
            replaced,
            list: Vec::new(),
            elem_delta: HashMap::new(),
            item_delta: HashMap::new(),
            seq_delta: HashMap::new(),
            inserted: HashMap::new(),
        }
    }

    fn removed(&self, idx: usize) -> bool {
        self.replaced.get(idx).copied().unwrap_or(false)
    }

    fn inside_removed(&self, idx: usize) -> bool {
        self.parsed.within(idx, &self.replaced)
    }

    /// Element `idx` grows by `delta` bytes: so does every item and sequence enclosing it.
    fn grow(&mut self, idx: usize, delta: i64) {
        let (els, items) = (&self.parsed.elements, &self.parsed.items);
        *self.elem_delta.entry(idx).or_default() += delta;
        let mut parent = els[idx].parent;
        while parent != TOP {
            *self.item_delta.entry(parent).or_default() += delta;
            let seq = items[parent as usize].parent as usize;
            *self.seq_delta.entry(seq).or_default() += delta;
            parent = els[seq].parent;
        }
    }

    /// The size of element `idx` as written (0 when it is removed).
    fn written_size(&self, idx: usize) -> u64 {
        let e = &self.parsed.elements[idx];
        let delta = self.elem_delta.get(&idx).copied().unwrap_or(0) + self.seq_delta.get(&idx).copied().unwrap_or(0);
        u64::try_from((e.end - e.start) as i64 + delta).unwrap_or(0)
    }

    /// The patch of one change (none inside an element that goes as a whole, nor to a copy
    /// of an earlier element, which goes anyway).
    fn change(&mut self, idx: usize, change: &Change) -> Result<(), RewriteError> {
        if self.inside_removed(idx) || self.parsed.copies().binary_search(&idx).is_ok() {
            return Ok(());
        }
        let e = &self.parsed.elements[idx];
        let old = (e.end - e.start) as i64;
        let bytes = match change {
            Change::Remove => Vec::new(),
            Change::Set(value) => set_bytes(self.parsed, idx, value)?,
        };
        let delta = bytes.len() as i64 - old;
        self.list.push(Patch {
            start: e.start,
            end: e.end,
            bytes,
        });
        self.grow(idx, delta);
        Ok(())
    }

    /// Removes each element that repeats an earlier one of its data set byte for byte (the
    /// first is what the file says), unless it goes with an element around it.
    fn drop_copies(&mut self) {
        for &idx in self.parsed.copies() {
            if self.inside_removed(idx) {
                continue;
            }
            let e = &self.parsed.elements[idx];
            self.list.push(Patch {
                start: e.start,
                end: e.end,
                bytes: Vec::new(),
            });
            self.grow(idx, -((e.end - e.start) as i64));
        }
    }

    /// Inserted elements go before the first top-level element with a larger tag; several
    /// at one place must follow each other in tag order. With none larger they follow the
    /// last element, before any trailing zero padding (after the padding they would not be
    /// read).
    fn insert(&mut self, inserts: &[Insert]) {
        let parsed = self.parsed;
        let els = &parsed.elements;
        let data_end = els
            .iter()
            .filter(|e| e.parent == TOP && !e.is_meta())
            .map(|e| e.end)
            .max()
            .unwrap_or(parsed.layout.dataset_start);
        let mut inserts: Vec<&Insert> = inserts.iter().collect();
        inserts.sort_by_key(|i| i.tag);
        for ins in inserts {
            let enc = parsed.layout.encoding;
            let pos = els
                .iter()
                .filter(|e| e.parent == TOP && !e.is_meta())
                .find(|e| e.tag > ins.tag)
                .map_or(data_end, |e| e.start);
            let mut bytes = header_bytes(ins.tag, ins.vr, ins.value.len(), enc);
            bytes.extend_from_slice(&ins.value);
            *self.inserted.entry(ins.tag.0).or_default() += bytes.len() as u64;
            self.list.push(Patch {
                start: pos,
                end: pos,
                bytes,
            });
        }
    }

    /// Patches the length fields of enclosing items and sequences of defined length.
    fn lengths(&mut self) {
        let (els, items) = (&self.parsed.elements, &self.parsed.items);
        let mut list = std::mem::take(&mut self.list);
        for (&item, &delta) in &self.item_delta {
            let it = &items[item as usize];
            if delta == 0
                || it.length == UNDEFINED
                || self.inside_removed(it.parent as usize)
                || self.removed(it.parent as usize)
            {
                continue;
            }
            let enc = item_encoding(self.parsed, item);
            let new = (i64::from(it.length) + delta) as u32;
            list.push(Patch {
                start: it.start + 4,
                end: it.start + 8,
                bytes: enc.u32_bytes(new).to_vec(),
            });
        }
        for (&seq, &delta) in &self.seq_delta {
            let s = &els[seq];
            if delta == 0 || s.length == UNDEFINED || self.removed(seq) || self.inside_removed(seq) {
                continue;
            }
            let (lf, _) = s.length_field();
            let new = (i64::from(s.length) + delta) as u32;
            list.push(Patch {
                start: lf,
                end: lf + 4,
                bytes: s.enc.u32_bytes(new).to_vec(),
            });
        }
        self.list = list;
    }

    /// Writes each group length element (gggg,0000) as the length of its group as written (the
    /// file meta group's above all), whatever it said before: a length shifted by the change
    /// would keep one that was wrong in the input wrong, and wrap one that was too short. A
    /// group left without elements loses its group length. Removing one changes the size of
    /// the items and sequences holding it, so those go first and the lengths are measured
    /// after.
    fn group_lengths(&mut self) {
        let lengths = self.measure_groups();
        let mut emptied = false;
        for (&(parent, group), &(gl, len)) in &lengths {
            let inserted = if parent == TOP { self.inserted.get(&group) } else { None };
            if len == 0 && inserted.is_none() {
                let e = &self.parsed.elements[gl];
                self.list.push(Patch {
                    start: e.start,
                    end: e.end,
                    bytes: Vec::new(),
                });
                self.replaced[gl] = true;
                self.grow(gl, -((e.end - e.start) as i64));
                emptied = true;
            }
        }
        let lengths = if emptied { self.measure_groups() } else { lengths };
        for (&(parent, group), &(gl, len)) in &lengths {
            if self.removed(gl) {
                continue;
            }
            let inserted = if parent == TOP {
                self.inserted.get(&group).copied().unwrap_or(0)
            } else {
                0
            };
            let g = &self.parsed.elements[gl];
            let Some(v) = self.parsed.value(g) else { continue };
            let new = u32::try_from(len + inserted).unwrap_or(u32::MAX);
            if g.enc.u32(v) != new {
                self.list.push(Patch {
                    start: g.value_start,
                    end: g.value_start + 4,
                    bytes: g.enc.u32_bytes(new).to_vec(),
                });
            }
        }
    }

    /// Each group length element that is written, by (data set, group): its index and the
    /// size of the other elements of its group as written (without inserted ones).
    fn measure_groups(&self) -> HashMap<(u32, u16), (usize, u64)> {
        let els = &self.parsed.elements;
        let mut lengths: HashMap<(u32, u16), (usize, u64)> = HashMap::new();
        for (i, e) in els.iter().enumerate() {
            if e.tag.1 == 0x0000
                && e.length == 4
                && e.kind == ElementKind::Value
                && !self.removed(i)
                && !self.inside_removed(i)
            {
                lengths.entry((e.parent, e.tag.0)).or_insert((i, 0));
            }
        }
        if lengths.is_empty() {
            return lengths;
        }
        // Most files have one group length (the file meta's): most elements are passed over
        // by their group alone.
        let mut groups: Vec<u16> = lengths.keys().map(|&(_, g)| g).collect();
        groups.sort_unstable();
        groups.dedup();
        for (i, e) in els.iter().enumerate() {
            if groups.binary_search(&e.tag.0).is_err() {
                continue;
            }
            if let Some((gl, len)) = lengths.get_mut(&(e.parent, e.tag.0))
                && *gl != i
            {
                *len += self.written_size(i);
            }
        }
        lengths
    }

    /// Zeroes the 128-byte preamble, when the file has one that is not zero already.
    fn clear_preamble(&mut self) {
        let parsed = self.parsed;
        if parsed.layout.preamble && parsed.source.loaded(0, 128).is_some_and(|b| b.iter().any(|&x| x != 0)) {
            self.list.push(Patch {
                start: 0,
                end: 128,
                bytes: vec![0u8; 128],
            });
        }
    }
}

/// The new bytes of element `idx` holding `value`: its original header bytes (VR spelling,
/// reserved bytes) with only the length changed, then the value.
fn set_bytes(parsed: &Parsed, idx: usize, value: &[u8]) -> Result<Vec<u8>, RewriteError> {
    let e = &parsed.elements[idx];
    let short = e.enc.explicit_vr && e.value_start - e.start == 8;
    if short && value.len() > 0xFFFF {
        return Err(RewriteError::TooLong {
            tag: super::tag_string(e.tag),
            vr: e.vr,
            len: value.len(),
        });
    }
    if e.kind == ElementKind::Sequence && !value.is_empty() {
        return Err(RewriteError::Sequence(super::tag_string(e.tag)));
    }
    let (lf, width) = e.length_field();
    let mut bytes = parsed
        .source
        .loaded(e.start, (e.value_start - e.start) as usize)
        .map_or_else(|| header_bytes(e.tag, e.vr, value.len(), e.enc), <[u8]>::to_vec);
    let at = (lf - e.start) as usize;
    if width == 2 {
        bytes[at..at + 2].copy_from_slice(&e.enc.u16_bytes(value.len() as u16));
    } else {
        bytes[at..at + 4].copy_from_slice(&e.enc.u32_bytes(value.len() as u32));
    }
    bytes.extend_from_slice(value);
    Ok(bytes)
}

/// The output as pieces: `head` in place of what comes before the data set, if given; the
/// patches in order, and the source copied between them; and where the data set starts in it.
fn pieces(parsed: &Parsed, mut patches: Vec<Patch>, head: Option<Vec<u8>>) -> Result<Rendered, RewriteError> {
    patches.sort_by_key(|p| (p.start, p.end));
    let mut pieces = Vec::with_capacity(patches.len() * 2 + 2);
    let mut pos = 0u64;
    let ds = parsed.layout.dataset_start;
    let mut dataset_start = ds as i64;
    if let Some(head) = head {
        dataset_start = head.len() as i64;
        pos = ds;
        pieces.push(Piece::Bytes(head));
    }
    for p in patches {
        if p.start < pos {
            return Err(RewriteError::Overlap(p.start));
        }
        if p.start > pos {
            pieces.push(Piece::Copy {
                start: pos,
                len: p.start - pos,
            });
        }
        if p.end <= ds && !(p.start == p.end && p.start == ds) {
            dataset_start += p.bytes.len() as i64 - (p.end - p.start) as i64;
        }
        if !p.bytes.is_empty() {
            pieces.push(Piece::Bytes(p.bytes));
        }
        pos = p.end;
    }
    let total = parsed.source.len();
    if pos < total {
        pieces.push(Piece::Copy {
            start: pos,
            len: total - pos,
        });
    }
    Ok(Rendered {
        pieces,
        dataset_start: dataset_start as u64,
    })
}

/// The encoding of an item's header: that of the values in the sequence holding it.
fn item_encoding(parsed: &Parsed, item: u32) -> Encoding {
    let seq = &parsed.elements[parsed.items[item as usize].parent as usize];
    if seq.vr == VR::UN {
        Encoding::IMPLICIT_LE
    } else {
        seq.enc
    }
}

/// Writes the pieces: new bytes from memory, unchanged header bytes from memory, and
/// everything that was never loaded (pixel data) copied from the source file by the kernel.
///
/// # Errors
///
/// An I/O error when the source cannot be read or `out` cannot be written.
pub fn write_pieces<W: Write>(parsed: &Parsed, pieces: &[Piece], out: &mut W) -> io::Result<()> {
    for piece in pieces {
        match piece {
            Piece::Bytes(b) => out.write_all(b)?,
            Piece::Copy { start, len } => copy_range(parsed, *start, *len, out)?,
        }
    }
    Ok(())
}

/// Copies `[start, start+len)` of the source into `out`.
///
/// # Errors
///
/// An I/O error when the source cannot be read or `out` cannot be written.
pub fn copy_range<W: Write>(parsed: &Parsed, start: u64, len: u64, out: &mut W) -> io::Result<()> {
    let mut pos = start;
    let end = start + len;
    while pos < end {
        let loaded = parsed.source.loaded_run(pos, end);
        if loaded > 0 {
            let b = parsed
                .source
                .loaded(pos, loaded as usize)
                .ok_or_else(|| io::Error::other("internal: loaded bytes missing"))?;
            out.write_all(b)?;
            pos += loaded;
            continue;
        }
        let next = parsed.source.next_loaded(pos).unwrap_or(end).min(end);
        let file = parsed
            .source
            .file()
            .ok_or_else(|| io::Error::other("internal: bytes neither loaded nor in a file"))?;
        let mut f = file;
        f.seek(SeekFrom::Start(pos))?;
        let want = next - pos;
        let n = io::copy(&mut io::Read::take(f, want), out)?;
        if n != want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the input file became shorter while it was being copied",
            ));
        }
        pos = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::parse::parse_bytes;

    fn short(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    fn ul(tag: (u16, u16), value: u32) -> Vec<u8> {
        short(tag, b"UL", &value.to_le_bytes())
    }

    /// An explicit VR little endian file: preamble, meta (with its group length) and `body`.
    fn file(body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        let meta = short((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2.1\0");
        f.extend(ul((0x0002, 0x0000), meta.len() as u32));
        f.extend(meta);
        f.extend_from_slice(body);
        f
    }

    /// The file `changes` (by tag, at the top level) make of `bytes`, parsed again.
    fn rewritten(bytes: Vec<u8>, changes: &[(Tag, Change)]) -> Parsed {
        let parsed = parse_bytes(bytes).expect("parses");
        let changes: Vec<(usize, Change)> = changes
            .iter()
            .map(|(tag, c)| {
                let i = parsed
                    .elements
                    .iter()
                    .position(|e| e.tag == *tag)
                    .expect("element to change");
                (i, c.clone())
            })
            .collect();
        let r = render_with(&parsed, &changes, &[], false, &[]).expect("renders");
        let mut out = Vec::new();
        write_pieces(&parsed, &r.pieces, &mut out).expect("writes");
        parse_bytes(out).expect("output parses")
    }

    /// Every group length of `p` (at any depth): its value and the size of the rest of its group.
    fn group_lengths(p: &Parsed) -> Vec<(Tag, u32, u64)> {
        p.elements
            .iter()
            .enumerate()
            .filter(|(_, e)| e.tag.1 == 0)
            .map(|(i, g)| {
                let len = p
                    .elements
                    .iter()
                    .enumerate()
                    .filter(|(j, e)| *j != i && e.parent == g.parent && e.tag.0 == g.tag.0)
                    .map(|(_, e)| e.end - e.start)
                    .sum();
                (g.tag, g.enc.u32(p.value(g).expect("loaded")), len)
            })
            .collect()
    }

    #[test]
    fn a_wrong_group_length_is_written_as_its_groups_length() {
        // (0010,0000) says 4, the group takes 28 bytes: shifted by the change's -6 it wrapped.
        let mut body = ul((0x0010, 0x0000), 4);
        body.extend(short((0x0010, 0x0010), b"PN", b"DOE^JOHN"));
        body.extend(short((0x0010, 0x0020), b"LO", b"ID42"));
        let out = rewritten(file(&body), &[(Tag(0x0010, 0x0010), Change::Set(b"P1".to_vec()))]);
        for (tag, value, len) in group_lengths(&out) {
            assert_eq!(u64::from(value), len, "{tag}");
        }
        assert_eq!(out.top_string(Tag(0x0010, 0x0010)).as_deref(), Some("P1"));
    }

    #[test]
    fn a_group_left_empty_loses_its_group_length() {
        let mut body = short((0x0008, 0x0060), b"CS", b"CT");
        body.extend(ul((0x0009, 0x0000), 30));
        body.extend(short((0x0009, 0x0010), b"LO", b"ACME 1.0"));
        body.extend(short((0x0009, 0x1001), b"LO", b"hello "));
        body.extend(ul((0x0040, 0x0000), 12));
        body.extend(short((0x0040, 0x0009), b"SH", b"ANON"));
        let out = rewritten(
            file(&body),
            &[
                (Tag(0x0009, 0x0010), Change::Remove),
                (Tag(0x0009, 0x1001), Change::Remove),
                (Tag(0x0040, 0x0009), Change::Remove),
            ],
        );
        let tags: Vec<Tag> = out.elements.iter().map(|e| e.tag).collect();
        assert_eq!(tags, [Tag(2, 0), Tag(2, 0x10), Tag(8, 0x60)]);
        for (tag, value, len) in group_lengths(&out) {
            assert_eq!(u64::from(value), len, "{tag}");
        }
    }

    #[test]
    fn a_group_length_inside_an_item_goes_with_its_group_and_the_lengths_around_follow() {
        // (0008,0000), then (0008,1115) SQ of defined length with one item of defined length
        // holding (0008,0000) and (0008,1150); the item's group is emptied.
        let inner = {
            let mut i = ul((0x0008, 0x0000), 14);
            i.extend(short((0x0008, 0x1150), b"UI", b"1.2.3.4\0"));
            i
        };
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend_from_slice(&(inner.len() as u32).to_le_bytes());
        item.extend(inner);
        let mut seq = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0];
        seq.extend_from_slice(&(item.len() as u32).to_le_bytes());
        seq.extend(item);
        let mut body = ul((0x0008, 0x0000), 0);
        body.extend(short((0x0008, 0x0060), b"CS", b"CT"));
        body.extend(seq);
        let out = rewritten(file(&body), &[(Tag(0x0008, 0x1150), Change::Remove)]);
        let nested: Vec<Tag> = out.elements.iter().filter(|e| e.parent != TOP).map(|e| e.tag).collect();
        assert!(nested.is_empty(), "{nested:?}");
        assert_eq!(out.items.len(), 1);
        assert_eq!(out.items[0].length, 0, "the item is empty");
        for (tag, value, len) in group_lengths(&out) {
            assert_eq!(u64::from(value), len, "{tag}");
        }
    }
}

//! Walks one DICOM file into a flat list of elements and items with their byte offsets.
//! Large binary values (pixel data, overlays, waveforms) are located but never read.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::text::Charset;
use super::{Tag, VR, dict, tags, ts};

/// Declared length meaning "undefined length" (delimited by an item/sequence delimiter).
pub const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Index used as `parent` of top-level elements.
pub const TOP: u32 = u32::MAX;
/// Nesting deeper than this is refused: no real object comes close, a hostile one could
/// exhaust the stack.
const MAX_DEPTH: u32 = 64;
/// Values above this size are located but not loaded, whatever their tag.
const MAX_LOADED_VALUE: u32 = 16 << 20;
/// How much of a file is read at first; most headers fit.
const FIRST_READ: usize = 16 << 10;
/// An inflated (deflate transfer syntax) data set larger than this is refused: it is far
/// beyond any real object and is what a decompression bomb looks like.
const MAX_INFLATED: u64 = 4 << 30;

/// How a data set is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub explicit_vr: bool,
    pub big_endian: bool,
}

impl Encoding {
    pub const EXPLICIT_LE: Encoding = Encoding {
        explicit_vr: true,
        big_endian: false,
    };
    pub const IMPLICIT_LE: Encoding = Encoding {
        explicit_vr: false,
        big_endian: false,
    };
    pub const EXPLICIT_BE: Encoding = Encoding {
        explicit_vr: true,
        big_endian: true,
    };

    #[must_use]
    pub fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }

    #[must_use]
    pub fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    #[must_use]
    pub fn u32_bytes(self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    #[must_use]
    pub fn u16_bytes(self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
}

/// Why a file could not be read. Messages are plain, carry no path (the caller adds it) and
/// never a value from the file.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("cannot read file: {0}")]
    Io(#[from] io::Error),
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not a DICOM file: no 'DICM' marker and the content is not a DICOM data set")]
    NotDicom,
    #[error("truncated: {what} at offset {at} needs {needed} bytes but the file ends at {len}")]
    Truncated {
        what: String,
        at: u64,
        needed: u64,
        len: u64,
    },
    #[error("malformed at offset {at}: {reason}")]
    Malformed { at: u64, reason: String },
    #[error("sequences nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
    /// The UID is kept for the caller; the message names it only when it is one of DICOM's
    /// own (a UID from elsewhere is a value from the file and may say anything).
    #[error("unsupported transfer syntax {}", uid_shown(.0))]
    UnsupportedTransferSyntax(String),
    #[error("deflated data set cannot be inflated: {0}")]
    Deflate(String),
}

impl ParseError {
    /// A short machine-readable kind, used in JSON reports.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Io(_) => "io",
            ParseError::Empty => "empty",
            ParseError::NotDicom => "not-dicom",
            ParseError::Truncated { .. } => "truncated",
            ParseError::Malformed { .. } | ParseError::TooDeep => "malformed",
            ParseError::UnsupportedTransferSyntax(_) => "unsupported",
            ParseError::Deflate(_) => "malformed",
        }
    }
}

type Result<T> = std::result::Result<T, ParseError>;

/// The bytes of one file, loaded lazily in segments so that pixel data is never read.
#[derive(Debug)]
pub struct Source {
    file: Option<File>,
    len: u64,
    /// Loaded ranges, sorted by start, never overlapping.
    segs: Vec<(u64, Vec<u8>)>,
}

impl Source {
    /// The file at `path` opened for reading; small files are read into memory.
    ///
    /// # Errors
    ///
    /// An I/O error when the file cannot be opened or read.
    pub fn open(path: &Path) -> io::Result<Source> {
        Ok(Self::open_with_meta(path)?.0)
    }

    /// Opens a file and returns its metadata too (from the open file: one `stat`, and the
    /// metadata belongs to the very file that is read).
    ///
    /// # Errors
    ///
    /// An I/O error when the file cannot be opened, read or its metadata read.
    pub fn open_with_meta(path: &Path) -> io::Result<(Source, std::fs::Metadata)> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        Ok((
            Source {
                file: Some(file),
                len: meta.len(),
                segs: Vec::new(),
            },
            meta,
        ))
    }

    #[must_use]
    pub fn memory(data: Vec<u8>) -> Source {
        Source {
            file: None,
            len: data.len() as u64,
            segs: vec![(0, data)],
        }
    }

    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The open file behind this source, when there is one (for raw copies of bulk data).
    #[must_use]
    pub fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    fn seg_index(&self, off: u64) -> Option<usize> {
        // Last segment starting at or before `off`.
        let i = self.segs.partition_point(|(s, _)| *s <= off);
        i.checked_sub(1)
    }

    /// Bytes `[off, off+n)` if they are already loaded.
    #[inline]
    #[must_use]
    pub fn loaded(&self, off: u64, n: usize) -> Option<&[u8]> {
        // Nearly every access is in the first segment (the header): skip the search.
        if let Some((0, data)) = self.segs.first()
            && let (Ok(a), Some(end)) = (
                usize::try_from(off),
                usize::try_from(off).ok().and_then(|a| a.checked_add(n)),
            )
            && end <= data.len()
        {
            return data.get(a..end);
        }
        let i = self.seg_index(off)?;
        let (s, data) = &self.segs[i];
        let a = usize::try_from(off - s).ok()?;
        data.get(a..a.checked_add(n)?)
    }

    /// How many bytes from `off` (up to `end`) are loaded without a gap.
    #[must_use]
    pub fn loaded_run(&self, off: u64, end: u64) -> u64 {
        let Some(i) = self.seg_index(off) else { return 0 };
        let (s, data) = &self.segs[i];
        let seg_end = s + data.len() as u64;
        if seg_end <= off { 0 } else { seg_end.min(end) - off }
    }

    /// Start of the first loaded segment after `off`.
    #[must_use]
    pub fn next_loaded(&self, off: u64) -> Option<u64> {
        self.segs.iter().map(|(s, _)| *s).find(|s| *s > off)
    }

    /// Bytes `[off, off+n)`, reading them if needed. Errors when the file is shorter.
    fn bytes(&mut self, off: u64, n: usize, what: &dyn Fn() -> String) -> Result<&[u8]> {
        let end = off.checked_add(n as u64).ok_or_else(|| ParseError::Malformed {
            at: off,
            reason: "offset overflow".into(),
        })?;
        if end > self.len {
            return Err(ParseError::Truncated {
                what: what(),
                at: off,
                needed: n as u64,
                len: self.len,
            });
        }
        if self.loaded(off, n).is_none() {
            self.load(off, end)?;
        }
        self.loaded(off, n).ok_or_else(|| ParseError::Malformed {
            at: off,
            reason: "internal: bytes not loaded".into(),
        })
    }

    fn load(&mut self, off: u64, end: u64) -> Result<()> {
        let Some(file) = self.file.as_ref() else {
            return Err(ParseError::Malformed {
                at: off,
                reason: "internal: memory source shorter than its length".into(),
            });
        };
        // Extend the segment that ends at or covers `off` if there is one, so headers stay in
        // one contiguous buffer; otherwise start a new segment (after a skipped bulk value).
        let idx = self
            .seg_index(off)
            .filter(|&i| self.segs[i].0 + self.segs[i].1.len() as u64 >= off);
        let (seg_start, cur_len) = match idx {
            Some(i) => (self.segs[i].0, self.segs[i].1.len()),
            None => (off, 0),
        };
        let have_end = seg_start + cur_len as u64;
        let chunk = (cur_len.max(FIRST_READ) as u64).max(end - have_end);
        let mut read_end = (have_end + chunk).min(self.len);
        // Never read into the next segment.
        if let Some(next) = self.segs.iter().map(|(s, _)| *s).find(|s| *s > seg_start) {
            read_end = read_end.min(next).max(end);
        }
        let want = read_end - have_end;
        // One positioned read of the whole range (no seek; `read_to_end` would split it into
        // 8 KiB steps). Zero-filling the range first costs less than a system call.
        let read_into = |buf: &mut Vec<u8>| -> io::Result<()> {
            let before = buf.len();
            buf.resize(before + want as usize, 0);
            let r = read_exact_at(file, &mut buf[before..], have_end);
            if r.is_err() {
                buf.truncate(before);
            }
            r
        };
        if let Some(i) = idx {
            read_into(&mut self.segs[i].1)?
        } else {
            let mut buf = Vec::new();
            read_into(&mut buf)?;
            let pos = self.segs.partition_point(|(s, _)| *s < seg_start);
            self.segs.insert(pos, (seg_start, buf));
        }
        Ok(())
    }

    /// Reads a small header at `off` without keeping it (used to hop over pixel data fragments).
    fn peek8(&mut self, off: u64) -> Result<[u8; 8]> {
        if let Some(b) = self.loaded(off, 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            return Ok(a);
        }
        if off + 8 > self.len {
            return Err(ParseError::Truncated {
                what: "item header in encapsulated pixel data".into(),
                at: off,
                needed: 8,
                len: self.len,
            });
        }
        let mut a = [0u8; 8];
        match &self.file {
            Some(f) => read_exact_at(f, &mut a, off)?,
            None => {
                return Err(ParseError::Malformed {
                    at: off,
                    reason: "internal: memory source shorter than its length".into(),
                });
            }
        }
        Ok(a)
    }
}

#[cfg(unix)]
pub(crate) fn read_exact_at(f: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, off)
}

#[cfg(not(unix))]
pub(crate) fn read_exact_at(f: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        let n = f.seek_read(&mut buf[done..], off + done as u64)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
    }
    Ok(())
}

/// What sort of value an element holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementKind {
    /// A value loaded into memory.
    Value,
    /// A large binary value that was located but not read.
    Bulk,
    /// A sequence of items.
    Sequence,
    /// Encapsulated (compressed) pixel data: fragments, located but not read.
    Encapsulated,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub tag: Tag,
    /// The VR as written (explicit VR) or looked up (implicit VR; UN when unknown).
    pub vr: VR,
    /// Offset of the element header.
    pub start: u64,
    pub value_start: u64,
    /// Declared value length, [`UNDEFINED`] for delimited sequences and encapsulated data.
    pub length: u32,
    /// Offset just past the element, delimiters included.
    pub end: u64,
    /// The item this element belongs to, [`TOP`] for the top level.
    pub parent: u32,
    pub kind: ElementKind,
    /// The encoding of this element's header and value.
    pub enc: Encoding,
}

impl Element {
    #[must_use]
    pub fn value_len(&self) -> u64 {
        if self.length == UNDEFINED {
            self.end - self.value_start
        } else {
            u64::from(self.length)
        }
    }

    /// Where the length field of the header sits and how wide it is.
    #[must_use]
    pub fn length_field(&self) -> (u64, usize) {
        if !self.enc.explicit_vr {
            (self.start + 4, 4)
        } else if self.value_start - self.start == 12 {
            (self.start + 8, 4)
        } else {
            (self.start + 6, 2)
        }
    }

    /// The VR to interpret the value with: a UN element of a known tag is read as the
    /// dictionary says (PS3.5 6.2.2).
    #[must_use]
    pub fn value_vr(&self) -> VR {
        if self.vr == VR::UN {
            dict::vr_of(self.tag).unwrap_or(VR::UN)
        } else {
            self.vr
        }
    }

    #[must_use]
    pub fn is_meta(&self) -> bool {
        self.tag.0 == 0x0002 && self.parent == TOP
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    /// The sequence element that holds this item.
    pub parent: u32,
    /// Position within the sequence, from 0.
    pub index: u32,
    pub start: u64,
    pub length: u32,
    pub end: u64,
}

/// How the file is laid out before its data set starts.
#[derive(Debug, Clone)]
pub struct Layout {
    /// A 128-byte preamble followed by "DICM".
    pub preamble: bool,
    /// A file meta group (0002,xxxx) is present.
    pub has_meta: bool,
    /// Offset of the first data set element (in the source; for deflated files the source
    /// holds the inflated data set from here on).
    pub dataset_start: u64,
    /// Transfer syntax as declared in the file meta, or inferred for raw data sets.
    pub transfer_syntax: String,
    pub ts_declared: bool,
    pub encoding: Encoding,
    pub deflated: bool,
    pub encapsulated: bool,
    /// Length of the file on disk.
    pub file_len: u64,
}

/// One parsed file: its layout, elements and items, and the bytes that were read.
#[derive(Debug)]
pub struct Parsed {
    pub layout: Layout,
    pub elements: Vec<Element>,
    pub items: Vec<Item>,
    pub source: Source,
    pub charset: Charset,
    /// Indexes of the top-level elements, sorted by tag (first of duplicates first).
    top: Vec<u32>,
    /// Elements that repeat an earlier element of their data set byte for byte (ascending):
    /// read as the first, never written.
    copies: Vec<usize>,
}

/// Reads a file's structure. Pixel data and other bulk values are located, not read.
///
/// # Errors
///
/// A `ParseError` when the file cannot be read or is not a DICOM file dams can read.
pub fn parse_file(path: &Path) -> Result<Parsed> {
    let source = Source::open(path)?;
    parse_source(source)
}

/// Like [`parse_file`], and also returns the metadata of the file that was read.
///
/// # Errors
///
/// A `ParseError` when the file cannot be read or is not a DICOM file dams can read.
pub fn parse_file_meta(path: &Path) -> Result<(Parsed, std::fs::Metadata)> {
    let (source, meta) = Source::open_with_meta(path)?;
    Ok((parse_source(source)?, meta))
}

/// The structure of a DICOM file held in memory.
///
/// # Errors
///
/// A `ParseError` when the bytes are not a DICOM file dams can read.
pub fn parse_bytes(data: Vec<u8>) -> Result<Parsed> {
    parse_source(Source::memory(data))
}

fn parse_source(mut source: Source) -> Result<Parsed> {
    if source.is_empty() {
        return Err(ParseError::Empty);
    }
    let file_len = source.len();
    let mut w = Walker {
        src: &mut source,
        elements: Vec::with_capacity(128),
        items: Vec::new(),
        copies: Vec::new(),
    };
    let head_len = file_len.min(132) as usize;
    let head = w.src.bytes(0, head_len, &|| "file start".into())?.to_vec();

    let (preamble, meta_start) = if head.len() >= 132 && &head[128..132] == b"DICM" {
        (true, Some(132))
    } else if head.len() >= 4 && &head[0..4] == b"DICM" {
        (false, Some(4))
    } else if looks_like_meta(&head) {
        (false, Some(0))
    } else {
        (false, None)
    };

    let mut ts_uid = None;
    let dataset_start = match meta_start {
        Some(start) => {
            let (end, uid) = w.meta(start)?;
            ts_uid = uid;
            end
        }
        None => 0,
    };
    let has_meta = meta_start.is_some() && dataset_start > meta_start.unwrap_or(0);

    let (encoding, deflated, ts_name, ts_declared) = if let Some(uid) = &ts_uid {
        let (enc, deflated) = encoding_of(uid)?;
        (enc, deflated, uid.clone(), true)
    } else {
        if dataset_start >= file_len {
            return Err(if has_meta {
                ParseError::Malformed {
                    at: dataset_start,
                    reason: "file meta information but no data set".into(),
                }
            } else {
                ParseError::NotDicom
            });
        }
        let enc = w.sniff(dataset_start, meta_start.is_none())?;
        (enc, false, sniffed_name(enc).to_string(), false)
    };

    if deflated {
        inflate_into(w.src, dataset_start)?;
    }
    let encoding = w.check_declared(dataset_start, encoding)?;
    // A data set without a declared transfer syntax is named by how it is really encoded
    // (the check may have found explicit VR where the sniff guessed implicit): a Part 10 file
    // made for it must say what its data set is.
    let ts_name = if ts_declared {
        ts_name
    } else {
        sniffed_name(encoding).to_string()
    };
    let total = w.src.len();
    w.dataset(dataset_start, Some(total), TOP, encoding, 0)?;

    let encapsulated = w
        .elements
        .iter()
        .any(|e| e.tag == tags::PIXEL_DATA && e.parent == TOP && e.kind == ElementKind::Encapsulated);
    let Walker {
        elements,
        items,
        mut copies,
        ..
    } = w;
    // A copy inside a copy is found before the copy holding it.
    copies.sort_unstable();
    let mut top: Vec<u32> = (0..elements.len() as u32)
        .filter(|&i| elements[i as usize].parent == TOP)
        .collect();
    // Files are meant to be in tag order; a stable sort keeps the first of duplicates first.
    top.sort_by_key(|&i| elements[i as usize].tag);
    let mut parsed = Parsed {
        layout: Layout {
            preamble,
            has_meta,
            dataset_start,
            transfer_syntax: ts_name,
            ts_declared,
            encoding,
            deflated,
            encapsulated,
            file_len,
        },
        elements,
        items,
        source,
        charset: Charset::default(),
        top,
        copies,
    };
    parsed.charset = parsed
        .top_string(tags::SPECIFIC_CHARACTER_SET)
        .map(|s| Charset::from_value(&s))
        .unwrap_or_default();
    Ok(parsed)
}

/// (encoding, deflated) for a declared transfer syntax.
fn encoding_of(uid: &str) -> Result<(Encoding, bool)> {
    Ok(match uid {
        ts::IMPLICIT_VR_LITTLE_ENDIAN => (Encoding::IMPLICIT_LE, false),
        ts::EXPLICIT_VR_BIG_ENDIAN => (Encoding::EXPLICIT_BE, false),
        ts::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN | ts::JPIP_REFERENCED_DEFLATE => (Encoding::EXPLICIT_LE, true),
        other => {
            if TransferSyntaxRegistry.get(other).is_none() {
                return Err(ParseError::UnsupportedTransferSyntax(other.to_string()));
            }
            (Encoding::EXPLICIT_LE, false)
        }
    })
}

/// Name of a transfer syntax for display ("Explicit VR Little Endian").
#[must_use]
pub fn transfer_syntax_name(uid: &str) -> String {
    TransferSyntaxRegistry
        .get(uid)
        .map_or_else(|| uid_shown(uid), |t| t.name().to_string())
}

/// A UID read from a file, as dams' messages may show it: a UID under DICOM's own root
/// (`1.2.840.10008.`, where every standard transfer syntax and SOP class lives) as it is;
/// anything else is a value from the file, which messages never quote.
#[must_use]
pub fn uid_shown(uid: &str) -> String {
    let uid = uid.trim_end_matches(['\0', ' ']);
    let standard =
        uid.starts_with("1.2.840.10008.") && uid.len() <= 64 && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if standard {
        uid.to_string()
    } else {
        "(a UID that is not DICOM's own, not shown)".to_string()
    }
}

fn looks_like_meta(head: &[u8]) -> bool {
    head.len() >= 8 && head[0..2] == [0x02, 0x00] && VR::from_binary([head[4], head[5]]).is_some()
}

/// Replaces the source with one holding the meta bytes followed by the inflated data set.
fn inflate_into(src: &mut Source, dataset_start: u64) -> Result<()> {
    let mut head = vec![0u8; dataset_start as usize];
    let mut compressed = Vec::new();
    if let Some(file) = src.file.take() {
        use std::io::{Seek, SeekFrom};
        read_exact_at(&file, &mut head, 0)?;
        let mut f = &file;
        f.seek(SeekFrom::Start(dataset_start))?;
        f.read_to_end(&mut compressed)?;
    } else {
        let all = src
            .loaded(0, src.len() as usize)
            .ok_or_else(|| ParseError::Deflate("internal: bytes not loaded".into()))?;
        head.copy_from_slice(&all[..dataset_start as usize]);
        compressed.extend_from_slice(&all[dataset_start as usize..]);
    }
    let mut out = head;
    let decoder = flate2::read::DeflateDecoder::new(&compressed[..]);
    decoder
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| ParseError::Deflate(e.to_string()))?;
    if out.len() as u64 > MAX_INFLATED + dataset_start {
        return Err(ParseError::Deflate("inflated data set is larger than 4 GiB".into()));
    }
    *src = Source::memory(out);
    Ok(())
}

struct Walker<'a> {
    src: &'a mut Source,
    elements: Vec<Element>,
    items: Vec<Item>,
    /// Elements that repeat an earlier one of their data set byte for byte.
    copies: Vec<usize>,
}

/// Whether a VR's length is 32 bits in Explicit VR (PS3.5 Table 7.1-1).
pub(crate) fn is_long_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::OW
            | VR::SQ
            | VR::SV
            | VR::UC
            | VR::UN
            | VR::UR
            | VR::UT
            | VR::UV
    )
}

fn is_binary_vr(vr: VR) -> bool {
    matches!(vr, VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN)
}

/// Values that are located but never loaded: image and signal data, and anything huge.
fn is_bulk(tag: Tag, vr: VR, len: u32) -> bool {
    let bulk_tag = matches!(tag, Tag(0x7FE0, 0x0008..=0x0010))
        || (tag.0 & 0xFF01 == 0x6000 && tag.1 == 0x3000)
        || tag == tags::WAVEFORM_DATA
        || tag == tags::SPECTROSCOPY_DATA;
    (bulk_tag && len > 0) || (is_binary_vr(vr) && len > (1 << 20)) || len > MAX_LOADED_VALUE
}

impl Walker<'_> {
    /// Parses the file meta group (always explicit VR little endian) from `start`.
    /// Returns the offset where the data set begins and the transfer syntax UID, if declared.
    fn meta(&mut self, start: u64) -> Result<(u64, Option<String>)> {
        let mut pos = start;
        let mut ts_uid = None;
        let len = self.src.len();
        let first = self.elements.len();
        let mut dups = Duplicates::default();
        while pos + 8 <= len {
            let b = self.src.bytes(pos, 4, &|| "file meta".into())?;
            let tag = Tag(u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]));
            if tag.0 != 0x0002 {
                break;
            }
            // Two transfer syntaxes (or SOP instance UIDs) in one meta group: dams would read
            // one and another reader the other (unless both are the same bytes).
            let twice = dups.seen_before(tag, (&self.elements[first..], first), TOP);
            let idx = self.element(pos, TOP, Encoding::EXPLICIT_LE, 0)?;
            if twice {
                self.repeated(dups.first_of(tag, &self.elements), idx)?;
            } else {
                dups.note(tag, idx);
            }
            let e = &self.elements[idx];
            if e.tag == tags::TRANSFER_SYNTAX_UID
                && e.kind == ElementKind::Value
                && let Some(v) = self.src.loaded(e.value_start, e.length as usize)
            {
                let s = String::from_utf8_lossy(v)
                    .trim_end_matches(['\0', ' '])
                    .trim()
                    .to_string();
                if !s.is_empty() {
                    ts_uid = Some(s);
                }
            }
            pos = e.end;
        }
        Ok((pos, ts_uid))
    }

    /// Guesses the encoding of a data set that has no transfer syntax (raw data sets and
    /// meta groups without one) from its first element, and checks it is DICOM at all.
    fn sniff(&mut self, pos: u64, raw: bool) -> Result<Encoding> {
        let avail = (self.src.len() - pos).min(8) as usize;
        if avail < 8 {
            return Err(ParseError::NotDicom);
        }
        let b = self.src.bytes(pos, 8, &|| "first element".into())?.to_vec();
        let vr_ok = VR::from_binary([b[4], b[5]]).is_some();
        let group_le = u16::from_le_bytes([b[0], b[1]]);
        let group_be = u16::from_be_bytes([b[0], b[1]]);
        let plausible = |g: u16| g != 0 && g <= 0x00FF && g.is_multiple_of(2);
        let enc = if vr_ok && plausible(group_le) {
            Encoding::EXPLICIT_LE
        } else if vr_ok && plausible(group_be) {
            Encoding::EXPLICIT_BE
        } else if plausible(group_le) || !raw {
            // With a file meta group we know it is DICOM; implicit VR is the default.
            Encoding::IMPLICIT_LE
        } else {
            return Err(ParseError::NotDicom);
        };
        if raw {
            // A raw data set must parse for a few elements to count as DICOM at all; a text
            // file that happens to start with plausible bytes is turned away here.
            let mut probe = Walker {
                src: &mut *self.src,
                elements: Vec::new(),
                items: Vec::new(),
                copies: Vec::new(),
            };
            let mut p = pos;
            let mut last = Tag(0, 0);
            for _ in 0..3 {
                if p >= probe.src.len() {
                    break;
                }
                let idx = probe.element(p, TOP, enc, 0).map_err(|_| ParseError::NotDicom)?;
                let e = &probe.elements[idx];
                if e.tag < last {
                    return Err(ParseError::NotDicom);
                }
                last = e.tag;
                p = e.end;
            }
        }
        Ok(enc)
    }

    /// Some writers declare explicit VR and write implicit VR (or the reverse). Like pydicom,
    /// believe the bytes: if the first element cannot be read as declared but can the other
    /// way, read (and later write) the data set as it really is.
    fn check_declared(&mut self, pos: u64, declared: Encoding) -> Result<Encoding> {
        if self.src.len() < pos + 8 {
            return Ok(declared);
        }
        let b = self.src.bytes(pos, 8, &|| "first element".into())?;
        let vr_ok = VR::from_binary([b[4], b[5]]).is_some();
        let flipped = Encoding {
            explicit_vr: !declared.explicit_vr,
            ..declared
        };
        if declared.explicit_vr && !vr_ok {
            return Ok(flipped);
        }
        if !declared.explicit_vr && vr_ok && b[4].is_ascii_uppercase() {
            let implicit_len = u64::from(declared.u32(&b[4..8]));
            if implicit_len != u64::from(UNDEFINED) && pos + 8 + implicit_len > self.src.len() {
                return Ok(flipped);
            }
        }
        Ok(declared)
    }

    /// Parses the elements of a data set between `start` and `end` (`None`: until an item
    /// delimiter). Returns the offset after the data set, delimiter included.
    fn dataset(&mut self, start: u64, end: Option<u64>, parent: u32, enc: Encoding, depth: u32) -> Result<u64> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        let mut pos = start;
        let len = self.src.len();
        let first = self.elements.len();
        let mut dups = Duplicates::default();
        loop {
            if let Some(e) = end {
                if pos == e {
                    return Ok(e);
                }
                if parent == TOP && self.only_padding_left(pos)? {
                    return Ok(len);
                }
            }
            if pos >= len {
                return Err(ParseError::Truncated {
                    what: "item without its delimiter".into(),
                    at: pos,
                    needed: 8,
                    len,
                });
            }
            let b = self.src.bytes(pos, 4, &|| "element tag".into())?;
            let tag = Tag(enc.u16(&b[0..2]), enc.u16(&b[2..4]));
            if tag == tags::ITEM_DELIMITATION {
                if end.is_none() {
                    return Ok(pos + 8);
                }
                return Err(malformed(pos, "item delimiter inside an item of defined length"));
            }
            if tag.0 == 0xFFFE {
                return Err(malformed(
                    pos,
                    format!("unexpected {} among data elements", super::tag_string(tag)),
                ));
            }
            if parent == TOP && tag.0 == 0x0002 {
                // File meta elements belong before the data set. Found inside it (after an
                // element of another group ended the meta group), readers disagree on what
                // they mean, and removing the element in between would make them the meta.
                return Err(malformed(
                    pos,
                    format!("file meta element {} inside the data set", super::tag_string(tag)),
                ));
            }
            let twice = dups.seen_before(tag, (&self.elements[first..], first), parent);
            let idx = self.element(pos, parent, enc, depth)?;
            if twice {
                self.repeated(dups.first_of(tag, &self.elements), idx)?;
            } else {
                dups.note(tag, idx);
            }
            let next = self.elements[idx].end;
            if let Some(e) = end
                && next > e
            {
                return Err(malformed(
                    pos,
                    format!(
                        "element {} runs past the end of its {}",
                        super::tag_string(tag),
                        if parent == TOP { "file" } else { "item" }
                    ),
                ));
            }
            pos = next;
        }
    }

    /// True when only zero bytes (or fewer than a header) are left: tolerated trailing padding.
    fn only_padding_left(&mut self, pos: u64) -> Result<bool> {
        let len = self.src.len();
        let rest = len - pos;
        if rest >= 8 {
            let b = self.src.bytes(pos, 8, &|| "element header".into())?;
            if b != [0u8; 8] {
                return Ok(false);
            }
        }
        if rest > 1 << 20 {
            return Ok(false);
        }
        let b = self.src.bytes(pos, rest as usize, &|| "trailing bytes".into())?;
        if b.iter().all(|&x| x == 0) {
            return Ok(true);
        }
        if rest < 8 {
            return Err(ParseError::Truncated {
                what: "element header".into(),
                at: pos,
                needed: 8,
                len,
            });
        }
        Ok(false)
    }

    /// Parses one element at `pos` and everything inside it; returns its index.
    fn element(&mut self, pos: u64, parent: u32, enc: Encoding, depth: u32) -> Result<usize> {
        let b = self.src.bytes(pos, 8, &|| "element header".into())?;
        let tag = Tag(enc.u16(&b[0..2]), enc.u16(&b[2..4]));
        let (vr, length, value_start) = if enc.explicit_vr {
            let Some(vr) = VR::from_binary([b[4], b[5]]) else {
                return Err(malformed(
                    pos,
                    format!("element {} has an invalid VR", super::tag_string(tag)),
                ));
            };
            if is_long_vr(vr) {
                let b = self
                    .src
                    .bytes(pos, 12, &|| format!("header of {}", super::tag_string(tag)))?;
                (vr, enc.u32(&b[8..12]), pos + 12)
            } else {
                (vr, u32::from(enc.u16(&b[6..8])), pos + 8)
            }
        } else {
            let vr = dict::vr_of(tag).unwrap_or(VR::UN);
            (vr, enc.u32(&b[4..8]), pos + 8)
        };

        let idx = self.elements.len();
        self.elements.push(Element {
            tag,
            vr,
            start: pos,
            value_start,
            length,
            end: value_start,
            parent,
            kind: ElementKind::Value,
            enc,
        });

        let undefined = length == UNDEFINED;
        // The dictionary is asked only where the VR as written is not enough (a look-up per
        // element would be most of the parse on the hot path).
        let dict_sq = || dict::vr_of(tag) == Some(VR::SQ);
        let (kind, end) = if undefined && (tag == tags::PIXEL_DATA || vr == VR::OB || vr == VR::OW) && !dict_sq() {
            (ElementKind::Encapsulated, self.fragments(value_start, tag)?)
        } else if vr == VR::SQ || (undefined && (vr == VR::UN || !enc.explicit_vr)) || (vr == VR::UN && dict_sq()) {
            // UN-encoded sequences are implicit VR little endian inside (PS3.5 6.2.2).
            let inner = if vr == VR::UN { Encoding::IMPLICIT_LE } else { enc };
            (
                ElementKind::Sequence,
                self.sequence(idx, value_start, length, inner, depth)?,
            )
        } else if undefined {
            return Err(malformed(
                pos,
                format!("element {} ({vr:?}) has undefined length", super::tag_string(tag)),
            ));
        } else if self.maybe_hidden_sequence(tag, vr, enc, value_start, length) {
            // Private data of unknown VR that starts like a sequence: read it as one if it
            // parses, otherwise keep it as an opaque value.
            let mark = (self.elements.len(), self.items.len());
            let inner = if vr == VR::UN { Encoding::IMPLICIT_LE } else { enc };
            if let Ok(end) = self.sequence(idx, value_start, length, inner, depth) {
                (ElementKind::Sequence, end)
            } else {
                self.elements.truncate(mark.0);
                self.items.truncate(mark.1);
                self.copies.retain(|&c| c < mark.0);
                (
                    self.value(tag, vr, value_start, length)?,
                    value_start + u64::from(length),
                )
            }
        } else {
            (
                self.value(tag, vr, value_start, length)?,
                value_start + u64::from(length),
            )
        };
        let e = &mut self.elements[idx];
        e.kind = kind;
        e.end = end;
        Ok(idx)
    }

    /// Element `idx` has the tag of an earlier element of its data set (element `first`). The same bytes twice (a writer that wrote one element twice) say
    /// one thing: the copy is read as the first and not written. Two values are refused:
    /// readers disagree on which one counts.
    fn repeated(&mut self, first: Option<usize>, idx: usize) -> Result<()> {
        let e = &self.elements[idx];
        let (tag, start, len) = (e.tag, e.start, e.end - e.start);
        let earlier = first
            .and_then(|i| self.elements.get(i))
            .map(|o| (o.start, o.end - o.start));
        match earlier {
            Some((at, n)) if n == len && self.same_range(at, start, len)? => {
                self.copies.push(idx);
                Ok(())
            }
            _ => Err(duplicate(start, tag)),
        }
    }

    /// Whether the `len` bytes at `a` and at `b` are the same, read a piece at a time (a
    /// repeated value may be bulk data that is never loaded).
    fn same_range(&mut self, a: u64, b: u64, len: u64) -> Result<bool> {
        const PIECE: u64 = 64 << 10;
        let mut off = 0;
        while off < len {
            let n = (len - off).min(PIECE) as usize;
            let first = self.read_piece(a + off, n)?;
            if first != self.read_piece(b + off, n)? {
                return Ok(false);
            }
            off += n as u64;
        }
        Ok(true)
    }

    /// `n` bytes at `off`, from memory when loaded, else read without keeping them.
    fn read_piece(&self, off: u64, n: usize) -> Result<Vec<u8>> {
        if let Some(b) = self.src.loaded(off, n) {
            return Ok(b.to_vec());
        }
        let mut buf = vec![0u8; n];
        match self.src.file() {
            Some(f) => read_exact_at(f, &mut buf, off)?,
            None => return Err(malformed(off, "internal: bytes neither loaded nor in a file")),
        }
        Ok(buf)
    }

    fn maybe_hidden_sequence(&mut self, tag: Tag, vr: VR, enc: Encoding, value_start: u64, length: u32) -> bool {
        if length < 8 || vr != VR::UN || dict::vr_of(tag).is_some_and(|v| v != VR::UN) {
            return false;
        }
        let _ = enc;
        match self.src.bytes(value_start, 4, &|| String::new()) {
            Ok(b) => b == [0xFE, 0xFF, 0x00, 0xE0],
            Err(_) => false,
        }
    }

    /// Checks a plain value fits in the file and loads it unless it is bulk.
    fn value(&mut self, tag: Tag, vr: VR, value_start: u64, length: u32) -> Result<ElementKind> {
        let end = value_start + u64::from(length);
        if end > self.src.len() {
            return Err(ParseError::Truncated {
                what: format!("value of {}", super::tag_string(tag)),
                at: value_start,
                needed: u64::from(length),
                len: self.src.len(),
            });
        }
        if is_bulk(tag, vr, length) {
            return Ok(ElementKind::Bulk);
        }
        self.src.bytes(value_start, length as usize, &|| {
            format!("value of {}", super::tag_string(tag))
        })?;
        Ok(ElementKind::Value)
    }

    /// Hops over the fragments of encapsulated pixel data; returns the offset after them.
    fn fragments(&mut self, start: u64, tag: Tag) -> Result<u64> {
        let mut pos = start;
        loop {
            let b = self.src.peek8(pos)?;
            let t = Tag(u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]));
            let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            if t == tags::SEQUENCE_DELIMITATION {
                return Ok(pos + 8);
            }
            if t != tags::ITEM || len == UNDEFINED {
                return Err(malformed(
                    pos,
                    format!("encapsulated {} has a broken fragment", super::tag_string(tag)),
                ));
            }
            let next = pos + 8 + u64::from(len);
            if next > self.src.len() {
                return Err(ParseError::Truncated {
                    what: format!("fragment of {}", super::tag_string(tag)),
                    at: pos + 8,
                    needed: u64::from(len),
                    len: self.src.len(),
                });
            }
            pos = next;
        }
    }

    /// Parses the items of a sequence; returns the offset after the sequence.
    fn sequence(&mut self, elem: usize, start: u64, length: u32, enc: Encoding, depth: u32) -> Result<u64> {
        let tag = self.elements[elem].tag;
        let end = if length == UNDEFINED {
            None
        } else {
            let e = start + u64::from(length);
            if e > self.src.len() {
                return Err(ParseError::Truncated {
                    what: format!("sequence {}", super::tag_string(tag)),
                    at: start,
                    needed: u64::from(length),
                    len: self.src.len(),
                });
            }
            Some(e)
        };
        let mut pos = start;
        let mut index = 0u32;
        loop {
            if let Some(e) = end {
                if pos == e {
                    return Ok(e);
                }
                if pos > e {
                    return Err(malformed(
                        pos,
                        format!("items run past the end of sequence {}", super::tag_string(tag)),
                    ));
                }
            }
            let b = self
                .src
                .bytes(pos, 8, &|| format!("item header in {}", super::tag_string(tag)))?;
            let t = Tag(enc.u16(&b[0..2]), enc.u16(&b[2..4]));
            let ilen = enc.u32(&b[4..8]);
            if t == tags::SEQUENCE_DELIMITATION && end.is_none() {
                return Ok(pos + 8);
            }
            if t != tags::ITEM {
                return Err(malformed(
                    pos,
                    format!(
                        "expected an item in sequence {}, found {}",
                        super::tag_string(tag),
                        super::tag_string(t)
                    ),
                ));
            }
            let item = self.items.len() as u32;
            self.items.push(Item {
                parent: elem as u32,
                index,
                start: pos,
                length: ilen,
                end: pos + 8,
            });
            let item_end = if ilen == UNDEFINED {
                self.dataset(pos + 8, None, item, enc, depth + 1)?
            } else {
                let e = pos + 8 + u64::from(ilen);
                if e > self.src.len() {
                    return Err(ParseError::Truncated {
                        what: format!("item in sequence {}", super::tag_string(tag)),
                        at: pos + 8,
                        needed: u64::from(ilen),
                        len: self.src.len(),
                    });
                }
                self.dataset(pos + 8, Some(e), item, enc, depth + 1)?
            };
            self.items[item as usize].end = item_end;
            pos = item_end;
            index += 1;
        }
    }
}

/// Finds a tag that occurs twice among the elements of one data set. Tags normally ascend,
/// so comparing with the previous one is enough; only a data set out of order pays for a set
/// (built once, so hostile input stays linear).
#[derive(Default)]
struct Duplicates {
    last: Option<Tag>,
    /// The last element noted (the first of its tag): what a repeat in order is compared with.
    last_idx: Option<usize>,
    /// Once tags come out of order: where each tag first stands in the data set.
    seen: Option<std::collections::HashMap<Tag, usize>>,
}

impl Duplicates {
    /// `elements` are those parsed since the data set began (descendants included), the
    /// first of them at index `first`.
    fn seen_before(&mut self, tag: Tag, (elements, first): (&[Element], usize), parent: u32) -> bool {
        let last = self.last.replace(tag);
        if let Some(seen) = &self.seen {
            return seen.contains_key(&tag);
        }
        match last {
            None => false,
            Some(l) if tag > l => false,
            Some(l) if tag == l => true,
            Some(_) => {
                let mut seen = std::collections::HashMap::new();
                for (i, e) in elements.iter().enumerate().filter(|(_, e)| e.parent == parent) {
                    seen.entry(e.tag).or_insert(first + i);
                }
                let dup = seen.contains_key(&tag);
                self.seen = Some(seen);
                dup
            }
        }
    }

    /// Element `idx` is the first of its tag in the data set.
    fn note(&mut self, tag: Tag, idx: usize) {
        self.last_idx = Some(idx);
        if let Some(seen) = &mut self.seen {
            seen.entry(tag).or_insert(idx);
        }
    }

    /// The first element of `tag` in the data set (a repeat is compared with it without a
    /// search: a file of many doubled elements was quadratic).
    fn first_of(&self, tag: Tag, elements: &[Element]) -> Option<usize> {
        match &self.seen {
            Some(seen) => seen.get(&tag).copied(),
            None => self.last_idx.filter(|&i| elements.get(i).is_some_and(|e| e.tag == tag)),
        }
    }
}

/// The transfer syntax of a data set read without a declared one.
fn sniffed_name(enc: Encoding) -> &'static str {
    match (enc.explicit_vr, enc.big_endian) {
        (false, _) => ts::IMPLICIT_VR_LITTLE_ENDIAN,
        (true, false) => ts::EXPLICIT_VR_LITTLE_ENDIAN,
        (true, true) => ts::EXPLICIT_VR_BIG_ENDIAN,
    }
}

fn duplicate(at: u64, tag: Tag) -> ParseError {
    malformed(
        at,
        format!(
            "element {} appears twice in the same data set; readers disagree on which one counts",
            super::tag_string(tag)
        ),
    )
}

fn malformed(at: u64, reason: impl Into<String>) -> ParseError {
    ParseError::Malformed {
        at,
        reason: reason.into(),
    }
}

impl Parsed {
    /// Reads `buf.len()` bytes at `off`, from memory when loaded, else from the file.
    ///
    /// # Errors
    ///
    /// An I/O error when the bytes cannot be read from the file (it is shorter than it was, say).
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        if let Some(b) = self.source.loaded(off, buf.len()) {
            buf.copy_from_slice(b);
            return Ok(());
        }
        match self.source.file() {
            Some(f) => read_exact_at(f, buf, off),
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }

    /// The loaded value of an element (`None` for sequences and bulk data).
    #[must_use]
    pub fn value(&self, e: &Element) -> Option<&[u8]> {
        match e.kind {
            ElementKind::Value => self.source.loaded(e.value_start, e.length as usize),
            _ => None,
        }
    }

    /// Whether element `i` lies inside (at any depth) an element marked in `marked` (indexed
    /// like `elements`).
    #[must_use]
    pub fn within(&self, i: usize, marked: &[bool]) -> bool {
        let mut parent = self.elements[i].parent;
        while parent != TOP {
            let seq = self.items[parent as usize].parent as usize;
            if marked.get(seq).copied().unwrap_or(false) {
                return true;
            }
            parent = self.elements[seq].parent;
        }
        false
    }

    /// Elements that repeat an earlier element of their data set byte for byte (ascending):
    /// the earlier one is what the file says; a rewrite drops the copy.
    #[must_use]
    pub fn copies(&self) -> &[usize] {
        &self.copies
    }

    /// Whether element `i` is a copy ([`Parsed::copies`]) or lies inside one.
    #[must_use]
    pub fn in_copy(&self, i: usize) -> bool {
        if self.copies.is_empty() {
            return false;
        }
        if self.copies.binary_search(&i).is_ok() {
            return true;
        }
        let mut parent = self.elements[i].parent;
        while parent != TOP {
            let seq = self.items[parent as usize].parent as usize;
            if self.copies.binary_search(&seq).is_ok() {
                return true;
            }
            parent = self.elements[seq].parent;
        }
        false
    }

    /// The first top-level element with this tag.
    #[must_use]
    pub fn top(&self, tag: Tag) -> Option<&Element> {
        let i = self.top.partition_point(|&i| self.elements[i as usize].tag < tag);
        self.top
            .get(i)
            .map(|&i| &self.elements[i as usize])
            .filter(|e| e.tag == tag)
    }

    /// Where the first top-level element with this tag is in [`Parsed::elements`].
    #[must_use]
    pub fn top_index(&self, tag: Tag) -> Option<usize> {
        let i = self.top.partition_point(|&i| self.elements[i as usize].tag < tag);
        self.top
            .get(i)
            .map(|&i| i as usize)
            .filter(|&i| self.elements[i].tag == tag)
    }

    /// A top-level value as text (decoded with the file's character set, trimmed).
    #[must_use]
    pub fn top_string(&self, tag: Tag) -> Option<String> {
        let e = self.top(tag)?;
        let v = self.value(e)?;
        Some(super::text::decode(v, e.value_vr(), &self.charset, e.enc))
    }

    /// The elements directly inside an item, in file order.
    pub fn children(&self, item: u32) -> impl Iterator<Item = (usize, &Element)> {
        self.elements.iter().enumerate().filter(move |(_, e)| e.parent == item)
    }

    /// The items of a sequence element, in order.
    pub fn items_of(&self, elem: usize) -> impl Iterator<Item = (u32, &Item)> {
        self.items
            .iter()
            .enumerate()
            .filter(move |(_, it)| it.parent as usize == elem)
            .map(|(i, it)| (i as u32, it))
    }

    /// The chain of (sequence tag, item index) from the top level down to the element.
    #[must_use]
    pub fn ancestry(&self, elem: usize) -> Vec<(Tag, u32)> {
        let mut chain = Vec::new();
        let mut parent = self.elements[elem].parent;
        while parent != TOP {
            let item = &self.items[parent as usize];
            let seq = &self.elements[item.parent as usize];
            chain.push((seq.tag, item.index));
            parent = seq.parent;
        }
        chain.reverse();
        chain
    }

    /// A readable path to an element: `(0008,1115)[0]/(0008,1155)`.
    #[must_use]
    pub fn path(&self, elem: usize) -> String {
        let mut s = String::new();
        for (tag, index) in self.ancestry(elem) {
            s.push_str(&super::tag_string(tag));
            s.push_str(&format!("[{index}]/"));
        }
        s.push_str(&super::tag_string(self.elements[elem].tag));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny explicit VR little endian file built by hand.
    fn explicit_file(body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        let ts = b"1.2.840.10008.1.2.1\0";
        let mut meta = Vec::new();
        meta.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        meta.extend_from_slice(&(ts.len() as u16).to_le_bytes());
        meta.extend_from_slice(ts);
        f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
        f.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        f.extend_from_slice(&meta);
        f.extend_from_slice(body);
        f
    }

    fn short(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    #[test]
    fn parses_meta_and_body() {
        let mut body = short((0x0010, 0x0010), b"PN", b"DOE^JOHN");
        body.extend(short((0x0010, 0x0020), b"LO", b"ID42"));
        let p = parse_bytes(explicit_file(&body)).expect("parses");
        assert!(p.layout.preamble && p.layout.has_meta);
        assert_eq!(p.layout.transfer_syntax, ts::EXPLICIT_VR_LITTLE_ENDIAN);
        assert_eq!(p.top_string(tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN"));
        assert_eq!(p.top_string(tags::PATIENT_ID).as_deref(), Some("ID42"));
    }

    #[test]
    fn truncated_value_is_reported() {
        let mut body = short((0x0010, 0x0010), b"PN", b"DOE^JOHN");
        body.truncate(body.len() - 3);
        match parse_bytes(explicit_file(&body)) {
            Err(ParseError::Truncated { .. }) => {}
            other => panic!("expected truncation, got {other:?}"),
        }
    }

    #[test]
    fn absurd_length_is_reported() {
        let mut body = Vec::new();
        body.extend_from_slice(&[0x09, 0x00, 0x10, 0x10, b'O', b'B', 0, 0]);
        body.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        body.extend_from_slice(&[1, 2, 3, 4]);
        let err = parse_bytes(explicit_file(&body)).expect_err("must fail");
        assert_eq!(err.kind(), "truncated");
    }

    #[test]
    fn text_and_empty_are_not_dicom() {
        assert!(matches!(
            parse_bytes(b"hello, this is text\n".to_vec()),
            Err(ParseError::NotDicom)
        ));
        let long_text = "Lorem ipsum dolor sit amet. ".repeat(20).into_bytes();
        assert!(matches!(parse_bytes(long_text), Err(ParseError::NotDicom)));
        assert!(matches!(parse_bytes(Vec::new()), Err(ParseError::Empty)));
    }

    #[test]
    fn nested_sequences_and_paths() {
        // (0008,1140) SQ undefined length, one undefined-length item with (0008,1155).
        let mut seq = Vec::new();
        seq.extend_from_slice(&[0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        seq.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        seq.extend(short((0x0008, 0x1155), b"UI", b"1.2.3.4\0"));
        seq.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        seq.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        seq.extend(short((0x0010, 0x0010), b"PN", b"X^Y "));
        let p = parse_bytes(explicit_file(&seq)).expect("parses");
        let (idx, _) = p
            .elements
            .iter()
            .enumerate()
            .find(|(_, e)| e.tag == tags::REFERENCED_SOP_INSTANCE_UID)
            .expect("nested element found");
        assert_eq!(p.path(idx), "(0008,1140)[0]/(0008,1155)");
        assert_eq!(p.top_string(tags::PATIENT_NAME).as_deref(), Some("X^Y"));
    }

    #[test]
    fn unterminated_sequence_is_truncated() {
        let mut seq = Vec::new();
        seq.extend_from_slice(&[0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        seq.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        seq.extend(short((0x0008, 0x1155), b"UI", b"1.2.3.4\0"));
        let err = parse_bytes(explicit_file(&seq)).expect_err("must fail");
        assert_eq!(err.kind(), "truncated");
    }

    #[test]
    fn duplicate_tags_are_refused() {
        // Two values for one tag: readers disagree on which one counts.
        let mut body = short((0x0010, 0x0010), b"PN", b"A^B ");
        body.extend(short((0x0010, 0x0020), b"LO", b"ID42"));
        body.extend(short((0x0010, 0x0020), b"LO", b"ID43"));
        let err = parse_bytes(explicit_file(&body)).expect_err("must fail");
        assert!(err.to_string().contains("(0010,0020) appears twice"), "{err}");
        // The same value in another VR is no copy either.
        let mut body = short((0x0010, 0x0020), b"LO", b"ID42");
        body.extend(short((0x0010, 0x0020), b"SH", b"ID42"));
        let err = parse_bytes(explicit_file(&body)).expect_err("must fail");
        assert!(err.to_string().contains("(0010,0020) appears twice"), "{err}");
        // Two values out of order, with an exact copy of another element between them.
        let mut body = short((0x0018, 0x0050), b"DS", b"2.5 ");
        body.extend(short((0x0010, 0x0040), b"CS", b"O "));
        body.extend(short((0x0010, 0x0040), b"CS", b"O "));
        body.extend(short((0x0018, 0x0050), b"DS", b"3.0 "));
        let err = parse_bytes(explicit_file(&body)).expect_err("must fail");
        assert!(err.to_string().contains("(0018,0050) appears twice"), "{err}");
        // Out of order, but no tag twice: still read.
        let mut body = short((0x0010, 0x0020), b"LO", b"ID42");
        body.extend(short((0x0010, 0x0010), b"PN", b"A^B "));
        parse_bytes(explicit_file(&body)).expect("out of order is tolerated");
        // The same tag in two different items is no duplicate.
        let mut seq = Vec::new();
        seq.extend_from_slice(&[0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        for uid in [b"1.2.3.4\0", b"1.2.3.5\0"] {
            seq.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
            seq.extend(short((0x0008, 0x1155), b"UI", uid));
            seq.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        }
        seq.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        parse_bytes(explicit_file(&seq)).expect("same tag in two items");
    }

    /// pydicom's CT_small, as the test fixtures hold it.
    fn ct_small() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pydicom/CT_small.dcm"
        ))
        .expect("fixture")
    }

    /// `bytes` with the bytes of each top-level element `tags` names written twice.
    fn doubled(bytes: &[u8], tags: &[Tag]) -> Vec<u8> {
        let p = parse_bytes(bytes.to_vec()).expect("parses");
        let mut ranges: Vec<(usize, usize)> = tags
            .iter()
            .map(|&t| {
                let e = p.top(t).expect("element to double");
                (e.start as usize, e.end as usize)
            })
            .collect();
        ranges.sort_unstable();
        let mut out = Vec::new();
        let mut pos = 0;
        for (start, end) in ranges {
            out.extend_from_slice(&bytes[pos..end]);
            out.extend_from_slice(&bytes[start..end]);
            pos = end;
        }
        out.extend_from_slice(&bytes[pos..]);
        out
    }

    #[test]
    fn an_element_repeated_byte_for_byte_is_read_once_and_written_once() {
        let original = ct_small();
        // A value, a sequence of explicit length (OtherPatientIDsSequence) and the file
        // meta's transfer syntax, each written twice.
        let tags = [
            tags::TRANSFER_SYNTAX_UID,
            tags::PATIENT_ID,
            tags::OTHER_PATIENT_I_DS_SEQUENCE,
        ];
        let twice = doubled(&original, &tags);
        let p = parse_bytes(twice.clone()).expect("exact copies are read");
        let copies: Vec<Tag> = p.copies().iter().map(|&c| p.elements[c].tag).collect();
        assert_eq!(copies, tags, "the second of each is the copy");
        for &c in p.copies() {
            assert!(p.in_copy(c));
            let first = p.top(p.elements[c].tag).expect("first");
            assert!(first.start < p.elements[c].start, "the first is what is read");
        }
        let nested = p.elements.iter().position(|e| e.parent != TOP).expect("nested");
        assert!(!p.in_copy(nested), "inside the first sequence");
        assert_eq!(p.top_string(tags::PATIENT_ID).as_deref(), Some("1CT1"));
        // Written without the copies, the file is CT_small again, byte for byte (the file
        // meta's group length back at its own).
        let r = crate::dicom::rewrite::render_with(&p, &[], &[], false, &[]).expect("renders");
        let mut out = Vec::new();
        crate::dicom::rewrite::write_pieces(&p, &r.pieces, &mut out).expect("writes");
        assert!(out == original, "the copies are dropped and nothing else changes");
        // A copy that differs in one byte is refused.
        let mut differs = twice;
        let at = p.elements[p.copies()[1]].end as usize - 1;
        differs[at] ^= 0x01;
        let err = parse_bytes(differs).expect_err("must fail");
        assert!(err.to_string().contains("(0010,0020) appears twice"), "{err}");
    }

    /// An explicit VR little endian element.
    fn explicit(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&group.to_le_bytes());
        b.extend_from_slice(&element.to_le_bytes());
        b.extend_from_slice(vr);
        b.extend_from_slice(&u16::try_from(value.len()).expect("short").to_le_bytes());
        b.extend_from_slice(value);
        b
    }

    /// A data set without file meta that starts with a private element is first taken for
    /// implicit VR (odd group) and then read as the explicit VR it is: its transfer syntax is
    /// named from what it is, since a Part 10 file made for it says so.
    #[test]
    fn a_raw_data_set_is_named_by_its_real_encoding() {
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        bytes.extend(explicit(0x0009, 0x0010, b"LO", b"ACME"));
        bytes.extend(explicit(0x0010, 0x0010, b"PN", b"DOE^"));
        bytes.extend(explicit(0x0010, 0x0020, b"LO", b"1234"));
        let p = parse_bytes(bytes).expect("reads");
        assert!(!p.layout.ts_declared);
        assert_eq!(p.layout.transfer_syntax, ts::EXPLICIT_VR_LITTLE_ENDIAN);
        assert_eq!(p.top_string(tags::PATIENT_ID).as_deref(), Some("1234"));
    }

    /// Thousands of elements each written twice, in order and then out of order: every
    /// second one is a copy of its first (found without a search per copy).
    #[test]
    fn many_doubled_elements_are_copies_of_their_first() {
        let mut body = vec![0u8; 128];
        body.extend_from_slice(b"DICM");
        body.extend(explicit(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0"));
        body.extend(explicit(0x0008, 0x0018, b"UI", b"1.2.3.4\0"));
        for i in 0..3000u16 {
            let e = explicit(0x0009, 0x1000 + i, b"LO", format!("V{i:05}").as_bytes());
            body.extend_from_slice(&e);
            body.extend_from_slice(&e);
        }
        // Out of order: one seen far before.
        body.extend(explicit(0x0009, 0x1000, b"LO", b"V00000"));
        let p = parse_bytes(body.clone()).expect("reads");
        assert_eq!(p.copies().len(), 3001);
        for &c in p.copies() {
            let e = &p.elements[c];
            let first = p.elements.iter().find(|o| o.tag == e.tag).expect("first");
            assert!(first.start < e.start);
        }
        // One copy that differs is refused, in order or not.
        let mut differs = body;
        let last = differs.len() - 1;
        differs[last] ^= 1;
        assert!(parse_bytes(differs).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut body = Vec::new();
        for _ in 0..100 {
            body.extend_from_slice(&[0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
            body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let err = parse_bytes(explicit_file(&body)).expect_err("must fail");
        assert!(matches!(err, ParseError::TooDeep), "{err}");
    }
}

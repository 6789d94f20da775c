//! Character encodings of XML files: which one a file is in (BOM, declaration), the UTF-8 text
//! the parser works on, and new values written back in the file's own encoding.

use encoding_rs::Encoding;

use super::XmlError;

/// The encoding a document is read and written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    Utf8,
    /// Declared US-ASCII: new non-ASCII characters become character references.
    Ascii,
    /// ISO-8859-1 proper (byte n is U+00n). `encoding_rs` reads this label as windows-1252,
    /// which would write '€' as 0x80, a control character in a real Latin-1 file.
    Latin1,
    Utf16 {
        big_endian: bool,
    },
    /// Any other stateless encoding `encoding_rs` knows (windows-125x, ISO-8859-x, `Shift_JIS`, …).
    Other(&'static Encoding),
}

/// A document as the parser sees it: UTF-8 text without the BOM.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub charset: Charset,
    /// Length of the byte order mark in the original bytes.
    pub bom: usize,
    pub text: Text<'a>,
}

/// The decoded text: the file's own bytes (UTF-8), decoded in memory, or, for a large file in
/// another encoding, decoded into an unnamed temporary file that is mapped (so that memory
/// does not follow the file's size in any encoding).
#[derive(Debug)]
pub(crate) enum Text<'a> {
    Borrowed(&'a str),
    Owned(String),
    Mapped(super::Source),
}

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
            // SAFETY: the file was written from `str`s only (see `decode_to_file`), is
            // unnamed, and nothing else writes it.
            Text::Mapped(m) => unsafe { std::str::from_utf8_unchecked(m.bytes()) },
        }
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

/// Decodes one piece of bytes (`true`: the last) onto the text; how many bytes it used.
type DecodeStep<'s> = dyn FnMut(&[u8], bool, &mut String) -> Result<usize, XmlError> + 's;

/// Non-UTF-8 files from this size are decoded into a mapped temporary file.
const DECODE_TO_FILE_FROM: usize = 8 << 20;

/// Decodes `body` a step at a time with `step` (which appends to the string it is given the
/// text of its bytes and says how many it used), into memory or, when large, into a mapped
/// temporary file; the pages of `body` are given back as it goes.
fn decode_steps(body: &[u8], passed: &dyn Fn(usize), step: &mut DecodeStep<'_>) -> Result<Text<'static>, XmlError> {
    const PIECE: usize = 1 << 20;
    let to_file = body.len() >= DECODE_TO_FILE_FROM;
    let mut file = if to_file {
        Some(std::io::BufWriter::new(tempfile::tempfile()?))
    } else {
        None
    };
    let mut text = String::new();
    let mut at = 0;
    loop {
        let end = (at + PIECE).min(body.len());
        let last = end == body.len();
        let used = step(&body[at..end], last, &mut text)?;
        at += used;
        if let Some(f) = &mut file {
            std::io::Write::write_all(f, text.as_bytes())?;
            text.clear();
            passed(at);
        }
        if last && at >= body.len() {
            break;
        }
        if used == 0 && last {
            return Err(XmlError::Internal("a decoder made no progress".into()));
        }
    }
    match file {
        None => Ok(Text::Owned(text)),
        Some(f) => {
            let f = f.into_inner().map_err(|e| XmlError::Io(e.into_error()))?;
            if f.metadata()?.len() == 0 {
                return Ok(Text::Owned(String::new()));
            }
            Ok(Text::Mapped(super::Source::map(&f)?))
        }
    }
}

const LATIN1_LABELS: &[&str] = &[
    "iso-8859-1",
    "iso8859-1",
    "iso_8859-1",
    "iso_8859-1:1987",
    "latin1",
    "l1",
    "iso-ir-100",
    "cp819",
    "ibm819",
    "csisolatin1",
];
const ASCII_LABELS: &[&str] = &["us-ascii", "ascii", "iso646-us", "ansi_x3.4-1968", "csascii", "us"];

impl Decoded<'_> {
    /// Starts a new pass: pages are given back from the start again.
    pub fn rewind(&self, src: Option<&super::Source>) {
        if let Some(s) = src {
            s.rewind();
        }
        if let Text::Mapped(m) = &self.text {
            m.rewind();
        }
    }

    /// Gives back the pages of the document before `offset` of its text, where the text is
    /// the file's own bytes (`src`) or a mapping of its own.
    pub fn release_before(&self, src: Option<&super::Source>, offset: usize) {
        match (&self.text, src) {
            (Text::Borrowed(_), Some(src)) => src.release_before(self.bom + offset),
            (Text::Mapped(m), _) => m.release_before(offset),
            _ => {}
        }
    }
}

impl Charset {
    pub fn name(self) -> &'static str {
        match self {
            Charset::Utf8 => "UTF-8",
            Charset::Ascii => "US-ASCII",
            Charset::Latin1 => "ISO-8859-1",
            Charset::Utf16 { big_endian: false } => "UTF-16LE",
            Charset::Utf16 { big_endian: true } => "UTF-16BE",
            Charset::Other(e) => e.name(),
        }
    }

    /// Can `c` be written as itself (rather than as a character reference)?
    pub fn can_encode(self, c: char) -> bool {
        match self {
            Charset::Utf8 | Charset::Utf16 { .. } => true,
            Charset::Ascii => c.is_ascii(),
            Charset::Latin1 => (c as u32) < 0x100,
            Charset::Other(e) => {
                if c.is_ascii() {
                    return true;
                }
                let mut tmp = [0u8; 4];
                let (_, _, unmappable) = e.encode(c.encode_utf8(&mut tmp));
                !unmappable
            }
        }
    }

    /// The bytes of `text`, whose characters all pass [`Charset::can_encode`].
    pub fn encode(self, text: String) -> Vec<u8> {
        match self {
            Charset::Utf8 | Charset::Ascii => text.into_bytes(),
            Charset::Latin1 => text.chars().map(|c| c as u32 as u8).collect(),
            Charset::Utf16 { big_endian } => text
                .encode_utf16()
                .flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() })
                .collect(),
            Charset::Other(e) => e.encode(&text).0.into_owned(),
        }
    }

    /// How many bytes `text` (a piece of the decoded document) took in the original file.
    pub fn encoded_len(self, text: &str) -> usize {
        match self {
            Charset::Utf8 | Charset::Ascii => text.len(),
            Charset::Latin1 => text.chars().count(),
            Charset::Utf16 { .. } => text.chars().map(|c| c.len_utf16() * 2).sum(),
            Charset::Other(e) if e.is_single_byte() => text.chars().count(),
            // A piece at a time: the text may be all of a large file.
            Charset::Other(e) => pieces(text, 64 << 10).map(|(_, p)| e.encode(p).0.len()).sum(),
        }
    }
}

/// Finds the document's encoding and decodes it. Refuses what cannot be written back byte for
/// byte: unknown or stateful encodings, a BOM contradicting the declaration, invalid bytes.
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded<'_>, XmlError> {
    decode_in(bytes, None)
}

/// How much of a document is checked at a time before the pages behind are given back.
const STEP: usize = 16 << 20;

/// [`decode`], giving the pages of `src` (whose bytes these are) back as they are checked.
pub(crate) fn decode_in<'b>(bytes: &'b [u8], src: Option<&super::Source>) -> Result<Decoded<'b>, XmlError> {
    // Every walk is a new pass over the bytes: pages are given back from the start again.
    if let Some(s) = src {
        s.rewind();
    }
    let passed = |at: usize| {
        if let Some(s) = src {
            s.release_before(at + super::source::WINDOW);
        }
    };
    let rewind = || {
        if let Some(s) = src {
            s.rewind();
        }
    };
    let d = decode_any(bytes, &passed, &rewind)?;
    // A second byte order mark after the first: not well-formed (nothing may come before
    // the prolog), and quick-xml would skip it, so that every offset it reports would be
    // off by its three bytes.
    if d.text.starts_with('\u{FEFF}') {
        return Err(XmlError::Encoding(
            "the file starts with two byte order marks; it is not well-formed XML".into(),
        ));
    }
    // Characters XML 1.0 forbids anywhere (NUL and the other C0 controls but tab, line feed
    // and carriage return; U+FFFE, U+FFFF): the file is not XML, and a reader would stop
    // there or drop what follows. A second pass over the text: its pages (the file's own,
    // or those of its decoded copy) are given back from the start again.
    d.rewind(src);
    let window = super::source::WINDOW;
    if let Some(at) = forbidden_char_in(&d.text, &|at| d.release_before(src, at + window)) {
        let (line, column) = line_col(&d.text, at);
        return Err(XmlError::Syntax {
            line,
            column,
            reason: "a character XML does not allow (a control character such as NUL)".into(),
        });
    }
    // The walk that follows reads from the start again and gives pages back behind it.
    d.rewind(src);
    Ok(d)
}

/// [`forbidden_char`] a step at a time (the steps overlap by the two bytes a forbidden
/// character may straddle); `passed` learns how far it has got.
fn forbidden_char_in(text: &str, passed: &dyn Fn(usize)) -> Option<usize> {
    let b = text.as_bytes();
    let mut at = 0;
    while at < b.len() {
        let end = (at + STEP).min(b.len());
        // The step is searched as bytes; a cut character only matters to the three-byte
        // noncharacters, which the overlap covers.
        let piece = &b[at..end];
        if let Some(i) = forbidden_byte(piece) {
            return Some(at + i);
        }
        passed(end);
        if end == b.len() {
            break;
        }
        at = end - 2;
    }
    None
}

fn forbidden_byte(b: &[u8]) -> Option<usize> {
    let control = b.iter().position(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r'));
    // U+FFFE and U+FFFF are EF BF BE / EF BF BF in UTF-8.
    let nonchar = b
        .windows(3)
        .position(|w| w[0] == 0xEF && w[1] == 0xBF && (w[2] == 0xBE || w[2] == 0xBF));
    match (control, nonchar) {
        (Some(a), Some(n)) => Some(a.min(n)),
        (a, n) => a.or(n),
    }
}

/// `passed` learns how far a pass over `bytes` has got; `rewind` that a new pass begins.
fn decode_any<'b>(bytes: &'b [u8], passed: &dyn Fn(usize), rewind: &dyn Fn()) -> Result<Decoded<'b>, XmlError> {
    let utf32 = bytes.starts_with(&[0xFF, 0xFE, 0, 0])
        || bytes.starts_with(&[0, 0, 0xFE, 0xFF])
        || bytes.starts_with(&[0, 0, 0, 0x3C])
        || bytes.starts_with(&[0x3C, 0, 0, 0]);
    if utf32 {
        return Err(XmlError::Encoding("UTF-32 documents are not supported".into()));
    }
    if bytes.starts_with(&[0x4C, 0x6F, 0xA7, 0x94]) {
        return Err(XmlError::Encoding("EBCDIC documents are not supported".into()));
    }
    if let Some(found) = utf16(bytes) {
        return utf16_document(bytes, found, passed);
    }
    let bom = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) { 3 } else { 0 };
    let body = &bytes[bom..];
    let charset = declared_charset(body)?;
    if bom == 3 && charset != Charset::Utf8 {
        return Err(XmlError::Encoding(format!(
            "the file starts with a UTF-8 byte order mark but declares encoding {}",
            charset.name()
        )));
    }
    let text = match charset {
        Charset::Utf8 | Charset::Ascii => Text::Borrowed(utf8_document(body, charset, &|at| passed(bom + at))?),
        Charset::Latin1 => decode_steps(body, passed, &mut |piece, _, out| {
            out.extend(piece.iter().map(|&b| b as char));
            Ok(piece.len())
        })?,
        Charset::Other(e) => decode_other(e, body, passed, rewind)?,
        Charset::Utf16 { .. } => return Err(XmlError::Internal("UTF-16 handled above".into())),
    };
    Ok(Decoded { charset, bom, text })
}

/// A UTF-16 document's byte order and the length of its byte order mark, by how it starts.
fn utf16(bytes: &[u8]) -> Option<(bool, usize)> {
    if bytes.starts_with(&[0xFF, 0xFE]) {
        Some((false, 2))
    } else if bytes.starts_with(&[0xFE, 0xFF]) {
        Some((true, 2))
    } else if bytes.starts_with(&[0x3C, 0, 0x3F, 0]) {
        Some((false, 0))
    } else if bytes.starts_with(&[0, 0x3C, 0, 0x3F]) {
        Some((true, 0))
    } else {
        None
    }
}

fn utf16_document<'b>(
    bytes: &'b [u8],
    (big_endian, bom): (bool, usize),
    passed: &dyn Fn(usize),
) -> Result<Decoded<'b>, XmlError> {
    {
        let text = decode_utf16(&bytes[bom..], big_endian, &|at| passed(bom + at))?;
        let declared = declared_encoding(text.as_bytes()).map(|l| l.to_ascii_lowercase());
        let fits = match declared.as_deref() {
            None | Some("utf-16") => true,
            Some("utf-16le") => !big_endian,
            Some("utf-16be") => big_endian,
            Some(_) => false,
        };
        if !fits {
            // The label is the file's, not dams' word: it is never quoted.
            return Err(XmlError::Encoding(format!(
                "the file is UTF-16{} but its declaration names another encoding",
                if big_endian { "BE" } else { "LE" },
            )));
        }
        Ok(Decoded {
            charset: Charset::Utf16 { big_endian },
            bom,
            text,
        })
    }
}

/// The encoding an ASCII-compatible document declares (UTF-8 when it declares none), if
/// dams can write it back.
fn declared_charset(body: &[u8]) -> Result<Charset, XmlError> {
    let declared = declared_encoding(body).map(|l| l.trim().to_ascii_lowercase());
    Ok(match declared.as_deref() {
        None => Charset::Utf8,
        Some(l) if LATIN1_LABELS.contains(&l) => Charset::Latin1,
        Some(l) if ASCII_LABELS.contains(&l) => Charset::Ascii,
        Some(l) if l.starts_with("utf-16") || l.starts_with("utf16") => {
            return Err(XmlError::Encoding(
                "the declaration names UTF-16 but the file is not UTF-16".into(),
            ));
        }
        Some(l) => match Encoding::for_label(l.as_bytes()) {
            Some(e) if e == encoding_rs::UTF_8 => Charset::Utf8,
            Some(e) if e == encoding_rs::ISO_2022_JP => {
                return Err(XmlError::Encoding(
                    "ISO-2022-JP documents are not supported (stateful encoding)".into(),
                ));
            }
            Some(e) if e == encoding_rs::REPLACEMENT || e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => {
                return Err(XmlError::Encoding("the declared encoding is not supported".into()));
            }
            Some(e) => Charset::Other(e),
            None => {
                return Err(XmlError::Encoding(
                    "the declaration names an encoding dams does not know".into(),
                ));
            }
        },
    })
}

/// The body of a document in UTF-8 (or US-ASCII), checked a step at a time.
fn utf8_document<'b>(body: &'b [u8], charset: Charset, passed: &dyn Fn(usize)) -> Result<&'b str, XmlError> {
    let s = utf8_in_steps(body, passed).map_err(|at| {
        let (line, column) = byte_line_col(body, at);
        XmlError::Syntax {
            line,
            column,
            reason: "not valid UTF-8 (declare the file's encoding if it is another one)".into(),
        }
    })?;
    if charset == Charset::Ascii
        && let Some(i) = s.bytes().position(|b| !b.is_ascii())
    {
        let (line, column) = byte_line_col(body, i);
        return Err(XmlError::Syntax {
            line,
            column,
            reason: "a non-ASCII character in a file declared US-ASCII".into(),
        });
    }
    Ok(s)
}

/// The body of a document in another stateless encoding, decoded a step at a time and
/// checked to write back byte for byte.
fn decode_other(
    e: &'static Encoding,
    body: &[u8],
    passed: &dyn Fn(usize),
    rewind: &dyn Fn(),
) -> Result<Text<'static>, XmlError> {
    let invalid = || XmlError::Encoding(format!("the file is not valid {}", e.name()));
    let mut decoder = e.new_decoder_without_bom_handling();
    let text = decode_steps(body, passed, &mut |piece, last, out| {
        let mut used = 0;
        loop {
            let room = decoder.max_utf8_buffer_length_without_replacement(piece.len() - used);
            out.reserve(room.unwrap_or(piece.len() * 3 + 16));
            let (result, read) = decoder.decode_to_string_without_replacement(&piece[used..], out, last);
            used += read;
            match result {
                encoding_rs::DecoderResult::InputEmpty => return Ok(used),
                encoding_rs::DecoderResult::OutputFull => {}
                encoding_rs::DecoderResult::Malformed(..) => return Err(invalid()),
            }
        }
    })?;
    // Only what re-encodes to the same bytes can be copied around the changed values
    // (the encodings taken here are stateless, so pieces re-encode on their own).
    let unfaithful = || XmlError::Encoding(format!("the file cannot be written back byte for byte in {}", e.name()));
    rewind();
    let mut pos = 0;
    for (to, piece) in pieces(&text, 1 << 20) {
        let (again, _, unmappable) = e.encode(piece);
        if unmappable || body.get(pos..pos + again.len()) != Some(again.as_ref()) {
            return Err(unfaithful());
        }
        pos += again.len();
        passed(pos);
        if let Text::Mapped(m) = &text {
            m.release_before(to);
        }
    }
    if pos != body.len() {
        return Err(unfaithful());
    }
    Ok(text)
}

/// `text` in pieces of about `size` bytes, cut on character boundaries, each with the offset
/// where it ends.
fn pieces(text: &str, size: usize) -> impl Iterator<Item = (usize, &str)> {
    let mut from = 0;
    std::iter::from_fn(move || {
        if from >= text.len() {
            return None;
        }
        let mut to = (from + size.max(4)).min(text.len());
        while !text.is_char_boundary(to) {
            to -= 1;
        }
        let piece = &text[from..to];
        from = to;
        Some((to, piece))
    })
}

/// `body` as UTF-8, checked a step at a time (`passed` learns how far); the offset of the
/// first invalid byte otherwise.
fn utf8_in_steps<'b>(body: &'b [u8], passed: &dyn Fn(usize)) -> Result<&'b str, usize> {
    let mut at = 0;
    while at < body.len() {
        let end = (at + STEP).min(body.len());
        match std::str::from_utf8(&body[at..end]) {
            Ok(_) => at = end,
            // A character cut by the step's end: the next step starts with it.
            Err(e) if e.error_len().is_none() && end < body.len() && e.valid_up_to() > 0 => at += e.valid_up_to(),
            Err(e) => return Err(at + e.valid_up_to()),
        }
        passed(at);
    }
    // SAFETY: every byte was checked above, step by step, each step starting on a character
    // boundary (the end of the valid part of the step before).
    Ok(unsafe { std::str::from_utf8_unchecked(body) })
}

fn decode_utf16(bytes: &[u8], big_endian: bool, passed: &dyn Fn(usize)) -> Result<Text<'static>, XmlError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(XmlError::Encoding("the UTF-16 file has an odd number of bytes".into()));
    }
    // Where the decoding is, for the position of an unpaired surrogate.
    let (mut line, mut column) = (1, 1);
    decode_steps(bytes, passed, &mut |piece, last, out| {
        let units = piece.chunks_exact(2).map(|p| {
            let pair = [p[0], p[1]];
            if big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        });
        let mut used = 0;
        for c in char::decode_utf16(units) {
            match c {
                Ok(c) => {
                    used += c.len_utf16() * 2;
                    out.push(c);
                    if c == '\n' {
                        line += 1;
                        column = 1;
                    } else {
                        column += 1;
                    }
                }
                // A high surrogate cut by the piece's end: the next piece starts with it.
                Err(_) if !last && used + 2 == piece.len() => break,
                Err(_) => {
                    return Err(XmlError::Syntax {
                        line,
                        column,
                        reason: "not valid UTF-16 (unpaired surrogate)".into(),
                    });
                }
            }
        }
        Ok(used)
    })
}

/// The `encoding` of the XML declaration, if there is one. Reads ASCII-compatible bytes.
fn declared_encoding(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(b"<?xml")?;
    if !rest.first().is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let end = rest.windows(2).take(1024).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&rest[..end]).ok()?;
    let at = decl.find("encoding")?;
    let after = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = after.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let value = &after[1..];
    Some(value[..value.find(quote)?].to_string())
}

/// Line and column (1-based, in characters) of a byte offset in decoded text.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = memchr::memchr_iter(b'\n', before.as_bytes()).count() + 1;
    let line_start = memchr::memrchr(b'\n', before.as_bytes()).map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Line and column of a byte offset in bytes that are not valid text (ASCII-compatible).
fn byte_line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    (line, String::from_utf8_lossy(&before[line_start..]).chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_find_what_straddles_them() {
        let mut text = "a".repeat(STEP - 1);
        text.push('\u{FFFE}');
        assert_eq!(forbidden_char_in(&text, &|_| {}), Some(STEP - 1));
        let mut text = "é".repeat(STEP / 2 + 7);
        assert_eq!(forbidden_char_in(&text, &|_| {}), None);
        assert!(utf8_in_steps(text.as_bytes(), &|_| {}).is_ok());
        text.push('\0');
        assert_eq!(forbidden_char_in(&text, &|_| {}), Some(text.len() - 1));
        let mut bytes = text.into_bytes();
        // A lead byte just after the first step made invalid.
        let at = STEP + 2;
        bytes[at] = 0xFF;
        assert_eq!(utf8_in_steps(&bytes, &|_| {}).err(), Some(at));
    }

    #[test]
    fn detects_encodings() {
        let d = decode(b"<?xml version='1.0' encoding='ISO-8859-1'?><a>M\xFCller</a>").unwrap();
        assert_eq!(d.charset, Charset::Latin1);
        assert!(d.text.contains("Müller"));
        let d = decode(b"\xEF\xBB\xBF<a/>").unwrap();
        assert_eq!((d.charset, d.bom, &*d.text), (Charset::Utf8, 3, "<a/>"));
        let d = decode(b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>\x80</a>").unwrap();
        assert_eq!(d.charset, Charset::Other(encoding_rs::WINDOWS_1252));
        assert!(d.text.contains('€'));
        let mut le = vec![0xFF, 0xFE];
        le.extend("<a>é</a>".encode_utf16().flat_map(u16::to_le_bytes));
        let d = decode(&le).unwrap();
        assert_eq!((d.charset, d.bom), (Charset::Utf16 { big_endian: false }, 2));
        assert_eq!(d.text, "<a>é</a>");
    }

    #[test]
    fn refuses_two_byte_order_marks() {
        let err = decode(b"\xEF\xBB\xBF\xEF\xBB\xBF<a/>").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("two byte order marks")));
        assert!(decode(&[0xFF, 0xFE, 0xFF, 0xFE, b'<', 0, b'a', 0, b'/', 0, b'>', 0]).is_err());
        // Inside the document it is a character like any other.
        assert!(decode("<a>\u{FEFF}</a>".as_bytes()).is_ok());
    }

    #[test]
    fn refuses_contradictions_and_unknowns() {
        assert!(decode(b"\xEF\xBB\xBF<?xml version='1.0' encoding='latin1'?><a/>").is_err());
        assert!(decode(b"<?xml version='1.0' encoding='UTF-16'?><a/>").is_err());
        assert!(decode(b"<?xml version='1.0' encoding='klingon'?><a/>").is_err());
        let e = decode(b"<a>\n  \xFF</a>").unwrap_err();
        assert!(matches!(e, XmlError::Syntax { line: 2, column: 3, .. }), "{e}");
        assert!(decode(b"<?xml version='1.0' encoding='us-ascii'?><a>\xC3\xA9</a>").is_err());
    }

    #[test]
    fn encodes_and_measures() {
        assert_eq!(Charset::Latin1.encode("é".into()), vec![0xE9]);
        assert!(!Charset::Latin1.can_encode('€'));
        assert!(Charset::Other(encoding_rs::WINDOWS_1252).can_encode('€'));
        assert!(!Charset::Ascii.can_encode('é'));
        assert_eq!(Charset::Utf16 { big_endian: true }.encode("a".into()), vec![0, b'a']);
        assert_eq!(Charset::Utf16 { big_endian: false }.encoded_len("a😀"), 6);
        assert_eq!(Charset::Latin1.encoded_len("Müller"), 6);
    }
}

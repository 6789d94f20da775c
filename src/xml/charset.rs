//! Character encodings of XML files: which one a file is in (BOM, declaration), the UTF-8 text
//! the parser works on, and new values written back in the file's own encoding.

use std::borrow::Cow;

use encoding_rs::Encoding;

use super::XmlError;

/// The encoding a document is read and written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    Utf8,
    /// Declared US-ASCII: new non-ASCII characters become character references.
    Ascii,
    /// ISO-8859-1 proper (byte n is U+00n). encoding_rs reads this label as windows-1252,
    /// which would write '€' as 0x80, a control character in a real Latin-1 file.
    Latin1,
    Utf16 {
        big_endian: bool,
    },
    /// Any other stateless encoding encoding_rs knows (windows-125x, ISO-8859-x, Shift_JIS, …).
    Other(&'static Encoding),
}

/// A document as the parser sees it: UTF-8 text without the BOM.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub charset: Charset,
    /// Length of the byte order mark in the original bytes.
    pub bom: usize,
    pub text: Cow<'a, str>,
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
            Charset::Other(e) => e.encode(text).0.len(),
        }
    }
}

/// Finds the document's encoding and decodes it. Refuses what cannot be written back byte for
/// byte: unknown or stateful encodings, a BOM contradicting the declaration, invalid bytes.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded<'_>, XmlError> {
    let d = decode_any(bytes)?;
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
    // there or drop what follows.
    if let Some(at) = forbidden_char(&d.text) {
        let (line, column) = line_col(&d.text, at);
        return Err(XmlError::Syntax {
            line,
            column,
            reason: "a character XML does not allow (a control character such as NUL)".into(),
        });
    }
    Ok(d)
}

/// The offset of the first character XML 1.0 forbids in a document, if any.
fn forbidden_char(text: &str) -> Option<usize> {
    let b = text.as_bytes();
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

// TODO(issue 19): split with the streaming rewrite
#[allow(clippy::too_many_lines)]
fn decode_any(bytes: &[u8]) -> Result<Decoded<'_>, XmlError> {
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
    let utf16 = if bytes.starts_with(&[0xFF, 0xFE]) {
        Some((false, 2))
    } else if bytes.starts_with(&[0xFE, 0xFF]) {
        Some((true, 2))
    } else if bytes.starts_with(&[0x3C, 0, 0x3F, 0]) {
        Some((false, 0))
    } else if bytes.starts_with(&[0, 0x3C, 0, 0x3F]) {
        Some((true, 0))
    } else {
        None
    };
    if let Some((big_endian, bom)) = utf16 {
        let text = decode_utf16(&bytes[bom..], big_endian)?;
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
        return Ok(Decoded {
            charset: Charset::Utf16 { big_endian },
            bom,
            text: Cow::Owned(text),
        });
    }

    let bom = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) { 3 } else { 0 };
    let body = &bytes[bom..];
    let declared = declared_encoding(body).map(|l| l.trim().to_ascii_lowercase());
    let charset = match declared.as_deref() {
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
    };
    if bom == 3 && charset != Charset::Utf8 {
        return Err(XmlError::Encoding(format!(
            "the file starts with a UTF-8 byte order mark but declares encoding {}",
            charset.name()
        )));
    }
    let text = match charset {
        Charset::Utf8 | Charset::Ascii => {
            let s = std::str::from_utf8(body).map_err(|e| {
                let (line, column) = byte_line_col(body, e.valid_up_to());
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
            Cow::Borrowed(s)
        }
        Charset::Latin1 => Cow::Owned(body.iter().map(|&b| b as char).collect()),
        Charset::Other(e) => {
            let Some(s) = e.decode_without_bom_handling_and_without_replacement(body) else {
                return Err(XmlError::Encoding(format!("the file is not valid {}", e.name())));
            };
            // Only what re-encodes to the same bytes can be copied around the changed values.
            let (again, _, unmappable) = e.encode(&s);
            if unmappable || again.as_ref() != body {
                return Err(XmlError::Encoding(format!(
                    "the file cannot be written back byte for byte in {}",
                    e.name()
                )));
            }
            Cow::Owned(s.into_owned())
        }
        Charset::Utf16 { .. } => return Err(XmlError::Internal("UTF-16 handled above".into())),
    };
    Ok(Decoded { charset, bom, text })
}

fn decode_utf16(bytes: &[u8], big_endian: bool) -> Result<String, XmlError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(XmlError::Encoding("the UTF-16 file has an odd number of bytes".into()));
    }
    let units = bytes.chunks_exact(2).map(|p| {
        let pair = [p[0], p[1]];
        if big_endian {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    });
    let mut out = String::with_capacity(bytes.len() / 2);
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => out.push(c),
            Err(_) => {
                let (line, column) = line_col(&out, out.len());
                return Err(XmlError::Syntax {
                    line,
                    column,
                    reason: "not valid UTF-16 (unpaired surrogate)".into(),
                });
            }
        }
    }
    Ok(out)
}

/// The `encoding` of the XML declaration, if there is one. Reads ASCII-compatible bytes.
fn declared_encoding(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(b"<?xml")?;
    if !rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
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
    fn detects_encodings() {
        let d = decode(b"<?xml version='1.0' encoding='ISO-8859-1'?><a>M\xFCller</a>").unwrap();
        assert_eq!(d.charset, Charset::Latin1);
        assert!(d.text.contains("Müller"));
        let d = decode(b"\xEF\xBB\xBF<a/>").unwrap();
        assert_eq!((d.charset, d.bom, d.text.as_ref()), (Charset::Utf8, 3, "<a/>"));
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

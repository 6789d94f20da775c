//! The streaming walk over a document: quick-xml's events as elements, attributes with their
//! byte ranges and value pieces, plus the well-formedness checks quick-xml leaves to us.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::Range;

use quick_xml::Reader;
use quick_xml::errors::{Error as QxError, IllFormedError};
use quick_xml::events::Event;

use super::XmlError;
use super::charset::line_col;
use super::value::{Seg, SegKind};

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// Deeper paths are shown with their middle left out, so that a hostile nesting depth cannot
/// make every path of the plan megabytes long.
const PATH_SHOWN: usize = 24;
/// Elements nested deeper than this make a document malformed here. libxml2 stops at 256
/// (2,048 with its huge option); no log or report nests anywhere near 10,000, and a hostile
/// file nested millions deep would otherwise need gigabytes.
pub(crate) const MAX_DEPTH: usize = 10_000;
/// Attributes one start tag may have here: no real document comes near, and a hostile tag of
/// millions would otherwise cost memory in proportion.
pub(crate) const MAX_ATTRS: usize = 65_536;

/// One attribute of the current start tag; all ranges are byte offsets in the document.
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    pub name: Range<usize>,
    pub value: Range<usize>,
    pub quote: u8,
    /// The whitespace before the name up to the closing quote: what removal deletes.
    pub full: Range<usize>,
    /// A namespace declaration (`xmlns`, `xmlns:p`): never a value to change.
    pub xmlns: bool,
}

/// An open element.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub qname: &'a str,
    pub local: &'a str,
    pub prefix: &'a str,
    /// Offset of the start tag's `<`.
    pub start: usize,
    ordinal: u32,
    children: ChildCounts<'a>,
    node: Option<u32>,
    captured_children: Vec<u32>,
    ns_mark: usize,
}

/// What the walk met next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// A start (or empty-element) tag: see [`Walker::top`] and [`Walker::take_attrs`].
    Start {
        empty: bool,
    },
    /// The end of the element still at [`Walker::top`]; `end` is the offset after its end tag.
    End {
        end: usize,
    },
    /// A piece of character data inside the root element.
    Seg(Seg),
    /// The content ranges of comments, processing instructions and the DOCTYPE.
    Comment(Range<usize>),
    Pi(Range<usize>),
    Doctype(Range<usize>),
    Eof,
}

/// An element some result refers to; its path is known once the walk is over.
#[derive(Debug)]
struct Node<'a> {
    name: &'a str,
    ordinal: u32,
    /// Siblings with the same name, counted when the parent closes.
    total: u32,
    parent: Option<u32>,
}

/// How many children of each name an element has had so far.
#[derive(Debug, Default)]
struct ChildCounts<'a> {
    few: Vec<(&'a str, u32)>,
    many: Option<HashMap<&'a str, u32>>,
}

impl<'a> ChildCounts<'a> {
    fn bump(&mut self, name: &'a str) -> u32 {
        if let Some(m) = &mut self.many {
            let c = m.entry(name).or_insert(0);
            *c += 1;
            return *c;
        }
        if let Some((_, c)) = self.few.iter_mut().find(|(n, _)| *n == name) {
            *c += 1;
            return *c;
        }
        self.few.push((name, 1));
        // A linear scan is fastest for the usual handful of names, but not for thousands.
        if self.few.len() > 16 {
            self.many = Some(self.few.drain(..).collect());
        }
        1
    }

    fn get(&self, name: &str) -> u32 {
        match &self.many {
            Some(m) => m.get(name).copied().unwrap_or(0),
            None => self.few.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c),
        }
    }
}

pub(crate) struct Walker<'a> {
    buf: &'a str,
    reader: Reader<&'a [u8]>,
    pos: usize,
    frames: Vec<Frame<'a>>,
    attrs: Vec<Attr>,
    bindings: Vec<(&'a str, Cow<'a, str>)>,
    pop_pending: bool,
    end_pending: bool,
    roots: u32,
    nodes: Vec<Node<'a>>,
}

impl<'a> Walker<'a> {
    pub fn new(buf: &'a str) -> Walker<'a> {
        let mut reader = Reader::from_str(buf);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Walker {
            buf,
            reader,
            pos: 0,
            frames: Vec::new(),
            attrs: Vec::new(),
            bindings: Vec::new(),
            pop_pending: false,
            end_pending: false,
            roots: 0,
            nodes: Vec::new(),
        }
    }

    pub fn buf(&self) -> &'a str {
        self.buf
    }

    /// The innermost open element.
    pub fn top(&self) -> Option<&Frame<'a>> {
        self.frames.last()
    }

    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Where the next item starts (the offset after the one just returned).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The attributes of the start tag just returned.
    #[cfg(test)]
    pub fn attrs(&self) -> &[Attr] {
        &self.attrs
    }

    /// The attributes of the start tag just returned, to work on while calling the walker;
    /// hand the vector back with [`Walker::return_attrs`] so it is reused.
    pub fn take_attrs(&mut self) -> Vec<Attr> {
        std::mem::take(&mut self.attrs)
    }

    pub fn return_attrs(&mut self, attrs: Vec<Attr>) {
        self.attrs = attrs;
    }

    /// The namespace URI bound to `prefix` (`""` = the default namespace) where the walk is.
    pub fn resolve(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| *p == prefix)
            .map(|(_, uri)| uri.as_ref())
            .filter(|uri| !uri.is_empty())
    }

    pub fn error_at(&self, offset: usize, reason: impl Into<String>) -> XmlError {
        let (line, column) = line_col(self.buf, offset);
        XmlError::Syntax {
            line,
            column,
            reason: reason.into(),
        }
    }

    pub fn next(&mut self) -> Result<Item, XmlError> {
        if self.pop_pending {
            self.pop_pending = false;
            self.pop();
        }
        if self.end_pending {
            self.end_pending = false;
            self.pop_pending = true;
            return Ok(Item::End { end: self.pos });
        }
        loop {
            let start = self.pos;
            let event = match self.reader.read_event() {
                Ok(e) => e,
                Err(e) => return Err(self.reader_error(e)),
            };
            let end = usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX);
            self.pos = end;
            let inside = !self.frames.is_empty();
            match event {
                Event::Decl(_) => {
                    if start != 0 {
                        return Err(self.error_at(start, "the XML declaration must be at the very start"));
                    }
                }
                Event::PI(pi) => {
                    if pi.target().eq_ignore_ascii_case("xml") {
                        return Err(self.error_at(start, "an XML declaration may only stand at the very start"));
                    }
                    return Ok(Item::Pi(start + 2..end - 2));
                }
                Event::DocType(_) => {
                    if self.roots > 0 {
                        return Err(self.error_at(start, "the DOCTYPE must come before the root element"));
                    }
                    return Ok(Item::Doctype(start + 9..end - 1));
                }
                Event::Comment(_) => return Ok(Item::Comment(start + 4..end - 3)),
                Event::Start(_) | Event::Empty(_) => {
                    let (e, empty) = match event {
                        Event::Empty(e) => (e, true),
                        Event::Start(e) => (e, false),
                        _ => return Err(XmlError::Internal("start tag".into())),
                    };
                    let name_end = start + 1 + e.name().as_ref().len();
                    self.open(start, name_end, if empty { end - 2 } else { end - 1 })?;
                    if empty {
                        self.end_pending = true;
                    }
                    return Ok(Item::Start { empty });
                }
                Event::End(_) => {
                    self.pop_pending = true;
                    return Ok(Item::End { end });
                }
                Event::Text(_) => {
                    if start == end {
                        continue;
                    }
                    if !inside {
                        if let Some(i) = self.buf.as_bytes()[start..end]
                            .iter()
                            .position(|b| !b.is_ascii_whitespace())
                        {
                            return Err(self.error_at(start + i, "text outside the root element"));
                        }
                        continue;
                    }
                    return Ok(Item::Seg(Seg {
                        raw: start..end,
                        kind: SegKind::Literal,
                    }));
                }
                Event::CData(_) => {
                    if !inside {
                        return Err(self.error_at(start, "CDATA outside the root element"));
                    }
                    return Ok(Item::Seg(Seg {
                        raw: start + 9..end - 3,
                        kind: SegKind::CData,
                    }));
                }
                Event::GeneralRef(_) => {
                    if !inside {
                        return Err(self.error_at(start, "a reference outside the root element"));
                    }
                    let kind = reference(&self.buf[start + 1..end - 1]).map_err(|m| self.error_at(start, m))?;
                    return Ok(Item::Seg(Seg { raw: start..end, kind }));
                }
                Event::Eof => {
                    if let Some(f) = self.frames.last() {
                        let (l, c) = line_col(self.buf, f.start);
                        return Err(self.error_at(end, format!("the file ends inside an element opened at {l}:{c}")));
                    }
                    if self.roots == 0 {
                        return Err(self.error_at(end, "no root element"));
                    }
                    return Ok(Item::Eof);
                }
            }
        }
    }

    fn reader_error(&self, e: QxError) -> XmlError {
        let at = usize::try_from(self.reader.error_position()).unwrap_or(0);
        // Never the names or text of the file: they may be identifiers (an element named
        // after the patient). The kind of mistake and where it is say enough.
        let reason: String = match e {
            QxError::IllFormed(IllFormedError::MismatchedEndTag { .. }) => match self.frames.last() {
                Some(f) => {
                    let (l, c) = line_col(self.buf, f.start);
                    format!("an end tag does not match the element opened at {l}:{c}")
                }
                None => "an end tag does not match the open element".into(),
            },
            QxError::IllFormed(IllFormedError::UnmatchedEndTag(_)) => "an end tag closes no open element".into(),
            QxError::IllFormed(IllFormedError::DoubleHyphenInComment) => "`--` inside a comment".into(),
            QxError::IllFormed(IllFormedError::UnclosedReference) => {
                "'&' without a closing ';' (an ampersand is written &amp;)".into()
            }
            QxError::IllFormed(IllFormedError::MissingDeclVersion(_)) => "the XML declaration has no version".into(),
            QxError::IllFormed(IllFormedError::MissingDoctypeName) => "the DOCTYPE has no name".into(),
            QxError::IllFormed(IllFormedError::MissingEndTag(_)) => "an element is not closed".into(),
            QxError::IllFormed(_) => "not well-formed XML".into(),
            QxError::Syntax(s) => syntax_reason(&s).into(),
            QxError::Encoding(_) => "not valid UTF-8".into(),
            QxError::Io(_) => "cannot be read".into(),
            _ => "not well-formed XML".into(),
        };
        self.error_at(at, reason)
    }

    /// A start tag from `<` at `start`; its name ends at `name_end`, its attributes at `inner_end`.
    fn open(&mut self, start: usize, name_end: usize, inner_end: usize) -> Result<(), XmlError> {
        let buf = self.buf;
        let qname = &buf[start + 1..name_end];
        if !is_name(qname) {
            return Err(self.error_at(start + 1, "not a valid element name"));
        }
        let ordinal = match self.frames.last_mut() {
            Some(parent) => parent.children.bump(qname),
            None => {
                if self.roots > 0 {
                    return Err(self.error_at(start, "a second root element"));
                }
                self.roots += 1;
                1
            }
        };
        if self.frames.len() >= MAX_DEPTH {
            return Err(self.error_at(
                start,
                format!("elements nested deeper than {MAX_DEPTH} levels; not read further"),
            ));
        }
        let (prefix, local) = split_qname(qname);
        let ns_mark = self.bindings.len();
        self.scan_attrs(name_end, inner_end)?;
        self.frames.push(Frame {
            qname,
            local,
            prefix,
            start,
            ordinal,
            children: ChildCounts::default(),
            node: None,
            captured_children: Vec::new(),
            ns_mark,
        });
        Ok(())
    }

    fn pop(&mut self) {
        let Some(frame) = self.frames.pop() else { return };
        self.bindings.truncate(frame.ns_mark);
        for id in frame.captured_children {
            if let Some(node) = self.nodes.get_mut(id as usize) {
                node.total = frame.children.get(node.name);
            }
        }
    }

    fn scan_attrs(&mut self, from: usize, to: usize) -> Result<(), XmlError> {
        let buf = self.buf;
        let b = buf.as_bytes();
        self.attrs.clear();
        let mut seen: Option<HashSet<&str>> = None;
        let mut i = from;
        loop {
            let ws = i;
            while i < to && is_ws(b[i]) {
                i += 1;
            }
            if i >= to {
                return Ok(());
            }
            if i == ws {
                return Err(self.error_at(i, "expected a space before the attribute"));
            }
            if self.attrs.len() >= MAX_ATTRS {
                return Err(self.error_at(
                    i,
                    format!("more than {MAX_ATTRS} attributes in one tag; not read further"),
                ));
            }
            let name_start = i;
            while i < to && !is_ws(b[i]) && b[i] != b'=' {
                i += 1;
            }
            let name = &buf[name_start..i];
            if !is_name(name) {
                return Err(self.error_at(name_start, "not a valid attribute name"));
            }
            while i < to && is_ws(b[i]) {
                i += 1;
            }
            if i >= to || b[i] != b'=' {
                return Err(self.error_at(i, "expected '=' after the attribute name"));
            }
            i += 1;
            while i < to && is_ws(b[i]) {
                i += 1;
            }
            if i >= to || !matches!(b[i], b'"' | b'\'') {
                return Err(self.error_at(i, "an attribute value must be in quotes"));
            }
            let quote = b[i];
            let vstart = i + 1;
            let Some(len) = memchr::memchr(quote, &b[vstart..to]) else {
                return Err(self.error_at(i, "the attribute value has no closing quote"));
            };
            let vend = vstart + len;
            i = vend + 1;
            self.check_attr_value(vstart..vend)?;
            let dup = match &mut seen {
                Some(set) => !set.insert(name),
                None => {
                    let dup = self.attrs.iter().any(|a| &buf[a.name.clone()] == name);
                    if self.attrs.len() >= 32 {
                        let mut set: HashSet<&str> = self.attrs.iter().map(|a| &buf[a.name.clone()]).collect();
                        set.insert(name);
                        seen = Some(set);
                    }
                    dup
                }
            };
            if dup {
                return Err(self.error_at(name_start, "the same attribute twice in one tag"));
            }
            let xmlns = name == "xmlns" || name.starts_with("xmlns:");
            if xmlns {
                let prefix = name.strip_prefix("xmlns:").unwrap_or("");
                let uri = attr_text(buf, vstart..vend);
                self.bindings.push((prefix, uri));
            }
            self.attrs.push(Attr {
                name: name_start..name_start + name.len(),
                value: vstart..vend,
                quote,
                full: ws..i,
                xmlns,
            });
        }
    }

    fn check_attr_value(&self, value: Range<usize>) -> Result<(), XmlError> {
        let b = self.buf.as_bytes();
        let mut at = value.start;
        while let Some(k) = memchr::memchr2(b'<', b'&', &b[at..value.end]) {
            let p = at + k;
            if b[p] == b'<' {
                return Err(self.error_at(p, "'<' inside an attribute value"));
            }
            let Some(semi) = memchr::memchr(b';', &b[p..value.end]) else {
                return Err(self.error_at(p, "'&' without a closing ';' (an ampersand is written &amp;)"));
            };
            reference(&self.buf[p + 1..p + semi]).map_err(|m| self.error_at(p, m))?;
            at = p + semi + 1;
        }
        Ok(())
    }

    /// A handle on the innermost open element, for [`Walker::path`] after the walk.
    pub fn capture(&mut self) -> Option<u32> {
        let depth = self.frames.len();
        if depth == 0 {
            return None;
        }
        let mut first = depth;
        while first > 0 && self.frames[first - 1].node.is_none() {
            first -= 1;
        }
        for d in first..depth {
            let parent = if d == 0 { None } else { self.frames[d - 1].node };
            let id = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
            self.nodes.push(Node {
                name: self.frames[d].qname,
                ordinal: self.frames[d].ordinal,
                total: u32::from(d == 0),
                parent,
            });
            self.frames[d].node = Some(id);
            if d > 0 {
                self.frames[d - 1].captured_children.push(id);
            }
        }
        self.frames[depth - 1].node
    }

    /// The path of a captured element, like `/Log/Entry[3]/Patient`: names as written, an
    /// index only where siblings share the name. Only complete once the walk is over.
    pub fn path(&self, node: Option<u32>) -> String {
        let mut chain = Vec::new();
        let mut at = node;
        while let Some(id) = at {
            let Some(n) = self.nodes.get(id as usize) else { break };
            chain.push(n);
            at = n.parent;
        }
        chain.reverse();
        let mut out = String::new();
        let shown: Box<dyn Iterator<Item = (usize, &&Node)>> = if chain.len() > 2 * PATH_SHOWN {
            let skip = chain.len() - 2 * PATH_SHOWN;
            Box::new(
                chain
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| *i < PATH_SHOWN || *i >= PATH_SHOWN + skip),
            )
        } else {
            Box::new(chain.iter().enumerate())
        };
        for (i, n) in shown {
            if chain.len() > 2 * PATH_SHOWN && i == chain.len() - PATH_SHOWN {
                let _ = write!(out, "/…{} more…", chain.len() - 2 * PATH_SHOWN);
            }
            out.push('/');
            out.push_str(n.name);
            if n.total > 1 {
                let _ = write!(out, "[{}]", n.ordinal);
            }
        }
        out
    }
}

/// quick-xml's syntax errors in dams' words (its own messages are plain too, but they are
/// its words, and a future version may quote what it read).
fn syntax_reason(e: &quick_xml::errors::SyntaxError) -> &'static str {
    use quick_xml::errors::SyntaxError as S;
    match e {
        S::InvalidBangMarkup => "'<!' starts no comment, CDATA section or DOCTYPE",
        S::UnclosedPI => "a processing instruction is not closed",
        S::UnclosedXmlDecl => "the XML declaration is not closed",
        S::UnclosedComment => "a comment is not closed",
        S::UnclosedDoctype => "the DOCTYPE is not closed",
        S::UnclosedCData => "a CDATA section is not closed",
        S::UnclosedTag => "a tag is not closed",
        _ => "not well-formed XML",
    }
}

pub(crate) fn split_qname(qname: &str) -> (&str, &str) {
    match memchr::memchr(b':', qname.as_bytes()) {
        Some(i) => (&qname[..i], &qname[i + 1..]),
        None => ("", qname),
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// An XML Name, approximately: the ASCII rules exactly, any non-ASCII character allowed.
pub(crate) fn is_name(s: &str) -> bool {
    // Bytes, not chars: every byte of a non-ASCII character is >= 0x80 and allowed.
    let b = s.as_bytes();
    let start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b':' || c >= 0x80;
    b.first().is_some_and(|&c| start(c))
        && b[1..]
            .iter()
            .all(|&c| start(c) || c.is_ascii_digit() || c == b'-' || c == b'.')
}

fn is_xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// What a reference `&name;` stands for. Only the five predefined entities and character
/// references are read; any other name stays an unexpanded entity reference.
pub(crate) fn reference(name: &str) -> Result<SegKind, &'static str> {
    if let Some(num) = name.strip_prefix('#') {
        let value = match num.strip_prefix('x') {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()
            }
            None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => num.parse::<u32>().ok(),
            _ => None,
        };
        return value
            .and_then(char::from_u32)
            .filter(|c| is_xml_char(*c))
            .map(SegKind::Char)
            .ok_or("not a valid character reference");
    }
    Ok(match name {
        "lt" => SegKind::Char('<'),
        "gt" => SegKind::Char('>'),
        "amp" => SegKind::Char('&'),
        "apos" => SegKind::Char('\''),
        "quot" => SegKind::Char('"'),
        n if is_name(n) => SegKind::Entity,
        _ => return Err("'&' must start a reference (an ampersand is written &amp;)"),
    })
}

/// The pieces of an attribute value (already checked by the walk).
pub(crate) fn attr_segs(buf: &str, value: Range<usize>, out: &mut Vec<Seg>) {
    out.clear();
    let b = buf.as_bytes();
    let mut at = value.start;
    while let Some(k) = memchr::memchr(b'&', &b[at..value.end]) {
        let p = at + k;
        let Some(semi) = memchr::memchr(b';', &b[p..value.end]) else {
            break;
        };
        if p > at {
            out.push(Seg {
                raw: at..p,
                kind: SegKind::Literal,
            });
        }
        let kind = reference(&buf[p + 1..p + semi]).unwrap_or(SegKind::Entity);
        out.push(Seg {
            raw: p..p + semi + 1,
            kind,
        });
        at = p + semi + 1;
    }
    if at < value.end || out.is_empty() {
        out.push(Seg {
            raw: at..value.end,
            kind: SegKind::Literal,
        });
    }
}

/// An attribute's unescaped text (for namespace URIs).
fn attr_text(buf: &str, value: Range<usize>) -> Cow<'_, str> {
    let raw = &buf[value.clone()];
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut segs = Vec::new();
    attr_segs(buf, value, &mut segs);
    let mut out = String::new();
    for s in segs {
        match s.kind {
            SegKind::Char(c) => out.push(c),
            _ => out.push_str(&buf[s.raw]),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(doc: &str) -> Result<Vec<Item>, XmlError> {
        let mut w = Walker::new(doc);
        let mut out = Vec::new();
        loop {
            let it = w.next()?;
            if it == Item::Eof {
                return Ok(out);
            }
            out.push(it);
        }
    }

    fn err(doc: &str) -> String {
        items(doc).expect_err("must be refused").to_string()
    }

    #[test]
    fn pieces_cover_the_document() {
        let doc = "<?xml version=\"1.0\"?>\r\n<!--c--><a x='1' y=\"&amp;\">t&#xE9;<![CDATA[<c>]]><b/></a>\n";
        let it = items(doc).unwrap();
        assert!(it.contains(&Item::Comment(27..28)), "{it:?}");
        assert!(it.contains(&Item::Seg(Seg {
            raw: 50..51,
            kind: SegKind::Literal
        })));
        assert!(it.contains(&Item::Seg(Seg {
            raw: 51..57,
            kind: SegKind::Char('é')
        })));
        assert!(it.contains(&Item::Seg(Seg {
            raw: 66..69,
            kind: SegKind::CData
        })));
        assert_eq!(it.iter().filter(|i| matches!(i, Item::End { .. })).count(), 2);
    }

    #[test]
    fn attributes_have_ranges() {
        let doc = "<a  p:x = 'v1' y=\"v&lt;2\"/>";
        let mut w = Walker::new(doc);
        assert_eq!(w.next().unwrap(), Item::Start { empty: true });
        let a = w.attrs().to_vec();
        assert_eq!(&doc[a[0].name.clone()], "p:x");
        assert_eq!(&doc[a[0].value.clone()], "v1");
        assert_eq!(&doc[a[0].full.clone()], "  p:x = 'v1'");
        assert_eq!(a[1].quote, b'"');
        let mut segs = Vec::new();
        attr_segs(doc, a[1].value.clone(), &mut segs);
        assert_eq!(segs.len(), 3);
        assert_eq!(w.next().unwrap(), Item::End { end: doc.len() });
    }

    #[test]
    fn malformed_documents_are_refused_with_positions() {
        assert!(err("<a>\n  <b></a>").starts_with("2:6:"), "{}", err("<a>\n  <b></a>"));
        assert!(err("<a>").contains("ends inside an element opened at 1:1"));
        assert!(!err("<SMITH></JONES>").contains("SMITH") && !err("<SMITH></JONES>").contains("JONES"));
        assert!(err("<a x='1' x='2'/>").contains("twice"));
        assert!(err("<a x=1/>").contains("quotes"));
        assert!(
            err("<a>fish & chips</a>").starts_with("1:9:"),
            "{}",
            err("<a>fish & chips</a>")
        );
        assert!(err("<a>&#0;</a>").contains("character reference"));
        assert!(err("<a/><b/>").contains("second root"));
        assert!(err("x<a/>").contains("outside"));
        assert!(err("").contains("no root"));
        assert!(err("<a x='<'/>").contains("'<'"));
        assert!(err("<a><!-- a -- b --></a>").contains("--"));
        assert!(err("<a/><?xml version='1.0'?>").contains("declaration"));
        let many: String = (0..=MAX_ATTRS).map(|i| format!(" a{i}='1'")).collect();
        assert!(err(&format!("<a{many}/>")).contains("attributes in one tag"));
        let enough: String = (0..MAX_ATTRS).map(|i| format!(" a{i}='1'")).collect();
        assert!(items(&format!("<a{enough}/>")).is_ok());
    }

    #[test]
    fn unknown_entities_are_kept() {
        let doc = "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>";
        let it = items(doc).unwrap();
        assert!(it.iter().any(|i| matches!(i, Item::Doctype(_))));
        assert!(it.contains(&Item::Seg(Seg {
            raw: 33..36,
            kind: SegKind::Entity
        })));
    }

    #[test]
    fn paths_count_siblings_after_the_fact() {
        let doc = "<r><e><p/></e><e><p/><p/></e><x/></r>";
        let mut w = Walker::new(doc);
        let mut caught = Vec::new();
        loop {
            match w.next().unwrap() {
                Item::Start { .. } if w.top().map(|f| f.qname) == Some("p") => caught.push(w.capture()),
                Item::Start { .. } if w.top().map(|f| f.qname) == Some("x") => caught.push(w.capture()),
                Item::Eof => break,
                _ => {}
            }
        }
        let paths: Vec<String> = caught.into_iter().map(|n| w.path(n)).collect();
        assert_eq!(paths, vec!["/r/e[1]/p", "/r/e[2]/p[1]", "/r/e[2]/p[2]", "/r/x"]);
    }

    #[test]
    fn namespaces_resolve() {
        let doc = "<a xmlns='urn:d' xmlns:p='urn:p'><p:b/></a>";
        let mut w = Walker::new(doc);
        w.next().unwrap();
        assert_eq!(w.resolve(""), Some("urn:d"));
        w.next().unwrap();
        assert_eq!(w.resolve("p"), Some("urn:p"));
        assert_eq!(w.top().map(|f| (f.prefix, f.local)), Some(("p", "b")));
    }
}

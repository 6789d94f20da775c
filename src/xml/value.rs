//! Values as the document holds them: pieces of literal text, CDATA and references, their
//! unescaped text for matching, and patches that change part of a value in place.

use std::borrow::Cow;
use std::ops::Range;

use super::charset::Charset;

/// What one piece of a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegKind {
    /// Text standing for itself (character data, attribute text, comment text).
    Literal,
    /// The content of a CDATA section (`raw` excludes the `<![CDATA[` and `]]>`).
    CData,
    /// A predefined entity or character reference, and the character it stands for.
    Char(char),
    /// Any other entity reference. It is never expanded: for matching it is its own
    /// literal text, and a match that cuts through it is dropped.
    Entity,
}

/// One piece of a value: its bytes in the (UTF-8) document and what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seg {
    pub raw: Range<usize>,
    pub kind: SegKind,
}

impl Seg {
    fn unescaped_len(&self) -> usize {
        match self.kind {
            SegKind::Char(c) => c.len_utf8(),
            _ => self.raw.len(),
        }
    }
}

/// Where a value sits, which decides how a replacement must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Text,
    /// An attribute value and its quote character.
    Attr(u8),
    Comment,
    Pi,
    Doctype,
}

/// New text for a byte range of the document (in the decoded UTF-8 text), written for its
/// context already, and the edit it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Patch {
    pub range: Range<usize>,
    pub text: String,
    pub edit: usize,
}

/// A value's unescaped text, with where each piece starts in it.
pub(crate) struct Value<'s> {
    pub text: Cow<'s, str>,
    /// Empty for the common single-piece value (it starts at 0): values are made for every
    /// text node and attribute, so this one allocation matters.
    starts: Vec<usize>,
    /// A buffer kept for the next value when this one borrows its text.
    spare: String,
}

impl<'s> Value<'s> {
    pub fn new(buf: &'s str, segs: &[Seg]) -> Value<'s> {
        Value::reuse(buf, segs, (String::new(), Vec::new()))
    }

    /// Like [`Value::new`], building the text in buffers from [`Value::recycle`]: the planner
    /// makes a value for every text node and attribute, and most text holds a reference.
    pub fn reuse(buf: &'s str, segs: &[Seg], (mut text, mut starts): (String, Vec<usize>)) -> Value<'s> {
        starts.clear();
        if let [seg] = segs
            && !matches!(seg.kind, SegKind::Char(_))
        {
            return Value {
                text: Cow::Borrowed(&buf[seg.raw.clone()]),
                starts,
                spare: text,
            };
        }
        text.clear();
        for seg in segs {
            starts.push(text.len());
            match seg.kind {
                SegKind::Char(c) => text.push(c),
                _ => text.push_str(&buf[seg.raw.clone()]),
            }
        }
        Value {
            text: Cow::Owned(text),
            starts,
            spare: String::new(),
        }
    }

    /// The buffers, for the next [`Value::reuse`].
    pub fn recycle(self) -> (String, Vec<usize>) {
        match self.text {
            Cow::Owned(text) => (text, self.starts),
            Cow::Borrowed(_) => (self.spare, self.starts),
        }
    }

    fn start(&self, i: usize) -> usize {
        self.starts.get(i).copied().unwrap_or(0)
    }

    /// The first piece that ends after the unescaped offset `at` (found by halving: a value
    /// of many references is searched once per match).
    fn first_after(&self, segs: &[Seg], at: usize) -> usize {
        if self.starts.is_empty() {
            return 0;
        }
        // The last piece starting at or before `at`; empty pieces before it end at it.
        let i = self.starts.partition_point(|&s| s <= at).saturating_sub(1);
        let mut i = i.min(segs.len().saturating_sub(1));
        while i > 0 && self.start(i - 1) + segs[i - 1].unescaped_len() > at {
            i -= 1;
        }
        i
    }

    /// Where in the document the unescaped offset `at` lies (for line numbers).
    pub fn raw_offset(&self, segs: &[Seg], at: usize) -> usize {
        let from = self.first_after(segs, at);
        for (i, seg) in segs.iter().enumerate().skip(from) {
            let s = self.start(i);
            if at < s + seg.unescaped_len() {
                return match seg.kind {
                    SegKind::Literal | SegKind::CData => seg.raw.start + (at - s),
                    _ => seg.raw.start,
                };
            }
        }
        segs.last().map_or(0, |s| s.raw.end)
    }

    /// Patches that replace the unescaped range `a..b` with `new`. The first piece the range
    /// touches gets the new text; the others become empty, so that escapes, CDATA sections
    /// and comments outside the range keep their bytes. `None` when the range cuts through
    /// an entity reference (it cannot be changed without expanding it).
    pub fn replace(
        &self,
        segs: &[Seg],
        range: Range<usize>,
        new: &str,
        ctx: Context,
        charset: Charset,
        edit: usize,
    ) -> Result<Option<Vec<Patch>>, String> {
        // (raw range, is CDATA) of the pieces the range covers; neighbours in plain text merge.
        let mut pieces: Vec<(Range<usize>, bool)> = Vec::new();
        for (i, seg) in segs.iter().enumerate().skip(self.first_after(segs, range.start)) {
            let s = self.start(i);
            let e = s + seg.unescaped_len();
            if s >= range.end {
                break;
            }
            if e <= range.start || s == e {
                continue;
            }
            let raw = match seg.kind {
                SegKind::Literal | SegKind::CData => {
                    seg.raw.start + (range.start.max(s) - s)..seg.raw.start + (range.end.min(e) - s)
                }
                SegKind::Char(_) | SegKind::Entity => {
                    if range.start > s || range.end < e {
                        return Ok(None);
                    }
                    seg.raw.clone()
                }
            };
            let cdata = seg.kind == SegKind::CData;
            match pieces.last_mut() {
                Some((last, false)) if !cdata && last.end == raw.start => last.end = raw.end,
                _ => pieces.push((raw, cdata)),
            }
        }
        let mut out = Vec::with_capacity(pieces.len());
        for (n, (raw, cdata)) in pieces.into_iter().enumerate() {
            let text = if n > 0 {
                String::new()
            } else if cdata {
                escape_cdata(new, charset)?
            } else {
                escape(new, ctx, charset)?
            };
            out.push(Patch { range: raw, text, edit });
        }
        Ok(Some(out))
    }
}

/// Characters XML 1.0 can hold at all (even as a reference).
fn is_xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// `new` written for its context. Characters the file's encoding cannot hold become
/// character references where XML reads them (text, attributes) and are refused elsewhere.
pub(crate) fn escape(new: &str, ctx: Context, charset: Charset) -> Result<String, String> {
    let mut out = String::with_capacity(new.len());
    for c in new.chars() {
        if !is_xml_char(c) {
            return Err(format!("the new value holds U+{:04X}, which XML cannot hold", c as u32));
        }
        let encodable = charset.can_encode(c);
        match ctx {
            Context::Text | Context::Attr(_) => {
                let quote = match ctx {
                    Context::Attr(q) => q as char,
                    _ => '\0',
                };
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' if ctx == Context::Text => out.push_str("&gt;"),
                    '"' if quote == '"' => out.push_str("&quot;"),
                    '\'' if quote == '\'' => out.push_str("&apos;"),
                    // Attribute values normalise these to spaces; text loses a bare CR.
                    '\t' | '\n' if quote != '\0' => out.push_str(&format!("&#{};", c as u32)),
                    '\r' => out.push_str("&#13;"),
                    c if !encodable => out.push_str(&format!("&#x{:X};", c as u32)),
                    c => out.push(c),
                }
            }
            Context::Comment | Context::Pi | Context::Doctype => {
                if !encodable {
                    return Err(format!(
                        "the new value holds U+{:04X}, which {} cannot hold in a comment or declaration",
                        c as u32,
                        charset.name()
                    ));
                }
                if ctx == Context::Doctype && matches!(c, '<' | '>' | '&' | '%' | '"' | '\'' | '[' | ']') {
                    return Err("the new value holds markup characters and cannot go into the DOCTYPE".into());
                }
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// `new` inside a CDATA section: as it is, unless it holds `]]>` or characters the encoding
/// cannot hold; then the section is closed around the value, which is written as text.
fn escape_cdata(new: &str, charset: Charset) -> Result<String, String> {
    if !new.contains("]]>") && new.chars().all(|c| is_xml_char(c) && charset.can_encode(c)) {
        return Ok(new.to_string());
    }
    Ok(format!("]]>{}<![CDATA[", escape(new, Context::Text, charset)?))
}

/// Would writing `new` over `range` of a comment or processing instruction end it early
/// (`--` in a comment, `?>` in a PI)? Looks at the characters around the range.
pub(crate) fn breaks_markup(buf: &str, content: &Range<usize>, range: &Range<usize>, new: &str, ctx: Context) -> bool {
    let before = buf[content.start..range.start].chars().next_back();
    let after = buf[range.end..content.end].chars().next();
    let mut joined = String::with_capacity(new.len() + 8);
    joined.extend(before);
    joined.push_str(new);
    joined.extend(after);
    match ctx {
        // A comment may not end with '-' either: it would run into the closing `-->`.
        Context::Comment => joined.contains("--") || (range.end == content.end && new.ends_with('-')),
        Context::Pi => joined.contains("?>"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs_of(doc: &str) -> Vec<Seg> {
        // "a&amp;b<![CDATA[c]]>" style test strings are built by hand below.
        vec![Seg {
            raw: 0..doc.len(),
            kind: SegKind::Literal,
        }]
    }

    #[test]
    fn literal_value_borrows() {
        let doc = "Alice";
        let segs = segs_of(doc);
        let v = Value::new(doc, &segs);
        assert!(matches!(v.text, Cow::Borrowed("Alice")));
    }

    #[test]
    fn replacement_spanning_a_reference_empties_the_rest() {
        // M&#xFC;ller
        let doc = "M&#xFC;ller";
        let segs = vec![
            Seg {
                raw: 0..1,
                kind: SegKind::Literal,
            },
            Seg {
                raw: 1..7,
                kind: SegKind::Char('ü'),
            },
            Seg {
                raw: 7..11,
                kind: SegKind::Literal,
            },
        ];
        let v = Value::new(doc, &segs);
        assert_eq!(v.text, "Müller");
        let p = v
            .replace(&segs, 0..v.text.len(), "P&1", Context::Text, Charset::Utf8, 0)
            .unwrap()
            .unwrap();
        assert_eq!(
            p,
            vec![Patch {
                range: 0..11,
                text: "P&amp;1".into(),
                edit: 0
            }]
        );
        // Only "ller": the reference and the M keep their bytes.
        let p = v
            .replace(&segs, 3..7, "x", Context::Text, Charset::Utf8, 0)
            .unwrap()
            .unwrap();
        assert_eq!(p[0].range, 7..11);
    }

    #[test]
    fn entity_references_are_not_cut() {
        let doc = "a&pat;b";
        let segs = vec![
            Seg {
                raw: 0..1,
                kind: SegKind::Literal,
            },
            Seg {
                raw: 1..6,
                kind: SegKind::Entity,
            },
            Seg {
                raw: 6..7,
                kind: SegKind::Literal,
            },
        ];
        let v = Value::new(doc, &segs);
        assert_eq!(v.text, "a&pat;b");
        assert!(
            v.replace(&segs, 0..3, "x", Context::Text, Charset::Utf8, 0)
                .unwrap()
                .is_none()
        );
        assert!(
            v.replace(&segs, 0..7, "x", Context::Text, Charset::Utf8, 0)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn escapes_per_context() {
        let u = Charset::Utf8;
        assert_eq!(escape("a<b>&\"'", Context::Text, u).unwrap(), "a&lt;b&gt;&amp;\"'");
        assert_eq!(escape("a\"'\n", Context::Attr(b'"'), u).unwrap(), "a&quot;'&#10;");
        assert_eq!(escape("a\"'", Context::Attr(b'\''), u).unwrap(), "a\"&apos;");
        assert_eq!(escape("José€", Context::Text, Charset::Latin1).unwrap(), "José&#x20AC;");
        assert!(escape("€", Context::Comment, Charset::Latin1).is_err());
        assert!(escape("\u{1}", Context::Text, u).is_err());
        assert_eq!(escape_cdata("x]]>y", u).unwrap(), "]]>x]]&gt;y<![CDATA[");
        assert_eq!(escape_cdata("a<b", u).unwrap(), "a<b");
    }

    #[test]
    fn comment_and_pi_guards() {
        let buf = "<!--a-b-->";
        let content = 4..7;
        assert!(breaks_markup(buf, &content, &(6..7), "-x", Context::Comment));
        assert!(!breaks_markup(buf, &content, &(6..7), "x", Context::Comment));
        assert!(breaks_markup(buf, &content, &(6..7), "x-", Context::Comment));
        let buf = "<?pi a b>?>";
        assert!(breaks_markup(buf, &(2..9), &(7..8), "?", Context::Pi));
    }
}

//! The text of an encapsulated PDF (`EncapsulatedDocument`), as far as it can be had without a
//! PDF library: the document's own bytes (its Info dictionary and uncompressed streams are
//! plain), and every stream compressed with `FlateDecode` inflated, with a bound on what is
//! inflated. Streams under other filters (images, LZW, encryption) cannot be read and are
//! counted, so that the plan can say the document was not searched whole.

use std::io::Read;

/// At most this much is inflated from one document, all streams together.
pub const INFLATED_MAX: u64 = 64 << 20;

/// What could be read of a PDF.
#[derive(Debug, Default)]
pub struct PdfText {
    /// Inflated streams (the document's own bytes are searched as they are).
    pub streams: Vec<Vec<u8>>,
    /// Streams that could not be read: another filter, broken data, or over the bound.
    pub unreadable: usize,
    /// The document is encrypted: its strings and streams are not readable at all.
    pub encrypted: bool,
}

/// The streams of `pdf`, inflated where they are `FlateDecode`.
#[must_use]
pub fn texts(pdf: &[u8]) -> PdfText {
    let mut out = PdfText {
        encrypted: memchr::memmem::find(pdf, b"/Encrypt").is_some(),
        ..PdfText::default()
    };
    let mut budget = INFLATED_MAX;
    let mut at = 0;
    while let Some(k) = memchr::memmem::find(&pdf[at..], b"stream") {
        let kw = at + k;
        at = kw + 6;
        // `endstream` contains `stream`: skip it; a stream keyword ends its dictionary.
        if kw >= 3 && &pdf[kw - 3..kw] == b"end" {
            continue;
        }
        let mut data = at;
        if pdf.get(data) == Some(&b'\r') {
            data += 1;
        }
        if pdf.get(data) != Some(&b'\n') {
            continue;
        }
        data += 1;
        let Some(end) = memchr::memmem::find(&pdf[data..], b"endstream").map(|e| data + e) else {
            out.unreadable += 1;
            break;
        };
        at = end + 9;
        // The stream's dictionary: from the last `<<` before the keyword.
        let dict_start = memchr::memmem::rfind(&pdf[..kw], b"<<").unwrap_or(0);
        let dict = &pdf[dict_start..kw];
        let filtered = memchr::memmem::find(dict, b"/Filter").is_some();
        if !filtered {
            continue; // plain: searched with the document's bytes
        }
        let flate = memchr::memmem::find(dict, b"/FlateDecode").is_some();
        let other = [
            &b"/DCTDecode"[..],
            b"/LZWDecode",
            b"/JPXDecode",
            b"/JBIG2Decode",
            b"/CCITTFaxDecode",
            b"/ASCII85Decode",
            b"/Crypt",
        ]
        .iter()
        .any(|f| memchr::memmem::find(dict, f).is_some());
        // Images hold no text to search; other filters on text cannot be read here.
        let image = memchr::memmem::find(dict, b"/Image").is_some();
        if image {
            continue;
        }
        if !flate || other || budget == 0 {
            out.unreadable += 1;
            continue;
        }
        let mut inflated = Vec::new();
        let read = flate2::read::ZlibDecoder::new(&pdf[data..end])
            .take(budget)
            .read_to_end(&mut inflated);
        match read {
            Ok(n) => {
                // A stream cut at the bound was not read whole.
                if n as u64 >= budget {
                    out.unreadable += 1;
                }
                budget = budget.saturating_sub(n as u64);
                out.streams.push(inflated);
            }
            Err(_) => out.unreadable += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflated(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap_or_else(|e| panic!("{e}"));
        e.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn flate_streams_are_inflated_and_others_counted() {
        let body = deflated(b"BT /F1 12 Tf (Report for DOE JANE) Tj ET");
        let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Length 44 /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&body);
        pdf.extend_from_slice(
            b"\nendstream\nendobj\n2 0 obj\n<< /Filter /LZWDecode >>\nstream\r\nxyz\nendstream\nendobj\n",
        );
        pdf.extend_from_slice(b"3 0 obj\n<< /Subtype /Image /Filter /DCTDecode >>\nstream\n\xFF\xD8\nendstream\n");
        let t = texts(&pdf);
        assert_eq!(t.streams.len(), 1);
        assert!(t.streams[0].windows(8).any(|w| w == b"DOE JANE"));
        assert_eq!(t.unreadable, 1, "the LZW text stream; the image is no text");
        assert!(!t.encrypted);
        assert!(texts(b"%PDF-1.4 trailer << /Encrypt 5 0 R >>").encrypted);
    }
}

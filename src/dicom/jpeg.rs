//! Text inside compressed frames, found without decoding them: the comment (COM) and
//! application (`APPn`) segments of JPEG, JPEG-LS and lossless JPEG frames, and the comment
//! (COM) segments of a JPEG 2000 main header — where scanners and converters write names,
//! IDs and dates. Only the markers before the compressed data are read, a few kilobytes per
//! frame.

use std::io;

use super::parse::{Element, ElementKind, Parsed};
use super::tags;

/// How much of one fragment's markers is read at most.
const MARKERS_MAX: u64 = 256 * 1024;

/// The payloads of the text-bearing segments in the frames of encapsulated pixel data `e`.
///
/// # Errors
///
/// An I/O error when the frames cannot be read from the file.
pub fn frame_texts(parsed: &Parsed, e: &Element) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    if e.kind != ElementKind::Encapsulated {
        return Ok(out);
    }
    let mut pos = e.value_start;
    let mut first = true;
    loop {
        let mut head = [0u8; 8];
        parsed.read_at(pos, &mut head)?;
        let group = u16::from_le_bytes([head[0], head[1]]);
        let elem = u16::from_le_bytes([head[2], head[3]]);
        let len = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        if (group, elem) != (tags::ITEM.0, tags::ITEM.1) {
            return Ok(out);
        }
        // The first item is the offset table, not a frame.
        if !first && len >= 4 {
            segments(parsed, pos + 8, len, &mut out)?;
        }
        first = false;
        pos += 8 + len;
    }
}

/// Walks the markers of one fragment that starts a JPEG (FF D8) or JPEG 2000 (FF 4F) code
/// stream, up to its compressed data.
fn segments(parsed: &Parsed, start: u64, len: u64, out: &mut Vec<Vec<u8>>) -> io::Result<()> {
    let end = start + len.min(MARKERS_MAX);
    let mut two = [0u8; 2];
    parsed.read_at(start, &mut two)?;
    let j2k = match two {
        [0xFF, 0xD8] => false,
        [0xFF, 0x4F] => true,
        _ => return Ok(()),
    };
    let mut pos = start + 2;
    while pos + 4 <= end {
        let mut m = [0u8; 4];
        parsed.read_at(pos, &mut m)?;
        if m[0] != 0xFF {
            return Ok(());
        }
        let marker = m[1];
        // Compressed data follows: JPEG's start of scan, JPEG 2000's first tile part.
        if (!j2k && marker == 0xDA) || (j2k && (marker == 0x90 || marker == 0x93)) {
            return Ok(());
        }
        // Markers without a length (restart, fill bytes).
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 || marker == 0xFF {
            pos += if marker == 0xFF { 1 } else { 2 };
            continue;
        }
        let seg = u64::from(u16::from_be_bytes([m[2], m[3]]));
        if seg < 2 || pos + 2 + seg > end {
            return Ok(());
        }
        let text = if j2k {
            // COM: a 2-byte registration value, then the comment.
            marker == 0x64
        } else {
            marker == 0xFE || (0xE0..=0xEF).contains(&marker)
        };
        if text {
            let skip = if j2k { 2 } else { 0 };
            let n = (seg - 2).saturating_sub(skip);
            let mut payload = vec![0u8; n as usize];
            parsed.read_at(pos + 4 + skip, &mut payload)?;
            out.push(payload);
        }
        pos += 2 + seg;
    }
    Ok(())
}

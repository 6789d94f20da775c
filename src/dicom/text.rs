//! Values as text: decoding with the file's Specific Character Set for display and matching,
//! and encoding new values with the padding each VR requires.

use dicom_encoding::text::{SpecificCharacterSet, TextCodec};

use super::{Encoding, VR};

/// The character set of a data set, from Specific Character Set (0008,0005).
#[derive(Debug, Clone, Default)]
pub struct Charset {
    codec: SpecificCharacterSet,
    /// False when the file names a character set we do not know; text is then decoded as
    /// Latin-1 so that nothing is lost, and new non-ASCII values are refused.
    known: bool,
}

impl Charset {
    pub fn from_value(value: &str) -> Charset {
        let terms: Vec<&str> = value.split('\\').map(str::trim).filter(|t| !t.is_empty()).collect();
        if terms.is_empty() {
            return Charset {
                codec: SpecificCharacterSet::default(),
                known: true,
            };
        }
        // With ISO 2022 code extensions the first term is the default repertoire; the last
        // named one carries the non-ASCII characters.
        for t in terms.iter().rev() {
            if let Some(codec) = SpecificCharacterSet::from_code(t) {
                return Charset { codec, known: true };
            }
        }
        Charset {
            codec: SpecificCharacterSet::default(),
            known: false,
        }
    }

    #[must_use]
    pub fn decode(&self, bytes: &[u8]) -> String {
        if let Some(ascii) = bytes.is_ascii().then(|| std::str::from_utf8(bytes).ok()).flatten() {
            return ascii.to_owned();
        }
        if self.known
            && let Ok(s) = self.codec.decode(bytes)
        {
            return s;
        }
        // Latin-1 keeps a one-to-one mapping of bytes, so nothing is hidden from a reviewer.
        bytes.iter().map(|&b| b as char).collect()
    }

    /// `text` in this character set.
    ///
    /// # Errors
    ///
    /// Why, when `text` holds a character the character set cannot write.
    pub fn encode(&self, text: &str) -> Result<Vec<u8>, String> {
        if text.is_ascii() {
            return Ok(text.as_bytes().to_vec());
        }
        if !self.known {
            return Err("the file's character set is unknown; only ASCII values can be written".into());
        }
        self.codec
            .encode(text)
            .map_err(|e| format!("cannot encode the value in {}: {e}", self.codec.name()))
    }

    #[must_use]
    pub fn name(&self) -> String {
        self.codec.name().into_owned()
    }
}

/// VRs whose values are character strings.
#[must_use]
pub fn is_text_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    )
}

/// VRs decoded with the Specific Character Set (the others are plain ASCII).
fn uses_charset(vr: VR) -> bool {
    matches!(vr, VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT)
}

/// A value as a human-readable string. Text is decoded and trimmed of padding; numbers are
/// printed; other binary data is summarised by its size.
#[must_use]
pub fn decode(bytes: &[u8], vr: VR, charset: &Charset, enc: Encoding) -> String {
    if is_text_vr(vr) {
        let s = if uses_charset(vr) {
            charset.decode(bytes)
        } else {
            Charset::default().decode(bytes)
        };
        let s = s.trim_end_matches(['\0', ' ']);
        return if matches!(vr, VR::LT | VR::ST | VR::UT) {
            s.to_string()
        } else {
            s.trim_start().to_string()
        };
    }
    let nums = |size: usize, f: &dyn Fn(&[u8]) -> String| -> String {
        bytes.chunks_exact(size).map(f).collect::<Vec<_>>().join("\\")
    };
    match vr {
        VR::US => nums(2, &|c| enc.u16(c).to_string()),
        VR::SS => nums(2, &|c| (enc.u16(c) as i16).to_string()),
        VR::UL => nums(4, &|c| enc.u32(c).to_string()),
        VR::SL => nums(4, &|c| (enc.u32(c) as i32).to_string()),
        VR::FL => nums(4, &|c| f32::from_bits(enc.u32(c)).to_string()),
        VR::FD => nums(8, &|c| {
            let (a, b) = (u64::from(enc.u32(&c[0..4])), u64::from(enc.u32(&c[4..8])));
            let bits = if enc.big_endian { (a << 32) | b } else { (b << 32) | a };
            f64::from_bits(bits).to_string()
        }),
        VR::AT => nums(4, &|c| format!("({:04X},{:04X})", enc.u16(&c[0..2]), enc.u16(&c[2..4]))),
        _ if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') && !bytes.is_empty() => {
            String::from_utf8_lossy(bytes).trim_end().to_string()
        }
        _ => format!("<{} bytes>", bytes.len()),
    }
}

/// Encodes a new value for an element of this VR, padded to even length as PS3.5 6.2 asks
/// (UI with a NUL, other strings with a space). Only text VRs can be given new text.
///
/// # Errors
///
/// Why, when the VR holds no text or `text` holds a character the file's character set cannot
/// write.
pub fn encode(text: &str, vr: VR, charset: &Charset) -> Result<Vec<u8>, String> {
    if !is_text_vr(vr) && vr != VR::UN {
        return Err(format!("a {vr:?} value cannot be replaced with text"));
    }
    let mut bytes = if uses_charset(vr) || vr == VR::UN {
        charset.encode(text)?
    } else if text.is_ascii() {
        text.as_bytes().to_vec()
    } else {
        return Err(format!("a {vr:?} value must be ASCII"));
    };
    if bytes.len() % 2 == 1 {
        bytes.push(if vr == VR::UI { 0 } else { b' ' });
    }
    Ok(bytes)
}

/// Numbers of a DS/IS multi-value such as `ImagePositionPatient`.
#[must_use]
pub fn numbers(text: &str) -> Vec<f64> {
    text.split('\\').filter_map(|s| s.trim().parse::<f64>().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_even_length() {
        let cs = Charset::default();
        assert_eq!(encode("P0001", VR::PN, &cs).unwrap(), b"P0001 ");
        assert_eq!(encode("1.2.3", VR::UI, &cs).unwrap(), b"1.2.3\0");
        assert_eq!(encode("AB", VR::LO, &cs).unwrap(), b"AB");
        assert!(encode("x", VR::OB, &cs).is_err());
    }

    #[test]
    fn latin1_round_trip() {
        let cs = Charset::from_value("ISO_IR 100");
        let bytes = encode("Müller^Jürgen", VR::PN, &cs).unwrap();
        assert_eq!(bytes[1], 0xFC);
        assert_eq!(decode(&bytes, VR::PN, &cs, Encoding::EXPLICIT_LE), "Müller^Jürgen");
    }

    #[test]
    fn unknown_charset_decodes_losslessly_and_refuses_non_ascii() {
        let cs = Charset::from_value("ISO_IR 999");
        assert_eq!(decode(&[b'A', 0xE9], VR::PN, &cs, Encoding::EXPLICIT_LE), "Aé");
        assert!(encode("é", VR::PN, &cs).is_err());
        assert_eq!(encode("E", VR::PN, &cs).unwrap(), b"E ");
    }

    #[test]
    fn decodes_binary_numbers() {
        assert_eq!(
            decode(&[1, 0, 2, 0], VR::US, &Charset::default(), Encoding::EXPLICIT_LE),
            "1\\2"
        );
        assert_eq!(decode(&[0, 1], VR::US, &Charset::default(), Encoding::EXPLICIT_BE), "1");
        assert_eq!(numbers("1.5\\-2\\3e1"), vec![1.5, -2.0, 30.0]);
    }
}

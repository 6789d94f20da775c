//! How paths appear in JSON reports and tables. JSON strings are Unicode, file names on
//! Linux are bytes: a name that is not valid UTF-8 is written with U+FFFD (�) in place of
//! each invalid sequence, instead of failing the whole report.

use std::path::{Path, PathBuf};

use serde::Serializer;

/// A non-empty relative path made of plain names only (no `..`, no root, no prefix): what
/// every path inside an input or output folder must be before it is joined to the folder.
#[must_use]
pub fn plain_relative(rel: &Path) -> bool {
    use std::path::Component;
    !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)))
}

/// `#[serde(serialize_with = "crate::paths::lossy")]` for a `PathBuf`.
///
/// # Errors
///
/// The serializer's error.
pub fn lossy<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// The same for an `Option<PathBuf>`.
///
/// # Errors
///
/// The serializer's error.
pub fn lossy_opt<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

/// The same for a `Vec<PathBuf>`.
///
/// # Errors
///
/// The serializer's error.
pub fn lossy_vec<S: Serializer>(v: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_string_lossy()))
}

/// Marks a path stored as the hex of its bytes: no path can hold NUL, so no UTF-8 path that
/// was stored as it is can start with it.
const HEX_PREFIX: &str = "\u{0}hex:";

/// A path as text that reads back exactly (for state files, not reports): a UTF-8 path as it
/// is, any other as [`HEX_PREFIX`] and the hex of its bytes.
#[must_use]
pub fn to_exact(p: &Path) -> String {
    if let Some(s) = p.to_str() {
        return s.to_string();
    }
    #[cfg(unix)]
    {
        use std::fmt::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::from(HEX_PREFIX);
        for b in p.as_os_str().as_bytes() {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
    #[cfg(not(unix))]
    p.to_string_lossy().into_owned()
}

/// The path [`to_exact`] wrote.
///
/// # Errors
///
/// Why, when `s` is not a path [`to_exact`] writes.
pub fn from_exact(s: &str) -> Result<PathBuf, String> {
    let Some(hex) = s.strip_prefix(HEX_PREFIX) else {
        return Ok(PathBuf::from(s));
    };
    let bad = || format!("path {hex:?} is not hexadecimal bytes");
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks_exact(2)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }
    #[cfg(not(unix))]
    String::from_utf8(bytes).map(PathBuf::from).map_err(|_| bad())
}

/// `#[serde(with = "crate::paths::exact_keys")]` for a `BTreeMap<PathBuf, V>` in a state
/// file: `serde_json` cannot write a non-UTF-8 `PathBuf` as a key, and writing it lossily
/// would read back as another path.
pub mod exact_keys {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the map with its paths as [`to_exact`] writes them.
    ///
    /// # Errors
    ///
    /// The serializer's error.
    pub fn serialize<S: Serializer, V: Serialize>(m: &BTreeMap<PathBuf, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (super::to_exact(k), v)))
    }

    /// Reads a map written by [`serialize`].
    ///
    /// # Errors
    ///
    /// The deserializer's error, also when a path is not one [`to_exact`] writes.
    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(d: D) -> Result<BTreeMap<PathBuf, V>, D::Error> {
        BTreeMap::<String, V>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| Ok((super::from_exact(&k).map_err(D::Error::custom)?, v)))
            .collect()
    }
}

/// The same for an `Option<PathBuf>` value.
pub mod exact_opt {
    use std::path::PathBuf;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the path as [`to_exact`] writes it.
    ///
    /// # Errors
    ///
    /// The serializer's error.
    pub fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_some(&super::to_exact(p)),
            None => s.serialize_none(),
        }
    }

    /// Reads a path written by [`serialize`].
    ///
    /// # Errors
    ///
    /// The deserializer's error, also when the path is not one [`to_exact`] writes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::from_exact(&s).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn invalid_utf8_is_replaced_not_an_error() {
        use std::os::unix::ffi::OsStrExt;
        #[derive(serde::Serialize)]
        struct Row {
            #[serde(serialize_with = "super::lossy")]
            path: std::path::PathBuf,
        }
        let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"a/caf\xE9.dcm"));
        let json = serde_json::to_string(&Row { path }).expect("serialises");
        assert_eq!(json, r#"{"path":"a/caf\ufffd.dcm"}"#.replace("\\ufffd", "\u{FFFD}"));
    }

    #[cfg(unix)]
    #[test]
    fn exact_paths_read_back() {
        use std::os::unix::ffi::OsStrExt;
        for bytes in [&b"a/caf\xE9.dcm"[..], b"plain/path", b"", b"\xFF"] {
            let p = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes));
            assert_eq!(super::from_exact(&super::to_exact(&p)).unwrap(), p);
        }
        assert_eq!(super::to_exact(std::path::Path::new("plain/path")), "plain/path");
        assert!(super::from_exact("\u{0}hex:zz").is_err());
        assert!(super::from_exact("\u{0}hex:abc").is_err());
    }
}

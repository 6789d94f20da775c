//! How paths appear in JSON reports and tables. JSON strings are Unicode, file names on
//! Linux are bytes: a name that is not valid UTF-8 is written with U+FFFD (�) in place of
//! each invalid sequence, instead of failing the whole report.

use std::path::{Path, PathBuf};

use serde::Serializer;

/// `#[serde(serialize_with = "crate::paths::lossy")]` for a `PathBuf`.
pub fn lossy<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// The same for an `Option<PathBuf>`.
pub fn lossy_opt<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

/// The same for a `Vec<PathBuf>`.
pub fn lossy_vec<S: Serializer>(v: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_string_lossy()))
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
}

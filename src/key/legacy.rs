//! The key as one JSON file: the `key.json` of dams before the database stores (version 1,
//! read for migration and import), and the export format (version 2: version 1 plus the
//! folded real IDs the key has seen; version 3: version 2 plus the entries' date offsets). Checksummed: a damaged or hand-edited file is refused.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::KeyEntry;

pub const FORMAT: &str = "dams-key";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub format: String,
    pub version: u32,
    pub prefix: String,
    pub digits: usize,
    pub next: u64,
    pub secret: String,
    pub entries: Vec<KeyEntry>,
    /// Version 2: folds of the real IDs the key has seen (see `rules::fold_id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_ids: Vec<String>,
    /// SHA-256 over the rest of the file.
    #[serde(default)]
    pub checksum: String,
}

impl KeyFile {
    pub fn digest(&self) -> String {
        let mut copy = self.clone();
        copy.checksum.clear();
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        hex(&Sha256::digest(&bytes))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unreadable_reason(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = e.inner();
    let field = e.path().to_string();
    let at = format!("line {} column {}", inner.line(), inner.column());
    let what = match inner.classify() {
        Category::Io => "it cannot be read",
        Category::Syntax => "it is not valid JSON",
        Category::Eof => "it ends too early",
        Category::Data => "a field is missing or holds a value of the wrong kind",
    };
    if field.is_empty() || field == "." {
        format!("{what} ({at})")
    } else {
        format!("{what} (field {field}, {at})")
    }
}

/// Reads and checks a key file; the reason when it is refused.
pub fn parse(bytes: &[u8]) -> Result<KeyFile, String> {
    let file: KeyFile = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
        .map_err(|e| format!("not readable: {}", unreadable_reason(&e)))?;
    if file.format != FORMAT {
        return Err("not a dams key file (its format field says something else)".into());
    }
    if !(1..=3).contains(&file.version) {
        return Err(format!("version {} is not supported by this dams", file.version));
    }
    if file.version == 1 && !file.seen_ids.is_empty() {
        return Err("a version 1 file has no seen_ids".into());
    }
    if file.version < 3 && file.entries.iter().any(|e| e.date_offset.is_some()) {
        return Err(format!("a version {} file has no date offsets", file.version));
    }
    if file.checksum != file.digest() {
        return Err("checksum does not match its content".into());
    }
    if file.secret.len() != 64 || !file.secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("its secret is not 64 hexadecimal digits".into());
    }
    super::rules::check_format(&file.prefix, file.digits).map_err(|e| format!("its code format is refused: {e}"))?;
    if file.next == 0 {
        return Err("its next code number is 0; codes start at 1".into());
    }
    Ok(file)
}

/// The review state file an earlier dams kept beside its key: `key.json` → `key.review.json`.
pub fn review_beside(path: &Path) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "key".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.review.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/key_v1/key.json")).unwrap()
    }

    #[test]
    fn reads_the_file_of_the_earlier_release() {
        let f = parse(&fixture()).unwrap();
        assert_eq!(f.version, 1);
        assert_eq!(f.prefix, "STUDY-");
        assert_eq!(f.entries.len(), 2);
        // No offsets in it, and its checksum still holds: an entry without one is written
        // as before.
        assert!(f.entries.iter().all(|e| e.date_offset.is_none()));
    }

    #[test]
    fn damaged_and_edited_files_are_refused() {
        let good = fixture();
        assert!(parse(&good[..good.len() / 2]).unwrap_err().contains("not readable"));
        let edited = String::from_utf8(good.clone())
            .unwrap()
            .replace("STUDY-001", "STUDY-009");
        assert!(parse(edited.as_bytes()).unwrap_err().contains("checksum"));
        // Edited by hand and given a matching checksum: still checked.
        type Edit = fn(&mut KeyFile);
        let edits: [(&str, Edit); 7] = [
            ("no date offsets", |f| f.entries[0].date_offset = Some(3)),
            ("secret", |f| f.secret = "é".repeat(32)),
            ("digits", |f| f.digits = usize::MAX),
            ("digits", |f| f.digits = 0),
            ("prefix", |f| f.prefix = "../".into()),
            ("prefix", |f| f.prefix = ".P".into()),
            ("next", |f| f.next = 0),
        ];
        for (what, edit) in edits {
            let mut f = parse(&good).unwrap();
            edit(&mut f);
            f.checksum = f.digest();
            let err = parse(&serde_json::to_vec(&f).unwrap()).unwrap_err();
            assert!(err.contains(what), "{what}: {err}");
        }
    }
}

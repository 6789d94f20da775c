//! Where a key store is: an `SQLite` file (the default) or a `PostgreSQL` database, from the
//! `--key` value / `DAMS_KEY`. Shown to people without the URL's password.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded store, a database file. `legacy`: a `key.json` of an earlier dams beside
    /// it, migrated on first use.
    File { db: PathBuf, legacy: Option<PathBuf> },
    /// A team store: `postgres://…` or `postgresql://…`.
    Postgres { url: String },
}

impl Location {
    /// What the user gave: a `postgres://` URL, or a path. A path ending in `.json` (an
    /// earlier dams' key file) means the database beside it with the same name and `.db`; a
    /// file without that extension that holds such JSON means the same name plus `.db`.
    #[must_use]
    pub fn from_arg(arg: &Path) -> Location {
        let text = arg.to_string_lossy();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Location::Postgres { url: text.into_owned() };
        }
        let arg = resolve_links(arg);
        if arg.extension().is_some_and(|e| e == "json") {
            return Location::File {
                db: arg.with_extension("db"),
                legacy: Some(arg),
            };
        }
        if arg.extension().is_none_or(|e| e != "db") && looks_like_json(&arg) {
            let mut db = arg.as_os_str().to_os_string();
            db.push(".db");
            return Location::File {
                db: PathBuf::from(db),
                legacy: Some(arg),
            };
        }
        let legacy = arg.with_extension("json");
        Location::File {
            legacy: (legacy != arg).then_some(legacy),
            db: arg,
        }
    }

    /// The database file of the embedded store.
    #[must_use]
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File { db, .. } => Some(db),
            Location::Postgres { .. } => None,
        }
    }
}

/// A key path that is a symbolic link (or lies in a linked folder) is followed to the real
/// file, which `SQLite` then changes in place: a link is never replaced by a file of its own.
fn resolve_links(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    // A link to a file that is not there yet: follow it (a few hops), so that the store is
    // created where the link points.
    let mut path = path.to_path_buf();
    for _ in 0..16 {
        match std::fs::read_link(&path) {
            Ok(target) => {
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                }
            }
            Err(_) => break,
        }
    }
    // Not there yet: its folder may be a link.
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => match std::fs::canonicalize(dir) {
            Ok(d) => d.join(name),
            Err(_) => path,
        },
        _ => path,
    }
}

fn looks_like_json(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 64];
    let n = f.read(&mut head).unwrap_or(0);
    head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// The URL without its password (`postgres://user:***@host/db`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { db, .. } => write!(f, "{}", db.display()),
            Location::Postgres { url } => f.write_str(&redact(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            redact("postgres://dams:s3cr%40t@db.example:5432/study?sslmode=require"),
            "postgres://dams:***@db.example:5432/study?sslmode=require"
        );
        assert_eq!(redact("postgres://dams@db/study"), "postgres://dams@db/study");
        assert_eq!(redact("postgresql://db/study"), "postgresql://db/study");
        let loc = Location::from_arg(Path::new("postgres://a:b@h/d"));
        assert_eq!(loc.to_string(), "postgres://a:***@h/d");
    }

    #[test]
    fn json_paths_mean_the_database_beside() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            Location::from_arg(&d.join("key.json")),
            Location::File {
                db: d.join("key.db"),
                legacy: Some(d.join("key.json"))
            }
        );
        assert_eq!(
            Location::from_arg(&d.join("key.db")),
            Location::File {
                db: d.join("key.db"),
                legacy: Some(d.join("key.json"))
            }
        );
        std::fs::write(d.join("mykey"), b"  {\"format\": \"dams-key\"}").unwrap();
        assert_eq!(
            Location::from_arg(&d.join("mykey")),
            Location::File {
                db: d.join("mykey.db"),
                legacy: Some(d.join("mykey"))
            }
        );
    }
}

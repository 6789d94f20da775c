//! The team key store: a `PostgreSQL` database reached by a `postgres://` URL, with the same
//! tables as the embedded store. Writers are serialised by a transaction-scoped advisory
//! lock, so codes are unique and never reused across processes on many machines; a server
//! that goes away aborts the transaction on its side, so nothing is half-written.
//!
//! TLS follows libpq's `sslmode`: `disable`; `prefer` (the default) and `require` encrypt
//! without checking the certificate (unless `sslrootcert` is given, then as `verify-ca`);
//! `verify-ca` checks the chain; `verify-full` the chain and the host name. `sslrootcert`
//! names a PEM file of trusted roots (instead of the system's).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::store::{Backend, By, Cursor, Loaded, Meta, Tx, TxFn, failpoint, upgrade};
use super::{KeyEntry, KeyError, Location};

/// The advisory lock every writer takes ("dams" in ASCII).
const LOCK: i64 = 0x6461_6d73;

/// Whether the store's tables are there. A plain catalog query, seen through the statement's
/// snapshot: `to_regclass` answers from a cache that an advisory lock does not refresh, so a
/// process that waited for another's creation could miss it.
const EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'dams_meta' AND schemaname = current_schema())";

const SCHEMA: &str = "
CREATE TABLE dams_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE dams_entries (
    seq BIGSERIAL PRIMARY KEY,
    patient_key TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    code_fold TEXT NOT NULL UNIQUE,
    patient_name TEXT NOT NULL DEFAULT '',
    birth_date TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    added TEXT NOT NULL,
    date_offset INTEGER
);
CREATE TABLE dams_seen_ids (seq BIGSERIAL PRIMARY KEY, fold TEXT NOT NULL UNIQUE);
CREATE TABLE dams_workspaces (folder TEXT PRIMARY KEY, doc TEXT NOT NULL, updated TEXT NOT NULL);
";

pub struct PgStore {
    location: Location,
    client: Client,
    exists: bool,
    /// Whether a write of this connection committed: the store has the current schema.
    upgraded: bool,
}

/// How the TLS part of a URL is to be honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TlsWanted {
    mode: String,
    root_cert: Option<String>,
}

/// Splits off what tokio-postgres does not know (`sslmode` beyond `require`, `sslrootcert`)
/// and gives the URL it can parse.
fn split_tls(url: &str) -> Result<(String, TlsWanted), String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut keep = Vec::new();
    let mut tls = TlsWanted {
        mode: "prefer".into(),
        root_cert: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => tls.mode = percent_decode(v)?,
            "sslrootcert" => tls.root_cert = Some(percent_decode(v)?),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" => {
                return Err(format!("{k} (client certificates) is not supported; use a password"));
            }
            _ => keep.push(pair),
        }
    }
    match tls.mode.as_str() {
        "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full" => {}
        other => {
            return Err(format!(
                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
            ));
        }
    }
    let mode = match tls.mode.as_str() {
        "disable" => "disable",
        "allow" | "prefer" => "prefer",
        _ => "require",
    };
    keep.push(match mode {
        "disable" => "sslmode=disable",
        "prefer" => "sslmode=prefer",
        _ => "sslmode=require",
    });
    Ok((format!("{base}?{}", keep.join("&")), tls))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a % escape is cut short")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("%{hex} is not an escape"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "an escape is not UTF-8".to_string())
}

fn connector(tls: &TlsWanted) -> Result<native_tls::TlsConnector, String> {
    let mut b = native_tls::TlsConnector::builder();
    let verify_chain = tls.mode == "verify-ca" || tls.mode == "verify-full" || tls.root_cert.is_some();
    if let Some(path) = &tls.root_cert {
        let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
        let cert = native_tls::Certificate::from_pem(&pem)
            .map_err(|e| format!("sslrootcert {path}: not a PEM certificate: {e}"))?;
        b.add_root_certificate(cert);
        b.disable_built_in_roots(true);
    }
    if !verify_chain && tls.mode != "verify-full" {
        b.danger_accept_invalid_certs(true);
    }
    if tls.mode != "verify-full" {
        b.danger_accept_invalid_hostnames(true);
    }
    b.build().map_err(|e| format!("TLS: {e}"))
}

/// A lost connection, a server shutting down, or a network error: the server went away.
fn went_away(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        return c.starts_with("08") || c.starts_with("57");
    }
    std::error::Error::source(e).is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
}

fn reason(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        format!("{} ({})", db.message(), db.code().code())
    } else {
        let mut s = e.to_string();
        if let Some(src) = std::error::Error::source(e) {
            s = format!("{s}: {src}");
        }
        s
    }
}

fn map_err(location: &Location, e: postgres::Error) -> KeyError {
    if went_away(&e) {
        return KeyError::Gone {
            location: location.to_string(),
            reason: reason(&e),
        };
    }
    if e.code().is_some_and(|c| c.code() == "55P03") {
        return KeyError::Busy {
            location: location.to_string(),
        };
    }
    if e.code().is_some_and(|c| c.code() == "23505") {
        // A unique row another writer added: cannot happen under the lock, but if it does
        // the plan no longer holds.
        return KeyError::Changed {
            location: location.to_string(),
        };
    }
    KeyError::Db {
        location: location.to_string(),
        reason: reason(&e),
    }
}

impl PgStore {
    pub fn connect(location: &Location, url: &str) -> Result<PgStore, KeyError> {
        let bad = |reason: String| KeyError::Db {
            location: location.to_string(),
            reason,
        };
        let (url, tls) = split_tls(url).map_err(&bad)?;
        let mut config: Config = url
            .parse()
            .map_err(|e: postgres::Error| bad(format!("not a usable URL: {e}")))?;
        if config.get_password().is_none()
            && let Some(pw) = std::env::var_os("PGPASSWORD")
        {
            config.password(pw.to_string_lossy().as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(15));
        }
        config.application_name("dams");
        let connected = if tls.mode == "disable" {
            config.connect(NoTls)
        } else {
            let c = connector(&tls).map_err(&bad)?;
            config.connect(postgres_native_tls::MakeTlsConnector::new(c))
        };
        let mut client =
            connected.map_err(|e| bad(format!("cannot connect to the database server: {}", reason(&e))))?;
        // A writer waits for another's transaction as long as with the embedded store.
        client
            .batch_execute("SET lock_timeout = '120s'")
            .map_err(|e| map_err(location, e))?;
        let exists: bool = client.query_one(EXISTS, &[]).map_err(|e| map_err(location, e))?.get(0);
        Ok(PgStore {
            location: location.clone(),
            client,
            exists,
            upgraded: false,
        })
    }
}

impl Backend for PgStore {
    fn describe(&mut self) -> String {
        let version: String = self
            .client
            .query_one("SHOW server_version", &[])
            .map(|r| r.get(0))
            .unwrap_or_default();
        let tls = self
            .client
            .query_opt(
                "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
                &[],
            )
            .ok()
            .flatten()
            .map_or_else(
                || "not encrypted".into(),
                |r| format!("encrypted ({})", r.get::<_, String>(0)),
            );
        format!("PostgreSQL {version} (team store), connection {tls}")
    }

    fn exists(&self) -> bool {
        self.exists
    }

    fn create(&mut self, meta: &Meta, fill: &mut TxFn<'_>) -> Result<bool, KeyError> {
        let location = self.location.clone();
        let le = |e| map_err(&location, e);
        let mut tx = self.client.transaction().map_err(le)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK]).map_err(le)?;
        let there: bool = tx.query_one(EXISTS, &[]).map_err(le)?.get(0);
        if there {
            tx.commit().map_err(le)?;
            self.exists = true;
            return Ok(false);
        }
        tx.batch_execute(SCHEMA).map_err(le)?;
        {
            let mut t = PgTx {
                tx: &mut tx,
                location: &location,
            };
            t.set_meta(meta)?;
            fill(&mut t)?;
        }
        tx.commit().map_err(le)?;
        self.exists = true;
        Ok(true)
    }

    fn load(&mut self, since: Cursor) -> Result<Loaded, KeyError> {
        let location = self.location.clone();
        let le = |e| map_err(&location, e);
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(le)?;
        let rows: HashMap<String, String> = tx
            .query("SELECT k, v FROM dams_meta", &[])
            .map_err(le)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let meta = Meta::from_rows(&rows).map_err(|reason| KeyError::Damaged {
            location: location.to_string(),
            reason,
            backup: std::path::PathBuf::default(),
        })?;
        let mut cursor = since;
        let mut entries = Vec::new();
        // A store of schema 2 has no offsets yet (and is not changed by reading it).
        let offset = if meta.schema >= 3 {
            "date_offset"
        } else {
            "NULL::integer"
        };
        for r in tx
            .query(
                &format!(
                    "SELECT seq, patient_key, code, patient_name, birth_date, source, added, {offset} FROM dams_entries WHERE seq > $1 ORDER BY seq"
                ),
                &[&since.entries],
            )
            .map_err(le)?
        {
            cursor.entries = r.get(0);
            entries.push(KeyEntry {
                patient_id: r.get(1),
                code: r.get(2),
                patient_name: r.get(3),
                birth_date: r.get(4),
                source: r.get(5),
                added: r.get(6),
                date_offset: r.get(7),
            });
        }
        let mut seen = Vec::new();
        for r in tx
            .query(
                "SELECT seq, fold FROM dams_seen_ids WHERE seq > $1 ORDER BY seq",
                &[&since.seen],
            )
            .map_err(le)?
        {
            cursor.seen = r.get(0);
            seen.push(r.get(1));
        }
        tx.commit().map_err(le)?;
        Ok(Loaded {
            meta,
            entries,
            seen,
            cursor,
        })
    }

    fn read(&mut self, f: &mut TxFn<'_>) -> Result<(), KeyError> {
        let location = self.location.clone();
        let le = |e| map_err(&location, e);
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(le)?;
        f(&mut PgTx {
            tx: &mut tx,
            location: &location,
        })?;
        tx.commit().map_err(le)
    }

    fn write(&mut self, f: &mut TxFn<'_>) -> Result<(), KeyError> {
        let location = self.location.clone();
        let le = |e| map_err(&location, e);
        let mut tx = self.client.transaction().map_err(le)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK]).map_err(le)?;
        let mut t = PgTx {
            tx: &mut tx,
            location: &location,
        };
        if !self.upgraded {
            upgrade(&mut t)?;
        }
        f(&mut t)?;
        failpoint("key-commit");
        tx.commit().map_err(le)?;
        self.upgraded = true;
        Ok(())
    }

    fn read_workspace(&mut self, folder: &str) -> Result<Option<String>, KeyError> {
        let location = self.location.clone();
        self.client
            .query_opt("SELECT doc FROM dams_workspaces WHERE folder = $1", &[&folder])
            .map(|r| r.map(|r| r.get(0)))
            .map_err(|e| map_err(&location, e))
    }

    fn after_change(&mut self) -> Result<(), KeyError> {
        // The server's own backups are the database administrator's.
        Ok(())
    }
}

struct PgTx<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    location: &'a Location,
}

impl PgTx<'_, '_> {
    fn err(&self, e: postgres::Error) -> KeyError {
        map_err(self.location, e)
    }
}

impl Tx for PgTx<'_, '_> {
    fn cursor(&mut self) -> Result<Cursor, KeyError> {
        let r = self
            .tx
            .query_one(
                "SELECT (SELECT coalesce(max(seq), 0) FROM dams_entries), (SELECT coalesce(max(seq), 0) FROM dams_seen_ids)",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(Cursor {
            entries: r.get(0),
            seen: r.get(1),
        })
    }

    fn meta(&mut self) -> Result<Meta, KeyError> {
        let rows: HashMap<String, String> = self
            .tx
            .query("SELECT k, v FROM dams_meta", &[])
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Meta::from_rows(&rows).map_err(|reason| KeyError::Damaged {
            location: self.location.to_string(),
            reason,
            backup: std::path::PathBuf::default(),
        })
    }

    fn set_meta(&mut self, meta: &Meta) -> Result<(), KeyError> {
        let rows = meta.rows();
        let ks: Vec<&str> = rows.iter().map(|(k, _)| *k).collect();
        let vs: Vec<&str> = rows.iter().map(|(_, v)| v.as_str()).collect();
        self.tx
            .execute(
                "INSERT INTO dams_meta (k, v) SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                &[&ks, &vs],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn codes_of(&mut self, keys: &[&str]) -> Result<HashMap<String, String>, KeyError> {
        Ok(self
            .tx
            .query(
                "SELECT patient_key, code FROM dams_entries WHERE patient_key = ANY($1)",
                &[&keys],
            )
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn code_folds(&mut self, folds: &[&str]) -> Result<HashMap<String, String>, KeyError> {
        Ok(self
            .tx
            .query(
                "SELECT code_fold, patient_key FROM dams_entries WHERE code_fold = ANY($1)",
                &[&folds],
            )
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn entries_by(&mut self, by: By, values: &[&str], offsets: bool) -> Result<Vec<KeyEntry>, KeyError> {
        let column = match by {
            By::Key => "patient_key",
            By::CodeFold => "code_fold",
        };
        let offset = if offsets { "date_offset" } else { "NULL::integer" };
        Ok(self
            .tx
            .query(
                &format!(
                    "SELECT patient_key, code, patient_name, birth_date, source, added, {offset} FROM dams_entries WHERE {column} = ANY($1)"
                ),
                &[&values],
            )
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| KeyEntry {
                patient_id: r.get(0),
                code: r.get(1),
                patient_name: r.get(2),
                birth_date: r.get(3),
                source: r.get(4),
                added: r.get(5),
                date_offset: r.get(6),
            })
            .collect())
    }

    fn seen(&mut self, folds: &[&str]) -> Result<HashSet<String>, KeyError> {
        Ok(self
            .tx
            .query("SELECT fold FROM dams_seen_ids WHERE fold = ANY($1)", &[&folds])
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn insert_entries(&mut self, rows: &[KeyEntry]) -> Result<(), KeyError> {
        let col = |f: fn(&KeyEntry) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
        let folds: Vec<String> = rows.iter().map(|e| super::rules::fold_code(&e.code)).collect();
        let folds: Vec<&str> = folds.iter().map(String::as_str).collect();
        self.tx
            .execute(
                "INSERT INTO dams_entries (patient_key, code, code_fold, patient_name, birth_date, source, added, date_offset) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int4[])",
                &[
                    &col(|e| &e.patient_id),
                    &col(|e| &e.code),
                    &folds,
                    &col(|e| &e.patient_name),
                    &col(|e| &e.birth_date),
                    &col(|e| &e.source),
                    &col(|e| &e.added),
                    &rows.iter().map(|e| e.date_offset).collect::<Vec<Option<i32>>>(),
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn offsets_of(&mut self, keys: &[&str]) -> Result<HashMap<String, Option<i32>>, KeyError> {
        Ok(self
            .tx
            .query(
                "SELECT patient_key, date_offset FROM dams_entries WHERE patient_key = ANY($1)",
                &[&keys],
            )
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn set_offsets(&mut self, rows: &[(&str, i32)]) -> Result<(), KeyError> {
        if rows.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = rows.iter().map(|(k, _)| *k).collect();
        let days: Vec<i32> = rows.iter().map(|(_, d)| *d).collect();
        self.tx
            .execute(
                "UPDATE dams_entries AS e SET date_offset = u.d FROM UNNEST($1::text[], $2::int4[]) AS u(k, d) \
                 WHERE e.patient_key = u.k AND e.date_offset IS NULL",
                &[&keys, &days],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn alter(&mut self, sql: &str) -> Result<(), KeyError> {
        self.tx.batch_execute(sql).map_err(|e| self.err(e))
    }

    fn insert_seen(&mut self, folds: &[&str]) -> Result<(), KeyError> {
        self.tx
            .execute(
                "INSERT INTO dams_seen_ids (fold) SELECT DISTINCT f FROM UNNEST($1::text[]) AS f ON CONFLICT (fold) DO NOTHING",
                &[&folds],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn workspace(&mut self, folder: &str) -> Result<Option<String>, KeyError> {
        self.tx
            .query_opt("SELECT doc FROM dams_workspaces WHERE folder = $1", &[&folder])
            .map(|r| r.map(|r| r.get(0)))
            .map_err(|e| self.err(e))
    }

    fn put_workspace(&mut self, folder: &str, doc: &str) -> Result<(), KeyError> {
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        self.tx
            .execute(
                "INSERT INTO dams_workspaces (folder, doc, updated) VALUES ($1, $2, $3) \
                 ON CONFLICT (folder) DO UPDATE SET doc = EXCLUDED.doc, updated = EXCLUDED.updated",
                &[&folder, &doc, &now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_options_are_honoured() {
        let (url, tls) =
            split_tls("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x").unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x&sslmode=require");
        assert_eq!(tls.mode, "verify-full");
        assert_eq!(tls.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (url, tls) = split_tls("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=prefer");
        assert_eq!(tls.mode, "prefer");
        assert!(split_tls("postgres://h/db?sslmode=sometimes").is_err());
        assert!(
            split_tls("postgres://h/db?sslcert=c.pem")
                .unwrap_err()
                .contains("client certificates")
        );
    }
}

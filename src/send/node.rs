//! DICOM nodes: where images can be sent, as named in dams' config file (`[nodes.NAME]`), and
//! the credentials for them, read from the environment or from owner-only files and never shown.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The environment variable naming the config file (overridden by `--config`).
pub const CONFIG_ENV: &str = "DAMS_CONFIG";
/// The AE title dams calls with when a node does not name one.
pub const DEFAULT_CALLING_AE: &str = "DAMS";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    #[error("{0}")]
    Unknown(String),
    #[error("node '{node}': {message}")]
    Node { node: String, message: String },
    #[error("node '{node}': {message}")]
    Credentials { node: String, message: String },
}

/// A secret (password or token): never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that puts it on the wire.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How dams proves who it is to a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    /// HTTP basic authentication (STOW-RS), or a DICOM user identity with a password.
    Basic { user: String, password: Secret },
    /// A DICOM user identity with a user name only.
    User { user: String },
    /// An HTTP bearer token (STOW-RS).
    Bearer(Secret),
}

/// A DICOM node reached over the DICOM Upper Layer (C-ECHO, C-STORE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimse {
    pub called: String,
    pub calling: String,
    pub host: String,
    pub port: u16,
}

/// A `DICOMweb` service (STOW-RS, base URL without a trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stow {
    pub url: String,
    /// PEM file of the certificate authorities to trust instead of the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Instances per request.
    pub batch: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Dimse(Dimse),
    Stow(Stow),
}

/// A node images can be sent to, with its credentials resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The name in the config file (or the address given on the command line).
    pub name: String,
    pub kind: NodeKind,
    pub auth: Auth,
    /// Connecting, and waiting for each answer.
    pub timeout: Duration,
    /// How often a transient failure is tried again (so `retries + 1` attempts in all).
    pub retries: u32,
    /// The wait before the first retry; it doubles with each further one (at most a minute).
    pub retry_delay: Duration,
}

impl Node {
    /// Where the node is, as the send log records it: no credentials, no name that a config
    /// edit could change.
    #[must_use]
    pub fn destination(&self) -> String {
        match &self.kind {
            NodeKind::Dimse(d) => format!("dicom:{}@{}:{}", d.called, host_port_host(&d.host), d.port),
            NodeKind::Stow(s) => format!("stow:{}", s.url),
        }
    }

    /// "RESEARCH@pacs.example:104 (C-STORE)" or "https://…/dicom-web (STOW-RS)".
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Dimse(d) => format!("{}@{}:{} (C-STORE)", d.called, host_port_host(&d.host), d.port),
            NodeKind::Stow(s) => format!("{} (STOW-RS)", s.url),
        }
    }

    /// The wait before retry number `attempt` (1-based).
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.retry_delay.saturating_mul(factor).min(Duration::from_mins(1))
    }

    /// A node named by its address on the command line, with the defaults:
    /// `AE@host:port` (C-STORE) or an `http(s)://` base URL (STOW-RS).
    ///
    /// # Errors
    ///
    /// `NodeError` when `address` is neither `AE@host:port` with a valid AE title and port nor an
    /// `http(s)://` URL.
    pub fn from_address(address: &str) -> Result<Node, NodeError> {
        let err = |message: String| NodeError::Node {
            node: address.to_string(),
            message,
        };
        let kind = if address.starts_with("http://") || address.starts_with("https://") {
            NodeKind::Stow(Stow {
                url: parse_url(address).map_err(err)?,
                ca_file: None,
                batch: 1,
            })
        } else {
            NodeKind::Dimse(parse_dimse(address, DEFAULT_CALLING_AE).map_err(err)?)
        };
        Ok(Node {
            name: address.to_string(),
            kind,
            auth: Auth::None,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            retry_delay: DEFAULT_RETRY_DELAY,
        })
    }
}

/// "[`::1`]" for an IPv6 host, so that host:port stays readable.
fn host_port_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `AE@host:port`, `AE@[v6addr]:port`.
fn parse_dimse(s: &str, calling: &str) -> Result<Dimse, String> {
    let Some((ae, hostport)) = s.rsplit_once('@') else {
        return Err(format!(
            "'{s}' is not a DICOM address: expected CALLED_AE@host:port (e.g. RESEARCH@pacs.example:104)"
        ));
    };
    check_ae_title(ae).map_err(|m| format!("called AE title: {m}"))?;
    check_ae_title(calling).map_err(|m| format!("calling AE title: {m}"))?;
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| format!("'{hostport}': expected [address]:port"))?;
        (h, p)
    } else {
        hostport
            .rsplit_once(':')
            .ok_or_else(|| format!("'{hostport}': expected host:port (the DICOM port, e.g. 104)"))?
    };
    if host.is_empty() {
        return Err(format!("'{s}': no host"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{port}' is not a port number (1–65535)"))?;
    Ok(Dimse {
        called: ae.to_string(),
        calling: calling.to_string(),
        host: host.to_string(),
        port,
    })
}

/// An AE title: 1–16 characters of printable ASCII, no backslash, not only spaces (PS3.5 6.2).
///
/// # Errors
///
/// Why, when the title breaks one of those rules.
pub fn check_ae_title(ae: &str) -> Result<(), String> {
    if ae.trim().is_empty() {
        return Err("empty".into());
    }
    if ae.len() > 16 {
        return Err(format!("'{ae}' is longer than 16 characters"));
    }
    if let Some(c) = ae.chars().find(|c| !(' '..='~').contains(c) || *c == '\\') {
        return Err(format!("'{ae}' holds {c:?}, which an AE title may not"));
    }
    Ok(())
}

/// A STOW-RS base URL: http or https, no credentials in it, no trailing slash.
fn parse_url(s: &str) -> Result<String, String> {
    let after_scheme = s.split_once("://").map_or(s, |(_, r)| r);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        // Said without the URL: it holds the credentials.
        return Err(
            "the URL holds credentials (user:password@); name them with user and password_env or password_file instead"
                .into(),
        );
    }
    if !(s.starts_with("https://") || s.starts_with("http://")) {
        return Err(format!("'{s}': a STOW-RS address starts with https:// or http://"));
    }
    if authority.is_empty() {
        return Err(format!("'{s}': no host"));
    }
    if s.contains('?') || s.contains('#') {
        return Err(format!("'{s}': a base URL has no query or fragment"));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// The nodes of a config file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file they came from (`None`: the default location, which does not exist).
    pub path: Option<PathBuf>,
    pub nodes: BTreeMap<String, NodeSpec>,
}

/// The config file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    nodes: BTreeMap<String, toml::Spanned<NodeSpec>>,
}

/// A `[nodes.NAME]` table as written; credentials are read only when the node is used.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// `CALLED_AE@host:port`.
    dicom: Option<String>,
    /// STOW-RS base URL.
    stow: Option<String>,
    /// Our own AE title.
    calling: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    timeout: Option<Duration>,
    retries: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    retry_delay: Option<Duration>,
    user: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    batch: Option<usize>,
    #[serde(skip)]
    span: (usize, usize),
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("'{s}' is not a duration (like \"30s\" or \"2m\"): {e}")))
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len() + 1, |i| before.len() - i);
    (line, column)
}

/// The config file's default location: `config.toml` in the platform's config folder for
/// dams (`~/.config/dams/` on Linux).
#[must_use]
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "dams").map(|d| d.config_dir().join("config.toml"))
}

impl Config {
    /// Loads the config file: `explicit` (`--config`), else `$DAMS_CONFIG`, else the default
    /// location. A missing default file is an empty config; a named file must exist.
    ///
    /// # Errors
    ///
    /// `NodeError` when a named file is missing, or a file cannot be read or parsed.
    pub fn load(explicit: Option<&Path>) -> Result<Config, NodeError> {
        let from_env = std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let (path, must_exist) = match (explicit, from_env) {
            (Some(p), _) => (Some(p.to_path_buf()), true),
            (None, Some(p)) => (Some(p), true),
            (None, None) => (default_config_path(), false),
        };
        let Some(path) = path else {
            return Ok(Config::default());
        };
        if !must_exist && !path.exists() {
            return Ok(Config {
                path: None,
                nodes: BTreeMap::new(),
            });
        }
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| NodeError::Config {
            file: file.clone(),
            message: format!("cannot read the config file: {e}"),
        })?;
        check_not_writable_by_others(&path).map_err(|message| NodeError::Config {
            file: file.clone(),
            message,
        })?;
        Config::parse(&text, &path)
    }

    /// Parses a config file's text (`path` is where it is, for messages and relative paths).
    ///
    /// # Errors
    ///
    /// `NodeError` when the text is not a valid config.
    pub fn parse(text: &str, path: &Path) -> Result<Config, NodeError> {
        let file = path.display().to_string();
        let parsed: ConfigFile = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            NodeError::Invalid {
                file: file.clone(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let mut nodes = BTreeMap::new();
        for (name, spanned) in parsed.nodes {
            let span = spanned.span();
            let mut spec = spanned.into_inner();
            spec.span = line_col(text, span.start);
            let config = Config {
                path: Some(path.to_path_buf()),
                nodes: BTreeMap::new(),
            };
            // Every node is checked now (a mistake shows up at once), credentials later.
            config.build(&name, &spec, false)?;
            nodes.insert(name, spec);
        }
        Ok(Config {
            path: Some(path.to_path_buf()),
            nodes,
        })
    }

    /// Each node's name and where it is, in name order, for a list to choose from (their
    /// credentials are read only when one is used).
    #[must_use]
    pub fn list(&self) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .filter_map(|(name, spec)| self.build(name, spec, false).ok().map(|n| (name.clone(), n.describe())))
            .collect()
    }

    /// Where the nodes are configured, for messages: the file read, or the default location
    /// (and that it does not exist).
    #[must_use]
    pub fn file(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => default_config_path().map_or_else(
                || "the config file".into(),
                |p| format!("{} (which does not exist)", p.display()),
            ),
        }
    }

    /// The node called `name` with its credentials read; or, when no node has that name and
    /// it is an address (`AE@host:port`, `https://…`), a node at that address.
    ///
    /// # Errors
    ///
    /// `NodeError` when there is no such node and `name` is no address, or its credentials cannot
    /// be read.
    pub fn node(&self, name: &str) -> Result<Node, NodeError> {
        if let Some(spec) = self.nodes.get(name) {
            return self.build(name, spec, true);
        }
        if name.contains('@') || name.starts_with("http://") || name.starts_with("https://") {
            return Node::from_address(name);
        }
        let known = if self.nodes.is_empty() {
            "no node is configured".to_string()
        } else {
            format!(
                "configured: {}",
                self.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        let file = self.file();
        Err(NodeError::Unknown(format!(
            "no node '{name}' in {file}; {known}. Add [nodes.{name}] with dicom = \"AE@host:port\" or stow = \"https://…/dicom-web\", or give an address"
        )))
    }

    fn build(&self, name: &str, spec: &NodeSpec, read_secrets: bool) -> Result<Node, NodeError> {
        let file = self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let (line, column) = spec.span;
        let invalid = |message: String| NodeError::Invalid {
            file: file.clone(),
            line,
            column,
            message: format!("[nodes.{name}]: {message}"),
        };
        let calling = spec.calling.as_deref().unwrap_or(DEFAULT_CALLING_AE);
        let kind = match (&spec.dicom, &spec.stow) {
            (Some(d), None) => {
                for (set, what) in [
                    (spec.ca_file.is_some(), "ca_file"),
                    (spec.batch.is_some(), "batch"),
                    (spec.token_env.is_some() || spec.token_file.is_some(), "a token"),
                ] {
                    if set {
                        return Err(invalid(format!("{what} is for STOW-RS nodes (stow = \"…\")")));
                    }
                }
                NodeKind::Dimse(parse_dimse(d, calling).map_err(invalid)?)
            }
            (None, Some(u)) => {
                if spec.calling.is_some() {
                    return Err(invalid(
                        "calling (an AE title) is for DICOM nodes (dicom = \"…\")".into(),
                    ));
                }
                let batch = spec.batch.unwrap_or(1);
                if batch == 0 {
                    return Err(invalid("batch must be at least 1".into()));
                }
                NodeKind::Stow(Stow {
                    url: parse_url(u).map_err(invalid)?,
                    ca_file: spec.ca_file.as_ref().map(|p| self.relative(p)),
                    batch,
                })
            }
            (Some(_), Some(_)) => return Err(invalid("give either dicom or stow, not both".into())),
            (None, None) => {
                return Err(invalid(
                    "no address: add dicom = \"AE@host:port\" or stow = \"https://…/dicom-web\"".into(),
                ));
            }
        };
        if spec.password_env.is_some() && spec.password_file.is_some() {
            return Err(invalid("give password_env or password_file, not both".into()));
        }
        if spec.token_env.is_some() && spec.token_file.is_some() {
            return Err(invalid("give token_env or token_file, not both".into()));
        }
        let has_password = spec.password_env.is_some() || spec.password_file.is_some();
        let has_token = spec.token_env.is_some() || spec.token_file.is_some();
        if has_token && (spec.user.is_some() || has_password) {
            return Err(invalid(
                "a token (bearer) and a user/password (basic) exclude each other".into(),
            ));
        }
        if has_password && spec.user.is_none() {
            return Err(invalid("a password needs a user".into()));
        }
        if matches!(kind, NodeKind::Stow(_)) && spec.user.is_some() && !has_password {
            return Err(invalid(
                "HTTP basic authentication needs password_env or password_file".into(),
            ));
        }
        let auth = if !read_secrets {
            Auth::None
        } else if has_token {
            Auth::Bearer(self.secret(name, spec.token_env.as_deref(), spec.token_file.as_deref())?)
        } else if let Some(user) = &spec.user {
            if has_password {
                Auth::Basic {
                    user: user.clone(),
                    password: self.secret(name, spec.password_env.as_deref(), spec.password_file.as_deref())?,
                }
            } else {
                Auth::User { user: user.clone() }
            }
        } else {
            Auth::None
        };
        let timeout = spec.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(invalid("timeout must be more than 0".into()));
        }
        Ok(Node {
            name: name.to_string(),
            kind,
            auth,
            timeout,
            retries: spec.retries.unwrap_or(DEFAULT_RETRIES),
            retry_delay: spec.retry_delay.unwrap_or(DEFAULT_RETRY_DELAY),
        })
    }

    /// A path in the config file: `~/` is the home folder, a relative path is relative to
    /// the config file's folder.
    fn relative(&self, p: &Path) -> PathBuf {
        if let Ok(rest) = p.strip_prefix("~")
            && let Some(home) = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
        {
            return home.join(rest);
        }
        match self.path.as_ref().and_then(|c| c.parent()) {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    fn secret(&self, node: &str, env: Option<&str>, file: Option<&Path>) -> Result<Secret, NodeError> {
        let err = |message: String| NodeError::Credentials {
            node: node.to_string(),
            message,
        };
        if let Some(var) = env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                Ok(_) => Err(err(format!("the environment variable {var} is empty"))),
                Err(std::env::VarError::NotPresent) => Err(err(format!("the environment variable {var} is not set"))),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(err(format!("the environment variable {var} is not valid UTF-8")))
                }
            };
        }
        let Some(file) = file else {
            return Err(err("no credentials named".into()));
        };
        let path = self.relative(file);
        check_owner_only(&path).map_err(&err)?;
        let text = std::fs::read_to_string(&path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        // One line: the secret, without the line ending an editor adds.
        let value = text.lines().next().unwrap_or_default().trim_end_matches('\r');
        if value.is_empty() {
            return Err(err(format!("{} is empty", path.display())));
        }
        Ok(Secret(value.to_string()))
    }
}

/// A file that says where images go may be changed by its owner only.
#[cfg(unix)]
fn check_not_writable_by_others(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).map_err(|e| format!("cannot read the config file: {e}"))?;
    let mode = m.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "refused: others can write this config file (mode {mode:03o}), and it decides where images are sent; run chmod go-w {}",
            path.display()
        ));
    }
    check_owner(&m, path)?;
    // Nor may others replace it: its folder is theirs to write only with the sticky bit
    // (like /tmp), where nobody but the owner can rename or remove the file.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(d) = std::fs::metadata(dir) {
        let dmode = d.mode() & 0o7777;
        if dmode & 0o022 != 0 && dmode & 0o1000 == 0 {
            return Err(format!(
                "refused: others can write the folder {} (mode {:03o}) and so replace this config file; run chmod go-w {}",
                dir.display(),
                dmode & 0o777,
                dir.display()
            ));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_not_writable_by_others(_: &Path) -> Result<(), String> {
    Ok(())
}

/// Owned by the user running dams (or root), so nobody else can rewrite it.
#[cfg(unix)]
fn check_owner(m: &std::fs::Metadata, path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me && m.uid() != 0 {
        return Err(format!(
            "refused: {} belongs to another user (uid {}), who could change it",
            path.display(),
            m.uid()
        ));
    }
    Ok(())
}

/// A credentials file must be readable by its owner only.
#[cfg(unix)]
fn check_owner_only(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = m.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "refused: the credentials file {} can be read or written by others (mode {mode:03o}); run chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    check_owner(&m, path)
}

#[cfg(not(unix))]
fn check_owner_only(_: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, NodeError> {
        Config::parse(text, Path::new("/etc/dams/config.toml"))
    }

    #[test]
    fn dicom_and_stow_nodes() {
        let c = parse(
            "[nodes.research]\ndicom = \"RESEARCH@pacs.example:104\"\ncalling = \"DAMS1\"\ntimeout = \"5s\"\nretries = 1\n\
             [nodes.web]\nstow = \"https://pacs.example/dicom-web/\"\nbatch = 4\n",
        )
        .expect("parses");
        let r = c.node("research").expect("node");
        assert_eq!(
            r.kind,
            NodeKind::Dimse(Dimse {
                called: "RESEARCH".into(),
                calling: "DAMS1".into(),
                host: "pacs.example".into(),
                port: 104
            })
        );
        assert_eq!(r.timeout, Duration::from_secs(5));
        assert_eq!(r.retries, 1);
        assert_eq!(r.destination(), "dicom:RESEARCH@pacs.example:104");
        let w = c.node("web").expect("node");
        assert_eq!(w.destination(), "stow:https://pacs.example/dicom-web");
        assert!(matches!(w.kind, NodeKind::Stow(Stow { batch: 4, .. })));
    }

    #[test]
    fn addresses_on_the_command_line() {
        let c = Config::default();
        let n = c.node("ORTHANC@[::1]:4242").expect("v6");
        assert_eq!(n.destination(), "dicom:ORTHANC@[::1]:4242");
        assert!(c.node("http://localhost:8042/dicom-web").is_ok());
        let e = c.node("research").expect_err("unknown");
        assert!(e.to_string().contains("no node 'research'"), "{e}");
    }

    #[test]
    fn mistakes_are_named_with_line_and_column() {
        let e = parse("[nodes.a]\ndicom = \"A@h:104\"\ntimout = \"3s\"\n").expect_err("typo");
        let s = e.to_string();
        assert!(s.contains("config.toml:") && s.contains("timout"), "{s}");
        for (text, needle) in [
            ("[nodes.a]\ndicom = \"h:104\"\n", "CALLED_AE@host:port"),
            ("[nodes.a]\ndicom = \"A@h\"\n", "host:port"),
            ("[nodes.a]\ndicom = \"A@h:0\"\n", "port number"),
            ("[nodes.a]\ndicom = \"WAY_TOO_LONG_AE_TITLE@h:104\"\n", "16 characters"),
            ("[nodes.a]\nstow = \"https://u:pw@h/dicom-web\"\n", "credentials"),
            ("[nodes.a]\nstow = \"ftp://h\"\n", "https://"),
            ("[nodes.a]\n", "no address"),
            ("[nodes.a]\ndicom = \"A@h:1\"\nstow = \"https://h\"\n", "not both"),
            ("[nodes.a]\nstow = \"https://h\"\nuser = \"u\"\n", "password"),
            (
                "[nodes.a]\nstow = \"https://h\"\ntoken_env = \"T\"\nuser = \"u\"\n",
                "exclude",
            ),
            ("[nodes.a]\ndicom = \"A@h:1\"\ntoken_env = \"T\"\n", "STOW-RS"),
            ("[nodes.a]\ndicom = \"A@h:1\"\ntimeout = \"soon\"\n", "duration"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains("pw@"), "a credential is never repeated: {e}");
        }
    }

    #[test]
    fn credentials_come_from_the_environment_or_an_owner_only_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = dir.path().join("config.toml");
        let secret = dir.path().join("token");
        std::fs::write(&secret, "s3cret-token\n").expect("write");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let text = "[nodes.web]\nstow = \"https://h/dicom-web\"\ntoken_file = \"token\"\n\
                    [nodes.env]\nstow = \"https://h/dicom-web\"\nuser = \"dams\"\npassword_env = \"DAMS_TEST_NODE_PASSWORD_UNSET\"\n";
        let c = Config::parse(text, &cfg).expect("parses");
        let e = c.node("web").expect_err("group-readable").to_string();
        assert!(e.contains("chmod 600") && !e.contains("s3cret"), "{e}");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let n = c.node("web").expect("owner-only");
        assert_eq!(n.auth, Auth::Bearer(Secret::new("s3cret-token")));
        assert!(!format!("{n:?}").contains("s3cret"), "Debug hides the secret");
        let e = c.node("env").expect_err("unset").to_string();
        assert!(e.contains("DAMS_TEST_NODE_PASSWORD_UNSET is not set"), "{e}");
    }

    #[test]
    fn a_config_file_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, "[nodes.a]\ndicom = \"A@h:104\"\n").expect("write");
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let e = Config::load(Some(&cfg)).expect_err("world-writable").to_string();
        assert!(e.contains("chmod go-w"), "{e}");
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(Config::load(Some(&cfg)).expect("ok").node("a").is_ok());
        // A folder others can write: they could put another file in its place.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = Config::load(Some(&cfg))
            .expect_err("folder writable by others")
            .to_string();
        assert!(e.contains("others can write the folder"), "{e}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert!(Config::load(Some(&cfg)).is_ok(), "a sticky folder like /tmp is fine");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let e = Config::load(Some(&dir.path().join("none.toml")))
            .expect_err("missing")
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let mut n = Node::from_address("A@h:104").expect("node");
        n.retry_delay = Duration::from_millis(500);
        assert_eq!(n.backoff(1), Duration::from_millis(500));
        assert_eq!(n.backoff(3), Duration::from_secs(2));
        assert_eq!(n.backoff(30), Duration::from_mins(1));
    }
}

//! `DICOMweb` STOW-RS client (PS3.18 10.5): instances are `POSTed` to `{base}/studies` as
//! `multipart/related; type="application/dicom"`, streamed from disk, and the node's answer
//! (`ReferencedSOPSequence` / `FailedSOPSequence`) gives each instance its status.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use ureq::Agent;

use super::node::{Auth, Node, Stow};
use super::{Attempt, LinkError, Outcome, SendFile, Transport};

/// A STOW-RS conversation: one HTTP agent (connections are kept alive between requests).
pub struct Session<'a> {
    node: &'a Node,
    stow: &'a Stow,
    agent: Agent,
}

impl<'a> Session<'a> {
    /// A session with the STOW-RS service of `node`.
    ///
    /// # Errors
    ///
    /// Why, when the node's `ca_file` cannot be read or holds no certificate.
    pub fn new(node: &'a Node, stow: &'a Stow) -> Result<Session<'a>, String> {
        Ok(Session {
            node,
            stow,
            agent: agent(node, stow)?,
        })
    }
}

pub(crate) fn agent(node: &Node, stow: &Stow) -> Result<Agent, String> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(ca) = &stow.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read ca_file {}: {e}", ca.display()))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => return Err(format!("ca_file {}: {e}", ca.display())),
            }
        }
        if certs.is_empty() {
            return Err(format!("ca_file {}: no certificate in it", ca.display()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    Ok(Agent::config_builder()
        .http_status_as_error(false)
        // A redirected POST would lose its body or its credentials: say where it points instead.
        .max_redirects(0)
        .timeout_connect(Some(node.timeout))
        .timeout_per_read(Some(node.timeout))
        .timeout_per_write(Some(node.timeout))
        .user_agent(format!("dams/{}", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build()
        .new_agent())
}

/// The `Authorization` header value, if any. Never logged.
fn authorization(auth: &Auth) -> Option<String> {
    match auth {
        Auth::None | Auth::User { .. } => None,
        Auth::Basic { user, password } => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()))
        )),
        Auth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
    }
}

/// A GET with the node's credentials.
pub(crate) fn authorized_get(
    agent: &Agent,
    node: &Node,
    url: &str,
    accept: &str,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    let req = agent.get(url).header("Accept", accept);
    match authorization(&node.auth) {
        Some(a) => req.header("Authorization", a),
        None => req,
    }
}

/// Reads the parts of a multipart body one after the other.
struct Parts(VecDeque<Box<dyn Read + Send>>);

impl Read for Parts {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(front) = self.0.front_mut() {
            let n = front.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.0.pop_front();
        }
        Ok(0)
    }
}

/// One instance as a PS3.10 file: the file itself, or — for a data set stored without file
/// meta information — a preamble and file meta made for it, followed by the data set's own
/// bytes (the data set is never re-encoded).
fn part10(path: &Path, f: &SendFile) -> Result<(Vec<u8>, std::fs::File, u64, u64), String> {
    let parsed = crate::dicom::parse::parse_file(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let layout = parsed.layout.clone();
    drop(parsed);
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let len = file.metadata().map_err(|e| format!("cannot read the file: {e}"))?.len();
    if layout.preamble && layout.has_meta {
        return Ok((Vec::new(), file, 0, len));
    }
    let mut head = vec![0u8; 128];
    head.extend_from_slice(b"DICM");
    if layout.has_meta {
        // Meta without a preamble: the bytes from the meta group on, behind a preamble.
        let mut magic = [0u8; 4];
        let mut r = &file;
        r.read_exact(&mut magic)
            .map_err(|e| format!("cannot read the file: {e}"))?;
        let from = if &magic == b"DICM" { 4 } else { 0 };
        return Ok((head, file, from, len - from));
    }
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(f.sop_class_uid.as_str())
        .media_storage_sop_instance_uid(f.sop_instance_uid.as_str())
        .transfer_syntax(layout.transfer_syntax.as_str())
        .build()
        .map_err(|e| format!("cannot make file meta information: {e}"))?;
    meta.write(&mut head)
        .map_err(|e| format!("cannot make file meta information: {e}"))?;
    let start = layout.dataset_start;
    Ok((head, file, start, len.saturating_sub(start)))
}

impl Transport for Session<'_> {
    fn batch_size(&self) -> usize {
        self.stow.batch
    }

    fn store(&mut self, root: &Path, files: &[&SendFile]) -> Result<Vec<Attempt>, LinkError> {
        let boundary = boundary();
        let mut parts: VecDeque<Box<dyn Read + Send>> = VecDeque::new();
        let mut length = 0u64;
        // Files that cannot be read fail on their own; the others go.
        let mut results: Vec<Option<Attempt>> = vec![None; files.len()];
        let mut sending = 0;
        for (i, f) in files.iter().enumerate() {
            match part10(&root.join(&f.path), f) {
                Err(e) => {
                    results[i] = Some(Attempt {
                        outcome: Outcome::Failure,
                        transfer_syntax: f.transfer_syntax.clone(),
                        code: None,
                        detail: e,
                    });
                }
                Ok((head, file, from, len)) => {
                    let header = format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
                    let mut file = file;
                    io::Seek::seek(&mut file, io::SeekFrom::Start(from))
                        .map_err(|e| LinkError::permanent(format!("{}: {e}", f.path.display())))?;
                    length += (header.len() + head.len()) as u64 + len + 2;
                    parts.push_back(Box::new(io::Cursor::new(header)));
                    parts.push_back(Box::new(io::Cursor::new(head)));
                    parts.push_back(Box::new(file.take(len)));
                    parts.push_back(Box::new(io::Cursor::new(b"\r\n".to_vec())));
                    sending += 1;
                }
            }
        }
        if sending == 0 {
            return Ok(results.into_iter().flatten().collect());
        }
        let close = format!("--{boundary}--\r\n").into_bytes();
        length += close.len() as u64;
        parts.push_back(Box::new(io::Cursor::new(close)));

        let url = format!("{}/studies", self.stow.url);
        let mut req = self
            .agent
            .post(&url)
            .header(
                "Content-Type",
                format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
            )
            .header("Accept", "application/dicom+json")
            .header("Content-Length", length.to_string());
        if let Some(a) = authorization(&self.node.auth) {
            req = req.header("Authorization", a);
        }
        let mut body = Parts(parts);
        let mut response = req
            .send(ureq::SendBody::from_reader(&mut body))
            .map_err(|e| transport_error(&e, &self.stow.url, self.node.timeout))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let answer = Answer::parse(&text);
        let verdicts = judge(status, location.as_deref(), &self.stow.url, answer.as_ref())?;
        for (i, f) in files.iter().enumerate() {
            if results[i].is_none() {
                results[i] = Some(verdicts(f));
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    fn close(&mut self) {}
}

/// A multipart boundary that no DICOM file will contain by chance.
fn boundary() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("dams-{hex}")
}

/// What the node said about each instance.
#[derive(Debug, Default)]
struct Answer {
    /// SOP Instance UID → warning reason (0 = none).
    stored: HashMap<String, u16>,
    /// SOP Instance UID → failure reason.
    failed: HashMap<String, u16>,
}

impl Answer {
    /// The DICOM JSON response (PS3.18 F.2); `None` when it is not that.
    fn parse(text: &str) -> Option<Answer> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let items = |tag: &str| -> Vec<serde_json::Value> {
            v.get(tag)
                .and_then(|e| e.get("Value"))
                .and_then(|x| x.as_array())
                .cloned()
                .unwrap_or_default()
        };
        let first_str = |item: &serde_json::Value, tag: &str| {
            item.get(tag)
                .and_then(|e| e.get("Value"))
                .and_then(|x| x.get(0))
                .and_then(|x| x.as_str())
                .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        };
        let first_u16 = |item: &serde_json::Value, tag: &str| {
            item.get(tag)
                .and_then(|e| e.get("Value"))
                .and_then(|x| x.get(0))
                .and_then(serde_json::Value::as_u64)
                .and_then(|x| u16::try_from(x).ok())
        };
        let mut a = Answer::default();
        for item in items("00081199") {
            if let Some(uid) = first_str(&item, "00081155") {
                a.stored.insert(uid, first_u16(&item, "00081196").unwrap_or(0));
            }
        }
        for item in items("00081198") {
            if let Some(uid) = first_str(&item, "00081155") {
                a.failed.insert(uid, first_u16(&item, "00081197").unwrap_or(0));
            }
        }
        Some(a)
    }
}

/// What a STOW-RS failure or warning reason means (PS3.18 Table 10.5.3-1; PS3.4 B.2.3).
fn reason_meaning(code: u16) -> (Outcome, String) {
    match code {
        0xC122 => (
            Outcome::Failure,
            "refused: the node does not support its transfer syntax".into(),
        ),
        0xC000..=0xCFFF => (
            Outcome::Failure,
            "error: the node cannot understand the instance".into(),
        ),
        _ => {
            let (o, m) = super::dimse::store_status(code);
            (o, m.to_string())
        }
    }
}

type Verdict<'b> = Box<dyn Fn(&SendFile) -> Attempt + 'b>;

/// Turns the HTTP status and the node's answer into a verdict per instance, or an error for
/// the whole request.
fn judge<'b>(
    status: u16,
    location: Option<&str>,
    url: &str,
    answer: Option<&'b Answer>,
) -> Result<Verdict<'b>, LinkError> {
    let http = format!("HTTP {status}");
    match status {
        401 => {
            return Err(LinkError::permanent(format!(
                "{url}: authentication failed (HTTP 401): check the node's user and password or token"
            )));
        }
        403 => return Err(LinkError::permanent(format!("{url}: not allowed to store (HTTP 403)"))),
        404 => {
            return Err(LinkError::permanent(format!(
                "{url}/studies: no STOW-RS service there (HTTP 404)"
            )));
        }
        405 | 501 => {
            return Err(LinkError::permanent(format!(
                "{url}/studies: the server does not accept STOW-RS ({http})"
            )));
        }
        415 => {
            return Err(LinkError::permanent(format!(
                "{url}: the server does not accept multipart/related application/dicom (HTTP 415)"
            )));
        }
        300..=399 => {
            return Err(LinkError::permanent(format!(
                "{url}/studies redirects ({http}) to {}: use that address",
                location.unwrap_or("another address")
            )));
        }
        408 | 429 | 500..=599 => {
            return Err(LinkError::transient(format!("{url}: the server answered {http}")));
        }
        _ => {}
    }
    let ok = (200..300).contains(&status);
    Ok(Box::new(move |f: &SendFile| {
        let attempt = |outcome, code: Option<String>, detail: String| Attempt {
            outcome,
            transfer_syntax: f.transfer_syntax.clone(),
            code,
            detail,
        };
        let uid = f.sop_instance_uid.as_str();
        match answer {
            Some(a) if a.failed.contains_key(uid) => {
                let code = a.failed[uid];
                let (outcome, meaning) = reason_meaning(code);
                let outcome = if outcome == Outcome::Transient {
                    Outcome::Transient
                } else {
                    Outcome::Failure
                };
                attempt(outcome, Some(format!("{http}, {code:04X}")), meaning)
            }
            Some(a) if a.stored.contains_key(uid) => match a.stored[uid] {
                0 => attempt(Outcome::Success, Some(http.clone()), "stored".into()),
                w => attempt(
                    Outcome::Warning,
                    Some(format!("{http}, {w:04X}")),
                    super::dimse::store_status(w).1.to_string(),
                ),
            },
            // 200 means every instance was stored; some servers answer in XML or not at all.
            None if status == 200 => attempt(Outcome::Success, Some(http.clone()), "stored".into()),
            _ if status == 413 => attempt(
                Outcome::Failure,
                Some(http.clone()),
                "too large for the node (HTTP 413)".into(),
            ),
            _ if ok => attempt(
                Outcome::Failure,
                Some(http.clone()),
                "the node's answer does not list it as stored".into(),
            ),
            _ => attempt(
                Outcome::Failure,
                Some(http.clone()),
                format!("the node refused it ({http})"),
            ),
        }
    }))
}

pub(crate) fn transport_error(e: &ureq::Error, url: &str, timeout: Duration) -> LinkError {
    use ureq::Error as E;
    match e {
        E::Timeout(_) => LinkError::transient(format!(
            "{url}: no answer within {}",
            humantime::format_duration(timeout)
        )),
        E::HostNotFound => LinkError::permanent(format!("{url}: host not found")),
        E::ConnectionFailed => LinkError::transient(format!("cannot connect to {url}")),
        E::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            LinkError::transient(format!("cannot connect to {url}: {io}"))
        }
        E::Io(io) => LinkError::transient(format!("{url}: {io}")),
        E::Tls(m) => LinkError::permanent(format!("{url}: TLS: {m}")),
        other => {
            let text = other.to_string();
            // TLS certificate problems are not worth retrying.
            if text.to_lowercase().contains("certificate") {
                LinkError::permanent(format!("{url}: {text}"))
            } else {
                LinkError::transient(format!("{url}: {text}"))
            }
        }
    }
}

/// Checks that a STOW-RS service answers: a QIDO-RS query for one study at the base URL.
///
/// # Errors
///
/// `LinkError` when the service cannot be reached or does not answer the query.
pub fn probe(node: &Node, stow: &Stow) -> Result<String, LinkError> {
    let agent = agent(node, stow).map_err(LinkError::permanent)?;
    let started = Instant::now();
    let url = format!("{}/studies?limit=1", stow.url);
    let response = authorized_get(&agent, node, &url, "application/dicom+json")
        .call()
        .map_err(|e| transport_error(&e, &stow.url, node.timeout))?;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis();
    match status {
        200..=299 => Ok(format!("{} answered (QIDO-RS, HTTP {status}) in {ms} ms", stow.url)),
        401 => Err(LinkError::permanent(format!(
            "{}: authentication failed (HTTP 401): check the node's user and password or token",
            stow.url
        ))),
        403 => Err(LinkError::permanent(format!("{}: not allowed (HTTP 403)", stow.url))),
        404 => Err(LinkError::permanent(format!(
            "{}: no DICOMweb service there (HTTP 404 for /studies)",
            stow.url
        ))),
        // A STOW-only service need not answer queries: it is there all the same.
        405 | 501 => Ok(format!(
            "{} answered in {ms} ms (HTTP {status}: it does not answer queries, which sending does not need)",
            stow.url
        )),
        _ => Err(LinkError::transient(format!(
            "{}: the server answered HTTP {status}",
            stow.url
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(uid: &str) -> SendFile {
        SendFile {
            path: "a.dcm".into(),
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sop_instance_uid: uid.into(),
            transfer_syntax: "1.2.840.10008.1.2.1".into(),
        }
    }

    #[test]
    fn the_answer_decides_per_instance() {
        // Orthanc's answer to a request with one good and one refused instance (abridged).
        let text = r#"{"00081198":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2"]},
            "00081155":{"vr":"UI","Value":["1.2.3"]},"00081197":{"vr":"US","Value":[272]}}]},
            "00081199":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.4"]}},
            {"00081155":{"vr":"UI","Value":["1.2.5"]},"00081196":{"vr":"US","Value":[45056]}}]}}"#;
        let a = Answer::parse(text).expect("json");
        let v = judge(202, None, "http://h/dicom-web", Some(&a)).expect("per instance");
        let failed = v(&file("1.2.3"));
        assert_eq!(failed.outcome, Outcome::Failure);
        assert_eq!(failed.code.as_deref(), Some("HTTP 202, 0110"));
        assert_eq!(v(&file("1.2.4")).outcome, Outcome::Success);
        assert_eq!(v(&file("1.2.5")).outcome, Outcome::Warning);
        assert_eq!(v(&file("9.9")).outcome, Outcome::Failure, "not listed: not confirmed");
    }

    #[test]
    fn http_errors_for_the_whole_request() {
        assert!(judge(503, None, "u", None).err().is_some_and(|e| e.transient));
        assert!(judge(429, None, "u", None).err().is_some_and(|e| e.transient));
        let e = judge(401, None, "u", None).err().expect("error");
        assert!(!e.transient && e.message.contains("authentication"));
        let e = judge(302, Some("https://other/dicom-web/studies"), "u", None)
            .err()
            .expect("redirect");
        assert!(e.message.contains("https://other"), "{}", e.message);
        let v = judge(200, None, "u", None).expect("200 without a body");
        assert_eq!(v(&file("1")).outcome, Outcome::Success);
    }

    #[test]
    fn multipart_parts_are_read_in_order() {
        let mut p = Parts(VecDeque::from(vec![
            Box::new(io::Cursor::new(b"ab".to_vec())) as Box<dyn Read + Send>,
            Box::new(io::Cursor::new(Vec::new())),
            Box::new(io::Cursor::new(b"cd".to_vec())),
        ]));
        let mut s = String::new();
        p.read_to_string(&mut s).expect("read");
        assert_eq!(s, "abcd");
    }

    #[test]
    fn credentials_are_headers_only() {
        let a = Auth::Basic {
            user: "dams".into(),
            password: super::super::Secret::new("pw"),
        };
        assert_eq!(authorization(&a).as_deref(), Some("Basic ZGFtczpwdw=="));
        assert_eq!(authorization(&Auth::None), None);
    }
}

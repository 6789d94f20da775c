//! Fetch: bring a study (or a patient's studies) from a `DICOMweb` node into a local folder
//! to review, with QIDO-RS to list the instances and WADO-RS to retrieve each one in the
//! transfer syntax it is stored in. Files appear atomically; a rerun skips what is there.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::node::{Node, NodeKind, Stow};
use super::stow::{authorized_get, transport_error};
use super::{LinkError, SendError};
use crate::progress::Progress;

/// What to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Study(String),
    /// Every study of the patient with this `PatientID` (never logged).
    Patient(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct FetchFailure {
    pub sop_instance_uid: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FetchReport {
    pub node: String,
    #[serde(serialize_with = "crate::paths::lossy")]
    pub into: PathBuf,
    pub studies: usize,
    pub instances: usize,
    pub written: usize,
    /// Already in the folder from an earlier fetch.
    pub already_there: usize,
    pub failed: Vec<FetchFailure>,
    pub stopped: Option<String>,
    pub cancelled: bool,
}

impl FetchReport {
    #[must_use]
    pub fn complete(&self) -> bool {
        self.instances > 0
            && self.failed.is_empty()
            && self.stopped.is_none()
            && !self.cancelled
            && self.written + self.already_there == self.instances
    }
}

/// One instance to retrieve.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    study: String,
    series: String,
    instance: String,
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A UID fit to be a file or folder name (UIDs are digits and dots).
fn uid_ok(uid: &str) -> bool {
    !uid.is_empty() && uid.len() <= 64 && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !uid.starts_with('.')
}

fn first_string(item: &serde_json::Value, tag: &str) -> Option<String> {
    item.get(tag)?
        .get("Value")?
        .get(0)?
        .as_str()
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
}

/// A QIDO-RS query, page by page: the JSON objects it returns.
fn query(
    node: &Node,
    stow: &Stow,
    agent: &ureq::Agent,
    path: &str,
    params: &str,
) -> Result<Vec<serde_json::Value>, LinkError> {
    const PAGE: usize = 500;
    let mut all = Vec::new();
    loop {
        let sep = if params.is_empty() { "" } else { "&" };
        let url = format!("{}{path}?{params}{sep}limit={PAGE}&offset={}", stow.url, all.len());
        let mut response = authorized_get(agent, node, &url, "application/dicom+json")
            .call()
            .map_err(|e| transport_error(&e, &stow.url, node.timeout))?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            // No match.
            204 => break,
            401 => {
                return Err(LinkError::permanent(format!(
                    "{}: authentication failed (HTTP 401)",
                    stow.url
                )));
            }
            404 => {
                return Err(LinkError::permanent(format!(
                    "{}{path}: not found (HTTP 404)",
                    stow.url
                )));
            }
            408 | 429 | 500..=599 => {
                return Err(LinkError::transient(format!(
                    "{}: the server answered HTTP {status}",
                    stow.url
                )));
            }
            _ => {
                return Err(LinkError::permanent(format!(
                    "{}: the query was refused (HTTP {status})",
                    stow.url
                )));
            }
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| transport_error(&e, &stow.url, node.timeout))?;
        let page: Vec<serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| LinkError::permanent(format!("{}: the answer to a query is not DICOM JSON: {e}", stow.url)))?;
        let n = page.len();
        all.extend(page);
        if n < PAGE {
            break;
        }
    }
    Ok(all)
}

/// The first part of a multipart/related body.
fn first_part<'b>(content_type: &str, body: &'b [u8]) -> Result<&'b [u8], String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .ok_or_else(|| format!("the answer is not multipart ({content_type})"))?;
    let delimiter = format!("--{boundary}");
    let start = memchr::memmem::find(body, delimiter.as_bytes()).ok_or("no part in the answer")?;
    let after = &body[start + delimiter.len()..];
    let headers_end = memchr::memmem::find(after, b"\r\n\r\n").ok_or("a part without headers")?;
    let content = &after[headers_end + 4..];
    let end = memchr::memmem::find(content, format!("\r\n{delimiter}").as_bytes()).ok_or("a part that never ends")?;
    Ok(&content[..end])
}

/// Fetches `what` from `node` into `into` (`into/STUDY/SERIES/INSTANCE.dcm`).
///
/// # Errors
///
/// `SendError` when the node cannot be reached or refuses the query, or `into` cannot be written.
pub fn fetch(
    node: &Node,
    what: &Selection,
    into: &Path,
    progress: Progress,
    cancel: &AtomicBool,
) -> Result<FetchReport, SendError> {
    let NodeKind::Stow(stow) = &node.kind else {
        return Err(SendError::Setup {
            node: node.name.clone(),
            message:
                "fetching needs a DICOMweb node (stow = \"https://…/dicom-web\"): C-FIND/C-GET is not supported yet"
                    .into(),
        });
    };
    let setup = |message: String| SendError::Setup {
        node: node.name.clone(),
        message,
    };
    let agent = super::stow::agent(node, stow).map_err(setup)?;
    let mut report = FetchReport {
        node: node.name.clone(),
        into: into.to_path_buf(),
        studies: 0,
        instances: 0,
        written: 0,
        already_there: 0,
        failed: Vec::new(),
        stopped: None,
        cancelled: false,
    };
    let stop = |mut r: FetchReport, e: LinkError| {
        r.stopped = Some(e.message);
        Ok(r)
    };
    let studies = match what {
        Selection::Study(uid) => vec![uid.clone()],
        Selection::Patient(id) => match query(node, stow, &agent, "/studies", &format!("PatientID={}", encode(id))) {
            Ok(items) => items.iter().filter_map(|i| first_string(i, "0020000D")).collect(),
            Err(e) => return stop(report, e),
        },
    };
    report.studies = studies.len();
    if let Some(s) = studies.iter().find(|s| !uid_ok(s)) {
        return Err(setup(format!("'{s}' is not a Study Instance UID")));
    }
    let wanted = match instances_of(node, stow, &agent, &studies) {
        Ok(w) => w,
        Err(e) => return stop(report, e),
    };
    report.instances = wanted.len();
    // What comes from a clinical PACS holds identifiers: folders and files are owner-only.
    crate::key::create_private_dir(into).map_err(|e| setup(format!("cannot create {}: {e}", into.display())))?;
    let total = wanted.len();
    progress(0, total);
    for (done, w) in wanted.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            report.cancelled = true;
            break;
        }
        let fail = |reason: String| FetchFailure {
            sop_instance_uid: w.instance.clone(),
            reason,
        };
        if !(uid_ok(&w.series) && uid_ok(&w.instance)) {
            report.failed.push(fail("its UIDs are not UIDs: not written".into()));
            continue;
        }
        let dir = into.join(&w.study).join(&w.series);
        let dest = dir.join(format!("{}.dcm", w.instance));
        if dest.exists() {
            report.already_there += 1;
            progress(done + 1, total);
            continue;
        }
        let mut tries = 0;
        let bytes = loop {
            match retrieve(node, stow, &agent, w) {
                Ok(b) => break Ok(b),
                Err(Retrieve::Instance(reason)) => break Err(reason),
                Err(Retrieve::Link(e)) if e.transient && tries < node.retries => {
                    tries += 1;
                    if !super::pause(node.backoff(tries), cancel) {
                        report.cancelled = true;
                        return Ok(report);
                    }
                }
                Err(Retrieve::Link(e)) => return stop(report, e),
            }
        };
        match bytes.and_then(|b| keep(&b, w, &dir, &dest)) {
            Err(reason) => report.failed.push(fail(reason)),
            Ok(()) => report.written += 1,
        }
        progress(done + 1, total);
    }
    Ok(report)
}

/// Every instance of the studies, as the node lists them.
fn instances_of(node: &Node, stow: &Stow, agent: &ureq::Agent, studies: &[String]) -> Result<Vec<Wanted>, LinkError> {
    let mut wanted = Vec::new();
    for s in studies {
        for i in query(node, stow, agent, &format!("/studies/{s}/instances"), "")? {
            if let (Some(series), Some(instance)) = (first_string(&i, "0020000E"), first_string(&i, "00080018")) {
                wanted.push(Wanted {
                    study: s.clone(),
                    series,
                    instance,
                });
            }
        }
    }
    Ok(wanted)
}

/// Writes what the node sent for `w` to `dest` (owner-only), if it is readable DICOM and the
/// instance that was asked for.
fn keep(bytes: &[u8], w: &Wanted, dir: &Path, dest: &Path) -> Result<(), String> {
    match crate::dicom::parse::parse_bytes(bytes.to_vec()) {
        Ok(p)
            if p.top_string(crate::dicom::tags::SOP_INSTANCE_UID)
                .as_deref()
                .map(|u| u.trim_end_matches(['\0', ' ']))
                == Some(w.instance.as_str()) => {}
        Ok(_) => return Err("the node sent another instance than the one asked for".into()),
        Err(e) => return Err(format!("the node sent something that is not readable DICOM: {e}")),
    }
    crate::key::create_private_dir(dir)
        .and_then(|()| crate::atomic::write_file(dest, 0o600, |out| out.write_all(bytes)))
        .map_err(|e| format!("cannot write {}: {e}", dest.display()))
}

enum Retrieve {
    /// This instance cannot be had (the others may).
    Instance(String),
    Link(LinkError),
}

/// WADO-RS retrieve of one instance, as stored (`transfer-syntax=*`).
fn retrieve(node: &Node, stow: &Stow, agent: &ureq::Agent, w: &Wanted) -> Result<Vec<u8>, Retrieve> {
    let url = format!(
        "{}/studies/{}/series/{}/instances/{}",
        stow.url, w.study, w.series, w.instance
    );
    let mut response = authorized_get(
        agent,
        node,
        &url,
        "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
    )
    .call()
    .map_err(|e| Retrieve::Link(transport_error(&e, &stow.url, node.timeout)))?;
    let status = response.status().as_u16();
    match status {
        200 => {}
        404 => return Err(Retrieve::Instance("the node no longer has it (HTTP 404)".into())),
        401 => {
            return Err(Retrieve::Link(LinkError::permanent(format!(
                "{}: authentication failed (HTTP 401)",
                stow.url
            ))));
        }
        406 => {
            return Err(Retrieve::Instance(
                "the node cannot send it as stored (HTTP 406 for transfer-syntax=*)".into(),
            ));
        }
        408 | 429 | 500..=599 => {
            return Err(Retrieve::Link(LinkError::transient(format!(
                "{}: the server answered HTTP {status}",
                stow.url
            ))));
        }
        _ => return Err(Retrieve::Instance(format!("refused (HTTP {status})"))),
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .map_err(|e| Retrieve::Link(transport_error(&e, &stow.url, node.timeout)))?;
    first_part(&content_type, &body)
        .map(<[u8]>::to_vec)
        .map_err(Retrieve::Instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_queries() {
        let body = b"--b1\r\nContent-Type: application/dicom\r\n\r\nDICMxx\r\n--b1--\r\n";
        assert_eq!(
            first_part("multipart/related; type=\"application/dicom\"; boundary=\"b1\"", body).expect("part"),
            b"DICMxx"
        );
        assert!(first_part("application/dicom", body).is_err());
        assert_eq!(encode("A B/ü"), "A%20B%2F%C3%BC");
        assert!(uid_ok("1.2.840.10008.1"));
        assert!(!uid_ok("../etc"));
        assert!(!uid_ok(""));
    }
}

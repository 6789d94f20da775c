//! C-ECHO and C-STORE as a service class user over the DICOM Upper Layer (dicom-ul). Each
//! file travels in its own transfer syntax, its data set streamed from disk byte for byte;
//! only when the node refuses that syntax, and the user allowed it, is uncompressed data
//! re-encoded as Explicit or Implicit VR Little Endian.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

use dicom_core::dictionary::{UidDictionary, UidDictionaryEntry};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{StandardSopClassDictionary, tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::pdu::{
    AssociationRJResult, AssociationRJServiceUserReason, AssociationRJSource, PDataValue, PDataValueType,
};
use dicom_ul::{ClientAssociation, ClientAssociationOptions, Pdu};

use super::node::{Auth, Dimse, Node};
use super::{Attempt, LinkError, Outcome, SendFile, Transport};
use crate::dicom::parse::transfer_syntax_name;

/// Presentation contexts one association may propose (IDs are odd numbers up to 255).
const MAX_CONTEXTS: usize = 128;

/// The transfer syntaxes every node must accept, offered for conversion.
const PLAIN: [&str; 2] = [uids::EXPLICIT_VR_LITTLE_ENDIAN, uids::IMPLICIT_VR_LITTLE_ENDIAN];

/// Transfer syntaxes whose data can be re-encoded without decoding pixel data.
fn native(ts: &str) -> bool {
    use crate::dicom::ts;
    matches!(
        ts,
        ts::IMPLICIT_VR_LITTLE_ENDIAN
            | ts::EXPLICIT_VR_LITTLE_ENDIAN
            | ts::EXPLICIT_VR_BIG_ENDIAN
            | ts::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    )
}

/// "CT Image Storage" (or the UID when the dictionary does not know it).
#[must_use]
pub fn sop_class_name(uid: &str) -> String {
    StandardSopClassDictionary
        .by_uid(uid)
        .map_or_else(|| uid.to_string(), |e| e.name().to_string())
}

/// One proposed presentation context.
#[derive(Debug, Clone)]
struct Proposed {
    abstract_syntax: String,
    /// `Some(ts)`: the files' own syntax; `None`: the plain little endian pair (conversion,
    /// and telling a refused SOP class from a refused transfer syntax).
    exact: Option<String>,
}

/// A C-STORE conversation with one node: one association at a time, made when needed.
pub struct Session<'a> {
    node: &'a Node,
    dimse: &'a Dimse,
    convert: bool,
    /// The proposals, in groups that fit one association each.
    groups: Vec<Vec<Proposed>>,
    /// SOP class → group.
    group_of: BTreeMap<String, usize>,
    current: Option<Open>,
    /// The node accepted none of a group's contexts: why, per group.
    refused: BTreeMap<usize, String>,
    message_id: u16,
}

struct Open {
    group: usize,
    assoc: ClientAssociation<TcpStream>,
    /// (SOP class, its own transfer syntax or `None` for the plain pair) → the accepted
    /// context's ID and transfer syntax.
    accepted: BTreeMap<(String, Option<String>), (u8, String)>,
}

impl<'a> Session<'a> {
    #[must_use]
    pub fn new(node: &'a Node, dimse: &'a Dimse, files: &[&SendFile], convert: bool) -> Session<'a> {
        // SOP class → its transfer syntaxes.
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for f in files {
            let ts = wanted.entry(f.sop_class_uid.as_str()).or_default();
            if !ts.contains(&f.transfer_syntax.as_str()) {
                ts.push(f.transfer_syntax.as_str());
            }
        }
        let mut groups: Vec<Vec<Proposed>> = vec![Vec::new()];
        let mut group_of = BTreeMap::new();
        for (class, syntaxes) in wanted {
            let need = syntaxes.len() + 1;
            if groups
                .last()
                .is_some_and(|g| !g.is_empty() && g.len() + need > MAX_CONTEXTS)
            {
                groups.push(Vec::new());
            }
            let g = groups.len() - 1;
            if let Some(group) = groups.last_mut() {
                for ts in syntaxes {
                    group.push(Proposed {
                        abstract_syntax: class.to_string(),
                        exact: Some(ts.to_string()),
                    });
                }
                group.push(Proposed {
                    abstract_syntax: class.to_string(),
                    exact: None,
                });
            }
            group_of.insert(class.to_string(), g);
        }
        Session {
            node,
            dimse,
            convert,
            groups,
            group_of,
            current: None,
            refused: BTreeMap::new(),
            message_id: 0,
        }
    }

    fn next_message_id(&mut self) -> u16 {
        self.message_id = self.message_id.wrapping_add(1).max(1);
        self.message_id
    }

    /// The association for `group`, made if needed. `Ok(None)`: the node accepted none of
    /// the group's contexts (recorded in `refused`).
    fn association(&mut self, group: usize) -> Result<Option<&mut Open>, LinkError> {
        if self.refused.contains_key(&group) {
            return Ok(None);
        }
        if self.current.as_ref().is_some_and(|o| o.group != group)
            && let Some(open) = self.current.take()
        {
            let _ = open.assoc.release();
        }
        if self.current.is_none() {
            let proposed = &self.groups[group];
            let contexts: Vec<(String, Vec<String>)> = proposed
                .iter()
                .map(|p| {
                    let ts = match &p.exact {
                        Some(ts) => vec![ts.clone()],
                        None => PLAIN.iter().map(std::string::ToString::to_string).collect(),
                    };
                    (p.abstract_syntax.clone(), ts)
                })
                .collect();
            match connect(self.node, self.dimse, &contexts) {
                Ok(assoc) => {
                    // Context IDs are 1, 3, 5, … in the order proposed.
                    let mut accepted = BTreeMap::new();
                    for a in assoc.presentation_contexts() {
                        if let Some(p) = proposed.get(usize::from(a.id) / 2) {
                            accepted.insert(
                                (p.abstract_syntax.clone(), p.exact.clone()),
                                (a.id, a.transfer_syntax.trim_end_matches('\0').to_string()),
                            );
                        }
                    }
                    self.current = Some(Open { group, assoc, accepted });
                }
                Err(Connect::NoContext) => {
                    let classes: Vec<String> = proposed
                        .iter()
                        .filter(|p| p.exact.is_none())
                        .map(|p| sop_class_name(&p.abstract_syntax))
                        .collect();
                    self.refused.insert(
                        group,
                        format!(
                            "the node accepts none of the SOP classes and transfer syntaxes proposed ({})",
                            classes.join(", ")
                        ),
                    );
                    return Ok(None);
                }
                Err(Connect::Link(e)) => return Err(e),
            }
        }
        Ok(self.current.as_mut())
    }

    fn store_one(&mut self, root: &Path, f: &SendFile) -> Result<Attempt, LinkError> {
        let fail = |detail: String| Attempt {
            outcome: Outcome::Failure,
            transfer_syntax: f.transfer_syntax.clone(),
            code: None,
            detail,
        };
        let Some(&group) = self.group_of.get(&f.sop_class_uid) else {
            return Ok(fail("no presentation context was proposed for its SOP class".into()));
        };
        let message_id = self.next_message_id();
        let convert = self.convert;
        if self.association(group)?.is_none() {
            let why = self.refused.get(&group).cloned().unwrap_or_default();
            return Ok(fail(why));
        }
        let Some(open) = self.current.as_ref() else {
            return Ok(fail("no association".into()));
        };
        let accepted_for = |exact: Option<&str>| {
            open.accepted
                .get(&(f.sop_class_uid.clone(), exact.map(str::to_string)))
                .cloned()
        };
        let class = sop_class_name(&f.sop_class_uid);
        let ts_name = transfer_syntax_name(&f.transfer_syntax);
        let (pc, send_ts, conversion) = match accepted_for(Some(&f.transfer_syntax)) {
            Some((id, _)) => (id, f.transfer_syntax.clone(), false),
            None => match accepted_for(None) {
                None => {
                    return Ok(fail(format!("the node does not accept {class} (SOP class refused)")));
                }
                Some((id, ts)) if convert && native(&f.transfer_syntax) => (id, ts, true),
                Some(_) if native(&f.transfer_syntax) => {
                    return Ok(fail(format!(
                        "the node refused its transfer syntax {ts_name} for {class}; it accepts Explicit or Implicit VR Little Endian (pass --convert to allow re-encoding)"
                    )));
                }
                Some(_) => {
                    return Ok(fail(format!(
                        "the node refused its transfer syntax {ts_name} for {class}; compressed data is never decoded, so it was not sent"
                    )));
                }
            },
        };

        let path = root.join(&f.path);
        let body = match DataSet::open(&path, &f.transfer_syntax, conversion.then_some(send_ts.as_str())) {
            Ok(b) => b,
            Err(e) => return Ok(fail(e)),
        };
        let cmd = store_command(&f.sop_class_uid, &f.sop_instance_uid, message_id);
        let Some(open) = self.current.as_mut() else {
            return Ok(fail("no association".into()));
        };
        let sent = send_message(&mut open.assoc, pc, &cmd, body);
        let response = sent.and_then(|()| read_response(&mut open.assoc, self.node.timeout));
        let rsp = match response {
            Ok(r) => r,
            Err(e) => {
                // The association is no longer usable: the next file makes a new one.
                if let Some(o) = self.current.take() {
                    let _ = o.assoc.abort();
                }
                return Err(e);
            }
        };
        let (outcome, meaning) = store_status(rsp.status);
        let mut detail = meaning.to_string();
        if let Some(c) = rsp.comment.filter(|c| !c.is_empty()) {
            detail = format!("{detail} ({c})");
        }
        if conversion && outcome != Outcome::Failure {
            detail = format!(
                "{detail}; re-encoded from {ts_name} to {}",
                transfer_syntax_name(&send_ts)
            );
        }
        Ok(Attempt {
            outcome: if conversion && outcome == Outcome::Success {
                Outcome::Warning
            } else {
                outcome
            },
            transfer_syntax: send_ts,
            code: Some(format!("{:04X}", rsp.status)),
            detail,
        })
    }
}

impl Transport for Session<'_> {
    fn batch_size(&self) -> usize {
        1
    }

    fn order(&self, files: &mut [(&SendFile, String)]) {
        files.sort_by_key(|(f, _)| self.group_of.get(&f.sop_class_uid).copied().unwrap_or(0));
    }

    fn store(&mut self, root: &Path, files: &[&SendFile]) -> Result<Vec<Attempt>, LinkError> {
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            out.push(self.store_one(root, f)?);
        }
        Ok(out)
    }

    fn close(&mut self) {
        if let Some(open) = self.current.take() {
            let _ = open.assoc.release();
        }
    }
}

enum Connect {
    NoContext,
    Link(LinkError),
}

/// The error and the errors it came from, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        cur = c.source();
    }
    s
}

fn connect(
    node: &Node,
    d: &Dimse,
    contexts: &[(String, Vec<String>)],
) -> Result<ClientAssociation<TcpStream>, Connect> {
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(d.calling.as_str())
        .called_ae_title(d.called.as_str())
        .connection_timeout(node.timeout)
        .read_timeout(node.timeout)
        .write_timeout(node.timeout)
        // Take PDUs longer than the maximum we announced: some nodes ignore it.
        .strict(false);
    for (abs, ts) in contexts {
        opts = opts.with_presentation_context(abs.as_str(), ts.iter().map(String::as_str).collect());
    }
    match &node.auth {
        Auth::Basic { user, password } => opts = opts.username_password(user.as_str(), password.expose()),
        Auth::User { user } => opts = opts.username(user.as_str()),
        Auth::None | Auth::Bearer(_) => {}
    }
    let where_ = format!("{}:{}", d.host, d.port);
    opts.establish((d.host.as_str(), d.port))
        .map_err(|e| classify(e, d, &where_))
}

/// What an association failure means, for a person and for the retry decision.
fn classify(e: dicom_ul::association::Error, d: &Dimse, where_: &str) -> Connect {
    use dicom_ul::association::Error as E;
    match e {
        E::NoAcceptedPresentationContexts { .. } => Connect::NoContext,
        E::Rejected { association_rj, .. } => {
            let reason = match &association_rj.source {
                AssociationRJSource::ServiceUser(AssociationRJServiceUserReason::CalledAETitleNotRecognized) => {
                    format!(
                        "called AE title not recognized: the node at {where_} is not '{}' (check the AE title in dicom = \"AE@host:port\")",
                        d.called
                    )
                }
                AssociationRJSource::ServiceUser(AssociationRJServiceUserReason::CallingAETitleNotRecognized) => {
                    format!(
                        "calling AE title not recognized: the node does not know dams as '{}' (register it on the node, or set calling = \"…\")",
                        d.calling
                    )
                }
                other => other.to_string(),
            };
            match association_rj.result {
                AssociationRJResult::Transient => Connect::Link(LinkError::transient(format!(
                    "association rejected by {}@{where_} for now: {reason}",
                    d.called
                ))),
                AssociationRJResult::Permanent => Connect::Link(LinkError::permanent(format!(
                    "association rejected by {}@{where_}: {reason}",
                    d.called
                ))),
            }
        }
        E::ToAddress { source, .. } => {
            Connect::Link(LinkError::permanent(format!("cannot resolve {}: {source}", d.host)))
        }
        E::Connect { source, .. } => {
            Connect::Link(LinkError::transient(format!("cannot connect to {where_}: {source}")))
        }
        other => Connect::Link(LinkError::transient(format!(
            "association with {}@{where_} failed: {}",
            d.called,
            chain(&other)
        ))),
    }
}

/// A data set on its way: the file's own bytes after the file meta, or a re-encoding.
enum DataSet {
    File { file: std::fs::File, start: u64, len: u64 },
    Encoded(Vec<u8>),
}

impl DataSet {
    /// `convert_to`: re-encode into that transfer syntax (uncompressed only).
    fn open(path: &Path, ts: &str, convert_to: Option<&str>) -> Result<DataSet, String> {
        let parsed = crate::dicom::parse::parse_file(path).map_err(|e| format!("cannot read the file: {e}"))?;
        if parsed.layout.transfer_syntax != ts {
            return Err(format!(
                "the file changed since it was scanned (transfer syntax {} now)",
                parsed.layout.transfer_syntax
            ));
        }
        let start = parsed.layout.dataset_start;
        drop(parsed);
        match convert_to {
            None => {
                let file = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
                let len = file
                    .metadata()
                    .map_err(|e| format!("cannot read the file: {e}"))?
                    .len()
                    .saturating_sub(start);
                Ok(DataSet::File { file, start, len })
            }
            Some(target) => {
                let from = TransferSyntaxRegistry
                    .get(ts)
                    .ok_or_else(|| format!("unknown transfer syntax {ts}"))?;
                let to = TransferSyntaxRegistry
                    .get(target)
                    .ok_or_else(|| format!("unknown transfer syntax {target}"))?;
                let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
                let rest = bytes.get(start as usize..).unwrap_or_default();
                let obj = InMemDicomObject::read_dataset_with_ts(rest, from)
                    .map_err(|e| format!("cannot re-encode: dicom-rs cannot read the data set: {}", chain(&e)))?;
                let mut out = Vec::with_capacity(bytes.len());
                obj.write_dataset_with_ts(&mut out, to)
                    .map_err(|e| format!("cannot re-encode: {}", chain(&e)))?;
                Ok(DataSet::Encoded(out))
            }
        }
    }
}

fn store_command(class: &str, instance: &str, message_id: u16) -> Vec<u8> {
    command(vec![
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, uid_value(class)),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0x0000u16)),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0x0000u16)),
        DataElement::new(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, uid_value(instance)),
    ])
}

fn echo_command(message_id: u16) -> Vec<u8> {
    command(vec![
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, uid_value(uids::VERIFICATION)),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0030u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0x0101u16)),
    ])
}

/// A UI value padded to even length with NUL, as PS3.5 6.2 wants.
fn uid_value(uid: &str) -> PrimitiveValue {
    let mut s = uid.trim_end_matches(['\0', ' ']).to_string();
    if s.len() % 2 == 1 {
        s.push('\0');
    }
    PrimitiveValue::from(s)
}

/// A command set in Implicit VR Little Endian, with its group length.
fn command(elements: Vec<DataElement<InMemDicomObject>>) -> Vec<u8> {
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let mut data = Vec::with_capacity(160);
    let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    // Writing plain values into memory cannot fail.
    let _ = obj.write_dataset_with_ts(&mut data, &ts);
    data
}

/// Sends a command and, for a store, its data set (streamed in P-DATA PDUs).
fn send_message(assoc: &mut ClientAssociation<TcpStream>, pc: u8, cmd: &[u8], body: DataSet) -> Result<(), LinkError> {
    let lost = |e: String| LinkError::transient(format!("lost the association while sending: {e}"));
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: cmd.to_vec(),
            }],
        })
        .map_err(|e| lost(chain(&e)))?;
    let mut writer = assoc.send_pdata(pc);
    match body {
        DataSet::File { mut file, start, len } => {
            file.seek(SeekFrom::Start(start)).map_err(|e| lost(e.to_string()))?;
            let copied = std::io::copy(&mut (&mut file).take(len), &mut writer).map_err(|e| lost(e.to_string()))?;
            if copied != len {
                return Err(LinkError::permanent("the file shrank while it was sent"));
            }
        }
        DataSet::Encoded(bytes) => writer.write_all(&bytes).map_err(|e| lost(e.to_string()))?,
    }
    writer.finish().map_err(|e| lost(e.to_string()))
}

struct Response {
    status: u16,
    comment: Option<String>,
}

/// Reads the response command of the last request.
fn read_response(
    assoc: &mut ClientAssociation<TcpStream>,
    timeout: std::time::Duration,
) -> Result<Response, LinkError> {
    let mut data = Vec::new();
    loop {
        let pdu = assoc.receive().map_err(|e| {
            let text = chain(&e);
            if text.contains("timed out")
                || text.contains("would block")
                || text.contains("Resource temporarily unavailable")
            {
                LinkError::transient(format!(
                    "the node did not answer within {}",
                    humantime::format_duration(timeout)
                ))
            } else {
                LinkError::transient(format!("lost the association: {text}"))
            }
        })?;
        match pdu {
            Pdu::PData { data: values } => {
                for v in values {
                    if v.value_type == PDataValueType::Command {
                        data.extend_from_slice(&v.data);
                        if v.is_last {
                            return parse_response(&data);
                        }
                    }
                }
            }
            Pdu::AbortRQ { source } => {
                return Err(LinkError::transient(format!(
                    "the node aborted the association ({source:?})"
                )));
            }
            Pdu::ReleaseRQ => return Err(LinkError::transient("the node released the association unasked")),
            other => {
                return Err(LinkError::transient(format!(
                    "unexpected answer from the node: {}",
                    other.short_description()
                )));
            }
        }
    }
}

fn parse_response(data: &[u8]) -> Result<Response, LinkError> {
    let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let obj = InMemDicomObject::read_dataset_with_ts(data, &ts)
        .map_err(|e| LinkError::transient(format!("unreadable response from the node: {}", chain(&e))))?;
    let status = obj
        .element(tags::STATUS)
        .ok()
        .and_then(|e| e.to_int::<u16>().ok())
        .ok_or_else(|| LinkError::transient("the node's response has no status"))?;
    let comment = obj
        .element(tags::ERROR_COMMENT)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string());
    Ok(Response { status, comment })
}

/// What a C-STORE status means (PS3.4 B.2.3, PS3.7 C), and whether to try again.
pub(crate) fn store_status(code: u16) -> (Outcome, &'static str) {
    use Outcome::*;
    match code {
        0x0000 => (Success, "stored"),
        0x0001 => (Warning, "stored with a warning: unsupported optional attributes"),
        0xB000 => (Warning, "stored, with attributes coerced by the node"),
        0xB006 => (Warning, "stored, with elements discarded by the node"),
        0xB007 => (Warning, "stored, but the data set does not match the SOP class"),
        0x0107 => (Warning, "stored, with an attribute list error"),
        0x0116 => (Warning, "stored, with an attribute value out of range"),
        0xB001..=0xBFFF => (Warning, "stored with a warning"),
        0xA700..=0xA7FF => (Transient, "refused: the node is out of resources"),
        0x0213 => (Transient, "refused: resource limitation on the node"),
        0xA900..=0xA9FF => (Failure, "error: the data set does not match the SOP class"),
        0xC000..=0xCFFF => (Failure, "error: the node cannot understand the data set"),
        0x0122 => (Failure, "refused: SOP class not supported"),
        0x0124 => (Failure, "refused: not authorized"),
        0x0110 => (Failure, "processing failure on the node"),
        0x0111 => (Failure, "refused: duplicate SOP instance"),
        0x0117 => (Failure, "refused: invalid SOP instance"),
        0x0106 => (Failure, "refused: invalid attribute value"),
        0x0210 => (Failure, "refused: duplicate invocation"),
        0x0211 => (Failure, "refused: unrecognized operation"),
        0x0212 => (Failure, "refused: mistyped argument"),
        0xFE00 => (Failure, "cancelled by the node"),
        0xFF00 | 0xFF01 => (Failure, "the node answered 'pending', which a store does not use"),
        _ => (Failure, "failed"),
    }
}

/// C-ECHO: the node answers a verification request.
///
/// # Errors
///
/// `LinkError` when the node cannot be reached or does not answer the request.
pub fn echo(node: &Node, d: &Dimse) -> Result<String, LinkError> {
    let started = Instant::now();
    let contexts = vec![(
        uids::VERIFICATION.to_string(),
        PLAIN.iter().map(std::string::ToString::to_string).collect(),
    )];
    let mut assoc = match connect(node, d, &contexts) {
        Ok(a) => a,
        Err(Connect::NoContext) => {
            return Err(LinkError::permanent(format!(
                "{}@{}:{} accepted the association but not the Verification service (C-ECHO)",
                d.called, d.host, d.port
            )));
        }
        Err(Connect::Link(e)) => return Err(e),
    };
    let pc = assoc.presentation_contexts().first().map_or(1, |p| p.id);
    let cmd = echo_command(1);
    let sent = assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: cmd,
            }],
        })
        .map_err(|e| LinkError::transient(format!("lost the association: {}", chain(&e))));
    let rsp = sent.and_then(|()| read_response(&mut assoc, node.timeout));
    let rsp = match rsp {
        Ok(r) => r,
        Err(e) => {
            let _ = assoc.abort();
            return Err(e);
        }
    };
    let _ = assoc.release();
    if rsp.status != 0 {
        return Err(LinkError::permanent(format!(
            "the node answered C-ECHO with status {:04X}",
            rsp.status
        )));
    }
    Ok(format!(
        "{}@{}:{} answered C-ECHO in {} ms",
        d.called,
        d.host,
        d.port,
        started.elapsed().as_millis()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_meanings() {
        assert_eq!(store_status(0).0, Outcome::Success);
        assert_eq!(store_status(0xB000).0, Outcome::Warning);
        assert_eq!(store_status(0xA702).0, Outcome::Transient);
        assert_eq!(store_status(0xA900).0, Outcome::Failure);
        assert_eq!(store_status(0xC123).1, "error: the node cannot understand the data set");
    }

    #[test]
    fn commands_carry_their_group_length() {
        let cmd = store_command("1.2.840.10008.5.1.4.1.1.2", "1.2.3", 7);
        let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
        let obj = InMemDicomObject::read_dataset_with_ts(&cmd[..], &ts).expect("reads");
        let len = obj
            .element(tags::COMMAND_GROUP_LENGTH)
            .expect("group length")
            .to_int::<u32>()
            .expect("UL");
        assert_eq!(
            len as usize,
            cmd.len() - 12,
            "everything after the group length element"
        );
        assert_eq!(
            obj.element(tags::MESSAGE_ID).expect("id").to_int::<u16>().expect("US"),
            7
        );
        assert!(cmd.windows(6).any(|w| w == b"1.2.3\0"), "a UI value is padded with NUL");
    }

    #[test]
    fn proposals_fit_in_associations() {
        let files: Vec<SendFile> = (0..200)
            .map(|i| SendFile {
                path: format!("{i}.dcm").into(),
                sop_class_uid: format!("1.2.3.{i}"),
                sop_instance_uid: format!("9.{i}"),
                transfer_syntax: uids::EXPLICIT_VR_LITTLE_ENDIAN.into(),
            })
            .collect();
        let refs: Vec<&SendFile> = files.iter().collect();
        let node = Node::from_address("A@localhost:104").expect("node");
        let super::super::node::NodeKind::Dimse(d) = &node.kind else {
            panic!("dimse")
        };
        let s = Session::new(&node, d, &refs, false);
        assert_eq!(s.groups.len(), 4, "two contexts per class, 128 per association");
        assert!(s.groups.iter().all(|g| g.len() <= MAX_CONTEXTS));
    }
}

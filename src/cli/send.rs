//! `dams send` and `dams echo`: deliver a verified output folder to a DICOM node, and check
//! that a node answers. The work is in `dams::send`; this file chooses the files (verify
//! first) and prints.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use std::sync::atomic::Ordering;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use dams::send::{self, Config, Node, Outgoing, SendFile, SendOptions, SendReport};

use super::{Ctx, Exit, KeyArg, Progress};

#[allow(clippy::doc_markdown)] // clap prints these doc comments as the help text, where backticks would show
#[derive(Args, Debug, Clone)]
pub struct SendArgs {
    /// The output folder to send (what `dams apply` wrote).
    pub out: PathBuf,
    /// The node: a name from the config file, or an address (AE@host:port, https://…).
    #[arg(long, value_name = "NODE")]
    pub to: String,
    /// The input folder OUT was made from: verify checks OUT against it first, and only
    /// files that verify clean are sent.
    #[arg(long, value_name = "IN", conflicts_with = "no_verify")]
    pub against: Option<PathBuf>,
    /// Send without verifying first.
    #[arg(long)]
    pub no_verify: bool,
    /// Send files the send log says the node already has.
    #[arg(long)]
    pub again: bool,
    /// List what would be sent; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When the node refuses a file's transfer syntax, allow re-encoding uncompressed data as
    /// Explicit/Implicit VR Little Endian (C-STORE). Compressed data is never decoded.
    #[arg(long)]
    pub convert: bool,
    /// Print the report as JSON (the shape is in the README and assets/schemas/send.schema.json).
    #[arg(long)]
    pub json: bool,
    /// The config file that names the nodes (default: $DAMS_CONFIG, else config.toml in
    /// dams' config folder).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    // The key store OUT was made with (verify needs it). No --profile: verify checks with the
    // rules OUT's manifest records.
    #[command(flatten)]
    pub key: KeyArg,
}

#[derive(Args, Debug, Clone)]
pub struct EchoArgs {
    /// The node: a name from the config file, or an address (AE@host:port, https://…).
    pub node: String,
    /// Print the answer as JSON (the shape is in the README and assets/schemas/echo.schema.json).
    #[arg(long)]
    pub json: bool,
    /// The config file that names the nodes (default: $DAMS_CONFIG, else config.toml in
    /// dams' config folder).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[allow(clippy::doc_markdown)] // clap prints these doc comments as the help text, where backticks would show
#[derive(Args, Debug, Clone)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["study", "patient"]))]
pub struct FetchArgs {
    /// A DICOMweb node (stow = "https://…/dicom-web"), by name or address.
    pub node: String,
    /// The Study Instance UID to fetch.
    #[arg(long, value_name = "UID")]
    pub study: Option<String>,
    /// Fetch every study of the patient with this PatientID.
    #[arg(long, value_name = "ID")]
    pub patient: Option<String>,
    /// The folder to write into (as DIR/STUDY/SERIES/INSTANCE.dcm, owner-only).
    #[arg(long, value_name = "DIR")]
    pub into: PathBuf,
    /// Print the report as JSON (the shape is in the README and assets/schemas/fetch.schema.json).
    #[arg(long)]
    pub json: bool,
    /// The config file that names the nodes (default: $DAMS_CONFIG, else config.toml in
    /// dams' config folder).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// "research (RESEARCH@pacs.example:104, C-STORE)", or just the address when the node was
/// named by it.
fn label(node: &Node) -> String {
    let d = node.describe();
    if d.starts_with(&node.name) {
        d
    } else {
        format!("{}: {d}", node.name)
    }
}

fn node(name: &str, config: Option<&Path>) -> Result<Node> {
    let config = Config::load(config)?;
    Ok(config.node(name)?)
}

/// A file of OUT that is not sent, and why.
#[derive(Debug, Serialize)]
struct Refused {
    #[serde(serialize_with = "dams::paths::lossy")]
    path: PathBuf,
    reason: String,
}

/// What verify said about OUT: the files it found clean, and why the others are not.
struct Verified {
    clean: BTreeSet<PathBuf>,
    problems: BTreeMap<PathBuf, String>,
}

/// Verify, as `dams verify OUT --against IN` does it. The one place that decides what
/// "verified" means for sending: when verify reads a manifest in OUT instead of re-planning
/// from IN, only this function changes.
fn verify_output(out: &Path, against: &Path, args: &SendArgs, ctx: &Ctx) -> Result<Verified> {
    let quiet = args.json;
    // The profile is the one the output's manifest records (as `dams verify` does it).
    let key_path = super::key_path(&args.key)?;
    if !super::key_exists(&key_path) {
        bail!(
            "no key store at {}: verify needs the key {} was made with",
            key_path.display(),
            out.display()
        );
    }
    let key = dams::key::KeyStore::open(&key_path)?;
    let (_, profile) = dams::verify::open(out, &key)?;
    let mut engine = dams::engine::Engine::new(key, profile, ctx.cancel.clone())?;
    let against = super::input_folder(against)?;
    let index = super::scan_input(&mut engine, &against, quiet, vec![out.to_path_buf()])?;
    if ctx.cancel.is_cancelled() {
        bail!("cancelled before anything was sent");
    }
    let prepared = super::prepare(&engine, &index)?;
    let planner = &prepared.planner;
    if !planner.new_entries.is_empty() {
        bail!(
            "{} patient(s) of {} have no code in the key store {}: was {} made from it with this key?",
            planner.new_entries.len(),
            against.display(),
            engine.key().location(),
            out.display()
        );
    }
    let progress = Progress::new("verify", quiet);
    let report = engine.verify(out, Some((&index, &prepared)), &|d, t| progress.update(d, t))?;
    progress.finish();
    if ctx.cancel.is_cancelled() {
        bail!("cancelled during verify; nothing was sent");
    }
    let problems = report.first_findings();
    let clean = index
        .patients
        .iter()
        .flat_map(dams::scan::Patient::instances)
        .map(|i| planner.dest(&i.path))
        .filter(|d| !problems.contains_key(d))
        .collect();
    if !quiet {
        say_err!(
            "verify: {} file(s) checked against {}, {} clean",
            report.checked,
            against.display(),
            report.ok
        );
    }
    Ok(Verified { clean, problems })
}

pub fn send(args: &SendArgs, ctx: &Ctx) -> Result<Exit> {
    let node = node(&args.to, args.config.as_deref())?;
    if !args.out.is_dir() {
        bail!("{} is not a folder", args.out.display());
    }
    let cancel = ctx.cancel.flag();
    let verified = match (&args.against, args.no_verify) {
        (_, true) => None,
        (Some(input), false) => Some(verify_output(&args.out, input, args, ctx)?),
        (None, false) => bail!(
            "refusing to send files that were not verified: give --against IN (the input folder {} was made from) so that verify checks them first, or --no-verify to send without checking",
            args.out.display()
        ),
    };

    let progress = Progress::new("scan", args.json);
    let outgoing: Outgoing = send::collect(&args.out, &|d, t| progress.update(d, t), cancel)
        .with_context(|| format!("cannot read {}", args.out.display()))?;
    progress.finish();
    if cancel.load(Ordering::Relaxed) {
        bail!("cancelled before anything was sent");
    }
    let (files, refused) = verified_only(&outgoing, verified.as_ref());
    let opts = SendOptions {
        again: args.again,
        convert: args.convert,
    };
    let out = &mut io::BufWriter::new(io::stdout().lock());

    if args.dry_run {
        dry_run(out, args, &node, &opts, &files, &refused, &outgoing)?;
        return Ok(Exit::Done);
    }

    if !args.json {
        say_err!("sending {} file(s) to {}", files.len(), label(&node));
    }
    let progress = Progress::new("send", args.json);
    let report = send::send(&args.out, &files, &node, &opts, &|d, t| progress.update(d, t), cancel)?;
    progress.finish();
    tracing::info!(
        node = %report.node,
        sent = report.sent,
        already = report.already_sent,
        failed = report.failed.len(),
        not_sent = report.not_sent,
        "sent"
    );
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("refused".into(), serde_json::to_value(&refused)?);
            m.insert("unreadable".into(), serde_json::to_value(&outgoing.unreadable)?);
        }
        super::write_json(out, &v)?;
    } else {
        report_text(out, &report)?;
        refused_text(out, &refused, &outgoing)?;
    }
    out.flush()?;
    Ok(if report.cancelled {
        Exit::Cancelled
    } else {
        Exit::unless(!(report.complete() && refused.is_empty()))
    })
}

/// The files verify found clean (all of them with --no-verify), and the others with the
/// reason they are not sent.
fn verified_only(outgoing: &Outgoing, verified: Option<&Verified>) -> (Vec<SendFile>, Vec<Refused>) {
    let Some(v) = verified else {
        return (outgoing.files.clone(), Vec::new());
    };
    let mut refused = Vec::new();
    let files = outgoing
        .files
        .iter()
        .filter(|f| {
            if v.clean.contains(&f.path) {
                return true;
            }
            let reason =
                v.problems.get(&f.path).cloned().unwrap_or_else(|| {
                    "not verified: it was not made from the input folder given with --against".into()
                });
            refused.push(Refused {
                path: f.path.clone(),
                reason,
            });
            false
        })
        .cloned()
        .collect();
    (files, refused)
}

/// `dams send --dry-run`: what would be sent, and what not, and why.
fn dry_run(
    out: &mut dyn Write,
    args: &SendArgs,
    node: &Node,
    opts: &SendOptions,
    files: &[SendFile],
    refused: &[Refused],
    outgoing: &Outgoing,
) -> Result<()> {
    let planned = send::preview(&args.out, files, node, opts)?;
    if args.json {
        super::write_json(
            out,
            &serde_json::json!({
                "node": node.name, "to": node.destination(), "files": planned,
                "refused": refused, "unreadable": outgoing.unreadable,
            }),
        )?;
    } else {
        let n = planned.iter().filter(|p| p.action == "send").count();
        say!(
            out,
            "would send {n} of {} file(s) to {}; nothing is sent in a dry run",
            planned.len(),
            label(node)
        )?;
        for p in &planned {
            let what = match p.action {
                "send" => "send".to_string(),
                "already-sent" => format!("already sent ({})", p.detail.as_deref().unwrap_or("")),
                other => format!("{other}: {}", p.detail.as_deref().unwrap_or("")),
            };
            say!(
                out,
                "  {}  {}, {}  {what}",
                p.file.path.display(),
                send::dimse::sop_class_name(&p.file.sop_class_uid),
                dams::dicom::parse::transfer_syntax_name(&p.file.transfer_syntax)
            )?;
        }
        refused_text(out, refused, outgoing)?;
    }
    out.flush()?;
    Ok(())
}

fn report_text(out: &mut dyn Write, r: &SendReport) -> io::Result<()> {
    let on_node = r.sent + r.already_sent;
    say!(
        out,
        "sent {} file(s) to {} ({}); {on_node} of {} on the node",
        r.sent,
        r.node,
        r.to,
        r.total
    )?;
    if r.already_sent > 0 {
        say!(
            out,
            "{} file(s) left out: the send log says the node already has them (--again sends them anyway)",
            r.already_sent
        )?;
    }
    if !r.warnings.is_empty() {
        say!(out, "\nstored with a warning ({}):", r.warnings.len())?;
        for w in &r.warnings {
            say!(
                out,
                "  {}: [{}] {}",
                w.path.display(),
                w.code.as_deref().unwrap_or("-"),
                w.reason
            )?;
        }
    }
    if !r.failed.is_empty() {
        say!(out, "\nfailed ({}):", r.failed.len())?;
        for f in &r.failed {
            match &f.code {
                Some(c) => say!(out, "  {}: [{c}] {}", f.path.display(), f.reason)?,
                None => say!(out, "  {}: {}", f.path.display(), f.reason)?,
            }
        }
    }
    if let Some(why) = &r.stopped {
        say!(out, "\nstopped: {why}")?;
    }
    if r.cancelled {
        say!(out, "\ncancelled")?;
    }
    if r.not_sent > 0 {
        say!(
            out,
            "{} file(s) not sent; run the same command again to send them (what was delivered is in the log)",
            r.not_sent
        )?;
    }
    for w in &r.log_warnings {
        say!(out, "warning: {w}")?;
    }
    say!(out, "log: {}", r.log.display())
}

fn refused_text(out: &mut dyn Write, refused: &[Refused], outgoing: &Outgoing) -> io::Result<()> {
    if !refused.is_empty() {
        say!(out, "\nnot sent, did not verify clean ({}):", refused.len())?;
        for r in refused {
            say!(out, "  {}: {}", r.path.display(), r.reason)?;
        }
    }
    if !outgoing.unreadable.is_empty() {
        say!(
            out,
            "\nnot sent, not DICOM or unreadable ({}):",
            outgoing.unreadable.len()
        )?;
        for u in &outgoing.unreadable {
            say!(out, "  {}: {}", u.path.display(), u.reason)?;
        }
    }
    if outgoing.xml > 0 {
        say!(out, "({} XML file(s) are not DICOM and are not sent)", outgoing.xml)?;
    }
    Ok(())
}

pub fn echo(args: &EchoArgs) -> Result<Exit> {
    let node = node(&args.node, args.config.as_deref())?;
    let result = send::echo(&node);
    let out = &mut io::BufWriter::new(io::stdout().lock());
    let code = Exit::unless(result.is_err());
    if args.json {
        let v = match &result {
            Ok(m) => serde_json::json!({"node": node.name, "to": node.destination(), "ok": true, "detail": m}),
            Err(e) => {
                serde_json::json!({"node": node.name, "to": node.destination(), "ok": false, "detail": e.message})
            }
        };
        super::write_json(out, &v)?;
    } else {
        match &result {
            Ok(m) => say!(out, "{m}")?,
            Err(e) => say_err!("dams: {}: {}", label(&node), e.message),
        }
    }
    out.flush()?;
    Ok(code)
}

pub fn fetch(args: &FetchArgs, ctx: &Ctx) -> Result<Exit> {
    let node = node(&args.node, args.config.as_deref())?;
    let what = match (&args.study, &args.patient) {
        (Some(s), _) => send::fetch::Selection::Study(s.clone()),
        (None, Some(p)) => send::fetch::Selection::Patient(p.clone()),
        (None, None) => bail!("give --study UID or --patient ID"),
    };
    let cancel = ctx.cancel.flag();
    let progress = Progress::new("fetch", args.json);
    let report = send::fetch::fetch(&node, &what, &args.into, &|d, t| progress.update(d, t), cancel)?;
    progress.finish();
    let out = &mut io::BufWriter::new(io::stdout().lock());
    if args.json {
        super::write_json(out, &report)?;
    } else {
        say!(
            out,
            "{} instance(s) in {} stud(ies) on {}: {} written to {}, {} already there",
            report.instances,
            report.studies,
            label(&node),
            report.written,
            report.into.display(),
            report.already_there
        )?;
        if report.studies == 0 && report.stopped.is_none() {
            say!(out, "no study matched")?;
        }
        if !report.failed.is_empty() {
            say!(out, "\nfailed ({}):", report.failed.len())?;
            for f in &report.failed {
                say!(out, "  {}: {}", f.sop_instance_uid, f.reason)?;
            }
        }
        if let Some(why) = &report.stopped {
            say!(out, "\nstopped: {why}; run the same command again to go on")?;
        }
        if report.cancelled {
            say!(out, "\ncancelled; run the same command again to go on")?;
        }
    }
    out.flush()?;
    Ok(if report.cancelled {
        Exit::Cancelled
    } else {
        Exit::unless(!report.complete())
    })
}

//! `dams plan PATH`: every change that would be made; writes nothing. The plan is printed as
//! it is made, patient by patient, so that memory follows a patient, not the cohort.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Result;

use dams::plan::{PatientPlan, PlanSink, PlannedFile, stream::PlannedXml};
use dams::scan::{Instance, Patient, XmlFile};

use super::{Ctx, Exit, KeyArg, ProfileArgs, Progress, output};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder to plan.
    pub path: PathBuf,
    /// Print JSON (the shape is in the README and assets/schemas/plan.schema.json).
    #[arg(long)]
    pub json: bool,
    /// List every file instead of summarising each folder.
    #[arg(long)]
    pub files: bool,
    /// Plan images that may show identifiers in their pixels as written (what `apply
    /// --accept-burned-in` does under the Basic Profile).
    #[arg(long)]
    pub accept_burned_in: bool,
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(a: Args, ctx: &Ctx) -> Result<Exit> {
    let path = super::input_folder(&a.path)?;
    let mut engine = super::open_engine(&a.key, &a.profile, ctx)?;
    let index = match super::scan_input(&mut engine, &path, a.json, Vec::new()) {
        Ok(index) => index,
        Err(_) if a.json && ctx.cancel.is_cancelled() => {
            // Stopped in the scan: still a plan document, of no patient, that says so.
            super::print_json(&serde_json::json!({
                "profile": engine.profile().name, "patients": [], "unassigned_xml": [], "unplaced": [],
                "unreadable": [], "new_key_entries": [], "cancelled": true,
            }))?;
            return Ok(Exit::Cancelled);
        }
        Err(e) => return Err(e),
    };
    let mut prepared = super::prepare(&engine, &index)?;
    // A plan that shows a code which is another patient's ID would be a plan to mix them up.
    dams::apply::refuse_code_conflicts(&prepared.planner)?;
    prepared.planner.accept_burned_in = a.accept_burned_in;
    let planner = &prepared.planner;
    let progress = Progress::new("plan", a.json);
    let out = io::BufWriter::new(io::stdout());
    let printer = Printer {
        collect: dams::plan::stream::Collect::new(planner),
        out: Mutex::new(out),
        json: a.json,
        files: a.files,
        first: Mutex::new(true),
        error: Mutex::new(None),
        stop: &ctx.cancel,
    };
    printer.head(engine.key().location(), planner)?;
    let planned = engine.plan_each(&index, &prepared, None, &|d, t| progress.update(d, t), &printer);
    progress.finish();
    if let Some(e) = printer.error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e.into());
    }
    // Stopped part way: the patients printed are whole, and the document is closed.
    let cancelled = match planned {
        Ok(()) => false,
        Err(dams::engine::EngineError::Cancelled) => true,
        Err(e) => return Err(e.into()),
    };
    printer.tail(&index, planner, cancelled)?;
    Ok(if cancelled { Exit::Cancelled } else { Exit::Done })
}

/// Prints each patient's plan as soon as the stream has all of it.
struct Printer<'p, W: Write + Send> {
    collect: dams::plan::stream::Collect<'p>,
    out: Mutex<W>,
    json: bool,
    files: bool,
    first: Mutex<bool>,
    /// The first write error (a closed pipe, say): printing stops there, and so does the
    /// plan (through `stop`): nobody reads the rest.
    error: Mutex<Option<io::Error>>,
    stop: &'p dams::progress::Cancel,
}

impl<W: Write + Send> Printer<'_, W> {
    fn write(&self, f: impl FnOnce(&mut W) -> io::Result<()>) {
        let Ok(mut error) = self.error.lock() else { return };
        if error.is_some() {
            return;
        }
        if let Ok(mut out) = self.out.lock()
            && let Err(e) = f(&mut out)
        {
            *error = Some(e);
            self.stop.cancel();
        }
    }

    fn head(&self, key: &dams::key::Location, planner: &dams::plan::Planner) -> io::Result<()> {
        let json = self.json;
        self.write(|out| {
            if json {
                write!(
                    out,
                    "{{\n  \"profile\": {},\n  \"patients\": [",
                    serde_json::to_string(&planner.profile.name)?
                )
            } else {
                output::plan_head(out, planner, key)
            }
        });
        self.take_error()
    }

    fn tail(&self, index: &dams::scan::Index, planner: &dams::plan::Planner, cancelled: bool) -> io::Result<()> {
        let json = self.json;
        self.write(|out| {
            if json {
                let rest = serde_json::json!({
                    "unassigned_xml": planner.unassigned_xml,
                    "unplaced": index.unplaced,
                    "unreadable": index.unreadable,
                    "new_key_entries": planner.new_entries,
                    "cancelled": cancelled,
                });
                let rest = serde_json::to_string_pretty(&rest)?;
                // The other members of the top-level object, after the patients.
                let inner = rest.trim().trim_start_matches('{').trim_end_matches('}').trim_end();
                write!(out, "\n  ],{inner}\n}}\n")
            } else {
                output::plan_tail(out, index, planner, cancelled)
            }
        });
        let r = self.take_error();
        if let Ok(mut out) = self.out.lock() {
            out.flush()?;
        }
        r
    }

    fn take_error(&self) -> io::Result<()> {
        match self.error.lock().ok().and_then(|mut e| e.take()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn patient(&self, p: PatientPlan) {
        let (json, files) = (self.json, self.files);
        let first = self.first.lock().is_ok_and(|mut f| std::mem::replace(&mut *f, false));
        self.write(|out| {
            if json {
                let text = serde_json::to_string_pretty(&p)?;
                let text = text.replace('\n', "\n    ");
                write!(out, "{}\n    {text}", if first { "" } else { "," })
            } else {
                output::plan_patient(out, &p, files)
            }
        });
    }
}

impl<W: Write + Send> PlanSink for Printer<'_, W> {
    fn file(&self, patient: &Patient, instance: &Instance, planned: Result<PlannedFile, dams::plan::FileError>) {
        self.collect.file(patient, instance, planned);
    }

    fn xml(&self, patient: &Patient, file: &XmlFile, planned: Result<PlannedXml, dams::plan::FileError>) {
        self.collect.xml(patient, file, planned);
    }

    fn patient_done(&self, patient: &Patient) {
        if let Some(p) = self.collect.take(patient) {
            self.patient(p);
        }
    }
}

//! Text renderings of scan, plan, apply and verify results for people at a terminal.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use dams::apply::{ApplyReport, Target};
use dams::plan::Planner;
use dams::present::{fit, fmt_date};
use dams::scan::{Index, Unreadable};
use dams::verify::VerifyReport;

fn unreadable_list(out: &mut dyn Write, list: &[Unreadable], heading: &str) -> io::Result<()> {
    // Files that are no images or sidecars are only skipped; the others are failures.
    let (skipped, damaged): (Vec<&Unreadable>, Vec<&Unreadable>) = list.iter().partition(|u| u.kind.is_skipped());
    for (rows, heading) in [
        (damaged, heading),
        (skipped, "skipped (not DICOM or XML, DICOMDIRs, links not followed)"),
    ] {
        if rows.is_empty() {
            continue;
        }
        say!(out, "\n{heading} ({}):", rows.len())?;
        for u in rows {
            say!(out, "  {}: {}", u.path.display(), u.reason)?;
        }
    }
    Ok(())
}

/// `dams scan`: patients → studies → series, with masks, SEG and RTSTRUCT objects listed as
/// objects of their own (as the review screen lists them), then XML files, files without a
/// patient and files that could not be read. `pseudonymised`: why each patient (in index
/// order) looks like dams output already, if it does.
pub fn scan_text(
    out: &mut dyn Write,
    index: &Index,
    links: &dams::link::Links,
    pseudonymised: &[Option<String>],
) -> io::Result<()> {
    let series: usize = index.patients.iter().map(|p| p.series().count()).sum();
    // Skipped files (not DICOM or XML, …) are not files that could not be read.
    let skipped = index.unreadable.iter().filter(|u| u.kind.is_skipped()).count();
    say!(
        out,
        "{}: {} patient(s), {} series, {} file(s); {} could not be read{}",
        index.root.display(),
        index.patients.len(),
        series,
        index.file_count(),
        index.unreadable.len() - skipped,
        if skipped > 0 {
            format!(", {skipped} skipped")
        } else {
            String::new()
        }
    )?;
    for (k, p) in index.patients.iter().enumerate() {
        let dams_output = match pseudonymised.get(k).and_then(Option::as_deref) {
            Some(why) => format!("  [looks like dams output: {why}]"),
            None => String::new(),
        };
        say!(out, "\npatient {}  ({} files){dams_output}", p.label(), p.file_count())?;
        for st in &p.studies {
            say!(out, "  study {}  {}", fmt_date(&st.date), st.description)?;
            for s in &st.series {
                // Files of a segmentation object are listed with the object, not the series
                // whose UID they claim.
                let own: Vec<&Path> = s
                    .instances
                    .iter()
                    .map(|i| i.path.as_path())
                    .filter(|p| links.file(p).is_none())
                    .collect();
                if own.is_empty() {
                    continue;
                }
                say!(
                    out,
                    "    {:4} #{:<4} {:>5} files  {:30}  {}",
                    s.modality,
                    s.number.map(|n| n.to_string()).unwrap_or_default(),
                    own.len(),
                    fit(&s.description, 30),
                    common_folder(own.iter().copied())
                )?;
            }
            let files: std::collections::HashSet<&Path> = st
                .series
                .iter()
                .flat_map(|s| s.instances.iter().map(|i| i.path.as_path()))
                .collect();
            let mut groups: Vec<_> = links
                .groups_of(&p.patient_id)
                .filter(|g| g.files.first().is_some_and(|f| files.contains(f.as_path())))
                .collect();
            groups.sort_by(|a, b| (&a.folder, &a.key).cmp(&(&b.folder, &b.key)));
            for g in groups {
                say!(
                    out,
                    "    {:10} {:>5} files  {}/  ({})",
                    g.kind.short_label(),
                    g.files.len(),
                    g.folder.display(),
                    g.status.label()
                )?;
            }
        }
    }
    if !index.xml.is_empty() {
        say!(out, "\nXML files ({}):", index.xml.len())?;
        for x in &index.xml {
            match &x.assignment {
                dams::scan::XmlAssignment::Assigned { patient_id, by } => {
                    say!(out, "  {} → patient {patient_id} ({by})", x.path.display())?;
                }
                dams::scan::XmlAssignment::Unassigned { reason } => {
                    say!(out, "  {} → no patient: {reason}", x.path.display())?;
                }
                dams::scan::XmlAssignment::Pending => say!(out, "  {}", x.path.display())?,
            }
        }
    }
    unplaced_list(out, &index.unplaced)?;
    unreadable_list(out, &index.unreadable, "could not be read")
}

/// The folder shared by a set of paths ("DEMO-001/CT").
fn common_folder<'a>(paths: impl Iterator<Item = &'a Path>) -> String {
    let mut common: Option<std::path::PathBuf> = None;
    for p in paths {
        let dir = p.parent().unwrap_or(Path::new("")).to_path_buf();
        common = Some(match common {
            None => dir,
            Some(c) => c
                .components()
                .zip(dir.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    let c = common.unwrap_or_default();
    if c.as_os_str().is_empty() {
        ".".into()
    } else {
        c.display().to_string()
    }
}

/// The first lines of `dams plan`: profile and key store.
pub fn plan_head(out: &mut dyn Write, planner: &Planner, key: &dams::key::Location) -> io::Result<()> {
    let n = planner.new_entries.len();
    say!(out, "profile: {} ({})", planner.profile.name, planner.profile.source)?;
    say!(
        out,
        "key store: {} ({n} new code{})",
        key,
        if n == 1 { "" } else { "s" }
    )
}

/// What happens to one patient's files: folder by folder with identical edits counted once,
/// or (`files`) file by file, each with its output path.
pub fn plan_patient(out: &mut dyn Write, p: &dams::plan::PatientPlan, files: bool) -> io::Result<()> {
    say!(
        out,
        "\n{} → {}{}  ({})",
        dams::scan::index::label(&p.patient_key),
        p.code,
        if p.new_code { " (new code)" } else { "" },
        files_word(p.files.len())
    )?;
    if let Some(why) = &p.looks_pseudonymised {
        say!(
            out,
            "  warning: this looks like dams output already ({why}); apply asks before coding it again"
        )?;
    }
    if files {
        for f in &p.files {
            plan_file(out, f)?;
        }
    } else {
        plan_folders(out, &p.files)?;
    }
    for x in &p.xml {
        plan_xml(out, x)?;
    }
    for e in &p.failed {
        say!(out, "  cannot be written: {}: {}", e.path.display(), e.reason)?;
    }
    Ok(())
}

/// One file of `dams plan --files`: its output path, every edit, every warning.
fn plan_file(out: &mut dyn Write, f: &dams::plan::FilePlan) -> io::Result<()> {
    if f.dest == f.source {
        say!(out, "  {}", f.source.display())?;
    } else {
        say!(out, "  {}  →  {}", f.source.display(), f.dest.display())?;
    }
    for e in &f.edits {
        say!(
            out,
            "    {}",
            edit_line(&e.path, &e.keyword, e.before.as_deref(), e.after.as_deref(), &e.rule)
        )?;
    }
    for w in &f.warnings {
        say!(out, "    warning: {w}")?;
    }
    residual_lines(out, &f.residual, &f.kept)
}

/// A file's findings, one line each: what its values or names still hold, and what its names
/// keep on purpose.
fn residual_lines(
    out: &mut dyn Write,
    residual: &[dams::residual::Residual],
    kept: &[dams::residual::Residual],
) -> io::Result<()> {
    for r in residual {
        say!(
            out,
            "    warning: {} {} still holds the {}",
            r.element,
            r.keyword,
            r.identifier.label()
        )?;
    }
    for r in kept {
        say!(
            out,
            "    kept: {} {}, the {} ({NAME_KEPT})",
            r.element,
            r.keyword,
            r.identifier.label()
        )?;
    }
    Ok(())
}

/// Why a name keeps what the search finds in it.
const NAME_KEPT: &str = "too short or generic to be replaced inside a name";

/// A patient's files folder by folder, identical edits counted once.
fn plan_folders(out: &mut dyn Write, files: &[dams::plan::FilePlan]) -> io::Result<()> {
    let mut folders: BTreeMap<String, Vec<&dams::plan::FilePlan>> = BTreeMap::new();
    for f in files {
        folders
            .entry(f.source.parent().map(|d| d.display().to_string()).unwrap_or_default())
            .or_default()
            .push(f);
    }
    for (folder, fs) in folders {
        let shown = |d: String| if d.is_empty() { ".".to_string() } else { d };
        let dest = fs[0].dest.parent().map(|d| d.display().to_string()).unwrap_or_default();
        let to = if dest == folder {
            String::new()
        } else {
            format!("  →  {}/", shown(dest))
        };
        say!(out, "  {}/{to}  {}", shown(folder), files_word(fs.len()))?;
        plan_summary(out, &dams::plan::summary::summarise(fs.iter().copied()))?;
    }
    Ok(())
}

/// The edits of a folder's files, each once with the number of files it is made in.
fn plan_summary(out: &mut dyn Write, summary: &dams::plan::summary::Summary) -> io::Result<()> {
    use dams::plan::summary::EditGroup;
    for g in summary.grouped(3) {
        let (edits, many) = match g {
            EditGroup::Same(e) => (vec![e], None),
            EditGroup::Variants(v) => (v, None),
            EditGroup::Many { first, values, files } => (vec![], Some((first, values, files))),
        };
        for e in edits {
            say!(
                out,
                "    {}  ×{}",
                edit_line(&e.path, &e.keyword, e.before.as_deref(), e.after.as_deref(), &e.rule),
                e.files
            )?;
        }
        if let Some((e, values, files)) = many {
            say!(
                out,
                "    {:<12} {:24} {values} different values → new per file  [{}]  ×{files}",
                e.path,
                e.keyword,
                e.rule
            )?;
        }
    }
    for (file, w) in &summary.warnings {
        say!(out, "    warning: {file}: {w}")?;
    }
    for r in &summary.residual {
        say!(
            out,
            "    warning: {} {} still holds the {}  ×{}",
            r.element,
            r.keyword,
            r.identifier.label(),
            r.files
        )?;
    }
    for r in &summary.kept {
        say!(
            out,
            "    kept: {} {}, the {} ({NAME_KEPT})  ×{}",
            r.element,
            r.keyword,
            r.identifier.label(),
            r.files
        )?;
    }
    Ok(())
}

/// One XML file of a patient: where it goes, why it is this patient's, its edits.
fn plan_xml(out: &mut dyn Write, x: &dams::plan::XmlFilePlan) -> io::Result<()> {
    let to = if x.dest == x.source {
        String::new()
    } else {
        format!("  →  {}", x.dest.display())
    };
    say!(
        out,
        "  XML {}{to}  (assigned: {}; {})",
        x.source.display(),
        x.assigned_by,
        x.plan.encoding
    )?;
    if x.plan.edits.is_empty() {
        say!(out, "    no change: copied as it is")?;
    }
    for e in &x.plan.edits {
        say!(
            out,
            "    {}",
            edit_line(
                &format!("{}:{}", e.line, e.path),
                "",
                Some(&e.before),
                e.after.as_deref(),
                &e.rule
            )
        )?;
    }
    for w in &x.plan.warnings {
        say!(out, "    warning: {w}")?;
    }
    residual_lines(out, &x.residual, &x.kept)
}

/// The end of `dams plan`: what will not be written, whether the plan was stopped, and how to
/// write.
pub fn plan_tail(out: &mut dyn Write, index: &Index, planner: &Planner, cancelled: bool) -> io::Result<()> {
    unassigned_list(out, &planner.unassigned_xml)?;
    unplaced_list(out, &index.unplaced)?;
    unreadable_list(out, &index.unreadable, "could not be read, will not be written")?;
    if cancelled {
        say!(
            out,
            "\ncancelled: planning was stopped; the patients not shown above were not planned"
        )?;
    }
    say!(out, "\nNothing was written. To write: dams apply PATH --out OUT")
}

/// `dams xml` as text.
pub fn xml_text(out: &mut dyn Write, root: &Path, rows: &[serde_json::Value]) -> io::Result<()> {
    if rows.is_empty() {
        return say!(out, "no XML files in {}", root.display());
    }
    for r in rows {
        let path = r["path"].as_str().unwrap_or_default();
        match r["patient_key"].as_str() {
            Some(key) => say!(
                out,
                "{path}  →  {} ({})  [{}]",
                dams::identity::label(key),
                r["code"].as_str().unwrap_or_default(),
                r["assigned_by"].as_str().unwrap_or_default()
            )?,
            None => say!(
                out,
                "{path}  →  no patient: {}  (dams xml PATH --assign FILE=PATIENT)",
                r["reason"].as_str().unwrap_or_default()
            )?,
        }
    }
    Ok(())
}

fn unassigned_list(out: &mut dyn Write, list: &[dams::plan::UnassignedXml]) -> io::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    say!(
        out,
        "\nXML without a patient, not written until assigned ({}):",
        list.len()
    )?;
    for u in list {
        say!(out, "  {}: {}", u.path.display(), u.reason)?;
    }
    say!(out, "  assign with: dams xml PATH --assign FILE=PATIENT")
}

fn files_word(n: usize) -> String {
    if n == 1 { "1 file".into() } else { format!("{n} files") }
}

fn edit_line(
    path: &str,
    keyword: &str,
    before: Option<&str>,
    after: Option<&str>,
    rule: &dams::profile::RuleKind,
) -> String {
    let before = before.unwrap_or("(absent)");
    let after = after.map_or("(removed)", |a| if a.is_empty() { "(empty)" } else { a });
    format!("{path:<12} {keyword:24} {} → {}  [{rule}]", show(before), show(after))
}

fn show(v: &str) -> String {
    if v.is_empty() { "(empty)".into() } else { fit(v, 40) }
}

pub fn apply_summary(
    out: &mut dyn Write,
    index: &Index,
    planner: &Planner,
    target: &Target,
    key: &dams::key::Location,
) -> io::Result<()> {
    let dest = match target {
        Target::Folder(o) => o.display().to_string(),
        Target::InPlace => format!("{} (IN PLACE: the input files are replaced)", index.root.display()),
    };
    say!(out, "dams apply")?;
    say!(out, "  input:     {}", index.root.display())?;
    say!(out, "  output:    {dest}")?;
    say!(out, "  profile:   {}", planner.profile.name)?;
    say!(out, "  patients:  {}", index.patients.len())?;
    say!(
        out,
        "  files:     {} DICOM, {} XML",
        index.file_count(),
        index.xml.len() - planner.unassigned_xml.len()
    )?;
    let new: Vec<&str> = planner.new_entries.iter().map(|e| e.code.as_str()).collect();
    say!(
        out,
        "  key store: {} ({} new code{}{})",
        key,
        new.len(),
        if new.len() == 1 { "" } else { "s" },
        if new.is_empty() {
            String::new()
        } else {
            format!(": {}", new.join(", "))
        }
    )?;
    for (pid, why) in planner.pseudonymised_patients() {
        say!(
            out,
            "  warning:   {} looks like dams output already ({why})",
            dams::scan::index::label(pid)
        )?;
    }
    if matches!(target, Target::InPlace) {
        let kept = dams::apply::names_kept_in_place(index, planner, None);
        if kept > 0 {
            say!(out, "  warning:   {}", names_kept_warning(kept))?;
        }
    }
    Ok(())
}

fn names_kept_warning(n: usize) -> String {
    format!(
        "{n} file(s) have a file or folder name that holds a patient identifier; in place they keep it (write to an output folder to have them renamed)"
    )
}

/// What stays ([`dams::plan::stays::Stays`]), one line each after `lead`; nothing when
/// nothing does.
pub fn stays_text(out: &mut dyn Write, stays: &dams::plan::stays::Stays, lead: &str) -> io::Result<()> {
    for line in stays.lines() {
        say!(out, "{lead}{line}")?;
    }
    Ok(())
}

pub fn apply_text(out: &mut dyn Write, r: &ApplyReport) -> io::Result<()> {
    let xml = if r.xml_written > 0 {
        format!(" ({} XML)", r.xml_written)
    } else {
        String::new()
    };
    match &r.out {
        Some(o) => say!(out, "wrote {} file(s){xml} to {}", r.written, o.display())?,
        None => say!(out, "replaced {} file(s){xml} in place", r.written)?,
    }
    if r.key_entries_created > 0 {
        say!(out, "added {} code(s) to the key store", r.key_entries_created)?;
    }
    for d in &r.dicomdirs {
        say!(out, "{}", d.line())?;
    }
    if r.identifying_names_kept > 0 {
        say!(out, "warning: {}", names_kept_warning(r.identifying_names_kept))?;
    }
    stays_text(out, &r.stays, "warning: ")?;
    if r.cancelled {
        say!(
            out,
            "cancelled: the remaining files were not written (run again to finish)"
        )?;
    }
    if !r.failed.is_empty() {
        say!(out, "\nfailed ({}):", r.failed.len())?;
        for f in &r.failed {
            say!(out, "  {}: {}", f.path.display(), f.reason)?;
        }
    }
    unassigned_list(out, &r.unassigned_xml)?;
    unplaced_list(out, &r.unplaced)?;
    unreadable_list(out, &r.unreadable, "not written, could not be read")
}

pub fn verify_text(out: &mut dyn Write, r: &VerifyReport) -> io::Result<()> {
    say!(
        out,
        "checked {} file(s) against the manifest{} (profile {}): {} ok",
        r.checked,
        if r.against_input { " and the input" } else { "" },
        r.profile,
        r.ok
    )?;
    if r.cancelled {
        say!(
            out,
            "cancelled: verify was stopped before the end; only the {} file(s) counted here were checked, what is not listed was not checked: this is no clean bill (run verify again)",
            r.checked
        )?;
    }
    if !r.problems.is_empty() {
        say!(out, "\nproblems ({}):", r.problems.len())?;
        for p in &r.problems {
            say!(out, "  {}: [{}] {}", p.path.display(), p.kind, p.detail)?;
        }
    }
    if !r.input_problems.is_empty() {
        say!(
            out,
            "\nalready so in the input, not held against the output ({}):",
            r.input_problems.len()
        )?;
        for p in &r.input_problems {
            say!(out, "  {}: [{}] {}", p.path.display(), p.kind, p.detail)?;
        }
    }
    if !r.residual.is_empty() {
        say!(out, "\noriginal identifiers still present ({}):", r.residual.len())?;
        by_element(out, &r.residual)?;
        say!(out, "  (run with --json for the list of files)")?;
    }
    if !r.kept.is_empty() {
        say!(
            out,
            "\nkept by the profile on purpose (or, in file and folder names, too short or generic to be replaced there), not held against the output ({}):",
            r.kept.len()
        )?;
        by_element(out, &r.kept)?;
    }
    Ok(())
}

/// Findings by element and kind, with the number of files each is in (never a value).
fn by_element(out: &mut dyn Write, found: &[dams::residual::Residual]) -> io::Result<()> {
    let mut grouped: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for x in found {
        *grouped
            .entry((&x.element, &x.keyword, x.identifier.label()))
            .or_default() += 1;
    }
    for ((element, keyword, what), n) in grouped {
        say!(out, "  {element} {keyword}: {what}  in {n} file(s)")?;
    }
    Ok(())
}

pub fn map_text(out: &mut dyn Write, index: &Index, p: &dams::plan::Prepared) -> io::Result<()> {
    let links = &p.links;
    if links.groups.is_empty() && links.derived_images.is_empty() {
        return say!(out, "no masks, SEG or RTSTRUCT found in {}", index.root.display());
    }
    for patient in &index.patients {
        let mut groups: Vec<_> = links.groups_of(&patient.patient_id).collect();
        groups.sort_by(|a, b| (&a.folder, a.status).cmp(&(&b.folder, b.status)));
        let derived: Vec<_> = links.derived_images_of(&patient.patient_id).collect();
        if groups.is_empty() && derived.is_empty() {
            continue;
        }
        say!(out, "\npatient {}", patient.patient_id)?;
        for g in groups {
            group_text(out, p, g)?;
        }
        if !derived.is_empty() {
            say!(
                out,
                "  derived images (no segmentation: shown with their source, never repaired)"
            )?;
        }
        for d in derived {
            say!(
                out,
                "    {}/  {}, {}  →  {}  [{}]",
                d.folder.display(),
                d.kind.label(),
                files_word(d.files.len()),
                source_text(d.source.as_ref()),
                d.status.label()
            )?;
            say!(out, "        why: {}", clues(&d.classification))?;
            say!(out, "        {}", evidence(links, &d.evidence))?;
        }
    }
    say!(
        out,
        "\nLink by hand: dams map PATH --set GROUP=SERIES (GROUP and SERIES by folder, key or UID)"
    )
}

/// One segmentation object of `dams map`: its link and why, what is ambiguous or odd in
/// it, suggestions, flags, its repair and its key.
fn group_text(out: &mut dyn Write, p: &dams::plan::Prepared, g: &dams::link::SegmentationGroup) -> io::Result<()> {
    let links = &p.links;
    say!(
        out,
        "  {}/  {}, {}  →  {}  [{}]",
        g.folder.display(),
        g.kind.label(),
        files_word(g.files.len()),
        source_text(g.source.as_ref()),
        g.status.label()
    )?;
    say!(out, "      segmentation: {}", clues(&g.classification))?;
    say!(out, "      {}", evidence(links, &g.evidence))?;
    if g.automatic_status == dams::link::LinkStatus::Ambiguous {
        let proposal = match &g.proposed {
            Some(s) => format!("proposed link: {}/ (most files)", s.folder.display()),
            None => "no majority to propose".into(),
        };
        let decided = if g.needs_decision() {
            format!(
                "a decision is needed before approval (dams map PATH --set {}=SERIES)",
                g.key
            )
        } else {
            "decided by hand".into()
        };
        say!(out, "      ambiguous: {proposal}; {decided}")?;
    }
    let odd: Vec<String> = g
        .files
        .iter()
        .filter_map(|f| links.file(f))
        .filter(|f| f.status != dams::link::FileStatus::Resolved)
        .map(|f| format!("{} ({})", f.path.display(), f.status.describe()))
        .collect();
    if !odd.is_empty() {
        let shown: Vec<&str> = odd.iter().take(5).map(String::as_str).collect();
        let more = if odd.len() > 5 {
            format!(" and {} more", odd.len() - 5)
        } else {
            String::new()
        };
        say!(out, "      files: {}{more}", shown.join(", "))?;
    }
    for s in &g.suggestions {
        let reasons: Vec<String> = s
            .reasons
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v["reason"].as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect();
        say!(
            out,
            "      suggestion (not a link): {}/  {}",
            s.folder.display(),
            reasons.join(", ")
        )?;
    }
    for f in &g.flags {
        say!(out, "      ⚠ {}", f.describe())?;
    }
    if let Some(first) = g.files.first()
        && let Some(r) = p.planner.repair(first)
    {
        say!(
            out,
            "      repair: new series UID and SOP UIDs, InstanceNumber 1..{}, SeriesNumber {}",
            g.files.len(),
            r.series_number
        )?;
    }
    say!(out, "      key: {}", g.key)
}

/// A source series as `dams map` shows it: its folder, what it is and its slices.
fn source_text(s: Option<&dams::link::SourceSeries>) -> String {
    match s {
        Some(s) => format!(
            "{}/  {} {}, {} slices",
            s.folder.display(),
            s.modality,
            fit(&s.description, 30),
            s.slices
        ),
        None => "no source".into(),
    }
}

/// Why files were taken for a segmentation (or a derived image).
fn clues(c: &[dams::link::Clue]) -> String {
    c.iter().map(dams::link::Clue::describe).collect::<Vec<_>>().join("; ")
}

/// The references behind a link: where they point, how many are missing or ignored.
fn evidence(links: &dams::link::Links, ev: &dams::link::Evidence) -> String {
    // A source series by its folder (its UID when it is not one of the sources).
    let source_name = |uid: &str| {
        links
            .sources
            .iter()
            .find(|s| s.series_uid == uid)
            .map_or_else(|| uid.to_string(), |s| format!("{}/", s.folder.display()))
    };
    let votes: Vec<String> = ev
        .votes
        .iter()
        .map(|v| {
            format!(
                "{} → {} ({})",
                v.references,
                source_name(&v.series_uid),
                files_word(v.files)
            )
        })
        .collect();
    format!(
        "evidence: {}; {} missing; {} ignored (localizer/segmentation/self)",
        if votes.is_empty() {
            "no reference resolves".into()
        } else {
            votes.join(", ")
        },
        ev.missing,
        ev.ignored()
    )
}

/// `dams assign`: every file without a `PatientID` and where it went.
pub fn assign_report(out: &mut dyn Write, index: &Index, planner: &Planner, json: bool) -> io::Result<()> {
    let placed: Vec<(&dams::scan::Patient, &dams::scan::Instance)> = index
        .patients
        .iter()
        .flat_map(|p| p.instances().filter(|i| i.placed_by.is_some()).map(move |i| (p, i)))
        .collect();
    if json {
        let files: Vec<serde_json::Value> = placed
            .iter()
            .map(|(p, i)| {
                serde_json::json!({
                    "path": i.path.to_string_lossy(),
                    "patient_id": p.real_id(),
                    "patient_key": p.patient_id,
                    "code": planner.code(&p.patient_id),
                    "placed_by": i.placed_by,
                })
            })
            .collect();
        return super::write_json(out, &serde_json::json!({ "placed": files, "unplaced": index.unplaced }));
    }
    if placed.is_empty() && index.unplaced.is_empty() {
        return say!(out, "every file in {} has a PatientID", index.root.display());
    }
    for (p, i) in &placed {
        say!(
            out,
            "{}  →  {} ({})  [{}]",
            i.path.display(),
            p.label(),
            planner.code(&p.patient_id).unwrap_or_default(),
            i.placed_by.map(dams::scan::Placement::reason).unwrap_or_default()
        )?;
    }
    unplaced_list(out, &index.unplaced)
}

fn unplaced_list(out: &mut dyn Write, list: &[dams::scan::Unplaced]) -> io::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    say!(out, "\npatient unknown, not written until assigned ({}):", list.len())?;
    for u in list {
        say!(out, "  {}: {}", u.path.display(), u.reason)?;
    }
    say!(
        out,
        "  assign with: dams assign PATH FILE=PATIENT (a file, a folder or a StudyInstanceUID)"
    )
}

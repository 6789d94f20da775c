//! The detail view: one row of the changes pane in full — the element and its path, the
//! rule, how many files, and the before and after values whole, wrapped.

use super::{Scroll, TextBox};
use crate::tui::keys::Context;
use crate::tui::panes::diff::{DiffRow, EditRow};
use crate::tui::theme::Tone;

#[derive(Debug, Clone)]
pub struct Detail {
    pub text: TextBox,
}

impl Detail {
    /// Lines said in full under a title (a mask series' evidence and warnings).
    #[must_use]
    pub fn lines(title: String, lines: Vec<(Tone, String)>) -> Detail {
        Detail {
            text: TextBox {
                title,
                lines,
                scroll: Scroll::default(),
                context: Context::Detail,
            },
        }
    }

    /// The detail of a row (`None` for rows with nothing more to say).
    #[must_use]
    pub fn of(row: &DiffRow, patient: &str) -> Option<Detail> {
        let (title, lines) = match row {
            DiffRow::Edit(e) => (edit_title(e), edit_lines(e, patient)),
            DiffRow::Note { mark: "", .. } => return None,
            DiffRow::Note { mark, text, tone } => (
                if mark.contains('✗') { "Error" } else { "Note" }.to_string(),
                vec![(if *tone == Tone::Plain { Tone::Warn } else { *tone }, text.clone())],
            ),
            // Headings and short notes: nothing more to say.
            DiffRow::Line { .. } => return None,
        };
        Some(Detail::lines(title, lines))
    }
}

fn edit_title(e: &EditRow) -> String {
    match &e.xml {
        Some(x) => format!("XML {}", x.display()),
        None if e.note.is_empty() => e.element.clone(),
        None => format!("{} {}", tag_of(&e.element), e.note),
    }
}

/// The element's own tag: the last of its path.
fn tag_of(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn edit_lines(e: &EditRow, patient: &str) -> Vec<(Tone, String)> {
    let mut out = Vec::new();
    match &e.xml {
        Some(_) => {
            let (line, path) = e.element.split_once(':').unwrap_or(("?", &e.element));
            out.push((Tone::Plain, format!("Where    line {line}, {path}")));
        }
        None => out.push((Tone::Plain, format!("Element  {}", e.element))),
    }
    out.push((Tone::Plain, format!("Rule     {}", e.rule)));
    let files = match e.files {
        Some(n) => format!("Files    {n} of {} (patient {patient})", e.of),
        None if e.xml.is_some() => format!("Patient  {patient}"),
        None => format!("Files    all {} (patient {patient})", e.of),
    };
    out.push((Tone::Plain, files));
    out.push((Tone::Plain, String::new()));
    out.push((Tone::Title, "Before".into()));
    out.push((
        Tone::Before,
        if e.many {
            format!("{} (one per file; see each file for its value)", e.before)
        } else {
            e.before.clone()
        },
    ));
    out.push((Tone::Plain, String::new()));
    out.push((Tone::Title, "After".into()));
    out.push((
        Tone::After,
        if e.many {
            format!("a new value in each file (rule {})", e.rule)
        } else {
            e.after.clone()
        },
    ));
    out
}

//! Key bindings as data: one table decides what a key does in every mode (the panes, the
//! filter, each dialog), what the footer shows, and what the help screen lists.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What the user wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Browser: expand the row (or go into it).
    Expand,
    /// Browser: collapse the row, or go to its parent.
    Collapse,
    /// Browser: open or close the row; on an XML file or a file without a `PatientID`, choose
    /// its patient.
    Open,
    /// Changes pane: the full values of the selected row.
    Details,
    /// Masks pane: choose the source series.
    Link,
    ToggleRepair,
    Filter,
    /// Filter: stop typing, keep the filter.
    KeepFilter,
    /// Filter or browser: clear the filter.
    ClearFilter,
    /// Filter: delete the last character.
    DeleteChar,
    NextPane,
    PrevPane,
    Review,
    Approve,
    ApproveAll,
    /// Send the selected written patient (or, in a write's result, the patients written) to a
    /// DICOM node.
    Send,
    /// Send every written patient.
    SendAll,
    Help,
    Quit,
    /// Dialogs: close without doing anything.
    Close,
    Yes,
    No,
    /// Confirmation: move between the buttons.
    Switch,
    /// Confirmation: the highlighted button.
    Answer,
    /// Pickers: take the highlighted choice.
    Choose,
    /// Writing or sending: stop (files in progress are finished, nothing partial is left; a
    /// send stops between instances).
    CancelWrite,
    /// Writing: stop the write, then quit.
    CancelAndQuit,
}

/// Where a binding applies. `Everywhere` means every pane; dialogs and the filter have
/// only their own bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Everywhere,
    Browser,
    Diff,
    Mapping,
    Filter,
    Help,
    Confirm,
    /// The question before approving a patient nobody marked reviewed.
    Ask,
    Writing,
    SourcePicker,
    PatientPicker,
    /// The node to send to.
    NodePicker,
    /// While verifying and sending.
    Sending,
    Detail,
    Result,
    /// The result of a write: it can be sent on from there.
    Written,
}

impl Context {
    fn is_pane(self) -> bool {
        matches!(self, Context::Browser | Context::Diff | Context::Mapping)
    }
}

/// Whether a binding is shown in the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Footer {
    /// Only in help.
    Hidden,
    /// When there is room, after the `Shown` ones.
    Low,
    /// When there is room.
    Shown,
    /// Always, even on a narrow terminal (help and quit).
    Always,
}

pub struct Binding {
    pub action: Action,
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the keys are written in the footer and help.
    pub shown: &'static str,
    /// Short label for the footer.
    pub label: &'static str,
    /// One line for the help screen.
    pub help: &'static str,
    pub contexts: &'static [Context],
    pub footer: Footer,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

use Context::{
    Ask, Browser, Confirm, Detail, Diff, Everywhere, Filter, Help, Mapping, NodePicker, PatientPicker, Result, Sending,
    SourcePicker, Writing, Written,
};

/// Where moving the selection or scrolling works: the panes and the dialogs with a list.
const MOVING: &[Context] = &[
    Everywhere,
    Help,
    SourcePicker,
    PatientPicker,
    NodePicker,
    Detail,
    Result,
    Written,
];

const fn bind(
    action: Action,
    keys: &'static [(KeyCode, KeyModifiers)],
    shown: &'static str,
    label: &'static str,
    help: &'static str,
    contexts: &'static [Context],
    footer: Footer,
) -> Binding {
    Binding {
        action,
        keys,
        shown,
        label,
        help,
        contexts,
        footer,
    }
}

use Footer::{Always, Hidden, Low, Shown};
use KeyCode::{BackTab, Backspace, Char, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up};

pub const BINDINGS: &[Binding] = &[
    // Moving, in the panes and in dialogs with a list.
    bind(
        Action::Up,
        &[(Up, NONE), (Char('k'), NONE)],
        "↑/k",
        "up",
        "move up",
        MOVING,
        Hidden,
    ),
    bind(
        Action::Down,
        &[(Down, NONE), (Char('j'), NONE)],
        "↓/j",
        "down",
        "move down",
        MOVING,
        Hidden,
    ),
    bind(
        Action::PageUp,
        &[(PageUp, NONE)],
        "PgUp",
        "page up",
        "one page up",
        MOVING,
        Hidden,
    ),
    bind(
        Action::PageDown,
        &[(PageDown, NONE)],
        "PgDn",
        "page down",
        "one page down",
        MOVING,
        Hidden,
    ),
    bind(
        Action::Top,
        &[(Home, NONE), (Char('g'), NONE)],
        "Home/g",
        "top",
        "go to the top",
        MOVING,
        Hidden,
    ),
    bind(
        Action::Bottom,
        &[(End, NONE), (Char('G'), SHIFT), (Char('G'), NONE)],
        "End/G",
        "bottom",
        "go to the bottom",
        MOVING,
        Hidden,
    ),
    // The patients pane.
    bind(
        Action::Expand,
        &[(Right, NONE), (Char('l'), NONE)],
        "→/l",
        "open",
        "expand the selected patient, study or series",
        &[Browser],
        Low,
    ),
    bind(
        Action::Collapse,
        &[(Left, NONE), (Char('h'), NONE)],
        "←/h",
        "close",
        "collapse, or go to the parent",
        &[Browser],
        Low,
    ),
    bind(
        Action::Open,
        &[(Enter, NONE)],
        "Enter",
        "open / assign",
        "open or close the row; on an XML file or a file without a PatientID, choose its patient",
        &[Browser],
        Hidden,
    ),
    bind(
        Action::Filter,
        &[(Char('/'), NONE)],
        "/",
        "filter",
        "filter patients, series and files by text",
        &[Browser],
        Shown,
    ),
    bind(
        Action::ClearFilter,
        &[(Esc, NONE)],
        "Esc",
        "clear filter",
        "clear the filter",
        &[Browser],
        Hidden,
    ),
    // The changes pane.
    bind(
        Action::Details,
        &[(Enter, NONE), (Char('v'), NONE)],
        "Enter/v",
        "details",
        "the selected change in full: before, after, rule and element path",
        &[Diff],
        Shown,
    ),
    // The masks pane.
    bind(
        Action::Link,
        &[(Enter, NONE)],
        "Enter",
        "link source",
        "choose the CT series a mask was drawn on, or go back to automatic",
        &[Mapping],
        Shown,
    ),
    bind(
        Action::Details,
        &[(Char('v'), NONE)],
        "v",
        "details",
        "everything about the selected mask series: evidence, repair, suggestions, warnings",
        &[Mapping],
        Low,
    ),
    bind(
        Action::ToggleRepair,
        &[(Char('t'), NONE)],
        "t",
        "repair on/off",
        "switch the tag repair of the selected mask series off or on",
        &[Mapping],
        Shown,
    ),
    // Every pane.
    bind(
        Action::NextPane,
        &[(Tab, NONE)],
        "Tab",
        "next pane",
        "focus the next pane (or click it)",
        &[Everywhere],
        Shown,
    ),
    bind(
        Action::PrevPane,
        &[(BackTab, SHIFT), (BackTab, NONE)],
        "S-Tab",
        "previous pane",
        "focus the previous pane",
        &[Everywhere],
        Hidden,
    ),
    bind(
        Action::Review,
        &[(Char('r'), NONE)],
        "r",
        "reviewed",
        "mark the selected patient reviewed (again: back to pending)",
        &[Everywhere],
        Shown,
    ),
    bind(
        Action::Approve,
        &[(Char('a'), NONE)],
        "a",
        "approve+write",
        "approve the selected patient: see what is written, write on yes",
        &[Everywhere],
        Shown,
    ),
    bind(
        Action::ApproveAll,
        &[(Char('A'), SHIFT), (Char('A'), NONE)],
        "A",
        "approve all reviewed",
        "approve all reviewed patients at once (with its own confirmation)",
        &[Everywhere],
        Hidden,
    ),
    bind(
        Action::Send,
        &[(Char('s'), NONE)],
        "s",
        "send",
        "send the selected written patient to a DICOM node of the config file (verified first)",
        &[Everywhere],
        Low,
    ),
    bind(
        Action::SendAll,
        &[(Char('S'), SHIFT), (Char('S'), NONE)],
        "S",
        "send all written",
        "send every written patient to a DICOM node (verified first)",
        &[Everywhere],
        Hidden,
    ),
    bind(
        Action::Help,
        &[(Char('?'), NONE), (Char('?'), SHIFT), (KeyCode::F(1), NONE)],
        "?",
        "help",
        "this help",
        &[Everywhere],
        Always,
    ),
    bind(
        Action::Quit,
        &[(Char('q'), NONE), (Char('c'), CTRL)],
        "q",
        "quit",
        "quit",
        &[Everywhere],
        Always,
    ),
    // Ctrl-C quits from wherever (during a write it cancels the write first, see below).
    bind(
        Action::Quit,
        &[(Char('c'), CTRL)],
        "C-c",
        "quit",
        "quit, from the filter or any dialog but the write's",
        &[
            Filter,
            Help,
            Confirm,
            Ask,
            SourcePicker,
            PatientPicker,
            NodePicker,
            Detail,
            Result,
            Written,
        ],
        Hidden,
    ),
    // Typing a filter.
    bind(
        Action::KeepFilter,
        &[(Enter, NONE)],
        "Enter",
        "keep filter",
        "stop typing and keep the filter (Esc in the patients pane clears it)",
        &[Filter],
        Always,
    ),
    bind(
        Action::ClearFilter,
        &[(Esc, NONE)],
        "Esc",
        "clear",
        "clear the filter",
        &[Filter],
        Always,
    ),
    bind(
        Action::DeleteChar,
        &[(Backspace, NONE)],
        "Bksp",
        "delete",
        "delete the last character",
        &[Filter],
        Shown,
    ),
    // The write confirmation, and the question before approving an unreviewed patient.
    bind(
        Action::Yes,
        &[(Char('y'), NONE)],
        "y",
        "yes",
        "yes: write (or go on to the write dialog)",
        &[Confirm, Ask],
        Always,
    ),
    bind(
        Action::No,
        &[(Char('n'), NONE), (Esc, NONE), (Char('q'), NONE)],
        "n/Esc",
        "no",
        "no: nothing is written",
        &[Confirm, Ask],
        Always,
    ),
    bind(
        Action::Switch,
        &[
            (Left, NONE),
            (Right, NONE),
            (Tab, NONE),
            (Char('h'), NONE),
            (Char('l'), NONE),
        ],
        "←/→",
        "switch",
        "move between Yes and No",
        &[Confirm],
        Shown,
    ),
    bind(
        Action::Answer,
        &[(Enter, NONE)],
        "Enter",
        "answer",
        "answer with the highlighted button (No unless you moved to Yes)",
        &[Confirm],
        Shown,
    ),
    // While writing.
    bind(
        Action::CancelWrite,
        &[(Esc, NONE), (Char('c'), NONE)],
        "Esc",
        "cancel",
        "cancel the write (files in progress are finished, nothing partial is left)",
        &[Writing],
        Always,
    ),
    bind(
        Action::CancelAndQuit,
        &[(Char('q'), NONE), (Char('c'), CTRL)],
        "q",
        "cancel and quit",
        "cancel the write, then quit once it has stopped",
        &[Writing],
        Always,
    ),
    // While sending.
    bind(
        Action::CancelWrite,
        &[(Esc, NONE), (Char('c'), NONE)],
        "Esc",
        "cancel",
        "stop sending after the instance in flight (the send log keeps what the node has)",
        &[Sending],
        Always,
    ),
    bind(
        Action::CancelAndQuit,
        &[(Char('q'), NONE), (Char('c'), CTRL)],
        "q",
        "cancel and quit",
        "stop sending, then quit once it has stopped",
        &[Sending],
        Always,
    ),
    // Pickers.
    bind(
        Action::Choose,
        &[(Enter, NONE)],
        "Enter",
        "link",
        "link the mask series to the highlighted series (or back to automatic)",
        &[SourcePicker],
        Always,
    ),
    bind(
        Action::Choose,
        &[(Enter, NONE)],
        "Enter",
        "assign",
        "give the file to the highlighted patient (or back to automatic)",
        &[PatientPicker],
        Always,
    ),
    bind(
        Action::Choose,
        &[(Enter, NONE)],
        "Enter",
        "send",
        "verify the patients' output files, then send those that are clean to the highlighted node",
        &[NodePicker],
        Always,
    ),
    bind(
        Action::Close,
        &[(Esc, NONE), (Char('q'), NONE)],
        "Esc",
        "cancel",
        "close the picker, change nothing",
        &[SourcePicker, PatientPicker, NodePicker],
        Always,
    ),
    // Details, help and results.
    bind(
        Action::Close,
        &[(Esc, NONE), (Enter, NONE), (Char('q'), NONE), (Char(' '), NONE)],
        "Esc",
        "close",
        "close (also Enter, q, space)",
        &[Detail, Help, Result, Written],
        Always,
    ),
    bind(
        Action::Send,
        &[(Char('s'), NONE)],
        "s",
        "send them",
        "after a write: send the patients just written to a DICOM node",
        &[Written],
        Always,
    ),
    bind(
        Action::Close,
        &[(Char('v'), NONE)],
        "v",
        "close",
        "close the details (as v opened them)",
        &[Detail],
        Hidden,
    ),
    bind(
        Action::Close,
        &[(Char('?'), NONE), (Char('?'), SHIFT)],
        "?",
        "close",
        "close the help (as ? opened it)",
        &[Help],
        Hidden,
    ),
];

fn matches(b: &Binding, key: &KeyEvent) -> bool {
    b.keys
        .iter()
        .any(|(code, mods)| *code == key.code && *mods == key.modifiers)
}

/// The action a key means in a context (a pane's own bindings before those of every pane).
#[must_use]
pub fn action_for(key: &KeyEvent, context: Context) -> Option<Action> {
    let own = BINDINGS
        .iter()
        .filter(|b| b.contexts.contains(&context))
        .find(|b| matches(b, key));
    let shared = || {
        context
            .is_pane()
            .then(|| {
                BINDINGS
                    .iter()
                    .filter(|b| b.contexts.contains(&Everywhere))
                    .find(|b| matches(b, key))
            })
            .flatten()
    };
    own.or_else(shared).map(|b| b.action)
}

/// A footer entry: keys, label, and whether it must stay on a narrow terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub keys: &'static str,
    pub label: &'static str,
    pub always: bool,
    /// Shown only when there is room after the others.
    pub low: bool,
}

/// Footer entries for a context: its own first, then (for a pane) those of every pane.
#[must_use]
pub fn footer(context: Context) -> Vec<Hint> {
    let shown = |b: &&Binding| b.footer != Hidden;
    let own = BINDINGS.iter().filter(|b| b.contexts.contains(&context)).filter(shown);
    let shared = BINDINGS
        .iter()
        .filter(|b| context.is_pane() && b.contexts.contains(&Everywhere))
        .filter(shown);
    let mut out: Vec<Hint> = Vec::new();
    for b in own.chain(shared) {
        // Moving keys are listed in help only; one entry per action.
        if out.iter().any(|h| h.keys == b.shown && h.label == b.label) {
            continue;
        }
        out.push(Hint {
            keys: b.shown,
            label: b.label,
            always: b.footer == Always,
            low: b.footer == Low,
        });
    }
    out
}

/// A line of the help screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpLine {
    Heading(&'static str),
    Key { keys: &'static str, help: &'static str },
    Text(&'static str),
    Blank,
}

/// The help screen's sections: each binding is listed once, in the first section that
/// names one of its contexts.
const SECTIONS: &[(&str, &[Context])] = &[
    ("Moving (panes and lists)", &[]),
    ("Every pane", &[Everywhere]),
    ("Patients pane", &[Browser]),
    ("Changes pane", &[Diff]),
    ("Masks pane", &[Mapping]),
    ("Filter (after /)", &[Filter]),
    ("Write confirmation", &[Confirm, Ask]),
    ("While writing", &[Writing]),
    ("While sending", &[Sending]),
    ("Pickers", &[SourcePicker, PatientPicker, NodePicker]),
    ("Details, help, results", &[Detail, Help, Result, Written]),
];

const HOW_WRITING_WORKS: &[&str] = &[
    "Nothing is written until you approve a patient (a) and answer yes.",
    "Patients go pending → reviewed (r) → approved → written; a plan that",
    "changes after review (a link, an assignment) sends them back to pending.",
    "Each file is written unnamed, flushed, then named: never a partial file.",
    "Inputs are never changed. The key store is updated first.",
    "A written patient can be sent to a node of the config file (s): its",
    "files are verified first, and only clean ones go; dams-send.jsonl in",
    "the output folder records what each node has.",
    "Mouse: click a pane or a row; the wheel scrolls.",
];

fn is_moving(a: Action) -> bool {
    matches!(
        a,
        Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top | Action::Bottom
    )
}

/// Every line of the help screen, from the table.
#[must_use]
pub fn help_lines() -> Vec<HelpLine> {
    let mut out = Vec::new();
    let mut listed: Vec<(&str, &str)> = Vec::new();
    for (heading, contexts) in SECTIONS {
        out.push(HelpLine::Heading(heading));
        for b in BINDINGS {
            let here = if contexts.is_empty() {
                is_moving(b.action)
            } else {
                !is_moving(b.action) && b.contexts.iter().any(|c| contexts.contains(c))
            };
            if here && !listed.contains(&(b.shown, b.help)) {
                listed.push((b.shown, b.help));
                out.push(HelpLine::Key {
                    keys: b.shown,
                    help: b.help,
                });
            }
        }
    }
    out.push(HelpLine::Blank);
    out.push(HelpLine::Heading("How writing works"));
    out.extend(HOW_WRITING_WORKS.iter().map(|l| HelpLine::Text(l)));
    out.push(HelpLine::Blank);
    out.push(HelpLine::Text(
        "Esc, Enter, q or ? closes this help; ↑↓ PgUp PgDn scroll it.",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Context] = &[
        Everywhere,
        Browser,
        Diff,
        Mapping,
        Filter,
        Help,
        Confirm,
        Ask,
        Writing,
        SourcePicker,
        PatientPicker,
        NodePicker,
        Sending,
        Detail,
        Result,
        Written,
    ];

    fn k(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, NONE)
    }

    #[test]
    fn vim_and_arrow_keys_mean_the_same() {
        assert_eq!(action_for(&k(Char('j')), Browser), Some(Action::Down));
        assert_eq!(action_for(&k(Down), Diff), Some(Action::Down));
        assert_eq!(action_for(&k(Enter), Mapping), Some(Action::Link));
        assert_eq!(action_for(&k(Char('/')), Diff), None);
        assert!(footer(Browser).iter().any(|h| h.keys == "/"));
    }

    #[test]
    fn dialogs_have_their_own_keys_only() {
        assert_eq!(action_for(&k(Char('q')), Writing), Some(Action::CancelAndQuit));
        assert_eq!(action_for(&k(Char('q')), Help), Some(Action::Close));
        assert_eq!(action_for(&k(Char('r')), Confirm), None, "no pane key in a dialog");
        assert_eq!(action_for(&k(Char('a')), Filter), None, "typed into the filter");
        assert_eq!(action_for(&k(Enter), PatientPicker), Some(Action::Choose));
        assert_eq!(action_for(&k(Char('j')), SourcePicker), Some(Action::Down));
    }

    #[test]
    fn no_key_means_two_things_in_one_context() {
        for &ctx in ALL {
            let mut seen: Vec<((KeyCode, KeyModifiers), Action)> = Vec::new();
            for b in BINDINGS.iter().filter(|b| b.contexts.contains(&ctx)) {
                for key in b.keys {
                    if let Some((_, a)) = seen.iter().find(|(s, _)| s == key) {
                        assert_eq!(*a, b.action, "{key:?} bound twice in {ctx:?}");
                    }
                    seen.push((*key, b.action));
                }
            }
        }
        // A pane's own keys never hide one that works in every pane.
        for ctx in [Browser, Diff, Mapping] {
            for b in BINDINGS.iter().filter(|b| b.contexts.contains(&ctx)) {
                for key in b.keys {
                    let shadowed = BINDINGS
                        .iter()
                        .any(|o| o.contexts.contains(&Everywhere) && o.keys.contains(key));
                    assert!(!shadowed, "{key:?} in {ctx:?} hides a key of every pane");
                }
            }
        }
    }

    #[test]
    fn every_mode_can_be_left_and_shows_its_keys() {
        for &ctx in ALL {
            let hints = footer(ctx);
            assert!(!hints.is_empty(), "{ctx:?} has no footer");
            assert!(hints.iter().any(|h| h.always), "{ctx:?}: nothing the footer keeps");
        }
        for ctx in [Everywhere, Browser, Diff, Mapping] {
            let hints = footer(ctx);
            assert!(hints.iter().any(|h| h.keys == "?" && h.always), "{ctx:?}");
            assert!(hints.iter().any(|h| h.keys == "q" && h.always), "{ctx:?}");
        }
        for ctx in [Help, Detail, Result, Written, SourcePicker, PatientPicker, NodePicker] {
            assert_eq!(action_for(&k(Esc), ctx), Some(Action::Close), "{ctx:?}");
        }
    }

    #[test]
    fn help_lists_every_binding_once() {
        let lines = help_lines();
        for b in BINDINGS {
            let n = lines
                .iter()
                .filter(|l| matches!(l, HelpLine::Key { keys, help } if *keys == b.shown && *help == b.help))
                .count();
            assert_eq!(n, 1, "{} {}", b.shown, b.help);
        }
        assert!(lines.contains(&HelpLine::Text(
            "Esc, Enter, q or ? closes this help; ↑↓ PgUp PgDn scroll it."
        )));
    }
}

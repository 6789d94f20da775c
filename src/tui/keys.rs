//! Key bindings as data: one table decides what a key does, what the footer shows for the
//! focused pane, and what the help screen lists.

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
    Expand,
    Collapse,
    Open,
    ToggleRepair,
    Filter,
    NextPane,
    PrevPane,
    Review,
    Approve,
    ApproveAll,
    Help,
    Quit,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Everywhere,
    Browser,
    Diff,
    Mapping,
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
    pub context: Context,
    /// Shown in the footer (the rest only in help).
    pub footer: bool,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

pub const BINDINGS: &[Binding] = &[
    Binding {
        action: Action::Up,
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        shown: "↑/k",
        label: "up",
        help: "move up",
        context: Context::Everywhere,
        footer: false,
    },
    Binding {
        action: Action::Down,
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        shown: "↓/j",
        label: "down",
        help: "move down",
        context: Context::Everywhere,
        footer: false,
    },
    Binding {
        action: Action::PageUp,
        keys: &[(KeyCode::PageUp, NONE)],
        shown: "PgUp",
        label: "page up",
        help: "one page up",
        context: Context::Everywhere,
        footer: false,
    },
    Binding {
        action: Action::PageDown,
        keys: &[(KeyCode::PageDown, NONE)],
        shown: "PgDn",
        label: "page down",
        help: "one page down",
        context: Context::Everywhere,
        footer: false,
    },
    Binding {
        action: Action::Top,
        keys: &[(KeyCode::Home, NONE), (KeyCode::Char('g'), NONE)],
        shown: "Home/g",
        label: "top",
        help: "go to the top",
        context: Context::Everywhere,
        footer: false,
    },
    Binding {
        action: Action::Bottom,
        keys: &[
            (KeyCode::End, NONE),
            (KeyCode::Char('G'), SHIFT),
            (KeyCode::Char('G'), NONE),
        ],
        shown: "End/G",
        label: "bottom",
        help: "go to the bottom",
        context: Context::Everywhere,
        footer: false,
    },
    Binding {
        action: Action::Expand,
        keys: &[(KeyCode::Right, NONE), (KeyCode::Char('l'), NONE)],
        shown: "→/l",
        label: "open",
        help: "expand the selected patient, study or series",
        context: Context::Browser,
        footer: true,
    },
    Binding {
        action: Action::Collapse,
        keys: &[(KeyCode::Left, NONE), (KeyCode::Char('h'), NONE)],
        shown: "←/h",
        label: "close",
        help: "collapse, or go to the parent",
        context: Context::Browser,
        footer: true,
    },
    Binding {
        action: Action::Open,
        keys: &[(KeyCode::Enter, NONE)],
        shown: "Enter",
        label: "link source",
        help: "choose the CT series a mask was drawn on, or go back to automatic",
        context: Context::Mapping,
        footer: true,
    },
    Binding {
        action: Action::ToggleRepair,
        keys: &[(KeyCode::Char('t'), NONE)],
        shown: "t",
        label: "repair on/off",
        help: "switch the tag repair of the selected mask series off or on",
        context: Context::Mapping,
        footer: true,
    },
    Binding {
        action: Action::Open,
        keys: &[(KeyCode::Enter, NONE)],
        shown: "Enter",
        label: "open / assign",
        help: "open or close the row; on an XML file, choose its patient",
        context: Context::Browser,
        footer: false,
    },
    Binding {
        action: Action::Filter,
        keys: &[(KeyCode::Char('/'), NONE)],
        shown: "/",
        label: "filter",
        help: "filter patients, series and files by text (Esc clears)",
        context: Context::Browser,
        footer: true,
    },
    Binding {
        action: Action::NextPane,
        keys: &[(KeyCode::Tab, NONE)],
        shown: "Tab",
        label: "next pane",
        help: "focus the next pane (or click it)",
        context: Context::Everywhere,
        footer: true,
    },
    Binding {
        action: Action::PrevPane,
        keys: &[(KeyCode::BackTab, SHIFT), (KeyCode::BackTab, NONE)],
        shown: "S-Tab",
        label: "previous pane",
        help: "focus the previous pane",
        context: Context::Everywhere,
        footer: false,
    },
    Binding {
        action: Action::Review,
        keys: &[(KeyCode::Char('r'), NONE)],
        shown: "r",
        label: "reviewed",
        help: "mark the selected patient reviewed (again: back to pending)",
        context: Context::Everywhere,
        footer: true,
    },
    Binding {
        action: Action::Approve,
        keys: &[(KeyCode::Char('a'), NONE)],
        shown: "a",
        label: "approve+write",
        help: "approve the selected patient: see what is written, write on yes",
        context: Context::Everywhere,
        footer: true,
    },
    Binding {
        action: Action::ApproveAll,
        keys: &[(KeyCode::Char('A'), SHIFT), (KeyCode::Char('A'), NONE)],
        shown: "A",
        label: "approve all reviewed",
        help: "approve all reviewed patients at once (with its own confirmation)",
        context: Context::Everywhere,
        footer: false,
    },
    Binding {
        action: Action::Help,
        keys: &[
            (KeyCode::Char('?'), NONE),
            (KeyCode::Char('?'), SHIFT),
            (KeyCode::F(1), NONE),
        ],
        shown: "?",
        label: "help",
        help: "this help",
        context: Context::Everywhere,
        footer: true,
    },
    Binding {
        action: Action::Quit,
        keys: &[(KeyCode::Char('q'), NONE), (KeyCode::Char('c'), KeyModifiers::CONTROL)],
        shown: "q",
        label: "quit",
        help: "quit (asks first while writing)",
        context: Context::Everywhere,
        footer: true,
    },
];

/// The action a key means in a context (pane-specific bindings first).
pub fn action_for(key: &KeyEvent, context: Context) -> Option<Action> {
    let matches = |b: &&Binding| {
        b.keys
            .iter()
            .any(|(code, mods)| *code == key.code && *mods == key.modifiers)
    };
    BINDINGS
        .iter()
        .filter(|b| b.context == context)
        .find(matches)
        .or_else(|| {
            BINDINGS
                .iter()
                .filter(|b| b.context == Context::Everywhere)
                .find(matches)
        })
        .map(|b| b.action)
}

/// Footer entries for a pane: its own first, then the global ones.
pub fn footer(context: Context) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.footer && b.context == context)
        .chain(BINDINGS.iter().filter(|b| b.footer && b.context == Context::Everywhere))
        .map(|b| (b.shown, b.label))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vim_and_arrow_keys_mean_the_same() {
        let k = |c| KeyEvent::new(c, NONE);
        assert_eq!(action_for(&k(KeyCode::Char('j')), Context::Browser), Some(Action::Down));
        assert_eq!(action_for(&k(KeyCode::Down), Context::Diff), Some(Action::Down));
        assert_eq!(action_for(&k(KeyCode::Enter), Context::Mapping), Some(Action::Open));
        assert_eq!(action_for(&k(KeyCode::Char('/')), Context::Diff), None);
        assert!(footer(Context::Browser).iter().any(|(k, _)| *k == "/"));
    }

    #[test]
    fn no_key_means_two_things_in_one_context() {
        for ctx in [Context::Browser, Context::Diff, Context::Mapping] {
            let mut seen = Vec::new();
            for b in BINDINGS
                .iter()
                .filter(|b| b.context == ctx || b.context == Context::Everywhere)
            {
                for k in b.keys {
                    if b.context == ctx || !BINDINGS.iter().any(|o| o.context == ctx && o.keys.contains(k)) {
                        assert!(!seen.contains(k), "{k:?} bound twice in {ctx:?}");
                        seen.push(*k);
                    }
                }
            }
        }
    }
}

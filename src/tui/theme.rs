//! Colours and emphasis. Only the terminal's own palette colours plus bold/reversed, so the
//! screen reads on dark and light backgrounds; with `NO_COLOR` set, no colour at all.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    #[must_use]
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    #[must_use]
    pub fn plain() -> Theme {
        Theme { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }

    #[must_use]
    pub fn selected(&self, focused: bool) -> Style {
        if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        }
    }
    #[must_use]
    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    #[must_use]
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    #[must_use]
    pub fn before(&self) -> Style {
        self.fg(Color::Red)
    }
    #[must_use]
    pub fn after(&self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }
    #[must_use]
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    #[must_use]
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    #[must_use]
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    #[must_use]
    pub fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
    #[must_use]
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
}

/// What a piece of text is, for its style: panes and dialogs say what, the theme says how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Title,
    Dim,
    Warn,
    Error,
    Ok,
    Key,
    Before,
    After,
}

impl Theme {
    #[must_use]
    pub fn tone(&self, t: Tone) -> Style {
        match t {
            Tone::Plain => Style::new(),
            Tone::Title => self.title(),
            Tone::Dim => self.dim(),
            Tone::Warn => self.warn(),
            Tone::Error => self.error(),
            Tone::Ok => self.ok(),
            Tone::Key => self.key(),
            Tone::Before => self.before(),
            Tone::After => self.after(),
        }
    }
}

/// A line of feedback in the footer (or a dialog): what happened, and how it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub tone: Tone,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            tone: Tone::Warn,
        }
    }

    pub fn error(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            tone: Tone::Error,
        }
    }
}

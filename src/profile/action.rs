//! The actions a profile rule can take on a value.

/// What a rule does to the value of its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The patient's code from the key store.
    Code,
    /// A date keeps its year; month and day become 01 01.
    KeepYear,
    /// A date moves by the patient's offset in days (see [`crate::values::shift`]).
    Shift,
    Replace(String),
    Empty,
    Remove,
    Keep,
    /// A dummy value of the element's VR (PS3.15 action D).
    Dummy,
    /// The text is kept with the patient's identifiers in it replaced (action C).
    Clean,
    /// A new UID derived from the original and the key's secret (action U): the same
    /// everywhere it occurs, so references between objects stay valid.
    Uid,
}

impl Action {
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Action::Code => "code",
            Action::KeepYear => "keep-year",
            Action::Shift => "shift",
            Action::Replace(_) => "replace",
            Action::Empty => "empty",
            Action::Remove => "remove",
            Action::Keep => "keep",
            Action::Dummy => "dummy",
            Action::Clean => "clean",
            Action::Uid => "uid",
        }
    }
}

/// Why an element of a plan changes, as reports and the review screen name it: the action of
/// a profile line, a line of the Basic profile's table, a mask repair, or an identifier found
/// in text that no line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    Code,
    KeepYear,
    Shift,
    Replace,
    Empty,
    Remove,
    Keep,
    Dummy,
    Clean,
    Uid,
    /// A line of PS3.15 Annex E (`--profile basic`).
    Basic,
    /// A segmentation series' tag repair (new UIDs, numbers).
    Repair,
    /// An identifier of the patient found where no rule looks (XML text).
    Residual,
    /// The form of the file, not a value: a raw data set written as a Part 10 file.
    Format,
}

impl RuleKind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            RuleKind::Code => "code",
            RuleKind::KeepYear => "keep-year",
            RuleKind::Shift => "shift",
            RuleKind::Replace => "replace",
            RuleKind::Empty => "empty",
            RuleKind::Remove => "remove",
            RuleKind::Keep => "keep",
            RuleKind::Dummy => "dummy",
            RuleKind::Clean => "clean",
            RuleKind::Uid => "uid",
            RuleKind::Basic => "basic",
            RuleKind::Repair => "repair",
            RuleKind::Residual => "residual",
            RuleKind::Format => "format",
        }
    }
}

impl std::fmt::Display for RuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Action {
    /// The rule an edit made by this action is reported under.
    #[must_use]
    pub fn rule(&self) -> RuleKind {
        match self {
            Action::Code => RuleKind::Code,
            Action::KeepYear => RuleKind::KeepYear,
            Action::Shift => RuleKind::Shift,
            Action::Replace(_) => RuleKind::Replace,
            Action::Empty => RuleKind::Empty,
            Action::Remove => RuleKind::Remove,
            Action::Keep => RuleKind::Keep,
            Action::Dummy => RuleKind::Dummy,
            Action::Clean => RuleKind::Clean,
            Action::Uid => RuleKind::Uid,
        }
    }
}

//! The actions a profile rule can take on a value.

/// What a rule does to the value of its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The patient's code from the key store.
    Code,
    /// A date keeps its year; month and day become 01 01.
    KeepYear,
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
    pub fn name(&self) -> &'static str {
        match self {
            Action::Code => "code",
            Action::KeepYear => "keep-year",
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

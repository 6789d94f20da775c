//! The review screen: a patients pane, a changes pane and a masks pane over the same plan the
//! command line uses, in the Elm shape — `messages` (what happened, what to do), `app` (the
//! state and its pure `update`), `view` and the panes and dialogs (drawing), `effects` (the
//! only calls into the library) and `runtime` (terminal, threads).
//!
//! A new dialog: a file in `dialogs/` with `on_action` and `draw`, a variant of `Dialog`, a
//! `Context` and its bindings in `keys` (which writes the footer and help from them).

pub mod app;
pub mod decision;
pub mod dialogs;
pub mod effects;
pub mod keys;
pub mod layout;
pub mod messages;
pub mod panes;
pub mod rows;
mod runtime;
pub mod testing;
pub mod text;
pub mod theme;
pub mod view;

pub use app::App;
pub use effects::{Options, TuiError};
pub use messages::{Effect, Msg};
pub use runtime::run;

//! The three panes, one file each: each owns its state and draws from a small view of what
//! it shows, never from the whole app.

pub mod browser;
pub mod diff;
pub mod mapping;

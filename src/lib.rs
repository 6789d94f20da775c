//! dams: pseudonymise folders of DICOM images (and the XML beside them) with codes from a
//! mapping key, showing every change before anything is written.

// No function over 100 lines outside tests (issue 20): CI denies warnings, so a long one
// fails it. Split it into named steps rather than allowing it.
#![warn(clippy::too_many_lines)]

pub mod apply;
pub mod atomic;
#[cfg(feature = "demo")]
pub mod demo;
pub mod dicom;
pub mod engine;
pub mod identity;
pub mod key;
pub mod link;
pub mod manifest;
pub mod matcher;
pub mod paths;
pub mod plan;
pub mod present;
pub mod profile;
pub mod progress;
pub mod residual;
pub mod review;
pub mod scan;
pub mod send;
pub mod shown;
pub mod tables;
#[cfg(feature = "tui")]
pub mod tui;
pub mod values;
pub mod verify;
pub mod xml;

//! dams: pseudonymise folders of DICOM images (and the XML beside them) with codes from a
//! mapping key, showing every change before anything is written.

pub mod annex_e;
pub mod apply;
pub mod atomic;
pub mod config;
pub mod demo;
pub mod dicom;
pub mod key;
pub mod link;
pub mod paths;
pub mod plan;
pub mod residual;
pub mod review;
pub mod scan;
pub mod send;
pub mod tui;
pub mod verify;
pub mod xml;

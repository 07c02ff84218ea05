//! Marathon framework (compatibility target: Marathon 1.4 input, 1.5–1.10 output;
//! see `/work/shared/specs/marathon-chronos.md`, part A).
//!
//! For now: the app model ([`app`]) and its validation ([`validation`]).
//! No dependency on `mesos-core` yet.

pub mod app;
pub mod validation;

pub use app::{normalize, AppDefinition, ParseError, RawApp};
pub use validation::{error_body, validate, Violation};

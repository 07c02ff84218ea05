//! Marathon framework (compatibility target: Marathon 1.4 input, 1.5–1.10 output;
//! see `/work/shared/specs/marathon-chronos.md`, part A).

pub mod app;
pub mod backoff;
pub mod constraints;
pub mod events;
pub mod health;
pub mod plan;
pub mod store;
pub mod validation;

pub use app::{normalize, AppDefinition, ParseError, RawApp};
pub use validation::{error_body, validate, Violation};

//! Marathon framework (compatibility target: Marathon 1.4 input, 1.5–1.10 output;
//! see `/work/shared/specs/marathon-chronos.md`, part A).
//!
//! * [`app`], [`validation`]: the AppDefinition model and its checks;
//! * [`constraints`], [`backoff`], [`plan`], [`health`] (bookkeeping): pure pieces;
//! * [`core`]: the scheduler state machine (apps, instances, deployments, offers);
//! * [`runtime`]: the actor that drives the core, talks to the master and the store;
//! * [`http`], [`events`]: the REST API v2 and the `/v2/events` stream;
//! * [`store`]: SQLite / ZooKeeper persistence; [`server`]: wiring it all up.

#![recursion_limit = "256"]

pub mod app;
pub mod backoff;
pub mod constraints;
pub mod core;
pub mod events;
pub mod health;
pub mod http;
pub mod plan;
pub mod runtime;
pub mod server;
pub mod store;
pub mod validation;

/// The Marathon version reported by `/v2/info` (the last 1.x line; python clients compare it).
pub const MARATHON_VERSION: &str = "1.10.26";

pub use app::{normalize, AppDefinition, ParseError, RawApp};
pub use validation::{error_body, validate, Violation};

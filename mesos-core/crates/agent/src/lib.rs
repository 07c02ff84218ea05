//! The Mesos-compatible agent and the command executor.
//!
//! * Functional core: [`agent::Agent`] is a plain state machine, `handle(now, input) -> outputs`
//!   (`agent.rs`, `executors.rs`, `status_updates.rs`, `view.rs`, types in `state.rs`).
//! * Imperative shell: [`runtime`] (master connection, timers, dispatching outputs),
//!   `http` and `files` (HTTP endpoints), [`checkpoint`] (sqlite), [`containerizer`]
//!   (process launching and reaping), [`cgroups`] (cpu/memory limits, OOM detection),
//!   [`docker`] (the Docker containerizer's agent side: engine connection, orphans).
//! * [`executor`]: the built-in command executor (`mesos-executor`) and default executor
//!   (`mesos-default-executor`, task groups) and the docker executor (Docker tasks).

#![allow(clippy::large_enum_variant, clippy::result_large_err)]

pub mod agent;
#[cfg(test)]
mod agent_tests;
pub mod cgroups;
pub mod checkpoint;
pub mod containerizer;
pub mod docker;
pub mod executor;
pub mod executors;
mod files;
pub mod flags;
mod http;
pub mod runtime;
pub mod state;
pub mod status_updates;
pub mod view;

pub use flags::AgentFlags;
pub use runtime::{start, AgentHandle};

//! `mesos-core`: the engine of the suite and the public API the frameworks build on.
//!
//! Frameworks (Marathon, Chronos, Aurora, the Spark shim) and the web UIs depend on this
//! crate only. What they may use:
//! * [`proto`]: the Mesos v1 wire vocabulary (IDs, FrameworkInfo, TaskInfo, Offer,
//!   TaskStatus, scheduler calls and events, resources with checked arithmetic);
//! * [`client`]: a v1 scheduler client (subscribe, send calls, read events);
//! * [`cluster`]: starting a master and agents in-process (what `mesos-local` does);
//! * [`election`]: leader election and leader detection (standalone or ZooKeeper), for
//!   frameworks that run several instances, each under its own znode path;
//! * `sim` (feature `sim`): the deterministic cluster simulator (`mesos-sim`), which runs
//!   the real master and agent state machines under injected faults and checks properties.
//!
//! The master's and agent's internals live in private crates and are not re-exported.

pub mod client;
pub mod cluster;
pub mod flags;
pub mod logging;

pub use mesos_election as election;
pub use mesos_proto as proto;
#[cfg(feature = "sim")]
pub use mesos_sim as sim;

/// For binaries that embed agents (`mesos-local`): agents start executors by running
/// the same binary again in executor mode, which `main` must check first.
pub mod executor {
    pub use mesos_agent::executor::{executor_mode_requested, run_command_executor};
}

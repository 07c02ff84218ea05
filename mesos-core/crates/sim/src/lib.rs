//! `mesos-sim`: a deterministic simulator of a whole cluster.
//!
//! The real state machines run inside it: [`mesos_master::state::Master`] (with the DRF
//! allocator inside) and one [`mesos_agent::agent::Agent`] per simulated host. What their
//! shells (`runtime.rs`) do with sockets, timers, SQLite and processes is done here in
//! memory:
//!
//! * **Clock**: simulated milliseconds. Every input is stamped with the simulated time;
//!   nothing reads the wall clock.
//! * **Randomness**: one seeded [`rand::rngs::StdRng`] draws every delay, drop, fault, id
//!   seed and task lifetime, in a fixed order, so a seed replays exactly. The simulator
//!   iterates only `BTreeMap`s (or sorted lists).
//! * **Network** (`net.rs`): a single queue of timed events. Messages on one stream keep
//!   their order (TCP), requests may overtake each other. A dropped stream message resets
//!   its stream (both ends learn it closed); a dropped request is simply lost. A partition
//!   cuts one agent host off the master: everything across it is lost, and streams that
//!   lost data are reset when it heals.
//! * **Master** (`master.rs`): crash drops the state machine and everything in flight to
//!   it; a restart is a failover to a new master (new ID, next epoch) that loads the
//!   registry holding exactly what was `Persist`ed.
//! * **Agents** (`agents.rs`): checkpoint ops go to an in-memory store; a crash drops the
//!   state machine, a restart recovers from that store (`Input::Recover`) and
//!   re-registers. The master link follows `runtime/master_link.rs` (backoff, epochs, 409).
//! * **Executors** (`executor.rs`): simulated processes that outlive an agent crash,
//!   speak the v1 executor Call/Event vocabulary, report TASK_RUNNING on launch,
//!   TASK_KILLED on kill, retry unacknowledged updates by re-subscribing, and may finish
//!   or fail on their own.
//! * **Framework** (`framework.rs`): a "keep N instances running" scheduler driven through
//!   scheduler Calls/Events: subscribe, launch on offers, decline with filters,
//!   acknowledge, reconcile after (re)subscribing, replace lost tasks, kill surplus.
//! * **Properties** (`props.rs`): checked after every step and at the end of a run (after
//!   a quiet period with no faults).
//!
//! A run ([`Sim::run`]) has a faulty phase of [`SimConfig::duration`] seconds, then a
//! quiet phase: partitions heal, crashed nodes restart, every framework re-subscribes and
//! reconciles, and after [`SimConfig::quiet`] seconds the final properties are checked.

mod agents;
mod apps;
mod apps_check;
mod config;
mod executor;
mod framework;
mod master;
mod net;
pub mod props;
mod sim;

pub use apps::{AppSpec, AppsConfig, AppsProgress, Constraint, LaunchLog, LaunchRecord};
pub use apps_check::PlacementCheck;
pub use config::{Faults, SimConfig};
pub use props::Violation;
pub use sim::{Report, Sim};

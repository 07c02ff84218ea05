//! Wire-level vocabulary shared by every part of the suite.
//!
//! * [`ids`]: newtype identifiers (`{"value": "..."}` on the wire).
//! * [`v1`]: Mesos v1 messages (FrameworkInfo, TaskInfo, Offer, TaskStatus, ...),
//!   following the JSON rules of Mesos' own protobuf<->JSON code.
//! * [`scheduler`], [`executor`]: the v1 scheduler and executor calls and events as closed enums.
//! * [`resources`]: resources as fixed-point quantities with checked arithmetic.
//! * [`recordio`]: the RecordIO framing used by every event stream.
//! * [`internal`]: the master <-> agent protocol of this suite (documented in ARCHITECTURE.md).
//!
//! Nothing here does I/O, reads a clock or draws random numbers.

pub mod executor;
pub mod ids;
pub mod internal;
pub mod json;
pub mod recordio;
pub mod resources;
pub mod scheduler;
pub mod v1;

/// The Mesos version this suite reports (dotted integers only: pymesos parses it with `int()`).
pub const MESOS_VERSION: &str = "1.11.0";

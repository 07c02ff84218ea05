//! Leader election and leader detection, through ZooKeeper or standalone.
//!
//! One module for the Mesos masters now and the frameworks later, each under its own znode
//! path. The layout is Mesos' (and what pymesos' detector and Mesos-DNS read):
//!
//! ```text
//! <path>                         persistent, created with its parents if missing
//!   <prefix><10 digits>          EPHEMERAL_SEQUENTIAL, one per live contender; data = caller's bytes
//! ```
//!
//! The masters use the prefix `json.info_` ([`MASTER_INFO_JSON_PREFIX`]) and MasterInfo JSON as
//! the data. The contender with the lowest sequence number leads; its sequence number is
//! its epoch. Children that are not `<prefix><digits>` (e.g. `log_replicas`) are ignored.
//!
//! A contender gives up its leadership ([`Contender::lost`]) when its session expires, when
//! it stays disconnected for half the session timeout, or when its node is deleted; it
//! never becomes leader again on the same session. [`Contender::contend`] joins again with
//! a new session.

mod contender;
mod detector;
mod url;
mod zk;

pub use contender::{Contender, ContenderStatus};
pub use detector::Detector;
pub use url::ZkUrl;

/// The label of the masters' contender nodes (Mesos' `MASTER_INFO_JSON_LABEL` + `_`).
pub const MASTER_INFO_JSON_PREFIX: &str = "json.info_";

/// Mesos' default `--zk_session_timeout`.
pub const DEFAULT_SESSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Who leads: the sequence number (epoch) and the data of the lowest contender node.
#[derive(Clone, Debug, PartialEq)]
pub struct Leader {
    pub epoch: u64,
    pub data: Vec<u8>,
}

//! The records the scheduler core keeps: instances, deployments, groups, offer
//! statistics. Plain data, serialisable for the store.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use mesos_core::proto::v1::TaskState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::AppDefinition;
use crate::health::CheckState;
use crate::plan::Action;

/// One launched task of an app (Marathon's instance with its single task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub task_id: String,
    pub app_id: String,
    /// The app version the task was launched with.
    pub version: String,
    /// `versionInfo.lastConfigChangeAt` of that version: tasks of an older config are
    /// replaced by a restart, tasks of an older scaling-only version are not.
    pub config_version: String,
    pub agent_id: String,
    pub host: String,
    pub ports: Vec<u16>,
    pub service_ports: Vec<u16>,
    pub state: TaskState,
    pub staged_at: f64,
    pub started_at: Option<f64>,
    /// A kill was sent; the instance no longer counts as active.
    pub killing: bool,
    pub last_kill_at: Option<f64>,
    /// Marathon-level health check states, one per HTTP/HTTPS/TCP check of the app.
    pub health: Vec<CheckState>,
    /// Health reported by the executor for a Mesos-level (COMMAND/MESOS_*) check.
    pub mesos_healthy: Option<bool>,
    /// Marathon-level health checks were asked for (`Output::StartHealth`); reset on
    /// restore, since checks restart when the task reports RUNNING again.
    #[serde(default)]
    pub health_started: bool,
    /// The task's IP addresses as the agent reported them (`container_status`), e.g. the
    /// address of a Docker container on its bridge network.
    #[serde(default)]
    pub ip_addresses: Vec<String>,
}

impl Instance {
    /// Not terminal and not being killed.
    pub fn is_active(&self) -> bool {
        !self.killing && !self.state.is_terminal()
    }

    pub fn is_running(&self) -> bool {
        self.state == TaskState::TaskRunning
    }

    /// `ipAddresses` of the task JSON and of status update events.
    pub fn ip_addresses_json(&self) -> Value {
        Value::Array(
            self.ip_addresses
                .iter()
                .map(|ip| {
                    let protocol = if ip.contains(':') { "IPv6" } else { "IPv4" };
                    serde_json::json!({"ipAddress": ip, "protocol": protocol})
                })
                .collect(),
        )
    }

    /// The instance id (the task id without `._app.<n>`).
    pub fn instance_id(&self) -> &str {
        self.task_id
            .rsplit_once("._app.")
            .map(|(i, _)| i)
            .unwrap_or(&self.task_id)
    }
}

/// A deployment plan in progress (spec A6).
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub version: String,
    /// The affected apps before (absent = did not exist) and after (absent = removed).
    pub original: BTreeMap<String, AppDefinition>,
    pub target: BTreeMap<String, AppDefinition>,
    pub steps: Vec<Vec<Action>>,
    /// 1-based while running; 0 right after creation.
    pub current_step: usize,
    pub affected: BTreeSet<String>,
    pub restart: BTreeSet<String>,
}

impl Deployment {
    pub fn current_actions(&self) -> &[Action] {
        if self.current_step == 0 {
            return &[];
        }
        self.steps
            .get(self.current_step - 1)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// An explicitly created group (apps create their parent groups implicitly).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMeta {
    pub dependencies: Vec<String>,
    pub version: String,
}

/// Why offers were not used for an app (`/v2/queue` `processedOffersSummary`).
#[derive(Debug, Clone, Default)]
pub struct OfferStats {
    pub processed: u64,
    pub unused: u64,
    pub last_unused_at: Option<f64>,
    pub last_used_at: Option<f64>,
    /// reason -> (declined, processed) over the offers seen since the app was queued.
    pub reasons: BTreeMap<&'static str, (u64, u64)>,
    pub last_unused: VecDeque<UnusedOffer>,
}

#[derive(Debug, Clone)]
pub struct UnusedOffer {
    pub offer: Value,
    pub reasons: Vec<&'static str>,
    pub at: f64,
}

/// The reasons Marathon reports in `rejectSummaryLastOffers`, in its order.
pub const REJECT_REASONS: [&str; 10] = [
    "UnfulfilledRole",
    "UnfulfilledConstraint",
    "NoCorrespondingReservationFound",
    "AgentMaintenance",
    "InsufficientCpus",
    "InsufficientMemory",
    "InsufficientDisk",
    "InsufficientGpus",
    "InsufficientPorts",
    "DeclinedScarceResources",
];

/// The last failure of an app's task (`lastTaskFailure`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFailure {
    pub app_id: String,
    pub host: String,
    pub message: String,
    pub state: String,
    pub task_id: String,
    pub timestamp: f64,
    pub version: String,
    pub agent_id: String,
}

/// Task id <-> app id (spec A5). Task ids are `<app path, / as _>.instance-<uuid>._app.1`.
pub fn task_id_for(app_id: &str, uuid: &str) -> String {
    format!(
        "{}.instance-{uuid}._app.1",
        app_id.trim_start_matches('/').replace('/', "_")
    )
}

/// The app id encoded in a task id (1.5+ or legacy form), or None if it has none.
pub fn app_id_of_task(task_id: &str) -> Option<String> {
    let prefix = if let Some((p, _)) = task_id.split_once(".instance-") {
        p
    } else if let Some((p, _)) = task_id.split_once(".marathon-") {
        p
    } else {
        task_id.rsplit_once('.').map(|(p, _)| p)?
    };
    if prefix.is_empty() {
        return None;
    }
    Some(format!("/{}", prefix.replace('_', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_carry_their_app() {
        let t = task_id_for("/prod/web", "abc");
        assert_eq!(t, "prod_web.instance-abc._app.1");
        assert_eq!(app_id_of_task(&t).as_deref(), Some("/prod/web"));
        assert_eq!(
            app_id_of_task("test-trivial-app.6bc8ad5b-1").as_deref(),
            Some("/test-trivial-app")
        );
        assert_eq!(app_id_of_task("a_b.marathon-xyz").as_deref(), Some("/a/b"));
        assert_eq!(app_id_of_task("nodots"), None);
    }
}

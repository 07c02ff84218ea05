//! The master <-> agent protocol of this suite (not libprocess).
//!
//! * The agent opens `POST /internal/agent/connect` with a [`Registration`]; the answer is a
//!   RecordIO stream of [`MasterToAgent`] messages, the first being `REGISTERED` or
//!   `REREGISTERED` (or `ERROR`, then the stream closes).
//! * The agent sends everything else as `POST /internal/agent/message` with an
//!   [`AgentEnvelope`] or an [`AgentBatch`]; the master answers 202, or 409 when the agent is not (or no longer)
//!   registered on this stream, which tells the agent to reconnect.
//! * The master pings every `ping_interval_secs`; after `max_missed_pongs` unanswered pings
//!   it marks the agent unreachable.

use crate::ids::*;
use crate::v1::*;
use serde::{Deserialize, Serialize};

/// What an agent reports of one task when it re-registers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub task: TaskInfo,
    pub state: TaskState,
    /// The latest status the agent holds for the task, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
}

/// What an agent reports of one executor when it re-registers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorSnapshot {
    pub framework_id: FrameworkId,
    pub executor: ExecutorInfo,
    /// Whether this is the built-in command executor (its resources are not charged).
    pub command_executor: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Registration {
    Register {
        agent_info: AgentInfo,
        version: String,
    },
    Reregister {
        agent_info: AgentInfo,
        version: String,
        #[serde(default)]
        tasks: Vec<TaskSnapshot>,
        #[serde(default)]
        executors: Vec<ExecutorSnapshot>,
        #[serde(default)]
        frameworks: Vec<FrameworkInfo>,
    },
}

// Messages live only between decode and dispatch; boxing their large variants would buy
// nothing but indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MasterToAgent {
    Registered {
        agent_id: AgentId,
        master_id: String,
        /// The leader's epoch; agents refuse messages from an older one.
        epoch: u64,
        ping_interval_secs: f64,
        max_missed_pongs: u32,
    },
    Reregistered {
        agent_id: AgentId,
        master_id: String,
        epoch: u64,
        ping_interval_secs: f64,
        max_missed_pongs: u32,
    },
    Ping,
    RunTask {
        framework: FrameworkInfo,
        task: TaskInfo,
    },
    RunTaskGroup {
        framework: FrameworkInfo,
        executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
    },
    KillTask {
        framework_id: FrameworkId,
        task_id: TaskId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kill_policy: Option<KillPolicy>,
    },
    Acknowledge {
        framework_id: FrameworkId,
        task_id: TaskId,
        uuid: String,
    },
    ShutdownFramework {
        framework_id: FrameworkId,
    },
    ShutdownExecutor {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
    },
    FrameworkMessage {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        data: String,
    },
    UpdateFramework {
        framework: FrameworkInfo,
    },
    /// The master refused or removed the agent; it must not re-register under this ID.
    Error {
        message: String,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentToMaster {
    Pong,
    StatusUpdate {
        framework_id: FrameworkId,
        status: TaskStatus,
        /// The agent's latest state of the task, which may be newer than `status` (Mesos'
        /// `StatusUpdate.latest_state`): updates are delivered in order, one at a time, so
        /// a resent older update must not move the master's record back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latest_state: Option<TaskState>,
    },
    ExecutorExited {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        status: i32,
    },
    ExecutorMessage {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        data: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentEnvelope {
    pub agent_id: AgentId,
    pub message: AgentToMaster,
}

/// Several agent messages in one `POST /internal/agent/message`, handled in order (the agent
/// sends whatever has queued up while its previous POST was in flight). The master also
/// takes a single [`AgentEnvelope`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentBatch {
    pub agent_id: AgentId,
    pub messages: Vec<AgentToMaster>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = MasterToAgent::KillTask {
            framework_id: FrameworkId::new("f"),
            task_id: TaskId::new("t"),
            kill_policy: None,
        };
        let s = serde_json::to_string(&m).unwrap();
        assert!(s.contains("\"type\":\"KILL_TASK\""), "{s}");
        assert_eq!(serde_json::from_str::<MasterToAgent>(&s).unwrap(), m);
        let e = AgentEnvelope {
            agent_id: AgentId::new("a"),
            message: AgentToMaster::Pong,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<AgentEnvelope>(&s).unwrap(), e);
    }
}

//! The agent's state: records (checkpointed), inputs and outputs of the state machine.

use mesos_proto::executor::{Call, Event};
use mesos_proto::ids::*;
use mesos_proto::internal::AgentToMaster;
use mesos_proto::resources::Resources;
use mesos_proto::v1::*;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Static configuration of the state machine (derived from the flags by the shell).
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub work_dir: PathBuf,
    pub hostname: String,
    /// Address executors use to reach the agent (`MESOS_AGENT_ENDPOINT`).
    pub ip: String,
    pub port: u16,
    /// The executor API's Unix socket, if served (`MESOS_DOMAIN_SOCKET`).
    pub domain_socket: Option<PathBuf>,
    pub resources: Resources,
    pub attributes: Vec<Attribute>,
    pub executor_registration_timeout: Duration,
    pub executor_shutdown_grace_period: Duration,
    pub status_update_retry_base: Duration,
    pub status_update_retry_max: Duration,
    /// `--recover=cleanup`: kill recovered executors instead of reconnecting.
    pub recover_cleanup: bool,
    /// Shown as the command of synthesised command executors.
    pub command_executor_path: String,
    /// `--containerizers` in order of preference: `mesos` (processes) and/or `docker`.
    pub containerizers: Vec<String>,
}

impl AgentConfig {
    pub fn for_tests() -> Self {
        AgentConfig {
            work_dir: PathBuf::from("/work"),
            hostname: "host1".into(),
            ip: "127.0.0.1".into(),
            port: 5051,
            domain_socket: None,
            resources: Resources::parse_flag("cpus:4;mem:4096;disk:10000;ports:[31000-32000]")
                .unwrap_or_default(),
            attributes: Vec::new(),
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            status_update_retry_base: Duration::from_secs(10),
            status_update_retry_max: Duration::from_secs(600),
            recover_cleanup: false,
            command_executor_path: "/usr/libexec/mesos/mesos-executor".into(),
            containerizers: vec!["mesos".into()],
        }
    }
}

/// A task the agent knows of, with its status update stream (checkpointed as one record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    /// Shared: a record is copied into a checkpoint op on every change of its state, and
    /// the task's description never changes.
    pub info: Arc<TaskInfo>,
    /// The latest state the agent received (or generated).
    pub state: TaskState,
    /// The latest status received (or generated).
    pub latest: Option<TaskStatus>,
    /// `(state, timestamp)` history for `/state`.
    pub statuses: Vec<(TaskState, f64)>,
    /// Updates not yet acknowledged by the master; the front one is in flight.
    pub pending: VecDeque<TaskStatus>,
    /// UUIDs of every update received, to spot duplicates.
    pub seen: Vec<String>,
    /// Whether the task was handed to its executor (LAUNCH / LAUNCH_GROUP sent).
    pub launched: bool,
    /// Whether a kill was requested (TASK_KILLED instead of TASK_FAILED on executor exit).
    pub kill_requested: bool,
    /// Tasks of one RUN_TASK_GROUP share a group number.
    pub group: Option<u64>,
    /// Arrival order.
    pub seq: u64,
}

/// An executor run (one container).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorRecord {
    pub framework_id: FrameworkId,
    pub info: ExecutorInfo,
    pub container_id: ContainerId,
    pub command_executor: bool,
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    #[serde(skip, default = "Phase::unknown")]
    pub phase: Phase,
}

/// Where an executor is in its life (not checkpointed: recovery rebuilds it).
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Launched; must subscribe before `deadline`.
    Launching { deadline: Duration },
    /// Subscribed on connection `conn`.
    Subscribed { conn: u64 },
    /// Lost its connection (or recovered); must re-subscribe before `deadline`.
    Disconnected { deadline: Duration },
    /// SHUTDOWN sent; destroyed at `deadline`.
    ShuttingDown {
        deadline: Duration,
        conn: Option<u64>,
    },
    /// Destroy requested; waiting for the exit.
    Destroying,
}

impl Phase {
    fn unknown() -> Phase {
        Phase::Destroying
    }
    /// The time this phase runs out, for the phases that have one.
    pub fn deadline(&self) -> Option<Duration> {
        match self {
            Phase::Launching { deadline }
            | Phase::Disconnected { deadline }
            | Phase::ShuttingDown { deadline, .. } => Some(*deadline),
            Phase::Subscribed { .. } | Phase::Destroying => None,
        }
    }
    pub fn conn(&self) -> Option<u64> {
        match self {
            Phase::Subscribed { conn } => Some(*conn),
            Phase::ShuttingDown { conn, .. } => *conn,
            _ => None,
        }
    }
    pub fn terminating(&self) -> bool {
        matches!(self, Phase::ShuttingDown { .. } | Phase::Destroying)
    }
}

/// What to launch: the shell resolves the command (command executor binary or
/// `ExecutorInfo.command`) and asks the containerizer.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchRequest {
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub container_id: ContainerId,
    pub executor_info: ExecutorInfo,
    pub command_executor: bool,
    pub sandbox: PathBuf,
    /// Environment on top of the agent's own (spec 2.2).
    pub env: Vec<(String, String)>,
    /// Executor plus task resources (for resource limits).
    pub resources: Resources,
    pub user: Option<String>,
}

/// A write to the checkpoint. The shell applies it before the outputs that follow.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckpointOp {
    PutAgent(AgentInfo),
    PutFramework(FrameworkInfo),
    RemoveFramework(FrameworkId),
    PutExecutor(ExecutorRecord),
    RemoveExecutor(FrameworkId, ExecutorId),
    /// Shared with the agent's own map: the op is the record as it was when pushed.
    PutTask(Arc<TaskRecord>),
    /// The task's framework, ID and `seq` (the checkpoint's key for it).
    RemoveTask(FrameworkId, TaskId, u64),
    /// Forget everything (the master refused our agent ID).
    Wipe,
}

/// What the state machine is told.
#[derive(Clone, Debug)]
pub enum Input {
    /// Periodic timer (retries, timeouts).
    Tick,
    /// Checkpointed state read at start, with the liveness of each executor's pid.
    Recover(Recovered),
    /// A message on the master stream (REGISTERED, PING, RUN_TASK, ...).
    Master(mesos_proto::internal::MasterToAgent),
    /// The master stream ended or a message was refused.
    MasterDisconnected,
    /// An executor call. `conn` is the id of the stream the shell opened for a SUBSCRIBE.
    Executor {
        call: Call,
        conn: Option<u64>,
    },
    /// An executor's event stream closed.
    ExecutorStreamClosed {
        conn: u64,
    },
    ContainerLaunched {
        container_id: ContainerId,
        pid: u32,
    },
    ContainerLaunchFailed {
        container_id: ContainerId,
        message: String,
    },
    /// The container's main process exited (wait status, if known).
    ContainerExited {
        container_id: ContainerId,
        status: Option<i32>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Recovered {
    pub agent_info: Option<AgentInfo>,
    pub frameworks: Vec<FrameworkInfo>,
    /// Each executor and whether its pid is alive.
    pub executors: Vec<(ExecutorRecord, bool)>,
    pub tasks: Vec<TaskRecord>,
}

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Checkpoint(CheckpointOp),
    ToMaster(AgentToMaster),
    ToExecutor {
        conn: u64,
        event: Event,
    },
    CloseExecutorStream {
        conn: u64,
    },
    /// Answer to an executor call: `Ok` (200 stream for SUBSCRIBE, 202 otherwise) or an error.
    Reply(Result<(), (u16, String)>),
    Launch(Box<LaunchRequest>),
    /// Kill the whole container (process group/session) now.
    Destroy {
        container_id: ContainerId,
    },
    /// Watch a recovered container's pid for exit.
    Watch {
        container_id: ContainerId,
        pid: u32,
    },
    /// Drop the master connection and register again.
    Reconnect,
}

/// Deterministic UUID source seeded by the shell (the state machine draws no randomness).
#[derive(Clone, Debug)]
pub struct IdGen {
    seed: u64,
    seed2: u64,
    counter: u64,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl IdGen {
    pub fn new(seed: u128) -> Self {
        IdGen {
            seed: seed as u64,
            seed2: (seed >> 64) as u64,
            counter: 0,
        }
    }
    pub fn next_bytes(&mut self) -> [u8; 16] {
        self.counter += 1;
        let a = splitmix64(self.seed ^ self.counter);
        let b = splitmix64(self.seed2.wrapping_add(self.counter.rotate_left(17)));
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&a.to_le_bytes());
        out[8..].copy_from_slice(&b.to_le_bytes());
        // RFC 4122 version 4 / variant bits.
        out[6] = (out[6] & 0x0f) | 0x40;
        out[8] = (out[8] & 0x3f) | 0x80;
        out
    }
    /// A status update UUID (base64 of 16 bytes).
    pub fn next_b64(&mut self) -> String {
        mesos_proto::json::b64_encode(&self.next_bytes())
    }
    /// A UUID in text form (container IDs).
    pub fn next_text(&mut self) -> String {
        uuid::Uuid::from_bytes(self.next_bytes()).to_string()
    }
}

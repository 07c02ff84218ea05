//! The master as a pure state machine: `Master::handle(now, input) -> Outputs`.
//!
//! No I/O, clock or randomness here. `now` is wall-clock seconds supplied by the shell;
//! connection and stream IDs are minted by the shell. Outputs are ordered: a
//! `Persist` output must be carried out before any output after it is sent
//! ("persist before you acknowledge").

mod agents;
mod frameworks;
mod offers;
mod quota;
#[cfg(test)]
mod reservation_tests;
mod tasks;
#[cfg(test)]
mod tests;

pub use quota::QuotaView;

use crate::registry::{QuotaRecord, Registry, RegistryOp};
use mesos_allocator::{Allocator, AllocatorConfig};
use mesos_proto::ids::*;
use mesos_proto::internal::{AgentEnvelope, MasterToAgent, Registration};
use mesos_proto::resources::Resources;
use mesos_proto::scheduler::{Call, Event};
use mesos_proto::v1::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// A scheduler event stream (the `Mesos-Stream-Id`).
pub type StreamId = String;
/// One agent connection (`/internal/agent/connect` stream).
pub type ConnId = u64;

#[derive(Clone, Debug)]
pub struct MasterConfig {
    pub master_info: MasterInfo,
    pub heartbeat_interval: f64,
    pub agent_ping_timeout: f64,
    pub max_agent_ping_timeouts: u32,
    pub offer_timeout: Option<f64>,
    pub allocation_interval: f64,
    pub agent_reregister_timeout: f64,
    pub max_completed_tasks_per_framework: usize,
    pub max_completed_frameworks: usize,
    pub allocator_seed: u64,
    /// The leader's epoch, carried in every REGISTERED message.
    pub epoch: u64,
}

impl MasterConfig {
    pub fn new(master_info: MasterInfo) -> Self {
        MasterConfig {
            master_info,
            heartbeat_interval: 15.0,
            agent_ping_timeout: 15.0,
            max_agent_ping_timeouts: 5,
            offer_timeout: None,
            allocation_interval: 1.0,
            agent_reregister_timeout: 600.0,
            max_completed_tasks_per_framework: 1000,
            max_completed_frameworks: 50,
            allocator_seed: 0,
            epoch: 1,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Input {
    /// Timers: allocation, heartbeats, pings, failover and offer timeouts.
    Tick,
    /// A syntactically valid scheduler call. `stream` is the new stream's ID for SUBSCRIBE
    /// and the `Mesos-Stream-Id` header otherwise.
    Scheduler {
        stream: Option<StreamId>,
        framework_id: Option<FrameworkId>,
        call: Call,
    },
    /// The HTTP connection carrying a scheduler stream closed.
    StreamClosed {
        stream: StreamId,
    },
    AgentConnect {
        conn: ConnId,
        registration: Registration,
    },
    AgentMessage {
        envelope: AgentEnvelope,
    },
    AgentDisconnected {
        conn: ConnId,
    },
    /// Operator teardown (`/master/teardown`, `TEARDOWN` on `/api/v1`).
    TeardownFramework {
        framework_id: FrameworkId,
    },
    UpdateWeights {
        weights: Vec<(String, f64)>,
    },
    /// `UPDATE_QUOTA`: validated here (400 with Mesos' message), persisted, applied.
    UpdateQuota {
        force: bool,
        configs: Vec<QuotaRecord>,
    },
}

/// The synchronous answer to a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// 202: accepted, results come as events.
    Accepted,
    /// 200: SUBSCRIBE's stream is open (it may carry just ERROR and close).
    StreamOpened,
    /// 200 with no body (UPDATE_FRAMEWORK).
    Ok,
    /// An HTTP error status and message.
    Error(u16, String),
    /// 409 for agent messages on a connection the master does not know.
    Reconnect,
}

#[derive(Clone, Debug)]
pub enum OperatorEvent {
    TaskAdded {
        task: Box<TaskRecord>,
    },
    TaskUpdated {
        framework_id: FrameworkId,
        status: TaskStatus,
        state: TaskState,
    },
    AgentAdded {
        agent_id: AgentId,
    },
    AgentRemoved {
        agent_id: AgentId,
    },
    FrameworkAdded {
        framework_id: FrameworkId,
    },
    FrameworkUpdated {
        framework_id: FrameworkId,
    },
    FrameworkRemoved {
        info: FrameworkInfo,
    },
}

// Outputs are consumed right after `handle` returns; boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Output {
    Persist(RegistryOp),
    ToFramework {
        stream: StreamId,
        event: Event,
    },
    CloseStream {
        stream: StreamId,
    },
    ToAgent {
        conn: ConnId,
        message: MasterToAgent,
    },
    CloseAgent {
        conn: ConnId,
    },
    Operator(OperatorEvent),
}

#[derive(Debug)]
pub struct Outputs {
    pub reply: Reply,
    pub effects: Vec<Output>,
}

/// Push onto a list that usually stays short (a task's statuses), one slot at a time: a
/// `Vec` of `TaskStatus`es otherwise starts with room for four, about 1.4 KB per task.
pub(crate) fn push_short<T>(list: &mut Vec<T>, item: T) {
    list.reserve_exact(1);
    list.push(item);
}

/// A task as the master knows it.
#[derive(Clone, Debug)]
pub struct TaskRecord {
    pub info: TaskInfo,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    /// Empty for command tasks (Mesos reports `""`).
    pub executor_id: Option<ExecutorId>,
    pub role: String,
    pub state: TaskState,
    pub resources: Resources,
    pub statuses: Vec<TaskStatus>,
    /// uuid of the latest update forwarded to the framework and not yet acknowledged.
    pub unacked_uuid: Option<String>,
    /// Whether the task's resources have been given back to the allocator.
    pub resources_recovered: bool,
    pub unreachable_time: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct ExecutorRecord {
    pub info: ExecutorInfo,
    pub resources: Resources,
    pub role: String,
}

#[derive(Clone, Debug)]
pub struct OfferRecord {
    pub id: OfferId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub role: String,
    pub resources: Resources,
    pub expires: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct FrameworkRecord {
    pub info: FrameworkInfo,
    pub stream: Option<StreamId>,
    pub active: bool,
    pub recovered: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    pub failover_deadline: Option<f64>,
    pub next_heartbeat: f64,
    pub suppressed_roles: BTreeSet<String>,
    /// Boxed: a task record is large, and B-tree nodes move their values around.
    /// Shared with published snapshots: a snapshot copies pointers, and a task changed
    /// after one was taken is copied once (`Arc::make_mut`).
    pub tasks: BTreeMap<TaskId, Arc<TaskRecord>>,
    pub completed_tasks: VecDeque<Arc<TaskRecord>>,
    pub offers: BTreeSet<OfferId>,
    pub executors: BTreeMap<AgentId, BTreeMap<ExecutorId, ExecutorRecord>>,
}

impl FrameworkRecord {
    /// A framework that is neither connected nor active yet.
    pub fn new(info: FrameworkInfo, now: f64) -> Self {
        FrameworkRecord {
            info,
            stream: None,
            active: false,
            recovered: false,
            registered_time: now,
            reregistered_time: None,
            unregistered_time: None,
            failover_deadline: None,
            next_heartbeat: now,
            suppressed_roles: BTreeSet::new(),
            tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
            offers: BTreeSet::new(),
            executors: BTreeMap::new(),
        }
    }

    pub fn id(&self) -> &FrameworkId {
        self.info
            .id
            .as_ref()
            .expect("registered frameworks have IDs")
    }
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }
    pub fn partition_aware(&self) -> bool {
        self.info.has_capability("PARTITION_AWARE")
    }
    pub fn roles(&self) -> Vec<String> {
        self.info.effective_roles()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum AgentStatus {
    Active,
    /// Admitted in the registry, not yet re-registered since this master started.
    Recovered {
        deadline: f64,
    },
    Unreachable {
        since: f64,
    },
}

#[derive(Clone, Debug)]
pub struct AgentRecord {
    pub info: AgentInfo,
    pub total: Resources,
    pub conn: Option<ConnId>,
    pub status: AgentStatus,
    pub version: String,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub missed_pongs: u32,
    pub pong_seen: bool,
    pub next_ping: f64,
    pub tasks: BTreeSet<(FrameworkId, TaskId)>,
}

impl AgentRecord {
    pub fn id(&self) -> &AgentId {
        self.info.id.as_ref().expect("admitted agents have IDs")
    }
    pub fn pid(&self) -> String {
        let ip = self.info.hostname.clone();
        format!("slave(1)@{}:{}", ip, self.info.port)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub agent_registrations: u64,
    pub agent_reregistrations: u64,
    pub agent_removals: u64,
    pub dropped_messages: u64,
    pub allocation_runs: u64,
    pub messages_launch_tasks: u64,
    pub messages_kill_task: u64,
    pub messages_decline_offers: u64,
    pub messages_revive_offers: u64,
    pub messages_suppress_offers: u64,
    pub messages_reconcile_tasks: u64,
    pub messages_framework_to_executor: u64,
    pub tasks_terminal: BTreeMap<&'static str, u64>,
}

pub struct Master {
    pub(crate) config: MasterConfig,
    pub(crate) allocator: Allocator,
    pub(crate) frameworks: BTreeMap<FrameworkId, FrameworkRecord>,
    pub(crate) completed_frameworks: VecDeque<FrameworkRecord>,
    pub(crate) removed_framework_ids: BTreeSet<FrameworkId>,
    pub(crate) agents: BTreeMap<AgentId, AgentRecord>,
    pub(crate) conns: HashMap<ConnId, AgentId>,
    pub(crate) streams: HashMap<StreamId, FrameworkId>,
    pub(crate) offers: BTreeMap<OfferId, OfferRecord>,
    pub(crate) registry: Registry,
    pub(crate) next_framework: u64,
    pub(crate) next_agent: u64,
    pub(crate) next_offer: u64,
    pub(crate) next_allocation: f64,
    pub(crate) start_time: f64,
    pub(crate) counters: Counters,
    pub(crate) weights: BTreeMap<String, f64>,
}

impl Master {
    /// A master that starts with the registry it recovered: agents in it are expected to
    /// re-register, frameworks in it to re-subscribe.
    pub fn new(config: MasterConfig, registry: Registry, now: f64) -> Self {
        let allocator = Allocator::new(AllocatorConfig {
            allocation_interval: Duration::from_secs_f64(config.allocation_interval),
            seed: config.allocator_seed,
            ..AllocatorConfig::default()
        });
        let mut m = Master {
            allocator,
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            removed_framework_ids: BTreeSet::new(),
            agents: BTreeMap::new(),
            conns: HashMap::new(),
            streams: HashMap::new(),
            offers: BTreeMap::new(),
            registry: Registry::default(),
            next_framework: 0,
            next_agent: 0,
            next_offer: 1,
            next_allocation: now,
            start_time: now,
            counters: Counters::default(),
            weights: BTreeMap::new(),
            config,
        };
        for (id, info) in &registry.agents {
            m.agents.insert(
                id.clone(),
                AgentRecord {
                    total: Resources::from_wire(&info.resources).unwrap_or_default(),
                    info: info.clone(),
                    conn: None,
                    status: AgentStatus::Recovered {
                        deadline: now + m.config.agent_reregister_timeout,
                    },
                    version: String::new(),
                    registered_time: now,
                    reregistered_time: None,
                    missed_pongs: 0,
                    pong_seen: true,
                    next_ping: now,
                    tasks: BTreeSet::new(),
                },
            );
        }
        for info in registry.frameworks.values() {
            m.add_recovered_framework(info.clone(), now);
        }
        m.registry = registry;
        m.recover_quotas();
        m
    }

    pub fn config(&self) -> &MasterConfig {
        &self.config
    }
    pub fn master_id(&self) -> &str {
        &self.config.master_info.id
    }

    pub fn handle(&mut self, now: f64, input: Input) -> Outputs {
        let mut out = Vec::new();
        let reply = match input {
            Input::Tick => {
                self.tick(now, &mut out);
                Reply::Accepted
            }
            Input::Scheduler {
                stream,
                framework_id,
                call,
            } => self.scheduler_call(now, stream, framework_id, call, &mut out),
            Input::StreamClosed { stream } => {
                self.stream_closed(now, &stream, &mut out);
                Reply::Accepted
            }
            Input::AgentConnect { conn, registration } => {
                self.agent_connect(now, conn, registration, &mut out)
            }
            Input::AgentMessage { envelope } => self.agent_message(now, envelope, &mut out),
            Input::AgentDisconnected { conn } => {
                self.agent_disconnected(conn);
                Reply::Accepted
            }
            Input::TeardownFramework { framework_id } => {
                if self.frameworks.contains_key(&framework_id) {
                    self.remove_framework(now, &framework_id, &mut out);
                    Reply::Ok
                } else {
                    Reply::Error(
                        400,
                        format!("No framework found with specified ID: {framework_id}"),
                    )
                }
            }
            Input::UpdateWeights { weights } => {
                for (role, w) in weights {
                    self.allocator.set_weight(&role, w);
                    self.weights.insert(role, w);
                }
                Reply::Ok
            }
            Input::UpdateQuota { force, configs } => self.update_quota(force, configs, &mut out),
        };
        Outputs {
            reply,
            effects: out,
        }
    }

    fn tick(&mut self, now: f64, out: &mut Vec<Output>) {
        self.tick_heartbeats(now, out);
        self.tick_failover(now, out);
        self.tick_agents(now, out);
        self.tick_offer_timeouts(now, out);
        if now >= self.next_allocation {
            self.allocate_now(now, out);
        }
    }

    /// Run an allocation now; the periodic one follows an interval later.
    pub(crate) fn allocate_now(&mut self, now: f64, out: &mut Vec<Output>) {
        self.next_allocation = now + self.config.allocation_interval;
        self.allocate(now, out);
    }

    /// Ask for an allocation run at the next tick (event-triggered, batched).
    pub(crate) fn request_allocation(&mut self, now: f64) {
        if self.next_allocation > now {
            self.next_allocation = now;
        }
    }

    pub(crate) fn persist(&mut self, op: RegistryOp, out: &mut Vec<Output>) {
        self.registry.apply(&op);
        out.push(Output::Persist(op));
    }

    pub(crate) fn send_event(&self, fw: &FrameworkId, event: Event, out: &mut Vec<Output>) -> bool {
        match self.frameworks.get(fw).and_then(|f| f.stream.clone()) {
            Some(stream) => {
                out.push(Output::ToFramework { stream, event });
                true
            }
            None => false,
        }
    }

    pub(crate) fn send_agent(
        &self,
        agent: &AgentId,
        message: MasterToAgent,
        out: &mut Vec<Output>,
    ) -> bool {
        match self.agents.get(agent).and_then(|a| a.conn) {
            Some(conn) => {
                out.push(Output::ToAgent { conn, message });
                true
            }
            None => false,
        }
    }

    // Read access for the shell's snapshot.
    pub fn frameworks(&self) -> &BTreeMap<FrameworkId, FrameworkRecord> {
        &self.frameworks
    }
    pub fn completed_frameworks(&self) -> &VecDeque<FrameworkRecord> {
        &self.completed_frameworks
    }
    pub fn agents(&self) -> &BTreeMap<AgentId, AgentRecord> {
        &self.agents
    }
    pub fn offers(&self) -> &BTreeMap<OfferId, OfferRecord> {
        &self.offers
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn start_time(&self) -> f64 {
        self.start_time
    }
    pub fn allocator(&self) -> &Allocator {
        &self.allocator
    }
    pub fn weights(&self) -> &BTreeMap<String, f64> {
        &self.weights
    }
}

//! Agent hosts: the real `Agent` state machine, its checkpoint (in memory), its link to
//! the master (as `runtime/master_link.rs` does it) and the executor processes it started.

use crate::config::SimConfig;
use crate::executor::Proc;
use crate::net::{Chan, Ev, Origin};
use crate::props;
use crate::sim::{Sim, AGENT_TICK_MS};
use mesos_agent::agent::Agent;
use mesos_agent::state::{
    AgentConfig, CheckpointOp, ExecutorRecord, Input, LaunchRequest, Output, Recovered, TaskRecord,
};
use mesos_master::state::{ConnId, Input as MasterInput};
use mesos_proto::ids::{ContainerId, ExecutorId, FrameworkId, TaskId};
use mesos_proto::internal::{AgentEnvelope, MasterToAgent};
use mesos_proto::resources::Resources;
use mesos_proto::v1::{AgentInfo, FrameworkInfo};
use rand::Rng;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What the agent checkpointed (its SQLite database in reality).
#[derive(Default)]
pub(crate) struct CheckpointStore {
    agent: Option<AgentInfo>,
    frameworks: BTreeMap<FrameworkId, FrameworkInfo>,
    executors: BTreeMap<(FrameworkId, ExecutorId), ExecutorRecord>,
    tasks: BTreeMap<(FrameworkId, TaskId), Arc<TaskRecord>>,
}

impl CheckpointStore {
    fn apply(&mut self, op: CheckpointOp) {
        match op {
            CheckpointOp::PutAgent(a) => self.agent = Some(a),
            CheckpointOp::PutFramework(f) => {
                if let Some(id) = f.id.clone() {
                    self.frameworks.insert(id, f);
                }
            }
            CheckpointOp::RemoveFramework(id) => {
                self.frameworks.remove(&id);
            }
            CheckpointOp::PutExecutor(e) => {
                let key = (e.framework_id.clone(), e.info.executor_id.clone());
                self.executors.insert(key, e);
            }
            CheckpointOp::RemoveExecutor(f, e) => {
                self.executors.remove(&(f, e));
            }
            CheckpointOp::PutTask(t) => {
                let key = (t.framework_id.clone(), t.info.task_id.clone());
                self.tasks.insert(key, t);
            }
            CheckpointOp::RemoveTask(f, t, _) => {
                self.tasks.remove(&(f, t));
            }
            CheckpointOp::Wipe => *self = CheckpointStore::default(),
        }
    }
}

pub(crate) struct Host {
    pub cfg: AgentConfig,
    pub total: Resources,
    /// The running agent process, if any.
    pub agent: Option<Agent>,
    /// Incarnation of the agent process (events for an older one are dropped).
    pub inc: u64,
    pub checkpoint: CheckpointStore,
    /// The current master connection (opened or being opened).
    pub conn: Option<ConnId>,
    /// Whether the agent got REGISTERED/REREGISTERED on `conn`.
    pub registered_on_conn: bool,
    pub attempt: u32,
    pub max_epoch: u64,
    /// Executor processes by container; they outlive agent crashes.
    pub procs: BTreeMap<ContainerId, Proc>,
    /// Executor connection -> container.
    pub exec_conns: BTreeMap<u64, ContainerId>,
    /// Containers being started, by the agent incarnation that asked.
    pub launching: BTreeMap<ContainerId, LaunchRequest>,
    pub next_pid: u32,
}

impl Host {
    pub fn new(idx: usize, cfg: &SimConfig) -> Host {
        let total = Resources::parse_flag(&cfg.agent_resources).expect("valid agent resources");
        let mut acfg = AgentConfig::for_tests();
        acfg.work_dir = PathBuf::from(format!("/sim/agent{idx}"));
        acfg.hostname = format!("agent{idx}");
        acfg.resources = total.clone();
        if let Some(attrs) = cfg.agent_attributes {
            acfg.attributes =
                mesos_proto::v1::parse_attributes(&attrs(idx)).expect("valid agent attributes");
        }
        Host {
            cfg: acfg,
            total,
            agent: None,
            inc: 0,
            checkpoint: CheckpointStore::default(),
            conn: None,
            registered_on_conn: false,
            attempt: 0,
            max_epoch: 0,
            procs: BTreeMap::new(),
            exec_conns: BTreeMap::new(),
            launching: BTreeMap::new(),
            next_pid: 100,
        }
    }

    pub fn live_containers(&self) -> Vec<ContainerId> {
        self.procs
            .iter()
            .filter(|(_, p)| p.alive)
            .map(|(c, _)| c.clone())
            .collect()
    }

    fn recovered(&self) -> Recovered {
        Recovered {
            agent_info: self.checkpoint.agent.clone(),
            frameworks: self.checkpoint.frameworks.values().cloned().collect(),
            executors: self
                .checkpoint
                .executors
                .values()
                .map(|e| {
                    let alive = self
                        .procs
                        .get(&e.container_id)
                        .is_some_and(|p| p.alive && Some(p.pid) == e.pid);
                    (e.clone(), alive)
                })
                .collect(),
            tasks: self
                .checkpoint
                .tasks
                .values()
                .map(|t| TaskRecord::clone(t))
                .collect(),
        }
    }
}

/// Random backoff in `[0, factor * 2^attempt]` (factor 1 s), capped at one minute.
fn backoff_ms(rng: &mut rand::rngs::StdRng, attempt: u32) -> u64 {
    let cap = (1_000u64 << attempt.min(16)).min(60_000);
    rng.gen_range(0..=cap)
}

impl Sim {
    /// Start (or restart) the agent process of a host: recover from its checkpoint, then
    /// register.
    pub(crate) fn agent_start(&mut self, h: usize) {
        let seed: u128 = self.ctx.rng.gen();
        let now = self.ctx.agent_now();
        let host = &mut self.hosts[h];
        host.inc += 1;
        host.agent = Some(Agent::new(host.cfg.clone(), seed, now));
        host.conn = None;
        host.registered_on_conn = false;
        host.attempt = 0;
        host.max_epoch = 0;
        let inc = host.inc;
        let recovered = host.recovered();
        self.ctx.trace(|| {
            format!(
                "AGENT agent{h} starts ({} tasks, {} executors checkpointed)",
                recovered.tasks.len(),
                recovered.executors.len()
            )
        });
        self.agent_input(h, Input::Recover(recovered), None);
        let at = self.ctx.now + self.ctx.ms(0, AGENT_TICK_MS);
        self.ctx.q.push(at, None, Ev::AgentTick(h, inc));
        let at = self.ctx.now + self.ctx.ms(10, 500);
        self.ctx
            .q
            .push(at, None, Ev::AgentReconnect { host: h, inc });
    }

    /// The agent process dies: memory and connections are gone, the checkpoint and (maybe)
    /// the executor processes stay.
    pub(crate) fn agent_crash(&mut self, h: usize) {
        self.ctx.trace(|| format!("CRASH agent{h}"));
        let die = self.ctx.cfg.faults.executors_die_with_agent;
        let reboot = self.ctx.chance(die);
        let host = &mut self.hosts[h];
        host.agent = None;
        let conn = host.conn.take();
        // Executor streams end with the process.
        host.exec_conns.clear();
        host.launching.clear();
        if let Some(conn) = conn {
            self.broken.insert(Chan::AgentStream(conn));
            if let Some(at) = self.ctx.fate(Some(h)) {
                let inc = self.master_inc;
                self.ctx
                    .notice_to_master(at, inc, MasterInput::AgentDisconnected { conn });
            }
        }
        let cids = self.hosts[h].live_containers();
        for cid in cids {
            self.proc_disconnected(h, &cid);
            if reboot {
                self.kill_process(h, &cid, 9);
            }
        }
    }

    pub(crate) fn agent_tick(&mut self, h: usize, inc: u64) {
        let host = &self.hosts[h];
        if host.inc != inc || host.agent.is_none() {
            return;
        }
        self.agent_input(h, Input::Tick, None);
        let at = self.ctx.now + AGENT_TICK_MS;
        self.ctx.q.push(at, None, Ev::AgentTick(h, inc));
    }

    /// Open a new master connection (`/internal/agent/connect`).
    pub(crate) fn agent_connect(&mut self, h: usize, inc: u64) {
        let host = &self.hosts[h];
        if host.inc != inc || host.conn.is_some() {
            return;
        }
        let Some(agent) = &host.agent else { return };
        let registration = agent.registration();
        let conn = self.ctx.id();
        self.agent_conns.insert(conn, h);
        let host = &mut self.hosts[h];
        host.conn = Some(conn);
        host.registered_on_conn = false;
        self.ctx.trace(|| format!("agent{h} connects ({conn})"));
        self.send_to_master(
            Some(h),
            Origin::Agent(h),
            MasterInput::AgentConnect { conn, registration },
            Some(Chan::AgentPosts(h)),
        );
    }

    /// The connection ended: tell the agent and reconnect after a backoff.
    fn agent_link_down(&mut self, h: usize) {
        let host = &mut self.hosts[h];
        if host.agent.is_none() {
            return;
        }
        if let Some(old) = host.conn.take() {
            self.broken.insert(Chan::AgentStream(old));
        }
        if host.registered_on_conn {
            host.attempt = 0;
        }
        host.registered_on_conn = false;
        let attempt = host.attempt;
        host.attempt = host.attempt.saturating_add(1);
        let inc = host.inc;
        self.agent_input(h, Input::MasterDisconnected, None);
        let at = self.ctx.now + backoff_ms(&mut self.ctx.rng, attempt);
        self.ctx
            .q
            .push(at, None, Ev::AgentReconnect { host: h, inc });
    }

    pub(crate) fn agent_connect_failed(&mut self, h: usize, conn: ConnId) {
        if self.hosts[h].conn == Some(conn) {
            self.ctx
                .trace(|| format!("agent{h} connection {conn} failed"));
            self.agent_link_down(h);
        }
    }

    pub(crate) fn agent_stream_ended(&mut self, h: usize, conn: ConnId) {
        if self.hosts[h].conn == Some(conn) {
            self.ctx.trace(|| format!("agent{h} stream {conn} ended"));
            self.agent_link_down(h);
        }
    }

    /// 409 to a message: re-register if the agent believed it was registered.
    pub(crate) fn agent_refused(&mut self, h: usize) {
        let registered = self.hosts[h].agent.as_ref().is_some_and(|a| a.registered);
        if registered {
            self.ctx.trace(|| format!("agent{h} got 409"));
            self.drop_agent_conn(h);
            self.agent_link_down(h);
        }
    }

    /// The agent closes its current connection (the master sees it disconnect).
    fn drop_agent_conn(&mut self, h: usize) {
        let Some(conn) = self.hosts[h].conn else {
            return;
        };
        self.broken.insert(Chan::AgentStream(conn));
        if let (Some(at), Some(m)) = (self.ctx.fate(Some(h)), &self.master) {
            let inc = m.inc;
            self.ctx
                .notice_to_master(at, inc, MasterInput::AgentDisconnected { conn });
        }
    }

    /// A message on the master's stream.
    pub(crate) fn agent_stream(&mut self, h: usize, conn: ConnId, msg: MasterToAgent) {
        let host = &mut self.hosts[h];
        if host.conn != Some(conn) || host.agent.is_none() {
            return;
        }
        match &msg {
            MasterToAgent::Registered { epoch, .. } | MasterToAgent::Reregistered { epoch, .. } => {
                if *epoch < host.max_epoch {
                    self.ctx
                        .trace(|| format!("agent{h} refuses a registration of epoch {epoch}"));
                    self.drop_agent_conn(h);
                    self.agent_link_down(h);
                    return;
                }
                host.max_epoch = *epoch;
                host.registered_on_conn = true;
            }
            _ => {}
        }
        let is_error = matches!(msg, MasterToAgent::Error { .. });
        self.ctx
            .trace(|| format!("agent{h} <- {}", props::describe_agent_msg(&msg)));
        if let (
            true,
            MasterToAgent::Acknowledge {
                framework_id,
                task_id,
                uuid,
            },
        ) = (self.ctx.cfg.properties, &msg)
        {
            props::before_agent_ack(self, h, framework_id, task_id, uuid);
        }
        self.agent_input(h, Input::Master(msg), None);
        if is_error {
            self.ledger.wiped.insert(h);
            self.drop_agent_conn(h);
            self.agent_link_down(h);
        }
    }

    /// Feed one input to a host's agent and carry out its outputs, checkpoint first.
    /// `caller` is the container whose executor call this is (its reply goes there).
    pub(crate) fn agent_input(
        &mut self,
        h: usize,
        input: Input,
        caller: Option<(ContainerId, Option<u64>)>,
    ) {
        let now = self.ctx.agent_now();
        let Some(agent) = self.hosts[h].agent.as_mut() else {
            return;
        };
        let outputs = agent.handle(now, input);
        let watch = self.ctx.cfg.properties;
        // The checkpoint is read only when an agent restarts, which only a crash causes.
        let keep = watch || self.ctx.cfg.faults.agent_crash > 0.0;
        let mut rest = Vec::with_capacity(outputs.len());
        for o in outputs {
            match o {
                Output::Checkpoint(op) => {
                    if let (true, CheckpointOp::PutTask(t)) = (watch, &op) {
                        props::on_checkpointed_task(self, h, t);
                    }
                    if keep {
                        self.hosts[h].checkpoint.apply(op);
                    }
                }
                o => rest.push(o),
            }
        }
        for o in rest {
            self.agent_output(h, o, &caller);
        }
    }

    fn agent_output(&mut self, h: usize, o: Output, caller: &Option<(ContainerId, Option<u64>)>) {
        match o {
            Output::Checkpoint(_) => {}
            Output::ToMaster(m) => {
                if self.ctx.cfg.properties {
                    props::on_agent_send(self, h, &m);
                }
                let Some(agent_id) = self.hosts[h]
                    .agent
                    .as_ref()
                    .and_then(|a| a.agent_id.clone())
                else {
                    return;
                };
                self.ctx
                    .trace(|| format!("agent{h} -> {}", props::describe_agent_send(&m)));
                let envelope = AgentEnvelope {
                    agent_id,
                    message: m,
                };
                self.send_to_master(
                    Some(h),
                    Origin::Agent(h),
                    MasterInput::AgentMessage { envelope },
                    Some(Chan::AgentPosts(h)),
                );
            }
            Output::ToExecutor { conn, event } => {
                let at = self.ctx.local();
                self.ctx.q.push(
                    at,
                    Some(Chan::Exec(h, conn)),
                    Ev::ExecEvent {
                        host: h,
                        conn,
                        event,
                    },
                );
            }
            Output::CloseExecutorStream { conn } => {
                let at = self.ctx.local();
                self.ctx.q.push(
                    at,
                    Some(Chan::Exec(h, conn)),
                    Ev::ExecStreamEnded { host: h, conn },
                );
            }
            Output::Reply(r) => {
                if let Some((cid, conn)) = caller.clone() {
                    let at = self.ctx.local();
                    let chan = conn.map(|c| Chan::Exec(h, c));
                    self.ctx.q.push(
                        at,
                        chan,
                        Ev::ExecReply {
                            host: h,
                            cid,
                            conn,
                            ok: r.is_ok(),
                        },
                    );
                }
            }
            Output::Launch(req) => {
                let at = self.ctx.now + self.ctx.ms(50, 500);
                let inc = self.hosts[h].inc;
                self.ctx.q.push(
                    at,
                    None,
                    Ev::ContainerStarted {
                        host: h,
                        inc,
                        cid: req.container_id.clone(),
                    },
                );
                self.hosts[h]
                    .launching
                    .insert(req.container_id.clone(), *req);
            }
            Output::Destroy { container_id } => {
                let at = self.ctx.now + self.ctx.ms(10, 200);
                self.ctx.q.push(
                    at,
                    None,
                    Ev::ContainerKill {
                        host: h,
                        cid: container_id,
                    },
                );
            }
            Output::Watch { container_id, .. } => {
                // Exits of live processes are reported to whichever agent runs; one that
                // died already is reported now.
                let dead = self.hosts[h]
                    .procs
                    .get(&container_id)
                    .is_none_or(|p| !p.alive);
                if dead {
                    self.report_exit(h, container_id, 9);
                }
            }
            Output::Reconnect => {
                self.ctx.trace(|| format!("agent{h} reconnects"));
                self.drop_agent_conn(h);
                self.agent_link_down(h);
            }
        }
    }

    /// Report a container's exit to the running agent (the containerizer's wait).
    pub(crate) fn container_exited(&mut self, h: usize, inc: u64, cid: ContainerId, status: i32) {
        if self.hosts[h].inc != inc {
            return;
        }
        self.ctx
            .trace(|| format!("agent{h} <- container {cid} exited ({status})"));
        self.agent_input(
            h,
            Input::ContainerExited {
                container_id: cid,
                status: Some(status),
            },
            None,
        );
    }
}

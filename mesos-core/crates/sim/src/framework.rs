//! A small, real "keep N instances running" scheduler, as a state machine over the v1
//! scheduler Calls and Events: it subscribes (again when its stream breaks or goes quiet),
//! launches command tasks on offers and declines the rest with a filter, acknowledges
//! every update that carries a uuid, reconciles after every SUBSCRIBED and periodically,
//! replaces tasks that end or stay unreachable, and kills surplus instances.

use crate::apps::{Apps, LaunchRecord};
use crate::config::SimConfig;
use mesos_master::state::Reply;
use mesos_proto::ids::{AgentId, FrameworkId, OfferId, TaskId};
use mesos_proto::resources::{RangeSet, Resources};
use mesos_proto::scheduler::{
    Acknowledge, Call, Decline, Event, Kill, Reconcile, ReconcileTask, Subscribe,
};
use mesos_proto::v1::{
    Capability, CommandInfo, Filters, FrameworkInfo, Offer, TaskInfo, TaskState,
};
use std::collections::{BTreeMap, BTreeSet};

/// Heartbeats missed before the framework considers its stream dead.
const HEARTBEAT_SLACK: f64 = 3.0;
/// A task unreachable this long is replaced.
const UNREACHABLE_REPLACE_MS: u64 = 60_000;
const RECONCILE_EVERY_MS: u64 = 30_000;
const SUBSCRIBE_TIMEOUT_MS: u64 = 10_000;

pub(crate) enum FwAction {
    /// SUBSCRIBE on a new stream (the simulator mints its ID).
    Subscribe(Call),
    Call(Call),
    /// Close this stream (the framework disconnects).
    Close(String),
    /// Write these launch records to the framework's store before anything after this.
    Persist(Vec<LaunchRecord>),
}

/// The framework's view of one of its tasks.
#[derive(Clone, Debug)]
pub struct FwTask {
    pub agent_id: AgentId,
    pub state: TaskState,
    /// When the state last changed (ms).
    pub since: u64,
    pub kill_sent: Option<u64>,
}

pub(crate) struct Framework {
    pub idx: usize,
    pub info: FrameworkInfo,
    pub id: Option<FrameworkId>,
    /// The stream the framework listens on (set when SUBSCRIBE is sent).
    pub stream: Option<String>,
    pub subscribed: bool,
    subscribe_sent: u64,
    retry_at: u64,
    last_event: u64,
    heartbeat: f64,
    instances: usize,
    task_res: Resources,
    next_task: u64,
    next_reconcile: u64,
    pub tasks: BTreeMap<TaskId, FwTask>,
    /// Every task this framework asked to launch.
    pub launched: BTreeSet<TaskId>,
    /// Every update uuid it received.
    pub received: BTreeSet<String>,
    /// A Marathon-style apps framework (`apps.rs`) instead of keep-N: offers and updates
    /// go there, and it neither reconciles nor kills surplus.
    pub apps: Option<Box<Apps>>,
}

fn is_active(s: TaskState) -> bool {
    matches!(
        s,
        TaskState::TaskStaging | TaskState::TaskStarting | TaskState::TaskRunning
    )
}

impl Framework {
    pub fn new(idx: usize, cfg: &SimConfig) -> Framework {
        let mut capabilities = Vec::new();
        if cfg.partition_aware {
            capabilities.push(Capability {
                kind: "PARTITION_AWARE".into(),
            });
        }
        let mut info = FrameworkInfo::placeholder(FrameworkId::new(""));
        info.id = None;
        info.user = "sim".into();
        info.name = format!("keep-{}-{idx}", cfg.instances);
        info.failover_timeout = 7.0 * 24.0 * 3600.0;
        info.capabilities = capabilities;
        let task_res = Resources::new()
            .with_scalar("cpus", cfg.task_cpus)
            .with_scalar("mem", cfg.task_mem);
        Framework {
            idx,
            info,
            id: None,
            stream: None,
            subscribed: false,
            subscribe_sent: 0,
            retry_at: 0,
            last_event: 0,
            heartbeat: 15.0,
            instances: cfg.instances,
            task_res,
            next_task: 0,
            next_reconcile: 0,
            tasks: BTreeMap::new(),
            launched: BTreeSet::new(),
            received: BTreeSet::new(),
            apps: None,
        }
    }

    pub fn with_apps(idx: usize, cfg: &SimConfig, apps: Apps) -> Framework {
        let mut fw = Framework::new(idx, cfg);
        fw.info.name = format!("marathon-{idx}");
        fw.instances = 0;
        fw.apps = Some(Box::new(apps));
        fw
    }

    pub fn partition_aware(&self) -> bool {
        self.info.has_capability("PARTITION_AWARE")
    }

    /// Tasks counted as instances: active ones, and unreachable ones not yet replaced.
    fn counted(&self, now: u64) -> usize {
        self.tasks
            .values()
            .filter(|t| {
                is_active(t.state)
                    || (t.state == TaskState::TaskUnreachable
                        && now - t.since < UNREACHABLE_REPLACE_MS)
            })
            .filter(|t| t.kill_sent.is_none())
            .count()
    }

    fn subscribe(&mut self, now: u64) -> Vec<FwAction> {
        self.subscribed = false;
        self.subscribe_sent = now;
        let mut info = self.info.clone();
        info.id = self.id.clone();
        vec![FwAction::Subscribe(Call::Subscribe(Subscribe {
            framework_info: info,
            suppressed_roles: Vec::new(),
            offer_constraints: None,
        }))]
    }

    /// Drop the stream; subscribe again on the next tick.
    pub fn disconnect(&mut self, now: u64) -> Vec<FwAction> {
        let mut out = Vec::new();
        if let Some(s) = self.stream.take() {
            out.push(FwAction::Close(s));
        }
        self.subscribed = false;
        self.retry_at = now;
        out
    }

    pub fn tick(&mut self, now: u64) -> Vec<FwAction> {
        if self.stream.is_none() {
            if now >= self.retry_at {
                return self.subscribe(now);
            }
            return Vec::new();
        }
        if !self.subscribed {
            if now - self.subscribe_sent > SUBSCRIBE_TIMEOUT_MS {
                let mut out = self.disconnect(now);
                out.extend(self.subscribe(now));
                return out;
            }
            return Vec::new();
        }
        if (now - self.last_event) as f64 > HEARTBEAT_SLACK * self.heartbeat * 1000.0 {
            let mut out = self.disconnect(now);
            out.extend(self.subscribe(now));
            return out;
        }
        if self.apps.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if now >= self.next_reconcile {
            self.next_reconcile = now + RECONCILE_EVERY_MS;
            out.push(self.explicit_reconcile());
        }
        out.extend(self.kill_surplus(now));
        out
    }

    fn explicit_reconcile(&self) -> FwAction {
        let tasks = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.state.is_terminal())
            .map(|(id, t)| ReconcileTask {
                task_id: id.clone(),
                agent_id: Some(t.agent_id.clone()),
            })
            .collect();
        FwAction::Call(Call::Reconcile(Reconcile { tasks }))
    }

    /// Kill the newest instances beyond N (again every 30 s until they end).
    fn kill_surplus(&mut self, now: u64) -> Vec<FwAction> {
        let mut out = Vec::new();
        let mut live: Vec<(TaskId, u64)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state == TaskState::TaskRunning && t.kill_sent.is_none())
            .map(|(id, t)| (id.clone(), t.since))
            .collect();
        let counted = self.counted(now);
        if counted > self.instances {
            live.sort_by_key(|(id, since)| (std::cmp::Reverse(*since), id.clone()));
            for (id, _) in live.into_iter().take(counted - self.instances) {
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.kill_sent = Some(now);
                }
            }
        }
        for (id, t) in self.tasks.iter_mut() {
            if t.state.is_terminal() {
                continue;
            }
            if let Some(sent) = t.kill_sent {
                if sent == now || now - sent >= RECONCILE_EVERY_MS {
                    t.kill_sent = Some(now);
                    out.push(FwAction::Call(Call::Kill(Kill {
                        task_id: id.clone(),
                        agent_id: Some(t.agent_id.clone()),
                        kill_policy: None,
                    })));
                }
            }
        }
        out
    }

    pub fn on_reply(
        &mut self,
        now: u64,
        stream: Option<String>,
        subscribe: bool,
        reply: Reply,
    ) -> Vec<FwAction> {
        if stream.is_none() || stream != self.stream {
            return Vec::new();
        }
        match reply {
            Reply::Error(code, _) if subscribe || code == 403 || code == 400 || code >= 500 => {
                // The stream is not usable: subscribe again after a pause.
                let out = self.disconnect(now);
                self.retry_at = now + 1_000 + (self.idx as u64 * 137) % 1_000;
                out
            }
            _ => Vec::new(),
        }
    }

    pub fn on_stream_ended(&mut self, now: u64, stream: &str) -> Vec<FwAction> {
        if self.stream.as_deref() != Some(stream) {
            return Vec::new();
        }
        self.stream = None;
        self.subscribed = false;
        self.retry_at = now + 500;
        Vec::new()
    }

    pub fn on_event(&mut self, now: u64, event: Event) -> Vec<FwAction> {
        self.last_event = now;
        match event {
            Event::Subscribed(s) => {
                self.id = Some(s.framework_id);
                self.subscribed = true;
                if let Some(h) = s.heartbeat_interval_seconds {
                    self.heartbeat = h;
                }
                if let Some(apps) = self.apps.as_mut() {
                    return apps.on_subscribed();
                }
                // What happened while we were away: implicit reconciliation for tasks we
                // may not know, explicit for the ones we do.
                self.next_reconcile = now + RECONCILE_EVERY_MS;
                vec![
                    FwAction::Call(Call::Reconcile(Reconcile::default())),
                    self.explicit_reconcile(),
                ]
            }
            Event::Offers(o) => match self.apps.as_mut() {
                Some(apps) => apps.offers(o.offers),
                None => self.offers(now, o.offers),
            },
            Event::Update(u) if self.apps.is_some() => self
                .apps
                .as_mut()
                .map_or_else(Vec::new, |a| a.update(u.status)),
            Event::Update(u) => {
                let s = u.status;
                if let Some(uuid) = &s.uuid {
                    self.received.insert(uuid.clone());
                }
                let agent = s.agent_id.clone();
                match self.tasks.get_mut(&s.task_id) {
                    Some(t) => {
                        if t.state != s.state {
                            t.state = s.state;
                            t.since = now;
                        }
                        if let Some(a) = &agent {
                            t.agent_id = a.clone();
                        }
                    }
                    None => {
                        if let Some(a) = &agent {
                            self.tasks.insert(
                                s.task_id.clone(),
                                FwTask {
                                    agent_id: a.clone(),
                                    state: s.state,
                                    since: now,
                                    kill_sent: None,
                                },
                            );
                        }
                    }
                }
                let mut out = Vec::new();
                if let (Some(uuid), Some(agent_id)) = (s.uuid, agent) {
                    out.push(FwAction::Call(Call::Acknowledge(Acknowledge {
                        agent_id,
                        task_id: s.task_id,
                        uuid,
                    })));
                }
                out
            }
            Event::Error(_) => self.disconnect(now),
            Event::Rescind(_) | Event::Message(_) | Event::Failure(_) | Event::Heartbeat => {
                Vec::new()
            }
        }
    }

    fn offers(&mut self, now: u64, offers: Vec<Offer>) -> Vec<FwAction> {
        let mut out = Vec::new();
        let mut need = self.instances.saturating_sub(self.counted(now));
        for offer in offers {
            let Ok(mut left) = Resources::from_wire(&offer.resources) else {
                continue;
            };
            let mut tasks = Vec::new();
            while need > 0 && left.contains(&self.task_res) {
                let Some(port) = left
                    .ranges("ports")
                    .and_then(|r| r.ranges().first().map(|(b, _)| *b))
                else {
                    break;
                };
                let res = self
                    .task_res
                    .clone()
                    .with_ranges("ports", RangeSet::new([(port, port)]));
                let Ok(rest) = left.checked_sub(&res) else {
                    break;
                };
                left = rest;
                self.next_task += 1;
                let id = TaskId::new(format!("fw{}-task{}", self.idx, self.next_task));
                let mut task = TaskInfo::new(id.value.clone(), id.clone(), offer.agent_id.clone());
                task.resources = res.to_wire(Some("*"));
                task.command = Some(CommandInfo::shell("sleep 100000"));
                self.launched.insert(id.clone());
                self.tasks.insert(
                    id,
                    FwTask {
                        agent_id: offer.agent_id.clone(),
                        state: TaskState::TaskStaging,
                        since: now,
                        kill_sent: None,
                    },
                );
                tasks.push(task);
                need -= 1;
            }
            if tasks.is_empty() {
                let refuse = 1.0 + ((self.next_task + offer_salt(&offer.id)) % 10) as f64;
                out.push(FwAction::Call(Call::Decline(Decline {
                    offer_ids: vec![offer.id],
                    filters: Some(Filters {
                        refuse_seconds: Some(refuse),
                    }),
                })));
            } else {
                out.push(FwAction::Call(crate::apps::accept(offer.id, tasks, 1.0)));
            }
        }
        out
    }
}

/// A number from an offer ID, to vary decline filters without a random source.
fn offer_salt(id: &OfferId) -> u64 {
    id.value
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
}

//! A Marathon-style framework for placement benchmarks (issue 7, W2).
//!
//! Apps (jobs) are submitted with a number of instances, per-instance resources and a
//! placement constraint, and wait in a launch queue in submission order, as in Marathon.
//! On each OFFERS event the framework walks the offers; for each one it packs instances of
//! the queued apps (the first [`AppsConfig::window`] apps with instances left) as long as
//! they fit in the offer and satisfy their constraint, at most
//! [`AppsConfig::per_offer`] per offer (Marathon's `--max_instances_per_offer`; 0: as many
//! as fit). Before any ACCEPT of the event goes out, the records of every instance it
//! launches are written to the [`LaunchLog`] as one batch (Marathon's store write per
//! launch batch; a group commit). Offers it cannot use are declined with a filter;
//! once nothing waits it sends SUPPRESS, and REVIVE when something waits again. Every
//! update with a uuid is acknowledged; an instance that ends is queued for relaunch.
//!
//! Unlike the keep-N scheduler it keeps no per-task maps keyed by strings and never
//! scans all its tasks, so a million instances cost little on its side.

use crate::framework::FwAction;
use crate::sim::Sim;
use mesos_proto::ids::{AgentId, ExecutorId, OfferId, TaskId};
use mesos_proto::resources::{to_milli, Milli, Resources};
use mesos_proto::scheduler::{Accept, Acknowledge, Call, Decline, Roles};
use mesos_proto::v1::{
    Attribute, CommandInfo, ExecutorInfo, Filters, Launch, Offer, Operation, Resource, TaskInfo,
    TaskState, TaskStatus,
};
use std::collections::{HashMap, HashSet, VecDeque};

/// Where an app's instances may run (a subset of Marathon's operators).
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    None,
    /// `["hostname", "UNIQUE"]`: at most one instance per agent (distinct hosts).
    UniqueHostname,
    /// `[attr, "CLUSTER", value]`: only agents whose text attribute equals `value`.
    Cluster {
        attr: String,
        value: String,
    },
    /// `[attr, "LIKE", "<prefix>.*"]`: only agents whose attribute starts with `prefix`
    /// (the regex is limited to a prefix here).
    Like {
        attr: String,
        prefix: String,
    },
}

/// One app (a job) as submitted.
#[derive(Clone, Debug)]
pub struct AppSpec {
    /// Marathon's app ID without the leading slash; instance task IDs are `<id>.<n>`.
    pub id: String,
    pub instances: u32,
    pub cpus: f64,
    pub mem: f64,
    pub constraint: Constraint,
}

#[derive(Clone, Debug)]
pub struct AppsConfig {
    /// At most this many instances per offer (0: as many as fit).
    pub per_offer: u32,
    /// How many queued apps each offer is matched against.
    pub window: usize,
    /// `refuse_seconds` of a DECLINE (an offer nothing fits).
    pub decline_refuse: f64,
    /// `refuse_seconds` of an ACCEPT (what the launch leaves on the agent).
    pub accept_refuse: f64,
    /// Launch with one framework executor per app and agent (`TaskInfo.executor`, as
    /// frameworks with their own executor do) instead of Marathon's default of a command
    /// executor per task.
    pub app_executor: bool,
}

impl Default for AppsConfig {
    fn default() -> Self {
        AppsConfig {
            per_offer: 0,
            window: 64,
            decline_refuse: 5.0,
            accept_refuse: 0.0,
            app_executor: false,
        }
    }
}

/// What is written, durably, before the launch of one instance is sent.
#[derive(Clone, Debug)]
pub struct LaunchRecord {
    pub task_id: String,
    pub app_id: String,
    pub agent_id: String,
    pub hostname: String,
    pub cpus: f64,
    pub mem: f64,
}

/// The framework's store: one call per batch of launches, which must be durable when it
/// returns (the simulator sends the batch's ACCEPTs only after it).
pub trait LaunchLog {
    fn commit(&mut self, batch: &[LaunchRecord]) -> Result<(), String>;
    /// What the store is and what it did (for the benchmark's output).
    fn describe(&self) -> String;
}

/// Counters of the apps framework.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppsProgress {
    /// Instances submitted.
    pub submitted: u64,
    /// Instances in ACCEPTs sent (relaunches included).
    pub scheduled: u64,
    /// Instances whose TASK_RUNNING arrived (and was acknowledged), currently running.
    pub running: u64,
    /// Instances that ended and were queued again.
    pub relaunched: u64,
    pub offers: u64,
    pub declined: u64,
    pub accepts: u64,
    /// Batches written to the launch log.
    pub batches: u64,
    pub suppressed: bool,
}

const NOT_LAUNCHED: u8 = 0;
const STAGED: u8 = 1;
const RUNNING: u8 = 2;

struct App {
    spec: AppSpec,
    cpus: Milli,
    mem: Milli,
    wire: Vec<Resource>,
    /// The next instance never launched.
    next: u32,
    /// Instances to launch again.
    relaunch: Vec<u32>,
    states: Vec<u8>,
    /// Agents holding an instance (UNIQUE only).
    used: HashSet<u32>,
}

impl App {
    fn pending(&self) -> u32 {
        self.spec.instances - self.next + self.relaunch.len() as u32
    }
    fn take(&mut self) -> Option<u32> {
        if let Some(i) = self.relaunch.pop() {
            return Some(i);
        }
        (self.next < self.spec.instances).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// What the framework knows about an agent (from its offers).
struct AgentSlot {
    attrs: Vec<(String, String)>,
}

pub(crate) struct Apps {
    cfg: AppsConfig,
    apps: Vec<App>,
    by_id: HashMap<String, usize>,
    /// Apps with instances waiting, in submission order.
    queue: VecDeque<usize>,
    agents: HashMap<AgentId, u32>,
    slots: Vec<AgentSlot>,
    progress: AppsProgress,
}

impl Apps {
    pub fn new(cfg: AppsConfig) -> Apps {
        Apps {
            cfg,
            apps: Vec::new(),
            by_id: HashMap::new(),
            queue: VecDeque::new(),
            agents: HashMap::new(),
            slots: Vec::new(),
            progress: AppsProgress::default(),
        }
    }

    pub fn progress(&self) -> &AppsProgress {
        &self.progress
    }

    /// Queue apps; REVIVE if offers were suppressed.
    pub fn submit(&mut self, specs: Vec<AppSpec>) -> Vec<FwAction> {
        for spec in specs {
            assert!(
                !self.by_id.contains_key(&spec.id),
                "duplicate app {}",
                spec.id
            );
            let idx = self.apps.len();
            self.by_id.insert(spec.id.clone(), idx);
            self.progress.submitted += spec.instances as u64;
            let wire = Resources::new()
                .with_scalar("cpus", spec.cpus)
                .with_scalar("mem", spec.mem)
                .to_wire(Some("*"));
            self.apps.push(App {
                cpus: to_milli(spec.cpus),
                mem: to_milli(spec.mem),
                wire,
                next: 0,
                relaunch: Vec::new(),
                states: vec![NOT_LAUNCHED; spec.instances as usize],
                used: HashSet::new(),
                spec,
            });
            if self.apps[idx].pending() > 0 {
                self.queue.push_back(idx);
            }
        }
        self.revive_if_needed()
    }

    fn revive_if_needed(&mut self) -> Vec<FwAction> {
        if self.progress.suppressed && !self.queue.is_empty() {
            self.progress.suppressed = false;
            return vec![FwAction::Call(Call::Revive(Roles::default()))];
        }
        Vec::new()
    }

    fn suppress_if_idle(&mut self, out: &mut Vec<FwAction>) {
        if !self.progress.suppressed && self.queue.is_empty() {
            self.progress.suppressed = true;
            out.push(FwAction::Call(Call::Suppress(Roles::default())));
        }
    }

    /// SUBSCRIBED: nothing queued means no offers wanted.
    pub fn on_subscribed(&mut self) -> Vec<FwAction> {
        // A new stream starts unsuppressed.
        self.progress.suppressed = false;
        let mut out = Vec::new();
        self.suppress_if_idle(&mut out);
        out
    }

    fn agent_slot(&mut self, offer: &Offer) -> u32 {
        if let Some(&i) = self.agents.get(&offer.agent_id) {
            return i;
        }
        let i = self.slots.len() as u32;
        let attrs = offer.attributes.iter().filter_map(text_attr).collect();
        self.slots.push(AgentSlot { attrs });
        self.agents.insert(offer.agent_id.clone(), i);
        i
    }

    fn allowed(&self, app: &App, agent: u32) -> bool {
        let attr = |name: &str| {
            self.slots[agent as usize]
                .attrs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        match &app.spec.constraint {
            Constraint::None => true,
            Constraint::UniqueHostname => !app.used.contains(&agent),
            Constraint::Cluster { attr: a, value } => attr(a) == Some(value.as_str()),
            Constraint::Like { attr: a, prefix } => {
                attr(a).is_some_and(|v| v.starts_with(prefix.as_str()))
            }
        }
    }

    pub fn offers(&mut self, offers: Vec<Offer>) -> Vec<FwAction> {
        let mut calls = Vec::with_capacity(offers.len() + 1);
        let mut batch = Vec::new();
        for offer in offers {
            self.progress.offers += 1;
            let tasks = self.match_offer(&offer, &mut batch);
            if tasks.is_empty() {
                self.progress.declined += 1;
                calls.push(FwAction::Call(Call::Decline(Decline {
                    offer_ids: vec![offer.id],
                    filters: Some(Filters {
                        refuse_seconds: Some(self.cfg.decline_refuse),
                    }),
                })));
            } else {
                self.progress.accepts += 1;
                calls.push(FwAction::Call(accept(
                    offer.id,
                    tasks,
                    self.cfg.accept_refuse,
                )));
            }
        }
        self.suppress_if_idle(&mut calls);
        let mut out = Vec::with_capacity(calls.len() + 1);
        if !batch.is_empty() {
            self.progress.batches += 1;
            out.push(FwAction::Persist(batch));
        }
        out.extend(calls);
        out
    }

    /// Pack queued instances into one offer; their launch records go to `batch`.
    fn match_offer(&mut self, offer: &Offer, batch: &mut Vec<LaunchRecord>) -> Vec<TaskInfo> {
        let mut tasks = Vec::new();
        if self.queue.is_empty() {
            return tasks;
        }
        let Ok(res) = Resources::from_wire(&offer.resources) else {
            return tasks;
        };
        let agent = self.agent_slot(offer);
        let (mut cpus, mut mem) = (res.scalar_milli("cpus"), res.scalar_milli("mem"));
        let mut room = match self.cfg.per_offer {
            0 => u32::MAX,
            n => n,
        };
        let mut q = 0;
        let mut looked = 0;
        while room > 0 && q < self.queue.len() && looked < self.cfg.window {
            let a = self.queue[q];
            looked += 1;
            let app = &self.apps[a];
            let fits = app.pending() > 0 && app.cpus <= cpus && app.mem <= mem;
            if !fits || !self.allowed(app, agent) {
                q += 1;
                continue;
            }
            let app = &mut self.apps[a];
            let unique = app.spec.constraint == Constraint::UniqueHostname;
            while room > 0 && app.cpus <= cpus && app.mem <= mem {
                let Some(i) = app.take() else { break };
                app.states[i as usize] = STAGED;
                cpus -= app.cpus;
                mem -= app.mem;
                room -= 1;
                let id = format!("{}.{i}", app.spec.id);
                batch.push(LaunchRecord {
                    task_id: id.clone(),
                    app_id: app.spec.id.clone(),
                    agent_id: offer.agent_id.value.clone(),
                    hostname: offer.hostname.clone(),
                    cpus: app.spec.cpus,
                    mem: app.spec.mem,
                });
                let mut task = TaskInfo::new(id.clone(), TaskId::new(id), offer.agent_id.clone());
                task.resources = app.wire.clone();
                if self.cfg.app_executor {
                    task.executor = Some(app_executor(&app.spec.id));
                } else {
                    task.command = Some(CommandInfo::shell("sleep 1000000"));
                }
                tasks.push(task);
                if unique {
                    app.used.insert(agent);
                    break;
                }
            }
            if app.pending() == 0 {
                self.queue.remove(q);
            } else {
                q += 1;
            }
        }
        self.progress.scheduled += tasks.len() as u64;
        tasks
    }

    /// A status update: count RUNNING, queue ended instances again, acknowledge.
    pub fn update(&mut self, s: TaskStatus) -> Vec<FwAction> {
        let mut out = Vec::new();
        if let Some((a, i)) = self.instance(&s.task_id) {
            let app = &mut self.apps[a];
            let st = &mut app.states[i as usize];
            if s.state == TaskState::TaskRunning {
                if *st != RUNNING {
                    *st = RUNNING;
                    self.progress.running += 1;
                }
            } else if s.state.is_terminal() && *st != NOT_LAUNCHED {
                if *st == RUNNING {
                    self.progress.running -= 1;
                }
                *st = NOT_LAUNCHED;
                self.progress.relaunched += 1;
                app.relaunch.push(i);
                if let (Some(agent), Constraint::UniqueHostname) =
                    (&s.agent_id, &app.spec.constraint)
                {
                    if let Some(&slot) = self.agents.get(agent) {
                        app.used.remove(&slot);
                    }
                }
                if app.relaunch.len() == 1 && app.next == app.spec.instances {
                    self.queue.push_back(a);
                }
                out.extend(self.revive_if_needed());
            }
        }
        if let (Some(uuid), Some(agent_id)) = (s.uuid, s.agent_id) {
            out.push(FwAction::Call(Call::Acknowledge(Acknowledge {
                agent_id,
                task_id: s.task_id,
                uuid,
            })));
        }
        out
    }

    /// `<app id>.<instance>` back to indices.
    fn instance(&self, id: &TaskId) -> Option<(usize, u32)> {
        let (app, n) = id.value.rsplit_once('.')?;
        let a = *self.by_id.get(app)?;
        let i: u32 = n.parse().ok()?;
        (i < self.apps[a].spec.instances).then_some((a, i))
    }

    /// Apps with their constraints (for the final checks).
    pub fn specs(&self) -> impl Iterator<Item = &AppSpec> {
        self.apps.iter().map(|a| &a.spec)
    }

    /// Instances not running in the framework's view.
    pub fn not_running(&self) -> u64 {
        self.apps
            .iter()
            .map(|a| a.states.iter().filter(|&&s| s != RUNNING).count() as u64)
            .sum()
    }
}

/// ACCEPT launching `tasks` on `offer`, refusing the rest for `refuse` seconds.
pub(crate) fn accept(offer: OfferId, tasks: Vec<TaskInfo>, refuse: f64) -> Call {
    Call::Accept(Accept {
        offer_ids: vec![offer],
        operations: vec![Operation {
            kind: "LAUNCH".into(),
            id: None,
            launch: Some(Launch { task_infos: tasks }),
            launch_group: None,
        }],
        filters: Some(Filters {
            refuse_seconds: Some(refuse),
        }),
    })
}

fn app_executor(app: &str) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId::new(app),
        kind: None,
        framework_id: None,
        command: Some(CommandInfo::shell("./app-executor")),
        container: None,
        resources: Vec::new(),
        name: Some(format!("executor of /{app}")),
        source: None,
        data: None,
        labels: None,
        shutdown_grace_period: None,
        discovery: None,
    }
}

fn text_attr(a: &Attribute) -> Option<(String, String)> {
    let v = a.text.as_ref()?.value.clone();
    Some((a.name.clone(), v))
}

impl Sim {
    /// Add a Marathon-style framework (see the module documentation) that writes its
    /// launch batches to `log`. Returns its index. Subscribes on its first tick.
    pub fn add_apps_framework(
        &mut self,
        cfg: AppsConfig,
        log: Option<Box<dyn LaunchLog>>,
    ) -> usize {
        let idx = self.fws.len();
        let fw = crate::framework::Framework::with_apps(idx, &self.ctx.cfg, Apps::new(cfg));
        self.fws.push(fw);
        self.launch_log = log;
        let at = self.ctx.now + 1;
        self.ctx.q.push(at, None, crate::net::Ev::FwTick(idx));
        idx
    }

    /// Submit apps to the apps framework `fw`.
    pub fn submit_apps(&mut self, fw: usize, apps: Vec<AppSpec>) {
        let actions = match self.fws[fw].apps.as_mut() {
            Some(a) => a.submit(apps),
            None => panic!("framework {fw} is not an apps framework"),
        };
        self.fw_actions(fw, actions);
    }

    pub fn apps_progress(&self, fw: usize) -> AppsProgress {
        self.fws[fw]
            .apps
            .as_ref()
            .map(|a| a.progress().clone())
            .unwrap_or_default()
    }

    /// Whether framework `fw` is subscribed.
    pub fn subscribed(&self, fw: usize) -> bool {
        self.fws[fw].subscribed
    }

    /// Agents registered and active at the current master.
    pub fn active_agents(&self) -> usize {
        self.master.as_ref().map_or(0, |m| {
            m.m.agents()
                .values()
                .filter(|a| a.status == mesos_master::state::AgentStatus::Active)
                .count()
        })
    }

    /// What the launch log says about itself.
    pub fn launch_log(&self) -> Option<String> {
        self.launch_log.as_ref().map(|l| l.describe())
    }
}

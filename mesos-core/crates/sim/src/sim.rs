//! The simulator: the event loop, the context every node sends through, fault injection
//! and the phases of a run.

use crate::agents::Host;
use crate::apps::LaunchLog;
use crate::config::SimConfig;
use crate::framework::{Framework, FwAction};
use crate::master::MasterNode;
use crate::net::{Chan, Ev, Fault, Origin, Queue};
use crate::props::{self, Ledger, Violation};
use mesos_master::registry::Registry;
use mesos_master::state::{ConnId, Input as MasterInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// Simulated time starts here (seconds since the Unix epoch), so timestamps look real.
const EPOCH_MS: u64 = 1_600_000_000_000;
pub(crate) const MASTER_TICK_MS: u64 = 500;
pub(crate) const AGENT_TICK_MS: u64 = 1_000;
pub(crate) const FW_TICK_MS: u64 = 1_000;

/// What every node uses to send: the clock, the random source, the queue, the trace.
pub(crate) struct Ctx {
    pub cfg: SimConfig,
    pub seed: u64,
    pub now: u64,
    pub step: u64,
    pub rng: StdRng,
    pub q: Queue,
    /// No more message faults (the quiet phase).
    pub quiet: bool,
    /// Agent hosts cut off from the master.
    pub partitioned: BTreeSet<usize>,
    next_id: u64,
    tail: VecDeque<String>,
    pub violations: Vec<Violation>,
}

impl Ctx {
    /// Queue `input` for master incarnation `inc` at `at`, on no channel and from no
    /// connection: the master noticing a disconnect or a closed stream.
    pub fn notice_to_master(&mut self, at: u64, inc: u64, input: MasterInput) {
        self.q.push(
            at,
            None,
            Ev::ToMaster {
                inc,
                from: Origin::None,
                input,
            },
        );
    }

    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    /// Uniform in `[lo, hi]` milliseconds.
    pub fn ms(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.rng.gen_range(lo..=hi)
        }
    }
    pub fn secs(&mut self, lo: f64, hi: f64) -> u64 {
        self.ms((lo * 1000.0) as u64, (hi * 1000.0) as u64)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen_bool(p.min(1.0))
    }
    /// When a message sent now across the network arrives, or `None` if it is lost.
    /// `host` is the agent host at one end (partitions cut agent hosts only).
    pub fn fate(&mut self, host: Option<usize>) -> Option<u64> {
        if host.is_some_and(|h| self.partitioned.contains(&h)) {
            return None;
        }
        let f = &self.cfg.faults;
        let (drop, (lo, hi), slow, slow_ms) = (f.drop, f.delay_ms, f.slow, f.slow_ms);
        if !self.quiet && self.chance(drop) {
            return None;
        }
        let mut d = self.ms(lo, hi);
        if !self.quiet && self.chance(slow) {
            d += self.ms(0, slow_ms);
        }
        Some(self.now + d)
    }
    /// When a message between processes of one host arrives.
    pub fn local(&mut self) -> u64 {
        self.now + self.ms(1, 5)
    }
    pub fn master_now(&self) -> f64 {
        (EPOCH_MS + self.now) as f64 / 1000.0
    }
    pub fn agent_now(&self) -> Duration {
        Duration::from_millis(EPOCH_MS + self.now)
    }
    pub fn tracing(&self) -> bool {
        self.cfg.trace || self.cfg.trace_tail > 0
    }
    pub fn trace(&mut self, line: impl FnOnce() -> String) {
        if !self.tracing() {
            return;
        }
        let line = format!("{:>10.3} {}", self.now as f64 / 1000.0, line());
        if self.cfg.trace {
            eprintln!("{line}");
        }
        if self.cfg.trace_tail > 0 {
            if self.tail.len() == self.cfg.trace_tail {
                self.tail.pop_front();
            }
            self.tail.push_back(line);
        }
    }
    pub fn violation(&mut self, property: &'static str, detail: String) {
        let v = Violation {
            seed: self.seed,
            time: self.now as f64 / 1000.0,
            step: self.step,
            property,
            detail,
        };
        self.trace(|| format!("VIOLATION {v}"));
        self.violations.push(v);
    }
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct Report {
    pub seed: u64,
    pub steps: u64,
    /// Simulated seconds.
    pub time: f64,
    /// The first property that failed, if any.
    pub violation: Option<Violation>,
    /// A digest of every event handled: equal for two runs of one seed.
    pub digest: u64,
    pub stats: BTreeMap<&'static str, u64>,
    /// The last trace lines (see [`SimConfig::trace_tail`]).
    pub trace_tail: Vec<String>,
}

/// A simulated cluster. See the crate documentation.
pub struct Sim {
    pub(crate) ctx: Ctx,
    pub(crate) master: Option<MasterNode>,
    pub(crate) master_inc: u64,
    /// The registry store: what the masters persisted, read by the next master.
    pub(crate) registry: Registry,
    pub(crate) hosts: Vec<Host>,
    pub(crate) fws: Vec<Framework>,
    /// Which host each agent connection belongs to.
    pub(crate) agent_conns: BTreeMap<ConnId, usize>,
    /// Which framework each scheduler stream belongs to.
    pub(crate) streams: BTreeMap<String, usize>,
    /// Streams that lost a message inside a partition: reset when it heals.
    pub(crate) broken: BTreeSet<Chan>,
    pub(crate) ledger: Ledger,
    pub(crate) stats: BTreeMap<&'static str, u64>,
    /// The apps framework's store (`apps.rs`).
    pub(crate) launch_log: Option<Box<dyn LaunchLog>>,
    digest: u64,
    final_checked: bool,
}

impl Sim {
    pub fn new(seed: u64, cfg: SimConfig) -> Sim {
        let ctx = Ctx {
            seed,
            now: 0,
            step: 0,
            rng: StdRng::seed_from_u64(seed),
            q: Queue::default(),
            quiet: false,
            partitioned: BTreeSet::new(),
            next_id: 0,
            tail: VecDeque::new(),
            violations: Vec::new(),
            cfg,
        };
        let mut sim = Sim {
            ctx,
            master: None,
            master_inc: 0,
            registry: Registry::default(),
            hosts: Vec::new(),
            fws: Vec::new(),
            agent_conns: BTreeMap::new(),
            streams: BTreeMap::new(),
            broken: BTreeSet::new(),
            ledger: Ledger::default(),
            stats: BTreeMap::new(),
            launch_log: None,
            digest: seed,
            final_checked: false,
        };
        sim.master_start();
        for i in 0..sim.ctx.cfg.agents {
            let host = Host::new(i, &sim.ctx.cfg);
            sim.hosts.push(host);
            sim.agent_start(i);
        }
        for i in 0..sim.ctx.cfg.frameworks {
            let fw = Framework::new(i, &sim.ctx.cfg);
            sim.fws.push(fw);
            let at = sim.ctx.ms(0, 2_000);
            sim.ctx.q.push(at, None, Ev::FwTick(i));
        }
        let draw = sim.ctx.secs(0.0, sim.ctx.cfg.faults.interval);
        sim.ctx.q.push(draw, None, Ev::Fault(Fault::Draw));
        let quiet = (sim.ctx.cfg.duration * 1000.0) as u64;
        sim.ctx.q.push(quiet, None, Ev::Fault(Fault::Quiet));
        sim
    }

    /// Simulated seconds since the start.
    pub fn now(&self) -> f64 {
        self.ctx.now as f64 / 1000.0
    }

    pub fn seed(&self) -> u64 {
        self.ctx.seed
    }

    /// The first property violation so far.
    pub fn violation(&self) -> Option<&Violation> {
        self.ctx.violations.first()
    }

    pub(crate) fn count(&mut self, what: &'static str) {
        *self.stats.entry(what).or_insert(0) += 1;
    }

    /// Handle the next event. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let Some((at, ev)) = self.ctx.q.pop() else {
            return false;
        };
        self.ctx.now = at;
        self.ctx.step += 1;
        self.digest = mix(self.digest, at ^ (ev_code(&ev) << 56));
        self.handle(ev);
        if self.ctx.cfg.properties
            && self
                .ctx
                .step
                .is_multiple_of(self.ctx.cfg.check_every.max(1))
        {
            props::check_continuous(self);
        }
        true
    }

    /// Step until simulated second `t`, or until a property fails.
    pub fn run_until(&mut self, t: f64) {
        let end = (t * 1000.0) as u64;
        while self.ctx.violations.is_empty() && self.ctx.q.peek_time().is_some_and(|a| a <= end) {
            self.step();
        }
        self.ctx.now = self.ctx.now.max(end);
    }

    /// The whole run: the faulty phase, the quiet phase, then the final checks, stopping
    /// at the first violation.
    pub fn run(&mut self) -> Report {
        let cfg = &self.ctx.cfg;
        let end = cfg.duration + cfg.quiet;
        self.run_until(end);
        // Let in-flight task traffic land before comparing views (bounded).
        let mut extra = 0.0;
        while self.ctx.violations.is_empty() && self.ctx.q.task_traffic() && extra < 120.0 {
            extra += 1.0;
            self.run_until(end + extra);
        }
        if self.ctx.violations.is_empty() {
            self.final_checked = true;
            props::check_final(self);
        }
        self.report()
    }

    pub fn report(&self) -> Report {
        Report {
            seed: self.ctx.seed,
            steps: self.ctx.step,
            time: self.now(),
            violation: self.ctx.violations.first().cloned(),
            digest: self.digest,
            stats: self.stats.clone(),
            trace_tail: self.ctx.tail.iter().cloned().collect(),
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::MasterTick(inc) => {
                if self.master.as_ref().is_some_and(|m| m.inc == inc) {
                    self.master_input(MasterInput::Tick, Origin::None);
                    let at = self.ctx.now + MASTER_TICK_MS;
                    self.ctx.q.push(at, None, Ev::MasterTick(inc));
                }
            }
            Ev::AgentTick(host, inc) => self.agent_tick(host, inc),
            Ev::FwTick(i) => {
                let now = self.ctx.now;
                let actions = self.fws[i].tick(now);
                self.fw_actions(i, actions);
                let at = now + FW_TICK_MS;
                self.ctx.q.push(at, None, Ev::FwTick(i));
            }
            Ev::ToMaster { inc, from, input } => self.deliver_to_master(inc, from, input),
            Ev::FwReply {
                fw,
                stream,
                subscribe,
                reply,
            } => {
                let now = self.ctx.now;
                self.ctx
                    .trace(|| format!("fw{fw} <- reply {reply:?} (stream {stream:?})"));
                let actions = self.fws[fw].on_reply(now, stream, subscribe, reply);
                self.fw_actions(fw, actions);
            }
            Ev::FwEvent { fw, stream, event } => self.fw_event(fw, stream, event),
            Ev::FwStreamEnded { fw, stream } => {
                self.ctx.trace(|| format!("fw{fw} stream {stream} ended"));
                let now = self.ctx.now;
                let actions = self.fws[fw].on_stream_ended(now, &stream);
                self.fw_actions(fw, actions);
            }
            Ev::AgentStream { host, conn, msg } => self.agent_stream(host, conn, msg),
            Ev::AgentStreamEnded { host, conn } => self.agent_stream_ended(host, conn),
            Ev::AgentConnectFailed { host, conn } => self.agent_connect_failed(host, conn),
            Ev::AgentRefused { host } => self.agent_refused(host),
            Ev::AgentReconnect { host, inc } => self.agent_connect(host, inc),
            Ev::ExecCall {
                host,
                inc,
                cid,
                conn,
                call,
            } => self.exec_call(host, inc, cid, conn, call),
            Ev::ExecReply {
                host,
                cid,
                conn,
                ok,
            } => self.exec_reply(host, cid, conn, ok),
            Ev::ExecEvent { host, conn, event } => self.exec_event(host, conn, event),
            Ev::ExecStreamEnded { host, conn } => self.exec_stream_ended(host, conn),
            Ev::ExecTimer { host, cid, timer } => self.exec_timer(host, cid, timer),
            Ev::ContainerStarted { host, inc, cid } => self.container_started(host, inc, cid),
            Ev::ContainerKill { host, cid } => self.kill_process(host, &cid, 9),
            Ev::ContainerExited {
                host,
                inc,
                cid,
                status,
            } => self.container_exited(host, inc, cid, status),
            Ev::Fault(f) => self.fault(f),
        }
    }

    fn fw_event(&mut self, fw: usize, stream: String, event: mesos_proto::scheduler::Event) {
        if self.fws[fw].stream.as_deref() != Some(stream.as_str()) {
            return;
        }
        self.ctx
            .trace(|| format!("fw{fw} <- {}", props::describe_event(&event)));
        if let (true, mesos_proto::scheduler::Event::Update(u)) = (self.ctx.cfg.properties, &event)
        {
            props::on_framework_update(self, fw, &u.status);
        }
        let now = self.ctx.now;
        let actions = self.fws[fw].on_event(now, event);
        self.fw_actions(fw, actions);
    }

    /// Carry out what a framework asked for: calls over the network to the master.
    pub(crate) fn fw_actions(&mut self, fw: usize, actions: Vec<FwAction>) {
        for a in actions {
            match a {
                FwAction::Subscribe(call) => {
                    let n = self.ctx.id();
                    let stream = format!("stream-{n}");
                    self.streams.insert(stream.clone(), fw);
                    self.fws[fw].stream = Some(stream.clone());
                    self.ctx
                        .trace(|| format!("fw{fw} -> SUBSCRIBE on {stream}"));
                    let input = MasterInput::Scheduler {
                        stream: Some(stream.clone()),
                        framework_id: self.fws[fw].id.clone(),
                        call,
                    };
                    self.send_to_master(None, Origin::Fw(fw), input, Some(Chan::FwStream(n)));
                }
                FwAction::Call(call) => {
                    let stream = self.fws[fw].stream.clone();
                    self.ctx
                        .trace(|| format!("fw{fw} -> {}", props::describe_call(&call)));
                    let input = MasterInput::Scheduler {
                        stream,
                        framework_id: self.fws[fw].id.clone(),
                        call,
                    };
                    self.send_to_master(None, Origin::Fw(fw), input, Some(Chan::FwCalls(fw)));
                }
                FwAction::Persist(batch) => {
                    if let Some(log) = self.launch_log.as_mut() {
                        if let Err(e) = log.commit(&batch) {
                            panic!("launch log: {e}");
                        }
                    }
                }
                FwAction::Close(stream) => {
                    self.ctx.trace(|| format!("fw{fw} closes {stream}"));
                    self.send_to_master(
                        None,
                        Origin::None,
                        MasterInput::StreamClosed { stream },
                        None,
                    );
                }
            }
        }
    }

    /// Send an input to the current master across the network (from an agent host when
    /// `host` is set). A request that cannot arrive fails back to its sender.
    pub(crate) fn send_to_master(
        &mut self,
        host: Option<usize>,
        from: Origin,
        input: MasterInput,
        chan: Option<Chan>,
    ) {
        let fate = if self.master.is_some() {
            self.ctx.fate(host)
        } else {
            None
        };
        match fate {
            Some(at) => {
                let inc = self.master_inc;
                let chan = chan.or(host.map(Chan::AgentPosts));
                self.ctx.q.push(at, chan, Ev::ToMaster { inc, from, input });
            }
            None => self.request_failed(host, from, input),
        }
    }

    /// A request that never reached (or was never handled by) the master.
    pub(crate) fn request_failed(&mut self, host: Option<usize>, from: Origin, input: MasterInput) {
        // Refused at once by a dead master; a timeout across a partition.
        let late = host.is_some_and(|h| self.ctx.partitioned.contains(&h));
        let at = if late {
            self.ctx.now + 10_000
        } else {
            self.ctx.now + self.ctx.ms(5, 1_000)
        };
        match (from, input) {
            (Origin::Fw(fw), MasterInput::Scheduler { stream, call, .. }) => {
                let subscribe = matches!(call, mesos_proto::scheduler::Call::Subscribe(_));
                let reply = mesos_master::state::Reply::Error(503, "request failed".into());
                self.ctx.q.push(
                    at,
                    None,
                    Ev::FwReply {
                        fw,
                        stream,
                        subscribe,
                        reply,
                    },
                );
            }
            (Origin::Agent(h), MasterInput::AgentConnect { conn, .. }) => {
                self.ctx
                    .q
                    .push(at, None, Ev::AgentConnectFailed { host: h, conn });
            }
            _ => {}
        }
    }

    fn deliver_to_master(&mut self, inc: u64, from: Origin, input: MasterInput) {
        if self.master.as_ref().is_some_and(|m| m.inc == inc) {
            self.master_input(input, from);
        } else {
            let host = match from {
                Origin::Agent(h) => Some(h),
                _ => None,
            };
            self.request_failed(host, from, input);
        }
    }

    fn fault(&mut self, f: Fault) {
        match f {
            Fault::Draw => {
                if self.ctx.quiet {
                    return;
                }
                self.draw_faults();
                let at = self.ctx.now + (self.ctx.cfg.faults.interval * 1000.0) as u64;
                self.ctx.q.push(at, None, Ev::Fault(Fault::Draw));
            }
            Fault::AgentRestart(h) => {
                if self.hosts[h].agent.is_none() {
                    self.count("agent restarts");
                    self.agent_start(h);
                }
            }
            Fault::MasterRestart => {
                if self.master.is_none() {
                    self.master_start();
                }
            }
            Fault::Heal(h) => self.heal(h),
            Fault::Quiet => self.enter_quiet(),
        }
    }

    fn draw_faults(&mut self) {
        let f = self.ctx.cfg.faults.clone();
        let n = self.hosts.len();
        if n > 0 && self.ctx.chance(f.agent_crash) {
            let h = self.ctx.rng.gen_range(0..n);
            if self.hosts[h].agent.is_some() {
                self.count("agent crashes");
                self.agent_crash(h);
                let at = self.ctx.now + self.ctx.secs(5.0, 120.0);
                self.ctx.q.push(at, None, Ev::Fault(Fault::AgentRestart(h)));
            }
        }
        if n > 0 && self.ctx.chance(f.partition) {
            let h = self.ctx.rng.gen_range(0..n);
            if self.ctx.partitioned.insert(h) {
                self.count("partitions");
                self.ctx.trace(|| format!("PARTITION agent{h}"));
                let at = self.ctx.now + self.ctx.secs(5.0, 200.0);
                self.ctx.q.push(at, None, Ev::Fault(Fault::Heal(h)));
            }
        }
        if self.master.is_some() && self.ctx.chance(f.master_crash) {
            self.count("master crashes");
            self.master_crash();
            let at = self.ctx.now + self.ctx.secs(2.0, 40.0);
            self.ctx.q.push(at, None, Ev::Fault(Fault::MasterRestart));
        }
        if !self.fws.is_empty() && self.ctx.chance(f.framework_disconnect) {
            let i = self.ctx.rng.gen_range(0..self.fws.len());
            self.count("framework disconnects");
            self.fw_disconnect(i);
        }
        if n > 0 && self.ctx.chance(f.executor_crash) {
            let h = self.ctx.rng.gen_range(0..n);
            let alive: Vec<_> = self.hosts[h].live_containers();
            if !alive.is_empty() {
                let cid = alive[self.ctx.rng.gen_range(0..alive.len())].clone();
                self.count("executor crashes");
                self.ctx
                    .trace(|| format!("CRASH executor {cid} on agent{h}"));
                self.kill_process(h, &cid, 9);
            }
        }
    }

    /// A framework drops its stream (and re-subscribes on its next tick).
    pub(crate) fn fw_disconnect(&mut self, i: usize) {
        let now = self.ctx.now;
        let actions = self.fws[i].disconnect(now);
        self.fw_actions(i, actions);
    }

    fn heal(&mut self, h: usize) {
        if !self.ctx.partitioned.remove(&h) {
            return;
        }
        self.ctx.trace(|| format!("HEAL agent{h}"));
        let conns: Vec<ConnId> = self
            .broken
            .iter()
            .filter_map(|c| match c {
                Chan::AgentStream(conn) if self.agent_conns.get(conn) == Some(&h) => Some(*conn),
                _ => None,
            })
            .collect();
        for conn in conns {
            self.reset_agent_stream(h, conn);
        }
    }

    /// Both ends of an agent connection learn that it broke.
    pub(crate) fn reset_agent_stream(&mut self, h: usize, conn: ConnId) {
        self.broken.insert(Chan::AgentStream(conn));
        let at = self.ctx.now + self.ctx.ms(1, 100);
        self.ctx.q.push(
            at,
            Some(Chan::AgentStream(conn)),
            Ev::AgentStreamEnded { host: h, conn },
        );
        if let Some(m) = &self.master {
            let inc = m.inc;
            self.ctx
                .notice_to_master(at, inc, MasterInput::AgentDisconnected { conn });
        }
    }

    /// The quiet phase: no more faults; everything heals and restarts; every framework
    /// re-subscribes and reconciles.
    fn enter_quiet(&mut self) {
        self.ctx
            .trace(|| "QUIET: healing, restarting, re-subscribing".into());
        self.ctx.quiet = true;
        let parts: Vec<usize> = self.ctx.partitioned.iter().copied().collect();
        for h in parts {
            self.heal(h);
        }
        if self.master.is_none() {
            self.master_start();
        }
        for h in 0..self.hosts.len() {
            if self.hosts[h].agent.is_none() {
                self.agent_start(h);
            }
        }
        for i in 0..self.fws.len() {
            self.fw_disconnect(i);
        }
    }

    /// Whether the final checks ran (the run got through both phases).
    pub fn finished(&self) -> bool {
        self.final_checked
    }
}

fn mix(h: u64, v: u64) -> u64 {
    let mut z = h ^ v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 27)
}

fn ev_code(ev: &Ev) -> u64 {
    match ev {
        Ev::MasterTick(_) => 1,
        Ev::AgentTick(..) => 2,
        Ev::FwTick(_) => 3,
        Ev::ToMaster { .. } => 4,
        Ev::FwReply { .. } => 5,
        Ev::FwEvent { .. } => 6,
        Ev::FwStreamEnded { .. } => 7,
        Ev::AgentStream { .. } => 8,
        Ev::AgentStreamEnded { .. } => 9,
        Ev::AgentConnectFailed { .. } => 10,
        Ev::AgentRefused { .. } => 11,
        Ev::AgentReconnect { .. } => 12,
        Ev::ExecCall { .. } => 13,
        Ev::ExecReply { .. } => 14,
        Ev::ExecEvent { .. } => 15,
        Ev::ExecStreamEnded { .. } => 16,
        Ev::ExecTimer { .. } => 17,
        Ev::ContainerStarted { .. } => 18,
        Ev::ContainerKill { .. } => 19,
        Ev::ContainerExited { .. } => 20,
        Ev::Fault(_) => 21,
    }
}

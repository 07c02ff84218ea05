//! The master node: the real `Master` state machine and what `runtime.rs` does with its
//! outputs (registry writes first, then stream writes), in memory.

use crate::net::{Chan, Ev, Origin};
use crate::props;
use crate::sim::Sim;
use mesos_master::state::{Input, Master, MasterConfig, Output, Reply};
use mesos_proto::internal::AgentToMaster;
use mesos_proto::v1::MasterInfo;

/// One master incarnation (a term as leader).
pub(crate) struct MasterNode {
    pub m: Master,
    /// Incarnation number, also the epoch.
    pub inc: u64,
}

fn stream_number(stream: &str) -> u64 {
    stream
        .strip_prefix("stream-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Sim {
    /// Start a new master that loads the registry (a failover after the first).
    pub(crate) fn master_start(&mut self) {
        self.master_inc += 1;
        let inc = self.master_inc;
        let info = MasterInfo {
            id: format!("sim-master-{inc}"),
            ip: 0,
            port: 5050,
            pid: Some("master@127.0.0.1:5050".into()),
            hostname: Some("master".into()),
            version: Some(mesos_proto::MESOS_VERSION.into()),
            address: None,
            capabilities: Vec::new(),
        };
        let mut config = MasterConfig::new(info);
        config.epoch = inc;
        config.allocator_seed = rand::Rng::gen(&mut self.ctx.rng);
        // Lost ACCEPT/DECLINE calls must not strand offers forever.
        config.offer_timeout = Some(60.0);
        let now = self.ctx.master_now();
        let m = Master::new(config, self.registry.clone(), now);
        self.ctx.trace(|| {
            format!(
                "MASTER {inc} starts (registry: {} agents, {} frameworks)",
                self.registry.agents.len(),
                self.registry.frameworks.len()
            )
        });
        self.master = Some(MasterNode { m, inc });
        self.ctx.q.push(self.ctx.now, None, Ev::MasterTick(inc));
    }

    /// The master process dies: its state machine and everything it was sending are gone;
    /// its streams close (the peers notice at once, or when a partition heals).
    pub(crate) fn master_crash(&mut self) {
        let Some(node) = self.master.take() else {
            return;
        };
        self.ctx.trace(|| format!("CRASH master {}", node.inc));
        for (stream, fw) in self.streams.clone() {
            if self.fws[fw].stream.as_deref() == Some(stream.as_str()) {
                let chan = Chan::FwStream(stream_number(&stream));
                self.broken.insert(chan);
                let at = self.ctx.now + self.ctx.ms(1, 100);
                self.ctx
                    .q
                    .push(at, Some(chan), Ev::FwStreamEnded { fw, stream });
            }
        }
        for h in 0..self.hosts.len() {
            if let Some(conn) = self.hosts[h].conn {
                self.broken.insert(Chan::AgentStream(conn));
                if !self.ctx.partitioned.contains(&h) {
                    let at = self.ctx.now + self.ctx.ms(1, 100);
                    self.ctx.q.push(
                        at,
                        Some(Chan::AgentStream(conn)),
                        Ev::AgentStreamEnded { host: h, conn },
                    );
                }
            }
        }
    }

    /// Feed one input to the master and carry out its outputs in order.
    pub(crate) fn master_input(&mut self, input: Input, from: Origin) {
        if !matches!(input, Input::Tick) {
            self.ctx
                .trace(|| format!("master <- {}", props::describe_master_input(&input)));
        }
        let subscribe = matches!(
            &input,
            Input::Scheduler {
                call: mesos_proto::scheduler::Call::Subscribe(_),
                ..
            }
        );
        let (req_stream, agent_msg) = match &input {
            Input::Scheduler { stream, .. } => (stream.clone(), false),
            Input::AgentMessage { .. } => (None, true),
            _ => (None, false),
        };
        let watched = match &input {
            _ if !self.ctx.cfg.properties => None,
            Input::AgentMessage { envelope } => match &envelope.message {
                AgentToMaster::StatusUpdate {
                    framework_id,
                    status,
                    ..
                } => {
                    let before = props::master_task_state(self, framework_id, &status.task_id);
                    Some((framework_id.clone(), status.task_id.clone(), before))
                }
                _ => None,
            },
            _ => None,
        };
        let now = self.ctx.master_now();
        let Some(node) = self.master.as_mut() else {
            return;
        };
        let out = node.m.handle(now, input);
        if let Some((fw, task, before)) = watched {
            props::after_master_update(self, &fw, &task, before);
        }
        // The HTTP answer goes first: a SUBSCRIBE's 200 precedes its events.
        match from {
            Origin::Fw(fw) => {
                let at = self.ctx.fate(None).unwrap_or(self.ctx.now + 1_000);
                let chan = if subscribe {
                    req_stream
                        .as_deref()
                        .map(|s| Chan::FwStream(stream_number(s)))
                } else {
                    None
                };
                self.ctx.q.push(
                    at,
                    chan,
                    Ev::FwReply {
                        fw,
                        stream: req_stream,
                        subscribe,
                        reply: out.reply.clone(),
                    },
                );
            }
            Origin::Agent(host) if agent_msg && out.reply == Reply::Reconnect => {
                if let Some(at) = self.ctx.fate(Some(host)) {
                    self.ctx.q.push(at, None, Ev::AgentRefused { host });
                }
            }
            _ => {}
        }
        for effect in out.effects {
            self.master_effect(effect);
        }
    }

    fn master_effect(&mut self, effect: Output) {
        match effect {
            Output::Persist(op) => self.registry.apply(&op),
            Output::ToFramework { stream, event } => {
                let Some(&fw) = self.streams.get(&stream) else {
                    return;
                };
                let chan = Chan::FwStream(stream_number(&stream));
                if self.broken.contains(&chan) {
                    return;
                }
                match self.ctx.fate(None) {
                    Some(at) => self
                        .ctx
                        .q
                        .push(at, Some(chan), Ev::FwEvent { fw, stream, event }),
                    None => {
                        // A lost stream write: the connection resets.
                        self.count("stream resets");
                        self.broken.insert(chan);
                        let at = self.ctx.now + self.ctx.ms(1, 100);
                        self.ctx.q.push(
                            at,
                            Some(chan),
                            Ev::FwStreamEnded {
                                fw,
                                stream: stream.clone(),
                            },
                        );
                        let inc = self.master_inc;
                        self.ctx
                            .notice_to_master(at, inc, Input::StreamClosed { stream });
                    }
                }
            }
            Output::CloseStream { stream } => {
                let Some(&fw) = self.streams.get(&stream) else {
                    return;
                };
                let chan = Chan::FwStream(stream_number(&stream));
                if self.broken.insert(chan) {
                    let at = self.ctx.now + self.ctx.ms(1, 50);
                    self.ctx
                        .q
                        .push(at, Some(chan), Ev::FwStreamEnded { fw, stream });
                }
            }
            Output::ToAgent { conn, message } => {
                let Some(&host) = self.agent_conns.get(&conn) else {
                    return;
                };
                let chan = Chan::AgentStream(conn);
                if self.broken.contains(&chan) {
                    return;
                }
                match self.ctx.fate(Some(host)) {
                    Some(at) => self.ctx.q.push(
                        at,
                        Some(chan),
                        Ev::AgentStream {
                            host,
                            conn,
                            msg: message,
                        },
                    ),
                    None if self.ctx.partitioned.contains(&host) => {
                        // Silently lost; the stream resets when the partition heals.
                        self.broken.insert(chan);
                    }
                    None => {
                        self.count("stream resets");
                        self.reset_agent_stream(host, conn);
                    }
                }
            }
            Output::CloseAgent { conn } => {
                let Some(&host) = self.agent_conns.get(&conn) else {
                    return;
                };
                let chan = Chan::AgentStream(conn);
                if self.broken.insert(chan) && !self.ctx.partitioned.contains(&host) {
                    let at = self.ctx.now + self.ctx.ms(1, 50);
                    self.ctx
                        .q
                        .push(at, Some(chan), Ev::AgentStreamEnded { host, conn });
                }
            }
            Output::Operator(_) => {}
        }
    }
}

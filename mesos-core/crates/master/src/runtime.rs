//! The imperative shell around the state machine: one task owns the `Master`, feeds it
//! inputs and timer ticks, carries out its outputs (registry writes first, then stream
//! writes) and publishes snapshots for the read endpoints.

use crate::registry::Store;
use crate::snapshot::Snapshot;
use crate::state::*;
use bytes::Bytes;
use mesos_proto::recordio;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub type Sink = mpsc::UnboundedSender<Bytes>;

pub enum Cmd {
    Input {
        input: Input,
        reply: Option<oneshot::Sender<Reply>>,
    },
    /// Open a scheduler stream: register its sink, then handle the SUBSCRIBE input.
    Subscribe {
        stream: StreamId,
        sink: Sink,
        input: Input,
        reply: oneshot::Sender<Reply>,
    },
    AgentConnect {
        conn: ConnId,
        sink: Sink,
        input: Input,
        reply: oneshot::Sender<Reply>,
    },
    Stop,
}

pub fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub struct Actor {
    pub master: Master,
    pub store: Box<dyn Store>,
    pub flags: BTreeMap<String, String>,
    pub streams: HashMap<StreamId, Sink>,
    pub agents: HashMap<ConnId, Sink>,
    pub operator: broadcast::Sender<Bytes>,
    pub snapshot: watch::Sender<Arc<Snapshot>>,
    pub dirty: bool,
    /// When the last snapshot was published and how long taking it took: snapshots are
    /// published at most every [`PUBLISH_INTERVAL`], and on a cluster so large that taking
    /// one is slow, at most every [`PUBLISH_COST_FACTOR`] times its cost, so the actor
    /// never spends more than a tenth of its time copying state for readers.
    pub published: (std::time::Instant, Duration),
}

/// The shortest interval between two published snapshots.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);
/// A snapshot taking `d` to build is followed by the next no sooner than `d` times this.
pub const PUBLISH_COST_FACTOR: u32 = 10;

impl Actor {
    /// Whether a changed state is due to be published (checked on the
    /// [`PUBLISH_INTERVAL`] tick).
    fn publish_due(&self) -> bool {
        let (at, cost) = self.published;
        self.dirty && at.elapsed() >= cost * PUBLISH_COST_FACTOR
    }
}

impl Actor {
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let mut tick = tokio::time::interval(PUBLISH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    if !self.command(cmd) { break; }
                    // Drain whatever else is queued before the next tick.
                    while let Ok(cmd) = rx.try_recv() {
                        if !self.command(cmd) { return; }
                    }
                }
                _ = tick.tick() => {
                    self.step(Input::Tick, None);
                    if self.publish_due() {
                        self.publish();
                    }
                }
            }
        }
    }

    fn publish(&mut self) {
        self.dirty = false;
        let started = std::time::Instant::now();
        let snap = Snapshot::take(&self.master, &self.flags, wall_now());
        self.published = (started, started.elapsed());
        let _ = self.snapshot.send(Arc::new(snap));
    }

    fn command(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Input { input, reply } => self.step(input, reply),
            Cmd::Subscribe {
                stream,
                sink,
                input,
                reply,
            } => {
                self.streams.insert(stream, sink);
                self.step(input, Some(reply));
            }
            Cmd::AgentConnect {
                conn,
                sink,
                input,
                reply,
            } => {
                self.agents.insert(conn, sink);
                self.step(input, Some(reply));
            }
            Cmd::Stop => return false,
        }
        true
    }

    fn step(&mut self, input: Input, reply: Option<oneshot::Sender<Reply>>) {
        let is_tick = matches!(input, Input::Tick);
        let outputs = self.master.handle(wall_now(), input);
        if !is_tick || !outputs.effects.is_empty() {
            self.dirty = true;
        }
        for effect in outputs.effects {
            self.effect(effect);
        }
        if let Some(r) = reply {
            let _ = r.send(outputs.reply);
        }
    }

    fn effect(&mut self, effect: Output) {
        match effect {
            Output::Persist(op) => {
                if let Err(e) = self.store.apply(&op) {
                    tracing::error!("registry write failed: {e}");
                }
            }
            Output::ToFramework { stream, event } => {
                if let Some(sink) = self.streams.get(&stream) {
                    let _ = sink.send(Bytes::from(recordio::encode(&event.to_bytes())));
                }
            }
            Output::CloseStream { stream } => {
                self.streams.remove(&stream);
            }
            Output::ToAgent { conn, message } => {
                if let Some(sink) = self.agents.get(&conn) {
                    let body = serde_json::to_vec(&message).expect("agent messages serialize");
                    let _ = sink.send(Bytes::from(recordio::encode(&body)));
                }
            }
            Output::CloseAgent { conn } => {
                self.agents.remove(&conn);
            }
            Output::Operator(ev) => {
                if self.operator.receiver_count() > 0 {
                    let v = self.operator_event(ev);
                    let bytes = serde_json::to_vec(&v).expect("json");
                    let _ = self.operator.send(Bytes::from(recordio::encode(&bytes)));
                }
            }
        }
    }

    fn operator_event(&self, ev: OperatorEvent) -> Value {
        use crate::operator::*;
        match ev {
            OperatorEvent::TaskAdded { task } => {
                json!({"type":"TASK_ADDED","task_added":{"task": task_proto(&task)}})
            }
            OperatorEvent::TaskUpdated {
                framework_id,
                status,
                state,
            } => {
                json!({"type":"TASK_UPDATED","task_updated":{"framework_id": framework_id, "status": status, "state": state.as_str()}})
            }
            OperatorEvent::AgentAdded { agent_id } => {
                let agent = self.master.agents().get(&agent_id).map(|a| {
                    agent_proto(&crate::snapshot::AgentView {
                        record: a.clone(),
                        used: Default::default(),
                        offered: Default::default(),
                    })
                });
                json!({"type":"AGENT_ADDED","agent_added":{"agent": agent}})
            }
            OperatorEvent::AgentRemoved { agent_id } => {
                json!({"type":"AGENT_REMOVED","agent_removed":{"agent_id": agent_id}})
            }
            OperatorEvent::FrameworkAdded { framework_id } => {
                let f = self
                    .master
                    .frameworks()
                    .get(&framework_id)
                    .map(|f| framework_proto(f, &[]));
                json!({"type":"FRAMEWORK_ADDED","framework_added":{"framework": f}})
            }
            OperatorEvent::FrameworkUpdated { framework_id } => {
                let f = self
                    .master
                    .frameworks()
                    .get(&framework_id)
                    .map(|f| framework_proto(f, &[]));
                json!({"type":"FRAMEWORK_UPDATED","framework_updated":{"framework": f}})
            }
            OperatorEvent::FrameworkRemoved { info } => {
                json!({"type":"FRAMEWORK_REMOVED","framework_removed":{"framework_info": info}})
            }
        }
    }
}

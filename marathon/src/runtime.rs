//! The imperative shell around the core: one actor task owns the [`Marathon`] state
//! machine and the store; it feeds it scheduler events, health results, API
//! commands and ticks, and carries out what comes back (store writes first, then
//! calls to the master, events, health checks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesos_core::client::SchedulerClient;
use mesos_core::proto::ids::FrameworkId;
use mesos_core::proto::scheduler::{Call, Event};
use mesos_core::proto::v1::FrameworkInfo;
use tokio::sync::{mpsc, oneshot};

use crate::core::{ApiError, Marathon, Output};
use crate::events::EventBus;
use crate::health::{self, HealthResult, Target};
use crate::store::{Store, StoreOp};

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// At most this many queued messages share one store batch.
const MAX_BATCH: usize = 256;

/// Called once the job's store writes are done (or failed).
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&mut Marathon, f64, &mut Vec<Output>) -> Finish + Send>;

enum Msg {
    Job(Job),
    Subscribed {
        framework_id: String,
        master: String,
    },
    Event(Box<Event>),
    Disconnected,
}

/// How the HTTP layer reaches the core.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Msg>,
    pub bus: EventBus,
}

impl Handle {
    /// Run `f` on the core; its outputs are carried out (store writes included)
    /// before the result comes back. 503 if the store refused the writes.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Marathon, f64, &mut Vec<Output>) -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        let (tx, rx) = oneshot::channel::<Result<R, ApiError>>();
        let job: Job = Box::new(move |m, now, out| {
            let r = f(m, now, out);
            Box::new(move |stored: Result<(), String>| {
                let _ =
                    tx.send(stored.map(|()| r).map_err(|e| {
                        ApiError::new(503, format!("Could not persist the change: {e}"))
                    }));
            })
        });
        self.tx
            .send(Msg::Job(job))
            .map_err(|_| ApiError::new(503, "Marathon is shutting down"))?;
        rx.await
            .map_err(|_| ApiError::new(503, "Could not persist the change"))?
    }

    /// Read-only access (no outputs expected).
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Marathon, f64) -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        self.run(move |m, now, _| f(m, now)).await
    }
}

/// What the connection task needs to know about the framework.
#[derive(Clone)]
pub struct FrameworkSettings {
    pub master: String,
    pub info: FrameworkInfo,
}

/// Start the actor and the connection to the master. Returns the handle and the
/// tasks to abort to stop it all (the actor, the subscription, the call sender).
pub fn start(
    core: Marathon,
    store: Box<dyn Store>,
    bus: EventBus,
    settings: FrameworkSettings,
) -> (Handle, Vec<tokio::task::JoinHandle<()>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let framework_id = Arc::new(Mutex::new(core.framework_id().map(str::to_string)));
    let (calls_tx, calls_rx) = mpsc::unbounded_channel::<Call>();
    let client: Arc<Mutex<Option<SchedulerClient>>> = Arc::new(Mutex::new(None));
    let (resubscribe_tx, resubscribe_rx) = mpsc::unbounded_channel::<()>();
    let sender = tokio::spawn(send_calls(calls_rx, client.clone()));
    let connection = tokio::spawn(connect(
        settings,
        framework_id.clone(),
        client,
        tx.clone(),
        resubscribe_rx,
    ));
    let actor = Actor {
        core,
        store,
        bus: bus.clone(),
        calls: calls_tx,
        checks: HashMap::new(),
        framework_id,
        resubscribe: resubscribe_tx,
    };
    let join = tokio::spawn(actor.run(rx));
    (Handle { tx, bus }, vec![join, connection, sender])
}

struct Actor {
    core: Marathon,
    store: Box<dyn Store>,
    bus: EventBus,
    calls: mpsc::UnboundedSender<Call>,
    checks: HashMap<String, health::Checks>,
    framework_id: Arc<Mutex<Option<String>>>,
    resubscribe: mpsc::UnboundedSender<()>,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let (health_tx, mut health_rx) = mpsc::unbounded_channel::<HealthResult>();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let mut outputs = Vec::new();
            let mut finishes: Vec<Finish> = Vec::new();
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    // Group commit: whatever else is already queued goes into the same
                    // store batch (one SQLite commit or ZooKeeper multi, not one each).
                    let mut msgs = vec![msg];
                    while msgs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(msg) => msgs.push(msg),
                            Err(_) => break,
                        }
                    }
                    self.handle_all(msgs, &mut outputs, &mut finishes);
                }
                Some(h) = health_rx.recv() => {
                    outputs = self.core.health_result(now(), &h.task_id, h.check_index, h.result);
                }
                _ = tick.tick() => outputs = self.core.tick(now()),
            };
            // Persist before acknowledging.
            let stored = self.apply(outputs, &health_tx);
            for finish in finishes {
                finish(stored.clone());
            }
        }
    }

    /// Feed queued messages to the core in order; scheduler events that are queued next to
    /// each other go in together (the core converges once for all of them).
    fn handle_all(
        &mut self,
        msgs: Vec<Msg>,
        outputs: &mut Vec<Output>,
        finishes: &mut Vec<Finish>,
    ) {
        let mut events: Vec<Event> = Vec::new();
        for msg in msgs {
            match msg {
                Msg::Event(ev) => events.push(*ev),
                other => {
                    if !events.is_empty() {
                        outputs.extend(self.core.events(now(), events.drain(..)));
                    }
                    self.handle(other, outputs, finishes);
                }
            }
        }
        if !events.is_empty() {
            outputs.extend(self.core.events(now(), events));
        }
    }

    fn handle(&mut self, msg: Msg, outputs: &mut Vec<Output>, finishes: &mut Vec<Finish>) {
        match msg {
            Msg::Job(job) => finishes.push(job(&mut self.core, now(), outputs)),
            Msg::Subscribed {
                framework_id,
                master,
            } => outputs.extend(self.core.subscribed(now(), &framework_id, &master)),
            Msg::Event(ev) => outputs.extend(self.core.event(now(), *ev)),
            Msg::Disconnected => outputs.extend(self.core.disconnected(now())),
        }
    }

    fn apply(
        &mut self,
        outputs: Vec<Output>,
        health_tx: &mpsc::UnboundedSender<HealthResult>,
    ) -> Result<(), String> {
        *self.framework_id.lock().expect("lock") = self.core.framework_id().map(str::to_string);
        // Store writes go first (one batch), so nothing is announced that is not kept.
        let ops: Vec<_> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Store(ops) => Some(ops.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let ops = last_op_per_key(ops);
        let mut stored = Ok(());
        if !ops.is_empty() {
            // A commit waits for the disk: on a multi-threaded runtime the worker hands its
            // other tasks (the master's and agents' in `mesos-local`) to the others meanwhile.
            let store = &mut self.store;
            let mut write = || store.batch(&ops);
            let result = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                    tokio::task::block_in_place(write)
                }
                _ => write(),
            };
            if let Err(e) = result {
                tracing::error!("store write failed: {e}");
                stored = Err(e);
            }
        }
        for o in outputs {
            match o {
                Output::Store(_) => {}
                Output::Call(c) => {
                    let _ = self.calls.send(*c);
                }
                Output::Event(e) => self.bus.publish(e),
                Output::StartHealth {
                    task_id,
                    host,
                    ports,
                    checks,
                } => {
                    let h = health::start(
                        Target {
                            task_id: task_id.clone(),
                            host,
                            ports,
                        },
                        &checks,
                        health_tx.clone(),
                    );
                    self.checks.insert(task_id, h);
                }
                Output::StopHealth { task_id } => {
                    self.checks.remove(&task_id);
                }
                Output::Resubscribe => {
                    let _ = self.resubscribe.send(());
                }
            }
        }
        stored
    }
}

/// Only the last write of each key, in the order of those last writes: the same end
/// state, and a batch never touches one key twice (ZooKeeper's multi would refuse).
fn last_op_per_key(ops: Vec<StoreOp>) -> Vec<StoreOp> {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        last.insert(op.key().to_string(), i);
    }
    ops.into_iter()
        .enumerate()
        .filter(|(i, op)| last.get(op.key()) == Some(i))
        .map(|(_, op)| op)
        .collect()
}

/// Sends calls in order over the current subscription; calls made while disconnected are
/// dropped (the core reconciles when it subscribes again). Acknowledgements do not queue
/// behind other calls: each one gates the agent's next update of its task, so they go out
/// at once, pipelined over a connection of their own (`Acknowledger`).
async fn send_calls(
    mut rx: mpsc::UnboundedReceiver<Call>,
    client: Arc<Mutex<Option<SchedulerClient>>>,
) {
    // The acknowledger of the current subscription (by stream ID).
    let mut acks: Option<(String, mesos_core::client::Acknowledger)> = None;
    while let Some(call) = rx.recv().await {
        let c = client.lock().expect("lock").clone();
        let Some(c) = c else { continue };
        if let Call::Acknowledge(ack) = call {
            let (_, sender) = match acks.take() {
                Some(a) if a.0 == c.stream_id() => acks.insert(a),
                _ => acks.insert((c.stream_id().to_string(), c.acknowledger())),
            };
            sender.acknowledge(ack);
            continue;
        }
        if let Err(e) = c.call(call).await {
            tracing::warn!("scheduler call failed: {e}");
        }
    }
}

/// Subscribe (again and again), forwarding events to the actor.
async fn connect(
    settings: FrameworkSettings,
    framework_id: Arc<Mutex<Option<String>>>,
    client: Arc<Mutex<Option<SchedulerClient>>>,
    tx: mpsc::UnboundedSender<Msg>,
    mut resubscribe: mpsc::UnboundedReceiver<()>,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        let mut info = settings.info.clone();
        info.id = framework_id
            .lock()
            .expect("lock")
            .clone()
            .map(FrameworkId::new);
        match SchedulerClient::subscribe(&settings.master, info).await {
            Ok((c, mut events)) => {
                delay = Duration::from_millis(200);
                let fid = c.framework_id().value.clone();
                *client.lock().expect("lock") = Some(c);
                if tx
                    .send(Msg::Subscribed {
                        framework_id: fid,
                        master: settings.master.clone(),
                    })
                    .is_err()
                {
                    return;
                }
                loop {
                    tokio::select! {
                        ev = events.next() => match ev {
                            Some(Event::Subscribed(_)) => {}
                            Some(ev) => {
                                if tx.send(Msg::Event(Box::new(ev))).is_err() {
                                    return;
                                }
                            }
                            None => break,
                        },
                        r = resubscribe.recv() => {
                            if r.is_none() { return; }
                            break;
                        }
                    }
                }
                *client.lock().expect("lock") = None;
                if tx.send(Msg::Disconnected).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!("cannot subscribe to {}: {e}", settings.master);
                if let mesos_core::client::ClientError::Refused(m) = &e {
                    if m.contains("removed") || m.contains("unknown") {
                        *framework_id.lock().expect("lock") = None;
                    }
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_the_last_write_of_each_key_in_order() {
        let put = |k: &str, v: &str| StoreOp::Put(k.into(), v.as_bytes().to_vec());
        let ops = vec![
            put("a", "1"),
            put("b", "1"),
            StoreOp::Delete("a".into()),
            put("c", "1"),
            put("b", "2"),
        ];
        assert_eq!(
            last_op_per_key(ops),
            vec![StoreOp::Delete("a".into()), put("c", "1"), put("b", "2")]
        );
    }
}

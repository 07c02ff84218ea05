//! The imperative shell: owns the state machine behind a mutex, applies its outputs
//! (checkpoint writes, messages, process launches), and runs the master connection, the
//! timer and the HTTP server.

use crate::agent::Agent;
use crate::checkpoint::Checkpoint;
use crate::containerizer::{pid_alive, ContainerSpec, Containerizer, ProcessContainerizer};
use crate::flags::{self, AgentFlags};
use crate::state::*;
use crate::view::ViewContext;
use mesos_proto::executor::Event;
use mesos_proto::ids::ContainerId;
use mesos_proto::internal::{AgentBatch, AgentToMaster, MasterToAgent};
use mesos_proto::recordio;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

mod domain_socket;
mod master_link;
use master_link::{follow_leader, master_loop, sender_loop};

/// How often the state machine is ticked (retries, timeouts).
const TICK: Duration = Duration::from_millis(100);
/// How often a running container is checked for limitations (OOM kills).
const LIMITATION_POLL: Duration = Duration::from_secs(1);

pub(crate) struct Core {
    pub agent: Agent,
    checkpoint: Checkpoint,
    pub streams: HashMap<u64, mpsc::UnboundedSender<Event>>,
}

pub(crate) struct Shared {
    core: Mutex<Core>,
    pub view: Mutex<ViewContext>,
    pub work_dir: PathBuf,
    pub heartbeat: Duration,
    containerizer: Arc<dyn Containerizer>,
    launcher_dir: PathBuf,
    /// The docker flags when the docker containerizer is enabled.
    docker: Option<crate::docker::DockerSettings>,
    /// The leading master's base URL (`http://host:port`), None while no leader is known:
    /// fixed for `--master host:port`, followed through ZooKeeper for `--master zk://...`.
    leader: watch::Receiver<Option<String>>,
    /// The master the current connection reached (after redirects); messages go there.
    connected_master: Mutex<Option<String>>,
    /// The highest leader epoch seen; registrations from an older epoch are refused.
    max_epoch: AtomicU64,
    backoff_factor: Duration,
    master_tx: mpsc::UnboundedSender<AgentToMaster>,
    /// Inputs waiting for [`queue_loop`].
    queue: mpsc::UnboundedSender<Queued>,
    reconnect: watch::Sender<u64>,
    next_conn: AtomicU64,
    stopped: AtomicBool,
    background: Mutex<Vec<JoinHandle<()>>>,
}

/// Wall-clock time since the Unix epoch (the state machine's `now`).
pub fn wall_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// An executor call's reply: `Err((status, message))` when refused.
type Reply = Result<(), (u16, String)>;

/// An input waiting in the queue, and where its reply goes.
type Queued = (Input, oneshot::Sender<Option<Reply>>);

/// At most this many queued inputs are handled together.
const MAX_QUEUE_BATCH: usize = 64;

/// Whose container limits to refresh after an input.
enum LimitsTarget {
    Executor(mesos_proto::ids::FrameworkId, mesos_proto::ids::ExecutorId),
    Container(ContainerId),
}

enum Action {
    Launch(Box<LaunchRequest>),
    Destroy(mesos_proto::ids::ContainerId),
    Watch(mesos_proto::ids::ContainerId, u32),
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub fn new_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::SeqCst)
    }

    /// Feed one input to the state machine and carry out its outputs. Returns the reply to
    /// an executor call, if the input produced one.
    pub fn dispatch(self: &Arc<Self>, input: Input) -> Option<Result<(), (u16, String)>> {
        let refresh = self.limits_before(&input);
        let reply = self.dispatch_with(move |agent, now| agent.handle(now, input));
        if let Some(target) = refresh {
            self.refresh_limits(target);
        }
        reply
    }

    /// Feed several inputs to the state machine under one lock: the checkpoint writes of
    /// all of them go in one transaction, before any of their outputs leave, in order.
    /// Returns the reply each input produced.
    fn dispatch_each(self: &Arc<Self>, inputs: Vec<Input>) -> Vec<Option<Reply>> {
        let refresh: Vec<LimitsTarget> = inputs
            .iter()
            .filter_map(|i| self.limits_before(i))
            .collect();
        let n = inputs.len();
        let replies = self.carry_out(n, move |agent, now| {
            inputs.into_iter().map(|i| agent.handle(now, i)).collect()
        });
        for target in refresh {
            self.refresh_limits(target);
        }
        replies
    }

    /// Feed an input to the state machine through the queue: the inputs waiting there when
    /// [`queue_loop`] comes round are handled together (their checkpoint writes in one
    /// transaction). For executor calls and container events, which arrive from many
    /// executors at once under load.
    pub async fn dispatch_queued(self: &Arc<Self>, input: Input) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        match self.queue.send((input, tx)) {
            Ok(()) => rx
                .await
                .unwrap_or_else(|_| Some(Err((503, "Agent is shutting down".into())))),
            // The loop has ended (the agent stops).
            Err(mpsc::error::SendError((input, _))) => self.dispatch(input),
        }
    }

    /// Put inputs in the queue without waiting for them to be handled (in order, after what
    /// is queued already). Without the loop, they are handled at once.
    pub fn enqueue_all(self: &Arc<Self>, inputs: Vec<Input>) {
        for input in inputs {
            let (tx, _) = oneshot::channel();
            if let Err(mpsc::error::SendError((input, _))) = self.queue.send((input, tx)) {
                self.dispatch(input);
            }
        }
    }

    /// Run one state-machine step and carry out its outputs.
    fn dispatch_with(
        self: &Arc<Self>,
        step: impl FnOnce(&mut Agent, Duration) -> Vec<Output>,
    ) -> Option<Reply> {
        self.carry_out(1, move |agent, now| vec![step(agent, now)])
            .pop()
            .flatten()
    }

    /// Run state-machine steps under one lock and carry out their outputs: `steps` gives the
    /// outputs of each of `n` inputs. Everything they checkpoint is written, in one
    /// transaction, before any of their messages leaves. Returns each input's reply.
    fn carry_out(
        self: &Arc<Self>,
        n: usize,
        steps: impl FnOnce(&mut Agent, Duration) -> Vec<Vec<Output>>,
    ) -> Vec<Option<Reply>> {
        if self.stopped() {
            return vec![Some(Err((503, "Agent is shutting down".into()))); n];
        }
        let mut replies = vec![None; n];
        let mut actions = Vec::new();
        {
            let mut core = self.lock();
            let groups = steps(&mut core.agent, wall_now());
            let mut ops = Vec::new();
            let mut rest = Vec::with_capacity(groups.len());
            for outputs in groups {
                let mut r = Vec::with_capacity(outputs.len());
                for o in outputs {
                    match o {
                        Output::Checkpoint(op) => ops.push(op),
                        o => r.push(o),
                    }
                }
                rest.push(r);
            }
            if let Err(e) = core.checkpoint.apply_all(&ops) {
                tracing::error!("Failed to checkpoint: {e}");
            }
            for (i, outputs) in rest.into_iter().enumerate() {
                for o in outputs {
                    match o {
                        Output::Checkpoint(_) => {}
                        Output::ToMaster(m) => {
                            let _ = self.master_tx.send(m);
                        }
                        Output::ToExecutor { conn, event } => {
                            if let Some(tx) = core.streams.get(&conn) {
                                let _ = tx.send(event);
                            }
                        }
                        Output::CloseExecutorStream { conn } => {
                            core.streams.remove(&conn);
                        }
                        Output::Reply(r) => {
                            if let Some(slot) = replies.get_mut(i) {
                                *slot = Some(r);
                            }
                        }
                        Output::Launch(req) => actions.push(Action::Launch(req)),
                        Output::Destroy { container_id } => {
                            actions.push(Action::Destroy(container_id))
                        }
                        Output::Watch { container_id, pid } => {
                            actions.push(Action::Watch(container_id, pid))
                        }
                        Output::Reconnect => {
                            self.reconnect.send_modify(|g| *g += 1);
                        }
                    }
                }
            }
        }
        if !actions.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
            for a in actions {
                self.run_action(a);
            }
        }
        replies
    }

    /// Resource limits around an input. An executor reporting a task terminal may be
    /// reporting an OOM kill: the limitation is reported first (so the agent's
    /// `REASON_CONTAINER_LIMITATION_MEMORY` update wins). Returns the executor whose
    /// container limits to refresh once the input is handled (tasks added or ended).
    fn limits_before(self: &Arc<Self>, input: &Input) -> Option<LimitsTarget> {
        use mesos_proto::executor::CallType;
        match input {
            Input::Master(MasterToAgent::RunTask { framework, task }) => {
                Some(LimitsTarget::Executor(
                    framework.id.clone()?,
                    task.executor
                        .as_ref()
                        .map(|e| e.executor_id.clone())
                        .unwrap_or_else(|| {
                            mesos_proto::ids::ExecutorId::new(task.task_id.value.clone())
                        }),
                ))
            }
            Input::Master(MasterToAgent::RunTaskGroup {
                framework,
                executor,
                ..
            }) => Some(LimitsTarget::Executor(
                framework.id.clone()?,
                executor.executor_id.clone(),
            )),
            Input::ContainerLaunched { container_id, .. } => {
                Some(LimitsTarget::Container(container_id.clone()))
            }
            Input::Executor { call, .. } if call.kind == CallType::Update => {
                let terminal = call
                    .update
                    .as_ref()
                    .is_some_and(|u| u.status.state.is_terminal());
                if !terminal {
                    return None;
                }
                let cid = self
                    .lock()
                    .agent
                    .executors
                    .get(&(call.framework_id.clone(), call.executor_id.clone()))
                    .map(|e| e.container_id.clone())?;
                self.check_limitation(&cid);
                Some(LimitsTarget::Container(cid))
            }
            _ => None,
        }
    }

    /// Apply the limits of the target's container: its executor's resources plus those of its
    /// non-terminal tasks.
    fn refresh_limits(&self, target: LimitsTarget) {
        let found = {
            let core = self.lock();
            let cid = match target {
                LimitsTarget::Container(c) => Some(c),
                LimitsTarget::Executor(f, e) => core
                    .agent
                    .executors
                    .get(&(f, e))
                    .map(|e| e.container_id.clone()),
            };
            cid.and_then(|c| {
                crate::containerizer::container_resources(&core.agent, &c).map(|r| (c, r))
            })
        };
        if let Some((cid, resources)) = found {
            self.containerizer.update(&cid, &resources);
        }
    }

    /// Report the container's limitation, if it ran into one: its tasks fail with the
    /// limitation's reason and the container is destroyed. Returns whether it had one.
    fn check_limitation(self: &Arc<Self>, cid: &ContainerId) -> bool {
        let Some(limitation) = self.containerizer.limitation(cid) else {
            return false;
        };
        let known = self.lock().agent.executor_by_container(cid).is_some();
        if known {
            tracing::warn!("Container {cid}: {}", limitation.message);
            self.dispatch_with(|agent, now| {
                crate::containerizer::limitation_outputs(agent, now, cid, &limitation)
            });
        }
        true
    }

    /// Wait for the container's exit while watching it for limitations.
    async fn wait_container(self: &Arc<Self>, cid: ContainerId) -> Option<i32> {
        let wait = self.containerizer.wait(cid.clone());
        tokio::pin!(wait);
        let mut limited = false;
        loop {
            tokio::select! {
                status = &mut wait => {
                    if !limited {
                        self.check_limitation(&cid);
                    }
                    return status;
                }
                _ = tokio::time::sleep(LIMITATION_POLL), if !limited => {
                    limited = self.check_limitation(&cid);
                }
            }
        }
    }

    fn spawn_bg(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(fut);
        let mut bg = self.background.lock().unwrap_or_else(|p| p.into_inner());
        bg.retain(|h| !h.is_finished());
        bg.push(h);
    }

    fn run_action(self: &Arc<Self>, a: Action) {
        let me = self.clone();
        match a {
            Action::Launch(req) => self.spawn_bg(async move {
                let cid = req.container_id.clone();
                let spec = match me.container_spec(&req) {
                    Ok(s) => s,
                    Err(message) => {
                        me.dispatch_queued(Input::ContainerLaunchFailed {
                            container_id: cid,
                            message,
                        })
                        .await;
                        return;
                    }
                };
                match me.containerizer.launch(spec).await {
                    Ok(pid) => {
                        tracing::info!(
                            "Launched executor '{}' (container {cid}, pid {pid})",
                            req.executor_id
                        );
                        me.dispatch_queued(Input::ContainerLaunched {
                            container_id: cid.clone(),
                            pid,
                        })
                        .await;
                        let status = me.wait_container(cid.clone()).await;
                        me.dispatch_queued(Input::ContainerExited {
                            container_id: cid,
                            status,
                        })
                        .await;
                    }
                    Err(message) => {
                        tracing::warn!(
                            "Failed to launch executor '{}': {message}",
                            req.executor_id
                        );
                        me.dispatch_queued(Input::ContainerLaunchFailed {
                            container_id: cid,
                            message,
                        })
                        .await;
                    }
                }
            }),
            Action::Destroy(cid) => {
                let me2 = me.clone();
                tokio::spawn(async move { me2.containerizer.destroy(cid).await });
            }
            Action::Watch(cid, pid) => self.spawn_bg(async move {
                me.containerizer.recover(cid.clone(), pid).await;
                let status = me.wait_container(cid.clone()).await;
                me.dispatch_queued(Input::ContainerExited {
                    container_id: cid,
                    status,
                })
                .await;
            }),
        }
    }

    /// Resolve what to run for an executor.
    fn container_spec(&self, req: &LaunchRequest) -> Result<ContainerSpec, String> {
        let mut env = req.env.clone();
        let command = req.executor_info.command.clone();
        if let Some(vars) = command.as_ref().and_then(|c| c.environment.as_ref()) {
            for v in &vars.variables {
                if let Some(value) = &v.value {
                    env.push((v.name.clone(), value.clone()));
                }
            }
        }
        let mut spec = ContainerSpec {
            container_id: req.container_id.clone(),
            sandbox: req.sandbox.clone(),
            program: PathBuf::new(),
            arg0: None,
            args: Vec::new(),
            env,
            resources: req.resources.clone(),
            // Set below for the built-in executors.
            self_isolating: false,
        };
        if !req.command_executor && crate::executors::is_default_executor(&req.executor_info) {
            // The default executor (task groups): `mesos-default-executor` if installed, else
            // `mesos-executor` or this binary in default-executor mode.
            spec.program = ["mesos-default-executor", "mesos-executor"]
                .iter()
                .map(|n| self.launcher_dir.join(n))
                .find(|b| b.is_file())
                .map_or_else(std::env::current_exe, Ok)
                .map_err(|e| format!("Cannot find the agent binary: {e}"))?;
            spec.env.push((
                crate::executor::EXECUTOR_MODE_ENV.to_string(),
                crate::executor::ExecutorMode::Default.as_str().to_string(),
            ));
            spec.args = vec![format!("--launcher_dir={}", self.launcher_dir.display())];
            spec.self_isolating = true;
            return Ok(spec);
        }
        if crate::executors::is_docker_command_executor(req.command_executor, &req.executor_info) {
            // The docker executor: `mesos-docker-executor` if installed, else `mesos-executor`
            // or this binary in docker mode.
            let settings = self
                .docker
                .as_ref()
                .ok_or("The docker containerizer is not enabled (--containerizers)")?;
            spec.program = ["mesos-docker-executor", "mesos-executor"]
                .iter()
                .map(|n| self.launcher_dir.join(n))
                .find(|b| b.is_file())
                .map_or_else(std::env::current_exe, Ok)
                .map_err(|e| format!("Cannot find the agent binary: {e}"))?;
            spec.env.push((
                crate::executor::EXECUTOR_MODE_ENV.to_string(),
                crate::executor::ExecutorMode::Docker.as_str().to_string(),
            ));
            spec.env.extend(settings.env(&req.container_id));
            spec.args = vec![format!("--launcher_dir={}", self.launcher_dir.display())];
            spec.self_isolating = true;
            return Ok(spec);
        }
        if req.command_executor {
            let bin = self.launcher_dir.join("mesos-executor");
            if bin.is_file() {
                spec.program = bin;
            } else {
                spec.program = std::env::current_exe()
                    .map_err(|e| format!("Cannot find the agent binary: {e}"))?;
                spec.env.push((
                    crate::executor::EXECUTOR_MODE_ENV.to_string(),
                    "command".to_string(),
                ));
            }
            spec.args = vec![format!("--launcher_dir={}", self.launcher_dir.display())];
            spec.self_isolating = true;
            return Ok(spec);
        }
        let cmd = command.ok_or("ExecutorInfo has no 'command'")?;
        let value = cmd.value.clone().unwrap_or_default();
        if cmd.shell {
            spec.program = PathBuf::from("/bin/sh");
            spec.args = vec!["-c".into(), value];
        } else {
            if value.is_empty() {
                return Err("ExecutorInfo.command.value is empty".into());
            }
            spec.program = PathBuf::from(value);
            spec.arg0 = cmd.arguments.first().cloned();
            spec.args = cmd.arguments.iter().skip(1).cloned().collect();
        }
        Ok(spec)
    }
}

/// A running agent.
pub struct AgentHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    server_stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

impl AgentHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The agent ID, once registered (or recovered).
    pub fn agent_id(&self) -> Option<String> {
        self.shared
            .lock()
            .agent
            .agent_id
            .as_ref()
            .map(|a| a.value.clone())
    }

    /// Stop the agent. `kill_executors = false` leaves executors running (restart semantics).
    pub async fn shutdown(self, kill_executors: bool) {
        let containers: Vec<mesos_proto::ids::ContainerId> = {
            let mut core = self.shared.lock();
            core.streams.clear();
            core.agent
                .executors
                .values()
                .map(|e| e.container_id.clone())
                .collect()
        };
        self.shared.stopped.store(true, Ordering::SeqCst);
        if kill_executors {
            for cid in containers {
                self.shared.containerizer.destroy(cid).await;
            }
        }
        for h in &self.loops {
            h.abort();
        }
        let bg: Vec<JoinHandle<()>> = std::mem::take(
            &mut *self
                .shared
                .background
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for h in bg {
            h.abort();
        }
        let _ = self.server_stop.send(true);
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
            let _ = server.await;
        }
        for h in self.loops {
            let _ = h.await;
        }
    }
}

/// Bind the HTTP port, recover the checkpoint and connect to the master in the background.
pub async fn start(flags: AgentFlags) -> Result<AgentHandle, String> {
    let resolved = flags::resolve(&flags)?;
    let (cgroups, isolation) =
        crate::cgroups::from_flag(flags.isolation.as_deref(), flags.cgroups_enable_cfs)?;
    std::fs::create_dir_all(&flags.work_dir)
        .map_err(|e| format!("Cannot create --work_dir {}: {e}", flags.work_dir.display()))?;
    let work_dir = flags
        .work_dir
        .canonicalize()
        .map_err(|e| format!("Invalid --work_dir {}: {e}", flags.work_dir.display()))?;
    let ip: std::net::IpAddr = flags
        .ip
        .parse()
        .map_err(|_| format!("Invalid --ip '{}'", flags.ip))?;
    let listener = tokio::net::TcpListener::bind((ip, flags.port))
        .await
        .map_err(|e| format!("Cannot bind {}:{}: {e}", flags.ip, flags.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let domain_socket = if flags.http_executor_domain_sockets {
        domain_socket::location(flags.domain_socket_location.as_deref(), &work_dir)?
    } else {
        None
    };
    let unix_listener = domain_socket
        .as_deref()
        .map(domain_socket::bind)
        .transpose()?;
    let advertise = if ip.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        ip.to_string()
    };
    let cfg = AgentConfig {
        work_dir: work_dir.clone(),
        hostname: resolved.hostname.clone(),
        ip: advertise,
        port: addr.port(),
        domain_socket,
        resources: resolved.resources.clone(),
        attributes: resolved.attributes.clone(),
        executor_registration_timeout: flags.executor_registration_timeout.0,
        executor_shutdown_grace_period: flags.executor_shutdown_grace_period.0,
        status_update_retry_base: flags
            .status_update_retry_interval
            .0
            .max(Duration::from_millis(10)),
        status_update_retry_max: Duration::from_secs(600),
        recover_cleanup: flags.recover == "cleanup",
        command_executor_path: resolved
            .launcher_dir
            .join("mesos-executor")
            .display()
            .to_string(),
        containerizers: resolved.containerizers.clone(),
    };
    let checkpoint = Checkpoint::open(&work_dir)?;
    let recovered = checkpoint.load(pid_alive)?;
    let process = ProcessContainerizer::with_cgroups(cgroups);
    let live: Vec<ContainerId> = recovered
        .executors
        .iter()
        .filter(|(_, alive)| *alive)
        .map(|(e, _)| e.container_id.clone())
        .collect();
    process.cleanup_unknown(&live);
    let mut containerizer: Arc<dyn Containerizer> = process;
    let mut docker_settings = None;
    if resolved.containerizers.iter().any(|c| c == "docker") {
        let engine = crate::docker::connect(&flags.docker_socket)
            .await
            .map_err(|e| format!("Failed to create the docker containerizer: {e}"))?;
        if let Some(aid) = recovered.agent_info.as_ref().and_then(|a| a.id.as_ref()) {
            match crate::docker::remove_orphans(&engine, &aid.value, &live).await {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!("Removed orphan Docker containers {removed:?}")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("Cannot list Docker containers for orphans: {e}"),
            }
        }
        containerizer = crate::docker::DockerContainerizer::new(containerizer, engine);
        docker_settings = Some(crate::docker::DockerSettings {
            socket: flags.docker_socket.clone(),
            volume_host_paths_allowed: resolved.docker_volume_host_paths_allowed.clone(),
            privileged_allowed: flags.docker_privileged_allowed,
            cgroups_enable_cfs: flags.cgroups_enable_cfs,
        });
    }
    let agent = Agent::new(cfg, rand::random::<u128>(), wall_now());
    let (master_tx, master_rx) = mpsc::unbounded_channel();
    let (queue, queue_rx) = mpsc::unbounded_channel();
    let (reconnect, _) = watch::channel(0u64);
    let mut flag_map = flags.to_map();
    flag_map.insert("port".into(), addr.port().to_string());
    flag_map.insert("isolation".into(), isolation);
    let shared = Arc::new(Shared {
        core: Mutex::new(Core {
            agent,
            checkpoint,
            streams: HashMap::new(),
        }),
        view: Mutex::new(ViewContext {
            flags: flag_map,
            master_hostname: None,
        }),
        work_dir,
        heartbeat: flags
            .executor_heartbeat_interval
            .0
            .max(Duration::from_millis(100)),
        containerizer,
        launcher_dir: resolved.launcher_dir.clone(),
        docker: docker_settings,
        leader: follow_leader(&resolved.master_url),
        connected_master: Mutex::new(None),
        max_epoch: AtomicU64::new(0),
        backoff_factor: flags.registration_backoff_factor.0,
        master_tx,
        queue,
        reconnect,
        next_conn: AtomicU64::new(1),
        stopped: AtomicBool::new(false),
        background: Mutex::new(Vec::new()),
    });
    shared.dispatch(Input::Recover(recovered));

    let (server_stop, mut stop_rx) = watch::channel(false);
    let app = crate::http::router(shared.clone()).merge(monitor_router(shared.clone()));
    let unix_stop = stop_rx.clone();
    let unix_app = app.clone();
    let server = tokio::spawn(async move {
        let serve = std::future::IntoFuture::into_future(
            axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            }),
        );
        let unix = async move {
            if let Some(l) = unix_listener {
                domain_socket::serve(l, unix_app, unix_stop).await;
            }
        };
        let (served, ()) = tokio::join!(serve, unix);
        if let Err(e) = served {
            tracing::error!("Agent HTTP server failed: {e}");
        }
    });
    let loops = vec![
        tokio::spawn(tick_loop(shared.clone())),
        tokio::spawn(master_loop(shared.clone())),
        tokio::spawn(sender_loop(shared.clone(), master_rx)),
        tokio::spawn(queue_loop(shared.clone(), queue_rx)),
    ];
    tracing::info!("Agent listening on {addr}, master {}", resolved.master_url);
    Ok(AgentHandle {
        addr,
        shared,
        server,
        server_stop,
        loops,
    })
}

/// Handle queued inputs: everything waiting when the loop comes round goes to the state
/// machine together (group commit: one checkpoint transaction for all of them), then each
/// gets its reply. Under load, many executors' updates share one commit.
async fn queue_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(first) = rx.recv().await {
        // Let the other ready tasks (executors' connections) queue theirs first.
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < MAX_QUEUE_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let (inputs, waiting): (Vec<Input>, Vec<_>) = batch.into_iter().unzip();
        let replies = shared.dispatch_each(inputs);
        for (tx, reply) in waiting.into_iter().zip(replies) {
            let _ = tx.send(reply);
        }
    }
}

/// `/monitor/statistics` (also `.json` and under `/slave(1)`).
fn monitor_router(shared: Arc<Shared>) -> axum::Router {
    use axum::routing::get;
    let mut r = axum::Router::new();
    for prefix in ["", "/slave(1)"] {
        for suffix in ["", ".json"] {
            r = r.route(
                &format!("{prefix}/monitor/statistics{suffix}"),
                get(monitor_statistics),
            );
        }
    }
    r.with_state(shared)
}

/// One entry per live executor: its limits (from its resources, or read back from its
/// cgroups when they are enforced) and cgroup usage, as Mesos' `ResourceUsage`.
async fn monitor_statistics(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let now = wall_now().as_secs_f64();
    let executors: Vec<(
        ContainerId,
        serde_json::Value,
        Option<mesos_proto::resources::Resources>,
    )> = {
        let core = shared.lock();
        core.agent
            .executors
            .values()
            .filter(|e| e.pid.is_some() && !e.phase.terminating())
            .map(|e| {
                let head = serde_json::json!({
                    "executor_id": e.info.executor_id.value,
                    "executor_name": e.info.name.clone().unwrap_or_default(),
                    "framework_id": e.framework_id.value,
                    "source": e.info.source.clone().unwrap_or_default(),
                });
                let res = crate::containerizer::container_resources(&core.agent, &e.container_id);
                (e.container_id.clone(), head, res)
            })
            .collect()
    };
    let mut out = Vec::new();
    for (cid, mut entry, res) in executors {
        let mut stats = serde_json::json!({ "timestamp": now });
        if let Some(r) = &res {
            stats["cpus_limit"] = serde_json::json!(r.quantity("cpus"));
            stats["mem_limit_bytes"] = serde_json::json!((r.quantity("mem") * 1048576.0) as u64);
        }
        if let Some(u) = shared.containerizer.usage(&cid) {
            let fields = [
                ("cpus_limit", u.cpus_limit.map(serde_json::Value::from)),
                (
                    "mem_limit_bytes",
                    u.mem_limit_bytes.map(serde_json::Value::from),
                ),
                (
                    "mem_rss_bytes",
                    u.mem_rss_bytes.map(serde_json::Value::from),
                ),
                (
                    "cpus_user_time_secs",
                    u.cpus_user_time_secs.map(serde_json::Value::from),
                ),
                (
                    "cpus_system_time_secs",
                    u.cpus_system_time_secs.map(serde_json::Value::from),
                ),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    stats[k] = v;
                }
            }
        }
        entry["statistics"] = stats;
        out.push(entry);
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::Value::Array(out).to_string(),
    )
        .into_response()
}

async fn tick_loop(shared: Arc<Shared>) {
    let mut iv = tokio::time::interval(TICK);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        iv.tick().await;
        shared.dispatch(Input::Tick);
    }
}

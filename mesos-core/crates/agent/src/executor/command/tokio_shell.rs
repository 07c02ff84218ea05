//! The command executor on tokio, for Docker tasks: the engine client (bollard) is
//! asynchronous. Carries out what [`Executor`] decides.

use super::{log, DockerTask, Executor, Input, Output};
use crate::executor::docker::{self as dk, DockerEvent};
use crate::executor::health::{self, HealthChecker};
use crate::executor::session::{
    path_in, signal_group, spawn_in_own_group, task_process, Connection, ExecutorEnv, Session,
};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What the shell holds besides the executor's state.
struct Shell {
    session: Session,
    exit_tx: mpsc::UnboundedSender<i32>,
    docker_tx: mpsc::UnboundedSender<DockerEvent>,
    health_tx: mpsc::UnboundedSender<Result<(), String>>,
    /// Probing while set; dropping it stops the probes.
    health: Option<HealthChecker>,
    /// Docker mode: the engine, once reached for the launch.
    engine: Option<bollard::Docker>,
}

/// Run the command executor (`docker`: in docker mode) until it is done; the exit code.
pub(crate) async fn run(env: ExecutorEnv, docker: bool) -> i32 {
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<i32>();
    let (docker_tx, mut docker_rx) = mpsc::unbounded_channel::<DockerEvent>();
    let (health_tx, mut health_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let mut ex = Executor::new(env.clone(), docker.then(DockerTask::from_env));
    let mut shell = Shell {
        session: Session::new(env, log, false),
        exit_tx,
        docker_tx,
        health_tx,
        health: None,
        engine: None,
    };
    let mut conn = Connection::new();
    loop {
        if ex.finished() {
            return 0;
        }
        if conn
            .resubscribe(&shell.session, ex.unacknowledged_tasks())
            .await
            .is_err()
        {
            shell.step(&mut ex, Input::AgentLost).await;
            return 1;
        }
        let timer = conn.wake_at(ex.deadline().map(tokio::time::Instant::from_std));
        tokio::select! {
            records = conn.next_records(&shell.session) => {
                for rec in records {
                    if let Some(e) = shell.session.event(&rec) {
                        if let mesos_proto::executor::Event::Acknowledged { acknowledged } = &e {
                            shell.session.acknowledged(&acknowledged.uuid);
                        }
                        shell.step(&mut ex, Input::Event(e)).await;
                    }
                }
            }
            Some(status) = exit_rx.recv() => shell.step(&mut ex, Input::Exited(status)).await,
            Some(event) = docker_rx.recv() => shell.step(&mut ex, Input::Docker(event)).await,
            Some(result) = health_rx.recv() => shell.step(&mut ex, Input::Health(result)).await,
            _ = tokio::time::sleep_until(timer) => shell.step(&mut ex, Input::Tick).await,
        }
    }
}

impl Shell {
    /// Hand `input` to the executor and carry out what it decides, including what it
    /// decides on the results (a spawned process, an unreachable engine).
    async fn step(&mut self, ex: &mut Executor, input: Input) {
        let mut todo: std::collections::VecDeque<Output> = ex.handle(Instant::now(), input).into();
        while let Some(output) = todo.pop_front() {
            let next = match output {
                Output::Send(status) => {
                    self.session.send(status).await;
                    None
                }
                Output::Spawn { command, env } => {
                    let spawned = task_process(&command, path_in(&env)).and_then(|mut c| {
                        c.envs(env).current_dir(&ex.env().sandbox);
                        spawn_in_own_group(c, self.exit_tx.clone(), |status| status)
                    });
                    Some(Input::Spawned(spawned))
                }
                Output::Signal(pid, signal) => {
                    signal_group(pid, signal);
                    None
                }
                Output::StartHealth(check, ctx) => {
                    self.health = Some(health::start(check, ctx, self.health_tx.clone()));
                    None
                }
                Output::StopHealth => {
                    self.health = None;
                    None
                }
                Output::LaunchContainer(plan) => self.launch_container(ex, *plan).await,
                Output::StopContainer(grace) => {
                    if let (Some(engine), Some(d)) = (&self.engine, ex.docker()) {
                        tokio::spawn(dk::stop_container(engine.clone(), d.name.clone(), grace));
                    }
                    None
                }
                Output::KillContainer => {
                    if let (Some(engine), Some(d)) = (&self.engine, ex.docker()) {
                        let kill = dk::kill_container(engine.clone(), d.name.clone());
                        let _ = tokio::time::timeout(Duration::from_secs(10), kill).await;
                    }
                    None
                }
            };
            if let Some(input) = next {
                todo.extend(ex.handle(Instant::now(), input));
            }
        }
    }

    /// Reach the engine and start running the container in the background.
    async fn launch_container(&mut self, ex: &Executor, plan: dk::Plan) -> Option<Input> {
        let d = ex.docker()?;
        let engine = match crate::docker::connect(&d.settings.socket).await {
            Ok(engine) => engine,
            Err(e) => return Some(Input::EngineUnreachable(e.to_string())),
        };
        tokio::spawn(dk::run_container(
            engine.clone(),
            plan,
            d.name.clone(),
            ex.env().sandbox.clone(),
            self.docker_tx.clone(),
        ));
        self.engine = Some(engine);
        None
    }
}

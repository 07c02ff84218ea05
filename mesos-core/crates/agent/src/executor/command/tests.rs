//! The command executor's decisions, without processes or an agent.

use super::*;
use mesos_proto::executor::LaunchEv;
use mesos_proto::ids::*;

fn env() -> ExecutorEnv {
    ExecutorEnv {
        agent_endpoint: "127.0.0.1:5051".into(),
        domain_socket: None,
        framework_id: FrameworkId::new("f"),
        executor_id: ExecutorId::new("e"),
        sandbox: "/tmp".into(),
        shutdown_grace: Duration::from_secs(5),
        recovery_timeout: Duration::from_secs(900),
        backoff_max: Duration::from_secs(2),
    }
}

fn task() -> TaskInfo {
    TaskInfo {
        command: Some(CommandInfo::shell("sleep 600")),
        ..TaskInfo::new("t", TaskId::new("t"), AgentId::new("a-S1"))
    }
}

fn launch(t: TaskInfo) -> Input {
    Input::Event(Event::Launch {
        launch: LaunchEv { task: t },
    })
}

fn kill() -> Input {
    Input::Event(Event::Kill {
        kill: KillEv {
            task_id: TaskId::new("t"),
            kill_policy: None,
        },
    })
}

/// The states of the updates among `out`.
fn sent(out: &[Output]) -> Vec<TaskState> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(s) => Some(s.state),
            _ => None,
        })
        .collect()
}

fn ack_of(out: &[Output]) -> Input {
    let uuid = out
        .iter()
        .rev()
        .find_map(|o| match o {
            Output::Send(s) => s.uuid.clone(),
            _ => None,
        })
        .expect("an update");
    Input::Event(Event::Acknowledged {
        acknowledged: AcknowledgedEv {
            task_id: TaskId::new("t"),
            uuid,
        },
    })
}

#[test]
fn a_task_starts_runs_finishes_and_the_executor_ends_once_that_is_acknowledged() {
    let now = Instant::now();
    let mut ex = Executor::new(env(), None);
    let out = ex.handle(now, launch(task()));
    assert_eq!(sent(&out), vec![TaskState::TaskStarting]);
    let Some(Output::Spawn { command, env }) = out.get(1) else {
        panic!("{out:?}");
    };
    assert_eq!(command.value.as_deref(), Some("sleep 600"));
    assert!(env.iter().any(|(k, v)| k == "MESOS_TASK_ID" && v == "t"));
    assert_eq!(ex.unacknowledged_tasks().len(), 1);
    let out = ex.handle(now, Input::Spawned(Ok(42)));
    assert_eq!(sent(&out), vec![TaskState::TaskRunning]);
    let out = ex.handle(now, Input::Exited(0));
    assert!(
        matches!(out[0], Output::Signal(42, libc::SIGKILL)),
        "{out:?}"
    );
    assert_eq!(sent(&out), vec![TaskState::TaskFinished]);
    assert!(!ex.finished());
    // The agent acknowledges the terminal update: done.
    ex.handle(now, ack_of(&out));
    assert!(ex.finished());
    assert!(ex.unacknowledged_tasks().is_empty());
}

#[test]
fn a_kill_sends_sigterm_then_sigkill_after_the_grace_period() {
    let now = Instant::now();
    let mut ex = Executor::new(env(), None);
    ex.handle(now, launch(task()));
    ex.handle(now, Input::Spawned(Ok(7)));
    let out = ex.handle(now, kill());
    assert!(
        matches!(out[..], [Output::Signal(7, libc::SIGTERM)]),
        "{out:?}"
    );
    assert_eq!(ex.deadline(), Some(now + DEFAULT_KILL_GRACE));
    // Nothing before the deadline; SIGKILL at it.
    assert!(ex
        .handle(now + Duration::from_secs(1), Input::Tick)
        .is_empty());
    let out = ex.handle(now + DEFAULT_KILL_GRACE, Input::Tick);
    assert!(
        matches!(out[..], [Output::Signal(7, libc::SIGKILL)]),
        "{out:?}"
    );
    let out = ex.handle(now + DEFAULT_KILL_GRACE, Input::Exited(libc::SIGKILL));
    assert_eq!(sent(&out), vec![TaskState::TaskKilled]);
    // The only deadline left is the failsafe exit.
    assert_eq!(
        ex.deadline(),
        Some(now + DEFAULT_KILL_GRACE + EXIT_FAILSAFE)
    );
}

#[test]
fn a_kill_before_the_launch_reports_the_task_killed() {
    let mut ex = Executor::new(env(), None);
    let out = ex.handle(Instant::now(), kill());
    assert_eq!(sent(&out), vec![TaskState::TaskKilled]);
}

#[test]
fn a_command_that_cannot_start_fails_the_task() {
    let now = Instant::now();
    let mut ex = Executor::new(env(), None);
    ex.handle(now, launch(task()));
    let out = ex.handle(now, Input::Spawned(Err("No such file".into())));
    let [Output::Send(s)] = &out[..] else {
        panic!("{out:?}");
    };
    assert_eq!(s.state, TaskState::TaskFailed);
    assert_eq!(
        s.message.as_deref(),
        Some("Failed to launch the command: No such file")
    );
    // A second task on the same command executor is refused.
    let mut other = task();
    other.task_id = TaskId::new("u");
    let out = ex.handle(now, launch(other));
    assert_eq!(sent(&out), vec![TaskState::TaskFailed]);
}

#[test]
fn an_agent_lost_for_good_kills_the_task() {
    let now = Instant::now();
    let mut ex = Executor::new(env(), None);
    ex.handle(now, launch(task()));
    ex.handle(now, Input::Spawned(Ok(9)));
    let out = ex.handle(now, Input::AgentLost);
    assert!(
        matches!(out[..], [Output::Signal(9, libc::SIGKILL)]),
        "{out:?}"
    );
}

//! Simulated executor processes. In reality an executor is a process in its own session
//! that outlives an agent restart; here it is a small state machine on the host that
//! speaks the v1 executor API to the agent: it subscribes (again after losing its
//! connection, with its unacknowledged tasks and updates), reports TASK_RUNNING for each
//! task it is given, TASK_KILLED on KILL or SHUTDOWN, may end a task on its own, and exits
//! once its tasks are terminal and acknowledged (the command executor's life).

use crate::net::{Chan, Ev, ExecTimer};
use crate::sim::Sim;
use mesos_agent::state::Input;
use mesos_proto::executor::{Call, CallType, Event, Subscribe, UnacknowledgedUpdate, Update};
use mesos_proto::ids::{ContainerId, ExecutorId, FrameworkId, TaskId};
use mesos_proto::v1::{TaskInfo, TaskState, TaskStatus};
use rand::Rng;
use std::collections::BTreeMap;

/// How long an executor waits for its agent to come back (`MESOS_RECOVERY_TIMEOUT`).
const RECOVERY_TIMEOUT_MS: u64 = 15 * 60 * 1000;

pub(crate) struct ProcTask {
    /// Boxed: an executor usually holds one task, and a B-tree's first node has room for
    /// eleven values, so an unboxed `TaskInfo` (about 1 KB) cost about 10 KB per executor.
    pub info: Box<TaskInfo>,
    pub state: Option<TaskState>,
}

pub(crate) struct Proc {
    pub pid: u32,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub alive: bool,
    /// The subscribed connection.
    pub conn: Option<u64>,
    /// A SUBSCRIBE in flight on this connection.
    pub pending_conn: Option<u64>,
    pub disconnected_since: Option<u64>,
    pub tasks: BTreeMap<TaskId, ProcTask>,
    /// Updates sent and not acknowledged, in order.
    pub unacked: Vec<TaskStatus>,
    pub shutting_down: bool,
    pub exiting: bool,
}

impl Sim {
    /// The containerizer started a container for the agent incarnation `inc`.
    pub(crate) fn container_started(&mut self, h: usize, inc: u64, cid: ContainerId) {
        let host = &mut self.hosts[h];
        let Some(req) = host.launching.remove(&cid) else {
            return;
        };
        if host.inc != inc || host.agent.is_none() {
            return;
        }
        host.next_pid += 1;
        let pid = host.next_pid;
        host.procs.insert(
            cid.clone(),
            Proc {
                pid,
                framework_id: req.framework_id.clone(),
                executor_id: req.executor_id.clone(),
                alive: true,
                conn: None,
                pending_conn: None,
                disconnected_since: None,
                tasks: BTreeMap::new(),
                unacked: Vec::new(),
                shutting_down: false,
                exiting: false,
            },
        );
        self.count("executors started");
        self.ctx
            .trace(|| format!("agent{h} started container {cid} (pid {pid})"));
        self.agent_input(
            h,
            Input::ContainerLaunched {
                container_id: cid.clone(),
                pid,
            },
            None,
        );
        let at = self.ctx.now + self.ctx.ms(10, 300);
        self.exec_timer_at(h, cid, ExecTimer::Subscribe, at);
    }

    fn exec_timer_at(&mut self, h: usize, cid: ContainerId, timer: ExecTimer, at: u64) {
        self.ctx.q.push(
            at,
            None,
            Ev::ExecTimer {
                host: h,
                cid,
                timer,
            },
        );
    }

    pub(crate) fn exec_timer(&mut self, h: usize, cid: ContainerId, timer: ExecTimer) {
        let Some(p) = self.hosts[h].procs.get(&cid) else {
            return;
        };
        if !p.alive {
            return;
        }
        match timer {
            ExecTimer::Subscribe => self.exec_subscribe(h, cid),
            ExecTimer::End(task, state) => {
                let live = p
                    .tasks
                    .get(&task)
                    .is_some_and(|t| !t.state.is_some_and(|s| s.is_terminal()));
                if live && !self.ctx.quiet {
                    self.count("tasks ended by themselves");
                    self.exec_update(h, &cid, task, state);
                }
            }
            ExecTimer::Exit(status) => self.kill_process(h, &cid, status),
        }
    }

    fn exec_subscribe(&mut self, h: usize, cid: ContainerId) {
        let now = self.ctx.now;
        let agent_up = self.hosts[h].agent.is_some();
        let inc = self.hosts[h].inc;
        let Some(p) = self.hosts[h].procs.get_mut(&cid) else {
            return;
        };
        if p.conn.is_some() || p.pending_conn.is_some() || p.exiting {
            return;
        }
        if !agent_up {
            let since = *p.disconnected_since.get_or_insert(now);
            if now - since > RECOVERY_TIMEOUT_MS {
                self.ctx
                    .trace(|| format!("executor {cid} gives up on agent{h}"));
                self.kill_process(h, &cid, 1 << 8);
            } else {
                let at = now + 1_000;
                self.exec_timer_at(h, cid, ExecTimer::Subscribe, at);
            }
            return;
        }
        let conn = self.ctx.id();
        p.pending_conn = Some(conn);
        let subscribe = Subscribe {
            unacknowledged_tasks: p
                .tasks
                .values()
                .filter(|t| t.state.is_none())
                .map(|t| (*t.info).clone())
                .collect(),
            unacknowledged_updates: p
                .unacked
                .iter()
                .map(|s| UnacknowledgedUpdate {
                    status: Some(s.clone()),
                })
                .collect(),
        };
        let call = Call {
            executor_id: p.executor_id.clone(),
            framework_id: p.framework_id.clone(),
            kind: CallType::Subscribe,
            subscribe: Some(subscribe),
            update: None,
            message: None,
        };
        self.hosts[h].exec_conns.insert(conn, cid.clone());
        let at = self.ctx.local();
        self.ctx.q.push(
            at,
            Some(Chan::Exec(h, conn)),
            Ev::ExecCall {
                host: h,
                inc,
                cid,
                conn: Some(conn),
                call,
            },
        );
    }

    /// An executor call reaches the agent (or fails if the agent it was sent to is gone).
    pub(crate) fn exec_call(
        &mut self,
        h: usize,
        inc: u64,
        cid: ContainerId,
        conn: Option<u64>,
        call: Call,
    ) {
        if self.hosts[h].inc != inc || self.hosts[h].agent.is_none() {
            let at = self.ctx.local();
            self.ctx.q.push(
                at,
                None,
                Ev::ExecReply {
                    host: h,
                    cid,
                    conn,
                    ok: false,
                },
            );
            return;
        }
        self.agent_input(h, Input::Executor { call, conn }, Some((cid, conn)));
    }

    pub(crate) fn exec_reply(&mut self, h: usize, cid: ContainerId, conn: Option<u64>, ok: bool) {
        let Some(p) = self.hosts[h].procs.get_mut(&cid) else {
            return;
        };
        let Some(c) = conn else { return };
        if p.pending_conn != Some(c) {
            return;
        }
        p.pending_conn = None;
        if ok && p.alive {
            p.conn = Some(c);
            p.disconnected_since = None;
        } else {
            let alive = p.alive;
            self.hosts[h].exec_conns.remove(&c);
            if alive {
                let at = self.ctx.now + 1_000;
                self.exec_timer_at(h, cid, ExecTimer::Subscribe, at);
            }
        }
    }

    pub(crate) fn exec_event(&mut self, h: usize, conn: u64, event: Event) {
        let Some(cid) = self.hosts[h].exec_conns.get(&conn).cloned() else {
            return;
        };
        let Some(p) = self.hosts[h].procs.get_mut(&cid) else {
            return;
        };
        if !p.alive || (p.conn != Some(conn) && p.pending_conn != Some(conn)) {
            return;
        }
        match event {
            Event::Launch { launch } => self.exec_launch(h, &cid, vec![launch.task]),
            Event::LaunchGroup { launch_group } => {
                self.exec_launch(h, &cid, launch_group.task_group.tasks)
            }
            Event::Kill { kill } => {
                let live = p
                    .tasks
                    .get(&kill.task_id)
                    .is_some_and(|t| !t.state.is_some_and(|s| s.is_terminal()));
                if live {
                    self.exec_update(h, &cid, kill.task_id, TaskState::TaskKilled);
                }
            }
            Event::Acknowledged { acknowledged } => {
                p.unacked
                    .retain(|s| s.uuid.as_deref() != Some(acknowledged.uuid.as_str()));
                if p.unacked.is_empty() {
                    p.unacked.shrink_to_fit();
                }
                self.exec_maybe_exit(h, &cid);
            }
            Event::Shutdown => {
                p.shutting_down = true;
                let live: Vec<TaskId> = p
                    .tasks
                    .iter()
                    .filter(|(_, t)| !t.state.is_some_and(|s| s.is_terminal()))
                    .map(|(id, _)| id.clone())
                    .collect();
                for t in live {
                    self.exec_update(h, &cid, t, TaskState::TaskKilled);
                }
                let at = self.ctx.now + 3_000;
                self.exec_timer_at(h, cid.clone(), ExecTimer::Exit(0), at);
                self.exec_maybe_exit(h, &cid);
            }
            Event::Subscribed { .. }
            | Event::Message { .. }
            | Event::Error { .. }
            | Event::Heartbeat => {}
        }
    }

    fn exec_launch(&mut self, h: usize, cid: &ContainerId, tasks: Vec<TaskInfo>) {
        for info in tasks {
            let id = info.task_id.clone();
            let Some(p) = self.hosts[h].procs.get_mut(cid) else {
                return;
            };
            if p.tasks.contains_key(&id) {
                continue;
            }
            p.tasks.insert(
                id.clone(),
                ProcTask {
                    info: Box::new(info),
                    state: None,
                },
            );
            self.exec_update(h, cid, id.clone(), TaskState::TaskRunning);
            let end = self.ctx.cfg.faults.task_end;
            if self.ctx.chance(end) {
                let state = if self.ctx.rng.gen_bool(0.5) {
                    TaskState::TaskFinished
                } else {
                    TaskState::TaskFailed
                };
                let at = self.ctx.now + self.ctx.secs(20.0, 300.0);
                self.exec_timer_at(h, cid.clone(), ExecTimer::End(id, state), at);
            }
        }
    }

    /// Send a status update (kept until acknowledged; resent with the next SUBSCRIBE).
    fn exec_update(&mut self, h: usize, cid: &ContainerId, task: TaskId, state: TaskState) {
        let bytes: [u8; 16] = self.ctx.rng.gen();
        let inc = self.hosts[h].inc;
        let Some(p) = self.hosts[h].procs.get_mut(cid) else {
            return;
        };
        let mut status = TaskStatus::new(task.clone(), state).with_source("SOURCE_EXECUTOR");
        status.executor_id = Some(p.executor_id.clone());
        status.uuid = Some(mesos_proto::json::b64_encode(&bytes));
        if let Some(t) = p.tasks.get_mut(&task) {
            t.state = Some(state);
        }
        p.unacked.reserve_exact(1);
        p.unacked.push(status.clone());
        let Some(conn) = p.conn else { return };
        let call = Call {
            executor_id: p.executor_id.clone(),
            framework_id: p.framework_id.clone(),
            kind: CallType::Update,
            subscribe: None,
            update: Some(Update { status }),
            message: None,
        };
        let at = self.ctx.local();
        self.ctx.q.push(
            at,
            Some(Chan::Exec(h, conn)),
            Ev::ExecCall {
                host: h,
                inc,
                cid: cid.clone(),
                conn: None,
                call,
            },
        );
    }

    /// Exit once every task is terminal and acknowledged.
    fn exec_maybe_exit(&mut self, h: usize, cid: &ContainerId) {
        let Some(p) = self.hosts[h].procs.get_mut(cid) else {
            return;
        };
        let done = p
            .tasks
            .values()
            .all(|t| t.state.is_some_and(|s| s.is_terminal()));
        if (done && !p.tasks.is_empty() || p.shutting_down) && p.unacked.is_empty() && !p.exiting {
            p.exiting = true;
            let at = self.ctx.now + self.ctx.ms(10, 200);
            self.exec_timer_at(h, cid.clone(), ExecTimer::Exit(0), at);
        }
    }

    /// The executor lost its agent connection: subscribe again later.
    pub(crate) fn proc_disconnected(&mut self, h: usize, cid: &ContainerId) {
        let now = self.ctx.now;
        let Some(p) = self.hosts[h].procs.get_mut(cid) else {
            return;
        };
        p.conn = None;
        p.pending_conn = None;
        p.disconnected_since.get_or_insert(now);
        if p.alive {
            let at = now + 1_000;
            self.exec_timer_at(h, cid.clone(), ExecTimer::Subscribe, at);
        }
    }

    pub(crate) fn exec_stream_ended(&mut self, h: usize, conn: u64) {
        let Some(cid) = self.hosts[h].exec_conns.remove(&conn) else {
            return;
        };
        let is_current = self.hosts[h]
            .procs
            .get(&cid)
            .is_some_and(|p| p.conn == Some(conn) || p.pending_conn == Some(conn));
        if is_current {
            self.proc_disconnected(h, &cid);
        }
    }

    /// The process dies (killed, crashed or exited with `status`); a running agent is told.
    pub(crate) fn kill_process(&mut self, h: usize, cid: &ContainerId, status: i32) {
        let Some(p) = self.hosts[h].procs.get_mut(cid) else {
            return;
        };
        if !p.alive {
            return;
        }
        p.alive = false;
        p.conn = None;
        p.pending_conn = None;
        self.ctx
            .trace(|| format!("agent{h} container {cid} process exits ({status})"));
        self.hosts[h].exec_conns.retain(|_, c| c != cid);
        if self.hosts[h].agent.is_some() {
            self.report_exit(h, cid.clone(), status);
        }
    }

    /// Tell host `h`'s current agent incarnation, now, that container `cid` exited.
    pub(crate) fn report_exit(&mut self, h: usize, cid: ContainerId, status: i32) {
        let inc = self.hosts[h].inc;
        let at = self.ctx.local();
        self.ctx.q.push(
            at,
            None,
            Ev::ContainerExited {
                host: h,
                inc,
                cid,
                status,
            },
        );
    }
}

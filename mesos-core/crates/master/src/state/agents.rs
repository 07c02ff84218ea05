//! Agents: admission, re-registration, health (ping/pong) and removal.

use super::*;
use mesos_proto::internal::{AgentToMaster, TaskSnapshot};
use mesos_proto::scheduler::{Failure, Message as FrameworkMessage};

impl Master {
    fn registered_message(&self, agent_id: &AgentId, re: bool) -> MasterToAgent {
        let (agent_id, master_id, epoch) = (
            agent_id.clone(),
            self.master_id().to_string(),
            self.config.epoch,
        );
        let (ping_interval_secs, max_missed_pongs) = (
            self.config.agent_ping_timeout,
            self.config.max_agent_ping_timeouts,
        );
        if re {
            MasterToAgent::Reregistered {
                agent_id,
                master_id,
                epoch,
                ping_interval_secs,
                max_missed_pongs,
            }
        } else {
            MasterToAgent::Registered {
                agent_id,
                master_id,
                epoch,
                ping_interval_secs,
                max_missed_pongs,
            }
        }
    }

    pub(crate) fn agent_connect(
        &mut self,
        now: f64,
        conn: ConnId,
        reg: Registration,
        out: &mut Vec<Output>,
    ) -> Reply {
        match reg {
            Registration::Register {
                agent_info,
                version,
            } => self.register_agent(now, conn, agent_info, version, out),
            Registration::Reregister {
                agent_info,
                version,
                tasks,
                executors,
                frameworks,
            } => self.reregister_agent(
                now, conn, agent_info, version, tasks, executors, frameworks, out,
            ),
        }
    }

    fn validate_agent_info(info: &AgentInfo) -> Result<Resources, String> {
        if info.hostname.is_empty() {
            return Err("Agent hostname must not be empty".into());
        }
        Resources::from_wire(&info.resources)
            .map_err(|e| format!("Agent resources are invalid: {e}"))
    }

    fn register_agent(
        &mut self,
        now: f64,
        conn: ConnId,
        mut info: AgentInfo,
        version: String,
        out: &mut Vec<Output>,
    ) -> Reply {
        let total = match Self::validate_agent_info(&info) {
            Ok(t) => t,
            Err(e) => {
                out.push(Output::ToAgent {
                    conn,
                    message: MasterToAgent::Error { message: e.clone() },
                });
                out.push(Output::CloseAgent { conn });
                return Reply::Error(400, e);
            }
        };
        let id = AgentId::new(format!("{}-S{}", self.master_id(), self.next_agent));
        self.next_agent += 1;
        info.id = Some(id.clone());
        self.persist(RegistryOp::AdmitAgent(info.clone()), out);
        self.counters.agent_registrations += 1;
        self.agents.insert(
            id.clone(),
            AgentRecord {
                info,
                total: total.clone(),
                conn: Some(conn),
                status: AgentStatus::Active,
                version,
                registered_time: now,
                reregistered_time: None,
                missed_pongs: 0,
                pong_seen: true,
                next_ping: now + self.config.agent_ping_timeout,
                tasks: BTreeSet::new(),
            },
        );
        self.conns.insert(conn, id.clone());
        self.allocator.add_agent(id.clone(), total, Vec::new());
        out.push(Output::ToAgent {
            conn,
            message: self.registered_message(&id, false),
        });
        out.push(Output::Operator(OperatorEvent::AgentAdded { agent_id: id }));
        self.request_allocation(now);
        Reply::StreamOpened
    }

    #[allow(clippy::too_many_arguments)]
    fn reregister_agent(
        &mut self,
        now: f64,
        conn: ConnId,
        info: AgentInfo,
        version: String,
        tasks: Vec<TaskSnapshot>,
        executors: Vec<mesos_proto::internal::ExecutorSnapshot>,
        frameworks: Vec<FrameworkInfo>,
        out: &mut Vec<Output>,
    ) -> Reply {
        let refuse = |msg: String, out: &mut Vec<Output>| {
            out.push(Output::ToAgent {
                conn,
                message: MasterToAgent::Error {
                    message: msg.clone(),
                },
            });
            out.push(Output::CloseAgent { conn });
            Reply::Error(400, msg)
        };
        let Some(id) = info.id.clone() else {
            return refuse("Re-registering agent must have an ID".into(), out);
        };
        let total = match Self::validate_agent_info(&info) {
            Ok(t) => t,
            Err(e) => return refuse(e, out),
        };
        if self.registry.agents.get(&id) != Some(&info) {
            self.persist(RegistryOp::AdmitAgent(info.clone()), out);
        }
        self.counters.agent_reregistrations += 1;

        // Replace any previous connection and allocator entry.
        let previous = self.agents.remove(&id);
        if let Some(prev) = &previous {
            if let Some(old) = prev.conn {
                self.conns.remove(&old);
                if old != conn {
                    out.push(Output::CloseAgent { conn: old });
                }
            }
            if prev.status == AgentStatus::Active {
                let offers: Vec<OfferId> = self
                    .offers
                    .values()
                    .filter(|o| o.agent_id == id)
                    .map(|o| o.id.clone())
                    .collect();
                for o in offers {
                    self.rescind_offer(now, &o, true, out);
                }
                self.allocator.remove_agent(&id);
            }
        }
        for fi in frameworks {
            if let Some(fid) = &fi.id {
                if self.removed_framework_ids.contains(fid) {
                    out.push(Output::ToAgent {
                        conn,
                        message: MasterToAgent::ShutdownFramework {
                            framework_id: fid.clone(),
                        },
                    });
                    continue;
                }
            }
            self.add_recovered_framework(fi, now);
        }
        let registered_time = previous.as_ref().map(|p| p.registered_time).unwrap_or(now);
        let mut record = AgentRecord {
            info,
            total: total.clone(),
            conn: Some(conn),
            status: AgentStatus::Active,
            version,
            registered_time,
            reregistered_time: Some(now),
            missed_pongs: 0,
            pong_seen: true,
            next_ping: now + self.config.agent_ping_timeout,
            tasks: BTreeSet::new(),
        };

        // Tasks the master believed were on this agent but the agent does not report.
        let reported: BTreeSet<(FrameworkId, TaskId)> = tasks
            .iter()
            .map(|t| (t.framework_id.clone(), t.task.task_id.clone()))
            .collect();
        let known = previous.map(|p| p.tasks).unwrap_or_default();
        for (fid, tid) in known.difference(&reported) {
            let Some(task) = self
                .frameworks
                .get_mut(fid)
                .and_then(|f| f.tasks.get_mut(tid))
                .map(Arc::make_mut)
            else {
                continue;
            };
            if task.state.is_terminal() {
                continue;
            }
            task.state = TaskState::TaskLost;
            let status = TaskStatus::new(tid.clone(), TaskState::TaskGone)
                .with_source("SOURCE_MASTER")
                .with_reason("REASON_RECONCILIATION")
                .with_message("Task is unknown to the agent");
            self.master_update(now, fid, Some(id.clone()), status, out);
            self.complete_task(fid, tid);
        }

        let mut used: BTreeMap<(FrameworkId, String), Resources> = BTreeMap::new();
        let mut default_role: BTreeMap<FrameworkId, String> = BTreeMap::new();
        for snap in tasks {
            let TaskSnapshot {
                framework_id: fid,
                task: info,
                state,
                status,
                ..
            } = snap;
            if self.removed_framework_ids.contains(&fid) {
                continue;
            }
            if !self.frameworks.contains_key(&fid) {
                // The agent did not send the framework's info: keep the task under a
                // placeholder so reconciliation still answers for it.
                self.add_recovered_framework(FrameworkInfo::placeholder(fid.clone()), now);
            }
            let fw = self.frameworks.get_mut(&fid).expect("added above");
            let task_id = info.task_id.clone();
            let task = match fw.tasks.entry(task_id.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => Arc::make_mut(e.into_mut()),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let role = default_role
                        .entry(fid.clone())
                        .or_insert_with(|| {
                            fw.info
                                .effective_roles()
                                .into_iter()
                                .next()
                                .unwrap_or_else(|| "*".into())
                        })
                        .clone();
                    Arc::make_mut(e.insert(Arc::new(TaskRecord {
                        executor_id: info.executor.as_ref().map(|x| x.executor_id.clone()),
                        resources: Resources::from_wire(&info.resources).unwrap_or_default(),
                        info,
                        framework_id: fid.clone(),
                        agent_id: id.clone(),
                        role,
                        state,
                        statuses: Vec::new(),
                        unacked_uuid: None,
                        resources_recovered: false,
                        unreachable_time: None,
                    })))
                }
            };
            task.state = state;
            task.unreachable_time = None;
            task.resources_recovered = state.is_terminal();
            if let Some(s) = status {
                if task.statuses.last() != Some(&s) {
                    push_short(&mut task.statuses, s);
                }
            }
            if !state.is_terminal() {
                let e = used.entry((fid.clone(), task.role.clone())).or_default();
                let _ = e.try_add_assign(&task.resources);
            }
            record.tasks.insert((fid, task_id));
        }
        for ex in executors {
            if ex.command_executor || self.removed_framework_ids.contains(&ex.framework_id) {
                continue;
            }
            let Some(fw) = self.frameworks.get_mut(&ex.framework_id) else {
                continue;
            };
            let role = fw.roles().first().cloned().unwrap_or_else(|| "*".into());
            let resources = Resources::from_wire(&ex.executor.resources).unwrap_or_default();
            let e = used
                .entry((ex.framework_id.clone(), role.clone()))
                .or_default();
            *e = e.checked_add(&resources).unwrap_or_else(|_| e.clone());
            fw.executors.entry(id.clone()).or_default().insert(
                ex.executor.executor_id.clone(),
                ExecutorRecord {
                    info: ex.executor,
                    resources,
                    role,
                },
            );
        }
        let used: Vec<(FrameworkId, String, Resources)> =
            used.into_iter().map(|((f, r), res)| (f, r, res)).collect();
        self.allocator.add_agent(id.clone(), total, used);
        self.agents.insert(id.clone(), record);
        self.conns.insert(conn, id.clone());
        out.push(Output::ToAgent {
            conn,
            message: self.registered_message(&id, true),
        });
        out.push(Output::Operator(OperatorEvent::AgentAdded { agent_id: id }));
        self.request_allocation(now);
        Reply::StreamOpened
    }

    pub(crate) fn agent_message(
        &mut self,
        now: f64,
        env: mesos_proto::internal::AgentEnvelope,
        out: &mut Vec<Output>,
    ) -> Reply {
        let ok = self
            .agents
            .get(&env.agent_id)
            .is_some_and(|a| a.status == AgentStatus::Active && a.conn.is_some());
        if !ok {
            return Reply::Reconnect;
        }
        let agent_id = env.agent_id;
        match env.message {
            AgentToMaster::Pong => {
                if let Some(a) = self.agents.get_mut(&agent_id) {
                    a.pong_seen = true;
                    a.missed_pongs = 0;
                }
            }
            AgentToMaster::StatusUpdate {
                framework_id,
                status,
                latest_state,
            } => self.status_update(now, &agent_id, &framework_id, status, latest_state, out),
            AgentToMaster::ExecutorExited {
                framework_id,
                executor_id,
                status,
            } => {
                let removed = self
                    .frameworks
                    .get_mut(&framework_id)
                    .and_then(|fw| fw.executors.get_mut(&agent_id))
                    .and_then(|m| m.remove(&executor_id));
                if let Some(ex) = removed {
                    self.allocator.recover(
                        &framework_id,
                        &ex.role,
                        &agent_id,
                        &ex.resources,
                        None,
                        Duration::from_secs_f64(now.max(0.0)),
                    );
                    self.send_event(
                        &framework_id,
                        Event::Failure(Failure {
                            agent_id: Some(agent_id.clone()),
                            executor_id: Some(executor_id),
                            status: Some(status),
                        }),
                        out,
                    );
                }
            }
            AgentToMaster::ExecutorMessage {
                framework_id,
                executor_id,
                data,
            } => {
                self.send_event(
                    &framework_id,
                    Event::Message(FrameworkMessage {
                        agent_id: agent_id.clone(),
                        executor_id,
                        data,
                    }),
                    out,
                );
            }
        }
        Reply::Accepted
    }

    pub(crate) fn agent_disconnected(&mut self, conn: ConnId) {
        if let Some(id) = self.conns.remove(&conn) {
            if let Some(a) = self.agents.get_mut(&id) {
                if a.conn == Some(conn) {
                    a.conn = None;
                }
            }
        }
    }

    pub(crate) fn tick_agents(&mut self, now: f64, out: &mut Vec<Output>) {
        let mut lost = Vec::new();
        let interval = self.config.agent_ping_timeout;
        let max = self.config.max_agent_ping_timeouts;
        for (id, a) in self.agents.iter_mut() {
            match a.status {
                AgentStatus::Active => {
                    if now < a.next_ping {
                        continue;
                    }
                    a.next_ping = now + interval;
                    if a.pong_seen && a.conn.is_some() {
                        a.missed_pongs = 0;
                    } else {
                        a.missed_pongs += 1;
                    }
                    a.pong_seen = false;
                    if a.missed_pongs >= max {
                        lost.push(id.clone());
                    } else if let Some(conn) = a.conn {
                        out.push(Output::ToAgent {
                            conn,
                            message: MasterToAgent::Ping,
                        });
                    }
                }
                AgentStatus::Recovered { deadline } if now >= deadline => lost.push(id.clone()),
                _ => {}
            }
        }
        for id in lost {
            self.mark_unreachable(now, &id, out);
        }
    }

    /// The agent stopped answering: its tasks become TASK_UNREACHABLE (TASK_LOST for
    /// frameworks that are not PARTITION_AWARE), its offers are rescinded.
    pub(crate) fn mark_unreachable(&mut self, now: f64, id: &AgentId, out: &mut Vec<Output>) {
        let Some(agent) = self.agents.get_mut(id) else {
            return;
        };
        let was_active = agent.status == AgentStatus::Active;
        agent.status = AgentStatus::Unreachable { since: now };
        if let Some(conn) = agent.conn.take() {
            self.conns.remove(&conn);
            out.push(Output::CloseAgent { conn });
        }
        let tasks: Vec<(FrameworkId, TaskId)> = agent.tasks.iter().cloned().collect();
        self.counters.agent_removals += 1;
        let offers: Vec<OfferId> = self
            .offers
            .values()
            .filter(|o| &o.agent_id == id)
            .map(|o| o.id.clone())
            .collect();
        for o in offers {
            self.rescind_offer(now, &o, true, out);
        }
        if was_active {
            self.allocator.remove_agent(id);
        }
        for (fid, tid) in tasks {
            let Some(fw) = self.frameworks.get_mut(&fid) else {
                continue;
            };
            fw.executors.remove(id);
            let Some(task) = fw.tasks.get_mut(&tid).map(Arc::make_mut) else {
                continue;
            };
            if task.state.is_terminal() {
                continue;
            }
            task.state = TaskState::TaskUnreachable;
            task.unreachable_time = Some(now);
            task.resources_recovered = true;
            let mut status = TaskStatus::new(tid.clone(), TaskState::TaskUnreachable)
                .with_source("SOURCE_MASTER")
                .with_reason("REASON_SLAVE_REMOVED")
                .with_message("Agent is unreachable");
            status.unreachable_time = Some(DurationInfo::from_secs_f64(now));
            status.executor_id = task.executor_id.clone();
            push_short(&mut task.statuses, status.clone());
            out.push(Output::Operator(OperatorEvent::TaskUpdated {
                framework_id: fid.clone(),
                status: status.clone(),
                state: TaskState::TaskUnreachable,
            }));
            self.master_update(now, &fid, Some(id.clone()), status, out);
        }
        self.broadcast_agent_failure(id, out);
        out.push(Output::Operator(OperatorEvent::AgentRemoved {
            agent_id: id.clone(),
        }));
    }
}

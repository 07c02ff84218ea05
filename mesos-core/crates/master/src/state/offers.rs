//! Offers: turning allocator grants into OFFERS events, rescinds, and ACCEPT/DECLINE.

use super::*;
use mesos_proto::ids::validate_id;
use mesos_proto::scheduler::{Offers, Rescind};

impl Master {
    pub(crate) fn allocate(&mut self, now: f64, out: &mut Vec<Output>) {
        self.counters.allocation_runs += 1;
        let grants = self
            .allocator
            .allocate(Duration::from_secs_f64(now.max(0.0)));
        let mut by_framework: BTreeMap<FrameworkId, Vec<Offer>> = BTreeMap::new();
        for g in grants {
            let connected = self
                .frameworks
                .get(&g.framework_id)
                .is_some_and(|f| f.connected());
            let agent_ok = self
                .agents
                .get(&g.agent_id)
                .is_some_and(|a| a.status == AgentStatus::Active && a.conn.is_some());
            if !connected || !agent_ok {
                self.allocator.recover(
                    &g.framework_id,
                    &g.role,
                    &g.agent_id,
                    &g.resources,
                    None,
                    Duration::from_secs_f64(now.max(0.0)),
                );
                continue;
            }
            let id = OfferId::new(format!("{}-O{}", self.master_id(), self.next_offer));
            self.next_offer += 1;
            let record = OfferRecord {
                id: id.clone(),
                framework_id: g.framework_id.clone(),
                agent_id: g.agent_id.clone(),
                role: g.role.clone(),
                resources: g.resources,
                expires: self.config.offer_timeout.map(|t| now + t),
            };
            let wire = self.offer_wire(&record);
            self.offers.insert(id.clone(), record);
            if let Some(fw) = self.frameworks.get_mut(&g.framework_id) {
                fw.offers.insert(id);
            }
            by_framework.entry(g.framework_id).or_default().push(wire);
        }
        for (fid, offers) in by_framework {
            self.send_event(&fid, Event::Offers(Offers { offers }), out);
        }
    }

    /// The Offer message as this framework should see it (spec 1.5: allocation_info only
    /// for MULTI_ROLE, pre-refinement `role: "*"` without RESERVATION_REFINEMENT).
    fn offer_wire(&self, rec: &OfferRecord) -> Offer {
        let fw = &self.frameworks[&rec.framework_id];
        let multi = fw.info.has_capability("MULTI_ROLE");
        let refinement = fw.info.has_capability("RESERVATION_REFINEMENT");
        let mut resources = rec
            .resources
            .to_wire(if refinement { None } else { Some("*") });
        if multi {
            for r in &mut resources {
                r.allocation_info = Some(AllocationInfo {
                    role: Some(rec.role.clone()),
                });
            }
        }
        let agent = &self.agents[&rec.agent_id];
        let executor_ids = fw
            .executors
            .get(&rec.agent_id)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        Offer {
            id: rec.id.clone(),
            framework_id: rec.framework_id.clone(),
            agent_id: rec.agent_id.clone(),
            hostname: agent.info.hostname.clone(),
            url: Some(Url {
                scheme: "http".into(),
                address: Address {
                    hostname: Some(agent.info.hostname.clone()),
                    ip: agent
                        .info
                        .hostname
                        .parse::<std::net::IpAddr>()
                        .ok()
                        .map(|ip| ip.to_string()),
                    port: agent.info.port,
                },
                path: Some("/slave(1)".into()),
            }),
            resources,
            attributes: agent.info.attributes.clone(),
            executor_ids,
            allocation_info: multi.then(|| AllocationInfo {
                role: Some(rec.role.clone()),
            }),
        }
    }

    /// Take an offer back: its resources return to the allocator (no filter).
    pub(crate) fn rescind_offer(
        &mut self,
        now: f64,
        id: &OfferId,
        notify: bool,
        out: &mut Vec<Output>,
    ) {
        let Some(offer) = self.offers.remove(id) else {
            return;
        };
        if let Some(fw) = self.frameworks.get_mut(&offer.framework_id) {
            fw.offers.remove(id);
        }
        self.allocator.recover(
            &offer.framework_id,
            &offer.role,
            &offer.agent_id,
            &offer.resources,
            None,
            Duration::from_secs_f64(now.max(0.0)),
        );
        if notify {
            self.send_event(
                &offer.framework_id,
                Event::Rescind(Rescind {
                    offer_id: id.clone(),
                }),
                out,
            );
        }
    }

    pub(crate) fn tick_offer_timeouts(&mut self, now: f64, out: &mut Vec<Output>) {
        let expired: Vec<OfferId> = self
            .offers
            .values()
            .filter(|o| o.expires.is_some_and(|e| now >= e))
            .map(|o| o.id.clone())
            .collect();
        for id in expired {
            self.rescind_offer(now, &id, true, out);
        }
    }

    /// ACCEPT (and DECLINE, which is ACCEPT without operations).
    pub(crate) fn accept(
        &mut self,
        now: f64,
        fid: &FrameworkId,
        offer_ids: Vec<OfferId>,
        operations: Vec<Operation>,
        filters: Option<Filters>,
        out: &mut Vec<Output>,
    ) {
        let refuse = Filters::effective_refuse_seconds(filters.as_ref());
        let partition_aware = self.frameworks[fid].partition_aware();

        // Validate the offers as a set (spec 1.6).
        let mut error: Option<String> = None;
        let mut seen = BTreeSet::new();
        let mut agent: Option<AgentId> = None;
        let mut role: Option<String> = None;
        if offer_ids.is_empty() && !operations.is_empty() {
            error = Some("No offers specified".into());
        }
        for id in &offer_ids {
            if !seen.insert(id.clone()) {
                error.get_or_insert(format!("Duplicate offer {id} in accept"));
                continue;
            }
            match self.offers.get(id) {
                None => {
                    error.get_or_insert(format!("Offer {id} is no longer valid"));
                }
                Some(o) if &o.framework_id != fid => {
                    error.get_or_insert(format!("Offer {id} has invalid framework"));
                }
                Some(o) => {
                    if agent.get_or_insert(o.agent_id.clone()) != &o.agent_id {
                        error.get_or_insert(
                            "Aggregated offers must belong to one single agent".into(),
                        );
                    }
                    if role.get_or_insert(o.role.clone()) != &o.role {
                        error.get_or_insert(
                            "Aggregated offers must be allocated to the same role".into(),
                        );
                    }
                }
            }
        }

        // Take every named offer out of circulation.
        let mut offered = Resources::new();
        for id in &offer_ids {
            if let Some(o) = self.offers.get(id) {
                if &o.framework_id != fid {
                    continue;
                }
            }
            if let Some(o) = self.offers.remove(id) {
                if let Some(fw) = self.frameworks.get_mut(fid) {
                    fw.offers.remove(id);
                }
                if error.is_some() {
                    self.allocator.recover(
                        fid,
                        &o.role,
                        &o.agent_id,
                        &o.resources,
                        None,
                        Duration::from_secs_f64(now.max(0.0)),
                    );
                } else {
                    offered = offered.checked_add(&o.resources).unwrap_or(offered);
                }
            }
        }

        if let Some(message) = error {
            let state = if partition_aware {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            for op in &operations {
                for task in launched_tasks(op) {
                    let status = TaskStatus::new(task.task_id.clone(), state)
                        .with_source("SOURCE_MASTER")
                        .with_reason("REASON_INVALID_OFFERS")
                        .with_message(message.clone());
                    self.master_update(now, fid, Some(task.agent_id.clone()), status, out);
                }
            }
            return;
        }
        let (Some(agent_id), Some(role)) = (agent, role) else {
            return;
        };

        let mut remaining = offered;
        for op in operations {
            match op.kind.as_str() {
                "LAUNCH" => {
                    if op.id.is_some() {
                        for t in launched_tasks(&op) {
                            self.task_error(
                                now,
                                fid,
                                t,
                                "An operation ID is not allowed on LAUNCH",
                                out,
                            );
                        }
                        continue;
                    }
                    for task in op.launch.map(|l| l.task_infos).unwrap_or_default() {
                        match self.validate_task(fid, &agent_id, &task, &remaining) {
                            Ok(consumed) => {
                                remaining = remaining.saturating_sub(&consumed);
                                self.launch_task(now, fid, &agent_id, &role, task, out);
                            }
                            Err(msg) => self.task_error(now, fid, &task, &msg, out),
                        }
                    }
                }
                "LAUNCH_GROUP" => {
                    let Some(group) = op.launch_group else {
                        continue;
                    };
                    match self.validate_group(fid, &agent_id, &group, &remaining) {
                        Ok(consumed) => {
                            remaining = remaining.saturating_sub(&consumed);
                            self.launch_group(now, fid, &agent_id, &role, group, out);
                        }
                        Err(msg) => {
                            for t in &group.task_group.tasks {
                                let status =
                                    TaskStatus::new(t.task_id.clone(), TaskState::TaskError)
                                        .with_source("SOURCE_MASTER")
                                        .with_reason("REASON_TASK_GROUP_INVALID")
                                        .with_message(msg.clone());
                                self.master_update(now, fid, Some(agent_id.clone()), status, out);
                            }
                        }
                    }
                }
                other => {
                    tracing::warn!(
                        operation = other,
                        "offer operation not supported; its resources are returned"
                    );
                }
            }
        }
        if !remaining.is_empty() {
            let filter = (refuse > 0.0).then(|| Duration::from_secs_f64(refuse));
            self.allocator.recover(
                fid,
                &role,
                &agent_id,
                &remaining,
                filter,
                Duration::from_secs_f64(now.max(0.0)),
            );
        }
    }

    fn task_error(
        &mut self,
        now: f64,
        fid: &FrameworkId,
        task: &TaskInfo,
        msg: &str,
        out: &mut Vec<Output>,
    ) {
        let status = TaskStatus::new(task.task_id.clone(), TaskState::TaskError)
            .with_source("SOURCE_MASTER")
            .with_reason("REASON_TASK_INVALID")
            .with_message(msg.to_string());
        self.master_update(now, fid, Some(task.agent_id.clone()), status, out);
    }

    /// Check one task against Mesos' rules and the resources left in the offers.
    /// Returns what it consumes (task plus a new executor's resources).
    fn validate_task(
        &self,
        fid: &FrameworkId,
        agent: &AgentId,
        task: &TaskInfo,
        remaining: &Resources,
    ) -> Result<Resources, String> {
        validate_id(&task.task_id.value).map_err(|e| format!("Task ID is invalid: {e}"))?;
        let fw = &self.frameworks[fid];
        if fw.tasks.contains_key(&task.task_id) {
            return Err(format!("Task has duplicate ID: {}", task.task_id));
        }
        if &task.agent_id != agent {
            return Err(format!(
                "Task uses agent ID {} which does not match offer's agent ID {}",
                task.agent_id, agent
            ));
        }
        if task.resources.is_empty() {
            return Err("Task uses no resources".into());
        }
        let mut needed = Resources::from_wire(&task.resources)
            .map_err(|e| format!("Task uses invalid resources: {e}"))?;
        match (&task.command, &task.executor) {
            (Some(_), Some(_)) => return Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".into()),
            (None, None) => return Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".into()),
            (None, Some(ex)) => {
                validate_id(&ex.executor_id.value).map_err(|e| format!("Executor ID is invalid: {e}"))?;
                if ex.command.is_none() && ex.kind.as_deref() != Some("DEFAULT") {
                    return Err("Executor must have a CommandInfo".into());
                }
                let running = fw
                    .executors
                    .get(agent)
                    .is_some_and(|m| m.contains_key(&ex.executor_id));
                if !running {
                    let ex_res = Resources::from_wire(&ex.resources)
                        .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
                    needed = needed
                        .checked_add(&ex_res)
                        .map_err(|e| format!("Executor resources conflict with the task's: {e}"))?;
                }
            }
            (Some(_), None) => {}
        }
        task.health_check_spec()
            .map_err(|e| format!("Task's health check is invalid: {e}"))?;
        if let Some(kp) = &task.kill_policy {
            if kp.grace_period.as_ref().is_some_and(|g| g.nanoseconds < 0) {
                return Err("Task's kill policy must have a non-negative grace period".into());
            }
        }
        if !remaining.contains(&needed) {
            return Err(format!(
                "Task uses more resources {needed} than available {remaining}"
            ));
        }
        Ok(needed)
    }

    fn validate_group(
        &self,
        fid: &FrameworkId,
        agent: &AgentId,
        group: &LaunchGroup,
        remaining: &Resources,
    ) -> Result<Resources, String> {
        if group.task_group.tasks.is_empty() {
            return Err("Task group must not be empty".into());
        }
        if group.executor.kind.is_none() {
            return Err("'ExecutorInfo.type' must be set".into());
        }
        let mut needed = Resources::new();
        let mut ids = BTreeSet::new();
        for t in &group.task_group.tasks {
            if !ids.insert(t.task_id.clone()) {
                return Err(format!("Task group has duplicate task ID: {}", t.task_id));
            }
            if t.executor.is_some() {
                return Err("Task in a group must not set 'executor'".into());
            }
            let mut as_task = t.clone();
            as_task.command = Some(t.command.clone().unwrap_or_else(|| CommandInfo::shell("")));
            let r = self.validate_task(fid, agent, &as_task, remaining)?;
            needed = needed.checked_add(&r).map_err(|e| e.to_string())?;
        }
        let fw = &self.frameworks[fid];
        let running = fw
            .executors
            .get(agent)
            .is_some_and(|m| m.contains_key(&group.executor.executor_id));
        if !running {
            let ex = Resources::from_wire(&group.executor.resources).map_err(|e| e.to_string())?;
            needed = needed.checked_add(&ex).map_err(|e| e.to_string())?;
        }
        if !remaining.contains(&needed) {
            return Err(format!(
                "Task group uses more resources {needed} than available {remaining}"
            ));
        }
        Ok(needed)
    }

    fn register_executor(
        &mut self,
        fid: &FrameworkId,
        agent: &AgentId,
        role: &str,
        mut ex: ExecutorInfo,
    ) -> ExecutorInfo {
        ex.framework_id = Some(fid.clone());
        let fw = self.frameworks.get_mut(fid).expect("caller checked");
        let entry = fw.executors.entry(agent.clone()).or_default();
        if let Some(existing) = entry.get(&ex.executor_id) {
            return existing.info.clone();
        }
        let resources = Resources::from_wire(&ex.resources).unwrap_or_default();
        entry.insert(
            ex.executor_id.clone(),
            ExecutorRecord {
                info: ex.clone(),
                resources,
                role: role.to_string(),
            },
        );
        ex
    }

    fn new_task_record(
        fid: &FrameworkId,
        agent: &AgentId,
        role: &str,
        info: TaskInfo,
    ) -> TaskRecord {
        TaskRecord {
            resources: Resources::from_wire(&info.resources).unwrap_or_default(),
            executor_id: info.executor.as_ref().map(|e| e.executor_id.clone()),
            framework_id: fid.clone(),
            agent_id: agent.clone(),
            role: role.to_string(),
            state: TaskState::TaskStaging,
            statuses: Vec::new(),
            unacked_uuid: None,
            resources_recovered: false,
            unreachable_time: None,
            info,
        }
    }

    fn launch_task(
        &mut self,
        now: f64,
        fid: &FrameworkId,
        agent: &AgentId,
        role: &str,
        mut task: TaskInfo,
        out: &mut Vec<Output>,
    ) {
        self.counters.messages_launch_tasks += 1;
        if let Some(ex) = task.executor.take() {
            task.executor = Some(self.register_executor(fid, agent, role, ex));
        }
        let record = Self::new_task_record(fid, agent, role, task.clone());
        self.add_task_record(record.clone());
        out.push(Output::Operator(OperatorEvent::TaskAdded {
            task: Box::new(record),
        }));
        let framework = self.frameworks[fid].info.clone();
        let task_id = task.task_id.clone();
        if !self.send_agent(agent, MasterToAgent::RunTask { framework, task }, out) {
            self.agent_gone_during_launch(now, fid, agent, &[task_id], out);
        }
    }

    /// The agent's connection dropped between the offer and the launch: the task never
    /// reaches it (TASK_LOST, or TASK_DROPPED for partition-aware frameworks).
    fn agent_gone_during_launch(
        &mut self,
        now: f64,
        fid: &FrameworkId,
        agent: &AgentId,
        tasks: &[TaskId],
        out: &mut Vec<Output>,
    ) {
        let state = if self.frameworks[fid].partition_aware() {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        for task_id in tasks {
            let Some(task) = self
                .frameworks
                .get_mut(fid)
                .and_then(|f| f.tasks.get_mut(task_id))
                .map(Arc::make_mut)
            else {
                continue;
            };
            task.state = state;
            task.resources_recovered = true;
            let (role, resources) = (task.role.clone(), task.resources.clone());
            self.allocator.recover(
                fid,
                &role,
                agent,
                &resources,
                None,
                Duration::from_secs_f64(now.max(0.0)),
            );
            let status = TaskStatus::new(task_id.clone(), state)
                .with_source("SOURCE_MASTER")
                .with_reason("REASON_AGENT_DISCONNECTED")
                .with_message("Agent is not connected");
            self.master_update(now, fid, Some(agent.clone()), status, out);
            self.complete_task(fid, task_id);
        }
    }

    fn launch_group(
        &mut self,
        now: f64,
        fid: &FrameworkId,
        agent: &AgentId,
        role: &str,
        group: LaunchGroup,
        out: &mut Vec<Output>,
    ) {
        self.counters.messages_launch_tasks += 1;
        let executor = self.register_executor(fid, agent, role, group.executor);
        let mut tasks = Vec::new();
        for mut t in group.task_group.tasks {
            t.executor = Some(executor.clone());
            let record = Self::new_task_record(fid, agent, role, t.clone());
            self.add_task_record(record.clone());
            out.push(Output::Operator(OperatorEvent::TaskAdded {
                task: Box::new(record),
            }));
            t.executor = None;
            tasks.push(t);
        }
        let framework = self.frameworks[fid].info.clone();
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.task_id.clone()).collect();
        let sent = self.send_agent(
            agent,
            MasterToAgent::RunTaskGroup {
                framework,
                executor,
                tasks,
            },
            out,
        );
        if !sent {
            self.agent_gone_during_launch(now, fid, agent, &ids, out);
        }
    }

    pub(crate) fn add_task_record(&mut self, record: TaskRecord) {
        if let Some(a) = self.agents.get_mut(&record.agent_id) {
            a.tasks
                .insert((record.framework_id.clone(), record.info.task_id.clone()));
        }
        if let Some(fw) = self.frameworks.get_mut(&record.framework_id) {
            fw.tasks
                .insert(record.info.task_id.clone(), Arc::new(record));
        }
    }
}

fn launched_tasks(op: &Operation) -> Vec<&TaskInfo> {
    op.launch
        .iter()
        .flat_map(|l| l.task_infos.iter())
        .chain(
            op.launch_group
                .iter()
                .flat_map(|g| g.task_group.tasks.iter()),
        )
        .collect()
}

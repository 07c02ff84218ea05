//! Framework lifecycle: SUBSCRIBE, failover, heartbeats, teardown, and the simple calls.

use super::*;
use mesos_allocator::FrameworkOptions;
use mesos_proto::ids::validate_role;
use mesos_proto::scheduler::{ErrorMessage, Failure, Subscribed};

impl Master {
    pub(crate) fn scheduler_call(
        &mut self,
        now: f64,
        stream: Option<StreamId>,
        framework_id: Option<FrameworkId>,
        call: Call,
        out: &mut Vec<Output>,
    ) -> Reply {
        if let Call::Subscribe(sub) = call {
            let Some(stream) = stream else {
                return Reply::Error(400, "SUBSCRIBE needs a new stream".into());
            };
            self.subscribe(now, stream, sub, out);
            return Reply::StreamOpened;
        }
        let Some(fid) = framework_id else {
            return Reply::Error(400, "Expecting 'framework_id' to be present".into());
        };
        let Some(fw) = self.frameworks.get(&fid) else {
            return Reply::Error(400, "Framework cannot be found".into());
        };
        let Some(current) = fw.stream.clone() else {
            return Reply::Error(403, "Framework is not subscribed".into());
        };
        match stream {
            None => return Reply::Error(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header".into()),
            Some(s) if s != current => {
                return Reply::Error(
                    400,
                    format!("The stream ID '{s}' included in this request didn't match the stream ID currently associated with framework ID {fid}"),
                )
            }
            _ => {}
        }
        match call {
            Call::Subscribe(_) => unreachable!("handled above"),
            Call::Teardown => self.remove_framework(now, &fid, out),
            Call::Accept(a) => self.accept(now, &fid, a.offer_ids, a.operations, a.filters, out),
            Call::Decline(d) => {
                self.counters.messages_decline_offers += 1;
                self.accept(now, &fid, d.offer_ids, Vec::new(), d.filters, out)
            }
            Call::AcceptInverseOffers(_) | Call::DeclineInverseOffers(_) => {}
            Call::Revive(r) => {
                self.counters.messages_revive_offers += 1;
                let roles = r.roles;
                self.allocator.revive(&fid, &roles);
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    if roles.is_empty() {
                        fw.suppressed_roles.clear();
                    } else {
                        for role in &roles {
                            fw.suppressed_roles.remove(role);
                        }
                    }
                }
                // A revived framework waits for nothing but offers: allocate now, as Mesos'
                // allocator does on REVIVE, rather than at the next periodic run.
                self.allocate_now(now, out);
            }
            Call::Suppress(r) => {
                self.counters.messages_suppress_offers += 1;
                self.allocator.suppress(&fid, &r.roles);
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    let roles = if r.roles.is_empty() {
                        fw.roles()
                    } else {
                        r.roles
                    };
                    fw.suppressed_roles.extend(roles);
                }
            }
            Call::Kill(k) => self.kill(now, &fid, k, out),
            Call::Shutdown(s) => {
                self.send_agent(
                    &s.agent_id,
                    MasterToAgent::ShutdownExecutor {
                        framework_id: fid.clone(),
                        executor_id: s.executor_id,
                    },
                    out,
                );
            }
            Call::Acknowledge(a) => self.acknowledge(&fid, a, out),
            Call::AcknowledgeOperationStatus(_) | Call::ReconcileOperations(_) => {}
            Call::Reconcile(r) => {
                self.counters.messages_reconcile_tasks += 1;
                self.reconcile(now, &fid, r.tasks, out)
            }
            Call::Message(m) => {
                self.counters.messages_framework_to_executor += 1;
                self.send_agent(
                    &m.agent_id,
                    MasterToAgent::FrameworkMessage {
                        framework_id: fid.clone(),
                        executor_id: m.executor_id,
                        data: m.data,
                    },
                    out,
                );
            }
            Call::Request(_) => {}
            Call::UpdateFramework(u) => return self.update_framework(now, &fid, u, out),
        }
        Reply::Accepted
    }

    fn validate_framework_info(info: &FrameworkInfo) -> Result<(), String> {
        let multi = info.has_capability("MULTI_ROLE");
        if multi && info.role.is_some() {
            return Err(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .into(),
            );
        }
        if !multi && !info.roles.is_empty() {
            return Err(
                "'FrameworkInfo.roles' must be empty when the framework is not MULTI_ROLE capable"
                    .into(),
            );
        }
        let mut seen = BTreeSet::new();
        for role in info.effective_roles() {
            validate_role(&role)?;
            if !seen.insert(role.clone()) {
                return Err(format!(
                    "'FrameworkInfo.roles' contains duplicate role '{role}'"
                ));
            }
        }
        if let Some(id) = &info.id {
            mesos_proto::ids::validate_id(&id.value)?;
        }
        Ok(())
    }

    fn allocator_options(fw: &FrameworkRecord) -> FrameworkOptions {
        FrameworkOptions {
            roles: fw.roles(),
            suppressed_roles: fw.suppressed_roles.iter().cloned().collect(),
            gpu_aware: fw.info.has_capability("GPU_RESOURCES"),
            active: fw.active,
        }
    }

    fn subscribe_error(stream: StreamId, message: String, out: &mut Vec<Output>) {
        out.push(Output::ToFramework {
            stream: stream.clone(),
            event: Event::Error(ErrorMessage { message }),
        });
        out.push(Output::CloseStream { stream });
    }

    fn subscribe(
        &mut self,
        now: f64,
        stream: StreamId,
        sub: mesos_proto::scheduler::Subscribe,
        out: &mut Vec<Output>,
    ) {
        let mut info = sub.framework_info;
        if let Err(e) = Self::validate_framework_info(&info) {
            return Self::subscribe_error(stream, e, out);
        }
        let suppressed: BTreeSet<String> = sub.suppressed_roles.into_iter().collect();
        let roles: BTreeSet<String> = info.effective_roles().into_iter().collect();
        if let Some(bad) = suppressed.iter().find(|r| !roles.contains(*r)) {
            return Self::subscribe_error(
                stream,
                format!("Suppressed role '{bad}' is not contained in the list of roles"),
                out,
            );
        }
        let id = match info.id.clone() {
            Some(id) => {
                if self.removed_framework_ids.contains(&id) {
                    return Self::subscribe_error(stream, "Framework has been removed".into(), out);
                }
                id
            }
            None => {
                let id =
                    FrameworkId::new(format!("{}-{:04}", self.master_id(), self.next_framework));
                self.next_framework += 1;
                info.id = Some(id.clone());
                id
            }
        };

        if let Some(fw) = self.frameworks.get(&id) {
            if fw.info.principal != info.principal {
                return Self::subscribe_error(
                    stream,
                    "Framework principal cannot change across a re-subscription".into(),
                    out,
                );
            }
        }
        self.persist(RegistryOp::PutFramework(info.clone()), out);

        let existing = self.frameworks.contains_key(&id);
        if existing {
            // Failover or reconnection of a known framework.
            let old_stream;
            let offers: Vec<OfferId>;
            {
                let fw = self.frameworks.get_mut(&id).expect("checked");
                old_stream = fw.stream.take();
                offers = fw.offers.iter().cloned().collect();
            }
            if let Some(old) = old_stream {
                self.streams.remove(&old);
                out.push(Output::ToFramework {
                    stream: old.clone(),
                    event: Event::Error(ErrorMessage {
                        message: "Framework failed over".into(),
                    }),
                });
                out.push(Output::CloseStream { stream: old });
            }
            for offer in offers {
                self.rescind_offer(now, &offer, true, out);
            }
            let fw = self.frameworks.get_mut(&id).expect("checked");
            fw.info = info.clone();
            fw.stream = Some(stream.clone());
            fw.active = true;
            fw.recovered = false;
            fw.reregistered_time = Some(now);
            fw.unregistered_time = None;
            fw.failover_deadline = None;
            fw.suppressed_roles = suppressed;
            fw.next_heartbeat = now + self.config.heartbeat_interval;
            let opts = Self::allocator_options(fw);
            self.allocator.update_framework(&id, opts);
            self.allocator.activate_framework(&id);
            out.push(Output::Operator(OperatorEvent::FrameworkUpdated {
                framework_id: id.clone(),
            }));
        } else {
            let mut fw = FrameworkRecord::new(info.clone(), now);
            fw.stream = Some(stream.clone());
            fw.active = true;
            fw.next_heartbeat = now + self.config.heartbeat_interval;
            fw.suppressed_roles = suppressed;
            self.allocator
                .add_framework(id.clone(), Self::allocator_options(&fw));
            self.frameworks.insert(id.clone(), fw);
            out.push(Output::Operator(OperatorEvent::FrameworkAdded {
                framework_id: id.clone(),
            }));
        }
        self.streams.insert(stream.clone(), id.clone());
        out.push(Output::ToFramework {
            stream: stream.clone(),
            event: Event::Subscribed(Subscribed {
                framework_id: id.clone(),
                heartbeat_interval_seconds: Some(self.config.heartbeat_interval),
                master_info: Some(self.config.master_info.clone()),
            }),
        });
        out.push(Output::ToFramework {
            stream,
            event: Event::Heartbeat,
        });
        self.tell_agents_framework_info(&id, &info, out);
        self.request_allocation(now);
    }

    /// Agents running this framework's tasks learn its (possibly new) info.
    fn tell_agents_framework_info(
        &self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        out: &mut Vec<Output>,
    ) {
        let agents: BTreeSet<AgentId> = self.frameworks[id]
            .tasks
            .values()
            .map(|t| t.agent_id.clone())
            .collect();
        for agent in agents {
            self.send_agent(
                &agent,
                MasterToAgent::UpdateFramework {
                    framework: info.clone(),
                },
                out,
            );
        }
    }

    /// A framework known from the registry (or from a re-registering agent) that has not
    /// re-subscribed to this master yet.
    pub(crate) fn add_recovered_framework(&mut self, info: FrameworkInfo, now: f64) {
        let Some(id) = info.id.clone() else { return };
        if self.frameworks.contains_key(&id) || self.removed_framework_ids.contains(&id) {
            return;
        }
        let mut fw = FrameworkRecord::new(info, now);
        fw.recovered = true;
        fw.failover_deadline = Some(now + fw.info.failover_timeout.max(0.0));
        self.allocator
            .add_framework(id.clone(), Self::allocator_options(&fw));
        self.allocator.deactivate_framework(&id);
        self.frameworks.insert(id, fw);
    }

    fn update_framework(
        &mut self,
        now: f64,
        fid: &FrameworkId,
        u: mesos_proto::scheduler::UpdateFramework,
        out: &mut Vec<Output>,
    ) -> Reply {
        let info = u.framework_info;
        if let Err(e) = Self::validate_framework_info(&info) {
            return Reply::Error(400, e);
        }
        let fw = self.frameworks.get(fid).expect("caller checked");
        if fw.info.principal != info.principal {
            return Reply::Error(
                403,
                "Updating 'FrameworkInfo.principal' is unsupported".into(),
            );
        }
        if fw.info.user != info.user {
            return Reply::Error(400, "Updating 'FrameworkInfo.user' is unsupported".into());
        }
        if fw.info.checkpoint != info.checkpoint {
            return Reply::Error(
                400,
                "Updating 'FrameworkInfo.checkpoint' is unsupported".into(),
            );
        }
        let roles: BTreeSet<String> = info.effective_roles().into_iter().collect();
        let suppressed: BTreeSet<String> = u.suppressed_roles.into_iter().collect();
        if let Some(bad) = suppressed.iter().find(|r| !roles.contains(*r)) {
            return Reply::Error(
                400,
                format!("Suppressed role '{bad}' is not contained in the list of roles"),
            );
        }
        self.persist(RegistryOp::PutFramework(info.clone()), out);
        // Offers made to roles the framework leaves are rescinded.
        let stale: Vec<OfferId> = self
            .offers
            .values()
            .filter(|o| &o.framework_id == fid && !roles.contains(&o.role))
            .map(|o| o.id.clone())
            .collect();
        for offer in stale {
            self.rescind_offer(now, &offer, true, out);
        }
        let fw = self.frameworks.get_mut(fid).expect("caller checked");
        fw.info = info.clone();
        fw.suppressed_roles = suppressed;
        let opts = Self::allocator_options(fw);
        self.allocator.update_framework(fid, opts);
        out.push(Output::Operator(OperatorEvent::FrameworkUpdated {
            framework_id: fid.clone(),
        }));
        self.tell_agents_framework_info(fid, &info, out);
        self.request_allocation(now);
        Reply::Ok
    }

    pub(crate) fn stream_closed(&mut self, now: f64, stream: &StreamId, out: &mut Vec<Output>) {
        let Some(fid) = self.streams.remove(stream) else {
            return;
        };
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            return;
        };
        if fw.stream.as_ref() != Some(stream) {
            return;
        }
        fw.stream = None;
        fw.active = false;
        fw.unregistered_time = Some(now);
        fw.failover_deadline = Some(now + fw.info.failover_timeout.max(0.0));
        let offers: Vec<OfferId> = fw.offers.iter().cloned().collect();
        self.allocator.deactivate_framework(&fid);
        for offer in offers {
            self.rescind_offer(now, &offer, false, out);
        }
        out.push(Output::Operator(OperatorEvent::FrameworkUpdated {
            framework_id: fid.clone(),
        }));
        if self.frameworks[&fid].info.failover_timeout <= 0.0 {
            self.remove_framework(now, &fid, out);
        }
    }

    pub(crate) fn tick_heartbeats(&mut self, now: f64, out: &mut Vec<Output>) {
        let interval = self.config.heartbeat_interval;
        for fw in self.frameworks.values_mut() {
            if let Some(stream) = &fw.stream {
                if now >= fw.next_heartbeat {
                    fw.next_heartbeat = now + interval;
                    out.push(Output::ToFramework {
                        stream: stream.clone(),
                        event: Event::Heartbeat,
                    });
                }
            }
        }
    }

    pub(crate) fn tick_failover(&mut self, now: f64, out: &mut Vec<Output>) {
        let expired: Vec<FrameworkId> = self
            .frameworks
            .iter()
            .filter(|(_, f)| f.stream.is_none() && f.failover_deadline.is_some_and(|d| now >= d))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove_framework(now, &id, out);
        }
    }

    /// Remove a framework: kill its tasks, free its resources, remember it as completed.
    pub(crate) fn remove_framework(&mut self, now: f64, fid: &FrameworkId, out: &mut Vec<Output>) {
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return;
        };
        if let Some(stream) = fw.stream.take() {
            self.streams.remove(&stream);
            out.push(Output::CloseStream { stream });
        }
        let offers: Vec<OfferId> = fw.offers.iter().cloned().collect();
        for offer in offers {
            self.rescind_offer(now, &offer, false, out);
        }
        let mut fw = self.frameworks.remove(fid).expect("present");
        let mut agents: BTreeSet<AgentId> = fw.tasks.values().map(|t| t.agent_id.clone()).collect();
        agents.extend(fw.executors.keys().cloned());
        for agent in &agents {
            self.send_agent(
                agent,
                MasterToAgent::ShutdownFramework {
                    framework_id: fid.clone(),
                },
                out,
            );
        }
        for (task_id, mut task) in std::mem::take(&mut fw.tasks) {
            if let Some(agent) = self.agents.get_mut(&task.agent_id) {
                agent.tasks.remove(&(fid.clone(), task_id.clone()));
            }
            if !task.state.is_terminal() {
                Arc::make_mut(&mut task).state = TaskState::TaskKilled;
            }
            fw.completed_tasks.push_back(task);
        }
        while fw.completed_tasks.len() > self.config.max_completed_tasks_per_framework {
            fw.completed_tasks.pop_front();
        }
        fw.executors.clear();
        fw.active = false;
        fw.unregistered_time = Some(now);
        self.allocator.remove_framework(fid);
        self.persist(RegistryOp::RemoveFramework(fid.clone()), out);
        self.removed_framework_ids.insert(fid.clone());
        out.push(Output::Operator(OperatorEvent::FrameworkRemoved {
            info: fw.info.clone(),
        }));
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > self.config.max_completed_frameworks {
            self.completed_frameworks.pop_front();
        }
    }

    /// FAILURE{agent_id} to every connected framework.
    pub(crate) fn broadcast_agent_failure(&self, agent: &AgentId, out: &mut Vec<Output>) {
        for id in self.frameworks.keys() {
            self.send_event(
                id,
                Event::Failure(Failure {
                    agent_id: Some(agent.clone()),
                    executor_id: None,
                    status: None,
                }),
                out,
            );
        }
    }
}

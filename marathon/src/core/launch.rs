//! Offer matching: which waiting app an offer can host, and the TaskInfo to launch.

use std::collections::BTreeMap;

use mesos_core::proto::ids::{AgentId, OfferId, TaskId};
use mesos_core::proto::resources::{RangeSet, Resources};
use mesos_core::proto::scheduler::{Accept, Call, Decline};
use mesos_core::proto::v1::{
    CommandInfo, Environment, EnvironmentVariable, Filters, KillPolicy, Launch, Offer, Operation,
    TaskInfo, TaskState, ValueType,
};
use serde_json::{json, Value};

use super::model::{task_id_for, Instance, OfferStats, UnusedOffer};
use super::{deploy::config_version, Marathon, Output};
use crate::app::{AppDefinition, EnvValue, NetworkMode};
use crate::constraints::{self, AgentFacts, Constraint};
use crate::store::StoreOp;

/// How many unused offers `/v2/queue?embed=lastUnusedOffers` keeps per app.
const LAST_UNUSED_OFFERS: usize = 10;

/// Attribute values as constraints compare them (text; numbers as Mesos prints them).
pub(crate) fn agent_facts(offer: &Offer) -> AgentFacts {
    let attributes = offer
        .attributes
        .iter()
        .map(|a| {
            let v = match a.state_value() {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (a.name.clone(), v)
        })
        .collect();
    AgentFacts {
        agent_id: offer.agent_id.value.clone(),
        hostname: offer.hostname.clone(),
        attributes,
    }
}

/// Why an offer cannot host one instance of `app` (first failing reason), or the
/// resources and host ports to use.
fn fit(
    app: &AppDefinition,
    available: &Resources,
    facts: &AgentFacts,
    placed: &[&AgentFacts],
) -> Result<(Resources, Vec<u16>), &'static str> {
    let mut need = Resources::new()
        .with_scalar("cpus", app.cpus)
        .with_scalar("mem", app.mem);
    if app.disk > 0.0 {
        need = need.with_scalar("disk", app.disk);
    }
    if app.gpus > 0 {
        need = need.with_scalar("gpus", app.gpus as f64);
    }
    if available.scalar("cpus") + 1e-9 < app.cpus {
        return Err("InsufficientCpus");
    }
    if available.scalar("mem") + 1e-9 < app.mem {
        return Err("InsufficientMemory");
    }
    if available.scalar("disk") + 1e-9 < app.disk {
        return Err("InsufficientDisk");
    }
    if available.scalar("gpus") + 1e-9 < app.gpus as f64 {
        return Err("InsufficientGpus");
    }
    let parsed: Result<Vec<Constraint>, String> = app
        .constraints
        .iter()
        .map(|c| Constraint::parse(c))
        .collect();
    match parsed {
        Ok(cs) => {
            if constraints::check(&cs, facts, placed).is_err() {
                return Err("UnfulfilledConstraint");
            }
        }
        Err(_) => return Err("UnfulfilledConstraint"),
    }
    let ports = host_ports(app, available).ok_or("InsufficientPorts")?;
    if !ports.is_empty() {
        let set = RangeSet::new(ports.iter().map(|p| (*p as u64, *p as u64)));
        need = need.with_ranges("ports", set);
    }
    Ok((need, ports))
}

/// The host ports an instance needs, taken from the offer: fixed ones must be
/// offered, dynamic ones (0) are the lowest free offered ports.
fn host_ports(app: &AppDefinition, available: &Resources) -> Option<Vec<u16>> {
    // (Some(fixed) | None for dynamic) per host port.
    let wanted: Vec<Option<u16>> = if app.is_host_networking() {
        app.port_definitions
            .iter()
            .flatten()
            .map(|p| (app.require_ports && p.port > 0).then_some(p.port as u16))
            .collect()
    } else {
        port_mappings(app)
            .filter_map(|m| m.host_port)
            .map(|h| (h > 0).then_some(h as u16))
            .collect()
    };
    if wanted.is_empty() {
        return Some(Vec::new());
    }
    let empty = RangeSet::new(Vec::new());
    let offered = available.ranges("ports").unwrap_or(&empty);
    let mut taken: Vec<u16> = wanted.iter().flatten().copied().collect();
    if taken.iter().any(|p| !offered.contains_value(*p as u64)) {
        return None;
    }
    let mut out = Vec::new();
    let mut free = offered
        .ranges()
        .iter()
        .flat_map(|(b, e)| *b..=*e)
        .filter(|p| *p <= u16::MAX as u64)
        .map(|p| p as u16);
    for w in wanted {
        match w {
            Some(p) => out.push(p),
            None => loop {
                let p = free.next()?;
                if !taken.contains(&p) {
                    taken.push(p);
                    out.push(p);
                    break;
                }
            },
        }
    }
    Some(out)
}

impl Marathon {
    pub(crate) fn offers(&mut self, now: f64, offers: Vec<Offer>, out: &mut Vec<Output>) {
        // Demand as of the last convergence (updated as launches are made).
        let mut demand = self.converge(now, out);
        for offer in offers {
            let facts = agent_facts(&offer);
            let mut available = match Resources::from_wire(&offer.resources) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("offer {} has bad resources: {e}", offer.id.value);
                    out.push(decline(&offer.id, self.cfg.decline_offer_duration));
                    continue;
                }
            };
            let mut tasks = Vec::new();
            let apps: Vec<String> = demand
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(a, _)| a.clone())
                .collect();
            for app_id in apps {
                let Some(app) = self.apps.get(&app_id).cloned() else {
                    continue;
                };
                let mut reasons = Vec::new();
                let mut used = false;
                // The agents of the app's active instances, for constraints: listed
                // once, then extended by each launch (constraints do not depend on
                // the order). The first launch on this offer records the offer's facts
                // for its agent, which may change what earlier instances there show:
                // the list is made again after it.
                let mut placed_facts = self.placed_facts(&app_id);
                while demand.get(&app_id).copied().unwrap_or(0) > 0 {
                    let placed: Vec<&AgentFacts> = placed_facts.iter().collect();
                    match fit(&app, &available, &facts, &placed) {
                        Ok((need, ports)) => {
                            available = available.saturating_sub(&need);
                            let task = self.new_task(now, &app, &offer, &need, ports, out);
                            tasks.push(task);
                            *demand.get_mut(&app_id).expect("present") -= 1;
                            if used {
                                placed_facts.push(agent_facts(&offer));
                            } else {
                                placed_facts = self.placed_facts(&app_id);
                            }
                            used = true;
                        }
                        Err(reason) => {
                            reasons.push(reason);
                            break;
                        }
                    }
                }
                let stats = self.offer_stats.entry(app_id.clone()).or_default();
                record_offer(stats, now, &offer, used, &reasons);
            }
            if tasks.is_empty() {
                out.push(decline(&offer.id, self.cfg.decline_offer_duration));
            } else {
                out.push(Output::call(Call::Accept(Accept {
                    offer_ids: vec![offer.id.clone()],
                    operations: vec![Operation {
                        kind: "LAUNCH".into(),
                        id: None,
                        launch: Some(Launch { task_infos: tasks }),
                        launch_group: None,
                    }],
                    filters: Some(Filters {
                        refuse_seconds: Some(self.cfg.decline_offer_duration),
                    }),
                })));
            }
        }
    }

    /// The agent facts of every active instance of an app (one entry per instance).
    fn placed_facts(&self, app_id: &str) -> Vec<AgentFacts> {
        self.instances
            .values()
            .filter(|i| i.app_id == app_id && i.is_active())
            .map(|i| self.facts_of(i))
            .collect()
    }

    pub(crate) fn facts_of(&self, inst: &Instance) -> AgentFacts {
        self.agent_facts
            .get(&inst.agent_id)
            .cloned()
            .unwrap_or_else(|| AgentFacts {
                agent_id: inst.agent_id.clone(),
                hostname: inst.host.clone(),
                attributes: BTreeMap::new(),
            })
    }

    fn new_task(
        &mut self,
        now: f64,
        app: &AppDefinition,
        offer: &Offer,
        need: &Resources,
        ports: Vec<u16>,
        out: &mut Vec<Output>,
    ) -> TaskInfo {
        let uuid = self.new_uuid();
        let task_id = task_id_for(&app.id, &uuid);
        let service_ports = service_ports(app);
        let inst = Instance {
            task_id: task_id.clone(),
            app_id: app.id.clone(),
            version: app.version.clone().unwrap_or_default(),
            config_version: config_version(app),
            agent_id: offer.agent_id.value.clone(),
            host: offer.hostname.clone(),
            ports: ports.clone(),
            service_ports,
            state: TaskState::TaskStaging,
            staged_at: now,
            started_at: None,
            killing: false,
            last_kill_at: None,
            health: Vec::new(),
            mesos_healthy: None,
            health_started: false,
            ip_addresses: Vec::new(),
        };
        self.agent_facts
            .insert(offer.agent_id.value.clone(), agent_facts(offer));
        out.push(Output::Store(vec![StoreOp::Put(
            format!("instance/{task_id}"),
            serde_json::to_vec(&inst).expect("instances serialize"),
        )]));
        self.instances.insert(task_id.clone(), inst);
        if let Some(stats) = self.offer_stats.get_mut(&app.id) {
            stats.last_used_at = Some(now);
        }
        build_task_info(
            app,
            &task_id,
            &offer.agent_id,
            &offer.hostname,
            need,
            &ports,
        )
    }
}

fn decline(id: &OfferId, seconds: f64) -> Output {
    Output::call(Call::Decline(Decline {
        offer_ids: vec![id.clone()],
        filters: Some(Filters {
            refuse_seconds: Some(seconds),
        }),
    }))
}

fn record_offer(
    stats: &mut OfferStats,
    now: f64,
    offer: &Offer,
    used: bool,
    reasons: &[&'static str],
) {
    stats.processed += 1;
    for r in super::model::REJECT_REASONS {
        let e = stats.reasons.entry(r).or_insert((0, 0));
        e.1 += 1;
        if reasons.contains(&r) {
            e.0 += 1;
        }
    }
    if used {
        stats.last_used_at = Some(now);
        return;
    }
    stats.unused += 1;
    stats.last_unused_at = Some(now);
    stats.last_unused.push_back(UnusedOffer {
        offer: json!({
            "id": offer.id.value, "agentId": offer.agent_id.value, "hostname": offer.hostname,
            "resources": offer.resources.iter().map(|r| {
                let mut v = json!({"name": r.name, "role": r.role.clone().unwrap_or_else(|| "*".into())});
                match r.kind {
                    ValueType::Scalar => v["scalar"] = json!(r.scalar.as_ref().map(|s| s.value).unwrap_or(0.0)),
                    ValueType::Ranges => v["ranges"] = json!(r.ranges.as_ref().map(|rs| rs.range.iter()
                        .map(|x| json!({"begin": x.begin, "end": x.end})).collect::<Vec<_>>()).unwrap_or_default()),
                    _ => {}
                }
                v
            }).collect::<Vec<_>>(),
            "attributes": [],
        }),
        reasons: reasons.to_vec(),
        at: now,
    });
    while stats.last_unused.len() > LAST_UNUSED_OFFERS {
        stats.last_unused.pop_front();
    }
}

/// The container's port mappings (none for host networking or without a container).
fn port_mappings(app: &AppDefinition) -> impl Iterator<Item = &crate::app::PortMapping> {
    app.container
        .as_ref()
        .and_then(|c| c.port_mappings.as_ref())
        .into_iter()
        .flatten()
}

/// Service ports of an app (assigned when the app was stored).
pub(crate) fn service_ports(app: &AppDefinition) -> Vec<u16> {
    if app.is_host_networking() {
        app.port_definitions
            .iter()
            .flatten()
            .map(|p| p.port as u16)
            .collect()
    } else {
        port_mappings(app).map(|m| m.service_port as u16).collect()
    }
}

/// The environment Marathon gives a task.
fn task_env(
    app: &AppDefinition,
    task_id: &str,
    host: &str,
    ports: &[u16],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for (k, v) in &app.env {
        if let EnvValue::Value(s) = v {
            env.push((k.clone(), s.clone()));
        }
    }
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    set("MARATHON_APP_ID", app.id.clone());
    set(
        "MARATHON_APP_VERSION",
        app.version.clone().unwrap_or_default(),
    );
    set("MARATHON_APP_RESOURCE_CPUS", num(app.cpus));
    set("MARATHON_APP_RESOURCE_MEM", num(app.mem));
    set("MARATHON_APP_RESOURCE_DISK", num(app.disk));
    set("MARATHON_APP_RESOURCE_GPUS", app.gpus.to_string());
    set(
        "MARATHON_APP_LABELS",
        app.labels.keys().cloned().collect::<Vec<_>>().join(" "),
    );
    for (k, v) in &app.labels {
        let key: String = k
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        set(&format!("MARATHON_APP_LABEL_{key}"), v.clone());
    }
    set("MESOS_TASK_ID", task_id.to_string());
    set("HOST", host.to_string());
    let service = service_ports(app);
    let names: Vec<Option<String>> = if app.is_host_networking() {
        app.port_definitions
            .iter()
            .flatten()
            .map(|p| p.name.clone())
            .collect()
    } else {
        port_mappings(app)
            .filter(|m| m.host_port.is_some())
            .map(|m| m.name.clone())
            .collect()
    };
    for (i, p) in ports.iter().enumerate() {
        set(&format!("PORT{i}"), p.to_string());
        if let Some(sp) = service.get(i).filter(|s| **s > 0) {
            set(&format!("PORT_{sp}"), p.to_string());
        }
        if let Some(Some(name)) = names.get(i) {
            set(
                &format!("PORT_{}", name.to_ascii_uppercase()),
                p.to_string(),
            );
        }
    }
    if let Some(p) = ports.first() {
        set("PORT", p.to_string());
    }
    set(
        "PORTS",
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    env
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// The TaskInfo for one instance of `app` on an agent.
pub(crate) fn build_task_info(
    app: &AppDefinition,
    task_id: &str,
    agent: &AgentId,
    host: &str,
    resources: &Resources,
    ports: &[u16],
) -> TaskInfo {
    let name: String = {
        let mut segs: Vec<&str> = app.id.split('/').filter(|s| !s.is_empty()).collect();
        segs.reverse();
        segs.join(".")
    };
    let mut t = TaskInfo::new(name, TaskId::new(task_id), agent.clone());
    t.resources = resources.to_wire(None);
    let variables = task_env(app, task_id, host, ports)
        .into_iter()
        .map(|(name, value)| EnvironmentVariable {
            name,
            kind: None,
            value: Some(value),
            secret: None,
        })
        .collect();
    let mut command = match (&app.cmd, &app.args) {
        (Some(cmd), _) => CommandInfo::shell(cmd.clone()),
        (None, Some(args)) => {
            let mut c = CommandInfo::shell(String::new());
            c.shell = false;
            c.value = if app.container.as_ref().and_then(|c| c.image()).is_some() {
                None
            } else {
                args.first().cloned()
            };
            c.arguments = args.clone();
            c
        }
        (None, None) => {
            let mut c = CommandInfo::shell(String::new());
            c.shell = false;
            c.value = None;
            c
        }
    };
    command.environment = Some(Environment { variables });
    command.user = app.user.clone();
    command.uris = app
        .fetch
        .iter()
        .map(|f| {
            json!({"value": f.uri, "extract": f.extract, "executable": f.executable, "cache": f.cache})
        })
        .collect();
    t.command = Some(command);
    if let Some(c) = &app.container {
        if let Some(d) = &c.docker {
            let network = match app.networks.first().map(|n| n.mode) {
                Some(NetworkMode::ContainerBridge) => "BRIDGE",
                Some(NetworkMode::Container) => "USER",
                _ => "HOST",
            };
            // Docker's port mappings: one per protocol ("udp,tcp" maps both), and a
            // containerPort of 0 means the host port (as Marathon's TaskBuilder does).
            let mut host_ports = ports.iter();
            let mappings: Vec<Value> = c
                .port_mappings
                .iter()
                .flatten()
                .filter(|m| m.host_port.is_some())
                .filter_map(|m| {
                    let hp = *host_ports.next()?;
                    let cp = if m.container_port == 0 {
                        hp as i64
                    } else {
                        m.container_port
                    };
                    Some(
                        m.protocol
                            .split(',')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(|p| json!({"host_port": hp, "container_port": cp, "protocol": p}))
                            .collect::<Vec<_>>(),
                    )
                })
                .flatten()
                .collect();
            let mut docker = json!({
                "image": d.image, "network": network, "privileged": d.privileged,
                "force_pull_image": d.force_pull_image,
                "parameters": d.parameters.iter().map(|p| json!({"key": p.key, "value": p.value})).collect::<Vec<_>>(),
            });
            if network != "HOST" {
                docker["port_mappings"] = json!(mappings);
            }
            let mut container = json!({
                "type": "DOCKER", "docker": docker,
                "volumes": c.volumes.iter().filter(|v| v.host_path.is_some()).map(|v| json!({
                    "container_path": v.container_path, "host_path": v.host_path,
                    "mode": v.mode.clone().unwrap_or_else(|| "RW".into()),
                })).collect::<Vec<_>>(),
            });
            if network == "USER" {
                let names: Vec<Value> = app
                    .networks
                    .iter()
                    .filter_map(|n| n.name.clone())
                    .map(|n| json!({"name": n}))
                    .collect();
                container["network_infos"] = json!(names);
            }
            t.container = Some(container);
        }
    }
    if let Some(g) = app.task_kill_grace_period_seconds {
        t.kill_policy = Some(KillPolicy {
            grace_period: Some(mesos_core::proto::v1::DurationInfo {
                nanoseconds: g * 1_000_000_000,
            }),
        });
    }
    if let Some(h) = app
        .health_checks
        .iter()
        .find(|h| !matches!(h.protocol.as_str(), "HTTP" | "HTTPS" | "TCP"))
    {
        t.health_check = Some(mesos_health_check(h, ports));
    }
    if !app.labels.is_empty() {
        t.labels = Some(json!({"labels": app.labels.iter()
            .map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()}));
    }
    t
}

/// A Mesos-level HealthCheck (run by the executor) for COMMAND and MESOS_* checks.
fn mesos_health_check(h: &crate::app::HealthCheck, ports: &[u16]) -> Value {
    let port = h
        .port
        .map(|p| p as u16)
        .or_else(|| ports.get(h.port_index.unwrap_or(0) as usize).copied())
        .unwrap_or(0);
    let mut v = json!({
        "delay_seconds": 0,
        "interval_seconds": h.interval_seconds,
        "timeout_seconds": h.timeout_seconds,
        "consecutive_failures": h.max_consecutive_failures,
        "grace_period_seconds": h.grace_period_seconds,
    });
    match h.protocol.as_str() {
        "COMMAND" => {
            v["type"] = json!("COMMAND");
            v["command"] = json!({"value": h.command.as_ref().map(|c| c.value.clone()).unwrap_or_default(), "shell": true});
        }
        "MESOS_TCP" => {
            v["type"] = json!("TCP");
            v["tcp"] = json!({"port": port});
        }
        p => {
            v["type"] = json!("HTTP");
            v["http"] = json!({"port": port, "path": h.path.clone().unwrap_or_else(|| "/".into()),
                               "scheme": if p == "MESOS_HTTPS" { "https" } else { "http" }});
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Config, UpdateOptions};
    use mesos_core::proto::scheduler::{Event, Offers};

    fn offer(id: &str, agent: &str, host: &str) -> Offer {
        serde_json::from_value(json!({
            "id": {"value": id}, "framework_id": {"value": "fw"},
            "agent_id": {"value": agent}, "hostname": host,
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 100.0}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 100000.0}},
            ],
        }))
        .unwrap()
    }

    fn launched(out: &[Output]) -> usize {
        out.iter()
            .filter_map(|o| match o {
                Output::Call(c) => match &**c {
                    Call::Accept(a) => Some(a),
                    _ => None,
                },
                _ => None,
            })
            .flat_map(|a| &a.operations)
            .filter_map(|op| op.launch.as_ref())
            .map(|l| l.task_infos.len())
            .sum()
    }

    /// Several launches on one offer count the ones made before them, and the
    /// instances placed by earlier offers, against the constraints.
    #[test]
    fn launches_on_one_offer_respect_max_per() {
        let mut now = 1_800_000_000.0;
        let mut m = Marathon::new(Config::default(), 1);
        m.subscribed(now, "fw", "master");
        let mut out = Vec::new();
        m.create_app(
            now,
            json!({"id": "/c", "cmd": "sleep 60", "cpus": 0.1, "mem": 1, "instances": 2,
                   "portDefinitions": [], "constraints": [["hostname", "MAX_PER", "3"]]}),
            false,
            &mut out,
        )
        .unwrap();
        now += 1.0;
        let ev = |m: &mut Marathon, now: f64, o: Offer| {
            m.event(now, Event::Offers(Offers { offers: vec![o] }))
        };
        assert_eq!(launched(&ev(&mut m, now, offer("o1", "a1", "host-a"))), 2);
        // (The first deployment still waits for its tasks: forced.)
        let opts = UpdateOptions {
            partial: true,
            force: true,
            must_exist: true,
        };
        m.update_app(now, "/c", json!({"instances": 9}), opts, &mut out)
            .unwrap();
        // One more fits on host-a; the rest goes to other hosts, three at most each.
        assert_eq!(launched(&ev(&mut m, now, offer("o2", "a1", "host-a"))), 1);
        assert_eq!(launched(&ev(&mut m, now, offer("o3", "a1", "host-a"))), 0);
        assert_eq!(launched(&ev(&mut m, now, offer("o4", "a2", "host-b"))), 3);
        assert_eq!(launched(&ev(&mut m, now, offer("o5", "a3", "host-c"))), 3);
        assert_eq!(launched(&ev(&mut m, now, offer("o6", "a4", "host-d"))), 0);
    }
}

//! `UPDATE_QUOTA`: validation as Mesos answers it, persistence, the allocator.
//!
//! Quota is accepted for top-level roles and scalar resources only. Without `force`,
//! the guarantees of all roles after the update must fit the cluster's capacity. Each
//! config is written to the registry before the call is answered; the default config
//! (no guarantees, no limits) removes the role's quota.

use super::{Master, Output, Reply};
use crate::registry::{QuotaRecord, RegistryOp};
use mesos_allocator::QuotaConfig;
use mesos_proto::resources::Resources;
use std::collections::{BTreeMap, BTreeSet};

/// A role's quota as the read endpoints show it.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaView {
    pub role: String,
    pub guarantees: BTreeMap<String, f64>,
    pub limits: BTreeMap<String, f64>,
    /// Offered and used scalars of the role and its sub-roles.
    pub consumed: Resources,
}

/// Resource names that are never scalar, whatever the agents offer.
const NON_SCALAR: [&str; 1] = ["ports"];

fn render(m: &BTreeMap<String, f64>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{{{}}}", parts.join("; "))
}

fn render_resources(r: &Resources) -> String {
    let m: BTreeMap<String, f64> = r
        .scalars()
        .map(|(k, v)| (k.to_string(), v as f64 / 1000.0))
        .collect();
    render(&m)
}

pub(crate) fn to_config(q: &QuotaRecord) -> QuotaConfig {
    QuotaConfig {
        guarantees: q.guarantees.clone(),
        limits: q.limits.clone(),
    }
}

fn sum(m: &BTreeMap<String, f64>) -> Resources {
    m.iter()
        .fold(Resources::new(), |r, (k, v)| r.with_scalar(k, *v))
}

/// Mesos' `quota::validate(QuotaConfig)`, plus this master's limits (top-level roles,
/// scalar names).
fn validate(q: &QuotaRecord, non_scalar: &BTreeSet<String>) -> Result<(), String> {
    if q.role.is_empty() {
        return Err("'QuotaConfig.role' must be set".into());
    }
    mesos_proto::ids::validate_role(&q.role)
        .map_err(|e| format!("Invalid 'QuotaConfig.role': {e}"))?;
    if q.role == "*" {
        return Err(
            "Invalid 'QuotaConfig.role': setting quota for the default '*' role is not supported"
                .into(),
        );
    }
    if q.role.contains('/') {
        return Err(format!(
            "Invalid 'QuotaConfig.role': quota is only supported for top-level roles, not '{}'",
            q.role
        ));
    }
    for (what, m) in [("guarantee", &q.guarantees), ("limit", &q.limits)] {
        for (name, v) in m {
            let bad = if !v.is_finite() {
                Some("Infinite values not supported".to_string())
            } else if *v < 0.0 {
                Some("Negative values not supported".to_string())
            } else if name.is_empty() {
                Some("Empty resource name".to_string())
            } else if non_scalar.contains(name) {
                Some(format!("'{name}' is not a scalar resource"))
            } else {
                None
            };
            if let Some(e) = bad {
                return Err(format!(
                    "Invalid {what} configuration {{'{name}': {v}}}: {e}"
                ));
            }
        }
    }
    // A name without a limit is unlimited.
    let exceeds = q
        .guarantees
        .iter()
        .any(|(k, g)| q.limits.get(k).is_some_and(|l| g > l));
    if exceeds {
        return Err(format!(
            "Invalid QuotaConfig: guarantees {} is not contained within limits {}",
            render(&q.guarantees),
            render(&q.limits)
        ));
    }
    Ok(())
}

impl Master {
    /// Names that agents offer as ranges or sets (and `ports`).
    fn non_scalar_names(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = NON_SCALAR.iter().map(|s| s.to_string()).collect();
        for a in self.agents.values() {
            for (name, _) in a.total.all_ranges() {
                out.insert(name.to_string());
            }
            for r in Resources::to_wire(&a.total, None) {
                if r.scalar.is_none() {
                    out.insert(r.name.clone());
                }
            }
        }
        out
    }

    pub(crate) fn update_quota(
        &mut self,
        force: bool,
        configs: Vec<QuotaRecord>,
        out: &mut Vec<Output>,
    ) -> Reply {
        let non_scalar = self.non_scalar_names();
        for q in &configs {
            if let Err(e) = validate(q, &non_scalar) {
                return Reply::Error(400, format!("Failed to validate 'UPDATE_QUOTA' call: {e}"));
            }
        }
        if !force {
            let mut after: BTreeMap<&str, &QuotaRecord> = self
                .registry
                .quotas
                .iter()
                .map(|(k, v)| (k.as_str(), v))
                .collect();
            for q in &configs {
                after.insert(q.role.as_str(), q);
            }
            let total = after.values().fold(Resources::new(), |acc, q| {
                acc.aggregate(&sum(&q.guarantees))
            });
            let capacity = self.allocator.total();
            if !capacity.contains(&total) {
                return Reply::Error(
                    400,
                    format!(
                        "Total quota guarantees '{}' exceed cluster capacity '{}' (use 'force' flag to bypass this check)",
                        render_resources(&total),
                        render_resources(&capacity)
                    ),
                );
            }
        }
        for q in configs {
            let config = to_config(&q);
            let applied = self.allocator.update_quota(&q.role, config.clone());
            debug_assert!(applied.is_ok(), "validated: a top-level role");
            if config.is_default() {
                self.persist(RegistryOp::RemoveQuota(q.role), out);
            } else {
                self.persist(RegistryOp::PutQuota(q), out);
            }
        }
        Reply::Ok
    }

    /// Quota configs recovered from the registry go to the allocator.
    pub(crate) fn recover_quotas(&mut self) {
        for q in self.registry.quotas.values() {
            let _ = self.allocator.update_quota(&q.role, to_config(q));
        }
    }

    /// Every configured quota with what its role consumes, sorted by role.
    pub fn quota_views(&self) -> Vec<QuotaView> {
        self.registry
            .quotas
            .values()
            .map(|q| QuotaView {
                role: q.role.clone(),
                guarantees: q.guarantees.clone(),
                limits: q.limits.clone(),
                consumed: self.allocator.consumed(&q.role),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::state::{Input, MasterConfig, Outputs};
    use mesos_proto::internal::{MasterToAgent, Registration};
    use mesos_proto::scheduler::{Call, Event, Subscribe};
    use mesos_proto::v1::{AgentInfo, FrameworkInfo, MasterInfo};
    use serde_json::json;

    fn master_with_agent(resources: &str) -> Master {
        let info: MasterInfo = serde_json::from_value(json!({
            "id": "M", "ip": 0, "port": 5050, "hostname": "localhost"
        }))
        .unwrap();
        let mut m = Master::new(MasterConfig::new(info), Registry::default(), 1000.0);
        let mut agent: AgentInfo =
            serde_json::from_value(json!({"hostname": "agent1", "port": 5051})).unwrap();
        agent.resources = Resources::parse_flag(resources).unwrap().to_wire(None);
        let out = m.handle(
            1000.0,
            Input::AgentConnect {
                conn: 1,
                registration: Registration::Register {
                    agent_info: agent,
                    version: "1.11.0".into(),
                },
            },
        );
        assert!(out.effects.iter().any(|o| matches!(
            o,
            Output::ToAgent {
                message: MasterToAgent::Registered { .. },
                ..
            }
        )));
        m
    }

    /// Subscribes a framework in `role` and returns the resources of its first offers.
    fn subscribe_and_offers(m: &mut Master, role: &str) -> Vec<Resources> {
        let info: FrameworkInfo = serde_json::from_value(json!({
            "user": "u", "name": "fw", "roles": [role],
            "capabilities": [{"type": "MULTI_ROLE"}]
        }))
        .unwrap();
        let call = Call::Subscribe(Subscribe {
            framework_info: info,
            suppressed_roles: vec![],
            offer_constraints: None,
        });
        m.handle(
            1001.0,
            Input::Scheduler {
                stream: Some("s1".into()),
                framework_id: None,
                call,
            },
        );
        let out = m.handle(1003.0, Input::Tick);
        out.effects
            .iter()
            .flat_map(|o| match o {
                Output::ToFramework {
                    event: Event::Offers(offers),
                    ..
                } => offers.offers.clone(),
                _ => vec![],
            })
            .map(|o| Resources::from_wire(&o.resources).unwrap())
            .collect()
    }

    fn q(role: &str, g: &[(&str, f64)], l: &[(&str, f64)]) -> QuotaRecord {
        QuotaRecord {
            role: role.into(),
            guarantees: g.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            limits: l.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    fn update(m: &mut Master, force: bool, configs: Vec<QuotaRecord>) -> Outputs {
        m.handle(10.0, Input::UpdateQuota { force, configs })
    }

    fn error_of(o: &Outputs) -> String {
        match &o.reply {
            Reply::Error(400, msg) => msg.clone(),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn invalid_configs_are_refused_as_mesos_does() {
        let mut m = master_with_agent("cpus:4;mem:4096;ports:[31000-31010]");
        let cases = [
            (q("a/b", &[], &[("cpus", 1.0)]), "top-level roles"),
            (q("*", &[], &[("cpus", 1.0)]), "default '*' role"),
            (
                q("", &[], &[("cpus", 1.0)]),
                "'QuotaConfig.role' must be set",
            ),
            (
                q("a", &[], &[("ports", 1.0)]),
                "'ports' is not a scalar resource",
            ),
            (
                q("a", &[("cpus", -1.0)], &[]),
                "Negative values not supported",
            ),
            (
                q("a", &[("cpus", 2.0)], &[("cpus", 1.0)]),
                "is not contained within limits",
            ),
        ];
        for (config, want) in cases {
            let o = update(&mut m, false, vec![config]);
            let msg = error_of(&o);
            assert!(
                msg.starts_with("Failed to validate 'UPDATE_QUOTA' call: ") && msg.contains(want),
                "{msg}"
            );
            assert!(o.effects.is_empty(), "nothing persisted on a refusal");
        }
        assert!(m.quota_views().is_empty());
    }

    #[test]
    fn guarantees_beyond_capacity_need_force() {
        let mut m = master_with_agent("cpus:4;mem:4096");
        let o = update(&mut m, false, vec![q("a", &[("cpus", 8.0)], &[])]);
        assert!(error_of(&o).contains("exceed cluster capacity"), "{o:?}");
        // The sum over roles counts: 3 + 2 > 4.
        assert_eq!(
            update(&mut m, false, vec![q("a", &[("cpus", 3.0)], &[])]).reply,
            Reply::Ok
        );
        let o = update(&mut m, false, vec![q("b", &[("cpus", 2.0)], &[])]);
        assert!(error_of(&o).contains("exceed cluster capacity"));
        let o = update(&mut m, true, vec![q("b", &[("cpus", 2.0)], &[])]);
        assert_eq!(o.reply, Reply::Ok);
        assert_eq!(m.quota_views().len(), 2);
    }

    #[test]
    fn quota_is_persisted_applied_and_recovered() {
        let mut m = master_with_agent("cpus:4;mem:4096");
        let o = update(
            &mut m,
            false,
            vec![q("a", &[("cpus", 1.0)], &[("cpus", 2.0), ("mem", 512.0)])],
        );
        assert_eq!(o.reply, Reply::Ok);
        assert!(matches!(
            &o.effects[..],
            [Output::Persist(RegistryOp::PutQuota(r))] if r.role == "a"
        ));
        assert_eq!(
            m.allocator().quota("a").unwrap().limits["mem"],
            512.0,
            "applied to the allocator"
        );
        // A new master term starts from the registry and keeps the quota.
        let recovered = Master::new(m.config().clone(), m.registry.clone(), 20.0);
        assert_eq!(recovered.quota_views(), m.quota_views());
        assert_eq!(
            recovered.allocator().quota("a").unwrap().guarantees["cpus"],
            1.0
        );
        // The default config removes it, from the registry too.
        let o = update(&mut m, false, vec![q("a", &[], &[])]);
        assert!(matches!(
            &o.effects[..],
            [Output::Persist(RegistryOp::RemoveQuota(r))] if r == "a"
        ));
        assert!(m.quota_views().is_empty() && m.allocator().quota("a").is_none());
    }

    #[test]
    fn offers_respect_the_limit() {
        let mut m = master_with_agent("cpus:4;mem:4096");
        assert_eq!(
            update(&mut m, false, vec![q("a", &[], &[("cpus", 1.0)])]).reply,
            Reply::Ok
        );
        let offers = subscribe_and_offers(&mut m, "a");
        let cpus: f64 = offers.iter().map(|r| r.scalar("cpus")).sum();
        assert_eq!(cpus, 1.0, "{offers:?}");
        assert_eq!(m.quota_views()[0].consumed.scalar("cpus"), 1.0);
    }
}

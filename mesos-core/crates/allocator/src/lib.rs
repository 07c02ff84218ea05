//! A pure hierarchical weighted DRF allocator (Mesos' `HierarchicalDRFAllocator`).
//!
//! The allocator owns no clock, no runtime and no OS randomness: time comes in as a
//! `now: Duration` argument, agent shuffling uses a seeded generator, and an allocation
//! cycle returns its grants as values. Granted resources count as allocated until they
//! are `recover`ed.
//!
//! Model (see the Mesos spec, section 5.1):
//! * a role tree sorted by weighted DRF share (`a/b` counts towards `a`), with one
//!   framework sorter per role; sort key `(share, allocation count, name)`;
//! * one cycle walks the active agents in shuffled order and gives each agent's whole
//!   free chunk to the first eligible `(role, framework)` in DRF order;
//! * quota (`quota.rs`, `quota_cycle.rs`): guarantees and limits of top-level roles; with
//!   any quota set, a cycle first serves unmet guarantees (stage 1), holds the unmet
//!   guarantees back from everyone else, and chops chunks to the limits;
//! * offer filters are per `(framework, role, agent)`: an offer is filtered while it is a
//!   subset of the refused resources.
//!
//! Internals are built for large clusters: ordered sorter sets re-keyed in O(log n) per
//! grant, per-agent filter bitsets (one bit per framework sorter slot) evaluated against
//! the agent's current free chunk only when that chunk changes, and interned scalar
//! names so the hot loop handles no strings.

pub mod bench;
mod cycle;
mod filters;
mod order;
mod quota;
mod quota_cycle;
mod res;
mod sorter;
mod util;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod quota_tests;
#[cfg(test)]
mod reservation_tests;
#[cfg(test)]
mod tests;

pub use quota::{QuotaConfig, QuotaStatus};

use mesos_proto::ids::{AgentId, FrameworkId};
use mesos_proto::resources::Resources;
use res::{add_scalars, drf_share, sub_scalars, Names, Res};
use sorter::Tree;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;
use util::{Bits, FastMap, Prng};

/// Offer filters never outlive this (Mesos caps `refuse_seconds` at 365 days).
pub const MAX_FILTER_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Clone, Debug, PartialEq)]
pub struct AllocatorConfig {
    /// Period of the batch allocation (`--allocation_interval`); also the minimum
    /// lifetime of an offer filter.
    pub allocation_interval: Duration,
    /// `--min_allocatable_resources`: a chunk is offered only if it contains at least
    /// one of these. Empty means any non-empty chunk.
    pub min_allocatable: Vec<Resources>,
    /// `--filter_gpu_resources`: GPU agents are offered only to GPU-aware frameworks.
    pub filter_gpu_resources: bool,
    /// Seed of the agent shuffle.
    pub seed: u64,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            allocation_interval: Duration::from_secs(1),
            min_allocatable: vec![
                Resources::new().with_scalar("cpus", 0.01),
                Resources::new().with_scalar("mem", 32.0),
            ],
            filter_gpu_resources: true,
            seed: 0x6d65_736f_735f_6472,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameworkOptions {
    /// Roles the framework subscribes to; empty means `["*"]`.
    pub roles: Vec<String>,
    pub suppressed_roles: Vec<String>,
    /// Has the `GPU_RESOURCES` capability.
    pub gpu_aware: bool,
    pub active: bool,
}

impl Default for FrameworkOptions {
    fn default() -> Self {
        FrameworkOptions {
            roles: vec!["*".to_string()],
            suppressed_roles: Vec::new(),
            gpu_aware: false,
            active: true,
        }
    }
}

impl FrameworkOptions {
    /// Active, unsuppressed, not GPU-aware, subscribed to `roles`.
    pub fn with_roles<S: AsRef<str>>(roles: &[S]) -> Self {
        FrameworkOptions {
            roles: roles.iter().map(|r| r.as_ref().to_string()).collect(),
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub framework_id: FrameworkId,
    /// The role the resources are allocated to.
    pub role: String,
    pub agent_id: AgentId,
    pub resources: Resources,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RoleSummary {
    pub role: String,
    pub weight: f64,
    /// Scalar quantities allocated (offered or used) to this role itself, over all agents
    /// (ranges of different agents cannot be added, so they are left out).
    pub allocated: Resources,
    /// Frameworks subscribed to the role or holding resources allocated to it, sorted.
    pub frameworks: Vec<FrameworkId>,
    /// Weighted DRF share of the role's subtree (what the role sorter compares).
    pub dominant_share: f64,
}

/// An offer filter: `refused` is shared between filters on the same agent.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    pub rx: u32,
    pub slot: u32,
    /// Expiry, in nanoseconds of the caller's clock.
    pub expires: u64,
    pub refused: Arc<Res>,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: AgentId,
    pub total: Res,
    /// `total` minus everything offered or used (the sum of `alloc_by`).
    pub free: Res,
    pub active: bool,
    pub has_gpus: bool,
    /// Allocation per `(role node, client slot)`.
    pub alloc_by: FastMap<(u32, u32), Res>,
    pub filters: Vec<Filter>,
    /// Earliest expiry among `filters` (may be stale-early, never late).
    pub next_expiry: Option<u64>,
    /// The free chunk that `blocked` was computed for.
    pub blocked_for: Option<Res>,
    /// Per role node: client slots with a filter covering `blocked_for`.
    pub blocked: FastMap<u32, Bits>,
    /// The last chunk granted, shared by the filters that refuse exactly it.
    pub last_chunk: Option<Arc<Res>>,
}

#[derive(Debug)]
pub(crate) struct Framework {
    pub id: FrameworkId,
    pub name: Arc<str>,
    /// Added through `add_framework` (a placeholder otherwise, created by `add_used`
    /// for tasks of a framework that has not re-subscribed yet).
    pub known: bool,
    pub active: bool,
    pub gpu_aware: bool,
    pub subscribed: BTreeSet<String>,
    pub suppressed: BTreeSet<String>,
    /// Its sorter entries: `(role node, slot)`.
    pub clients: Vec<(u32, u32)>,
}

/// The allocator. See the crate documentation.
#[derive(Debug)]
pub struct Allocator {
    pub(crate) config: AllocatorConfig,
    pub(crate) names: Names,
    pub(crate) min_alloc: Vec<Res>,
    pub(crate) gpus_ix: usize,
    pub(crate) agents: Vec<Option<Agent>>,
    agent_free: Vec<u32>,
    agent_ix: FastMap<AgentId, u32>,
    pub(crate) frameworks: Vec<Option<Framework>>,
    fw_free: Vec<u32>,
    fw_ix: FastMap<FrameworkId, u32>,
    pub(crate) tree: Tree,
    weights: FastMap<String, f64>,
    /// Quota by top-level role.
    pub(crate) quotas: BTreeMap<String, quota::QuotaEntry>,
    pub(crate) expiry: BinaryHeap<Reverse<(u64, u32)>>,
    pub(crate) rng: Prng,
}

pub(crate) fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

fn norm_role(role: &str) -> &str {
    if role.is_empty() {
        "*"
    } else {
        role
    }
}

impl Allocator {
    pub fn new(config: AllocatorConfig) -> Self {
        let mut names = Names::default();
        for n in ["cpus", "mem", "disk", "gpus"] {
            names.intern_scalar(n);
        }
        let gpus_ix = names.intern_scalar("gpus");
        let min_alloc = config
            .min_allocatable
            .iter()
            .map(|r| Res::from_resources(r, &mut names))
            .filter(|r| !r.is_empty())
            .collect();
        let rng = Prng::new(config.seed);
        Allocator {
            config,
            names,
            min_alloc,
            gpus_ix,
            agents: Vec::new(),
            agent_free: Vec::new(),
            agent_ix: FastMap::default(),
            frameworks: Vec::new(),
            fw_free: Vec::new(),
            fw_ix: FastMap::default(),
            tree: Tree::new(),
            weights: FastMap::default(),
            quotas: BTreeMap::new(),
            expiry: BinaryHeap::new(),
            rng,
        }
    }

    pub fn config(&self) -> &AllocatorConfig {
        &self.config
    }

    pub(crate) fn agent_mut(&mut self, ax: u32) -> &mut Agent {
        self.agents[ax as usize].as_mut().expect("live agent")
    }
    pub(crate) fn framework(&self, fx: u32) -> &Framework {
        self.frameworks[fx as usize]
            .as_ref()
            .expect("live framework")
    }
    fn framework_mut(&mut self, fx: u32) -> &mut Framework {
        self.frameworks[fx as usize]
            .as_mut()
            .expect("live framework")
    }

    // ----- agents -------------------------------------------------------------------

    /// Adds an agent with its total resources and what frameworks already use on it
    /// (clamped so the allocation never exceeds the total). Re-adding an existing agent
    /// replaces it.
    pub fn add_agent(
        &mut self,
        agent: AgentId,
        total: Resources,
        used: Vec<(FrameworkId, String, Resources)>,
    ) {
        if self.agent_ix.contains_key(&agent) {
            self.remove_agent(&agent);
        }
        let total = Res::from_resources(&total, &mut self.names);
        let quantities = total.quantities(&self.names);
        let has_gpus = quantities.get(self.gpus_ix).is_some_and(|m| *m > 0);
        add_scalars(&mut self.tree.totals, &quantities);
        drop(quantities);
        self.tree.dirty = true;
        let a = Agent {
            id: agent.clone(),
            free: total.clone(),
            total,
            active: true,
            has_gpus,
            alloc_by: FastMap::default(),
            filters: Vec::new(),
            next_expiry: None,
            blocked_for: None,
            blocked: FastMap::default(),
            last_chunk: None,
        };
        let ax = match self.agent_free.pop() {
            Some(i) => {
                self.agents[i as usize] = Some(a);
                i
            }
            None => {
                self.agents.push(Some(a));
                (self.agents.len() - 1) as u32
            }
        };
        self.agent_ix.insert(agent.clone(), ax);
        for (fw, role, r) in used {
            self.add_used(&fw, &role, &agent, &r);
        }
    }

    /// Removes an agent: everything allocated on it and every filter for it is dropped.
    pub fn remove_agent(&mut self, agent: &AgentId) {
        let Some(ax) = self.agent_ix.remove(agent) else {
            return;
        };
        let a = self.agents[ax as usize].take().expect("live agent");
        self.agent_free.push(ax);
        sub_scalars(&mut self.tree.totals, &a.total.quantities(&self.names));
        self.tree.dirty = true;
        let mut touched: BTreeSet<(u32, u32)> = BTreeSet::new();
        let mut allocs: Vec<((u32, u32), Res)> = a.alloc_by.into_iter().collect();
        allocs.sort_by_key(|(k, _)| *k);
        for ((rx, slot), r) in allocs {
            self.tree.client_mut(rx, slot).alloc_agents.remove(&ax);
            self.tree
                .change_alloc(rx, slot, &r.quantities(&self.names), false);
            touched.insert((rx, slot));
        }
        for f in a.filters {
            self.tree.node_mut(f.rx).n_filters -= 1;
            self.tree.client_mut(f.rx, f.slot).filter_agents.remove(&ax);
            touched.insert((f.rx, f.slot));
        }
        for (rx, slot) in touched {
            let fx = self.tree.client(rx, slot).fw;
            self.gc_client(fx, rx, slot);
        }
    }

    /// Active agents are offered; deactivated ones keep their allocations.
    pub fn activate_agent(&mut self, agent: &AgentId) {
        if let Some(&ax) = self.agent_ix.get(agent) {
            self.agent_mut(ax).active = true;
        }
    }

    pub fn deactivate_agent(&mut self, agent: &AgentId) {
        if let Some(&ax) = self.agent_ix.get(agent) {
            self.agent_mut(ax).active = false;
        }
    }

    // ----- frameworks ---------------------------------------------------------------

    fn ensure_framework(&mut self, fw: &FrameworkId) -> u32 {
        if let Some(&fx) = self.fw_ix.get(fw) {
            return fx;
        }
        let f = Framework {
            id: fw.clone(),
            name: Arc::from(fw.value.as_str()),
            known: false,
            active: false,
            gpu_aware: false,
            subscribed: BTreeSet::new(),
            suppressed: BTreeSet::new(),
            clients: Vec::new(),
        };
        let fx = match self.fw_free.pop() {
            Some(i) => {
                self.frameworks[i as usize] = Some(f);
                i
            }
            None => {
                self.frameworks.push(Some(f));
                (self.frameworks.len() - 1) as u32
            }
        };
        self.fw_ix.insert(fw.clone(), fx);
        fx
    }

    fn client_of(&self, fx: u32, role: &str) -> Option<(u32, u32)> {
        let rx = self.tree.find_role(role)?;
        self.framework(fx)
            .clients
            .iter()
            .find(|(r, _)| *r == rx)
            .copied()
    }

    fn ensure_client(&mut self, fx: u32, role: &str) -> (u32, u32) {
        if let Some(c) = self.client_of(fx, role) {
            return c;
        }
        let rx = self.tree.ensure_role(role, &self.weights);
        self.attach_quota(role);
        let name = self.framework(fx).name.clone();
        let slot = self.tree.add_client(rx, fx, name);
        self.framework_mut(fx).clients.push((rx, slot));
        (rx, slot)
    }

    /// Drops the client if it is idle; drops a placeholder framework left without clients.
    pub(crate) fn gc_client(&mut self, fx: u32, rx: u32, slot: u32) {
        if self.tree.remove_client_if_idle(rx, slot) {
            let f = self.framework_mut(fx);
            f.clients.retain(|c| *c != (rx, slot));
            if !f.known && f.clients.is_empty() {
                let id = f.id.clone();
                self.frameworks[fx as usize] = None;
                self.fw_free.push(fx);
                self.fw_ix.remove(&id);
            }
        }
    }

    /// Re-evaluates whether each of the framework's sorter entries is eligible.
    fn refresh(&mut self, fx: u32) {
        let f = self.framework(fx);
        let updates: Vec<(u32, u32, bool)> = f
            .clients
            .iter()
            .map(|&(rx, slot)| {
                let path: &str = &self.tree.node(rx).path;
                let c = self.tree.client(rx, slot);
                let ok = f.known && f.active && c.subscribed && !f.suppressed.contains(path);
                (rx, slot, ok)
            })
            .collect();
        let gpu = f.gpu_aware;
        for (rx, slot, ok) in updates {
            self.tree.set_eligible(rx, slot, ok, gpu);
        }
    }

    fn unsubscribe(&mut self, fx: u32, role: &str) {
        if let Some((rx, slot)) = self.client_of(fx, role) {
            self.drop_client_filters(rx, slot);
            self.tree.client_mut(rx, slot).subscribed = false;
            self.tree.set_eligible(rx, slot, false, false);
            self.gc_client(fx, rx, slot);
        }
    }

    fn apply_options(&mut self, fx: u32, opts: FrameworkOptions) {
        let mut roles: BTreeSet<String> = opts
            .roles
            .iter()
            .map(|r| norm_role(r).to_string())
            .collect();
        if roles.is_empty() {
            roles.insert("*".to_string());
        }
        let old: Vec<String> = self
            .framework(fx)
            .subscribed
            .difference(&roles)
            .cloned()
            .collect();
        for role in &old {
            self.unsubscribe(fx, role);
        }
        {
            let f = self.framework_mut(fx);
            f.known = true;
            f.subscribed = roles.clone();
            f.suppressed = opts
                .suppressed_roles
                .iter()
                .map(|r| norm_role(r).to_string())
                .collect();
            f.gpu_aware = opts.gpu_aware;
            f.active = opts.active;
        }
        for role in &roles {
            let (rx, slot) = self.ensure_client(fx, role);
            self.tree.client_mut(rx, slot).subscribed = true;
        }
        self.refresh(fx);
    }

    /// Adds a framework (or completes a placeholder created by `add_used`).
    pub fn add_framework(&mut self, fw: FrameworkId, opts: FrameworkOptions) {
        let fx = self.ensure_framework(&fw);
        self.apply_options(fx, opts);
    }

    /// Updates roles, suppression, capabilities and activity. Roles it leaves lose their
    /// filters; resources still allocated there stay accounted until recovered.
    pub fn update_framework(&mut self, fw: &FrameworkId, opts: FrameworkOptions) {
        self.add_framework(fw.clone(), opts);
    }

    /// Removes a framework and frees everything allocated to it on every agent.
    pub fn remove_framework(&mut self, fw: &FrameworkId) {
        let Some(&fx) = self.fw_ix.get(fw) else {
            return;
        };
        let clients = self.framework(fx).clients.clone();
        for (rx, slot) in clients {
            self.drop_client_filters(rx, slot);
            let mut agents: Vec<u32> = self
                .tree
                .client(rx, slot)
                .alloc_agents
                .iter()
                .copied()
                .collect();
            agents.sort_unstable();
            for ax in agents {
                let all = self.agents[ax as usize]
                    .as_ref()
                    .and_then(|a| a.alloc_by.get(&(rx, slot)).cloned());
                if let Some(all) = all {
                    self.release(ax, rx, slot, &all);
                }
            }
            self.tree.client_mut(rx, slot).subscribed = false;
            self.tree.set_eligible(rx, slot, false, false);
            let removed = self.tree.remove_client_if_idle(rx, slot);
            debug_assert!(removed, "a removed framework's client must be idle");
        }
        self.frameworks[fx as usize] = None;
        self.fw_free.push(fx);
        self.fw_ix.remove(fw);
    }

    /// Inactive frameworks get no offers; their allocations and filters are kept.
    pub fn activate_framework(&mut self, fw: &FrameworkId) {
        self.set_active(fw, true);
    }

    pub fn deactivate_framework(&mut self, fw: &FrameworkId) {
        self.set_active(fw, false);
    }

    fn set_active(&mut self, fw: &FrameworkId, active: bool) {
        if let Some(&fx) = self.fw_ix.get(fw) {
            self.framework_mut(fx).active = active;
            self.refresh(fx);
        }
    }

    fn roles_or_all(&self, fx: u32, roles: &[String]) -> Vec<String> {
        if roles.is_empty() {
            self.framework(fx).subscribed.iter().cloned().collect()
        } else {
            roles.iter().map(|r| norm_role(r).to_string()).collect()
        }
    }

    /// Stops offers to the framework for these roles (empty = all its roles).
    pub fn suppress(&mut self, fw: &FrameworkId, roles: &[String]) {
        let Some(&fx) = self.fw_ix.get(fw) else {
            return;
        };
        let roles = self.roles_or_all(fx, roles);
        self.framework_mut(fx).suppressed.extend(roles);
        self.refresh(fx);
    }

    /// Unsuppresses these roles (empty = all) and clears their offer filters.
    pub fn revive(&mut self, fw: &FrameworkId, roles: &[String]) {
        let Some(&fx) = self.fw_ix.get(fw) else {
            return;
        };
        let all = roles.is_empty();
        let roles = self.roles_or_all(fx, roles);
        if all {
            self.framework_mut(fx).suppressed.clear();
        }
        for role in &roles {
            self.framework_mut(fx).suppressed.remove(role);
            if let Some((rx, slot)) = self.client_of(fx, role) {
                self.drop_client_filters(rx, slot);
            }
        }
        self.refresh(fx);
    }

    // ----- weights ------------------------------------------------------------------

    /// Sets a role's weight (must be finite and > 0; other values are ignored).
    pub fn set_weight(&mut self, role: &str, weight: f64) {
        if !(weight.is_finite() && weight > 0.0) {
            return;
        }
        let role = norm_role(role);
        self.weights.insert(role.to_string(), weight);
        self.tree.set_weight(role, weight);
    }

    pub fn weight(&self, role: &str) -> f64 {
        self.weights.get(norm_role(role)).copied().unwrap_or(1.0)
    }

    // ----- resources ----------------------------------------------------------------

    /// Resources allocated earlier (offered or used) come back. Only what is actually
    /// allocated to `(fw, role)` on the agent is freed. With `refuse_for = Some(d)`,
    /// d > 0, an offer filter on exactly `resources` is installed until
    /// `now + min(max(d, allocation_interval), 365 days)`.
    pub fn recover(
        &mut self,
        fw: &FrameworkId,
        role: &str,
        agent: &AgentId,
        resources: &Resources,
        refuse_for: Option<Duration>,
        now: Duration,
    ) {
        let role = norm_role(role);
        let (Some(&ax), Some(&fx)) = (self.agent_ix.get(agent), self.fw_ix.get(fw)) else {
            return;
        };
        let Some((rx, slot)) = self.client_of(fx, role) else {
            return;
        };
        let r = Res::from_resources(resources, &mut self.names);
        self.release(ax, rx, slot, &r);
        if let Some(d) = refuse_for {
            if !d.is_zero() && self.tree.client(rx, slot).subscribed && !r.is_empty() {
                let life = d
                    .max(self.config.allocation_interval)
                    .min(MAX_FILTER_DURATION);
                let expires = nanos(now).saturating_add(nanos(life));
                self.install_filter(ax, rx, slot, r, expires);
            }
        }
        self.gc_client(fx, rx, slot);
    }

    /// Frees the part of `r` allocated to the client on the agent.
    pub(crate) fn release(&mut self, ax: u32, rx: u32, slot: u32, r: &Res) {
        let a = self.agents[ax as usize].as_mut().expect("live agent");
        let Some(cur) = a.alloc_by.get_mut(&(rx, slot)) else {
            return;
        };
        let take = if cur.contains(r) {
            r.clone()
        } else {
            cur.intersect(r)
        };
        if take.is_empty() {
            return;
        }
        if cur.sub(&take).is_err() {
            debug_assert!(false, "allocation bookkeeping out of sync");
            return;
        }
        let now_empty = cur.is_empty();
        if now_empty {
            a.alloc_by.remove(&(rx, slot));
        }
        let ok = a.free.add(&take).is_ok();
        debug_assert!(ok, "freed resources overlap free ones");
        if now_empty {
            self.tree.client_mut(rx, slot).alloc_agents.remove(&ax);
        }
        self.tree
            .change_alloc(rx, slot, &take.quantities(&self.names), false);
    }

    /// Accounts resources as used by a framework without an offer (tasks reported by a
    /// re-registering agent). Clamped to what is free on the agent. The framework need
    /// not be added yet: it is tracked until it is added or removed.
    pub fn add_used(
        &mut self,
        fw: &FrameworkId,
        role: &str,
        agent: &AgentId,
        resources: &Resources,
    ) {
        let role = norm_role(role);
        let Some(&ax) = self.agent_ix.get(agent) else {
            return;
        };
        let r = Res::from_resources(resources, &mut self.names);
        let a = self.agents[ax as usize].as_ref().expect("live agent");
        let take = if a.free.contains(&r) {
            r
        } else {
            a.free.intersect(&r)
        };
        if take.is_empty() {
            return;
        }
        let fx = self.ensure_framework(fw);
        let (rx, slot) = self.ensure_client(fx, role);
        let a = self.agents[ax as usize].as_mut().expect("live agent");
        if a.free.sub(&take).is_ok() {
            let merged = match a.alloc_by.get_mut(&(rx, slot)) {
                Some(cur) => cur.add(&take).is_ok(),
                None => {
                    a.alloc_by.insert((rx, slot), take.clone());
                    true
                }
            };
            debug_assert!(merged, "allocation bookkeeping out of sync");
            self.tree.client_mut(rx, slot).alloc_agents.insert(ax);
            self.tree
                .change_alloc(rx, slot, &take.quantities(&self.names), true);
        }
        self.gc_client(fx, rx, slot);
    }

    // ----- views --------------------------------------------------------------------

    /// Offered + used on that agent (empty for an unknown agent).
    pub fn agent_allocated(&self, agent: &AgentId) -> Resources {
        self.agent_ix
            .get(agent)
            .and_then(|&ax| self.agents[ax as usize].as_ref())
            .map(|a| {
                let mut allocated = a.total.clone();
                let ok = allocated.sub(&a.free).is_ok();
                debug_assert!(ok, "free exceeds total");
                allocated.to_resources(&self.names)
            })
            .unwrap_or_default()
    }

    /// The agent's total, if it is known.
    pub fn agent_total(&self, agent: &AgentId) -> Option<Resources> {
        self.agent_ix
            .get(agent)
            .and_then(|&ax| self.agents[ax as usize].as_ref())
            .map(|a| a.total.to_resources(&self.names))
    }

    /// What is allocated to `(fw, role)` on the agent.
    pub fn allocation(&self, fw: &FrameworkId, role: &str, agent: &AgentId) -> Resources {
        let role = norm_role(role);
        let found = (|| {
            let fx = *self.fw_ix.get(fw)?;
            let ax = *self.agent_ix.get(agent)?;
            let key = self.client_of(fx, role)?;
            let a = self.agents[ax as usize].as_ref()?;
            Some(a.alloc_by.get(&key)?.to_resources(&self.names))
        })();
        found.unwrap_or_default()
    }

    /// Roles with subscribed frameworks or allocations, sorted by name.
    pub fn role_allocations(&self) -> Vec<RoleSummary> {
        let mut out: Vec<RoleSummary> = self
            .tree
            .live_nodes()
            .filter(|(_, n)| !n.clients.is_empty())
            .map(|(_, n)| {
                let mut frameworks: Vec<FrameworkId> = n
                    .clients
                    .keys()
                    .map(|&fx| self.framework(fx).id.clone())
                    .collect();
                frameworks.sort();
                RoleSummary {
                    role: n.path.to_string(),
                    weight: n.weight,
                    allocated: Res::scalars_to_resources(&n.own, &self.names),
                    frameworks,
                    dominant_share: drf_share(&n.sub, &self.tree.totals, n.weight),
                }
            })
            .collect();
        out.sort_by(|a, b| a.role.cmp(&b.role));
        out
    }

    /// Offer filters stored for the role (expired ones are dropped at the next cycle).
    pub fn active_filters(&self, role: &str) -> usize {
        self.tree
            .find_role(norm_role(role))
            .map(|rx| self.tree.node(rx).n_filters)
            .unwrap_or(0)
    }

    /// Cluster total over all agents (scalar quantities only).
    pub fn total(&self) -> Resources {
        Res::scalars_to_resources(&self.tree.totals, &self.names)
    }

    /// Roles in the current DRF order (those with frameworks or allocations).
    pub fn role_order(&mut self) -> Vec<String> {
        if self.tree.dirty {
            self.tree.rebuild();
        }
        self.tree
            .role_order()
            .into_iter()
            .map(|rx| self.tree.node(rx).path.to_string())
            .collect()
    }

    /// Checks the bookkeeping invariants (for tests and debugging): on every agent
    /// `free + Σ allocations == total` (so nothing is over-committed or granted twice);
    /// the sorters' allocations and the cluster totals match the agents.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut totals: Vec<i64> = Vec::new();
        let mut by_client: FastMap<(u32, u32), Vec<i64>> = FastMap::default();
        for (ax, a) in self.agents.iter().enumerate() {
            let Some(a) = a else { continue };
            add_scalars(&mut totals, &a.total.quantities(&self.names));
            let mut sum = a.free.clone();
            let mut keys: Vec<&(u32, u32)> = a.alloc_by.keys().collect();
            keys.sort();
            for k in keys {
                let r = &a.alloc_by[k];
                if r.is_empty() {
                    return Err(format!("agent {}: empty allocation entry", a.id));
                }
                sum.add(r)
                    .map_err(|_| format!("agent {}: allocations overlap", a.id))?;
                add_scalars(by_client.entry(*k).or_default(), &r.quantities(&self.names));
                if !self
                    .tree
                    .client(k.0, k.1)
                    .alloc_agents
                    .contains(&(ax as u32))
                {
                    return Err(format!("agent {}: client index out of sync", a.id));
                }
            }
            if sum != a.total {
                return Err(format!("agent {}: free + allocated != total", a.id));
            }
        }
        let trim = |v: &[i64]| {
            let mut v = v.to_vec();
            while v.last() == Some(&0) {
                v.pop();
            }
            v
        };
        if trim(&totals) != trim(&self.tree.totals) {
            return Err("cluster totals out of sync".into());
        }
        for (rx, n) in self.tree.live_nodes() {
            let mut own: Vec<i64> = Vec::new();
            for &slot in n.clients.values() {
                let c = n.client(slot);
                let expect = by_client.get(&(rx, slot)).cloned().unwrap_or_default();
                if trim(&c.alloc) != trim(&expect) {
                    return Err(format!(
                        "client {} in {}: sorter allocation out of sync",
                        c.name, n.path
                    ));
                }
                add_scalars(&mut own, &c.alloc);
            }
            if trim(&own) != trim(&n.own) {
                return Err(format!("role {}: allocation out of sync", n.path));
            }
            let expect = match (n.parent, self.quotas.get(&*n.path)) {
                (Some(quota::ROOT_PARENT), Some(e)) => Some(&e.interned),
                _ => None,
            };
            if n.quota.as_deref() != expect {
                return Err(format!("role {}: quota not attached as configured", n.path));
            }
        }
        Ok(())
    }
}

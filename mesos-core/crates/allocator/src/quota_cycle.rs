//! An allocation cycle with quota: `__generateOffers` stages 1 and 2 (Mesos 1.9+).
//!
//! * Headroom: `required = Σ max(guarantee - consumed, 0)` over every quota role (with
//!   or without frameworks), `available` = unallocated scalars over all agents. What a
//!   role may take beyond its own unmet guarantee is capped by the surplus
//!   `max(available - required, 0)`, so the unmet guarantees stay coverable.
//! * Stage 1, agents shuffled: for each agent, the top-level roles with unmet guarantees
//!   and eligible frameworks of their own, in DRF order; each framework of the role in
//!   DRF order gets a chunk "chopped" from the agent: the unmet guarantee, then more up to
//!   the limit out of the surplus, plus the agent's non-scalar resources. A role that this
//!   agent cannot bring closer to its guarantee is skipped.
//! * Stage 2, agents shuffled again: for each agent, roles in DRF order; a role's chunk is
//!   the free chunk chopped to its top-level role's limit and to the surplus (plus its own
//!   unmet guarantee). A whole chunk goes to the first eligible framework as without
//!   quota; after a chopped grant the rest goes on to the next roles.
//!
//! Top-level roles whose limit leaves no allocatable chunk are `capped` for the cycle and
//! skipped; when every eligible framework is under a capped role, stage 2 ends at once.
//!
//! Reserved resources are never chopped: a role's chunk holds all of its free
//! reservations (and its ancestors'), none of other roles'. Quota consumption counts
//! allocated reservations; unallocated ones are not counted yet (Mesos counts them).

use crate::cycle::{allocatable, pick_part, pick_whole};
use crate::filters::recompute_blocked;
use crate::quota::NodeQuota;
use crate::res::{sub_scalars, Res};
use crate::sorter::{Key, ROOT};
use crate::util::FastMap;
use crate::{Allocator, Grant};
use mesos_proto::resources::Milli;
use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

struct Cycle {
    /// Unallocated scalars over all agents.
    available: Vec<Milli>,
    /// Σ over quota roles of the unmet guarantee.
    required: Vec<Milli>,
    /// Entry keys of top-level roles with unmet guarantees and eligible frameworks.
    stage1: BTreeSet<Key>,
    /// Σ `sub_eligible` over capped top-level roles.
    capped_eligible: usize,
    /// Grants so far, merged per `(agent, role, slot)`.
    grants: Vec<(u32, u32, u32, Res)>,
    index: FastMap<(u32, u32, u32), usize>,
}

#[inline]
fn at(v: &[Milli], i: usize) -> Milli {
    v.get(i).copied().unwrap_or(0)
}

impl Cycle {
    #[inline]
    fn surplus(&self, i: usize) -> Milli {
        (at(&self.available, i) - at(&self.required, i)).max(0)
    }

    /// Stage 1 scalars for a role with quota `q` and consumption `used` from the free
    /// scalars `free`: the unmet guarantee, then up to the limit out of the surplus.
    /// `None` when the agent has nothing towards the unmet guarantee.
    fn stage1_scalars(&self, free: &[Milli], q: &NodeQuota, used: &[Milli]) -> Option<Vec<Milli>> {
        let mut toward = false;
        let s = free
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                let g = f.min(q.unmet(i, used));
                toward |= g > 0;
                let beyond = (q.room(i, used) - g).max(0);
                g + (f - g).min(beyond).min(self.surplus(i))
            })
            .collect();
        toward.then_some(s)
    }

    /// Stage 2 scalars, written to `out`; returns whether any was chopped.
    fn stage2_scalars(
        &self,
        free: &[Milli],
        q: Option<(&NodeQuota, &[Milli])>,
        out: &mut Vec<Milli>,
    ) -> bool {
        out.clear();
        let mut chopped = false;
        for (i, &f) in free.iter().enumerate() {
            let cap = match q {
                Some((q, used)) => q.room(i, used).min(self.surplus(i) + q.unmet(i, used)),
                None => self.surplus(i),
            };
            let v = f.min(cap);
            chopped |= v != f;
            out.push(v);
        }
        chopped
    }
}

impl Allocator {
    /// Both stages; see the module documentation. Filters are expired and keys rebuilt.
    pub(crate) fn allocate_with_quota(&mut self) -> Vec<Grant> {
        let mut cy = self.start_cycle();
        let mut order: Vec<u32> = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.as_ref().is_some_and(|a| a.active))
            .map(|(i, _)| i as u32)
            .collect();
        self.rng.shuffle(&mut order);
        for &ax in &order {
            if cy.stage1.is_empty() {
                break;
            }
            self.stage1_agent(ax, &mut cy);
        }
        self.rng.shuffle(&mut order);
        for &ax in &order {
            if self.tree.node(ROOT).sub_eligible <= cy.capped_eligible {
                break;
            }
            self.stage2_agent(ax, &mut cy);
        }
        cy.grants
            .into_iter()
            .map(|(ax, rx, slot, chunk)| Grant {
                framework_id: self.framework(self.tree.client(rx, slot).fw).id.clone(),
                role: self.tree.node(rx).path.to_string(),
                agent_id: self.agents[ax as usize]
                    .as_ref()
                    .expect("live agent")
                    .id
                    .clone(),
                resources: chunk.to_resources(&self.names),
            })
            .collect()
    }

    fn start_cycle(&mut self) -> Cycle {
        let mut available = self.tree.totals.clone();
        sub_scalars(&mut available, &self.tree.node(ROOT).sub);
        let mut cy = Cycle {
            available,
            required: Vec::new(),
            stage1: BTreeSet::new(),
            capped_eligible: 0,
            grants: Vec::new(),
            index: FastMap::default(),
        };
        for (role, entry) in &self.quotas {
            let Some(rx) = self.tree.find_role(role) else {
                // No frameworks and no allocations: the whole guarantee is unmet.
                let q = &entry.interned;
                add_unmet(&mut cy.required, q, &[]);
                continue;
            };
            let n = self.tree.node_mut(rx);
            let q = n.quota.as_deref().expect("quota attached to its role node");
            add_unmet(&mut cy.required, q, &n.sub);
            n.capped = q.capped(&n.sub, &self.min_alloc);
            if n.capped {
                cy.capped_eligible += n.sub_eligible;
            } else if n.n_eligible > 0 && q.any_unmet(&n.sub) {
                cy.stage1
                    .insert(n.key.clone().expect("top-level node is keyed"));
            }
        }
        cy
    }

    /// Whether the agent's free chunk could be offered at all.
    fn agent_open(&self, ax: u32) -> bool {
        let a = self.agents[ax as usize].as_ref().expect("live agent");
        allocatable(&self.min_alloc, &self.names, &a.free)
    }

    fn stage1_agent(&mut self, ax: u32, cy: &mut Cycle) {
        let mut cursor: Option<Key> = None;
        let mut granted: Vec<u32> = Vec::new();
        while self.agent_open(ax) {
            let next = match &cursor {
                None => cy.stage1.iter().next(),
                Some(k) => cy.stage1.range((Excluded(k), Unbounded)).next(),
            };
            let Some(k) = next.cloned() else {
                return;
            };
            let t = k.id;
            cursor = Some(k);
            // A role granted here moved further on in the order; Mesos walks the order
            // taken before the agent's first grant, so it is not visited again.
            if !granted.contains(&t) && self.stage1_role(ax, t, cy) {
                granted.push(t);
            }
        }
    }

    /// Offers the role's frameworks, in DRF order, chunks towards its guarantee.
    fn stage1_role(&mut self, ax: u32, t: u32, cy: &mut Cycle) -> bool {
        let gpu_filter = self.config.filter_gpu_resources;
        let mut tried: Vec<u32> = Vec::new();
        loop {
            let agent = self.agents[ax as usize].as_mut().expect("live agent");
            let node = self.tree.node(t);
            let q = node.quota.as_deref().expect("stage-1 role has quota");
            let Some(s) = cy.stage1_scalars(&agent.free.s, q, &node.sub) else {
                break;
            };
            let chunk = agent.free.allocatable_to(&node.path).with_scalars(s);
            if !allocatable(&self.min_alloc, &self.names, &chunk) {
                break;
            }
            if agent.blocked_for.as_ref() != Some(&agent.free) {
                recompute_blocked(agent);
            }
            let gpu_only = gpu_filter && agent.has_gpus;
            let Some(slot) = pick_part(node, t, agent, gpu_only, &chunk, &tried) else {
                break;
            };
            tried.push(slot);
            self.grant_part(ax, t, slot, chunk, cy);
        }
        !tried.is_empty()
    }

    fn stage2_agent(&mut self, ax: u32, cy: &mut Cycle) {
        let gpu_filter = self.config.filter_gpu_resources;
        let mut cursor: Option<Key> = None;
        let mut granted: Vec<u32> = Vec::new();
        let mut buf: Vec<Milli> = Vec::new();
        while self.agent_open(ax) {
            let agent = self.agents[ax as usize].as_mut().expect("live agent");
            if agent.blocked_for.as_ref() != Some(&agent.free) {
                recompute_blocked(agent);
            }
            let agent = &*agent;
            let root = self.tree.node(ROOT);
            let next = match &cursor {
                None => root.children.iter().next(),
                Some(k) => root.children.range((Excluded(k), Unbounded)).next(),
            };
            let Some(k) = next.cloned() else {
                return;
            };
            let t = k.id;
            cursor = Some(k);
            if t == ROOT || granted.contains(&t) {
                continue;
            }
            let top = self.tree.node(t);
            if top.sub_eligible == 0 || top.capped {
                continue;
            }
            let q = top.quota.as_deref().map(|q| (q, top.sub.as_slice()));
            let chopped = cy.stage2_scalars(&agent.free.s, q, &mut buf);
            let gpu_only = gpu_filter && agent.has_gpus;
            let (hit, chunk) = if agent.free.has_reservations() {
                // Each role under `t` has its own chunk: its reservations differ.
                let base = agent.free.with_scalars(buf.clone());
                let (min_alloc, names) = (&self.min_alloc, &self.names);
                let hit = self.tree.find_under(t, &mut |rx, node| {
                    let chunk = base.allocatable_to(&node.path);
                    if !allocatable(min_alloc, names, &chunk) {
                        return None;
                    }
                    pick_part(node, rx, agent, gpu_only, &chunk, &[])
                });
                let Some((rx, _)) = hit else {
                    continue;
                };
                let chunk = base.allocatable_to(&self.tree.node(rx).path).into_owned();
                (hit, chunk)
            } else if chopped {
                let chunk = agent.free.with_scalars(buf.clone());
                if !allocatable(&self.min_alloc, &self.names, &chunk) {
                    continue;
                }
                let hit = self.tree.find_under(t, &mut |rx, node| {
                    pick_part(node, rx, agent, gpu_only, &chunk, &[])
                });
                (hit, chunk)
            } else {
                let hit = self
                    .tree
                    .find_under(t, &mut |rx, node| pick_whole(node, rx, agent, gpu_only));
                (hit, agent.free.clone())
            };
            if let Some((rx, slot)) = hit {
                granted.push(t);
                self.grant_part(ax, rx, slot, chunk, cy);
            }
        }
    }

    /// Allocates `chunk` (a part of the agent's free chunk) to the client and keeps the
    /// cycle's headroom, stage-1 order and capped roles up to date.
    fn grant_part(&mut self, ax: u32, rx: u32, slot: u32, chunk: Res, cy: &mut Cycle) {
        let top = self.top_of(rx);
        let before = {
            let n = self.tree.node(top);
            n.quota.as_deref().map(|q| {
                let unmet: Vec<Milli> =
                    (0..q.guarantee.len()).map(|i| q.unmet(i, &n.sub)).collect();
                (unmet, n.key.clone())
            })
        };
        let a = self.agents[ax as usize].as_mut().expect("live agent");
        let ok = a.free.sub(&chunk).is_ok();
        debug_assert!(ok, "a granted part must be free");
        if !ok {
            return;
        }
        if a.last_chunk.as_deref() != Some(&chunk) {
            a.last_chunk = Some(Arc::new(chunk.clone()));
        }
        match a.alloc_by.get_mut(&(rx, slot)) {
            Some(cur) => {
                let ok = cur.add(&chunk).is_ok();
                debug_assert!(ok, "free overlaps an allocation");
            }
            None => {
                a.alloc_by.insert((rx, slot), chunk.clone());
            }
        }
        let q = chunk.quantities(&self.names);
        self.tree.change_alloc(rx, slot, &q, true);
        self.tree.client_mut(rx, slot).alloc_agents.insert(ax);
        sub_scalars(&mut cy.available, &q);
        if let Some((unmet, key)) = before {
            let n = self.tree.node_mut(top);
            let q = n.quota.as_deref().expect("quota kept during a cycle");
            for (i, old) in unmet.into_iter().enumerate() {
                if let Some(r) = cy.required.get_mut(i) {
                    *r -= old - q.unmet(i, &n.sub);
                }
            }
            if let Some(key) = key {
                cy.stage1.remove(&key);
            }
            if n.n_eligible > 0 && q.any_unmet(&n.sub) {
                cy.stage1
                    .insert(n.key.clone().expect("top-level node is keyed"));
            }
            if !n.capped && q.capped(&n.sub, &self.min_alloc) {
                n.capped = true;
                cy.capped_eligible += n.sub_eligible;
                cy.stage1
                    .remove(n.key.as_ref().expect("top-level node is keyed"));
            }
        }
        match cy.index.get(&(ax, rx, slot)) {
            Some(&i) => {
                let ok = cy.grants[i].3.add(&chunk).is_ok();
                debug_assert!(ok, "grants of one cycle are disjoint");
            }
            None => {
                cy.index.insert((ax, rx, slot), cy.grants.len());
                cy.grants.push((ax, rx, slot, chunk));
            }
        }
    }
}

fn add_unmet(required: &mut Vec<Milli>, q: &NodeQuota, used: &[Milli]) {
    if required.len() < q.guarantee.len() {
        required.resize(q.guarantee.len(), 0);
    }
    for (i, r) in required.iter_mut().enumerate().take(q.guarantee.len()) {
        *r += q.unmet(i, used);
    }
}

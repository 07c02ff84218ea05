//! One allocation cycle (`__generateOffers`, stage 2) when no quota is set; with quota,
//! `quota_cycle.rs` runs both stages.
//!
//! An agent whose free chunk holds no reservations (the common case) gives the whole
//! chunk to the first eligible framework. One with free reserved resources is offered
//! role by role: each role in DRF order is offered the unreserved part plus what is
//! reserved for it or its ancestors, so reserved resources reach only their role.

use crate::filters::recompute_blocked;
use crate::res::{Names, Res};
use crate::sorter::{Key, Node, Tree};
use crate::{nanos, Agent, Allocator, Grant};
use std::sync::Arc;
use std::time::Duration;

/// With at most this many candidates left in a role (or one per 256 client slots, if
/// that is more), pick the minimum key directly instead of scanning the sorted order's
/// pages for one: with few candidates, the scan would test many pages in vain.
const DIRECT_PICK: u32 = 8;

#[inline]
fn bit(words: &[u64], i: u32) -> bool {
    words
        .get((i / 64) as usize)
        .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
}

/// The first client of the role, in DRF order, that is in `elig` and not in `blocked`.
fn pick_unblocked(node: &Node, elig: &[u64], blocked: &[u64]) -> Option<u32> {
    let word = |i: usize| elig[i] & !blocked.get(i).copied().unwrap_or(0);
    let count: u32 = (0..elig.len()).map(|i| word(i).count_ones()).sum();
    if count == 0 {
        return None;
    }
    if count <= DIRECT_PICK.max(elig.len() as u32 / 4) {
        let mut best: Option<&Key> = None;
        for i in 0..elig.len() {
            let mut w = word(i);
            while w != 0 {
                let slot = (i as u32) * 64 + w.trailing_zeros();
                w &= w - 1;
                let k = &node.client(slot).key;
                if best.is_none_or(|b| k < b) {
                    best = Some(k);
                }
            }
        }
        return best.map(|k| k.id);
    }
    node.order.first_allowed(elig, blocked)
}

/// The first client of the role, in DRF order, that may get the agent's whole free chunk
/// (eligible, GPU-capable where needed, not filtered: `agent.blocked` is current).
pub(crate) fn pick_whole(node: &Node, rx: u32, agent: &Agent, gpu_only: bool) -> Option<u32> {
    let blocked = agent.blocked.get(&rx).filter(|b| !b.none());
    match blocked {
        None if !gpu_only => node.order.first().map(|k| k.id),
        _ => {
            let elig = if gpu_only {
                &node.gpu_ok
            } else {
                &node.eligible
            };
            pick_unblocked(
                node,
                elig.words(),
                blocked.map(|b| b.words()).unwrap_or(&[]),
            )
        }
    }
}

/// The first client of the role, in DRF order and not in `skip`, that may get `chunk`, a
/// part of the agent's free chunk: the `blocked` bits (filters covering the whole free
/// chunk) rule a client out; otherwise its filters on the agent are tested against
/// `chunk` itself.
pub(crate) fn pick_part(
    node: &Node,
    rx: u32,
    agent: &Agent,
    gpu_only: bool,
    chunk: &Res,
    skip: &[u32],
) -> Option<u32> {
    let elig = if gpu_only {
        node.gpu_ok.words()
    } else {
        node.eligible.words()
    };
    let blocked = agent.blocked.get(&rx).map(|b| b.words()).unwrap_or(&[]);
    node.order
        .iter()
        .map(|k| k.id)
        .filter(|&slot| bit(elig, slot) && !bit(blocked, slot) && !skip.contains(&slot))
        .find(|&slot| {
            !agent
                .filters
                .iter()
                .any(|f| f.rx == rx && f.slot == slot && f.refused.contains(chunk))
        })
}

/// Whether a chunk may be offered (`--min_allocatable_resources`). Reserved quantities
/// count as Mesos' `ResourceQuantities` do: `cpus(role1):8` meets `cpus:0.01`.
pub(crate) fn allocatable(min_alloc: &[Res], names: &Names, chunk: &Res) -> bool {
    if chunk.is_empty() {
        return false;
    }
    if min_alloc.is_empty() {
        return true;
    }
    if !chunk.has_reservations() {
        return min_alloc.iter().any(|m| chunk.contains(m));
    }
    min_alloc
        .iter()
        .any(|m| chunk.contains_quantities(m, names))
}

/// The `(role, slot)` that gets this agent's chunk, if any.
fn find_client(tree: &Tree, agent: &Agent, gpu_only: bool) -> Option<(u32, u32)> {
    tree.find(&mut |rx, node: &Node| pick_whole(node, rx, agent, gpu_only))
}

impl Allocator {
    /// One allocation cycle over all active agents (shuffled with the seeded generator).
    /// Expired filters are dropped first. Each agent's whole free chunk goes to the first
    /// eligible framework in DRF order (roles, then frameworks within the role); the
    /// sorters are updated at once. Granted resources count as allocated.
    pub fn allocate(&mut self, now: Duration) -> Vec<Grant> {
        self.expire_filters(nanos(now));
        if self.tree.dirty {
            self.tree.rebuild();
        }
        let mut grants = Vec::new();
        if self.tree.node(crate::sorter::ROOT).sub_eligible == 0 {
            return grants;
        }
        if !self.quotas.is_empty() {
            return self.allocate_with_quota();
        }
        let mut order: Vec<u32> = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.as_ref().is_some_and(|a| a.active))
            .map(|(i, _)| i as u32)
            .collect();
        self.rng.shuffle(&mut order);
        let gpu_filter = self.config.filter_gpu_resources;
        for ax in order {
            let pick = {
                let agent = self.agents[ax as usize].as_mut().expect("live agent");
                if agent.free.is_empty() {
                    continue;
                }
                if agent.free.has_reservations() {
                    self.allocate_by_role(ax, gpu_filter, &mut grants);
                    continue;
                }
                let allocatable = self.min_alloc.is_empty()
                    || self.min_alloc.iter().any(|m| agent.free.contains(m));
                if !allocatable {
                    continue;
                }
                if agent.blocked_for.as_ref() != Some(&agent.free) {
                    recompute_blocked(agent);
                }
                find_client(&self.tree, agent, gpu_filter && agent.has_gpus)
            };
            if let Some((rx, slot)) = pick {
                if let Some(g) = self.grant(ax, rx, slot) {
                    grants.push(g);
                }
            }
        }
        grants
    }

    /// An agent with free reserved resources: roles in DRF order, each offered what it
    /// may use of the free chunk (the unreserved part, taken by the first role served,
    /// and its reservations), to its first unfiltered eligible framework.
    fn allocate_by_role(&mut self, ax: u32, gpu_filter: bool, grants: &mut Vec<Grant>) {
        let mut served: Vec<u32> = Vec::new();
        loop {
            let hit = {
                let agent = self.agents[ax as usize].as_mut().expect("live agent");
                if agent.free.is_empty() {
                    return;
                }
                if agent.blocked_for.as_ref() != Some(&agent.free) {
                    recompute_blocked(agent);
                }
                let agent = &*agent;
                let gpu_only = gpu_filter && agent.has_gpus;
                let (min_alloc, names) = (&self.min_alloc, &self.names);
                self.tree.find(&mut |rx, node: &Node| {
                    if served.contains(&rx) {
                        return None;
                    }
                    let chunk = agent.free.allocatable_to(&node.path);
                    if !allocatable(min_alloc, names, &chunk) {
                        return None;
                    }
                    pick_part(node, rx, agent, gpu_only, &chunk, &[])
                })
            };
            let Some((rx, slot)) = hit else {
                return;
            };
            served.push(rx);
            let agent = self.agents[ax as usize].as_ref().expect("live agent");
            let chunk = agent
                .free
                .allocatable_to(&self.tree.node(rx).path)
                .into_owned();
            if let Some(g) = self.grant_chunk(ax, rx, slot, chunk) {
                grants.push(g);
            }
        }
    }

    /// Allocates the agent's whole free chunk to the client.
    fn grant(&mut self, ax: u32, rx: u32, slot: u32) -> Option<Grant> {
        let a = self.agents[ax as usize].as_mut().expect("live agent");
        let chunk = std::mem::take(&mut a.free);
        self.record_grant(ax, rx, slot, chunk)
    }

    /// Allocates `chunk`, a part of the agent's free chunk, to the client.
    fn grant_chunk(&mut self, ax: u32, rx: u32, slot: u32, chunk: Res) -> Option<Grant> {
        let a = self.agents[ax as usize].as_mut().expect("live agent");
        if a.free.sub(&chunk).is_err() {
            debug_assert!(false, "a granted part must be free");
            return None;
        }
        self.record_grant(ax, rx, slot, chunk)
    }

    /// Accounts `chunk`, already taken from the agent's free chunk, to the client.
    fn record_grant(&mut self, ax: u32, rx: u32, slot: u32, chunk: Res) -> Option<Grant> {
        let a = self.agents[ax as usize].as_mut().expect("live agent");
        let resources = chunk.to_resources(&self.names);
        self.tree
            .change_alloc(rx, slot, &chunk.quantities(&self.names), true);
        if a.last_chunk.as_deref() != Some(&chunk) {
            a.last_chunk = Some(Arc::new(chunk.clone()));
        }
        match a.alloc_by.get_mut(&(rx, slot)) {
            Some(cur) => {
                let ok = cur.add(&chunk).is_ok();
                // `free` and the allocations are disjoint by construction.
                debug_assert!(ok, "free overlaps an allocation");
            }
            None => {
                a.alloc_by.insert((rx, slot), chunk);
            }
        }
        let agent_id = a.id.clone();
        let c = self.tree.client_mut(rx, slot);
        c.alloc_agents.insert(ax);
        let fx = c.fw;
        Some(Grant {
            framework_id: self.framework(fx).id.clone(),
            role: self.tree.node(rx).path.to_string(),
            agent_id,
            resources,
        })
    }
}

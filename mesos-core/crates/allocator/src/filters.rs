//! Offer filters (`RefusedOfferFilter`): install, drop, expire, and the per-agent
//! "blocked" bitsets the allocation loop consults.
//!
//! `agent.blocked[role][slot]` is set iff some filter of that client on the agent
//! refuses a superset of `agent.blocked_for`. The bits are recomputed only when the
//! agent's free chunk differs from `blocked_for`; filters refusing exactly the last
//! granted chunk share one `Arc`, so a recomputation costs one containment test per
//! distinct refused set.

use crate::res::Res;
use crate::util::FastSet;
use crate::{Agent, Allocator, Filter};
use std::cmp::Reverse;
use std::sync::Arc;

/// Recomputes `blocked` for the agent's current free chunk.
pub(crate) fn recompute_blocked(agent: &mut Agent) {
    for b in agent.blocked.values_mut() {
        b.clear_all();
    }
    let mut memo: Option<(*const Res, bool)> = None;
    for f in &agent.filters {
        let p = Arc::as_ptr(&f.refused);
        let covers = match memo {
            Some((q, c)) if q == p => c,
            _ => {
                let c = f.refused.contains(&agent.free);
                memo = Some((p, c));
                c
            }
        };
        if covers {
            agent.blocked.entry(f.rx).or_default().set(f.slot);
        }
    }
    agent.blocked_for = Some(agent.free.clone());
}

impl Allocator {
    pub(crate) fn install_filter(
        &mut self,
        ax: u32,
        rx: u32,
        slot: u32,
        refused: Res,
        expires: u64,
    ) {
        let a = self.agents[ax as usize].as_mut().expect("live agent");
        let refused = match &a.last_chunk {
            Some(last) if **last == refused => last.clone(),
            _ => Arc::new(refused),
        };
        if let Some(bf) = &a.blocked_for {
            if refused.contains(bf) {
                a.blocked.entry(rx).or_default().set(slot);
            }
        }
        a.filters.push(Filter {
            rx,
            slot,
            expires,
            refused,
        });
        if a.next_expiry.is_none_or(|t| expires < t) {
            a.next_expiry = Some(expires);
            self.expiry.push(Reverse((expires, ax)));
        }
        self.tree.node_mut(rx).n_filters += 1;
        self.tree.client_mut(rx, slot).filter_agents.insert(ax);
    }

    /// Drops every filter of the client on every agent.
    pub(crate) fn drop_client_filters(&mut self, rx: u32, slot: u32) {
        let agents = std::mem::take(&mut self.tree.client_mut(rx, slot).filter_agents);
        let mut dropped = 0;
        for ax in agents {
            let Some(a) = self.agents.get_mut(ax as usize).and_then(|a| a.as_mut()) else {
                continue;
            };
            let before = a.filters.len();
            a.filters.retain(|f| !(f.rx == rx && f.slot == slot));
            dropped += before - a.filters.len();
            if let Some(b) = a.blocked.get_mut(&rx) {
                b.clear(slot);
            }
        }
        self.tree.node_mut(rx).n_filters -= dropped;
    }

    /// Drops the filters that expire at or before `now` (nanoseconds).
    pub(crate) fn expire_filters(&mut self, now: u64) {
        while let Some(&Reverse((t, ax))) = self.expiry.peek() {
            if t > now {
                break;
            }
            self.expiry.pop();
            let current = self
                .agents
                .get(ax as usize)
                .and_then(|a| a.as_ref())
                .is_some_and(|a| a.next_expiry == Some(t));
            if current {
                self.expire_agent(ax, now);
            }
        }
        // Stale heap entries (from dropped filters or removed agents) are skipped when
        // popped; compact when they dominate.
        let live = self
            .agents
            .iter()
            .flatten()
            .filter(|a| a.next_expiry.is_some())
            .count();
        if self.expiry.len() > 4 * live + 1024 {
            self.expiry = self
                .agents
                .iter()
                .enumerate()
                .filter_map(|(i, a)| a.as_ref()?.next_expiry.map(|t| Reverse((t, i as u32))))
                .collect();
        }
    }

    fn expire_agent(&mut self, ax: u32, now: u64) {
        let a = self.agents[ax as usize].as_mut().expect("live agent");
        let mut removed: Vec<(u32, u32)> = Vec::new();
        a.filters.retain(|f| {
            if f.expires <= now {
                removed.push((f.rx, f.slot));
                false
            } else {
                true
            }
        });
        a.next_expiry = a.filters.iter().map(|f| f.expires).min();
        if let Some(t) = a.next_expiry {
            self.expiry.push(Reverse((t, ax)));
        }
        if removed.is_empty() {
            return;
        }
        a.blocked_for = None;
        let remaining: FastSet<(u32, u32)> = a.filters.iter().map(|f| (f.rx, f.slot)).collect();
        for &(rx, _) in &removed {
            self.tree.node_mut(rx).n_filters -= 1;
        }
        removed.sort_unstable();
        removed.dedup();
        for (rx, slot) in removed {
            if !remaining.contains(&(rx, slot)) {
                self.tree.client_mut(rx, slot).filter_agents.remove(&ax);
                let fx = self.tree.client(rx, slot).fw;
                self.gc_client(fx, rx, slot);
            }
        }
    }
}

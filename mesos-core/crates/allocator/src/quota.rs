//! Quota (Mesos 1.9+ `QuotaConfig`): guarantees and limits over scalar resources for
//! top-level roles (spec 5.1, "Quota").
//!
//! * Consumed quota = what the role's subtree holds (offered + used; there are no
//!   reservations yet).
//! * Limits cap every allocation to the role's subtree: a chunk is chopped down to
//!   `limit - consumed`.
//! * Guarantees: stage 1 of a cycle gives roles with unmet guarantees resources up to
//!   the unmet guarantee (then more up to the limit, out of the surplus headroom), and
//!   the global headroom `Σ max(guarantee - consumed, 0)` is held back from everyone
//!   else in stage 2 (see `quota_cycle.rs`).
//!
//! Configs are kept by role name, so a quota outlives its role's sorter node (a node is
//! pruned when the role has neither frameworks nor allocations); the node gets an
//! interned copy (`NodeQuota`) whenever it exists.

use crate::res::{Names, Res};
use crate::sorter::ROOT;
use crate::{norm_role, Allocator};
use mesos_proto::resources::{from_milli, to_milli, Milli, Resources};
use std::collections::BTreeMap;

/// The parent of a top-level role node.
pub(crate) const ROOT_PARENT: u32 = ROOT;

/// "No limit" for a name, in `NodeQuota::limit`.
pub(crate) const UNLIMITED: Milli = Milli::MAX;

/// A role's quota: scalar quantities by resource name. A name without a limit is
/// unlimited; a limit of 0 forbids the resource. The default (both empty) is no quota.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuotaConfig {
    pub guarantees: BTreeMap<String, f64>,
    pub limits: BTreeMap<String, f64>,
}

impl QuotaConfig {
    /// Limits equal to the guarantees (Mesos' pre-1.9 `QuotaInfo.guarantee` meant both).
    pub fn guarantee_and_limit(r: &Resources) -> Self {
        let m: BTreeMap<String, f64> = r
            .scalars()
            .map(|(n, v)| (n.to_string(), from_milli(v)))
            .collect();
        QuotaConfig {
            guarantees: m.clone(),
            limits: m,
        }
    }

    pub fn is_default(&self) -> bool {
        self.guarantees.is_empty() && self.limits.is_empty()
    }
}

/// A configured quota and what the role consumes.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaStatus {
    pub role: String,
    pub config: QuotaConfig,
    /// Scalars allocated (offered or used) to the role and its sub-roles.
    pub consumed: Resources,
}

/// A configured quota as the allocator keeps it.
#[derive(Clone, Debug)]
pub(crate) struct QuotaEntry {
    pub config: QuotaConfig,
    pub interned: NodeQuota,
}

/// The interned form carried by a role node: dense vectors indexed by scalar name.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NodeQuota {
    pub guarantee: Vec<Milli>,
    /// `UNLIMITED` where unset (and for names interned later).
    pub limit: Vec<Milli>,
}

fn dense(m: &BTreeMap<String, f64>, names: &mut Names, fill: Milli) -> Vec<Milli> {
    let mut v: Vec<Milli> = Vec::new();
    for (name, value) in m {
        let i = names.intern_scalar(name);
        if v.len() <= i {
            v.resize(i + 1, fill);
        }
        v[i] = to_milli(*value).max(0);
    }
    v
}

impl NodeQuota {
    fn new(c: &QuotaConfig, names: &mut Names) -> Self {
        let mut guarantee = dense(&c.guarantees, names, 0);
        while guarantee.last() == Some(&0) {
            guarantee.pop();
        }
        NodeQuota {
            guarantee,
            limit: dense(&c.limits, names, UNLIMITED),
        }
    }

    /// `max(guarantee - consumed, 0)` for name `i`.
    #[inline]
    pub fn unmet(&self, i: usize, consumed: &[Milli]) -> Milli {
        let g = self.guarantee.get(i).copied().unwrap_or(0);
        (g - consumed.get(i).copied().unwrap_or(0)).max(0)
    }

    pub fn any_unmet(&self, consumed: &[Milli]) -> bool {
        (0..self.guarantee.len()).any(|i| self.unmet(i, consumed) > 0)
    }

    /// What the limit still allows of name `i` (`UNLIMITED` without a limit).
    #[inline]
    pub fn room(&self, i: usize, consumed: &[Milli]) -> Milli {
        match self.limit.get(i).copied() {
            None | Some(UNLIMITED) => UNLIMITED,
            Some(l) => (l - consumed.get(i).copied().unwrap_or(0)).max(0),
        }
    }

    /// Whether the limit leaves room for none of the `min_alloc` sets, so that no chunk
    /// can be allocatable to the role whatever the agent (`min_alloc` must be non-empty).
    pub fn capped(&self, consumed: &[Milli], min_alloc: &[Res]) -> bool {
        !min_alloc.is_empty()
            && min_alloc.iter().all(|m| {
                m.rg.is_empty()
                    && m.other.is_empty()
                    && m.s
                        .iter()
                        .enumerate()
                        .any(|(i, &need)| need > self.room(i, consumed))
            })
    }
}

pub(crate) fn top_level(role: &str) -> &str {
    role.split('/').next().unwrap_or(role)
}

impl Allocator {
    /// Sets a top-level role's quota (Mesos' `UPDATE_QUOTA` for one config). The default
    /// config (no guarantees, no limits) removes it. Only scalar names are meaningful;
    /// validation (guarantees within limits, non-negative values) is the caller's.
    pub fn update_quota(&mut self, role: &str, config: QuotaConfig) -> Result<(), String> {
        let role = norm_role(role);
        if role.contains('/') {
            return Err(format!(
                "quota is only supported for top-level roles, not '{role}'"
            ));
        }
        if config.is_default() {
            self.remove_quota(role);
            return Ok(());
        }
        let q = NodeQuota::new(&config, &mut self.names);
        if let Some(rx) = self.tree.find_role(role) {
            self.tree.node_mut(rx).quota = Some(Box::new(q.clone()));
        }
        self.quotas.insert(
            role.to_string(),
            QuotaEntry {
                config,
                interned: q,
            },
        );
        Ok(())
    }

    pub fn remove_quota(&mut self, role: &str) {
        let role = norm_role(role);
        if self.quotas.remove(role).is_some() {
            if let Some(rx) = self.tree.find_role(role) {
                let n = self.tree.node_mut(rx);
                n.quota = None;
                n.capped = false;
            }
        }
    }

    pub fn quota(&self, role: &str) -> Option<&QuotaConfig> {
        self.quotas.get(norm_role(role)).map(|e| &e.config)
    }

    /// Every configured quota with its consumption, sorted by role.
    pub fn quotas(&self) -> Vec<QuotaStatus> {
        self.quotas
            .iter()
            .map(|(role, e)| QuotaStatus {
                role: role.clone(),
                config: e.config.clone(),
                consumed: self.consumed(role),
            })
            .collect()
    }

    /// Quota consumption of a role: scalars allocated to it and its sub-roles.
    pub fn consumed(&self, role: &str) -> Resources {
        self.tree
            .find_role(norm_role(role))
            .map(|rx| Res::scalars_to_resources(&self.tree.node(rx).sub, &self.names))
            .unwrap_or_default()
    }

    /// Gives a node created for `role` the quota of its top-level role, if any.
    pub(crate) fn attach_quota(&mut self, role: &str) {
        let top = top_level(role);
        let Some(e) = self.quotas.get(top) else {
            return;
        };
        let Some(rx) = self.tree.find_role(top) else {
            return;
        };
        let n = self.tree.node_mut(rx);
        if n.quota.is_none() {
            n.quota = Some(Box::new(e.interned.clone()));
        }
    }

    /// The top-level ancestor of a role node (itself for a top-level role).
    pub(crate) fn top_of(&self, mut rx: u32) -> u32 {
        loop {
            match self.tree.node(rx).parent {
                Some(p) if p != ROOT => rx = p,
                _ => return rx,
            }
        }
    }
}

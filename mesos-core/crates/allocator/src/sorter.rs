//! The hierarchical DRF sorters: a role tree (the role sorter) whose every role node
//! also carries that role's framework sorter.
//!
//! Each level keeps its children in a `BTreeSet` ordered by `(share, count, name)` (a
//! role's frameworks in an [`Order`], the same set paged with per-page slot bitsets), and
//! every change of an allocation re-keys only the touched entries (O(depth · log n)),
//! so an allocation cycle never re-sorts. A change of the cluster totals or of a weight
//! changes every share; it only sets `dirty`, and the next cycle rebuilds all keys once.
//!
//! A role `a` that also has sub-roles `a/b` is represented like Mesos' virtual leaf: the
//! node `a` holds an entry for itself (keyed by its own allocation) among its children
//! (keyed by their subtree allocations).

use crate::order::Order;
use crate::quota::NodeQuota;
use crate::res::{add_scalars, drf_share, sub_scalars};
use crate::util::{Bits, FastMap, FastSet};
use mesos_proto::resources::Milli;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

/// `f64` ordered by `total_cmp` (shares are finite and non-negative).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OrdF64(pub f64);

impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Sort key: `(share, allocation count, name)`, then an index to make it unique.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub share: OrdF64,
    pub count: u64,
    pub name: Arc<str>,
    pub id: u32,
}

/// A framework inside one role's framework sorter.
#[derive(Debug)]
pub(crate) struct Client {
    pub fw: u32,
    pub name: Arc<str>,
    /// Scalars allocated to this framework in this role, over all agents.
    pub alloc: Vec<Milli>,
    pub count: u64,
    pub key: Key,
    /// In `order` (subscribed, active, not suppressed).
    pub eligible: bool,
    pub gpu_aware: bool,
    pub subscribed: bool,
    /// Agents where it holds an allocation / has offer filters.
    pub alloc_agents: FastSet<u32>,
    pub filter_agents: FastSet<u32>,
}

#[derive(Debug)]
pub(crate) struct Node {
    pub path: Arc<str>,
    pub parent: Option<u32>,
    pub weight: f64,
    /// Allocation of this role itself / of its whole subtree.
    pub own: Vec<Milli>,
    pub own_count: u64,
    pub sub: Vec<Milli>,
    pub sub_count: u64,
    /// Key of the entry for this role itself in `children` (present iff it has clients).
    pub self_key: Option<Key>,
    /// Key of this node's entry in its parent's `children`.
    pub key: Option<Key>,
    pub children: BTreeSet<Key>,
    pub n_child_nodes: usize,
    /// Eligible clients of this role / of the subtree.
    pub n_eligible: usize,
    pub sub_eligible: usize,
    // The framework sorter.
    pub clients: FastMap<u32, u32>,
    pub slots: Vec<Option<Client>>,
    pub free_slots: Vec<u32>,
    /// Eligible clients in DRF order.
    pub order: Order,
    pub eligible: Bits,
    /// Eligible and GPU-aware.
    pub gpu_ok: Bits,
    pub n_filters: usize,
    /// The role's quota (top-level roles only), in interned form.
    pub quota: Option<Box<NodeQuota>>,
    /// Within one allocation cycle: the quota limit leaves no allocatable chunk.
    pub capped: bool,
}

impl Node {
    fn new(path: Arc<str>, parent: Option<u32>, weight: f64) -> Node {
        Node {
            path,
            parent,
            weight,
            own: Vec::new(),
            own_count: 0,
            sub: Vec::new(),
            sub_count: 0,
            self_key: None,
            key: None,
            children: BTreeSet::new(),
            n_child_nodes: 0,
            n_eligible: 0,
            sub_eligible: 0,
            clients: FastMap::default(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            order: Order::default(),
            eligible: Bits::default(),
            gpu_ok: Bits::default(),
            n_filters: 0,
            quota: None,
            capped: false,
        }
    }

    pub fn client(&self, slot: u32) -> &Client {
        self.slots[slot as usize]
            .as_ref()
            .expect("live client slot")
    }
}

#[derive(Debug)]
pub(crate) struct Tree {
    pub nodes: Vec<Option<Node>>,
    free_nodes: Vec<u32>,
    pub by_path: FastMap<Arc<str>, u32>,
    /// Cluster totals (scalars) over all agents.
    pub totals: Vec<Milli>,
    /// Keys are stale (totals or weights changed): rebuild before sorting.
    pub dirty: bool,
}

pub(crate) const ROOT: u32 = 0;

fn parent_path(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            nodes: vec![Some(Node::new(Arc::from(""), None, 1.0))],
            free_nodes: Vec::new(),
            by_path: FastMap::default(),
            totals: Vec::new(),
            dirty: false,
        }
    }

    #[inline]
    pub fn node(&self, rx: u32) -> &Node {
        self.nodes[rx as usize].as_ref().expect("live role node")
    }
    #[inline]
    pub fn node_mut(&mut self, rx: u32) -> &mut Node {
        self.nodes[rx as usize].as_mut().expect("live role node")
    }
    #[inline]
    pub fn client(&self, rx: u32, slot: u32) -> &Client {
        self.node(rx).client(slot)
    }
    #[inline]
    pub fn client_mut(&mut self, rx: u32, slot: u32) -> &mut Client {
        self.node_mut(rx).slots[slot as usize]
            .as_mut()
            .expect("live client slot")
    }

    pub fn live_nodes(&self) -> impl Iterator<Item = (u32, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i as u32, n)))
    }

    fn self_key_of(&self, rx: u32) -> Key {
        let n = self.node(rx);
        Key {
            share: OrdF64(drf_share(&n.own, &self.totals, n.weight)),
            count: n.own_count,
            name: n.path.clone(),
            id: rx,
        }
    }

    fn entry_key_of(&self, rx: u32) -> Key {
        let n = self.node(rx);
        Key {
            share: OrdF64(drf_share(&n.sub, &self.totals, n.weight)),
            count: n.sub_count,
            name: n.path.clone(),
            id: rx,
        }
    }

    fn client_key_of(&self, rx: u32, slot: u32) -> Key {
        let c = self.client(rx, slot);
        Key {
            share: OrdF64(drf_share(&c.alloc, &self.totals, 1.0)),
            count: c.count,
            name: c.name.clone(),
            id: slot,
        }
    }

    fn rekey_self(&mut self, rx: u32) {
        if self.node(rx).self_key.is_none() {
            return;
        }
        let k = self.self_key_of(rx);
        let n = self.node_mut(rx);
        if let Some(old) = n.self_key.take() {
            n.children.remove(&old);
        }
        n.children.insert(k.clone());
        n.self_key = Some(k);
    }

    fn rekey_entry(&mut self, rx: u32) {
        let Some(p) = self.node(rx).parent else {
            return;
        };
        let k = self.entry_key_of(rx);
        let old = self.node_mut(rx).key.replace(k.clone());
        let parent = self.node_mut(p);
        if let Some(old) = old {
            parent.children.remove(&old);
        }
        parent.children.insert(k);
    }

    fn rekey_client(&mut self, rx: u32, slot: u32) {
        let k = self.client_key_of(rx, slot);
        let n = self.node_mut(rx);
        let c = n.slots[slot as usize].as_mut().expect("live client slot");
        let old = std::mem::replace(&mut c.key, k.clone());
        if c.eligible {
            n.order.remove(&old);
            n.order.insert(k);
        }
    }

    pub fn find_role(&self, path: &str) -> Option<u32> {
        self.by_path.get(path).copied()
    }

    /// The node for `path`, creating it and its ancestors.
    pub fn ensure_role(&mut self, path: &str, weights: &FastMap<String, f64>) -> u32 {
        if path.is_empty() {
            return ROOT;
        }
        if let Some(rx) = self.find_role(path) {
            return rx;
        }
        let parent = self.ensure_role(parent_path(path), weights);
        let weight = weights.get(path).copied().unwrap_or(1.0);
        let name: Arc<str> = Arc::from(path);
        let node = Node::new(name.clone(), Some(parent), weight);
        let rx = match self.free_nodes.pop() {
            Some(i) => {
                self.nodes[i as usize] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as u32
            }
        };
        self.by_path.insert(name, rx);
        self.node_mut(parent).n_child_nodes += 1;
        self.rekey_entry(rx);
        rx
    }

    pub fn set_weight(&mut self, path: &str, weight: f64) {
        if let Some(rx) = self.find_role(path) {
            self.node_mut(rx).weight = weight;
            self.dirty = true;
        }
    }

    pub fn add_client(&mut self, rx: u32, fw: u32, name: Arc<str>) -> u32 {
        if let Some(&slot) = self.node(rx).clients.get(&fw) {
            return slot;
        }
        let client = Client {
            fw,
            name: name.clone(),
            alloc: Vec::new(),
            count: 0,
            key: Key {
                share: OrdF64(0.0),
                count: 0,
                name,
                id: 0,
            },
            eligible: false,
            gpu_aware: false,
            subscribed: false,
            alloc_agents: FastSet::default(),
            filter_agents: FastSet::default(),
        };
        let n = self.node_mut(rx);
        let slot = match n.free_slots.pop() {
            Some(s) => {
                n.slots[s as usize] = Some(client);
                s
            }
            None => {
                n.slots.push(Some(client));
                (n.slots.len() - 1) as u32
            }
        };
        n.clients.insert(fw, slot);
        let k = self.client_key_of(rx, slot);
        self.client_mut(rx, slot).key = k;
        if self.node(rx).self_key.is_none() {
            let k = self.self_key_of(rx);
            let n = self.node_mut(rx);
            n.children.insert(k.clone());
            n.self_key = Some(k);
        }
        slot
    }

    /// Removes the client when it is unsubscribed and holds neither allocations nor
    /// filters; prunes role nodes left empty. Returns whether it was removed.
    pub fn remove_client_if_idle(&mut self, rx: u32, slot: u32) -> bool {
        let c = self.client(rx, slot);
        if c.subscribed || !c.alloc_agents.is_empty() || !c.filter_agents.is_empty() {
            return false;
        }
        self.set_eligible(rx, slot, false, false);
        let n = self.node_mut(rx);
        let c = n.slots[slot as usize].take().expect("live client slot");
        debug_assert!(c.alloc.iter().all(|m| *m == 0));
        n.free_slots.push(slot);
        n.clients.remove(&c.fw);
        n.gpu_ok.clear(slot);
        n.eligible.clear(slot);
        if n.clients.is_empty() {
            if let Some(k) = n.self_key.take() {
                n.children.remove(&k);
            }
        }
        self.prune(rx);
        true
    }

    fn prune(&mut self, mut rx: u32) {
        while rx != ROOT {
            let n = self.node(rx);
            if !n.clients.is_empty() || n.n_child_nodes > 0 {
                return;
            }
            let parent = n.parent.expect("non-root node has a parent");
            let n = self.nodes[rx as usize].take().expect("live role node");
            self.free_nodes.push(rx);
            self.by_path.remove(&n.path);
            let p = self.node_mut(parent);
            if let Some(k) = n.key {
                p.children.remove(&k);
            }
            p.n_child_nodes -= 1;
            rx = parent;
        }
    }

    pub fn set_eligible(&mut self, rx: u32, slot: u32, eligible: bool, gpu_aware: bool) {
        let n = self.node_mut(rx);
        let c = n.slots[slot as usize].as_mut().expect("live client slot");
        let was = c.eligible;
        c.eligible = eligible;
        c.gpu_aware = gpu_aware;
        let key = c.key.clone();
        n.gpu_ok.put(slot, eligible && gpu_aware);
        if was == eligible {
            return;
        }
        n.eligible.put(slot, eligible);
        if eligible {
            n.order.insert(key);
            n.n_eligible += 1;
        } else {
            n.order.remove(&key);
            n.n_eligible -= 1;
        }
        let mut m = Some(rx);
        while let Some(x) = m {
            let node = self.node_mut(x);
            if eligible {
                node.sub_eligible += 1;
            } else {
                node.sub_eligible -= 1;
            }
            m = node.parent;
        }
    }

    /// Adds (`add`) or subtracts scalars to a client's allocation and to its role and
    /// ancestors, re-keying every touched sorter entry. Only additions count as an
    /// allocation for the `count` tie-breaker (as in Mesos).
    pub fn change_alloc(&mut self, rx: u32, slot: u32, s: &[Milli], add: bool) {
        let c = self.client_mut(rx, slot);
        if add {
            add_scalars(&mut c.alloc, s);
            c.count += 1;
        } else {
            sub_scalars(&mut c.alloc, s);
        }
        self.rekey_client(rx, slot);
        let n = self.node_mut(rx);
        if add {
            add_scalars(&mut n.own, s);
            n.own_count += 1;
        } else {
            sub_scalars(&mut n.own, s);
        }
        self.rekey_self(rx);
        let mut m = Some(rx);
        while let Some(x) = m {
            let n = self.node_mut(x);
            if add {
                add_scalars(&mut n.sub, s);
                n.sub_count += 1;
            } else {
                sub_scalars(&mut n.sub, s);
            }
            let parent = n.parent;
            self.rekey_entry(x);
            m = parent;
        }
    }

    /// Recomputes every key (after a change of totals or weights).
    pub fn rebuild(&mut self) {
        let ids: Vec<u32> = self.live_nodes().map(|(i, _)| i).collect();
        for &rx in &ids {
            let n = self.node_mut(rx);
            n.children.clear();
            n.order.clear();
        }
        for &rx in &ids {
            if rx != ROOT {
                let k = self.entry_key_of(rx);
                let parent = self.node(rx).parent.expect("non-root node has a parent");
                self.node_mut(rx).key = Some(k.clone());
                self.node_mut(parent).children.insert(k);
            }
            if self.node(rx).self_key.is_some() {
                let k = self.self_key_of(rx);
                let n = self.node_mut(rx);
                n.children.insert(k.clone());
                n.self_key = Some(k);
            }
            let slots: Vec<u32> = self.node(rx).clients.values().copied().collect();
            for slot in slots {
                let k = self.client_key_of(rx, slot);
                let n = self.node_mut(rx);
                let c = n.slots[slot as usize].as_mut().expect("live client slot");
                c.key = k.clone();
                if c.eligible {
                    n.order.insert(k);
                }
            }
        }
        self.dirty = false;
    }

    /// Depth-first over roles in DRF order (children sorted at every level); `f` is
    /// called for each role that has eligible frameworks and returns the chosen client
    /// slot, which ends the search.
    pub fn find<F>(&self, f: &mut F) -> Option<(u32, u32)>
    where
        F: FnMut(u32, &Node) -> Option<u32>,
    {
        self.find_in(ROOT, f)
    }

    /// `find` restricted to the subtree of `rx`.
    pub fn find_under<F>(&self, rx: u32, f: &mut F) -> Option<(u32, u32)>
    where
        F: FnMut(u32, &Node) -> Option<u32>,
    {
        self.find_in(rx, f)
    }

    fn find_in<F>(&self, rx: u32, f: &mut F) -> Option<(u32, u32)>
    where
        F: FnMut(u32, &Node) -> Option<u32>,
    {
        let n = self.node(rx);
        if n.sub_eligible == 0 {
            return None;
        }
        for k in &n.children {
            if k.id == rx {
                if n.n_eligible > 0 {
                    if let Some(slot) = f(rx, n) {
                        return Some((rx, slot));
                    }
                }
            } else if let Some(hit) = self.find_in(k.id, f) {
                return Some(hit);
            }
        }
        None
    }

    /// Roles in DRF order (as the allocation loop sees them), for tests and inspection.
    pub fn role_order(&self) -> Vec<u32> {
        let mut out = Vec::new();
        self.collect(ROOT, &mut out);
        out
    }

    fn collect(&self, rx: u32, out: &mut Vec<u32>) {
        let n = self.node(rx);
        for k in &n.children {
            if k.id == rx {
                out.push(rx);
            } else {
                self.collect(k.id, out);
            }
        }
    }
}

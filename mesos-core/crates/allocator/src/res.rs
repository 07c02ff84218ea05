//! The allocator's internal resource form: scalars as a dense vector indexed by an
//! interned name, ranges as sorted interval vectors keyed by interned name, and (rarely)
//! set-valued resources kept as a `Resources` value.
//!
//! Conversion to and from `mesos_proto::resources::Resources` happens only at the API
//! boundary, so the allocation loop never compares or allocates name strings.
//!
//! `s` and `rg` hold unreserved resources only. Reserved resources (rare, and keyed by
//! their whole reservation stack, labels included) live in `other` with the set-valued
//! ones; [`Res::quantities`] adds their scalars back for DRF shares and totals.

use crate::util::FastMap;
use mesos_proto::resources::{from_milli, Milli, RangeSet, Resources};
use std::borrow::Cow;

/// Sorted, disjoint, non-adjacent inclusive intervals.
pub(crate) type Ranges = Vec<(u64, u64)>;

/// A quantity no real resource reaches (10^15 units); used by the "probe" below.
const PROBE_SCALAR: f64 = 1e15;

/// Interned resource names.
///
/// `probe` holds a huge quantity of every interned scalar name and the full range of
/// every interned range name, and no sets: `probe.contains(r)` proves, without
/// allocating, that `r` has no set-valued resources (the common case), so the slow
/// extraction of its set part can be skipped.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names {
    names: Vec<String>,
    ix: FastMap<String, usize>,
    probed_scalar: Vec<bool>,
    probed_range: Vec<bool>,
    probe: Resources,
}

impl Names {
    fn intern(&mut self, name: &str) -> usize {
        if let Some(&i) = self.ix.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.to_string());
        self.ix.insert(name.to_string(), i);
        self.probed_scalar.push(false);
        self.probed_range.push(false);
        i
    }
    pub fn intern_scalar(&mut self, name: &str) -> usize {
        let i = self.intern(name);
        if !self.probed_scalar[i] {
            self.probed_scalar[i] = true;
            self.probe = std::mem::take(&mut self.probe).with_scalar(name, PROBE_SCALAR);
        }
        i
    }
    fn intern_range(&mut self, name: &str) -> usize {
        let i = self.intern(name);
        if !self.probed_range[i] {
            self.probed_range[i] = true;
            self.probe =
                std::mem::take(&mut self.probe).with_ranges(name, RangeSet::new([(0, u64::MAX)]));
        }
        i
    }
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }
    fn index(&self, name: &str) -> Option<usize> {
        self.ix.get(name).copied()
    }
}

// ----- interval arithmetic (all inputs sorted, disjoint, non-adjacent) --------------

pub(crate) fn rg_contains(a: &[(u64, u64)], b: &[(u64, u64)]) -> bool {
    let mut i = 0;
    for &(bb, be) in b {
        while i < a.len() && a[i].1 < bb {
            i += 1;
        }
        if i == a.len() || a[i].0 > bb || a[i].1 < be {
            return false;
        }
    }
    true
}

pub(crate) fn rg_overlaps(a: &[(u64, u64)], b: &[(u64, u64)]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].1 < b[j].0 {
            i += 1;
        } else if b[j].1 < a[i].0 {
            j += 1;
        } else {
            return true;
        }
    }
    false
}

pub(crate) fn rg_union(a: &[(u64, u64)], b: &[(u64, u64)]) -> Ranges {
    let mut out: Ranges = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = if j == b.len() || (i < a.len() && a[i].0 <= b[j].0) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        match out.last_mut() {
            Some(last) if next.0 <= last.1.saturating_add(1) => last.1 = last.1.max(next.1),
            _ => out.push(next),
        }
    }
    out
}

pub(crate) fn rg_diff(a: &[(u64, u64)], b: &[(u64, u64)]) -> Ranges {
    let mut out: Ranges = Vec::with_capacity(a.len() + 1);
    let mut j = 0;
    for &(ab, ae) in a {
        let mut cur = ab;
        while j < b.len() && b[j].1 < cur {
            j += 1;
        }
        let mut k = j;
        let mut done = false;
        while k < b.len() && b[k].0 <= ae {
            if b[k].0 > cur {
                out.push((cur, b[k].0 - 1));
            }
            if b[k].1 >= ae {
                done = true;
                break;
            }
            cur = b[k].1 + 1;
            k += 1;
        }
        if !done {
            out.push((cur, ae));
        }
    }
    out
}

pub(crate) fn rg_intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Ranges {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Dense scalars (`s[i]` = quantity of interned name `i` in thousandths, trailing zeros
/// trimmed), ranges by interned name (sorted by name index, never empty), and the
/// set-valued and reserved rest. Equality is structural.
#[derive(Clone, Debug, Default)]
pub(crate) struct Res {
    pub s: Vec<Milli>,
    pub rg: Vec<(u32, Ranges)>,
    pub other: Resources,
}

impl PartialEq for Res {
    /// Structural, with a shortcut for the usual empty `other` (the allocation loop
    /// compares an agent's free chunk with the one its filter bits were computed for).
    fn eq(&self, o: &Res) -> bool {
        self.s == o.s
            && self.rg == o.rg
            && match (self.other.is_empty(), o.other.is_empty()) {
                (true, true) => true,
                (false, false) => self.other == o.other,
                _ => false,
            }
    }
}

impl Res {
    pub fn from_resources(r: &Resources, names: &mut Names) -> Res {
        let mut s: Vec<Milli> = Vec::new();
        for (name, m) in r.scalars() {
            if m <= 0 {
                continue;
            }
            let i = names.intern_scalar(name);
            if s.len() <= i {
                s.resize(i + 1, 0);
            }
            s[i] = m;
        }
        let mut rg: Vec<(u32, Ranges)> = r
            .all_ranges()
            .filter(|(_, set)| !set.is_empty())
            .map(|(name, set)| (names.intern_range(name) as u32, set.ranges().to_vec()))
            .collect();
        rg.sort_unstable_by_key(|(i, _)| *i);
        let other = if names.probe.contains(r) {
            Resources::new()
        } else {
            let reserved: Vec<&str> = r.reserved_scalars().map(|(name, _)| name).collect();
            for name in reserved {
                names.intern_scalar(name);
            }
            r.reserved_and_sets()
        };
        let mut out = Res { s, rg, other };
        out.trim();
        out
    }

    pub fn to_resources(&self, names: &Names) -> Resources {
        let mut r = if self.other.is_empty() {
            Resources::new()
        } else {
            self.other.clone()
        };
        for (i, &m) in self.s.iter().enumerate() {
            if m > 0 {
                r = r.with_scalar(names.name(i), from_milli(m));
            }
        }
        for (i, ranges) in &self.rg {
            r = r.with_ranges(
                names.name(*i as usize),
                RangeSet::new(ranges.iter().copied()),
            );
        }
        r
    }

    /// Scalar quantities by interned name, reserved ones included (what DRF shares, role
    /// allocations and cluster totals count). Borrows `s` when nothing is reserved.
    pub fn quantities<'a>(&'a self, names: &Names) -> Cow<'a, [Milli]> {
        if !self.other.has_reservations() {
            return Cow::Borrowed(&self.s);
        }
        let mut q = self.s.clone();
        for (name, m) in self.other.reserved_scalars() {
            // Every reserved scalar name is interned by `from_resources`.
            let Some(i) = names.index(name) else {
                debug_assert!(false, "reserved scalar '{name}' not interned");
                continue;
            };
            if q.len() <= i {
                q.resize(i + 1, 0);
            }
            q[i] = q[i].saturating_add(m);
        }
        Cow::Owned(q)
    }

    /// Whether `self` holds at least the quantities of `min` (unreserved), counting
    /// reserved resources as if unreserved.
    pub fn contains_quantities(&self, min: &Res, names: &Names) -> bool {
        let q = self.quantities(names);
        if min
            .s
            .iter()
            .enumerate()
            .any(|(i, m)| q.get(i).copied().unwrap_or(0) < *m)
        {
            return false;
        }
        if !min.rg.is_empty() || !min.other.is_empty() {
            let flat = self.to_resources(names).flatten();
            return flat.contains(&min.to_resources(names));
        }
        true
    }

    pub fn has_reservations(&self) -> bool {
        self.other.has_reservations()
    }

    /// What may be offered to a framework allocating to `role`: the unreserved part and
    /// the reservations of `role` or its ancestors. Borrows `self` when nothing is
    /// reserved.
    pub fn allocatable_to(&self, role: &str) -> Cow<'_, Res> {
        if !self.other.has_reservations() {
            return Cow::Borrowed(self);
        }
        Cow::Owned(Res {
            s: self.s.clone(),
            rg: self.rg.clone(),
            other: self.other.allocatable_to(role),
        })
    }

    /// Only the scalar part.
    pub fn scalars_to_resources(s: &[Milli], names: &Names) -> Resources {
        let mut r = Resources::new();
        for (i, &m) in s.iter().enumerate() {
            if m > 0 {
                r = r.with_scalar(names.name(i), from_milli(m));
            }
        }
        r
    }

    /// This chunk with its scalars replaced by `s` (ranges and sets kept).
    pub fn with_scalars(&self, s: Vec<Milli>) -> Res {
        let mut out = Res {
            s,
            rg: self.rg.clone(),
            other: self.other.clone(),
        };
        out.trim();
        out
    }

    fn trim(&mut self) {
        while self.s.last() == Some(&0) {
            self.s.pop();
        }
        self.rg.retain(|(_, r)| !r.is_empty());
    }

    fn ranges_of(&self, i: u32) -> &[(u64, u64)] {
        self.rg
            .iter()
            .find(|(n, _)| *n == i)
            .map(|(_, r)| r.as_slice())
            .unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.s.iter().all(|m| *m == 0) && self.rg.is_empty() && self.other.is_empty()
    }

    /// Whether every quantity of `other` is available in `self`.
    pub fn contains(&self, other: &Res) -> bool {
        if other.s.len() > self.s.len() && other.s[self.s.len()..].iter().any(|m| *m > 0) {
            return false;
        }
        if other.s.iter().zip(&self.s).any(|(o, m)| o > m) {
            return false;
        }
        if !other
            .rg
            .iter()
            .all(|(i, r)| rg_contains(self.ranges_of(*i), r))
        {
            return false;
        }
        other.other.is_empty() || self.other.contains(&other.other)
    }

    /// `self += other`. Fails (leaving `self` unchanged) when ranges or set items would be
    /// added twice or a scalar would overflow.
    pub fn add(&mut self, other: &Res) -> Result<(), ()> {
        if other
            .s
            .iter()
            .zip(&self.s)
            .any(|(a, b)| a.checked_add(*b).is_none())
        {
            return Err(());
        }
        if other
            .rg
            .iter()
            .any(|(i, r)| rg_overlaps(self.ranges_of(*i), r))
        {
            return Err(());
        }
        if !other.other.is_empty() {
            // Checked and applied in place; `self.other` is unchanged on error.
            self.other.try_add_assign(&other.other).map_err(|_| ())?;
        }
        if self.s.len() < other.s.len() {
            self.s.resize(other.s.len(), 0);
        }
        for (a, b) in self.s.iter_mut().zip(&other.s) {
            *a += *b;
        }
        for (i, r) in &other.rg {
            match self.rg.iter_mut().find(|(n, _)| n == i) {
                Some((_, mine)) => *mine = rg_union(mine, r),
                None => {
                    self.rg.push((*i, r.clone()));
                    self.rg.sort_unstable_by_key(|(n, _)| *n);
                }
            }
        }
        self.trim();
        Ok(())
    }

    /// `self -= other`, failing (leaving `self` unchanged) when `other` is not contained.
    pub fn sub(&mut self, other: &Res) -> Result<(), ()> {
        if !self.contains(other) {
            return Err(());
        }
        for (a, b) in self.s.iter_mut().zip(&other.s) {
            *a -= *b;
        }
        for (i, r) in &other.rg {
            if let Some((_, mine)) = self.rg.iter_mut().find(|(n, _)| n == i) {
                *mine = rg_diff(mine, r);
            }
        }
        if !other.other.is_empty() {
            self.other.saturating_sub_assign(&other.other);
        }
        self.trim();
        Ok(())
    }

    /// The common part of `self` and `other` (scalar minimum, range/set intersection).
    pub fn intersect(&self, other: &Res) -> Res {
        let s = self
            .s
            .iter()
            .zip(&other.s)
            .map(|(a, b)| (*a).min(*b))
            .collect();
        let rg = self
            .rg
            .iter()
            .map(|(i, r)| (*i, rg_intersect(r, other.ranges_of(*i))))
            .collect();
        let o = if other.other.is_empty() {
            Resources::new()
        } else if self.other.contains(&other.other) {
            other.other.clone()
        } else {
            self.other
                .saturating_sub(&self.other.saturating_sub(&other.other))
        };
        let mut out = Res { s, rg, other: o };
        out.trim();
        out
    }
}

/// Scalar-vector helpers used by the sorters.
pub(crate) fn add_scalars(dst: &mut Vec<Milli>, src: &[Milli]) {
    if dst.len() < src.len() {
        dst.resize(src.len(), 0);
    }
    for (a, b) in dst.iter_mut().zip(src) {
        *a = a.saturating_add(*b);
    }
}

pub(crate) fn sub_scalars(dst: &mut [Milli], src: &[Milli]) {
    for (a, b) in dst.iter_mut().zip(src) {
        *a = (*a - *b).max(0);
    }
}

/// DRF share: the largest fraction of any scalar resource, divided by `weight`.
#[inline]
pub(crate) fn drf_share(alloc: &[Milli], totals: &[Milli], weight: f64) -> f64 {
    let mut m = 0.0f64;
    for (a, t) in alloc.iter().zip(totals) {
        if *a > 0 && *t > 0 {
            let r = *a as f64 / *t as f64;
            if r > m {
                m = r;
            }
        }
    }
    m / weight
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Resources {
        Resources::parse_flag(s).unwrap()
    }

    #[test]
    fn round_trips_and_arithmetic() {
        let mut names = Names::default();
        let a = Res::from_resources(&p("cpus:4;mem:1024;ports:[1-10]"), &mut names);
        assert_eq!(a.to_resources(&names), p("cpus:4;mem:1024;ports:[1-10]"));
        let b = Res::from_resources(&p("mem:24;ports:[3-4]"), &mut names);
        assert!(a.contains(&b));
        let mut c = a.clone();
        c.sub(&b).unwrap();
        assert_eq!(
            c.to_resources(&names),
            p("cpus:4;mem:1000;ports:[1-2,5-10]")
        );
        assert!(c.sub(&b).is_err());
        c.add(&b).unwrap();
        assert_eq!(c, a);
        assert!(c.add(&b).is_err(), "ports would be added twice");
        let d = Res::from_resources(&p("cpus:8;ports:[9-12]"), &mut names);
        assert_eq!(
            a.intersect(&d).to_resources(&names),
            p("cpus:4;ports:[9-10]")
        );
        let e = Res::from_resources(&p("gpus:1"), &mut names);
        assert!(!a.contains(&e));
        assert!(Res::default().is_empty());
    }

    #[test]
    fn keeps_set_resources() {
        let mut names = Names::default();
        let r = p("cpus:1;bugs:{a,b};ports:[5-6]");
        let a = Res::from_resources(&r, &mut names);
        assert!(!a.other.is_empty());
        assert_eq!(a.to_resources(&names), r);
        let b = Res::from_resources(&p("bugs:{a}"), &mut names);
        let mut c = a.clone();
        c.sub(&b).unwrap();
        assert_eq!(c.to_resources(&names), p("cpus:1;bugs:{b};ports:[5-6]"));
        // Known names now: the fast path must still see sets.
        let again = Res::from_resources(&r, &mut names);
        assert_eq!(again, a);
    }

    #[test]
    fn shares() {
        assert_eq!(drf_share(&[500, 100], &[1000, 1000], 1.0), 0.5);
        assert_eq!(drf_share(&[500, 100], &[1000, 1000], 2.0), 0.25);
        assert_eq!(drf_share(&[500], &[0], 1.0), 0.0);
    }

    fn arb_ranges() -> impl Strategy<Value = RangeSet> {
        proptest::collection::vec((0u64..100, 0u64..8), 0..6)
            .prop_map(|v| RangeSet::new(v.into_iter().map(|(b, l)| (b, b + l))))
    }

    proptest! {
        #[test]
        fn interval_ops_match_rangeset(a in arb_ranges(), b in arb_ranges()) {
            prop_assert_eq!(rg_contains(a.ranges(), b.ranges()), a.contains(&b));
            prop_assert_eq!(rg_overlaps(a.ranges(), b.ranges()), a.overlaps(&b));
            prop_assert_eq!(rg_union(a.ranges(), b.ranges()), a.union(&b).ranges().to_vec());
            prop_assert_eq!(rg_diff(a.ranges(), b.ranges()), a.difference(&b).ranges().to_vec());
            let inter = a.difference(&a.difference(&b));
            prop_assert_eq!(rg_intersect(a.ranges(), b.ranges()), inter.ranges().to_vec());
        }
    }
}

//! Resources as exact quantities.
//!
//! Scalars are fixed-point thousandths (Mesos keeps three decimal digits), ranges are
//! coalesced interval sets and sets are ordered strings. Every operation that could
//! over- or under-flow is checked: subtracting what is not contained is an error, never
//! a negative quantity.

use crate::v1::{self, ValueType};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A scalar quantity in thousandths.
pub type Milli = i64;

pub fn to_milli(v: f64) -> Milli {
    (v * 1000.0).round() as Milli
}

pub fn from_milli(m: Milli) -> f64 {
    m as f64 / 1000.0
}

/// A set of non-overlapping, non-adjacent, sorted inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    pub fn new(ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut v: Vec<(u64, u64)> = ranges.into_iter().filter(|(b, e)| b <= e).collect();
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (b, e) in v {
            match out.last_mut() {
                Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => out.push((b, e)),
            }
        }
        RangeSet(out)
    }
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> u64 {
        self.0.iter().map(|(b, e)| e - b + 1).sum()
    }
    pub fn contains_value(&self, v: u64) -> bool {
        self.0.iter().any(|&(b, e)| b <= v && v <= e)
    }
    pub fn contains(&self, other: &RangeSet) -> bool {
        other
            .0
            .iter()
            .all(|&(b, e)| self.0.iter().any(|&(sb, se)| sb <= b && e <= se))
    }
    pub fn overlaps(&self, other: &RangeSet) -> bool {
        self.0
            .iter()
            .any(|&(b, e)| other.0.iter().any(|&(ob, oe)| b <= oe && ob <= e))
    }
    pub fn union(&self, other: &RangeSet) -> RangeSet {
        RangeSet::new(self.0.iter().chain(other.0.iter()).copied())
    }
    /// `self - other`; `other` need not be contained.
    pub fn difference(&self, other: &RangeSet) -> RangeSet {
        let mut out = Vec::new();
        for &(b, e) in &self.0 {
            let mut pieces = vec![(b, e)];
            for &(ob, oe) in &other.0 {
                let mut next = Vec::new();
                for (pb, pe) in pieces {
                    if oe < pb || ob > pe {
                        next.push((pb, pe));
                        continue;
                    }
                    if ob > pb {
                        next.push((pb, ob - 1));
                    }
                    if oe < pe {
                        next.push((oe + 1, pe));
                    }
                }
                pieces = next;
            }
            out.extend(pieces);
        }
        RangeSet::new(out)
    }
}

impl fmt::Display for RangeSet {
    /// Mesos' rendering: `[31000-32000, 33000-33005]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (b, e)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{b}-{e}")?;
        }
        f.write_str("]")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceError {
    Invalid(String),
    /// Subtraction of resources that are not contained.
    Insufficient,
    Overflow,
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceError::Invalid(m) => f.write_str(m),
            ResourceError::Insufficient => f.write_str("insufficient resources"),
            ResourceError::Overflow => f.write_str("resource quantity overflow"),
        }
    }
}

impl std::error::Error for ResourceError {}

/// An unreserved bundle of resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    scalars: BTreeMap<String, Milli>,
    ranges: BTreeMap<String, RangeSet>,
    sets: BTreeMap<String, BTreeSet<String>>,
}

impl Resources {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn scalar(&self, name: &str) -> f64 {
        from_milli(self.scalar_milli(name))
    }
    pub fn scalar_milli(&self, name: &str) -> Milli {
        self.scalars.get(name).copied().unwrap_or(0)
    }
    pub fn scalars(&self) -> impl Iterator<Item = (&str, Milli)> {
        self.scalars.iter().map(|(k, v)| (k.as_str(), *v))
    }
    pub fn ranges(&self, name: &str) -> Option<&RangeSet> {
        self.ranges.get(name)
    }
    pub fn all_ranges(&self) -> impl Iterator<Item = (&str, &RangeSet)> {
        self.ranges.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn set(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.sets.get(name)
    }

    pub fn with_scalar(mut self, name: &str, value: f64) -> Self {
        self.add_scalar(name, to_milli(value));
        self
    }
    pub fn with_ranges(mut self, name: &str, ranges: RangeSet) -> Self {
        let merged = self
            .ranges
            .get(name)
            .map(|r| r.union(&ranges))
            .unwrap_or(ranges);
        if !merged.is_empty() {
            self.ranges.insert(name.to_string(), merged);
        }
        self
    }

    fn add_scalar(&mut self, name: &str, m: Milli) {
        if m == 0 {
            return;
        }
        let e = self.scalars.entry(name.to_string()).or_insert(0);
        *e += m;
        if *e == 0 {
            self.scalars.remove(name);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.scalars.is_empty() && self.ranges.is_empty() && self.sets.is_empty()
    }

    /// Whether every quantity of `other` is available in `self`.
    pub fn contains(&self, other: &Resources) -> bool {
        other
            .scalars
            .iter()
            .all(|(k, v)| self.scalar_milli(k) >= *v)
            && other
                .ranges
                .iter()
                .all(|(k, r)| self.ranges.get(k).is_some_and(|s| s.contains(r)))
            && other
                .sets
                .iter()
                .all(|(k, s)| self.sets.get(k).is_some_and(|mine| s.is_subset(mine)))
    }

    /// `self + other`. Adding ranges or set items that are already present is an error.
    pub fn checked_add(&self, other: &Resources) -> Result<Resources, ResourceError> {
        let mut out = self.clone();
        for (k, v) in &other.scalars {
            let cur = out.scalar_milli(k);
            let sum = cur.checked_add(*v).ok_or(ResourceError::Overflow)?;
            out.scalars.insert(k.clone(), sum);
        }
        for (k, r) in &other.ranges {
            let merged = match out.ranges.get(k) {
                Some(cur) if cur.overlaps(r) => {
                    return Err(ResourceError::Invalid(format!("'{k}' ranges overlap")))
                }
                Some(cur) => cur.union(r),
                None => r.clone(),
            };
            out.ranges.insert(k.clone(), merged);
        }
        for (k, s) in &other.sets {
            let cur = out.sets.entry(k.clone()).or_default();
            if !cur.is_disjoint(s) {
                return Err(ResourceError::Invalid(format!("'{k}' set items repeat")));
            }
            cur.extend(s.iter().cloned());
        }
        Ok(out)
    }

    /// Totals across agents: scalars add up, ranges and sets are merged. Unlike
    /// [`checked_add`](Self::checked_add) it never fails, since the same port on two
    /// agents is two different resources.
    pub fn aggregate(&self, other: &Resources) -> Resources {
        let mut out = self.clone();
        for (k, v) in &other.scalars {
            let e = out.scalars.entry(k.clone()).or_insert(0);
            *e = e.saturating_add(*v);
        }
        for (k, r) in &other.ranges {
            let merged = out
                .ranges
                .get(k)
                .map(|c| c.union(r))
                .unwrap_or_else(|| r.clone());
            out.ranges.insert(k.clone(), merged);
        }
        for (k, s) in &other.sets {
            out.sets
                .entry(k.clone())
                .or_default()
                .extend(s.iter().cloned());
        }
        out
    }

    /// `self += other` in place, with the checks of [`checked_add`](Self::checked_add);
    /// on error `self` is unchanged.
    pub fn try_add_assign(&mut self, other: &Resources) -> Result<(), ResourceError> {
        for (k, v) in &other.scalars {
            self.scalar_milli(k)
                .checked_add(*v)
                .ok_or(ResourceError::Overflow)?;
        }
        for (k, r) in &other.ranges {
            if self.ranges.get(k).is_some_and(|cur| cur.overlaps(r)) {
                return Err(ResourceError::Invalid(format!("'{k}' ranges overlap")));
            }
        }
        for (k, items) in &other.sets {
            if self.sets.get(k).is_some_and(|cur| !cur.is_disjoint(items)) {
                return Err(ResourceError::Invalid(format!("'{k}' set items repeat")));
            }
        }
        for (k, v) in &other.scalars {
            match self.scalars.get_mut(k) {
                Some(cur) => *cur += v,
                None => {
                    self.scalars.insert(k.clone(), *v);
                }
            }
        }
        for (k, r) in &other.ranges {
            let merged = self
                .ranges
                .get(k)
                .map(|c| c.union(r))
                .unwrap_or_else(|| r.clone());
            self.ranges.insert(k.clone(), merged);
        }
        for (k, items) in &other.sets {
            self.sets
                .entry(k.clone())
                .or_default()
                .extend(items.iter().cloned());
        }
        Ok(())
    }

    /// `self - other`, failing when `other` is not contained in `self`.
    pub fn checked_sub(&self, other: &Resources) -> Result<Resources, ResourceError> {
        if !self.contains(other) {
            return Err(ResourceError::Insufficient);
        }
        Ok(self.saturating_sub(other))
    }

    /// `self - other`, dropping what is not there (used to compute "what is left").
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        let mut out = self.clone();
        for (k, v) in &other.scalars {
            let left = (out.scalar_milli(k) - v).max(0);
            if left == 0 {
                out.scalars.remove(k);
            } else {
                out.scalars.insert(k.clone(), left);
            }
        }
        for (k, r) in &other.ranges {
            if let Some(cur) = out.ranges.get(k) {
                let left = cur.difference(r);
                if left.is_empty() {
                    out.ranges.remove(k);
                } else {
                    out.ranges.insert(k.clone(), left);
                }
            }
        }
        for (k, s) in &other.sets {
            if let Some(cur) = out.sets.get_mut(k) {
                cur.retain(|i| !s.contains(i));
                if cur.is_empty() {
                    out.sets.remove(k);
                }
            }
        }
        out
    }

    /// Parse wire resources. Roles and reservations are accepted but every resource is
    /// treated as unreserved.
    pub fn from_wire(list: &[v1::Resource]) -> Result<Resources, ResourceError> {
        let mut out = Resources::new();
        for r in list {
            let one = Self::from_one(r)?;
            out = out.checked_add(&one)?;
        }
        Ok(out)
    }

    fn from_one(r: &v1::Resource) -> Result<Resources, ResourceError> {
        let invalid =
            |m: &str| ResourceError::Invalid(format!("Invalid resource '{}': {m}", r.name));
        if r.name.is_empty() {
            return Err(ResourceError::Invalid("Empty resource name".into()));
        }
        let mut out = Resources::new();
        match r.kind {
            ValueType::Scalar => {
                let v = r
                    .scalar
                    .as_ref()
                    .ok_or_else(|| invalid("missing scalar"))?
                    .value;
                if !v.is_finite() || v < 0.0 {
                    return Err(invalid("scalar must be finite and non-negative"));
                }
                out.add_scalar(&r.name, to_milli(v));
            }
            ValueType::Ranges => {
                let rs = r.ranges.as_ref().ok_or_else(|| invalid("missing ranges"))?;
                let mut pairs = Vec::new();
                for range in &rs.range {
                    if range.begin > range.end {
                        return Err(invalid("range begin is greater than end"));
                    }
                    pairs.push((range.begin, range.end));
                }
                let set = RangeSet::new(pairs);
                if !set.is_empty() {
                    out.ranges.insert(r.name.clone(), set);
                }
            }
            ValueType::Set => {
                let s = r.set.as_ref().ok_or_else(|| invalid("missing set"))?;
                if !s.item.is_empty() {
                    out.sets
                        .insert(r.name.clone(), s.item.iter().cloned().collect());
                }
            }
            ValueType::Text => return Err(invalid("TEXT is not a resource type")),
        }
        Ok(out)
    }

    /// Wire form, unreserved. `role` (pre-refinement format) is written when given.
    pub fn to_wire(&self, role: Option<&str>) -> Vec<v1::Resource> {
        let mut out = Vec::new();
        for (k, v) in &self.scalars {
            let mut r = v1::Resource::scalar(k, from_milli(*v));
            r.role = role.map(str::to_string);
            out.push(r);
        }
        for (k, rs) in &self.ranges {
            let mut r = v1::Resource::ranges(k, rs.ranges());
            r.role = role.map(str::to_string);
            out.push(r);
        }
        for (k, s) in &self.sets {
            let mut r = v1::Resource::set(k, s.iter().cloned().collect());
            r.role = role.map(str::to_string);
            out.push(r);
        }
        out
    }

    /// The `ResourceSummary` object of `/master/state`: cpus, gpus, mem and disk are always
    /// present; ranges and sets are rendered as strings.
    pub fn summary(&self) -> Value {
        let mut m = Map::new();
        for k in ["cpus", "gpus", "mem", "disk"] {
            m.insert(k.into(), json!(self.scalar(k)));
        }
        for (k, v) in &self.scalars {
            m.insert(k.clone(), json!(from_milli(*v)));
        }
        for (k, r) in &self.ranges {
            m.insert(k.clone(), json!(r.to_string()));
        }
        for (k, s) in &self.sets {
            let items: Vec<&str> = s.iter().map(String::as_str).collect();
            m.insert(k.clone(), json!(format!("{{{}}}", items.join(", "))));
        }
        Value::Object(m)
    }

    /// Parse the agent `--resources` flag: either `name(role):value;...` or a JSON array.
    pub fn parse_flag(text: &str) -> Result<Resources, ResourceError> {
        let t = text.trim();
        if t.starts_with('[') && t.contains('{') && t.contains("\"name\"") {
            let list: Vec<v1::Resource> = serde_json::from_str(t)
                .map_err(|e| ResourceError::Invalid(format!("Invalid JSON resources: {e}")))?;
            return Self::from_wire(&list);
        }
        let mut out = Resources::new();
        for part in t.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once(':').ok_or_else(|| {
                ResourceError::Invalid(format!("Bad value for resources '{part}'"))
            })?;
            let name = name.trim();
            // Drop an optional `(role)` suffix: every resource is unreserved here.
            let name = name.split('(').next().unwrap_or(name).trim();
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            let one = match parse_value(&value)? {
                ParsedValue::Scalar(v) => Resources::new().with_scalar(name, v),
                ParsedValue::Ranges(r) => Resources::new().with_ranges(name, r),
                ParsedValue::Set(s) => {
                    let mut r = Resources::new();
                    r.sets.insert(name.to_string(), s);
                    r
                }
                ParsedValue::Text(_) => {
                    return Err(ResourceError::Invalid(format!(
                        "Bad value for resource '{name}': '{value}' is not a scalar, range or set"
                    )))
                }
            };
            out = out.checked_add(&one)?;
        }
        Ok(out)
    }
}

impl fmt::Display for Resources {
    /// `cpus:4; mem:1024; ports:[31000-32000]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (k, v) in &self.scalars {
            parts.push(format!("{k}:{}", from_milli(*v)));
        }
        for (k, r) in &self.ranges {
            parts.push(format!("{k}:{r}"));
        }
        for (k, s) in &self.sets {
            let items: Vec<&str> = s.iter().map(String::as_str).collect();
            parts.push(format!("{k}:{{{}}}", items.join(", ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// A value in Mesos' text syntax (`values::parse`).
#[derive(Clone, Debug, PartialEq)]
pub enum ParsedValue {
    Scalar(f64),
    Ranges(RangeSet),
    Set(BTreeSet<String>),
    Text(String),
}

pub fn parse_value(v: &str) -> Result<ParsedValue, ResourceError> {
    let bad = |m: &str| ResourceError::Invalid(format!("Bad value '{v}': {m}"));
    if let Some(inner) = v.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| bad("missing ']'"))?;
        let mut pairs = Vec::new();
        for piece in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (b, e) = piece
                .split_once('-')
                .ok_or_else(|| bad("expected begin-end"))?;
            let b: u64 = b
                .trim()
                .parse()
                .map_err(|_| bad("range bound is not a number"))?;
            let e: u64 = e
                .trim()
                .parse()
                .map_err(|_| bad("range bound is not a number"))?;
            if b > e {
                return Err(bad("range begin is greater than end"));
            }
            pairs.push((b, e));
        }
        return Ok(ParsedValue::Ranges(RangeSet::new(pairs)));
    }
    if let Some(inner) = v.strip_prefix('{') {
        let inner = inner.strip_suffix('}').ok_or_else(|| bad("missing '}'"))?;
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        return Ok(ParsedValue::Set(items));
    }
    if let Ok(x) = v.parse::<f64>() {
        if !x.is_finite() || x < 0.0 || (x != 0.0 && !x.is_normal()) {
            return Err(bad("scalar must be finite, non-negative and normal"));
        }
        return Ok(ParsedValue::Scalar(x));
    }
    Ok(ParsedValue::Text(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_text_flag() {
        let r = Resources::parse_flag(
            "cpus:4;mem:1024;ports:[31000-32000, 21000-24000];bugs(debug):{a,b}",
        )
        .unwrap();
        assert_eq!(r.scalar("cpus"), 4.0);
        assert_eq!(r.scalar("mem"), 1024.0);
        assert_eq!(
            r.ranges("ports").unwrap().to_string(),
            "[21000-24000, 31000-32000]"
        );
        assert_eq!(r.set("bugs").unwrap().len(), 2);
    }

    #[test]
    fn parses_the_json_flag() {
        let r = Resources::parse_flag(
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2.5}},
                {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":3}]}}]"#,
        )
        .unwrap();
        assert_eq!(r.scalar("cpus"), 2.5);
        assert_eq!(r.ranges("ports").unwrap().len(), 3);
    }

    #[test]
    fn rejects_bad_flags() {
        assert!(Resources::parse_flag("cpus:-1").is_err());
        assert!(Resources::parse_flag("cpus").is_err());
        assert!(Resources::parse_flag("ports:[5-1]").is_err());
        assert!(Resources::parse_flag("cpus:abc").is_err());
    }

    #[test]
    fn subtraction_is_checked() {
        let total = Resources::parse_flag("cpus:1;mem:128;ports:[1-10]").unwrap();
        let used = Resources::parse_flag("cpus:0.5;ports:[3-4]").unwrap();
        let left = total.checked_sub(&used).unwrap();
        assert_eq!(left.scalar("cpus"), 0.5);
        assert_eq!(left.ranges("ports").unwrap().to_string(), "[1-2, 5-10]");
        assert_eq!(left.checked_sub(&used), Err(ResourceError::Insufficient));
        assert_eq!(left.checked_add(&used).unwrap(), total);
    }

    #[test]
    fn summary_has_the_mesos_shape() {
        let r = Resources::parse_flag("cpus:2;mem:10;ports:[31000-32000]").unwrap();
        let s = r.summary();
        assert_eq!(s["disk"], json!(0.0));
        assert_eq!(s["ports"], json!("[31000-32000]"));
    }

    fn arb_resources() -> impl Strategy<Value = Resources> {
        (
            0u32..10_000,
            0u32..100_000,
            proptest::collection::vec((0u64..200, 0u64..20), 0..4),
        )
            .prop_map(|(c, m, ranges)| {
                Resources::new()
                    .with_scalar("cpus", c as f64 / 1000.0)
                    .with_scalar("mem", m as f64)
                    .with_ranges(
                        "ports",
                        RangeSet::new(ranges.into_iter().map(|(b, l)| (b, b + l))),
                    )
            })
    }

    proptest! {
        #[test]
        fn add_then_sub_round_trips(a in arb_resources(), b in arb_resources()) {
            let b = b.saturating_sub(&a);
            let sum = a.checked_add(&b).unwrap();
            prop_assert!(sum.contains(&a));
            prop_assert!(sum.contains(&b));
            prop_assert_eq!(sum.checked_sub(&b).unwrap(), a);
        }

        #[test]
        fn add_assign_matches_checked_add(a in arb_resources(), b in arb_resources()) {
            let mut x = a.clone();
            match a.checked_add(&b) {
                Ok(sum) => {
                    x.try_add_assign(&b).unwrap();
                    prop_assert_eq!(x, sum);
                }
                Err(_) => {
                    prop_assert!(x.try_add_assign(&b).is_err());
                    prop_assert_eq!(x, a);
                }
            }
        }

        #[test]
        fn wire_round_trips(a in arb_resources()) {
            prop_assert_eq!(Resources::from_wire(&a.to_wire(Some("*"))).unwrap(), a);
        }
    }
}

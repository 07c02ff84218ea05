//! Reservations: who a resource is set aside for.
//!
//! A reserved resource carries a stack of [`Reservation`]s (Mesos' post-refinement
//! `Resource.reservations`), the most refined (deepest role) last. Resources with
//! different stacks are different resources: they never merge, and subtracting one from
//! the other is not possible. Labels are kept sorted by `(key, value)`, so two
//! reservations whose labels differ only in order are equal (Mesos compares `Labels` as
//! an unordered collection); the wire form writes them in that order.

use super::ResourceError;
use crate::ids::validate_role;
use serde_json::{json, Map, Value};
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReservationType {
    /// Set by the agent's `--resources` flag (`cpus(role):8`).
    Static,
    /// Made by a RESERVE operation.
    Dynamic,
}

impl ReservationType {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationType::Static => "STATIC",
            ReservationType::Dynamic => "DYNAMIC",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub key: String,
    pub value: Option<String>,
}

impl Label {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// One level of a reservation stack (`ReservationInfo`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reservation {
    pub kind: ReservationType,
    pub role: String,
    pub principal: Option<String>,
    /// Sorted by `(key, value)`.
    pub labels: Vec<Label>,
}

impl Reservation {
    pub fn new_static(role: impl Into<String>) -> Self {
        Reservation {
            kind: ReservationType::Static,
            role: role.into(),
            principal: None,
            labels: Vec::new(),
        }
    }

    pub fn new_dynamic(
        role: impl Into<String>,
        principal: Option<&str>,
        mut labels: Vec<Label>,
    ) -> Self {
        labels.sort();
        Reservation {
            kind: ReservationType::Dynamic,
            role: role.into(),
            principal: principal.map(str::to_string),
            labels,
        }
    }

    /// A post-refinement `ReservationInfo` object: `{type, role, principal, labels}`.
    pub(crate) fn from_json(v: &Value) -> Result<Reservation, String> {
        let o = v
            .as_object()
            .ok_or_else(|| "a reservation must be an object".to_string())?;
        let kind = match o.get("type").and_then(Value::as_str) {
            Some("STATIC") => ReservationType::Static,
            Some("DYNAMIC") => ReservationType::Dynamic,
            Some(t) => return Err(format!("unknown reservation type '{t}'")),
            None => return Err("a reservation needs a type".into()),
        };
        let role = o
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| "a reservation needs a role".to_string())?;
        let (principal, labels) = principal_and_labels(o)?;
        let mut r = Reservation::new_dynamic(role, principal.as_deref(), labels);
        r.kind = kind;
        Ok(r)
    }

    /// A pre-refinement reservation: `role` from the resource, `reservation{principal,
    /// labels}` if dynamic.
    pub(crate) fn from_legacy(role: &str, reservation: Option<&Value>) -> Result<Self, String> {
        match reservation {
            None => Ok(Reservation::new_static(role)),
            Some(v) => {
                let o = v
                    .as_object()
                    .ok_or_else(|| "'reservation' must be an object".to_string())?;
                let (principal, labels) = principal_and_labels(o)?;
                Ok(Reservation::new_dynamic(role, principal.as_deref(), labels))
            }
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("type".into(), json!(self.kind.as_str()));
        o.insert("role".into(), json!(self.role));
        self.write_principal_and_labels(&mut o);
        Value::Object(o)
    }

    /// The pre-refinement `reservation{principal, labels}` object.
    pub(crate) fn to_legacy_json(&self) -> Value {
        let mut o = Map::new();
        self.write_principal_and_labels(&mut o);
        Value::Object(o)
    }

    fn write_principal_and_labels(&self, o: &mut Map<String, Value>) {
        if let Some(p) = &self.principal {
            o.insert("principal".into(), json!(p));
        }
        if !self.labels.is_empty() {
            let labels: Vec<Value> = self
                .labels
                .iter()
                .map(|l| match &l.value {
                    Some(v) => json!({"key": l.key, "value": v}),
                    None => json!({"key": l.key}),
                })
                .collect();
            o.insert("labels".into(), json!({ "labels": labels }));
        }
    }
}

fn principal_and_labels(o: &Map<String, Value>) -> Result<(Option<String>, Vec<Label>), String> {
    let principal = match o.get("principal") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err("'principal' must be a string".into()),
    };
    let mut labels = Vec::new();
    if let Some(l) = o.get("labels").filter(|l| !l.is_null()) {
        let list = l
            .get("labels")
            .map(|v| v.as_array().ok_or("'labels.labels' must be an array"))
            .transpose()?
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for item in list {
            let key = item
                .get("key")
                .and_then(Value::as_str)
                .ok_or("a label needs a string 'key'")?;
            let value = match item.get("value") {
                None | Some(Value::Null) => None,
                Some(Value::String(v)) => Some(v.clone()),
                Some(_) => return Err("a label's 'value' must be a string".into()),
            };
            labels.push(Label {
                key: key.to_string(),
                value,
            });
        }
    }
    Ok((principal, labels))
}

impl fmt::Display for Reservation {
    /// Mesos' rendering: `(DYNAMIC,role1,principal1,{k: v, k2: v2})`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{}", self.kind.as_str(), self.role)?;
        if self.principal.is_some() || !self.labels.is_empty() {
            write!(f, ",{}", self.principal.as_deref().unwrap_or(""))?;
        }
        if !self.labels.is_empty() {
            f.write_str(",{")?;
            for (i, l) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                match &l.value {
                    Some(v) => write!(f, "{}: {v}", l.key)?,
                    None => f.write_str(&l.key)?,
                }
            }
            f.write_str("}")?;
        }
        f.write_str(")")
    }
}

/// A non-empty reservation stack, the most refined reservation last. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reservations(Arc<[Reservation]>);

impl Reservations {
    /// Checks Mesos' rules: at least one level; every role valid and not `*`; each level's
    /// role a strict sub-role of the one below it; only the first level may be STATIC.
    pub fn new(stack: Vec<Reservation>) -> Result<Reservations, ResourceError> {
        let bad = |m: String| ResourceError::Invalid(format!("Invalid reservation: {m}"));
        if stack.is_empty() {
            return Err(bad("the stack is empty".into()));
        }
        for (i, r) in stack.iter().enumerate() {
            if r.role == "*" {
                return Err(bad("a reservation cannot be for role '*'".into()));
            }
            validate_role(&r.role).map_err(bad)?;
            if i > 0 {
                if r.kind == ReservationType::Static {
                    return Err(bad("only the first reservation may be STATIC".into()));
                }
                let below = &stack[i - 1].role;
                if !is_strict_subrole(&r.role, below) {
                    return Err(bad(format!(
                        "role '{}' does not refine role '{below}'",
                        r.role
                    )));
                }
            }
        }
        Ok(Reservations(stack.into()))
    }

    /// A one-level stack.
    pub fn one(r: Reservation) -> Result<Reservations, ResourceError> {
        Reservations::new(vec![r])
    }

    pub fn stack(&self) -> &[Reservation] {
        &self.0
    }

    /// The most refined reservation.
    pub fn last(&self) -> &Reservation {
        self.0.last().expect("a reservation stack is never empty")
    }

    /// The role the resources are reserved for (that of the most refined level).
    pub fn role(&self) -> &str {
        &self.last().role
    }

    /// More than one level (needs the `RESERVATION_REFINEMENT` capability).
    pub fn is_refined(&self) -> bool {
        self.0.len() > 1
    }

    /// Whether a framework allocating to `role` may be offered these resources: the role
    /// is the reservation's role or one of its sub-roles (Mesos' `isAllocatableTo`).
    pub fn allocatable_to(&self, role: &str) -> bool {
        let mine = self.role();
        role == mine || is_strict_subrole(role, mine)
    }

    pub(crate) fn to_json(&self) -> Vec<Value> {
        self.0.iter().map(Reservation::to_json).collect()
    }
}

impl fmt::Display for Reservations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reservations: [")?;
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{r}")?;
        }
        f.write_str("]")
    }
}

/// `child` is below `parent` in the role tree (`a/b` under `a`).
pub fn is_strict_subrole(child: &str, parent: &str) -> bool {
    child.len() > parent.len() + 1
        && child.starts_with(parent)
        && child.as_bytes()[parent.len()] == b'/'
}

//! Mesos' text syntax: the agent's `--resources` flag and `values::parse`.

use super::{RangeSet, Reservation, Reservations, ResourceError, Resources};
use crate::ids::validate_role;
use crate::v1;
use std::collections::BTreeSet;

impl Resources {
    /// Parse the agent `--resources` flag: either `name(role):value;...` or a JSON array.
    /// `name(role)` with a role other than `*` is a STATIC reservation for that role, as
    /// in Mesos (`cpus(role1):8`).
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
            let (name, role) = split_role(name.trim(), part)?;
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            let mut one = match parse_value(&value)? {
                ParsedValue::Scalar(v) => Resources::new().with_scalar(name, v),
                ParsedValue::Ranges(r) => Resources::new().with_ranges(name, r),
                ParsedValue::Set(s) => {
                    let mut r = Resources::new();
                    if !s.is_empty() {
                        r.unreserved.sets.insert(name.to_string(), s);
                    }
                    r
                }
                ParsedValue::Text(_) => {
                    return Err(ResourceError::Invalid(format!(
                        "Bad value for resource '{name}': '{value}' is not a scalar, range or set"
                    )))
                }
            };
            if let Some(role) = role {
                let resv = Reservations::one(Reservation::new_static(role))?;
                one = one.into_reserved(&resv);
            }
            out.try_add_assign(&one)?;
        }
        Ok(out)
    }
}

/// `cpus(role1)` -> `("cpus", Some("role1"))`; `cpus` and `cpus(*)` are unreserved.
fn split_role<'a>(name: &'a str, part: &str) -> Result<(&'a str, Option<&'a str>), ResourceError> {
    let bad = |m: String| ResourceError::Invalid(format!("Bad value for resources '{part}': {m}"));
    let Some((base, rest)) = name.split_once('(') else {
        return Ok((name, None));
    };
    let role = rest
        .strip_suffix(')')
        .ok_or_else(|| bad("missing ')'".into()))?
        .trim();
    let base = base.trim();
    if base.is_empty() {
        return Err(bad("empty resource name".into()));
    }
    if role == "*" {
        return Ok((base, None));
    }
    validate_role(role).map_err(bad)?;
    Ok((base, Some(role)))
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

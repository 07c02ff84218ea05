//! Placement constraints (spec A3 "Constraints"; Marathon `docs/constraints.md`).
//!
//! A constraint is `[field, OPERATOR, value?]`. [`Constraint::parse`] turns one
//! into a typed [`Constraint`] (with the same messages as
//! [`crate::validation::validate_constraint`]), and [`check`] decides whether an
//! offer from one agent may take one more instance of an app, given the agents
//! of the app's active instances. Pure: no I/O, no clock.
//!
//! Field lookup ([`AgentFacts::value`]): `hostname` / `@hostname` is the agent's
//! hostname, `@region` / `@zone` are the `region` / `zone` attributes, anything
//! else is an attribute by name. An agent without the field fails every operator
//! except `UNLIKE`; placed instances whose agent lacks the field are not counted.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// A constraint operator with its parsed value.
#[derive(Debug, Clone)]
pub enum Operator {
    /// At most one instance per distinct value.
    Unique,
    /// `Some(v)`: the field must equal `v`. `None`: the field must equal the
    /// value of the instances already placed (anything if none are placed).
    Cluster(Option<String>),
    /// Spread evenly over the values of the field. The optional number of
    /// values is kept for echoing but does not change the decision (see [`check`]).
    GroupBy(Option<u32>),
    /// The field must fully match (the regex is anchored at both ends).
    Like(Regex),
    /// The field must not fully match; agents without the field pass.
    Unlike(Regex),
    /// At most N instances per distinct value.
    MaxPer(u32),
    /// The field must equal the value (text, or the same number).
    Is(String),
}

impl Operator {
    /// The operator's name as written in the JSON (`UNIQUE`, `MAX_PER`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Unique => "UNIQUE",
            Operator::Cluster(_) => "CLUSTER",
            Operator::GroupBy(_) => "GROUP_BY",
            Operator::Like(_) => "LIKE",
            Operator::Unlike(_) => "UNLIKE",
            Operator::MaxPer(_) => "MAX_PER",
            Operator::Is(_) => "IS",
        }
    }

    /// The value as the user wrote it, if the operator has one. For `LIKE` /
    /// `UNLIKE` this is the user's pattern, without our anchoring.
    pub fn value(&self) -> Option<String> {
        match self {
            Operator::Unique | Operator::Cluster(None) | Operator::GroupBy(None) => None,
            Operator::Cluster(Some(v)) | Operator::Is(v) => Some(v.clone()),
            Operator::GroupBy(Some(n)) | Operator::MaxPer(n) => Some(n.to_string()),
            Operator::Like(re) | Operator::Unlike(re) => Some(unanchor(re.as_str()).to_string()),
        }
    }
}

/// Regexes compare by their source text.
impl PartialEq for Operator {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name() && self.value() == other.value()
    }
}

/// One parsed constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub field: String,
    pub op: Operator,
}

const ANCHOR_START: &str = "^(?:";
const ANCHOR_END: &str = ")$";

fn anchored(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("{ANCHOR_START}{re}{ANCHOR_END}"))
        .map_err(|_| "Invalid regular expression".to_string())
}

fn unanchor(re: &str) -> &str {
    re.strip_prefix(ANCHOR_START)
        .and_then(|r| r.strip_suffix(ANCHOR_END))
        .unwrap_or(re)
}

fn parse_number(v: &str) -> Result<u32, String> {
    v.trim()
        .parse::<u32>()
        .map_err(|_| "Value was specified but is not a number".to_string())
}

impl Constraint {
    /// Parse `[field, OPERATOR, value?]`. The error is the user-facing message
    /// (spec A3), e.g. `unknown constraint operator FOO`.
    pub fn parse(c: &[String]) -> Result<Constraint, String> {
        if c.len() < 2 || c[0].is_empty() {
            return Err("Missing field and operator".to_string());
        }
        if c.len() > 3 {
            return Err("Each constraint must have either 2 or 3 fields".to_string());
        }
        let field = c[0].clone();
        let value = c.get(2).map(String::as_str);
        let op = match c[1].as_str() {
            "UNIQUE" => match value {
                Some(_) => return Err("Value specified but not used".to_string()),
                None => Operator::Unique,
            },
            // An empty value means "pin to the first placement" (spec A3).
            "CLUSTER" => Operator::Cluster(value.filter(|v| !v.is_empty()).map(str::to_string)),
            "GROUP_BY" => Operator::GroupBy(match value {
                None | Some("") => None,
                Some(v) => Some(parse_number(v)?),
            }),
            "LIKE" | "UNLIKE" => {
                let Some(v) = value else {
                    return Err("A regular expression value must be provided".to_string());
                };
                let re = anchored(v)?;
                if c[1] == "LIKE" {
                    Operator::Like(re)
                } else {
                    Operator::Unlike(re)
                }
            }
            "MAX_PER" => match value {
                None => return Err("Missing value".to_string()),
                Some(v) => Operator::MaxPer(parse_number(v)?),
            },
            "IS" => match value {
                None => return Err("Missing value".to_string()),
                Some(v) => Operator::Is(v.to_string()),
            },
            other => return Err(format!("unknown constraint operator {other}")),
        };
        Ok(Constraint { field, op })
    }

    /// Back to the JSON form `[field, OPERATOR, value?]`.
    pub fn to_vec(&self) -> Vec<String> {
        let mut v = vec![self.field.clone(), self.op.name().to_string()];
        v.extend(self.op.value());
        v
    }
}

/// `OPERATOR field[ value]`, e.g. `UNIQUE hostname` or `MAX_PER rack 2`: the
/// reason shown to users when an offer is declined.
impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.name(), self.field)?;
        if let Some(v) = self.op.value() {
            write!(f, " {v}")?;
        }
        Ok(())
    }
}

/// Parse every constraint of an app; the first failure is reported with its
/// index, as `constraints(i): message`.
pub fn parse_all(cs: &[Vec<String>]) -> Result<Vec<Constraint>, String> {
    cs.iter()
        .enumerate()
        .map(|(i, c)| Constraint::parse(c).map_err(|e| format!("constraints({i}): {e}")))
        .collect()
}

/// What constraints look at for one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentFacts {
    pub agent_id: String,
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
}

impl AgentFacts {
    /// The value of a constraint field on this agent, if it has one.
    pub fn value(&self, field: &str) -> Option<&str> {
        match field {
            "hostname" | "@hostname" => Some(self.hostname.as_str()),
            "@region" => self.attributes.get("region").map(String::as_str),
            "@zone" => self.attributes.get("zone").map(String::as_str),
            other => self.attributes.get(other).map(String::as_str),
        }
    }
}

/// Instances per field value among `placed` (agents without the field are skipped).
fn counts<'a>(field: &str, placed: &[&'a AgentFacts]) -> BTreeMap<&'a str, u32> {
    let mut m = BTreeMap::new();
    for a in placed {
        if let Some(v) = a.value(field) {
            *m.entry(v).or_insert(0) += 1;
        }
    }
    m
}

/// Text equality, or equality as numbers when both sides are numbers
/// (scalar attributes: `4` IS `4.0`).
fn is_match(have: &str, want: &str) -> bool {
    if have == want {
        return true;
    }
    match (have.trim().parse::<f64>(), want.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether one constraint accepts `offer`, given the agents of placed instances.
pub fn accepts(c: &Constraint, offer: &AgentFacts, placed: &[&AgentFacts]) -> bool {
    let value = offer.value(&c.field);
    let Some(value) = value else {
        return matches!(c.op, Operator::Unlike(_));
    };
    match &c.op {
        Operator::Unique => !placed.iter().any(|a| a.value(&c.field) == Some(value)),
        Operator::Cluster(Some(want)) => value == want,
        Operator::Cluster(None) => placed
            .iter()
            .filter_map(|a| a.value(&c.field))
            .all(|v| v == value),
        Operator::GroupBy(_) => {
            // Accept the least used value, or a value not used yet. A value in
            // use is acceptable only if no other used value has fewer instances.
            let counts = counts(&c.field, placed);
            match counts.get(value) {
                None => true,
                Some(mine) => counts.values().all(|n| mine <= n),
            }
        }
        Operator::Like(re) => re.is_match(value),
        Operator::Unlike(re) => !re.is_match(value),
        Operator::MaxPer(n) => {
            let used = placed
                .iter()
                .filter(|a| a.value(&c.field) == Some(value))
                .count();
            (used as u64) < u64::from(*n)
        }
        Operator::Is(want) => is_match(value, want),
    }
}

/// `placed`: the facts of the agent of every active instance of the app (one
/// entry per instance). `Ok` if one more instance may be placed on `offer`;
/// `Err(reason)` names the first failing constraint, e.g. `UNIQUE hostname`
/// (shown to users in the queue).
pub fn check(
    constraints: &[Constraint],
    offer: &AgentFacts,
    placed: &[&AgentFacts],
) -> Result<(), String> {
    match constraints.iter().find(|c| !accepts(c, offer, placed)) {
        Some(c) => Err(c.to_string()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(parts: &[&str]) -> Constraint {
        let v: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        Constraint::parse(&v).unwrap()
    }

    fn perr(parts: &[&str]) -> String {
        let v: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        Constraint::parse(&v).unwrap_err()
    }

    fn agent(host: &str, attrs: &[(&str, &str)]) -> AgentFacts {
        AgentFacts {
            agent_id: format!("id-{host}"),
            hostname: host.to_string(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn parse_operators() {
        assert_eq!(c(&["hostname", "UNIQUE"]).op, Operator::Unique);
        assert_eq!(
            c(&["rack", "CLUSTER", "r1"]).op,
            Operator::Cluster(Some("r1".into()))
        );
        assert_eq!(c(&["rack", "CLUSTER"]).op, Operator::Cluster(None));
        assert_eq!(c(&["rack", "CLUSTER", ""]).op, Operator::Cluster(None));
        assert_eq!(c(&["rack", "GROUP_BY"]).op, Operator::GroupBy(None));
        assert_eq!(c(&["rack", "GROUP_BY", "3"]).op, Operator::GroupBy(Some(3)));
        assert_eq!(c(&["rack", "MAX_PER", "2"]).op, Operator::MaxPer(2));
        assert_eq!(c(&["rack", "IS", "r1"]).op, Operator::Is("r1".into()));
        assert!(matches!(c(&["h", "LIKE", "a.*"]).op, Operator::Like(_)));
        assert!(matches!(c(&["h", "UNLIKE", "a.*"]).op, Operator::Unlike(_)));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            perr(&["hostname", "FOO"]),
            "unknown constraint operator FOO"
        );
        assert_eq!(perr(&["hostname"]), "Missing field and operator");
        assert_eq!(perr(&[]), "Missing field and operator");
        assert_eq!(perr(&["", "UNIQUE"]), "Missing field and operator");
        assert_eq!(
            perr(&["a", "UNIQUE", "x", "y"]),
            "Each constraint must have either 2 or 3 fields"
        );
        assert_eq!(
            perr(&["a", "LIKE", "(unclosed"]),
            "Invalid regular expression"
        );
        assert_eq!(
            perr(&["a", "LIKE"]),
            "A regular expression value must be provided"
        );
        assert_eq!(perr(&["a", "MAX_PER"]), "Missing value");
        assert_eq!(
            perr(&["a", "MAX_PER", "two"]),
            "Value was specified but is not a number"
        );
        assert_eq!(
            perr(&["a", "GROUP_BY", "-1"]),
            "Value was specified but is not a number"
        );
        assert_eq!(perr(&["a", "UNIQUE", "x"]), "Value specified but not used");
        assert_eq!(perr(&["a", "IS"]), "Missing value");
    }

    #[test]
    fn parse_all_reports_index() {
        let cs = vec![
            vec!["hostname".to_string(), "UNIQUE".to_string()],
            vec!["rack".to_string(), "NOPE".to_string()],
        ];
        assert_eq!(
            parse_all(&cs).unwrap_err(),
            "constraints(1): unknown constraint operator NOPE"
        );
        assert_eq!(parse_all(&cs[..1]).unwrap().len(), 1);
    }

    #[test]
    fn display_and_round_trip() {
        assert_eq!(c(&["hostname", "UNIQUE"]).to_string(), "UNIQUE hostname");
        assert_eq!(c(&["rack", "MAX_PER", "2"]).to_string(), "MAX_PER rack 2");
        assert_eq!(c(&["h", "LIKE", "a|b"]).to_string(), "LIKE h a|b");
        for parts in [
            &["hostname", "UNIQUE"][..],
            &["rack", "CLUSTER", "r1"],
            &["rack", "GROUP_BY", "3"],
            &["h", "UNLIKE", "x[0-9]+"],
            &["rack", "IS", "r1"],
        ] {
            let want: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
            assert_eq!(c(parts).to_vec(), want);
        }
    }

    #[test]
    fn field_lookup() {
        let a = agent("h1", &[("region", "eu"), ("rack", "r1")]);
        assert_eq!(a.value("hostname"), Some("h1"));
        assert_eq!(a.value("@hostname"), Some("h1"));
        assert_eq!(a.value("@region"), Some("eu"));
        assert_eq!(a.value("@zone"), None);
        assert_eq!(a.value("rack"), Some("r1"));
        assert_eq!(a.value("missing"), None);
    }

    #[test]
    fn unique() {
        let cs = [c(&["hostname", "UNIQUE"])];
        let (h1, h2) = (agent("h1", &[]), agent("h2", &[]));
        assert!(check(&cs, &h1, &[]).is_ok());
        assert_eq!(check(&cs, &h1, &[&h1]).unwrap_err(), "UNIQUE hostname");
        assert!(check(&cs, &h2, &[&h1]).is_ok());
    }

    #[test]
    fn cluster() {
        let (r1, r2) = (agent("a", &[("rack", "r1")]), agent("b", &[("rack", "r2")]));
        let fixed = [c(&["rack", "CLUSTER", "r1"])];
        assert!(check(&fixed, &r1, &[]).is_ok());
        assert!(check(&fixed, &r2, &[]).is_err());
        let pinned = [c(&["rack", "CLUSTER"])];
        assert!(check(&pinned, &r2, &[]).is_ok());
        assert!(check(&pinned, &r1, &[&r1]).is_ok());
        assert_eq!(check(&pinned, &r2, &[&r1]).unwrap_err(), "CLUSTER rack");
    }

    #[test]
    fn group_by() {
        let cs = [c(&["rack", "GROUP_BY", "2"])];
        let r1 = agent("a", &[("rack", "r1")]);
        let r2 = agent("b", &[("rack", "r2")]);
        let r3 = agent("c", &[("rack", "r3")]);
        assert!(check(&cs, &r1, &[]).is_ok());
        // r1 has one, r2 none: r1 again is refused only once r2 is in use.
        assert!(check(&cs, &r1, &[&r1]).is_ok());
        assert!(check(&cs, &r2, &[&r1]).is_ok());
        assert!(check(&cs, &r1, &[&r1, &r2]).is_ok());
        assert!(check(&cs, &r1, &[&r1, &r1, &r2]).is_err());
        assert!(check(&cs, &r2, &[&r1, &r1, &r2]).is_ok());
        assert!(check(&cs, &r3, &[&r1, &r1, &r2]).is_ok());
    }

    #[test]
    fn like_unlike_anchored() {
        let like = [c(&["hostname", "LIKE", "web[0-9]"])];
        assert!(check(&like, &agent("web1", &[]), &[]).is_ok());
        assert!(check(&like, &agent("web12", &[]), &[]).is_err());
        assert!(check(&like, &agent("xweb1", &[]), &[]).is_err());
        let alt = [c(&["hostname", "LIKE", "a|b"])];
        assert!(check(&alt, &agent("a", &[]), &[]).is_ok());
        assert!(check(&alt, &agent("ab", &[]), &[]).is_err());
        let unlike = [c(&["rack", "UNLIKE", "r[12]"])];
        assert!(check(&unlike, &agent("h", &[("rack", "r1")]), &[]).is_err());
        assert!(check(&unlike, &agent("h", &[("rack", "r3")]), &[]).is_ok());
        assert!(check(&unlike, &agent("h", &[("rack", "r10")]), &[]).is_ok());
        // Agents without the attribute pass UNLIKE.
        assert!(check(&unlike, &agent("h", &[]), &[]).is_ok());
    }

    #[test]
    fn max_per() {
        let cs = [c(&["rack", "MAX_PER", "2"])];
        let r1 = agent("a", &[("rack", "r1")]);
        let r2 = agent("b", &[("rack", "r2")]);
        assert!(check(&cs, &r1, &[&r1, &r2]).is_ok());
        assert_eq!(check(&cs, &r1, &[&r1, &r1]).unwrap_err(), "MAX_PER rack 2");
        assert!(check(&cs, &r2, &[&r1, &r1]).is_ok());
        let zero = [c(&["rack", "MAX_PER", "0"])];
        assert!(check(&zero, &r1, &[]).is_err());
    }

    #[test]
    fn is_exact_or_numeric() {
        let cs = [c(&["cores", "IS", "4"])];
        assert!(check(&cs, &agent("a", &[("cores", "4")]), &[]).is_ok());
        assert!(check(&cs, &agent("a", &[("cores", "4.0")]), &[]).is_ok());
        assert!(check(&cs, &agent("a", &[("cores", "8")]), &[]).is_err());
        let text = [c(&["rack", "IS", "r1"])];
        assert!(check(&text, &agent("a", &[("rack", "r1")]), &[]).is_ok());
        assert!(check(&text, &agent("a", &[("rack", "R1")]), &[]).is_err());
    }

    #[test]
    fn missing_field_fails_all_but_unlike() {
        let bare = agent("h", &[]);
        for parts in [
            &["rack", "UNIQUE"][..],
            &["rack", "CLUSTER"],
            &["rack", "CLUSTER", "r1"],
            &["rack", "GROUP_BY"],
            &["rack", "LIKE", ".*"],
            &["rack", "MAX_PER", "5"],
            &["rack", "IS", "r1"],
        ] {
            assert!(check(&[c(parts)], &bare, &[]).is_err(), "{parts:?}");
        }
        assert!(check(&[c(&["rack", "UNLIKE", ".*"])], &bare, &[]).is_ok());
    }

    #[test]
    fn first_failing_constraint_is_reported() {
        let cs = [c(&["hostname", "LIKE", "h.*"]), c(&["hostname", "UNIQUE"])];
        let h = agent("h1", &[]);
        assert_eq!(check(&cs, &h, &[&h]).unwrap_err(), "UNIQUE hostname");
        assert_eq!(
            check(&cs, &agent("x", &[]), &[]).unwrap_err(),
            "LIKE hostname h.*"
        );
    }

    fn racks(n: usize) -> Vec<AgentFacts> {
        (0..n)
            .map(|i| agent(&format!("h{i}"), &[("rack", &format!("r{i}"))]))
            .collect()
    }

    proptest! {
        /// Placing greedily under UNIQUE / MAX_PER never exceeds the limit per value.
        #[test]
        fn max_per_and_unique_hold(limit in 1u32..4, offers in prop::collection::vec(0usize..4, 0..40)) {
            let agents = racks(4);
            let cs = [c(&["rack", "MAX_PER", &limit.to_string()])];
            let uq = [c(&["rack", "UNIQUE"])];
            let mut placed: Vec<&AgentFacts> = Vec::new();
            let mut placed_u: Vec<&AgentFacts> = Vec::new();
            for i in offers {
                if check(&cs, &agents[i], &placed).is_ok() { placed.push(&agents[i]); }
                if check(&uq, &agents[i], &placed_u).is_ok() { placed_u.push(&agents[i]); }
            }
            for a in &agents {
                let n = placed.iter().filter(|p| p.hostname == a.hostname).count() as u32;
                prop_assert!(n <= limit);
                let u = placed_u.iter().filter(|p| p.hostname == a.hostname).count();
                prop_assert!(u <= 1);
            }
        }

        /// Under GROUP_BY, a placement on a value already in use never widens the
        /// spread (max - min count over used values) beyond max(spread, 1); and
        /// when every value is in use from the start, the spread stays <= 1.
        #[test]
        fn group_by_stays_even(offers in prop::collection::vec(0usize..3, 0..60)) {
            let agents = racks(3);
            let cs = [c(&["rack", "GROUP_BY", "3"])];
            let spread = |p: &[&AgentFacts]| {
                let m = counts("rack", p);
                m.values().max().unwrap_or(&0) - m.values().min().unwrap_or(&0)
            };
            let mut placed: Vec<&AgentFacts> = Vec::new();
            let mut all_used: Vec<&AgentFacts> = agents.iter().collect();
            for &i in &offers {
                if check(&cs, &agents[i], &placed).is_ok() {
                    let before = spread(&placed);
                    let used = placed.iter().any(|a| a.hostname == agents[i].hostname);
                    placed.push(&agents[i]);
                    if used {
                        prop_assert!(spread(&placed) <= before.max(1));
                    }
                }
                if check(&cs, &agents[i], &all_used).is_ok() {
                    all_used.push(&agents[i]);
                }
                prop_assert!(spread(&all_used) <= 1);
            }
        }

        /// CLUSTER without a value pins every placement to one value.
        #[test]
        fn cluster_pins(offers in prop::collection::vec(0usize..3, 0..30)) {
            let agents = racks(3);
            let cs = [c(&["rack", "CLUSTER"])];
            let mut placed: Vec<&AgentFacts> = Vec::new();
            for i in offers {
                if check(&cs, &agents[i], &placed).is_ok() { placed.push(&agents[i]); }
            }
            let values: std::collections::BTreeSet<_> =
                placed.iter().filter_map(|a| a.value("rack")).collect();
            prop_assert!(values.len() <= 1);
        }
    }
}

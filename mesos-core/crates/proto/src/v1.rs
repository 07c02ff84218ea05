//! Mesos v1 messages in Mesos' JSON form: snake_case field names, enums as strings,
//! numbers also accepted as strings, unknown keys ignored, `null` = unset. Optional
//! fields with an explicit proto default are always written (for example
//! `FrameworkInfo.failover_timeout`, `CommandInfo.shell`). Sub-messages this suite passes
//! through without interpreting are kept as raw JSON so nothing a client sent is lost.

use crate::ids::*;
use crate::json::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod health;
pub use health::*;

fn default_true() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValueType {
    Scalar,
    Ranges,
    Set,
    Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scalar {
    #[serde(deserialize_with = "f64_lenient")]
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    #[serde(deserialize_with = "u64_lenient")]
    pub begin: u64,
    #[serde(deserialize_with = "u64_lenient")]
    pub end: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranges {
    #[serde(default)]
    pub range: Vec<Range>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Set {
    #[serde(default)]
    pub item: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<Value>,
}

impl Resource {
    fn bare(name: &str, kind: ValueType) -> Self {
        Resource {
            name: name.to_string(),
            kind,
            scalar: None,
            ranges: None,
            set: None,
            role: None,
            allocation_info: None,
            reservation: None,
            reservations: Vec::new(),
            disk: None,
            revocable: None,
            shared: None,
        }
    }
    pub fn scalar(name: &str, value: f64) -> Self {
        let mut r = Self::bare(name, ValueType::Scalar);
        r.scalar = Some(Scalar { value });
        r
    }
    pub fn ranges(name: &str, ranges: &[(u64, u64)]) -> Self {
        let mut r = Self::bare(name, ValueType::Ranges);
        r.ranges = Some(Ranges {
            range: ranges
                .iter()
                .map(|&(begin, end)| Range { begin, end })
                .collect(),
        });
        r
    }
    pub fn set(name: &str, items: Vec<String>) -> Self {
        let mut r = Self::bare(name, ValueType::Set);
        r.set = Some(Set { item: items });
        r
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

impl Attribute {
    /// The rendering `/master/state` uses: number, `"[a-b, c-d]"`, `"{x, y}"` or text.
    pub fn state_value(&self) -> Value {
        match self.kind {
            ValueType::Scalar => {
                serde_json::json!(self.scalar.as_ref().map(|s| s.value).unwrap_or(0.0))
            }
            ValueType::Ranges => {
                let r = crate::resources::RangeSet::new(
                    self.ranges
                        .iter()
                        .flat_map(|r| r.range.iter().map(|x| (x.begin, x.end))),
                );
                Value::String(r.to_string())
            }
            ValueType::Set => {
                let items = self
                    .set
                    .as_ref()
                    .map(|s| s.item.join(", "))
                    .unwrap_or_default();
                Value::String(format!("{{{items}}}"))
            }
            ValueType::Text => Value::String(
                self.text
                    .as_ref()
                    .map(|t| t.value.clone())
                    .unwrap_or_default(),
            ),
        }
    }
}

/// Parse `--attributes=rack:abc;zone:west;level:10;keys:[1000-1500]`.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, String> {
    use crate::resources::{parse_value, ParsedValue};
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once(':')
            .ok_or_else(|| format!("Invalid attribute '{part}': expected name:value"))?;
        let mut a = Attribute {
            name: name.trim().to_string(),
            kind: ValueType::Text,
            scalar: None,
            ranges: None,
            set: None,
            text: None,
        };
        match parse_value(value.trim()).map_err(|e| e.to_string())? {
            ParsedValue::Scalar(v) => {
                a.kind = ValueType::Scalar;
                a.scalar = Some(Scalar { value: v });
            }
            ParsedValue::Ranges(r) => {
                a.kind = ValueType::Ranges;
                a.ranges = Some(Ranges {
                    range: r
                        .ranges()
                        .iter()
                        .map(|&(begin, end)| Range { begin, end })
                        .collect(),
                });
            }
            ParsedValue::Set(_) => {
                return Err(format!("Invalid attribute '{part}': sets are not allowed"))
            }
            ParsedValue::Text(t) => a.text = Some(Text { value: t }),
        }
        out.push(a);
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkInfo {
    pub user: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkId>,
    #[serde(default, deserialize_with = "f64_or_default")]
    pub failover_timeout: f64,
    #[serde(default)]
    pub checkpoint: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_filters: Option<Value>,
}

fn f64_or_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(opt_f64_lenient(d)?.unwrap_or(0.0))
}

impl FrameworkInfo {
    /// A framework known only by its ID (e.g. from a task an agent reports before the
    /// framework itself re-subscribes).
    pub fn placeholder(id: FrameworkId) -> Self {
        FrameworkInfo {
            user: String::new(),
            name: String::new(),
            id: Some(id),
            failover_timeout: 0.0,
            checkpoint: true,
            role: None,
            roles: Vec::new(),
            hostname: None,
            principal: None,
            webui_url: None,
            capabilities: Vec::new(),
            labels: None,
            offer_filters: None,
        }
    }

    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c.kind == cap)
    }
    /// The roles this framework subscribes to: `roles` for MULTI_ROLE, else `role` or `*`.
    pub fn effective_roles(&self) -> Vec<String> {
        if self.has_capability("MULTI_ROLE") {
            self.roles.clone()
        } else {
            vec![self.role.clone().unwrap_or_else(|| "*".to_string())]
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationInfo {
    #[serde(deserialize_with = "i64_lenient")]
    pub nanoseconds: i64,
}

impl DurationInfo {
    pub fn from_secs_f64(s: f64) -> Self {
        DurationInfo {
            nanoseconds: (s * 1e9) as i64,
        }
    }
    pub fn secs_f64(&self) -> f64 {
        self.nanoseconds as f64 / 1e9
    }
}

pub type TimeInfo = DurationInfo;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<DurationInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentVariable {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(default)]
    pub variables: Vec<EnvironmentVariable>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default = "default_true")]
    pub shell: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl CommandInfo {
    pub fn shell(value: impl Into<String>) -> Self {
        CommandInfo {
            value: Some(value.into()),
            shell: true,
            arguments: Vec::new(),
            uris: Vec::new(),
            environment: None,
            user: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    pub executor_id: ExecutorId,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_period: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub name: String,
    pub task_id: TaskId,
    pub agent_id: AgentId,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_time: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Value>,
}

impl TaskInfo {
    /// A task with no resources, command or executor yet.
    pub fn new(name: impl Into<String>, task_id: TaskId, agent_id: AgentId) -> Self {
        TaskInfo {
            name: name.into(),
            task_id,
            agent_id,
            resources: Vec::new(),
            executor: None,
            command: None,
            container: None,
            health_check: None,
            check: None,
            kill_policy: None,
            data: None,
            labels: None,
            discovery: None,
            max_completion_time: None,
            limits: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    TaskStaging,
    TaskStarting,
    TaskRunning,
    TaskKilling,
    TaskFinished,
    TaskFailed,
    TaskKilled,
    TaskError,
    TaskLost,
    TaskDropped,
    TaskUnreachable,
    TaskGone,
    TaskGoneByOperator,
    TaskUnknown,
}

impl TaskState {
    pub const ALL: [TaskState; 14] = [
        TaskState::TaskStaging,
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskKilling,
        TaskState::TaskFinished,
        TaskState::TaskFailed,
        TaskState::TaskKilled,
        TaskState::TaskError,
        TaskState::TaskLost,
        TaskState::TaskDropped,
        TaskState::TaskUnreachable,
        TaskState::TaskGone,
        TaskState::TaskGoneByOperator,
        TaskState::TaskUnknown,
    ];

    /// Terminal in the agent's sense: the task will not run again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::TaskFinished
                | TaskState::TaskFailed
                | TaskState::TaskKilled
                | TaskState::TaskError
                | TaskState::TaskLost
                | TaskState::TaskDropped
                | TaskState::TaskGone
                | TaskState::TaskGoneByOperator
        )
    }

    /// The state a framework without PARTITION_AWARE sees.
    pub fn for_framework(self, partition_aware: bool) -> TaskState {
        if partition_aware {
            return self;
        }
        match self {
            TaskState::TaskDropped
            | TaskState::TaskUnreachable
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
            | TaskState::TaskUnknown => TaskState::TaskLost,
            s => s,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::TaskStaging => "TASK_STAGING",
            TaskState::TaskStarting => "TASK_STARTING",
            TaskState::TaskRunning => "TASK_RUNNING",
            TaskState::TaskKilling => "TASK_KILLING",
            TaskState::TaskFinished => "TASK_FINISHED",
            TaskState::TaskFailed => "TASK_FAILED",
            TaskState::TaskKilled => "TASK_KILLED",
            TaskState::TaskError => "TASK_ERROR",
            TaskState::TaskLost => "TASK_LOST",
            TaskState::TaskDropped => "TASK_DROPPED",
            TaskState::TaskUnreachable => "TASK_UNREACHABLE",
            TaskState::TaskGone => "TASK_GONE",
            TaskState::TaskGoneByOperator => "TASK_GONE_BY_OPERATOR",
            TaskState::TaskUnknown => "TASK_UNKNOWN",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: TaskId,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_f64_lenient"
    )]
    pub timestamp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitation: Option<Value>,
}

impl TaskStatus {
    pub fn new(task_id: TaskId, state: TaskState) -> Self {
        TaskStatus {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            data: None,
            agent_id: None,
            executor_id: None,
            timestamp: None,
            uuid: None,
            healthy: None,
            check_status: None,
            labels: None,
            container_status: None,
            unreachable_time: None,
            limitation: None,
        }
    }
    pub fn with_source(mut self, s: &str) -> Self {
        self.source = Some(s.to_string());
        self
    }
    pub fn with_reason(mut self, r: &str) -> Self {
        self.reason = Some(r.to_string());
        self
    }
    pub fn with_message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(deserialize_with = "u32_lenient")]
    pub port: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    pub scheme: String,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executor_ids: Vec<ExecutorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_f64_lenient"
    )]
    pub refuse_seconds: Option<f64>,
}

impl Filters {
    /// Mesos' rule: unset or negative means 5 s; more than 365 days is capped.
    pub fn effective_refuse_seconds(filters: Option<&Filters>) -> f64 {
        const DEFAULT: f64 = 5.0;
        const MAX: f64 = 365.0 * 24.0 * 3600.0;
        match filters.and_then(|f| f.refuse_seconds) {
            Some(s) if s.is_nan() || s < 0.0 => DEFAULT,
            Some(s) => s.min(MAX),
            None => DEFAULT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterInfo {
    pub id: String,
    pub ip: u32,
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub hostname: String,
    #[serde(default = "default_agent_port", deserialize_with = "u32_lenient")]
    pub port: u32,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AgentId>,
}

fn default_agent_port() -> u32 {
    5051
}

/// An operation inside ACCEPT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<OperationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<LaunchGroup>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    #[serde(default)]
    pub task_infos: Vec<TaskInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    pub executor: ExecutorInfo,
    pub task_group: TaskGroupInfo,
}

/// `ip` of MasterInfo: the IPv4 address in network byte order read as a host integer.
pub fn ip_to_u32(ip: &str) -> u32 {
    match ip.parse::<std::net::Ipv4Addr>() {
        Ok(a) => u32::from_le_bytes(a.octets()),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_info_ip_matches_mesos() {
        assert_eq!(ip_to_u32("10.0.0.11"), 184549386);
    }

    #[test]
    fn framework_info_writes_defaults_and_reads_strings() {
        let fi: FrameworkInfo =
            serde_json::from_str(r#"{"user":"a","name":"n","failover_timeout":"100","unknown":1}"#)
                .unwrap();
        assert_eq!(fi.failover_timeout, 100.0);
        let out = serde_json::to_value(&fi).unwrap();
        assert_eq!(out["checkpoint"], false);
        assert_eq!(out["failover_timeout"], 100.0);
        assert!(serde_json::from_str::<FrameworkInfo>(r#"{"name":"n"}"#).is_err());
    }

    #[test]
    fn command_info_defaults_shell_true() {
        let c: CommandInfo = serde_json::from_str(r#"{"value":"echo hi"}"#).unwrap();
        assert!(c.shell);
        assert_eq!(serde_json::to_value(&c).unwrap()["shell"], true);
    }

    #[test]
    fn filters_follow_mesos_defaults() {
        assert_eq!(Filters::effective_refuse_seconds(None), 5.0);
        let f = Filters {
            refuse_seconds: Some(-1.0),
        };
        assert_eq!(Filters::effective_refuse_seconds(Some(&f)), 5.0);
        let f = Filters {
            refuse_seconds: Some(1e12),
        };
        assert_eq!(Filters::effective_refuse_seconds(Some(&f)), 365.0 * 86400.0);
    }

    #[test]
    fn attributes_parse() {
        let a = parse_attributes("rack:r1;level:10;keys:[1000-1500]").unwrap();
        assert_eq!(a[0].state_value(), serde_json::json!("r1"));
        assert_eq!(a[1].state_value(), serde_json::json!(10.0));
        assert_eq!(a[2].state_value(), serde_json::json!("[1000-1500]"));
        assert!(parse_attributes("x:{a,b}").is_err());
    }
}

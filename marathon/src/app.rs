//! The Marathon `AppDefinition`: accepted in the 1.4 and the 1.5+ input forms,
//! normalised to the 1.5+ form, and written in the 1.5+ form with the fields and
//! field order of spec A4 (Marathon 1.10 `appWriter`, minus `role`).
//!
//! Parsing goes through [`RawApp`] (every input field, including deprecated ones),
//! then [`normalize`] turns it into an [`AppDefinition`]. Conflicts that only
//! exist in the raw input (`ports` + `portDefinitions`, `uris` + `fetch`,
//! `container.docker.network` + `networks`, ...) are reported as violations there;
//! everything else is checked by [`crate::validation::validate`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::validation::{Violation, Violations};

// ---------------------------------------------------------------------------
// Defaults (spec A3; 1.10 values)
// ---------------------------------------------------------------------------

pub const DEFAULT_CPUS: f64 = 1.0;
pub const DEFAULT_MEM: f64 = 128.0;
pub const DEFAULT_DISK: f64 = 0.0;
pub const DEFAULT_INSTANCES: i64 = 1;
pub const DEFAULT_BACKOFF_SECONDS: i64 = 1;
pub const DEFAULT_BACKOFF_FACTOR: f64 = 1.15;
/// 300 in the 1.10 RAML (the 1.4 docs said 3600).
pub const DEFAULT_MAX_LAUNCH_DELAY_SECONDS: i64 = 300;

// ---------------------------------------------------------------------------
// Numbers: write integral doubles as integers (`"mem":128`, not `128.0`),
// as Marathon's examples do.
// ---------------------------------------------------------------------------

fn ser_num<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

// ---------------------------------------------------------------------------
// Normalised model (1.5+ form). Field order = emission order (spec A4).
// ---------------------------------------------------------------------------

/// A normalised app definition. `Serialize` writes the 1.5+ reply form;
/// `Deserialize` accepts the 1.4 and 1.5+ input forms (via [`RawApp`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawApp")]
pub struct AppDefinition {
    /// Absolute path id (`/foo/bar`); empty only when the input had no id
    /// (e.g. a `PUT /v2/apps/{id}` body), in which case validation rejects it.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_resource_roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(serialize_with = "ser_num")]
    pub backoff_factor: f64,
    pub backoff_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(serialize_with = "ser_num")]
    pub cpus: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    #[serde(serialize_with = "ser_num")]
    pub disk: f64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    pub executor: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<FetchUri>,
    pub gpus: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheck>,
    pub instances: i64,
    pub labels: BTreeMap<String, String>,
    pub max_launch_delay_seconds: i64,
    #[serde(serialize_with = "ser_num")]
    pub mem: f64,
    pub networks: Vec<Network>,
    /// Present (possibly empty) for host networking only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_definitions: Option<Vec<PortDefinition>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readiness_checks: Vec<Value>,
    pub require_ports: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<i64>,
    pub upgrade_strategy: UpgradeStrategy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<VersionInfo>,
    pub unreachable_strategy: UnreachableStrategy,
    pub kill_selection: KillSelection,
    /// Deprecated `residency`; kept for the resident-app defaults, never echoed.
    #[serde(skip_serializing)]
    pub residency: Option<Value>,
}

impl AppDefinition {
    /// Parse a request body (1.4 or 1.5+ form). Shape errors from serde come back as
    /// `ParseError::Json`; normalisation conflicts as `ParseError::Invalid`.
    pub fn from_json(body: &str) -> Result<Self, ParseError> {
        let raw: RawApp = serde_json::from_str(body).map_err(ParseError::Json)?;
        normalize(raw).map_err(ParseError::Invalid)
    }

    /// Like [`AppDefinition::from_json`] from an already parsed value.
    pub fn from_value(body: Value) -> Result<Self, ParseError> {
        let raw: RawApp = serde_json::from_value(body).map_err(ParseError::Json)?;
        normalize(raw).map_err(ParseError::Invalid)
    }

    /// True if the app uses host networking (the 1.5+ default).
    pub fn is_host_networking(&self) -> bool {
        self.networks.iter().any(|n| n.mode == NetworkMode::Host)
    }

    /// True for resident apps (persistent volumes or `residency`).
    pub fn is_resident(&self) -> bool {
        self.residency.is_some()
            || self
                .container
                .as_ref()
                .is_some_and(|c| c.volumes.iter().any(|v| v.persistent.is_some()))
    }
}

/// Why a body could not become an [`AppDefinition`].
#[derive(Debug)]
pub enum ParseError {
    /// Not JSON, or a field of the wrong type.
    Json(serde_json::Error),
    /// Well-formed, but the 1.4/1.5 forms conflict (422 material).
    Invalid(Vec<Violation>),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Json(e) => write!(f, "Invalid JSON: {e}"),
            ParseError::Invalid(v) => {
                write!(f, "Object is not valid:")?;
                for x in v {
                    write!(f, " {}: {};", x.path, x.errors.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Error type of `TryFrom<RawApp>` (used by `Deserialize for AppDefinition`).
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizeError(pub Vec<Violation>);

impl fmt::Display for NormalizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{}: {}", v.path, v.errors.join(", "))?;
        }
        Ok(())
    }
}

impl TryFrom<RawApp> for AppDefinition {
    type Error = NormalizeError;
    fn try_from(raw: RawApp) -> Result<Self, Self::Error> {
        normalize(raw).map_err(NormalizeError)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Value(String),
    Secret { secret: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchUri {
    pub uri: String,
    #[serde(default = "default_true")]
    pub extract: bool,
    #[serde(default)]
    pub executable: bool,
    #[serde(default)]
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_path: Option<String>,
}

fn default_true() -> bool {
    true
}

impl FetchUri {
    /// The 1.4 `uris` conversion: extract only known archive types.
    pub fn from_legacy_uri(uri: &str) -> Self {
        const ARCHIVES: [&str; 7] = [
            ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip",
        ];
        let lower = uri.to_ascii_lowercase();
        FetchUri {
            uri: uri.to_string(),
            extract: ARCHIVES.iter().any(|s| lower.ends_with(s)),
            executable: false,
            cache: false,
            dest_path: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    #[serde(rename = "host")]
    Host,
    #[serde(rename = "container")]
    Container,
    #[serde(rename = "container/bridge")]
    ContainerBridge,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub mode: NetworkMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Network {
    pub fn host() -> Self {
        Network {
            mode: NetworkMode::Host,
            name: None,
            labels: BTreeMap::new(),
        }
    }
}

fn default_protocol() -> String {
    "tcp".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    #[serde(default)]
    pub port: i64,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    #[serde(default)]
    pub container_port: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    #[serde(default)]
    pub service_port: i64,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// 1.5+ input; never echoed (marathon-python 0.13.0 rejects it, spec C3).
    #[serde(default, skip_serializing)]
    pub network_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ContainerType {
    #[default]
    #[serde(rename = "DOCKER")]
    Docker,
    #[serde(rename = "MESOS")]
    Mesos,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(default)]
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub key: String,
    pub value: String,
}

/// Docker settings in the 1.5+ form (no `network`, no `portMappings`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Docker {
    pub image: String,
    pub force_pull_image: bool,
    pub privileged: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_config: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(rename = "type")]
    pub kind: ContainerType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<Docker>,
    pub volumes: Vec<Volume>,
    /// Present for non-host networking only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
}

impl Container {
    /// The image, if any (`docker.image`).
    pub fn image(&self) -> Option<&str> {
        self.docker
            .as_ref()
            .map(|d| d.image.as_str())
            .filter(|i| !i.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCommand {
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    #[serde(default = "default_hc_protocol")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<HealthCommand>,
    #[serde(default = "default_grace")]
    pub grace_period_seconds: i64,
    #[serde(default = "default_interval")]
    pub interval_seconds: i64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: i64,
    #[serde(default = "default_max_failures")]
    pub max_consecutive_failures: i64,
    #[serde(default = "default_delay")]
    pub delay_seconds: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_http1xx: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_protocol: Option<String>,
}

fn default_hc_protocol() -> String {
    "HTTP".to_string()
}
fn default_grace() -> i64 {
    300
}
fn default_interval() -> i64 {
    60
}
fn default_timeout() -> i64 {
    20
}
fn default_max_failures() -> i64 {
    3
}
fn default_delay() -> i64 {
    15
}

pub const HEALTH_CHECK_PROTOCOLS: [&str; 7] = [
    "HTTP",
    "HTTPS",
    "TCP",
    "COMMAND",
    "MESOS_HTTP",
    "MESOS_HTTPS",
    "MESOS_TCP",
];

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    #[serde(serialize_with = "ser_num")]
    pub minimum_health_capacity: f64,
    #[serde(serialize_with = "ser_num")]
    pub maximum_over_capacity: f64,
}

impl UpgradeStrategy {
    pub const DEFAULT: Self = UpgradeStrategy {
        minimum_health_capacity: 1.0,
        maximum_over_capacity: 1.0,
    };
    pub const RESIDENT: Self = UpgradeStrategy {
        minimum_health_capacity: 0.5,
        maximum_over_capacity: 0.0,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUpgradeStrategy {
    minimum_health_capacity: Option<f64>,
    maximum_over_capacity: Option<f64>,
}

/// `{inactiveAfterSeconds, expungeAfterSeconds}` or the string `"disabled"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnreachableStrategy {
    Disabled,
    Enabled {
        inactive_after_seconds: i64,
        expunge_after_seconds: i64,
    },
}

impl UnreachableStrategy {
    pub const DEFAULT: Self = UnreachableStrategy::Enabled {
        inactive_after_seconds: 0,
        expunge_after_seconds: 0,
    };
}

impl Serialize for UnreachableStrategy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UnreachableStrategy::Disabled => s.serialize_str("disabled"),
            UnreachableStrategy::Enabled {
                inactive_after_seconds,
                expunge_after_seconds,
            } => serde_json::json!({
                "inactiveAfterSeconds": inactive_after_seconds,
                "expungeAfterSeconds": expunge_after_seconds,
            })
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for UnreachableStrategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Enabled {
            #[serde(default)]
            inactive_after_seconds: i64,
            #[serde(default)]
            expunge_after_seconds: i64,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Str(String),
            Obj(Enabled),
        }
        match Repr::deserialize(d)? {
            Repr::Str(s) if s == "disabled" => Ok(UnreachableStrategy::Disabled),
            Repr::Str(s) => Err(serde::de::Error::custom(format!(
                "unknown unreachableStrategy '{s}'"
            ))),
            Repr::Obj(e) => Ok(UnreachableStrategy::Enabled {
                inactive_after_seconds: e.inactive_after_seconds,
                expunge_after_seconds: e.expunge_after_seconds,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum KillSelection {
    #[default]
    #[serde(rename = "YOUNGEST_FIRST")]
    YoungestFirst,
    #[serde(rename = "OLDEST_FIRST")]
    OldestFirst,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub last_scaling_at: String,
    pub last_config_change_at: String,
}

// ---------------------------------------------------------------------------
// Raw input (1.4 + 1.5+). Unknown fields are ignored.
// ---------------------------------------------------------------------------

/// A constraint element: strings, but numbers are tolerated (`["host","MAX_PER",2]`).
fn de_constraints<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Vec<String>>>, D::Error> {
    let v: Option<Vec<Vec<Value>>> = Option::deserialize(d)?;
    let Some(v) = v else { return Ok(None) };
    v.into_iter()
        .map(|c| {
            c.into_iter()
                .map(|e| match e {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(serde::de::Error::custom(format!(
                        "constraint elements must be strings, got {other}"
                    ))),
                })
                .collect()
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawApp {
    pub id: Option<String>,
    pub cmd: Option<String>,
    pub args: Option<Vec<String>>,
    pub cpus: Option<f64>,
    pub mem: Option<f64>,
    pub disk: Option<f64>,
    pub gpus: Option<i64>,
    pub instances: Option<i64>,
    pub executor: Option<String>,
    pub user: Option<String>,
    pub env: Option<BTreeMap<String, EnvValue>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "de_constraints")]
    pub constraints: Option<Vec<Vec<String>>>,
    pub accepted_resource_roles: Option<Vec<String>>,
    pub container: Option<RawContainer>,
    pub port_definitions: Option<Vec<PortDefinition>>,
    /// 1.4: deprecated, converted to `portDefinitions`.
    pub ports: Option<Vec<i64>>,
    pub require_ports: Option<bool>,
    pub networks: Option<Vec<Network>>,
    /// 1.4: deprecated, converted to `networks` / `container.portMappings`.
    pub ip_address: Option<RawIpAddress>,
    pub health_checks: Option<Vec<HealthCheck>>,
    pub readiness_checks: Option<Vec<Value>>,
    pub dependencies: Option<Vec<String>>,
    upgrade_strategy: Option<RawUpgradeStrategy>,
    pub backoff_seconds: Option<i64>,
    pub backoff_factor: Option<f64>,
    pub max_launch_delay_seconds: Option<i64>,
    pub fetch: Option<Vec<FetchUri>>,
    /// 1.4: deprecated, converted to `fetch`.
    pub uris: Option<Vec<String>>,
    pub task_kill_grace_period_seconds: Option<i64>,
    pub kill_selection: Option<KillSelection>,
    pub unreachable_strategy: Option<UnreachableStrategy>,
    pub residency: Option<Value>,
    pub secrets: Option<BTreeMap<String, Value>>,
    pub version: Option<String>,
    pub version_info: Option<VersionInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawContainer {
    #[serde(rename = "type")]
    pub kind: Option<ContainerType>,
    pub docker: Option<RawDocker>,
    pub volumes: Option<Vec<Volume>>,
    pub port_mappings: Option<Vec<PortMapping>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DockerNetwork {
    #[serde(rename = "HOST")]
    Host,
    #[serde(rename = "BRIDGE")]
    Bridge,
    #[serde(rename = "USER")]
    User,
    #[serde(rename = "NONE")]
    None,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawDocker {
    pub image: Option<String>,
    pub force_pull_image: Option<bool>,
    pub privileged: Option<bool>,
    pub parameters: Option<Vec<Parameter>>,
    pub credential: Option<Value>,
    pub pull_config: Option<Value>,
    /// 1.4 only.
    pub network: Option<DockerNetwork>,
    /// 1.4 only.
    pub port_mappings: Option<Vec<PortMapping>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawIpAddress {
    pub network_name: Option<String>,
    pub groups: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub discovery: Option<RawDiscovery>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawDiscovery {
    #[serde(default)]
    pub ports: Vec<RawDiscoveryPort>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawDiscoveryPort {
    #[serde(default)]
    pub number: i64,
    pub name: Option<String>,
    pub protocol: Option<String>,
}

// ---------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------

/// Canonicalise an app/group id to an absolute path: relative ids are resolved
/// against the root, empty and `.` segments are dropped, `..` pops a segment.
/// Segment *content* is not checked here (see `validation::validate_id`).
pub fn canonical_id(id: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in id.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

// ---------------------------------------------------------------------------
// Normalisation (AppNormalization.forDeprecated + defaults)
// ---------------------------------------------------------------------------

/// Turn raw input (either form) into the normalised 1.5+ model.
pub fn normalize(raw: RawApp) -> Result<AppDefinition, Vec<Violation>> {
    let mut errs = Violations::default();

    // --- networks -----------------------------------------------------------
    let docker_network = raw
        .container
        .as_ref()
        .and_then(|c| c.docker.as_ref())
        .and_then(|d| d.network);
    if docker_network.is_some() && raw.networks.is_some() {
        errs.add(
            "/",
            "must not specify both container.docker.network and networks",
        );
    }
    if raw.ip_address.is_some() && raw.networks.is_some() {
        errs.add("/", "must not specify both ipAddress and networks");
    }
    let ip_network_name = raw
        .ip_address
        .as_ref()
        .and_then(|ip| ip.network_name.clone());
    let ip_labels = raw
        .ip_address
        .as_ref()
        .and_then(|ip| ip.labels.clone())
        .unwrap_or_default();
    let networks: Vec<Network> = if let Some(n) = raw.networks.clone() {
        if n.is_empty() {
            vec![Network::host()]
        } else {
            n
        }
    } else {
        match docker_network {
            Some(DockerNetwork::Host) => vec![Network::host()],
            Some(DockerNetwork::Bridge) => vec![Network {
                mode: NetworkMode::ContainerBridge,
                name: None,
                labels: BTreeMap::new(),
            }],
            Some(DockerNetwork::User) => vec![Network {
                mode: NetworkMode::Container,
                name: ip_network_name,
                labels: ip_labels,
            }],
            Some(DockerNetwork::None) => {
                errs.add(
                    "/container/docker/network",
                    "network mode NONE is not supported",
                );
                vec![Network::host()]
            }
            None if raw.ip_address.is_some() => vec![Network {
                mode: NetworkMode::Container,
                name: ip_network_name,
                labels: ip_labels,
            }],
            None => vec![Network::host()],
        }
    };
    let host_net = networks.iter().any(|n| n.mode == NetworkMode::Host);
    let bridge_net = networks
        .iter()
        .any(|n| n.mode == NetworkMode::ContainerBridge);

    // --- port mappings ------------------------------------------------------
    let legacy_mappings = raw
        .container
        .as_ref()
        .and_then(|c| c.docker.as_ref())
        .and_then(|d| d.port_mappings.clone());
    let new_mappings = raw.container.as_ref().and_then(|c| c.port_mappings.clone());
    let discovery_mappings = raw
        .ip_address
        .as_ref()
        .and_then(|ip| ip.discovery.as_ref())
        .map(|d| {
            d.ports
                .iter()
                .map(|p| PortMapping {
                    container_port: p.number,
                    host_port: None,
                    service_port: 0,
                    protocol: p.protocol.clone().unwrap_or_else(default_protocol),
                    name: p.name.clone(),
                    labels: BTreeMap::new(),
                    network_names: Vec::new(),
                })
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty());
    let given = [
        legacy_mappings.is_some(),
        new_mappings.is_some(),
        discovery_mappings.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given > 1 {
        errs.add(
            "/container/portMappings",
            "must not specify more than one of container.docker.portMappings, container.portMappings and ipAddress.discovery.ports",
        );
    }
    let mut port_mappings = new_mappings.or(legacy_mappings).or(discovery_mappings);
    if bridge_net {
        for pm in port_mappings.iter_mut().flatten() {
            pm.host_port.get_or_insert(0);
        }
    }

    // --- container ----------------------------------------------------------
    let container = raw.container.map(|c| {
        let docker = c.docker.and_then(|d| {
            let only_legacy = d.image.is_none()
                && d.force_pull_image.is_none()
                && d.privileged.is_none()
                && d.parameters.is_none()
                && d.credential.is_none()
                && d.pull_config.is_none();
            if only_legacy {
                // `docker` carried only 1.4 network keys: nothing left to echo.
                return None;
            }
            Some(Docker {
                image: d.image.unwrap_or_default(),
                force_pull_image: d.force_pull_image.unwrap_or(false),
                privileged: d.privileged.unwrap_or(false),
                parameters: d.parameters.unwrap_or_default(),
                credential: d.credential,
                pull_config: d.pull_config,
            })
        });
        Container {
            kind: c.kind.unwrap_or_default(),
            docker,
            volumes: c.volumes.unwrap_or_default(),
            // Normalised to non-host networking only; validation rejects
            // mappings given with host networking (kept so it can see them).
            port_mappings: if host_net {
                port_mappings.take().filter(|m| !m.is_empty())
            } else {
                Some(port_mappings.take().unwrap_or_default())
            },
        }
    });
    if container.is_none() && port_mappings.as_ref().is_some_and(|m| !m.is_empty()) {
        // ipAddress.discovery.ports without a container: a MESOS container holds them.
        errs.add(
            "/ipAddress/discovery/ports",
            "port mappings require a container",
        );
    }

    // --- port definitions ---------------------------------------------------
    if raw.ports.is_some() && raw.port_definitions.is_some() {
        errs.add("/", "cannot specify both ports and port definitions");
    }
    let port_definitions = match (raw.port_definitions, raw.ports) {
        (Some(pd), _) => Some(pd),
        (None, Some(ports)) => Some(
            ports
                .into_iter()
                .map(|p| PortDefinition {
                    port: p,
                    protocol: default_protocol(),
                    name: None,
                    labels: BTreeMap::new(),
                })
                .collect(),
        ),
        (None, None) if host_net => Some(vec![PortDefinition {
            port: 0,
            protocol: default_protocol(),
            name: Some("default".to_string()),
            labels: BTreeMap::new(),
        }]),
        (None, None) => None,
    };
    // Non-host networking: an explicitly empty list is the same as none.
    let port_definitions = if host_net {
        port_definitions
    } else {
        port_definitions.filter(|p| !p.is_empty())
    };

    // --- fetch --------------------------------------------------------------
    let uris = raw.uris.filter(|u| !u.is_empty());
    let fetch_given = raw.fetch.as_ref().is_some_and(|f| !f.is_empty());
    if uris.is_some() && fetch_given {
        errs.add("/uris", "may not be set in conjunction with fetch");
    }
    let fetch = match (raw.fetch, uris) {
        (Some(f), _) if !f.is_empty() => f,
        (_, Some(u)) => u.iter().map(|u| FetchUri::from_legacy_uri(u)).collect(),
        _ => Vec::new(),
    };

    if !errs.is_empty() {
        return Err(errs.into_vec());
    }

    let resident = raw.residency.is_some()
        || container
            .as_ref()
            .is_some_and(|c| c.volumes.iter().any(|v| v.persistent.is_some()));
    let upgrade_default = if resident {
        UpgradeStrategy::RESIDENT
    } else {
        UpgradeStrategy::DEFAULT
    };
    let upgrade_strategy = match raw.upgrade_strategy {
        Some(u) => UpgradeStrategy {
            minimum_health_capacity: u
                .minimum_health_capacity
                .unwrap_or(upgrade_default.minimum_health_capacity),
            maximum_over_capacity: u
                .maximum_over_capacity
                .unwrap_or(upgrade_default.maximum_over_capacity),
        },
        None => upgrade_default,
    };
    let unreachable_strategy = raw.unreachable_strategy.unwrap_or(if resident {
        UnreachableStrategy::Disabled
    } else {
        UnreachableStrategy::DEFAULT
    });

    Ok(AppDefinition {
        id: raw.id.map(|i| canonical_id(&i)).unwrap_or_default(),
        accepted_resource_roles: raw.accepted_resource_roles,
        args: raw.args.filter(|a| !a.is_empty()),
        backoff_factor: raw.backoff_factor.unwrap_or(DEFAULT_BACKOFF_FACTOR),
        backoff_seconds: raw.backoff_seconds.unwrap_or(DEFAULT_BACKOFF_SECONDS),
        cmd: raw.cmd,
        constraints: raw.constraints.unwrap_or_default(),
        container,
        cpus: raw.cpus.unwrap_or(DEFAULT_CPUS),
        dependencies: raw
            .dependencies
            .unwrap_or_default()
            .iter()
            .map(|d| canonical_id(d))
            .collect(),
        disk: raw.disk.unwrap_or(DEFAULT_DISK),
        env: raw.env.unwrap_or_default(),
        executor: raw.executor.unwrap_or_default(),
        fetch,
        gpus: raw.gpus.unwrap_or(0),
        health_checks: raw.health_checks.unwrap_or_default(),
        instances: raw.instances.unwrap_or(DEFAULT_INSTANCES),
        labels: raw.labels.unwrap_or_default(),
        max_launch_delay_seconds: raw
            .max_launch_delay_seconds
            .unwrap_or(DEFAULT_MAX_LAUNCH_DELAY_SECONDS),
        mem: raw.mem.unwrap_or(DEFAULT_MEM),
        networks,
        port_definitions,
        readiness_checks: raw.readiness_checks.unwrap_or_default(),
        require_ports: raw.require_ports.unwrap_or(false),
        secrets: raw.secrets.unwrap_or_default(),
        task_kill_grace_period_seconds: raw.task_kill_grace_period_seconds,
        upgrade_strategy,
        user: raw.user,
        version: raw.version,
        version_info: raw.version_info,
        unreachable_strategy,
        kill_selection: raw.kill_selection.unwrap_or_default(),
        residency: raw.residency,
    })
}

//! Agent flags (Mesos names, each also read from `MESOS_<NAME>`), Mesos duration strings
//! and the auto-detection of undeclared resources.

use mesos_proto::resources::{RangeSet, Resources};
use mesos_proto::v1::{parse_attributes, Attribute};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// A Mesos duration string: `<number><unit>` with unit one of
/// `ns`, `us`, `ms`, `secs`, `mins`, `hrs`, `days`, `weeks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MesosDuration(pub Duration);

impl FromStr for MesosDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        mesos_proto::json::parse_duration(s)
            .map(|secs| MesosDuration(Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for MesosDuration {
    /// Mesos' rendering: the largest unit that keeps an integral value, e.g. `5secs`, `1mins`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// Render a duration the way Mesos' `Duration` operator<< does (largest exact unit).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let units: [(u128, &str); 7] = [
        (7 * 86_400_000_000_000, "weeks"),
        (86_400_000_000_000, "days"),
        (3_600_000_000_000, "hrs"),
        (60_000_000_000, "mins"),
        (1_000_000_000, "secs"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    if ns == 0 {
        return "0ns".into();
    }
    for (size, name) in units {
        if ns.is_multiple_of(size) {
            return format!("{}{name}", ns / size);
        }
    }
    if ns >= 1_000_000_000 {
        return format!("{}secs", d.as_secs_f64());
    }
    format!("{ns}ns")
}

#[derive(clap::Parser, Clone, Debug)]
#[command(name = "mesos-agent", about = "Mesos-compatible agent", version = mesos_proto::MESOS_VERSION, rename_all = "snake_case")]
pub struct AgentFlags {
    /// Master address `host:port` (or `http://host:port`).
    #[arg(long, env = "MESOS_MASTER")]
    pub master: String,
    /// Port to listen on (0 picks a free port).
    #[arg(long, env = "MESOS_PORT", default_value_t = 5051)]
    pub port: u16,
    /// Address to bind and advertise.
    #[arg(long, env = "MESOS_IP", default_value = "127.0.0.1")]
    pub ip: String,
    /// Hostname to advertise (default: the machine's hostname).
    #[arg(long, env = "MESOS_HOSTNAME")]
    pub hostname: Option<String>,
    /// Directory for sandboxes and the checkpoint.
    #[arg(long, env = "MESOS_WORK_DIR")]
    pub work_dir: PathBuf,
    /// `cpus:4;mem:1024;ports:[31000-32000]` or a JSON array of Resource.
    #[arg(long, env = "MESOS_RESOURCES")]
    pub resources: Option<String>,
    /// `rack:r1;level:10`.
    #[arg(long, env = "MESOS_ATTRIBUTES")]
    pub attributes: Option<String>,
    /// Comma-separated list of `mesos` and `docker`, in order of preference.
    #[arg(long, env = "MESOS_CONTAINERIZERS", default_value = "mesos")]
    pub containerizers: String,
    /// The Docker engine's socket (Docker containerizer).
    #[arg(
        long,
        env = "MESOS_DOCKER_SOCKET",
        default_value = "/var/run/docker.sock"
    )]
    pub docker_socket: String,
    /// Comma-separated host path prefixes Docker tasks may bind-mount as volumes (default
    /// none: only paths inside the sandbox).
    #[arg(long, env = "MESOS_DOCKER_VOLUME_HOST_PATHS_ALLOWED")]
    pub docker_volume_host_paths_allowed: Option<String>,
    /// Whether Docker tasks may ask for `privileged` containers.
    #[arg(long, env = "MESOS_DOCKER_PRIVILEGED_ALLOWED", default_value_t = false,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub docker_privileged_allowed: bool,
    /// Where `mesos-executor` lives (default: the directory of the running binary).
    #[arg(long, env = "MESOS_LAUNCHER_DIR")]
    pub launcher_dir: Option<PathBuf>,
    #[arg(
        long,
        env = "MESOS_EXECUTOR_REGISTRATION_TIMEOUT",
        default_value = "1mins"
    )]
    pub executor_registration_timeout: MesosDuration,
    #[arg(
        long,
        env = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
        default_value = "5secs"
    )]
    pub executor_shutdown_grace_period: MesosDuration,
    /// `reconnect` (keep live executors) or `cleanup` (kill them).
    #[arg(long, env = "MESOS_RECOVER", default_value = "reconnect", value_parser = ["reconnect", "cleanup"])]
    pub recover: String,
    /// Base of the random registration backoff.
    #[arg(
        long,
        env = "MESOS_REGISTRATION_BACKOFF_FACTOR",
        default_value = "1secs"
    )]
    pub registration_backoff_factor: MesosDuration,
    /// First retry interval of an unacknowledged status update (doubles up to 10 mins).
    #[arg(
        long,
        env = "MESOS_STATUS_UPDATE_RETRY_INTERVAL",
        default_value = "10secs"
    )]
    pub status_update_retry_interval: MesosDuration,
    /// Interval of HEARTBEAT events on executor subscriptions.
    #[arg(
        long,
        env = "MESOS_EXECUTOR_HEARTBEAT_INTERVAL",
        default_value = "30secs"
    )]
    pub executor_heartbeat_interval: MesosDuration,
    /// Isolators: `cgroups/cpu,cgroups/mem` (cgroup limits) or `posix/cpu,posix/mem` (none).
    /// Default: the cgroups ones when cgroups are usable (root, writable /sys/fs/cgroup).
    #[arg(long, env = "MESOS_ISOLATION")]
    pub isolation: Option<String>,
    /// With `cgroups/cpu`: also cap each container's CPU time at its `cpus` through CFS
    /// bandwidth control (Mesos' flag of this name; off by default, as there).
    #[arg(long, env = "MESOS_CGROUPS_ENABLE_CFS", default_value_t = false,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub cgroups_enable_cfs: bool,
    /// Also serve the executor API on a Unix domain socket and tell executors its path in
    /// `MESOS_DOMAIN_SOCKET` (Mesos' flag of this name). On by default here, off in Mesos:
    /// a local socket spares every executor call the loopback TCP stack; executors that do
    /// not know the variable keep using `MESOS_AGENT_ENDPOINT`.
    #[arg(long, env = "MESOS_HTTP_EXECUTOR_DOMAIN_SOCKETS", default_value_t = true,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub http_executor_domain_sockets: bool,
    /// Where that socket is created (default `<work_dir>/agent.sock`; at most 107 bytes).
    #[arg(long, env = "MESOS_DOMAIN_SOCKET_LOCATION")]
    pub domain_socket_location: Option<PathBuf>,
}

impl AgentFlags {
    /// Defaults for an agent run inside another process (port 0 = any free port).
    pub fn local(master: String, work_dir: PathBuf) -> Self {
        AgentFlags {
            master,
            port: 0,
            ip: "127.0.0.1".into(),
            hostname: None,
            work_dir,
            resources: None,
            attributes: None,
            containerizers: "mesos".into(),
            docker_socket: "/var/run/docker.sock".into(),
            docker_volume_host_paths_allowed: None,
            docker_privileged_allowed: false,
            launcher_dir: None,
            executor_registration_timeout: MesosDuration(Duration::from_secs(60)),
            executor_shutdown_grace_period: MesosDuration(Duration::from_secs(5)),
            recover: "reconnect".into(),
            registration_backoff_factor: MesosDuration(Duration::from_secs(1)),
            status_update_retry_interval: MesosDuration(Duration::from_secs(10)),
            executor_heartbeat_interval: MesosDuration(Duration::from_secs(30)),
            isolation: None,
            cgroups_enable_cfs: false,
            http_executor_domain_sockets: true,
            domain_socket_location: None,
        }
    }

    /// The flags as strings, for `/state`.
    pub fn to_map(&self) -> std::collections::BTreeMap<String, String> {
        let mut m = std::collections::BTreeMap::new();
        m.insert("master".into(), self.master.clone());
        m.insert("port".into(), self.port.to_string());
        m.insert("ip".into(), self.ip.clone());
        if let Some(h) = &self.hostname {
            m.insert("hostname".into(), h.clone());
        }
        m.insert("work_dir".into(), self.work_dir.display().to_string());
        if let Some(r) = &self.resources {
            m.insert("resources".into(), r.clone());
        }
        if let Some(a) = &self.attributes {
            m.insert("attributes".into(), a.clone());
        }
        m.insert("containerizers".into(), self.containerizers.clone());
        if self.containerizers.contains("docker") {
            m.insert("docker_socket".into(), self.docker_socket.clone());
            if let Some(p) = &self.docker_volume_host_paths_allowed {
                m.insert("docker_volume_host_paths_allowed".into(), p.clone());
            }
            m.insert(
                "docker_privileged_allowed".into(),
                self.docker_privileged_allowed.to_string(),
            );
        }
        if let Some(l) = &self.launcher_dir {
            m.insert("launcher_dir".into(), l.display().to_string());
        }
        m.insert(
            "executor_registration_timeout".into(),
            self.executor_registration_timeout.to_string(),
        );
        m.insert(
            "executor_shutdown_grace_period".into(),
            self.executor_shutdown_grace_period.to_string(),
        );
        m.insert("recover".into(), self.recover.clone());
        if let Some(i) = &self.isolation {
            m.insert("isolation".into(), i.clone());
        }
        m.insert(
            "cgroups_enable_cfs".into(),
            self.cgroups_enable_cfs.to_string(),
        );
        m.insert(
            "http_executor_domain_sockets".into(),
            self.http_executor_domain_sockets.to_string(),
        );
        if let Some(p) = &self.domain_socket_location {
            m.insert("domain_socket_location".into(), p.display().to_string());
        }
        m.insert(
            "registration_backoff_factor".into(),
            self.registration_backoff_factor.to_string(),
        );
        m.insert(
            "status_update_retry_interval".into(),
            self.status_update_retry_interval.to_string(),
        );
        m
    }
}

/// The validated, derived settings.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub master_url: String,
    pub resources: Resources,
    pub attributes: Vec<Attribute>,
    pub hostname: String,
    pub launcher_dir: PathBuf,
    /// `--containerizers`, in order of preference (`mesos`, `docker`), without duplicates.
    pub containerizers: Vec<String>,
    /// `--docker_volume_host_paths_allowed`, each an absolute path.
    pub docker_volume_host_paths_allowed: Vec<PathBuf>,
}

/// Check every flag value and derive what the agent needs. Errors are one line.
pub fn resolve(flags: &AgentFlags) -> Result<Resolved, String> {
    let master_url = master_url(&flags.master)?;
    let mut containerizers: Vec<String> = Vec::new();
    for k in flags
        .containerizers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if k != "mesos" && k != "docker" {
            return Err(format!(
                "Invalid --containerizers: unknown containerizer '{k}'"
            ));
        }
        if !containerizers.iter().any(|c| c == k) {
            containerizers.push(k.to_string());
        }
    }
    if containerizers.is_empty() {
        return Err("Invalid --containerizers: empty list".into());
    }
    let mut docker_volume_host_paths_allowed = Vec::new();
    for p in flags
        .docker_volume_host_paths_allowed
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let path = PathBuf::from(p);
        if !path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(format!(
                "Invalid --docker_volume_host_paths_allowed: '{p}' is not an absolute path"
            ));
        }
        docker_volume_host_paths_allowed.push(path);
    }
    let declared = match &flags.resources {
        Some(text) => {
            let text = read_file_uri(text)?;
            Resources::parse_flag(&text).map_err(|e| format!("Invalid --resources: {e}"))?
        }
        None => Resources::new(),
    };
    let resources = with_detected(declared, &flags.work_dir);
    let attributes = match &flags.attributes {
        Some(a) => parse_attributes(a).map_err(|e| format!("Invalid --attributes: {e}"))?,
        None => Vec::new(),
    };
    flags
        .ip
        .parse::<std::net::IpAddr>()
        .map_err(|_| format!("Invalid --ip '{}': not an IP address", flags.ip))?;
    let hostname = match &flags.hostname {
        Some(h) if !h.trim().is_empty() => h.trim().to_string(),
        _ => machine_hostname(),
    };
    let launcher_dir = match &flags.launcher_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    Ok(Resolved {
        master_url,
        resources,
        attributes,
        hostname,
        launcher_dir,
        containerizers,
        docker_volume_host_paths_allowed,
    })
}

fn read_file_uri(text: &str) -> Result<String, String> {
    match text.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("Invalid --resources: cannot read {path}: {e}")),
        None => Ok(text.to_string()),
    }
}

fn master_url(master: &str) -> Result<String, String> {
    let m = master.trim().trim_end_matches('/');
    if m.starts_with("zk://") {
        // Followed through ZooKeeper at run time.
        mesos_election::ZkUrl::parse(m).map_err(|e| format!("Invalid --master '{master}': {e}"))?;
        return Ok(m.to_string());
    }
    let hostport = m
        .strip_prefix("http://")
        .unwrap_or(m)
        .split('/')
        .next()
        .unwrap_or_default();
    let ok = hostport
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if !ok {
        return Err(format!("Invalid --master '{master}': expected host:port"));
    }
    Ok(format!("http://{hostport}"))
}

/// The machine's hostname (`gethostname`), or `localhost`.
pub fn machine_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let s = String::from_utf8_lossy(&buf[..end]).to_string();
        if !s.is_empty() {
            return s;
        }
    }
    "localhost".into()
}

const MB: f64 = 1024.0 * 1024.0;
const GB_MB: f64 = 1024.0;

/// Add the Mesos auto-detected values for `cpus`, `mem`, `disk` and `ports` when undeclared
/// (declared reserved, as in `cpus(role1):8`, counts as declared).
pub fn with_detected(declared: Resources, work_dir: &Path) -> Resources {
    let mut r = declared;
    if r.quantity_milli("cpus") == 0 {
        r = r.with_scalar("cpus", detect_cpus());
    }
    if r.quantity_milli("mem") == 0 {
        r = r.with_scalar("mem", detect_mem_mb().map(mem_share).unwrap_or(GB_MB));
    }
    if r.quantity_milli("disk") == 0 {
        r = r.with_scalar(
            "disk",
            detect_disk_mb(work_dir)
                .map(disk_share)
                .unwrap_or(10.0 * GB_MB),
        );
    }
    if r.flatten().ranges("ports").is_none() {
        r = r.with_ranges("ports", RangeSet::new([(31000, 32000)]));
    }
    r
}

/// `mem`: total minus 1 GB when total >= 2 GB, else half (MB, whole numbers).
pub fn mem_share(total_mb: f64) -> f64 {
    if total_mb >= 2.0 * GB_MB {
        (total_mb - GB_MB).floor()
    } else {
        (total_mb / 2.0).floor()
    }
}

/// `disk`: size minus 5 GB when size >= 10 GB, else half (MB, whole numbers).
pub fn disk_share(total_mb: f64) -> f64 {
    if total_mb >= 10.0 * GB_MB {
        (total_mb - 5.0 * GB_MB).floor()
    } else {
        (total_mb / 2.0).floor()
    }
}

fn detect_cpus() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as f64
    } else {
        1.0
    }
}

fn detect_mem_mb() -> Option<f64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        Some(pages as f64 * size as f64 / MB)
    } else {
        None
    }
}

fn detect_disk_mb(work_dir: &Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    // The work dir may not exist yet: use its nearest existing ancestor.
    let mut p = work_dir.to_path_buf();
    while !p.exists() {
        p = p.parent()?.to_path_buf();
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    Some(st.f_blocks as f64 * st.f_frsize as f64 / MB)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn durations_parse_and_render() {
        assert_eq!(
            "1mins".parse::<MesosDuration>().unwrap().0,
            Duration::from_secs(60)
        );
        assert_eq!(
            "30secs".parse::<MesosDuration>().unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            "100ms".parse::<MesosDuration>().unwrap().0,
            Duration::from_millis(100)
        );
        assert_eq!(
            "1.5secs".parse::<MesosDuration>().unwrap().0,
            Duration::from_millis(1500)
        );
        assert!("10".parse::<MesosDuration>().is_err());
        assert!("10parsecs".parse::<MesosDuration>().is_err());
        assert_eq!(format_duration(Duration::from_secs(5)), "5secs");
        assert_eq!(format_duration(Duration::from_secs(900)), "15mins");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn shares_follow_mesos() {
        assert_eq!(mem_share(4096.0), 3072.0);
        assert_eq!(mem_share(1024.0), 512.0);
        assert_eq!(disk_share(20480.0), 15360.0);
        assert_eq!(disk_share(4096.0), 2048.0);
    }

    #[test]
    fn flags_parse_and_resolve() {
        let f = AgentFlags::try_parse_from([
            "agent",
            "--master=127.0.0.1:5050",
            "--work_dir=/tmp/x",
            "--resources=cpus:2;mem:512",
            "--attributes=rack:r1;level:10",
            "--executor_registration_timeout=30secs",
        ])
        .unwrap();
        assert_eq!(f.executor_registration_timeout.0, Duration::from_secs(30));
        let r = resolve(&f).unwrap();
        assert_eq!(r.master_url, "http://127.0.0.1:5050");
        assert_eq!(r.resources.scalar("cpus"), 2.0);
        assert_eq!(r.resources.scalar("mem"), 512.0);
        assert!(r.resources.scalar("disk") > 0.0);
        assert_eq!(
            r.resources.ranges("ports").unwrap().to_string(),
            "[31000-32000]"
        );
        assert_eq!(r.attributes.len(), 2);
    }

    #[test]
    fn static_reservations_in_resources() {
        let f = AgentFlags::try_parse_from([
            "agent",
            "--master=127.0.0.1:5050",
            "--work_dir=/tmp/x",
            "--resources=cpus(role1):8;mem:512;ports(role1):[40000-40009]",
        ])
        .unwrap();
        let r = resolve(&f).unwrap().resources;
        // Declared reserved cpus and ports count as declared: no detected ones are added.
        assert_eq!(r.scalar("cpus"), 0.0);
        assert_eq!(r.quantity("cpus"), 8.0);
        assert_eq!(r.ranges("ports"), None);
        assert!(r.scalar("disk") > 0.0);
        let wire = serde_json::to_value(r.to_wire(None)).unwrap();
        let cpus = wire
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "cpus")
            .unwrap()
            .clone();
        assert_eq!(
            cpus["reservations"],
            serde_json::json!([{"type": "STATIC", "role": "role1"}])
        );
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        let mut f = AgentFlags::local("127.0.0.1:5050".into(), "/tmp/x".into());
        f.resources = Some("cpus:-1".into());
        let e = resolve(&f).unwrap_err();
        assert!(e.starts_with("Invalid --resources"), "{e}");
        assert!(!e.contains('\n'));
        f.resources = None;
        f.attributes = Some("x:{a,b}".into());
        assert!(resolve(&f).unwrap_err().starts_with("Invalid --attributes"));
        f.attributes = None;
        f.containerizers = "docker".into();
        assert_eq!(resolve(&f).unwrap().containerizers, ["docker"]);
        f.containerizers = "docker,mesos,docker".into();
        assert_eq!(resolve(&f).unwrap().containerizers, ["docker", "mesos"]);
        f.containerizers = "docker,lxc".into();
        assert!(resolve(&f)
            .unwrap_err()
            .starts_with("Invalid --containerizers"));
        f.containerizers = "mesos".into();
        f.docker_volume_host_paths_allowed = Some("/data, relative".into());
        assert!(resolve(&f)
            .unwrap_err()
            .starts_with("Invalid --docker_volume_host_paths_allowed"));
        f.docker_volume_host_paths_allowed = Some("/data,/srv/x".into());
        assert_eq!(
            resolve(&f).unwrap().docker_volume_host_paths_allowed.len(),
            2
        );
        assert!(
            AgentFlags::try_parse_from([
                "agent",
                "--master=a:1",
                "--work_dir=/x",
                "--docker_privileged_allowed"
            ])
            .unwrap()
            .docker_privileged_allowed
        );
        f.master = "nohost".into();
        assert!(resolve(&f).unwrap_err().starts_with("Invalid --master"));
        assert!(AgentFlags::try_parse_from([
            "agent",
            "--master=a:1",
            "--work_dir=/x",
            "--recover=bogus"
        ])
        .is_err());
    }
}

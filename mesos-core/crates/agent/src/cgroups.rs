//! Linux cgroups for the process containerizer, as Mesos' `cgroups/cpu` and `cgroups/mem`
//! isolators: one cgroup per container, `<hierarchy>/mesos/<container_id>`, carrying the cpu
//! shares, CFS quota and memory limit of the executor plus its tasks; out-of-memory kills are
//! read back from the kernel's counters.
//!
//! * cgroup v1 (one hierarchy per controller, `/sys/fs/cgroup/{cpu,cpuacct,memory}`):
//!   `cpu.shares`, `cpu.cfs_period_us`, `cpu.cfs_quota_us`, `memory.limit_in_bytes`,
//!   `memory.soft_limit_in_bytes`; OOM kills from `memory.oom_control` (`oom_kill`).
//! * cgroup v2 (when `/sys/fs/cgroup` itself is a cgroup2 mount): `cpu.weight`, `cpu.max`,
//!   `memory.max`; OOM kills from `memory.events` (`oom_kill`).
//!
//! The pure parts (limit computation, file rendering and parsing) are free functions; the
//! file system work lives on [`Cgroups`].

use mesos_proto::resources::Resources;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// Where the hierarchies are mounted.
pub const CGROUP_BASE: &str = "/sys/fs/cgroup";
/// The cgroup (under each hierarchy) holding every container's cgroup.
pub const ROOT: &str = "mesos";

/// How long an empty cgroup of an unknown container is left alone at an agent's start.
pub const UNKNOWN_CGROUP_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

pub const CPU_SHARES_PER_CPU: u64 = 1024;
pub const MIN_CPU_SHARES: u64 = 2;
pub const CFS_PERIOD_US: u64 = 100_000;
pub const MIN_CFS_QUOTA_US: u64 = 1_000;
const MB: u64 = 1024 * 1024;
/// Mesos' minimum container memory (`MIN_MEMORY`).
pub const MIN_MEMORY_BYTES: u64 = 32 * MB;

/// Which resources a container is limited to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Thousandths of a cpu.
    pub cpus_milli: u64,
    pub mem_bytes: u64,
}

impl Limits {
    /// From the container's resources (executor plus tasks), with Mesos' minimums.
    pub fn from_resources(r: &Resources) -> Limits {
        let cpus_milli = r.quantity_milli("cpus").max(0) as u64;
        let mem_bytes = (r.quantity_milli("mem").max(0) as u128 * MB as u128 / 1000) as u64;
        Limits {
            cpus_milli,
            mem_bytes: mem_bytes.max(MIN_MEMORY_BYTES),
        }
    }

    pub fn cpus(&self) -> f64 {
        self.cpus_milli as f64 / 1000.0
    }

    /// v1 `cpu.shares`: 1024 per cpu, at least 2.
    pub fn cpu_shares(&self) -> u64 {
        (self.cpus_milli * CPU_SHARES_PER_CPU / 1000).max(MIN_CPU_SHARES)
    }

    /// v1 `cpu.cfs_quota_us`: `cpus × period`, at least 1 ms.
    pub fn cfs_quota_us(&self) -> u64 {
        (self.cpus_milli * CFS_PERIOD_US / 1000).max(MIN_CFS_QUOTA_US)
    }

    /// v2 `cpu.weight` (1..=10000), the usual mapping from shares (2..=262144).
    pub fn cpu_weight(&self) -> u64 {
        let shares = self.cpu_shares().clamp(2, 262_144);
        1 + (shares - 2) * 9999 / 262_142
    }

    /// v2 `cpu.max`: `"<quota> <period>"`.
    pub fn cpu_max(&self) -> String {
        format!("{} {}", self.cfs_quota_us(), CFS_PERIOD_US)
    }
}

/// A value of a `key value` file (`memory.oom_control`, `memory.events`, `memory.stat`,
/// `cpu.stat`, `cpuacct.stat`).
pub fn parse_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next())
            .flatten()
            .and_then(|v| v.parse().ok())
    })
}

/// Whether the kernel OOM-killed something in the cgroup, from `memory.oom_control` (v1) or
/// `memory.events` (v2). Kernels before 4.13 have no `oom_kill` counter: `under_oom` then.
pub fn oom_killed(text: &str) -> bool {
    match parse_key(text, "oom_kill") {
        Some(n) => n > 0,
        None => parse_key(text, "under_oom").is_some_and(|n| n > 0),
    }
}

/// A single number file (`memory.limit_in_bytes`, `memory.max`); `max` is `None`.
pub fn parse_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Stout's `Bytes` rendering: raise the unit only while no information is lost.
pub fn format_bytes(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut i = 0;
    while v != 0 && v.is_multiple_of(1024) && i + 1 < units.len() {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", units[i])
}

/// `"Memory limit exceeded: Requested: 64MB Maximum Used: 64MB"`, as Mesos' mem isolator.
pub fn memory_limit_message(limit: Option<u64>, max_used: Option<u64>) -> String {
    let mut m = "Memory limit exceeded:".to_string();
    if let Some(l) = limit {
        m.push_str(&format!(" Requested: {}", format_bytes(l)));
    }
    if let Some(u) = max_used {
        m.push_str(&format!(" Maximum Used: {}", format_bytes(u)));
    }
    m
}

/// The cgroup file systems found in `/proc/self/mounts`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mounts {
    /// v1 controller name → mount point.
    pub v1: Vec<(String, PathBuf)>,
    /// cgroup2 mount points.
    pub v2: Vec<PathBuf>,
}

impl Mounts {
    pub fn parse(text: &str) -> Mounts {
        let mut m = Mounts::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let dir = PathBuf::from(f[1].replace("\\040", " "));
            match f[2] {
                "cgroup2" => m.v2.push(dir),
                "cgroup" => {
                    for opt in f[3].split(',') {
                        if matches!(opt, "cpu" | "cpuacct" | "memory") {
                            m.v1.push((opt.to_string(), dir.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        m
    }

    fn v1_dir(&self, controller: &str) -> Option<PathBuf> {
        self.v1
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, d)| d.clone())
    }

    /// v2 when `base` itself is a cgroup2 mount, else the v1 hierarchies (a hybrid
    /// `base/unified` cgroup2 mount holds no controllers and is ignored).
    pub fn hierarchy(&self, base: &Path) -> Option<Hierarchy> {
        if self.v2.iter().any(|d| d == base) {
            return Some(Hierarchy::V2 {
                root: base.to_path_buf(),
            });
        }
        let (cpu, cpuacct, memory) = (
            self.v1_dir("cpu"),
            self.v1_dir("cpuacct"),
            self.v1_dir("memory"),
        );
        if cpu.is_none() && memory.is_none() {
            return None;
        }
        Some(Hierarchy::V1 {
            cpu,
            cpuacct,
            memory,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Hierarchy {
    V1 {
        cpu: Option<PathBuf>,
        cpuacct: Option<PathBuf>,
        memory: Option<PathBuf>,
    },
    V2 {
        root: PathBuf,
    },
}

/// The controllers to enforce (from `--isolation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Isolation {
    pub cpu: bool,
    pub mem: bool,
    /// Hard CPU limits through CFS bandwidth control (`cpu.cfs_quota_us`, v2 `cpu.max`),
    /// as Mesos' `--cgroups_enable_cfs` asks; without it only the relative weight
    /// (`cpu.shares`, v2 `cpu.weight`) is set, Mesos' default.
    pub cfs: bool,
}

/// Isolators accepted by `--isolation`; the `posix/*` and `filesystem/posix` ones enforce
/// nothing (usage accounting only, as in Mesos).
const KNOWN_ISOLATORS: &[&str] = &[
    "cgroups/cpu",
    "cgroups/mem",
    "cgroups/all",
    "posix/cpu",
    "posix/mem",
    "posix/disk",
    "filesystem/posix",
];

impl Isolation {
    /// Parse an explicit `--isolation` value (comma-separated isolator names).
    pub fn parse(text: &str) -> Result<Isolation, String> {
        let mut iso = Isolation::default();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "cgroups/cpu" => iso.cpu = true,
                "cgroups/mem" => iso.mem = true,
                "cgroups/all" => {
                    iso.cpu = true;
                    iso.mem = true;
                }
                n if KNOWN_ISOLATORS.contains(&n) => {}
                n => {
                    return Err(format!(
                        "Invalid --isolation: unsupported isolator '{n}' (supported: {})",
                        KNOWN_ISOLATORS.join(", ")
                    ))
                }
            }
        }
        Ok(iso)
    }

    pub fn any(&self) -> bool {
        self.cpu || self.mem
    }

    /// The `--isolation` value this amounts to.
    pub fn render(&self) -> String {
        let cpu = if self.cpu { "cgroups/cpu" } else { "posix/cpu" };
        let mem = if self.mem { "cgroups/mem" } else { "posix/mem" };
        format!("{cpu},{mem}")
    }
}

/// What `memory.*` says about a container.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MemoryState {
    pub oom_killed: bool,
    pub limit: Option<u64>,
    pub max_used: Option<u64>,
}

/// Usage numbers for `/monitor/statistics`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub cpus_limit: Option<f64>,
    pub mem_limit_bytes: Option<u64>,
    pub mem_rss_bytes: Option<u64>,
    pub cpus_user_time_secs: Option<f64>,
    pub cpus_system_time_secs: Option<f64>,
}

/// The cgroups of this agent's containers.
#[derive(Clone, Debug)]
pub struct Cgroups {
    hierarchy: Hierarchy,
    isolation: Isolation,
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value)
        .map_err(|e| format!("Cannot write '{value}' to {}: {e}", path.display()))
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

impl Cgroups {
    /// Find the hierarchies in `/proc/self/mounts` and check that cgroups can be created
    /// under `mesos/` for the requested controllers. The error says why not.
    pub fn open(isolation: Isolation) -> Result<Cgroups, String> {
        let mounts = std::fs::read_to_string("/proc/self/mounts")
            .map_err(|e| format!("cannot read /proc/self/mounts: {e}"))?;
        let hierarchy = Mounts::parse(&mounts)
            .hierarchy(Path::new(CGROUP_BASE))
            .ok_or_else(|| format!("no cgroup v1 cpu/memory or v2 hierarchy at {CGROUP_BASE}"))?;
        let cg = Cgroups {
            hierarchy,
            isolation,
        };
        cg.prepare()?;
        Ok(cg)
    }

    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    fn cpu_dir(&self) -> Option<&Path> {
        match &self.hierarchy {
            Hierarchy::V1 { cpu, .. } => cpu.as_deref().filter(|_| self.isolation.cpu),
            Hierarchy::V2 { root } => Some(root.as_path()).filter(|_| self.isolation.cpu),
        }
    }

    fn memory_dir(&self) -> Option<&Path> {
        match &self.hierarchy {
            Hierarchy::V1 { memory, .. } => memory.as_deref().filter(|_| self.isolation.mem),
            Hierarchy::V2 { root } => Some(root.as_path()).filter(|_| self.isolation.mem),
        }
    }

    /// The cpuacct hierarchy when it is separate from cpu (v1, statistics only).
    fn cpuacct_dir(&self) -> Option<&Path> {
        match &self.hierarchy {
            Hierarchy::V1 { cpu, cpuacct, .. } if self.isolation.cpu && cpuacct != cpu => {
                cpuacct.as_deref()
            }
            _ => None,
        }
    }

    /// Every hierarchy a container joins (deduplicated).
    fn bases(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for d in [self.cpu_dir(), self.cpuacct_dir(), self.memory_dir()]
            .into_iter()
            .flatten()
        {
            if !out.iter().any(|o| o == d) {
                out.push(d.to_path_buf());
            }
        }
        out
    }

    /// Create `mesos/` in each hierarchy (enabling the v2 controllers) and probe that a child
    /// cgroup can be made there.
    fn prepare(&self) -> Result<(), String> {
        if self.isolation.cpu && self.cpu_dir().is_none() {
            return Err("no cgroup 'cpu' hierarchy is mounted".into());
        }
        if self.isolation.mem && self.memory_dir().is_none() {
            return Err("no cgroup 'memory' hierarchy is mounted".into());
        }
        if let Hierarchy::V2 { root } = &self.hierarchy {
            let available = read(&root.join("cgroup.controllers")).unwrap_or_default();
            let mut wanted = Vec::new();
            if self.isolation.cpu {
                wanted.push("cpu");
            }
            if self.isolation.mem {
                wanted.push("memory");
            }
            for c in &wanted {
                if !available.split_whitespace().any(|a| a == *c) {
                    return Err(format!("the cgroup2 controller '{c}' is not available"));
                }
            }
            let enable: String = wanted
                .iter()
                .map(|c| format!("+{c}"))
                .collect::<Vec<_>>()
                .join(" ");
            write(&root.join("cgroup.subtree_control"), &enable)?;
            std::fs::create_dir_all(root.join(ROOT))
                .map_err(|e| format!("cannot create {}: {e}", root.join(ROOT).display()))?;
            write(&root.join(ROOT).join("cgroup.subtree_control"), &enable)?;
        }
        for base in self.bases() {
            let dir = base.join(ROOT);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let probe = dir.join(format!(
                ".probe-{}-{:x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::create_dir(&probe)
                .map_err(|e| format!("cannot create cgroups under {}: {e}", dir.display()))?;
            let _ = std::fs::remove_dir(&probe);
        }
        Ok(())
    }

    /// `<hierarchy>/mesos/<container_id>` in each hierarchy.
    pub fn dirs(&self, container_id: &str) -> Vec<PathBuf> {
        self.bases()
            .into_iter()
            .map(|b| b.join(ROOT).join(container_id))
            .collect()
    }

    fn cpu_cgroup(&self, id: &str) -> Option<PathBuf> {
        self.cpu_dir().map(|b| b.join(ROOT).join(id))
    }

    fn memory_cgroup(&self, id: &str) -> Option<PathBuf> {
        self.memory_dir().map(|b| b.join(ROOT).join(id))
    }

    fn v2(&self) -> bool {
        matches!(self.hierarchy, Hierarchy::V2 { .. })
    }

    /// Create the container's cgroups and set their limits.
    pub fn create(&self, container_id: &str, limits: &Limits) -> Result<(), String> {
        for d in self.dirs(container_id) {
            match std::fs::create_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("Cannot create cgroup {}: {e}", d.display())),
            }
        }
        self.apply(container_id, limits, true)
    }

    /// Write the limits. The hard memory limit is only ever raised after creation (lowering it
    /// below the usage would OOM the container); the soft one follows the reservation.
    pub fn apply(&self, container_id: &str, limits: &Limits, initial: bool) -> Result<(), String> {
        if let Some(d) = self.cpu_cgroup(container_id) {
            // Setting a CFS quota also costs the kernel a walk over every cpu cgroup
            // (its schedulability check), so it is written only when asked for.
            let cfs = self.isolation.cfs;
            if self.v2() {
                write(&d.join("cpu.weight"), &limits.cpu_weight().to_string())?;
                if cfs {
                    write(&d.join("cpu.max"), &limits.cpu_max())?;
                }
            } else {
                write(&d.join("cpu.shares"), &limits.cpu_shares().to_string())?;
                // A new cgroup starts with the kernel's (and Mesos') 100 ms period.
                if cfs && !initial {
                    write(&d.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
                }
                if cfs {
                    write(
                        &d.join("cpu.cfs_quota_us"),
                        &limits.cfs_quota_us().to_string(),
                    )?;
                }
            }
        }
        if let Some(d) = self.memory_cgroup(container_id) {
            let (hard, soft) = if self.v2() {
                ("memory.max", "memory.low")
            } else {
                ("memory.limit_in_bytes", "memory.soft_limit_in_bytes")
            };
            let raise = initial
                || read(&d.join(hard))
                    .as_deref()
                    .and_then(parse_number)
                    .is_none_or(|c| limits.mem_bytes > c);
            if raise {
                write(&d.join(hard), &limits.mem_bytes.to_string())?;
            }
            if !self.v2() {
                write(&d.join(soft), &limits.mem_bytes.to_string())?;
            }
        }
        Ok(())
    }

    /// The `cgroup.procs` files a new process must join.
    pub fn procs_files(&self, container_id: &str) -> Vec<PathBuf> {
        self.dirs(container_id)
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// Whether the container's cgroups exist.
    pub fn exists(&self, container_id: &str) -> bool {
        let dirs = self.dirs(container_id);
        !dirs.is_empty() && dirs.iter().all(|d| d.is_dir())
    }

    /// Every process in the container's cgroups.
    pub fn pids(&self, container_id: &str) -> Vec<u32> {
        let mut out = BTreeSet::new();
        for f in self.procs_files(container_id) {
            for l in read(&f).unwrap_or_default().lines() {
                if let Ok(p) = l.trim().parse::<u32>() {
                    out.insert(p);
                }
            }
        }
        out.into_iter().collect()
    }

    /// The memory cgroup's OOM state, limit and peak usage (`None` without a memory cgroup).
    pub fn memory_state(&self, container_id: &str) -> Option<MemoryState> {
        let d = self.memory_cgroup(container_id)?;
        if self.v2() {
            let events = read(&d.join("memory.events"))?;
            let max_used = read(&d.join("memory.peak"))
                .or_else(|| read(&d.join("memory.current")))
                .as_deref()
                .and_then(parse_number);
            Some(MemoryState {
                oom_killed: oom_killed(&events),
                limit: read(&d.join("memory.max"))
                    .as_deref()
                    .and_then(parse_number),
                max_used,
            })
        } else {
            let control = read(&d.join("memory.oom_control"))?;
            Some(MemoryState {
                oom_killed: oom_killed(&control),
                limit: read(&d.join("memory.limit_in_bytes"))
                    .as_deref()
                    .and_then(parse_number),
                max_used: read(&d.join("memory.max_usage_in_bytes"))
                    .as_deref()
                    .and_then(parse_number),
            })
        }
    }

    /// Limits and usage read from the cgroup files.
    pub fn usage(&self, container_id: &str) -> Usage {
        let mut u = Usage::default();
        if let Some(d) = self.cpu_cgroup(container_id) {
            if self.v2() {
                let max = read(&d.join("cpu.max")).unwrap_or_default();
                let mut it = max.split_whitespace();
                if let (Some(Ok(q)), Some(Ok(p))) = (
                    it.next().map(str::parse::<f64>),
                    it.next().map(str::parse::<f64>),
                ) {
                    u.cpus_limit = Some(q / p);
                }
                let stat = read(&d.join("cpu.stat")).unwrap_or_default();
                u.cpus_user_time_secs = parse_key(&stat, "user_usec").map(|v| v as f64 / 1e6);
                u.cpus_system_time_secs = parse_key(&stat, "system_usec").map(|v| v as f64 / 1e6);
            } else {
                let quota = read(&d.join("cpu.cfs_quota_us"))
                    .as_deref()
                    .and_then(|s| s.trim().parse::<i64>().ok());
                let period = read(&d.join("cpu.cfs_period_us"))
                    .as_deref()
                    .and_then(parse_number);
                u.cpus_limit = match (quota, period) {
                    (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
                    _ => read(&d.join("cpu.shares"))
                        .as_deref()
                        .and_then(parse_number)
                        .map(|s| s as f64 / CPU_SHARES_PER_CPU as f64),
                };
                let acct = self
                    .cpuacct_dir()
                    .map(|b| b.join(ROOT).join(container_id))
                    .unwrap_or(d);
                let stat = read(&acct.join("cpuacct.stat")).unwrap_or_default();
                let hz = clock_ticks();
                u.cpus_user_time_secs = parse_key(&stat, "user").map(|v| v as f64 / hz);
                u.cpus_system_time_secs = parse_key(&stat, "system").map(|v| v as f64 / hz);
            }
        }
        if let Some(d) = self.memory_cgroup(container_id) {
            let stat = read(&d.join("memory.stat")).unwrap_or_default();
            if self.v2() {
                u.mem_limit_bytes = read(&d.join("memory.max"))
                    .as_deref()
                    .and_then(parse_number);
                u.mem_rss_bytes = parse_key(&stat, "anon");
            } else {
                u.mem_limit_bytes = read(&d.join("memory.limit_in_bytes"))
                    .as_deref()
                    .and_then(parse_number);
                u.mem_rss_bytes = parse_key(&stat, "total_rss").or(parse_key(&stat, "rss"));
            }
        }
        u
    }

    /// Remove the container's cgroups (they must be empty). Missing ones are fine.
    pub fn remove(&self, container_id: &str) -> Result<(), String> {
        let mut err = None;
        for d in self.dirs(container_id) {
            match std::fs::remove_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => err = Some(format!("Cannot remove cgroup {}: {e}", d.display())),
            }
        }
        err.map_or(Ok(()), Err)
    }

    /// Whether any of the container's cgroup directories changed within
    /// [`UNKNOWN_CGROUP_GRACE`] (or its time cannot be read).
    fn made_lately(&self, container_id: &str) -> bool {
        self.dirs(container_id).iter().any(|d| {
            std::fs::metadata(d)
                .and_then(|m| m.modified())
                .map_or(true, |t| {
                    t.elapsed().map_or(true, |age| age < UNKNOWN_CGROUP_GRACE)
                })
        })
    }

    /// Container IDs with a cgroup under `mesos/` in any hierarchy.
    pub fn list(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for b in self.bases() {
            let Ok(rd) = std::fs::read_dir(b.join(ROOT)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if e.path().is_dir() && !name.starts_with('.') {
                    out.insert(name);
                }
            }
        }
        out
    }

    /// At agent start: remove the cgroups under `mesos/` of containers this agent does not
    /// know. Empty ones are removed; ones that still hold processes are left alone with a
    /// warning (they may belong to another agent sharing the machine, e.g. in tests), and
    /// so are empty ones made in the last [`UNKNOWN_CGROUP_GRACE`]: another agent may have
    /// just made them for an executor that has not joined yet.
    pub fn cleanup_unknown(&self, known: &HashSet<String>) {
        for id in self.list() {
            if known.contains(&id) || self.made_lately(&id) {
                continue;
            }
            let pids = self.pids(&id);
            if !pids.is_empty() {
                tracing::warn!(
                    "Leaving cgroup mesos/{id} of an unknown container alone: it still has processes {pids:?}"
                );
                continue;
            }
            match self.remove(&id) {
                Ok(()) => tracing::info!("Removed the cgroup of unknown container {id}"),
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }
}

/// Decide the isolation at agent start from `--isolation` (`None`: not given). Returns the
/// cgroups to use (`None`: no limits) and the effective flag value. Without the flag, unusable
/// cgroups are logged once and the agent runs without limits; with an explicit `cgroups/*`
/// isolator they are a (one-line) start error.
pub fn from_flag(
    flag: Option<&str>,
    enable_cfs: bool,
) -> Result<(Option<Cgroups>, String), String> {
    let Some(text) = flag else {
        let all = Isolation {
            cpu: true,
            mem: true,
            cfs: enable_cfs,
        };
        return Ok(match Cgroups::open(all) {
            Ok(cg) => {
                tracing::info!("Isolation {}: {:?}", all.render(), cg.hierarchy());
                (Some(cg), all.render())
            }
            Err(why) => {
                tracing::warn!(
                    "cgroups are not usable ({why}; they need root and a writable {CGROUP_BASE}): \
                     running without cpu/memory limits (--isolation=posix/cpu,posix/mem)"
                );
                (None, Isolation::default().render())
            }
        });
    };
    let iso = Isolation {
        cfs: enable_cfs,
        ..Isolation::parse(text)?
    };
    if !iso.any() {
        tracing::info!("--isolation={text}: cpu and memory are accounted, not limited");
        return Ok((None, text.to_string()));
    }
    let cg = Cgroups::open(iso).map_err(|why| {
        format!(
            "Invalid --isolation '{text}': cgroups are not usable on this machine ({why}); \
             they need root and a writable {CGROUP_BASE}"
        )
    })?;
    tracing::info!("Isolation {text}: {:?}", cg.hierarchy());
    Ok((Some(cg), text.to_string()))
}

#[cfg(test)]
mod tests;

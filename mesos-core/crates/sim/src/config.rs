//! What to simulate and which faults to inject.

/// Fault injection. Probabilities of per-message faults apply to every message crossing
/// the network between the master and agents or frameworks; node faults are drawn every
/// [`Faults::interval`] seconds of the faulty phase.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Probability that a message is lost (a stream message resets its stream).
    pub drop: f64,
    /// Network delay in milliseconds, uniform in `[min, max]`.
    pub delay_ms: (u64, u64),
    /// Probability that a message is slow (an extra delay up to `slow_ms`).
    pub slow: f64,
    pub slow_ms: u64,
    /// Seconds between draws of node faults.
    pub interval: f64,
    /// Per draw: crash one agent (restarted 5-120 s later).
    pub agent_crash: f64,
    /// Per draw: partition one agent from the master (healed 5-200 s later).
    pub partition: f64,
    /// Per draw: crash the master (a new master takes over 2-40 s later).
    pub master_crash: f64,
    /// Per draw: a framework drops its stream and re-subscribes.
    pub framework_disconnect: f64,
    /// Per draw: one executor process dies.
    pub executor_crash: f64,
    /// When an agent crashes, the probability that its executors die with it (host reboot).
    pub executors_die_with_agent: f64,
    /// Probability that a launched task ends by itself (finished or failed) 20-300 s later.
    pub task_end: f64,
}

impl Faults {
    /// A perfect network and no crashes (tasks still end by themselves).
    pub fn none() -> Faults {
        Faults {
            drop: 0.0,
            delay_ms: (1, 20),
            slow: 0.0,
            slow_ms: 0,
            interval: 10.0,
            agent_crash: 0.0,
            partition: 0.0,
            master_crash: 0.0,
            framework_disconnect: 0.0,
            executor_crash: 0.0,
            executors_die_with_agent: 0.0,
            task_end: 0.2,
        }
    }

    /// Message drops and delays only.
    pub fn network() -> Faults {
        Faults {
            drop: 0.02,
            delay_ms: (1, 50),
            slow: 0.05,
            slow_ms: 3_000,
            ..Faults::none()
        }
    }

    /// Everything at once.
    pub fn all() -> Faults {
        Faults {
            agent_crash: 0.15,
            partition: 0.15,
            master_crash: 0.05,
            framework_disconnect: 0.1,
            executor_crash: 0.1,
            executors_die_with_agent: 0.3,
            ..Faults::network()
        }
    }
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub agents: usize,
    pub frameworks: usize,
    /// Instances each framework keeps running.
    pub instances: usize,
    /// Every agent's resources (`--resources` syntax).
    pub agent_resources: String,
    pub task_cpus: f64,
    pub task_mem: f64,
    /// Whether frameworks are PARTITION_AWARE (TASK_UNREACHABLE instead of TASK_LOST).
    pub partition_aware: bool,
    /// Seconds of the faulty phase.
    pub duration: f64,
    /// Seconds of the quiet phase before the final checks.
    pub quiet: f64,
    pub faults: Faults,
    /// Check the continuous properties every this many steps (1: after every step).
    pub check_every: u64,
    /// Print every event as it happens (stderr).
    pub trace: bool,
    /// Keep the last this many trace lines for the report.
    pub trace_tail: usize,
    /// Property bookkeeping while events are handled (the hooks of `props.rs`). Off for
    /// benchmarks, which check their own invariants at the end.
    pub properties: bool,
    /// Each agent's `--attributes` (e.g. `rack:r3;class:c1`), from its host index.
    pub agent_attributes: Option<fn(usize) -> String>,
}

impl SimConfig {
    /// A small cluster: 5 agents, 2 frameworks of 6 instances, 5 faulty minutes.
    pub fn small(faults: Faults) -> SimConfig {
        SimConfig {
            agents: 5,
            frameworks: 2,
            instances: 6,
            agent_resources: "cpus:4;mem:4096;disk:10000;ports:[31000-31009]".into(),
            task_cpus: 0.5,
            task_mem: 128.0,
            partition_aware: true,
            duration: 300.0,
            quiet: 600.0,
            faults,
            check_every: 1,
            trace: false,
            trace_tail: 0,
            properties: true,
            agent_attributes: None,
        }
    }
}

//! Long randomized runs of the simulator.
//!
//! ```text
//! cargo run -p mesos-sim --release --bin sim-soak -- --seeds 2000          # random seeds
//! cargo run -p mesos-sim --release --bin sim-soak -- --seed 42 --trace    # replay one
//! SIM_SEED=42 cargo run -p mesos-sim --release --bin sim-soak -- --trace
//! ```
//!
//! Every failing seed is printed with its violation and the command that replays it.
//! Options: `--seeds N`, `--seed S` (or `SIM_SEED`), `--start S` (first of N consecutive
//! seeds instead of random ones), `--agents N`, `--frameworks N`, `--instances N`,
//! `--duration SECS`, `--quiet SECS`, `--faults none|network|all`, `--check-every N`,
//! `--trace` (every event of the run on stderr), `--tail N` (the last N events of a
//! failing run).

use mesos_sim::{Faults, Sim, SimConfig};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

struct Args {
    seeds: u64,
    seed: Option<u64>,
    start: Option<u64>,
    cfg: SimConfig,
}

fn usage(msg: &str) -> ! {
    eprintln!("sim-soak: {msg}");
    eprintln!(
        "usage: sim-soak [--seeds N | --seed S] [--start S] [--agents N] [--frameworks N] \
         [--instances N] [--duration SECS] [--quiet SECS] [--faults none|network|all] \
         [--check-every N] [--trace] [--tail N]"
    );
    std::process::exit(2)
}

fn parse() -> Args {
    let mut a = Args {
        seeds: 100,
        seed: std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()),
        start: None,
        cfg: SimConfig::small(Faults::all()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let num = |v: String| -> u64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("bad number '{v}'")))
        };
        let secs = |v: String| -> f64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("bad seconds '{v}'")))
        };
        match flag.as_str() {
            "--seeds" => a.seeds = num(val()),
            "--seed" => a.seed = Some(num(val())),
            "--start" => a.start = Some(num(val())),
            "--agents" => a.cfg.agents = num(val()) as usize,
            "--frameworks" => a.cfg.frameworks = num(val()) as usize,
            "--instances" => a.cfg.instances = num(val()) as usize,
            "--duration" => a.cfg.duration = secs(val()),
            "--quiet" => a.cfg.quiet = secs(val()),
            "--check-every" => a.cfg.check_every = num(val()).max(1),
            "--tail" => a.cfg.trace_tail = num(val()) as usize,
            "--trace" => a.cfg.trace = true,
            "--faults" => {
                a.cfg.faults = match val().as_str() {
                    "none" => Faults::none(),
                    "network" => Faults::network(),
                    "all" => Faults::all(),
                    other => usage(&format!("unknown fault set '{other}'")),
                }
            }
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument '{other}'")),
        }
    }
    a
}

fn main() {
    let args = parse();
    let seeds: Vec<u64> = match (args.seed, args.start) {
        (Some(s), _) => vec![s],
        (None, Some(start)) => (start..start + args.seeds).collect(),
        (None, None) => {
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            (0..args.seeds)
                .map(|i| splitmix(t ^ (std::process::id() as u64) << 32 ^ i))
                .collect()
        }
    };
    let started = Instant::now();
    let mut failed = Vec::new();
    for (i, seed) in seeds.iter().copied().enumerate() {
        let mut sim = Sim::new(seed, args.cfg.clone());
        let r = sim.run();
        match &r.violation {
            Some(v) => {
                println!("FAIL {v}");
                for line in &r.trace_tail {
                    println!("    {line}");
                }
                println!(
                    "    replay: SIM_SEED={seed} cargo run -p mesos-sim --release --bin sim-soak -- --trace{}",
                    extra_flags(&args.cfg)
                );
                failed.push(seed);
            }
            None if seeds.len() == 1 => println!(
                "ok seed {seed}: {} steps, {:.0} simulated s, digest {:016x}, {:?}",
                r.steps, r.time, r.digest, r.stats
            ),
            None => {}
        }
        if seeds.len() > 1 && (i + 1) % 50 == 0 {
            eprintln!(
                "{} / {} runs, {} failed, {:.0?}",
                i + 1,
                seeds.len(),
                failed.len(),
                started.elapsed()
            );
        }
    }
    println!(
        "{} runs, {} failed{}, {:.1?}",
        seeds.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" (seeds {failed:?})")
        },
        started.elapsed()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

/// Non-default sizes, so the printed replay command reproduces the run.
fn extra_flags(cfg: &SimConfig) -> String {
    let d = SimConfig::small(Faults::all());
    let mut s = String::new();
    if cfg.agents != d.agents {
        s += &format!(" --agents {}", cfg.agents);
    }
    if cfg.frameworks != d.frameworks {
        s += &format!(" --frameworks {}", cfg.frameworks);
    }
    if cfg.instances != d.instances {
        s += &format!(" --instances {}", cfg.instances);
    }
    if cfg.duration != d.duration {
        s += &format!(" --duration {}", cfg.duration);
    }
    if cfg.quiet != d.quiet {
        s += &format!(" --quiet {}", cfg.quiet);
    }
    if cfg.faults.drop == 0.0 && cfg.faults.agent_crash == 0.0 {
        s += " --faults none";
    } else if cfg.faults.agent_crash == 0.0 {
        s += " --faults network";
    }
    s
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

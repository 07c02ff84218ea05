//! Unit tests of the cgroup layer: limits, parsing, and the files written in fake
//! hierarchies in temporary directories.

use super::*;

fn res(text: &str) -> Resources {
    Resources::parse_flag(text).unwrap()
}

#[test]
fn limits_follow_mesos() {
    // Command executor (0.1 cpus, 32 MB) plus a task of 0.5 cpus and 64 MB.
    let l = Limits::from_resources(&res("cpus:0.6;mem:96"));
    assert_eq!(l.cpu_shares(), 614);
    assert_eq!(l.cfs_quota_us(), 60_000);
    assert_eq!(l.cpu_max(), "60000 100000");
    assert_eq!(l.mem_bytes, 96 * MB);
    let l = Limits::from_resources(&res("cpus:2;mem:1024"));
    assert_eq!(
        (l.cpu_shares(), l.cfs_quota_us(), l.mem_bytes),
        (2048, 200_000, 1024 * MB)
    );
    // No rounding down through floats.
    assert_eq!(
        Limits::from_resources(&res("cpus:0.29")).cfs_quota_us(),
        29_000
    );
    // Minimums.
    let l = Limits::from_resources(&Resources::new());
    assert_eq!(
        (l.cpu_shares(), l.cfs_quota_us(), l.mem_bytes),
        (2, 1_000, 32 * MB)
    );
    assert_eq!(Limits::from_resources(&res("mem:8")).mem_bytes, 32 * MB);
    assert_eq!(Limits::from_resources(&res("mem:0.5;cpus:1")).cpus(), 1.0);
}

#[test]
fn cpu_weight_maps_shares() {
    let w = |cpus: &str| Limits::from_resources(&res(&format!("cpus:{cpus}"))).cpu_weight();
    assert_eq!(w("1"), 39);
    assert_eq!(w("0.001"), 1);
    assert_eq!(w("256"), 10000);
    assert_eq!(w("1000"), 10000);
}

#[test]
fn oom_counters_parse() {
    let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
    assert!(oom_killed(v1));
    assert_eq!(parse_key(v1, "oom_kill"), Some(1));
    assert!(!oom_killed("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"));
    // Old kernels: no counter.
    assert!(oom_killed("oom_kill_disable 0\nunder_oom 1\n"));
    assert!(!oom_killed("oom_kill_disable 0\nunder_oom 0\n"));
    let v2 = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 2\noom_group_kill 0\n";
    assert!(oom_killed(v2));
    assert!(!oom_killed("low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n"));
    // `oom_kill_disable` must not be mistaken for `oom_kill`.
    assert!(!oom_killed("oom_kill_disable 1\n"));
    assert_eq!(parse_number("67108864\n"), Some(64 * MB));
    assert_eq!(parse_number("max\n"), None);
}

#[test]
fn bytes_render_like_stout() {
    assert_eq!(format_bytes(0), "0B");
    assert_eq!(format_bytes(64 * MB), "64MB");
    assert_eq!(format_bytes(2048 * MB), "2GB");
    assert_eq!(format_bytes(1536 * 1024), "1536KB");
    assert_eq!(format_bytes(1000), "1000B");
    assert_eq!(
        memory_limit_message(Some(64 * MB), Some(64 * MB)),
        "Memory limit exceeded: Requested: 64MB Maximum Used: 64MB"
    );
    assert_eq!(memory_limit_message(None, None), "Memory limit exceeded:");
}

#[test]
fn mounts_pick_the_hierarchy() {
    let hybrid = "\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
";
    let base = Path::new(CGROUP_BASE);
    assert_eq!(
        Mounts::parse(hybrid).hierarchy(base),
        Some(Hierarchy::V1 {
            cpu: Some("/sys/fs/cgroup/cpu".into()),
            cpuacct: Some("/sys/fs/cgroup/cpuacct".into()),
            memory: Some("/sys/fs/cgroup/memory".into()),
        })
    );
    let combined = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n";
    match Mounts::parse(combined).hierarchy(base) {
        Some(Hierarchy::V1 {
            cpu,
            cpuacct,
            memory,
        }) => {
            assert_eq!(cpu, cpuacct);
            assert_eq!(memory, None);
        }
        h => panic!("{h:?}"),
    }
    let unified = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n";
    assert_eq!(
        Mounts::parse(unified).hierarchy(base),
        Some(Hierarchy::V2 { root: base.into() })
    );
    assert_eq!(
        Mounts::parse("proc /proc proc rw 0 0\n").hierarchy(base),
        None
    );
}

#[test]
fn isolation_flag_parses() {
    let i = Isolation::parse("cgroups/cpu,cgroups/mem").unwrap();
    assert_eq!((i.cpu, i.mem), (true, true));
    assert_eq!(i.render(), "cgroups/cpu,cgroups/mem");
    let i = Isolation::parse("posix/cpu,posix/mem").unwrap();
    assert!(!i.any());
    assert_eq!(i.render(), "posix/cpu,posix/mem");
    let i = Isolation::parse("cgroups/mem, filesystem/posix").unwrap();
    assert_eq!((i.cpu, i.mem), (false, true));
    assert!(Isolation::parse("cgroups/all").unwrap().cpu);
    let e = Isolation::parse("namespaces/pid").unwrap_err();
    assert!(e.starts_with("Invalid --isolation"), "{e}");
    assert!(!e.contains('\n'));
}

/// A v1 layout (separate cpu and memory hierarchies) under `dir`, with `mesos/` made.
fn fake_v1(dir: &Path, cfs: bool) -> (Cgroups, PathBuf, PathBuf) {
    let (cpu, mem) = (dir.join("cpu"), dir.join("memory"));
    std::fs::create_dir_all(cpu.join(ROOT)).unwrap();
    std::fs::create_dir_all(mem.join(ROOT)).unwrap();
    let cg = Cgroups {
        hierarchy: Hierarchy::V1 {
            cpu: Some(cpu.clone()),
            cpuacct: None,
            memory: Some(mem.clone()),
        },
        isolation: Isolation {
            cpu: true,
            mem: true,
            cfs,
        },
    };
    (cg, cpu, mem)
}

#[test]
fn unknown_cgroups_are_removed_at_start_unless_just_made() {
    let dir = tempfile::tempdir().unwrap();
    let (cg, cpu, mem) = fake_v1(dir.path(), false);
    let long_ago = std::time::SystemTime::now() - UNKNOWN_CGROUP_GRACE * 2;
    for id in ["old", "fresh", "known"] {
        for base in [&cpu, &mem] {
            let d = base.join(ROOT).join(id);
            std::fs::create_dir_all(&d).unwrap();
            if id != "fresh" {
                std::fs::File::open(&d)
                    .unwrap()
                    .set_modified(long_ago)
                    .unwrap();
            }
        }
    }
    cg.cleanup_unknown(&HashSet::from(["known".to_string()]));
    // The old unknown one goes; the one made just now (another agent's launch in
    // progress) and the known one stay.
    assert_eq!(
        cg.list(),
        BTreeSet::from(["fresh".to_string(), "known".to_string()])
    );
}

#[test]
fn v1_files_are_rendered_in_a_fake_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let (cg, cpu, mem) = fake_v1(dir.path(), true);
    let limits = Limits::from_resources(&res("cpus:0.2;mem:64"));
    cg.create("c1", &limits).unwrap();
    let rd = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    let c = cpu.join(ROOT).join("c1");
    let m = mem.join(ROOT).join("c1");
    assert_eq!(rd(c.join("cpu.shares")), "204");
    // A new cgroup keeps the kernel's 100 ms period: nothing is written at creation.
    assert!(!c.join("cpu.cfs_period_us").exists());
    assert_eq!(rd(c.join("cpu.cfs_quota_us")), "20000");
    assert_eq!(rd(m.join("memory.limit_in_bytes")), (64 * MB).to_string());
    // Growing raises the hard limit; shrinking only lowers the soft one.
    cg.apply("c1", &Limits::from_resources(&res("cpus:1;mem:128")), false)
        .unwrap();
    assert_eq!(rd(m.join("memory.limit_in_bytes")), (128 * MB).to_string());
    assert_eq!(rd(c.join("cpu.cfs_period_us")), "100000");
    assert_eq!(rd(c.join("cpu.cfs_quota_us")), "100000");
    cg.apply("c1", &Limits::from_resources(&res("cpus:1;mem:32")), false)
        .unwrap();
    assert_eq!(rd(m.join("memory.limit_in_bytes")), (128 * MB).to_string());
    assert_eq!(
        rd(m.join("memory.soft_limit_in_bytes")),
        (32 * MB).to_string()
    );
    std::fs::write(
        m.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    )
    .unwrap();
    std::fs::write(m.join("memory.max_usage_in_bytes"), (128 * MB).to_string()).unwrap();
    assert_eq!(
        cg.memory_state("c1"),
        Some(MemoryState {
            oom_killed: true,
            limit: Some(128 * MB),
            max_used: Some(128 * MB)
        })
    );
    assert_eq!(cg.list().into_iter().collect::<Vec<_>>(), ["c1"]);
    let u = cg.usage("c1");
    assert_eq!(u.cpus_limit, Some(1.0));
    assert_eq!(u.mem_limit_bytes, Some(128 * MB));
}

#[test]
fn v2_files_are_rendered_in_a_fake_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let cg = Cgroups {
        hierarchy: Hierarchy::V2 { root: root.clone() },
        isolation: Isolation {
            cpu: true,
            mem: true,
            cfs: true,
        },
    };
    assert_eq!(cg.dirs("c2"), [root.join(ROOT).join("c2")]);
    std::fs::create_dir_all(root.join(ROOT)).unwrap();
    cg.create("c2", &Limits::from_resources(&res("cpus:1.5;mem:100")))
        .unwrap();
    let d = root.join(ROOT).join("c2");
    let rd = |n: &str| std::fs::read_to_string(d.join(n)).unwrap();
    assert_eq!(rd("cpu.max"), "150000 100000");
    assert_eq!(rd("cpu.weight"), "59");
    assert_eq!(rd("memory.max"), (100 * MB).to_string());
    std::fs::write(
        d.join("memory.events"),
        "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
    )
    .unwrap();
    std::fs::write(d.join("memory.peak"), (100 * MB).to_string()).unwrap();
    let s = cg.memory_state("c2").unwrap();
    assert!(s.oom_killed);
    assert_eq!(s.max_used, Some(100 * MB));
    assert_eq!(cg.usage("c2").cpus_limit, Some(1.5));
}

#[test]
fn without_cfs_only_the_weight_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (cpu, mem) = (dir.path().join("cpu"), dir.path().join("memory"));
    let iso = Isolation {
        cpu: true,
        mem: true,
        cfs: false,
    };
    let v1 = Cgroups {
        hierarchy: Hierarchy::V1 {
            cpu: Some(cpu.clone()),
            cpuacct: None,
            memory: Some(mem.clone()),
        },
        isolation: iso,
    };
    std::fs::create_dir_all(cpu.join(ROOT)).unwrap();
    std::fs::create_dir_all(mem.join(ROOT)).unwrap();
    let limits = Limits::from_resources(&res("cpus:0.2;mem:64"));
    v1.create("c1", &limits).unwrap();
    v1.apply("c1", &Limits::from_resources(&res("cpus:1;mem:64")), false)
        .unwrap();
    let c = cpu.join(ROOT).join("c1");
    assert_eq!(
        std::fs::read_to_string(c.join("cpu.shares")).unwrap(),
        "1024"
    );
    assert!(!c.join("cpu.cfs_quota_us").exists());
    assert!(!c.join("cpu.cfs_period_us").exists());
    assert_eq!(v1.usage("c1").cpus_limit, Some(1.0));

    let root = dir.path().join("v2");
    let v2 = Cgroups {
        hierarchy: Hierarchy::V2 { root: root.clone() },
        isolation: iso,
    };
    std::fs::create_dir_all(root.join(ROOT)).unwrap();
    v2.create("c2", &limits).unwrap();
    let d = root.join(ROOT).join("c2");
    assert!(d.join("cpu.weight").exists());
    assert!(!d.join("cpu.max").exists());
}

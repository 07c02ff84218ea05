//! The executor zygote with the real `mesos-executor` binary: executors it forks are
//! children of the caller (so the agent reaps them and reads their exit status), run in
//! their sandbox with its `stdout` and `stderr`, get the requested environment and mode, and
//! a program that is not a zygote is refused at start (the agent then execs executors).

use mesos_agent::executor::zygote::{Request, Zygote};
use std::path::Path;

fn executor() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mesos-executor"))
}

/// Wait for `pid`, which must be a child of this process; its exit code.
fn reap(pid: u32) -> i32 {
    let mut status = 0;
    // SAFETY: valid out-pointer; blocks until that child exits.
    let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    assert_eq!(
        rc,
        pid as libc::pid_t,
        "pid {pid} is not our child: {}",
        std::io::Error::last_os_error()
    );
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    libc::WEXITSTATUS(status)
}

#[test]
fn forked_executors_are_our_children_and_run_in_their_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut zygote = Zygote::start(executor()).expect("mesos-executor runs as a zygote");
    let mut pids = Vec::new();
    for i in 0..3 {
        let sandbox = dir.path().join(format!("sandbox-{i}"));
        std::fs::create_dir_all(&sandbox).unwrap();
        // A command executor without an agent endpoint says so on its stderr and exits 1.
        let req = Request {
            mode: "command".into(),
            sandbox: sandbox.clone(),
            env: vec![
                ("MESOS_FRAMEWORK_ID".into(), format!("fw-{i}")),
                ("MESOS_AGENT_ENDPOINT".into(), String::new()),
            ],
            cgroup_procs: Vec::new(),
        };
        let pid = zygote.launch(&req).expect("the zygote forks");
        pids.push((pid, sandbox));
    }
    for (pid, sandbox) in pids {
        assert_eq!(reap(pid), 1);
        let err = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
        // The requested variables were set (the endpoint was), the missing one is reported.
        assert!(
            err.contains("mesos-executor: Missing environment variable MESOS_EXECUTOR_ID"),
            "{err}"
        );
        assert!(sandbox.join("stdout").is_file());
    }
}

#[test]
fn an_unknown_mode_fails_in_the_child_not_the_zygote() {
    let dir = tempfile::tempdir().unwrap();
    let mut zygote = Zygote::start(executor()).unwrap();
    let req = Request {
        mode: "zygote".into(),
        sandbox: dir.path().to_path_buf(),
        env: Vec::new(),
        cgroup_procs: Vec::new(),
    };
    let pid = zygote.launch(&req).unwrap();
    assert_eq!(reap(pid), 1);
    let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(err.contains("unknown executor mode 'zygote'"), "{err}");
    // The zygote still serves the next request.
    let req = Request {
        mode: "nonsense".into(),
        ..req
    };
    let pid = zygote.launch(&req).unwrap();
    assert_eq!(reap(pid), 1);
}

#[test]
fn a_program_that_is_no_zygote_is_refused() {
    let e = Zygote::start(Path::new("/bin/true"))
        .err()
        .expect("refused");
    assert!(e.contains("exited") || e.contains("not a zygote"), "{e}");
}

mod containerizer {
    //! The process containerizer's use of the zygote: a built-in executor started through
    //! it is reaped with its exit status, and a binary that is no zygote is exec'd instead.

    use mesos_agent::containerizer::{ContainerSpec, Containerizer, ProcessContainerizer};
    use mesos_proto::ids::ContainerId;
    use mesos_proto::resources::Resources;
    use std::path::PathBuf;

    fn spec(dir: &std::path::Path, program: PathBuf, id: &str) -> ContainerSpec {
        ContainerSpec {
            container_id: ContainerId::new(id),
            sandbox: dir.join(id),
            program,
            arg0: None,
            args: Vec::new(),
            env: vec![("MESOS_AGENT_ENDPOINT".into(), String::new())],
            resources: Resources::new(),
            self_isolating: true,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn executors_started_through_the_zygote_are_reaped_with_their_status() {
        let dir = tempfile::tempdir().unwrap();
        let c = ProcessContainerizer::new();
        for i in 0..3 {
            let s = spec(dir.path(), super::executor().into(), &format!("c{i}"));
            let sandbox = s.sandbox.clone();
            c.launch(s).await.expect("launched");
            let status = c.wait(ContainerId::new(format!("c{i}"))).await;
            // Exit code 1 (no MESOS_FRAMEWORK_ID), as a wait status.
            assert_eq!(status, Some(1 << 8));
            let err = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
            assert!(err.contains("Missing environment variable"), "{err}");
            assert!(sandbox.parent().unwrap().join("latest").exists());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_binary_that_is_no_zygote_is_started_directly() {
        let dir = tempfile::tempdir().unwrap();
        let c = ProcessContainerizer::new();
        // `false` never says it is a zygote, so each launch execs it.
        for i in 0..2 {
            let s = spec(dir.path(), "/bin/false".into(), &format!("f{i}"));
            c.launch(s).await.expect("launched");
            assert_eq!(
                c.wait(ContainerId::new(format!("f{i}"))).await,
                Some(1 << 8)
            );
        }
    }
}

//! Pieces the master benches share.

use mesos_core::proto::ids::*;
use mesos_core::proto::internal::TaskSnapshot;
use mesos_core::proto::v1::*;

/// The MasterInfo the benches' masters run with.
pub fn master_info() -> MasterInfo {
    MasterInfo {
        id: "bench".into(),
        ip: 0,
        port: 5050,
        pid: Some("master@127.0.0.1:5050".into()),
        hostname: Some("127.0.0.1".into()),
        version: Some("1.11.0".into()),
        address: None,
        capabilities: vec![],
    }
}

/// Task `t` of agent `a` (`t-<a>-<t>`, a `sleep 1000` command task) as a re-registering
/// agent reports it: running, with its own command executor.
pub fn running_task(
    agent: &AgentId,
    framework_id: FrameworkId,
    a: usize,
    t: usize,
    resources: &[Resource],
) -> TaskSnapshot {
    let task_id = TaskId::new(format!("t-{a}-{t}"));
    let mut task = TaskInfo::new(task_id.value.clone(), task_id.clone(), agent.clone());
    task.resources = resources.to_vec();
    task.command = Some(CommandInfo::shell("sleep 1000"));
    TaskSnapshot {
        framework_id,
        executor_id: ExecutorId::new(task_id.value),
        task,
        state: TaskState::TaskRunning,
        status: None,
    }
}

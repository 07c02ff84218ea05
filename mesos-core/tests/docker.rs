//! Docker tasks through the whole stack: a framework on the public scheduler client
//! launches a `container.type: DOCKER` task on an in-process cluster whose agent runs the
//! Docker containerizer, next to a plain process task.

mod support;

use mesos_core::cluster::{LocalCluster, LocalClusterConfig};
use mesos_core::proto::v1::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn docker_and_process_tasks_side_by_side() {
    let image = mesos_testkit::docker_test_image();
    let dir = TestDir::new();
    let mut c = LocalClusterConfig::new(dir.path().join("work"));
    c.agent_resources = Some("cpus:2;mem:1024;disk:1024;ports:[31000-31010]".into());
    c.launcher_dir = Some(launcher_dir(dir.path()));
    c.containerizers = Some("docker,mesos".into());
    let cluster = LocalCluster::start(c).await.expect("cluster starts");
    let mut fw = Framework::subscribe(cluster.master_addr(), framework_info(&[], 60.0)).await;
    let offer = fw.wait_offer().await;
    let mut docker = command_task(
        "in-docker",
        &offer,
        "echo hello-from-$MESOS_TASK_ID",
        "cpus:0.5;mem:64",
    );
    docker.container = Some(serde_json::json!({
        "type": "DOCKER",
        "docker": {"image": image, "network": "HOST"}
    }));
    let process = command_task("plain", &offer, "echo plain", "cpus:0.5;mem:64");
    fw.launch(&offer, vec![docker, process]).await;
    fw.wait_state("in-docker", TaskState::TaskFinished).await;
    fw.wait_state("plain", TaskState::TaskFinished).await;
    assert_eq!(
        fw.states_of("in-docker"),
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    // The container's output landed in the sandbox.
    let agent = cluster.agent_addrs()[0];
    let dir = sandbox_dir(agent, "in-docker").await;
    let out = get_json(&format!(
        "http://{agent}/files/read?path={dir}/stdout&offset=0"
    ))
    .await;
    assert!(
        out["data"]
            .as_str()
            .unwrap()
            .contains("hello-from-in-docker"),
        "{out}"
    );
    cluster.shutdown(true).await;
}

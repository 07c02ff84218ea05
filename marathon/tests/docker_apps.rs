//! Docker apps on a real local cluster whose agents run `--containerizers=docker,mesos`:
//! the 1.5 form (`networks` + `container.portMappings`) and the 1.4 form
//! (`container.docker.network` + `docker.portMappings`) both end up in a bridged container
//! of the Docker engine, reachable on the host port Marathon assigned.
//!
//! Needs a running Docker engine (`docker.io`) and `busybox-static`: the test image
//! `mesos-test-busybox:1` is built locally (no registry) by `mesos_testkit::docker_test_image`,
//! which fails the test naming what to install when either is missing.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::{wait_until, Env, Options};

fn docker_cli(args: &[&str]) -> (bool, String) {
    match Command::new("docker").args(args).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// Names of the containers the agents with these ids started (Err: what `docker ps` said).
fn try_containers_of(agent_ids: &[String]) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for a in agent_ids {
        let (ok, out) = docker_cli(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=mesos.agent_id={a}"),
            "--format",
            "{{.Names}}",
        ]);
        if !ok {
            return Err(format!("docker ps: {out}"));
        }
        names.extend(out.lines().map(str::to_string));
    }
    Ok(names)
}

fn containers_of(agent_ids: &[String]) -> Vec<String> {
    try_containers_of(agent_ids).unwrap_or_else(|e| panic!("{e}"))
}

/// Removes the test's containers when dropped, also when the test fails.
struct Guard {
    agent_ids: Vec<String>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Never panics: it also runs while a failed test unwinds.
        for n in try_containers_of(&self.agent_ids).unwrap_or_default() {
            docker_cli(&["rm", "-f", &n]);
        }
    }
}

/// A cluster with one agent that runs Docker containers, and the guard for its containers.
async fn docker_env() -> (Env, Guard) {
    let image = mesos_testkit::docker_test_image();
    assert_eq!(image, "mesos-test-busybox:1");
    let env = Env::start_with(Options::new(&["localhost"]).containerizers("docker,mesos")).await;
    let agent_ids = wait_until("the agent to register", || async {
        let ids = env.agent_ids().await;
        (!ids.is_empty()).then_some(ids)
    })
    .await;
    (env, Guard { agent_ids })
}

/// The container running a task (by the agent's `mesos.task_id` label): `docker inspect`.
fn container_of_task(task_id: &str) -> Option<Value> {
    let (ok, out) = docker_cli(&[
        "ps",
        "--filter",
        &format!("label=mesos.task_id={task_id}"),
        "--format",
        "{{.Names}}",
    ]);
    assert!(ok, "docker ps: {out}");
    let name = out.lines().next()?.to_string();
    let (ok, out) = docker_cli(&["inspect", &name]);
    assert!(ok, "docker inspect {name}: {out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    Some(v[0].clone())
}

/// GET `http://127.0.0.1:<port><path>` until it answers 2xx; the body.
async fn fetch(port: u64, path: &str) -> String {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}{path}");
    wait_until(&format!("GET {url}"), || async {
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.text().await.ok(),
            _ => None,
        }
    })
    .await
}

/// Delete the app and wait until its containers are gone.
async fn delete_and_wait(env: &Env, guard: &Guard, app: &str) {
    let (s, r, _) = env.req("DELETE", &format!("/v2/apps/{app}"), None).await;
    assert_eq!(s, 200, "{r}");
    wait_until("the containers to be removed", || async {
        containers_of(&guard.agent_ids).is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_app_in_the_1_5_form_serves_on_its_host_port() {
    let (env, guard) = docker_env().await;
    let app = json!({
        "id": "/docker/web15",
        "cmd": "echo \"hello from $MARATHON_APP_ID\" > /tmp/index.html; exec httpd -f -p 8080 -h /tmp",
        "cpus": 0.2, "mem": 64, "instances": 1,
        "container": {
            "type": "DOCKER",
            "docker": {"image": "mesos-test-busybox:1"},
            "portMappings": [
                {"containerPort": 8080, "hostPort": 0, "name": "http"},
                // Mesos maps each protocol of "udp,tcp" on its own.
                {"containerPort": 5353, "hostPort": 0, "protocol": "udp,tcp", "name": "dns"},
            ],
        },
        "networks": [{"mode": "container/bridge"}],
    });
    let (s, body, _) = env.req("POST", "/v2/apps", Some(app)).await;
    assert_eq!(s, 201, "{body}");
    // The reply is the 1.5 form: mappings in the container, no portDefinitions.
    assert_eq!(
        body["networks"],
        json!([{"mode": "container/bridge"}]),
        "{body}"
    );
    assert!(body.get("portDefinitions").is_none(), "{body}");
    let mappings = body["container"]["portMappings"].as_array().unwrap();
    assert_eq!(mappings.len(), 2, "{body}");
    assert_eq!(mappings[0]["containerPort"], 8080);
    assert_eq!(mappings[0]["hostPort"], 0);
    assert!(
        mappings[0]["servicePort"].as_u64().unwrap() >= 10000,
        "{body}"
    );
    assert!(
        body["container"]["docker"].get("network").is_none(),
        "{body}"
    );

    let tasks = env.wait_deployed("docker/web15", 1).await;
    let task = &tasks[0];
    let ports = task["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 2, "{task}");
    let http_port = ports[0].as_u64().unwrap();
    assert!((31000..=31999).contains(&http_port), "{task}");

    // Docker runs it in the bridge network, the host port published to 8080.
    let c = container_of_task(task["id"].as_str().unwrap())
        .unwrap_or_else(|| panic!("no running container for {task}"));
    assert_eq!(c["HostConfig"]["NetworkMode"], "bridge", "{c}");
    assert_eq!(c["Config"]["Image"], "mesos-test-busybox:1");
    let bindings = &c["HostConfig"]["PortBindings"];
    assert_eq!(
        bindings["8080/tcp"][0]["HostPort"],
        http_port.to_string(),
        "{bindings}"
    );
    // The task carries the container's address on the bridge.
    let ip = c["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        .as_str()
        .unwrap();
    assert_eq!(
        task["ipAddresses"],
        json!([{"ipAddress": ip, "protocol": "IPv4"}]),
        "{task}"
    );
    let dns_port = ports[1].as_u64().unwrap().to_string();
    assert_eq!(bindings["5353/udp"][0]["HostPort"], dns_port, "{bindings}");
    assert_eq!(bindings["5353/tcp"][0]["HostPort"], dns_port, "{bindings}");

    assert_eq!(
        fetch(http_port, "/index.html").await.trim(),
        "hello from /docker/web15"
    );
    delete_and_wait(&env, &guard, "docker/web15").await;
    env.shutdown().await;
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_app_in_the_1_4_form_serves_on_its_host_port() {
    let (env, guard) = docker_env().await;
    let app = json!({
        "id": "web14",
        // containerPort 0 means "the same as the host port", which $PORT0 holds.
        "cmd": "echo \"port $PORT0\" > /tmp/index.html; exec httpd -f -p $PORT0 -h /tmp",
        "cpus": 0.2, "mem": 64, "instances": 1,
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": "mesos-test-busybox:1",
                "network": "BRIDGE",
                "portMappings": [{"containerPort": 0, "hostPort": 0, "protocol": "tcp"}],
            },
        },
    });
    let (s, body, _) = env.req("POST", "/v2/apps", Some(app)).await;
    assert_eq!(s, 201, "{body}");
    // Answered in the 1.5 form.
    assert_eq!(
        body["networks"],
        json!([{"mode": "container/bridge"}]),
        "{body}"
    );
    assert!(
        body["container"]["docker"].get("network").is_none(),
        "{body}"
    );
    assert!(
        body["container"]["docker"].get("portMappings").is_none(),
        "{body}"
    );
    assert_eq!(body["container"]["portMappings"][0]["containerPort"], 0);

    let tasks = env.wait_deployed("web14", 1).await;
    let task = &tasks[0];
    let port = task["ports"][0].as_u64().unwrap();
    let c = container_of_task(task["id"].as_str().unwrap())
        .unwrap_or_else(|| panic!("no running container for {task}"));
    assert_eq!(c["HostConfig"]["NetworkMode"], "bridge", "{c}");
    assert_eq!(
        c["HostConfig"]["PortBindings"][format!("{port}/tcp")][0]["HostPort"],
        port.to_string(),
        "{c}"
    );
    assert_eq!(
        fetch(port, "/index.html").await.trim(),
        format!("port {port}")
    );
    delete_and_wait(&env, &guard, "web14").await;
    env.shutdown().await;
    drop(guard);
}

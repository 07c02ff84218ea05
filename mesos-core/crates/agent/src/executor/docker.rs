//! The docker executor's engine side (`MESOS_RS_EXECUTOR_MODE=docker`): what `docker run`
//! the task's `ContainerInfo` asks for ([`plan`], pure), and running that container
//! ([`run_container`]): find or pull the image, create and start `mesos-<container id>`,
//! follow its logs into the sandbox, wait for its exit, remove it.
//!
//! The executor loop itself (subscription, updates, kills) is the command executor's
//! (`command.rs`), which calls in here when its task has a Docker container.

use crate::cgroups::Limits;
use crate::docker::{self as d, DockerSettings, SANDBOX_DIR};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, ResourcesUlimits};
use bollard::Docker;
use futures::StreamExt;
use mesos_proto::resources::Resources;
use mesos_proto::v1::TaskInfo;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// `ContainerInfo` (spec 1.5), the parts the docker containerizer reads.
#[derive(Clone, Debug, Default, Deserialize)]
struct ContainerInfo {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    volumes: Vec<Volume>,
    hostname: Option<String>,
    docker: Option<DockerInfo>,
    #[serde(default)]
    network_infos: Vec<NetworkInfo>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct DockerInfo {
    #[serde(default)]
    image: String,
    network: Option<String>,
    #[serde(default)]
    port_mappings: Vec<PortMapping>,
    #[serde(default)]
    privileged: bool,
    #[serde(default)]
    parameters: Vec<Parameter>,
    #[serde(default)]
    force_pull_image: bool,
}

#[derive(Clone, Debug, Deserialize)]
struct PortMapping {
    host_port: u64,
    container_port: u64,
    protocol: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct Parameter {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Clone, Debug, Deserialize)]
struct Volume {
    mode: Option<String>,
    container_path: String,
    host_path: Option<String>,
    image: Option<serde_json::Value>,
    source: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct NetworkInfo {
    name: Option<String>,
}

/// Who the container belongs to (its `mesos.*` labels) and where it runs.
#[derive(Clone, Debug)]
pub(super) struct Owner {
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    pub container_id: String,
    /// The sandbox on the host, mounted at [`SANDBOX_DIR`].
    pub sandbox: PathBuf,
}

/// What to run: the image and the container to create.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub image: String,
    pub force_pull: bool,
    pub body: ContainerCreateBody,
    /// The network whose address the container gets (`bridge`, a USER network), if any.
    pub network: Option<String>,
}

/// Build the container for `task` (its `command` and `container`). `env` is the task's
/// environment (`MESOS_TASK_ID`, `PORT0`.., the command's variables); errors are the
/// TASK_FAILED message.
pub(super) fn plan(
    task: &TaskInfo,
    env: &[(String, String)],
    owner: &Owner,
    settings: &DockerSettings,
) -> Result<Plan, String> {
    let info: ContainerInfo = serde_json::from_value(task.container.clone().unwrap_or_default())
        .map_err(|e| format!("Invalid ContainerInfo: {e}"))?;
    if info.kind.as_deref() != Some("DOCKER") {
        return Err("The docker executor needs a container of type DOCKER".into());
    }
    let docker = info
        .docker
        .clone()
        .ok_or("A DOCKER container needs 'container.docker'")?;
    if docker.image.trim().is_empty() {
        return Err("A DOCKER container needs 'container.docker.image'".into());
    }
    let mut body = ContainerCreateBody {
        image: Some(docker.image.clone()),
        ..Default::default()
    };
    let mut host = HostConfig::default();

    // Command: shell => /bin/sh -c value; else value + arguments to the entrypoint.
    let command = task
        .command
        .clone()
        .ok_or("The docker executor runs command tasks ('command' is missing)")?;
    if command.shell {
        let value = command
            .value
            .clone()
            .ok_or("Shell specified but no command value provided")?;
        body.entrypoint = Some(vec!["/bin/sh".into()]);
        body.cmd = Some(vec!["-c".into(), value]);
    } else {
        let mut argv: Vec<String> = command.value.iter().cloned().collect();
        argv.extend(command.arguments.iter().cloned());
        if !argv.is_empty() {
            body.cmd = Some(argv);
        }
    }

    // Environment: the task's, with the sandbox as the container sees it.
    let mut envs: Vec<String> = env
        .iter()
        .filter(|(k, _)| k != "MESOS_SANDBOX")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    envs.push(format!("MESOS_SANDBOX={SANDBOX_DIR}"));
    envs.push(format!(
        "MESOS_CONTAINER_NAME={}",
        d::container_name(&owner.container_id)
    ));

    // Labels: the task's, then ours.
    let mut labels: HashMap<String, String> = HashMap::new();
    if let Some(list) = task
        .labels
        .as_ref()
        .and_then(|l| l.get("labels"))
        .and_then(|l| l.as_array())
    {
        for l in list {
            if let Some(k) = l.get("key").and_then(|k| k.as_str()) {
                let v = l.get("value").and_then(|v| v.as_str()).unwrap_or_default();
                labels.insert(k.to_string(), v.to_string());
            }
        }
    }

    // Resources: the task's plus the executor's share, like the process containerizer.
    let resources = Resources::from_wire(&task.resources)
        .unwrap_or_default()
        .aggregate(
            &Resources::new()
                .with_scalar("cpus", crate::executors::COMMAND_EXECUTOR_CPUS)
                .with_scalar("mem", crate::executors::COMMAND_EXECUTOR_MEM),
        );
    let limits = Limits::from_resources(&resources);
    host.cpu_shares = Some(limits.cpu_shares() as i64);
    if settings.cgroups_enable_cfs {
        host.cpu_period = Some(100_000);
        host.cpu_quota = Some(limits.cfs_quota_us() as i64);
    }
    host.memory = Some(limits.mem_bytes as i64);
    host.memory_swap = Some(limits.mem_bytes as i64);

    // Network.
    let mode = docker.network.clone().unwrap_or_else(|| "HOST".into());
    let network = match mode.as_str() {
        "HOST" => {
            host.network_mode = Some("host".into());
            None
        }
        "BRIDGE" => {
            host.network_mode = Some("bridge".into());
            Some("bridge".to_string())
        }
        "NONE" => {
            host.network_mode = Some("none".into());
            None
        }
        "USER" => {
            let name = info
                .network_infos
                .first()
                .and_then(|n| n.name.clone())
                .filter(|n| !n.is_empty())
                .ok_or(
                    "USER networking needs a network name in 'container.network_infos[0].name'",
                )?;
            host.network_mode = Some(name.clone());
            Some(name)
        }
        other => return Err(format!("Unknown Docker network mode '{other}'")),
    };
    if !docker.port_mappings.is_empty() {
        if mode != "BRIDGE" && mode != "USER" {
            return Err(format!(
                "Port mappings need BRIDGE or USER networking, not {mode}"
            ));
        }
        let ports = resources.ranges("ports");
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        let mut exposed = Vec::new();
        for m in &docker.port_mappings {
            let in_ports = ports.is_some_and(|r| r.contains_value(m.host_port));
            if !in_ports {
                return Err(format!(
                    "Port mapping with host port {} is not in the task's 'ports' resources",
                    m.host_port
                ));
            }
            let proto = m
                .protocol
                .clone()
                .unwrap_or_else(|| "tcp".into())
                .to_lowercase();
            if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
                return Err(format!("Unknown port mapping protocol '{proto}'"));
            }
            let key = format!("{}/{proto}", m.container_port);
            exposed.push(key.clone());
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: None,
                    host_port: Some(m.host_port.to_string()),
                });
        }
        body.exposed_ports = Some(exposed);
        host.port_bindings = Some(bindings);
    }
    if let Some(h) = info.hostname.clone().filter(|h| !h.is_empty()) {
        body.hostname = Some(h);
    }

    // Volumes: the sandbox, then the task's.
    let mut binds = vec![format!("{}:{SANDBOX_DIR}:rw", owner.sandbox.display())];
    let mut anonymous = Vec::new();
    for v in &info.volumes {
        if v.image.is_some() || v.source.is_some() {
            return Err(format!(
                "Volume '{}': only host path volumes are supported by the docker containerizer",
                v.container_path
            ));
        }
        let mode = match v.mode.as_deref().unwrap_or("RW") {
            "RW" => "rw",
            "RO" => "ro",
            other => {
                return Err(format!(
                    "Volume '{}': unknown mode '{other}'",
                    v.container_path
                ))
            }
        };
        let container_path = if v.container_path.starts_with('/') {
            v.container_path.clone()
        } else {
            format!("{SANDBOX_DIR}/{}", v.container_path)
        };
        match v.host_path.as_deref().filter(|p| !p.is_empty()) {
            None => anonymous.push(container_path),
            Some(hp) => {
                let source = host_volume_source(hp, &owner.sandbox, settings)?;
                binds.push(format!("{}:{container_path}:{mode}", source.display()));
            }
        }
    }
    host.binds = Some(binds);
    if !anonymous.is_empty() {
        body.volumes = Some(anonymous);
    }

    if docker.privileged {
        if !settings.privileged_allowed {
            return Err(
                "Privileged containers are not allowed on this agent (--docker_privileged_allowed)"
                    .into(),
            );
        }
        host.privileged = Some(true);
    }

    apply_parameters(
        &docker.parameters,
        command.shell,
        &mut body,
        &mut host,
        &mut envs,
        &mut labels,
    )?;

    // Ours last, so task labels and parameters cannot forge them.
    labels.insert(d::LABEL_AGENT_ID.into(), owner.agent_id.clone());
    labels.insert(d::LABEL_FRAMEWORK_ID.into(), owner.framework_id.clone());
    labels.insert(d::LABEL_EXECUTOR_ID.into(), owner.executor_id.clone());
    labels.insert(d::LABEL_TASK_ID.into(), task.task_id.value.clone());
    labels.insert(d::LABEL_CONTAINER_ID.into(), owner.container_id.clone());
    body.env = Some(envs);
    body.labels = Some(labels);
    body.host_config = Some(host);
    Ok(Plan {
        image: docker.image,
        force_pull: docker.force_pull_image,
        body,
        network,
    })
}

/// The host side of a volume: a relative `host_path` is inside the sandbox; an absolute one
/// must lie under a `--docker_volume_host_paths_allowed` prefix.
fn host_volume_source(
    host_path: &str,
    sandbox: &Path,
    settings: &DockerSettings,
) -> Result<PathBuf, String> {
    let p = Path::new(host_path);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "Volume host path '{host_path}' must not contain '..'"
        ));
    }
    if p.is_relative() {
        return Ok(sandbox.join(p));
    }
    if settings
        .volume_host_paths_allowed
        .iter()
        .any(|prefix| p.starts_with(prefix))
    {
        return Ok(p.to_path_buf());
    }
    Err(format!(
        "Volume host path '{host_path}' is not allowed: it is not under any of \
         --docker_volume_host_paths_allowed ({})",
        if settings.volume_host_paths_allowed.is_empty() {
            "none".to_string()
        } else {
            settings
                .volume_host_paths_allowed
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    ))
}

/// `DockerInfo.parameters` (`--key=value` options of `docker run`) that map onto the
/// create call; any other key fails the task rather than being ignored.
fn apply_parameters(
    params: &[Parameter],
    shell: bool,
    body: &mut ContainerCreateBody,
    host: &mut HostConfig,
    envs: &mut Vec<String>,
    labels: &mut HashMap<String, String>,
) -> Result<(), String> {
    fn push(list: &mut Option<Vec<String>>, v: &str) {
        list.get_or_insert_with(Vec::new).push(v.to_string());
    }
    fn int(key: &str, v: &str) -> Result<i64, String> {
        v.trim()
            .parse()
            .map_err(|_| format!("Docker parameter '{key}': '{v}' is not an integer"))
    }
    fn boolean(key: &str, v: &str) -> Result<bool, String> {
        match v.trim() {
            "" | "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!(
                "Docker parameter '{key}': '{v}' is not true or false"
            )),
        }
    }
    let mut unknown = Vec::new();
    for p in params {
        let key = p.key.trim().trim_start_matches('-');
        let v = p.value.as_str();
        match key {
            "env" | "e" => envs.push(v.to_string()),
            "label" | "l" => {
                let (k, val) = v.split_once('=').unwrap_or((v, ""));
                labels.insert(k.to_string(), val.to_string());
            }
            "hostname" | "h" => body.hostname = Some(v.to_string()),
            "workdir" | "w" => body.working_dir = Some(v.to_string()),
            "user" | "u" => body.user = Some(v.to_string()),
            "entrypoint" => {
                // With shell=true the entrypoint is /bin/sh (Mesos overrides it too).
                if !shell {
                    body.entrypoint = Some(vec![v.to_string()]);
                }
            }
            "stop-signal" => body.stop_signal = Some(v.to_string()),
            "add-host" => push(&mut host.extra_hosts, v),
            "dns" => push(&mut host.dns, v),
            "dns-search" => push(&mut host.dns_search, v),
            "dns-option" | "dns-opt" => push(&mut host.dns_options, v),
            "cap-add" => push(&mut host.cap_add, v),
            "cap-drop" => push(&mut host.cap_drop, v),
            "security-opt" => push(&mut host.security_opt, v),
            "group-add" => push(&mut host.group_add, v),
            "init" => host.init = Some(boolean(key, v)?),
            "read-only" => host.readonly_rootfs = Some(boolean(key, v)?),
            "oom-score-adj" => host.oom_score_adj = Some(int(key, v)?),
            "pids-limit" => host.pids_limit = Some(int(key, v)?),
            "tmpfs" => {
                let (path, opts) = v.split_once(':').unwrap_or((v, ""));
                host.tmpfs
                    .get_or_insert_with(HashMap::new)
                    .insert(path.to_string(), opts.to_string());
            }
            "ulimit" => {
                let (name, limits) = v.split_once('=').ok_or_else(|| {
                    format!("Docker parameter 'ulimit': '{v}' is not name=soft[:hard]")
                })?;
                let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
                host.ulimits
                    .get_or_insert_with(Vec::new)
                    .push(ResourcesUlimits {
                        name: Some(name.to_string()),
                        soft: Some(int(key, soft)?),
                        hard: Some(int(key, hard)?),
                    });
            }
            _ => unknown.push(p.key.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "Unsupported Docker parameters: {} (supported: env, label, hostname, workdir, user, \
             entrypoint, stop-signal, add-host, dns, dns-search, dns-option, cap-add, cap-drop, \
             security-opt, group-add, init, read-only, oom-score-adj, pids-limit, tmpfs, ulimit)",
            unknown.join(", ")
        ))
    }
}

/// What the container did, for the executor loop.
#[derive(Debug)]
pub(super) enum DockerEvent {
    /// Started; its address on its network, if it has one.
    Running { ip: Option<String> },
    /// Never started (image, create or start failed).
    LaunchFailed(String),
    /// Exited (and removed).
    Exited {
        code: i64,
        oom_killed: bool,
        error: Option<String>,
    },
}

/// Find the image (pulling it when missing, or always with `force_pull_image`).
async fn ensure_image(docker: &Docker, image: &str, force_pull: bool) -> Result<(), String> {
    if !force_pull {
        match docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if d::is_not_found(&e) => {}
            Err(e) => {
                return Err(format!(
                    "Failed to inspect image '{image}': {}",
                    d::engine_error(&e)
                ))
            }
        }
    }
    let opts = bollard::query_parameters::CreateImageOptions {
        from_image: Some(image.to_string()),
        ..Default::default()
    };
    let mut pull = docker.create_image(Some(opts), None, None);
    while let Some(item) = pull.next().await {
        if let Err(e) = item {
            return Err(format!(
                "Failed to pull image '{image}': {}",
                d::engine_error(&e)
            ));
        }
    }
    // A pull can "succeed" without producing the image (e.g. a platform mismatch).
    docker
        .inspect_image(image)
        .await
        .map(|_| ())
        .map_err(|e| format!("Failed to pull image '{image}': {}", d::engine_error(&e)))
}

/// Append the container's output to the sandbox `stdout`/`stderr` files until it exits.
async fn follow_logs(docker: Docker, name: String, sandbox: PathBuf) {
    let open = |f: &str| {
        let path = sandbox.join(f);
        async move {
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
        }
    };
    let (Ok(mut out), Ok(mut err)) = (open("stdout").await, open("stderr").await) else {
        eprintln!("[mesos-docker-executor] Cannot open the sandbox stdout/stderr files");
        return;
    };
    let opts = bollard::query_parameters::LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        tail: "all".into(),
        ..Default::default()
    };
    let mut logs = docker.logs(&name, Some(opts));
    while let Some(item) = logs.next().await {
        match item {
            Ok(bollard::container::LogOutput::StdErr { message }) => {
                let _ = err.write_all(&message).await;
                let _ = err.flush().await;
            }
            Ok(
                bollard::container::LogOutput::StdOut { message }
                | bollard::container::LogOutput::Console { message },
            ) => {
                let _ = out.write_all(&message).await;
                let _ = out.flush().await;
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("[mesos-docker-executor] Log stream of {name} ended: {e}");
                break;
            }
        }
    }
}

/// The container's address on `network`.
async fn container_ip(docker: &Docker, name: &str, network: Option<&str>) -> Option<String> {
    let network = network?;
    let inspect = docker.inspect_container(name, None).await.ok()?;
    let nets = inspect.network_settings?.networks?;
    nets.get(network)
        .and_then(|n| n.ip_address.clone())
        .filter(|ip| !ip.is_empty())
}

/// Run the planned container to its end, reporting through `tx`: `Running` once started,
/// then `Exited` after the logs are drained and the container removed (or `LaunchFailed`).
pub(super) async fn run_container(
    docker: Docker,
    plan: Plan,
    name: String,
    sandbox: PathBuf,
    tx: mpsc::UnboundedSender<DockerEvent>,
) {
    if let Err(e) = ensure_image(&docker, &plan.image, plan.force_pull).await {
        let _ = tx.send(DockerEvent::LaunchFailed(e));
        return;
    }
    // A container of this name can only be a leftover of this very container ID.
    let _ = d::remove_container(&docker, &name).await;
    let opts = bollard::query_parameters::CreateContainerOptions {
        name: Some(name.clone()),
        platform: String::new(),
    };
    if let Err(e) = docker.create_container(Some(opts), plan.body.clone()).await {
        let _ = tx.send(DockerEvent::LaunchFailed(format!(
            "Failed to create container: {}",
            d::engine_error(&e)
        )));
        return;
    }
    if let Err(e) = docker.start_container(&name, None).await {
        let _ = d::remove_container(&docker, &name).await;
        let _ = tx.send(DockerEvent::LaunchFailed(format!(
            "Failed to start container: {}",
            d::engine_error(&e)
        )));
        return;
    }
    let logs = tokio::spawn(follow_logs(docker.clone(), name.clone(), sandbox));
    let ip = container_ip(&docker, &name, plan.network.as_deref()).await;
    let _ = tx.send(DockerEvent::Running { ip });
    let (code, oom_killed, error) = wait_exit(&docker, &name).await;
    // The log stream ends with the container; bounded in case the engine keeps it open.
    let _ = tokio::time::timeout(Duration::from_secs(10), logs).await;
    if let Err(e) = d::remove_container(&docker, &name).await {
        eprintln!("[mesos-docker-executor] Cannot remove container {name}: {e}");
    }
    let _ = tx.send(DockerEvent::Exited {
        code,
        oom_killed,
        error,
    });
}

/// Wait for the container to stop; its exit code, whether it was OOM-killed, and the
/// engine's error if the wait itself failed.
async fn wait_exit(docker: &Docker, name: &str) -> (i64, bool, Option<String>) {
    loop {
        let mut wait = docker.wait_container(name, None);
        let res = wait.next().await;
        let inspect = docker.inspect_container(name, None).await;
        match inspect {
            Ok(i) => {
                let state = i.state.unwrap_or_default();
                if state.running == Some(true) {
                    // The wait call broke off (engine restart, timeout): wait again.
                    eprintln!("[mesos-docker-executor] Waiting for {name} broke off: {res:?}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                let error = state.error.filter(|e| !e.is_empty());
                return (
                    state.exit_code.unwrap_or(-1),
                    state.oom_killed.unwrap_or(false),
                    error,
                );
            }
            Err(e) => {
                let code = match res {
                    Some(Ok(r)) => r.status_code,
                    Some(Err(bollard::errors::Error::DockerContainerWaitError {
                        code, ..
                    })) => code,
                    _ => -1,
                };
                return (code, false, Some(d::engine_error(&e)));
            }
        }
    }
}

/// `docker stop --time=<grace>`: SIGTERM (or the image's stop signal), SIGKILL after `grace`.
pub(super) async fn stop_container(docker: Docker, name: String, grace: Duration) {
    let secs = grace.as_secs_f64().ceil() as i32;
    let opts = bollard::query_parameters::StopContainerOptions {
        t: Some(secs),
        signal: None,
    };
    if let Err(e) = docker.stop_container(&name, Some(opts)).await {
        if !d::is_not_found(&e) {
            eprintln!(
                "[mesos-docker-executor] Cannot stop {name}: {}",
                d::engine_error(&e)
            );
            let _ = docker
                .kill_container(
                    &name,
                    None::<bollard::query_parameters::KillContainerOptions>,
                )
                .await;
        }
    }
}

/// `docker kill`: SIGKILL now.
pub(super) async fn kill_container(docker: Docker, name: String) {
    let _ = docker
        .kill_container(
            &name,
            None::<bollard::query_parameters::KillContainerOptions>,
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner() -> Owner {
        Owner {
            agent_id: "A1".into(),
            framework_id: "F".into(),
            executor_id: "t1".into(),
            container_id: "c1".into(),
            sandbox: PathBuf::from("/work/sandbox"),
        }
    }

    fn task(container: serde_json::Value, command: serde_json::Value) -> TaskInfo {
        serde_json::from_value(json!({
            "name": "t1", "task_id": {"value": "t1"}, "agent_id": {"value": "A1"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}},
                          {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}}],
            "command": command,
            "container": container,
            "labels": {"labels": [{"key": "team", "value": "a"}]}
        }))
        .unwrap()
    }

    fn docker(extra: serde_json::Value) -> serde_json::Value {
        let mut d = json!({"image": "img:1"});
        d.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"type": "DOCKER", "docker": d})
    }

    #[test]
    fn shell_command_env_labels_and_limits() {
        let t = task(docker(json!({})), json!({"value": "echo hi"}));
        let env = vec![
            ("MESOS_TASK_ID".to_string(), "t1".to_string()),
            ("MESOS_SANDBOX".to_string(), "/host".to_string()),
        ];
        let p = plan(&t, &env, &owner(), &DockerSettings::default()).unwrap();
        assert_eq!(p.image, "img:1");
        assert_eq!(p.body.entrypoint, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(
            p.body.cmd,
            Some(vec!["-c".to_string(), "echo hi".to_string()])
        );
        let envs = p.body.env.unwrap();
        assert!(envs.contains(&"MESOS_SANDBOX=/mnt/mesos/sandbox".to_string()));
        assert!(envs.contains(&"MESOS_TASK_ID=t1".to_string()));
        assert!(!envs.contains(&"MESOS_SANDBOX=/host".to_string()));
        let labels = p.body.labels.unwrap();
        assert_eq!(labels["team"], "a");
        assert_eq!(labels["mesos.container_id"], "c1");
        assert_eq!(labels["mesos.task_id"], "t1");
        assert_eq!(labels["mesos.agent_id"], "A1");
        let h = p.body.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert_eq!(h.cpu_shares, Some(614)); // 1024 x (0.5 + 0.1)
                                             // No CPU quota unless --cgroups_enable_cfs (Mesos' default).
        assert_eq!(h.cpu_quota, None);
        let cfs = DockerSettings {
            cgroups_enable_cfs: true,
            ..Default::default()
        };
        let h = plan(&t, &env, &owner(), &cfs)
            .unwrap()
            .body
            .host_config
            .unwrap();
        assert_eq!((h.cpu_period, h.cpu_quota), (Some(100_000), Some(60_000)));
        assert_eq!(h.memory, Some(96 * 1024 * 1024)); // 64 + 32 MB
        assert_eq!(h.binds.unwrap()[0], "/work/sandbox:/mnt/mesos/sandbox:rw");
    }

    #[test]
    fn non_shell_command_goes_to_the_entrypoint() {
        let t = task(
            docker(json!({})),
            json!({"shell": false, "value": "httpd", "arguments": ["-f", "-p", "80"]}),
        );
        let p = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap();
        assert_eq!(p.body.entrypoint, None);
        assert_eq!(
            p.body.cmd,
            Some(vec!["httpd".into(), "-f".into(), "-p".into(), "80".into()])
        );
        let t = task(docker(json!({})), json!({"shell": false}));
        let p = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap();
        assert_eq!(p.body.cmd, None, "image default command");
    }

    #[test]
    fn bridge_port_mappings_must_be_in_the_ports_resources() {
        let t = task(
            docker(
                json!({"network": "BRIDGE", "port_mappings": [{"host_port": 31001, "container_port": 8080}]}),
            ),
            json!({"value": "x"}),
        );
        let p = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap();
        assert_eq!(p.network.as_deref(), Some("bridge"));
        assert_eq!(p.body.exposed_ports, Some(vec!["8080/tcp".to_string()]));
        let h = p.body.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("bridge"));
        let b = &h.port_bindings.unwrap()["8080/tcp"];
        assert_eq!(b.as_ref().unwrap()[0].host_port.as_deref(), Some("31001"));
        let t = task(
            docker(
                json!({"network": "BRIDGE", "port_mappings": [{"host_port": 32000, "container_port": 8080}]}),
            ),
            json!({"value": "x"}),
        );
        let e = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap_err();
        assert!(e.contains("host port 32000"), "{e}");
        let t = task(
            docker(json!({"port_mappings": [{"host_port": 31001, "container_port": 8080}]})),
            json!({"value": "x"}),
        );
        assert!(plan(&t, &[], &owner(), &DockerSettings::default()).is_err());
    }

    #[test]
    fn user_and_none_networks() {
        let mut c = docker(json!({"network": "USER"}));
        let t = task(c.clone(), json!({"value": "x"}));
        assert!(plan(&t, &[], &owner(), &DockerSettings::default())
            .unwrap_err()
            .contains("network_infos[0].name"));
        c["network_infos"] = json!([{"name": "net1"}]);
        let t = task(c, json!({"value": "x"}));
        let p = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap();
        assert_eq!(p.network.as_deref(), Some("net1"));
        let t = task(docker(json!({"network": "NONE"})), json!({"value": "x"}));
        let p = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap();
        assert_eq!(
            p.body.host_config.unwrap().network_mode.as_deref(),
            Some("none")
        );
    }

    #[test]
    fn volumes_need_an_allowed_prefix() {
        let mut c = docker(json!({}));
        c["volumes"] = json!([{"container_path": "/data", "host_path": "/srv/data", "mode": "RO"}]);
        let t = task(c.clone(), json!({"value": "x"}));
        let e = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap_err();
        assert!(e.contains("--docker_volume_host_paths_allowed"), "{e}");
        let s = DockerSettings {
            volume_host_paths_allowed: vec![PathBuf::from("/srv")],
            ..Default::default()
        };
        let p = plan(&t, &[], &owner(), &s).unwrap();
        assert!(p
            .body
            .host_config
            .unwrap()
            .binds
            .unwrap()
            .contains(&"/srv/data:/data:ro".to_string()));
        let s = DockerSettings {
            volume_host_paths_allowed: vec![PathBuf::from("/sr")],
            ..Default::default()
        };
        assert!(
            plan(&t, &[], &owner(), &s).is_err(),
            "prefixes are whole path components"
        );
        c["volumes"] = json!([{"container_path": "cache", "host_path": "cache", "mode": "RW"},
                              {"container_path": "/scratch", "mode": "RW"}]);
        let t = task(c.clone(), json!({"value": "x"}));
        let p = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap();
        assert!(p
            .body
            .host_config
            .unwrap()
            .binds
            .unwrap()
            .contains(&"/work/sandbox/cache:/mnt/mesos/sandbox/cache:rw".to_string()));
        assert_eq!(p.body.volumes, Some(vec!["/scratch".to_string()]));
        c["volumes"] = json!([{"container_path": "/x", "host_path": "../../etc", "mode": "RW"}]);
        let t = task(c, json!({"value": "x"}));
        assert!(plan(&t, &[], &owner(), &DockerSettings::default()).is_err());
    }

    #[test]
    fn parameters_privileged_and_unknown_keys() {
        let t = task(
            docker(json!({"parameters": [
                {"key": "env", "value": "A=1"}, {"key": "label", "value": "k=v"},
                {"key": "hostname", "value": "h1"}, {"key": "workdir", "value": "/tmp"},
                {"key": "user", "value": "nobody"}, {"key": "ulimit", "value": "nofile=100:200"}]})),
            json!({"value": "x"}),
        );
        let p = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap();
        assert!(p.body.env.unwrap().contains(&"A=1".to_string()));
        assert_eq!(p.body.labels.unwrap()["k"], "v");
        assert_eq!(p.body.hostname.as_deref(), Some("h1"));
        assert_eq!(p.body.working_dir.as_deref(), Some("/tmp"));
        assert_eq!(p.body.user.as_deref(), Some("nobody"));
        assert_eq!(
            p.body.host_config.unwrap().ulimits.unwrap()[0].hard,
            Some(200)
        );
        let t = task(
            docker(
                json!({"parameters": [{"key": "volume-driver", "value": "x"}, {"key": "memory", "value": "1g"}]}),
            ),
            json!({"value": "x"}),
        );
        let e = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap_err();
        assert!(e.contains("volume-driver, memory"), "{e}");
        let t = task(docker(json!({"privileged": true})), json!({"value": "x"}));
        let e = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap_err();
        assert!(e.contains("--docker_privileged_allowed"), "{e}");
        let s = DockerSettings {
            privileged_allowed: true,
            ..Default::default()
        };
        assert_eq!(
            plan(&t, &[], &owner(), &s)
                .unwrap()
                .body
                .host_config
                .unwrap()
                .privileged,
            Some(true)
        );
    }

    #[test]
    fn our_labels_cannot_be_forged() {
        let t = task(
            docker(json!({"parameters": [{"key": "label", "value": "mesos.agent_id=other"}]})),
            json!({"value": "x"}),
        );
        let p = plan(&t, &[], &owner(), &DockerSettings::default()).unwrap();
        assert_eq!(p.body.labels.unwrap()["mesos.agent_id"], "A1");
    }
}

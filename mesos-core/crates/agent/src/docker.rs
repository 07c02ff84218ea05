//! The Docker containerizer, agent side (`--containerizers=docker[,mesos]`).
//!
//! A command task with `container.type: DOCKER` runs under the docker executor: this
//! binary in `MESOS_RS_EXECUTOR_MODE=docker` (like Mesos' `mesos-docker-executor`), started
//! as a process by the process containerizer like any command executor. The executor
//! drives the engine (`executor/docker.rs`): it creates and starts the task's container
//! `mesos-<container id>`, follows its logs into the sandbox, stops it on KILL and removes
//! it once the task ended. Status updates, checkpointing and recovery after an agent
//! restart are the command executor's.
//!
//! What the agent adds ([`DockerContainerizer`]): a task container is removed when its
//! executor's container is destroyed or its executor exits (crashed executors leave nothing
//! running), and at start the containers of this agent (label `mesos.agent_id`) that no
//! live executor owns are removed as orphans ([`remove_orphans`]).

use crate::containerizer::{BoxFut, ContainerSpec, Containerizer, Limitation};
use bollard::Docker;
use mesos_proto::ids::ContainerId;
use mesos_proto::resources::Resources;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Task containers are named `mesos-<container id>`.
pub const NAME_PREFIX: &str = "mesos-";
/// Where the sandbox is mounted in task containers (`MESOS_SANDBOX`).
pub const SANDBOX_DIR: &str = "/mnt/mesos/sandbox";
pub const LABEL_AGENT_ID: &str = "mesos.agent_id";
pub const LABEL_FRAMEWORK_ID: &str = "mesos.framework_id";
pub const LABEL_EXECUTOR_ID: &str = "mesos.executor_id";
pub const LABEL_TASK_ID: &str = "mesos.task_id";
pub const LABEL_CONTAINER_ID: &str = "mesos.container_id";

/// The engine API version we speak (Docker 20.10); newer engines accept it too.
const API_VERSION: bollard::ClientVersion = bollard::ClientVersion {
    major_version: 1,
    minor_version: 41,
};
/// Per-request timeout (headers only for streaming calls such as wait and logs).
const REQUEST_TIMEOUT_SECS: u64 = 300;

/// Environment variables the agent gives the docker executor.
pub const ENV_SOCKET: &str = "MESOS_RS_DOCKER_SOCKET";
pub const ENV_VOLUME_HOST_PATHS_ALLOWED: &str = "MESOS_RS_DOCKER_VOLUME_HOST_PATHS_ALLOWED";
pub const ENV_PRIVILEGED_ALLOWED: &str = "MESOS_RS_DOCKER_PRIVILEGED_ALLOWED";
pub const ENV_CGROUPS_ENABLE_CFS: &str = "MESOS_RS_DOCKER_CGROUPS_ENABLE_CFS";
pub const ENV_CONTAINER_ID: &str = "MESOS_RS_CONTAINER_ID";
/// Mesos gives its docker executor the task container's name in this variable.
pub const ENV_CONTAINER_NAME: &str = "MESOS_CONTAINER_NAME";

/// The task container's name.
pub fn container_name(container_id: &str) -> String {
    format!("{NAME_PREFIX}{container_id}")
}

/// The docker flags, as the agent passes them on to its docker executors.
#[derive(Clone, Debug, Default)]
pub struct DockerSettings {
    pub socket: String,
    pub volume_host_paths_allowed: Vec<PathBuf>,
    pub privileged_allowed: bool,
    /// `--cgroups_enable_cfs`: give containers a hard CPU quota (`--cpu-quota`), as
    /// Mesos' docker containerizer does only with that flag.
    pub cgroups_enable_cfs: bool,
}

impl DockerSettings {
    /// The executor environment carrying these settings.
    pub fn env(&self, container_id: &ContainerId) -> Vec<(String, String)> {
        let paths: Vec<String> = self
            .volume_host_paths_allowed
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        vec![
            (ENV_SOCKET.into(), self.socket.clone()),
            (ENV_VOLUME_HOST_PATHS_ALLOWED.into(), paths.join(",")),
            (
                ENV_PRIVILEGED_ALLOWED.into(),
                self.privileged_allowed.to_string(),
            ),
            (
                ENV_CGROUPS_ENABLE_CFS.into(),
                self.cgroups_enable_cfs.to_string(),
            ),
            (ENV_CONTAINER_ID.into(), container_id.value.clone()),
            (
                ENV_CONTAINER_NAME.into(),
                container_name(&container_id.value),
            ),
        ]
    }

    /// Read back by the executor.
    pub fn from_env() -> DockerSettings {
        let var = |n: &str| std::env::var(n).unwrap_or_default();
        let socket = var(ENV_SOCKET);
        DockerSettings {
            socket: if socket.is_empty() {
                "/var/run/docker.sock".into()
            } else {
                socket
            },
            volume_host_paths_allowed: var(ENV_VOLUME_HOST_PATHS_ALLOWED)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
            privileged_allowed: var(ENV_PRIVILEGED_ALLOWED) == "true",
            cgroups_enable_cfs: var(ENV_CGROUPS_ENABLE_CFS) == "true",
        }
    }
}

/// Connect to the engine at `socket` (a path or `unix://path`) and check that it answers.
pub async fn connect(socket: &str) -> Result<Docker, String> {
    let docker = Docker::connect_with_unix(socket, REQUEST_TIMEOUT_SECS, &API_VERSION)
        .map_err(|e| format!("cannot reach the Docker engine at {socket}: {e}"))?;
    let version = tokio::time::timeout(Duration::from_secs(20), docker.version())
        .await
        .map_err(|_| format!("the Docker engine at {socket} does not answer"))?
        .map_err(|e| format!("cannot reach the Docker engine at {socket}: {e}"))?;
    tracing::debug!(
        "Docker engine {} (API {})",
        version.version.unwrap_or_default(),
        version.api_version.unwrap_or_default()
    );
    Ok(docker)
}

/// A human-readable engine error (the engine's own message when it sent one).
pub fn engine_error(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Whether an engine error is a 404 (no such container or image).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Remove a container with its anonymous volumes, whatever its state. Gone already is fine.
pub async fn remove_container(docker: &Docker, name: &str) -> Result<(), String> {
    let opts = bollard::query_parameters::RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    match docker.remove_container(name, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // "removal of container ... is already in progress"
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(engine_error(&e)),
    }
}

/// The `mesos-*` containers of agent `agent_id`: `(name, container id label)`.
pub async fn agent_containers(
    docker: &Docker,
    agent_id: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut filters = HashMap::new();
    filters.insert(
        "label".to_string(),
        vec![format!("{LABEL_AGENT_ID}={agent_id}")],
    );
    filters.insert("name".to_string(), vec![NAME_PREFIX.to_string()]);
    let opts = bollard::query_parameters::ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let list = docker
        .list_containers(Some(opts))
        .await
        .map_err(|e| engine_error(&e))?;
    let mut out = Vec::new();
    for c in list {
        let Some(name) = c
            .names
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .find(|n| n.starts_with(NAME_PREFIX))
        else {
            continue;
        };
        let cid = c
            .labels
            .unwrap_or_default()
            .get(LABEL_CONTAINER_ID)
            .cloned()
            .unwrap_or_else(|| name[NAME_PREFIX.len()..].to_string());
        out.push((name, cid));
    }
    Ok(out)
}

/// At agent start: remove this agent's task containers that no live executor owns (their
/// executor died while the agent was away, or the checkpoint never knew them). Containers
/// of other agents on the same engine are left alone. Returns the names removed.
pub async fn remove_orphans(
    docker: &Docker,
    agent_id: &str,
    known: &[ContainerId],
) -> Result<Vec<String>, String> {
    let known: HashSet<&str> = known.iter().map(|c| c.value.as_str()).collect();
    let mut removed = Vec::new();
    for (name, cid) in agent_containers(docker, agent_id).await? {
        if known.contains(cid.as_str()) {
            continue;
        }
        tracing::info!("Removing orphan Docker container {name} (container {cid})");
        match remove_container(docker, &name).await {
            Ok(()) => removed.push(name),
            Err(e) => tracing::warn!("Cannot remove orphan Docker container {name}: {e}"),
        }
    }
    Ok(removed)
}

/// The process containerizer for executors, plus removal of an executor's task container
/// when the executor's container is destroyed or exits.
pub struct DockerContainerizer {
    inner: Arc<dyn Containerizer>,
    docker: Docker,
}

impl DockerContainerizer {
    pub fn new(inner: Arc<dyn Containerizer>, docker: Docker) -> Arc<Self> {
        Arc::new(DockerContainerizer { inner, docker })
    }

    async fn remove_task_container(&self, cid: &ContainerId) {
        let name = container_name(&cid.value);
        if let Err(e) = remove_container(&self.docker, &name).await {
            tracing::warn!("Cannot remove Docker container {name}: {e}");
        }
    }
}

impl Containerizer for DockerContainerizer {
    fn launch(&self, spec: ContainerSpec) -> BoxFut<'_, Result<u32, String>> {
        self.inner.launch(spec)
    }

    fn wait(&self, container_id: ContainerId) -> BoxFut<'_, Option<i32>> {
        Box::pin(async move {
            let status = self.inner.wait(container_id.clone()).await;
            // The executor removes its container before it reports the task's end; one that
            // crashed may have left it running.
            self.remove_task_container(&container_id).await;
            status
        })
    }

    fn destroy(&self, container_id: ContainerId) -> BoxFut<'_, ()> {
        Box::pin(async move {
            self.inner.destroy(container_id.clone()).await;
            self.remove_task_container(&container_id).await;
        })
    }

    fn recover(&self, container_id: ContainerId, pid: u32) -> BoxFut<'_, ()> {
        self.inner.recover(container_id, pid)
    }

    fn limitation(&self, container_id: &ContainerId) -> Option<Limitation> {
        self.inner.limitation(container_id)
    }

    fn update(&self, container_id: &ContainerId, resources: &Resources) {
        self.inner.update(container_id, resources)
    }

    fn usage(&self, container_id: &ContainerId) -> Option<crate::cgroups::Usage> {
        self.inner.usage(container_id)
    }
}

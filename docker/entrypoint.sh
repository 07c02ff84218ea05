#!/bin/bash
# Entrypoint of the dev cluster's image: `zookeeper`, `master`, `agent` or `marathon`,
# then extra flags for the binary. Every Mesos flag can also come from the environment as
# MESOS_<FLAG>, every Marathon flag as MARATHON_<FLAG> (docker-compose.yml sets them that
# way). Computed here:
#   master: binds 0.0.0.0 and advertises the container's IP (MESOS_ADVERTISE_IP overrides),
#           so redirects and the leader's ZooKeeper entry name an address every container
#           (and, on Linux, the host) reaches.
#   agent:  binds 0.0.0.0 (executors reach it on 127.0.0.1, also while the container is
#           cut off from the network), advertises the container's IP as its hostname
#           (MESOS_HOSTNAME overrides) and works in $MESOS_RS_AGENT_ROOT/<container
#           hostname>: that root is a host directory mounted at the same path, so the
#           sandboxes the host's Docker engine bind-mounts into task containers exist.
#   marathon: listens on 0.0.0.0 and advertises the container's IP (MARATHON_HOSTNAME
#           overrides) in its framework info and /v2/leader, like the masters.
set -euo pipefail

container_ip() {
    local ip
    ip="$(ip -4 -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4; exit}')"
    [ -n "$ip" ] || ip="$(hostname -i | awk '{print $1}')"
    echo "$ip"
}

role="${1:-help}"
[ $# -gt 0 ] && shift

case "$role" in
zookeeper)
    data="${ZK_DATA_DIR:-/var/lib/zookeeper-data}"
    mkdir -p "$data"
    exec java -Dzookeeper.admin.enableServer=false \
        -Dzookeeper.4lw.commands.whitelist=ruok,srvr,mntr,stat \
        -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar \
        org.apache.zookeeper.server.ZooKeeperServerMain \
        "${ZK_PORT:-2181}" "$data" "${ZK_TICK_TIME:-2000}" "$@"
    ;;
zk-healthy)
    # Healthcheck: ZooKeeper answers `ruok` with `imok`.
    exec 3<>"/dev/tcp/127.0.0.1/${ZK_PORT:-2181}"
    printf ruok >&3
    read -r -t 3 answer <&3 || true
    [ "${answer:-}" = imok ]
    ;;
master)
    export MESOS_IP="${MESOS_IP:-0.0.0.0}"
    export MESOS_ADVERTISE_IP="${MESOS_ADVERTISE_IP:-$(container_ip)}"
    export MESOS_WORK_DIR="${MESOS_WORK_DIR:-/var/lib/mesos}"
    exec /usr/local/bin/mesos-master "$@"
    ;;
agent)
    root="${MESOS_RS_AGENT_ROOT:?MESOS_RS_AGENT_ROOT must name the host directory mounted at the same path}"
    export MESOS_IP="${MESOS_IP:-0.0.0.0}"
    export MESOS_HOSTNAME="${MESOS_HOSTNAME:-$(container_ip)}"
    export MESOS_WORK_DIR="${MESOS_WORK_DIR:-$root/$(hostname)}"
    mkdir -p "$MESOS_WORK_DIR"
    exec /usr/local/bin/mesos-agent "$@"
    ;;
marathon)
    export MARATHON_HTTP_ADDRESS="${MARATHON_HTTP_ADDRESS:-0.0.0.0}"
    export MARATHON_HOSTNAME="${MARATHON_HOSTNAME:-$(container_ip)}"
    export MARATHON_WORK_DIR="${MARATHON_WORK_DIR:-/var/lib/marathon}"
    exec /usr/local/bin/marathon "$@"
    ;;
help | --help)
    echo "usage: zookeeper | master [flags] | agent [flags] | marathon [flags] | <command> [args]"
    ;;
*)
    exec "$role" "$@"
    ;;
esac

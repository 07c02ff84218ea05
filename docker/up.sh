#!/usr/bin/env bash
# Builds and starts the docker-compose dev cluster without any image registry:
#   1. the base image mesos-rs-base:bookworm, once (scripts/make-base-image.sh: debootstrap
#      from a Debian mirror + `docker import`; needs root the first time),
#   2. the release binaries mesos-master and mesos-agent (package mesos-core) and marathon
#      (package marathon), staged into docker/bin/,
#   3. `docker-compose up -d --build` (the image is FROM the local base: nothing is pulled).
# Extra arguments go to `docker-compose up`, e.g. `bash docker/up.sh --scale agent=4`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null 2>&1; then
    echo "up: the docker CLI is missing: apt-get install docker.io" >&2
    exit 1
fi
if command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    echo "up: docker-compose is missing: apt-get install docker-compose" >&2
    exit 1
fi

bash scripts/make-base-image.sh "${MESOS_RS_BASE_IMAGE:-mesos-rs-base:bookworm}"

bins=(mesos-master mesos-agent marathon)
cargo build --release -p mesos-core -p marathon "${bins[@]/#/--bin=}"
target="${CARGO_TARGET_DIR:-target}"
mkdir -p docker/bin
for b in "${bins[@]}"; do
    cp "$target/release/$b" "docker/bin/$b.tmp"
    strip "docker/bin/$b.tmp" 2>/dev/null || true
    mv "docker/bin/$b.tmp" "docker/bin/$b"
done
# Where the agents' work dirs live on the host (mounted at the same path in the agents).
mkdir -p "${MESOS_RS_AGENT_ROOT:-/tmp/mesos-rs-compose/agents}"

"${compose[@]}" up -d --build "$@"
"${compose[@]}" ps

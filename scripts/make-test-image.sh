#!/usr/bin/env bash
# Builds the Docker test image (default tag mesos-test-busybox:1) without a registry: a
# `FROM scratch` image holding Debian's static busybox and its applet links.
# Idempotent: does nothing when the image exists. Needs a running Docker engine (docker.io)
# and busybox-static (`apt-get install busybox-static`).
#
#   bash scripts/make-test-image.sh [tag]
set -euo pipefail

TAG="${1:-mesos-test-busybox:1}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"

if ! command -v docker >/dev/null 2>&1; then
    echo "make-test-image: the docker CLI is missing: apt-get install docker.io" >&2
    exit 1
fi
if ! docker version >/dev/null 2>&1; then
    echo "make-test-image: the Docker engine does not answer: install docker.io and start dockerd" >&2
    exit 1
fi
if docker image inspect "$TAG" >/dev/null 2>&1; then
    exit 0
fi
if [ ! -x "$BUSYBOX" ] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
    if [ ! -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
        echo "make-test-image: a static $BUSYBOX is missing: apt-get install busybox-static" >&2
        exit 1
    fi
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc" "$ctx/rootfs/mnt/mesos/sandbox"
cp "$BUSYBOX" "$ctx/rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$ctx/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
chmod 1777 "$ctx/rootfs/tmp"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
CMD ["/bin/sh"]
DOCKERFILE
if ! out="$(docker build -q -t "$TAG" "$ctx" 2>&1)"; then echo "$out" >&2; exit 1; fi
echo "make-test-image: built $TAG"

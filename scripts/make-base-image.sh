#!/usr/bin/env bash
# Builds the base image of the docker-compose dev cluster (default tag
# mesos-rs-base:bookworm) without any image registry: debootstrap a minimal Debian
# bookworm from a Debian package mirror, install ZooKeeper (with its Java runtime),
# procps, iproute2 and curl into it with apt, and `docker import` the tree. The images of
# docker/Dockerfile start `FROM` it, so they build with no pull at all.
#
# Idempotent: does nothing when the image exists (`--force` rebuilds it). Takes two to
# four minutes. Needs root (debootstrap, chroot), a running Docker engine (docker.io),
# debootstrap (`apt-get install debootstrap`) and a reachable Debian mirror: DEBIAN_MIRROR
# (default http://deb.debian.org/debian; any mirror or apt proxy of Debian works).
#
#   sudo bash scripts/make-base-image.sh [--force] [tag]
#
# Without root or mirror access, make the image on another machine and carry it over:
#   docker save mesos-rs-base:bookworm | gzip > base.tar.gz     (there)
#   gunzip -c base.tar.gz | docker load                          (here)
set -euo pipefail

FORCE=0
if [ "${1:-}" = "--force" ]; then
    FORCE=1
    shift
fi
TAG="${1:-mesos-rs-base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="zookeeper default-jre-headless procps iproute2 curl ca-certificates"

die() {
    echo "make-base-image: $*" >&2
    exit 1
}

command -v docker >/dev/null 2>&1 || die "the docker CLI is missing: apt-get install docker.io"
docker version >/dev/null 2>&1 || die "the Docker engine does not answer: install docker.io and start dockerd"
if [ "$FORCE" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    exit 0
fi
[ "$(id -u)" = 0 ] || die "debootstrap needs root: run it with sudo"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing: apt-get install debootstrap"

root="$(mktemp -d /var/tmp/mesos-rs-base.XXXXXX)"
cleanup() {
    umount "$root/proc" 2>/dev/null || true
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "make-base-image: debootstrap $SUITE from $MIRROR (a few minutes)"
if ! debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1; then
    tail -20 "$root.log" >&2
    rm -f "$root.log"
    die "debootstrap failed (is $MIRROR reachable? set DEBIAN_MIRROR)"
fi
rm -f "$root.log"

echo "make-base-image: installing $PACKAGES"
# Java's post-installation scripts need /proc.
mount -t proc proc "$root/proc"
if ! chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -c \
    "apt-get update -q && apt-get install -y -q --no-install-recommends $PACKAGES && apt-get clean" \
    >"$root.log" 2>&1; then
    tail -20 "$root.log" >&2
    rm -f "$root.log"
    die "apt-get install inside the image failed"
fi
rm -f "$root.log"
umount "$root/proc"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/tmp/* "$root"/var/log/*.log
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"

echo "make-base-image: importing as $TAG"
tar --numeric-owner -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["/bin/bash"]' \
    -m "debootstrap --variant=minbase $SUITE + $PACKAGES" \
    - "$TAG" >/dev/null
echo "make-base-image: built $TAG"

#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (run as root).
# Idempotent: work that is already done is skipped.
#
#   bash scripts/install-test-deps.sh
#
# Python packages go into the interpreter that `python3` resolves to (the same one
# the tests run), through that interpreter's own pip (`python3 -m pip`).
set -euo pipefail

log() { echo "[install-test-deps] $*"; }

PYTHON="${PYTHON:-python3}"

# ---------------------------------------------------------------------------
# Debian packages.
# Hook: later issues add apt packages here (e.g. zookeeper for the HA tests,
# chromium for the web UI tests). Keep the list in APT_PACKAGES; only missing
# packages are installed, and `apt-get update` runs only when something is missing.
# ---------------------------------------------------------------------------
APT_PACKAGES=(
    zookeeper                # ZooKeeper server for the election and registry tests
    busybox-static           # the Docker containerizer tests' image (scripts/make-test-image.sh)
    debootstrap              # the compose cluster's base image (scripts/make-base-image.sh)
    docker-compose           # the compose dev cluster test
    chromium                 # the web UI tests' headless browser
    chromium-driver          # ... driven through WebDriver (chromedriver)
)
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    APT_PACKAGES+=(python3 python3-pip python3-venv)
elif ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    APT_PACKAGES+=(python3-pip)
fi
missing=()
for p in "${APT_PACKAGES[@]+"${APT_PACKAGES[@]}"}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
else
    log "apt packages: nothing to install"
fi

# ---------------------------------------------------------------------------
# pymesos 0.3.15 (scheduler/executor compatibility tests, mesos-core/tests/pymesos.rs).
# Its dependency http-parser 0.9.0 has a C extension that does not compile on
# Python >= 3.11 (missing longintrepr.h); its pure-Python parser works, so install
# it from the sdist with the extension build turned off (spec section 7.6).
# ---------------------------------------------------------------------------
PIP=("$PYTHON" -m pip)
PIP_FLAGS=(--disable-pip-version-check --no-input)
# Debian's system python refuses `pip install` outside a venv (PEP 668) unless told.
if "$PYTHON" -c 'import sys, sysconfig, os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")) else 1)' 2>/dev/null; then
    PIP_FLAGS+=(--break-system-packages)
fi

if "$PYTHON" -c 'import pymesos, sys; sys.exit(0 if pymesos.__VERSION__ == "0.3.15" else 1)' >/dev/null 2>&1; then
    log "pymesos 0.3.15 already installed in $("$PYTHON" -c 'import sys; print(sys.executable)'): skipping"
else
    if "$PYTHON" -c 'import http_parser' >/dev/null 2>&1; then
        log "http-parser already installed: skipping"
    else
        tmp="$(mktemp -d)"
        trap 'rm -rf "$tmp"' EXIT
        log "downloading the http-parser 0.9.0 sdist"
        (cd "$tmp" && "${PIP[@]}" download "${PIP_FLAGS[@]}" --no-deps --no-binary :all: http-parser==0.9.0)
        log "patching http-parser 0.9.0 to skip its C extension"
        tar -xzf "$tmp"/http-parser-0.9.0.tar.gz -C "$tmp"
        sed -i 's/run_setup(not IS_PYPY)/run_setup(False)/' "$tmp"/http-parser-0.9.0/setup.py
        grep -q 'run_setup(False)' "$tmp"/http-parser-0.9.0/setup.py \
            || { echo "patching http-parser setup.py failed" >&2; exit 1; }
        log "pip install ./http-parser-0.9.0"
        "${PIP[@]}" install "${PIP_FLAGS[@]}" "$tmp"/http-parser-0.9.0
    fi
    log "pip install pymesos==0.3.15"
    "${PIP[@]}" install "${PIP_FLAGS[@]}" pymesos==0.3.15
    "$PYTHON" -c 'import pymesos; print("[install-test-deps] pymesos", pymesos.__VERSION__, "OK")'
fi

if "$PYTHON" -c 'import importlib.metadata as m, sys; sys.exit(0 if m.version("marathon") == "0.13.0" else 1)' >/dev/null 2>&1; then
    log "marathon 0.13.0 (python client) already installed: skipping"
else
    log "pip install marathon==0.13.0 (the python Marathon client the conformance test drives)"
    "${PIP[@]}" install "${PIP_FLAGS[@]}" marathon==0.13.0
fi

log "done"

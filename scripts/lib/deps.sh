# Shared install helpers for the scripts in scripts/ (source this file; bash only).
# Every install step the project needs lives here, so a fresh machine (CI) gets it.

# Repository root and the gitignored state directory (one subdirectory per service).
BREAKWATER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BREAKWATER_RUN="$BREAKWATER_ROOT/.run"

# ensure_apt_packages PKG...: installs the Debian packages that are missing; runs
# `apt-get update` at most once per process and only when something is missing.
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; return 1; }
        sudo=(sudo)
    fi
    echo "installing ${missing[*]}" >&2
    if [ -z "${BREAKWATER_APT_UPDATED:-}" ]; then
        "${sudo[@]}" apt-get update -q >&2 || { echo "error: apt-get update failed" >&2; return 1; }
        BREAKWATER_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
        || { echo "error: apt-get install ${missing[*]} failed" >&2; return 1; }
}

# ensure_native_deps: what building and running Breakwater needs besides Swift:
# librdkafka headers/library (the CRdKafka module), pkg-config (which finds them for
# SwiftPM), jemalloc (`breakwater` allocates with it, see Package.swift)
# and kcat (the broker readiness probe and benchmark baseline).
ensure_native_deps() {
    ensure_apt_packages librdkafka-dev libjemalloc-dev kcat pkg-config
}

# ensure_venv_package NAME VERSION: installs NAME==VERSION from PyPI into the project venv
# .run/venv (created if absent), unless that version is there already.
ensure_venv_package() {
    local venv="$BREAKWATER_RUN/venv" name=$1 version=$2
    if [ ! -x "$venv/bin/python" ]; then
        command -v python3 >/dev/null || ensure_apt_packages python3 python3-venv
        python3 -m venv "$venv" >&2 || { echo "error: cannot create venv $venv (install python3-venv)" >&2; return 1; }
    fi
    if [ "$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null)" != "$version" ]; then
        "$venv/bin/pip" install -q "$name==$version" >&2 || { echo "error: pip install $name==$version failed" >&2; return 1; }
    fi
}

# NOIDA_VERSION: the pinned noida-db wheel that provides the local broker.
NOIDA_VERSION="0.2.3"

# ensure_noida: installs noida-db==$NOIDA_VERSION into the project venv .run/venv (created
# if absent) and prints the path of the server binary inside the wheel. Running that
# binary directly (not the `noida-db` console script, a Python wrapper) makes the PID
# we record the broker's own.
ensure_noida() {
    local venv="$BREAKWATER_RUN/venv"
    ensure_venv_package noida-db "$NOIDA_VERSION" || return 1
    local bin
    bin="$("$venv/bin/python" -c 'import os, noida_db; print(os.path.join(os.path.dirname(noida_db.__file__), "noida-db"))')"
    [ -f "$bin" ] || { echo "error: noida-db binary not found at $bin" >&2; return 1; }
    chmod +x "$bin"
    printf '%s\n' "$bin"
}

# start_private_broker DIR: starts an empty local broker (noida-db) of the caller's own on
# a free port, its data and log in DIR, waits until it answers, and prints its bootstrap
# address; its PID is in DIR/pid. For measurements and runs that write gigabytes: the
# shared broker (scripts/kafka-up) keeps every topic in memory for as long as it runs (a
# few soaks there got it OOM-killed at 24 GB). Its snapshot thread runs at idle priority
# (see idle_broker_snapshots). Stop it with stop_private_broker DIR.
start_private_broker() {
    local dir=$1 port bootstrap pid i
    ensure_native_deps || return 1
    mkdir -p "$dir/data"
    port="$(free_tcp_port)" bootstrap="127.0.0.1:$port"
    "$(ensure_noida)" start --only kafka --host 127.0.0.1 --kafka-port "$port" --data-dir "$dir/data" \
        >"$dir/broker.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/pid"
    for ((i = 0; i < 120; i++)); do
        if kcat -L -b "$bootstrap" -m 2 >/dev/null 2>&1; then
            idle_broker_snapshots "$pid"
            printf '%s\n' "$bootstrap"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { echo "error: the private broker exited; see $dir/broker.log" >&2; return 1; }
        sleep 0.5
    done
    echo "error: the private broker did not answer within 60 s; see $dir/broker.log" >&2
    return 1
}

# idle_broker_snapshots PID: puts the local broker's snapshot thread ("autosave") at
# idle priority (SCHED_IDLE). While anything changes it rewrites the broker's whole state
# as one JSON file (about 2.7 KB per 700-byte record, gigabytes after a few runs), over
# and over: a whole core of the 2, taken from whatever runs beside it — in bench-worker
# more than half the broker's CPU, charged to the slower side. At idle priority it saves
# only when a core has nothing else to do. Serving requests is not affected.
idle_broker_snapshots() {
    local task
    for task in /proc/"$1"/task/*; do
        [[ "$(cat "$task/comm" 2>/dev/null)" == autosave ]] && chrt --idle -p 0 "${task##*/}" >/dev/null 2>&1
    done
    return 0
}

# stop_private_broker DIR: kills the broker start_private_broker DIR started and deletes
# its data.
stop_private_broker() {
    local dir=$1 pid i
    if [[ -f "$dir/pid" ]]; then
        pid=$(cat "$dir/pid")
        # SIGKILL: on SIGTERM it would first save all it holds (gigabytes after a soak),
        # only for the data to be deleted. Not this shell's child: poll, not wait.
        kill -9 "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        rm -f "$dir/pid"
    fi
    rm -rf "$dir/data"
}

# free_tcp_port: prints a TCP port on 127.0.0.1 that is free right now.
free_tcp_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# tcp_port_in_use PORT: succeeds when something listens on 127.0.0.1:PORT.
tcp_port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ensure_alertmanager: Debian's Alertmanager (the real sender of the HTTP ingest tests);
# prints the path of its binary. The package's own service is not used: tests start
# their own instance with their own configuration, ports and storage.
ensure_alertmanager() {
    ensure_apt_packages prometheus-alertmanager || return 1
    command -v prometheus-alertmanager
}

# ensure_promtool: Prometheus's promtool (Debian package `prometheus`), which the tests use
# to lint a live worker's /metrics and to check and unit-test deploy/prometheus/alerts.yaml.
ensure_promtool() {
    command -v promtool >/dev/null && return 0
    ensure_apt_packages prometheus
}

# MATPLOTLIB_VERSION: the pinned matplotlib that draws scripts/demo's timeline picture.
MATPLOTLIB_VERSION="3.11.2"

# ensure_matplotlib: installs matplotlib==$MATPLOTLIB_VERSION into the project venv
# .run/venv (created if absent) and prints that venv's python.
ensure_matplotlib() {
    ensure_venv_package matplotlib "$MATPLOTLIB_VERSION" || return 1
    printf '%s\n' "$BREAKWATER_RUN/venv/bin/python"
}

# CONFLUENT_KAFKA_VERSION: the pinned confluent-kafka wheel. Its bundled librdkafka hosts
# the fault-injecting mock cluster (scripts/lib/mock_cluster.py) and is the chaos run's
# producer and reader (scripts/lib/chaos.py).
CONFLUENT_KAFKA_VERSION="2.16.1"

# ensure_confluent_kafka: installs confluent-kafka==$CONFLUENT_KAFKA_VERSION into the
# project venv .run/venv (created if absent) and prints that venv's python.
ensure_confluent_kafka() {
    ensure_venv_package confluent-kafka "$CONFLUENT_KAFKA_VERSION" || return 1
    printf '%s\n' "$BREAKWATER_RUN/venv/bin/python"
}

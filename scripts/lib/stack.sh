# The local Breakwater stack, shared by scripts/dev-up, scripts/dev-down and scripts/demo
# (source this file; bash only). It builds the executables, starts the broker,
# PostgreSQL (seeded with deploy/catalog.yaml) and MLServer through their own
# scripts/*-up, then N workers (`breakwater run`) on 127.0.0.1, each with its own HTTP
# port and worker id, and stops them again: workers first (SIGTERM, then wait), then the
# services.
#
# State under .run/:
#   .run/stack/started         services this stack started (one name a line: kafka, postgres, ml);
#                              stack_stop stops only these, never a service someone else started
#   .run/stack/{kafka,postgres,ml}   their addresses; .run/stack/ml-port the pinned MLServer port
#   .run/workers/<id>.{pid,url,log}  one worker each
#
# Variables read (script knobs, never passed to the workers):
#   BREAKWATER_STACK_WORKER_WAIT  seconds a worker may take to report ready (default 90)
# Every other BREAKWATER_* variable in the environment is worker configuration and is
# passed on to the workers (e.g. BREAKWATER_LOGGING_LEVEL=debug scripts/dev-up).

# shellcheck source=deps.sh
source "$(dirname "${BASH_SOURCE[0]}")/deps.sh"

STACK_STATE="$BREAKWATER_RUN/stack"
STACK_WORKERS="$BREAKWATER_RUN/workers"
STACK_SCRIPTS="$BREAKWATER_ROOT/scripts"
# Set by stack_build: the directory holding `breakwater` and `breakwater-catalog-seed`.
STACK_BIN=""

# Variables of the scripts under the BREAKWATER_ prefix. They are not settings, so a worker
# (or produce/tail) would reject them as unknown; stack_breakwater removes them.
STACK_SCRIPT_VARIABLES=(
    BREAKWATER_KAFKA_PORT BREAKWATER_KAFKA_WAIT
    BREAKWATER_PG_USER BREAKWATER_PG_PASSWORD BREAKWATER_PG_DB BREAKWATER_PG_PORT
    BREAKWATER_ML_VENV BREAKWATER_ML_PORT BREAKWATER_CATALOG_URL BREAKWATER_APT_UPDATED
)
# The local broker (noida-db) stalls a cooperative rebalance when a member joins a
# running group, so the local workers use eager `range` assignment (unless
# BREAKWATER_KAFKA_ASSIGNMENT_STRATEGY is set), and shorter group timeouts (unless
# BREAKWATER_KAFKA_PROPERTIES is set) so a stalled or departed member is noticed in
# seconds rather than minutes. It also answers a fetch with everything up to the high
# watermark whatever the fetch limits, so the workers accept responses up to 1 GB
# (librdkafka's default refuses one over ~100 MB and the worker stops making progress).
# And it answers a fetch with no data at once instead of holding it up to
# fetch.wait.max.ms, so an idle worker would fetch in a loop (~0.5 core for it, as much
# for the broker): the local workers rest a partition whose end they reached for 200 ms
# (kafka.idleFetchBackoff, unless BREAKWATER_KAFKA_IDLE_FETCH_BACKOFF is set). A worker
# still busy with a backlog it has fetched whole has not seen that end yet, and keeps
# fetching in that loop while fewer than queued.min.messages wait in its queue: the
# worker's default (100,000, so that against a broker honouring fetch limits it never
# empties the queue before librdkafka fetches again) let the full path's broker spend
# ~340 µs of CPU per alert; since one fetch here brings all there is, the local workers
# fetch again only below 1,000.
STACK_IDLE_FETCH_BACKOFF="200ms"
STACK_ASSIGNMENT_STRATEGY="range"
STACK_KAFKA_PROPERTIES="max.poll.interval.ms=15000,session.timeout.ms=6000,receive.message.max.bytes=1000000000,queued.min.messages=1000"
# Prefixes of the same kind (this file's and the demo's knobs).
STACK_SCRIPT_PREFIXES=(BREAKWATER_STACK_ BREAKWATER_DEMO_ BREAKWATER_DEV_)

# stack_heading TEXT: a stage heading on stderr.
stack_heading() {
    printf '\n==> %s\n' "$*" >&2
}

# stack_die MESSAGE: prints the message and exits 1 (the caller's EXIT trap cleans up).
stack_die() {
    echo "error: $*" >&2
    exit 1
}

# stack_ensure_build_deps: the Swift toolchain must be on PATH (it is not a Debian
# package); installs the native libraries (ensure_native_deps), and curl when missing.
stack_ensure_build_deps() {
    command -v swift >/dev/null \
        || stack_die "swift not found on PATH; install a Swift 6.1+ toolchain (https://www.swift.org/install/linux/) and retry"
    ensure_native_deps || stack_die "cannot install the native libraries (librdkafka-dev, libjemalloc-dev, kcat, pkg-config)"
    command -v curl >/dev/null || ensure_apt_packages curl || stack_die "cannot install curl"
    command -v python3 >/dev/null || ensure_apt_packages python3 python3-venv || stack_die "cannot install python3"
}

# stack_build: debug build of `breakwater` and `breakwater-catalog-seed` in the package's
# own .build (the build the tests use); sets STACK_BIN. The compiler output goes to
# stderr; on failure its last lines name the problem.
stack_build() {
    local product
    for product in breakwater breakwater-catalog-seed; do
        (cd "$BREAKWATER_ROOT" && swift build --product "$product" >&2) || stack_die "swift build --product $product failed (output above)"
    done
    STACK_BIN="$(cd "$BREAKWATER_ROOT" && swift build --show-bin-path)"
    [ -x "$STACK_BIN/breakwater" ] || stack_die "built, but $STACK_BIN/breakwater is missing"
}

# stack_clean_env: sets STACK_ENV_UNSET to `env -u NAME` arguments removing the
# script-only BREAKWATER_* variables, which a worker (or produce/tail) would reject as
# unknown settings.
stack_clean_env() {
    local name prefix
    STACK_ENV_UNSET=()
    for name in "${STACK_SCRIPT_VARIABLES[@]}"; do STACK_ENV_UNSET+=(-u "$name"); done
    while IFS= read -r name; do
        for prefix in "${STACK_SCRIPT_PREFIXES[@]}"; do
            if [[ "$name" == "$prefix"* ]]; then STACK_ENV_UNSET+=(-u "$name"); fi
        done
    done < <(compgen -e)
}

# stack_breakwater PROGRAM ARG...: runs a built executable from the repository root
# without the script-only variables (see stack_clean_env).
stack_breakwater() {
    local program=$1
    shift
    stack_clean_env
    (cd "$BREAKWATER_ROOT" && exec env "${STACK_ENV_UNSET[@]}" "$STACK_BIN/$program" "$@")
}

# stack_breakwater_detached LOG PROGRAM ARG...: as stack_breakwater, but in the
# background in its own session (so the terminal's Ctrl-C does not reach it), output to
# LOG; sets STACK_DETACHED_PID to the program's PID (setsid execs in place).
stack_breakwater_detached() {
    local log=$1 program=$2
    shift 2
    stack_clean_env
    (cd "$BREAKWATER_ROOT" && exec setsid env "${STACK_ENV_UNSET[@]}" "$STACK_BIN/$program" "$@") >"$log" 2>&1 </dev/null &
    STACK_DETACHED_PID=$!
}

# stack_mark_started NAME: remembers that this stack started service NAME.
stack_mark_started() {
    mkdir -p "$STACK_STATE"
    grep -qx "$1" "$STACK_STATE/started" 2>/dev/null || echo "$1" >>"$STACK_STATE/started"
}

# stack_service_running NAME: whether the service's PID file names a live process.
stack_service_running() {
    local pidfile
    case "$1" in
        kafka) pidfile="$BREAKWATER_RUN/kafka/pid" ;;
        postgres) pidfile="$BREAKWATER_RUN/postgres/postgres.pid" ;;
        ml) pidfile="$BREAKWATER_RUN/mlserver/pid" ;;
        *) return 1 ;;
    esac
    [ -f "$pidfile" ] && kill -0 "$(head -n 1 "$pidfile")" 2>/dev/null
}

# stack_up_service NAME UP-SCRIPT LOG: runs UP-SCRIPT (which installs what it needs and
# is idempotent), records the address it prints last in .run/stack/NAME and prints it.
# Records NAME as started by this stack unless it was running already. On failure,
# names the service and shows the tail of LOG.
stack_up_service() {
    local name=$1 up=$2 log=$3 address was_running=0
    stack_service_running "$name" && was_running=1
    [ "$was_running" = 1 ] || stack_mark_started "$name"
    if ! address="$("$up" | tail -n 1)" || [ -z "$address" ]; then
        echo "error: $name did not start ($up failed)" >&2
        if [ -f "$log" ]; then
            echo "--- last lines of $log ---" >&2
            tail -n 20 "$log" >&2
        fi
        exit 1
    fi
    mkdir -p "$STACK_STATE"
    echo "$address" >"$STACK_STATE/$name"
    printf '%s\n' "$address"
}

# stack_ml_up: starts MLServer on the port pinned in .run/stack/ml-port (chosen free on
# the first start), so a restart keeps the URL the workers were given. Prints the URL.
stack_ml_up() {
    mkdir -p "$STACK_STATE"
    local port
    if ! stack_service_running ml; then
        port="$(cat "$STACK_STATE/ml-port" 2>/dev/null || true)"
        if [ -z "$port" ] || tcp_port_in_use "$port"; then
            port="$(free_tcp_port)"
        fi
        echo "$port" >"$STACK_STATE/ml-port"
    fi
    BREAKWATER_ML_PORT="${port:-}" stack_up_service ml "$STACK_SCRIPTS/ml-up" "$BREAKWATER_RUN/mlserver/mlserver.log"
}

# stack_ml_down: stops MLServer (keeping the pinned port for stack_ml_up).
stack_ml_down() {
    "$STACK_SCRIPTS/ml-down" || stack_die "scripts/ml-down failed"
}

# stack_start_services: broker, PostgreSQL (then seeds the catalog from
# deploy/catalog.yaml) and MLServer. Sets STACK_KAFKA, STACK_POSTGRES, STACK_ML.
# Needs stack_build first (the seeder is one of the built executables).
stack_start_services() {
    stack_heading "Starting the Kafka-protocol broker"
    STACK_KAFKA="$(stack_up_service kafka "$STACK_SCRIPTS/kafka-up" "$BREAKWATER_RUN/kafka/broker.log")" || exit 1
    stack_heading "Starting PostgreSQL and seeding the service catalog"
    STACK_POSTGRES="$(stack_up_service postgres "$STACK_SCRIPTS/pg-up" "$BREAKWATER_RUN/postgres/server.log")" || exit 1
    stack_breakwater breakwater-catalog-seed --url "$STACK_POSTGRES" --file deploy/catalog.yaml >&2 \
        || stack_die "seeding the catalog into PostgreSQL failed (output above)"
    stack_heading "Starting MLServer (alert-classifier model)"
    STACK_ML="$(stack_ml_up)" || exit 1
}

# stack_worker_ids: ids of the workers with a PID file, one a line, in start order.
stack_worker_ids() {
    [ -d "$STACK_WORKERS" ] || return 0
    local pidfile
    for pidfile in $(ls -1 "$STACK_WORKERS"/*.pid 2>/dev/null | sort -V); do
        basename "$pidfile" .pid
    done
}

# stack_worker_url ID: the worker's HTTP base URL.
stack_worker_url() {
    cat "$STACK_WORKERS/$1.url"
}

# stack_wait_ready ID PID URL: waits until GET URL/health/ready answers 200; fails with
# the tail of the worker's log when the process exits or the wait times out.
stack_wait_ready() {
    local id=$1 pid=$2 url=$3 log="$STACK_WORKERS/$1.log"
    local deadline=$((SECONDS + ${BREAKWATER_STACK_WORKER_WAIT:-90}))
    until curl -fsS -o /dev/null "$url/health/ready" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: worker $id exited during start; last lines of $log:" >&2
            tail -n 25 "$log" >&2
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "error: worker $id not ready at $url/health/ready within ${BREAKWATER_STACK_WORKER_WAIT:-90}s; readiness and last log lines:" >&2
            curl -sS "$url/health/ready" >&2 2>/dev/null || true
            tail -n 25 "$log" >&2
            exit 1
        fi
        sleep 0.5
    done
}

# stack_start_workers N: starts workers worker-1..worker-N (one already running is kept),
# all at once so they join the consumer group in one rebalance, each on a free HTTP port
# on 127.0.0.1, then waits until each is ready. Needs stack_start_services first.
stack_start_workers() {
    local count=$1 i id pid port url started=()
    mkdir -p "$STACK_WORKERS"
    for ((i = 1; i <= count; i++)); do
        id="worker-$i"
        if [ -f "$STACK_WORKERS/$id.pid" ] && kill -0 "$(cat "$STACK_WORKERS/$id.pid")" 2>/dev/null; then
            echo "worker $id already running (pid $(cat "$STACK_WORKERS/$id.pid"), $(stack_worker_url "$id"))" >&2
            continue
        fi
        port="$(free_tcp_port)"
        url="http://127.0.0.1:$port"
        # setsid: the worker survives dev-up and the terminal's Ctrl-C; stack_stop_workers ends it.
        BREAKWATER_KAFKA_BOOTSTRAP_SERVERS="$STACK_KAFKA" \
            BREAKWATER_CATALOG_POSTGRES_URL="$STACK_POSTGRES" \
            BREAKWATER_ML_URL="$STACK_ML" \
            BREAKWATER_HTTP_HOST=127.0.0.1 \
            BREAKWATER_HTTP_PORT="$port" \
            BREAKWATER_PIPELINE_WORKER_ID="$id" \
            BREAKWATER_KAFKA_PROPERTIES="${BREAKWATER_KAFKA_PROPERTIES-$STACK_KAFKA_PROPERTIES}" \
            BREAKWATER_KAFKA_ASSIGNMENT_STRATEGY="${BREAKWATER_KAFKA_ASSIGNMENT_STRATEGY-$STACK_ASSIGNMENT_STRATEGY}" \
            BREAKWATER_KAFKA_IDLE_FETCH_BACKOFF="${BREAKWATER_KAFKA_IDLE_FETCH_BACKOFF-$STACK_IDLE_FETCH_BACKOFF}" \
            stack_breakwater_detached "$STACK_WORKERS/$id.log" breakwater run
        pid=$STACK_DETACHED_PID
        echo "$pid" >"$STACK_WORKERS/$id.pid"
        echo "$url" >"$STACK_WORKERS/$id.url"
        echo "worker $id: pid $pid, $url, log $STACK_WORKERS/$id.log" >&2
        started+=("$id")
    done
    for id in "${started[@]}"; do
        stack_wait_ready "$id" "$(cat "$STACK_WORKERS/$id.pid")" "$(stack_worker_url "$id")"
        echo "worker $id ready" >&2
    done
}

# stack_stop_workers: SIGTERM to every worker, then waits for each (the pipeline's
# shutdownDeadline is 30s by default); SIGKILL for one still alive after 45s.
stack_stop_workers() {
    local id pid pids=() ids=()
    for id in $(stack_worker_ids); do
        pid="$(cat "$STACK_WORKERS/$id.pid" 2>/dev/null || true)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            ids+=("$id")
        else
            rm -f "$STACK_WORKERS/$id.pid" "$STACK_WORKERS/$id.url"
        fi
    done
    local i deadline=$((SECONDS + 45))
    for ((i = 0; i < ${#pids[@]}; i++)); do
        while kill -0 "${pids[i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        if kill -0 "${pids[i]}" 2>/dev/null; then
            echo "worker ${ids[i]} (pid ${pids[i]}) ignored SIGTERM for 45s; sending SIGKILL" >&2
            kill -KILL "${pids[i]}" 2>/dev/null || true
        fi
        echo "stopped worker ${ids[i]} (pid ${pids[i]}, log kept: $STACK_WORKERS/${ids[i]}.log)" >&2
        rm -f "$STACK_WORKERS/${ids[i]}.pid" "$STACK_WORKERS/${ids[i]}.url"
    done
}

# stack_stop_services: stops the services this stack started, in reverse start order.
stack_stop_services() {
    local name
    [ -f "$STACK_STATE/started" ] || return 0
    for name in $(tac "$STACK_STATE/started"); do
        case "$name" in
            ml) "$STACK_SCRIPTS/ml-down" || echo "warning: ml-down failed" >&2 ;;
            postgres) "$STACK_SCRIPTS/pg-down" || echo "warning: pg-down failed" >&2 ;;
            kafka) "$STACK_SCRIPTS/kafka-down" || echo "warning: kafka-down failed" >&2 ;;
        esac
    done
    rm -rf "$STACK_STATE"
}

# stack_stop: workers first, then the services. Safe to call twice and from a trap.
stack_stop() {
    trap '' INT
    stack_stop_workers
    stack_stop_services
    trap - INT
}

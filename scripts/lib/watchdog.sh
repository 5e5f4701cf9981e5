# Runs a command and stops it when it goes quiet (source this file; bash only).
#
# A hung test run would otherwise sit until CI's own limit and say nothing about where
# it hung. run_with_watchdog prints the command's output as it comes; when no output
# arrives for BREAKWATER_STALL_SECONDS (default 300), it prints the thread stacks of the
# command's processes (gdb, when installed), kills them, and returns 124.
# WATCHDOG_PID holds the running command's process group for the caller's EXIT trap.

# run_with_watchdog COMMAND [ARG...]
run_with_watchdog() {
    local quiet_limit=${BREAKWATER_STALL_SECONDS:-300}
    local output
    output=$(mktemp "${TMPDIR:-/tmp}/breakwater-watchdog.XXXXXX")
    # A new session, so the whole process tree can be found and killed as one group.
    # Line-buffered, so what a hung process printed last is in the file, not its buffer.
    local line_buffered=()
    command -v stdbuf >/dev/null && line_buffered=(stdbuf -oL -eL)
    setsid "${line_buffered[@]}" "$@" >"$output" 2>&1 &
    local pid=$!
    WATCHDOG_PID=$pid
    tail -n +1 -f --pid="$pid" "$output" &
    local tailer=$!

    local status=0 last_size=-1 size quiet=0
    while kill -0 "$pid" 2>/dev/null; do
        sleep 5
        size=$(stat -c %s "$output" 2>/dev/null || echo 0)
        if [[ "$size" != "$last_size" ]]; then
            last_size=$size
            quiet=0
            continue
        fi
        quiet=$((quiet + 5))
        if ((quiet >= quiet_limit)); then
            sleep 1  # let tail print what is there
            echo "watchdog: no output for ${quiet}s from: $*" >&2
            watchdog_dump_stacks "$pid" >&2
            watchdog_signal_session "$pid" TERM
            sleep 5
            watchdog_signal_session "$pid" KILL
            status=124
            break
        fi
    done
    if ((status == 0)); then
        wait "$pid" || status=$?
    else
        wait "$pid" 2>/dev/null || true
    fi
    wait "$tailer" 2>/dev/null || true
    rm -f "$output"
    WATCHDOG_PID=
    return "$status"
}

# watchdog_stop: kills a command still running under run_with_watchdog (for EXIT traps).
watchdog_stop() {
    [[ -n "${WATCHDOG_PID:-}" ]] || return 0
    watchdog_signal_session "$WATCHDOG_PID" TERM
}

# watchdog_session_members SESSION: the processes in a session. A process group is not
# enough: swift test starts the test binary in a group of its own.
watchdog_session_members() {
    # Read from /proc (session is the 4th field after "pid (comm)"), so no procps needed.
    local session=$1 stat rest
    local -a fields
    for stat in /proc/[0-9]*/stat; do
        rest=$(sed 's/^.*) //' "$stat" 2>/dev/null) || continue
        read -r -a fields <<<"$rest"
        if [[ "${fields[3]:-}" == "$session" ]]; then
            stat=${stat#/proc/}
            echo "${stat%/stat}"
        fi
    done
    return 0
}

# watchdog_signal_session SESSION SIGNAL
watchdog_signal_session() {
    local process
    for process in $(watchdog_session_members "$1"); do kill "-$2" "$process" 2>/dev/null || true; done
}

# watchdog_dump_stacks PID: every thread's stack of each process in PID's session.
watchdog_dump_stacks() {
    local session=$1 process
    if ! command -v gdb >/dev/null; then
        echo "watchdog: gdb is not installed; no thread stacks" >&2
        return 0
    fi
    for process in $(watchdog_session_members "$session"); do
        echo "watchdog: threads of $(tr '\0' ' ' <"/proc/$process/cmdline" 2>/dev/null | cut -c1-200) (pid $process)"
        timeout 120 gdb -p "$process" -batch -nx -ex 'set pagination off' -ex 'thread apply all bt 30' 2>/dev/null \
            | grep -E '^(Thread|#)' || true
    done
}

# shellcheck shell=bash
# Helpers for the scripts that run a product of the Benchmarks package.

# build_benchmark PRODUCT: builds PRODUCT of the Benchmarks package (release), from the
# repository root. SwiftPM keeps that package's build plan (Benchmarks/.build/release.yaml)
# when a file is added to a target of this package, which it depends on by path: the
# build then fails with "cannot find 'X' in scope" for whatever the new file declares.
# Without the plan SwiftPM makes a new one (seconds); nothing unchanged is rebuilt.
build_benchmark() {
    rm -f Benchmarks/.build/release.yaml
    swift build -c release --package-path Benchmarks --product "$1"
}

# prioritize PID: every thread of PID at nice -10 (Linux sets priorities per thread), so
# a model server that has machines of its own in a deployment does not wait here for the
# CPUs it shares with the worker and the broker. BREAKWATER_BENCH_PRIORITIZE=0: nothing.
prioritize() {
    local task
    [[ "${BREAKWATER_BENCH_PRIORITIZE:-1}" != 0 ]] || return 0
    for task in /proc/"$1"/task/*; do renice -n -10 -p "${task##*/}" >/dev/null 2>&1 || true; done
}

# prioritize_listener URL: prioritize every process listening on URL's port.
prioritize_listener() {
    local port=${1##*:} pid
    port=${port%%/*}
    for pid in $(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do prioritize "$pid"; done
}

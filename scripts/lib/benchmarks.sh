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

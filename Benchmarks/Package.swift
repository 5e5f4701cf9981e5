// swift-tools-version: 6.1
// Benchmarks live in their own package so the main build and CI never compile them.
// Run: swift run -c release --package-path Benchmarks ResilienceBenchmark
import PackageDescription

let package = Package(
    name: "BreakwaterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Breakwater", path: ".."),
    ],
    targets: [
        // Counts malloc-family calls by interposing them in the benchmark executable (Linux/glibc).
        .target(name: "MallocCounter"),
        .executableTarget(
            name: "ResilienceBenchmark",
            dependencies: [
                "MallocCounter",
                .product(name: "Resilience", package: "Breakwater"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

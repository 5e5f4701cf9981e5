// swift-tools-version: 6.1
// Benchmarks live in their own package so the main build and CI never compile them.
// Run one with: swift run -c release --package-path Benchmarks <Name>
// (or the scripts/bench-* wrapper for it). Each reports ratios against a baseline
// measured in the same run; none of them is a test.
import PackageDescription

let settings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]
var targets: [Target] = []

// MARK: - Resilience: breaker hot paths vs a bare Mutex breaker

targets += [
    // Counts malloc-family calls by interposing them in the benchmark executable (Linux/glibc).
    .target(name: "MallocCounter"),
    .executableTarget(
        name: "ResilienceBenchmark",
        dependencies: ["MallocCounter", .product(name: "Resilience", package: "Breakwater")],
        swiftSettings: settings
    ),
]

// MARK: - Triage: decoding throughput vs JSONSerialization, encoding vs JSONEncoder

targets.append(
    .executableTarget(
        name: "DecodeThroughput",
        dependencies: [
            .product(name: "Triage", package: "Breakwater"),
            // JSONEncoderReference: the JSONEncoder baseline of the encode timing.
            .product(name: "TriageTestSupport", package: "Breakwater"),
        ],
        swiftSettings: settings
    )
)

// MARK: - Kafka: consume→produce pass-through vs kcat on the same broker

targets.append(
    .executableTarget(
        name: "KafkaBenchmark",
        dependencies: [
            .product(name: "Kafka", package: "Breakwater"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: settings
    )
)

// MARK: - TriageML: micro-batched vs one-call-per-alert inference on the same MLServer

targets.append(
    .executableTarget(
        name: "ClassifierBenchmark",
        dependencies: [
            .product(name: "Triage", package: "Breakwater"),
            .product(name: "TriageML", package: "Breakwater"),
        ],
        swiftSettings: settings
    )
)

// MARK: - The worker's processing: CPU per alert of the rules path without Kafka (profiling)

targets.append(
    .executableTarget(
        name: "ProcessorThroughput",
        dependencies: [
            "MallocCounter",
            .product(name: "Triage", package: "Breakwater"),
            .product(name: "BreakwaterApp", package: "Breakwater"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: settings
    )
)

let package = Package(
    name: "BreakwaterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named explicitly: a path dependency's identity is otherwise its directory name,
        // which differs between checkouts and worktrees.
        .package(name: "Breakwater", path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: targets,
    swiftLanguageModes: [.v6]
)

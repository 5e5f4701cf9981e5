// swift-tools-version: 6.1
import PackageDescription

// One section per area. Each area appends its own dependencies, products and targets,
// so the layers stay readable on their own: Resilience knows nothing of Kafka, Kafka
// nothing of alerts, and Triage (the domain) builds on both.

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]
// Resilience is generic (breakers and caches over any value) and called per record from
// Triage: without its bodies, those calls run unspecialized, looking generic metadata up at
// run time (~7% of the worker's CPU per alert in scripts/bench-worker's rules path). Full
// cross-module optimization makes them available to the callers. Only there: with it on
// Kafka too, Swift 6.3.1's optimizer crashes compiling BreakwaterApp.
let crossModuleOptimized: [SwiftSetting] = strictSwift + [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]
// The `breakwater` executable allocates with jemalloc (Debian's libjemalloc2) instead of
// glibc's malloc: every record allocates and frees buffers of 1-4 KB, which glibc serves
// by consolidating its fast bins each time (malloc and free were ~15% of the worker's CPU;
// with jemalloc 0.83x/0.89x CPU per alert in scripts/bench-worker). Every build links it,
// so the tests run what ships; BREAKWATER_SYSTEM_ALLOCATOR=1 in the environment of the
// build keeps glibc's (scripts/test-sanitizers sets it: the sanitizers bring their own).
// Its options are compiled in by the AllocatorSettings target.
let allocator: [LinkerSetting] =
    Context.environment["BREAKWATER_SYSTEM_ALLOCATOR"] == "1" ? [] : [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]

var dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
]
var products: [Product] = []
var targets: [Target] = []

// MARK: - Locking: the one lock type every module uses (a TSan-visible one in sanitizer builds)

targets += [
    .target(name: "Locking", swiftSettings: strictSwift),
    .testTarget(name: "LockingTests", dependencies: ["Locking"], swiftSettings: strictSwift),
]

// MARK: - Resilience: circuit breaker and every fallback strategy; knows nothing of Kafka or alerts

products.append(.library(name: "Resilience", targets: ["Resilience"]))
targets += [
    .target(
        name: "Resilience",
        dependencies: [
            "Locking",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "OrderedCollections", package: "swift-collections"),
        ],
        swiftSettings: crossModuleOptimized
    ),
    .testTarget(
        name: "ResilienceTests",
        dependencies: [
            "Locking",
            "Resilience",
            "TriageTestSupport",
            .product(name: "MetricsTestKit", package: "swift-metrics"),
            .product(name: "PropertyBased", package: "swift-property-based"),
        ],
        swiftSettings: strictSwift
    ),
]

// MARK: - Kafka: a Swift 6 client over librdkafka; knows nothing of alerts

products.append(.library(name: "Kafka", targets: ["Kafka"]))
targets += [
    // librdkafka (Debian: librdkafka-dev), found through pkg-config `rdkafka`.
    .systemLibrary(
        name: "CRdKafka",
        pkgConfig: "rdkafka",
        providers: [.apt(["librdkafka-dev"])]
    ),
    .target(
        name: "Kafka",
        dependencies: [
            "Locking",
            "CRdKafka",
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "KafkaTests",
        dependencies: ["Locking", "Kafka", "ServiceTestSupport", "TriageTestSupport", "Resilience"],
        swiftSettings: strictSwift
    ),
]

// MARK: - Triage: the domain (alert formats, incident records, rules, the pipeline)

products.append(.library(name: "Triage", targets: ["Triage"]))
targets += [
    .target(
        name: "Triage",
        dependencies: [
            "Locking",
            "Kafka",
            "Resilience",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Yams", package: "Yams"),
        ],
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "TriageTests",
        dependencies: [
            "Locking", "Triage", "Resilience", "ServiceTestSupport", "TriageTestSupport",
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ],
        // Read by path (#filePath) in Fixtures.swift, so not bundled as resources.
        exclude: ["Fixtures"],
        swiftSettings: strictSwift
    ),
]

// MARK: - TriageML: ML classification over the Open Inference Protocol v2 (MLServer, KServe, Triton)

products.append(.library(name: "TriageML", targets: ["TriageML"]))
targets += [
    .target(
        name: "TriageML",
        dependencies: [
            "Triage",
            "Resilience",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
        ],
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "TriageMLTests",
        dependencies: [
            "Locking",
            "TriageML",
            "Triage",
            "Resilience",
            "ServiceTestSupport",
            "TriageTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ],
        swiftSettings: strictSwift
    ),
]

// MARK: - TriagePostgres: service catalog and dedup store on PostgreSQL (postgres-nio)

products.append(.library(name: "TriagePostgres", targets: ["TriagePostgres"]))
targets += [
    .target(
        name: "TriagePostgres",
        dependencies: [
            "Locking",
            "Triage",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            // Only for matching the pool's ConnectionPoolError (thrown through PostgresClient).
            .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        swiftSettings: strictSwift
    ),
    // Seeds the PostgreSQL catalog from a YAML file (demo / operator tool).
    .executableTarget(
        name: "breakwater-catalog-seed",
        dependencies: ["Triage", "TriagePostgres", .product(name: "Logging", package: "swift-log")],
        path: "Sources/CatalogSeed",
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "TriagePostgresTests",
        dependencies: [
            "Locking", "Resilience", "TriagePostgres", "Triage", "ServiceTestSupport", "TriageTestSupport",
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ],
        swiftSettings: strictSwift
    ),
]

// MARK: - PipelineTests: the worker end to end against the real broker (slow; needs scripts/kafka-up)

targets.append(
    .testTarget(
        name: "PipelineTests",
        dependencies: [
            "Locking",
            "Triage",
            "Kafka",
            "Resilience",
            "ServiceTestSupport",
            "TriageTestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        swiftSettings: strictSwift
    )
)

// MARK: - Application: configuration, HTTP, worker wiring, the `breakwater` CLI

products += [
    .library(name: "BreakwaterApp", targets: ["BreakwaterApp"]),
    .executable(name: "breakwater", targets: ["breakwater"]),
]
targets += [
    .target(
        name: "BreakwaterApp",
        dependencies: [
            "Locking",
            "Triage",
            "Resilience",
            "Kafka",
            "TriageML",
            "TriagePostgres",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
        ],
        swiftSettings: strictSwift
    ),
    .executableTarget(
        name: "breakwater",
        dependencies: [
            "Locking",
            "BreakwaterApp",
            "Kafka",
            "Triage",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            "AllocatorSettings",
        ],
        swiftSettings: strictSwift,
        linkerSettings: allocator
    ),
    // jemalloc's options for `breakwater` (a C global it reads at start).
    .target(name: "AllocatorSettings"),
    .testTarget(
        name: "BreakwaterAppTests",
        dependencies: [
            "Locking",
            "BreakwaterApp",
            "breakwater",  // built so the CLI tests can run the binary
            "Resilience",
            "Triage",
            "Kafka",
            "ServiceTestSupport",
            "TriageTestSupport",
            .product(name: "Yams", package: "Yams"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            // The ingest tests drive Alertmanager's API and post as PagerDuty/CloudEvents senders do.
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ],
        swiftSettings: strictSwift
    ),
]

// MARK: - Test support: finding the real services scripts/test started (ServiceTestSupport), the domain's doubles and schema checks (TriageTestSupport)

// A product only so the Benchmarks package can time JSONEncoderReference against jsonBytes().
products.append(.library(name: "TriageTestSupport", targets: ["TriageTestSupport"]))
targets += [
    // The tests' shared doubles and helpers: waits, breakers, step doubles, unique names, topics, the JSON Schema validator.
    .target(
        name: "TriageTestSupport",
        dependencies: [
            "Locking",
            "Triage",
            "Resilience",
            "Kafka",
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: strictSwift
    ),
    .target(
        name: "ServiceTestSupport",
        dependencies: [
            "Locking",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            // StubInferenceServer: a tiny HTTP server answering what a test tells it to.
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ],
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "ServiceTestSupportTests",
        dependencies: [
            "Locking",
            "ServiceTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ],
        swiftSettings: strictSwift
    ),
]

// MARK: - Degradation: the breaker-guarded steps against real PostgreSQL and MLServer behind fault proxies

targets += [
    .testTarget(
        name: "DegradationTests",
        dependencies: [
            "Locking",
            "BreakwaterApp",  // the rig builds its steps with the worker's own WorkerAssembly
            "Triage",
            "TriageTestSupport",
            "TriageML",
            "TriagePostgres",
            "Resilience",
            "ServiceTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: strictSwift
    ),
]

// MARK: - Fuzzing: libFuzzer harnesses for the parsers of untrusted bytes (scripts/fuzz)

targets += [
    // The harnesses: AlertDecoder, the configuration loader, the rule-file parser, each with the invariants its API promises.
    .target(
        name: "FuzzHarnesses",
        dependencies: ["Triage", "BreakwaterApp"],
        swiftSettings: strictSwift
    ),
    // libFuzzer's entry points when built with -DFUZZING and --sanitize fuzzer; otherwise a tool replaying inputs.
    .executableTarget(
        name: "breakwater-fuzz",
        dependencies: ["FuzzHarnesses"],
        path: "Sources/BreakwaterFuzz",
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "FuzzHarnessTests",
        dependencies: ["FuzzHarnesses"],
        // Fuzz inputs read by path (#filePath), not bundled as resources.
        exclude: ["Seeds", "Regressions"],
        swiftSettings: strictSwift
    ),
]

let package = Package(
    name: "Breakwater",
    platforms: [.macOS(.v15)],
    products: products,
    dependencies: dependencies,
    targets: targets,
    swiftLanguageModes: [.v6]
)

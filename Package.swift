// swift-tools-version: 6.1
import PackageDescription

// One section per area. Each area appends its own dependencies, products and targets,
// so the layers stay readable on their own: Resilience knows nothing of Kafka, Kafka
// nothing of alerts, and Triage (the domain) builds on both.

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

var dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
]
var products: [Product] = []
var targets: [Target] = []

// MARK: - Resilience: circuit breaker and every fallback strategy; knows nothing of Kafka or alerts

products.append(.library(name: "Resilience", targets: ["Resilience"]))
targets += [
    .target(
        name: "Resilience",
        dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "OrderedCollections", package: "swift-collections"),
        ],
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "ResilienceTests",
        dependencies: [
            "Resilience",
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
            "CRdKafka",
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "KafkaTests",
        dependencies: ["Kafka", "ServiceTestSupport"],
        swiftSettings: strictSwift
    ),
]

// MARK: - Triage: the domain (alert formats, incident records, rules, the pipeline)

products.append(.library(name: "Triage", targets: ["Triage"]))
targets += [
    .target(
        name: "Triage",
        dependencies: [
            "Kafka",
            "Resilience",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "DequeModule", package: "swift-collections"),
        ],
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "TriageTests",
        dependencies: ["Triage", "ServiceTestSupport"],
        // Read by path (#filePath) in Fixtures.swift, so not bundled as resources.
        exclude: ["Fixtures"],
        swiftSettings: strictSwift
    ),
]

// MARK: - PipelineTests: the worker end to end against the real broker (slow; needs scripts/kafka-up)

targets.append(
    .testTarget(
        name: "PipelineTests",
        dependencies: [
            "Triage",
            "Kafka",
            "Resilience",
            "ServiceTestSupport",
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
            "Triage",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ],
        swiftSettings: strictSwift
    ),
    .executableTarget(
        name: "breakwater",
        dependencies: [
            "BreakwaterApp",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        swiftSettings: strictSwift
    ),
    .testTarget(
        name: "BreakwaterAppTests",
        dependencies: [
            "BreakwaterApp",
            "breakwater",  // built so the CLI tests can run the binary
            .product(name: "Yams", package: "Yams"),
        ],
        swiftSettings: strictSwift
    ),
]

// MARK: - Test support: finding the real services scripts/test started, schema checks

targets.append(
    .target(name: "ServiceTestSupport", dependencies: ["Triage"], swiftSettings: strictSwift)
)

let package = Package(
    name: "Breakwater",
    platforms: [.macOS(.v15)],
    products: products,
    dependencies: dependencies,
    targets: targets,
    swiftLanguageModes: [.v6]
)

// swift-tools-version: 6.1
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Breakwater",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Triage", targets: ["Triage"]),
        .library(name: "Kafka", targets: ["Kafka"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "Triage",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // librdkafka (Debian: librdkafka-dev), found through pkg-config `rdkafka`.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Swift 6 Kafka client over librdkafka: consumer, producer, transactions, admin.
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
        // Test-only helpers: how a test finds the real services scripts/test started.
        .target(name: "ServiceTestSupport", swiftSettings: strictSwift),
        .testTarget(
            name: "TriageTests",
            dependencies: ["Triage", "ServiceTestSupport"],
            swiftSettings: strictSwift
        ),
    ],
    swiftLanguageModes: [.v6]
)

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
        .library(name: "TriagePostgres", targets: ["TriagePostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "Triage",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSwift
        ),
        // Service-catalog and dedup store backed by PostgreSQL (postgres-nio).
        .target(
            name: "TriagePostgres",
            dependencies: [
                "Triage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Only for matching the pool's ConnectionPoolError (thrown through PostgresClient).
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
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
        // Test-only helpers: how a test finds the real services scripts/test started.
        .target(
            name: "ServiceTestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "TriageTests",
            dependencies: ["Triage", "ServiceTestSupport"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "ServiceTestSupportTests",
            dependencies: [
                "ServiceTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "TriagePostgresTests",
            dependencies: ["TriagePostgres", "Triage", "ServiceTestSupport"],
            swiftSettings: strictSwift
        ),
    ],
    swiftLanguageModes: [.v6]
)

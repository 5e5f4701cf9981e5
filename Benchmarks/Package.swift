// swift-tools-version: 6.1
// Release-built benchmark programs; kept out of the main build and CI.
import PackageDescription

let package = Package(
    name: "BreakwaterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Breakwater", path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "KafkaBenchmark",
            dependencies: [
                .product(name: "Kafka", package: "Breakwater"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version: 6.1
// Benchmarks: release-built programs, kept out of the main build and CI.
// Run one with `swift run -c release --package-path Benchmarks <Name>`.
import PackageDescription

let package = Package(
    name: "BreakwaterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Breakwater", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "ClassifierBenchmark",
            dependencies: [
                .product(name: "Triage", package: "Breakwater"),
                .product(name: "TriageML", package: "Breakwater"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

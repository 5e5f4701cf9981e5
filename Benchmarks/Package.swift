// swift-tools-version: 6.1
import PackageDescription

// Benchmarks live in their own package so the main build and CI never compile them.
// Run one with: swift run -c release --package-path Benchmarks <Name>
let package = Package(
    name: "BreakwaterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named explicitly: a path dependency's identity is otherwise its directory name,
        // which differs between checkouts and worktrees.
        .package(name: "Breakwater", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "DecodeThroughput",
            dependencies: [.product(name: "Triage", package: "Breakwater")],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

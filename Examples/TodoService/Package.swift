// swift-tools-version:6.0
// A small JSON todo API on Flaks view functions. `swift run TodoService` serves config.yaml;
// `swift test` starts it in-process on port 0 (scripts/test-examples.sh runs that in CI).
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6), .enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "TodoService",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Flaks", path: "../..")],
    targets: [
        // The app: routes, store, error handlers (a library, so tests can build it).
        .target(name: "TodoAPI", dependencies: [.product(name: "Flaks", package: "Flaks")], swiftSettings: strict),
        // `TodoService [config.yaml]`.
        .executableTarget(name: "TodoService", dependencies: ["TodoAPI"], swiftSettings: strict),
        .testTarget(name: "TodoServiceTests", dependencies: ["TodoAPI"], swiftSettings: strict),
    ]
)
